#!/usr/bin/env bash
# Builds the static library for Android (aarch64-linux-android) and iOS (aarch64-apple-ios)
# without an NDK or Xcode: clang assembles the .S kernels for each object format, and the
# archives must export the C ABI and the assembly symbols with each platform's naming.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add aarch64-linux-android aarch64-apple-ios >/dev/null
export CC_aarch64_linux_android=clang AR_aarch64_linux_android=llvm-ar
export CC_aarch64_apple_ios=clang AR_aarch64_apple_ios=llvm-ar
# cc-rs asks xcrun for the iOS SDK unless SDKROOT is set; the kernels need no SDK headers.
export SDKROOT=${SDKROOT:-$(mktemp -d)}
for target in aarch64-linux-android aarch64-apple-ios; do
  cargo rustc -q --lib --no-default-features --crate-type staticlib --target "$target"
  lib=target/$target/debug/libsepconv.a
  prefix=""
  [ "$target" = aarch64-apple-ios ] && prefix=_
  llvm-nm --defined-only "$lib" >"$SDKROOT/syms.txt" 2>/dev/null || true
  for sym in sepconv_run sepconv_model_load_file sepconv_clamp_f32_neon; do
    grep -q " T ${prefix}${sym}\$" "$SDKROOT/syms.txt" \
      || { echo "FAIL: $lib does not export ${prefix}${sym}"; exit 1; }
  done
  echo "ok: $lib ($(du -h "$lib" | cut -f1))"
done

#!/usr/bin/env bash
# Assembles every microkernel with clang's integrated assembler for the mobile and Apple
# targets (ELF and Mach-O), and checks the exported symbol names: no NDK or Xcode needed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # arch-dir clang-target symbol-prefix
  local dir=$1 target=$2 prefix=$3
  for src in kernels/"$dir"/*.S; do
    local obj="$tmp/$(basename "$src" .S)-$target.o"
    if ! clang --target="$target" -Ikernels/common -c "$src" -o "$obj"; then
      echo "FAIL: $src does not assemble for $target"; fail=1; continue
    fi
    # Every FUNC_BEGIN(name) must be exported as <prefix>name.
    for name in $(sed -n 's/^FUNC_BEGIN(\([a-z0-9_]*\)).*/\1/p' "$src"); do
      if ! llvm-nm --extern-only --defined-only "$obj" | grep -qw "${prefix}${name}"; then
        echo "FAIL: $src for $target does not export ${prefix}${name}"; fail=1
      fi
    done
    echo "ok: $src -> $target"
  done
}
check aarch64 aarch64-linux-android ""
check aarch64 aarch64-linux-gnu ""
check aarch64 arm64-apple-ios _
check aarch64 arm64-apple-macos _
check x86_64 x86_64-linux-gnu ""
check x86_64 x86_64-linux-android ""
check x86_64 x86_64-apple-macos _
exit $fail

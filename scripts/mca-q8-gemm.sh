#!/usr/bin/env bash
# Static throughput of the inner k-loops of the AArch64 int8 GEMM tiles
# (kernels/aarch64/q8_gemm_*.S) with llvm-mca: assembles each source, cuts its main loop
# (from the target of the first backward b.ne to that branch) out of the disassembly,
# and reports per core model the cycles per iteration, the IPC, and how busy the loop
# keeps the multiply pipes: the multiply-accumulates per cycle against the most that
# model issues (1 / the instruction's reciprocal throughput).
# Usage: scripts/mca-q8-gemm.sh [cpu...]   (default: cortex-a76 cortex-a55)
# LLVM_MCA=path picks the llvm-mca; by default the newest llvm-mca-N on PATH, else
# llvm-mca. Use LLVM 19 (Debian: apt-get install llvm-19): read the figures as the
# models'. LLVM 14's Cortex-A55 one issues two Q-form sdot a cycle, one on each 64-bit
# FP pipe; LLVM 19's puts a Q-form sdot on both, one a cycle, first of an issue pair,
# and lets the second of the pair issue only if it writes back no earlier:
# `ldr q, [x, x]` does, `ldr q, [x, #imm]`, ALU ops and `eor` do not. Neither version
# has a Cortex-A76 model: -mcpu=cortex-a76 schedules with the Cortex-A57 one (two ASIMD
# pipes W and X, sdot on both, smlal on W only; 3 micro-ops dispatched a cycle, 2 of
# them for a register-offset load). Silicon may differ where the models are silent:
# a 128-bit load may stall the A55's dual issue (XNNPACK's and ONNX Runtime's A55
# kernels load `ldr d` + `ldr x` + `ins` for it), which neither models.
# Needs clang (or aarch64-linux-gnu-gcc), llvm-objdump and llvm-mca.
set -euo pipefail
cd "$(dirname "$0")/.."
cpus=("$@")
[ ${#cpus[@]} -gt 0 ] || cpus=(cortex-a76 cortex-a55)
mca=${LLVM_MCA:-$(compgen -c llvm-mca- | grep -E '^llvm-mca-[0-9]+$' | sort -t- -k3 -n | tail -1)}
mca=${mca:-llvm-mca}
echo "$("$mca" --version | grep -m1 -i 'llvm version' | sed 's/^ *//') ($mca)"
tmp=$(mktemp -d)
# KEEP=1 keeps the cut-out loops and the llvm-mca reports (their folder goes to stderr).
if [ -n "${KEEP:-}" ]; then echo "files in $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

# source  symbol  the multiply-accumulate mnemonic(s) that count as pipe work
kernels=(
  "q8_gemm_5x16c4_dotprod.S sepconv_q8_gemm_5x16c4_dotprod_neon sdot"
  "q8_gemm_4x16_neon.S sepconv_q8_gemm_4x16_neon smlal|smlal2"
)

# Hex to number (POSIX awk has no strtonum).
hex='function hex(s,  i, n) { n = 0; s = tolower(s)
  for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
  return n }'

assemble() { # src obj
  if command -v clang >/dev/null; then
    clang --target=aarch64-linux-gnu -Ikernels/common -c "$1" -o "$2"
  else
    aarch64-linux-gnu-gcc -Ikernels/common -c "$1" -o "$2"
  fi
}

for entry in "${kernels[@]}"; do
  read -r src sym macs <<<"$entry"
  obj="$tmp/${src%.S}.o"
  assemble "kernels/aarch64/$src" "$obj"
  # "addr: encoding <tab> mnemonic operands" lines of the function.
  llvm-objdump -d --no-show-raw-insn --mattr=+dotprod "$obj" |
    awk -v sym="<$sym>:" '$2 == sym { on = 1; next } on && /^$/ { exit } on' >"$tmp/dis"
  # The main loop: the first b.ne whose target lies before it.
  awk "$hex"'
    { addr = hex(substr($1, 1, length($1) - 1)) }
    $2 == "b.ne" && !found { t = hex(substr($3, 3)); if (t < addr) { found = 1; print t, addr } }
  ' "$tmp/dis" >"$tmp/range"
  read -r lo hi <"$tmp/range"
  awk -v lo="$lo" -v hi="$hi" "$hex"'
    { addr = hex(substr($1, 1, length($1) - 1)) }
    addr >= lo && addr <= hi {
      $1 = ""; sub(/^ +/, ""); sub(/ *\/\/.*/, "")
      if ($1 == "b.ne") $0 = "b.ne .Lloop"   # the branch target as a label for llvm-mca
      print
    }
  ' "$tmp/dis" >"$tmp/body"
  loop="$tmp/${src%.S}-loop.s"
  { echo ".Lloop:"; cat "$tmp/body"; } >"$loop"
  n_insn=$(wc -l <"$tmp/body")
  n_mac=$(grep -cE "^($macs)[[:space:]]" "$tmp/body" || true)
  echo "== $src: main loop of $n_insn instructions, $n_mac ${macs//|/\/} per iteration"
  for cpu in "${cpus[@]}"; do
    out="$tmp/${src%.S}-$cpu.txt"
    "$mca" -mtriple=aarch64 -mcpu="$cpu" -mattr=+dotprod -iterations=200 \
      "$loop" >"$out" 2>"$tmp/mca.err" || { cat "$tmp/mca.err"; exit 1; }
    # Reciprocal throughput of the first MAC in the instruction info table.
    rthr=$(awk -v re="^($macs)$" '/Instruction Info/ { info = 1 } info && $NF ~ /]$|,/ { }
      info && NF >= 4 && ($4 ~ re || $5 ~ re || $6 ~ re || $7 ~ re) {
        for (i = 4; i <= NF; i++) if ($i ~ re) { print $3; exit } }' "$out")
    awk -v cpu="$cpu" -v n_mac="$n_mac" -v rthr="$rthr" -v macs="${macs//|/\/}" '
      /^Iterations:/ { it = $2 } /^Total Cycles:/ { cyc = $3 } /^IPC:/ { ipc = $2 }
      /^Block RThroughput:/ { brt = $3 }
      END {
        per = cyc / it; peak = 1 / rthr; rate = n_mac / per
        printf "  %-11s %6.1f cycles/iteration (block rthroughput %s), IPC %.2f, %s %.2f/cycle of %.2f peak: %.0f%% of the pipe\n",
          cpu, per, brt, ipc, macs, rate, peak, 100 * rate / peak
      }' "$out"
    # Where the cycles go: the resource pressure per iteration, by unit.
    sed -n '/^Resources:/,/^$/p' "$out" | sed '1d;$d' | sed 's/^/      /'
    sed -n '/^Resource pressure per iteration:/,/^$/p' "$out" | sed '1d;$d' | sed 's/^/      /'
  done
done

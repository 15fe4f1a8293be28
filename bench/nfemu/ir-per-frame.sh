#!/usr/bin/env bash
# Instructions and simulated cache misses per frame of `nfemu replay`, under
# cachegrind: the figures that do not move with the machine's load. On the
# shared VM of bench/nfemu/RESULTS.md the wall clock of the same binary on
# the same trace varies by 2x between runs, so a change of a few percent can
# only be told by these.
#
#   bench/nfemu/ir-per-frame.sh [--shapes "fw nat"] [--rules 10000] [--frames "21000 200000"]
#                               [--nfemu PATH] [--keep DIR]
#
# For each shape: a ruleset (gen-rules.py) and two traces of the same
# generator and seed (gen-trace.py), so the shorter is the start of the
# longer; both replayed into the host of bench-replay.sh. A figure per frame
# is (count of the long run - count of the short run) / (difference in
# frames): loading the scenario, compiling the tables on the first packet
# and most of writing the summary cancel out. What the summary does per
# connection or per dropping rule (the conntrack dump, a rule's text made at
# its first drop) does not, and is counted in.
#
# Columns: Ir (instructions), D1mr/D1mw (first-level data cache read and
# write misses), LLmr (last-level read misses: in the traces here, nearly
# all of them the capture being read). cachegrind's caches are modelled on
# this machine's; it models no hardware prefetcher.
# Needs valgrind (Debian package `valgrind`); takes about a minute per
# 100k frames of each shape.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nfemu="$root/build/release/src/cli/nfemu"
shapes="fw nat"
rules=10000
frames="21000 200000"
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --nfemu) nfemu=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 [--shapes S] [--rules N] [--frames \"SHORT LONG\"] [--nfemu PATH] [--keep DIR]" >&2; exit 2 ;;
  esac
done
read -r short long extra <<<"$frames"
if [ -z "${long:-}" ] || [ -n "${extra:-}" ] || [ "$short" -ge "$long" ]; then
  echo "ir-per-frame: --frames takes two counts, the shorter first (\"21000 200000\")" >&2
  exit 2
fi
if ! command -v valgrind > /dev/null; then
  echo "ir-per-frame: valgrind is needed (apt-get install valgrind)" >&2
  exit 2
fi
if [ ! -x "$nfemu" ]; then
  echo "ir-per-frame: building $nfemu (release preset)" >&2
  (cd "$root" && cmake --preset release > /dev/null && cmake --build --preset release --target nfemu > /dev/null)
fi
if [ -n "$keep" ]; then
  work=$keep
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# The benchmark host (bench-host.toml): frames arrive on wan, leave on lan.
cp "$here/bench-host.toml" "$work/bench.toml"

# The event totals of a cachegrind output file, in the order of its
# "events:" line: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw.
totals() { awk '/^summary:/ { $1 = ""; print }' "$1"; }

printf "%-5s %7s %9s %8s %7s %7s %7s\n" shape rules frames Ir D1mr D1mw LLmr
for shape in $shapes; do
  "$here/gen-rules.py" --shape "$shape" --rules "$rules" > "$work/rules.txt"
  for n in "$short" "$long"; do
    "$here/gen-trace.py" "$work/rules.txt" --packets "$n" > "$work/trace-$shape-$n.pcap"
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$work/cg-$shape-$n.out" \
      "$nfemu" replay "$work/bench.toml" --host fw --in "wan=$work/trace-$shape-$n.pcap" \
      > "$work/summary-$shape-$n.txt" 2> "$work/cg-$shape-$n.err" ||
      { echo "ir-per-frame: $shape, $n frames: nfemu replay failed:" >&2; tail -5 "$work/cg-$shape-$n.err" >&2; exit 1; }
  done
  read -r -a a < <(totals "$work/cg-$shape-$short.out")
  read -r -a b < <(totals "$work/cg-$shape-$long.out")
  awk -v shape="$shape" -v rules="$rules" -v d="$((long - short))" \
    -v ir="$((b[0] - a[0]))" -v d1r="$((b[4] - a[4]))" -v d1w="$((b[7] - a[7]))" -v llr="$((b[5] - a[5]))" \
    'BEGIN { printf "%-5s %7d %9d %8.0f %7.2f %7.2f %7.2f\n", shape, rules, d, ir / d, d1r / d, d1w / d, llr / d }'
done
echo "(per frame: (long run - short run) / frames between them; Ir instructions, D1mr/D1mw first-level data"
echo " cache read/write misses, LLmr last-level read misses, as cachegrind models this machine's caches)"

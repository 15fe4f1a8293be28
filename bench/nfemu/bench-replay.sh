#!/usr/bin/env bash
# Throughput of `nfemu replay` over ClassBench-style rulesets (gen-rules.py)
# and traces that hit them (gen-trace.py): one row per shape x rules x
# packets x evaluation mode, with Mpps and ns/packet of the frame loop
# (`nfemu replay --timing`), the peak RSS of the whole process
# (/usr/bin/time -v) and, for scale, the raw libpcap read speed of the same
# file on the same machine (pcap-read.cpp).
#
#   bench/nfemu/bench-replay.sh [--shapes "acl fw ipc nat"] [--rules "100 1000 10000"]
#                               [--packets "100000"] [--linear-packets N] [--repeat N]
#                               [--nfemu PATH] [--keep DIR]
#
# 100000-rule rows are not in the default set: with linear evaluation they
# take minutes (pass --rules "100 1000 10000 100000" to include them).
# Evaluation modes: "linear" (the chain walker) always; "compiled" when the
# binary's `replay --help` offers --classifier (src/xtables/compiled/).
# The nat shape (gen-rules.py) adds DNAT, SNAT and MASQUERADE: conntrack
# tracks every packet and each new connection is NATed. --linear-packets N
# replays only the first N frames in linear mode (slow at 10k rules; the
# row says how many were replayed). --repeat N runs every measurement N
# times and reports the run with the median loop time (and the median
# libpcap read): on a shared 2-core VM single runs vary by 10-20 %.
# x_linear, on compiled rows: how many times faster than the linear row
# of the same shape and rule count (issue 5's "at least 50x").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nfemu="$root/build/release/src/cli/nfemu"
shapes="acl fw ipc nat"
rule_counts="100 1000 10000"
packet_counts="100000"
keep=""
linear_packets=""
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --rules) rule_counts=$2; shift 2 ;;
    --packets) packet_counts=$2; shift 2 ;;
    --nfemu) nfemu=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --linear-packets) linear_packets=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "usage: $0 [--shapes S] [--rules \"N...\"] [--packets \"N...\"] [--linear-packets N] [--repeat N] [--nfemu PATH] [--keep DIR]" >&2; exit 2 ;;
  esac
done
if [ ! -x "$nfemu" ]; then
  echo "bench-replay: building $nfemu (release preset)" >&2
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target nfemu >/dev/null)
fi
if [ ! -x /usr/bin/time ]; then
  echo "bench-replay: /usr/bin/time (Debian package 'time') is needed for the peak RSS" >&2
  exit 2
fi

if [ -n "$keep" ]; then
  work=$keep
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
c++ -O2 -o "$work/pcap-read" "$here/pcap-read.cpp" -lpcap

modes="linear"
if "$nfemu" replay --help 2>/dev/null | grep -q -- '--classifier'; then modes="linear compiled"; fi

# The benchmark host (bench-host.toml): frames arrive on wan, leave on lan.
cp "$here/bench-host.toml" "$work/bench.toml"

# The median of the lines on stdin by their first field.
median_line() { sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
# Reads a capture into the page cache before a timed run: what is measured
# is the reader, not the disk. (On the VM these numbers come from, a DAMON
# "pageout" scheme evicts file pages idle for a minute; a capture last read
# before a batch of linear runs can be read from disk again by the first
# compiled run: 795 ns/frame against 283 warm, fw 1M, evicted by hand.)
warm() { cat "$1" > /dev/null; }

printf "%-5s %7s %8s %-8s %8s %9s %9s %9s %10s %7s %8s\n" shape rules packets mode Mpps ns/pkt peak_MB setup_s pcap_Mpps \
  x_pcap x_linear
for shape in $shapes; do
  for n in $rule_counts; do
    "$here/gen-rules.py" --shape "$shape" --rules "$n" > "$work/rules.txt"
    for p in $packet_counts; do
      trace="$work/trace-$shape-$n-$p.pcap"
      "$here/gen-trace.py" "$work/rules.txt" --packets "$p" > "$trace"
      raw=$(for r in $(seq "$repeat"); do
              warm "$trace"
              read -r _ frames _ secs _ < <("$work/pcap-read" "$trace")
              awk -v f="$frames" -v s="$secs" 'BEGIN { printf "%.1f\n", (s > 0 ? f / s / 1e6 : 0) }'
            done | median_line)
      linear_mpps=""
      for mode in $modes; do
        in_trace=$trace
        in_p=$p
        if [ "$mode" = linear ] && [ -n "$linear_packets" ] && [ "$p" -gt "$linear_packets" ]; then
          # The same generator and seed: the first frames of the full trace.
          in_trace="$work/trace-$shape-$n-$linear_packets.pcap"
          in_p=$linear_packets
          [ -f "$in_trace" ] || "$here/gen-trace.py" "$work/rules.txt" --packets "$linear_packets" > "$in_trace"
        fi
        extra=()
        [ "$mode" = compiled ] && extra=(--classifier compiled)
        [ "$mode" = linear ] && [ "$modes" != linear ] && extra=(--classifier linear)
        runs=$(for r in $(seq "$repeat"); do
          warm "$in_trace"
          start=$(date +%s.%N)
          /usr/bin/time -v -o "$work/time.txt" "$nfemu" replay "$work/bench.toml" --host fw --in "wan=$in_trace" \
            --timing "${extra[@]}" > "$work/summary.txt" 2> "$work/timing.txt" ||
            { echo "bench-replay: $shape, $n rules, $mode: nfemu replay failed:" >&2; cat "$work/timing.txt" >&2; exit 1; }
          end=$(date +%s.%N)
          line=$(grep 'timing:' "$work/timing.txt")
          loop=$(sed -E 's/.* in ([0-9.]+) s.*/\1/' <<<"$line")
          mpps=$(sed -E 's/.*: ([0-9.]+) Mpps.*/\1/' <<<"$line")
          ns=$(sed -E 's/.* ([0-9.]+) ns\/frame.*/\1/' <<<"$line")
          rss=$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$work/time.txt")
          setup=$(awk -v s="$start" -v e="$end" -v l="$loop" 'BEGIN { printf "%.2f", e - s - l }')
          echo "$ns $mpps $rss $setup"
        done)
        read -r ns mpps _ setup < <(median_line <<<"$runs")
        rss=$(awk '$3 > m { m = $3 } END { print m }' <<<"$runs")
        slow=$(awk -v r="$raw" -v m="$mpps" 'BEGIN { printf "%.1f", (m > 0 ? r / m : 0) }')
        vs_linear="-"
        if [ "$mode" = linear ]; then linear_mpps=$mpps
        elif [ -n "$linear_mpps" ]; then
          vs_linear=$(awk -v c="$mpps" -v l="$linear_mpps" 'BEGIN { printf "%.1f", (l > 0 ? c / l : 0) }')
        fi
        printf "%-5s %7d %8d %-8s %8s %9s %9s %9s %10s %7s %8s\n" "$shape" "$n" "$in_p" "$mode" "$mpps" "$ns" "$rss" \
          "$setup" "$raw" "$slow" "$vs_linear"
      done
    done
  done
done
echo "(Mpps, ns/pkt: the frame loop of nfemu replay; peak_MB: max RSS of the process; setup_s: loading the"
echo " scenario and rules and writing the summary; pcap_Mpps: libpcap alone reading the same file;"
echo " x_pcap: how many times slower than that read nfemu replay is; x_linear: compiled Mpps / linear Mpps;"
echo " with --repeat N, the run with the median loop time of N and the highest peak_MB)"

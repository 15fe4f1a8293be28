#!/usr/bin/env bash
# Throughput of `nfemu replay` over ClassBench-style rulesets (gen-rules.py)
# and traces that hit them (gen-trace.py): one row per shape x rules x
# packets x evaluation mode, with Mpps and ns/packet of the frame loop
# (`nfemu replay --timing`), the peak RSS of the whole process
# (/usr/bin/time -v) and, for scale, the raw libpcap read speed of the same
# file on the same machine (pcap-read.cpp).
#
#   bench/nfemu/bench-replay.sh [--shapes "acl fw ipc nat"] [--rules "100 1000 10000"]
#                               [--packets "100000"] [--linear-packets N] [--nfemu PATH] [--keep DIR]
#
# 100000-rule rows are not in the default set: with linear evaluation they
# take minutes (pass --rules "100 1000 10000 100000" to include them).
# Evaluation modes: "linear" (the chain walker) always; "compiled" when the
# binary's `replay --help` offers --classifier (src/xtables/compiled/).
# The nat shape (gen-rules.py) adds DNAT, SNAT and MASQUERADE: conntrack
# tracks every packet and each new connection is NATed. --linear-packets N
# replays only the first N frames in linear mode (slow at 10k rules; the
# row says how many were replayed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nfemu="$root/build/release/src/cli/nfemu"
shapes="acl fw ipc nat"
rule_counts="100 1000 10000"
packet_counts="100000"
keep=""
linear_packets=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --rules) rule_counts=$2; shift 2 ;;
    --packets) packet_counts=$2; shift 2 ;;
    --nfemu) nfemu=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --linear-packets) linear_packets=$2; shift 2 ;;
    *) echo "usage: $0 [--shapes S] [--rules \"N...\"] [--packets \"N...\"] [--linear-packets N] [--nfemu PATH] [--keep DIR]" >&2; exit 2 ;;
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

# The benchmark host: packets arrive on wan and are forwarded out of lan
# (a default route), so every one of them walks filter FORWARD.
cat > "$work/bench.toml" <<'TOML'
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables-save = "rules.txt"
routes = ["default via 198.51.100.254"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
TOML

printf "%-5s %7s %8s %-8s %8s %9s %9s %9s %10s %7s\n" shape rules packets mode Mpps ns/pkt peak_MB setup_s pcap_Mpps x_pcap
for shape in $shapes; do
  for n in $rule_counts; do
    "$here/gen-rules.py" --shape "$shape" --rules "$n" > "$work/rules.txt"
    for p in $packet_counts; do
      trace="$work/trace-$shape-$n-$p.pcap"
      "$here/gen-trace.py" "$work/rules.txt" --packets "$p" > "$trace"
      read -r _ frames _ secs _ < <("$work/pcap-read" "$trace")
      raw=$(awk -v f="$frames" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? f / s / 1e6 : 0) }')
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
        start=$(date +%s.%N)
        /usr/bin/time -v -o "$work/time.txt" "$nfemu" replay "$work/bench.toml" --host fw --in "wan=$in_trace" \
          --timing "${extra[@]}" > "$work/summary.txt" 2> "$work/timing.txt"
        end=$(date +%s.%N)
        line=$(grep 'timing:' "$work/timing.txt")
        loop=$(sed -E 's/.* in ([0-9.]+) s.*/\1/' <<<"$line")
        mpps=$(sed -E 's/.*: ([0-9.]+) Mpps.*/\1/' <<<"$line")
        ns=$(sed -E 's/.* ([0-9.]+) ns\/frame.*/\1/' <<<"$line")
        rss=$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$work/time.txt")
        setup=$(awk -v s="$start" -v e="$end" -v l="$loop" 'BEGIN { printf "%.2f", e - s - l }')
        slow=$(awk -v r="$raw" -v m="$mpps" 'BEGIN { printf "%.1f", (m > 0 ? r / m : 0) }')
        printf "%-5s %7d %8d %-8s %8s %9s %9s %9s %10s %7s\n" "$shape" "$n" "$in_p" "$mode" "$mpps" "$ns" "$rss" "$setup" \
          "$raw" "$slow"
      done
    done
  done
done
echo "(Mpps, ns/pkt: the frame loop of nfemu replay; peak_MB: max RSS of the process; setup_s: loading the"
echo " scenario and rules and writing the summary; pcap_Mpps: libpcap alone reading the same file;"
echo " x_pcap: how many times slower than that read nfemu replay is)"

#!/usr/bin/env bash
# The motivating case in one command: runs the scenario, then points at
# each fact in the artifacts. Usage: run.sh [NFEMU] [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nfemu=${1:-$here/../../build/release/src/cli/nfemu}
out=${2:-out/icmp-nat-dmz}
scenario=$here/../../tests/scenarios/icmp-nat-dmz/icmp-nat-dmz.toml

mkdir -p "$(dirname "$out")"
"$nfemu" run "$scenario" --out "$out" > "$out.timeline"
echo "timeline: $out.timeline ($(wc -l < "$out.timeline") lines); artifacts: $out/{client,router,fw}/"
echo
echo "1. What the client receives (tcpdump of client c0):"
tcpdump -nn -r "$out/client/c0.pcap" 2>/dev/null | sed 's/^/   /' || echo "   (tcpdump not installed)"
echo
echo "2. The error about 100.64.1.5 leaves fw from the interconnect address, and the router drops it:"
grep -E "^ +router +(dropped|filter:FORWARD:rule)" "$out.timeline" | sed 's/^/   /'
echo
echo "3. The SNAT rule meant to fix it never fires (fw iptables-save -c):"
grep -- "-j SNAT" "$out/fw/iptables-save.txt" | sed 's/^/   /'
echo
echo "4. Proof by marking: mangle OUTPUT logs the RELATED error carrying connmark 1 (fw kern.log):"
grep -v '^TRACE:' "$out/fw/kern.log" | sed 's/^/   /'
echo
echo "5. TRACE lines of the echo requests (first 6 of fw kern.log):"
grep '^TRACE:' "$out/fw/kern.log" | head -6 | cut -c1-120 | sed 's/^/   /'
echo
echo "6. conntrack -E on fw: $(wc -l < "$out/fw/conntrack-events.txt") events (the errors create none; the"
echo "   echo requests were REJECTed before their connections were confirmed)"

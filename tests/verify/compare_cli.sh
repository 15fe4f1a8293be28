#!/usr/bin/env bash
# nfemu compare end to end: two runs of one scenario agree (exit 0); one
# flipped byte in a pcap, one changed kern.log line and a missing file are
# reported with their paths (exit 1); an unreadable directory exits 2.
#   compare_cli.sh NFEMU SCENARIO
set -euo pipefail
nfemu=$1; scenario=$2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$nfemu" run "$scenario" --out "$out/a" > /dev/null
"$nfemu" run "$scenario" --out "$out/b" > /dev/null
"$nfemu" compare "$out/a" "$out/b" > "$out/agree.txt" || fail "two runs differ: $(cat "$out/agree.txt")"
grep -q '^compare: agree (' "$out/agree.txt" || fail "no agree line"

pcap=$(cd "$out/b" && ls */*.pcap | head -n 1)
log=$(cd "$out/b" && ls */kern.log | head -n 1)
# The TTL of the first frame (pcap header 24 + record header 16 + Ethernet 14 + 8).
python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[24 + 16 + 14 + 8] ^= 1; open(p, 'wb').write(b)
" "$out/b/$pcap"
echo "extra line" >> "$out/b/$log"
rm "$out/b/$(cd "$out/b" && ls */iptables-save.txt | head -n 1)"
rc=0; "$nfemu" compare "$out/a" "$out/b" --right-label run > "$out/differ.txt" || rc=$?
[ "$rc" = 1 ] || fail "exit status $rc, expected 1"
for want in "--- kernel/$pcap" "+++ run/$pcap" "compare: $pcap: 1 of " "+extra line" "compare: $log: 1 of " \
            "missing in run" "compare: differ (3 of "; do
  grep -qF -- "$want" "$out/differ.txt" || { cat "$out/differ.txt"; fail "no '$want' in the report"; }
done

rc=0; "$nfemu" compare "$out/a" "$out/nonexistent" 2> "$out/err.txt" > /dev/null || rc=$?
[ "$rc" = 2 ] || fail "exit status $rc for a missing directory, expected 2"
grep -q "not a directory" "$out/err.txt" || fail "no reason given: $(cat "$out/err.txt")"
echo "nfemu compare: agree, differ and unreadable cases behave"

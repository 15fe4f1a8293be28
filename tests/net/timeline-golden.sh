#!/usr/bin/env bash
# The text timeline `nfemu run` prints, for people: for every
# tests/net/golden/NAME.timeline.txt, `nfemu run tests/scenarios/NAME/NAME.toml`
# must print exactly that. Reviewed by hand against the scenario's story
# (icmp-nat-dmz: the DNAT rewrite, the RELATED ICMP error skipping nat
# POSTROUTING, the SNAT rule it never meets; irc-dcc-nat: the DCC offer
# rewritten, the helper's expectation, the offered connection RELATED and
# NATed as its master, the offers the helper does not read).
# Also: --json and --out together give one JSON document on stdout and the
# artifacts.
#   timeline-golden.sh NFEMU SCENARIOS GOLDEN            compare
#   timeline-golden.sh NFEMU SCENARIOS GOLDEN --update   rewrite the goldens
set -euo pipefail
nfemu=$1; scenarios=$2; golden=$3; update=${4:-}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0; n=0
for g in "$golden"/*.timeline.txt; do
  name=$(basename "$g" .timeline.txt)
  "$nfemu" run "$scenarios/$name/$name.toml" > "$out/$name.txt"
  if [ "$update" = --update ]; then cp "$out/$name.txt" "$g"; echo "updated $g"; continue; fi
  if diff -u "$g" "$out/$name.txt"; then n=$((n + 1)); else echo "FAIL $name: timeline differs"; status=1; fi
done
[ "$n" -gt 0 ] || [ "$update" = --update ] || { echo "FAIL: no golden timeline compared"; exit 1; }

sc="$scenarios/icmp-nat-dmz/icmp-nat-dmz.toml"
# The story's facts, whatever --update wrote: the DNAT rewrite, the RELATED
# error skipping nat POSTROUTING, the SNAT rule it never meets.
"$nfemu" run "$sc" > "$out/dmz.txt"
for fact in \
  'fw        nat PREROUTING: chain walked (NEW): icmp 198.51.100.10 > 203.0.113.4 echo-request id 1 → icmp 198.51.100.10 > 100.64.1.4 echo-request id 1' \
  'fw        conntrack OUTPUT: RELATED (reply)' \
  'fw        nat POSTROUTING: chain skipped (RELATED ICMP error, nat rules see only NEW)' \
  'not seen: -A POSTROUTING -s 198.18.42.1/32 -o eth0 -p icmp -j SNAT --to-source 203.0.113.1' \
  'client  delivered locally: icmp 203.0.113.4 > 198.51.100.10 type 3 code 3'; do
  grep -qF -- "$fact" "$out/dmz.txt" || { echo "FAIL icmp-nat-dmz: timeline lacks: $fact"; status=1; }
done
# A SYN that SYNPROXY answers is taken (NF_STOLEN), not dropped; the
# bogus ACK after it is dropped.
"$nfemu" run "$scenarios/synproxy/synproxy.toml" > "$out/synproxy.txt"
for fact in \
  'srv  stolen (filter INPUT): tcp 198.51.100.7:40000 > 198.51.100.1:80 flags S mss 1460' \
  'srv  dropped (filter INPUT DROP): tcp 198.51.100.7:40002 > 198.51.100.1:80 flags A seq 3001 ack 12345'; do
  grep -qF -- "$fact" "$out/synproxy.txt" || { echo "FAIL synproxy: timeline lacks: $fact"; status=1; }
done
"$nfemu" run "$scenarios/synproxy/synproxy.toml" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert any(e["kind"] == "stolen" and e["reason"] == "filter INPUT" for e in d["events"])
' || { echo "FAIL synproxy: --json has no stolen event"; status=1; }
"$nfemu" run "$sc" --json --out "$out/art" > "$out/run.json"
python3 - "$out/run.json" <<'PY' || { echo "FAIL: --json output"; status=1; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "nfemu-run" and d["version"] == 1, d.keys()
assert set(d["hosts"]) == {"client", "router", "fw"}, d["hosts"].keys()
assert any(e["kind"] == "nat" and e["host"] == "fw" for e in d["events"])
PY
[ -s "$out/art/fw/iptables-save.txt" ] || { echo "FAIL: --json --out wrote no artifacts"; status=1; }
echo "$n golden timelines agree"
exit $status

#!/usr/bin/env bash
# examples/icmp-nat-dmz/run.sh is what `make demo` shows a new user: each of
# its six facts must still find its line in the artifacts (a timeline format
# change once left fact 2 empty without any test noticing).
#   example-walkthrough.sh NFEMU REPO
set -euo pipefail
nfemu=$1; repo=$2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
text=$("$repo/examples/icmp-nat-dmz/run.sh" "$nfemu" "$out/icmp-nat-dmz") || {
  echo "FAIL: examples/icmp-nat-dmz/run.sh exited $? (a fact found no line):"; echo "$text"; exit 1; }
status=0
expect() {
  if ! grep -qE -- "$2" <<<"$text"; then echo "FAIL: fact $1: no line matching '$2'"; status=1; fi
}
expect 1 "203\.0\.113\.4 > 198\.51\.100\.10: ICMP 203\.0\.113\.4 protocol 1 port [0-9]+ unreachable"
expect 2 "router +dropped \(filter FORWARD DROP\): icmp 198\.18\.42\.1 > 198\.51\.100\.10 type 3 code 3"
expect 3 "\[0:0\] -A POSTROUTING .* -j SNAT"
expect 4 "OUT=eth0 SRC=198\.18\.42\.1 DST=198\.51\.100\.10 .*PROTO=ICMP TYPE=3 CODE=3 \[SRC="
expect 5 "TRACE: raw:PREROUTING:policy:2 IN=eth0 OUT= MAC="
expect 6 "conntrack -E on fw: 0 events"
[ $status = 0 ] || { echo "--- run.sh printed:"; echo "$text"; }
exit $status

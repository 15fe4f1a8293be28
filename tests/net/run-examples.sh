#!/usr/bin/env bash
# Every scenario under tests/scenarios must load and run to the end, and
# write every artifact of spec/outputs.md. (What they must contain is the
# verify harness's job: the kernel decides.)
set -euo pipefail
nfemu=$1; dir=$2
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
n=0
for sc in "$dir"/*/*.toml; do
  name=$(basename "$sc" .toml)
  "$nfemu" run "$sc" --out "$out/$name" > "$out/$name.timeline" 2> "$out/$name.err" || { cat "$out/$name.err"; echo "FAIL $sc"; exit 1; }
  for host in "$out/$name"/*/; do
    for f in kern.log conntrack-events.txt conntrack.txt iptables-save.txt; do
      [ -f "$host/$f" ] || { echo "FAIL $sc: $host$f missing"; exit 1; }
    done
    grep -q '^COMMIT$' "$host/iptables-save.txt" || [ ! -s "$host/iptables-save.txt" ] || { echo "FAIL $sc: bad iptables-save"; exit 1; }
  done
  n=$((n + 1))
done
echo "$n scenarios ran"

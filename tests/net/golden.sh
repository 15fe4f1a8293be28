#!/usr/bin/env bash
# Golden artifacts: for every tests/scenarios/NAME/ with an expected/
# folder, `nfemu run` must write exactly those files (kern.log,
# conntrack-events.txt, conntrack.txt, iptables-save.txt per host, and
# `tcpdump -nn -v -r` of each pcap as IFNAME.pcap.txt). The expectations
# were written by nfemu and reviewed against the kernel's sources; `nfemu
# verify` (issue 4) will re-check them on the real kernel.
#   golden.sh NFEMU DIR            compare
#   golden.sh NFEMU DIR --update   rewrite expected/ from the current nfemu
set -euo pipefail
nfemu=$1; dir=$2; update=${3:-}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0; n=0
for sc in "$dir"/*/; do
  [ -d "$sc/expected" ] || [ -f "$sc/.golden" ] || continue
  name=$(basename "$sc")
  "$nfemu" run "$sc/$name.toml" --out "$out/$name" > /dev/null
  for pcap in "$out/$name"/*/*.pcap; do
    if command -v tcpdump >/dev/null; then
      tcpdump -nn -v -r "$pcap" 2>/dev/null > "$pcap.txt" || true
    fi
    rm -f "$pcap"
  done
  if [ "$update" = --update ]; then
    rm -rf "$sc/expected"; cp -r "$out/$name" "$sc/expected"; echo "updated $sc/expected"; continue
  fi
  if ! command -v tcpdump >/dev/null; then
    echo "note: tcpdump missing, pcap texts not compared" >&2
    find "$sc/expected" -name '*.pcap.txt' | while read -r f; do cp "$f" "$out/$name/${f#$sc/expected/}"; done
  fi
  if diff -ru "$sc/expected" "$out/$name"; then n=$((n + 1)); else echo "FAIL $name"; status=1; fi
done
echo "$n golden scenarios agree"
exit $status

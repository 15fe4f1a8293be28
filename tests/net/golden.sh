#!/usr/bin/env bash
# The emulator against recordings of the real kernel, on any machine (no
# root): for every tests/scenarios/NAME/ with an expected/ folder (the
# kernel's artifacts, recorded by scripts/record-expected.sh through `nfemu
# verify`), `nfemu run --out` must agree with it under `nfemu compare`, the
# normalisations of shared/spec/outputs.md, the same as `nfemu verify`.
# tests/scenarios/KNOWN-DIFFERENCES applies as in verify
# (scripts/known-differences.sh): a listed scenario passes loudly while it
# differs in exactly its listed files and fails when it differs elsewhere
# or agrees (stale entry).
#   golden.sh NFEMU DIR       (DIR = tests/scenarios)
# To update an expectation, record it again on the kernel (root):
#   scripts/record-expected.sh NAME
set -uo pipefail
nfemu=$1; dir=$2
known=$(cd "$(dirname "$0")/../../scripts" && pwd)/known-differences.sh
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
status=0 n=0 agree=0 listed=0 missing=()
for sc in "$dir"/*/; do
  name=$(basename "$sc")
  [ -f "$sc/$name.toml" ] || continue
  [ -d "$sc/expected" ] || { missing+=("$name"); continue; }
  n=$((n + 1))
  if ! "$nfemu" run "$sc/$name.toml" --out "$out/$name" > "$out/$name.timeline" 2> "$out/$name.err"; then
    echo "FAIL $name: nfemu run failed: $(tail -n 1 "$out/$name.err")"; status=1; continue
  fi
  "$nfemu" compare "$sc/expected" "$out/$name" --right-label nfemu-run > "$out/$name.cmp"
  case $? in
    0 | 1) ;;
    *) echo "FAIL $name: nfemu compare failed: $(cat "$out/$name.cmp")"; status=1; continue ;;
  esac
  mapfile -t files < <(sed -n 's/^compare: \([^ ]*\): .*/\1/p' "$out/$name.cmp")
  verdict=$("$known" "$name" "${files[@]}")
  case $? in
    0) agree=$((agree + 1)) ;;
    3) listed=$((listed + 1)); echo "KNOWN DIFFERENCE (against the kernel's recording): $verdict" ;;
    *) cat "$out/$name.cmp"; echo "FAIL $verdict"; status=1 ;;
  esac
done
echo "golden: $agree of $n scenarios agree with their kernel recordings; $listed known difference(s)"
if [ ${#missing[@]} != 0 ]; then
  echo "NOTE: no kernel recording (expected/) for: ${missing[*]} (scripts/record-expected.sh NAME, as root)"
fi
exit $status

#!/usr/bin/env bash
# Records the real kernel's artifacts as each scenario's expectation:
# `nfemu verify` (scripts/verify-scenario.sh), then DIR/kernel becomes
# tests/scenarios/NAME/expected/ (pcaps kept as pcaps). Only when the run is
# trustworthy: nfemu agrees with it, or differs exactly as
# tests/scenarios/KNOWN-DIFFERENCES lists (the expectation is the kernel's,
# not nfemu's); a stale entry is recorded too and reported. A scenario that
# differs otherwise or cannot run keeps its old expected/ (re-run it when the
# machine is quiet, or fix the difference first).
# tests/net/golden.sh then checks `nfemu run` against these recordings with
# `nfemu compare`, on any machine, root or not.
#   scripts/record-expected.sh [--build DIR] [NAME...]   (default build/dev, all; root)
# Exit 0 when every scenario asked for was recorded, 1 otherwise, 77 when it
# cannot run here.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=build/dev
if [ "${1:-}" = --build ]; then build=$2; shift 2; fi
nfemu=$build/src/cli/nfemu
[ -x "$nfemu" ] || { echo "record-expected: error: $nfemu is not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "record-expected: SKIPPED: needs root (nfemu verify)" >&2; exit 77; }

names=("$@")
if [ ${#names[@]} = 0 ]; then
  for sc in "$root"/tests/scenarios/*/*.toml; do names+=("$(basename "$sc" .toml)"); done
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
trap 'echo "record-expected: interrupted" >&2; exit 130' INT TERM
recorded=0 failed=()
for name in "${names[@]}"; do
  sc=$root/tests/scenarios/$name/$name.toml
  [ -f "$sc" ] || { echo "$name: error: no $sc"; failed+=("$name"); continue; }
  verdict=$("$root/scripts/verify-scenario.sh" "$nfemu" "$sc" "$out/$name")
  status=$?
  case $status in
    0 | 3 | 4)
      dest=$root/tests/scenarios/$name/expected
      rm -rf "$dest"
      cp -r "$out/$name/kernel" "$dest"
      recorded=$((recorded + 1))
      echo "$verdict; recorded $(find "$dest" -type f | wc -l) files ($(du -sk "$dest" | cut -f1) KiB)"
      [ $status = 4 ] && failed+=("$name")
      ;;
    *)
      echo "$verdict; NOT recorded (expected/ unchanged)"
      failed+=("$name")
      ;;
  esac
done
echo "record-expected: $recorded of ${#names[@]} recorded from the kernel"
[ ${#failed[@]} = 0 ] || { echo "record-expected: look at: ${failed[*]}"; exit 1; }

#!/usr/bin/env bash
# Fidelity report: every tests/scenarios/*/*.toml run by `nfemu verify` on
# the real kernel (network namespaces) and by the emulator, artifacts
# compared as shared/spec/outputs.md says. One line per scenario:
#   NAME: agree | differ: FILE... | error: WHY
# then "N of M scenarios agree with the kernel".
#   scripts/fidelity.sh [BUILD_DIR]     (default build/dev; needs root)
# FIDELITY_OUT=DIR keeps the artifacts (DIR/NAME/{kernel,nfemu}) to inspect
# with `nfemu compare DIR/NAME/kernel DIR/NAME/nfemu`.
# Exit 0 when every scenario agrees, 1 otherwise, 77 when it cannot run here.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/dev}
nfemu=$build/src/cli/nfemu

skip() {
  echo "fidelity: SKIPPED: $*" >&2
  exit 77
}
[ -x "$nfemu" ] || { echo "fidelity: error: $nfemu is not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables-legacy)"
ip netns list > /dev/null 2>&1 || skip "no network namespace support (ip netns)"
"$nfemu" --help | grep -q "^ *verify " || skip "$nfemu has no verify subcommand yet"

if [ -n "${FIDELITY_OUT:-}" ]; then
  out=$FIDELITY_OUT
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

total=0 agree=0
for scenario in "$root"/tests/scenarios/*/*.toml; do
  [ -e "$scenario" ] || continue
  name=$(basename "$scenario" .toml)
  total=$((total + 1))
  rm -rf "${out:?}/$name"
  "$nfemu" verify "$scenario" --out "$out/$name" > "$out/$name.log" 2>&1
  rc=$?
  case $rc in
    0)
      agree=$((agree + 1))
      echo "$name: agree"
      ;;
    1)
      # The files, from the artifacts; verify's own count if they are gone.
      files=""
      if [ -d "$out/$name/kernel" ] && [ -d "$out/$name/nfemu" ]; then
        files=$("$nfemu" compare "$out/$name/kernel" "$out/$name/nfemu" |
          sed -n 's/^compare: \([^ ]*\): .*/\1/p' | tr '\n' ' ')
      fi
      [ -n "$files" ] || files=$(sed -n "s/^verify: .*: differ/differ/p" "$out/$name.log" | tail -n 1)
      echo "$name: differ: ${files% }"
      ;;
    *)
      why=$(grep -v '^$' "$out/$name.log" | tail -n 1)
      echo "$name: error: ${why:-exit status $rc}"
      ;;
  esac
done
echo "$agree of $total scenarios agree with the kernel"
[ -n "${FIDELITY_OUT:-}" ] && echo "artifacts in $out"
[ "$agree" = "$total" ]

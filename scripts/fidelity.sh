#!/usr/bin/env bash
# Fidelity report: every tests/scenarios/*/*.toml run by `nfemu verify` on
# the real kernel (network namespaces) and by the emulator, artifacts
# compared as shared/spec/outputs.md says, judged against
# tests/scenarios/KNOWN-DIFFERENCES (scripts/verify-scenario.sh). One line
# per scenario:
#   NAME: agree | differ: FILE... | differ (known: REASON): FILE... |
#   STALE: ... remove it from KNOWN-DIFFERENCES | error: WHY
# then "N of M scenarios agree with the kernel; K known difference(s)".
# A known difference never counts as agreeing.
#   scripts/fidelity.sh [BUILD_DIR]     (default build/dev; needs root)
# FIDELITY_OUT=DIR keeps the artifacts (DIR/NAME/{kernel,nfemu}) to inspect
# with `nfemu compare DIR/NAME/kernel DIR/NAME/nfemu` (DIR/NAME/verify.log:
# verify's own output).
# Exit 0 when every scenario agrees or differs exactly as listed in
# KNOWN-DIFFERENCES, 1 otherwise (stale entries included), 77 when it cannot
# run here.
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

# Ctrl-C: verify cleans up the scenario it runs; stop there, not go on.
trap 'echo "fidelity: interrupted" >&2; exit 130' INT TERM
total=0 agree=0 known=0 bad=0
for scenario in "$root"/tests/scenarios/*/*.toml; do
  [ -e "$scenario" ] || continue
  name=$(basename "$scenario" .toml)
  total=$((total + 1))
  rm -rf "${out:?}/$name"
  verdict=$("$root/scripts/verify-scenario.sh" "$nfemu" "$scenario" "$out/$name")
  status=$?
  echo "$verdict"
  case $status in
    0) agree=$((agree + 1)) ;;
    3) known=$((known + 1)) ;;
    4)  # a stale KNOWN-DIFFERENCES entry: the scenario agrees, or differs in fewer files
      [[ $verdict == *"agrees with the kernel now"* ]] && agree=$((agree + 1))
      bad=$((bad + 1))
      ;;
    *) bad=$((bad + 1)) ;;
  esac
done
echo "$agree of $total scenarios agree with the kernel; $known known difference(s) (tests/scenarios/KNOWN-DIFFERENCES)"
[ -n "${FIDELITY_OUT:-}" ] && echo "artifacts in $out"
[ "$bad" = 0 ]

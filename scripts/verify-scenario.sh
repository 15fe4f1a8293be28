#!/usr/bin/env bash
# One `nfemu verify` run judged against tests/scenarios/KNOWN-DIFFERENCES
# (scripts/known-differences.sh): the step shared by scripts/fidelity.sh and
# the verify_NAME CTests (tests/verify/run-one.sh).
#   verify-scenario.sh [--ctest] NFEMU SCENARIO OUTDIR
# Writes OUTDIR/kernel, OUTDIR/nfemu and verify's own output OUTDIR/verify.log,
# then prints one verdict line (known-differences.sh's, or "NAME: error: WHY").
# Exit status: 0 agree, 1 differ, 2 error (verify could not run), 3 known
# difference, 4 stale KNOWN-DIFFERENCES entry.
# --ctest: print verify's output too, and exit as CTest should judge it:
# 0 for agree and for a known difference (announced loudly), 1 for differ
# and stale entries, 2 for errors.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ctest=0
[ "${1:-}" = --ctest ] && { ctest=1; shift; }
nfemu=$1 scenario=$2 out=$3
name=$(basename "$scenario" .toml)

mkdir -p "$out"
# NFEMU_VERIFY_TIMEOUT=SECONDS: SIGINT after that long (verify then cleans
# up and exits 2), SIGKILL 20 s later. --foreground keeps verify in the
# caller's process group, so that Ctrl-C reaches it at once.
if [ -n "${NFEMU_VERIFY_TIMEOUT:-}" ]; then
  timeout --foreground -s INT -k 20 "$NFEMU_VERIFY_TIMEOUT" "$nfemu" verify "$scenario" --out "$out" > "$out/verify.log" 2>&1
else
  "$nfemu" verify "$scenario" --out "$out" > "$out/verify.log" 2>&1
fi
rc=$?
[ $ctest = 1 ] && cat "$out/verify.log"
case $rc in
  0) files=() ;;
  1)
    # Which files: nfemu compare names them ("compare: HOST/FILE: summary").
    mapfile -t files < <("$nfemu" compare "$out/kernel" "$out/nfemu" 2>/dev/null |
      sed -n 's/^compare: \([^ ]*\): .*/\1/p')
    if [ ${#files[@]} = 0 ]; then
      echo "$name: error: verify says differ but nfemu compare names no file"
      exit 2
    fi
    ;;
  *)
    why=$(grep -v '^$' "$out/verify.log" | tail -n 1)
    [ $rc = 124 ] || [ $rc = 137 ] && why="timed out after ${NFEMU_VERIFY_TIMEOUT}s: $why"
    echo "$name: error: ${why:-nfemu verify exit status $rc}"
    exit 2
    ;;
esac
verdict=$("$here/known-differences.sh" "$name" "${files[@]}")
status=$?
echo "$verdict"
[ $ctest = 1 ] || exit $status
case $status in
  0) exit 0 ;;
  3)
    {
      echo "**********************************************************************"
      echo "KNOWN DIFFERENCE: $verdict"
      echo "(tests/scenarios/KNOWN-DIFFERENCES; passes only while exactly these files differ)"
      echo "**********************************************************************"
    } >&2
    exit 0
    ;;
  2) exit 2 ;;
  *) exit 1 ;;
esac

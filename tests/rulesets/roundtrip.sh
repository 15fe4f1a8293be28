#!/bin/bash
# rulesets_roundtrip: nfemu must reproduce the kernel's iptables-save output.
#
#   roundtrip.sh NFEMU_BINARY CORPUS_DIR
#
# For every CORPUS_DIR/valid/NAME.rules:
#   nfemu save -c --counters NAME.rules  ==  NAME.save             (iptables-legacy-save -c)
#   nfemu save NAME.rules                ==  NAME.save-nocounters  (iptables-legacy-save)
#   nfemu check NAME.rules               exits 0
# and, where recorded (files marked "# corpus: all-counter-modes"),
#   nfemu save -c NAME.rules             ==  NAME.save-c-plain
#   nfemu save --counters NAME.rules     ==  NAME.save-plain-counters
# '#' lines are ignored on both sides (iptables-save's are timestamps).
# A ruleset round-trips when all three hold.  The first lines of each diff
# are shown; set ROUNDTRIP_FULL_DIFF=1 for whole diffs.
set -u
export LC_ALL=C
if [ $# -ne 2 ]; then echo "usage: $0 NFEMU_BINARY CORPUS_DIR" >&2; exit 2; fi
nfemu=$1
corpus=$2
[ -x "$nfemu" ] || { echo "roundtrip.sh: $nfemu is not executable" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

difflines=${ROUNDTRIP_FULL_DIFF:+100000}
difflines=${difflines:-40}

# compare GOLDEN LABEL CMD...: run CMD, drop '#' lines, diff against GOLDEN.
compare() {
  local golden=$1 label=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL $label: exit $rc"
    head -5 "$tmp/err" | sed 's/^/    /'
    return 1
  fi
  grep -v '^#' "$tmp/out" >"$tmp/out.nc"
  if ! diff -u --label "kernel: $(basename "$golden")" --label "nfemu: $label" \
         "$golden" "$tmp/out.nc" >"$tmp/diff"; then
    echo "FAIL $label: output differs from $(basename "$golden")"
    head -n "$difflines" "$tmp/diff" | sed 's/^/    /'
    return 1
  fi
  return 0
}

shopt -s nullglob
total=0
ok=0
failed=()
for rules in "$corpus"/valid/*.rules; do
  name=$(basename "$rules" .rules)
  total=$((total + 1))
  good=1
  compare "${rules%.rules}.save" "save -c --counters $name.rules" \
    "$nfemu" save -c --counters "$rules" || good=0
  compare "${rules%.rules}.save-nocounters" "save $name.rules" \
    "$nfemu" save "$rules" || good=0
  # Mixed modes, recorded only for counter-focused files.
  if [ -f "${rules%.rules}.save-c-plain" ]; then
    compare "${rules%.rules}.save-c-plain" "save -c $name.rules" \
      "$nfemu" save -c "$rules" || good=0
  fi
  if [ -f "${rules%.rules}.save-plain-counters" ]; then
    compare "${rules%.rules}.save-plain-counters" "save --counters $name.rules" \
      "$nfemu" save --counters "$rules" || good=0
  fi
  "$nfemu" check "$rules" >/dev/null 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL check $name.rules: exit $rc, expected 0"
    head -3 "$tmp/err" | sed 's/^/    /'
    good=0
  fi
  if [ $good = 1 ]; then ok=$((ok + 1)); else failed+=("$name"); fi
done

echo "$ok of $total rulesets round-trip"
if [ $total -eq 0 ]; then echo "roundtrip.sh: no rulesets under $corpus/valid" >&2; exit 1; fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "failing: ${failed[*]}"
  exit 1
fi
exit 0

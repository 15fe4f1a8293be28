#!/bin/bash
# rulesets_invalid: nfemu must refuse what the kernel tools refuse, at the
# right line.
#
#   invalid.sh NFEMU_BINARY CORPUS_DIR
#
# For every CORPUS_DIR/invalid/NAME.rules, `nfemu check NAME.rules` must exit 2
# and its stderr must start with "FILE:LINE:" where FILE is the path exactly as
# passed and LINE is the content of NAME.expect-line.  NAME.kernel shows what
# iptables-legacy-restore and the kernel said for the same file.
#
# CORPUS_DIR/invalid-counters/NAME.rules are refused only when counters are
# honoured: `nfemu save -c --counters` must exit 2 with the same "FILE:LINE:"
# rule, and plain `nfemu save` must succeed and equal NAME.save-nocounters.
set -u
export LC_ALL=C
if [ $# -ne 2 ]; then echo "usage: $0 NFEMU_BINARY CORPUS_DIR" >&2; exit 2; fi
nfemu=$1
corpus=$2
[ -x "$nfemu" ] || { echo "invalid.sh: $nfemu is not executable" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

shopt -s nullglob
total=0
ok=0
failed=()
for rules in "$corpus"/invalid/*.rules; do
  name=$(basename "$rules" .rules)
  total=$((total + 1))
  if [ ! -f "${rules%.rules}.expect-line" ]; then
    echo "FAIL $name: missing $name.expect-line"
    failed+=("$name"); continue
  fi
  line=$(tr -d ' \n' <"${rules%.rules}.expect-line")
  "$nfemu" check "$rules" >/dev/null 2>"$tmp/err"
  rc=$?
  first=$(head -1 "$tmp/err")
  # First section of NAME.kernel (restore --counters): stderr and kernel log.
  kernel_says=$(awk 'NR > 1 && /^==/ {exit} /^  / && !/Try `/ {print}' \
                  "${rules%.rules}.kernel" 2>/dev/null | head -4 | sed 's/^ */      /')
  if [ $rc -ne 2 ]; then
    echo "FAIL $name: nfemu check exit $rc, expected 2 (stderr: ${first:-<empty>})"
    echo "    kernel tools said:"; echo "$kernel_says"
    failed+=("$name"); continue
  fi
  case "$first" in
    "$rules:$line:"*) ok=$((ok + 1)) ;;
    *)
      echo "FAIL $name: stderr must start with '$rules:$line:', got: $first"
      echo "    kernel tools said:"; echo "$kernel_says"
      failed+=("$name") ;;
  esac
done

for rules in "$corpus"/invalid-counters/*.rules; do
  name=invalid-counters/$(basename "$rules" .rules)
  total=$((total + 1))
  line=$(tr -d ' \n' <"${rules%.rules}.expect-line")
  "$nfemu" save -c --counters "$rules" >/dev/null 2>"$tmp/err"
  rc=$?
  first=$(head -1 "$tmp/err")
  if [ $rc -ne 2 ]; then
    echo "FAIL $name: nfemu save -c --counters exit $rc, expected 2 (stderr: ${first:-<empty>})"
    failed+=("$name"); continue
  fi
  case "$first" in
    "$rules:$line:"*) ;;
    *) echo "FAIL $name: stderr must start with '$rules:$line:', got: $first"
       failed+=("$name"); continue ;;
  esac
  "$nfemu" save "$rules" >"$tmp/raw" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL $name: plain nfemu save must accept it, exit $rc: $(head -1 "$tmp/err")"
    failed+=("$name"); continue
  fi
  grep -v '^#' "$tmp/raw" >"$tmp/out"
  if ! diff -u "${rules%.rules}.save-nocounters" "$tmp/out" >"$tmp/diff"; then
    echo "FAIL $name: plain nfemu save differs from $(basename "$rules" .rules).save-nocounters"
    head -20 "$tmp/diff" | sed 's/^/    /'
    failed+=("$name"); continue
  fi
  ok=$((ok + 1))
done

echo "$ok of $total invalid rulesets refused at the expected line"
if [ $total -eq 0 ]; then echo "invalid.sh: no rulesets under $corpus/invalid" >&2; exit 1; fi
[ ${#failed[@]} -eq 0 ] || { echo "failing: ${failed[*]}"; exit 1; }
exit 0

#!/bin/bash
# rulesets_corpus: the corpus is complete and self-consistent (no kernel or
# nfemu needed).  Every valid/NAME.rules has both goldens, every invalid one
# has an expect-line inside the file (or one past its end) and a .kernel
# record with a refusing exit status, and no golden is left without its .rules.
#
#   corpus-lint.sh [CORPUS_DIR]
set -u
export LC_ALL=C
corpus=${1:-$(cd "$(dirname "$0")" && pwd)}
status=0
bad() { echo "corpus-lint: $*"; status=1; }
shopt -s nullglob

nvalid=0
for rules in "$corpus"/valid/*.rules; do
  nvalid=$((nvalid + 1))
  for ext in save save-nocounters; do
    [ -f "${rules%.rules}.$ext" ] || bad "${rules#"$corpus"/}: missing .$ext (run regen-golden.sh)"
  done
  if grep -qx '# corpus: all-counter-modes' "$rules"; then
    for ext in save-c-plain save-plain-counters; do
      [ -f "${rules%.rules}.$ext" ] || bad "${rules#"$corpus"/}: missing .$ext (run regen-golden.sh)"
    done
  fi
done

ninvalid=0
for rules in "$corpus"/invalid/*.rules "$corpus"/invalid-counters/*.rules; do
  ninvalid=$((ninvalid + 1))
  rel=${rules#"$corpus"/}
  base=${rules%.rules}
  if [ ! -f "$base.expect-line" ]; then
    bad "$rel: missing .expect-line"
  else
    line=$(tr -d ' \n' <"$base.expect-line")
    # Count lines the way an editor does: a last line without newline counts.
    nlines=$(awk 'END {print NR}' "$rules")
    case "$line" in
      ''|*[!0-9]*) bad "$rel: expect-line '$line' is not a number" ;;
      *) if [ "$line" -lt 1 ] || [ "$line" -gt $((nlines + 1)) ]; then
           bad "$rel: expect-line $line outside 1..$((nlines + 1))"
         fi ;;
    esac
  fi
  if [ ! -f "$base.kernel" ]; then
    bad "$rel: missing .kernel (run regen-golden.sh)"
  else
    rc=$(sed -n '2s/^exit: //p' "$base.kernel")
    case "$rc" in 1|2) ;; *) bad "$rel: .kernel records exit '$rc', not a refusal" ;; esac
  fi
  case "$rel" in
    invalid-counters/*) [ -f "$base.save-nocounters" ] || bad "$rel: missing .save-nocounters" ;;
  esac
done

for golden in "$corpus"/valid/*.save "$corpus"/valid/*.save-nocounters \
              "$corpus"/valid/*.save-c-plain "$corpus"/valid/*.save-plain-counters \
              "$corpus"/invalid/*.kernel "$corpus"/invalid/*.expect-line \
              "$corpus"/invalid-counters/*.kernel "$corpus"/invalid-counters/*.expect-line \
              "$corpus"/invalid-counters/*.save-nocounters; do
  [ -f "${golden%.*}.rules" ] || bad "${golden#"$corpus"/}: no matching .rules (stale golden?)"
done

[ "$nvalid" -ge 45 ] || bad "only $nvalid valid rulesets (want >= 45)"
[ "$ninvalid" -ge 35 ] || bad "only $ninvalid invalid rulesets (want >= 35)"
[ $status -eq 0 ] && echo "corpus-lint: $nvalid valid and $ninvalid invalid rulesets, all goldens present"
exit $status

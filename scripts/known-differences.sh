#!/usr/bin/env bash
# The verdict on one scenario's comparison with the kernel, given the list
# of known differences (tests/scenarios/KNOWN-DIFFERENCES, or the file named
# by $NFEMU_KNOWN_DIFFERENCES):
#   known-differences.sh NAME [FILE...]
# FILE...: the artifact files that differ (HOST/FILE as `nfemu compare`
# names them); none means the scenario agrees. Prints one line and exits:
#   0  NAME: agree                               not listed, nothing differs
#   1  NAME: differ: FILES                       not listed, something differs
#   1  NAME: differ: FILES (beyond its KNOWN-DIFFERENCES entry: FILES)
#   3  NAME: differ (known: REASON): FILES       listed, exactly those differ
#   4  NAME: STALE ... remove it from KNOWN-DIFFERENCES
#                                                listed, but all or some of
#                                                its files agree now
# Exit 2 when the list cannot be read or has a malformed line.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
list=${NFEMU_KNOWN_DIFFERENCES:-$root/tests/scenarios/KNOWN-DIFFERENCES}
name=${1:?usage: known-differences.sh NAME [FILE...]}
shift
[ -r "$list" ] || { echo "known-differences: error: cannot read $list" >&2; exit 2; }

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }
sorted() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

entry_files="" reason="" found=0 lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $(trim "$line") in '' | '#'*) continue ;; esac
  IFS='|' read -r n f r <<<"$line"
  n=$(trim "$n"); f=$(trim "${f:-}"); r=$(trim "${r:-}")
  if [ -z "$n" ] || [ -z "$f" ] || [ -z "$r" ]; then
    echo "known-differences: error: $list:$lineno: expected NAME | FILE... | REASON" >&2
    exit 2
  fi
  [ "$n" = "$name" ] || continue
  if [ $found = 1 ]; then
    echo "known-differences: error: $list:$lineno: $name is listed twice" >&2
    exit 2
  fi
  found=1 entry_files=$(sorted <<<"$f") reason=$r
done < "$list"

differ=$(sorted <<<"$*")
if [ $found = 0 ]; then
  if [ -z "$differ" ]; then echo "$name: agree"; exit 0; fi
  echo "$name: differ: $differ"
  exit 1
fi
# Listed: compare the two sets of files.
beyond="" now_agree=""
for f in $differ; do
  [[ " $entry_files " == *" $f "* ]] || beyond="$beyond $f"
done
for f in $entry_files; do
  [[ " $differ " == *" $f "* ]] || now_agree="$now_agree $f"
done
if [ -n "$beyond" ]; then
  echo "$name: differ: $differ (beyond its KNOWN-DIFFERENCES entry:$beyond)"
  exit 1
fi
if [ -z "$differ" ]; then
  echo "$name: STALE: agrees with the kernel now: remove it from KNOWN-DIFFERENCES"
  exit 4
fi
if [ -n "$now_agree" ]; then
  echo "$name: STALE: differs only in $differ;$now_agree agree now: remove them from its KNOWN-DIFFERENCES entry"
  exit 4
fi
echo "$name: differ (known: $reason): $differ"
exit 3

#!/usr/bin/env bash
# Golden tests of the `upviz log` binary on the fixtures: each case's
# standard output must equal golden/CASE.log, and some summaries and exit
# statuses are checked. UPDATE=1 rewrites the golden files (review the diff).
#   golden.sh BUILD/src/upviz/upviz
set -uo pipefail
upviz=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
fx=$here/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$fx"   # fixture paths in warnings stay short and stable
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# case NAME ARGS...: runs upviz log ARGS, compares stdout with golden/NAME.log.
case_() {
  local name=$1; shift
  "$upviz" log "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -ne 0 ]; then fail "$name: exit status $rc"; cat "$tmp/$name.err"; return; fi
  if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp/$name.out" "$here/golden/$name.log"; return; fi
  if ! diff -u "$here/golden/$name.log" "$tmp/$name.out"; then fail "$name: output differs"; fi
}
expect_err() {  # expect_err NAME REGEX: the case's stderr matches REGEX
  grep -Eq -- "$2" "$tmp/$1.err" || { fail "$1: stderr lacks /$2/"; cat "$tmp/$1.err"; }
}

case_ changelogs --changelogs doc --sections index/Packages
expect_err changelogs 'skipped 3: bad changelog trailer 1, changelog entry without trailer 1, changelog text outside an entry 1'
expect_err changelogs 'doc/broken/changelog.Debian.gz:13: warning: bad changelog trailer'
expect_err changelogs '5 of 5 sources have a section \(100.0%\)'
expect_err changelogs 'upstream changelogs ignored 1'
expect_err changelogs 'seen twice \(link or copy\) 1'
expect_err changelogs '2 duplicate uploads merged'

case_ udd --udd udd/udd.gource.log --sections index/Packages.xz
expect_err udd 'skipped 4: empty uploader 1, malformed gource line 3'
expect_err udd 'udd/udd.gource.log:4: warning: malformed gource line: bad type'
for z in gz bz2; do
  "$upviz" log --udd udd/udd.gource.log.$z --sections index/Packages.gz -o "$tmp/udd.$z" 2>/dev/null ||
    fail "udd.$z: exit status $?"
  cmp -s "$tmp/udd.out" "$tmp/udd.$z" || fail "udd.$z differs from the plain log"
done

case_ csv --csv src/upload_history.csv --sections index/Packages.lz4 --components strip
expect_err csv 'src/upload_history.csv:5: warning: CSV record with wrong field count'

case_ merged --udd udd/udd.gource.log.gz --changelogs doc --csv src/upload_history.csv \
  --sections index/Sources.gz
expect_err merged '3 duplicate uploads merged'

case_ month --udd udd/udd.gource.log --changelogs doc --csv src/upload_history.csv \
  --sections none --month 2023-03
case_ filters --changelogs doc --csv src/upload_history.csv --sections index/Packages \
  --package '^(foo|hello)$' --since 2015-01-01 --until 2023-03-06 --last 3
case_ user --changelogs doc --sections none --user '^Jane' --first 1
# --changelogs repeats, and takes one changelog file as well as a directory.
case_ two --changelogs doc/hello --changelogs src/foo.changelog --sections none

mkdir -p "$tmp/lists" "$tmp/parts"
case_ apt --changelogs doc --sections apt \
  --apt-config "Dir::State::status=$fx/src/status" --apt-config "Dir::State::lists=$tmp/lists" \
  --apt-config Dir::Etc::sourcelist=/dev/null --apt-config "Dir::Etc::sourceparts=$tmp/parts" \
  --apt-config Dir::Cache::pkgcache= --apt-config Dir::Cache::srcpkgcache=
expect_err apt 'no package lists in .*run `apt-get update`'
expect_err apt '2 of 5 sources have a section \(40.0%\), 3 undef'

# -o writes what standard output would.
"$upviz" log --changelogs doc --sections index/Packages -o "$tmp/o.log" 2>/dev/null
cmp -s "$tmp/o.log" "$tmp/changelogs.out" || fail "-o output differs from stdout"

# Exit status 2: nothing usable, missing input, bad usage.
expect_rc() {
  local want=$1; shift
  "$upviz" log "$@" >/dev/null 2>"$tmp/rc.err"
  local rc=$?
  [ "$rc" -eq "$want" ] || { fail "upviz log $*: exit status $rc, want $want"; cat "$tmp/rc.err"; }
}
expect_rc 2 --udd src/broken.changelog --sections none
grep -q 'nothing usable was read' "$tmp/rc.err" || fail "no 'nothing usable' message"
expect_rc 2 --udd no/such/file --sections none
expect_rc 2 --changelogs doc/empty --sections none
expect_rc 2 --sections none
expect_rc 2 --changelogs doc --month 2023-13
expect_rc 2 --changelogs doc --user '('
expect_rc 2 --changelogs doc --no-such-option
expect_rc 0 --changelogs doc --sections none --month 1999-01

# dpkg-parsechangelog (dpkg-dev) as the reference on well-formed changelogs:
# same uploads, same UTC timestamps. Skipped when it is not installed.
if command -v dpkg-parsechangelog >/dev/null; then
  for c in hello foo nativepkg; do
    ours=$("$upviz" log --changelogs "src/$c.changelog" --sections none -q | cut -d'|' -f1,4)
    theirs=$(dpkg-parsechangelog -l "src/$c.changelog" --all --format rfc822 |
      awk '/^Source:/{s=$2} /^Timestamp:/{print $2"|"s}' | sort -n)
    [ "$ours" = "$theirs" ] || { fail "$c: differs from dpkg-parsechangelog"; diff <(echo "$ours") <(echo "$theirs"); }
  done
else
  echo "note: dpkg-parsechangelog not installed, reference comparison skipped"
fi

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "upviz log golden: all cases pass"

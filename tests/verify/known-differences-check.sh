#!/usr/bin/env bash
# The known-differences mechanism without a kernel: scripts/verify-scenario.sh
# (as fidelity.sh and run-one.sh call it) driven by a fake nfemu whose
# `verify` exits as told and whose `compare` names the files told, judged
# against a made-up KNOWN-DIFFERENCES list; then the real list's syntax and
# names.
#   known-differences-check.sh ROOT   (the source tree)
set -uo pipefail
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cat > "$tmp/nfemu" <<'EOF'
#!/usr/bin/env bash
# Fake nfemu: verify SCENARIO --out DIR exits $FAKE_RC; compare names $FAKE_FILES.
case $1 in
  --help) echo "  verify    fake"; exit 0 ;;
  verify)
    mkdir -p "$4/kernel" "$4/nfemu"
    echo "verify: $2: fake run"
    [ "$FAKE_RC" = 2 ] && echo "fake.toml:3:1: error: the kernel's iptables refuses this rule" >&2
    exit "$FAKE_RC" ;;
  compare)
    for f in $FAKE_FILES; do echo "compare: $f: 1 of 2 lines differ"; done
    echo "compare: differ"
    exit 1 ;;
esac
exit 2
EOF
chmod +x "$tmp/nfemu"
cat > "$tmp/KNOWN" <<'EOF'
# comment

zoned | fw/conntrack.txt  fw/conntrack-events.txt | CT --zone not evaluated; issue 4
EOF
export NFEMU_KNOWN_DIFFERENCES=$tmp/KNOWN

# case NAME RC FILES MODE EXPECTED_STATUS EXPECTED_TEXT
check() {
  local name=$1 rc=$2 files=$3 mode=$4 want=$5 text=$6 out status
  out=$(FAKE_RC=$rc FAKE_FILES=$files "$root/scripts/verify-scenario.sh" $mode "$tmp/nfemu" \
        "/x/$name/$name.toml" "$tmp/out/$name" 2>&1)
  status=$?
  [ "$status" = "$want" ] || fail "$name rc=$rc files='$files' $mode: exit $status, expected $want: $out"
  grep -qF -- "$text" <<<"$out" || fail "$name rc=$rc files='$files' $mode: no '$text' in: $out"
}
both="fw/conntrack.txt fw/conntrack-events.txt"
# fidelity.sh's statuses
check plain 0 "" "" 0 "plain: agree"
check plain 1 "a/kern.log" "" 1 "plain: differ: a/kern.log"
check plain 2 "" "" 2 "plain: error: fake.toml:3:1: error"
check zoned 1 "$both" "" 3 "zoned: differ (known: CT --zone not evaluated; issue 4): fw/conntrack-events.txt fw/conntrack.txt"
check zoned 1 "fw/conntrack-events.txt fw/conntrack.txt" "" 3 "differ (known:"
check zoned 1 "$both fw/kern.log" "" 1 "beyond its KNOWN-DIFFERENCES entry: fw/kern.log"
check zoned 0 "" "" 4 "remove it from KNOWN-DIFFERENCES"
check zoned 1 "fw/conntrack.txt" "" 4 "fw/conntrack-events.txt agree now: remove them"
check zoned 1 "" "" 2 "names no file"
# CTest's statuses (run-one.sh): known passes loudly, stale fails
check plain 0 "" --ctest 0 "verify: /x/plain/plain.toml: fake run"
check plain 1 "a/kern.log" --ctest 1 "plain: differ"
check zoned 1 "$both" --ctest 0 "KNOWN DIFFERENCE: zoned: differ (known: CT --zone"
check zoned 1 "$both fw/kern.log" --ctest 1 "beyond"
check zoned 0 "" --ctest 1 "remove it from KNOWN-DIFFERENCES"
check plain 2 "" --ctest 2 "error"

# A malformed list is an error, not a silent pass.
echo "broken | only two fields" >> "$tmp/KNOWN"
out=$("$root/scripts/known-differences.sh" plain 2>&1); status=$?
[ $status = 2 ] && grep -q "KNOWN:4: expected NAME | FILE... | REASON" <<<"$out" || fail "malformed list: exit $status: $out"

# The real list: well formed, every entry an existing scenario, every file HOST/FILE.
unset NFEMU_KNOWN_DIFFERENCES
list=$root/tests/scenarios/KNOWN-DIFFERENCES
"$root/scripts/known-differences.sh" no-such-scenario >/dev/null || fail "$list does not parse"
while IFS='|' read -r n f _; do
  n=$(echo $n)
  case $n in '' | '#'*) continue ;; esac
  [ -f "$root/tests/scenarios/$n/$n.toml" ] || fail "$list: no scenario $n"
  for file in $f; do
    [[ $file == */* ]] || fail "$list: $n: $file is not HOST/FILE"
  done
done < "$list"

# fidelity.sh's counting over the real corpus, every scenario agreeing
# (as root only: it skips otherwise): a listed entry is then stale, so it
# must fail and still count the scenario as agreeing.
mkdir -p "$tmp/build/src/cli"; cp "$tmp/nfemu" "$tmp/build/src/cli/nfemu"
total=$(ls "$root"/tests/scenarios/*/*.toml | wc -l)
echo "ct-zones | fw/conntrack.txt | zones" > "$tmp/STALE"
out=$(NFEMU_KNOWN_DIFFERENCES=$tmp/STALE FAKE_RC=0 FAKE_FILES= "$root/scripts/fidelity.sh" "$tmp/build" 2>&1); status=$?
if [ $status != 77 ]; then
  [ $status = 1 ] || fail "fidelity.sh, all agree, stale entries: exit $status"
  grep -q "^$total of $total scenarios agree with the kernel; 0 known" <<<"$out" || fail "fidelity.sh count: $out"
  grep -q "ct-zones: STALE" <<<"$out" || fail "fidelity.sh: no stale ct-zones: $out"
  : > "$tmp/EMPTY"
  out=$(NFEMU_KNOWN_DIFFERENCES=$tmp/EMPTY FAKE_RC=0 FAKE_FILES= "$root/scripts/fidelity.sh" "$tmp/build" 2>&1); status=$?
  [ $status = 0 ] || fail "fidelity.sh, all agree, no list entry: exit $status: $(tail -n 2 <<<"$out")"
  echo "ct-zones | fw/conntrack.txt fw/conntrack-events.txt | zones" > "$tmp/ONE"
  out=$(NFEMU_KNOWN_DIFFERENCES=$tmp/ONE FAKE_RC=1 FAKE_FILES="fw/conntrack-events.txt fw/conntrack.txt" \
        "$root/scripts/fidelity.sh" "$tmp/build" 2>&1)
  grep -q "^0 of $total scenarios agree with the kernel; 1 known" <<<"$out" || fail "fidelity.sh known count: $(tail -n 1 <<<"$out")"
fi

echo "known-differences-check: $fails failure(s)"
[ $fails = 0 ]

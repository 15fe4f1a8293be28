#!/bin/bash
# The kernel harness of `nfemu verify' on its failure paths (root only,
# else SKIP 77):
# - a rule the kernel refuses: exit 2, the scenario's line named;
# - SIGINT in the middle of a run: exit 2, the run's namespaces gone,
#   net.netfilter.nf_log_all_netns as it was;
# - run-one.sh's own timeout (before CTest's SIGKILL): verify interrupted,
#   exit 2, "timed out", the namespaces gone.
#   harness-check.sh NFEMU DIR   (DIR = tests/verify)
nfemu=$1; dir=$2
skip() { echo "SKIP: harness-check: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
probe=nfvprobe$$
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$probe"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$("$nfemu" verify "$dir/refused/refused.toml" 2>&1); rc=$?
[ $rc = 2 ] || fail "refused rule: exit $rc, expected 2"
grep -q "refused.toml:6" <<<"$out" || fail "refused rule: line 6 not named: $out"
ip netns list | grep -q "^nfv$$" && fail "namespaces left behind"

before=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
log=$(mktemp)
"$nfemu" verify "$dir/smoke/smoke.toml" >"$log" 2>&1 &
pid=$!
# Interrupt once the namespaces exist and traffic runs.
id=
for _ in $(seq 100); do
  id=$(grep -o 'nfv[0-9]*x[0-9]*' "$log" | head -1)
  [ -n "$id" ] && ip netns list | grep -q "^$id-b" && break
  sleep 0.05
done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
[ $rc = 2 ] || fail "SIGINT: exit $rc, expected 2"
grep -q "interrupted" "$log" || fail "SIGINT: no message: $(cat "$log")"
[ -n "$id" ] || fail "SIGINT: run id not printed"
if [ -n "$id" ] && ip netns list | grep -q "^$id-"; then fail "SIGINT: namespaces $id-* left behind"; fi
after=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
[ "$before" = "$after" ] || fail "nf_log_all_netns $before before, $after after"
rm -f "$log"

out=$(NFEMU_VERIFY_TIMEOUT=1 "$dir/run-one.sh" "$nfemu" "$dir/smoke/smoke.toml" 2>&1); rc=$?
[ $rc = 2 ] || fail "timeout: exit $rc, expected 2: $out"
grep -q "smoke: error: timed out after 1s" <<<"$out" || fail "timeout: not said: $out"
id=$(grep -o 'nfv[0-9]*x[0-9]*' <<<"$out" | head -1)
if [ -n "$id" ] && ip netns list | grep -q "^$id-"; then fail "timeout: namespaces $id-* left behind"; fi
echo "harness-check: $fails failure(s)"
[ $fails = 0 ]

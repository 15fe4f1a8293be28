#!/bin/bash
# One `nfemu verify` run for CTest: exit 77 (SKIP, said loudly) when the
# kernel side cannot run here, else scripts/verify-scenario.sh --ctest's
# status: 0 agree, or a difference listed in tests/scenarios/KNOWN-DIFFERENCES
# (printed loudly as KNOWN DIFFERENCE); 1 differ, or a stale entry there;
# 2 refused or broken.
#   run-one.sh NFEMU SCENARIO
nfemu=$1; scenario=$2
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: nfemu verify $scenario: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for t in ip:iproute2 iptables-legacy:iptables iptables-legacy-restore:iptables iptables-legacy-save:iptables \
         conntrack:conntrack tcpdump:tcpdump sysctl:procps ethtool:ethtool; do
  command -v "${t%%:*}" >/dev/null || skip "${t%%:*} missing (Debian package ${t#*:})"
done
probe=nfvprobe$$
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$probe"
[ -w /proc/sys/net/netfilter/nf_log_all_netns ] || skip "no net.netfilter.nf_log_all_netns (nf_log_syslog)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# CTest's TIMEOUT (kernel.cmake) ends a test with SIGKILL, which verify
# cannot clean up after (namespaces, collectors): interrupt it first, as
# Ctrl-C would, and let it remove everything.
export NFEMU_VERIFY_TIMEOUT=${NFEMU_VERIFY_TIMEOUT:-570}
"$here/../../scripts/verify-scenario.sh" --ctest "$nfemu" "$scenario" "$out"

#!/bin/bash
# One `nfemu verify` run for CTest: exit 77 (SKIP, said loudly) when the
# kernel side cannot run here, else nfemu verify's own status (0 agree,
# 1 differ, 2 refused or broken).
#   run-one.sh NFEMU SCENARIO [verify options...]
nfemu=$1; scenario=$2; shift 2
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
exec "$nfemu" verify "$scenario" "$@"

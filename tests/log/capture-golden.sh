#!/bin/bash
# Captures the kernel's LOG/TRACE lines and conntrack-tools text for the
# golden tests of nfemu_log, with the packets that produced them.
#
#   sudo tests/log/capture-golden.sh [OUTDIR]   # default: tests/log/golden
#
# Three fresh namespaces (A, B, C: A -- B -- C, B routes), LOG/TRACE rules in
# B and C, traffic from golden_traffic.py, tcpdump on every interface of B and
# C, `conntrack -E` (text and XML) and `conntrack -L` in B. golden_convert.py
# pairs every kernel line with the captured bytes. Exit 77 when it cannot
# run (not root, no netns, tools missing). Touches nothing outside its
# namespaces except net.netfilter.nf_log_all_netns, restored on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/golden}

skip() { echo "capture-golden: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for t in ip iptables-legacy conntrack tcpdump python3 setpriv dmesg; do
  command -v $t >/dev/null || skip "$t not installed"
done
[ -e /proc/sys/net/netfilter/nf_log_all_netns ] || skip "no nf_log_all_netns sysctl"

id=lg$$x$RANDOM
A=${id}a B=${id}b C=${id}c
work=$(mktemp -d /tmp/nfemu-log-golden.XXXXXX)
old_all_netns=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  # Whatever still runs inside our namespaces was started by this script.
  for n in $A $B $C; do
    for p in $(ip netns pids $n 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  sleep 0.2
  for n in $A $B $C; do
    for p in $(ip netns pids $n 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del $n 2>/dev/null
  done
  echo "$old_all_netns" > /proc/sys/net/netfilter/nf_log_all_netns
  if [ -n "${NFEMU_LOG_GOLDEN_KEEP:-}" ]; then echo "raw capture kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
ip netns add $A 2>/dev/null || skip "cannot create network namespaces"
ip netns add $B
ip netns add $C
echo 1 > /proc/sys/net/netfilter/nf_log_all_netns

inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }
inC() { ip netns exec $C "$@"; }

ip link add lga0 netns $A type veth peer name lgb0 netns $B
ip link add lgb1 netns $B type veth peer name lgc0 netns $C
# Fixed MACs make the goldens reproducible.
ip -n $A link set lga0 address 02:00:00:00:0a:01
ip -n $B link set lgb0 address 02:00:00:00:0b:01
ip -n $B link set lgb1 address 02:00:00:00:0b:02
ip -n $C link set lgc0 address 02:00:00:00:0c:01
ip -n $A addr add 192.0.2.1/24 dev lga0
ip -n $B addr add 192.0.2.2/24 dev lgb0
ip -n $B addr add 198.51.100.1/24 dev lgb1
ip -n $C addr add 198.51.100.2/24 dev lgc0
for n in $A $B $C; do
  ip -n $n link set lo up
  for d in $(ip -n $n -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep lg); do ip -n $n link set $d up; done
done
ip -n $A route add default via 192.0.2.2
ip -n $C route add default via 198.51.100.1
inB sysctl -qw net.ipv4.ip_forward=1
# Static neighbours: no ARP races between the first packet and its log line.
ip -n $A neigh add 192.0.2.2 lladdr 02:00:00:00:0b:01 dev lga0
ip -n $B neigh add 192.0.2.1 lladdr 02:00:00:00:0a:01 dev lgb0
ip -n $B neigh add 198.51.100.2 lladdr 02:00:00:00:0c:01 dev lgb1
ip -n $C neigh add 198.51.100.1 lladdr 02:00:00:00:0b:02 dev lgc0
# The segments on the wire are the segments the hooks see.
for d in "$A lga0" "$B lgb0" "$B lgb1" "$C lgc0"; do
  set -- $d; ip netns exec $1 ethtool -K $2 tso off gso off gro off >/dev/null 2>&1 || true
done

ipt() { inB iptables-legacy -w "$@"; }
# conntrack in B (the rule registers its hooks), short timeouts for DESTROY
ipt -A INPUT -m conntrack --ctstate INVALID -j ACCEPT
inB sysctl -qw net.netfilter.nf_conntrack_icmp_timeout=6 net.netfilter.nf_conntrack_udp_timeout=6 \
  net.netfilter.nf_conntrack_udp_timeout_stream=8 net.netfilter.nf_conntrack_tcp_timeout_time_wait=6 \
  net.netfilter.nf_conntrack_generic_timeout=6 net.netfilter.nf_conntrack_gre_timeout=6
# one flow in zone 5 (zone= in -E and -L)
ipt -t raw -A PREROUTING -p udp --dport 7005 -j CT --zone 5
ipt -t raw -A OUTPUT -p udp --sport 7005 -j CT --zone 5
ipt -t mangle -A PREROUTING -p udp --dport 7006 -j MARK --set-mark 0x1234
ipt -t mangle -A PREROUTING -p udp --dport 7006 -j CONNMARK --set-mark 42
ipt -A INPUT -p tcp --dport 7001 --syn -j LOG --log-prefix "syn: "
ipt -A INPUT -p tcp --dport 7002 -j LOG --log-prefix "tcp seq opt: " --log-tcp-sequence --log-tcp-options --log-uid
ipt -A INPUT -p udp --dport 7003 -j LOG --log-prefix "udp: "
ipt -A OUTPUT -p icmp --icmp-type port-unreachable -j LOG --log-prefix "icmp-err-out: "
ipt -A INPUT -p icmp --icmp-type echo-request -j LOG --log-prefix "echo-in: "
ipt -A OUTPUT -p icmp --icmp-type echo-reply -j LOG --log-prefix "echo-out: " --log-uid
ipt -A INPUT -p udp --dport 7005 -j LOG --log-prefix "ipopt: " --log-ip-options
ipt -A INPUT -p udp --dport 7006 -j LOG --log-prefix "mark: "
ipt -A INPUT -p udp --dport 7007 -j LOG --log-prefix "macdec: " --log-macdecode
ipt -A FORWARD -p udp --dport 7008 -j LOG --log-prefix "fwd: "
ipt -t mangle -A POSTROUTING -p udp --dport 7008 -j LOG --log-prefix "post: "
ipt -A OUTPUT -p udp --dport 7009 -j LOG --log-prefix "uid: " --log-uid
ipt -A OUTPUT -o lo -p udp --dport 7010 -j LOG --log-prefix "lo out: " --log-uid
ipt -A INPUT -i lo -p udp --dport 7010 -j LOG --log-prefix "lo in: " --log-uid
ipt -A INPUT -i lo -p udp --dport 7011 -j LOG --log-prefix "lo mac: " --log-macdecode
# Crafted packets are logged where they leave A (no conntrack there, so a
# lone fragment is seen too). They are told apart by their sender's group,
# not by their IDs alone (0x2001..0x20ff): the client's own datagrams have
# random IDs, and one that fell in that range was logged too, once as the
# 3028-byte datagram that only its fragments show on the wire.
craft_gid=4242
inA iptables-legacy -w -t raw -A OUTPUT -o lga0 -m owner --gid-owner $craft_gid \
  -m u32 --u32 "2&0xFFFF=0x2001:0x20FF" \
  -j LOG --log-prefix "craft: " --log-tcp-sequence --log-tcp-options --log-ip-options
ipt -t raw -A PREROUTING -i lgb0 -p icmp --icmp-type echo-request -j TRACE
ipt -t raw -A PREROUTING -i lgb0 -p tcp --dport 7001 --syn -j TRACE
ipt -t raw -A OUTPUT -o lgb0 -p icmp --icmp-type echo-reply -j TRACE
ipt -N lgchain
ipt -A INPUT -p icmp -j lgchain
ipt -A lgchain -p icmp --icmp-type timestamp-request -j ACCEPT
# C has no conntrack, so no defrag: PREROUTING sees each fragment.
inC iptables-legacy -w -t mangle -A PREROUTING -s 192.0.2.1 -p udp -j LOG --log-prefix "frag: "

for d in "$B lgb0" "$B lgb1" "$B lo" "$C lgc0"; do
  set -- $d
  ip netns exec $1 tcpdump -n -U -s 0 -i $2 -w "$work/$2.pcap" 2>/dev/null & pids+=($!)
done
# Started without a wrapper function, so that $! is the process itself.
ip netns exec $B conntrack -E > "$work/events.txt" 2>/dev/null & pids+=($!)
ip netns exec $B conntrack -E -o xml > "$work/events.xml" 2>/dev/null & pids+=($!)
sleep 1

marker="nfemu-log-golden-$id"
echo "$marker" > /dev/kmsg
ip netns exec $B python3 "$here/golden_traffic.py" server > "$work/server.out" & pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
coproc CLIENT { exec ip netns exec $A python3 "$here/golden_traffic.py" client; }
pids+=($CLIENT_PID)
read -r done_line <&"${CLIENT[0]}"
[ "$done_line" = done ] || { echo "client failed" >&2; exit 1; }
# Root still (raw sockets), in its own group for the rule above.
inA setpriv --regid=$craft_gid --clear-groups python3 "$here/golden_traffic.py" craft
# An unprivileged socket owner: UID=65534 GID=65534 on --log-uid lines.
syspy=/usr/bin/python3; [ -x $syspy ] || syspy=python3
cp "$here/golden_traffic.py" "$work/traffic.py"
chmod 755 "$work"; chmod 644 "$work/traffic.py"
inB setpriv --reuid=65534 --regid=65534 --clear-groups $syspy "$work/traffic.py" local
sleep 0.5
# Text and XML must see the same second: retry until two XML dumps around
# the text dump agree.
for _ in 1 2 3 4 5; do
  inB conntrack -L -o xml > "$work/list.xml" 2>/dev/null
  inB conntrack -L > "$work/list.txt" 2>/dev/null
  inB conntrack -L -o xml > "$work/list2.xml" 2>/dev/null
  cmp -s "$work/list.xml" "$work/list2.xml" && break
  sleep 0.3
done
echo >&"${CLIENT[1]}"
wait $CLIENT_PID 2>/dev/null || true
# Natural expiry gives the DESTROY events (no timeout left, no [USERSPACE]).
for _ in $(seq 90); do
  [ "$(inB conntrack -C 2>/dev/null)" = 0 ] && break
  sleep 0.5
done
sleep 1
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
dmesg -t | awk -v m="$marker" 'f; $0 == m {f = 1}' > "$work/dmesg.txt"
# Only the crafted packets (IDs 0x2001..0x200D) may be logged as crafted:
# not the client's decoy (0x2042), nor a datagram of its whose random ID
# fell in the rule's range.
stray=$(grep '^craft: ' "$work/dmesg.txt" | grep -vE ' ID=(819[3-9]|820[0-5]) ' || true)
if [ -n "$stray" ]; then
  echo "capture-golden: A's craft rule logged packets it did not craft:" >&2
  echo "$stray" >&2
  exit 1
fi

mkdir -p "$out"
python3 "$here/golden_convert.py" "$work" "$out"

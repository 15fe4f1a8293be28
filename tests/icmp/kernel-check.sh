#!/bin/bash
# What the kernel answers: client c --- router r --- server b (fresh
# namespaces). Prints every datagram that reaches the client, field by
# field, and compares them with kernel-observed-cases.txt (or, with
# `burst`, kernel-observed-burst.txt), the values host_icmp_test.cpp
# expects of nfemu. Timestamps, IP IDs and the SYN-ACK's ISN are not
# compared (outputs.md). Needs root and netns; skips with 77 otherwise.
# Usage: kernel-check.sh [burst|burst-unreach|srcchoice|dmz]
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: kernel-check needs root"; exit 77; }
ip netns add nfemu-probe-$$ 2>/dev/null || { echo "SKIP: no network namespaces"; exit 77; }
ip netns del nfemu-probe-$$
here=$(cd "$(dirname "$0")" && pwd)
C=nfemu-icmp-c-$$ R=nfemu-icmp-r-$$ B=nfemu-icmp-b-$$
tmp=$(mktemp -d)
cleanup() {
  for n in $C $R $B; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $n 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
for n in $C $R $B; do ip netns add $n; ip -n $n link set lo up; done
ip -n $C link add c0 type veth peer name r1 netns $R
ip -n $R link add r2 type veth peer name b0 netns $B
ip -n $R link set r2 mtu 1400; ip -n $B link set b0 mtu 1400
ip -n $C addr add 198.51.100.10/24 dev c0; ip -n $C link set c0 up
ip -n $C route add default via 198.51.100.1
ip -n $R addr add 198.51.100.1/24 dev r1; ip -n $R link set r1 up
ip -n $R addr add 203.0.113.1/24 dev r2; ip -n $R link set r2 up
ip -n $R route add unreachable 192.0.2.0/25
ip -n $R route add prohibit 192.0.2.128/25
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip -n $B addr add 203.0.113.2/24 dev b0; ip -n $B link set b0 up
ip -n $B route add default via 203.0.113.1
ip netns exec $B iptables-legacy -A INPUT -p udp --dport 7001 -j REJECT --reject-with icmp-net-unreachable
ip netns exec $B iptables-legacy -A INPUT -p tcp --dport 7002 -j REJECT --reject-with tcp-reset
ip netns exec $B iptables-legacy -A INPUT -p udp --dport 7003 -j REJECT --reject-with icmp-admin-prohibited
ip netns exec $B python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0",80)); s.listen(); time.sleep(120)' &
sleep 0.5
ip netns exec $C tcpdump -q -i c0 -w "$tmp/c0.pcap" -U 2>/dev/null &
sleep 1
if [ "${1:-}" = dmz ]; then
  # icmp-nat-dmz without NAT: the server forwards to a DMZ behind eth1 and
  # REJECTs 100.64.1.5; its error leaves from the preferred source of the
  # route back (b0's 203.0.113.2), not from eth1's 100.64.1.1.
  ip -n $B link add eth1 type veth peer name eth1p
  ip -n $B addr add 100.64.1.1/24 dev eth1
  ip -n $B link set eth1 up; ip -n $B link set eth1p up
  ip netns exec $B sysctl -qw net.ipv4.ip_forward=1
  ip netns exec $B iptables-legacy -A FORWARD -d 100.64.1.5 -j REJECT
  ip -n $R route add 100.64.1.0/24 via 203.0.113.2
  ip netns exec $C python3 "$here/kernel_probe.py" 'echo dmz'
elif [ "${1:-}" = srcchoice ]; then
  # The route back to the client prefers another source than the inbound
  # interface's address: the error's source follows the route, unless
  # icmp_errors_use_inbound_ifaddr.
  ip -n $R addr add 100.64.0.1/32 dev lo
  ip -n $R route add 198.51.100.10/32 dev r1 src 100.64.0.1
  ip netns exec $C python3 "$here/kernel_probe.py" 'ttl 1 forward'
  ip netns exec $R sysctl -qw net.ipv4.icmp_errors_use_inbound_ifaddr=1
  ip netns exec $C python3 "$here/kernel_probe.py" 'ttl 1 forward'
else
  ip netns exec $C python3 "$here/kernel_probe.py" "$@"
fi
sleep 0.5
ip netns pids $C | xargs -r kill -INT 2>/dev/null; sleep 0.5
python3 - "$tmp/c0.pcap" > "$tmp/observed.txt" <<'PY'
import struct, sys, socket
d = open(sys.argv[1], 'rb').read()
off = 24
while off < len(d):
    ts, tu, cl, ol = struct.unpack('<IIII', d[off:off + 16]); off += 16
    f = d[off:off + cl]; off += cl
    if struct.unpack('!H', f[12:14])[0] != 0x0800: continue
    p = f[14:]
    src, dst = socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
    if src == '198.51.100.10': continue
    ihl = (p[0] & 15) * 4
    tl = struct.unpack('!H', p[2:4])[0]
    line = f'{ts}.{tu:06d} {src} > {dst} tos=0x{p[1]:02x} len={tl} id={struct.unpack("!H", p[4:6])[0]} frag=0x{struct.unpack("!H", p[6:8])[0]:04x} ttl={p[8]} proto={p[9]}'
    t = p[ihl:tl]
    if p[9] == 1:
        line += f' icmp type={t[0]} code={t[1]} rest={t[4:8].hex()} quoted={len(t) - 8}'
        if t[0] in (3, 11): line += ' inner=' + t[8:36].hex()
    elif p[9] == 6:
        sp, dp, seq, ack, doff, fl, win = struct.unpack('!HHIIBBH', t[:16])
        line += f' tcp {sp}>{dp} seq={seq} ack={ack} doff={doff >> 4} flags=0x{fl:02x} win={win} opts={t[20:(doff >> 4) * 4].hex()}'
    print(line)
PY
cat "$tmp/observed.txt"
expected="$here/kernel-observed-cases.txt"
[ -n "${1:-}" ] && expected="$here/kernel-observed-$1.txt"
norm() { sed -E 's/^[0-9]+\.[0-9]+ //; s/ id=[0-9]+//; s/ seq=[0-9]+( ack=[0-9]+ doff=6 flags=0x12)/ seq=ISN\1/' "$1"; }
if ! diff <(norm "$expected") <(norm "$tmp/observed.txt"); then
  echo "FAIL: the kernel answered differently from $expected"; exit 1
fi
echo "OK: $(wc -l < "$tmp/observed.txt") answers as recorded"

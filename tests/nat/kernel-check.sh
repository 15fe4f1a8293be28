#!/bin/bash
# The kernel behaviours nat_test.cpp hard-codes, checked on real namespaces:
#
#   cli ns  198.51.100.10 + .11 ---- .1 eth0 [fw ns] eth1 203.0.113.1 ---- 203.0.113.4  srv ns
#
#  1. MASQUERADE of two clients using UDP source port 5000: the first keeps
#     5000, the second gets another port in 1024-65535.
#  2. ICMP echo id 1 from both clients: the first keeps id 1, the second
#     gets another id.
#  3. DNAT 198.51.100.1:5353 -> 203.0.113.4:54 (nobody listens): the
#     server's port unreachable reaches the client from 198.51.100.1 and
#     quotes 198.51.100.10:5000 > 198.51.100.1:5353, every checksum valid
#     (ICMP, inner IP, inner UDP).
#  4. The same for an error forged by srv from 203.0.113.9 (a router on the
#     way) to the source it saw: the outer source is rewritten to
#     198.51.100.1 as well.
#  5. SNAT to 203.0.113.100-203.0.113.103 picks the address
#     find_best_ips_proto hashes (jhash2 of the source, the destination as
#     initval; 0 with --persistent), unless the same source ip:port already
#     has a mapping in range (find_appropriate_src): nat_test's values.
#  6. MASQUERADE --random-fully moves even a free source port (1024-65535).
#  The datagram of 3/4 is also MASQUERADEd on its way out (-o eth1), so both manips
#  are undone: the source in PREROUTING, the destination in POSTROUTING.
#
# Needs root, ip netns, iptables-legacy and python3; exit 77 (skip)
# otherwise. Only fresh namespaces are touched, removed on exit.
set -u

skip() { echo "SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root"
for t in ip iptables-legacy python3; do command -v "$t" >/dev/null || skip "$t not installed"; done

suffix="$$-$RANDOM"
C="nfemu-nat-c-$suffix" F="nfemu-nat-f-$suffix" S="nfemu-nat-s-$suffix"
work=$(mktemp -d)
cleanup() {
  for n in "$C" "$F" "$S"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
for n in "$C" "$F" "$S"; do ip netns add "$n" || skip "cannot create a network namespace"; done

ip link add c0 netns "$C" type veth peer name eth0 netns "$F" || skip "no veth"
ip link add eth1 netns "$F" type veth peer name s0 netns "$S"
ip -n "$C" addr add 198.51.100.10/24 dev c0
ip -n "$C" addr add 198.51.100.11/24 dev c0
ip -n "$C" addr add 198.51.100.12/24 dev c0
ip -n "$F" addr add 198.51.100.1/24 dev eth0
ip -n "$F" addr add 203.0.113.1/24 dev eth1
ip -n "$S" addr add 203.0.113.4/24 dev s0
for n in "$C" "$F" "$S"; do ip -n "$n" link set lo up; done
ip -n "$C" link set c0 up; ip -n "$F" link set eth0 up; ip -n "$F" link set eth1 up; ip -n "$S" link set s0 up
ip -n "$C" route add default via 198.51.100.1
ip -n "$S" route add default via 203.0.113.1
ip netns exec "$F" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$F" iptables-legacy -t nat -A POSTROUTING -o eth1 -j MASQUERADE || skip "no iptables nat"
ip netns exec "$F" iptables-legacy -t nat -A PREROUTING -i eth0 -p udp --dport 5353 -j DNAT --to-destination 203.0.113.4:54
sleep 1

fail=0
check() {  # NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected $2, got $3"; fail=1; fi
}

# --- 1. port clash
ip netns exec "$S" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("203.0.113.4", 53)); s.settimeout(5)
for _ in range(2):
    d, a = s.recvfrom(100); print(a[1])
' >"$work/ports" &
spid=$!
sleep 0.5
for src in 198.51.100.10 198.51.100.11; do
  ip netns exec "$C" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$src', 5000)); s.sendto(b'x', ('203.0.113.4', 53))"
  sleep 0.2
done
wait $spid
p1=$(sed -n 1p "$work/ports"); p2=$(sed -n 2p "$work/ports")
check "first client keeps its port" 5000 "$p1"
if [ -n "$p2" ] && [ "$p2" != 5000 ] && [ "$p2" -ge 1024 ]; then r=remapped; else r="not remapped ($p2)"; fi
check "second client's port (kernel picked $p2)" remapped "$r"

# --- 2. ICMP id clash
ip netns exec "$S" python3 -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(5)
n = 0
while n < 2:
    d = s.recv(200); ihl = (d[0] & 15) * 4
    if d[ihl] == 8: print(struct.unpack("!H", d[ihl+4:ihl+6])[0]); n += 1
' >"$work/ids" &
spid=$!
sleep 0.5
for src in 198.51.100.10 198.51.100.11; do
  ip netns exec "$C" python3 -c "
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16; return ~s & 0xffff
m = struct.pack('!BBHHH', 8, 0, 0, 1, 1) + b'ping'
m = m[:2] + struct.pack('!H', csum(m)) + m[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.bind(('$src', 0)); s.sendto(m, ('203.0.113.4', 0))"
  sleep 0.2
done
wait $spid
i1=$(sed -n 1p "$work/ids"); i2=$(sed -n 2p "$work/ids")
check "first echo keeps id" 1 "$i1"
if [ -n "$i2" ] && [ "$i2" != 1 ]; then r=remapped; else r="not remapped ($i2)"; fi
check "second echo's id (kernel picked $i2)" remapped "$r"

# --- 3 and 4. ICMP errors related to a DNATed connection
cat >"$work/recv.py" <<'EOF'
import socket, struct, sys
def ok(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16; return s == 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(5)
for _ in range(int(sys.argv[1])):
    while True:
        d = s.recv(600); ihl = (d[0] & 15) * 4
        if d[ihl] == 3: break
    icmp = d[ihl:]; inner = icmp[8:]; iihl = (inner[0] & 15) * 4; udp = inner[iihl:]
    src = socket.inet_ntoa(d[12:16]); isrc = socket.inet_ntoa(inner[12:16]); idst = socket.inet_ntoa(inner[16:20])
    sp, dp, ulen = struct.unpack("!HHH", udp[:6])
    ph = inner[12:20] + struct.pack("!BBH", 0, 17, ulen)
    print(f"from {src} quoting {isrc}:{sp} > {idst}:{dp} icmp_csum={'ok' if ok(icmp) else 'bad'} "
          f"inner_ip_csum={'ok' if ok(inner[:iihl]) else 'bad'} inner_udp_csum={'ok' if ok(ph + udp[:ulen]) else 'bad'}")
EOF
ip netns exec "$C" python3 "$work/recv.py" 2 >"$work/errors" &
cpid=$!
# srv forges the second error from 203.0.113.9 about the datagram it got.
ip netns exec "$S" python3 -c '
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16; return ~s & 0xffff
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP); r.settimeout(5)
d = r.recv(200)
icmp = struct.pack("!BBHI", 3, 3, 0, 0) + d
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0, 64, 1, 0,
                 socket.inet_aton("203.0.113.9"), d[12:16])  # to the source it saw, as a router does
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
o = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
o.sendto(ip + icmp, (socket.inet_ntoa(d[12:16]), 0))
' &
spid=$!
sleep 0.5
# A raw socket, so that the UDP checksum is complete on the wire (a UDP
# socket's would be left to the veth "hardware", i.e. partial, and quoted so).
ip netns exec "$C" python3 -c "
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16; return ~s & 0xffff
data = b'hello world!'
u = struct.pack('!HHHH', 5000, 5353, 8 + len(data), 0) + data
ph = socket.inet_aton('198.51.100.10') + socket.inet_aton('198.51.100.1') + struct.pack('!BBH', 0, 17, len(u))
u = u[:6] + struct.pack('!H', csum(ph + u)) + u[8:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP); s.bind(('198.51.100.10', 0)); s.sendto(u, ('198.51.100.1', 0))"
wait $spid; wait $cpid
sort "$work/errors" | uniq >"$work/errors.u"
want="from 198.51.100.1 quoting 198.51.100.10:5000 > 198.51.100.1:5353 icmp_csum=ok inner_ip_csum=ok inner_udp_csum=ok"
check "port unreachable from the server and the forged one (2 identical lines)" "$want" "$(cat "$work/errors.u")"
check "errors received" 2 "$(wc -l <"$work/errors")"

# --- 5. address choice in a range: dport 99 plain, 98 --persistent (from
# another source port), 97 --persistent from the source port that already
# has a mapping (find_appropriate_src reuses it: persistent's hash is not used).
ip netns exec "$F" iptables-legacy -t nat -I POSTROUTING -o eth1 -p udp --dport 99 -j SNAT --to-source 203.0.113.100-203.0.113.103
ip netns exec "$F" iptables-legacy -t nat -I POSTROUTING -o eth1 -p udp --dport 98 -j SNAT --to-source 203.0.113.100-203.0.113.103 --persistent
ip netns exec "$F" iptables-legacy -t nat -I POSTROUTING -o eth1 -p udp --dport 97 -j SNAT --to-source 203.0.113.100-203.0.113.103 --persistent
ip netns exec "$S" python3 -c '
import socket, select
ss = []
for p in (99, 98, 97):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("203.0.113.4", p)); ss.append(s)
got = []
while len(got) < 9:
    r, _, _ = select.select(ss, [], [], 5)
    if not r: break
    for s in r:
        d, a = s.recvfrom(100); got.append(f"{d.decode()}:{s.getsockname()[1]}->{a[0]}")
print(" ".join(sorted(got)))
' >"$work/addrs" &
spid=$!
sleep 0.5
for src in 10 11 12; do
  for pp in 99:6000 98:6001 97:6000; do
    ip netns exec "$C" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.51.100.$src', ${pp#*:})); s.sendto(b'$src', ('203.0.113.4', ${pp%:*}))"
  done
done
wait $spid
check "SNAT address choice (find_best_ips_proto, find_appropriate_src)" \
  "10:97->203.0.113.101 10:98->203.0.113.103 10:99->203.0.113.101 11:97->203.0.113.101 11:98->203.0.113.103 11:99->203.0.113.101 12:97->203.0.113.103 12:98->203.0.113.102 12:99->203.0.113.103" \
  "$(cat "$work/addrs")"

# --- 6. --random-fully
ip netns exec "$F" iptables-legacy -t nat -I POSTROUTING -o eth1 -p udp --dport 96 -j MASQUERADE --random-fully
ip netns exec "$S" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("203.0.113.4", 96)); s.settimeout(5)
d, a = s.recvfrom(100); print(a[1])
' >"$work/rport" &
spid=$!
sleep 0.5
ip netns exec "$C" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.51.100.10', 7000)); s.sendto(b'r', ('203.0.113.4', 96))"
wait $spid
rp=$(cat "$work/rport")
if [ -n "$rp" ] && [ "$rp" != 7000 ] && [ "$rp" -ge 1024 ]; then r=moved; else r="kept or out of range ($rp)"; fi
check "--random-fully moves a free port (kernel picked $rp)" moved "$r"

exit $fail

#!/bin/bash
# Kernel checks for eval_matches_test: limit token arithmetic, pkttype, ctdir, owner.
# Not a ctest: run by hand as root, compare with the comments of eval_matches_test.cpp.
set -u
[ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 || { echo "SKIP: needs root and ip netns" >&2; exit 77; }
A=nfemu-evm-a-$$; B=nfemu-evm-b-$$
cleanup() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add va-$$ netns $A type veth peer name vb-$$ netns $B
ip -n $A addr add 198.51.100.1/24 broadcast 198.51.100.255 dev va-$$; ip -n $A link set va-$$ up; ip -n $A link set lo up
ip -n $B addr add 198.51.100.2/24 broadcast 198.51.100.255 dev vb-$$; ip -n $B link set vb-$$ up; ip -n $B link set lo up
ip netns exec $B sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0
sleep 1
# limit: 2/sec burst 3, 10 pings 10ms apart
ip netns exec $A iptables-legacy -A OUTPUT -p icmp --icmp-type echo-request -m limit --limit 2/sec --limit-burst 3
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 10 0.01 >/dev/null
echo "limit 10 pings in 0.1s:"; ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n 3p
sleep 0.6
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 1 0
echo "after 0.6s one more:"; ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n 3p
ip netns exec $A iptables-legacy -F OUTPUT
# pkttype: local broadcast in OUTPUT, received broadcast in PREROUTING
for t in unicast broadcast multicast; do
  ip netns exec $A iptables-legacy -A OUTPUT -p icmp -m pkttype --pkt-type $t
  ip netns exec $B iptables-legacy -t raw -A PREROUTING -p icmp --icmp-type echo-request -m pkttype --pkt-type $t
  ip netns exec $B iptables-legacy -A INPUT -p icmp --icmp-type echo-request -m pkttype --pkt-type $t
done
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.255 1 0 >/dev/null 2>&1
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 1 0 >/dev/null 2>&1
echo "A OUTPUT after 1 broadcast ping + 1 unicast ping (unicast, broadcast, multicast):"
ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n '3,5p'
echo "B raw PREROUTING echo-requests:"; ip netns exec $B iptables-legacy -t raw -L PREROUTING -v -n -x | sed -n '3,5p'
echo "B INPUT echo-requests:"; ip netns exec $B iptables-legacy -L INPUT -v -n -x | sed -n '3,5p'
# ctdir
ip netns exec $A iptables-legacy -F OUTPUT
ip netns exec $A iptables-legacy -A INPUT -p icmp -m conntrack --ctdir ORIGINAL
ip netns exec $A iptables-legacy -A INPUT -p icmp -m conntrack --ctdir REPLY
ip netns exec $A iptables-legacy -A INPUT -p icmp -m conntrack --ctexpire 25:30
ip netns exec $A iptables-legacy -A INPUT -p icmp -m conntrack --ctstatus SEEN_REPLY
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 1 0 >/dev/null 2>&1
echo "A INPUT echo-reply: ctdir ORIGINAL, ctdir REPLY, ctexpire 25:30, ctstatus SEEN_REPLY:"
ip netns exec $A iptables-legacy -L INPUT -v -n -x | sed -n '3,6p'
# owner: kernel-made packets (echo reply, RST) and a root raw socket's echo request
ip netns exec $A iptables-legacy -F; ip netns exec $B iptables-legacy -F
for r in "--uid-owner 0" "! --uid-owner 0" "--socket-exists" "! --socket-exists"; do
  ip netns exec $B iptables-legacy -A OUTPUT -p icmp -m owner $r
  ip netns exec $B iptables-legacy -A OUTPUT -p tcp -m owner $r
  ip netns exec $A iptables-legacy -A OUTPUT -p icmp --icmp-type echo-request -m owner $r
done
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 1 0
ip netns exec $A python3 -c "
import socket
s=socket.socket(); s.settimeout(1)
try: s.connect(('198.51.100.2', 9))
except Exception as e: pass
"
echo "B OUTPUT (kernel-made echo reply, RST): uid 0, ! uid 0, socket-exists, ! socket-exists (icmp, tcp):"
ip netns exec $B iptables-legacy -L OUTPUT -v -n -x | sed -n '3,10p'
echo "A OUTPUT (root raw socket):"
ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n '3,6p'
# hashlimit: 1/min burst 2, expire 1 s: 3 pings, 2.5 s idle, 3 pings
ip netns exec $A iptables-legacy -F
ip netns exec $A iptables-legacy -A OUTPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name evm --hashlimit-htable-expire 1000
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 3 0.01
sleep 2.5
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 3 0.01
echo "hashlimit upto 1/min burst 2 expire 1000, 3 + (2.5 s) + 3 pings (expect 4 with expiry):"
ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n 3p
# hashlimit bytes: 1kb/s, 30 back-to-back 36-byte pings (3 chunks each): 21 (22 if a jiffy or two passed)
ip netns exec $A iptables-legacy -F
ip netns exec $A iptables-legacy -A OUTPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1kb/s --hashlimit-name evmb
ip netns exec $A python3 "$(dirname "$0")"/eval_matches_ping.py 198.51.100.2 30 0
echo "hashlimit 1kb/s, 30 pings:"
ip netns exec $A iptables-legacy -L OUTPUT -v -n -x | sed -n 3p

#!/bin/bash
# A `tcpdump -i any` capture of a real firewall, replayed: what nfemu sends
# out of each interface must be what the kernel sent, datagram for
# datagram, and every rule counter must be the kernel's.
#
#   client ns 203.0.113.2 ---- wan [fw ns] lan ---- 198.51.100.2 server ns
#
# Phase 1, real sockets: fw DNATs TCP 8080 to the server's port 80,
# masquerades what leaves on wan, drops telnet, and lets replies and
# related ICMP errors back. The traffic: a DNATed TCP exchange, a UDP
# datagram to a closed server port (the server's port unreachable comes
# back through fw), telnet (dropped), a masqueraded UDP datagram from the
# server to a closed client port (the client's error comes back, quoted
# header translated back), a ping, a 30000-byte TCP exchange, a SYN to a
# closed port of fw (its RST), CHECKSUM --checksum-fill on UDP and TCP,
# frames to another host's MAC and to group MACs (none forwarded).
# Phase 1o, the same with the offloads of veth's defaults on (checksum,
# TSO, GSO): the senders' TCP and UDP checksums are left for the NIC
# (CHECKSUM_PARTIAL: the pseudo header's sum), and the 30000 bytes cross fw
# as TCP aggregates of up to 5844 bytes through links of MTU 1500.
# Phase 1z, 1o again with net.netfilter.nf_conntrack_checksum = 0 in fw.
# Phase 2, the benchmark's nat shape: a random gen-rules.py ruleset in fw
# and a gen-trace.py trace drawn from it, sent into wan as raw frames.
# Phase 3, fw's own sockets: fw talks to the client and the server itself,
# serves TCP, answers closed ports, and its INPUT takes only answers to
# what it sent; replayed with --own-output (phase 1 is replayed with it
# too: its own frames are all answers and forwards, which it skips).
# Phase 3o, 3 with the offloads on: fw's own checksums left for the NIC.
#
# The capture of every interface of fw holds each frame twice: as it came
# in (replayed, on the interface its LINUX_SLL2 index names: --ifindex) and
# as the kernel sent it (PACKET_OUTGOING). The test compares those sent
# IPv4 datagrams, per interface and in the order of each flow, with
# nfemu's wan.pcap and lan.pcap, `iptables-save -c` and `conntrack -L`
# with nfemu's.
# A second capture of the same traffic keeps 96 bytes of each frame
# (tcpdump -s 96: headers, not payloads). It is replayed with --fixlen pad
# and compared in the same way, datagrams as far as that capture has them:
# the counters' bytes and the connections must be the full capture's.
# The socket phases also capture wan and lan on their own (Ethernet,
# `tcpdump -i wan`: both directions, other hosts' frames included); those
# two files, merged by time, must give the kernel's datagrams too, and so
# must one pcapng file holding both, replayed with --in any=.
#
#   kernel-any.sh NFEMU
#   NFEMU_ANY_SEED=N      repeats phase 2 (the seed is printed)
#   NFEMU_ANY_RULES=N     rules of its ruleset (2000)
#   NFEMU_ANY_PACKETS=N   frames of its trace (5000)
#   NFEMU_ANY_SHAPE=S     its gen-rules.py shape (nat; acl, fw and ipc have
#                         no NAT)
#
# Needs root, ip netns, iptables-legacy, tcpdump, ethtool, conntrack and
# python3: exit 77 (skip, with the reason) otherwise. Only fresh namespaces
# are touched, and removed on exit.
set -euo pipefail
nfemu=$1

skip() { echo "kernel-any: SKIP: $*" >&2; exit 77; }
fail() { echo "kernel-any: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "not root"
for t in ip iptables-legacy iptables-legacy-save tcpdump ethtool conntrack python3; do
  command -v "$t" >/dev/null || skip "$t not installed"
done

suffix="$$-$RANDOM"
work=$(mktemp -d)
namespaces=()
tcpdump_pids=()
cleanup() {
  set +e
  for p in "${tcpdump_pids[@]}"; do kill "$p" 2>/dev/null; done
  for n in "${namespaces[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  if [ -n "${NFEMU_ANY_KEEP:-}" ]; then echo "kernel-any: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# Fresh client, fw and server namespaces for phase $1 (C, F, S), wired and
# addressed as above, fw forwarding with no rules yet.
setup() {
  C="nfemu-any-c$1-$suffix" F="nfemu-any-f$1-$suffix" S="nfemu-any-s$1-$suffix"
  ip netns add "$C" 2>/dev/null || skip "cannot create network namespaces"
  namespaces+=("$C")
  ip netns add "$F" && namespaces+=("$F")
  ip netns add "$S" && namespaces+=("$S")
  ip link add c0 netns "$C" type veth peer name wan netns "$F" || skip "no veth"
  ip link add s0 netns "$S" type veth peer name lan netns "$F"
  ip -n "$C" link set c0 address 02:00:00:00:0c:01
  ip -n "$F" link set wan address 02:00:00:00:0f:01
  ip -n "$F" link set lan address 02:00:00:00:0f:02
  ip -n "$S" link set s0 address 02:00:00:00:05:01
  ip -n "$C" addr add 203.0.113.2/24 dev c0
  ip -n "$F" addr add 203.0.113.1/24 dev wan
  ip -n "$F" addr add 198.51.100.1/24 dev lan
  ip -n "$S" addr add 198.51.100.2/24 dev s0
  # Checksums computed by the stack, no super-packets: the capture holds
  # the datagrams as they are on a wire.
  local nd
  for nd in "$C c0" "$F wan" "$F lan" "$S s0"; do
    set -- $nd
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
  done
  for nd in "$C" "$F" "$S"; do ip -n "$nd" link set lo up; done
  ip -n "$C" link set c0 up; ip -n "$F" link set wan up; ip -n "$F" link set lan up; ip -n "$S" link set s0 up
  ip -n "$C" route add default via 203.0.113.1
  ip -n "$S" route add default via 198.51.100.1
  ip netns exec "$F" sysctl -qw net.ipv4.ip_forward=1
}
ipt() { ip netns exec "$F" iptables-legacy "$@"; }

# start_capture PHASE [IFNAME...]: every IPv4 datagram into and out of fw,
# as it was on the wire, into $work/PHASE/any.pcap (and cut.pcap, 96
# bytes of each), and an Ethernet capture of each IFNAME as `tcpdump -i
# IFNAME` takes it (promiscuous, both directions) into if-IFNAME.pcap.
# --immediate-mode: a frame still in the ring at SIGINT would be lost.
# -s 8192 -B 65536: a ring slot is as large as the snaplen, and 256 KiB
# slots (-s 0) left room for a few frames only: bursts were dropped. 8192
# keeps phase 1o's aggregates whole.
captures=()
start_capture() {
  local dir="$work/$1"
  shift
  mkdir -p "$dir"
  ip netns exec "$F" iptables-legacy-save > "$dir/fw.rules"
  local name snaplen dev
  captures=()
  for name in any:8192:any cut:96:any $(for i in "$@"; do echo "if-$i:8192:$i"; done); do
    dev=${name##*:} name=${name%:*}
    snaplen=${name#*:} name=${name%:*}
    ip netns exec "$F" tcpdump -i "$dev" --immediate-mode -U -s "$snaplen" -B 65536 -w "$dir/$name.pcap" ip \
      2>"$dir/$name.err" &
    tcpdump_pids+=($!)
    captures+=("$name")
    for _ in $(seq 50); do grep -q "listening on" "$dir/$name.err" && break; sleep 0.1; done
    if [ "$dev" = any ]; then
      grep -q "LINUX_SLL2" "$dir/$name.err" || skip "tcpdump -i any does not write LINUX_SLL2 here: $(cat "$dir/$name.err")"
    else
      grep -q "EN10MB" "$dir/$name.err" || fail "tcpdump -i $dev: $(cat "$dir/$name.err")"
    fi
  done
}
stop_capture() {
  local p name
  sleep 0.3
  for p in "${tcpdump_pids[@]}"; do kill -INT "$p"; done
  for p in "${tcpdump_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  tcpdump_pids=()
  for name in "${captures[@]}"; do
    grep -q "^0 packets dropped by kernel" "$work/$1/$name.err" ||
      fail "the $name capture lost frames: $(cat "$work/$1/$name.err")"
  done
}

# Replays phase $1's capture into fw and compares what nfemu sent with what
# the kernel sent, datagram for datagram, the rule counters and the
# connections. The scenario is fw as it is: the interfaces $3 (their
# addresses and MACs), its rules as saved before the traffic, $2: its
# routes. $4: NAME:N, the fewest datagrams the kernel must have sent on
# interface NAME; $5: the interfaces an ICMP error must have left by.
# The -i any capture is replayed, every interface of $3 named by its index.
replay_and_compare() {
  local phase=$1 routes=$2 ifaces=$3 least=$4 errors=$5
  local dir="$work/$phase" i args=() compared=() toml macs=()
  ip netns exec "$F" iptables-legacy-save -c > "$dir/kernel-counters.rules"
  ip netns exec "$F" conntrack -L > "$dir/kernel-conntrack.txt" 2>/dev/null || fail "phase $phase: conntrack -L"
  toml=$(printf '[hosts.fw]\nsysctl = { "net.ipv4.ip_forward" = 1%s }\niptables-save = "fw.rules"\nroutes = [%s]\n' \
    "$fw_sysctl" "$routes")
  for i in $ifaces; do
    local index addrs mac
    index=$(ip -n "$F" -o link show "$i" | cut -d: -f1)
    addrs=$(ip -n "$F" -o -4 addr show dev "$i" | awk '{printf "%s\"%s\"", n++ ? ", " : "", $4}')
    mac=$(ip -n "$F" -o link show "$i" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
    toml+=$(printf '\n[hosts.fw.interfaces."%s"]\naddresses = [%s]\nmac = "%s"\n' "$i" "$addrs" "$mac")
    macs+=("$mac")
    args+=(--ifindex "$i=$index")
    local n=0 l
    for l in $least; do [ "${l%:*}" = "$i" ] && n=${l##*:}; done
    compared+=("$i=$index:$n")
  done
  echo "$toml" > "$dir/fw.toml"
  "$nfemu" replay "$dir/fw.toml" --host fw --in "any=$dir/any.pcap" "${args[@]}" "${replay_extra[@]}" --out "$dir/out" \
    > "$dir/summary.txt" || fail "phase $phase: replay exited $?"
  grep -q "IPv4 replayed on" "$dir/summary.txt" || fail "phase $phase: frames by interface"
  sed "s/^/  /" "$dir/summary.txt"
  compare "$dir" any out "$errors" "${compared[@]}" || fail "phase $phase: nfemu and the kernel differ"
  if [ "$phase" = 1 ]; then
    # fw's own frames here are all answers nfemu makes itself (a RST, ICMP
    # errors, redirects) and masqueraded forwards: --own-output replays
    # none of them, and changes nothing.
    "$nfemu" replay "$dir/fw.toml" --host fw --in "any=$dir/any.pcap" "${args[@]}" --own-output --out "$dir/out-own" \
      > "$dir/summary-own.txt" || fail "phase $phase: replay --own-output exited $?"
    grep -q "own frames (--own-output): 0 replayed" "$dir/summary-own.txt" ||
      fail "phase $phase: --own-output replayed answers or forwards: $(grep "own frames" "$dir/summary-own.txt")"
    compare "$dir" any out-own "$errors" "${compared[@]}" || fail "phase $phase: nfemu and the kernel differ (--own-output)"
  fi
  "$nfemu" replay "$dir/fw.toml" --host fw --in "any=$dir/cut.pcap" "${args[@]}" "${replay_extra[@]}" --fixlen pad --out "$dir/out-cut" \
    > "$dir/summary-cut.txt" || fail "phase $phase: replay of the cut capture exited $?"
  grep "cut by the snaplen" "$dir/summary-cut.txt" | sed "s/^/  /"
  grep -q "cut by the snaplen (--fixlen pad): [1-9]" "$dir/summary-cut.txt" ||
    fail "phase $phase: the 96-byte capture cut no datagram: $(cat "$dir/summary-cut.txt")"
  compare "$dir" cut out-cut "$errors" "${compared[@]}" ||
    fail "phase $phase: nfemu and the kernel differ on the cut capture (--fixlen pad)"
  # The Ethernet captures of each interface, merged by time: fw's own
  # frames are skipped by their source MAC, frames to another MAC are the
  # kernel's PACKET_OTHERHOST.
  [ -e "$dir/if-${ifaces%% *}.pcap" ] || return 0
  args=()
  for i in $ifaces; do args+=(--in "$i=$dir/if-$i.pcap"); done
  "$nfemu" replay "$dir/fw.toml" --host fw "${args[@]}" "${replay_extra[@]}" --out "$dir/out-eth" > "$dir/summary-eth.txt" ||
    fail "phase $phase: replay of the Ethernet captures exited $?"
  compare "$dir" any out-eth "$errors" "${compared[@]}" ||
    fail "phase $phase: nfemu and the kernel differ on the Ethernet captures (tcpdump -i IFNAME)"
  # The same captures as one pcapng file of several interfaces (what
  # dumpcap -i wan -i lan writes), the first interface's times in
  # nanoseconds: each frame must arrive on the interface its block names.
  # A second file gives each packet epb_flags as a capture on fw would
  # (outbound from fw's MAC; inbound unicast, broadcast, multicast, or
  # promiscuous to another host's MAC), replayed into fw without its MACs:
  # the flags alone must tell fw's own frames and other hosts' apart.
  local k=0
  python3 - "$dir/ifaces.pcapng" "$dir/flags.pcapng" \
    $(for i in $ifaces; do echo "$i=$dir/if-$i.pcap=${macs[$k]}"; k=$((k + 1)); done) <<'PY' ||
import struct, sys
def records(path):
    d = open(path, "rb").read()
    assert struct.unpack("<I", d[:4])[0] == 0xa1b2c3d4 and struct.unpack("<I", d[20:24])[0] == 1
    off = 24
    while off + 16 <= len(d):
        sec, usec, incl, orig = struct.unpack("<IIII", d[off:off + 16])
        yield sec * 1000000 + usec, orig, d[off + 16:off + 16 + incl]
        off += 16 + incl
def block(out, t, body):
    body += b"\0" * (-len(body) % 4)
    out.extend(struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
def option(code, value):
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
def flags(data, mac):
    src, dst = data[6:12], data[0:6]
    if src == mac:
        return 2  # outbound
    if dst == mac:
        return 1 | 1 << 2  # inbound, unicast
    if dst == b"\xff" * 6:
        return 1 | 3 << 2
    return 1 | (2 if dst[0] & 1 else 4) << 2  # multicast, promiscuous
plain, flagged, frames = bytearray(), bytearray(), []
for out in (plain, flagged):
    block(out, 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
macs = []
for k, arg in enumerate(sys.argv[3:]):
    name, path, mac = arg.split("=", 2)
    macs.append(bytes.fromhex(mac.replace(":", "")))
    for out in (plain, flagged):
        block(out, 1, struct.pack("<HHI", 1, 0, 8192) + option(2, name.encode()) +
              (option(9, b"\x09") if k == 0 else b"") + option(0, b""))
    # Ties keep the order of the inputs given separately, then file order.
    frames += [(us, k, n, orig, data) for n, (us, orig, data) in enumerate(records(path))]
for us, k, n, orig, data in sorted(frames, key=lambda f: f[:3]):
    ts = us * 1000 if k == 0 else us
    epb = struct.pack("<IIIII", k, ts >> 32, ts & 0xffffffff, len(data), orig) + data + b"\0" * (-len(data) % 4)
    block(plain, 6, epb)
    block(flagged, 6, epb + option(2, struct.pack("<I", flags(data, macs[k]))) + option(0, b""))
open(sys.argv[1], "wb").write(plain)
open(sys.argv[2], "wb").write(flagged)
print(f"kernel-any: {len(frames)} frames of {len(sys.argv) - 3} interfaces in one pcapng file")
PY
    fail "phase $phase: writing the pcapng file"
  "$nfemu" replay "$dir/fw.toml" --host fw --in "any=$dir/ifaces.pcapng" "${replay_extra[@]}" --out "$dir/out-ng" \
    > "$dir/summary-ng.txt" || fail "phase $phase: replay of the pcapng file exited $?"
  grep -q "IPv4 replayed on" "$dir/summary-ng.txt" || fail "phase $phase: pcapng frames by interface"
  compare "$dir" any out-ng "$errors" "${compared[@]}" ||
    fail "phase $phase: nfemu and the kernel differ on the pcapng file of the Ethernet captures"
  grep -v '^mac = ' "$dir/fw.toml" > "$dir/fw-no-mac.toml"
  "$nfemu" replay "$dir/fw-no-mac.toml" --host fw --in "any=$dir/flags.pcapng" "${replay_extra[@]}" \
    --out "$dir/out-flags" > "$dir/summary-flags.txt" || fail "phase $phase: replay of the flagged pcapng file exited $?"
  compare "$dir" any out-flags "$errors" "${compared[@]}" ||
    fail "phase $phase: nfemu and the kernel differ on the pcapng file with epb_flags, fw's MACs not given"
}

# compare DIR CAPTURE OUT ERRORS NAME=INDEX:LEAST...: the datagrams the
# kernel sent in DIR/CAPTURE.pcap against nfemu's in DIR/OUT, as far as
# the capture has them, then the counters and the connections.
compare() {
  python3 - "$@" <<'PY'
import struct, sys
# ARGS: the phase's folder, the capture, nfemu's output folder, the
# interfaces an ICMP error must have left by, then NAME=INDEX:LEAST for
# each interface compared.
work, capture, out, want_errors = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
ifaces = []
for arg in sys.argv[5:]:
    name, rest = arg.split("=", 1)
    index, least = rest.split(":")
    ifaces.append((name, int(index), int(least or 0)))

def records(path):
    d = open(path, "rb").read()
    magic, = struct.unpack("<I", d[:4])
    e = "<" if magic == 0xa1b2c3d4 else ">"
    linktype, = struct.unpack(e + "I", d[20:24])
    off = 24
    while off + 16 <= len(d):
        _, _, incl, _ = struct.unpack(e + "IIII", d[off:off + 16])
        yield linktype, d[off + 16:off + 16 + incl]
        off += 16 + incl

# Up to its IPv4 total length (not the link's padding), and as far as
# the kernel's capture has it: the 96-byte capture's SLL2 header leaves 76.
# The ID (and so the header checksum) of an ICMP message fw sends itself
# (a redirect, a port unreachable) is the kernel's random choice
# (ip_select_ident): outputs.md ignores it in what a host generates itself.
known = 76 if capture == "cut" else 65535
fw_addresses = {bytes([203, 0, 113, 1]), bytes([198, 51, 100, 1])}
def datagram(l3):
    d = bytearray(l3[:min(struct.unpack("!H", l3[2:4])[0], known)])
    if len(d) > 20 and d[9] == 1 and bytes(d[12:16]) in fw_addresses and d[(d[0] & 15) * 4] != 8:
        d[4:6] = d[10:12] = b"\0\0"
    return bytes(d)

# Each flow's datagrams (addresses, protocol, ports or ICMP id), byte for
# byte, in no particular order. Not across flows: the kernel receives
# frames in batches (listified receive), so its capture holds a batch's
# arrivals before their departures, and a departure's place next to
# another flow's is the batch's, not the arrival order that replay
# follows. Not within a flow either: the `-i any` capture's timestamps
# come from both CPUs and can invert two arrivals of one flow (seen once
# in CI: two ACKs of one connection, forwarded by the kernel in file
# order and by replay in timestamp order, as issue 5 asks of it). The
# counters and connections below are compared exactly.
def flow(d):
    ihl = (d[0] & 15) * 4
    return (d[9], d[12:20], d[ihl:ihl + 4] if d[9] in (6, 17) else d[ihl + 4:ihl + 6])

def in_flow_order(datagrams):
    return [d.hex() for d in sorted(datagrams, key=lambda d: (flow(d), d))]

sent = {index: [] for _, index, _ in ifaces}
for lt, r in records(f"{work}/{capture}.pcap"):
    assert lt == 276, lt
    proto, index, pkttype = struct.unpack("!H", r[0:2])[0], struct.unpack("!I", r[4:8])[0], r[10]
    if pkttype == 4 and proto == 0x0800 and index in sent:
        sent[index].append(datagram(r[20:]))
bad = 0
for name, index, least in ifaces:
    emitted = [datagram(r[14:]) for lt, r in records(f"{work}/{out}/fw/{name}.pcap") if r[12:14] == b"\x08\x00"]
    got, want = in_flow_order(emitted), in_flow_order(sent[index])
    print(f"kernel-any: {capture}.pcap: {name}: kernel sent {len(want)} IPv4 datagrams, nfemu {len(got)}")
    if got != want:
        bad += 1
        shown = 0
        for k in range(max(len(want), len(got))):
            w = want[k] if k < len(want) else "(none)"
            g = got[k] if k < len(got) else "(none)"
            if w != g and shown < 20:
                shown += 1
                print(f"  {name} #{k + 1}:\n    kernel: {w}\n    nfemu:  {g}")
    errors = [d for d in sent[index] if d[9] == 1 and d[(d[0] & 15) * 4] == 3]
    if len(want) < least or (name in want_errors and not errors):
        print(f"kernel-any: FAIL: {name}: the kernel sent {len(want)} datagrams, {len(errors)} ICMP errors")
        bad += 1
# Every rule's and policy's packet and byte counts, table by table (the
# kernel lists its tables in the order they were loaded).
def counters(path):
    tables = {}
    for l in open(path):
        if l.startswith("*"):
            lines = tables.setdefault(l.strip(), [])
        elif l.startswith((":", "[")):
            lines.append(l.strip())
    return tables
kernel, emulated = counters(f"{work}/kernel-counters.rules"), counters(f"{work}/{out}/fw/iptables-save.txt")
print(f"kernel-any: {sum(map(len, kernel.values()))} chains and rules with their counters")
if sorted(kernel) != sorted(emulated):
    bad += 1
    print(f"  tables: kernel {sorted(kernel)}, nfemu {sorted(emulated)}")
for t in kernel:
    k, e = kernel[t], emulated.get(t, [])
    for a, b in zip(k, e):
        if a != b:
            bad += 1
            print(f"  {t} kernel: {a}\n  {t} nfemu:  {b}")
    if len(k) != len(e):
        bad += 1
        print(f"  {t}: the kernel has {len(k)} chain and rule lines, nfemu {len(e)}")
# The connection tables, without the timeouts (the kernel's were listed
# a moment after the last frame).
def entries(path):
    return sorted(" ".join(f[:2] + f[3:]) for f in (l.split() for l in open(path)) if f)
k, e = entries(f"{work}/kernel-conntrack.txt"), entries(f"{work}/{out}/fw/conntrack.txt")
print(f"kernel-any: {len(k)} connections in the kernel's table, {len(e)} in nfemu's")
if k != e:
    bad += 1
    for line in sorted(set(k) ^ set(e))[:20]:
        print(f"  {'kernel' if line in k else 'nfemu '}: {line}")
sys.exit(1 if bad else 0)
PY
}

# A ping (iputils may be missing): an echo request to $1 with id $2 from a
# raw socket, its reply awaited.
cat > "$work/ping.py" <<'PY'
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
to, ident = sys.argv[1], int(sys.argv[2])
echo = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"nfemu-any"  + b"\0"
echo = echo[:2] + struct.pack("!H", csum(echo)) + echo[4:]
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r.settimeout(2)
r.sendto(echo, (to, 0))
while True:
    d = r.recv(200)
    if d[20] == 0 and d[24:26] == struct.pack("!H", ident):
        break
PY

# Phase 1 (offloads off), 1o (on) and 1z (on, conntrack verifying no
# checksum): real sockets.
fw_sysctl=""
replay_extra=()  # more options of every replay (phase 3: --own-output)
# veth's defaults in the phase's namespaces, the aggregates bounded to fit
# the capture's snaplen.
offloads_on() {
  local nd
  for nd in "$C c0" "$F wan" "$F lan" "$S s0"; do
    set -- $nd
    ip netns exec "$1" ethtool -K "$2" tx on tso on gso on >/dev/null 2>&1 || skip "ethtool -K $2 tx on tso on"
    ip -n "$1" link set "$2" gso_max_size 6000 || skip "no gso_max_size"
  done
}
sockets_phase() {
local phase=$1 offload=$2 ct_checksum=$3
setup "$phase"
fw_sysctl=""
if [ "$ct_checksum" = 0 ]; then
  # Partial checksums are still partial: NAT must update them as sums.
  ip netns exec "$F" sysctl -qw net.netfilter.nf_conntrack_checksum=0 ||
    skip "net.netfilter.nf_conntrack_checksum not writable in a namespace"
  fw_sysctl=', "net.netfilter.nf_conntrack_checksum" = 0'
fi
[ "$offload" = on ] && offloads_on
ipt -t nat -A PREROUTING -i wan -p tcp --dport 8080 -j DNAT --to-destination 198.51.100.2:80 ||
  skip "iptables-legacy unusable (no nat table?)"
ipt -t nat -A POSTROUTING -o wan -j MASQUERADE
ipt -P FORWARD DROP
ipt -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
ipt -A FORWARD -p tcp --dport 23 -j DROP
ipt -A FORWARD -i wan -o lan -p tcp --dport 80 -j ACCEPT
ipt -A FORWARD -i wan -o lan -p udp --dport 53 -j ACCEPT
ipt -A FORWARD -i wan -o lan -p icmp --icmp-type echo-request -j ACCEPT
ipt -A FORWARD -i lan -o wan -j ACCEPT
ipt -A FORWARD -i lan -o lan -p udp --dport 9 -j ACCEPT  # the hairpin below
ip -n "$F" neigh add 198.51.100.9 lladdr 02:00:00:00:05:09 dev lan nud permanent
# Fills a checksum left for the NIC (phase 1o's); does nothing to a whole one.
ipt -t mangle -A POSTROUTING -p udp --dport 53 -j CHECKSUM --checksum-fill
# TCP too (the kernel warns once): phase 1o's single segments are filled,
# its aggregates keep their partial sums (skb_is_gso). Only segments that
# the 96-byte capture holds whole: a fill over a cut payload's zeros
# cannot give the kernel's sum (replay.h, FixLen).
ipt -t mangle -A POSTROUTING -p tcp -m length --length 0:76 -j CHECKSUM --checksum-fill
ipt -t mangle -A POSTROUTING -p tcp -m length --length 1501:65535 -j CHECKSUM --checksum-fill
start_capture "$phase" wan lan

# The server: port 80 answers each line in upper case; nothing else listens.
ip netns exec "$S" python3 - <<'PY' &
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 80))
s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d.upper())
c.close()
PY
sleep 0.3

# A UDP datagram to a closed port, until its port unreachable comes back.
cat > "$work/$phase/refused.py" <<'PY'
def refused(to, payload):
    import socket
    for _ in range(5):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(0.3)
        u.connect(to)
        u.send(payload)
        try:
            u.recv(100)
        except ConnectionRefusedError:
            return
        except socket.timeout:
            pass
    raise SystemExit(f"no port unreachable from {to}")
PY
ip netns exec "$C" python3 - "$work/$phase/refused.py" <<'PY'
import socket, time
exec(open(__import__("sys").argv[1]).read())
t = socket.create_connection(("203.0.113.1", 8080), timeout=3)
# The third line is longer than the 96-byte capture keeps of its segment;
# the last is sent and echoed as TCP aggregates when TSO is on.
for line in (b"hello\n", b"firewall\n", b"payload " * 40 + b"\n", b"bulk " * 6000 + b"\n"):
    t.sendall(line)
    back = b""
    while len(back) < len(line):
        back += t.recv(1000)
    assert back == line.upper()
t.close()
# Closed: the server's port unreachable comes back (sent again if no error
# came back in time).
refused(("198.51.100.2", 53), b"query")
try:
    socket.create_connection(("198.51.100.2", 23), timeout=0.3)  # dropped by fw
except OSError:
    pass
# fw's own closed port answers with a RST, whatever the SYN's checksum
# holds (phase 1o: the pseudo header's sum, left for the NIC).
try:
    socket.create_connection(("203.0.113.1", 22), timeout=2)
    raise SystemExit("fw's port 22 accepted a connection")
except ConnectionRefusedError:
    pass
PY
ip netns exec "$S" python3 - "$work/$phase/refused.py" <<'PY'
import socket
exec(open(__import__("sys").argv[1]).read())
refused(("203.0.113.2", 9999), b"hi")  # masqueraded; closed: the client's error comes back
PY
ip netns exec "$C" python3 "$work/ping.py" 198.51.100.2 77 || fail "no echo reply through fw"
# Frames fw must not forward: to another host's MAC (PACKET_OTHERHOST:
# ip_rcv drops it before PREROUTING), to the broadcast MAC, and to a
# multicast MAC with TTL 1 (ip_forward drops both after PREROUTING, before
# the TTL test: no error); and, by the broadcast MAC, a datagram to fw's
# own closed UDP port and a SYN to its closed TCP port (INPUT sees them;
# no port unreachable, no RST); multicast datagrams to two groups; and
# hairpin datagrams from the server (ICMP redirects, paced).
ip netns exec "$C" python3 - <<'PY'
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frame(dst_mac, dst, sport, ttl):
    src, dst = socket.inet_aton("203.0.113.2"), socket.inet_aton(dst)
    udp = struct.pack("!HHHH", sport, 53 if dst[0] == 198 else 9, 12, 0) + b"mac!"
    udp = udp[:6] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 17, len(udp)) + udp)) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, ttl, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return bytes.fromhex(dst_mac) + bytes.fromhex("020000000c01" "0800") + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
s.send(frame("020000000c99", "198.51.100.2", 7001, 64))
s.send(frame("ffffffffffff", "198.51.100.2", 7002, 64))
s.send(frame("01005e000007", "198.51.100.2", 7003, 1))
s.send(frame("ffffffffffff", "203.0.113.1", 7004, 64))
# Multicast: the all-hosts group, which every interface joins (INPUT sees
# it), and mDNS's, which fw did not join (dropped after PREROUTING).
s.send(frame("01005e000001", "224.0.0.1", 7006, 1))
s.send(frame("01005e0000fb", "224.0.0.251", 7007, 255))
# A SYN to fw's closed port 22 by the broadcast MAC: tcp_v4_rcv discards
# it (no RST, unlike the client's SYN above).
src, dst = socket.inet_aton("203.0.113.2"), socket.inet_aton("203.0.113.1")
tcp = struct.pack("!HHIIBBHHH", 7005, 22, 1, 0, 0x50, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s.send(bytes.fromhex("ffffffffffff" "020000000c01" "0800") + ip + tcp)
PY
# Hairpin: the server sends to a neighbour of its own link through fw,
# three datagrams of one flow, which fw forwards back out of lan. Each is
# redirected (ICMP host redirect, before FORWARD) as ip_rt_send_redirect
# paces it: the first at once, but nat drops that one ("If NAT isn't
# finished, assume it and drop": the connection is not confirmed yet);
# the second, 0.1 ms later, too soon (40 ms for a second); the third,
# 100 ms later, leaves.
ip netns exec "$S" python3 - <<'PY'
import socket, struct, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = socket.inet_aton("198.51.100.2"), socket.inet_aton("198.51.100.9")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("s0", 0))
for n, pause in ((1, 0.0001), (2, 0.1), (3, 0)):
    udp = struct.pack("!HHHH", 7100, 9, 12, 0) + b"hair"
    udp = udp[:6] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 17, len(udp)) + udp)) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(bytes.fromhex("020000000f02" "020000000501" "0800") + ip + udp)
    time.sleep(pause)
PY
sleep 0.2
stop_capture "$phase"
# The traffic makes at least 6 and 8 datagrams (TCP may merge ACKs).
replay_and_compare "$phase" "" "wan lan" "wan:6 lan:8" "wan lan"
grep -q "^ *[1-9][0-9]*  filter FORWARD rule 2: -A FORWARD -p tcp -m tcp --dport 23 -j DROP" "$work/$phase/summary.txt" ||
  fail "phase $phase: telnet drop"
python3 - "$work/$phase/any.pcap" <<'PY' || fail "phase $phase: fw did not send 1 redirect"
import struct, sys
d, off, n = open(sys.argv[1], "rb").read(), 24, 0
while off + 16 <= len(d):
    incl = struct.unpack("<I", d[off + 8:off + 12])[0]
    r = d[off + 16:off + 16 + incl]
    off += 16 + incl
    n += r[10] == 4 and r[20 + 9] == 1 and r[20 + 20] == 5
sys.exit(0 if n == 1 else 1)
PY
for sum in summary summary-eth; do
  grep -q "for other hosts: 1 frames" "$work/$phase/$sum.txt" || fail "phase $phase: the frame to another MAC ($sum)"
done
if [ "$offload" = on ]; then
  # What the phase is for: aggregates, and checksums left for the NIC.
  grep -q "partial sums: *[1-9]" "$work/$phase/summary.txt" || fail "phase $phase: no partial checksum"
  python3 - "$work/$phase/any.pcap" <<'PY' || fail "phase $phase: fw forwarded no TCP aggregate both ways"
import struct, sys
d, off, big = open(sys.argv[1], "rb").read(), 24, set()
while off + 16 <= len(d):
    incl = struct.unpack("<I", d[off + 8:off + 12])[0]
    r = d[off + 16:off + 16 + incl]
    off += 16 + incl
    if r[10] == 4 and struct.unpack("!H", r[20 + 2:20 + 4])[0] > 1500:
        big.add(struct.unpack("!I", r[4:8])[0])
print(f"kernel-any: fw sent TCP aggregates on {len(big)} interfaces")
sys.exit(0 if len(big) == 2 else 1)
PY
fi
}
sockets_phase 1 off 1
sockets_phase 1o on 1
sockets_phase 1z on 0

# Phase 3, fw's own sockets, replayed with --own-output: fw asks the
# client's UDP echo and the server's TCP echo itself, pings the client,
# serves TCP on 2222 and on 8022 (REDIRECTed to 2224: its answers are
# captured after NAT, from 8022), and answers datagrams to a closed UDP port (port
# unreachable) and a SYN to a closed TCP port (RST); the server's datagram
# to the client is masqueraded. fw's INPUT takes what it serves and the
# answers to what it sent: what fw's sockets sent must go through OUTPUT
# and conntrack for their answers to be ESTABLISHED, and nfemu must not
# reset what comes to fw's sockets.
own_phase() {
local phase=$1 offload=$2
setup "$phase"
fw_sysctl=""
[ "$offload" = on ] && offloads_on
ipt -P INPUT DROP || skip "iptables-legacy unusable"
ipt -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
ipt -A INPUT -p tcp --dport 2222 -j ACCEPT
ipt -A INPUT -p tcp --dport 2223 -j ACCEPT
ipt -A INPUT -p tcp --dport 2224 -j ACCEPT
ipt -t nat -A PREROUTING -i wan -p tcp --dport 8022 -j REDIRECT --to-ports 2224
ipt -A INPUT -p udp --dport 9999 -j ACCEPT
ipt -A OUTPUT -p udp --dport 5353 -j ACCEPT
ipt -t nat -A POSTROUTING -o wan -j MASQUERADE
# With the offloads on, the segments fw's port 2222 sends are filled (the
# kernel warns about TCP once). The capture shows them after POSTROUTING,
# whole: replayed, they must pass the rule as whole sums, and the other own
# segments keep the sums left for the NIC. Only segments the 96-byte
# capture holds whole, as in phase 1o.
[ "$offload" = on ] && ipt -t mangle -A POSTROUTING -p tcp --sport 2222 -m length --length 0:76 -j CHECKSUM --checksum-fill
start_capture "$phase" wan lan
ip netns exec "$C" python3 - <<'PY' &
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("203.0.113.2", 5353))
for _ in range(2):
    d, a = u.recvfrom(2000)
    u.sendto(d.upper(), a)
PY
cat > "$work/echo-once.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
c, _ = s.accept()
c.sendall(c.recv(1000).upper())
c.close()
PY
ip netns exec "$S" python3 "$work/echo-once.py" 198.51.100.2 8080 &
ip netns exec "$F" python3 "$work/echo-once.py" 203.0.113.1 2222 &
ip netns exec "$F" python3 "$work/echo-once.py" 203.0.113.1 2224 &
sleep 0.3
ip netns exec "$F" python3 - <<'PY' || fail "phase $phase: fw's own traffic"
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
# Longer than the 96-byte capture keeps: the cut replay pads them.
u.sendto(b"fw asks " * 30, ("203.0.113.2", 5353))
assert u.recvfrom(1000)[0] == b"FW ASKS " * 30
t = socket.create_connection(("198.51.100.2", 8080), timeout=3)
t.sendall(b"fw connects " * 20)
back = b""
while len(back) < 240:
    back += t.recv(1000)
assert back == b"FW CONNECTS " * 20
t.close()
PY
ip netns exec "$F" python3 "$work/ping.py" 203.0.113.2 78 || fail "phase $phase: no echo reply to fw"
ip netns exec "$C" python3 - <<'PY' || fail "phase $phase: the client"
import socket
t = socket.create_connection(("203.0.113.1", 2222), timeout=3)
t.sendall(b"client asks")
assert t.recv(100) == b"CLIENT ASKS"
t.close()
# REDIRECTed to 2224: fw's answers leave from 8022.
t = socket.create_connection(("203.0.113.1", 8022), timeout=3)
t.sendall(b"redirected")
assert t.recv(100) == b"REDIRECTED"
t.close()
for _ in range(5):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(0.3)
    u.connect(("203.0.113.1", 9999))
    u.send(b"closed?")
    try:
        u.recv(10)
    except ConnectionRefusedError:
        break
    except socket.timeout:
        pass
else:
    raise SystemExit("no port unreachable from fw")
try:
    socket.create_connection(("203.0.113.1", 2223), timeout=2)
    raise SystemExit("fw's port 2223 accepted a connection")
except ConnectionRefusedError:
    pass
PY
ip netns exec "$S" python3 - <<'PY' || fail "phase $phase: the masqueraded datagram"
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.sendto(b"server asks", ("203.0.113.2", 5353))
assert u.recvfrom(100)[0] == b"SERVER ASKS"
PY
sleep 0.2
stop_capture "$phase"
replay_extra=(--own-output)
replay_and_compare "$phase" "" "wan lan" "wan:7 lan:4" "wan"
replay_extra=()
grep "own frames" "$work/$phase/summary.txt" | sed "s/^/  /"
grep -q "own frames (--own-output): [1-9][0-9]* replayed" "$work/$phase/summary.txt" ||
  fail "phase $phase: no own frame replayed"
grep -q "filter INPUT policy" "$work/$phase/summary.txt" && fail "phase $phase: INPUT dropped an answer"
if [ "$offload" = on ]; then
  # What 3o is for: fw's own segments and datagrams leave with the sum left
  # for the NIC, and replay must send them so, not fill or break it.
  python3 - "$work/$phase/any.pcap" <<'PY' || fail "phase $phase: fw sent no own datagram with a partial checksum"
import struct, sys
d = open(sys.argv[1], "rb").read()
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
off, partial = 24, 0
while off + 16 <= len(d):
    incl, = struct.unpack("<I", d[off + 8:off + 12])
    r = d[off + 16:off + 16 + incl]
    off += 16 + incl
    ip = r[20:]
    if r[10] != 4 or len(ip) < 20 or ip[9] not in (6, 17) or ip[12:16] not in (bytes([203, 0, 113, 1]), bytes([198, 51, 100, 1])):
        continue
    tot, ihl = struct.unpack("!H", ip[2:4])[0], (ip[0] & 15) * 4
    l4 = ip[ihl:tot]
    if len(l4) != tot - ihl:
        continue
    # A whole checksum sums to 0xffff with the pseudo header.
    if csum(ip[12:20] + struct.pack("!BBH", 0, ip[9], len(l4)) + l4) != 0xffff:
        partial += 1
print(f"kernel-any: phase 3o: fw sent {partial} datagrams of its own with a partial checksum")
sys.exit(0 if partial else 1)
PY
fi
return 0
}
own_phase 3 off
own_phase 3o on


# Phase 2: the benchmark's nat shape (bench/nfemu: DNAT, SNAT, MASQUERADE,
# a long FORWARD chain of wildcards and ranges) and a trace drawn from its
# rules, sent into wan as raw frames: hundreds of flows, many dropped. The
# server answers what reaches it (every lan address is its), so replies
# come back through fw's NAT and FORWARD chain.
bench=$(cd "$(dirname "$0")/../../bench/nfemu" && pwd)
seed=${NFEMU_ANY_SEED:-$RANDOM}
echo "kernel-any: phase 2, seed $seed (NFEMU_ANY_SEED=$seed repeats it)"
setup 2
fw_sysctl=""  # a fresh namespace: nf_conntrack_checksum is 1 again (phase 1z set it in its own)
mkdir -p "$work/2"
# The server's own stack drops everything before routing (no RSTs, no
# ICMP errors): its answers come from reflect.py below.
ip netns exec "$S" iptables-legacy -t raw -A PREROUTING -j DROP
ip -n "$F" route add default via 198.51.100.2
# Every lan address resolves (the DNAT rules' servers, the default
# gateway): the kernel would hold their packets for ARP nobody answers.
for i in $(seq 2 254); do echo "neigh replace 198.51.100.$i lladdr 02:00:00:00:05:01 dev lan nud permanent"; done |
  ip -n "$F" -batch -
python3 "$bench/gen-rules.py" --shape "${NFEMU_ANY_SHAPE:-nat}" --rules "${NFEMU_ANY_RULES:-2000}" --seed "$seed" > "$work/2/bench.rules"
python3 "$bench/gen-trace.py" "$work/2/bench.rules" --packets "${NFEMU_ANY_PACKETS:-5000}" --seed "$seed" \
  > "$work/2/trace.pcap"
ip netns exec "$F" iptables-legacy-restore < "$work/2/bench.rules" || fail "phase 2: iptables-legacy-restore"
# The server's answers, as raw frames: a SYN-ACK (ISN 0, which the trace's
# ACKs acknowledge) to each SYN, an ACK to each TCP segment with data, a
# UDP datagram back, an echo reply. Until it hears nothing for a second.
cat > "$work/2/reflect.py" <<'PY'
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ipv4(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4
def l4sum(src, dst, proto, l4):
    return csum(src + dst + struct.pack("!BBH", 0, proto, len(l4)) + l4)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("s0", 0))
s.settimeout(1.0)
eth = bytes.fromhex("020000000f02" "020000000501" "0800")  # to fw's lan
while True:
    try:
        f, addr = s.recvfrom(2048)
    except socket.timeout:
        break
    # What fw sent from wan is source-NATed into lan's prefix (its
    # MASQUERADE catches everything else); its answers, routed back out lan
    # to reach their client, must not be answered again.
    if addr[2] == socket.PACKET_OUTGOING or len(f) < 34 or f[26:29] != bytes([198, 51, 100]):
        continue
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        flags, data = l4[13], len(l4) - (l4[12] >> 4) * 4
        if flags & 0x12 == 0x02:
            out = struct.pack("!HHIIBBHHH", dport, sport, 0, seq + 1, 5 << 4, 0x12, 64240, 0, 0)
        elif data > 0:
            out = struct.pack("!HHIIBBHHH", dport, sport, 1, seq + data, 5 << 4, 0x10, 64240, 0, 0)
        else:
            continue
        out = out[:16] + struct.pack("!H", l4sum(dst, src, 6, out)) + out[18:]
    elif proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        out = struct.pack("!HHHH", dport, sport, 8 + len(l4[8:]), 0) + l4[8:]
        out = out[:6] + struct.pack("!H", l4sum(dst, src, 17, out) or 0xffff) + out[8:]
    elif proto == 1 and len(l4) >= 8 and l4[0] == 8:
        out = b"\0\0\0\0" + l4[4:]
        out = out[:2] + struct.pack("!H", csum(out)) + out[4:]
    else:
        continue
    s.send(eth + ipv4(dst, src, proto, out))
PY
# The client and the server on one CPU: a veth delivers on its sender's
# CPU, so fw then handles every frame on that one CPU, in the order its
# capture shows. (On two, a client's ACK and a server's answer raced
# through fw's conntrack.)
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
start_capture 2
ip netns exec "$S" "${pin[@]}" python3 "$work/2/reflect.py" &
reflector=$!
sleep 0.3
# The trace, but for flows that would make a source NAT move a port: the
# kernel draws that port at random (nf_nat_l4proto_unique_tuple), nfemu
# cannot draw the same, and the server's answer to it would then reach a
# connection on one side only. A flow is left out when another source
# already used its protocol, source port and destination after DNAT.
ip netns exec "$C" "${pin[@]}" python3 - "$work/2/trace.pcap" "$work/2/bench.rules" <<'PY'
import re, socket, struct, sys
d = open(sys.argv[1], "rb").read()
dnat = {}
for m in re.finditer(r"-d ([0-9.]+)/32 -i wan -p (\w+) -m \w+ --dport (\d+) -j DNAT --to-destination ([0-9.]+):(\d+)",
                     open(sys.argv[2]).read()):
    dnat[(socket.inet_aton(m[1]), {"tcp": 6, "udp": 17}[m[2]], int(m[3]))] = (socket.inet_aton(m[4]), int(m[5]))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
head = bytes.fromhex("020000000f01" "020000000c01" "0800")  # to fw's wan, from c0
owner = {}
sent = skipped = 0
off = 24
while off + 16 <= len(d):
    incl = struct.unpack("<I", d[off + 8:off + 12])[0]
    ip = d[off + 16 + 14:off + 16 + incl]
    off += 16 + incl
    proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[(ip[0] & 15) * 4:]
    sport, dport = struct.unpack("!HH", l4[:4]) if proto in (6, 17) else (struct.unpack("!H", l4[4:6])[0], 0)
    dst, dport = dnat.get((dst, proto, dport), (dst, dport))
    if owner.setdefault((proto, sport, dst, dport), src) != src:
        skipped += 1
        continue
    s.send(head + ip)
    sent += 1
print(f"kernel-any: phase 2 sent {sent} frames of the trace, left out {skipped}")
PY
wait "$reflector" || fail "phase 2: the server's reflector failed"
stop_capture 2
replay_and_compare 2 '"default via 198.51.100.2"' "wan lan" "lan:1000" ""
# Only a source-NATed flow is answered (reflect.py).
if [ "${NFEMU_ANY_SHAPE:-nat}" = nat ]; then
  grep -q "tcp ESTABLISHED" "$work/2/summary.txt" || fail "phase 2: no connection was answered"
fi

echo "kernel-any: ok"

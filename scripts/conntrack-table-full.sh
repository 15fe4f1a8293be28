#!/usr/bin/env bash
# Shows the kernel's "conntrack table full" in a fresh network namespace
# without touching the initial one (tests/scenarios/DIFFERENCES.md, "Conntrack
# table full"): nf_conntrack_max is read-only outside the initial namespace,
# but each namespace's own count is checked against it. Fills the namespace
# with nf_conntrack_max ASSURED UDP entries through ctnetlink (nothing for
# early_drop to evict), then sends one datagram: it must fail (EPERM) and the
# kernel must log "table full". Root only (else exit 77); holds the verify
# lock so that no `nfemu verify` run shares the machine with it.
# Addresses: 198.18.0.0/15 only. About 11 s and 100 MB of kernel memory.
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "conntrack-table-full: SKIPPED: needs root" >&2; exit 77; }
command -v python3 >/dev/null || { echo "conntrack-table-full: SKIPPED: python3 missing" >&2; exit 77; }
ns=nfctfull$$
trap 'ip netns del $ns 2>/dev/null' EXIT
exec 9>/run/lock/nfemu-verify.lock
flock 9
ip netns add $ns || { echo "conntrack-table-full: SKIPPED: no network namespaces" >&2; exit 77; }
ip -n $ns link set lo up
ip -n $ns addr add 198.19.0.2/32 dev lo  # the datagram goes to a local address
# A conntrack rule registers the namespace's conntrack hooks.
ip netns exec $ns iptables-legacy -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
mark=$(dmesg | tail -n 1)
ip netns exec $ns python3 - "$max" <<'EOF'
import errno, socket, struct, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((0, 0))
def attr(t, p):
    l = 4 + len(p)
    return struct.pack("=HH", l, t) + p + b"\0" * (-l % 4)
def nest(t, *parts):
    return attr(t | 0x8000, b"".join(parts))  # NLA_F_NESTED
def tup(t, src, dst, sp, dp):  # CTA_TUPLE_{ORIG,REPLY}: CTA_TUPLE_IP, CTA_TUPLE_PROTO
    return nest(t, nest(1, attr(1, socket.inet_aton(src)), attr(2, socket.inet_aton(dst))),
                nest(2, attr(1, b"\x11"), attr(2, struct.pack("!H", sp)), attr(3, struct.pack("!H", dp))))
def msg(i):
    a, b = divmod(i, 60000)
    src, sp = "198.18.%d.%d" % (a // 250, 1 + a % 250), 1024 + b
    body = (struct.pack("=BBH", socket.AF_INET, 0, 0) + tup(1, src, "198.19.0.1", sp, 53) +
            tup(2, "198.19.0.1", src, 53, sp) +
            attr(3, struct.pack("!I", 2 | 4 | 8)) +   # CTA_STATUS: SEEN_REPLY|ASSURED|CONFIRMED
            attr(7, struct.pack("!I", 3600)))         # CTA_TIMEOUT
    # IPCTNL_MSG_CT_NEW, NLM_F_REQUEST|NLM_F_CREATE|NLM_F_EXCL
    return struct.pack("=IHHII", 16 + len(body), 1 << 8, 0x601, i + 1, 0) + body
errs = {}
def drain():
    s.setblocking(False)
    try:
        while True:
            d, off = s.recv(1 << 20), 0
            while off < len(d):
                l, t = struct.unpack_from("=IH", d, off)
                if t == 2 and struct.unpack_from("=i", d, off + 16)[0]:  # NLMSG_ERROR
                    e = errno.errorcode.get(-struct.unpack_from("=i", d, off + 16)[0], "?")
                    errs[e] = errs.get(e, 0) + 1
                off += (l + 3) & ~3
    except BlockingIOError:
        pass
t0, batch = time.time(), []
for i in range(n + 1):  # one more than the limit: that insert must fail
    batch.append(msg(i))
    if len(batch) == 64 or i == n:
        s.send(b"".join(batch))
        batch = []
        if i % 4096 == 0:
            drain()
time.sleep(0.2)
drain()
print("ctnetlink: %d inserts in %.1f s, errors %s" % (n + 1, time.time() - t0, errs))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("198.19.0.2", 9))
    print("sendto: sent (the table is not full?)")
    sys.exit(1)
except OSError as e:
    print("sendto:", e.strerror)
    sys.exit(0 if e.errno == errno.EPERM and errs == {"ENOMEM": 1} else 1)
EOF
ok=$?
echo "entries in the namespace: $(ip netns exec $ns conntrack -C), in the initial one: $(cat /proc/sys/net/netfilter/nf_conntrack_count)"
line=$(dmesg | sed -n "/$(printf '%s' "$mark" | sed 's/[][\.*^$/]/\\&/g')/,\$p" | grep 'table full' | tail -n 1)
echo "kernel: ${line:-no table full message}"
[ $ok = 0 ] && [ -n "$line" ] && echo "conntrack-table-full: shown" && exit 0
echo "conntrack-table-full: NOT shown"
exit 1

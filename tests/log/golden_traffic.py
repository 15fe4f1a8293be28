#!/usr/bin/env python3
"""Traffic for capture-golden.sh: one role per namespace, each step small
and deterministic so that every LOG rule sees exactly the packets it names.

Roles: server (in B), client (in A), craft (in A, raw sockets),
local (in B, run as an unprivileged user)."""
import socket
import struct
import sys
import threading
import time

A, B, B1, C = "192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def icmp(type_, code, rest, payload=b""):
    p = struct.pack("!BBH", type_, code, 0) + rest + payload
    return p[:2] + struct.pack("!H", csum(p)) + p[4:]


def iphdr(src, dst, proto, l4len, ident=0x1111, ttl=64, flags=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l4len, ident, flags, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def server():
    def tcp(port):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((B, port))
        ls.listen()
        while True:
            c, _ = ls.accept()
            def serve(c=c):
                while True:
                    d = c.recv(100)
                    if not d:
                        break
                    c.sendall(d)
                c.close()
            threading.Thread(target=serve, daemon=True).start()

    def udp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((B, port))
        while True:
            d, peer = s.recvfrom(2000)
            s.sendto(d, peer)

    for p in (7001, 7002):
        threading.Thread(target=tcp, args=(p,), daemon=True).start()
    for p in (7005, 7006, 7007):
        threading.Thread(target=udp, args=(p,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(3600)


def udp_exchange(dst, port, data, sport, opts=None, reply=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((A, sport))
    if opts:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
    s.settimeout(1)
    s.sendto(data, (dst, port))
    if reply:
        try:
            s.recvfrom(2000)
        except OSError:
            pass
    return s


def client():
    # A connection that stays ESTABLISHED until the conntrack -L snapshot.
    held = socket.create_connection((B, 7001))
    time.sleep(0.2)
    t = socket.create_connection((B, 7002))
    t.sendall(b"hello")
    t.recv(100)
    t.shutdown(socket.SHUT_WR)
    t.recv(100)
    t.close()
    time.sleep(0.2)
    udp_exchange(B, 7003, b"closed port", 40003).close()
    # echo request with DF (raw sockets set DF under the default PMTU mode)
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    r.settimeout(1)
    r.sendto(icmp(8, 0, struct.pack("!HH", 0x4242, 1), b"nfemu-ping"), (B, 0))
    try:
        r.recvfrom(200)
    except OSError:
        pass
    # A decoy for A's "craft:" rule: an IP ID in the crafted range, sent by
    # this process (not the crafting group). The harness fails if it is
    # logged. An unsolicited echo reply: INVALID in B, so no conntrack
    # entry, event or log line there.
    decoy = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    m = icmp(0, 0, struct.pack("!HH", 0x4243, 1), b"decoy")
    decoy.sendto(iphdr(A, B, 1, len(m), ident=0x2042) + m, (B, 0))
    decoy.close()
    # record route: code 7, length 11, pointer 4, two empty slots... padded
    udp_exchange(B, 7005, b"options", 40005, opts=bytes([7, 7, 4, 0, 0, 0, 0, 0])).close()
    marked = udp_exchange(B, 7006, b"mark me", 40006)
    udp_exchange(B, 7007, b"mac decode", 40007).close()
    udp_exchange(C, 7008, b"forward me", 40008).close()
    f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    f.bind((A, 40004))
    f.sendto(b"F" * 3000, (C, 7004))
    f.close()
    # a second datagram after udp's 2 s stream delay makes the entry ASSURED
    time.sleep(2.3)
    marked.sendto(b"again", (B, 7006))
    try:
        marked.recvfrom(100)
    except OSError:
        pass
    marked.close()
    print("done", flush=True)
    sys.stdin.readline()  # the harness takes conntrack -L, then releases us
    held.close()


def craft():
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(pkt):
        raw.sendto(pkt, (B, 0))
        time.sleep(0.05)

    # TCP with the reserved bits and AE set, every flag, options and urgent pointer
    opts = bytes([2, 4, 5, 0xB4, 1, 3, 3, 7, 4, 2, 1, 1])
    tcp = struct.pack("!HHIIBBHHH", 40012, 7012, 0x01020304, 0xA0B0C0D0, (8 << 4) | 0x0F, 0xFF, 1024, 0, 77) + opts
    send(iphdr(A, B, 6, len(tcp), ident=0x2001) + tcp)
    # TCP header cut short (the IP Total Length says so): INCOMPLETE
    send(iphdr(A, B, 6, 12, ident=0x2002) + tcp[:12])
    # ICMP errors quoting an embedded datagram
    inner_udp = iphdr(B, A, 17, 8 + 20, ident=0x3003, ttl=1) + struct.pack("!HHHH", 7015, 40015, 28, 0)
    inner_tcp = iphdr(B, A, 6, 20, ident=0x3004) + tcp[:8]
    for t, c, rest, inner, ident in (
        (3, 4, struct.pack("!HH", 0, 1400), inner_udp, 0x2003),    # frag needed: MTU=
        (3, 3, b"\0\0\0\0", inner_tcp, 0x2004),                    # 8 bytes of TCP: INCOMPLETE
        (11, 0, b"\0\0\0\0", inner_udp, 0x2005),                   # time exceeded
        (12, 0, bytes([20, 0, 0, 0]), inner_udp, 0x2006),          # PARAMETER=
        (5, 1, socket.inet_aton(A), inner_udp, 0x2007),            # GATEWAY=
        (3, 1, b"\0\0\0\0", inner_udp[:12], 0x2008),               # quote too short
    ):
        m = icmp(t, c, rest, inner)
        send(iphdr(A, B, 1, len(m), ident=ident) + m)
    m = icmp(13, 0, b"\0\0\0\0")                                    # timestamp without its 12 bytes
    send(iphdr(A, B, 1, len(m), ident=0x2009) + m)
    m = icmp(8, 0, struct.pack("!HH", 7, 9))
    send(iphdr(A, B, 1, len(m), ident=0x200A, flags=0x8000 | 0x2000 | 5) + m)  # CE MF FRAG:5
    send(iphdr(A, B, 47, 4, ident=0x200B) + b"\0\0\x08\0")          # GRE: PROTO=47
    send(iphdr(A, B, 50, 8, ident=0x200C) + struct.pack("!II", 0xDEADBEEF, 1))  # ESP SPI=
    send(iphdr(A, B, 51, 12, ident=0x200D) + struct.pack("!BBHII", 17, 1, 0, 0x1234, 1))  # AH SPI=


def local():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"to A as nobody", (A, 7009))
    s.sendto(b"over lo", ("127.0.0.1", 7010))
    s.sendto(b"over lo, decoded", ("127.0.0.1", 7011))
    time.sleep(0.2)


if __name__ == "__main__":
    {"server": server, "client": client, "craft": craft, "local": local}[sys.argv[1]]()

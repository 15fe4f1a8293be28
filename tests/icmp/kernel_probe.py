#!/usr/bin/env python3
"""Sends crafted datagrams from the current namespace with a raw
IP_HDRINCL socket (kernel-check.sh runs it inside the client namespace)."""
import socket, struct, sys, time

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ip(src, dst, proto, payload, ttl=64, tos=0, df=False, ipid=1):
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(payload), ipid, 0x4000 if df else 0,
                      ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return hdr + payload

def pseudo(src, dst, proto, seg):
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, proto, len(seg))

def tcp(src, dst, sport, dport, flags, seq=1000, ack=0, data=b'', **kw):
    seg = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + data
    c = csum(pseudo(src, dst, 6, seg) + seg)
    seg = seg[:16] + struct.pack('!H', c) + seg[18:]
    return ip(src, dst, 6, seg, **kw)

def udp(src, dst, sport, dport, data=b'', **kw):
    seg = struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data
    c = csum(pseudo(src, dst, 17, seg) + seg) or 0xffff
    seg = seg[:6] + struct.pack('!H', c) + seg[8:]
    return ip(src, dst, 17, seg, **kw)

def echo(src, dst, ident, seq, data=b'\0' * 56, **kw):
    m = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + data
    m = m[:2] + struct.pack('!H', csum(m)) + m[4:]
    return ip(src, dst, 1, m, **kw)

C, B = '198.51.100.10', '203.0.113.2'
cases = [
    ('echo tos 0x10', echo(C, B, 1, 1, tos=0x10)),
    ('tcp syn closed port tos 0x10', tcp(C, B, 40000, 81, 0x02, seq=1000, tos=0x10)),
    ('tcp ack closed port', tcp(C, B, 40001, 81, 0x10, seq=5000, ack=7777)),
    ('tcp syn+fin+data closed', tcp(C, B, 40002, 81, 0x03, seq=100, data=b'x' * 10)),
    ('udp closed tos 0x11 len 600', udp(C, B, 40000, 9999, data=b'u' * 600, tos=0x11)),
    ('ttl 1 forward', udp(C, B, 40003, 9999, ttl=1, tos=0x04)),
    ('df too big', udp(C, B, 40004, 9999, data=b'd' * 1400, df=True)),
    ('unreachable route', udp(C, '192.0.2.5', 40005, 9999)),
    ('prohibit route', udp(C, '192.0.2.200', 40006, 9999)),
    ('no route', udp(C, '100.64.9.9', 40007, 9999)),
    ('tcp syn listener', tcp(C, B, 40008, 80, 0x02, seq=2000)),
    ('reject net-unreach', udp(C, B, 40009, 7001)),
    ('reject tcp-reset', tcp(C, B, 40010, 7002, 0x02, seq=3000)),
    ('reject admin-prohib', udp(C, B, 40011, 7003)),
    ('unknown proto 200', ip(C, B, 200, b'p' * 8)),
]
dmz = [('echo dmz', echo(C, '100.64.1.5', 2, 1))]
if sys.argv[1:] == ['echo dmz']:
    cases = dmz
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
only = sys.argv[1:]
for name, pkt in cases:
    if only and name not in only: continue
    if only in (['burst'], ['burst-unreach']): continue
    dst = socket.inet_ntoa(pkt[16:20])
    s.sendto(pkt, (dst, 0))
    # 2.1 s apart: every case finds the per-peer token bucket refilled
    time.sleep(2.1)
if only == ['burst']:
    for i in range(10):
        s.sendto(udp(C, B, 41000 + i, 9999), (B, 0))
    time.sleep(1.05)
    for i in range(3):
        s.sendto(udp(C, B, 42000 + i, 9999), (B, 0))
    time.sleep(0.3)
if only == ['burst-unreach']:
    # ip_error and icmp_send draw on the same per-sender bucket
    for i in range(5):
        s.sendto(udp(C, '192.0.2.5', 43000 + i, 9999), ('192.0.2.5', 0))
    time.sleep(0.3)

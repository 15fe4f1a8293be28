#!/usr/bin/env python3
"""A pcap trace whose headers hit a gen-rules.py ruleset, with heavy-tailed
flow sizes, for `nfemu replay` benchmarks.

  gen-trace.py RULES.txt --packets N [--seed S] [--alpha 1.2] [--rate PPS] > trace.pcap

Each flow picks a rule (uniformly, as ClassBench's trace generator with
its default locality off), draws a 5-tuple inside it, and sends a
Pareto(alpha)-distributed number of packets (mean about 1/(alpha-1)+1
packets for alpha 1.2: many mice, a few elephants), TCP flows starting
with a SYN. Flows are interleaved (up to --concurrent at once) and the
frames are `--rate` per second of capture time apart, Ethernet, with
valid IPv4 and TCP/UDP/ICMP checksums (the emulated host verifies them).
"""
import argparse
import random
import struct
import sys

BAD_TOP = {0, 127}
LOCAL = {(198, 51, 100), (203, 0, 113)}  # the benchmark host's own subnets


def parse_prefix(text):
    addr, plen = text.split("/")
    a = 0
    for part in addr.split("."):
        a = a << 8 | int(part)
    return a, int(plen)


def parse_ports(text):
    if text == "-":
        return 0, 65535
    if ":" in text:
        lo, hi = text.split(":")
        return int(lo), int(hi)
    return int(text), int(text)


def draw_addr(rng, p):
    a, plen = p
    for _ in range(100):
        host = rng.getrandbits(32 - plen) if plen < 32 else 0
        x = (a & ((0xffffffff << (32 - plen)) & 0xffffffff if plen else 0)) | host
        top = x >> 24
        if top in BAD_TOP or top >= 224 or (x >> 8) in {(b[0] << 16) | (b[1] << 8) | b[2] for b in LOCAL}:
            continue
        if (x & 255) in (0, 255):
            continue
        return x
    return None


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def l4_csum(src, dst, proto, seg):
    pseudo = struct.pack("!IIBBH", src, dst, 0, proto, len(seg))
    c = csum(pseudo + seg)
    return c if c else 0xffff


def frame(src, dst, proto, sport, dport, flags, seq, payload_len, ipid):
    payload = bytes(payload_len)
    if proto == 6:
        seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 0 if flags == 0x02 else 1, 5 << 4, flags, 64240, 0, 0)
        seg += payload
        seg = seg[:16] + struct.pack("!H", l4_csum(src, dst, 6, seg)) + seg[18:]
    elif proto == 17:
        seg = struct.pack("!HHHH", sport, dport, 8 + payload_len, 0) + payload
        seg = seg[:6] + struct.pack("!H", l4_csum(src, dst, 17, seg)) + seg[8:]
    else:  # ICMP echo request
        seg = struct.pack("!BBHHH", 8, 0, 0, sport, seq & 0xffff) + payload
        seg = seg[:2] + struct.pack("!H", csum(seg)) + seg[4:]
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(seg), ipid & 0xffff, 0x4000, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000001" "02aa00000001" "0800")
    return eth + ip + seg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rules")
    ap.add_argument("--packets", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=1.2)
    ap.add_argument("--rate", type=float, default=1e6, help="packets per second of capture time")
    ap.add_argument("--concurrent", type=int, default=256)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rules = []
    with open(a.rules) as f:
        for line in f:
            if line.startswith("# rule "):
                proto, src, dst, sport, dport = line.split()[2:7]
                rules.append((proto, parse_prefix(src), parse_prefix(dst), parse_ports(sport), parse_ports(dport)))
    if not rules:
        sys.exit("gen-trace: no '# rule' lines in %s (made by gen-rules.py?)" % a.rules)

    def new_flow():
        while True:
            proto, src, dst, sp, dp = rng.choice(rules)
            s, d = draw_addr(rng, src), draw_addr(rng, dst)
            if s is None or d is None:
                continue
            p = {"tcp": 6, "udp": 17, "icmp": 1}.get(proto) or rng.choice([6, 6, 6, 17])
            size = min(int(rng.paretovariate(a.alpha)), 100000)
            sport = rng.randint(max(sp[0], 1), sp[1]) if sp[1] >= 1 else 1
            dport = rng.randint(max(dp[0], 1), dp[1]) if dp[1] >= 1 else 1
            if p == 1:
                sport = rng.randint(1, 65535)
            return {"src": s, "dst": d, "proto": p, "sport": sport, "dport": dport, "left": size, "seq": 1000,
                    "first": True}

    flows = [new_flow() for _ in range(a.concurrent)]
    out = sys.stdout.buffer
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    step_us = 1e6 / a.rate
    for i in range(a.packets):
        k = rng.randrange(len(flows))
        fl = flows[k]
        flags = 0x02 if fl["first"] else 0x10
        plen = 0 if fl["first"] else rng.choice((0, 0, 64, 512, 1400))
        fr = frame(fl["src"], fl["dst"], fl["proto"], fl["sport"], fl["dport"], flags, fl["seq"], plen, i)
        fl["seq"] += plen + (1 if fl["first"] else 0)
        fl["first"] = False
        ts = int(i * step_us)
        out.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)) + fr)
        fl["left"] -= 1
        if fl["left"] <= 0:
            flows[k] = new_flow()


if __name__ == "__main__":
    main()

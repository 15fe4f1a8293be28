#!/usr/bin/env python3
"""ClassBench-style rulesets for nfemu benchmarks, written as iptables-save.

  gen-rules.py --shape acl|fw|ipc --rules N [--seed S] > rules.txt

The three shapes follow the seed families of ClassBench (Taylor & Turner,
2005) in spirit, not their exact parameter files:
  acl  access control lists: specific destinations (/24../32), sources
       from the whole prefix range, mostly TCP with exact well-known
       destination ports, sources ports unconstrained; ACCEPT heavy.
  fw   firewalls: many wildcards (0/0 sources or destinations, never both;
       short prefixes), port ranges (1024:65535, 6000:6063), TCP/UDP/any,
       DROP and ACCEPT mixed.
  ipc  IP chains: both addresses fairly specific, exact or ranged ports
       on both sides, TCP/UDP/ICMP.
  nat  the fw shape in filter FORWARD plus a nat table, as an edge router
       has one: DNAT rules (one per 20 filter rules) from public
       address:port pairs to servers behind lan, accepted by the first
       FORWARD rule; SNAT of some source prefixes (one per 40) and a final
       MASQUERADE out of lan, so that every forwarded connection is
       source-NATed. The nat chains are walked by each connection's first
       packet only; conntrack is loaded by the nat table.
Rules go into filter FORWARD (policy DROP), so a packet walks the list
until its first match, as the kernel's ipt_do_table. Every rule is also
emitted as a `# rule` comment line that gen-trace.py reads back: the
trace's headers are drawn inside rules, as ClassBench's trace generator
does. Addresses avoid 0/8, 127/8 and 224/3 so that nothing is martian,
multicast or local to the benchmark host.
"""
import argparse
import random
import sys

WELL_KNOWN = [20, 21, 22, 23, 25, 53, 80, 110, 123, 143, 161, 179, 389, 443, 445, 465, 514, 587, 636, 993, 995,
              1433, 1521, 1723, 3306, 3389, 5060, 5432, 8080, 8443]
RANGES = [(1024, 65535), (0, 1023), (6000, 6063), (49152, 65535), (5000, 5100), (137, 139), (1, 65535)]


def rand_addr(rng):
    while True:
        a = rng.getrandbits(32)
        top = a >> 24
        if top not in (0, 127) and top < 224:
            return a


def prefix(rng, lo, hi):
    plen = rng.randint(lo, hi)
    a = rand_addr(rng)
    mask = (0xffffffff << (32 - plen)) & 0xffffffff if plen else 0
    a &= mask
    if plen and (a >> 24) in (0, 127):
        a |= 1 << 24
    return a, plen


def fmt_prefix(p):
    a, plen = p
    return "%d.%d.%d.%d/%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, plen)


def acl(rng):
    proto = rng.choices(["tcp", "udp", "any"], [80, 15, 5])[0]
    src = prefix(rng, 0, 0) if rng.random() < 0.3 else prefix(rng, 8, 32)
    dst = prefix(rng, 24, 32)
    dport = (p := rng.choice(WELL_KNOWN), p) if proto != "any" else None
    return proto, src, dst, None, dport, rng.choices(["ACCEPT", "DROP"], [75, 25])[0]


def fw(rng):
    proto = rng.choices(["tcp", "udp", "any"], [55, 30, 15])[0]
    src = prefix(rng, 0, 0) if rng.random() < 0.5 else prefix(rng, 8, 24)
    # Never both addresses wildcarded: a rule matching (nearly) everything
    # early in the list would leave the rest unreachable, which is not
    # what firewall sets look like (their catch-all is the policy).
    dst = prefix(rng, 0, 0) if src[1] and rng.random() < 0.2 else prefix(rng, 16, 32)
    sport = dport = None
    if proto != "any":
        r = rng.random()
        if r < 0.4:
            dport = rng.choice(RANGES)
        elif r < 0.8:
            dport = (p := rng.choice(WELL_KNOWN), p)
        if rng.random() < 0.2:
            sport = rng.choice(RANGES)
    return proto, src, dst, sport, dport, rng.choices(["ACCEPT", "DROP"], [50, 50])[0]


def ipc(rng):
    proto = rng.choices(["tcp", "udp", "icmp"], [60, 30, 10])[0]
    src = prefix(rng, 16, 32)
    dst = prefix(rng, 16, 32)
    sport = dport = None
    if proto in ("tcp", "udp"):
        dport = (p := rng.choice(WELL_KNOWN), p) if rng.random() < 0.7 else rng.choice(RANGES)
        if rng.random() < 0.4:
            sport = rng.choice(RANGES) if rng.random() < 0.5 else (p := rng.randint(1024, 65535), p)
    return proto, src, dst, sport, dport, rng.choices(["ACCEPT", "DROP"], [60, 40])[0]


LAN = "198.51.100.0/24"  # bench-replay.sh's lan side


def write_nat(rng, n, out):
    """The nat table of the nat shape; DNAT rules are `# rule` lines too,
    so that the trace has flows to the published services."""
    out.write("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
              ":POSTROUTING ACCEPT [0:0]\n")
    for _ in range(max(1, n // 20)):
        proto = rng.choice(["tcp", "tcp", "udp"])
        dst = prefix(rng, 32, 32)
        port = rng.choice(WELL_KNOWN)
        server = "198.51.100.%d:%d" % (rng.randint(2, 250), rng.choice((port, 8000 + port % 1000)))
        out.write("# rule %s 0.0.0.0/0 %s - %d\n" % (proto, fmt_prefix(dst), port))
        out.write("-A PREROUTING -d %s -i wan -p %s -m %s --dport %d -j DNAT --to-destination %s\n"
                  % (fmt_prefix(dst), proto, proto, port, server))
    for _ in range(max(1, n // 40)):
        src = prefix(rng, 8, 24)
        out.write("-A POSTROUTING -s %s -o lan -j SNAT --to-source 198.51.100.%d-198.51.100.%d\n"
                  % (fmt_prefix(src), 240, 250))
    out.write("-A POSTROUTING -o lan -j MASQUERADE\n")
    out.write("COMMIT\n")


def port_text(p):
    return str(p[0]) if p[0] == p[1] else "%d:%d" % p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=["acl", "fw", "ipc", "nat"], required=True)
    ap.add_argument("--rules", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random("%s-%d-%d" % (a.shape, a.rules, a.seed))
    make = {"acl": acl, "fw": fw, "ipc": ipc, "nat": fw}[a.shape]
    out = sys.stdout
    out.write("# nfemu bench ruleset: shape %s, %d rules, seed %d\n" % (a.shape, a.rules, a.seed))
    if a.shape == "nat":
        write_nat(rng, a.rules, out)
    out.write("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
    if a.shape == "nat":
        # What DNAT sent to the servers behind lan (the trace never has
        # them as its own destination: gen-trace.py avoids that subnet).
        out.write("-A FORWARD -d %s -o lan -j ACCEPT\n" % LAN)
    for _ in range(a.rules):
        proto, src, dst, sport, dport, verdict = make(rng)
        words = []
        if src[1]:
            words += ["-s", fmt_prefix(src)]
        if dst[1]:
            words += ["-d", fmt_prefix(dst)]
        if proto != "any":
            words += ["-p", proto]
            if proto in ("tcp", "udp") and (sport or dport):
                words += ["-m", proto]
                if sport:
                    words += ["--sport", port_text(sport)]
                if dport:
                    words += ["--dport", port_text(dport)]
            elif proto == "icmp":
                words += ["-m", "icmp", "--icmp-type", "8"]
        words += ["-j", verdict]
        # What gen-trace.py needs, before the rule it describes.
        out.write("# rule %s %s %s %s %s\n" % (proto, fmt_prefix(src), fmt_prefix(dst),
                                                 port_text(sport) if sport else "-",
                                                 port_text(dport) if dport else "-"))
        out.write("-A FORWARD %s\n" % " ".join(words))
    out.write("COMMIT\n")


if __name__ == "__main__":
    main()

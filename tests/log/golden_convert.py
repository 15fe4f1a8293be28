#!/usr/bin/env python3
"""Turns what capture-golden.sh collected into the golden files.

kern-log.txt: one record per LOG/TRACE line. The datagram bytes and the
link header come from tcpdump; `in`, `out`, `mark` and `owner` are the
metadata the kernel had (read back from the line, as the emulator will
know them from its own state); prefix and flags come from the rule table.
conntrack-*.txt: one record per conntrack-tools line with the entry's
state as conntrack -o xml reports it; the ICMP tuple fields, which the XML
output lacks, and the TCP state of events come from the text."""
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET

# prefix -> (hook, flags), as capture-golden.sh installs the rules
RULES = {
    "syn: ": ("INPUT", ""),
    "tcp seq opt: ": ("INPUT", "tcp-sequence tcp-options uid"),
    "udp: ": ("INPUT", ""),
    "icmp-err-out: ": ("OUTPUT", ""),
    "echo-in: ": ("INPUT", ""),
    "echo-out: ": ("OUTPUT", "uid"),
    "ipopt: ": ("INPUT", "ip-options"),
    "mark: ": ("INPUT", ""),
    "macdec: ": ("INPUT", "macdecode"),
    "fwd: ": ("FORWARD", ""),
    "post: ": ("POSTROUTING", ""),
    "uid: ": ("OUTPUT", "uid"),
    "lo out: ": ("OUTPUT", "uid"),
    "lo in: ": ("INPUT", "uid"),
    "lo mac: ": ("INPUT", "macdecode"),
    "craft: ": ("OUTPUT", "tcp-sequence tcp-options ip-options"),
    "frag: ": ("PREROUTING", ""),
}
# the file that holds what crossed an interface (lga0's peer is lgb0)
CAPTURE = {"lga0": "lgb0", "lgb0": "lgb0", "lgb1": "lgb1", "lgc0": "lgc0", "lo": "lo"}


def read_pcap(path):
    frames = []
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def ip_key(l3):
    total, ident, frag = struct.unpack("!HHH", l3[2:8])
    return (l3[12:16], l3[16:20], total, ident, frag & 0x1FFF)


def line_key(rest):
    m = re.search(r"SRC=(\S+) DST=(\S+) LEN=(\d+) .*? ID=(\d+) (?:CE )?(?:DF )?(?:MF )?(?:FRAG:(\d+) )?", rest)
    aton = lambda a: bytes(int(x) for x in a.split("."))
    return (aton(m[1]), aton(m[2]), int(m[3]), int(m[4]), int(m[5] or 0))


class Captures:
    def __init__(self, work):
        self.frames = {}
        self.cursor = {}
        for name in set(CAPTURE.values()):
            p = os.path.join(work, name + ".pcap")
            fr = read_pcap(p) if os.path.exists(p) else []
            self.frames[name] = [f for f in fr if len(f) >= 34 and f[12:14] == b"\x08\x00"]
            self.cursor[name] = 0

    def find(self, ifname, key):
        name = CAPTURE[ifname]
        fr = self.frames[name]
        hits = [i for i, f in enumerate(fr) if ip_key(f[14:]) == key]
        if not hits:
            raise SystemExit(f"no captured packet on {ifname} for {key}")
        # Log order and capture order can differ for packets crossing in
        # opposite directions; keys repeat only across far apart packets,
        # so take the first at the cursor or after it, else the nearest before.
        after = [i for i in hits if i >= self.cursor[name]]
        i = after[0] if after else hits[-1]
        self.cursor[name] = max(self.cursor[name], i)  # later lines may name the same packet
        return fr[i][:14], fr[i][14:14 + key[2]]


def mac_text(ifname, eth):
    if ifname == "lo":
        return "loopback"
    return "ether %s %s %s" % (eth[0:6].hex(":"), eth[6:12].hex(":"), eth[12:14].hex())


def kern_records(work, caps):
    out = []
    for line in open(os.path.join(work, "dmesg.txt"), encoding="utf-8"):
        line = line.rstrip("\n")
        rec = {}
        if line.startswith("TRACE: "):
            m = re.match(r"TRACE: (\S+?):(\S+?):(rule|return|policy):(\d+) ", line)
            rest = line[m.end():]
            if not re.match(r"IN=(lg\S*)? OUT=(lg\S*)? ", rest) or "IN= OUT= " in rest:
                continue
            rec["kind"] = "trace"
            rec["trace"] = "%s %s %s %s" % m.groups()
            chain = m[2]
            rec["hook"] = chain if chain in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING") else "-"
        else:
            prefix = next((p for p in RULES if line.startswith(p + "IN=")), None)
            if prefix is None:
                continue
            rest = line[len(prefix):]
            rec["kind"] = "log"
            rec["prefix"] = "|%s|" % prefix
            rec["hook"], rec["opts"] = RULES[prefix]
        m = re.match(r"IN=(\S*) OUT=(\S*) ", rest)
        ifin, ifout = m[1], m[2]
        if not {ifin, ifout} - {""} <= set(CAPTURE):
            continue  # another namespace on this machine, not ours
        key = line_key(rest)
        if ifin and ifout:
            _, l3 = caps.find(ifout, key)
            eth, _ = caps.find(ifin, key)
        elif ifin:
            eth, l3 = caps.find(ifin, key)
        else:
            eth, l3 = None, caps.find(ifout, key)[1]
        rec["in"] = ifin
        rec["out"] = ifout
        rec["mac"] = mac_text(ifin, eth) if ifin else "-"
        mk = re.search(r" MARK=0x([0-9a-f]+) $", line)
        rec["mark"] = "0x" + (mk[1] if mk else "0")
        uid = re.search(r" UID=(\d+) GID=(\d+) ", line)
        rec["owner"] = "%s %s" % (uid[1], uid[2]) if uid else "-"
        rec["packet"] = l3.hex()
        rec["line"] = "|%s|" % line
        out.append(rec)
    return out


def xml_flows(path):
    flows = []
    for m in re.finditer(r"<flow[ >].*?</flow>", open(path, encoding="utf-8").read()):
        flows.append(ET.fromstring(m[0]))
    return flows


def flow_info(flow):
    ind = next(x for x in flow.findall("meta") if x.get("direction") == "independent")
    get = lambda tag: ind.findtext(tag)
    return {
        "type": flow.get("type"),
        "timeout": get("timeout"),
        "state": get("state"),
        "mark": get("mark"),
        "zone": get("zone"),
        "use": get("use"),
        "assured": ind.find("assured") is not None,
        "unreplied": ind.find("unreplied") is not None,
    }


def parse_ct_text(line):
    m = re.match(r"\s*(?:\[(NEW|UPDATE|DESTROY)\] )?(\S+)\s+(\d+) (.*)$", line)
    event, name, num, rest = m.groups()
    toks = rest.split()
    i = 0
    timeout, state = None, None
    if toks[i].isdigit():
        timeout = toks[i]
        i += 1
    if re.fullmatch(r"[A-Z_]+", toks[i]):
        state = toks[i]
        i += 1
    tuples, cur = [], None
    for t in toks[i:]:
        if t.startswith("src="):
            cur = {}
            tuples.append(cur)
        if "=" in t and cur is not None and not t.startswith(("mark=", "use=", "zone=")):
            k, v = t.split("=", 1)
            if k not in cur:
                cur[k] = v
    return event, name, num, timeout, state, tuples


def tuple_text(t):
    if "sport" in t:
        return "%s %s %s %s" % (t["src"], t["dst"], t["sport"], t["dport"])
    if "srckey" in t:
        return "%s %s %s %s" % (t["src"], t["dst"], t["srckey"], t["dstkey"])
    if "type" in t:
        return "%s %s %s %s %s" % (t["src"], t["dst"], t["type"], t["code"], t["id"])
    return "%s %s" % (t["src"], t["dst"])


def ct_records(text_path, xml_path, events):
    lines = [l.rstrip("\n") for l in open(text_path, encoding="utf-8") if l.strip()]
    flows = xml_flows(xml_path)
    if len(lines) != len(flows):
        raise SystemExit(f"{text_path}: {len(lines)} lines but {len(flows)} XML flows")
    out, last = [], {}
    for line, flow in zip(lines, flows):
        if "[USERSPACE]" in line:
            continue  # deleted by a tool: nothing an emulated scenario does
        info = flow_info(flow)
        event, name, num, timeout, state, tuples = parse_ct_text(line)
        if info["timeout"] not in (None, timeout):
            raise SystemExit(f"timeout mismatch: {line}")
        ident = tuple_text(tuples[0])
        prev = last.get(ident, {})
        rec = {}
        if events:
            rec["event"] = event
        rec["proto"] = "%s %s" % (name, num)
        rec["timeout"] = timeout or "0"
        st = state or prev.get("state")
        rec["state"] = st or "-"
        if events:
            rec["state_event"] = "1" if state else "0"
            if state and prev.get("state") == state and event == "UPDATE":
                raise SystemExit(f"state reported without a change: {line}")
        mark = info["mark"] or prev.get("mark", "0")
        rec["mark"] = mark
        if events:
            rec["mark_event"] = "1" if info["mark"] is not None and mark == "0" and prev.get("mark", "0") != "0" else "0"
        rec["zone"] = info["zone"] or "0"
        rec["use"] = info["use"] or "1"
        rec["seen_reply"] = "0" if info["unreplied"] else "1"
        rec["assured"] = "1" if info["assured"] else "0"
        rec["orig"] = tuple_text(tuples[0])
        rec["reply"] = tuple_text(tuples[1])
        rec["line"] = "|%s|" % line
        last[ident] = {"state": st, "mark": mark}
        out.append(rec)
    return out


def write(path, header, recs):
    with open(path, "w", encoding="utf-8") as f:
        f.write(header)
        for r in recs:
            f.write("\n")
            for k, v in r.items():
                f.write("%s: %s\n" % (k, v))
    print(f"{path}: {len(recs)} records")


def main(work, out):
    caps = Captures(work)
    write(os.path.join(out, "kern-log.txt"),
          "# LOG and TRACE lines of a real kernel (tests/log/capture-golden.sh) with the\n"
          "# datagram (packet: hex from tcpdump) and metadata that produced them.\n"
          "# Values between | | are exact, trailing spaces included.\n",
          kern_records(work, caps))
    write(os.path.join(out, "conntrack-events.txt"),
          "# `conntrack -E` lines of conntrack-tools 1.4.7 (tests/log/capture-golden.sh)\n"
          "# with the entry as `conntrack -E -o xml` reported it.\n",
          ct_records(os.path.join(work, "events.txt"), os.path.join(work, "events.xml"), True))
    write(os.path.join(out, "conntrack-list.txt"),
          "# `conntrack -L` lines of conntrack-tools 1.4.7 (tests/log/capture-golden.sh)\n"
          "# with the entry as `conntrack -L -o xml` reported it.\n",
          ct_records(os.path.join(work, "list.txt"), os.path.join(work, "list.xml"), False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

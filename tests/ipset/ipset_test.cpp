// IP sets: `ipset restore` lines (with the kernel's expansions of ranges
// and prefixes), ip_set_test for each type, and the set match through a
// host (set name resolved at parse, tested per packet). The kernel's
// answers for the same sets are pinned by tests/scenarios/ipset-match and
// ipset-types.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <utility>

#include "ipset/ipset.h"
#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::ipset {
namespace {

packet::Packet pkt(std::string_view spec) {
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p) << p.error().message;
  return std::move(*p);
}

std::string restore_error(std::string_view text) {
  Registry r;
  auto ok = r.restore(text);
  return ok ? "OK" : ok.error().format("sets");
}

TEST(IpsetTest, HashIpWithNetmaskRangesAndTimeouts) {
  Registry r;
  ASSERT_TRUE(r.restore("# from ipset save\n"
                        "create f2b hash:ip family inet hashsize 1024 maxelem 65536 timeout 600 bucketsize 12 "
                        "initval 0x9fd94385\n"
                        "add f2b 192.0.2.7 timeout 0\n"
                        "add f2b 192.0.2.8\n"
                        "add f2b 198.51.100.8/30 timeout 5\n"
                        "create blocks hash:ip netmask 24\n"
                        "add blocks 203.0.113.77\n"));
  const uint16_t f2b = *r.find("f2b"), blocks = *r.find("blocks");
  EXPECT_EQ(r.set(f2b).elements.size(), 6u);  // the /30 is four addresses
  auto from = [&](std::string_view src, uint16_t set, uint64_t now_s) {
    return r.test(set, pkt(fmt::format("udp {}:1 > 100.64.0.1:2", src)), {.src_bits = 1}, now_s * 1'000'000'000);
  };
  EXPECT_EQ(from("192.0.2.7", f2b, 10'000), TestResult::Match);  // timeout 0: permanent
  EXPECT_EQ(from("192.0.2.8", f2b, 600), TestResult::Match);     // the set's default timeout
  EXPECT_EQ(from("192.0.2.8", f2b, 601), TestResult::NoMatch);
  EXPECT_EQ(from("198.51.100.11", f2b, 5), TestResult::Match);
  EXPECT_EQ(from("198.51.100.11", f2b, 6), TestResult::NoMatch);
  EXPECT_EQ(from("198.51.100.12", f2b, 0), TestResult::NoMatch);
  EXPECT_EQ(from("203.0.113.1", blocks, 0), TestResult::Match);  // stored as 203.0.113.0
  EXPECT_EQ(from("203.0.114.1", blocks, 0), TestResult::NoMatch);
  // dst, not src
  EXPECT_EQ(r.test(f2b, pkt("udp 100.64.0.1:1 > 192.0.2.7:2"), {.src_bits = 0}, 0), TestResult::Match);
  EXPECT_EQ(r.test(f2b, pkt("udp 100.64.0.1:1 > 192.0.2.7:2"), {.src_bits = 1}, 0), TestResult::NoMatch);
}

TEST(IpsetTest, HashNetLongestPrefixAndNomatch) {
  Registry r;
  ASSERT_TRUE(r.restore("create nets hash:net\n"
                        "add nets 203.0.113.0/24\n"
                        "add nets 203.0.113.128/25 nomatch\n"
                        "add nets 203.0.113.200\n"
                        "add nets 192.0.2.16-192.0.2.24\n"));
  // The range is 192.0.2.16/29 and 192.0.2.24/32.
  EXPECT_EQ(r.set(0).elements.size(), 5u);
  auto to = [&](std::string_view dst) { return r.test(0, pkt(fmt::format("udp 100.64.0.1:1 > {}:2", dst)), {}, 0); };
  EXPECT_EQ(to("203.0.113.5"), TestResult::Match);
  EXPECT_EQ(to("203.0.113.129"), TestResult::NoMatchEntry);
  EXPECT_EQ(to("203.0.113.200"), TestResult::Match);  // a /32 inside the nomatch /25
  EXPECT_EQ(to("192.0.2.23"), TestResult::Match);
  EXPECT_EQ(to("192.0.2.24"), TestResult::Match);
  EXPECT_EQ(to("192.0.2.25"), TestResult::NoMatch);
}

// The counters extension, as tests/scenarios/ipset-counters checks it on
// the kernel: counted first, then compared; a hash:net element failing the
// comparison leaves the test to a shorter prefix.
TEST(IpsetTest, CountersAreCountedThenCompared) {
  Registry r;
  ASSERT_TRUE(r.restore("create c hash:ip counters\n"
                        "add c 192.0.2.8 packets 5 bytes 1000\n"
                        "create n hash:net counters\n"
                        "add n 203.0.113.0/24\n"
                        "add n 203.0.113.0/28\n"));
  const uint16_t c = *r.find("c"), n = *r.find("n");
  EXPECT_EQ(r.set(c).elements[0].packets, 5u);
  EXPECT_EQ(r.set(c).elements[0].bytes, 1000u);
  auto p = pkt("udp 192.0.2.8:1 > 203.0.113.5:2 payload 72");  // 100 bytes
  const TestOptions gt6{.packets = {CounterOp::Gt, 6}};
  EXPECT_EQ(r.test(c, p, {.src_bits = 1}, 0, gt6), TestResult::NoMatch);  // 6 after counting
  EXPECT_EQ(r.test(c, p, {.src_bits = 1}, 0, gt6), TestResult::Match);    // 7
  EXPECT_EQ(r.test(c, p, {.src_bits = 1}, 0, {.bytes = {CounterOp::Eq, 1200}, .update_counters = false}),
            TestResult::Match);
  EXPECT_EQ(r.set(c).elements[0].packets, 7u);
  // n: the /28 counts 1, 2, 3; at 3 it fails --packets-lt 3 and the /24
  // (count 1) answers.
  const TestOptions lt3{.packets = {CounterOp::Lt, 3}};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.test(n, p, {}, 0, lt3), TestResult::Match);
  EXPECT_EQ(r.set(n).elements[0].packets, 1u);  // the /24
  EXPECT_EQ(r.set(n).elements[1].packets, 3u);  // the /28
  EXPECT_EQ(restore_error("create a hash:ip\nadd a 192.0.2.1 packets 3\n"),
            "sets:2:1: error: packets cannot be used: set was created without counter support");
  // A set without counters compares nothing.
  Registry plain;
  ASSERT_TRUE(plain.restore("create p hash:ip\nadd p 192.0.2.8\n"));
  EXPECT_EQ(plain.test(0, p, {.src_bits = 1}, 0, gt6), TestResult::Match);
}

TEST(IpsetTest, HashIpPortNeedsTwoDimensions) {
  Registry r;
  ASSERT_TRUE(r.restore("create svc hash:ip,port\n"
                        "add svc 203.0.113.9,53\n"  // tcp when no protocol is given
                        "add svc 203.0.113.9,udp:53\n"
                        "add svc 203.0.113.9,icmp:8/0\n"
                        "add svc 203.0.113.10-203.0.113.11,sctp:1000-1001\n"));
  EXPECT_EQ(r.set(0).elements.size(), 7u);
  const Dirs dst_dst{.src_bits = 0, .dim = 2};
  EXPECT_EQ(r.test(0, pkt("tcp 100.64.0.1:1 > 203.0.113.9:53 flags S"), dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:1 > 203.0.113.9:53"), dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:53 > 203.0.113.9:54"), dst_dst, 0), TestResult::NoMatch);
  // dst,src: the port is the source port.
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:53 > 203.0.113.9:54"), {.src_bits = 2, .dim = 2}, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("icmp 100.64.0.1 > 203.0.113.9 echo-request"), dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("icmp 100.64.0.1 > 203.0.113.9 echo-reply"), dst_dst, 0), TestResult::NoMatch);
  // One dimension against a two-dimension set: never a member.
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:1 > 203.0.113.9:53"), {.src_bits = 0, .dim = 1}, 0), TestResult::NoMatch);
}

TEST(IpsetTest, HashNetPortAndBitmapPort) {
  Registry r;
  ASSERT_TRUE(r.restore("create np hash:net,port\n"
                        "add np 203.0.113.0/24,tcp:443\n"
                        "add np 203.0.113.128/25,tcp:443 nomatch\n"
                        "add np 192.0.2.0/30,udp:53-54\n"
                        "create ports bitmap:port range 0-1023\n"
                        "add ports 22\n"
                        "add ports 80-81\n"));
  EXPECT_EQ(r.set(0).elements.size(), 4u);
  const Dirs dst_dst{.src_bits = 0, .dim = 2};
  EXPECT_EQ(r.test(0, pkt("tcp 100.64.0.1:1 > 203.0.113.5:443 flags S"), dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("tcp 100.64.0.1:1 > 203.0.113.200:443 flags S"), dst_dst, 0), TestResult::NoMatchEntry);
  EXPECT_EQ(r.test(0, pkt("tcp 100.64.0.1:1 > 203.0.113.5:444 flags S"), dst_dst, 0), TestResult::NoMatch);
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:1 > 192.0.2.3:54"), dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("udp 100.64.0.1:1 > 192.0.2.3:54"), {.src_bits = 0, .dim = 1}, 0), TestResult::NoMatch);
  const uint16_t ports = *r.find("ports");
  EXPECT_EQ(r.test(ports, pkt("tcp 100.64.0.1:1 > 192.0.2.3:81 flags S"), {}, 0), TestResult::Match);
  EXPECT_EQ(r.test(ports, pkt("udp 100.64.0.1:22 > 192.0.2.3:5000"), {.src_bits = 1}, 0), TestResult::Match);
  EXPECT_EQ(r.test(ports, pkt("udp 100.64.0.1:22 > 192.0.2.3:5000"), {}, 0), TestResult::NoMatch);
  // TCP and UDP only (bitmap_port_kadt).
  EXPECT_EQ(r.test(ports, pkt("icmp 100.64.0.1 > 192.0.2.3 echo-request"), {}, 0), TestResult::NoMatch);
}

TEST(IpsetTest, BitmapIpStoresNetmaskBlocksWithinItsRange) {
  Registry r;
  ASSERT_TRUE(r.restore("create b bitmap:ip range 192.0.2.0-192.0.2.255 netmask 28\n"
                        "add b 192.0.2.17\nadd b 192.0.2.64-192.0.2.100\n"));
  const Set& b = r.set(0);
  EXPECT_EQ(b.elements.size(), 4u);  // .16, .64, .80, .96 (blocks of 16)
  auto to = [&](std::string_view dst) { return r.test(0, pkt(fmt::format("udp 100.64.0.1:1 > {}:2", dst)), {}, 0); };
  EXPECT_EQ(to("192.0.2.31"), TestResult::Match);
  EXPECT_EQ(to("192.0.2.32"), TestResult::NoMatch);
  EXPECT_EQ(to("192.0.2.111"), TestResult::Match);
  EXPECT_EQ(to("198.51.100.17"), TestResult::NoMatch);  // out of range: no element
  // The SET target adds within the range only.
  EXPECT_TRUE(r.add(0, pkt("udp 100.64.0.1:1 > 192.0.2.200:2"), {}, 0, std::nullopt, false));
  EXPECT_EQ(to("192.0.2.207"), TestResult::Match);
  EXPECT_FALSE(r.add(0, pkt("udp 100.64.0.1:1 > 203.0.113.1:2"), {}, 0, std::nullopt, false));
  // A range that starts inside a block: bitmap:ip steps from its start
  // (.70, .86), hash:ip from its block's (.64, .80, .96).
  ASSERT_TRUE(r.restore("create b2 bitmap:ip range 192.0.2.0/24 netmask 28\nadd b2 192.0.2.70-192.0.2.97\n"
                        "create h2 hash:ip netmask 28\nadd h2 192.0.2.70-192.0.2.97\n"));
  auto addrs = [&](std::string_view name) {
    std::vector<uint32_t> v;
    for (const Element& e : r.set(*r.find(name)).elements) v.push_back(e.addr & 0xff);
    return v;
  };
  EXPECT_EQ(addrs("b2"), (std::vector<uint32_t>{64, 80}));
  EXPECT_EQ(addrs("h2"), (std::vector<uint32_t>{64, 80, 96}));
}

TEST(IpsetTest, ThreeDimensionsIpPortIpAndIpPortNet) {
  Registry r;
  ASSERT_TRUE(r.restore("create ipi hash:ip,port,ip\n"
                        "add ipi 192.0.2.1-192.0.2.2,udp:53-54,198.51.100.1\n"
                        "create ipn hash:ip,port,net\n"
                        "add ipn 192.0.2.1,tcp:80,198.51.100.0/24\n"
                        "add ipn 192.0.2.1,tcp:80,198.51.100.0/26 nomatch\n"
                        "add ipn 192.0.2.1,tcp:80,203.0.113.1-203.0.113.6\n"));
  EXPECT_EQ(r.set(0).elements.size(), 4u);
  EXPECT_EQ(r.set(1).elements.size(), 6u);  // the range is /32, /31, /31, /32
  EXPECT_EQ(r.set(1).cidrs, (std::vector<uint8_t>{32, 31, 26, 24}));
  const Dirs src_dst_dst{.src_bits = 1, .dim = 3};
  EXPECT_EQ(r.test(0, pkt("udp 192.0.2.2:9 > 198.51.100.1:54"), src_dst_dst, 0), TestResult::Match);
  EXPECT_EQ(r.test(0, pkt("udp 192.0.2.2:9 > 198.51.100.2:54"), src_dst_dst, 0), TestResult::NoMatch);
  EXPECT_EQ(r.test(0, pkt("udp 192.0.2.2:9 > 198.51.100.1:55"), src_dst_dst, 0), TestResult::NoMatch);
  EXPECT_EQ(r.test(0, pkt("udp 192.0.2.2:9 > 198.51.100.1:54"), {.src_bits = 1, .dim = 2}, 0), TestResult::NoMatch);
  // The third dimension's own direction: src,dst,src reads the source again.
  EXPECT_EQ(r.test(0, pkt("udp 192.0.2.1:9 > 198.51.100.1:53"), {.src_bits = 0b101, .dim = 3}, 0),
            TestResult::NoMatch);
  auto web = [&](std::string_view dst) {
    return r.test(1, pkt(fmt::format("tcp 192.0.2.1:1000 > {}:80 flags S", dst)), src_dst_dst, 0);
  };
  EXPECT_EQ(web("198.51.100.200"), TestResult::Match);
  EXPECT_EQ(web("198.51.100.20"), TestResult::NoMatchEntry);
  EXPECT_EQ(web("203.0.113.5"), TestResult::Match);
  EXPECT_EQ(web("203.0.113.7"), TestResult::NoMatch);
}

TEST(IpsetTest, NetIfaceTakesTheInputDeviceForSrcAndTheOutputForDst) {
  Registry r;
  ASSERT_TRUE(r.restore("create ni hash:net,iface\n"
                        "add ni 198.51.100.0/24,a0\n"
                        "add ni 198.51.100.128/25,a0 nomatch\n"
                        "add ni 0.0.0.0/0,b0\n"
                        "add ni 192.0.2.0/24,veth wildcard\n"
                        "add ni 203.0.113.0/24,physdev:a0\n"));
  EXPECT_EQ(r.set(0).cidrs, (std::vector<uint8_t>{25, 24, 0}));
  auto through = [&](std::string_view spec, std::string_view in, std::string_view out, uint8_t src_bits) {
    auto p = pkt(spec);
    p.meta.in.set(in);
    p.meta.out.set(out);
    return r.test(0, p, {.src_bits = src_bits, .dim = 2}, 0);
  };
  // src,src: the source net and the input device.
  EXPECT_EQ(through("udp 198.51.100.7:1 > 100.64.0.1:2", "a0", "", 0b11), TestResult::Match);
  EXPECT_EQ(through("udp 198.51.100.200:1 > 100.64.0.1:2", "a0", "", 0b11), TestResult::NoMatchEntry);
  EXPECT_EQ(through("udp 198.51.100.7:1 > 100.64.0.1:2", "a1", "", 0b11), TestResult::NoMatch);
  // src,dst: the output device; none yet (PREROUTING) is no element.
  EXPECT_EQ(through("udp 198.51.100.7:1 > 100.64.0.1:2", "b0", "a0", 0b01), TestResult::Match);
  EXPECT_EQ(through("udp 198.51.100.7:1 > 100.64.0.1:2", "a0", "", 0b01), TestResult::NoMatch);
  // /0 on b0 holds every address; a wildcard names a prefix of the device.
  EXPECT_EQ(through("udp 100.64.0.9:1 > 100.64.0.1:2", "b0", "", 0b11), TestResult::Match);
  EXPECT_EQ(through("udp 192.0.2.9:1 > 100.64.0.1:2", "veth12", "", 0b11), TestResult::Match);
  EXPECT_EQ(through("udp 192.0.2.9:1 > 100.64.0.1:2", "vet", "", 0b11), TestResult::NoMatch);
  // A bridge port's element is never what the set match asks for.
  EXPECT_EQ(through("udp 203.0.113.9:1 > 100.64.0.1:2", "a0", "", 0b11), TestResult::NoMatch);
}

TEST(IpsetTest, ListSetAsksItsMembersInOrder) {
  Registry r;
  ASSERT_TRUE(r.restore("create a hash:ip\nadd a 192.0.2.1\n"
                        "create nets hash:net\nadd nets 192.0.2.0/24\nadd nets 192.0.2.0/28 nomatch\n"
                        "create svc hash:ip,port\nadd svc 198.51.100.1,udp:53\n"
                        "create b hash:ip\n"
                        "create l list:set\nadd l svc\nadd l a\nadd l nets before a\nadd l b after nets\n"));
  const uint16_t l = *r.find("l"), a = *r.find("a"), b = *r.find("b");
  std::vector<uint16_t> order;
  for (const Element& e : r.set(l).elements) order.push_back(e.member);
  EXPECT_EQ(order, (std::vector<uint16_t>{*r.find("svc"), *r.find("nets"), b, a}));
  auto from = [&](std::string_view src, Dirs d, bool return_nomatch = false) {
    return r.test(l, pkt(fmt::format("udp {}:1 > 198.51.100.1:53", src)), d, 0, {.return_nomatch = return_nomatch});
  };
  EXPECT_EQ(from("192.0.2.100", {.src_bits = 1}), TestResult::Match);  // nets
  // 192.0.2.1 is a nomatch entry of nets, then a member of a.
  EXPECT_EQ(from("192.0.2.1", {.src_bits = 1}), TestResult::Match);
  EXPECT_EQ(from("192.0.2.2", {.src_bits = 1}), TestResult::NoMatch);
  // --return-nomatch asks nets for its nomatch entries.
  EXPECT_EQ(from("192.0.2.2", {.src_bits = 1}, true), TestResult::Match);
  EXPECT_EQ(from("192.0.2.100", {.src_bits = 1}, true), TestResult::NoMatch);
  // Two dimensions reach svc too: dst,dst.
  EXPECT_EQ(from("100.64.0.1", {.src_bits = 0, .dim = 2}), TestResult::Match);
  EXPECT_EQ(from("100.64.0.1", {.src_bits = 0, .dim = 1}), TestResult::NoMatch);
  // SET --add-set l: the first member that takes it (svc needs two
  // dimensions; nets takes it, in its longest prefix in use: /28).
  EXPECT_TRUE(r.add(l, pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {.src_bits = 0}, 0, std::nullopt, false));
  EXPECT_EQ(r.test(*r.find("nets"), pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {}, 0), TestResult::Match);
  // Already in nets: the next member, b, takes it.
  EXPECT_TRUE(r.add(l, pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {.src_bits = 0}, 0, std::nullopt, false));
  EXPECT_EQ(r.test(b, pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {}, 0), TestResult::Match);
  // --del-set: the first member that had it.
  EXPECT_TRUE(r.del(l, pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {.src_bits = 0}, 0));
  EXPECT_EQ(r.test(*r.find("nets"), pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {}, 0), TestResult::NoMatch);
  EXPECT_EQ(r.test(b, pkt("udp 100.64.0.1:1 > 203.0.113.5:2"), {}, 0), TestResult::Match);
}

TEST(IpsetTest, ErrorsNameTheLineAndColumn) {
  EXPECT_EQ(restore_error("create a hash:mac\n"),
            "sets:1:1: error: set type `hash:mac' is not modelled: the kernel nfemu is checked against (Linux 6.18) "
            "does not have it either (nfemu knows hash:ip, hash:net, hash:ip,port, hash:net,port, bitmap:port, "
            "bitmap:ip, hash:ip,port,ip, hash:ip,port,net, hash:net,iface, list:set)");
  EXPECT_EQ(restore_error("create a hash:nets\n").substr(0, 45), "sets:1:1: error: unknown set type `hash:nets'");
  EXPECT_EQ(restore_error("create b bitmap:ip\n"),
            "sets:1:1: error: bitmap:ip needs its address range: `range FROM-TO' or `range IP/CIDR'");
  EXPECT_EQ(restore_error("create b bitmap:ip range 10.0.0.0/8\n"),
            "sets:1:1: error: the range exceeds the size limit of the set type (65536 addresses or netmask blocks)");
  EXPECT_EQ(restore_error("create b bitmap:ip range 10.0.0.0/8 netmask 24\n"), "OK");
  EXPECT_EQ(restore_error("create b bitmap:ip range 192.0.2.0/24\nadd b 198.51.100.1\n"),
            "sets:2:1: error: element `198.51.100.1' is out of the range of the set");
  EXPECT_EQ(restore_error("create t hash:ip,port,ip\nadd t 192.0.2.1,80,198.51.100.0/30\n"),
            "sets:2:1: error: syntax error: plain IP address must be supplied: 198.51.100.0/30");
  EXPECT_EQ(restore_error("create t hash:ip,port,ip\nadd t 192.0.2.1,80\n"),
            "sets:2:1: error: `192.0.2.1,80' is not IP,[PROTO:]PORT,IP: a hash:ip,port,ip element");
  EXPECT_EQ(restore_error("create t hash:ip,port,net\nadd t 192.0.2.1,80,0.0.0.0/0\n"),
            "sets:2:1: error: the value of the CIDR parameter of `0.0.0.0/0' is out of range");
  EXPECT_EQ(restore_error("create n hash:net,iface\nadd n 0.0.0.0/0,eth0\nadd n 192.0.2.0/24,abcdefghijklmnop\n"),
            "sets:3:1: error: `abcdefghijklmnop' is not an interface name (1 to 15 characters)");
  EXPECT_EQ(restore_error("create l list:set\nadd l nope\n"),
            "sets:2:1: error: set to be added/deleted/tested as element does not exist: `nope'");
  EXPECT_EQ(restore_error("create l list:set\ncreate m list:set\nadd l m\n"),
            "sets:3:1: error: sets with list:set type cannot be added to the set (`m' is one)");
  EXPECT_EQ(restore_error("create a hash:ip\ncreate l list:set\nadd l a\nadd l a\n"),
            "sets:4:1: error: element cannot be added to the set: it's already added");
  EXPECT_EQ(restore_error("create a hash:ip\ncreate b hash:ip\ncreate l list:set\nadd l a before b\n"),
            "sets:4:1: error: the set `b' named by before is not a member of l");
  EXPECT_EQ(restore_error("create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ncreate d hash:ip\ncreate e hash:ip\n"
                          "create l list:set size 2\nadd l a\nadd l b\nadd l c\nadd l d\nadd l e\n"),
            "sets:11:1: error: the set is full, more elements cannot be added (size 4)");
  EXPECT_EQ(restore_error("create p bitmap:port\n"),
            "sets:1:1: error: bitmap:port needs its port range: `range FROM-TO'");
  EXPECT_EQ(restore_error("create p bitmap:port range 1000-2000\nadd p 80\n"),
            "sets:2:1: error: element `80' is out of the range of the set");
  EXPECT_EQ(restore_error("create a hash:ip family inet6\n"),
            "sets:1:1: error: family inet6 is not modelled (nfemu is IPv4 only)");
  EXPECT_EQ(restore_error("\n  add nope 192.0.2.1\n"), "sets:2:3: error: the set with the given name `nope' does not exist");
  EXPECT_EQ(restore_error("create a hash:ip\nadd a 192.0.2.1 timeout 5\n"),
            "sets:2:1: error: timeout cannot be used: set was created without timeout support");
  EXPECT_EQ(restore_error("create a hash:ip\nadd a 192.0.2.1\nadd a 192.0.2.1\n"),
            "sets:3:1: error: element cannot be added to the set: it's already added");
  EXPECT_EQ(restore_error("create a hash:ip\n-exist add a 192.0.2.1\n-exist add a 192.0.2.1\n"), "OK");
  EXPECT_EQ(restore_error("create a hash:ip maxelem 2\nadd a 192.0.2.0/30\n"),
            "sets:2:1: error: hash is full, cannot add more elements (maxelem 2)");
  EXPECT_EQ(restore_error("create a hash:ip\nadd a 192.0.2.1 nomatch\n"), "sets:2:1: error: nomatch is not valid for hash:ip");
  EXPECT_EQ(restore_error("create a hash:ip,port\nadd a 192.0.2.1,ssh\n"),
            "sets:2:1: error: `ssh' is not a port number or range (service names are not resolved)");
  EXPECT_EQ(restore_error("create a hash:net\nadd a 192.0.2.0/33\n"),
            "sets:2:1: error: the value of the CIDR parameter of `192.0.2.0/33' is out of range");
  EXPECT_EQ(restore_error("create a hash:ip\ncreate a hash:net\n"),
            "sets:2:1: error: set cannot be created: set with the same name `a' already exists");
  // A namespace's sets hold at most 2^20 restored elements together.
  std::string wide = "create a hash:ip maxelem 4000000\n";
  for (int i = 0; i < 17; ++i) wide += fmt::format("add a 10.{}.0.0/16\n", i);
  EXPECT_EQ(restore_error(wide), "sets:18:1: error: more than 1048576 elements in this host's sets: nfemu's limit");
  EXPECT_EQ(restore_error("flush a\n"),
            "sets:1:1: error: `flush': nfemu's ipset restore reads create and add lines only (as `ipset save' "
            "writes them)");
}

// The SET target's changes (mtype_add, mtype_del): an element with the
// set's timeout unless --timeout, refreshed only with --exist or once
// expired; hash:net adds at the longest prefix in use; a full set or a
// packet without the element's fields changes nothing.
TEST(IpsetTest, AddAndDelFromPackets) {
  Registry r;
  ASSERT_TRUE(r.restore("create t hash:ip timeout 10\n"
                        "create n hash:net maxelem 2\nadd n 198.51.100.0/24\n"
                        "create p hash:ip,port\n"));
  const uint64_t s = 1'000'000'000;
  auto from7 = pkt("udp 192.0.2.7:1000 > 203.0.113.9:53");
  const Dirs src{.src_bits = 1};
  EXPECT_TRUE(r.add(0, from7, src, 5 * s, std::nullopt, false));   // lives until 15 s
  EXPECT_FALSE(r.add(0, from7, src, 6 * s, 100, false));           // there: unchanged
  EXPECT_EQ(r.test(0, from7, src, 15 * s), TestResult::Match);
  EXPECT_EQ(r.test(0, from7, src, 16 * s), TestResult::NoMatch);
  EXPECT_TRUE(r.add(0, from7, src, 20 * s, 3, false));             // expired: added again, 3 s
  EXPECT_TRUE(r.add(0, from7, src, 21 * s, 0, true));              // --exist: now permanent
  EXPECT_EQ(r.test(0, from7, src, 1000 * s), TestResult::Match);
  EXPECT_TRUE(r.del(0, from7, src, 1000 * s));
  EXPECT_FALSE(r.del(0, from7, src, 1000 * s));
  EXPECT_EQ(r.test(0, from7, src, 1000 * s), TestResult::NoMatch);
  // hash:net: 192.0.2.7 goes in as a /24, the prefix in use; then full.
  EXPECT_TRUE(r.add(1, from7, src, 0, std::nullopt, false));
  EXPECT_EQ(r.set(1).elements.back().addr, 0xc0000200u);
  EXPECT_EQ(r.set(1).elements.back().cidr, 24);
  EXPECT_FALSE(r.add(1, pkt("udp 100.64.0.1:1 > 203.0.113.9:53"), src, 0, std::nullopt, false));
  // hash:ip,port needs two dimensions and a port.
  EXPECT_FALSE(r.add(2, from7, src, 0, std::nullopt, false));
  EXPECT_TRUE(r.add(2, from7, {.src_bits = 3, .dim = 2}, 0, std::nullopt, false));  // src,src
  EXPECT_EQ(r.set(2).elements.back().port, 1000);
  EXPECT_EQ(r.test(2, from7, {.src_bits = 3, .dim = 2}, 0), TestResult::Match);
}

// The SET target loads against existing sets and prints itself back as
// iptables 1.8.9 does.
TEST(IpsetTest, SetTargetSavesAsIptables) {
  Registry sets;
  ASSERT_TRUE(sets.restore("create a hash:ip timeout 60\ncreate b hash:ip,port\n"));
  xt::Ruleset rs;
  ASSERT_TRUE(ruleset::restore("*filter\n"
                               "-A INPUT -p tcp -j SET --add-set a src --exist --timeout 30 --del-set b src,dst\n"
                               "-A INPUT -j SET --add-set a dst\n"
                               "COMMIT\n",
                               rs, {.sets = &sets}));
  std::string out = ruleset::save(rs);
  EXPECT_NE(out.find("-A INPUT -p tcp -j SET --add-set a src --exist --timeout 30 --del-set b src,dst\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("-A INPUT -j SET --add-set a dst\n"), std::string::npos) << out;
  auto twice = ruleset::restore("*filter\n-A INPUT -j SET --add-set a src --add-set a dst\nCOMMIT\n", rs,
                                {.sets = &sets});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "--add-set can be specified only once");
}

// SET --map-set: its kernel checks (set_target_v3_checkentry) and the
// skbinfo values an element gives (tests/scenarios/ipset-map-set checks
// the mapping on the kernel).
TEST(IpsetTest, MapSetChecksAndSkbinfo) {
  Registry sets;
  ASSERT_TRUE(sets.restore("create m hash:ip skbinfo\n"
                           "add m 192.0.2.7 skbmark 0x10/0xff skbprio 1:a skbqueue 2\n"
                           "add m 192.0.2.8 skbmark 7\n"));
  const auto& e = sets.set(0).elements;
  EXPECT_EQ(e[0].skbinfo.mark, 0x10u);
  EXPECT_EQ(e[0].skbinfo.mark_mask, 0xffu);
  EXPECT_EQ(e[0].skbinfo.prio, 0x1000au);
  EXPECT_EQ(e[0].skbinfo.queue, 2u);
  EXPECT_EQ(e[1].skbinfo.mark_mask, 0xffffffffu);
  SkbInfo got;
  EXPECT_EQ(sets.test(0, pkt("udp 192.0.2.7:1 > 100.64.0.1:2"), {.src_bits = 1}, 0, {.skbinfo_out = &got}),
            TestResult::Match);
  EXPECT_EQ(got.mark, 0x10u);
  EXPECT_EQ(restore_error("create a hash:ip\nadd a 192.0.2.1 skbmark 1\n"),
            "sets:2:1: error: skbmark cannot be used: set was created without skbinfo support");
  EXPECT_EQ(restore_error("create a hash:ip skbinfo\nadd a 192.0.2.1 skbprio 12\n"),
            "sets:2:1: error: `12' is not a valid skbprio value");
  auto load = [&](std::string_view rules) {
    xt::Ruleset rs;
    auto r = ruleset::restore(rules, rs, {.sets = &sets});
    return r ? std::string("OK") : r.error().message;
  };
  EXPECT_EQ(load("*mangle\n-A FORWARD -j SET --map-set m src --map-mark --map-prio\nCOMMIT\n"), "OK");
  EXPECT_NE(load("*filter\n-A FORWARD -j SET --map-set m src --map-mark\nCOMMIT\n").find("only usable from mangle"),
            std::string::npos);
  EXPECT_NE(load("*mangle\n-A PREROUTING -j SET --map-set m src --map-prio\nCOMMIT\n").find("prio or/and queue"),
            std::string::npos);
}

// The set match through a host: iptables binds the name when it parses
// (a missing set is the kernel tools' error), the host tests each packet.
TEST(IpsetTest, SetMatchThroughAHost) {
  stack::Host host("fw");
  ASSERT_TRUE(host.ipsets().restore("create nets hash:net\nadd nets 203.0.113.0/24\nadd nets 203.0.113.128/25 nomatch\n"));
  xt::Ruleset& rs = host.ruleset();
  auto missing = ruleset::restore("*filter\n-A OUTPUT -m set --match-set other dst -j DROP\nCOMMIT\n", rs,
                                  {.sets = &host.ipsets()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "Set other doesn't exist.");
  ASSERT_TRUE(ruleset::restore("*filter\n"
                               "-A OUTPUT -m set --match-set nets dst --return-nomatch -j REJECT\n"
                               "-A OUTPUT -m set ! --match-set nets dst -j DROP\n"
                               "COMMIT\n",
                               rs, {.sets = &host.ipsets()}));
  host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
  host.add_address("eth0", 0xcb007101, 24);  // 203.0.113.1/24
  host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
  host.add_address("eth1", 0xc6336401, 24);  // 198.51.100.1/24
  for (auto spec : {"udp 203.0.113.1:1 > 203.0.113.5:2", "udp 203.0.113.1:1 > 203.0.113.129:2",
                    "udp 203.0.113.1:1 > 198.51.100.9:2"})
    host.send(pkt(spec), 0);
  const auto& rules = std::as_const(host).ruleset().find(xt::TableId::Filter)->find("OUTPUT")->rules;
  EXPECT_EQ(rules[0].counters.packets, 1u);  // the nomatch hole, REJECTed
  EXPECT_EQ(rules[1].counters.packets, 1u);  // 198.51.100.9 is outside nets: DROP
}

}  // namespace
}  // namespace nfemu::ipset

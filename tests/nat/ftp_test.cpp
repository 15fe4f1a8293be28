// nf_nat_ftp through a conntrack table (nat/ftp.cpp): what the kernel
// scenarios cannot pin because the kernel draws it at random. Two
// masqueraded clients announce the same data port; the second expectation
// must move to another port, the command must name that port, and the data
// connection must still reach the port the client named (saved_port).
// tests/scenarios/ftp-nat checks the rest against 6.18.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "conntrack/conntrack.h"
#include "nat/nat.h"
#include "packet/grammar.h"
#include "packet/mangle.h"

namespace nfemu::nat {
namespace {

using conntrack::CtInfo;
using conntrack::Table;
using packet::Packet;

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint32_t kPublic = 0xCB007101;  // 203.0.113.1

Packet segment(const std::string& spec, std::string_view text) {
  auto p = packet::parse_packet(spec + (text.empty() ? "" : " payload " + std::to_string(text.size())));
  EXPECT_TRUE(p) << spec;
  packet::Ipv4View ip = p->ip();
  auto l4 = ip.payload();
  if (!text.empty()) std::memcpy(l4.data() + (l4.size() - text.size()), text.data(), text.size());
  packet::fill_checksums(ip);
  return std::move(*p);
}

struct Fixture {
  Table table;
  uint64_t now = 1000 * kSec;
  std::shared_ptr<conntrack::Entry> tmpl = conntrack::make_template({}, conntrack::kAllEvents, conntrack::Helper::Ftp);
  Fixture() { register_helpers(table); }

  // in(), a source NAT to kPublic for a new connection, confirm(); the
  // packet as it leaves.
  Packet pass(Packet p, bool snat = true) {
    p.meta.ct = tmpl.get();
    p.meta.ctinfo = CtInfo::New;
    table.in(p, packet::Hook::PreRouting, {}, now);
    auto* ct = static_cast<conntrack::Entry*>(p.meta.ct);
    EXPECT_NE(ct, nullptr);
    if (snat && ct && !ct->confirmed() && !initialized(*ct, Manip::Src)) {
      Range r;
      r.flags = range_flag::kMapIps;
      r.min_ip = r.max_ip = kPublic;
      EXPECT_TRUE(setup_info(table, ct, r, Manip::Src));
    }
    EXPECT_EQ(table.confirm(p, now), conntrack::Verdict::Accept);
    table.put(p);
    return p;
  }

  // A control connection from client:sport up to the first command.
  void control(const std::string& client, uint16_t sport, uint16_t nat_port) {
    const std::string c = client + ":" + std::to_string(sport), s = "198.51.100.10:21";
    const std::string back = "203.0.113.1:" + std::to_string(nat_port);
    pass(segment("tcp " + c + " > " + s + " flags S seq 1000", {}));
    pass(segment("tcp " + s + " > " + back + " flags SA seq 5000 ack 1001", {}));
    pass(segment("tcp " + c + " > " + s + " flags A seq 1001 ack 5001", {}));
    pass(segment("tcp " + s + " > " + back + " flags PA seq 5001 ack 1001", "220 x\r\n"));
    pass(segment("tcp " + c + " > " + s + " flags PA seq 1001 ack 5008", "USER a\r\n"));
  }
};

std::string payload_text(const Packet& p) {
  auto ip = p.ip();
  auto l4 = ip.payload();
  size_t off = size_t{packet::ConstTcpView(l4).data_offset()} * 4;
  return std::string(l4.begin() + static_cast<std::ptrdiff_t>(off), l4.end());
}

TEST(NatFtp, ASecondMasterAnnouncingTheSamePortGetsAnotherAndItsDataStillReachesTheClient) {
  Fixture f;
  f.control("192.0.2.2", 40000, 40000);
  Packet one = f.pass(segment("tcp 192.0.2.2:40000 > 198.51.100.10:21 flags PA seq 1009 ack 5008",
                              "PORT 192,0,2,2,195,80\r\n"));
  EXPECT_EQ(payload_text(one), "PORT 203,0,113,1,195,80\r\n");  // 50000 is free: kept
  EXPECT_EQ(packet::check_l4_checksum(one.ip()), packet::L4Checksum::Ok);

  f.control("192.0.2.3", 40001, 40001);
  Packet two = f.pass(segment("tcp 192.0.2.3:40001 > 198.51.100.10:21 flags PA seq 1009 ack 5008",
                              "EPRT |1|192.0.2.3|50000|\r\n"));
  ASSERT_EQ(f.table.expectations().size(), 2u);
  const conntrack::Expectation& e = f.table.expectations()[1];
  EXPECT_EQ(e.saved_port, 50000);
  ASSERT_NE(e.tuple.dport, 50000);  // the first master holds 50000 (-EBUSY)
  EXPECT_GT(e.tuple.dport, 50000);  // nf_nat_exp_find_port searches above it
  EXPECT_EQ(payload_text(two), "EPRT |1|203.0.113.1|" + std::to_string(e.tuple.dport) + "|\r\n");
  EXPECT_EQ(packet::check_l4_checksum(two.ip()), packet::L4Checksum::Ok);

  // The server connects to the port it was told; follow-master sends it
  // to the port the client named, on the client.
  f.pass(segment("tcp 198.51.100.10:20 > 203.0.113.1:" + std::to_string(e.tuple.dport) + " flags S", {}), false);
  bool found = false;
  for (const auto& v : f.table.dump(f.now)) {
    if (v.orig.sport != 20) continue;
    found = true;
    EXPECT_EQ(v.reply.src, 0xC0000203u);  // 192.0.2.3
    EXPECT_EQ(v.reply.sport, 50000);
  }
  EXPECT_TRUE(found) << "no data connection";
}

TEST(NatFtp, ALengthChangeShiftsLaterSequenceNumbers) {
  Fixture f;
  f.control("192.0.2.2", 40000, 40000);
  // "192,0,2,2,195,80" (16 characters) becomes "203,0,113,1,195,80" (18):
  // the next segment leaves 2 higher, the server's ack of it comes back 2
  // lower.
  Packet port = f.pass(segment("tcp 192.0.2.2:40000 > 198.51.100.10:21 flags PA seq 1009 ack 5008",
                               "PORT 192,0,2,2,195,80\r\n"));
  EXPECT_EQ(port.ip().total_length(), 20u + 20u + 25u);
  Packet next = f.pass(segment("tcp 192.0.2.2:40000 > 198.51.100.10:21 flags PA seq 1032 ack 5008", "NOOP\r\n"));
  EXPECT_EQ(packet::ConstTcpView(next.ip().payload()).seq(), 1034u);
  EXPECT_EQ(packet::check_l4_checksum(next.ip()), packet::L4Checksum::Ok);
  Packet ack = f.pass(segment("tcp 198.51.100.10:21 > 203.0.113.1:40000 flags A seq 5008 ack 1040", {}));
  EXPECT_EQ(packet::ConstTcpView(ack.ip().payload()).ack_seq(), 1038u);
  EXPECT_EQ(packet::check_l4_checksum(ack.ip()), packet::L4Checksum::Ok);
}

// nf_ct_sack_adjust: the server's SACK blocks name the client's stream as
// the server sees it (2 bytes longer after the PORT rewrite): an edge past
// the rewritten command comes back 2 lower, one before it unchanged. A
// SACK option that runs past the TCP header drops the segment.
TEST(NatFtp, SackBlocksShiftWithTheAck) {
  Fixture f;
  f.control("192.0.2.2", 40000, 40000);
  f.pass(segment("tcp 192.0.2.2:40000 > 198.51.100.10:21 flags PA seq 1009 ack 5008", "PORT 192,0,2,2,195,80\r\n"));
  Packet ack = f.pass(
      segment("tcp 198.51.100.10:21 > 203.0.113.1:40000 flags A seq 5008 ack 1034 sack 1040:1046,1001:1009", {}));
  auto l4 = ack.ip().payload();
  EXPECT_EQ(packet::ConstTcpView(l4).ack_seq(), 1032u);
  EXPECT_EQ(packet::load32(l4.data() + 24), 1038u);
  EXPECT_EQ(packet::load32(l4.data() + 28), 1044u);
  EXPECT_EQ(packet::load32(l4.data() + 32), 1001u);
  EXPECT_EQ(packet::load32(l4.data() + 36), 1009u);
  EXPECT_EQ(packet::check_l4_checksum(ack.ip()), packet::L4Checksum::Ok);

  Packet cut = segment("tcp 198.51.100.10:21 > 203.0.113.1:40000 flags A seq 5008 ack 1034 sack 1040:1046", {});
  cut.ip().payload()[23] = 12;  // the SACK option's length: 2 bytes past the header
  packet::fill_checksums(cut.ip());
  cut.meta.ct = f.tmpl.get();
  f.table.in(cut, packet::Hook::PreRouting, {}, f.now);
  ASSERT_NE(cut.meta.ct, nullptr);
  EXPECT_EQ(f.table.confirm(cut, f.now), conntrack::Verdict::Drop);
  f.table.put(cut);
}

}  // namespace
}  // namespace nfemu::nat

// The answers' bytes and the rate limiters, without a host. The expected
// values are those kernel 6.18 sent in tests/icmp/kernel-observed-*.txt
// (kernel-check.sh): see host_icmp_test.cpp for the same cases on a host.
#include "icmp/icmp.h"

#include <gtest/gtest.h>

#include "packet/grammar.h"

namespace nfemu::icmp {
namespace {

std::string fmt_or(packet::ConstIpv4View ip) {
  auto t = packet::format_packet(ip);
  return t ? *t : "(not in the grammar)";
}

packet::Packet pkt(std::string_view spec) {
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p) << spec;
  return p ? std::move(*p) : packet::Packet{};
}

constexpr uint32_t kClient = 0xc633640a;  // 198.51.100.10
constexpr uint32_t kServer = 0xcb007102;  // 203.0.113.2

TEST(IcmpError, TosLengthAndQuoteAsTheKernel) {
  // Kernel: udp tos 0x11, 628 bytes -> error tos 0xd0, 576 bytes, 548 quoted.
  auto off = pkt("udp 198.51.100.10:40000 > 203.0.113.2:9999 tos 17 payload 600");
  auto e = build_error(off.ip(), {.type = kDestUnreach, .code = kPortUnreach, .src = kServer, .ttl = 64});
  ASSERT_TRUE(e);
  auto ip = e->ip();
  EXPECT_EQ(ip.tos(), 0xd0);
  EXPECT_EQ(ip.total_length(), 576);
  EXPECT_EQ(ip.ttl(), 64);
  EXPECT_FALSE(ip.df());
  EXPECT_EQ(ip.saddr(), kServer);
  EXPECT_EQ(ip.daddr(), kClient);
  EXPECT_TRUE(ip.checksum_ok());
  auto body = ip.payload();
  EXPECT_EQ(body[0], 3);
  EXPECT_EQ(body[1], 3);
  EXPECT_TRUE(packet::inet_checksum_ok(body));
  ASSERT_EQ(body.size(), 8u + 548u);
  EXPECT_TRUE(std::equal(body.begin() + 8, body.end(), off.data().begin()));
}

TEST(IcmpError, SmallOffendingQuotedWholeAndMtuInfo) {
  auto off = pkt("udp 198.51.100.10:40003 > 203.0.113.2:9999 ttl 1 tos 4");
  auto e = build_error(off.ip(), {.type = kTimeExceeded, .code = 0, .src = 1});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ip().tos(), 0xc4);  // kernel: 0xc4
  EXPECT_EQ(e->ip().total_length(), 56);
  auto big = pkt("udp 198.51.100.10:40004 > 203.0.113.2:9999 df payload 1400");
  auto f = build_error(big.ip(), {.type = kDestUnreach, .code = kFragNeeded, .info = 1400, .src = 1});
  ASSERT_TRUE(f);
  auto body = f->ip().payload();
  EXPECT_EQ(packet::load32(body.data() + 4), 0x578u);  // kernel: rest=00000578
  EXPECT_EQ(f->ip().total_length(), 576);
  // A route back with an MTU below 576 shrinks the quote; one that leaves no
  // room for an IP header gets nothing.
  auto g = build_error(big.ip(), {.type = kDestUnreach, .code = kFragNeeded, .src = 1, .mtu = 100});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ip().total_length(), 100);
  EXPECT_FALSE(build_error(big.ip(), {.src = 1, .mtu = 48}));
}

TEST(IcmpError, Suppressed) {
  auto udp = pkt("udp 198.51.100.10:1 > 203.0.113.2:2");
  EXPECT_EQ(error_suppressed(udp.ip(), kDestUnreach, false), nullptr);
  EXPECT_NE(error_suppressed(udp.ip(), kDestUnreach, true), nullptr);
  auto frag = udp;
  frag.ip().set_frag_offset(10);
  EXPECT_NE(error_suppressed(frag.ip(), kDestUnreach, false), nullptr);
  auto err = pkt("icmp 198.51.100.10 > 203.0.113.2 type 3 code 1");
  EXPECT_NE(error_suppressed(err.ip(), kTimeExceeded, false), nullptr);
  auto unknown = pkt("icmp 198.51.100.10 > 203.0.113.2 type 40");
  EXPECT_NE(error_suppressed(unknown.ip(), kDestUnreach, false), nullptr);
  auto echo = pkt("icmp 198.51.100.10 > 203.0.113.2 echo-request");
  EXPECT_EQ(error_suppressed(echo.ip(), kTimeExceeded, false), nullptr);
  // An echo reply to an error is not an error: icmp_pointers[type].error.
  EXPECT_EQ(error_suppressed(err.ip(), kEchoReply, false), nullptr);
  auto zero = pkt("udp 0.0.0.0:1 > 203.0.113.2:2");
  EXPECT_NE(error_suppressed(zero.ip(), kDestUnreach, false), nullptr);
  auto mcast = pkt("udp 224.0.0.5:1 > 203.0.113.2:2");
  EXPECT_NE(error_suppressed(mcast.ip(), kDestUnreach, false), nullptr);
}

TEST(TcpReset, SeqAckRules) {
  // Kernel: SYN seq 1000 -> RST|ACK seq 0 ack 1001; ACK ack 7777 -> RST
  // seq 7777; SYN|FIN seq 100 with 10 bytes -> ack 112.
  auto syn = pkt("tcp 198.51.100.10:40000 > 203.0.113.2:81 flags S seq 1000 tos 16");
  auto r = build_tcp_reset(syn.ip(), 64, syn.ip().tos());
  ASSERT_TRUE(r);
  EXPECT_EQ(fmt_or(r->ip()),
            "tcp 203.0.113.2:81 > 198.51.100.10:40000 flags RA seq 0 ack 1001 win 0 tos 16 ipid 0 df");
  auto ack = pkt("tcp 198.51.100.10:40001 > 203.0.113.2:81 flags A seq 5000 ack 7777");
  EXPECT_EQ(fmt_or(build_tcp_reset(ack.ip(), 64, 0)->ip()),
            "tcp 203.0.113.2:81 > 198.51.100.10:40001 flags R seq 7777 win 0 ipid 0 df");
  auto sf = pkt("tcp 198.51.100.10:40002 > 203.0.113.2:81 flags SF seq 100 payload 10");
  EXPECT_EQ(packet::TcpViewT<const uint8_t>(build_tcp_reset(sf.ip(), 64, 0)->ip().payload()).ack_seq(), 112u);
  auto rst = pkt("tcp 198.51.100.10:40002 > 203.0.113.2:81 flags R");
  EXPECT_FALSE(build_tcp_reset(rst.ip(), 64, 0));
}

TEST(SynAck, MssWindowAndDeterministicIsn) {
  auto syn = pkt("tcp 198.51.100.10:40008 > 203.0.113.2:80 flags S seq 2000");
  uint32_t isn = initial_sequence(kClient, kServer, 40008, 80);
  EXPECT_EQ(isn, initial_sequence(kClient, kServer, 40008, 80));
  EXPECT_NE(isn, initial_sequence(kClient, kServer, 40009, 80));
  packet::Packet sa;
  build_syn_ack(syn.ip(), isn, 1360, 64, sa);
  auto ip = sa.ip();
  EXPECT_EQ(ip.total_length(), 44);  // kernel: len=44 doff=6 opts=02040550 win=65280
  EXPECT_TRUE(ip.df());
  EXPECT_EQ(ip.tos(), 0);
  packet::ConstTcpView t(ip.payload());
  EXPECT_EQ(t.flags(), 0x12);
  EXPECT_EQ(t.seq(), isn);
  EXPECT_EQ(t.ack_seq(), 2001u);
  EXPECT_EQ(t.window(), 65280);
  EXPECT_EQ(t.data_offset(), 6);
  EXPECT_EQ(t.options()[0], 2);
  EXPECT_EQ(packet::load16(t.options().data() + 2), 1360);
  EXPECT_TRUE(transport_checksum_ok(ip));
  // Into a reused buffer that held a longer packet with metadata: nothing
  // of it stays.
  packet::Packet reused = pkt("udp 198.51.100.10:5000 > 203.0.113.2:53 payload 400");
  reused.meta.mark = 7;
  build_syn_ack(syn.ip(), isn, 1460, 64, reused);
  EXPECT_EQ(reused.size(), 44u);
  EXPECT_EQ(reused.meta.mark, 0u);
  EXPECT_EQ(reused.ip().payload()[14] << 8 | reused.ip().payload()[15], 64240);
  EXPECT_TRUE(transport_checksum_ok(reused.ip()));
}

TEST(EchoReply, CopiesTosAndData) {
  auto req = pkt("icmp 198.51.100.10 > 203.0.113.2 echo-request id 1 seq 1 tos 16");
  auto rep = build_echo_reply(req.ip(), kServer, 64);
  EXPECT_EQ(fmt_or(rep.ip()),
            "icmp 203.0.113.2 > 198.51.100.10 echo-reply tos 16 ipid 0");
}

TEST(RejectTypes, NamesAndCodes) {
  const auto& t = reject_types();
  EXPECT_EQ(t[static_cast<size_t>(RejectWith::AdminProhibited)].code, 13);  // kernel: code=13
  EXPECT_EQ(t[static_cast<size_t>(RejectWith::NetUnreach)].code, 0);
  EXPECT_EQ(t[static_cast<size_t>(RejectWith::HostProhibited)].code, 10);
  EXPECT_EQ(t[static_cast<size_t>(RejectWith::NetProhibited)].code, 9);
  EXPECT_EQ(t[static_cast<size_t>(RejectWith::TcpReset)].name, "tcp-reset");
}

constexpr uint64_t ms(uint64_t v) { return v * 1'000'000; }

TEST(RateLimiter, PeerBurstOfSixThenOnePerSecond) {
  // Kernel (kernel-observed-burst.txt): 10 port unreachables at once -> 6;
  // 3 more 1.05 s later -> 1.
  RateLimiter rl;
  RateConfig c;
  int sent = 0;
  for (int i = 0; i < 10; ++i) {
    bool apply = false;
    if (rl.global_allow(c, kDestUnreach, kPortUnreach, ms(5000), apply) && rl.peer_allow(c, kClient, ms(5000)))
      ++sent;
  }
  EXPECT_EQ(sent, 6);
  sent = 0;
  for (int i = 0; i < 3; ++i) {
    bool apply = false;
    if (rl.global_allow(c, kDestUnreach, kPortUnreach, ms(6050), apply) && rl.peer_allow(c, kClient, ms(6050)))
      ++sent;
  }
  EXPECT_EQ(sent, 1);
  // Another destination has its own bucket.
  EXPECT_TRUE(rl.peer_allow(c, kServer, ms(6050)));
}

// Every peer keeps its bucket however many there are (inet_peer; 6.18:
// tests/scenarios/icmp-ratelimit-peers): 5000 peers each spend their burst
// of six, and none gets a seventh; those idle for a minute are forgotten
// when the table needs room, and come back with a full bucket, as the
// kernel's would have refilled it.
TEST(RateLimiter, EveryPeerKeepsItsBucketAndIdleOnesAreForgottenFull) {
  RateLimiter rl;
  RateConfig c;
  auto addr = [](uint32_t i) { return 0xcb007100u + i; };  // 203.0.113.0 and on
  for (int round = 0; round < 7; ++round)
    for (uint32_t i = 0; i < 5000; ++i)
      EXPECT_EQ(rl.peer_allow(c, addr(i), ms(1000 + static_cast<uint64_t>(round))), round < 6) << i << " " << round;
  // A minute later: 5000 new peers make room by forgetting the idle ones;
  // the first 5000 then start full again.
  for (uint32_t i = 5000; i < 10000; ++i) EXPECT_TRUE(rl.peer_allow(c, addr(i), ms(70'000)));
  for (uint32_t i = 0; i < 5000; ++i) EXPECT_TRUE(rl.peer_allow(c, addr(i), ms(70'001))) << i;
  // Redirects and ip_error share the peer: its own state, kept too.
  for (int k = 0; k < 5; ++k) EXPECT_EQ(rl.ip_error_allow(addr(20000), ms(80'000)), k < 5);
  EXPECT_FALSE(rl.ip_error_allow(addr(20000), ms(80'000)));
  EXPECT_TRUE(rl.ip_error_allow(addr(20001), ms(80'000)));
}

TEST(RateLimiter, MaskAndFragNeededExempt) {
  RateConfig c;
  EXPECT_TRUE(RateLimiter::exempt(c, kEchoReply, 0));
  EXPECT_TRUE(RateLimiter::exempt(c, kDestUnreach, kFragNeeded));
  EXPECT_FALSE(RateLimiter::exempt(c, kDestUnreach, kPortUnreach));
  EXPECT_FALSE(RateLimiter::exempt(c, kTimeExceeded, 0));
  EXPECT_FALSE(RateLimiter::exempt(c, 12, 0));
  EXPECT_FALSE(RateLimiter::exempt(c, 4, 0));
  EXPECT_TRUE(RateLimiter::exempt(c, 5, 0));
  c.ratemask = 0;
  EXPECT_TRUE(RateLimiter::exempt(c, kDestUnreach, kPortUnreach));
}

TEST(RateLimiter, GlobalBucketRefillsAfterTwentyMilliseconds) {
  RateLimiter rl;
  RateConfig c{.ratelimit_ms = 0, .msgs_per_sec = 1000, .msgs_burst = 3};
  auto send = [&](uint64_t t) {
    bool apply = false;
    return rl.global_allow(c, kDestUnreach, kPortUnreach, t, apply) && rl.peer_allow(c, kClient, t);
  };
  EXPECT_TRUE(send(ms(100)));
  EXPECT_TRUE(send(ms(100)));
  EXPECT_TRUE(send(ms(100)));
  EXPECT_FALSE(send(ms(100)));
  EXPECT_FALSE(send(ms(119)));  // less than HZ/50 since the refill
  EXPECT_TRUE(send(ms(120)));   // 20 ms: 20 credits, capped at the burst of 3
  EXPECT_EQ(rl.global_credit(), 2);
  c.msgs_per_sec = 10;  // 10/s: 20 ms earn nothing (incr 0), 100 ms earn one
  RateLimiter slow;
  bool apply = false;
  EXPECT_TRUE(slow.global_allow(c, kDestUnreach, 3, ms(1000), apply));
  slow.peer_allow(c, kClient, ms(1000));
  EXPECT_EQ(slow.global_credit(), 2);
}

TEST(RateLimiter, IpErrorSharesThePeerBucket) {
  // ip_error takes 1 s of tokens (burst 5 s) and icmp_send's peer check
  // another 1 s from the same inet_peer: 2 errors in a burst.
  RateLimiter rl;
  RateConfig c;
  int sent = 0;
  for (int i = 0; i < 5; ++i) {
    bool apply = false;
    if (rl.ip_error_allow(kClient, ms(2000)) && rl.global_allow(c, kDestUnreach, 1, ms(2000), apply) &&
        rl.peer_allow(c, kClient, ms(2000)))
      ++sent;
  }
  EXPECT_EQ(sent, 2);
}

TEST(RateLimiter, SameJiffyKeepsIpErrorTokensWithRatelimitZero) {
  // Kernel 6.18 (wire-edge): with net.ipv4.icmp_ratelimit = 0, an
  // unreachable and a prohibit route hit at the same instant both get their
  // ICMP error. inet_peer_xrlim_allow adds time and caps at 6 * 0 only when a
  // jiffy passed, so ip_error's tokens survive the check of its own message.
  RateLimiter rl;
  RateConfig c;
  c.ratelimit_ms = 0;
  int sent = 0;
  for (int i = 0; i < 2; ++i) {
    bool apply = false;
    if (rl.ip_error_allow(kClient, ms(2000)) && rl.global_allow(c, kDestUnreach, 1, ms(2000), apply) &&
        rl.peer_allow(c, kClient, ms(2000)))
      ++sent;
  }
  EXPECT_EQ(sent, 2);
  // One jiffy later the cap applies: tokens drop to 0, so ip_error refuses.
  bool apply = false;
  EXPECT_TRUE(rl.global_allow(c, kDestUnreach, 3, ms(2001), apply));
  EXPECT_TRUE(rl.peer_allow(c, kClient, ms(2001)));
  EXPECT_FALSE(rl.ip_error_allow(kClient, ms(2001)));
}

}  // namespace
}  // namespace nfemu::icmp

// Unit tests of the LOG/TRACE formatter for what the kernel captures do not
// reach: truncated headers, devices without a link header, odd flags.
#include <gtest/gtest.h>

#include <random>

#include "log/log.h"
#include "packet/addr.h"

namespace nfemu::log {
namespace {

using packet::Hook;
using packet::Packet;

std::vector<uint8_t> ip_header(uint8_t proto, size_t l4len, uint16_t frag = 0, size_t optlen = 0) {
  const size_t hl = 20 + optlen;
  std::vector<uint8_t> b(hl, 0);
  b[0] = static_cast<uint8_t>(0x40 | hl / 4);
  b[1] = 0xff;  // TOS 0x1E, PREC 0xE0
  const size_t total = hl + l4len;
  b[2] = static_cast<uint8_t>(total >> 8);
  b[3] = static_cast<uint8_t>(total);
  b[4] = 0x12;
  b[5] = 0x34;
  b[6] = static_cast<uint8_t>(frag >> 8);
  b[7] = static_cast<uint8_t>(frag);
  b[8] = 64;
  b[9] = proto;
  uint8_t src[] = {198, 51, 100, 7}, dst[] = {203, 0, 113, 9};
  std::copy(src, src + 4, b.begin() + 12);
  std::copy(dst, dst + 4, b.begin() + 16);
  for (size_t i = 0; i < optlen; ++i) b[20 + i] = 1;  // NOPs
  return b;
}

Packet make(std::vector<uint8_t> bytes) { return Packet(bytes); }

TEST(LogLineTest, OutputHookHasNoMacField) {
  auto b = ip_header(17, 8);
  b.insert(b.end(), {0, 53, 0, 53, 0, 8, 0, 0});
  EXPECT_EQ(format_log_line("x ", {}, make(b), Hook::LocalOut, "", "eth1", nullptr),
            "x IN= OUT=eth1 SRC=198.51.100.7 DST=203.0.113.9 LEN=28 TOS=0x1E PREC=0xE0 TTL=64 ID=4660 "
            "PROTO=UDP SPT=53 DPT=53 LEN=8 ");
}

TEST(LogLineTest, InputDeviceWithoutLinkHeaderPrintsEmptyMac) {
  auto b = ip_header(17, 8);
  b.insert(b.end(), {0, 53, 0, 53, 0, 8, 0, 0});
  EXPECT_EQ(format_log_line("", {}, make(b), Hook::LocalIn, "tun0", "", nullptr),
            "IN=tun0 OUT= MAC= SRC=198.51.100.7 DST=203.0.113.9 LEN=28 TOS=0x1E PREC=0xE0 TTL=64 ID=4660 "
            "PROTO=UDP SPT=53 DPT=53 LEN=8 ");
  // macdecode only decodes Ethernet devices.
  LogOptions o{.macdecode = true};
  EXPECT_EQ(format_log_line("", o, make(b), Hook::LocalIn, "tun0", "", nullptr).substr(0, 20), "IN=tun0 OUT= MAC= SR");
}

TEST(LogLineTest, ShortUdpStopsBeforeMark) {
  auto b = ip_header(17, 4);
  b.insert(b.end(), {0, 53, 0, 53});
  Packet p = make(b);
  p.meta.mark = 7;
  EXPECT_EQ(format_log_line("", {}, p, Hook::LocalOut, "", "o", nullptr),
            "IN= OUT=o SRC=198.51.100.7 DST=203.0.113.9 LEN=24 TOS=0x1E PREC=0xE0 TTL=64 ID=4660 "
            "PROTO=UDP INCOMPLETE [4 bytes] ");
}

TEST(LogLineTest, ShortIcmpStillPrintsMark) {
  auto b = ip_header(1, 4);
  b.insert(b.end(), {8, 0, 0, 0});
  Packet p = make(b);
  p.meta.mark = 0xab;
  EXPECT_EQ(format_log_line("", {}, p, Hook::LocalOut, "", "o", nullptr),
            "IN= OUT=o SRC=198.51.100.7 DST=203.0.113.9 LEN=24 TOS=0x1E PREC=0xE0 TTL=64 ID=4660 "
            "PROTO=ICMP INCOMPLETE [4 bytes] MARK=0xab ");
}

TEST(LogLineTest, TruncatedTcpOptions) {
  auto b = ip_header(6, 20);
  std::vector<uint8_t> tcp(20, 0);
  tcp[12] = 0x60;  // 24-byte header in a 20-byte segment
  b.insert(b.end(), tcp.begin(), tcp.end());
  LogOptions o{.tcp_options = true};
  auto line = format_log_line("", o, make(b), Hook::LocalOut, "", "o", nullptr);
  EXPECT_TRUE(line.ends_with("URGP=0 OPT (TRUNCATED)")) << line;
}

TEST(LogLineTest, IpOptionsAndFragmentFlags) {
  auto b = ip_header(6, 8, 0x8000 | 0x4000 | 0x2000 | 3, 4);
  b.resize(b.size() + 8);
  LogOptions o{.ip_options = true};
  EXPECT_EQ(format_log_line("", o, make(b), Hook::LocalOut, "", "o", nullptr),
            "IN= OUT=o SRC=198.51.100.7 DST=203.0.113.9 LEN=32 TOS=0x1E PREC=0xE0 TTL=64 ID=4660 CE DF MF FRAG:3 "
            "OPT (01010101) PROTO=TCP ");
}

TEST(LogLineTest, AhFragmentPrintsNoProtocol) {
  auto b = ip_header(51, 8, 1);
  b.resize(b.size() + 8);
  EXPECT_TRUE(format_log_line("", {}, make(b), Hook::LocalOut, "", "o", nullptr).ends_with("ID=4660 FRAG:1 "));
}

TEST(LogLineTest, IcmpErrorWithTruncatedInnerHeader) {
  auto b = ip_header(1, 8 + 10);
  b.insert(b.end(), {3, 1, 0, 0, 0, 0, 0, 0});
  b.insert(b.end(), {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17});
  auto line = format_log_line("", {}, make(b), Hook::LocalOut, "", "o", nullptr);
  // required_len (8 + 20) is checked before the recursion.
  EXPECT_TRUE(line.ends_with("PROTO=ICMP TYPE=3 CODE=1 INCOMPLETE [18 bytes] ")) << line;
}

TEST(LogLineTest, UidOnlyWithFlagAndOwner) {
  auto b = ip_header(17, 8);
  b.insert(b.end(), {0, 53, 0, 53, 0, 8, 0, 0});
  SocketOwner owner{1000, 100};
  LogOptions o{.uid = true};
  EXPECT_TRUE(format_log_line("", o, make(b), Hook::LocalOut, "", "o", nullptr, &owner).ends_with("UID=1000 GID=100 "));
  EXPECT_TRUE(format_log_line("", {}, make(b), Hook::LocalOut, "", "o", nullptr, &owner).ends_with("LEN=8 "));
}

TEST(LogLineTest, TraceUsesDefaultMask) {
  auto b = ip_header(6, 24);
  std::vector<uint8_t> tcp(24, 0);
  tcp[4] = 1;       // seq 16777216
  tcp[12] = 0x60;   // one option word
  tcp[13] = 0x12;   // SYN ACK
  tcp[20] = 2;
  tcp[21] = 4;
  tcp[22] = 5;
  tcp[23] = 0xb4;
  b.insert(b.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(format_trace_line("filter", "FORWARD", TraceType::Return, 3, make(b), Hook::Forward, "", "o", nullptr),
            "TRACE: filter:FORWARD:return:3 IN= OUT=o SRC=198.51.100.7 DST=203.0.113.9 LEN=44 TOS=0x1E PREC=0xE0 "
            "TTL=64 ID=4660 PROTO=TCP SPT=0 DPT=0 SEQ=16777216 ACK=0 WINDOW=0 RES=0x00 ACK SYN URGP=0 "
            "OPT (020405B4) ");
}

TEST(LogLineTest, EmptyOrTinyBuffersDoNotOverread) {
  EXPECT_EQ(format_log_line("", {}, Packet(), Hook::LocalOut, "", "o", nullptr), "IN= OUT=o TRUNCATED");
  // Random bytes: every field access stays in bounds (ASan/UBSan presets).
  std::mt19937 rng(42);
  LogOptions all{true, true, true, true, true};
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b(rng() % 90);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() > 9 && i % 2) {
      b[0] = 0x45;
      b[9] = std::array<uint8_t, 6>{1, 6, 17, 50, 51, 136}[rng() % 6];
    }
    Packet p(b);
    p.meta.mark = rng() % 2;
    auto line = format_log_line("r ", all, p, Hook::PreRouting, "eth0", "", nullptr);
    ASSERT_TRUE(line.starts_with("r IN=eth0 OUT= MAC= "));
  }
}

// The forms that write into a caller's string (the host keeps one for all
// its lines) replace what it held: a long line, then a short one.
TEST(LogLineTest, IntoAStringReplacesWhatItHeld) {
  auto b = ip_header(17, 8);
  b.insert(b.end(), {0, 53, 0, 53, 0, 8, 0, 0});
  const Packet p = make(b);
  std::string line(600, '#');
  format_log_line(line, "x ", {}, p, Hook::LocalOut, "", "eth1", nullptr);
  EXPECT_EQ(line, format_log_line("x ", {}, p, Hook::LocalOut, "", "eth1", nullptr));
  format_trace_line(line, "raw", "PREROUTING", TraceType::Policy, 2, p, Hook::PreRouting, "", "", nullptr);
  EXPECT_EQ(line, format_trace_line("raw", "PREROUTING", TraceType::Policy, 2, p, Hook::PreRouting, "", "", nullptr));
  EXPECT_TRUE(line.starts_with("TRACE: raw:PREROUTING:policy:2 IN= OUT= SRC=198.51.100.7 ")) << line;
}

}  // namespace
}  // namespace nfemu::log

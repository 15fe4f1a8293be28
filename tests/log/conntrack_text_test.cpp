#include <gtest/gtest.h>

#include "log/conntrack_text.h"

namespace nfemu::log {
namespace {

ConntrackView tcp_view() {
  ConntrackView v;
  v.l4proto = 6;
  v.timeout = 120;
  v.tcp_state = "SYN_SENT";
  v.orig = {.src = 0xc0000201, .dst = 0xc6336402, .sport = 40000, .dport = 80};
  v.reply = {.src = 0xc6336402, .dst = 0xc0000201, .sport = 80, .dport = 40000};
  return v;
}

TEST(ConntrackTextTest, NewEventPadsTypeAndProtocol) {
  EXPECT_EQ(format_ct_event(CtEventType::New, tcp_view()),
            "    [NEW] tcp      6 120 SYN_SENT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=80 [UNREPLIED] "
            "src=198.51.100.2 dst=192.0.2.1 sport=80 dport=40000");
}

TEST(ConntrackTextTest, UpdateWithoutStateChangeOmitsState) {
  auto v = tcp_view();
  v.seen_reply = true;
  v.assured = true;
  v.state_event = false;
  v.mark = 5;
  EXPECT_EQ(format_ct_event(CtEventType::Update, v),
            " [UPDATE] tcp      6 120 src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=80 "
            "src=198.51.100.2 dst=192.0.2.1 sport=80 dport=40000 [ASSURED] mark=5");
}

// 6.18, conntrack-tools 1.4.7, raw "-j CT --zone-orig 5" / "--zone-reply 7":
//   "... sport=5000 dport=53 zone-orig=5 [UNREPLIED] src=..."
//   "... sport=53 dport=5000 zone-reply=7 mark=0 use=1"
TEST(ConntrackTextTest, DirectionZonesFollowTheirTuple) {
  auto v = tcp_view();
  v.zone_orig = 5;
  EXPECT_EQ(format_ct_list_line(v),
            "tcp      6 120 SYN_SENT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=80 zone-orig=5 [UNREPLIED] "
            "src=198.51.100.2 dst=192.0.2.1 sport=80 dport=40000 mark=0 use=1");
  v.zone_orig = 0;
  v.zone_reply = 7;
  EXPECT_EQ(format_ct_event(CtEventType::New, v),
            "    [NEW] tcp      6 120 SYN_SENT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=80 [UNREPLIED] "
            "src=198.51.100.2 dst=192.0.2.1 sport=80 dport=40000 zone-reply=7");
}

TEST(ConntrackTextTest, DestroyKeepsStateAndNonZeroTimeout) {
  auto v = tcp_view();
  v.timeout = 0;
  EXPECT_TRUE(format_ct_event(CtEventType::Destroy, v).starts_with("[DESTROY] tcp      6 SYN_SENT src="));
  v.timeout = 29;
  EXPECT_TRUE(format_ct_event(CtEventType::Destroy, v).starts_with("[DESTROY] tcp      6 29 SYN_SENT src="));
}

TEST(ConntrackTextTest, ListLineHasMarkZoneUse) {
  ConntrackView v;
  v.l4proto = 1;
  v.timeout = 29;
  v.orig = {.src = 0xc0000201, .dst = 0xc0000202, .icmp_type = 8, .icmp_id = 4660};
  v.reply = {.src = 0xc0000202, .dst = 0xc0000201, .icmp_type = 0, .icmp_id = 4660};
  v.seen_reply = true;
  v.zone = 3;
  v.use = 2;
  EXPECT_EQ(format_ct_list_line(v),
            "icmp     1 29 src=192.0.2.1 dst=192.0.2.2 type=8 code=0 id=4660 src=192.0.2.2 dst=192.0.2.1 "
            "type=0 code=0 id=4660 mark=0 zone=3 use=2");
}

TEST(ConntrackTextTest, ProtocolNames) {
  EXPECT_EQ(ct_proto_name(17), "udp");
  EXPECT_EQ(ct_proto_name(50), "unknown");
  ConntrackView v;
  v.l4proto = 50;
  v.timeout = 600;
  EXPECT_EQ(format_ct_event(CtEventType::New, v),
            "    [NEW] unknown  50 600 src=0.0.0.0 dst=0.0.0.0 [UNREPLIED] src=0.0.0.0 dst=0.0.0.0");
}

// The form that writes into a caller's string (replay keeps one for every
// event) replaces what it held.
TEST(ConntrackTextTest, EventIntoAStringReplacesWhatItHeld) {
  std::string line(400, '#');
  format_ct_event(line, CtEventType::New, tcp_view());
  EXPECT_EQ(line, format_ct_event(CtEventType::New, tcp_view()));
  format_ct_event(line, CtEventType::Destroy, tcp_view());
  EXPECT_EQ(line, format_ct_event(CtEventType::Destroy, tcp_view()));
}

}  // namespace
}  // namespace nfemu::log

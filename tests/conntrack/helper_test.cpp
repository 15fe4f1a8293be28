// The FTP conntrack helper and expectations (conntrack/helper.cpp) against
// nf_conntrack_ftp.c and nf_conntrack_expect.c. The kernel's own answers
// for the same exchanges are in tests/scenarios/ftp-helper*.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "conntrack/conntrack.h"
#include "packet/grammar.h"
#include "packet/mangle.h"

namespace nfemu::conntrack {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint32_t kClient = 0xC0000202;  // 192.0.2.2
constexpr uint32_t kServer = 0xC633640A;  // 198.51.100.10

class FtpHelperTest : public ::testing::Test {
 protected:
  Table table;
  uint64_t now = 1000 * kSec;
  std::shared_ptr<Entry> tmpl = make_template(Zone{}, kAllEvents, Helper::Ftp);
  uint32_t cseq = 1001, sseq = 5001;  // the next byte each side sends

  // A segment with `text` as its payload, checksums filled.
  static Packet segment(std::string_view spec, std::string_view text) {
    auto p = packet::parse_packet(fmt_spec(spec, text.size()));
    EXPECT_TRUE(p) << spec;
    packet::Ipv4View ip = p->ip();
    auto l4 = ip.payload();
    // An empty view's data() may be null, which memcpy must not get (UBSan).
    if (!text.empty()) std::memcpy(l4.data() + (l4.size() - text.size()), text.data(), text.size());
    packet::fill_checksums(ip);
    return std::move(*p);
  }
  static std::string fmt_spec(std::string_view spec, size_t n) {
    return std::string(spec) + (n ? " payload " + std::to_string(n) : "");
  }

  struct Seen {
    Verdict verdict;
    CtInfo ctinfo;
    const Entry* ct;
    std::string reason;
  };
  // Through raw (the CT --helper ftp template on every packet, as a rule
  // without a port would), PREROUTING conntrack and POSTROUTING confirm.
  Seen run(Packet p) {
    p.meta.ct = tmpl.get();
    p.meta.ctinfo = CtInfo::New;
    LookupResult r = table.in(p, packet::Hook::PreRouting, Zone{}, now);
    Seen s{r.verdict, p.meta.ctinfo, r.ct, std::string(r.reason)};
    ConfirmInfo info;
    if (r.verdict == Verdict::Accept) s.verdict = table.confirm(p, now, &info);
    s.reason += info.reason;
    table.put(p);
    return s;
  }
  Seen from_client(std::string_view flags, std::string_view text = {}) {
    std::string spec = "tcp 192.0.2.2:40000 > 198.51.100.10:21 flags " + std::string(flags) + " seq " +
                       std::to_string(cseq) + " ack " + std::to_string(sseq);
    if (flags == "S") spec = "tcp 192.0.2.2:40000 > 198.51.100.10:21 flags S seq " + std::to_string(cseq - 1);
    Seen s = run(segment(spec, text));
    cseq += static_cast<uint32_t>(text.size());
    return s;
  }
  Seen from_server(std::string_view flags, std::string_view text = {}) {
    std::string spec = "tcp 198.51.100.10:21 > 192.0.2.2:40000 flags " + std::string(flags) + " seq " +
                       std::to_string(flags == "SA" ? sseq - 1 : sseq) + " ack " + std::to_string(cseq);
    Seen s = run(segment(spec, text));
    sseq += static_cast<uint32_t>(text.size());
    return s;
  }
  // The handshake, the server's greeting and the client's first line:
  // each direction's first data the helper only learns a line end from.
  const Entry* control() {
    from_client("S");
    from_server("SA");
    from_client("A");
    from_server("PA", "220 ready\r\n");
    Seen s = from_client("PA", "USER anonymous\r\n");
    EXPECT_EQ(s.ctinfo, CtInfo::Established);
    return s.ct;
  }
};

TEST_F(FtpHelperTest, PortCommandMakesTheServersDataConnectionRelated) {
  const Entry* ctl = control();
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->helper, Helper::Ftp);
  EXPECT_TRUE(ctl->status & status::kHelper);
  EXPECT_TRUE(table.expectations().empty());

  EXPECT_EQ(from_client("PA", "PORT 192,0,2,2,156,65\r\n").verdict, Verdict::Accept);
  ASSERT_EQ(table.expectations().size(), 1u);
  const Expectation& e = table.expectations()[0];
  EXPECT_EQ(e.tuple.src, kServer);
  EXPECT_EQ(e.tuple.dst, kClient);
  EXPECT_EQ(e.tuple.dport, 40001);
  EXPECT_TRUE(e.any_sport);
  EXPECT_EQ(e.master, ctl);

  Seen data = run(segment("tcp 198.51.100.10:20 > 192.0.2.2:40001 flags S", {}));
  EXPECT_EQ(data.verdict, Verdict::Accept);
  EXPECT_EQ(data.ctinfo, CtInfo::Related);
  ASSERT_NE(data.ct, nullptr);
  EXPECT_EQ(data.ct->master, ctl);
  EXPECT_TRUE(data.ct->status & status::kExpected);
  EXPECT_EQ(data.ct->helper, Helper::None);  // FTP's expectations attach none
  EXPECT_TRUE(table.expectations().empty());  // used up
  EXPECT_EQ(ctl->use, 2u);                    // the hash's and the child's

  // Its retransmitted SYN is still RELATED (no reply yet); the answer is
  // ESTABLISHED as for any connection.
  EXPECT_EQ(run(segment("tcp 198.51.100.10:20 > 192.0.2.2:40001 flags S", {})).ctinfo, CtInfo::Related);
  EXPECT_EQ(run(segment("tcp 192.0.2.2:40001 > 198.51.100.10:20 flags SA seq 7000 ack 1001", {})).ctinfo,
            CtInfo::EstablishedReply);

  // conntrack -L names the helper of the control connection only.
  std::vector<View> list = table.dump(now);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].helper, Helper::Ftp);
  EXPECT_EQ(list[1].helper, Helper::None);
}

TEST_F(FtpHelperTest, PassiveRepliesExpectTheClient) {
  control();
  from_client("PA", "PASV\r\n");
  EXPECT_EQ(from_server("PA", "227 Entering Passive Mode (198,51,100,10,195,80).\r\n").verdict, Verdict::Accept);
  ASSERT_EQ(table.expectations().size(), 1u);
  EXPECT_EQ(table.expectations()[0].tuple.src, kClient);
  EXPECT_EQ(table.expectations()[0].tuple.dst, kServer);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 195 * 256 + 80);
  // RFC 1123: no parentheses, the numbers start at the first digit.
  from_client("PA", "PASV\r\n");
  from_server("PA", "227 =198,51,100,10,195,81\r\n");
  ASSERT_EQ(table.expectations().size(), 1u);  // max_expected 1: the newer replaced it
  EXPECT_EQ(table.expectations()[0].tuple.dport, 195 * 256 + 81);
  // EPSV.
  from_client("PA", "EPSV\r\n");
  from_server("PA", "229 Entering Extended Passive Mode (|||6446|)\r\n");
  ASSERT_EQ(table.expectations().size(), 1u);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 6446);
  EXPECT_EQ(table.expectations()[0].tuple.dst, kServer);
  Seen data = run(segment("tcp 192.0.2.2:33000 > 198.51.100.10:6446 flags S", {}));
  EXPECT_EQ(data.ctinfo, CtInfo::Related);
}

TEST_F(FtpHelperTest, EprtAndCaseInsensitiveCommands) {
  control();
  from_client("PA", "eprt |1|192.0.2.2|6275|\r\n");
  ASSERT_EQ(table.expectations().size(), 1u);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 6275);
  EXPECT_EQ(table.expectations()[0].tuple.src, kServer);
}

TEST_F(FtpHelperTest, OnlyLinesStartingASegmentAfterALineEndAreRead) {
  from_client("S");
  from_server("SA");
  from_client("A");
  // The first data each way only teaches where the next line starts.
  from_client("PA", "PORT 192,0,2,2,156,65\r\n");
  EXPECT_TRUE(table.expectations().empty());
  // A segment that does not end a line leaves the next one unread.
  from_client("PA", "NOOP");
  from_client("PA", "\r\nPORT 192,0,2,2,156,66\r\n");
  EXPECT_TRUE(table.expectations().empty());
}

TEST_F(FtpHelperTest, APartialCommandIsDroppedAndAThirdPartyAddressIgnored) {
  control();
  Seen s = from_client("PA", "PORT 192,0,2,2,156");
  EXPECT_EQ(s.verdict, Verdict::Drop);
  EXPECT_EQ(s.reason, "nf_ct_ftp: dropping packet: partial matching of `PORT'");
  cseq -= 18;  // dropped: the client sends it again, whole
  from_client("PA", "PORT 203,0,113,9,156,65\r\n");
  EXPECT_TRUE(table.expectations().empty());  // not the client's address (loose=0)
  // A command cut inside its name is partial too.
  EXPECT_EQ(from_client("PA", "POR").verdict, Verdict::Drop);
  cseq -= 3;
  // Numbers that do not read are as bad.
  EXPECT_EQ(from_client("PA", "PORT x\r\n").verdict, Verdict::Drop);
}

TEST_F(FtpHelperTest, ExpectationsDieWithTheirMasterAndAfterFiveMinutes) {
  const Entry* ctl = control();
  from_client("PA", "PORT 192,0,2,2,156,65\r\n");
  ASSERT_EQ(table.expectations().size(), 1u);
  from_server("A");  // else the control connection times out unacknowledged (300 s)
  now += 301 * kSec;
  Seen late = run(segment("tcp 198.51.100.10:20 > 192.0.2.2:40001 flags S", {}));
  EXPECT_EQ(late.ctinfo, CtInfo::New);
  EXPECT_TRUE(table.expectations().empty());

  Seen s = from_client("PA", "PORT 192,0,2,2,156,67\r\n");
  EXPECT_EQ(s.ctinfo, CtInfo::Established) << s.reason;
  ASSERT_EQ(table.expectations().size(), 1u);
  table.kill(const_cast<Entry*>(ctl), now);
  EXPECT_TRUE(table.expectations().empty());
}

TEST_F(FtpHelperTest, TheDataConnectionTakesTheMastersMark) {
  const Entry* ctl = control();
  table.set_mark(const_cast<Entry*>(ctl), 7);
  from_client("PA", "PORT 192,0,2,2,156,65\r\n");
  Seen data = run(segment("tcp 198.51.100.10:20 > 192.0.2.2:40001 flags S", {}));
  ASSERT_NE(data.ct, nullptr);
  EXPECT_EQ(data.ct->mark, 7u);
  // A SYN from elsewhere is not the expected connection.
  from_client("PA", "PORT 192,0,2,2,156,66\r\n");
  EXPECT_EQ(run(segment("tcp 203.0.113.5:20 > 192.0.2.2:40002 flags S", {})).ctinfo, CtInfo::New);
}

TEST_F(FtpHelperTest, TheHelperNameSurvivesIntoEventsButNotDestroy) {
  from_client("S");
  std::vector<Event> ev = table.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].view.helper, Helper::Ftp);
  const Entry* ctl = table.find(Tuple{kClient, kServer, 40000, 21, 6}, Zone{});
  ASSERT_NE(ctl, nullptr);
  table.kill(const_cast<Entry*>(ctl), now);
  ev = table.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::Destroy);
  EXPECT_EQ(ev[0].view.helper, Helper::None);
}

TEST(HelperNames, FtpAndIrcOverTcpAndTftpOverUdp) {
  EXPECT_EQ(helper_by_name("ftp", 6), Helper::Ftp);
  EXPECT_EQ(helper_by_name("ftp", 17), Helper::None);
  EXPECT_EQ(helper_by_name("tftp", 17), Helper::Tftp);
  EXPECT_EQ(helper_by_name("tftp", 6), Helper::None);
  EXPECT_EQ(helper_by_name("irc", 6), Helper::Irc);
  EXPECT_EQ(helper_by_name("irc", 17), Helper::None);
  EXPECT_EQ(helper_by_name("sip", 17), Helper::None);
  EXPECT_EQ(helper_by_name("sane", 6), Helper::Sane);
  EXPECT_EQ(helper_by_name("sane", 17), Helper::None);
  EXPECT_EQ(to_string(Helper::Sane), "sane");
  EXPECT_EQ(helper_by_name("amanda", 17), Helper::Amanda);
  EXPECT_EQ(helper_by_name("amanda", 6), Helper::None);
  EXPECT_EQ(to_string(Helper::Amanda), "amanda");
  EXPECT_EQ(expect_policy(Helper::Amanda).max_expected, 4u);
  EXPECT_EQ(expect_policy(Helper::Amanda).timeout_s, 180u);
  EXPECT_EQ(to_string(Helper::Irc), "irc");
  EXPECT_EQ(to_string(Helper::Ftp), "ftp");
  EXPECT_EQ(to_string(Helper::Tftp), "tftp");
}

// A datagram (or a segment without payload) through PREROUTING's conntrack
// and confirmation; `tmpl` (a CT --helper template, or null) as raw would
// attach it. `text` is the UDP payload. Returns the packet's ctinfo.
CtInfo through_conntrack(Table& table, Entry* tmpl, std::string_view spec, std::string_view text, uint64_t now) {
  auto p = packet::parse_packet(std::string(spec) + " payload " + std::to_string(text.size()));
  EXPECT_TRUE(p) << spec;
  packet::Ipv4View ip = p->ip();
  if (!text.empty()) std::memcpy(ip.payload().data() + 8, text.data(), text.size());
  packet::fill_checksums(ip);
  if (tmpl) {
    p->meta.ct = tmpl;
    p->meta.ctinfo = CtInfo::New;
  }
  table.in(*p, packet::Hook::PreRouting, Zone{}, now);
  CtInfo ci = p->meta.ctinfo;
  table.confirm(*p, now);
  table.put(*p);
  return ci;
}

TEST(TftpHelper, ARequestExpectsTheAnswerFromAnyServerPort) {
  Table table;
  uint64_t now = 1000 * kSec;
  auto tmpl = make_template(Zone{}, kAllEvents, Helper::Tftp);
  auto send = [&](std::string_view spec, std::string_view text, bool with_tmpl) {
    return through_conntrack(table, with_tmpl ? tmpl.get() : nullptr, spec, text, now);
  };
  using namespace std::string_view_literals;
  // A DATA packet to port 69 opens nothing; a read request does, at once.
  send("udp 192.0.2.2:3000 > 198.51.100.10:69", "\0\3\0\1x"sv, true);
  EXPECT_TRUE(table.expectations().empty());
  send("udp 192.0.2.2:3001 > 198.51.100.10:69", "\0\1f\0octet\0"sv, true);
  ASSERT_EQ(table.expectations().size(), 1u);
  EXPECT_EQ(table.expectations()[0].tuple.src, kServer);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 3001);
  EXPECT_EQ(send("udp 198.51.100.10:50000 > 192.0.2.2:3001", "\0\3\0\1x"sv, false), CtInfo::Related);
  EXPECT_EQ(send("udp 192.0.2.2:3001 > 198.51.100.10:50000", "\0\4\0\1"sv, false), CtInfo::EstablishedReply);
}

// The SANE helper (nf_conntrack_sane.c) on the same kind of connection:
// the server's successful answer to SANE_NET_START expects the client.
class SaneHelperTest : public FtpHelperTest {
 protected:
  SaneHelperTest() { tmpl = make_template(Zone{}, kAllEvents, Helper::Sane); }
  static std::string words(uint32_t a, uint32_t b) {
    std::string s(8, '\0');
    for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>(a >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) s[static_cast<size_t>(4 + i)] = static_cast<char>(b >> (24 - 8 * i));
    return s;
  }
  CtInfo connect_to(uint16_t port) {
    return run(segment("tcp 192.0.2.2:41000 > 198.51.100.10:" + std::to_string(port) + " flags S", {})).ctinfo;
  }
};

TEST_F(SaneHelperTest, OnlyASuccessfulAnswerToNetStartExpectsTheDataConnection) {
  from_client("S");
  from_server("SA");
  from_client("A");
  // Not SANE_NET_START (7), not 8 bytes, a failed status, a half-word
  // that is not zero: nothing expected.
  from_client("PA", words(2, 1));
  from_server("PA", words(0, 7000));
  from_client("PA", words(7, 1) + "x");
  from_server("PA", words(0, 7000));
  from_client("PA", words(7, 1));
  from_server("PA", words(1, 7000));
  from_client("PA", words(7, 1));
  from_server("PA", words(0, 0x10000 | 7000));
  EXPECT_TRUE(table.expectations().empty());
  // The reply may be longer than the 8 bytes read.
  from_client("PA", words(7, 1));
  EXPECT_EQ(from_server("PA", words(0, 7003) + "more").verdict, Verdict::Accept);
  ASSERT_EQ(table.expectations().size(), 1u);
  const Expectation& e = table.expectations()[0];
  EXPECT_EQ(e.tuple.src, kClient);
  EXPECT_EQ(e.tuple.dst, kServer);
  EXPECT_EQ(e.tuple.dport, 7003);
  EXPECT_TRUE(e.any_sport);
  EXPECT_FALSE(e.any_src);
  // One answer, one expectation: a second reply is not read.
  from_server("PA", words(0, 7004));
  EXPECT_EQ(table.expectations().size(), 1u);
  EXPECT_EQ(connect_to(7004), CtInfo::New);
  EXPECT_EQ(connect_to(7003), CtInfo::Related);
}

TEST(AmandaHelper, TheClientsConnectLineExpectsTheServersConnections) {
  Table table;
  uint64_t now = 1000 * kSec;
  auto tmpl = make_template(Zone{}, kAllEvents, Helper::Amanda);
  // Every packet gets the template, as a rule without a port would give it.
  auto send = [&](std::string_view spec, std::string_view text) {
    return through_conntrack(table, tmpl.get(), spec, text, now);
  };
  // The server's request is not read, even with a CONNECT line in it.
  send("udp 198.51.100.10:850 > 192.0.2.2:10080", "CONNECT DATA 5000\n");
  EXPECT_TRUE(table.expectations().empty());
  // The client's answer: each keyword's number, within the line.
  send("udp 192.0.2.2:10080 > 198.51.100.10:850", "REP\nCONNECT DATA 07000 MESG 7001 INDEX 99999\nINDEX 7003\n");
  ASSERT_EQ(table.expectations().size(), 3u);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 7000);
  EXPECT_EQ(table.expectations()[1].tuple.dport, 7001);
  EXPECT_EQ(table.expectations()[2].tuple.dport, 99999 - 65536);
  EXPECT_EQ(table.expectations()[0].tuple.src, kServer);
  EXPECT_EQ(table.expectations()[0].tuple.dst, kClient);
  // Port 0 ends the search; so does a line without its newline.
  send("udp 192.0.2.2:10080 > 198.51.100.10:850", "CONNECT DATA 0 MESG 7005\n");
  send("udp 192.0.2.2:10080 > 198.51.100.10:850", "CONNECT DATA 7006");
  EXPECT_EQ(table.expectations().size(), 3u);
  // The server's connection to one of them is RELATED.
  EXPECT_EQ(send("tcp 198.51.100.10:900 > 192.0.2.2:7001 flags S", ""), CtInfo::Related);
  // The others live 180 s (amanda_exp_policy), not the 300 s of FTP's:
  // gone at the deadline's jiffy.
  now += 179 * kSec;
  EXPECT_EQ(send("tcp 198.51.100.10:901 > 192.0.2.2:7000 flags S", ""), CtInfo::Related);
  now += kSec;
  EXPECT_EQ(send("tcp 198.51.100.10:902 > 192.0.2.2:34463 flags S", ""), CtInfo::New);
}

// The IRC helper (nf_conntrack_irc.c) on the same kind of connection:
// the client's DCC offers, read once ESTABLISHED.
class IrcHelperTest : public FtpHelperTest {
 protected:
  IrcHelperTest() { tmpl = make_template(Zone{}, kAllEvents, Helper::Irc); }
  const Entry* session() {
    from_client("S");
    from_server("SA");
    return from_client("A").ct;
  }
  // A connection to `port` of the client from some host the offer was for.
  CtInfo connect_to(uint16_t port, std::string_view from = "203.0.113.99:1234") {
    return run(segment("tcp " + std::string(from) + " > 192.0.2.2:" + std::to_string(port) + " flags S", {})).ctinfo;
  }
};

TEST_F(IrcHelperTest, ADccOfferExpectsAConnectionFromAnywhere) {
  const Entry* irc = session();
  ASSERT_NE(irc, nullptr);
  EXPECT_EQ(irc->helper, Helper::Irc);
  // 192.0.2.2 as IRC writes addresses: one decimal number.
  EXPECT_EQ(from_client("PA", "PRIVMSG bob :\1DCC SEND notes.txt 3221225986 5000 1024\1\r\n").verdict,
            Verdict::Accept);
  ASSERT_EQ(table.expectations().size(), 1u);
  const Expectation& e = table.expectations()[0];
  EXPECT_TRUE(e.any_src);
  EXPECT_TRUE(e.any_sport);
  EXPECT_EQ(e.tuple.dst, kClient);
  EXPECT_EQ(e.tuple.dport, 5000);
  EXPECT_EQ(connect_to(5000), CtInfo::Related);
  EXPECT_TRUE(table.expectations().empty());
}

TEST_F(IrcHelperTest, OnlyAPrivmsgWhoseTextIsADccRequestIsRead) {
  session();
  // The server's lines are not read, nor a NOTICE, nor a PRIVMSG whose
  // text is not a DCC request (the offer later in it included), nor an
  // offer without a line end, of a third party's address or of port 0.
  from_server("PA", "PRIVMSG al :\1DCC SEND f 3221225986 5001 1\1\r\n");
  from_client("PA", "NOTICE bob :\1DCC SEND f 3221225986 5002 1\1\r\n");
  from_client("PA", "PRIVMSG bob :hello \1DCC SEND f 3221225986 5003 1\1\r\n");
  from_client("PA", "PRIVMSG bob :\1DCC SEND f 3221225986 5004 1\1");
  from_client("PA", "PRIVMSG bob :\1DCC CHAT chat 3221225987 5005\1\r\n");
  from_client("PA", "PRIVMSG bob :\1DCC CHAT chat 3221225986 0\1\r\n");
  EXPECT_TRUE(table.expectations().empty());
  // Any case, after blanks and line ends; CHAT, MOVE, TSEND, SCHAT too.
  from_client("PA", "\r\n privmsg bob :\1DCC CHAT chat 3221225986 5006\1\r\n");
  from_client("PA", "PRIVMSG bob :\1DCC SCHAT chat 3221225986 5007\1\r\n");
  ASSERT_EQ(table.expectations().size(), 2u);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 5006);
  EXPECT_EQ(table.expectations()[1].tuple.dport, 5007);
  // simple_strtoul's numbers wrap: 2^32 + 192.0.2.2, and port 70000.
  from_client("PA", "PRIVMSG bob :\1DCC SEND f 7516193282 70000 1\1\r\n");
  ASSERT_EQ(table.expectations().size(), 3u);
  EXPECT_EQ(table.expectations()[2].tuple.dport, 70000 - 65536);
}

TEST_F(IrcHelperTest, AConnectionHasAtMostEightOffersOpen) {
  session();
  for (int port = 6001; port <= 6009; ++port)
    from_client("PA", "PRIVMSG bob :\1DCC SEND f 3221225986 " + std::to_string(port) + " 1\1\r\n");
  // max_dcc_channels: the ninth evicts the oldest.
  ASSERT_EQ(table.expectations().size(), 8u);
  EXPECT_EQ(table.expectations()[0].tuple.dport, 6002);
  EXPECT_EQ(connect_to(6001), CtInfo::New);
  EXPECT_EQ(connect_to(6009, "198.18.0.1:999"), CtInfo::Related);
}

}  // namespace
}  // namespace nfemu::conntrack

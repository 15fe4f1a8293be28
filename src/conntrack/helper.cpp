// Conntrack helpers and expectations: nf_conntrack_helper.c (attaching a
// helper), nf_conntrack_expect.c (the expectation table),
// nf_conntrack_ftp.c (the FTP helper), nf_conntrack_irc.c (IRC's DCC
// offers) and nf_conntrack_tftp.c (TFTP's), for IPv4 on Linux 6.x.
//
// What a helper changes that rulesets see: the connection a helper
// expects is RELATED (ctstate) and EXPECTED (ctstatus) to its master, its
// first packets walk the rules as such, it inherits the master's mark;
// `-m helper` matches it by its master's helper; `conntrack -L` and
// NEW/UPDATE events print `helper=ftp` on the master. A command line the
// helper cannot finish reading (a "partial" match) is dropped.
//
// A master with NAT has its command rewritten by the NAT module's
// nf_nat_ftp or nf_nat_irc (src/nat/helpers.cpp, through the hooks
// Table::set_nat_*_hook sets), which then makes later segments' sequence
// numbers shift (seqadj, below). Module parameters are the defaults: FTP's
// `loose` off, IRC's max_dcc_channels 8 and dcc_timeout 300 s.
#include <algorithm>

#include "conntrack/conntrack.h"

namespace nfemu::conntrack {
using namespace packet;
namespace {

inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool after(uint32_t a, uint32_t b) { return before(b, a); }
inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
inline uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// strncasecmp(data, pattern, n) == 0, pattern being at least n long.
bool starts_with_nocase(std::span<const uint8_t> data, std::string_view pattern, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint8_t a = lower(data[i]), b = lower(static_cast<uint8_t>(pattern[i]));
    if (a != b) return false;
    if (a == 0) return true;
  }
  return true;
}

// The command as the helper reads it (struct nf_conntrack_man).
struct FtpCmd {
  uint32_t addr = 0;  // host order
  uint16_t port = 0;
};

// try_number: `size` numbers separated by sep, ended by term (any
// character when term is 0) once the last has begun; the count of
// characters read, 0 when the text is not that. Numbers wrap as u32.
size_t try_number(std::span<const uint8_t> d, uint32_t* out, size_t size, uint8_t sep, uint8_t term) {
  std::fill(out, out + size, 0u);
  size_t i = 0;
  for (size_t len = 0; len < d.size() && i < size; ++len) {
    uint8_t c = d[len];
    if (is_digit(c)) {
      out[i] = out[i] * 10 + (c - '0');
    } else if (c == sep) {
      ++i;
    } else {
      if ((c == term || term == 0) && i == size - 1) return len;
      return 0;
    }
  }
  return 0;
}

// try_rfc959: h1,h2,h3,h4,p1,p2. As the kernel, numbers over 255 are
// shifted into their neighbours rather than refused.
size_t try_rfc959(std::span<const uint8_t> d, FtpCmd* cmd, uint8_t term, size_t*) {
  uint32_t a[6];
  size_t length = try_number(d, a, 6, ',', term);
  if (length == 0) return 0;
  cmd->addr = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3];
  cmd->port = static_cast<uint16_t>((a[4] << 8) | a[5]);
  return length;
}

// try_rfc1123: a 227 reply's numbers start at its first digit.
size_t try_rfc1123(std::span<const uint8_t> d, FtpCmd* cmd, uint8_t, size_t* offset) {
  size_t i = 0;
  while (i < d.size() && !is_digit(d[i])) ++i;
  if (i == d.size()) return 0;
  *offset += i;
  return try_rfc959(d.subspan(i), cmd, 0, offset);
}

// get_port: digits up to delim (a u16 that wraps); the index after delim,
// 0 when the port is 0 or something else comes first.
size_t get_port(std::span<const uint8_t> d, size_t start, uint8_t delim, uint16_t* port) {
  uint16_t tmp = 0;
  for (size_t i = start; i < d.size(); ++i) {
    if (d[i] == delim) {
      if (tmp == 0) break;
      *port = tmp;
      return i + 1;
    }
    if (!is_digit(d[i])) break;
    tmp = static_cast<uint16_t>(tmp * 10 + (d[i] - '0'));
  }
  return 0;
}

// The kernel's delimiter test: a printable, non-digit character. `char`
// is signed there, so bytes over 126 fail as "< 33".
bool bad_delim(uint8_t c) { return is_digit(c) || c < 33 || c > 126; }

// try_eprt: |1|a.b.c.d|port| (IPv4 only: this table is IPv4).
size_t try_eprt(std::span<const uint8_t> d, FtpCmd* cmd, uint8_t, size_t*) {
  if (d.size() <= 3) return 0;
  uint8_t delim = d[0];
  if (bad_delim(delim) || d[2] != delim) return 0;
  if (d[1] != '1') return 0;
  uint32_t a[4];
  size_t length = try_number(d.subspan(3), a, 4, '.', delim);
  if (length == 0) return 0;
  cmd->addr = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3];
  return get_port(d, 3 + length + 1, delim, &cmd->port);
}

// try_epsv_response: (|||port|).
size_t try_epsv_response(std::span<const uint8_t> d, FtpCmd* cmd, uint8_t, size_t*) {
  if (d.size() <= 3) return 0;
  uint8_t delim = d[0];
  if (bad_delim(delim) || d[1] != delim || d[2] != delim) return 0;
  return get_port(d, 3, delim, &cmd->port);
}

struct FtpSearch {
  std::string_view pattern;
  uint8_t skip;
  uint8_t term;
  FtpType type;
  size_t (*getnum)(std::span<const uint8_t>, FtpCmd*, uint8_t, size_t*);
};

// nf_conntrack_ftp's search[]: commands from the client, replies from the
// server.
constexpr FtpSearch kSearch[2][2] = {
    {{"PORT", ' ', '\r', FtpType::Port, try_rfc959}, {"EPRT", ' ', '\r', FtpType::Eprt, try_eprt}},
    {{"227 ", 0, 0, FtpType::Pasv, try_rfc1123}, {"229 ", '(', ')', FtpType::Epsv, try_epsv_response}},
};

// find_pattern: 1 when the packet starts with the pattern and its numbers
// read (where they are in *m), 0 when it does not start with the pattern,
// -1 when it starts with it (or with the beginning of it) but the rest
// cannot be read.
int find_pattern(std::span<const uint8_t> d, const FtpSearch& s, FtpCmd* cmd, FtpMatch* m) {
  size_t plen = s.pattern.size();
  if (d.size() <= plen) return starts_with_nocase(d, s.pattern, d.size()) ? -1 : 0;
  if (!starts_with_nocase(d, s.pattern, plen)) return 0;
  size_t i = plen;
  if (s.skip) {
    for (i = plen; d[i] != s.skip; ++i)
      if (i == d.size() - 1) return -1;
    ++i;
  }
  m->type = s.type;
  m->matchoff = i;
  m->matchlen = s.getnum(d.subspan(i), cmd, s.term, &m->matchoff);
  return m->matchlen ? 1 : -1;
}

}  // namespace

std::string_view to_string(Helper h) {
  switch (h) {
    case Helper::Ftp: return "ftp";
    case Helper::Tftp: return "tftp";
    case Helper::Irc: return "irc";
    case Helper::Sane: return "sane";
    case Helper::Amanda: return "amanda";
    case Helper::None: break;
  }
  return {};
}

Helper helper_by_name(std::string_view name, uint8_t proto) {
  if (name == "ftp" && proto == kIpProtoTcp) return Helper::Ftp;
  if (name == "tftp" && proto == kIpProtoUdp) return Helper::Tftp;
  if (name == "irc" && proto == kIpProtoTcp) return Helper::Irc;
  if (name == "sane" && proto == kIpProtoTcp) return Helper::Sane;
  if (name == "amanda" && proto == kIpProtoUdp) return Helper::Amanda;
  return Helper::None;
}

ExpectPolicy expect_policy(Helper h) {
  // IRC: max_dcc_channels 8, dcc_timeout 300; the others one at a time.
  if (h == Helper::Irc) return {.max_expected = 8, .timeout_s = 300};
  // Amanda: 4 (3 before Linux 6.x's change; measured on 6.18: a fifth
  // evicts the oldest).
  if (h == Helper::Amanda) return {.max_expected = 4, .timeout_s = 180};
  return {.max_expected = 1, .timeout_s = 300};
}

// ------------------------------------------------------------ expectations

void Table::expire_expectations(uint64_t now) {
  // nf_ct_expectation_timed_out, lazily: nothing reads the table between
  // a deadline and the next look at it.
  std::erase_if(expects_, [now](const Expectation& e) {
    return static_cast<int32_t>(static_cast<uint32_t>(e.timeout - now)) <= 0;
  });
}

void Table::remove_expectations(const Entry* master) {
  std::erase_if(expects_, [master](const Expectation& e) { return e.master == master; });
}

Table::ExpectResult Table::expect_related(const Expectation& e, uint64_t now) {
  expire_expectations(now);
  // __nf_ct_expect_check. The masks differ only in the source: its
  // address (any for IRC's DCC) and port (any for every helper here).
  // expect_matches: the same tuple and mask; expect_clash: the same tuple
  // where both masks look.
  auto matches = [&](const Expectation& x) {
    return x.tuple.dst == e.tuple.dst && x.tuple.dport == e.tuple.dport && x.tuple.proto == e.tuple.proto &&
           x.any_src == e.any_src && (x.any_src || x.tuple.src == e.tuple.src) && x.any_sport == e.any_sport &&
           (x.any_sport || x.tuple.sport == e.tuple.sport) && x.master->zone.id == e.master->zone.id;
  };
  auto clash = [&](const Expectation& x) {
    return x.tuple.dst == e.tuple.dst && x.tuple.dport == e.tuple.dport && x.tuple.proto == e.tuple.proto &&
           (x.any_src || e.any_src || x.tuple.src == e.tuple.src) &&
           (x.any_sport || e.any_sport || x.tuple.sport == e.tuple.sport) && x.master->zone.id == e.master->zone.id;
  };
  for (size_t i = 0; i < expects_.size(); ++i) {
    if (expects_[i].master == e.master && matches(expects_[i])) {
      expects_.erase(expects_.begin() + static_cast<std::ptrdiff_t>(i));  // replaced by the new one
      break;
    }
    if (clash(expects_[i])) return ExpectResult::Busy;
  }
  // The helper's policy: evict_oldest_expect makes room.
  const ExpectPolicy policy = expect_policy(e.helper);
  const size_t max_expected = policy.max_expected;
  size_t mine = 0, oldest = expects_.size();
  for (size_t i = 0; i < expects_.size(); ++i) {
    if (expects_[i].master != e.master) continue;
    if (mine++ == 0) oldest = i;
  }
  if (mine >= max_expected) expects_.erase(expects_.begin() + static_cast<std::ptrdiff_t>(oldest));
  // "nf_conntrack: expectation table full" (-EMFILE).
  if (expects_.size() >= kExpectMax) return ExpectResult::Refused;
  Expectation& x = expects_.emplace_back(e);
  x.timeout = now + policy.timeout_s * kHz;
  x.seq = next_expect_seq_++;
  return ExpectResult::Ok;
}

void Table::unexpect_related(const Expectation& e) {
  std::erase_if(expects_, [&](const Expectation& x) {
    return x.master == e.master && x.tuple == e.tuple && x.any_sport == e.any_sport && x.any_src == e.any_src;
  });
}

bool Table::find_expectation(const Tuple& t, Zone zone, bool unlink, uint64_t now, Expectation* out) {
  expire_expectations(now);
  for (size_t i = 0; i < expects_.size(); ++i) {
    const Expectation& e = expects_[i];
    // nf_ct_tuple_mask_cmp, and nf_ct_zone_equal_any(master, zone).
    if (e.tuple.proto != t.proto || (!e.any_src && e.tuple.src != t.src) || e.tuple.dst != t.dst ||
        e.tuple.dport != t.dport ||
        (!e.any_sport && e.tuple.sport != t.sport) || e.master->zone.id != zone.id)
      continue;
    // A master not yet confirmed cannot have been heard of; a dying one
    // is not followed.
    if (!e.master->confirmed() || e.master->dying()) return false;
    *out = e;
    if (unlink) expects_.erase(expects_.begin() + static_cast<std::ptrdiff_t>(i));
    return true;
  }
  return false;
}

void Table::init_helper(Entry* ct, const Tuple& t, Zone zone, const Entry* tmpl, uint64_t now) {
  Expectation exp;
  // An xt_CT template is confirmed (nf_ct_tmpl_alloc's caller sets it), so
  // the expectation is always taken out of the table.
  if (!expects_.empty() && find_expectation(t, zone, true, now, &exp)) {
    ct->status |= status::kExpected;
    ct->master = exp.master;
    ++exp.master->use;  // the child holds its master
    ct->mark = exp.master->mark;
    // FTP's expectations carry no helper for the connection they expect.
    if (exp.expectfn) exp.expectfn(*this, ct, exp);
    return;
  }
  if (tmpl && tmpl->helper != Helper::None) {
    // __nf_ct_try_assign_helper: attached from the ruleset.
    ct->helper = tmpl->helper;
    ct->status |= status::kHelper;
    help_[ct] = HelpExt{};
  }
}

void Table::free_helper(Entry* ct) {
  if (ct->helper != Helper::None) {
    remove_expectations(ct);
    help_.erase(ct);
    ct->helper = Helper::None;
  }
  if (Entry* m = ct->master) {
    ct->master = nullptr;
    put(m);
  }
}

// ------------------------------------------------------------------- FTP

Verdict Table::ftp_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info) {
  // Until there has been traffic both ways, packets are not looked in.
  if (ctinfo != CtInfo::Established && ctinfo != CtInfo::EstablishedReply) return Verdict::Accept;
  ConstIpv4View ip = std::as_const(pkt).ip();
  std::span<const uint8_t> l4 = ip.payload();
  if (ip.frag_offset() != 0 || l4.size() < kTcpMinHeader) return Verdict::Accept;
  size_t dataoff = static_cast<size_t>(l4[12] >> 4) * 4;
  if (dataoff >= l4.size()) return Verdict::Accept;  // no data
  std::span<const uint8_t> data = l4.subspan(dataoff);
  const Dir dir = ctinfo == CtInfo::EstablishedReply ? kReply : kOriginal;
  FtpInfo& fi = help_[ct].ftp;
  const uint32_t th_seq = ConstTcpView(l4).seq();
  const bool ends_in_nl = data.back() == '\n';
  const uint32_t seq = th_seq + static_cast<uint32_t>(data.size());

  auto update_nl = [&] {
    // update_nl_seq: the two newest line starts are kept.
    if (!ends_in_nl) return;
    uint8_t& num = fi.seq_aft_nl_num[dir];
    for (uint8_t i = 0; i < num; ++i)
      if (fi.seq_aft_nl[dir][i] == seq) return;
    if (num < 2) {
      fi.seq_aft_nl[dir][num++] = seq;
    } else {
      int oldest = before(fi.seq_aft_nl[dir][0], fi.seq_aft_nl[dir][1]) ? 0 : 1;
      if (after(seq, fi.seq_aft_nl[dir][oldest])) fi.seq_aft_nl[dir][oldest] = seq;
    }
  };

  // Only a segment that starts a line is read.
  bool at_line_start = false;
  for (uint8_t i = 0; i < fi.seq_aft_nl_num[dir]; ++i) at_line_start = at_line_start || fi.seq_aft_nl[dir][i] == th_seq;
  if (!at_line_start) {
    update_nl();
    return Verdict::Accept;
  }

  // EPSV's reply names no address: the server's is meant.
  FtpCmd cmd{ct->tuple[dir].src, 0};
  FtpMatch match;
  int found = 0;
  size_t which = 0;
  for (; which < 2; ++which) {
    found = find_pattern(data, kSearch[dir][which], &cmd, &match);
    if (found) break;
  }
  if (found == -1) {
    // Tracking needs the whole command: the segment is dropped.
    if (info) {
      info->log = true;
      info->reason = dir == kOriginal ? (which == 0 ? "nf_ct_ftp: dropping packet: partial matching of `PORT'"
                                                    : "nf_ct_ftp: dropping packet: partial matching of `EPRT'")
                                      : (which == 0 ? "nf_ct_ftp: dropping packet: partial matching of `227 '"
                                                    : "nf_ct_ftp: dropping packet: partial matching of `229 '");
    }
    return Verdict::Drop;
  }
  if (found == 0) {
    update_nl();
    return Verdict::Accept;
  }

  Verdict v = Verdict::Accept;
  // An address other than the sender's is not followed (loose=0): a host
  // must not open holes towards third parties.
  if (cmd.addr == ct->tuple[dir].src) {
    Expectation e;
    // The other direction's tuple: the connection comes from the peer.
    e.tuple.src = ct->tuple[!dir].src;
    e.tuple.dst = ct->tuple[!dir].dst;
    e.tuple.dport = cmd.port;
    e.tuple.proto = kIpProtoTcp;
    e.any_sport = true;
    e.helper = ct->helper;
    e.master = ct;
    if (nat_ftp_ && (ct->status & status::kNatMask)) {
      // nf_nat_ftp registers the expectation and rewrites the command.
      v = nat_ftp_(*this, pkt, ctinfo, match, e, now, info);
    } else if (expect_related(e, now) != ExpectResult::Ok) {
      if (info) {
        info->reason = "nf_ct_ftp: dropping packet: cannot add expectation";
        info->log = true;
      }
      v = Verdict::Drop;
    }
  }
  update_nl();
  return v;
}

}  // namespace nfemu::conntrack

namespace nfemu::conntrack {

// ------------------------------------------------------------------ TFTP

Verdict Table::tftp_help(const Packet& pkt, Entry* ct, uint64_t now, ConfirmInfo* info) {
  // Every packet of the connection, the first (NEW) included: the request
  // opens it, the answer comes from another port of the server.
  ConstIpv4View ip = pkt.ip();
  std::span<const uint8_t> l4 = ip.payload();
  if (ip.frag_offset() != 0 || l4.size() < kUdpHeader + 2) return Verdict::Accept;
  const uint16_t opcode = load16(l4.data() + kUdpHeader);
  if (opcode != 1 && opcode != 2) return Verdict::Accept;  // only RRQ and WRQ
  const Tuple& reply = ct->tuple[kReply];
  Expectation e;
  e.tuple.src = reply.src;
  e.tuple.dst = reply.dst;
  e.tuple.dport = reply.dport;
  e.tuple.proto = kIpProtoUdp;
  e.any_sport = true;
  e.helper = ct->helper;
  e.master = ct;
  if (nat_tftp_ && (ct->status & status::kNatMask)) return nat_tftp_(*this, e, now, info);
  if (expect_related(e, now) != ExpectResult::Ok) {
    if (info) {
      info->reason = "nf_ct_tftp: dropping packet: cannot add expectation";
      info->log = true;
    }
    return Verdict::Drop;
  }
  return Verdict::Accept;
}

// ------------------------------------------------------------------- IRC

namespace {
// parse_dcc: after a DCC type, a word (file name, "chat"), then
// "ADDRESS PORT" as decimal numbers, a newline somewhere after them.
// [*beg, *end) is what nf_nat_irc rewrites. The kernel's numbers are
// simple_strtoul's: they wrap, and the address and port are truncated to
// 32 and 16 bits.
bool parse_dcc(std::span<const uint8_t> d, size_t i, uint32_t* ip, uint16_t* port, size_t* beg, size_t* end) {
  const size_t n = d.size();
  // At least "AAAAAAAA P\1\n" after the word's blank.
  while (d[i++] != ' ')
    if (i + 12 > n) return false;
  // A newline in the packet (the kernel also reads the byte past its end,
  // which nfemu takes for not one).
  size_t nl = i;
  while (nl < n && d[nl] != '\n') ++nl;
  if (nl == n) return false;
  auto number = [&](uint64_t* v) {
    *v = 0;
    while (i < n && is_digit(d[i])) *v = *v * 10 + (d[i++] - '0');
  };
  *beg = i;
  uint64_t v;
  number(&v);
  *ip = static_cast<uint32_t>(v);
  while (i < n && d[i] == ' ') ++i;  // the newline ends this before the packet does
  number(&v);
  *port = static_cast<uint16_t>(v);
  *end = i;
  return true;
}
}  // namespace

Verdict Table::irc_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info) {
  // Only what the client sends to the server, once there has been traffic
  // both ways.
  if (ctinfo != CtInfo::Established) return Verdict::Accept;
  ConstIpv4View ip = std::as_const(pkt).ip();
  std::span<const uint8_t> l4 = ip.payload();
  if (ip.frag_offset() != 0 || l4.size() < kTcpMinHeader) return Verdict::Accept;
  const size_t dataoff = static_cast<size_t>(l4[12] >> 4) * 4;
  if (dataoff >= l4.size()) return Verdict::Accept;
  // MAX_SEARCH_SIZE: the first 4095 bytes of the payload.
  const std::span<const uint8_t> d = l4.subspan(dataoff, std::min<size_t>(l4.size() - dataoff, 4095));
  const auto n = static_cast<std::ptrdiff_t>(d.size());
  std::ptrdiff_t i = 0;
  // A message, after blanks and line ends: "PRIVMSG " (in any case) unless
  // there are at most 10 bytes left.
  while (i < n - 10 && (d[i] == ' ' || d[i] == '\r' || d[i] == '\n')) ++i;
  if (i < n - 10) {
    if (!starts_with_nocase(d.subspan(static_cast<size_t>(i)), "PRIVMSG ", 8)) return Verdict::Accept;
    i += 8;
  }
  auto at = [&](std::ptrdiff_t k, std::string_view text) {
    return std::equal(text.begin(), text.end(), d.begin() + k, [](char a, uint8_t b) { return uint8_t(a) == b; });
  };
  static constexpr std::string_view kDccTypes[] = {"SEND ", "CHAT ", "MOVE ", "TSEND ", "SCHAT "};
  // strlen(" :\1DCC SENT t AAAAAAAA P\1\n"): the shortest offer.
  while (i < n - 26) {
    // The text starts after the first " :" and must be a DCC request.
    if (!at(i, " :")) {
      ++i;
      continue;
    }
    i += 2;
    if (!at(i, "\1DCC ")) return Verdict::Accept;
    i += 5;
    for (std::string_view type : kDccTypes) {
      if (!at(i, type)) continue;
      i += static_cast<std::ptrdiff_t>(type.size());
      uint32_t dcc_ip = 0;
      uint16_t dcc_port = 0;
      size_t beg = 0, end = 0;
      if (!parse_dcc(d, static_cast<size_t>(i), &dcc_ip, &dcc_port, &beg, &end)) continue;
      // The client's own address, as it sent it or as NAT makes it, and a
      // port: anything else is "Forged DCC command" (a warning without
      // IN= and OUT=, not a netfilter log line).
      if ((ct->tuple[kOriginal].src != dcc_ip && ct->tuple[kReply].dst != dcc_ip) || dcc_port == 0) continue;
      Expectation e;
      e.tuple.dst = ct->tuple[kReply].dst;
      e.tuple.dport = dcc_port;
      e.tuple.proto = kIpProtoTcp;
      e.any_src = true;
      e.any_sport = true;
      e.helper = ct->helper;
      e.master = ct;
      if (nat_irc_ && (ct->status & status::kNatMask)) return nat_irc_(*this, pkt, ctinfo, beg, end - beg, e, now, info);
      if (expect_related(e, now) != ExpectResult::Ok) {
        if (info) {
          info->reason = "nf_ct_irc: dropping packet: cannot add expectation";
          info->log = true;
        }
        return Verdict::Drop;
      }
      return Verdict::Accept;
    }
  }
  return Verdict::Accept;
}

// ------------------------------------------------------------------ SANE

Verdict Table::sane_help(const Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info) {
  // Until there has been traffic both ways, packets are not looked in.
  if (ctinfo != CtInfo::Established && ctinfo != CtInfo::EstablishedReply) return Verdict::Accept;
  ConstIpv4View ip = pkt.ip();
  std::span<const uint8_t> l4 = ip.payload();
  if (ip.frag_offset() != 0 || l4.size() < kTcpMinHeader) return Verdict::Accept;
  const size_t dataoff = static_cast<size_t>(l4[12] >> 4) * 4;
  if (dataoff >= l4.size()) return Verdict::Accept;
  const std::span<const uint8_t> d = l4.subspan(dataoff);
  bool& start_requested = help_[ct].sane_start_requested;
  if (ctinfo == CtInfo::Established) {
    // A request is exactly struct sane_request: RPC code, handle. Only
    // SANE_NET_START (7) makes the next reply interesting; another
    // request of that size makes it not.
    if (d.size() != 8) return Verdict::Accept;
    start_requested = load32(d.data()) == 7;
    return Verdict::Accept;
  }
  if (!start_requested) return Verdict::Accept;
  start_requested = false;
  // struct sane_reply_net_start: status (SANE_STATUS_SUCCESS, 0), a zero
  // half-word, the data port; anything else is ignored.
  if (d.size() < 8 || load32(d.data()) != 0 || load16(d.data() + 4) != 0) return Verdict::Accept;
  const Tuple& orig = ct->tuple[kOriginal];
  Expectation e;
  e.tuple.src = orig.src;
  e.tuple.dst = orig.dst;
  e.tuple.dport = load16(d.data() + 6);
  e.tuple.proto = kIpProtoTcp;
  e.any_sport = true;
  e.helper = ct->helper;
  e.master = ct;
  if (expect_related(e, now) != ExpectResult::Ok) {
    if (info) {
      info->reason = "nf_ct_sane: dropping packet: cannot add expectation";
      info->log = true;
    }
    return Verdict::Drop;
  }
  return Verdict::Accept;
}

// ---------------------------------------------------------------- Amanda

namespace {
// skb_find_text: where `what` first occurs wholly within d[from, to), or
// npos.
size_t find_text(std::span<const uint8_t> d, size_t from, size_t to, std::string_view what) {
  if (to > d.size() || from > to || to - from < what.size()) return std::string_view::npos;
  std::string_view hay(reinterpret_cast<const char*>(d.data()) + from, to - from);
  size_t at = hay.find(what);
  return at == std::string_view::npos ? at : from + at;
}
}  // namespace

Verdict Table::amanda_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info) {
  // Only what the Amanda client sends back to the server.
  if (ctinfo != CtInfo::EstablishedReply) return Verdict::Accept;
  // master_timeout: the client's answers may come late, so each keeps the
  // master 300 s (nf_ct_refresh, after the UDP tracker's own refresh).
  if (!(ct->status & status::kFixedTimeout) && ct->confirmed()) {
    const uint64_t before = ct->timeout;
    ct->timeout = now + 300 * kHz;
    if (ct->timeout < before) timer_shortened(ct);
  }
  if (std::as_const(pkt).ip().frag_offset() != 0) return Verdict::Accept;
  auto payload = [&] {
    std::span<const uint8_t> l4 = std::as_const(pkt).ip().payload();
    return l4.subspan(std::min(kUdpHeader, l4.size()));
  };
  std::span<const uint8_t> d = payload();
  if (d.empty()) return Verdict::Accept;
  size_t start = find_text(d, 0, d.size(), "CONNECT ");
  if (start == std::string_view::npos) return Verdict::Accept;
  start += 8;
  const size_t stop = find_text(d, start, d.size(), "\n");
  if (stop == std::string_view::npos) return Verdict::Accept;
  Verdict ret = Verdict::Accept;
  for (std::string_view key : {std::string_view("DATA "), std::string_view("MESG "), std::string_view("INDEX ")}) {
    // Offsets are the first packet's: a rewrite that changed the length
    // (nf_nat_amanda) moves what the next keyword finds, as in the kernel.
    d = payload();
    size_t off = find_text(d, start, std::min(stop, d.size()), key);
    if (off == std::string_view::npos) continue;
    off += key.size();
    // simple_strtoul over at most five bytes, the port its low 16 bits.
    const size_t avail = std::min<size_t>({5, stop - off, d.size() - off});
    uint32_t value = 0;
    size_t len = 0;
    while (len < avail && d[off + len] >= '0' && d[off + len] <= '9') value = value * 10 + (d[off + len++] - '0');
    const auto port = static_cast<uint16_t>(value);
    if (port == 0) break;
    const Tuple& orig = ct->tuple[kOriginal];
    Expectation e;
    e.tuple.src = orig.src;
    e.tuple.dst = orig.dst;
    e.tuple.dport = port;
    e.tuple.proto = kIpProtoTcp;
    e.any_sport = true;
    e.helper = ct->helper;
    e.master = ct;
    if (nat_amanda_ && (ct->status & status::kNatMask)) {
      ret = nat_amanda_(*this, pkt, ctinfo, off, len, e, now, info);
    } else if (expect_related(e, now) != ExpectResult::Ok) {
      if (info) {
        info->reason = "nf_ct_amanda: dropping packet: cannot add expectation";
        info->log = true;
      }
      ret = Verdict::Drop;
    }
  }
  return ret;
}

// ----------------------------------------------------------------- seqadj

namespace {
// nf_ct_sack_adjust: a segment's SACK blocks acknowledge the other
// direction's stream, so they shift with its ack (by `w`, that direction's
// adjustment). False, and the kernel drops the segment, when an option
// runs past the TCP header.
template <class SeqAdj>
bool sack_adjust(std::span<uint8_t> header, uint16_t& check, const SeqAdj& w) {
  auto shift = [&](uint8_t* at) {
    const uint32_t edge = load32(at);
    const int32_t off = after(edge - static_cast<uint32_t>(w.offset_before), w.correction_pos) ? w.offset_after
                                                                                             : w.offset_before;
    const uint32_t moved = edge - static_cast<uint32_t>(off);
    csum_replace4(check, edge, moved);
    store32(at, moved);
  };
  size_t i = kTcpMinHeader;
  while (i < header.size()) {
    const uint8_t kind = header[i];
    if (kind == 0) return true;  // end of options
    if (kind == 1) {             // NOP
      ++i;
      continue;
    }
    if (i + 1 == header.size() || header[i + 1] < 2 || i + header[i + 1] > header.size()) return false;
    const size_t len = header[i + 1];
    if (kind == 5 && len >= 10 && (len - 2) % 8 == 0)
      for (size_t b = i + 2; b < i + len; b += 4) shift(&header[b]);
    i += len;
  }
  return true;
}
}  // namespace

void Table::seqadj_set(Entry* ct, CtInfo ctinfo, uint32_t seq, int32_t off) {
  if (off == 0) return;
  ct->status |= status::kSeqAdjust;
  SeqAdj& w = help_[ct].seq[ctinfo == CtInfo::EstablishedReply || ctinfo == CtInfo::RelatedReply ? kReply : kOriginal];
  if (w.offset_before == w.offset_after || before(w.correction_pos, seq)) {
    w.correction_pos = seq;
    w.offset_before = w.offset_after;
    w.offset_after += off;
  }
}

int32_t Table::seq_offset(const Entry& ct, Dir d, uint32_t seq) const {
  if (!(ct.status & status::kSeqAdjust)) return 0;
  auto it = help_.find(&ct);
  if (it == help_.end()) return 0;
  const SeqAdj& w = it->second.seq[d];
  return after(seq, w.correction_pos) ? w.offset_after : w.offset_before;
}

bool Table::seq_adjust(Packet& pkt, Entry* ct, CtInfo ctinfo) {
  Ipv4View ip = pkt.ip();
  auto l4 = ip.payload();
  if (ct->proto() != kIpProtoTcp || ip.frag_offset() != 0) return true;
  if (l4.size() < kTcpMinHeader) return false;
  const Dir dir = ctinfo == CtInfo::EstablishedReply || ctinfo == CtInfo::RelatedReply ? kReply : kOriginal;
  const HelpExt& h = help_[ct];
  const SeqAdj& this_way = h.seq[dir];
  const SeqAdj& other_way = h.seq[!dir];
  TcpView th(l4);
  uint16_t check = th.checksum();
  uint32_t seq = th.seq();
  uint32_t newseq = seq + static_cast<uint32_t>(after(seq, this_way.correction_pos) ? this_way.offset_after
                                                                                     : this_way.offset_before);
  csum_replace4(check, seq, newseq);
  th.set_seq(newseq);
  if (th.flags() & tcp_flag::kAck) {
    uint32_t ack = th.ack_seq();
    int32_t ackoff = after(ack - static_cast<uint32_t>(other_way.offset_before), other_way.correction_pos)
                         ? other_way.offset_after
                         : other_way.offset_before;
    uint32_t newack = ack - static_cast<uint32_t>(ackoff);
    csum_replace4(check, ack, newack);
    th.set_ack_seq(newack);
    const bool whole = sack_adjust(l4.first(std::min<size_t>(l4.size(), size_t{th.data_offset()} * 4)), check, other_way);
    th.set_checksum(check);
    return whole;
  }
  th.set_checksum(check);
  return true;
}

}  // namespace nfemu::conntrack

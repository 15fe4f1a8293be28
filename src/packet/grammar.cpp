#include "packet/grammar.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "packet/addr.h"
#include "packet/checksum.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "packet/sctp.h"
#include "util/strings.h"

namespace nfemu::packet {

namespace {

// Flag letters in print order (tcpdump's), with their bits.
constexpr std::array<std::pair<char, uint8_t>, 8> kFlagLetters = {{
    {'S', tcp_flag::kSyn},
    {'F', tcp_flag::kFin},
    {'R', tcp_flag::kRst},
    {'P', tcp_flag::kPsh},
    {'A', tcp_flag::kAck},
    {'U', tcp_flag::kUrg},
    {'E', tcp_flag::kEce},
    {'C', tcp_flag::kCwr},
}};

// RFC 4303's SPI and sequence number; RFC 4302's next header, length,
// reserved, SPI and sequence number (no integrity check value).
constexpr size_t kEspHeader = 8;
constexpr size_t kAhHeader = 12;
constexpr uint8_t kIpProtoNone = 59;  // AH's next header: nothing follows

bool is_ipsec(SpecKind k) { return k == SpecKind::Esp || k == SpecKind::Ah; }
constexpr size_t kIpcompHeader = 4;
// ESP, AH and IPComp protect or carry their payload without a transport
// checksum.
// (DCCP's is checked where its header is read.)
bool has_l4_checksum(SpecKind k) { return !is_ipsec(k) && k != SpecKind::Ipcomp && k != SpecKind::Dccp; }

constexpr uint8_t kIpProtoDccp = 33;
constexpr size_t kDccpHeader = 16;  // the generic header with extended sequence numbers
constexpr size_t kDccpMaxHeader = 1020;  // Data Offset is 8 bits of 32-bit words
constexpr std::array<std::string_view, 10> kDccpTypes = {"REQUEST", "RESPONSE", "DATA",  "ACK",  "DATAACK",
                                                         "CLOSEREQ", "CLOSE",    "RESET", "SYNC", "SYNCACK"};

size_t dccp_extra_len(const PacketSpec& s) {
  if (s.kind != SpecKind::Dccp) return 0;
  return dccp_type_subheader_len(s.dccp_type) + (s.dccp_opts.size() + 3) / 4 * 4;
}

size_t l4_header_len(SpecKind k) {
  switch (k) {
    case SpecKind::Tcp: return kTcpMinHeader;
    case SpecKind::Udp: return kUdpHeader;
    case SpecKind::IcmpEcho:
    case SpecKind::IcmpType: return kIcmpHeader;
    case SpecKind::Sctp: return kSctpHeader;
    case SpecKind::Esp: return kEspHeader;
    case SpecKind::Ah: return kAhHeader;
    case SpecKind::Ipcomp: return kIpcompHeader;
    case SpecKind::Dccp: return kDccpHeader;
  }
  return 0;
}

// The body a chunk of the grammar carries after its 4-byte header (the
// least each type needs to be well formed), before padding.
size_t sctp_chunk_body(uint8_t type) {
  switch (type) {
    case sctp_cid::kData: return 12;  // TSN, stream id, stream sequence, PPID
    case sctp_cid::kInit:
    case sctp_cid::kInitAck: return kSctpInitFixed;
    case sctp_cid::kSack: return 12;  // cumulative TSN ack, a_rwnd, no gaps, no duplicates
    case sctp_cid::kHeartbeat:
    case sctp_cid::kHeartbeatAck: return 8;  // one Heartbeat Info parameter of 4 bytes
    case sctp_cid::kShutdown: return 4;      // cumulative TSN ack
    case sctp_cid::kCookieEcho: return 4;    // a 4-byte cookie
    default: return 0;
  }
}

size_t pad4(size_t n) { return (n + 3) & ~size_t{3}; }

// The SCTP packet's length: header and chunks, the first DATA chunk with
// `payload` bytes of user data.
size_t sctp_length(const PacketSpec& s) {
  size_t n = kSctpHeader;
  bool data_seen = false;
  for (size_t k = 0; k < s.nchunks; ++k) {
    size_t body = sctp_chunk_body(s.chunk_type[k]);
    if (s.chunk_type[k] == sctp_cid::kData && !data_seen) {
      body += s.payload;
      data_seen = true;
    }
    n += pad4(kSctpChunkHeader + body);
  }
  return n;
}

// TCP options as Linux lays them out (tcp_options_write): MSS; then
// timestamps, after SACK-permitted when both (else NOP, NOP); else NOP,
// NOP, SACK-permitted; NOP, window scale; NOP, NOP, SACK and its blocks.
constexpr uint8_t kTcpOptNop = 1, kTcpOptWindow = 3, kTcpOptSackPerm = 4, kTcpOptSack = 5, kTcpOptTimestamp = 8;
constexpr size_t kTcpMaxOptions = 40, kSackBlock = 8;
size_t tcp_options_len(const PacketSpec& s) {
  return (s.has_mss ? kTcpOptLenMss : 0) + (s.has_ts ? 12 : s.sack_perm ? 4 : 0) + (s.has_wscale ? 4 : 0) +
         (s.nsack ? 4 + kSackBlock * s.nsack : 0);
}
void write_tcp_options(const PacketSpec& s, uint8_t* at) {
  if (s.has_mss) {
    at[0] = kTcpOptMss;
    at[1] = kTcpOptLenMss;
    store16(at + 2, s.mss);
    at += kTcpOptLenMss;
  }
  if (s.has_ts) {
    if (s.sack_perm) {
      at[0] = kTcpOptSackPerm;
      at[1] = 2;
    } else {
      at[0] = at[1] = kTcpOptNop;
    }
    at[2] = kTcpOptTimestamp;
    at[3] = 10;
    store32(at + 4, s.tsval);
    store32(at + 8, s.tsecr);
    at += 12;
  } else if (s.sack_perm) {
    at[0] = at[1] = kTcpOptNop;
    at[2] = kTcpOptSackPerm;
    at[3] = 2;
    at += 4;
  }
  if (s.has_wscale) {
    at[0] = kTcpOptNop;
    at[1] = kTcpOptWindow;
    at[2] = 3;
    at[3] = s.wscale;
    at += 4;
  }
  if (s.nsack) {
    at[0] = at[1] = kTcpOptNop;
    at[2] = kTcpOptSack;
    at[3] = static_cast<uint8_t>(2 + kSackBlock * s.nsack);
    for (size_t b = 0; b < s.nsack; ++b) {
      store32(at + 4 + kSackBlock * b, s.sack[b][0]);
      store32(at + 8 + kSackBlock * b, s.sack[b][1]);
    }
  }
}
// The inverse: false unless `opt` is exactly such a layout.
bool read_tcp_options(std::span<const uint8_t> opt, PacketSpec& s) {
  size_t i = 0;
  if (opt.size() >= kTcpOptLenMss && opt[0] == kTcpOptMss && opt[1] == kTcpOptLenMss) {
    s.has_mss = true;
    s.mss = load16(opt.data() + 2);
    i = kTcpOptLenMss;
  }
  auto nop_nop = [&](uint8_t kind) {
    return opt.size() - i >= 4 && opt[i] == kTcpOptNop && opt[i + 1] == kTcpOptNop && opt[i + 2] == kind;
  };
  if (opt.size() - i >= 12 && opt[i + 2] == kTcpOptTimestamp && opt[i + 3] == 10 &&
      ((opt[i] == kTcpOptSackPerm && opt[i + 1] == 2) || (opt[i] == kTcpOptNop && opt[i + 1] == kTcpOptNop))) {
    s.sack_perm = opt[i] == kTcpOptSackPerm;
    s.has_ts = true;
    s.tsval = load32(opt.data() + i + 4);
    s.tsecr = load32(opt.data() + i + 8);
    i += 12;
  } else if (nop_nop(kTcpOptSackPerm) && opt[i + 3] == 2) {
    s.sack_perm = true;
    i += 4;
  }
  if (opt.size() - i >= 4 && opt[i] == kTcpOptNop && opt[i + 1] == kTcpOptWindow && opt[i + 2] == 3) {
    s.has_wscale = true;
    s.wscale = opt[i + 3];
    i += 4;
  }
  if (nop_nop(kTcpOptSack)) {
    const size_t len = opt[i + 3];
    if (len < 2 + kSackBlock || (len - 2) % kSackBlock || (len - 2) / kSackBlock > PacketSpec::kMaxSackBlocks ||
        len + 2 > opt.size() - i)
      return false;
    s.nsack = static_cast<uint8_t>((len - 2) / kSackBlock);
    for (size_t b = 0; b < s.nsack; ++b) {
      s.sack[b][0] = load32(opt.data() + i + 4 + kSackBlock * b);
      s.sack[b][1] = load32(opt.data() + i + 8 + kSackBlock * b);
    }
    i += 2 + len;
  }
  return i == opt.size();
}

// Bytes after the IP header of the whole datagram.
size_t l4_length(const PacketSpec& s) {
  if (s.kind == SpecKind::Sctp) return sctp_length(s);
  return l4_header_len(s.kind) + tcp_options_len(s) + dccp_extra_len(s) + s.payload;
}

uint32_t default_payload(SpecKind k) { return k == SpecKind::IcmpEcho ? 56 : 0; }

const char* kind_name(SpecKind k) {
  switch (k) {
    case SpecKind::Tcp: return "tcp";
    case SpecKind::Udp: return "udp";
    case SpecKind::IcmpEcho: return "icmp echo";
    case SpecKind::IcmpType: return "icmp type";
    case SpecKind::Sctp: return "sctp";
    case SpecKind::Esp: return "esp";
    case SpecKind::Ah: return "ah";
    case SpecKind::Ipcomp: return "ipcomp";
    case SpecKind::Dccp: return "dccp";
  }
  return "?";
}

struct Tok {
  std::string_view text;
  int col;
};

std::vector<Tok> tokenize(std::string_view s) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    if (s[i] == '"') {
      // A quoted string is one word, blanks included; \" does not end it.
      // An unterminated one runs to the end (data's parser says so).
      for (++i; i < s.size() && s[i] != '"'; ++i)
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
      if (i < s.size()) ++i;
    } else {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    }
    out.push_back({s.substr(start, i - start), static_cast<int>(start) + 1});
  }
  return out;
}

bool looks_numeric(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  }
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A number in 0..max, named `what` in messages.
Result<uint64_t> number(std::string_view what, std::string_view text, int col, uint64_t max) {
  auto v = parse_uint(text);
  if (!v) {
    if (looks_numeric(text)) return make_error(fmt::format("{} out of range: {} (maximum {})", what, text, max), 0, col);
    return make_error(fmt::format("bad number for {}: '{}'", what, text), 0, col);
  }
  if (*v > max) return make_error(fmt::format("{} out of range: {} (maximum {})", what, text, max), 0, col);
  return *v;
}

Result<uint32_t> address(std::string_view text, int col) {
  auto a = parse_ipv4_addr(text);
  if (!a) return make_error(fmt::format("bad IPv4 address: '{}'", text), 0, col);
  return *a;
}

struct Endpoint {
  uint32_t addr;
  uint16_t port;
};

Result<Endpoint> endpoint(const Tok& t) {
  size_t colon = t.text.rfind(':');
  if (colon == std::string_view::npos)
    return make_error(fmt::format("expected ADDRESS:PORT, got '{}'", t.text), 0, t.col);
  auto a = address(t.text.substr(0, colon), t.col);
  if (!a) return a.error();
  int pcol = t.col + static_cast<int>(colon) + 1;
  std::string_view ptext = t.text.substr(colon + 1);
  if (ptext.empty()) return make_error(fmt::format("missing port in '{}'", t.text), 0, pcol);
  auto p = number("port", ptext, pcol, 65535);
  if (!p) return p.error();
  return Endpoint{*a, static_cast<uint16_t>(*p)};
}

Result<uint8_t> flags(const Tok& t) {
  uint8_t bits = 0;
  for (size_t i = 0; i < t.text.size(); ++i) {
    char c = t.text[i];
    int col = t.col + static_cast<int>(i);
    auto it = std::find_if(kFlagLetters.begin(), kFlagLetters.end(), [c](auto& f) { return f.first == c; });
    if (it == kFlagLetters.end())
      return make_error(fmt::format("unknown flag letter '{}' in flags (expected S A F R P U E C)", c), 0, col);
    if (bits & it->second) return make_error(fmt::format("duplicate flag letter '{}' in flags", c), 0, col);
    bits |= it->second;
  }
  return bits;
}

// Each item of a comma-separated value, with the column it starts at:
// `item(text, col)` returns an error to stop at.
template <class F>
Result<void> for_each_item(const Tok& t, F item) {
  size_t pos = 0;
  while (true) {
    size_t comma = t.text.find(',', pos);
    std::string_view text = t.text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (auto r = item(text, t.col + static_cast<int>(pos)); !r) return r.error();
    if (comma == std::string_view::npos) return {};
    pos = comma + 1;
  }
}

// "1001:2001,3001:4001": SACK blocks, each LEFT:RIGHT, sequence numbers.
Result<void> parse_sack_blocks(const Tok& t, PacketSpec& s) {
  s.nsack = 0;
  return for_each_item(t, [&](std::string_view item, int col) -> Result<void> {
    if (s.nsack == PacketSpec::kMaxSackBlocks)
      return make_error(fmt::format("more than {} SACK blocks", PacketSpec::kMaxSackBlocks), 0, col);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos)
      return make_error(fmt::format("SACK block '{}' is not LEFT:RIGHT", item), 0, col);
    auto left = number("SACK left edge", item.substr(0, colon), col, UINT32_MAX);
    if (!left) return left.error();
    auto right = number("SACK right edge", item.substr(colon + 1), col + static_cast<int>(colon) + 1, UINT32_MAX);
    if (!right) return right.error();
    s.sack[s.nsack++] = {static_cast<uint32_t>(*left), static_cast<uint32_t>(*right)};
    return {};
  });
}

// "INIT", "ABORT:T", "DATA,SACK", or chunk type numbers.
Result<void> parse_chunks(const Tok& t, PacketSpec& s) {
  s.nchunks = 0;
  return for_each_item(t, [&](std::string_view item, int col) -> Result<void> {
    uint8_t flags = 0;
    if (item.size() > 2 && item.substr(item.size() - 2) == ":T") {
      flags = kSctpChunkFlagT;
      item.remove_suffix(2);
    }
    int type = sctp_chunk_type(item);
    if (type < 0) {
      auto v = parse_uint(item);
      if (!v || *v > 255)
        return make_error(fmt::format("unknown SCTP chunk '{}' (a name such as DATA, INIT, INIT_ACK, SACK, HEARTBEAT, "
                                      "ABORT, SHUTDOWN, COOKIE_ECHO, or a type number)",
                                      item),
                          0, col);
      type = static_cast<int>(*v);
    }
    if (s.nchunks == PacketSpec::kMaxChunks)
      return make_error(fmt::format("more than {} chunks", PacketSpec::kMaxChunks), 0, col);
    s.chunk_type[s.nchunks] = static_cast<uint8_t>(type);
    s.chunk_flags[s.nchunks] = flags;
    ++s.nchunks;
    return {};
  });
}

// A data word: "TEXT" with \r \n \t \\ \" and \xHH escapes, as bytes.
Result<std::string> unquote(const Tok& w) {
  std::string_view t = w.text;
  if (t.empty() || t.front() != '"') return make_error("data is a quoted string: data \"TEXT\"", 0, w.col);
  if (t.size() < 2 || t.back() != '"' || (t.size() >= 3 && t[t.size() - 2] == '\\' && [&] {
        size_t n = 0;  // an odd run of backslashes escapes the last quote
        for (size_t k = t.size() - 2; k > 0 && t[k] == '\\'; --k) ++n;
        return n % 2 == 1;
      }()))
    return make_error("unterminated string: a closing \" is missing", 0, w.col);
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t k = 1; k + 1 < t.size(); ++k) {
    char c = t[k];
    int col = w.col + static_cast<int>(k);
    if (c == '"') return make_error("a \" inside data must be written \\\"", 0, col);
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = t[++k];
    switch (e) {
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case 'x': {
        int hi = k + 1 + 1 < t.size() ? hex(t[k + 1]) : -1;
        int lo = hi >= 0 && k + 2 + 1 < t.size() ? hex(t[k + 2]) : -1;
        if (hi < 0 || lo < 0) return make_error("\\x takes two hex digits", 0, col);
        out += static_cast<char>(hi * 16 + lo);
        k += 2;
        break;
      }
      default:
        return make_error(fmt::format("unknown escape '\\{}' (\\r \\n \\t \\\\ \\\" \\xHH)", e), 0, col);
    }
  }
  return out;
}

// The options a kind accepts beside COMMON.
bool option_allowed(SpecKind k, std::string_view key) {
  static constexpr std::string_view kCommon[] = {"ttl", "tos", "ipid", "df", "payload", "frag", "mf"};
  if (std::find(std::begin(kCommon), std::end(kCommon), key) != std::end(kCommon)) return true;
  switch (k) {
    case SpecKind::Tcp:
      return key == "flags" || key == "seq" || key == "ack" || key == "win" || key == "mss" || key == "sackok" ||
             key == "sack" || key == "ts" || key == "wscale" || key == "data";
    case SpecKind::Udp: return key == "data";
    case SpecKind::IcmpEcho: return key == "id" || key == "seq";
    case SpecKind::IcmpType: return key == "code";
    case SpecKind::Sctp: return key == "vtag" || key == "chunks" || key == "init-tag";
    case SpecKind::Esp:
    case SpecKind::Ah: return key == "spi" || key == "seq";
    case SpecKind::Ipcomp: return key == "cpi";
    case SpecKind::Dccp: return key == "type" || key == "opts";
  }
  return false;
}

bool option_known(std::string_view key) {
  for (SpecKind k :
       {SpecKind::Tcp, SpecKind::IcmpEcho, SpecKind::IcmpType, SpecKind::Sctp, SpecKind::Esp, SpecKind::Ipcomp,
        SpecKind::Dccp})
    if (option_allowed(k, key)) return true;
  return false;
}

}  // namespace

PacketSpec default_spec(SpecKind kind) {
  PacketSpec s;
  s.kind = kind;
  s.payload = default_payload(kind);
  if (kind == SpecKind::IcmpType) s.icmp_type = 0;
  if (kind == SpecKind::Sctp) s.nchunks = 1;  // one DATA chunk
  if (is_ipsec(kind)) s.seq = 1;
  return s;
}

Result<PacketSpec> parse_packet_spec(std::string_view text) {
  std::vector<Tok> w = tokenize(text);
  if (w.empty()) return make_error("empty packet description", 0, 1);
  size_t i = 0;
  // Where a missing word would start: one blank after the last word.
  auto missing = [&](std::string what) {
    const Tok& last = w.back();
    return make_error(std::move(what), 0, last.col + static_cast<int>(last.text.size()) + 1);
  };
  auto need = [&](size_t k) { return k < w.size(); };

  PacketSpec s;
  std::string_view proto = w[0].text;
  bool ports;
  if (proto == "tcp") {
    s = default_spec(SpecKind::Tcp);
    ports = true;
  } else if (proto == "udp") {
    s = default_spec(SpecKind::Udp);
    ports = true;
  } else if (proto == "sctp") {
    s = default_spec(SpecKind::Sctp);
    ports = true;
  } else if (proto == "icmp") {
    ports = false;
  } else if (proto == "esp" || proto == "ah") {
    s = default_spec(proto == "esp" ? SpecKind::Esp : SpecKind::Ah);
    ports = false;
  } else if (proto == "ipcomp") {
    s = default_spec(SpecKind::Ipcomp);
    ports = false;
  } else if (proto == "dccp") {
    s = default_spec(SpecKind::Dccp);
    ports = true;
  } else {
    return make_error(
        fmt::format("unknown protocol '{}' (expected tcp, udp, sctp, icmp, esp, ah, ipcomp or dccp)", proto), 0,
        w[0].col);
  }
  i = 1;
  if (!need(i))
    return missing(ports ? "missing SRC:PORT after the protocol"
                         : fmt::format("missing source address after '{}'", proto));
  if (ports) {
    auto e = endpoint(w[i]);
    if (!e) return e.error();
    s.src = e->addr;
    s.sport = e->port;
  } else {
    auto a = address(w[i].text, w[i].col);
    if (!a) return a.error();
    s.src = *a;
  }
  ++i;
  if (!need(i)) return missing("missing '>' after the source");
  if (w[i].text != ">") return make_error(fmt::format("expected '>' after the source, got '{}'", w[i].text), 0, w[i].col);
  ++i;
  if (!need(i)) return missing(ports ? "missing DST:PORT after '>'" : "missing destination address after '>'");
  uint32_t dst;
  uint16_t dport = 0;
  if (ports) {
    auto e = endpoint(w[i]);
    if (!e) return e.error();
    dst = e->addr;
    dport = e->port;
  } else {
    auto a = address(w[i].text, w[i].col);
    if (!a) return a.error();
    dst = *a;
  }
  ++i;
  if (proto == "icmp") {
    uint32_t src = s.src;
    if (!need(i)) return missing("missing echo-request, echo-reply or type N after the destination");
    const Tok& form = w[i];
    if (form.text == "echo-request" || form.text == "echo-reply") {
      s = default_spec(SpecKind::IcmpEcho);
      s.icmp_type = form.text == "echo-request" ? icmp_type::kEcho : icmp_type::kEchoReply;
      ++i;
    } else if (form.text == "type") {
      s = default_spec(SpecKind::IcmpType);
      ++i;
      if (!need(i)) return make_error("missing value after 'type'", 0, form.col);
      auto t = number("type", w[i].text, w[i].col, 255);
      if (!t) return t.error();
      s.icmp_type = static_cast<uint8_t>(*t);
      ++i;
    } else {
      return make_error(
          fmt::format("expected echo-request, echo-reply or type N after the destination, got '{}'", form.text), 0,
          form.col);
    }
    s.src = src;
  }
  s.dst = dst;
  s.dport = dport;

  std::vector<std::string_view> seen;
  int frag_col = 0;
  for (; i < w.size(); ++i) {
    const Tok& key = w[i];
    if (!option_allowed(s.kind, key.text)) {
      if (option_known(key.text))
        return make_error(fmt::format("'{}' is not an option of {} packets", key.text, kind_name(s.kind)), 0, key.col);
      return make_error(fmt::format("unknown option '{}'", key.text), 0, key.col);
    }
    if (std::find(seen.begin(), seen.end(), key.text) != seen.end())
      return make_error(fmt::format("duplicate option '{}'", key.text), 0, key.col);
    seen.push_back(key.text);
    if (key.text == "df" || key.text == "mf" || key.text == "sackok") {
      (key.text == "df" ? s.df : key.text == "mf" ? s.mf : s.sack_perm) = true;
      continue;
    }
    if (!need(i + 1)) return make_error(fmt::format("missing value after '{}'", key.text), 0, key.col);
    const Tok& val = w[++i];
    if (key.text == "frag") {
      size_t plus = val.text.find('+');
      auto off = number("fragment offset", val.text.substr(0, plus), val.col, 65528);
      if (!off) return off.error();
      if (*off % 8) return make_error(fmt::format("fragment offset {} is not a multiple of 8", *off), 0, val.col);
      s.frag_off = static_cast<uint16_t>(*off);
      if (plus != std::string_view::npos) {
        int lcol = val.col + static_cast<int>(plus) + 1;
        auto len = number("fragment length", val.text.substr(plus + 1), lcol, 65515);
        if (!len) return len.error();
        s.frag_len = static_cast<uint32_t>(*len);
      }
      frag_col = val.col;
      continue;
    }
    if (key.text == "flags") {
      auto f = flags(val);
      if (!f) return f.error();
      s.tcp_flags = *f;
      continue;
    }
    if (key.text == "chunks") {
      if (auto r = parse_chunks(val, s); !r) return r.error();
      continue;
    }
    if (key.text == "sack") {
      if (auto r = parse_sack_blocks(val, s); !r) return r.error();
      continue;
    }
    if (key.text == "ts") {
      size_t colon = val.text.find(':');
      if (colon == std::string_view::npos)
        return make_error(fmt::format("timestamps '{}' are not TSVAL:TSECR", val.text), 0, val.col);
      auto tsval = number("TSval", val.text.substr(0, colon), val.col, UINT32_MAX);
      if (!tsval) return tsval.error();
      auto tsecr = number("TSecr", val.text.substr(colon + 1), val.col + static_cast<int>(colon) + 1, UINT32_MAX);
      if (!tsecr) return tsecr.error();
      s.has_ts = true;
      s.tsval = static_cast<uint32_t>(*tsval);
      s.tsecr = static_cast<uint32_t>(*tsecr);
      continue;
    }
    if (key.text == "type") {  // dccp
      size_t t = 0;
      while (t < kDccpTypes.size() && !iequals(kDccpTypes[t], val.text)) ++t;
      if (t == kDccpTypes.size()) {
        auto n = number("DCCP type", val.text, val.col, 15);
        if (!n) return make_error(fmt::format("unknown DCCP type '{}' (a name as iptables writes it, or 0 to 15)", val.text),
                                  0, val.col);
        t = *n;
      }
      s.dccp_type = static_cast<uint8_t>(t);
      continue;
    }
    if (key.text == "opts") {  // dccp
      s.dccp_opts.clear();
      size_t pos = 0;
      while (true) {
        size_t comma = val.text.find(',', pos);
        std::string_view part = val.text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        auto b = number("option byte", part, val.col + static_cast<int>(pos), 255);
        if (!b) return b.error();
        s.dccp_opts.push_back(static_cast<uint8_t>(*b));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
      }
      if (s.dccp_opts.back() == 0)
        return make_error("the last option byte is 0 (Padding): padding is added, leave it out", 0, val.col);
      continue;
    }
    if (key.text == "data") {
      if (std::find(seen.begin(), seen.end(), "payload") != seen.end())
        return make_error("data and payload both give the payload: use one", 0, key.col);
      auto d = unquote(val);
      if (!d) return d.error();
      if (d->size() > kIpv4MaxLength - kIpv4MinHeader - l4_header_len(s.kind))
        return make_error(fmt::format("data too long: {} bytes", d->size()), 0, val.col);
      s.payload = static_cast<uint32_t>(d->size());
      if (std::any_of(d->begin(), d->end(), [](char c) { return c != 0; })) s.data = std::move(*d);
      continue;
    }
    if (key.text == "payload" && std::find(seen.begin(), seen.end(), "data") != seen.end())
      return make_error("data and payload both give the payload: use one", 0, key.col);
    uint64_t max = 255;
    if (key.text == "seq" || key.text == "ack") max = s.kind == SpecKind::Tcp || is_ipsec(s.kind) ? UINT32_MAX : 65535;
    else if (key.text == "vtag" || key.text == "init-tag" || key.text == "spi") max = UINT32_MAX;
    else if (key.text == "win" || key.text == "mss" || key.text == "ipid" || key.text == "id" || key.text == "cpi")
      max = 65535;
    else if (key.text == "payload") max = kIpv4MaxLength - kIpv4MinHeader - l4_header_len(s.kind);
    std::string what(key.text);
    if (key.text == "payload") what = "payload";
    auto n = number(what, val.text, val.col, max);
    if (!n) {
      if (key.text == "payload" && looks_numeric(val.text))
        return make_error(fmt::format("payload too large: {} (maximum {} for {})", val.text, max, kind_name(s.kind)), 0,
                          val.col);
      return n.error();
    }
    uint64_t v = *n;
    if (key.text == "seq") {
      if (s.kind == SpecKind::Tcp || is_ipsec(s.kind)) s.seq = static_cast<uint32_t>(v);
      else s.echo_seq = static_cast<uint16_t>(v);
    } else if (key.text == "ack") s.ack = static_cast<uint32_t>(v);
    else if (key.text == "win") s.win = static_cast<uint16_t>(v);
    else if (key.text == "mss") {
      s.has_mss = true;
      s.mss = static_cast<uint16_t>(v);
    } else if (key.text == "wscale") {
      s.has_wscale = true;
      s.wscale = static_cast<uint8_t>(v);
    }
    else if (key.text == "id") s.echo_id = static_cast<uint16_t>(v);
    else if (key.text == "code") s.icmp_code = static_cast<uint8_t>(v);
    else if (key.text == "ttl") s.ttl = static_cast<uint8_t>(v);
    else if (key.text == "tos") s.tos = static_cast<uint8_t>(v);
    else if (key.text == "ipid") s.ipid = static_cast<uint16_t>(v);
    else if (key.text == "payload") s.payload = static_cast<uint32_t>(v);
    else if (key.text == "vtag") s.vtag = static_cast<uint32_t>(v);
    else if (key.text == "init-tag") s.init_tag = static_cast<uint32_t>(v);
    else if (key.text == "spi" || key.text == "cpi") s.spi = static_cast<uint32_t>(v);
  }
  if (s.kind == SpecKind::Sctp) {
    auto has = [&](uint8_t t) {
      return std::find(s.chunk_type.begin(), s.chunk_type.begin() + s.nchunks, t) != s.chunk_type.begin() + s.nchunks;
    };
    if (s.payload && !has(sctp_cid::kData))
      return make_error("payload is the user data of a DATA chunk: this packet has none", 0, w[0].col);
    if (s.init_tag != 1 && !has(sctp_cid::kInit) && !has(sctp_cid::kInitAck))
      return make_error("init-tag is the initiate tag of an INIT or INIT_ACK chunk: this packet has none", 0, w[0].col);
    if (kIpv4MinHeader + sctp_length(s) > kIpv4MaxLength)
      return make_error(fmt::format("datagram longer than {} bytes", kIpv4MaxLength), 0, w[0].col);
  }
  if (tcp_options_len(s) > kTcpMaxOptions)
    return make_error(fmt::format("TCP options of {} bytes: at most {} fit (mss 4, sackok 4, ts 12 (with sackok "
                                  "too), wscale 4, sack 4 + 8 a block)",
                                  tcp_options_len(s), kTcpMaxOptions),
                      0, w[0].col);
  if (tcp_options_len(s) && kIpv4MinHeader + l4_length(s) > kIpv4MaxLength)
    return make_error(fmt::format("datagram longer than {} bytes", kIpv4MaxLength), 0, w[0].col);
  if (s.kind == SpecKind::Dccp && kDccpHeader + dccp_extra_len(s) > kDccpMaxHeader)
    return make_error(fmt::format("DCCP header of {} bytes: at most {} fit its Data Offset", kDccpHeader + dccp_extra_len(s),
                                  kDccpMaxHeader),
                      0, w[0].col);
  if (s.kind == SpecKind::Dccp && kIpv4MinHeader + l4_length(s) > kIpv4MaxLength)
    return make_error(fmt::format("datagram longer than {} bytes", kIpv4MaxLength), 0, w[0].col);
  if (frag_col) {
    size_t whole = l4_length(s);
    if (s.frag_off > whole || (s.frag_len != PacketSpec::kFragToEnd && s.frag_off + s.frag_len > whole))
      return make_error(fmt::format("fragment beyond the datagram's {} bytes after its IP header", whole), 0, frag_col);
  }
  return s;
}

namespace {
size_t whole_length(const PacketSpec& s) { return kIpv4MinHeader + l4_length(s); }
}  // namespace

size_t packet_length(const PacketSpec& s) {
  if (!s.is_fragment()) return whole_length(s);
  size_t rest = whole_length(s) - kIpv4MinHeader - s.frag_off;
  return kIpv4MinHeader + (s.frag_len == PacketSpec::kFragToEnd ? rest : s.frag_len);
}

static size_t build_whole(const PacketSpec& s, std::span<uint8_t> out);

size_t build_packet(const PacketSpec& s, std::span<uint8_t> out) {
  if (!s.is_fragment()) return build_whole(s, out);
  // A fragment: the whole datagram first, for its transport checksum.
  std::vector<uint8_t> whole(whole_length(s));
  build_whole(s, whole);
  size_t len = packet_length(s);
  std::copy_n(whole.begin(), kIpv4MinHeader, out.begin());
  std::copy_n(whole.begin() + static_cast<std::ptrdiff_t>(kIpv4MinHeader + s.frag_off), len - kIpv4MinHeader,
              out.begin() + kIpv4MinHeader);
  Ipv4View ip(out.first(len));
  ip.set_total_length(static_cast<uint16_t>(len));
  ip.set_frag_field(static_cast<uint16_t>((s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) | (s.frag_off / 8)));
  ip.update_checksum();
  return len;
}

static size_t build_whole(const PacketSpec& s, std::span<uint8_t> out) {
  size_t len = whole_length(s);
  std::memset(out.data(), 0, len);
  Ipv4View ip(out.first(len));
  ip.set_version_ihl(4, 5);
  ip.set_tos(s.tos);
  ip.set_total_length(static_cast<uint16_t>(len));
  ip.set_id(s.ipid);
  ip.set_df(s.df);
  ip.set_ttl(s.ttl);
  ip.set_saddr(s.src);
  ip.set_daddr(s.dst);
  auto l4 = out.subspan(kIpv4MinHeader, len - kIpv4MinHeader);
  switch (s.kind) {
    case SpecKind::Tcp: {
      ip.set_protocol(kIpProtoTcp);
      TcpView t(l4);
      t.set_sport(s.sport);
      t.set_dport(s.dport);
      t.set_seq(s.seq);
      t.set_ack_seq(s.ack);
      t.set_data_offset(static_cast<uint8_t>((kTcpMinHeader + tcp_options_len(s)) / 4));
      t.set_flags(s.tcp_flags);
      t.set_window(s.win);
      write_tcp_options(s, &l4[kTcpMinHeader]);
      break;
    }
    case SpecKind::Udp: {
      ip.set_protocol(kIpProtoUdp);
      UdpView u(l4);
      u.set_sport(s.sport);
      u.set_dport(s.dport);
      u.set_length(static_cast<uint16_t>(l4.size()));
      break;
    }
    case SpecKind::IcmpEcho:
    case SpecKind::IcmpType: {
      ip.set_protocol(kIpProtoIcmp);
      IcmpView c(l4);
      c.set_type(s.icmp_type);
      c.set_code(s.icmp_code);
      if (s.kind == SpecKind::IcmpEcho) {
        c.set_echo_id(s.echo_id);
        c.set_echo_seq(s.echo_seq);
      } else {
        c.set_rest(s.icmp_rest);
      }
      break;
    }
    case SpecKind::Sctp: {
      ip.set_protocol(kIpProtoSctp);
      store16(l4.data(), s.sport);
      store16(l4.data() + 2, s.dport);
      store32(l4.data() + 4, s.vtag);
      size_t at = kSctpHeader;
      bool data_seen = false;
      for (size_t k = 0; k < s.nchunks; ++k) {
        const uint8_t type = s.chunk_type[k];
        size_t body = sctp_chunk_body(type);
        uint8_t* c = l4.data() + at;
        if (type == sctp_cid::kData && !data_seen) {
          body += s.payload;
          data_seen = true;
        }
        c[0] = type;
        c[1] = s.chunk_flags[k];
        store16(c + 2, static_cast<uint16_t>(kSctpChunkHeader + body));
        switch (type) {
          case sctp_cid::kData:
            store32(c + 4, 1);  // TSN
            break;
          case sctp_cid::kInit:
          case sctp_cid::kInitAck:
            store32(c + 4, s.init_tag);
            store32(c + 8, 65535);  // a_rwnd
            store16(c + 12, 1);     // outbound streams
            store16(c + 14, 1);     // inbound streams
            store32(c + 16, 1);     // initial TSN
            break;
          case sctp_cid::kSack:
            store32(c + 8, 65535);  // a_rwnd
            break;
          case sctp_cid::kHeartbeat:
          case sctp_cid::kHeartbeatAck:
            store16(c + 4, 1);  // Heartbeat Info
            store16(c + 6, 8);
            break;
          default: break;
        }
        at += pad4(kSctpChunkHeader + body);
      }
      sctp_fill_checksum(l4);
      ip.update_checksum();
      return len;
    }
    case SpecKind::Esp:
    case SpecKind::Ah: {
      // No transport checksum: the IPsec header protects itself.
      uint8_t* h = l4.data();
      if (s.kind == SpecKind::Esp) {
        ip.set_protocol(kIpProtoEsp);
      } else {
        ip.set_protocol(kIpProtoAh);
        h[0] = kIpProtoNone;
        h[1] = kAhHeader / 4 - 2;  // RFC 4302: 32-bit words, minus 2
        h += 4;
      }
      store32(h, s.spi);
      store32(h + 4, s.seq);
      ip.update_checksum();
      return len;
    }
    case SpecKind::Dccp: {
      ip.set_protocol(kIpProtoDccp);
      uint8_t* h = l4.data();
      const size_t hlen = kDccpHeader + dccp_extra_len(s);
      store16(h, s.sport);
      store16(h + 2, s.dport);
      h[4] = static_cast<uint8_t>(hlen / 4);
      h[8] = static_cast<uint8_t>(s.dccp_type << 1 | 1);  // X: extended sequence numbers
      h[15] = 1;                                          // sequence number 1
      std::copy(s.dccp_opts.begin(), s.dccp_opts.end(), h + kDccpHeader + dccp_type_subheader_len(s.dccp_type));
      uint32_t sum = pseudo_header_sum(ip.saddr(), ip.daddr(), kIpProtoDccp, static_cast<uint32_t>(l4.size()));
      store16(h + 6, csum_finish(csum_bytes(l4, sum)));
      ip.update_checksum();
      return len;
    }
    case SpecKind::Ipcomp: {
      ip.set_protocol(kIpProtoComp);
      l4[0] = kIpProtoNone;
      l4[1] = 0;  // flags
      store16(l4.data() + 2, static_cast<uint16_t>(s.spi));
      ip.update_checksum();
      return len;
    }
  }
  if (!s.data.empty()) {
    const size_t off = l4_header_len(s.kind) + tcp_options_len(s);
    std::memcpy(l4.data() + off, s.data.data(), std::min(s.data.size(), l4.size() - off));
  }
  fill_checksums(ip);
  return len;
}

Packet build_packet(const PacketSpec& s) {
  Packet p;
  p.resize(packet_length(s));
  build_packet(s, p.data());
  return p;
}

Result<Packet> parse_packet(std::string_view text) {
  auto s = parse_packet_spec(text);
  if (!s) return s.error();
  return build_packet(*s);
}

std::string format_spec(const PacketSpec& s) {
  std::string out;
  auto app = [&out](std::string_view key, uint64_t v) { out += fmt::format(" {} {}", key, v); };
  char a[16], b[16];
  std::string_view src(a, format_ipv4_addr(s.src, a)), dst(b, format_ipv4_addr(s.dst, b));
  switch (s.kind) {
    case SpecKind::Tcp:
    case SpecKind::Udp:
      out = fmt::format("{} {}:{} > {}:{}", s.kind == SpecKind::Tcp ? "tcp" : "udp", src, s.sport, dst, s.dport);
      break;
    case SpecKind::IcmpEcho:
      out = fmt::format("icmp {} > {} {}", src, dst, s.icmp_type == icmp_type::kEchoReply ? "echo-reply" : "echo-request");
      break;
    case SpecKind::IcmpType: out = fmt::format("icmp {} > {} type {}", src, dst, s.icmp_type); break;
    case SpecKind::Sctp: out = fmt::format("sctp {}:{} > {}:{}", src, s.sport, dst, s.dport); break;
    case SpecKind::Esp:
    case SpecKind::Ah:
      out = fmt::format("{} {} > {}", kind_name(s.kind), src, dst);
      if (s.spi != 256) app("spi", s.spi);
      if (s.seq != 1) app("seq", s.seq);
      break;
    case SpecKind::Ipcomp:
      out = fmt::format("ipcomp {} > {}", src, dst);
      if (s.spi != 256) app("cpi", s.spi);
      break;
    case SpecKind::Dccp:
      out = fmt::format("dccp {}:{} > {}:{}", src, s.sport, dst, s.dport);
      if (s.dccp_type != 0)
        out += s.dccp_type < kDccpTypes.size() ? fmt::format(" type {}", kDccpTypes[s.dccp_type])
                                               : fmt::format(" type {}", s.dccp_type);
      if (!s.dccp_opts.empty()) {
        out += " opts ";
        for (size_t k = 0; k < s.dccp_opts.size(); ++k) out += fmt::format("{}{}", k ? "," : "", s.dccp_opts[k]);
      }
      break;
  }
  if (s.kind == SpecKind::Sctp) {
    if (s.vtag != 0) app("vtag", s.vtag);
    if (s.nchunks != 1 || s.chunk_type[0] != sctp_cid::kData || s.chunk_flags[0] != 0) {
      out += " chunks ";
      for (size_t k = 0; k < s.nchunks; ++k) {
        if (k) out += ',';
        std::string_view name = sctp_chunk_name(s.chunk_type[k]);
        out += name.empty() ? fmt::format("{}", s.chunk_type[k]) : std::string(name);
        if (s.chunk_flags[k] & kSctpChunkFlagT) out += ":T";
      }
    }
    if (s.init_tag != 1) app("init-tag", s.init_tag);
  }
  if (s.kind == SpecKind::Tcp) {
    if (s.tcp_flags) {
      out += " flags ";
      for (auto [c, bit] : kFlagLetters)
        if (s.tcp_flags & bit) out += c;
    }
    if (s.seq != 1000) app("seq", s.seq);
    if (s.ack != 0) app("ack", s.ack);
    if (s.win != 64240) app("win", s.win);
    if (s.has_mss) app("mss", s.mss);
    if (s.sack_perm) out += " sackok";
    if (s.has_ts) out += fmt::format(" ts {}:{}", s.tsval, s.tsecr);
    if (s.has_wscale) app("wscale", s.wscale);
    for (size_t b = 0; b < s.nsack; ++b) out += fmt::format("{}{}:{}", b ? "," : " sack ", s.sack[b][0], s.sack[b][1]);
  } else if (s.kind == SpecKind::IcmpEcho) {
    if (s.echo_id != 1) app("id", s.echo_id);
    if (s.echo_seq != 1) app("seq", s.echo_seq);
  } else if (s.kind == SpecKind::IcmpType) {
    if (s.icmp_code != 0) app("code", s.icmp_code);
  }
  if (s.ttl != 64) app("ttl", s.ttl);
  if (s.tos != 0) app("tos", s.tos);
  if (s.ipid != 1) app("ipid", s.ipid);
  if (s.df) out += " df";
  if (!s.data.empty()) {
    out += " data \"";
    for (char c : s.data) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (u >= 0x20 && u <= 0x7e) {
        out += c;
      } else {
        out += fmt::format("\\x{:02x}", u);
      }
    }
    out += '"';
  } else if (s.payload != default_payload(s.kind)) {
    app("payload", s.payload);
  }
  if (s.frag_off != 0 || s.frag_len != PacketSpec::kFragToEnd) {
    out += fmt::format(" frag {}", s.frag_off);
    if (s.frag_len != PacketSpec::kFragToEnd) out += fmt::format("+{}", s.frag_len);
  }
  if (s.mf) out += " mf";
  return out;
}

Result<PacketSpec> spec_from_packet(ConstIpv4View ip) {
  auto fail = [](std::string why) { return make_error("not expressible in the packet grammar: " + why); };
  if (ip.size() < kIpv4MinHeader || ip.version() != 4 || ip.ihl() < 5 || ip.size() < ip.header_len())
    return fail("not a valid IPv4 header");
  if (ip.ihl() != 5) return fail("IPv4 options");
  if (ip.rf()) return fail("reserved IP flag set");
  if (ip.is_fragment()) return fail("a fragment");
  if (ip.total_length() != ip.size()) return fail("total length differs from the datagram size");
  if (ip.checksum() != ip.compute_checksum()) return fail("wrong IPv4 header checksum");
  auto l4 = ip.payload();
  PacketSpec s;
  size_t hlen;
  auto ip_fields = [&ip](PacketSpec& spec) {
    spec.src = ip.saddr();
    spec.dst = ip.daddr();
    spec.ttl = ip.ttl();
    spec.tos = ip.tos();
    spec.ipid = ip.id();
    spec.df = ip.df();
  };
  switch (ip.protocol()) {
    case kIpProtoTcp: {
      auto t = parse_tcp(l4);
      if (!t) return fail(t.error().message);
      s = default_spec(SpecKind::Tcp);
      const size_t optlen = size_t{t->data_offset()} * 4 - kTcpMinHeader;
      if (!read_tcp_options(l4.subspan(kTcpMinHeader, optlen), s))
        return fail("TCP options other than MSS, SACK-permitted, timestamps, window scale and SACK as Linux lays them out");
      if (t->reserved() != 0) return fail("reserved TCP bits set");
      if (t->urg_ptr() != 0) return fail("TCP urgent pointer");
      s.sport = t->sport();
      s.dport = t->dport();
      s.seq = t->seq();
      s.ack = t->ack_seq();
      s.tcp_flags = t->flags();
      s.win = t->window();
      hlen = kTcpMinHeader + optlen;
      break;
    }
    case kIpProtoUdp: {
      auto u = parse_udp(l4);
      if (!u) return fail(u.error().message);
      if (u->length() != l4.size()) return fail("UDP length differs from the IP payload size");
      if (u->checksum() == 0) return fail("UDP without checksum");
      s = default_spec(SpecKind::Udp);
      s.sport = u->sport();
      s.dport = u->dport();
      hlen = kUdpHeader;
      break;
    }
    case kIpProtoIcmp: {
      auto c = parse_icmp(l4);
      if (!c) return fail(c.error().message);
      if ((c->type() == icmp_type::kEcho || c->type() == icmp_type::kEchoReply) && c->code() == 0) {
        s = default_spec(SpecKind::IcmpEcho);
        s.echo_id = c->echo_id();
        s.echo_seq = c->echo_seq();
      } else {
        if (c->rest() != 0) return fail("ICMP header word after the checksum is not zero");
        s = default_spec(SpecKind::IcmpType);
        s.icmp_code = c->code();
      }
      s.icmp_type = c->type();
      hlen = kIcmpHeader;
      break;
    }
    case kIpProtoSctp: {
      // Read what the grammar can say, write it back, and compare: any other
      // byte (parameters, TSNs, padding, the checksum) is not expressible.
      if (l4.size() < kSctpHeader) return fail("SCTP header cut short");
      s = default_spec(SpecKind::Sctp);
      s.sport = load16(l4.data());
      s.dport = load16(l4.data() + 2);
      s.vtag = load32(l4.data() + 4);
      s.nchunks = 0;
      bool data_seen = false, init_seen = false;
      for (size_t at = kSctpHeader; at < l4.size();) {
        if (l4.size() - at < kSctpChunkHeader || s.nchunks == PacketSpec::kMaxChunks)
          return fail("SCTP chunks the grammar cannot write");
        const uint8_t* c = l4.data() + at;
        const size_t clen = load16(c + 2);
        if (clen < kSctpChunkHeader || clen > l4.size() - at) return fail("SCTP chunks the grammar cannot write");
        s.chunk_type[s.nchunks] = c[0];
        s.chunk_flags[s.nchunks] = c[1];
        ++s.nchunks;
        if (c[0] == sctp_cid::kData && !data_seen && clen >= kSctpChunkHeader + 12) {
          s.payload = static_cast<uint32_t>(clen - kSctpChunkHeader - 12);
          data_seen = true;
        }
        if ((c[0] == sctp_cid::kInit || c[0] == sctp_cid::kInitAck) && !init_seen && clen >= 8) {
          s.init_tag = load32(c + 4);
          init_seen = true;
        }
        at += pad4(clen);
      }
      ip_fields(s);
      if (packet_length(s) != ip.size()) return fail("SCTP chunks the grammar cannot write");
      std::vector<uint8_t> again(ip.size());
      build_packet(s, again);
      if (!std::equal(again.begin(), again.end(), ip.bytes().begin()))
        return fail("SCTP chunks or checksum the grammar cannot write");
      return s;
    }
    case kIpProtoEsp:
    case kIpProtoAh: {
      const bool esp = ip.protocol() == kIpProtoEsp;
      hlen = esp ? kEspHeader : kAhHeader;
      if (l4.size() < hlen) return fail(esp ? "ESP header cut short" : "AH header cut short");
      const uint8_t* h = l4.data();
      if (!esp) {
        if (h[0] != kIpProtoNone || h[1] != kAhHeader / 4 - 2 || load16(h + 2) != 0)
          return fail("an AH header other than the grammar's (next header 59, no ICV)");
        h += 4;
      }
      s = default_spec(esp ? SpecKind::Esp : SpecKind::Ah);
      s.spi = load32(h);
      s.seq = load32(h + 4);
      break;
    }
    case kIpProtoDccp: {
      if (l4.size() < kDccpHeader) return fail("DCCP header cut short");
      const uint8_t* h = l4.data();
      s = default_spec(SpecKind::Dccp);
      s.sport = load16(h);
      s.dport = load16(h + 2);
      s.dccp_type = static_cast<uint8_t>(h[8] >> 1 & 0x0f);
      hlen = h[4] * 4u;
      const size_t opts_at = kDccpHeader + dccp_type_subheader_len(s.dccp_type);
      if (h[5] != 0 || (h[8] & 0xe1) != 1 || h[9] != 0 || load32(h + 10) != 0 || load16(h + 14) != 1 ||
          hlen < opts_at || hlen > l4.size() || std::any_of(h + kDccpHeader, h + opts_at, [](uint8_t b) { return b; }))
        return fail("a DCCP header other than the grammar's");
      s.dccp_opts.assign(h + opts_at, h + hlen);
      while (!s.dccp_opts.empty() && s.dccp_opts.back() == 0) s.dccp_opts.pop_back();
      if (dccp_extra_len(s) != hlen - kDccpHeader) return fail("DCCP padding the grammar cannot write");
      uint32_t sum = pseudo_header_sum(ip.saddr(), ip.daddr(), kIpProtoDccp, static_cast<uint32_t>(l4.size()));
      if (csum_fold(csum_bytes(l4, sum)) != 0xffff) return fail("wrong transport checksum");
      break;
    }
    case kIpProtoComp: {
      hlen = kIpcompHeader;
      if (l4.size() < hlen) return fail("IPComp header cut short");
      if (l4[0] != kIpProtoNone || l4[1] != 0) return fail("an IPComp header other than the grammar's (next header 59, flags 0)");
      s = default_spec(SpecKind::Ipcomp);
      s.spi = load16(l4.data() + 2);
      break;
    }
    default: return fail(fmt::format("IP protocol {}", ip.protocol()));
  }
  auto pay = l4.subspan(hlen);
  if (std::any_of(pay.begin(), pay.end(), [](uint8_t b) { return b != 0; })) {
    if (s.kind != SpecKind::Tcp && s.kind != SpecKind::Udp) return fail("non-zero payload bytes");
    s.data.assign(pay.begin(), pay.end());
  }
  auto want = compute_l4_checksum(ip);
  if (has_l4_checksum(s.kind) &&
      (!want || load16(l4.data() + (s.kind == SpecKind::Tcp ? 16 : s.kind == SpecKind::Udp ? 6 : 2)) != *want))
    return fail("wrong transport checksum");
  ip_fields(s);
  s.payload = static_cast<uint32_t>(pay.size());
  return s;
}

Result<std::string> format_packet(ConstIpv4View ip) {
  auto s = spec_from_packet(ip);
  if (!s) return s.error();
  return format_spec(*s);
}

Result<Packet> build_icmp_error(const PacketSpec& spec, ConstIpv4View offending, size_t max_len) {
  if (spec.kind != SpecKind::IcmpType || !icmp_is_error(spec.icmp_type))
    return make_error(fmt::format("ICMP type {} is not an error type (3, 4, 5, 11 or 12)", spec.icmp_type));
  size_t fixed = kIpv4MinHeader + kIcmpHeader;
  if (max_len < fixed) return make_error(fmt::format("ICMP error length limit {} below 28", max_len));
  if (max_len > kIpv4MaxLength) max_len = kIpv4MaxLength;
  size_t quote = std::min(offending.size(), max_len - fixed);
  PacketSpec s = spec;
  s.payload = static_cast<uint32_t>(quote);
  Packet p;
  p.resize(packet_length(s));
  auto d = p.data();
  // build_packet zeroes the payload: build the headers into place first,
  // then copy the quote and recompute the ICMP checksum.
  s.payload = 0;
  build_packet(s, d.first(fixed));
  Ipv4View ip(d);
  ip.set_total_length(static_cast<uint16_t>(d.size()));
  std::memcpy(d.data() + fixed, offending.bytes().data(), quote);
  fill_checksums(ip);
  return p;
}

}  // namespace nfemu::packet

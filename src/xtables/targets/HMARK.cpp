// -j HMARK: set the packet mark from a hash of its addresses, ports and
// protocol (xt_HMARK.c, libxt_HMARK.c), so that flows spread over N marks
// (policy routing, queues) the same way on every node that shares the
// seed. The hash is symmetric: both directions of a flow get one mark.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "conntrack/conntrack.h"
#include "packet/bytes.h"
#include "packet/headers.h"
#include "util/jhash.h"
#include "xtables/addr.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

// libxt_HMARK's option ids (O_HMARK_*), which are also the kernel's flag
// bits (XT_HMARK_*) for the options that set one.
enum : unsigned {
  kSaddrMask,
  kDaddrMask,
  kSpi,
  kSpiMask,
  kSport,
  kDport,
  kSportMask,
  kDportMask,
  kProtoMask,
  kRnd,
  kModulus,
  kOffset,
  kCt,
  kType,  // --hmark-tuple (userspace only)
};
constexpr uint32_t bit(unsigned id) { return 1u << id; }
constexpr uint32_t kPacketFields = bit(kSaddrMask) | bit(kDaddrMask) | bit(kSpiMask) | bit(kSportMask) |
                                   bit(kDportMask) | bit(kProtoMask) | bit(kSport) | bit(kDport) | bit(kSpi);

// --hmark-tuple's words, in the order libxt_HMARK tries them: an
// abbreviation takes the first word it begins (case-insensitive).
struct TupleWord {
  std::string_view name;
  unsigned id;
};
constexpr TupleWord kTupleWords[] = {{"ct", kCt},           {"src", kSaddrMask},  {"dst", kDaddrMask}, {"sport", kSportMask},
                                     {"dport", kDportMask}, {"proto", kProtoMask}, {"spi", kSpiMask}};

class HmarkTarget : public TargetBase<HmarkTarget> {
 public:
  std::string_view name() const override { return "HMARK"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"hmark-tuple"},      {"hmark-src-prefix"}, {"hmark-dst-prefix"}, {"hmark-sport-mask"}, {"hmark-dport-mask"},
        {"hmark-spi-mask"},   {"hmark-sport"},      {"hmark-dport"},      {"hmark-spi"},        {"hmark-proto-mask"},
        {"hmark-rnd"},        {"hmark-mod"},        {"hmark-offset"},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const std::string_view o = opt.name.substr(6);  // after "hmark-"
    auto u = [&](uint64_t min, uint64_t max) { return xtopt::parse_int("HMARK", opt.name, opt.arg, min, max); };
    // A word of --hmark-tuple counts as its option: `--hmark-tuple sport
    // --hmark-sport-mask 0xff` gives the mask twice.
    if (xflags_ & bit(option_id(o))) return xtopt::used_once("HMARK", opt.name);
    unsigned id;
    if (o == "tuple") {
      if (auto r = parse_tuple(opt.arg); !r) return r;
      id = kType;
    } else if (o == "src-prefix" || o == "dst-prefix") {
      auto m = parse_prefix_mask(opt.name, opt.arg);
      if (!m) return m.error();
      id = o == "src-prefix" ? kSaddrMask : kDaddrMask;
      (id == kSaddrMask ? src_mask_ : dst_mask_) = *m;
    } else if (o == "sport-mask" || o == "dport-mask" || o == "sport" || o == "dport") {
      auto v = u(0, UINT16_MAX);
      if (!v) return v.error();
      // The 16-bit halves of one 32-bit union (struct xt_hmark_info's
      // port_mask, port_set): source port high, destination port low.
      const bool mask = o.ends_with("mask");
      const bool src = o.starts_with("sport");
      uint32_t& word = mask ? port_mask_ : port_set_;
      word = src ? (word & 0xffffu) | static_cast<uint32_t>(*v << 16) : (word & 0xffff0000u) | static_cast<uint32_t>(*v);
      id = mask ? (src ? kSportMask : kDportMask) : (src ? kSport : kDport);
    } else if (o == "spi-mask" || o == "spi") {
      auto v = u(0, UINT32_MAX);
      if (!v) return v.error();
      (o == "spi" ? port_set_ : port_mask_) = static_cast<uint32_t>(*v);
      id = o == "spi" ? kSpi : kSpiMask;
    } else if (o == "proto-mask") {
      auto v = u(0, UINT16_MAX);
      if (!v) return v.error();
      proto_mask_ = static_cast<uint16_t>(*v);
      id = kProtoMask;
    } else {  // rnd, mod, offset
      auto v = u(o == "mod" ? 1 : 0, UINT32_MAX);
      if (!v) return v.error();
      id = o == "rnd" ? kRnd : o == "mod" ? kModulus : kOffset;
      (id == kRnd ? rnd_ : id == kModulus ? modulus_ : offset_) = static_cast<uint32_t>(*v);
    }
    if (id != kType) flags_ |= bit(id);
    xflags_ |= bit(id);
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(xflags_ & bit(kModulus))) return make_error("--hmark-mod is mandatory");
    if (!(xflags_ & bit(kRnd))) return make_error("--hmark-rnd is mandatory");
    if ((xflags_ & bit(kSpiMask)) && (xflags_ & (bit(kSportMask) | bit(kDportMask))))
      return make_error("you cannot use --hmark-spi-mask and --hmark-?port-mask,at the same time");
    if (!(xflags_ & (kPacketFields | bit(kCt)))) return make_error("you have to specify --hmark-tuple at least");
    return {};
  }

  // hmark_tg_check: a SPI to set and ports to set write the same word.
  Result<void> check(const CheckContext&) const override {
    if ((flags_ & bit(kSpi)) && (flags_ & (bit(kSport) | bit(kDport))))
      return make_error("xt_HMARK: spi-set and port-set can't be combined");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (flags_ & bit(kSaddrMask)) out += fmt::format(" --hmark-src-prefix {}", mask_prefix_len(src_mask_));
    if (flags_ & bit(kDaddrMask)) out += fmt::format(" --hmark-dst-prefix {}", mask_prefix_len(dst_mask_));
    if (flags_ & bit(kSportMask)) out += fmt::format(" --hmark-sport-mask 0x{:04x}", port_mask_ >> 16);
    if (flags_ & bit(kDportMask)) out += fmt::format(" --hmark-dport-mask 0x{:04x}", port_mask_ & 0xffff);
    if (flags_ & bit(kSpiMask)) out += fmt::format(" --hmark-spi-mask 0x{:08x}", port_mask_);
    if (flags_ & bit(kSport)) out += fmt::format(" --hmark-sport 0x{:04x}", port_set_ >> 16);
    if (flags_ & bit(kDport)) out += fmt::format(" --hmark-dport 0x{:04x}", port_set_ & 0xffff);
    if (flags_ & bit(kSpi)) out += fmt::format(" --hmark-spi 0x{:08x}", port_set_);
    if (flags_ & bit(kProtoMask)) out += fmt::format(" --hmark-proto-mask 0x{:02x}", proto_mask_);
    if (flags_ & bit(kRnd)) out += fmt::format(" --hmark-rnd 0x{:08x}", rnd_);
    if (flags_ & bit(kModulus)) out += fmt::format(" --hmark-mod {}", modulus_);
    if (flags_ & bit(kOffset)) out += fmt::format(" --hmark-offset {}", offset_);
    if (flags_ & bit(kCt)) out += " --hmark-tuple ct";
  }

  bool can_evaluate() const override { return true; }

  // hmark_tg_v4: the mark is set only when a tuple could be taken (with
  // --hmark-tuple ct: when the packet has a connection); always continue.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    Tuple t;
    const bool ok = flags_ & bit(kCt) ? ct_tuple(ctx.pkt, t) : packet_tuple(ctx.pkt, t);
    if (ok) ctx.pkt.meta.mark = hash(t);
    return TargetVerdict::Continue;
  }

 private:
  // struct hmark_tuple, host order; ports already masked and ordered.
  struct Tuple {
    uint32_t src = 0, dst = 0, ports = 0;
    uint8_t proto = 0;
  };

  static unsigned option_id(std::string_view o) {
    static constexpr std::pair<std::string_view, unsigned> kIds[] = {
        {"tuple", kType},          {"src-prefix", kSaddrMask}, {"dst-prefix", kDaddrMask}, {"sport-mask", kSportMask},
        {"dport-mask", kDportMask}, {"spi-mask", kSpiMask},     {"sport", kSport},          {"dport", kDport},
        {"spi", kSpi},              {"proto-mask", kProtoMask}, {"rnd", kRnd},              {"mod", kModulus},
        {"offset", kOffset}};
    for (auto [name, id] : kIds)
      if (name == o) return id;
    return kType;
  }

  // hmark_parse_type: comma-separated words; the whole rest of the list is
  // named in the error, as libxt_HMARK does.
  Result<void> parse_tuple(std::string_view arg) {
    constexpr std::string_view kEmpty =
        "\"--hmark-tuple\" requires a list of types with no spaces, e.g. src,dst,sport,dport,proto";
    while (true) {
      const size_t comma = arg.find(',');
      const std::string_view item = arg.substr(0, comma);
      if (comma == std::string_view::npos && item.empty()) return make_error(std::string(kEmpty));
      const TupleWord* w = nullptr;
      for (const auto& cand : kTupleWords)
        if (!item.empty() && item.size() <= cand.name.size() &&
            std::equal(item.begin(), item.end(), cand.name.begin(),
                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
          w = &cand;
          break;
        }
      if (!w) return make_error(fmt::format("Bad type \"{}\"", arg));
      switch (w->id) {
        case kSaddrMask: src_mask_ = UINT32_MAX; break;
        case kDaddrMask: dst_mask_ = UINT32_MAX; break;
        case kSportMask: port_mask_ |= 0xffff0000u; break;
        case kDportMask: port_mask_ |= 0xffffu; break;
        case kProtoMask: proto_mask_ = 0xffff; break;
        case kSpiMask: port_mask_ = UINT32_MAX; break;
        default: break;
      }
      flags_ |= bit(w->id);
      xflags_ |= bit(w->id);
      if (comma == std::string_view::npos) return {};
      arg.remove_prefix(comma + 1);
    }
  }

  // XTTYPE_PLENMASK for IPv4: a prefix length or a contiguous netmask.
  static Result<uint32_t> parse_prefix_mask(std::string_view opt, std::string_view arg) {
    uint64_t plen = 0;
    if (!xtopt::strtoul_x(arg, &plen, 0, 32)) {
      auto m = xtopt::inet_aton(arg);
      if (!m)
        return make_error(fmt::format(
            "HMARK: bad value for option \"--{}\", neither a valid network mask nor valid CIDR (0-32).", opt));
      // A mask that is no prefix (255.0.255.0, or "33" read as 0.0.0.33)
      // gives libxtables a length of -1, stored as 255: every bit set.
      const int len = mask_prefix_len(*m);
      plen = len < 0 ? 32 : static_cast<uint64_t>(len);
    }
    return plen == 0 ? 0u : static_cast<uint32_t>(UINT32_MAX << (32 - plen));
  }

  // hmark_swap_ports: mask, set, then the larger port in the high half.
  uint32_t ordered_ports(uint32_t raw) const {
    const uint32_t v = (raw & port_mask_) | port_set_;
    const uint32_t src = v >> 16, dst = v & 0xffff;
    return dst > src ? (dst << 16 | src) : (src << 16 | dst);
  }

  // hmark_pkt_set_htuple_ipv4: an ICMP error is hashed as the datagram it
  // quotes; a fragment by its addresses and protocol only.
  bool packet_tuple(const packet::Packet& pkt, Tuple& t) const {
    auto d = pkt.data();
    size_t nh = 0;  // offset of the IP header the hash reads
    if (d[9] == packet::kIpProtoIcmp) {
      const size_t ihl = size_t{d[0] & 0x0fu} * 4;
      // get_inner_hdr: an error type with its 8-byte header present.
      if (d.size() >= ihl + 8) {
        const uint8_t type = d[ihl];
        if (type <= 18 && (type == 3 || type == 4 || type == 11 || type == 12 || type == 5)) {
          nh = ihl + 8;
          if (d.size() < nh + 20) return false;
        }
      }
    }
    const uint8_t* ip = d.data() + nh;
    t.src = packet::load32(ip + 12) & src_mask_;
    t.dst = packet::load32(ip + 16) & dst_mask_;
    t.proto = ip[9];
    if (t.proto == packet::kIpProtoIcmp) return true;
    if (packet::load16(ip + 6) & 0x3fff) return true;  // MF or an offset: no ports
    int protoff;
    switch (t.proto) {
      case packet::kIpProtoTcp:
      case packet::kIpProtoUdp:
      case 33:   // DCCP
      case packet::kIpProtoEsp:
      case 132:  // SCTP
      case 136:  // UDP-Lite
        protoff = 0;
        break;
      case packet::kIpProtoAh: protoff = 4; break;
      default: return true;  // proto_ports_offset: no ports
    }
    const size_t at = nh + size_t{ip[0] & 0x0fu} * 4 + static_cast<size_t>(protoff);
    if (d.size() < at + 4) return true;  // skb_copy_bits failed: ports stay 0, unordered
    t.ports = ordered_ports(packet::load32(d.data() + at));
    return true;
  }

  // hmark_ct_set_htuple: the original source, the reply's source (the
  // original destination after NAT) and their ports, for either direction.
  bool ct_tuple(const packet::Packet& pkt, Tuple& t) const {
    const auto* ct = static_cast<const conntrack::Entry*>(pkt.meta.ct);
    if (!ct || conntrack::is_template(ct)) return false;
    const conntrack::Tuple& orig = ct->tuple[conntrack::kOriginal];
    const conntrack::Tuple& reply = ct->tuple[conntrack::kReply];
    t.src = orig.src & src_mask_;
    t.dst = reply.src & dst_mask_;
    t.proto = orig.proto;
    if (t.proto != packet::kIpProtoIcmp) t.ports = ordered_ports(uint32_t{orig.sport} << 16 | reply.sport);
    return true;
  }

  // hmark_hash: the smaller address first; jhash_3words is jhash2 of three
  // words; scaled to the modulus (reciprocal_scale), then the offset.
  uint32_t hash(const Tuple& t) const {
    const uint32_t words[3] = {std::min(t.src, t.dst), std::max(t.src, t.dst), t.ports};
    uint32_t h = util::jhash2(words, 3, rnd_);
    h ^= t.proto & proto_mask_;
    return static_cast<uint32_t>((uint64_t{h} * modulus_) >> 32) + offset_;
  }

  uint32_t src_mask_ = 0, dst_mask_ = 0;  // host order
  uint32_t port_mask_ = 0, port_set_ = 0;  // sport (or SPI's high half) high
  uint16_t proto_mask_ = 0;
  uint32_t rnd_ = 0, modulus_ = 0, offset_ = 0;
  uint32_t flags_ = 0;   // xt_hmark_info.flags
  uint32_t xflags_ = 0;  // options given, for the final checks
};

}  // namespace

void register_target_HMARK(Registry& r) { r.add_target<HmarkTarget>("HMARK"); }

}  // namespace nfemu::xt

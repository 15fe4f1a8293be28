// -m sctp: ports and chunk types (xt_sctp.c, libxt_sctp.c).
//
// libxt_sctp records chunk flags under the chunk's index in its name table
// rather than under its type. For the chunks that have flags and a type
// below 15 the two agree; for I_DATA (index 15, type 64) the flags end up
// on chunk type 15. nfemu keeps that, so saved rules and kernel data stay
// what iptables 1.8.9 makes of them.
#include <fmt/format.h>

#include <array>
#include <bitset>
#include <cctype>
#include <vector>

#include "util/strings.h"
#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kSrcPorts = 0x01, kDstPorts = 0x02, kChunkTypes = 0x04;  // XT_SCTP_*
constexpr size_t kMaxFlagEntries = 4;                                       // XT_NUM_SCTP_FLAGS

enum class ChunkMatch : uint8_t { Any = 1, All = 2, Only = 4 };  // SCTP_CHUNK_MATCH_*

struct ChunkName {
  std::string_view name;
  uint8_t type;
  std::string_view valid_flags;  // bit 7 first
};
constexpr std::array<ChunkName, 22> kChunks = {{
    {"DATA", 0, "----IUBE"},          {"INIT", 1, "--------"},         {"INIT_ACK", 2, "--------"},
    {"SACK", 3, "--------"},          {"HEARTBEAT", 4, "--------"},    {"HEARTBEAT_ACK", 5, "--------"},
    {"ABORT", 6, "-------T"},         {"SHUTDOWN", 7, "--------"},     {"SHUTDOWN_ACK", 8, "--------"},
    {"ERROR", 9, "--------"},         {"COOKIE_ECHO", 10, "--------"}, {"COOKIE_ACK", 11, "--------"},
    {"ECN_ECNE", 12, "--------"},     {"ECN_CWR", 13, "--------"},     {"SHUTDOWN_COMPLETE", 14, "-------T"},
    {"I_DATA", 64, "----IUBE"},       {"RE_CONFIG", 130, "--------"},  {"PAD", 132, "--------"},
    {"ASCONF", 193, "--------"},      {"ASCONF_ACK", 128, "--------"}, {"FORWARD_TSN", 192, "--------"},
    {"I_FORWARD_TSN", 194, "--------"},
}};

// parse_sctp_ports: "P", "P:Q", ":Q", "P:"; each port a strtoul() number
// (so "+22" too) or an sctp service name.
Result<PortRange> parse_ports(std::string_view s) {
  auto one = [](std::string_view p) -> Result<uint16_t> {
    if (auto v = compat::strtoul_full(p, 65535)) return static_cast<uint16_t>(*v);
    return parse_port(p, "sctp");
  };
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    auto p = one(s);
    if (!p) return p.error();
    return PortRange{*p, *p};
  }
  PortRange r;
  if (colon > 0) {
    auto p = one(s.substr(0, colon));
    if (!p) return p.error();
    r.lo = *p;
  }
  if (colon + 1 < s.size()) {
    auto p = one(s.substr(colon + 1));
    if (!p) return p.error();
    r.hi = *p;
  }
  if (r.lo > r.hi) return make_error("invalid portrange (min > max)");
  return r;
}

struct FlagInfo {
  uint8_t chunktype;  // an index into kChunks, see the file comment
  uint8_t flag = 0, flag_mask = 0;
};

class SctpMatch : public MatchBase<SctpMatch> {
 public:
  std::string_view name() const override { return "sctp"; }
  std::span<const OptionSpec> options() const override {
    // Old-style option parsing: every option may be inverted and the
    // "Only one" checks are the extension's own.
    static constexpr OptionSpec kOptions[] = {
        {"source-port", ArgKind::Required, true, true},      {"sport", ArgKind::Required, true, true},
        {"destination-port", ArgKind::Required, true, true}, {"dport", ArgKind::Required, true, true},
        {"chunk-types", ArgKind::Two, true, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "source-port" || opt.name == "sport" || opt.name == "destination-port" || opt.name == "dport") {
      bool src = opt.name == "source-port" || opt.name == "sport";
      uint8_t bit = src ? kSrcPorts : kDstPorts;
      if (flags_ & bit) return make_error(src ? "Only one `--source-port' allowed" : "Only one `--destination-port' allowed");
      auto r = parse_ports(opt.arg);
      if (!r) return r.error();
      (src ? spts_ : dpts_) = *r;
      flags_ |= bit;
      if (opt.invert) invflags_ |= bit;
      return {};
    }
    if (flags_ & kChunkTypes) return make_error("Only one `--chunk-types' allowed");
    if (iequals(opt.arg, "ANY")) match_type_ = ChunkMatch::Any;
    else if (iequals(opt.arg, "ALL")) match_type_ = ChunkMatch::All;
    else if (iequals(opt.arg, "ONLY")) match_type_ = ChunkMatch::Only;
    else return make_error("Match type has to be one of \"ALL\", \"ANY\" or \"ONLY\"");
    auto r = parse_chunks(opt.arg2);
    if (!r) return r;
    flags_ |= kChunkTypes;
    if (opt.invert) invflags_ |= kChunkTypes;
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 132}; }

  void save(std::string& out, const IpCriteria&) const override {
    auto ports = [&](uint8_t bit, const char* opt, PortRange r) {
      if (!(flags_ & bit)) return;
      if (invflags_ & bit) out += " !";
      if (r.lo != r.hi) out += fmt::format(" --{} {}:{}", opt, r.lo, r.hi);
      else out += fmt::format(" --{} {}", opt, r.lo);
    };
    ports(kSrcPorts, "sport", spts_);
    ports(kDstPorts, "dport", dpts_);
    if (!(flags_ & kChunkTypes)) return;
    if (invflags_ & kChunkTypes) out += " !";
    out += " --chunk-types";
    out += match_type_ == ChunkMatch::Any ? " any" : match_type_ == ChunkMatch::All ? " all" : " only";
    if (chunkmap_.none()) {
      out += " NONE";
      return;
    }
    if (chunkmap_.all()) {
      out += " ALL";
      return;
    }
    char sep = ' ';
    for (unsigned t = 0; t < 256; ++t) {
      if (!chunkmap_.test(t)) continue;
      out += sep;
      sep = ',';
      for (const auto& c : kChunks)
        if (c.type == t) out += c.name;
      for (const auto& f : flag_info_) {
        if (f.chunktype != t || !f.flag_mask) continue;
        out += ':';
        // print_chunk_flags looks the letters up by chunk type, which is
        // also the index for every type that can be reached here (t < 22).
        std::string_view letters = kChunks[t].valid_flags;
        for (int bit = 7; bit >= 0; --bit) {
          if (!(f.flag_mask & (1u << bit))) continue;
          char l = letters[7 - bit];
          out += (f.flag & (1u << bit)) ? l : static_cast<char>(std::tolower(static_cast<unsigned char>(l)));
        }
      }
    }
  }

  bool can_evaluate() const override { return true; }

  // sctp_mt: later fragments never match; a common header (12 bytes) or a
  // chunk header that is missing, or a chunk of length 0, drops the packet.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto d = ctx.pkt.data();
    const size_t len = d.size();
    if (size_t{ctx.thoff} + 12 > len) return MatchOutcome::HotDrop;
    auto l4 = d.subspan(ctx.thoff);
    uint16_t sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    uint16_t dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
    auto check = [&](uint8_t opt, bool cond) { return !(flags_ & opt) || (static_cast<bool>(invflags_ & opt) != cond); };
    if (!check(kSrcPorts, sport >= spts_.lo && sport <= spts_.hi)) return MatchOutcome::NoMatch;
    if (!check(kDstPorts, dport >= dpts_.lo && dport <= dpts_.hi)) return MatchOutcome::NoMatch;
    if (!(flags_ & kChunkTypes)) return MatchOutcome::Match;
    bool hotdrop = false;
    bool chunks = match_chunks(d, size_t{ctx.thoff} + 12, &hotdrop);
    if (hotdrop) return MatchOutcome::HotDrop;
    return check(kChunkTypes, chunks) ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  Result<void> parse_chunks(std::string_view list) {
    chunkmap_.reset();
    flag_info_.clear();
    if (iequals(list, "ALL")) {
      chunkmap_.set();
      return {};
    }
    if (iequals(list, "NONE")) return {};
    // strtok: empty items between commas are skipped.
    for (std::string_view item : split(list, ',')) {
      if (item.empty()) continue;
      size_t colon = item.find(':');
      std::string_view chunk = item.substr(0, colon);
      size_t idx = kChunks.size();
      for (size_t i = 0; i < kChunks.size(); ++i)
        if (iequals(kChunks[i].name, chunk)) {
          idx = i;
          break;
        }
      if (idx == kChunks.size()) return make_error(fmt::format("Unknown sctp chunk `{}'", chunk));
      chunkmap_.set(kChunks[idx].type);
      if (colon == std::string_view::npos) continue;
      for (char c : item.substr(colon + 1)) {
        size_t pos = kChunks[idx].valid_flags.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        if (pos == std::string_view::npos) return make_error(fmt::format("Invalid flags for chunk type {}", idx));
        auto r = add_flag(static_cast<uint8_t>(idx), static_cast<uint8_t>(7 - pos),
                          std::isupper(static_cast<unsigned char>(c)) != 0);
        if (!r) return r;
      }
    }
    return {};
  }

  // match_flags: the first flag entry for the chunk type decides.
  bool flags_ok(uint8_t type, uint8_t chunk_flags) const {
    for (const auto& f : flag_info_)
      if (f.chunktype == type) return (chunk_flags & f.flag_mask) == f.flag;
    return true;
  }

  // match_packet: walks the chunks (lengths padded to 4) to the end.
  bool match_chunks(std::span<const uint8_t> d, size_t offset, bool* hotdrop) const {
    std::bitset<256> left = chunkmap_;
    do {
      if (offset + 4 > d.size()) {
        *hotdrop = true;
        return false;
      }
      uint8_t type = d[offset], chunk_flags = d[offset + 1];
      size_t clen = static_cast<size_t>(d[offset + 2] << 8 | d[offset + 3]);
      if (clen == 0) {
        *hotdrop = true;
        return false;
      }
      offset += (clen + 3) & ~size_t{3};
      if (chunkmap_.test(type)) {
        switch (match_type_) {
          case ChunkMatch::Any:
            if (flags_ok(type, chunk_flags)) return true;
            break;
          case ChunkMatch::All:
            if (flags_ok(type, chunk_flags)) left.reset(type);
            break;
          case ChunkMatch::Only:
            if (!flags_ok(type, chunk_flags)) return false;
            break;
        }
      } else if (match_type_ == ChunkMatch::Only) {
        return false;
      }
    } while (offset < d.size());
    switch (match_type_) {
      case ChunkMatch::All: return left.none();
      case ChunkMatch::Any: return false;
      case ChunkMatch::Only: return true;
    }
    return false;
  }

  Result<void> add_flag(uint8_t chunk_index, uint8_t bit, bool set) {
    for (auto& f : flag_info_) {
      if (f.chunktype != chunk_index) continue;
      f.flag_mask |= static_cast<uint8_t>(1u << bit);
      if (set) f.flag |= static_cast<uint8_t>(1u << bit);
      return {};
    }
    if (flag_info_.size() == kMaxFlagEntries)
      return make_error("Number of chunk types with flags exceeds currently allowed limit. Increasing this limit "
                        "involves changing IPT_NUM_SCTP_FLAGS and recompiling both the kernel space and user space "
                        "modules");
    FlagInfo f{chunk_index};
    f.flag_mask = static_cast<uint8_t>(1u << bit);
    if (set) f.flag = static_cast<uint8_t>(1u << bit);
    flag_info_.push_back(f);
    return {};
  }

  PortRange spts_, dpts_;
  uint8_t flags_ = 0, invflags_ = 0;
  ChunkMatch match_type_ = ChunkMatch::Any;
  std::bitset<256> chunkmap_;
  std::vector<FlagInfo> flag_info_;
};

}  // namespace

void register_match_sctp(Registry& r) { r.add_match<SctpMatch>("sctp"); }

}  // namespace nfemu::xt

// -m pkttype: link-layer packet class (xt_pkttype.c, libxt_pkttype.c).
#include <fmt/format.h>

#include <array>
#include <string>
#include <strings.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// Values are the kernel's PACKET_* (linux/if_packet.h).
struct PktType {
  const char* name;
  uint8_t type;
};
// The first name of a value is the one save prints; the rest are aliases.
constexpr std::array<PktType, 7> kTypes = {{{"unicast", 0},
                                            {"broadcast", 1},
                                            {"multicast", 2},
                                            {"otherhost", 3},
                                            {"bcast", 1},
                                            {"mcast", 2},
                                            {"host", 0}}};

class PkttypeMatch : public MatchBase<PkttypeMatch> {
 public:
  std::string_view name() const override { return "pkttype"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"pkt-type", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string s(opt.arg);
    for (const auto& t : kTypes) {
      if (strcasecmp(s.c_str(), t.name) == 0) {
        type_ = t.type;
        invert_ = opt.invert;
        given_ = true;
        return {};
      }
    }
    return make_error(fmt::format("Bad packet type '{}'", opt.arg));
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("pkttype", "pkt-type");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += invert_ ? " ! --pkt-type " : " --pkt-type ";
    for (const auto& t : kTypes) {
      if (t.type == type_) {
        out += t.name;
        return;
      }
    }
    out += fmt::format("{}", type_);
  }

 private:
  uint8_t type_ = 0;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_pkttype(Registry& r) { r.add_match<PkttypeMatch>("pkttype"); }

}  // namespace nfemu::xt

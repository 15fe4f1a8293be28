// -m string: a byte pattern in the packet (xt_string.c, libxt_string.c
// revision 1, which has --icase).
//
// The kernel compiles the pattern with textsearch_prepare() at table load,
// so an algorithm it has no module for (this kernel has bm, kmp and fsm
// built in) or a pattern the algorithm rejects makes the whole table fail.
// bm and kmp search for the pattern as bytes; fsm runs it as a program of
// tokens (lib/ts_fsm.c), with that algorithm's own anchoring and end rules.
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <string>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxPattern = 128;  // XT_STRING_MAX_PATTERN_SIZE
constexpr size_t kMaxAlgo = 16;      // XT_STRING_MAX_ALGO_NAME_SIZE, with the NUL

// parse_hex_string: plain bytes, `|41 42|` hex blocks, `\x` literals outside blocks.
Result<std::string> parse_hex_string(std::string_view s) {
  if (s.empty()) return make_error("STRING must contain at least one char");
  std::string out;
  const size_t slen = s.size();
  auto at = [&](size_t i) -> char { return i < slen ? s[i] : '\0'; };
  bool hex = false, literal = false;
  size_t i = 0;
  while (i < slen) {
    if (out.size() >= kMaxPattern) return make_error(fmt::format("STRING too long \"{}\"", s));
    if (s[i] == '\\' && !hex) {
      literal = true;
    } else if (s[i] == '\\') {
      return make_error("Cannot include literals in hex data");
    } else if (s[i] == '|') {
      if (hex) {
        hex = false;
      } else {
        hex = true;
        while (at(i + 1) == ' ') ++i;  // blanks right after the opening '|'
      }
      if (i + 1 >= slen) break;
      ++i;
    }
    if (literal) {
      if (i + 1 >= slen) return make_error("Bad literal placement at end of string");
      out.push_back(s[i + 1]);
      i += 2;
      literal = false;
    } else if (hex) {
      if (i + 1 >= slen) return make_error("Odd number of hex digits");
      if (i + 2 >= slen) return make_error("Invalid hex block");
      if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return make_error(fmt::format("Invalid hex char '{}'", s[i]));
      if (!std::isxdigit(static_cast<unsigned char>(s[i + 1])))
        return make_error(fmt::format("Invalid hex char '{}'", s[i + 1]));
      out.push_back(static_cast<char>(xtopt::digit_value(s[i]) * 16 + xtopt::digit_value(s[i + 1])));
      i += s[i + 2] == ' ' ? 3 : 2;
    } else {
      out.push_back(s[i]);
      ++i;
    }
  }
  return out;
}

// is_hex_string: save in hex when a byte is not printable (C locale, where
// bytes >= 0x80 are not) or when the pattern ends in a backslash.
bool needs_hex(const std::string& p) {
  for (char c : p)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return true;
  return !p.empty() && p.back() == '\\';
}

class StringMatch : public MatchBase<StringMatch> {
 public:
  std::string_view name() const override { return "string"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"from", ArgKind::Required},        {"to", ArgKind::Required},
        {"algo", ArgKind::Required},        {"string", ArgKind::Required, true},
        {"hex-string", ArgKind::Required, true}, {"icase", ArgKind::None},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    if (o == "from" || o == "to") {
      auto v = xtopt::parse_int("string", o, opt.arg, 0, UINT16_MAX);
      if (!v) return v.error();
      (o == "from" ? from_ : to_) = static_cast<uint16_t>(*v);
    } else if (o == "algo") {
      // XTOPT_PUT into char[16]: cut to 15 bytes.
      algo_ = std::string(opt.arg.substr(0, kMaxAlgo - 1));
      have_algo_ = true;
    } else if (o == "string") {
      if (opt.arg.size() > kMaxPattern) return make_error(fmt::format("STRING too long \"{}\"", opt.arg));
      // The pattern ends at a NUL, as strnlen sees it.
      pattern_ = std::string(opt.arg.substr(0, opt.arg.find('\0')));
      have_string_ = true;
      if (opt.invert) invert_ = true;
    } else if (o == "hex-string") {
      auto p = parse_hex_string(opt.arg);
      if (!p) return p.error();
      pattern_ = *p;
      have_hex_ = true;
      if (opt.invert) invert_ = true;
    } else if (o == "icase") {
      icase_ = true;
    }
    return {};
  }

  // string_check, then the generic mandatory and exclusion checks.
  Result<void> final_check(const ParseContext&) override {
    if (!have_string_ && !have_hex_) return make_error("STRING match: You must specify `--string' or `--hex-string'");
    if (!have_algo_) return xtopt::must_be_specified("string", "algo");
    if (have_string_ && have_hex_) return xtopt::cannot_combine("string", "string", "hex-string");
    return {};
  }

  // string_mt_check and textsearch_prepare.
  Result<void> check(const CheckContext&) const override {
    if (from_ > to_) return make_error(fmt::format("xt_string: --from {} is beyond --to {} (EINVAL)", from_, to_));
    if (algo_ != "bm" && algo_ != "kmp" && algo_ != "fsm")
      return make_error(fmt::format("xt_string: no textsearch algorithm \"{}\" (ENOENT)", algo_));
    if (pattern_.empty()) return make_error("xt_string: textsearch_prepare: empty pattern (EINVAL)");
    if (algo_ == "fsm") {
      // fsm_init: the pattern is an array of struct ts_fsm_token
      // {u16 type; u8 recur; u8 value;} in host (little endian) order.
      constexpr uint16_t kTypeMax = 13;  // TS_FSM_TYPE_MAX (TS_FSM_SPACE)
      constexpr uint8_t kHeadIgnore = 4;  // TS_FSM_RECUR_MAX
      const size_t ntokens = pattern_.size() / 4;
      if (pattern_.size() % 4 != 0) return make_error("xt_string: fsm pattern is not a whole number of tokens (EINVAL)");
      if (icase_) return make_error("xt_string: fsm cannot ignore case (EINVAL)");
      for (size_t t = 0; t < ntokens; ++t) {
        const auto* p = reinterpret_cast<const unsigned char*>(pattern_.data()) + 4 * t;
        uint16_t type = static_cast<uint16_t>(p[0] | p[1] << 8);
        uint8_t recur = p[2];
        if (type > kTypeMax || recur > kHeadIgnore) return make_error("xt_string: invalid fsm token (EINVAL)");
        if (recur == kHeadIgnore && (t != 0 || t == ntokens - 1))
          return make_error("xt_string: fsm head-ignore token must come first and not last (EINVAL)");
      }
    }
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (needs_hex(pattern_)) {
      out += invert_ ? " ! --hex-string \"|" : " --hex-string \"|";
      for (char c : pattern_) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
      out += "|\"";
    } else {
      out += invert_ ? " ! --string \"" : " --string \"";
      for (char c : pattern_) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    out += fmt::format(" --algo {}", algo_);
    if (from_ != 0) out += fmt::format(" --from {}", from_);
    if (to_ != UINT16_MAX) out += fmt::format(" --to {}", to_);
    if (icase_) out += " --icase";
  }

  bool can_evaluate() const override { return true; }

  // string_mt through skb_find_text: the first occurrence at or after
  // --from (offsets from the IP header) counts only if it ends by --to.
  // bm and kmp find the same leftmost occurrence in a linear buffer.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto d = ctx.pkt.data();
    const size_t n = pattern_.size();
    if (algo_ == "fsm") {
      // skb_find_text: the text runs from --from to the end of the packet;
      // a match at `start` counts if start + the pattern's length (its
      // tokens' bytes, not the text they matched) is within --to - --from.
      const size_t start = from_ < d.size() ? fsm_find(d.subspan(from_)) : kNoMatch;
      const bool hit = start != kNoMatch && start + n <= size_t{to_} - from_;
      return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
    }
    auto eq = [&](uint8_t a, char b) {
      auto pb = static_cast<uint8_t>(b);
      return icase_ ? std::toupper(a) == std::toupper(pb) : a == pb;
    };
    bool hit = false;
    for (size_t p = from_; p + n <= d.size(); ++p) {
      size_t k = 0;
      while (k < n && eq(d[p + k], pattern_[k])) ++k;
      if (k == n) {
        hit = p + n <= to_;
        break;
      }
    }
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  static constexpr size_t kNoMatch = SIZE_MAX;
  // struct ts_fsm_token's recur values (textsearch_fsm.h).
  enum Recur : uint8_t { kSingle, kPerhaps, kAny, kMulti, kHeadIgnore };

  // lib/ts_fsm.c's token_lookup_tbl for byte c: the <linux/ctype.h> classes
  // (Latin-1 above 127), plus ASCII and wildcard.
  static uint16_t byte_classes(uint8_t c) {
    constexpr uint16_t U = 0x01, L = 0x02, D = 0x04, C = 0x08, P = 0x10, S = 0x20, X = 0x40, SP = 0x80, A = 0x100,
                       W = 0x200;
    uint16_t f = W | (c < 128 ? A : 0);
    if (c < 32 || c == 127) f |= C;
    if ((c >= 9 && c <= 13) || c == 32 || c == 160) f |= S;
    if (c == 32 || c == 160) f |= SP;
    if (c >= '0' && c <= '9') f |= D;
    if (c >= 'A' && c <= 'Z') f |= U | (c <= 'F' ? X : 0);
    if (c >= 'a' && c <= 'z') f |= L | (c <= 'f' ? X : 0);
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
        (c >= 161 && c <= 191) || c == 215 || c == 247)
      f |= P;
    if ((c >= 192 && c <= 222 && c != 215)) f |= U;
    if (c >= 223 && c != 247) f |= L;
    return f;
  }
  // token_map: TS_FSM_* types to the classes they accept (0: one value).
  static uint16_t type_classes(uint16_t type) {
    constexpr uint16_t U = 0x01, L = 0x02, D = 0x04, C = 0x08, P = 0x10, S = 0x20, X = 0x40, SP = 0x80, A = 0x100,
                       W = 0x200;
    constexpr uint16_t kMap[] = {0, W, D, D | X, P | U | L | D | SP, U | L, U | L | D, A, C, P | U | L | D, L, U, P, S};
    return type < std::size(kMap) ? kMap[type] : 0;
  }
  struct Token {
    uint16_t classes;
    uint8_t recur, value;
    bool accepts(uint8_t c) const { return classes ? (byte_classes(c) & classes) != 0 : value == c; }
  };

  // fsm_find over one linear block: where the token program matches, or
  // kNoMatch. Strict (the text must match from its first byte) unless the
  // first token is head-ignore; a program that does not end in an "any"
  // or "multi" token must also end with the text.
  size_t fsm_find(std::span<const uint8_t> text) const {
    const size_t ntokens = pattern_.size() / 4;
    std::array<Token, kMaxPattern / 4> tokens{};
    for (size_t t = 0; t < ntokens; ++t) {
      const auto* p = reinterpret_cast<const uint8_t*>(pattern_.data()) + 4 * t;
      tokens[t] = {type_classes(static_cast<uint16_t>(p[0] | p[1] << 8)), p[2], p[3]};
    }
    size_t pos = 0;
    auto end = [&] { return pos >= text.size(); };
    if (end()) return kNoMatch;
    const bool strict = tokens[0].recur != kHeadIgnore;
    for (;;) {  // startover
      size_t match_start = pos;
      bool mismatch = false;
      for (size_t t = 0; t < ntokens && !mismatch; ++t) {
        const Token& cur = tokens[t];
        const Token* next = t + 1 < ntokens ? &tokens[t + 1] : nullptr;
        switch (cur.recur) {
          case kSingle:
            if (end()) return kNoMatch;
            if (!cur.accepts(text[pos])) {
              mismatch = true;
              continue;
            }
            break;
          case kPerhaps:
            if (end() || !cur.accepts(text[pos])) continue;
            break;
          case kMulti:
            if (end()) return kNoMatch;
            if (!cur.accepts(text[pos])) {
              mismatch = true;
              continue;
            }
            ++pos;
            [[fallthrough]];
          case kAny:
            if (!next) return match_start;
            if (end()) continue;
            while (!next->accepts(text[pos])) {
              if (!cur.accepts(text[pos])) {
                mismatch = true;
                break;
              }
              ++pos;
              if (end()) return kNoMatch;
            }
            continue;
          default:  // kHeadIgnore: skip what it accepts, without starting over
            if (end()) continue;
            while (!next->accepts(text[pos])) {
              if (!cur.accepts(text[pos])) return kNoMatch;
              ++pos;
              if (end()) return kNoMatch;
            }
            match_start = pos;
            continue;
        }
        ++pos;
      }
      if (!mismatch) return end() ? match_start : kNoMatch;
      if (strict) return kNoMatch;
      ++pos;
    }
  }

  std::string pattern_, algo_;
  uint16_t from_ = 0, to_ = UINT16_MAX;
  bool invert_ = false, icase_ = false, have_algo_ = false, have_string_ = false, have_hex_ = false;
};

}  // namespace

void register_match_string(Registry& r) { r.add_match<StringMatch>("string"); }

}  // namespace nfemu::xt

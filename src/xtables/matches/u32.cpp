// -m u32: tests on 32-bit words at computed packet offsets (xt_u32.c,
// libxt_u32.c). The grammar is libxt_u32's hand-written state machine,
// including its error positions ("at char N" counts from the start).
#include <fmt/format.h>

#include <cctype>
#include <string>
#include <vector>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxSize = 10;  // XT_U32_MAXSIZE

enum class Op : uint8_t { And, LeftShift, RightShift, At };

struct Location {
  Op op = Op::And;  // how this number combines with the previous ones (unused for the first)
  uint32_t number = 0;
};
struct Range {
  uint32_t min = 0, max = 0;
};
struct Test {
  std::vector<Location> location;
  std::vector<Range> value;
};

class U32Match : public MatchBase<U32Match> {
 public:
  std::string_view name() const override { return "u32"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"u32", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto t = parse_tests(opt.arg);
    if (!t) return t.error();
    tests_ = std::move(*t);
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("u32", "u32");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += " --u32 \"";
    for (size_t t = 0; t < tests_.size(); ++t) {
      if (t > 0) out += "&&";
      const Test& ct = tests_[t];
      for (size_t i = 0; i < ct.location.size(); ++i) {
        if (i > 0) {
          switch (ct.location[i].op) {
            case Op::And: out += '&'; break;
            case Op::LeftShift: out += "<<"; break;
            case Op::RightShift: out += ">>"; break;
            case Op::At: out += '@'; break;
          }
        }
        out += fmt::format("0x{:x}", ct.location[i].number);
      }
      out += '=';
      for (size_t i = 0; i < ct.value.size(); ++i) {
        if (i > 0) out += ',';
        const Range& r = ct.value[i];
        out += r.min == r.max ? fmt::format("0x{:x}", r.min) : fmt::format("0x{:x}:0x{:x}", r.min, r.max);
      }
    }
    out += '"';
  }

  bool can_evaluate() const override { return true; }

  // u32_match_it: every test reads a big-endian word at a computed offset
  // of the datagram; any read past the end makes the whole match false
  // (before inversion).
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto d = ctx.pkt.data();
    const uint32_t len = static_cast<uint32_t>(d.size());
    auto word = [&](uint32_t off) {
      return static_cast<uint32_t>(d[off]) << 24 | static_cast<uint32_t>(d[off + 1]) << 16 |
             static_cast<uint32_t>(d[off + 2]) << 8 | d[off + 3];
    };
    auto run = [&]() {
      for (const Test& t : tests_) {
        uint32_t at = 0, pos = t.location[0].number;
        if (len < 4 || pos > len - 4) return false;
        uint32_t val = word(pos);
        for (size_t i = 1; i < t.location.size(); ++i) {
          uint32_t n = t.location[i].number;
          switch (t.location[i].op) {
            case Op::And: val &= n; break;
            // checkentry refuses shifts of 32 or more.
            case Op::LeftShift: val = n < 32 ? val << n : 0; break;
            case Op::RightShift: val = n < 32 ? val >> n : 0; break;
            case Op::At:
              if (at + val < at) return false;
              at += val;
              pos = n;
              if (at + 4 < at || len < at + 4 || pos > len - at - 4) return false;
              val = word(at + pos);
              break;
          }
        }
        bool in = false;
        for (const Range& r : t.value) in = in || (r.min <= val && val <= r.max);
        if (!in) return false;
      }
      return true;
    };
    return run() != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  static Result<std::vector<Test>> parse_tests(std::string_view arg) {
    std::vector<Test> tests(1);
    size_t p = 0;
    bool reading_values = false;
    auto at = [&](size_t i) -> char { return i < arg.size() ? arg[i] : '\0'; };
    auto fail = [](std::string msg) { return make_error("u32: " + std::move(msg)); };
    // parse_number: xtables_strtoui from here, trailing bytes allowed.
    auto number = [&](size_t pos) -> Result<uint32_t> {
      uint64_t v = 0;
      size_t end = 0;
      if (!xtopt::strtoul_x(arg.substr(p), &v, 0, UINT32_MAX, &end) || end == 0)
        return fail(fmt::format("at char {}: not a number or out of range", pos));
      p += end;
      return static_cast<uint32_t>(v);
    };
    while (true) {
      while (std::isspace(static_cast<unsigned char>(at(p)))) ++p;
      Test& ct = tests.back();
      if (at(p) == '\0') {
        if (!reading_values) return fail("abrupt end of input after location specifier");
        if (ct.value.empty()) return fail("test ended with no value specified");
        if (tests.size() > kMaxSize) return fail(fmt::format("at char {}: too many \"&&\"s", p));
        return tests;
      }
      if (!reading_values) {
        if (at(p) == '=') {
          if (ct.location.empty()) return fail(fmt::format("at char {}: location spec missing", p));
          ++p;
          reading_values = true;
          continue;
        }
        Location loc;
        if (!ct.location.empty()) {
          char c = at(p);
          if (c == '&') {
            loc.op = Op::And;
          } else if (c == '<') {
            if (at(++p) != '<') return fail(fmt::format("at char {}: a second '<' was expected", p));
            loc.op = Op::LeftShift;
          } else if (c == '>') {
            if (at(++p) != '>') return fail(fmt::format("at char {}: a second '>' was expected", p));
            loc.op = Op::RightShift;
          } else if (c == '@') {
            loc.op = Op::At;
          } else {
            return fail(fmt::format("at char {}: operator expected", p));
          }
          ++p;
        }
        auto n = number(p);
        if (!n) return n.error();
        loc.number = *n;
        ct.location.push_back(loc);
        if (ct.location.size() > kMaxSize) return fail(fmt::format("at char {}: too many operators", p));
      } else if (at(p) == '&') {
        if (at(++p) != '&') return fail(fmt::format("at char {}: a second '&' was expected", p));
        if (ct.value.empty()) return fail(fmt::format("at char {}: value spec missing", p));
        tests.emplace_back();
        if (tests.size() > kMaxSize + 1) return fail(fmt::format("at char {}: too many \"&&\"s", p));
        ++p;
        reading_values = false;
      } else {
        if (!ct.value.empty()) {
          if (at(p) != ',') return fail(fmt::format("at char {}: expected \",\" or \"&&\"", p));
          ++p;
        }
        Range r;
        auto lo = number(p);
        if (!lo) return lo.error();
        r.min = r.max = *lo;
        while (std::isspace(static_cast<unsigned char>(at(p)))) ++p;
        if (at(p) == ':') {
          ++p;
          auto hi = number(p);
          if (!hi) return hi.error();
          r.max = *hi;
        }
        ct.value.push_back(r);
        if (ct.value.size() > kMaxSize) return fail(fmt::format("at char {}: too many \",\"s", p));
      }
    }
  }

  std::vector<Test> tests_;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_u32(Registry& r) { r.add_match<U32Match>("u32"); }

}  // namespace nfemu::xt

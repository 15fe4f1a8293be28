// Differential tests of the number parsing in MARK, TOS, CT and CLASSIFY
// against the C library calls iptables makes (strtoumax through
// xtables_strtoul_base, sscanf "%x:%x"): the kernel cases cover chosen
// spellings, these cover many generated ones. Each value goes through a
// whole rule and the saved text, as users see it.
#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>

#include "ruleset/restore.h"

namespace nfemu {
namespace {

// The rule's saved target part, or nullopt when nfemu refuses the rule.
std::optional<std::string> saved_target(const std::string& table, const std::string& rule) {
  xt::Ruleset rs;
  std::string block = "*" + table + "\n" + rule + "\nCOMMIT\n";
  if (!ruleset::restore(block, rs)) return std::nullopt;
  std::string out = ruleset::save(rs);
  size_t j = out.find(" -j ");
  size_t nl = out.find('\n', j);
  return out.substr(j + 4, nl - j - 4);
}

// xtables_strtoul_base(s, end, &v, 0, max, 0) on top of libc.
bool ref_strtoul(const char* s, const char** end, uintmax_t* value, uintmax_t max) {
  const char* p = s;
  while (std::isspace(static_cast<unsigned char>(*p))) ++p;
  if (*p == '-') return false;
  errno = 0;
  char* my_end;
  uintmax_t v = std::strtoumax(s, &my_end, 0);
  if (my_end == s) return false;
  if (end) *end = my_end;
  if (errno != ERANGE && v <= max) {
    *value = v;
    return end ? true : *my_end == '\0';
  }
  return false;
}

std::string random_word(std::mt19937& rng, std::string_view alphabet, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len), pick(0, alphabet.size() - 1);
  std::string s(len(rng), ' ');
  for (char& c : s) c = alphabet[pick(rng)];
  return s;
}

// Interesting pieces glued together reach the edge cases faster than
// single characters: prefixes, boundaries, separators.
std::string random_number_text(std::mt19937& rng, bool with_blank) {
  static const char* pieces[] = {"0",  "1",          "7",          "8",  "9",  "0x", "0X", "ff", "F",  "g",
                                 "+",  "-",          "/",          ":",  "10", "4294967295", "4294967296",
                                 "18446744073709551616", "0x100000000", "255", "256", "65535", "65536", "x"};
  std::uniform_int_distribution<size_t> count(0, 4), pick(0, std::size(pieces) - 1);
  std::string s;
  if (with_blank && rng() % 4 == 0) s += ' ';
  for (size_t n = count(rng); n > 0; --n) s += pieces[pick(rng)];
  return s;
}

TEST(TargetsB, MarkValueMaskMatchesLibc) {
  std::mt19937 rng(1);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string arg = i % 2 ? random_number_text(rng, true) : random_word(rng, "0123456789abxX/+- ", 10);
    // xtables_parse_val_mask without a name map.
    std::optional<std::pair<uint32_t, uint32_t>> want;
    const char* end;
    uintmax_t v, m = UINT32_MAX;
    if (ref_strtoul(arg.c_str(), &end, &v, UINT32_MAX)) {
      if (*end == '\0') {
        want = {{static_cast<uint32_t>(v), 0xffffffffu}};
      } else if (*end == '/' && ref_strtoul(end + 1, &end, &m, UINT32_MAX) && *end == '\0') {
        want = {{static_cast<uint32_t>(v), static_cast<uint32_t>(m)}};
      }
    }
    auto got = saved_target("mangle", "-A INPUT -j MARK --set-xmark \"" + arg + "\"");
    SCOPED_TRACE("--set-xmark \"" + arg + "\"");
    ASSERT_EQ(got.has_value(), want.has_value());
    if (want) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "MARK --set-xmark 0x%x/0x%x", want->first, want->second);
      EXPECT_EQ(*got, buf);
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 100);
}

TEST(TargetsB, MarkUint32MatchesLibc) {
  std::mt19937 rng(2);
  for (int i = 0; i < 2000; ++i) {
    std::string arg = random_number_text(rng, true);
    uintmax_t v = 0;  // set by ref_strtoul when ok, but GCC 12 -O2 cannot tell
    bool ok = ref_strtoul(arg.c_str(), nullptr, &v, UINT32_MAX);
    auto got = saved_target("mangle", "-A INPUT -j MARK --xor-mark \"" + arg + "\"");
    SCOPED_TRACE("--xor-mark \"" + arg + "\"");
    ASSERT_EQ(got.has_value(), ok);
    if (ok) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "MARK --set-xmark 0x%x/0x0", static_cast<unsigned>(v));
      EXPECT_EQ(*got, buf);
    }
  }
}

TEST(TargetsB, TosValueMaskMatchesLibc) {
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string arg = random_number_text(rng, true);
    // xtopt_parse_tosmask for revision 1; names are left to the cases.
    std::optional<std::pair<unsigned, unsigned>> want;
    bool numeric = false;
    const char* end;
    uintmax_t v, m = 0xff;
    if (ref_strtoul(arg.c_str(), &end, &v, 255)) {
      numeric = true;
      bool ok = true;
      if (*end == '/') ok = ref_strtoul(end + 1, &end, &m, 255);
      if (ok && *end == '\0') want = {{static_cast<unsigned>(v), static_cast<unsigned>(m)}};
    }
    auto got = saved_target("mangle", "-A INPUT -j TOS --set-tos \"" + arg + "\"");
    SCOPED_TRACE("--set-tos \"" + arg + "\" numeric=" + std::to_string(numeric));
    ASSERT_EQ(got.has_value(), want.has_value());
    if (want) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "TOS --set-tos 0x%02x/0x%02x", want->first, want->second);
      EXPECT_EQ(*got, buf);
    }
  }
}

TEST(TargetsB, CtZoneMatchesLibc) {
  std::mt19937 rng(4);
  for (int i = 0; i < 2000; ++i) {
    std::string arg = random_number_text(rng, true);
    uintmax_t v = 0;  // set by ref_strtoul when ok, but GCC 12 -O2 cannot tell
    bool ok = ref_strtoul(arg.c_str(), nullptr, &v, UINT16_MAX);
    auto got = saved_target("raw", "-A PREROUTING -j CT --zone \"" + arg + "\"");
    SCOPED_TRACE("--zone \"" + arg + "\"");
    ASSERT_EQ(got.has_value(), ok);
    if (ok) {
      EXPECT_EQ(*got, v ? "CT --zone " + std::to_string(v) : std::string("CT"));
    }
  }
}

TEST(TargetsB, ClassifyMatchesSscanf) {
  std::mt19937 rng(5);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string arg = i % 2 ? random_number_text(rng, true) : random_word(rng, "0123456789abcdefxX:+- ", 12);
    unsigned maj, min;
    bool ok = std::sscanf(arg.c_str(), "%x:%x", &maj, &min) == 2;
    auto got = saved_target("mangle", "-A OUTPUT -j CLASSIFY --set-class \"" + arg + "\"");
    SCOPED_TRACE("--set-class \"" + arg + "\"");
    ASSERT_EQ(got.has_value(), ok);
    if (ok) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "CLASSIFY --set-class %.4x:%.4x", (maj << 16) >> 16, min & 0xffffu);
      EXPECT_EQ(*got, buf);
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 100);
}

}  // namespace
}  // namespace nfemu

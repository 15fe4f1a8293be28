// -m time: the packet's time against a date range, a time of day and week
// and month days (xt_time.c, libxt_time.c revision 0).
//
// The kernel reads the wall clock in whole seconds when the rule runs, not
// the packet's timestamp; nfemu's wall clock is the host's virtual time
// plus its real-time base (Effects::realtime_ns: a replay's capture
// timestamps, 1970-01-01 for `nfemu run`). Dates are parsed as UTC, as
// libxt_time does whatever the local time zone; --kerneltz shifts by the
// kernel's time zone, which is UTC here (sys_tz 0). Saved as iptables
// 1.8.9 saves: --datestop always (its "default" test compares with
// LONG_MAX), both day times with seconds, inverted day lists as their
// complement.
#include <fmt/format.h>

#include <array>

#include "util/calendar.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kAllMonthdays = 0xfffffffe, kMaxDaytime = 86399, kSecondsPerDay = 86400;
constexpr uint8_t kAllWeekdays = 0xfe;
constexpr uint8_t kLocalTz = 1, kContiguous = 2;
constexpr std::array<std::string_view, 7> kWeekdays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

// strtoul(s, &end, 10) on the digits at s[i] (none: 0), i moved past them.
uint64_t digits(std::string_view s, size_t& i) {
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && v < (uint64_t{1} << 40)) v = v * 10 + (s[i++] - '0');
  return v;
}

// time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]] as UTC, out-of-range
// month 0 and day 0..31 normalised as mktime does.
Result<uint32_t> parse_date(std::string_view s) {
  auto bad = [&] {
    return make_error(fmt::format("Invalid date \"{}\" specified. Should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]]", s));
  };
  size_t i = 0;
  uint64_t year = digits(s, i), month = 1, day = 1, hour = 0, minute = 0, second = 0;
  auto at = [&](char c) { return i < s.size() && s[i] == c; };
  auto end = [&] { return i >= s.size(); };
  if (year < 1970 || year > 2038) return bad();
  if (!end()) {
    if (!at('-')) return bad();
    ++i;
    month = digits(s, i);
    if (month > 12) return bad();
    if (!end()) {
      if (!at('-')) return bad();
      ++i;
      day = digits(s, i);
      if (day > 31) return bad();
      if (!end()) {
        if (!at('T')) return bad();
        ++i;
        hour = digits(s, i);
        if (hour > 23) return bad();
        if (!end()) {
          if (!at(':')) return bad();
          ++i;
          minute = digits(s, i);
          if (minute > 59) return bad();
          if (!end()) {
            if (!at(':')) return bad();
            ++i;
            second = digits(s, i);
            if (second > 59 || !end()) return bad();
          }
        }
      }
    }
  }
  const int64_t months = static_cast<int64_t>(year) * 12 + static_cast<int64_t>(month) - 1;
  const int64_t days =
      days_from_civil(months / 12, static_cast<unsigned>(months % 12 + 1), 1) + static_cast<int64_t>(day) - 1;
  const int64_t t = days * kSecondsPerDay + static_cast<int64_t>(hour * 3600 + minute * 60 + second);
  return static_cast<uint32_t>(t);
}

// time_parse_minutes: hh:mm[:ss]; the message quotes the text from the
// field that failed on.
Result<uint32_t> parse_daytime(std::string_view s) {
  size_t i = 0, from = 0;
  auto bad = [&] {
    return make_error(fmt::format(
        "invalid time \"{}\" specified, should be hh:mm[:ss] format and within the boundaries", s.substr(from)));
  };
  const uint64_t hour = digits(s, i);
  if (i >= s.size() || s[i] != ':' || hour > 23) return bad();
  from = ++i;
  const uint64_t minute = digits(s, i);
  if ((i < s.size() && s[i] != ':') || minute > 59) return bad();
  uint64_t second = 0;
  if (i < s.size()) {
    from = ++i;
    second = digits(s, i);
    if (i < s.size() || second > 59) return bad();
  }
  return static_cast<uint32_t>(hour * 3600 + minute * 60 + second);
}

// The comma-separated segments of a list, each cut to `keep` characters
// (libxt_time copies them into small buffers); a trailing comma ends it.
template <class F>
Result<void> each_segment(std::string_view list, size_t keep, F&& f) {
  size_t i = 0;
  while (i < list.size()) {
    size_t comma = list.find(',', i);
    std::string_view seg = list.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    if (auto r = f(seg.substr(0, keep)); !r) return r;
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  return {};
}

// strtoul(seg, &end, 0) over the whole segment (empty: 0), else nothing.
std::optional<uint64_t> whole_number(std::string_view seg) {
  if (seg.empty()) return 0;
  uint64_t v = 0;
  if (!xtopt::strtoul_x(seg, &v, 0, UINT64_MAX)) return std::nullopt;
  return v;
}

std::string format_date(uint32_t t) {
  const CivilDate c = civil_from_days(t / kSecondsPerDay);
  const uint32_t s = t % kSecondsPerDay;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day, s / 3600, s / 60 % 60, s % 60);
}

class TimeMatch : public MatchBase<TimeMatch> {
 public:
  std::string_view name() const override { return "time"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"datestart", ArgKind::Required, false, false}, {"datestop", ArgKind::Required, false, false},
        {"timestart", ArgKind::Required, false, false}, {"timestop", ArgKind::Required, false, false},
        {"weekdays", ArgKind::Required, true, false},   {"monthdays", ArgKind::Required, true, false},
        {"localtz", ArgKind::None, false, false},       {"kerneltz", ArgKind::None, false, false},
        {"utc", ArgKind::None, false, false},           {"contiguous", ArgKind::None, false, false},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    if (o == "datestart" || o == "datestop") {
      auto t = parse_date(opt.arg);
      if (!t) return t.error();
      (o == "datestart" ? date_start_ : date_stop_) = *t;
    } else if (o == "timestart" || o == "timestop") {
      auto t = parse_daytime(opt.arg);
      if (!t) return t.error();
      (o == "timestart" ? daytime_start_ : daytime_stop_) = *t;
    } else if (o == "monthdays") {
      uint32_t mask = 0;
      auto r = each_segment(opt.arg, 2, [&](std::string_view seg) -> Result<void> {
        auto v = whole_number(seg);
        if (!v || *v > 31) return make_error(fmt::format("{} is not a valid day for --monthdays", seg));
        mask |= 1u << *v;
        return {};
      });
      if (!r) return r;
      monthdays_ = opt.invert ? mask ^ kAllMonthdays : mask;
    } else if (o == "weekdays") {
      uint32_t mask = 0;
      auto r = each_segment(opt.arg, 3, [&](std::string_view seg) -> Result<void> {
        if (auto v = whole_number(seg)) {
          if (*v == 0) return make_error("No, the week does NOT begin with Sunday.");
          if (*v < 32) mask |= 1u << *v;
          return {};
        }
        for (size_t d = 0; d < kWeekdays.size(); ++d)
          if (seg.size() >= 2 && seg.substr(0, 2) == kWeekdays[d].substr(0, 2)) {
            mask |= 1u << (d + 1);
            return {};
          }
        return make_error(fmt::format("{} is not a valid day specifier", seg));
      });
      if (!r) return r;
      const auto m = static_cast<uint8_t>(mask);
      weekdays_ = opt.invert ? static_cast<uint8_t>(m ^ kAllWeekdays) : m;
    } else if (o == "localtz" || o == "kerneltz") {
      if (utc_)
        return xtopt::cannot_combine("time", o == "localtz" ? "localtz" : "utc", o == "localtz" ? "utc" : "kerneltz");
      flags_ |= kLocalTz;
      (o == "localtz" ? localtz_ : kerneltz_) = true;
    } else if (o == "utc") {
      if (localtz_) return xtopt::cannot_combine("time", "localtz", "utc");
      if (kerneltz_) return xtopt::cannot_combine("time", "utc", "kerneltz");
      utc_ = true;
    } else if (o == "contiguous") {
      flags_ |= kContiguous;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if ((flags_ & kContiguous) && daytime_start_ < daytime_stop_)
      return make_error("time: --contiguous only makes sense when stoptime is smaller than starttime");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto daytime = [](uint32_t t) { return fmt::format("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60); };
    if (daytime_start_ != 0 || daytime_stop_ != kMaxDaytime)
      out += fmt::format(" --timestart {} --timestop {}", daytime(daytime_start_), daytime(daytime_stop_));
    if (monthdays_ != kAllMonthdays) {
      out += " --monthdays ";
      bool first = true;
      for (unsigned d = 1; d <= 31; ++d)
        if (monthdays_ & (1u << d)) {
          out += fmt::format("{}{}", first ? "" : ",", d);
          first = false;
        }
    }
    if (weekdays_ != kAllWeekdays) {
      out += " --weekdays ";
      bool first = true;
      for (unsigned d = 1; d <= 7; ++d)
        if (weekdays_ & (1u << d)) {
          out += fmt::format("{}{}", first ? "" : ",", kWeekdays[d - 1]);
          first = false;
        }
    }
    if (date_start_ != 0) out += " --datestart " + format_date(date_start_);
    if (date_stop_ != 0) out += " --datestop " + format_date(date_stop_);
    if (flags_ & kLocalTz) out += " --kerneltz";
    if (flags_ & kContiguous) out += " --contiguous";
  }

  bool can_evaluate() const override { return true; }

  // time_mt: date range, time of day, then week and month day.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const uint64_t ns = ctx.effects ? ctx.effects->realtime_ns(ctx.now_ns) : ctx.now_ns;
    int64_t stamp = static_cast<int64_t>(ns / 1'000'000'000);
    // --kerneltz: sys_tz.tz_minuteswest, 0 (UTC) on the hosts nfemu models.
    if (stamp < date_start_ || stamp > date_stop_) return MatchOutcome::NoMatch;
    const auto tod = static_cast<uint32_t>(stamp % kSecondsPerDay);
    if (daytime_start_ < daytime_stop_) {
      if (tod < daytime_start_ || tod > daytime_stop_) return MatchOutcome::NoMatch;
    } else {
      if (tod < daytime_start_ && tod > daytime_stop_) return MatchOutcome::NoMatch;
      // The part after midnight belongs to the day it started on.
      if ((flags_ & kContiguous) && tod <= daytime_stop_) stamp -= kSecondsPerDay;
    }
    // localtime_2 on the day count cut to 32 bits, as the kernel does
    // (a stamp pushed before 1970 by --contiguous wraps as it does there).
    const auto days = static_cast<uint32_t>(static_cast<uint64_t>(stamp) / kSecondsPerDay);
    const uint32_t wday = (4 + days - 1) % 7 + 1;  // 1970-01-01 was a Thursday (4)
    if (!(weekdays_ & (1u << wday))) return MatchOutcome::NoMatch;
    if (monthdays_ != kAllMonthdays) {
      const unsigned mday = civil_from_days(days).day;
      if (!(monthdays_ & (1u << (mday & 31)))) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

 private:
  uint32_t date_start_ = 0, date_stop_ = INT32_MAX;
  uint32_t daytime_start_ = 0, daytime_stop_ = kMaxDaytime;
  uint32_t monthdays_ = kAllMonthdays;
  uint8_t weekdays_ = kAllWeekdays;
  uint8_t flags_ = 0;
  bool localtz_ = false, kerneltz_ = false, utc_ = false;
};

}  // namespace

void register_match_time(Registry& r) { r.add_match<TimeMatch>("time"); }

}  // namespace nfemu::xt

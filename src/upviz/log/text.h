// Text helpers for upload readers: date parsing and name sanitising.
//
// Dates in Debian data come in two shapes: RFC 2822 in changelog trailers
// ("Mon, 02 Jan 2006 15:04:05 +0100") and ISO 8601 in database exports
// ("2006-01-02 15:04:05+01"). Both parse to UNIX seconds in UTC, honouring
// the time zone. Names reach a '|'-separated format, so they are repaired
// (Latin-1 bytes become UTF-8, as old changelogs are Latin-1) and escaped,
// but never shortened.
//
//   auto t = parse_rfc2822_date("Tue, 03 Jan 2006 00:04:05 +0100");
//   // *t == 1136243045
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/calendar.h"
#include "util/result.h"

namespace upviz::log {

// Days since 1970-01-01 of a proleptic Gregorian date (no range checks).
using nfemu::days_from_civil;

// RFC 2822 date as written in changelog trailers, tolerant as dpkg is:
// optional weekday, full or abbreviated month names in any case, seconds
// optional, numeric zone (+HHMM or +HH:MM) or a common zone name, trailing
// "(comment)" ignored. Two-digit years are 19xx from 50 up, 20xx below.
nfemu::Result<int64_t> parse_rfc2822_date(std::string_view s);

// ISO 8601 / SQL: "YYYY-MM-DD", optionally followed by 'T' or ' ' and
// HH:MM[:SS[.frac]] and a zone (Z, +HH, +HHMM, +HH:MM); no zone means UTC.
nfemu::Result<int64_t> parse_iso_datetime(std::string_view s);

// A point in time from the command line: UNIX seconds (optionally "@N"),
// ISO 8601 or RFC 2822. date_only is set for a bare YYYY-MM-DD.
struct TimeSpec {
  int64_t time = 0;
  bool date_only = false;
};
nfemu::Result<TimeSpec> parse_time_spec(std::string_view s);

// "YYYY-MM" to [start, end) in UTC.
nfemu::Result<std::pair<int64_t, int64_t>> parse_month(std::string_view s);

// Valid UTF-8 is kept; each byte that is not part of a valid sequence is
// read as Latin-1 and re-encoded. Returns true when something changed.
bool repair_utf8(std::string& s);

// Makes a name safe for one field of a gource custom log: valid UTF-8, no
// '|' (becomes U+00A6 BROKEN BAR), no control characters (become spaces),
// no surrounding blanks. With path_component, '/' becomes '_' too so that a
// name cannot add directory levels. Returns true when something changed.
bool sanitise_field(std::string& s, bool path_component = false);

}  // namespace upviz::log

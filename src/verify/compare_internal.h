// The pieces of compare_dirs, exposed for its tests: each artifact kind's
// normalisation (outputs.md) and the diff that reports what is left.
// Private to src/verify and tests/verify.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu::verify::detail {

// A unit of comparison: one text line, or one pcap frame (its readable
// line and its hex rows). Blocks align as wholes; lines inside replaced
// blocks are diffed again so a changed byte shows as one changed row.
struct Block {
  std::vector<std::string> lines;
};

// Normalised content of one artifact, ready to diff.
struct Normalized {
  std::vector<Block> blocks;
  std::string unit = "lines";  // "frames" for pcaps, used in summaries
  // conntrack files: lines are equal when their keys are and the timeouts
  // are within one second; key/timeout per block, timeout -1 when none.
  bool fuzzy_timeout = false;
  std::vector<std::string> keys;
  std::vector<long> timeouts;
};

// kern.log: ID= of host-generated packets (decided from the line's own
// top-level PROTO=, TYPE= and TCP flags, never from the quoted packet of an
// ICMP error) becomes ID=*.
std::string normalize_kern_log_line(std::string_view line);

// conntrack -E / -L lines: the conntrack id (id= not part of an ICMP
// tuple) becomes id=*; the timeout column is split out. key is the line
// with the timeout replaced by '*'.
struct CtLine {
  std::string text;  // the line with id=* (timeout kept)
  std::string key;
  long timeout = -1;
};
CtLine split_conntrack_line(std::string_view line);

Normalized normalize_text(std::string_view path, std::string_view content);
// Reads and normalises a pcap: one block per frame, ARP dropped.
Result<Normalized> normalize_pcap(const std::string& file);

// The normaliser of one capture, frame by frame (it carries the listener
// ISN numbering across frames); exposed to test it on bytes.
struct IsnState;
class PcapNormalizer {
 public:
  PcapNormalizer();
  ~PcapNormalizer();
  PcapNormalizer(const PcapNormalizer&) = delete;
  PcapNormalizer& operator=(const PcapNormalizer&) = delete;
  // Rewrites frame in place and, when line is given, sets it to the
  // frame's readable line; false for a frame to drop (ARP).
  bool normalize(std::vector<uint8_t>& frame, std::string* line = nullptr);

 private:
  IsnState* isn_;
};

struct DiffResult {
  bool equal = true;
  size_t differing = 0;  // blocks replaced, removed or added
  std::string text;      // unified hunks (context 2), without file headers
};
// Diffs two normalised files. Big inputs fall back to listing the middle
// part that differs rather than an exact alignment.
DiffResult diff(const Normalized& left, const Normalized& right);

}  // namespace nfemu::verify::detail

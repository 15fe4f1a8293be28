// Several pcap files read as one stream in timestamp order: the frames of
// `nfemu replay --in eth0=a.pcap --in eth1=b.pcap`, as the host would see
// them arrive.
//
//   auto m = Merger::open({{"eth0", "a.pcap"}, {"eth1", "b.pcap"}}, {.window_us = 10000});
//   while (true) {
//     auto f = m->next();           // Result<std::optional<MergedFrame>>
//     if (!f) return f.error();     // out of order beyond the window
//     if (!*f) break;
//     use((*f)->input, (*f)->frame_no, (*f)->ts_us, (*f)->data);
//   }
//   for (const auto& w : m->warnings()) ...   // truncated files
//
// Captures are rarely perfectly sorted (several capture queues, merged
// files): frames within `window_us` of the latest one seen in the same file
// are sorted; an earlier one is refused with the file and frame number.
// Memory: the frames of one window per input, in recycled buffers.
// Ties (equal timestamps) keep file order, then the order of the inputs.
// pcapng files are read by PcapngReader (each frame's interface is kept),
// classic pcap files in place, and what neither takes (pipes) by libpcap.
//
// A truncated or corrupt record ends that input with a warning instead of
// ending the replay: a capture cut by a killed tcpdump is common, and what
// was read is still worth replaying. So does a file cut while it is read
// (a rotating tcpdump): the frames wholly before the cut are replayed,
// the ones after it are not, with a warning (replay/map_guard.h: a read
// past the new end of a mapped file would otherwise be a SIGBUS).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "replay/pcapng.h"
#include "util/result.h"

namespace nfemu::replay {

struct Input {
  std::string ifname;
  std::string path;
};

// DLT_* values of the link layers replay understands.
inline constexpr int kDltEthernet = 1;
inline constexpr int kDltRaw = 101;         // LINKTYPE_RAW: the IP header first
inline constexpr int kDltRawBsd = 12;       // DLT_RAW on most systems
inline constexpr int kDltLinuxSll = 113;    // tcpdump -i any before libpcap 1.10 (cooked v1)
inline constexpr int kDltLinuxSll2 = 276;   // tcpdump -i any since libpcap 1.10: the interface index per frame

struct MergeOptions {
  uint64_t window_us = 0;
};

struct MergedFrame {
  size_t input = 0;        // index in the inputs given to open()
  uint64_t frame_no = 0;   // 1-based, in its file
  uint64_t ts_us = 0;
  uint32_t orig_len = 0;
  int linktype = kDltEthernet;
  // A pcapng input's: the interface the frame was captured on, an index in
  // Merger::interfaces(input), and its epb_flags' direction and reception
  // type (PcapngPacket::flags). 0 in a classic pcap file.
  uint16_t interface = 0;
  uint16_t flags = 0;
  std::span<const uint8_t> data;  // valid until the next call to next()
};

// Whether replay reads the link type (one of the DLTs above).
bool supported_linktype(int dlt);

class Merger {
 public:
  // Opens every file; fails on the first one libpcap cannot open (missing,
  // not a pcap, corrupt file header) or whose link type is not one above.
  static Result<Merger> open(const std::vector<Input>& inputs, MergeOptions opts = {});
  Merger(Merger&&) noexcept;
  Merger& operator=(Merger&&) noexcept;
  ~Merger();

  Result<std::optional<MergedFrame>> next();
  // The same without a Result per frame (the replay loop): the next frame
  // into f, or false at the end, or on an error: then failed() is true,
  // error() says which, and every later call returns false.
  bool next(MergedFrame& f);
  // Up to out.size() frames at once (fewer only at the end or on an
  // error), all valid until the next call: the call's own bookkeeping is
  // paid once per batch.
  size_t next(std::span<MergedFrame> out);
  bool failed() const;
  const Error& error() const;

  // Bytes of the files read so far and in total (for a progress bar).
  uint64_t bytes_read() const;
  uint64_t bytes_total() const;
  // One line per input that ended early: "FILE: truncated after frame N: WHY".
  const std::vector<std::string>& warnings() const;
  // The link type of each input (of a pcapng input's first interface).
  int linktype(size_t input) const;
  // A pcapng input's interfaces, as far as read (a later section may add
  // some); empty for a classic pcap file, and for pcapng read from a pipe
  // (libpcap reads those, and does not tell interfaces apart).
  const std::vector<PcapngInterface>& interfaces(size_t input) const;
  // Whether PcapngReader reads the input (a pcapng file, not a pipe).
  bool is_pcapng(size_t input) const;

 private:
  struct Impl;
  explicit Merger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The DLT's name as libpcap spells it ("EN10MB"), or its number.
std::string linktype_name(int dlt);

}  // namespace nfemu::replay

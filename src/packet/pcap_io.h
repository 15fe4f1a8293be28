// Classic pcap files through libpcap: the IFNAME.pcap artifacts of
// shared/spec/outputs.md (link type Ethernet, snaplen 262144, microsecond
// timestamps, as `tcpdump -w` writes them) and pcap input for replay.
//
//   auto w = PcapWriter::open("out/fw/eth0.pcap");
//   if (!w) return w.error();
//   w->write(ts_us, packet.frame());
//
//   auto r = PcapReader::open("in.pcap");
//   while (true) {
//     auto f = r->next();                // Result<std::optional<PcapFrame>>
//     if (!f) return f.error();          // truncated or corrupt file
//     if (!*f) break;                    // end of file
//     use((*f)->ts_us, (*f)->data);
//   }
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace nfemu::packet {

inline constexpr int kLinkTypeEthernet = 1;  // DLT_EN10MB
inline constexpr int kPcapSnaplen = 262144;

class PcapWriter {
 public:
  // Creates or truncates the file and writes the file header.
  static Result<PcapWriter> open(const std::string& path, int linktype = kLinkTypeEthernet,
                                 int snaplen = kPcapSnaplen);
  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  ~PcapWriter();

  // Appends a record: captured length min(frame, snaplen), original length
  // orig_len (the frame's size when 0). Buffered by stdio; errors surface
  // at close(). Does nothing after close().
  void write(uint64_t ts_us, std::span<const uint8_t> frame, uint32_t orig_len = 0);
  // Flushes and closes; reports a write error (disk full...) if any.
  Result<void> close();

 private:
  struct Impl;
  explicit PcapWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct PcapFrame {
  uint64_t ts_us = 0;
  uint32_t orig_len = 0;
  std::span<const uint8_t> data;  // valid until the next call to next()
};

class PcapReader {
 public:
  // Accepts both microsecond and nanosecond files; timestamps are given in
  // microseconds either way.
  static Result<PcapReader> open(const std::string& path);
  PcapReader(PcapReader&&) noexcept;
  PcapReader& operator=(PcapReader&&) noexcept;
  ~PcapReader();

  int linktype() const;  // DLT_* value, kLinkTypeEthernet for Ethernet
  int snaplen() const;
  // The next record, nullopt at the end of the file, an error on a
  // truncated record or a corrupt header.
  Result<std::optional<PcapFrame>> next();

 private:
  struct Impl;
  explicit PcapReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Every record of a file, copied; for tests and small files.
struct OwnedPcapFrame {
  uint64_t ts_us = 0;
  uint32_t orig_len = 0;
  std::vector<uint8_t> data;
};
Result<std::vector<OwnedPcapFrame>> read_pcap_file(const std::string& path, int* linktype = nullptr);

}  // namespace nfemu::packet

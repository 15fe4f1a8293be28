// The blocks of a pcapng file, read in place: its packets and, for each,
// the interface it was captured on. libpcap reads pcapng too, but its
// pcap_next_ex does not say which interface a packet came from, and a
// capture of several interfaces (dumpcap -i eth0 -i eth1, Wireshark's
// default format) then reads as one: nfemu replay would give every frame
// to one interface.
//
//   PcapngReader r(bytes);                  // the whole file, mapped
//   if (!r.start()) fail(r.error());        // section header, interfaces
//   PcapngPacket p;
//   while (r.next(p)) use(r.interfaces()[p.interface], p.ts_us, p.data);
//   if (!r.error().empty()) warn(r.error());  // stopped at a corrupt block
//
// Interfaces are numbered across the file: a later section (files joined
// with cat) that describes an interface with the name and link type of
// one already seen reuses its number; any other gets the next one.
// Timestamps are turned into microseconds (the replay's clock), from the
// interface's if_tsresol and if_tsoffset. Blocks other than packets and
// interfaces (statistics, name resolution, custom) are skipped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace nfemu::replay {

struct PcapngInterface {
  std::string name;  // if_name; empty when the block has none
  int linktype = 0;  // LINKTYPE_*
  uint32_t snaplen = 0;
};

struct PcapngPacket {
  uint32_t interface = 0;  // index in interfaces()
  uint64_t ts_us = 0;
  uint32_t orig_len = 0;
  // A packet block's epb_flags, 0 if it has none: the direction
  // (kInbound, kOutbound) and the reception type (kPromiscuous: to another
  // host, captured in promiscuous mode).
  uint32_t flags = 0;
  std::span<const uint8_t> data;

  static constexpr uint32_t kDirectionMask = 0x3, kInbound = 0x1, kOutbound = 0x2;
  static constexpr uint32_t kReceptionMask = 0x1c, kPromiscuous = 0x10;
};

class PcapngReader {
 public:
  // The first block of a pcapng file is a section header, whose type reads
  // the same in either byte order.
  static bool is_pcapng(std::span<const uint8_t> head);

  // fast_path false: every block by the general reader (the reference
  // fuzz_pcapng compares the fast path with).
  explicit PcapngReader(std::span<const uint8_t> file, bool fast_path = true) : file_(file), fast_path_(fast_path) {}

  // Reads the first section header and the blocks up to the first packet:
  // false on a file that does not start as pcapng should (error()).
  bool start();
  // The next packet, or false at the end of the file or at a corrupt or
  // cut block (error() then says which and why).
  bool next(PcapngPacket& p);

  // The file was cut to `size` bytes while being read: nothing past it is
  // read (a block the cut crosses then ends the file with an error).
  void limit(size_t size) {
    if (size < file_.size()) file_ = file_.first(std::max(size, pos_));
  }

  const std::vector<PcapngInterface>& interfaces() const { return interfaces_; }
  const std::string& error() const { return error_; }
  // Where the next block starts: bytes consumed so far.
  size_t offset() const { return pos_; }

  // The largest packet accepted (libpcap's MAXIMUM_SNAPLEN).
  static constexpr uint32_t kMaxPacket = 262144;
  // More interfaces than this in one file is taken as corruption.
  // (A frame's interface then fits 16 bits.)
  static constexpr size_t kMaxInterfaces = 65536;
  // Times at or past this are refused: the replay's clock adds windows
  // and durations to them.
  static constexpr uint64_t kMaxMicroseconds = uint64_t{1} << 62;

 private:
  enum class Block { Packet, Other, End, Bad };
  bool fast_packet(PcapngPacket& p);
  Block read_block(PcapngPacket* p);
  bool section_header(std::span<const uint8_t> body);
  bool interface_block(std::span<const uint8_t> body);
  bool packet(uint32_t local_if, uint64_t ts, uint32_t caplen, uint32_t orig_len, std::span<const uint8_t> data,
              PcapngPacket& p);
  uint32_t packet_flags(std::span<const uint8_t> options) const;
  uint32_t u32(const uint8_t* b) const;
  uint16_t u16(const uint8_t* b) const;
  bool fail(std::string why);

  std::span<const uint8_t> file_;
  bool fast_path_;
  size_t pos_ = 0;
  bool swapped_ = false;
  bool started_ = false;
  std::vector<PcapngInterface> interfaces_;
  // The current section's interface ids: their number in interfaces_, and
  // their timestamps' units (10^-n s, or 2^-n with the top bit set:
  // if_tsresol) and offset in seconds (if_tsoffset).
  std::vector<uint32_t> section_interfaces_;
  std::vector<uint8_t> section_tsresol_;
  std::vector<int64_t> section_tsoffset_;
  uint64_t last_ts_us_ = 0;  // for simple packet blocks, which carry no time
  std::string error_;
};

}  // namespace nfemu::replay

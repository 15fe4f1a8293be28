#include "replay/pcapng.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace nfemu::replay {

namespace {

// Block types (pcapng: draft-ietf-opsawg-pcapng).
constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 1;
constexpr uint32_t kObsoletePacket = 2;
constexpr uint32_t kSimplePacket = 3;
constexpr uint32_t kEnhancedPacket = 6;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
// Options of an interface description block.
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptIfName = 2;
constexpr uint16_t kOptIfTsresol = 9;
constexpr uint16_t kOptIfTsoffset = 14;
// Of an enhanced packet block.
constexpr uint16_t kOptEpbFlags = 2;

uint32_t load32le(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// A timestamp in units of 10^-n or 2^-n seconds (the top bit of resol
// says which) plus an offset in seconds, in microseconds; false when it
// does not fit the replay's clock. Per packet: microseconds (the default)
// and nanoseconds (dumpcap's) take no 128-bit division.
bool to_microseconds(uint64_t ts, uint8_t resol, int64_t offset_s, uint64_t& us) {
  static constexpr uint64_t kPow10[] = {1,
                                        10,
                                        100,
                                        1000,
                                        10000,
                                        100000,
                                        1000000,
                                        10000000,
                                        100000000,
                                        1000000000,
                                        10000000000,
                                        100000000000,
                                        1000000000000,
                                        10000000000000,
                                        100000000000000,
                                        1000000000000000,
                                        10000000000000000,
                                        100000000000000000,
                                        1000000000000000000,
                                        10000000000000000000u};
  const unsigned n = resol & 0x7fu;
  uint64_t v;
  if (resol == 6) {
    v = ts;
  } else if (resol == 9) {
    v = ts / 1000;
  } else if (resol & 0x80u) {
    const unsigned __int128 x = (static_cast<unsigned __int128>(ts) * 1000000u) >> n;
    if (x >> 64) return false;
    v = static_cast<uint64_t>(x);
  } else if (n > 6) {
    v = n - 6 < std::size(kPow10) ? ts / kPow10[n - 6] : 0;
  } else if (__builtin_mul_overflow(ts, kPow10[6 - n], &v)) {
    return false;
  }
  constexpr uint64_t kMax = PcapngReader::kMaxMicroseconds;
  if (offset_s != 0) {
    const uint64_t off_s = offset_s < 0 ? 0 - static_cast<uint64_t>(offset_s) : static_cast<uint64_t>(offset_s);
    uint64_t off;
    if (off_s >= kMax / 1000000 || __builtin_mul_overflow(off_s, uint64_t{1000000}, &off)) return false;
    if (offset_s < 0) {
      if (v < off) return false;
      v -= off;
    } else {
      v += off;
    }
  }
  if (v >= kMax) return false;
  us = v;
  return true;
}

}  // namespace

bool PcapngReader::is_pcapng(std::span<const uint8_t> head) {
  return head.size() >= 4 && load32le(head.data()) == kSectionHeader;
}

uint32_t PcapngReader::u32(const uint8_t* b) const {
  uint32_t v = load32le(b);
  return swapped_ ? __builtin_bswap32(v) : v;
}

uint16_t PcapngReader::u16(const uint8_t* b) const {
  uint16_t v;
  std::memcpy(&v, b, 2);
  return swapped_ ? static_cast<uint16_t>(v << 8 | v >> 8) : v;
}

bool PcapngReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  pos_ = file_.size();
  return false;
}

bool PcapngReader::start() {
  if (!is_pcapng(file_)) return fail("not a pcapng file: it does not start with a section header block");
  started_ = true;
  // Interfaces are described before the packets that name them: read up to
  // the first packet, which next() then reads again.
  while (pos_ < file_.size()) {
    const size_t at = pos_;
    PcapngPacket p;
    switch (read_block(&p)) {
      case Block::Packet:
        pos_ = at;
        return true;
      case Block::Other: continue;
      case Block::End: return true;
      case Block::Bad: return false;
    }
  }
  return true;
}

// The block nearly every packet of a capture is: an enhanced packet block
// in the host's byte order, of an interface whose times are micro- or
// nanoseconds with no offset. Anything else, or anything odd about it,
// is left to read_block, which reads it the same way (fuzz_pcapng compares
// the two).
bool PcapngReader::fast_packet(PcapngPacket& p) {
  const size_t left = file_.size() - pos_;
  if (swapped_ || left < 32) return false;
  const uint8_t* b = file_.data() + pos_;
  const uint32_t len = load32le(b + 4);
  if (load32le(b) != kEnhancedPacket || len > left || len % 4 != 0 || len < 32) return false;
  const uint32_t local_if = load32le(b + 8), caplen = load32le(b + 20);
  if (local_if >= section_interfaces_.size() || caplen > len - 32 || caplen > kMaxPacket) return false;
  if (load32le(b + len - 4) != len) return false;
  const uint8_t resol = section_tsresol_[local_if];
  if ((resol != 6 && resol != 9) || section_tsoffset_[local_if] != 0) return false;
  const uint64_t ts = uint64_t{load32le(b + 12)} << 32 | load32le(b + 16);
  const uint64_t us = resol == 6 ? ts : ts / 1000;
  if (us >= kMaxMicroseconds) return false;
  const size_t options = 28 + (size_t{caplen} + 3) / 4 * 4;  // from the block's start
  p.flags = options + 4 < len ? packet_flags({b + options, len - 4 - options}) : 0;
  p.interface = section_interfaces_[local_if];
  p.ts_us = last_ts_us_ = us;
  const uint32_t orig_len = load32le(b + 24);
  p.orig_len = orig_len > caplen ? orig_len : caplen;
  p.data = {b + 28, caplen};
  pos_ += len;
  return true;
}

bool PcapngReader::next(PcapngPacket& p) {
  if (!started_ && !start()) return false;
  for (;;) {
    if (fast_path_ && fast_packet(p)) return true;
    switch (read_block(&p)) {
      case Block::Packet: return true;
      case Block::Other: continue;
      case Block::End:
      case Block::Bad: return false;
    }
  }
}

PcapngReader::Block PcapngReader::read_block(PcapngPacket* p) {
  if (pos_ >= file_.size()) return Block::End;
  const size_t left = file_.size() - pos_;
  const uint8_t* b = file_.data() + pos_;
  auto bad = [&](std::string why) {
    fail(fmt::format("the block at byte {}: {}", pos_, why));
    return Block::Bad;
  };
  if (left < 12) return bad(fmt::format("cut: {} bytes left, a block takes at least 12", left));
  const uint32_t raw_type = load32le(b);
  if (raw_type == kSectionHeader) {
    // The byte order can change from section to section.
    const uint32_t bom = load32le(b + 8);
    if (bom == kByteOrderMagic) swapped_ = false;
    else if (bom == __builtin_bswap32(kByteOrderMagic)) swapped_ = true;
    else return bad(fmt::format("a section header with the byte-order magic {:#010x}", bom));
  } else if (pos_ == 0) {
    return bad("the file does not start with a section header");
  }
  const uint32_t type = u32(b);
  const uint32_t len = u32(b + 4);
  if (len < 12 || len % 4 != 0) return bad(fmt::format("a block length of {} bytes", len));
  if (len > left) return bad(fmt::format("cut: a block of {} bytes, {} left in the file", len, left));
  if (u32(b + len - 4) != len)
    return bad(fmt::format("its trailing length {} is not its leading length {}", u32(b + len - 4), len));
  const std::span<const uint8_t> body(b + 8, len - 12);
  const size_t at = pos_;
  pos_ += len;
  auto bad_here = [&](std::string why) {
    fail(fmt::format("the block at byte {}: {}", at, why));
    return Block::Bad;
  };
  switch (type) {
    case kSectionHeader:
      if (!section_header(body)) return bad_here(error_.empty() ? "a bad section header" : error_);
      return Block::Other;
    case kInterfaceDescription:
      if (!interface_block(body)) return Block::Bad;
      return Block::Other;
    case kEnhancedPacket:
    case kObsoletePacket: {
      // The same fields, but the obsolete block's interface is 16 bits (a
      // count of drops follows); its pack_flags option is epb_flags.
      if (body.size() < 20) return bad_here("a packet block too short for its fields");
      const uint32_t caplen = u32(body.data() + 12);
      if (caplen > body.size() - 20)
        return bad_here(fmt::format("a packet of {} bytes in a block with room for {}", caplen, body.size() - 20));
      const uint32_t iface = type == kEnhancedPacket ? u32(body.data()) : u16(body.data());
      const uint64_t ts = uint64_t{u32(body.data() + 4)} << 32 | u32(body.data() + 8);
      if (!packet(iface, ts, caplen, u32(body.data() + 16), body.subspan(20, caplen), *p)) {
        error_ = fmt::format("the block at byte {}: {}", at, error_);
        return Block::Bad;
      }
      const size_t options = 20 + (size_t{caplen} + 3) / 4 * 4;
      p->flags = options < body.size() ? packet_flags(body.subspan(options)) : 0;
      return Block::Packet;
    }
    case kSimplePacket: {
      // Interface 0, no timestamp (the last one read stands in), the
      // packet cut to the interface's snaplen.
      if (body.size() < 4) return bad_here("a simple packet block too short for its length field");
      if (section_interfaces_.empty()) return bad_here("a simple packet block before any interface description");
      const uint32_t orig = u32(body.data());
      const uint32_t snaplen = interfaces_[section_interfaces_[0]].snaplen;
      uint32_t caplen = std::min<uint32_t>(orig, static_cast<uint32_t>(body.size() - 4));
      if (snaplen) caplen = std::min(caplen, snaplen);
      const uint64_t keep = last_ts_us_;
      if (!packet(0, 0, caplen, orig, body.subspan(4, caplen), *p)) {
        error_ = fmt::format("the block at byte {}: {}", at, error_);
        return Block::Bad;
      }
      p->ts_us = last_ts_us_ = keep;
      p->flags = 0;
      return Block::Packet;
    }
    default: return Block::Other;
  }
}

// The epb_flags option among a packet block's options; 0 without one. A
// malformed option list ends the search, not the file: options are
// extras, the packet is whole.
uint32_t PcapngReader::packet_flags(std::span<const uint8_t> options) const {
  for (size_t off = 0; off + 4 <= options.size();) {
    const uint16_t code = u16(options.data() + off), len = u16(options.data() + off + 2);
    if (code == kOptEnd || len > options.size() - off - 4) break;
    if (code == kOptEpbFlags && len == 4) return u32(options.data() + off + 4);
    off += 4 + (size_t{len} + 3) / 4 * 4;
  }
  return 0;
}

bool PcapngReader::section_header(std::span<const uint8_t> body) {
  if (body.size() < 16) return fail("a section header too short for its fields");
  const uint16_t major = u16(body.data() + 4), minor = u16(body.data() + 6);
  if (major != 1) return fail(fmt::format("pcapng version {}.{}; replay reads version 1", major, minor));
  section_interfaces_.clear();
  section_tsresol_.clear();
  section_tsoffset_.clear();
  return true;
}

bool PcapngReader::interface_block(std::span<const uint8_t> body) {
  const size_t at = pos_ - body.size() - 12;
  auto bad = [&](std::string why) { return fail(fmt::format("the block at byte {}: {}", at, why)); };
  if (body.size() < 8) return bad("an interface description too short for its fields");
  PcapngInterface iface;
  iface.linktype = u16(body.data());
  iface.snaplen = u32(body.data() + 4);
  uint8_t tsresol = 6;
  int64_t tsoffset = 0;
  for (size_t off = 8; off + 4 <= body.size();) {
    const uint16_t code = u16(body.data() + off), olen = u16(body.data() + off + 2);
    if (code == kOptEnd) break;
    if (olen > body.size() - off - 4) return bad(fmt::format("option {} of {} bytes overruns the block", code, olen));
    const uint8_t* v = body.data() + off + 4;
    switch (code) {
      case kOptIfName: {
        std::string name(reinterpret_cast<const char*>(v), olen);
        while (!name.empty() && name.back() == '\0') name.pop_back();
        iface.name = std::move(name);
        break;
      }
      case kOptIfTsresol:
        if (olen != 1) return bad(fmt::format("an if_tsresol option of {} bytes (1 expected)", olen));
        tsresol = v[0];
        break;
      case kOptIfTsoffset: {
        if (olen != 8) return bad(fmt::format("an if_tsoffset option of {} bytes (8 expected)", olen));
        uint64_t x = uint64_t{u32(v)} | uint64_t{u32(v + 4)} << 32;
        if (swapped_) x = uint64_t{u32(v)} << 32 | u32(v + 4);
        tsoffset = static_cast<int64_t>(x);
        break;
      }
      default: break;
    }
    off += 4 + (size_t{olen} + 3) / 4 * 4;
  }
  // The same interface in a later section (files joined by cat): its
  // number stays, as long as this section has not already claimed it.
  size_t id = interfaces_.size();
  for (size_t k = 0; k < interfaces_.size(); ++k) {
    if (interfaces_[k].name != iface.name || interfaces_[k].linktype != iface.linktype) continue;
    if (std::find(section_interfaces_.begin(), section_interfaces_.end(), k) != section_interfaces_.end()) continue;
    id = k;
    break;
  }
  if (id == interfaces_.size()) {
    if (interfaces_.size() >= kMaxInterfaces) return bad(fmt::format("more than {} interfaces", kMaxInterfaces));
    interfaces_.push_back(iface);
  }
  section_interfaces_.push_back(static_cast<uint32_t>(id));
  section_tsresol_.push_back(tsresol);
  section_tsoffset_.push_back(tsoffset);
  return true;
}

bool PcapngReader::packet(uint32_t local_if, uint64_t ts, uint32_t caplen, uint32_t orig_len,
                          std::span<const uint8_t> data, PcapngPacket& p) {
  if (local_if >= section_interfaces_.size())
    return fail(fmt::format("a packet of interface {}, which its section does not describe ({} interface{})", local_if,
                            section_interfaces_.size(), section_interfaces_.size() == 1 ? "" : "s"));
  if (caplen > kMaxPacket) return fail(fmt::format("a packet of {} bytes (at most {} are read)", caplen, kMaxPacket));
  uint64_t us = 0;
  if (!to_microseconds(ts, section_tsresol_[local_if], section_tsoffset_[local_if], us))
    return fail("a timestamp out of range");
  p.interface = section_interfaces_[local_if];
  p.ts_us = last_ts_us_ = us;
  p.orig_len = std::max(orig_len, caplen);
  p.data = data;
  return true;
}

}  // namespace nfemu::replay

// A pcapng file built block by block for tests, in either byte order, with
// the blocks and options replay reads (and some it skips).
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace nfemu::replay::testing {

class PcapngWriter {
 public:
  explicit PcapngWriter(bool big_endian = false) : be_(big_endian) {}

  void section(uint16_t major = 1, uint16_t minor = 0) {
    Bytes b;
    put32(b, 0x1A2B3C4D);
    put16(b, major);
    put16(b, minor);
    put32(b, 0xffffffff);  // section length: not given
    put32(b, 0xffffffff);
    block(0x0A0D0D0A, b);
  }

  // tsresol < 0: no if_tsresol option (microseconds); tsoffset 0: none.
  void interface(uint16_t linktype, const std::string& name, int tsresol = -1, int64_t tsoffset = 0,
                 uint32_t snaplen = 65535) {
    Bytes b;
    put16(b, linktype);
    put16(b, 0);
    put32(b, snaplen);
    if (!name.empty()) option(b, 2, Bytes(name.begin(), name.end()));
    if (tsresol >= 0) option(b, 9, Bytes{static_cast<uint8_t>(tsresol)});
    if (tsoffset != 0) {
      Bytes v;
      put64(v, static_cast<uint64_t>(tsoffset));
      option(b, 14, v);
    }
    option(b, 0, {});
    block(1, b);
  }

  // flags: an epb_flags option (direction, reception type) when not 0.
  void enhanced(uint32_t iface, uint64_t ts, std::span<const uint8_t> data, uint32_t orig_len = 0,
                uint32_t flags = 0) {
    Bytes b;
    put32(b, iface);
    put32(b, static_cast<uint32_t>(ts >> 32));
    put32(b, static_cast<uint32_t>(ts));
    put32(b, static_cast<uint32_t>(data.size()));
    put32(b, orig_len ? orig_len : static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    pad(b);
    option(b, 1, Bytes{'h', 'i'});  // opt_comment: skipped
    if (flags) {
      Bytes v;
      put32(v, flags);
      option(b, 2, v);
    }
    option(b, 0, {});
    block(6, b);
  }

  void simple(std::span<const uint8_t> data) {
    Bytes b;
    put32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    pad(b);
    block(3, b);
  }

  void obsolete(uint16_t iface, uint64_t ts, std::span<const uint8_t> data) {
    Bytes b;
    put16(b, iface);
    put16(b, 0);
    put32(b, static_cast<uint32_t>(ts >> 32));
    put32(b, static_cast<uint32_t>(ts));
    put32(b, static_cast<uint32_t>(data.size()));
    put32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    pad(b);
    block(2, b);
  }

  // A block replay skips (interface statistics, name resolution...).
  void other(uint32_t type, size_t body_bytes) { block(type, Bytes(body_bytes / 4 * 4, 0x5a)); }

  const std::vector<uint8_t>& bytes() const { return out_; }
  std::vector<uint8_t>& bytes() { return out_; }
  void save(const std::string& path) const {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(out_.data()), static_cast<std::streamsize>(out_.size()));
  }

 private:
  using Bytes = std::vector<uint8_t>;
  void put16(Bytes& b, uint16_t v) {
    if (be_) b.insert(b.end(), {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
    else b.insert(b.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});
  }
  void put32(Bytes& b, uint32_t v) {
    if (be_) put16(b, static_cast<uint16_t>(v >> 16)), put16(b, static_cast<uint16_t>(v));
    else put16(b, static_cast<uint16_t>(v)), put16(b, static_cast<uint16_t>(v >> 16));
  }
  void put64(Bytes& b, uint64_t v) {
    if (be_) put32(b, static_cast<uint32_t>(v >> 32)), put32(b, static_cast<uint32_t>(v));
    else put32(b, static_cast<uint32_t>(v)), put32(b, static_cast<uint32_t>(v >> 32));
  }
  static void pad(Bytes& b) {
    while (b.size() % 4) b.push_back(0);
  }
  void option(Bytes& b, uint16_t code, const Bytes& v) {
    put16(b, code);
    put16(b, static_cast<uint16_t>(v.size()));
    b.insert(b.end(), v.begin(), v.end());
    pad(b);
  }
  void block(uint32_t type, const Bytes& body) {
    const uint32_t len = static_cast<uint32_t>(12 + body.size());
    // The section header's type reads the same in either order.
    put32(out_, type);
    put32(out_, len);
    out_.insert(out_.end(), body.begin(), body.end());
    put32(out_, len);
  }

  bool be_;
  std::vector<uint8_t> out_;
};

}  // namespace nfemu::replay::testing

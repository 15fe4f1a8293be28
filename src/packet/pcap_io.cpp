#include "packet/pcap_io.h"

#include <pcap/pcap.h>

#include <fmt/format.h>

namespace nfemu::packet {

struct PcapWriter::Impl {
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;
  std::string path;
  int snaplen = 0;
  ~Impl() {
    if (dumper) pcap_dump_close(dumper);
    if (dead) pcap_close(dead);
  }
};

PcapWriter::PcapWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

Result<PcapWriter> PcapWriter::open(const std::string& path, int linktype, int snaplen) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->snaplen = snaplen;
  impl->dead = pcap_open_dead_with_tstamp_precision(linktype, snaplen, PCAP_TSTAMP_PRECISION_MICRO);
  if (!impl->dead) return make_error(fmt::format("{}: cannot create pcap handle", path));
  impl->dumper = pcap_dump_open(impl->dead, path.c_str());
  if (!impl->dumper) return make_error(fmt::format("{}: {}", path, pcap_geterr(impl->dead)));
  return PcapWriter(std::move(impl));
}

void PcapWriter::write(uint64_t ts_us, std::span<const uint8_t> frame, uint32_t orig_len) {
  if (!impl_) return;  // closed
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(ts_us / 1000000);
  h.ts.tv_usec = static_cast<suseconds_t>(ts_us % 1000000);
  size_t cap = frame.size() < static_cast<size_t>(impl_->snaplen) ? frame.size() : impl_->snaplen;
  h.caplen = static_cast<bpf_u_int32>(cap);
  h.len = orig_len ? orig_len : static_cast<bpf_u_int32>(frame.size());
  pcap_dump(reinterpret_cast<u_char*>(impl_->dumper), &h, frame.data());
}

Result<void> PcapWriter::close() {
  if (!impl_ || !impl_->dumper) return {};
  bool failed = pcap_dump_flush(impl_->dumper) != 0;
  failed |= std::ferror(pcap_dump_file(impl_->dumper)) != 0;
  std::string path = impl_->path;
  impl_.reset();
  if (failed) return make_error(fmt::format("{}: write error", path));
  return {};
}

struct PcapReader::Impl {
  pcap_t* p = nullptr;
  std::string path;
  ~Impl() {
    if (p) pcap_close(p);
  }
};

PcapReader::PcapReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcapReader::PcapReader(PcapReader&&) noexcept = default;
PcapReader& PcapReader::operator=(PcapReader&&) noexcept = default;
PcapReader::~PcapReader() = default;

Result<PcapReader> PcapReader::open(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, err);
  if (!p) return make_error(fmt::format("{}: {}", path, err));
  auto impl = std::make_unique<Impl>();
  impl->p = p;
  impl->path = path;
  return PcapReader(std::move(impl));
}

int PcapReader::linktype() const { return impl_ ? pcap_datalink(impl_->p) : -1; }
int PcapReader::snaplen() const { return impl_ ? pcap_snapshot(impl_->p) : 0; }

Result<std::optional<PcapFrame>> PcapReader::next() {
  if (!impl_) return make_error("pcap reader used after move");
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(impl_->p, &h, &data);
  if (rc == PCAP_ERROR_BREAK) return std::optional<PcapFrame>();
  if (rc != 1) return make_error(fmt::format("{}: {}", impl_->path, pcap_geterr(impl_->p)));
  PcapFrame f;
  f.ts_us = static_cast<uint64_t>(h->ts.tv_sec) * 1000000 + static_cast<uint64_t>(h->ts.tv_usec);
  f.orig_len = h->len;
  f.data = {data, h->caplen};
  return std::optional<PcapFrame>(f);
}

Result<std::vector<OwnedPcapFrame>> read_pcap_file(const std::string& path, int* linktype) {
  auto r = PcapReader::open(path);
  if (!r) return r.error();
  if (linktype) *linktype = r->linktype();
  std::vector<OwnedPcapFrame> out;
  while (true) {
    auto f = r->next();
    if (!f) return f.error();
    if (!*f) break;
    out.push_back({(*f)->ts_us, (*f)->orig_len, std::vector<uint8_t>((*f)->data.begin(), (*f)->data.end())});
  }
  return out;
}

}  // namespace nfemu::packet

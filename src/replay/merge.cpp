#include "replay/merge.h"

#include <pcap/pcap.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace nfemu::replay {

namespace {

struct Buffered {
  uint64_t ts_us = 0;
  uint64_t frame_no = 0;
  uint32_t orig_len = 0;
  std::vector<uint8_t> bytes;
};

bool earlier(const Buffered* a, const Buffered* b) {
  return a->ts_us != b->ts_us ? a->ts_us < b->ts_us : a->frame_no < b->frame_no;
}

std::string seconds(uint64_t us) { return fmt::format("{}.{:06}", us / 1000000, us % 1000000); }

constexpr uint64_t kPcapFileHeader = 24;
constexpr uint64_t kPcapRecordHeader = 16;

}  // namespace

std::string linktype_name(int dlt) {
  const char* name = pcap_datalink_val_to_name(dlt);
  return name ? fmt::format("{} ({})", name, dlt) : std::to_string(dlt);
}

struct Merger::Impl {
  struct Source {
    pcap_t* p = nullptr;
    std::string path;
    int linktype = kDltEthernet;
    bool eof = false;
    uint64_t frames = 0;  // read so far
    uint64_t max_ts = 0;  // latest timestamp read
    uint64_t max_frame = 0;
    // Sorted by (time, frame number). Captures are nearly sorted: a frame
    // almost always goes at the back, and the few late ones are inserted.
    // A vector consumed from `head` rather than a deque: a deque allocates
    // and frees a block every few dozen frames; this one stops growing
    // once it holds a window.
    std::vector<Buffered*> queue;
    size_t head = 0;
    bool empty() const { return head == queue.size(); }
    Buffered* front() const { return queue[head]; }
    Buffered* pop_front() {
      Buffered* b = queue[head++];
      if (head == queue.size()) {
        queue.clear();
        head = 0;
      } else if (head >= 256 && head * 2 >= queue.size()) {
        queue.erase(queue.begin(), queue.begin() + static_cast<ptrdiff_t>(head));
        head = 0;
      }
      return b;
    }
  };
  std::vector<Source> sources;
  MergeOptions opts;
  std::vector<std::unique_ptr<Buffered>> storage;
  std::vector<Buffered*> free_list;
  Buffered* released = nullptr;  // handed out by the last next()
  std::vector<std::string> warnings;
  uint64_t bytes_read = 0;
  uint64_t bytes_total = 0;

  ~Impl() {
    for (auto& s : sources)
      if (s.p) pcap_close(s.p);
  }

  Buffered* take_buffer() {
    if (free_list.empty()) {
      storage.push_back(std::make_unique<Buffered>());
      // An Ethernet MTU's frame fits from the start: recycled buffers then
      // rarely grow.
      storage.back()->bytes.reserve(1536);
      return storage.back().get();
    }
    Buffered* b = free_list.back();
    free_list.pop_back();
    return b;
  }

  // Reads one record of s into its queue; false on an error to report.
  Result<void> read_one(Source& s) {
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(s.p, &h, &data);
    if (rc == PCAP_ERROR_BREAK) {
      s.eof = true;
      return {};
    }
    if (rc != 1) {
      warnings.push_back(fmt::format("{}: truncated or corrupt after frame {}: {}", s.path, s.frames,
                                     pcap_geterr(s.p)));
      s.eof = true;
      return {};
    }
    ++s.frames;
    bytes_read += kPcapRecordHeader + h->caplen;
    uint64_t ts = static_cast<uint64_t>(h->ts.tv_sec) * 1000000 + static_cast<uint64_t>(h->ts.tv_usec);
    if (ts + opts.window_us < s.max_ts) {
      return make_error(fmt::format(
          "{}: frame {} (at {} s) is {} s earlier than frame {} (at {} s), beyond the reorder window of {} s; "
          "sort the capture first (reordercap IN OUT) or widen --reorder-window",
          s.path, s.frames, seconds(ts), seconds(s.max_ts - ts), s.max_frame, seconds(s.max_ts),
          seconds(opts.window_us)));
    }
    if (ts >= s.max_ts) {
      s.max_ts = ts;
      s.max_frame = s.frames;
    }
    Buffered* b = take_buffer();
    b->ts_us = ts;
    b->frame_no = s.frames;
    b->orig_len = h->len;
    b->bytes.assign(data, data + h->caplen);
    if (s.empty() || !earlier(b, s.queue.back()))
      s.queue.push_back(b);
    else
      s.queue.insert(std::upper_bound(s.queue.begin() + static_cast<ptrdiff_t>(s.head), s.queue.end(), b, earlier), b);
    return {};
  }

  // Reads until the earliest buffered frame can no longer be preceded by a
  // frame still in the file: one later than it by the window has been seen.
  Result<void> fill(Source& s) {
    while (!s.eof && (s.empty() || s.max_ts < s.front()->ts_us + opts.window_us)) {
      if (auto r = read_one(s); !r) return r;
    }
    return {};
  }
};

Merger::Merger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Merger::Merger(Merger&&) noexcept = default;
Merger& Merger::operator=(Merger&&) noexcept = default;
Merger::~Merger() = default;

Result<Merger> Merger::open(const std::vector<Input>& inputs, MergeOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->sources.reserve(inputs.size());
  for (const auto& in : inputs) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(in.path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, err);
    if (!p) return make_error(fmt::format("{}: {}", in.path, err));
    Impl::Source s;
    s.p = p;
    s.path = in.path;
    s.linktype = pcap_datalink(p);
    impl->sources.push_back(std::move(s));
    int lt = impl->sources.back().linktype;
    if (lt != kDltEthernet && lt != kDltRaw && lt != kDltRawBsd && lt != kDltLinuxSll) {
      return make_error(fmt::format(
          "{}: link type {} is not supported; replay reads Ethernet (EN10MB), raw IP (RAW) and Linux cooked "
          "(LINUX_SLL) captures",
          in.path, linktype_name(lt)));
    }
    std::error_code ec;
    auto size = std::filesystem::file_size(in.path, ec);
    impl->bytes_total += ec ? 0 : size;
    impl->bytes_read += kPcapFileHeader;
  }
  return Merger(std::move(impl));
}

Result<std::optional<MergedFrame>> Merger::next() {
  Impl& m = *impl_;
  if (m.released) {
    m.free_list.push_back(m.released);
    m.released = nullptr;
  }
  size_t best = m.sources.size();
  for (size_t i = 0; i < m.sources.size(); ++i) {
    auto& s = m.sources[i];
    if (auto r = m.fill(s); !r) return r.error();
    if (s.empty()) continue;
    if (best == m.sources.size() || s.front()->ts_us < m.sources[best].front()->ts_us) best = i;
  }
  if (best == m.sources.size()) return std::optional<MergedFrame>();
  auto& s = m.sources[best];
  Buffered* b = s.pop_front();
  m.released = b;
  MergedFrame f;
  f.input = best;
  f.frame_no = b->frame_no;
  f.ts_us = b->ts_us;
  f.orig_len = b->orig_len;
  f.linktype = s.linktype;
  f.data = b->bytes;
  return std::optional<MergedFrame>(f);
}

uint64_t Merger::bytes_read() const { return impl_->bytes_read; }
uint64_t Merger::bytes_total() const { return impl_->bytes_total; }
const std::vector<std::string>& Merger::warnings() const { return impl_->warnings; }
int Merger::linktype(size_t input) const { return impl_->sources.at(input).linktype; }

}  // namespace nfemu::replay

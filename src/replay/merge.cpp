#include "replay/merge.h"

#include "replay/map_guard.h"

#include <pcap/pcap.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace nfemu::replay {

namespace {

// One frame waiting in a source's window: plain values (the ring moves
// them), the bytes in the mapped file or in a pool buffer of Impl.
constexpr uint32_t kNotOwned = UINT32_MAX;
struct Buffered {
  uint64_t ts_us = 0;
  uint64_t frame_no = 0;
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t orig_len = 0;
  uint32_t owned = kNotOwned;  // index in Impl::pool of the buffer holding the bytes (libpcap's records)
  // A pcapng file's (never set in a classic one's ring): MergedFrame's.
  uint16_t interface = 0;
  uint16_t flags = 0;
};

uint32_t load32le(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// MAXIMUM_SNAPLEN: the largest caplen libpcap accepts for the link types
// replay reads.
constexpr uint32_t kMaxSnaplen = 262144;

bool earlier(const Buffered& a, const Buffered& b) {
  return a.ts_us != b.ts_us ? a.ts_us < b.ts_us : a.frame_no < b.frame_no;
}

std::string seconds(uint64_t us) { return fmt::format("{}.{:06}", us / 1000000, us % 1000000); }

constexpr uint64_t kPcapFileHeader = 24;
constexpr uint64_t kPcapRecordHeader = 16;

}  // namespace

bool supported_linktype(int dlt) {
  return dlt == kDltEthernet || dlt == kDltRaw || dlt == kDltRawBsd || dlt == kDltLinuxSll || dlt == kDltLinuxSll2;
}

std::string linktype_name(int dlt) {
  // pcapng files (read by PcapngReader) carry LINKTYPE_ values; libpcap
  // maps LINKTYPE_RAW to DLT_RAW when it reads, and names only the latter.
  if (dlt == kDltRaw) return "RAW (101)";
  const char* name = pcap_datalink_val_to_name(dlt);
  return name ? fmt::format("{} ({})", name, dlt) : std::to_string(dlt);
}

struct Merger::Impl {
  struct Source {
    pcap_t* p = nullptr;
    std::string path;
    // The fast path (map_records): the file mapped, records read in place
    // without libpcap's two copies. Only records libpcap would hand out
    // unchanged take it; at the first other one (and at the end) libpcap
    // reads on from that offset and has the last word, errors included.
    const uint8_t* map = nullptr;
    size_t map_size = 0;   // the file's size (smaller if it was cut while mapped)
    size_t map_len = 0;    // as mapped
    MapGuard* guard = nullptr;  // a read past a cut reads zeros and says so
    size_t pos = 0;        // offset of the next record in the map
    size_t released = 0;   // the map's pages before this offset are given back
    size_t populated = 0;  // the map's pages before this offset are mapped in
    size_t prefetched = 0; // the cache lines before this offset were prefetched
    // A pcapng file: read from the map by this, never by libpcap.
    std::unique_ptr<PcapngReader> ng;
    size_t ng_checked = 0;  // its interfaces whose link type was checked
    bool mapped = false;   // records still come from the map
    bool swapped = false;  // the file's byte order is not ours
    uint32_t snaplen = 0;  // pcap_snapshot()
    int linktype = kDltEthernet;
    bool eof = false;
    uint64_t frames = 0;  // read so far
    uint64_t max_ts = 0;  // latest timestamp read
    uint64_t max_frame = 0;
    // Sorted by (time, frame number), a ring of plain values (a power of
    // two, grown only when a window does not fit). Captures are nearly
    // sorted: a frame almost always goes at the back, and the few late
    // ones are moved back to their place.
    std::vector<Buffered> ring = std::vector<Buffered>(64);
    size_t head = 0, count = 0;
    bool empty() const { return count == 0; }
    const Buffered& front() const { return ring[head]; }
    // The slot after the last one: read_one reads a record straight into
    // it, then commit() makes it part of the window. (A Buffered made on
    // the stack and copied in was stored field by field and loaded back 16
    // bytes at a time: a failed store-to-load forward per frame, where
    // perf put a third of next()'s time.)
    Buffered& back_slot() {
      if (count == ring.size()) grow();
      return ring[(head + count) & (ring.size() - 1)];
    }
    // `in_order`: the frame is not earlier than any read before it (the
    // usual case), so the back is its place.
    void commit(bool in_order) {
      size_t mask = ring.size() - 1;
      size_t i = (head + count) & mask;
      ++count;
      if (in_order) return;
      while (i != head) {
        size_t prev = (i - 1) & mask;
        if (!earlier(ring[i], ring[prev])) break;
        std::swap(ring[i], ring[prev]);
        i = prev;
      }
    }
    void pop_front() {
      head = (head + 1) & (ring.size() - 1);
      --count;
    }
    [[gnu::noinline, gnu::cold]] void grow() {
      std::vector<Buffered> bigger(ring.size() * 2);
      for (size_t i = 0; i < count; ++i) bigger[i] = ring[(head + i) & (ring.size() - 1)];
      ring.swap(bigger);
      head = 0;
    }
  };
  std::vector<Source> sources;
  MergeOptions opts;
  // The bytes of records libpcap read (mapped ones need none), recycled.
  std::vector<std::vector<uint8_t>> pool;
  std::vector<uint32_t> free_bytes;
  std::vector<uint32_t> handed_out;  // the buffers of the frames the last next() handed out
  std::vector<std::string> warnings;
  uint64_t bytes_read = 0;
  uint64_t bytes_total = 0;

  ~Impl() {
    for (auto& s : sources) {
      if (s.p) pcap_close(s.p);
      if (s.guard) s.guard->release();
      if (s.map) munmap(const_cast<uint8_t*>(s.map), s.map_len);
    }
  }

  // A regular file mapped, with the guard that turns a read past a cut
  // into zeros; false (nothing mapped) for anything else.
  static bool map_file(const std::string& path, size_t min_size, const uint8_t*& map, size_t& size,
                       MapGuard*& guard) {
    if (path == "-") return false;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(min_size)) {
      ::close(fd);
      return false;
    }
    size = static_cast<size_t>(st.st_size);
    void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) return false;
    map = static_cast<const uint8_t*>(m);
    guard = MapGuard::watch(map, size);
    if (!guard) {
      munmap(m, size);
      return false;
    }
    madvise(m, size, MADV_SEQUENTIAL);
    return true;
  }

  // A pcapng file, mapped and read by PcapngReader: its section header and
  // the interfaces described before the first packet are read here.
  // nullopt: not a pcapng file (libpcap opens it); an error for a pcapng
  // file that starts corrupt.
  static std::optional<Result<Source>> open_pcapng(const std::string& path) {
    const uint8_t* b = nullptr;
    size_t size = 0;
    MapGuard* guard = nullptr;
    if (!map_file(path, 4, b, size, guard)) return std::nullopt;
    Source s;
    s.path = path;
    s.map = b;
    s.map_size = s.map_len = size;
    s.guard = guard;
    if (!PcapngReader::is_pcapng({b, size}) || guard->cut()) {
      guard->release();
      munmap(const_cast<uint8_t*>(b), size);
      return std::nullopt;
    }
    s.ng = std::make_unique<PcapngReader>(std::span<const uint8_t>(b, size));
    if (!s.ng->start()) {
      std::string why = s.ng->error();
      guard->release();
      munmap(const_cast<uint8_t*>(b), size);
      s.map = nullptr;
      s.guard = nullptr;
      return Result<Source>(make_error(fmt::format("{}: a corrupt pcapng file: {}", path, why)));
    }
    if (!s.ng->interfaces().empty()) s.linktype = s.ng->interfaces()[0].linktype;
    s.pos = s.prefetched = s.ng->offset();
    return Result<Source>(std::move(s));
  }

  // The next packet of a pcapng source into b, or false at its end (a
  // warning says why if it ended early).
  [[gnu::noinline]] bool read_pcapng(Source& s, Buffered& b) {
    if (s.eof) return false;
    PcapngPacket p;
    const size_t before = s.ng->offset();
    bool ok = s.ng->next(p);
    if (s.guard->cut()) [[unlikely]] {
      // As for pcap (after_cut): the window's frames past the cut are
      // dropped; a packet read wholly before it is kept, and the reader
      // goes on up to the new end. A read that met the cut ends the input.
      const size_t now = drop_past_cut(s);
      if (!ok || s.ng->offset() > now) {
        s.eof = true;
        return false;
      }
      s.ng->limit(now);
    }
    if (!ok) {
      if (!s.ng->error().empty())
        warnings.push_back(fmt::format("{}: truncated or corrupt after frame {}: {}", s.path, s.frames, s.ng->error()));
      s.eof = true;
      return false;
    }
    const auto& ifaces = s.ng->interfaces();
    for (; s.ng_checked < ifaces.size(); ++s.ng_checked) {
      const int lt = ifaces[s.ng_checked].linktype;
      if (supported_linktype(lt)) continue;
      const std::string& name = ifaces[s.ng_checked].name;
      warnings.push_back(fmt::format("{}: frames of interface {}{} and later not read: link type {} is not supported",
                                     s.path, s.ng_checked, name.empty() ? "" : " (" + name + ")", linktype_name(lt)));
      s.eof = true;
      return false;
    }
    b.ts_us = p.ts_us;
    b.orig_len = p.orig_len;
    b.data = p.data.data();
    b.caplen = static_cast<uint32_t>(p.data.size());
    b.owned = kNotOwned;
    b.interface = static_cast<uint16_t>(p.interface);  // fewer than kMaxInterfaces
    b.flags = static_cast<uint16_t>(p.flags & (PcapngPacket::kDirectionMask | PcapngPacket::kReceptionMask));
    s.pos = s.ng->offset();
    // Progress counts a record as its pcap header and bytes: the rest of
    // the block.
    bytes_read += (s.pos - before) - (kPcapRecordHeader + b.caplen);
    read_ahead(s);
    if (s.pos - s.released >= 2 * kReleaseStep) release_behind(s);
    return true;
  }

  // Maps a classic pcap file (version 2.4, microsecond magic, either byte
  // order) that libpcap has opened; anything else (nanosecond files,
  // pipes and "-", old versions) stays with libpcap alone.
  static void map_records(Source& s) {
    const uint8_t* b = nullptr;
    size_t size = 0;
    MapGuard* guard = nullptr;
    if (!map_file(s.path, kPcapFileHeader, b, size, guard)) return;
    auto unmap = [&] {
      guard->release();
      munmap(const_cast<uint8_t*>(b), size);
    };
    uint32_t magic = load32le(b);
    bool swapped = false;
    switch (magic) {
      case 0xa1b2c3d4: break;
      case 0xd4c3b2a1: swapped = true; break;
      default: return unmap();
    }
    auto u16 = [&](size_t off) {
      uint16_t v;
      std::memcpy(&v, b + off, 2);
      return swapped ? static_cast<uint16_t>(v << 8 | v >> 8) : v;
    };
    if (u16(4) != 2 || u16(6) != 4 || pcap_snapshot(s.p) <= 0 || guard->cut()) return unmap();
    s.map = b;
    s.map_size = size;
    s.map_len = size;
    s.guard = guard;
    s.pos = kPcapFileHeader;
    s.prefetched = kPcapFileHeader;
    s.mapped = true;
    s.swapped = swapped;
    s.snaplen = static_cast<uint32_t>(pcap_snapshot(s.p));
  }

  // The next record from the map into b, or false: then libpcap takes
  // over at s.pos.
  bool read_mapped(Source& s, Buffered& b) {
    if (s.map_size - s.pos < kPcapRecordHeader) return false;
    const uint8_t* h = s.map + s.pos;
    uint32_t f[4];
    for (int i = 0; i < 4; ++i) f[i] = swapped32(load32le(h + 4 * i), s.swapped);
    // The loads above may have been the first past a cut (zeros).
    if (s.guard->cut()) [[unlikely]]
      return after_cut(s, b);
    uint32_t sec = f[0], usec = f[1], caplen = f[2], len = f[3];
    // libpcap reads the times as signed 32-bit values and checks caplen
    // against the snaplen and the link's maximum: such records, and any
    // odd one, are left to it.
    if (sec > 0x7fffffffu || usec >= 1000000 || caplen > s.snaplen || caplen > kMaxSnaplen || caplen > len)
      return false;
    if (s.map_size - s.pos - kPcapRecordHeader < caplen) return false;
    b.ts_us = uint64_t{sec} * 1000000 + usec;
    b.orig_len = len;
    b.data = h + kPcapRecordHeader;
    b.caplen = caplen;
    b.owned = kNotOwned;
    s.pos += kPcapRecordHeader + caplen;
    read_ahead(s);
    if (s.pos - s.released >= 2 * kReleaseStep) release_behind(s);
    return true;
  }

  // The file was cut while mapped (MapGuard zero-filled what was past
  // its new end): the map ends where the file now ends, and frames of the
  // window past it are dropped, so that no zeros are replayed as a frame;
  // libpcap reports a record cut in two when the map reaches it. Frames
  // handed out before the cut was seen are the caller's (a cut racing
  // with their use may leave zeros in them).
  [[gnu::noinline, gnu::cold]] bool after_cut(Source& s, Buffered& b) {
    const size_t now = drop_past_cut(s);
    // The reader is past the cut (the only case where frames were
    // dropped: the window holds frames before s.pos): nothing more of
    // this file. b, the slot after the window's old end, is not committed
    // then, which matters: the window just got shorter.
    if (now < s.pos) {
      s.eof = true;
      return false;
    }
    return read_mapped(s, b);
  }

  // What a cut leaves of s (pcap or pcapng): the map ends where the file
  // now ends, the window's frames past it are dropped, with a warning.
  // Returns the file's new size.
  size_t drop_past_cut(Source& s) {
    s.guard->clear_cut();
    struct stat st {};
    size_t now = ::stat(s.path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
    s.map_size = std::min(s.map_size, std::max(now, s.pos));
    size_t kept = 0, dropped = 0;
    const size_t mask = s.ring.size() - 1;
    for (size_t i = 0; i < s.count; ++i) {
      Buffered& x = s.ring[(s.head + i) & mask];
      bool gone = x.owned == kNotOwned && x.data && static_cast<size_t>(x.data - s.map) + x.caplen > now;
      if (gone) ++dropped;
      else s.ring[(s.head + kept++) & mask] = x;
    }
    s.count = kept;
    warnings.push_back(fmt::format("{}: the file was cut to {} bytes while being read ({} were mapped); {} frame{} "
                                   "read before the cut and past it dropped",
                                   s.path, now, s.map_len, dropped, dropped == 1 ? "" : "s"));
    return now;
  }

  // The records ahead of the reader, before it reads them: a record's
  // header was a cache miss on a page just faulted in (most of read_one's
  // time), and its bytes another when the frame was copied a window later.
  // Pages are mapped a chunk at a time, ahead of the prefetches (which a
  // missing page would drop).
  static constexpr size_t kPopulateChunk = size_t{1} << 20;
  static constexpr size_t kPrefetchAhead = 4096;
  static constexpr size_t kPrefetchStep = 1024;
  void read_ahead(Source& s) {
    if (s.pos + kPrefetchAhead > s.prefetched) prefetch_more(s);
  }
  // A kilobyte of lines at a time: one test per record on the way.
  [[gnu::noinline]] void prefetch_more(Source& s) {
    size_t upto = std::min(s.pos + kPrefetchAhead + kPrefetchStep, s.map_size);
    if (upto > s.populated) populate(s);
    for (; s.prefetched + 256 <= upto; s.prefetched += 256) {
      const uint8_t* p = s.map + s.prefetched;
      __builtin_prefetch(p);
      __builtin_prefetch(p + 64);
      __builtin_prefetch(p + 128);
      __builtin_prefetch(p + 192);
    }
    for (; s.prefetched < upto; s.prefetched += 64) __builtin_prefetch(s.map + s.prefetched);
  }
  // Maps the next chunk by reading one byte every kTouchStride: each
  // fault maps its page and the ones around it (the kernel's fault-around,
  // 64 KiB by default), 16 faults a chunk. MADV_POPULATE_READ, used
  // before, maps them through get_user_pages, whose walk of every page (a
  // reference taken and dropped) was ~2 % of the fw replay more (perf
  // shares: kernel 17.9 -> 15.5 %, the reader's own unchanged). A page
  // fault-around leaves out (a smaller setting) faults in when read.
  static constexpr size_t kTouchStride = size_t{64} << 10;
  [[gnu::noinline]] void populate(Source& s) {
    static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t from = std::max(s.populated, s.pos / page * page);
    size_t to = std::min(s.map_size, (from + kPopulateChunk) / page * page);
    if (to <= from) to = s.map_size;
    for (size_t off = from; off < to; off += kTouchStride)
      static_cast<void>(*static_cast<const volatile uint8_t*>(s.map + off));
    s.populated = to;
  }

  // Memory must stay bounded by the conntrack table, not by the capture:
  // the pages of a mapped file count in the process's resident set until
  // unmapped, so the ones read long ago are dropped from it. The file's
  // contents stay valid: a frame still waiting in the reorder window that
  // points there only faults its page in again from the file.
  static constexpr size_t kReleaseStep = size_t{4} << 20;
  static void release_behind(Source& s) {
    static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t upto = (s.pos - kReleaseStep) / page * page;
    if (upto <= s.released) return;
    madvise(const_cast<uint8_t*>(s.map) + s.released, upto - s.released, MADV_DONTNEED);
    s.released = upto;
  }
  static uint32_t swapped32(uint32_t v, bool swap) { return swap ? __builtin_bswap32(v) : v; }

  // Hands s over to libpcap at the offset the map reached.
  void leave_map(Source& s) {
    s.mapped = false;
    FILE* file = pcap_file(s.p);
    if (!file || fseeko(file, static_cast<off_t>(s.pos), SEEK_SET) != 0) {
      warnings.push_back(fmt::format("{}: truncated or corrupt after frame {}: cannot seek", s.path, s.frames));
      s.eof = true;
    }
  }

  uint32_t take_bytes() {
    if (free_bytes.empty()) {
      pool.emplace_back();
      // An Ethernet MTU's frame fits from the start: recycled buffers then
      // rarely grow.
      pool.back().reserve(1536);
      return static_cast<uint32_t>(pool.size() - 1);
    }
    uint32_t i = free_bytes.back();
    free_bytes.pop_back();
    return i;
  }

  // Reads one record of s into its window; false on an error to report.
  // (A bool and a member, not a Result<void>: its two strings were made and
  // destroyed twice per frame.)
  bool take(MergedFrame& f);
  void give_back_handed_out();
  Error error;
  bool failed = false;  // next() met `error`
  bool read_one(Source& s) {
    Buffered& b = s.back_slot();
    if (!s.mapped || !read_mapped(s, b)) [[unlikely]] {
      if (!read_unmapped(s, b)) return true;  // the end of s
    }
    ++s.frames;
    bytes_read += kPcapRecordHeader + b.caplen;
    uint64_t ts = b.ts_us;
    if (ts + opts.window_us < s.max_ts) [[unlikely]]
      return out_of_order(s, b);
    b.frame_no = s.frames;
    bool in_order = ts >= s.max_ts;
    if (in_order) {
      s.max_ts = ts;
      s.max_frame = s.frames;
    }
    s.commit(in_order);
    return true;
  }

  // libpcap's record into b (after the map, or without one), or false at
  // the end of s (a warning said why if it was cut).
  [[gnu::noinline]] bool read_unmapped(Source& s, Buffered& b) {
    if (s.ng) return read_pcapng(s, b);
    if (s.mapped) leave_map(s);
    if (s.eof) return false;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(s.p, &h, &data);
    if (rc == PCAP_ERROR_BREAK) {
      s.eof = true;
      return false;
    }
    if (rc != 1) {
      warnings.push_back(
          fmt::format("{}: truncated or corrupt after frame {}: {}", s.path, s.frames, pcap_geterr(s.p)));
      s.eof = true;
      return false;
    }
    b.ts_us = static_cast<uint64_t>(h->ts.tv_sec) * 1000000 + static_cast<uint64_t>(h->ts.tv_usec);
    b.orig_len = h->len;
    b.owned = take_bytes();
    auto& bytes = pool[b.owned];
    bytes.assign(data, data + h->caplen);
    b.data = bytes.data();
    b.caplen = h->caplen;
    return true;
  }

  [[gnu::noinline, gnu::cold]] bool out_of_order(const Source& s, const Buffered& b) {
    if (b.owned != kNotOwned) free_bytes.push_back(b.owned);
    // dumpcap writes the packets of several interfaces as each one's
    // capture hands them over, in batches (96 ms apart seen on veths).
    const bool batches = s.ng && s.ng->interfaces().size() > 1;
    error = make_error(fmt::format(
        "{}: frame {} (at {} s) is {} s earlier than frame {} (at {} s), beyond the reorder window of {} s; "
        "sort the capture first (reordercap IN OUT) or widen --reorder-window{}",
        s.path, s.frames, seconds(b.ts_us), seconds(s.max_ts - b.ts_us), s.max_frame, seconds(s.max_ts),
        seconds(opts.window_us),
        batches ? " (a pcapng capture of several interfaces holds each interface's packets in the batches its "
                  "capture handed them over in: --reorder-window 1 sorts those of dumpcap)"
                : ""));
    return false;
  }

  // Reads until the earliest buffered frame can no longer be preceded by a
  // frame still in the file: one later than it by the window has been seen.
  // Inlined by force: with the cut check in read_mapped GCC stopped
  // inlining it into next() (+28 instructions per frame in callgrind).
  [[gnu::always_inline]] bool fill(Source& s) {
    while (!s.eof && (s.empty() || s.max_ts < s.front().ts_us + opts.window_us)) {
      if (!read_one(s)) return false;
    }
    return true;
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
    if (auto ng = Impl::open_pcapng(in.path)) {
      if (!*ng) return ng->error();
      impl->sources.push_back(std::move(**ng));
      for (const auto& i : impl->sources.back().ng->interfaces())
        if (!supported_linktype(i.linktype))
          return make_error(fmt::format(
              "{}: interface {}{} has link type {}, which is not supported; replay reads Ethernet (EN10MB), raw IP "
              "(RAW) and Linux cooked (LINUX_SLL, LINUX_SLL2) captures",
              in.path, &i - impl->sources.back().ng->interfaces().data(), i.name.empty() ? "" : " (" + i.name + ")",
              linktype_name(i.linktype)));
      impl->sources.back().ng_checked = impl->sources.back().ng->interfaces().size();
      impl->bytes_total += impl->sources.back().map_size;
      impl->bytes_read += impl->sources.back().pos;
      continue;
    }
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(in.path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, err);
    if (!p) return make_error(fmt::format("{}: {}", in.path, err));
    Impl::Source s;
    s.p = p;
    s.path = in.path;
    s.linktype = pcap_datalink(p);
    impl->sources.push_back(std::move(s));
    Impl::map_records(impl->sources.back());
    // pcapng that PcapngReader could not map (a pipe): libpcap reads it,
    // and hands out the packets of all its interfaces as one stream.
    if (pcap_major_version(p) == 1)
      impl->warnings.push_back(fmt::format(
          "{}: a pcapng stream read from a pipe: frames of all its interfaces are taken as one interface's; "
          "give the file itself to tell them apart",
          in.path));
    int lt = impl->sources.back().linktype;
    if (!supported_linktype(lt)) {
      return make_error(fmt::format(
          "{}: link type {} is not supported; replay reads Ethernet (EN10MB), raw IP (RAW) and Linux cooked "
          "(LINUX_SLL, LINUX_SLL2) captures",
          in.path, linktype_name(lt)));
    }
    std::error_code ec;
    auto size = std::filesystem::file_size(in.path, ec);
    impl->bytes_total += ec ? 0 : size;
    impl->bytes_read += kPcapFileHeader;
  }
  return Merger(std::move(impl));
}

// The earliest frame of all inputs into f, or false (at the end, or on an
// error: then `failed`).
[[gnu::always_inline]] inline bool Merger::Impl::take(MergedFrame& f) {
  size_t best = sources.size();
  if (best == 1) {
    // One capture: nothing to choose between.
    if (!fill(sources[0])) [[unlikely]]
      return failed = true, false;
    if (!sources[0].empty()) best = 0;
  } else {
    for (size_t i = 0; i < sources.size(); ++i) {
      auto& s = sources[i];
      if (!fill(s)) return failed = true, false;
      if (s.empty()) continue;
      if (best == sources.size() || s.front().ts_us < sources[best].front().ts_us) best = i;
    }
  }
  if (best == sources.size()) return false;
  auto& s = sources[best];
  const Buffered& b = s.front();
  if (b.owned != kNotOwned) [[unlikely]]
    handed_out.push_back(b.owned);
  f.input = best;
  f.frame_no = b.frame_no;
  f.ts_us = b.ts_us;
  f.orig_len = b.orig_len;
  // A pcapng file's interface 0 has the file's link type (open_pcapng).
  f.linktype = s.linktype;
  f.interface = b.interface;
  f.flags = b.flags;
  if (b.interface != 0) [[unlikely]]
    f.linktype = s.ng->interfaces()[b.interface].linktype;
  f.data = {b.data, b.caplen};
  s.pop_front();
  return true;
}

void Merger::Impl::give_back_handed_out() {
  free_bytes.insert(free_bytes.end(), handed_out.begin(), handed_out.end());
  handed_out.clear();
}

bool Merger::next(MergedFrame& f) {
  Impl& m = *impl_;
  if (!m.handed_out.empty()) [[unlikely]]
    m.give_back_handed_out();
  return !m.failed && m.take(f);
}

size_t Merger::next(std::span<MergedFrame> out) {
  Impl& m = *impl_;
  if (!m.handed_out.empty()) [[unlikely]]
    m.give_back_handed_out();
  size_t n = 0;
  while (n < out.size() && !m.failed && m.take(out[n])) ++n;
  return n;
}

bool Merger::failed() const { return impl_->failed; }
const Error& Merger::error() const { return impl_->error; }

Result<std::optional<MergedFrame>> Merger::next() {
  MergedFrame f;
  if (next(f)) return std::optional<MergedFrame>(f);
  if (failed()) return error();
  return std::optional<MergedFrame>();
}

uint64_t Merger::bytes_read() const { return impl_->bytes_read; }
uint64_t Merger::bytes_total() const { return impl_->bytes_total; }
const std::vector<std::string>& Merger::warnings() const { return impl_->warnings; }
int Merger::linktype(size_t input) const { return impl_->sources.at(input).linktype; }

bool Merger::is_pcapng(size_t input) const { return impl_->sources.at(input).ng != nullptr; }

const std::vector<PcapngInterface>& Merger::interfaces(size_t input) const {
  static const std::vector<PcapngInterface> none;
  const auto& s = impl_->sources.at(input);
  return s.ng ? s.ng->interfaces() : none;
}

}  // namespace nfemu::replay

// PcapngReader on arbitrary bytes: it must stop at whatever is corrupt or
// cut, with a reason, never read outside the file. Invariants: every
// packet lies inside the file and names an interface read before it; the
// reader only moves forward; the end, once reached, stays; the reader's
// fast path for common packet blocks reads what the general one reads,
// the same packets, the same stop and reason.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "replay/pcapng.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> file(data, size);
  nfemu::replay::PcapngReader r(file), again(file, /*fast_path=*/false);
  const bool started = r.start();
  if (started != again.start()) std::abort();
  if (!started) {
    if (r.error().empty()) std::abort();
    return 0;
  }
  nfemu::replay::PcapngPacket p, q;
  size_t last = r.offset();
  while (r.next(p)) {
    if (!again.next(q) || q.interface != p.interface || q.ts_us != p.ts_us || q.data.data() != p.data.data() ||
        q.data.size() != p.data.size() || q.orig_len != p.orig_len || q.flags != p.flags || again.offset() != r.offset())
      std::abort();
    if (p.data.data() < data || p.data.data() + p.data.size() > data + size) std::abort();
    if (p.interface >= r.interfaces().size() || p.orig_len < p.data.size()) std::abort();
    if (p.data.size() > nfemu::replay::PcapngReader::kMaxPacket) std::abort();
    if (r.offset() <= last || r.offset() > size) std::abort();
    last = r.offset();
  }
  if (again.next(q) || r.next(p)) std::abort();
  if (r.error() != again.error()) std::abort();
  // A stop before the end of the file has a reason.
  if (r.error().empty() && r.offset() != size) std::abort();
  return 0;
}

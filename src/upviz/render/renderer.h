// A whole render: log in, frames out.
//
// The simulation runs on the calling thread, in frame order. Each frame's
// Scene goes to a pool of raster threads (draw with cairo, convert for the
// writer); one writer thread takes the converted frames back in order. At most
// a few frames are in flight, so memory depends on the picture size, not on
// the length of the log.
//
//   RenderOptions o; o.output = "out.webm";
//   std::ifstream log("uploads.log");
//   auto report = render(o, log);
//   if (!report) { print(report.error().message); return 2; }
#pragma once

#include <cstdint>
#include <istream>
#include <vector>

#include "upviz/render/options.h"
#include "util/result.h"

namespace upviz::render {

struct RenderReport {
  int64_t frames = 0;
  int64_t commits = 0;
  int64_t lines = 0;
  int64_t bad_lines = 0;
  std::vector<int64_t> first_bad_lines;
};

// `log_size` (bytes, 0 when unknown) only feeds the progress display.
[[nodiscard]] nfemu::Result<RenderReport> render(const RenderOptions& opts, std::istream& log, uint64_t log_size = 0);

}  // namespace upviz::render

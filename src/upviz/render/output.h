// Where frames go: a PPM (P6) stream, a video file encoded with libavcodec,
// or one PNG.
//
// Converting a drawn frame (cairo's B,G,R,x pixels) into the writer's format
// is `convert`, which is const and thread-safe so raster threads do it;
// `write` takes converted frames in order on one thread.
//
//   auto w = open_frame_writer(opts);          // Result<unique_ptr<FrameWriter>>
//   std::vector<uint8_t> buf(w->frame_bytes());
//   w->convert(pixels, stride, buf.data());
//   if (auto r = w->write(buf.data()); !r) fail(r.error());
//   w->finish();
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "upviz/render/options.h"
#include "util/result.h"

namespace upviz::render {

enum class OutputKind { Ppm, Video, Png, Unknown };

// By name: "-" and *.ppm are PPM streams; *.webm, *.mp4, *.mkv video; *.png.
OutputKind output_kind(const std::string& path);

class FrameWriter {
 public:
  virtual ~FrameWriter() = default;
  virtual size_t frame_bytes() const = 0;
  virtual void convert(const uint8_t* bgrx, int stride, uint8_t* out) const = 0;
  virtual nfemu::Result<void> write(const uint8_t* frame) = 0;
  virtual nfemu::Result<void> finish() = 0;
};

[[nodiscard]] nfemu::Result<std::unique_ptr<FrameWriter>> open_frame_writer(const RenderOptions& opts);

// Packs B,G,R,x into R,G,B.
void bgrx_to_rgb(const uint8_t* src, int stride, int width, int height, uint8_t* dst);
// BT.601 limited-range YUV 4:2:0, planes Y, U, V one after another;
// width and height even.
void bgrx_to_yuv420(const uint8_t* src, int stride, int width, int height, uint8_t* dst);

// Writes cairo's surface as PNG.
[[nodiscard]] nfemu::Result<void> write_png(const std::string& path, const uint8_t* bgrx, int stride, int width,
                                            int height);

}  // namespace upviz::render

#include "upviz/render/output.h"

#include <cairo.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

namespace upviz::render {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  if (s.size() < n) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - n + i])) != suffix[i]) return false;
  return true;
}

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

class PpmWriter final : public FrameWriter {
 public:
  PpmWriter(FILE* f, std::string name, int w, int h, bool close)
      : f_(f), name_(std::move(name)), w_(w), h_(h), close_(close) {
    header_ = "P6\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
    setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~PpmWriter() override {
    if (close_ && f_) std::fclose(f_);
  }
  size_t frame_bytes() const override { return static_cast<size_t>(w_) * h_ * 3; }
  void convert(const uint8_t* bgrx, int stride, uint8_t* out) const override {
    bgrx_to_rgb(bgrx, stride, w_, h_, out);
  }
  nfemu::Result<void> write(const uint8_t* frame) override {
    if (std::fwrite(header_.data(), 1, header_.size(), f_) != header_.size() ||
        std::fwrite(frame, 1, frame_bytes(), f_) != frame_bytes())
      return nfemu::make_error("cannot write " + name_ + ": " + std::strerror(errno));
    return {};
  }
  nfemu::Result<void> finish() override {
    const bool bad = std::fflush(f_) != 0;
    if (close_) {
      const bool bad_close = std::fclose(f_) != 0;
      f_ = nullptr;
      if (bad || bad_close) return nfemu::make_error("cannot write " + name_ + ": " + std::strerror(errno));
    }
    if (bad) return nfemu::make_error("cannot write " + name_ + ": " + std::strerror(errno));
    return {};
  }

 private:
  FILE* f_;
  std::string name_, header_;
  int w_, h_;
  bool close_;
};

class VideoWriter final : public FrameWriter {
 public:
  VideoWriter(int w, int h) : w_(w), h_(h) {}
  ~VideoWriter() override {
    if (frame_) av_frame_free(&frame_);
    if (packet_) av_packet_free(&packet_);
    if (codec_) avcodec_free_context(&codec_);
    if (fmt_) {
      if (fmt_->pb) avio_closep(&fmt_->pb);
      avformat_free_context(fmt_);
    }
  }

  nfemu::Result<void> open(const RenderOptions& o) {
    path_ = o.output;
    // Encoder chatter (x264's statistics, libvpx's version) is not ours to
    // print; real errors come back as messages.
    av_log_set_level(AV_LOG_ERROR);
    if (avformat_alloc_output_context2(&fmt_, nullptr, nullptr, o.output.c_str()) < 0 || !fmt_)
      return nfemu::make_error("cannot choose a container for " + o.output);
    // Bit-exact: no encoder version strings or random ids in the file, so the
    // same input gives the same bytes.
    fmt_->flags |= AVFMT_FLAG_BITEXACT;
    std::string name = o.codec;
    if (name.empty()) name = ends_with(o.output, ".webm") ? "libvpx" : "libx264";
    if (name == "vp8") name = "libvpx";
    if (name == "vp9") name = "libvpx-vp9";
    if (name == "h264") name = "libx264";
    const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
    if (!codec) return nfemu::make_error("this libavcodec has no encoder " + name);
    if (ends_with(o.output, ".webm") && codec->id != AV_CODEC_ID_VP8 && codec->id != AV_CODEC_ID_VP9 &&
        codec->id != AV_CODEC_ID_AV1)
      return nfemu::make_error("webm holds VP8, VP9 or AV1, not " + name);
    stream_ = avformat_new_stream(fmt_, nullptr);
    codec_ = avcodec_alloc_context3(codec);
    if (!stream_ || !codec_) return nfemu::make_error("out of memory");
    codec_->width = w_;
    codec_->height = h_;
    codec_->pix_fmt = AV_PIX_FMT_YUV420P;
    codec_->time_base = AVRational{1, o.framerate};
    codec_->framerate = AVRational{o.framerate, 1};
    codec_->gop_size = o.framerate * 5;
    // A fixed thread count, not one per core: encoders are only
    // reproducible for a given thread count.
    codec_->thread_count = 2;
    codec_->flags |= AV_CODEC_FLAG_BITEXACT;
    if (fmt_->oformat->flags & AVFMT_GLOBALHEADER) codec_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (o.bitrate > 0) codec_->bit_rate = o.bitrate;
    if (codec->id == AV_CODEC_ID_H264) {
      av_opt_set(codec_->priv_data, "preset", "veryfast", 0);
      if (o.crf >= 0 || o.bitrate <= 0) av_opt_set_int(codec_->priv_data, "crf", o.crf >= 0 ? o.crf : 23, 0);
    } else if (codec->id == AV_CODEC_ID_VP8 || codec->id == AV_CODEC_ID_VP9) {
      // Realtime speed, fixed: a positive cpu-used in realtime mode lets
      // libvpx pick its speed from the wall clock, and the bytes would vary.
      av_opt_set(codec_->priv_data, "deadline", "realtime", 0);
      av_opt_set_int(codec_->priv_data, "cpu-used", codec->id == AV_CODEC_ID_VP8 ? -8 : 8, 0);
      if (o.crf >= 0) av_opt_set_int(codec_->priv_data, "crf", o.crf, 0);
      // With --crf the bit rate is a ceiling; VP8 needs one (libvpx would
      // otherwise assume 256 kbit/s).
      if (o.bitrate <= 0) codec_->bit_rate = o.crf >= 0 ? (codec->id == AV_CODEC_ID_VP8 ? 20'000'000 : 0) : 8'000'000;
    } else if (o.crf >= 0) {
      av_opt_set_int(codec_->priv_data, "crf", o.crf, 0);
    }
    int rc = avcodec_open2(codec_, codec, nullptr);
    if (rc < 0) return nfemu::make_error("cannot open encoder " + name + ": " + av_error(rc));
    rc = avcodec_parameters_from_context(stream_->codecpar, codec_);
    if (rc < 0) return nfemu::make_error("encoder parameters: " + av_error(rc));
    stream_->time_base = codec_->time_base;
    rc = avio_open(&fmt_->pb, o.output.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) return nfemu::make_error("cannot open " + o.output + " for writing: " + av_error(rc));
    rc = avformat_write_header(fmt_, nullptr);
    if (rc < 0) return nfemu::make_error("cannot write " + o.output + ": " + av_error(rc));
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    if (!frame_ || !packet_) return nfemu::make_error("out of memory");
    frame_->format = AV_PIX_FMT_YUV420P;
    frame_->width = w_;
    frame_->height = h_;
    return {};
  }

  size_t frame_bytes() const override { return static_cast<size_t>(w_) * h_ * 3 / 2; }
  void convert(const uint8_t* bgrx, int stride, uint8_t* out) const override {
    bgrx_to_yuv420(bgrx, stride, w_, h_, out);
  }
  nfemu::Result<void> write(const uint8_t* data) override {
    // The frame borrows the caller's planes; the encoder copies what it keeps.
    frame_->data[0] = const_cast<uint8_t*>(data);
    frame_->data[1] = frame_->data[0] + static_cast<size_t>(w_) * h_;
    frame_->data[2] = frame_->data[1] + static_cast<size_t>(w_ / 2) * (h_ / 2);
    frame_->linesize[0] = w_;
    frame_->linesize[1] = frame_->linesize[2] = w_ / 2;
    frame_->pts = pts_++;
    return send(frame_);
  }
  nfemu::Result<void> finish() override {
    if (auto r = send(nullptr); !r) return r;
    const int rc = av_write_trailer(fmt_);
    if (rc < 0) return nfemu::make_error("cannot write " + path_ + ": " + av_error(rc));
    if (fmt_->pb) {
      if (avio_closep(&fmt_->pb) < 0) return nfemu::make_error("cannot write " + path_);
    }
    return {};
  }

 private:
  nfemu::Result<void> send(AVFrame* f) {
    int rc = avcodec_send_frame(codec_, f);
    if (rc < 0) return nfemu::make_error("encoder: " + av_error(rc));
    for (;;) {
      rc = avcodec_receive_packet(codec_, packet_);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return {};
      if (rc < 0) return nfemu::make_error("encoder: " + av_error(rc));
      av_packet_rescale_ts(packet_, codec_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      rc = av_interleaved_write_frame(fmt_, packet_);
      if (rc < 0) return nfemu::make_error("cannot write " + path_ + ": " + av_error(rc));
    }
  }

  int w_, h_;
  std::string path_;
  AVFormatContext* fmt_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVStream* stream_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  int64_t pts_ = 0;
};

}  // namespace

OutputKind output_kind(const std::string& path) {
  if (path == "-" || ends_with(path, ".ppm")) return OutputKind::Ppm;
  if (ends_with(path, ".webm") || ends_with(path, ".mp4") || ends_with(path, ".mkv")) return OutputKind::Video;
  if (ends_with(path, ".png")) return OutputKind::Png;
  return OutputKind::Unknown;
}

nfemu::Result<std::unique_ptr<FrameWriter>> open_frame_writer(const RenderOptions& o) {
  switch (output_kind(o.output)) {
    case OutputKind::Ppm: {
      if (o.output == "-") return std::unique_ptr<FrameWriter>(new PpmWriter(stdout, "standard output", o.width, o.height, false));
      FILE* f = std::fopen(o.output.c_str(), "wb");
      if (!f) return nfemu::make_error("cannot open " + o.output + " for writing: " + std::strerror(errno));
      return std::unique_ptr<FrameWriter>(new PpmWriter(f, o.output, o.width, o.height, true));
    }
    case OutputKind::Video: {
      auto w = std::make_unique<VideoWriter>(o.width, o.height);
      if (auto r = w->open(o); !r) return r.error();
      return std::unique_ptr<FrameWriter>(std::move(w));
    }
    default:
      return nfemu::make_error("unknown output type for " + o.output + " (use -, .ppm, .webm, .mp4 or .mkv)");
  }
}

void bgrx_to_rgb(const uint8_t* src, int stride, int width, int height, uint8_t* dst) {
  for (int y = 0; y < height; ++y) {
    const uint8_t* s = src + static_cast<size_t>(y) * stride;
    uint8_t* d = dst + static_cast<size_t>(y) * width * 3;
    // Four pixels (16 bytes in) to twelve bytes out per step.
    int x = 0;
    for (; x + 4 <= width; x += 4, s += 16, d += 12) {
      uint32_t p[4];
      std::memcpy(p, s, 16);
      const uint32_t a = ((p[0] >> 16) & 0xFF) | (p[0] & 0xFF00) | ((p[0] & 0xFF) << 16) | ((p[1] >> 16) & 0xFF) << 24;
      const uint32_t b = ((p[1] >> 8) & 0xFF) | ((p[1] & 0xFF) << 8) | ((p[2] >> 16) & 0xFF) << 16 | ((p[2] >> 8) & 0xFF) << 24;
      const uint32_t c = (p[2] & 0xFF) | ((p[3] >> 16) & 0xFF) << 8 | ((p[3] >> 8) & 0xFF) << 16 | (p[3] & 0xFF) << 24;
      std::memcpy(d, &a, 4);
      std::memcpy(d + 4, &b, 4);
      std::memcpy(d + 8, &c, 4);
    }
    for (; x < width; ++x, s += 4, d += 3) {
      d[0] = s[2];
      d[1] = s[1];
      d[2] = s[0];
    }
  }
}

void bgrx_to_yuv420(const uint8_t* src, int stride, int width, int height, uint8_t* dst) {
  uint8_t* yp = dst;
  uint8_t* up = dst + static_cast<size_t>(width) * height;
  uint8_t* vp = up + static_cast<size_t>(width / 2) * (height / 2);
  for (int y = 0; y < height; ++y) {
    const uint8_t* s = src + static_cast<size_t>(y) * stride;
    uint8_t* d = yp + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x, s += 4)
      d[x] = static_cast<uint8_t>((66 * s[2] + 129 * s[1] + 25 * s[0] + 128 + (16 << 8)) >> 8);
  }
  for (int y = 0; y < height / 2; ++y) {
    const uint8_t* s0 = src + static_cast<size_t>(2 * y) * stride;
    const uint8_t* s1 = s0 + stride;
    for (int x = 0; x < width / 2; ++x) {
      const int b = s0[8 * x] + s0[8 * x + 4] + s1[8 * x] + s1[8 * x + 4];
      const int g = s0[8 * x + 1] + s0[8 * x + 5] + s1[8 * x + 1] + s1[8 * x + 5];
      const int r = s0[8 * x + 2] + s0[8 * x + 6] + s1[8 * x + 2] + s1[8 * x + 6];
      // Sums of four pixels: scale by 1/4 inside the fixed-point shift.
      up[static_cast<size_t>(y) * (width / 2) + x] =
          static_cast<uint8_t>((-38 * r - 74 * g + 112 * b + 512 + (128 << 10)) >> 10);
      vp[static_cast<size_t>(y) * (width / 2) + x] =
          static_cast<uint8_t>((112 * r - 94 * g - 18 * b + 512 + (128 << 10)) >> 10);
    }
  }
}

nfemu::Result<void> write_png(const std::string& path, const uint8_t* bgrx, int stride, int width, int height) {
  cairo_surface_t* s = cairo_image_surface_create_for_data(const_cast<uint8_t*>(bgrx), CAIRO_FORMAT_RGB24, width,
                                                           height, stride);
  const cairo_status_t st = cairo_surface_write_to_png(s, path.c_str());
  cairo_surface_destroy(s);
  if (st != CAIRO_STATUS_SUCCESS)
    return nfemu::make_error("cannot write " + path + ": " + cairo_status_to_string(st));
  return {};
}

}  // namespace upviz::render

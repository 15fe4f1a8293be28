#include "upviz/render/raster.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace upviz::render {
namespace {

constexpr const char* kFontFamilies = "Noto Sans,DejaVu Sans,Noto Sans CJK SC,Noto Sans Arabic,sans-serif";

// round(x / 255) for 0 <= x <= 255 * 255, without a division.
inline int div255(int x) {
  x += 128;
  return (x + (x >> 8)) >> 8;
}

inline void blend_pixel(uint8_t* p, int r, int g, int b, int a) {
  const int na = 255 - a;
  p[0] = static_cast<uint8_t>(div255(b * a + p[0] * na));
  p[1] = static_cast<uint8_t>(div255(g * a + p[1] * na));
  p[2] = static_cast<uint8_t>(div255(r * a + p[2] * na));
}

// Clips the segment to the rectangle grown by `m` (Liang-Barsky).
bool clip(double& x0, double& y0, double& x1, double& y1, double w, double h, double m) {
  double t0 = 0, t1 = 1;
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x0 + m, w + m - x0, y0 + m, h + m - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) t0 = std::max(t0, t);
    else t1 = std::min(t1, t);
  }
  if (t0 > t1) return false;
  const double ax = x0, ay = y0;
  x0 = ax + t0 * dx, y0 = ay + t0 * dy;
  x1 = ax + t1 * dx, y1 = ay + t1 * dy;
  return true;
}

}  // namespace

std::shared_ptr<const TextMask> TextCache::find(const std::string& text, int size, bool bold) {
  std::lock_guard lock(mutex_);
  auto it = masks_.find(Key{text, size, bold});
  return it == masks_.end() ? nullptr : it->second;
}

void TextCache::insert(const std::string& text, int size, bool bold, std::shared_ptr<const TextMask> mask) {
  std::lock_guard lock(mutex_);
  // Forgetting everything at once keeps memory bounded; masks are rebuilt
  // identically when needed again.
  if (masks_.size() >= max_entries_) masks_.clear();
  masks_.emplace(Key{text, size, bold}, std::move(mask));
}

Rasteriser::Rasteriser(int width, int height, TextCache& cache) : width_(width), height_(height), cache_(cache) {
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  font_map_ = pango_cairo_font_map_new();
  pango_ = pango_font_map_create_context(font_map_);
  // Fixed font options: no hinting, grey antialiasing, so text pixels do not
  // depend on desktop settings.
  cairo_font_options_t* fo = cairo_font_options_create();
  cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
  pango_cairo_context_set_font_options(pango_, fo);
  cairo_font_options_destroy(fo);
  pango_cairo_context_set_resolution(pango_, 96);
}

Rasteriser::~Rasteriser() {
  if (pango_) g_object_unref(pango_);
  if (font_map_) g_object_unref(font_map_);
  if (surface_) cairo_surface_destroy(surface_);
}

const uint8_t* Rasteriser::pixels() const { return cairo_image_surface_get_data(surface_); }
int Rasteriser::stride() const { return cairo_image_surface_get_stride(surface_); }

std::shared_ptr<const TextMask> Rasteriser::mask_for(const Label& l) {
  if (auto m = cache_.find(l.text, l.size, l.bold)) return m;
  PangoLayout* layout = pango_layout_new(pango_);
  PangoFontDescription* fd = pango_font_description_from_string(kFontFamilies);
  pango_font_description_set_absolute_size(fd, l.size * PANGO_SCALE);
  pango_font_description_set_weight(fd, l.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description(layout, fd);
  pango_font_description_free(fd);
  pango_layout_set_text(layout, l.text.data(), static_cast<int>(l.text.size()));
  PangoRectangle ink, logical;
  pango_layout_get_pixel_extents(layout, &ink, &logical);
  auto mask = std::make_shared<TextMask>();
  mask->advance = logical.width;
  mask->offset_x = ink.x - 1;
  mask->offset_y = ink.y - 1;
  mask->width = std::max(ink.width + 2, 1);
  mask->height = std::max(ink.height + 2, 1);
  mask->stride = cairo_format_stride_for_width(CAIRO_FORMAT_A8, mask->width);
  mask->alpha.assign(static_cast<size_t>(mask->stride) * mask->height, 0);
  cairo_surface_t* s = cairo_image_surface_create_for_data(mask->alpha.data(), CAIRO_FORMAT_A8, mask->width,
                                                           mask->height, mask->stride);
  cairo_t* cr = cairo_create(s);
  cairo_move_to(cr, -mask->offset_x, -mask->offset_y);
  pango_cairo_show_layout(cr, layout);
  cairo_destroy(cr);
  cairo_surface_flush(s);
  cairo_surface_destroy(s);
  g_object_unref(layout);
  std::shared_ptr<const TextMask> out = mask;
  cache_.insert(l.text, l.size, l.bold, out);
  return out;
}

// Source-over of one colour through an A8 mask, in integers: the same
// pixels on every machine and thread.
void Rasteriser::blend(const uint8_t* mask, int mstride, int mw, int mh, int x0, int y0, Rgba paint) {
  const int alpha = static_cast<int>((paint >> 24) & 0xFF);
  if (alpha == 0) return;
  const int r = (paint >> 16) & 0xFF, g = (paint >> 8) & 0xFF, b = paint & 0xFF;
  const int xs = std::max(0, -x0), ys = std::max(0, -y0);
  const int xe = std::min(mw, width_ - x0), ye = std::min(mh, height_ - y0);
  uint8_t* base = cairo_image_surface_get_data(surface_);
  const int stride = cairo_image_surface_get_stride(surface_);
  for (int y = ys; y < ye; ++y) {
    const uint8_t* m = mask + static_cast<size_t>(y) * mstride;
    uint8_t* px = base + static_cast<size_t>(y0 + y) * stride + static_cast<size_t>(x0) * 4;
    for (int x = xs; x < xe; ++x) {
      const int cov = m[x];
      if (cov == 0) continue;
      blend_pixel(px + x * 4, r, g, b, div255(cov * alpha));
    }
  }
}

// Antialiased lines, one pass along the major axis: coverage falls off with
// the distance across the line. A cairo stroke costs tens of microseconds of
// set-up; thousands of beams a frame need lines to be cheap.
void Rasteriser::line(const Segment& seg, float width, Rgba paint) {
  const int alpha = static_cast<int>((paint >> 24) & 0xFF);
  if (alpha == 0) return;
  const int r = (paint >> 16) & 0xFF, g = (paint >> 8) & 0xFF, b = paint & 0xFF;
  double x0 = seg.x0, y0 = seg.y0, x1 = seg.x1, y1 = seg.y1;
  const double half = width / 2.0;
  if (!clip(x0, y0, x1, y1, width_, height_, half + 2)) return;
  const bool steep = std::abs(y1 - y0) > std::abs(x1 - x0);
  if (steep) std::swap(x0, y0), std::swap(x1, y1);
  if (x0 > x1) std::swap(x0, x1), std::swap(y0, y1);
  const double dx = x1 - x0, dy = y1 - y0;
  const double len = std::hypot(dx, dy);
  if (len < 1e-3) return;
  const double k = len / std::max(dx, 1e-9);  // minor-axis extent per unit of perpendicular distance
  const double slope = dy / std::max(dx, 1e-9);
  const int major_max = steep ? height_ : width_, minor_max = steep ? width_ : height_;
  uint8_t* base = cairo_image_surface_get_data(surface_);
  const int stride = cairo_image_surface_get_stride(surface_);
  const int u0 = std::max(0, static_cast<int>(std::floor(x0 - half)));
  const int u1 = std::min(major_max - 1, static_cast<int>(std::ceil(x1 + half)));
  for (int u = u0; u <= u1; ++u) {
    const double cu = u + 0.5;
    // Round caps, approximately: coverage fades past the ends.
    const double past = cu < x0 ? x0 - cu : (cu > x1 ? cu - x1 : 0);
    const double cap = std::clamp(half + 0.5 - past, 0.0, 1.0);
    if (cap <= 0) continue;
    const double cv = y0 + (std::clamp(cu, x0, x1) - x0) * slope;
    const double reach = half * k + 1;
    const int v0 = std::max(0, static_cast<int>(std::floor(cv - reach)));
    const int v1 = std::min(minor_max - 1, static_cast<int>(std::ceil(cv + reach)));
    for (int v = v0; v <= v1; ++v) {
      const double dist = std::abs(v + 0.5 - cv) / k;
      const double cov = std::clamp(half + 0.5 - dist, 0.0, 1.0) * cap;
      if (cov <= 0) continue;
      const int a = div255(static_cast<int>(cov * 255 + 0.5) * alpha);
      if (a == 0) continue;
      uint8_t* p = steep ? base + static_cast<size_t>(u) * stride + static_cast<size_t>(v) * 4
                         : base + static_cast<size_t>(v) * stride + static_cast<size_t>(u) * 4;
      blend_pixel(p, r, g, b, a);
    }
  }
}

void Rasteriser::draw_lines(const std::vector<LineBatch>& batches) {
  for (const LineBatch& b : batches)
    for (const Segment& s : b.segments) line(s, b.width, b.paint);
}

const Rasteriser::Disc& Rasteriser::disc(float radius, int phase_x, int phase_y) {
  const int rq = std::max(1, static_cast<int>(std::lround(radius * 8)));
  auto key = std::make_tuple(rq, phase_x, phase_y);
  auto it = discs_.find(key);
  if (it != discs_.end()) return it->second;
  if (discs_.size() > 4096) discs_.clear();
  Disc d;
  const double r = rq / 8.0;
  d.half = static_cast<int>(std::ceil(r)) + 1;
  d.size = 2 * d.half + 2;
  d.alpha.assign(static_cast<size_t>(d.size) * d.size, 0);
  const double cx = d.half + phase_x / 4.0, cy = d.half + phase_y / 4.0;
  for (int y = 0; y < d.size; ++y)
    for (int x = 0; x < d.size; ++x) {
      // Coverage from the distance of the pixel centre to the edge.
      const double dist = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      const double cov = std::clamp(r - dist + 0.5, 0.0, 1.0);
      d.alpha[static_cast<size_t>(y) * d.size + x] = static_cast<uint8_t>(std::lround(cov * 255));
    }
  return discs_.emplace(key, std::move(d)).first->second;
}

void Rasteriser::draw_discs(const std::vector<CircleBatch>& batches) {
  for (const CircleBatch& b : batches)
    for (const Circle& c : b.circles) {
      // Quarter-pixel positions: smooth motion from a handful of masks.
      const long qx = std::lround(c.x * 4.0), qy = std::lround(c.y * 4.0);
      const long ix = qx >> 2, iy = qy >> 2;
      const Disc& d = disc(c.r, static_cast<int>(qx & 3), static_cast<int>(qy & 3));
      if (ix - d.half > width_ || iy - d.half > height_ || ix + d.size < 0 || iy + d.size < 0) continue;
      blend(d.alpha.data(), d.size, d.size, d.size, static_cast<int>(ix - d.half), static_cast<int>(iy - d.half),
            b.paint);
    }
}

int Rasteriser::missing_glyphs(const std::string& text) {
  PangoLayout* layout = pango_layout_new(pango_);
  PangoFontDescription* fd = pango_font_description_from_string(kFontFamilies);
  pango_font_description_set_absolute_size(fd, 16 * PANGO_SCALE);
  pango_layout_set_font_description(layout, fd);
  pango_font_description_free(fd);
  pango_layout_set_text(layout, text.data(), static_cast<int>(text.size()));
  const int n = pango_layout_get_unknown_glyphs_count(layout);
  g_object_unref(layout);
  return n;
}

void Rasteriser::draw_label(const Label& l) {
  if (l.text.empty()) return;
  auto m = mask_for(l);
  double x = l.x;
  if (l.align == Align::Centre) x -= m->advance / 2.0;
  if (l.align == Align::Right) x -= m->advance;
  // Whole pixels: the mask is pasted, never resampled.
  const long mx = std::lround(x) + m->offset_x, my = std::lround(l.y) + m->offset_y;
  if (mx > width_ || my > height_ || mx + m->width < 0 || my + m->height < 0) return;
  const double a = ((l.paint >> 24) & 0xFF) / 255.0;
  blend(m->alpha.data(), m->stride, m->width, m->height, static_cast<int>(mx + 1), static_cast<int>(my + 1),
        rgba(0x000000, 0.7 * a));
  blend(m->alpha.data(), m->stride, m->width, m->height, static_cast<int>(mx), static_cast<int>(my), l.paint);
}

void Rasteriser::draw(const Scene& scene) {
  // Background by hand: a straight fill of the pixel words.
  cairo_surface_flush(surface_);
  uint8_t* base = cairo_image_surface_get_data(surface_);
  const int stride = cairo_image_surface_get_stride(surface_);
  const uint32_t bg = scene.background & 0xFFFFFF;
  if (bg == 0) {
    std::memset(base, 0, static_cast<size_t>(stride) * height_);
  } else {
    for (int y = 0; y < height_; ++y) {
      auto* row = reinterpret_cast<uint32_t*>(base + static_cast<size_t>(y) * stride);
      std::fill(row, row + width_, bg);
    }
  }
  draw_lines(scene.edges);
  draw_discs(scene.files);
  draw_lines(scene.beams);
  draw_discs(scene.users);
  draw_discs(scene.hud_shapes);
  for (const Label& l : scene.labels) draw_label(l);
  cairo_surface_mark_dirty(surface_);
}

}  // namespace upviz::render

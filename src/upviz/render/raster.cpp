#include "upviz/render/raster.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <cmath>

namespace upviz::render {
namespace {

constexpr const char* kFontFamilies = "Noto Sans,DejaVu Sans,Noto Sans CJK SC,Noto Sans Arabic,sans-serif";

void set_paint(cairo_t* cr, Rgba c) {
  cairo_set_source_rgba(cr, ((c >> 16) & 0xFF) / 255.0, ((c >> 8) & 0xFF) / 255.0, (c & 0xFF) / 255.0,
                        ((c >> 24) & 0xFF) / 255.0);
}

void fill_circles(cairo_t* cr, const std::vector<CircleBatch>& batches) {
  for (const CircleBatch& b : batches) {
    set_paint(cr, b.paint);
    cairo_new_path(cr);
    for (const Circle& c : b.circles) {
      cairo_new_sub_path(cr);
      cairo_arc(cr, c.x, c.y, c.r, 0, 2 * M_PI);
    }
    cairo_fill(cr);
  }
}

void stroke_lines(cairo_t* cr, const std::vector<LineBatch>& batches) {
  for (const LineBatch& b : batches) {
    set_paint(cr, b.paint);
    cairo_set_line_width(cr, b.width);
    cairo_new_path(cr);
    for (const Segment& s : b.segments) {
      cairo_move_to(cr, s.x0, s.y0);
      cairo_line_to(cr, s.x1, s.y1);
    }
    cairo_stroke(cr);
  }
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
  cr_ = cairo_create(surface_);
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
  if (cr_) cairo_destroy(cr_);
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

void Rasteriser::draw_label(const Label& l) {
  if (l.text.empty()) return;
  auto m = mask_for(l);
  double x = l.x;
  if (l.align == Align::Centre) x -= m->advance / 2.0;
  if (l.align == Align::Right) x -= m->advance;
  // Whole pixels: the mask is pasted, never resampled.
  const double mx = std::lround(x) + m->offset_x, my = std::lround(l.y) + m->offset_y;
  if (mx > width_ || my > height_ || mx + m->width < 0 || my + m->height < 0) return;
  cairo_surface_t* s = cairo_image_surface_create_for_data(const_cast<uint8_t*>(m->alpha.data()), CAIRO_FORMAT_A8,
                                                           m->width, m->height, m->stride);
  const double a = ((l.paint >> 24) & 0xFF) / 255.0;
  cairo_set_source_rgba(cr_, 0, 0, 0, 0.7 * a);
  cairo_mask_surface(cr_, s, mx + 1, my + 1);
  set_paint(cr_, l.paint);
  cairo_mask_surface(cr_, s, mx, my);
  cairo_surface_destroy(s);
}

void Rasteriser::draw(const Scene& scene) {
  cairo_set_operator(cr_, CAIRO_OPERATOR_SOURCE);
  cairo_set_source_rgb(cr_, ((scene.background >> 16) & 0xFF) / 255.0, ((scene.background >> 8) & 0xFF) / 255.0,
                       (scene.background & 0xFF) / 255.0);
  cairo_paint(cr_);
  cairo_set_operator(cr_, CAIRO_OPERATOR_OVER);
  cairo_set_line_cap(cr_, CAIRO_LINE_CAP_ROUND);
  stroke_lines(cr_, scene.edges);
  fill_circles(cr_, scene.files);
  stroke_lines(cr_, scene.beams);
  fill_circles(cr_, scene.users);
  fill_circles(cr_, scene.hud_shapes);
  for (const Label& l : scene.labels) draw_label(l);
  cairo_surface_flush(surface_);
}

}  // namespace upviz::render

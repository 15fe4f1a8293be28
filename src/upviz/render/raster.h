// Draws a Scene into a cairo image surface. Text is shaped by pango
// (fontconfig fallback, so Cyrillic, Arabic and CJK names find a Noto face
// instead of drawing boxes). Discs, lines and text masks are blended in
// integer arithmetic: as exact as cairo's compositing, far cheaper for
// thousands of tiny shapes, and the same bytes on every run.
//
// One Rasteriser per thread: it owns its surface and pango context.
// Shaped text is kept as alpha masks in a TextCache shared by all threads;
// a mask depends only on (text, size, weight), so which thread made it never
// changes a pixel.
//
//   TextCache cache;
//   Rasteriser r(1920, 1080, cache);
//   r.draw(scene);
//   use(r.pixels(), r.stride());   // cairo RGB24: B, G, R, unused per pixel
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "upviz/render/scene.h"

typedef struct _cairo_surface cairo_surface_t;
typedef struct _cairo cairo_t;
typedef struct _PangoContext PangoContext;
typedef struct _PangoFontMap PangoFontMap;

namespace upviz::render {

struct TextMask {
  int width = 0, height = 0, stride = 0;
  int offset_x = 0, offset_y = 0;  // mask's top-left relative to the text origin
  int advance = 0;                 // logical width, for alignment
  std::vector<uint8_t> alpha;      // A8, `stride` bytes a row
};

class TextCache {
 public:
  explicit TextCache(size_t max_entries = 8192) : max_entries_(max_entries) {}
  std::shared_ptr<const TextMask> find(const std::string& text, int size, bool bold);
  void insert(const std::string& text, int size, bool bold, std::shared_ptr<const TextMask> mask);

 private:
  using Key = std::tuple<std::string, int, bool>;
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<const TextMask>> masks_;
  size_t max_entries_;
};

class Rasteriser {
 public:
  Rasteriser(int width, int height, TextCache& cache);
  ~Rasteriser();
  Rasteriser(const Rasteriser&) = delete;
  Rasteriser& operator=(const Rasteriser&) = delete;

  void draw(const Scene& scene);
  const uint8_t* pixels() const;
  int stride() const;
  int width() const { return width_; }
  int height() const { return height_; }
  cairo_surface_t* surface() const { return surface_; }
  // Characters of `text` that no installed font can show (drawn as boxes).
  int missing_glyphs(const std::string& text);

 private:
  struct Disc {
    int size = 0, half = 0;  // mask is size x size; the centre sits near (half, half)
    std::vector<uint8_t> alpha;
  };
  std::shared_ptr<const TextMask> mask_for(const Label& l);
  void draw_label(const Label& l);
  void draw_discs(const std::vector<CircleBatch>& batches);
  const Disc& disc(float radius, int phase_x, int phase_y);
  void blend(const uint8_t* mask, int mstride, int mw, int mh, int x0, int y0, Rgba paint);
  void draw_lines(const std::vector<LineBatch>& batches);
  void line(const Segment& s, float width, Rgba paint);

  int width_, height_;
  TextCache& cache_;
  cairo_surface_t* surface_ = nullptr;
  PangoFontMap* font_map_ = nullptr;
  PangoContext* pango_ = nullptr;
  // Antialiased disc masks by (radius in 1/8 px, quarter-pixel phase).
  std::map<std::tuple<int, int, int>, Disc> discs_;
};

}  // namespace upviz::render

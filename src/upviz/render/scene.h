// The immutable picture of one frame, in screen pixels.
//
// The simulation builds a Scene and hands it to a raster thread; nothing in a
// Scene points back into the simulation, so frames can be drawn in any order
// on any thread. Primitives are grouped by paint (colour and alpha) so the
// rasteriser fills thousands of file discs with one path per colour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace upviz::render {

struct Vec2 {
  double x = 0, y = 0;
  Vec2 operator+(Vec2 o) const { return {x + o.x, y + o.y}; }
  Vec2 operator-(Vec2 o) const { return {x - o.x, y - o.y}; }
  Vec2 operator*(double k) const { return {x * k, y * k}; }
  Vec2& operator+=(Vec2 o) { x += o.x; y += o.y; return *this; }
  Vec2& operator-=(Vec2 o) { x -= o.x; y -= o.y; return *this; }
  double length2() const { return x * x + y * y; }
};

// 0xAARRGGBB, straight (not premultiplied) alpha.
using Rgba = uint32_t;
constexpr Rgba rgba(uint32_t rgb, double alpha) {
  int a = static_cast<int>(alpha * 255.0 + 0.5);
  a = a < 0 ? 0 : (a > 255 ? 255 : a);
  return (static_cast<uint32_t>(a) << 24) | (rgb & 0xFFFFFF);
}

struct Circle { float x, y, r; };
struct Segment { float x0, y0, x1, y1; };

struct CircleBatch {
  Rgba paint;
  std::vector<Circle> circles;
};
struct LineBatch {
  Rgba paint;
  float width;
  std::vector<Segment> segments;
};

enum class Align : uint8_t { Left, Centre, Right };

struct Label {
  std::string text;
  float x, y;       // anchor: baseline-free top of the text box
  int size;         // pixels
  bool bold;
  Align align;
  Rgba paint;
};

struct Scene {
  int64_t frame = 0;
  int width = 0, height = 0;
  uint32_t background = 0x000000;
  // Drawn in this order.
  std::vector<LineBatch> edges;
  std::vector<CircleBatch> files;
  std::vector<LineBatch> beams;
  std::vector<CircleBatch> users;
  std::vector<CircleBatch> hud_shapes;  // key swatches
  std::vector<Label> labels;
};

}  // namespace upviz::render

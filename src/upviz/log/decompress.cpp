#include "upviz/log/decompress.h"

#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include <fmt/format.h>

namespace upviz::log {

using nfemu::make_error;
using nfemu::Result;

namespace {

constexpr size_t kChunk = 1 << 16;

bool has_prefix(std::string_view d, std::string_view magic) {
  return d.substr(0, magic.size()) == magic;
}

Result<std::string> gunzip(std::string_view in) {
  z_stream zs{};
  // 15 + 32: zlib or gzip header, detected automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return make_error("zlib: init failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[kChunk];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are legal (gzip a; gzip b; cat).
      if (zs.avail_in > 0 && inflateReset(&zs) == Z_OK) continue;
      break;
    }
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      rc = Z_DATA_ERROR;
      break;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return make_error(fmt::format("gzip: {}", rc == Z_DATA_ERROR ? "truncated or corrupt data"
                                                                 : "decompression failed"));
  return out;
}

Result<std::string> bunzip2(std::string_view in) {
  std::string out;
  size_t off = 0;
  // Loop over concatenated streams (pbzip2 writes them).
  while (off < in.size()) {
    bz_stream bs{};
    if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) return make_error("bzip2: init failed");
    bs.next_in = const_cast<char*>(in.data() + off);
    bs.avail_in = static_cast<unsigned>(in.size() - off);
    char buf[kChunk];
    int rc;
    do {
      bs.next_out = buf;
      bs.avail_out = sizeof buf;
      rc = BZ2_bzDecompress(&bs);
      out.append(buf, sizeof buf - bs.avail_out);
      if (rc == BZ_OK && bs.avail_in == 0 && bs.avail_out != 0) rc = BZ_UNEXPECTED_EOF;
    } while (rc == BZ_OK);
    size_t used = (in.size() - off) - bs.avail_in;
    BZ2_bzDecompressEnd(&bs);
    if (rc != BZ_STREAM_END) return make_error("bzip2: truncated or corrupt data");
    off += used;
    if (!has_prefix(in.substr(off), "BZh")) break;
  }
  return out;
}

Result<std::string> unxz(std::string_view in) {
  lzma_stream ls = LZMA_STREAM_INIT;
  if (lzma_auto_decoder(&ls, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    return make_error("xz: init failed");
  ls.next_in = reinterpret_cast<const uint8_t*>(in.data());
  ls.avail_in = in.size();
  std::string out;
  uint8_t buf[kChunk];
  lzma_ret rc;
  do {
    ls.next_out = buf;
    ls.avail_out = sizeof buf;
    rc = lzma_code(&ls, ls.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - ls.avail_out);
  } while (rc == LZMA_OK);
  lzma_end(&ls);
  if (rc != LZMA_STREAM_END) return make_error("xz: truncated or corrupt data");
  return out;
}

Result<std::string> unlz4(std::string_view in) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION)))
    return make_error("lz4: init failed");
  std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> guard(
      ctx, LZ4F_freeDecompressionContext);
  std::string out;
  std::string buf(kChunk, '\0');
  const char* src = in.data();
  size_t left = in.size();
  size_t hint = 1;
  while (left > 0) {
    size_t dst_size = buf.size();
    size_t src_size = left;
    hint = LZ4F_decompress(ctx, buf.data(), &dst_size, src, &src_size, nullptr);
    if (LZ4F_isError(hint))
      return make_error(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    out.append(buf.data(), dst_size);
    src += src_size;
    left -= src_size;
    if (src_size == 0 && dst_size == 0) break;
  }
  // Drain output still buffered in the context.
  while (hint != 0) {
    size_t dst_size = buf.size();
    size_t src_size = 0;
    hint = LZ4F_decompress(ctx, buf.data(), &dst_size, src, &src_size, nullptr);
    if (LZ4F_isError(hint))
      return make_error(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    out.append(buf.data(), dst_size);
    if (dst_size == 0) break;
  }
  if (hint != 0) return make_error("lz4: truncated data");
  return out;
}

}  // namespace

Compression detect_compression(std::string_view d) {
  if (has_prefix(d, "\x1f\x8b")) return Compression::kGzip;
  if (has_prefix(d, "BZh") && d.size() >= 4 && d[3] >= '1' && d[3] <= '9')
    return Compression::kBzip2;
  if (has_prefix(d, std::string_view("\xfd" "7zXZ\0", 6))) return Compression::kXz;
  if (has_prefix(d, std::string_view("\x04\x22\x4d\x18", 4))) return Compression::kLz4;
  return Compression::kNone;
}

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kBzip2: return "bzip2";
    case Compression::kXz: return "xz";
    case Compression::kLz4: return "lz4";
  }
  return "?";
}

Result<std::string> decompress(std::string_view data) {
  switch (detect_compression(data)) {
    case Compression::kGzip: return gunzip(data);
    case Compression::kBzip2: return bunzip2(data);
    case Compression::kXz: return unxz(data);
    case Compression::kLz4: return unlz4(data);
    case Compression::kNone: break;
  }
  return std::string(data);
}

Result<std::string> read_file(const std::string& path) {
  std::string raw;
  if (path == "-") {
    raw.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("cannot open: {}", std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return make_error(fmt::format("read error: {}", std::strerror(errno)));
    raw = std::move(ss).str();
  }
  if (detect_compression(raw) == Compression::kNone) return raw;
  return decompress(raw);
}

}  // namespace upviz::log

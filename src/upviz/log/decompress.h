// Whole-file reading with transparent decompression.
//
// The format is told by the magic bytes, not the file name: gzip, bzip2,
// xz (and lzma-alone), lz4 frames; anything else is returned as is. Debian
// indexes and changelogs are small enough to hold in memory.
//
//   auto text = read_file("/usr/share/doc/bash/changelog.Debian.gz");
//   if (!text) fail(text.error().format("bash changelog"));
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace upviz::log {

enum class Compression { kNone, kGzip, kBzip2, kXz, kLz4 };

Compression detect_compression(std::string_view data);
std::string_view compression_name(Compression c);

nfemu::Result<std::string> decompress(std::string_view data);

// Reads a file ("-" is standard input) and decompresses it.
nfemu::Result<std::string> read_file(const std::string& path);

}  // namespace upviz::log

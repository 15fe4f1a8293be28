// Upload: one source package upload, whatever input it was read from.
#pragma once

#include <cstdint>
#include <string>

namespace upviz::log {

struct Upload {
  int64_t time = 0;     // UNIX seconds, UTC
  std::string user;     // uploader as written (sanitised when the log is written)
  std::string source;   // source package name
  std::string version;  // empty when the input does not carry it (UDD gource log)
  // Newest source name of the changelog this entry came from: a source that
  // was renamed keeps its old name in old entries, and the archive only knows
  // the new one. Empty when not from a changelog.
  std::string lineage;
};

}  // namespace upviz::log

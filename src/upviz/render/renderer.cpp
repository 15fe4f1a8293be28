#include "upviz/render/renderer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "upviz/render/gource_log.h"
#include "upviz/render/output.h"
#include "upviz/render/raster.h"
#include "upviz/render/simulation.h"

namespace upviz::render {
namespace {

class Progress {
 public:
  Progress(bool enabled, uint64_t total) : on_(enabled && isatty(STDERR_FILENO)), total_(total) {}
  void update(int64_t frame, const LogReader& r) {
    if (!on_ || frame % 15 != 0) return;
    if (total_ > 0)
      std::fprintf(stderr, "\rupviz render: frame %lld, %3.0f%% of the log", static_cast<long long>(frame),
                   std::min(100.0, 100.0 * r.bytes_read() / total_));
    else
      std::fprintf(stderr, "\rupviz render: frame %lld, line %lld", static_cast<long long>(frame),
                   static_cast<long long>(r.lines()));
    std::fflush(stderr);
    shown_ = true;
  }
  void done(int64_t frames) {
    if (!shown_) return;
    std::fprintf(stderr, "\rupviz render: %lld frames%30s\n", static_cast<long long>(frames), "");
  }

 private:
  bool on_;
  uint64_t total_;
  bool shown_ = false;
};

// The frame pipeline: raster workers and an ordered writer.
class Pipeline {
 public:
  Pipeline(const RenderOptions& o, FrameWriter& writer, int workers) : opts_(o), writer_(writer) {
    max_in_flight_ = static_cast<int64_t>(workers) * 2 + 2;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
    writer_thread_ = std::thread([this] { write_loop(); });
  }
  ~Pipeline() { (void)close(); }

  // Blocks while too many frames are in flight. False once writing failed.
  bool submit(Scene scene) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return failed_ || submitted_ - written_ < max_in_flight_; });
    if (failed_) return false;
    jobs_.push_back({submitted_++, std::move(scene)});
    cv_.notify_all();
    return true;
  }

  nfemu::Result<void> close() {
    {
      std::unique_lock lock(m_);
      if (closed_) return error_;
      closed_ = true;
      input_done_ = true;
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    writer_thread_.join();
    if (failed_) return error_;
    auto r = writer_.finish();
    if (!r) error_ = r;
    return error_;
  }

 private:
  struct Job {
    int64_t index;
    Scene scene;
  };

  void work() {
    TextCache& cache = text_cache();
    Rasteriser raster(opts_.width, opts_.height, cache);
    for (;;) {
      Job job;
      std::vector<uint8_t> buf;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return failed_ || input_done_ || !jobs_.empty(); });
        if (jobs_.empty() || failed_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        if (!pool_.empty()) {
          buf = std::move(pool_.back());
          pool_.pop_back();
        }
      }
      raster.draw(job.scene);
      buf.resize(writer_.frame_bytes());
      writer_.convert(raster.pixels(), raster.stride(), buf.data());
      std::unique_lock lock(m_);
      done_.emplace(job.index, std::move(buf));
      cv_.notify_all();
    }
  }

  void write_loop() {
    for (;;) {
      std::vector<uint8_t> buf;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] {
          return failed_ || done_.count(written_) > 0 || (input_done_ && written_ == submitted_);
        });
        if (failed_ || done_.count(written_) == 0) return;
        auto it = done_.find(written_);
        buf = std::move(it->second);
        done_.erase(it);
      }
      auto r = writer_.write(buf.data());
      std::unique_lock lock(m_);
      if (!r) {
        failed_ = true;
        error_ = r;
      }
      ++written_;
      pool_.push_back(std::move(buf));
      cv_.notify_all();
      if (failed_) return;
    }
  }

  TextCache& text_cache() { return cache_; }

  const RenderOptions& opts_;
  FrameWriter& writer_;
  TextCache cache_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::map<int64_t, std::vector<uint8_t>> done_;
  std::vector<std::vector<uint8_t>> pool_;
  int64_t submitted_ = 0, written_ = 0, max_in_flight_ = 4;
  bool input_done_ = false, failed_ = false, closed_ = false;
  nfemu::Result<void> error_;
  std::vector<std::thread> threads_;
  std::thread writer_thread_;
};

int worker_count(const RenderOptions& o) {
  if (o.threads > 0) return std::min(o.threads, 64);
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(hw == 0 ? 2u : hw, 1u, 8u));
}

}  // namespace

nfemu::Result<RenderReport> render(const RenderOptions& opts, std::istream& log, uint64_t log_size) {
  LogReader reader(log);
  Commit first;
  RenderReport report;
  auto fill_report = [&] {
    report.lines = reader.lines();
    report.bad_lines = reader.bad_lines();
    report.first_bad_lines = reader.first_bad_lines();
  };
  if (!reader.next(first)) {
    std::string msg = "no valid log entries in " + (opts.log_path == "-" ? std::string("standard input") : opts.log_path);
    msg += " (" + std::to_string(reader.lines()) + " lines, " + std::to_string(reader.bad_lines()) + " malformed";
    if (!reader.first_bad_lines().empty()) {
      msg += ", first at line";
      msg += reader.first_bad_lines().size() > 1 ? "s" : "";
      for (size_t i = 0; i < reader.first_bad_lines().size(); ++i)
        msg += (i ? ", " : " ") + std::to_string(reader.first_bad_lines()[i]);
    }
    msg += "); expected TIMESTAMP|USER|A/M/D|PATH[|COLOUR]";
    return nfemu::make_error(msg);
  }
  bool first_pending = true;
  Simulation sim(opts, [&](Commit& c) {
    if (first_pending) {
      first_pending = false;
      c = std::move(first);
      return true;
    }
    return reader.next(c);
  });
  if (!sim.step()) return nfemu::make_error("no log entries between --start-date and --stop-date");
  Progress progress(opts.progress, log_size);

  if (opts.snapshot_seconds || opts.snapshot_date) {
    const int64_t target = opts.snapshot_seconds ? std::llround(*opts.snapshot_seconds * opts.framerate) : -1;
    while ((target >= 0 && sim.frame() < target) ||
           (opts.snapshot_date && sim.log_time() < static_cast<double>(*opts.snapshot_date))) {
      if (!sim.step()) break;
      progress.update(sim.frame(), reader);
    }
    TextCache cache;
    Rasteriser raster(opts.width, opts.height, cache);
    raster.draw(sim.scene());
    if (auto r = write_png(opts.output, raster.pixels(), raster.stride(), opts.width, opts.height); !r)
      return r.error();
    progress.done(sim.frame() + 1);
    report.frames = 1;
    report.commits = sim.commits_applied();
    fill_report();
    return report;
  }

  // A closed pipe must be an error we report, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  auto writer = open_frame_writer(opts);
  if (!writer) return writer.error();
  Pipeline pipeline(opts, **writer, worker_count(opts));
  int64_t frames = 0;
  do {
    if (!pipeline.submit(sim.scene())) break;
    ++frames;
    progress.update(sim.frame(), reader);
  } while (sim.step());
  if (auto r = pipeline.close(); !r) return r.error();
  progress.done(frames);
  report.frames = frames;
  report.commits = sim.commits_applied();
  fill_report();
  return report;
}

}  // namespace upviz::render

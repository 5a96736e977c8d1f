// Progress reporting for long loops. On a terminal: a bar redrawn in place with count, rate and ETA.
// Otherwise (CI, log files): one log line every `log_interval` seconds and a summary at the end. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace fluxkit {

class Progress {
 public:
  // summary: log a closing line with the total time and rate (off where the caller logs its own).
  Progress(std::string label, std::uint64_t total, std::string unit = "items", bool summary = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::uint64_t n = 1);
  void finish();  // idempotent; the destructor calls it

  // Pure formatting, exposed for tests.
  static std::string format_duration(double seconds);  // "42 s", "3 min 05 s", "2 h 07 min"
  static std::string render_line(const std::string& label, std::uint64_t done, std::uint64_t total,
                                 const std::string& unit, double elapsed_s, int bar_width);

 private:
  void report(bool final);

  std::string label_;
  std::uint64_t total_;
  std::string unit_;
  std::atomic<std::uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  std::mutex mutex_;
  bool terminal_ = false;
  bool finished_ = false;
  bool summary_ = true;
  double log_interval_s_ = 10.0;
};

}  // namespace fluxkit

#include "fluxkit/core/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace fluxkit {

Progress::Progress(std::string label, std::uint64_t total, std::string unit, bool summary)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      last_report_(start_),
      terminal_(isatty(STDERR_FILENO) == 1 && spdlog::should_log(spdlog::level::info)),
      summary_(summary) {}

Progress::~Progress() {
  finish();
}

void Progress::advance(std::uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_report_).count();
  if (since < (terminal_ ? 0.1 : log_interval_s_)) return;
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  last_report_ = now;
  report(false);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  report(true);
}

void Progress::report(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::uint64_t done = done_.load(std::memory_order_relaxed);
  if (terminal_) {
    std::fprintf(stderr, "\r%s\033[K", render_line(label_, done, total_, unit_, elapsed, 30).c_str());
    if (final) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else if (final) {
    if (!summary_) return;
    spdlog::info("{}: {} {} in {} ({:.3g} {}/s)", label_, done, unit_, format_duration(elapsed),
                 elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0, unit_);
  } else {
    spdlog::info("{}", render_line(label_, done, total_, unit_, elapsed, 0));
  }
}

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0)) return "?";
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  auto s = static_cast<long long>(seconds + 0.5);
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

std::string Progress::render_line(const std::string& label, std::uint64_t done, std::uint64_t total,
                                  const std::string& unit, double elapsed_s, int bar_width) {
  const double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  std::string eta = "?";
  if (done >= total)
    eta = "0 s";
  else if (rate > 0)
    eta = format_duration(static_cast<double>(total - done) / rate);
  std::string bar;
  if (bar_width > 0) {
    const int filled = static_cast<int>(frac * bar_width);
    bar = "[" + std::string(static_cast<std::size_t>(filled), '=') +
          std::string(static_cast<std::size_t>(bar_width - filled), ' ') + "] ";
  }
  return fmt::format("{}: {}{}/{} {} ({:.0f}%), {:.3g} {}/s, ETA {}", label, bar, done, total, unit,
                     frac * 100, rate, unit, eta);
}

}  // namespace fluxkit

#include "fluxkit/core/context.hpp"

#include <sched.h>

#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/log.hpp"

namespace fluxkit {

Device parse_device(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n == "cpu") return Device::Cpu;
  if (n == "cuda") return Device::Cuda;
  throw Error(fmt::format("unknown device '{}' (expected cpu or cuda)", name));
}

std::string_view device_name(Device d) {
  return d == Device::Cuda ? "cuda" : "cpu";
}

int hardware_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

void RunParams::validate() const {
  if (threads < 0)
    config::invalid(kSection, "threads", fmt::format("must be >= 0 (0 = all cores), got {}", threads));
  if (seed < 0) config::invalid(kSection, "seed", fmt::format("must be >= 0, got {}", seed));
  try {
    parse_device(device);
  } catch (const Error& e) {
    config::invalid(kSection, "device", e.what());
  }
  try {
    parse_log_level(verbosity);
  } catch (const Error& e) {
    config::invalid(kSection, "verbosity", e.what());
  }
}

Context make_context(const RunParams& run) {
  Context ctx;
  ctx.threads = run.threads > 0 ? static_cast<int>(run.threads) : hardware_threads();
  ctx.seed = static_cast<std::uint64_t>(run.seed);
  ctx.device = parse_device(run.device);
  return ctx;
}

namespace {
// Runnable tasks other than the caller at this instant (/proc/stat's procs_running counts the caller); -1
// where it cannot be read.
int other_runnable_tasks() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  int running = -1;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "procs_running %d", &running) == 1) break;
  std::fclose(f);
  return running < 0 ? -1 : std::max(0, running - 1);
}
}  // namespace

int detail::tasks_seen_in_three_looks(std::vector<int> looks) {
  if (looks.size() < 3) return -1;
  std::sort(looks.begin(), looks.end());
  return looks[looks.size() - 3];
}

double current_load() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return 0.0;
  double one_minute = 0.0;
  if (std::fscanf(f, "%lf", &one_minute) != 1) one_minute = 0.0;
  std::fclose(f);
  if (one_minute < 0.5) return one_minute;
  // The average lags: for a minute after another job ends it still counts that job. Capped by the tasks seen
  // runnable in ten looks over 30 ms: the third most seen, so that a task runnable for an instant (a job's
  // last breath, a kernel thread) does not count, while a competing job waiting on I/O in a few looks does.
  std::vector<int> seen(10);
  for (int& s : seen) {
    s = other_runnable_tasks();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  const int busiest = detail::tasks_seen_in_three_looks(seen);
  spdlog::debug("load: 1-minute average {:.2f}, other runnable tasks {}", one_minute, busiest);
  return busiest < 0 ? one_minute : std::min(one_minute, static_cast<double>(busiest));
}

std::string choose_openmp_wait_policy(int processes_on_node, int threads_per_process, double load) {
  if (const char* set = std::getenv("OMP_WAIT_POLICY"); set != nullptr) return set;
  if (threads_per_process <= 1) return "";  // a team of one never waits
  const bool shared_with_ranks = processes_on_node > 1;
  // Other work already running on the cores this process's team needs.
  const bool busy =
      load + static_cast<double>(threads_per_process) > static_cast<double>(hardware_threads()) + 0.5;
  if (shared_with_ranks || busy) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    return "PASSIVE";
  }
  return "";
}

}  // namespace fluxkit

// The run context: what every stage needs to know about the machine and reproducibility. It is built once by
// the CLI (from the [run] config section and flags) and passed down explicitly; nothing reads it from
// globals.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit {

enum class Device { Cpu, Cuda };

Device parse_device(std::string_view name);  // "cpu" | "cuda"; throws Error otherwise
std::string_view device_name(Device d);

// Number of cores this process may use (sched affinity aware), at least 1.
int hardware_threads();

struct Context {
  int threads = 1;          // worker threads for every parallel stage, >= 1
  std::uint64_t seed = 42;  // base seed; each stage derives its own independent streams from it
  Device device = Device::Cpu;
};

// [run] section of the pipeline config.
struct RunParams {
  static constexpr std::string_view kSection = "run";
  static constexpr std::string_view kDoc = "Machine and reproducibility settings shared by every stage.";

  std::int64_t threads = 0;
  std::int64_t seed = 42;
  std::string device = "cpu";
  std::string verbosity = "info";

  template <class V>
  void visit(V&& v) {
    v("threads", threads, "Worker threads; 0 = all cores available to the process.");
    v("seed", seed, "Base random seed; the same seed and config give the same results.");
    v("device", device, "Device for the neural networks: `cpu` or `cuda` (needs a CUDA-enabled libtorch).");
    v("verbosity", verbosity, "Log level: `trace`, `debug`, `info`, `warn`, `error` or `off`.");
  }
  void validate() const;
};

Context make_context(const RunParams& run);

// How idle OpenMP threads (libtorch's and OpenBLAS's) wait. The OpenMP runtime reads OMP_WAIT_POLICY once,
// when it is loaded with the torch plugin, so a verb calls this before it loads a model. On cores of its own
// a team keeps the runtime's default (spin for a few milliseconds, then sleep), which keeps a training
// batch's many short parallel regions fast; PASSIVE would wake the threads through the kernel every time.
// When the cores are shared, spinning threads take the time slices the working threads need (a 2-thread
// epoch was 15x slower than with PASSIVE at a load of 9 on 2 cores), so PASSIVE is set when several ranks
// with teams share the machine (`processes_on_node` > 1) or when the other work `load` (`current_load()`)
// leaves fewer idle cores than the team's threads. A value set in the environment is always kept; a team of
// one thread never waits. Returns the policy in effect ("" = the runtime's default).
std::string choose_openmp_wait_policy(int processes_on_node, int threads_per_process, double load);

// The load of the machine from other work: the 1-minute load average (/proc/loadavg; 0 where it cannot be
// read), capped by the tasks other than the caller seen runnable in at least 3 of 10 looks over 30 ms, since
// the average still counts a job that ended within the last minute.
double current_load();

namespace detail {
// current_load's count of other runnable tasks from its looks: the most seen in at least 3 of them (-1 for
// fewer than 3 looks, or when they could not be read).
int tasks_seen_in_three_looks(std::vector<int> looks);
}  // namespace detail

}  // namespace fluxkit

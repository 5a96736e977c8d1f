// Wall time and resident memory added by loading one plugin (core/plugin.hpp) into a running process: what a
// model verb pays on top of fluxkit's own start-up when it first makes a model. Prints "<ms> ms, +<MB> MB".
//   bench_plugin_load torch|xgboost|mpi
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/plugin.hpp"

namespace {
double rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s torch|xgboost|mpi\n", argv[0]);
    return 2;
  }
  const double before = rss_mb();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    fluxkit::load_plugin(argv[1]);
  } catch (const fluxkit::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.1f ms, +%.1f MB\n", ms, rss_mb() - before);
  return 0;
}

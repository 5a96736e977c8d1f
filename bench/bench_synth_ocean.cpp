// Generation speed of `fluxkit synth ocean`. The reference case of the issue is 61 years (1958-2018) of one
// experiment at 1 degree: `make bench` or `build/bench/bench_synth_ocean --benchmark_filter=1deg_61y`.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "fluxkit/core/context.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace {

namespace fs = std::filesystem;

void run(benchmark::State& state, double resolution, int years, const char* grid) {
  const fs::path dir = fs::temp_directory_path() / ("fluxkit_bench_synth_" + std::to_string(::getpid()));
  fluxkit::synth::SynthOceanParams p;
  p.output_dir = dir.string();
  p.experiments = {"experiment_1"};
  p.start_year = 1958;
  p.end_year = 1958 + years - 1;
  p.resolution = resolution;
  p.grid = grid;
  fluxkit::Context ctx;
  ctx.threads = fluxkit::hardware_threads();
  const fluxkit::Provenance prov{"fluxkit bench", "", "", "", ""};
  std::uintmax_t bytes = 0;
  std::size_t cells = 0;
  for (auto _ : state) {
    const auto summary = fluxkit::synth::generate_ocean(p, ctx, prov);
    state.PauseTiming();
    for (const auto& f : summary.files)
      bytes += fs::file_size(f);
    cells = summary.ocean_cells;
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  state.counters["years/s"] = benchmark::Counter(
      static_cast<double>(years) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["MB_written"] = static_cast<double>(bytes) / 1e6 / static_cast<double>(state.iterations());
  state.counters["ocean_cells"] = static_cast<double>(cells);
  state.counters["threads"] = ctx.threads;
}

void BM_SynthOcean_2deg_5y(benchmark::State& s) {
  run(s, 2.0, 5, "regular");
}
void BM_SynthOcean_1deg_61y(benchmark::State& s) {
  run(s, 1.0, 61, "regular");
}
void BM_SynthOcean_025deg_1y(benchmark::State& s) {
  run(s, 0.25, 1, "orca");
}

BENCHMARK(BM_SynthOcean_2deg_5y)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_SynthOcean_1deg_61y)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_SynthOcean_025deg_1y)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

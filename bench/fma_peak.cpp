// The machine's float32 arithmetic peak: fused multiply-adds on independent registers, no memory traffic,
// with the widest vectors the CPU has (AVX-512, AVX2 or the x86-64 baseline, chosen when the program loads),
// on 1 thread and on every hardware thread. bench/compare_shap.py runs it to state the floor that the
// explainers' model evaluations cannot go below (docs/explain.md, "Speed").
//
//   build/bench/fma_peak [seconds per measurement, default 0.5]
//   prints: "threads <n>: <GFLOP/s> GFLOP/s" for n = 1, 2 and the hardware threads (each count once, up to
//   the hardware threads)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using Vec = float __attribute__((vector_size(64)));  // 16 floats: one AVX-512 register, two AVX2 ones

// `rounds` x 12 independent vector FMAs (12 chains hide the FMA latency on every x86 core of the last
// decade); returns a value that depends on all of them, so that nothing is optimised away.
[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]] float fma_rounds(long rounds,
                                                                                       float seed) {
  Vec acc[12];
  for (int i = 0; i < 12; ++i)
    acc[i] = Vec{} + seed * static_cast<float>(i + 1);
  const Vec a = Vec{} + 0.999999f, b = Vec{} + 1e-7f;
  for (long r = 0; r < rounds; ++r)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i)
      acc[i] = acc[i] * a + b;
  float sum = 0;
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 16; ++j)
      sum += acc[i][j];
  return sum;
}

constexpr double kFlopsPerRound = 12 * 16 * 2;

// GFLOP/s of `threads` threads each running fma_rounds for about `seconds` (best of 3).
double measure(unsigned threads, double seconds) {
  using clock = std::chrono::steady_clock;
  long rounds = 1 << 20;
  for (;;) {  // calibrate on one thread
    const auto t0 = clock::now();
    volatile float sink = fma_rounds(rounds, 1.0f);
    (void)sink;
    if (std::chrono::duration<double>(clock::now() - t0).count() > seconds / 4) break;
    rounds *= 2;
  }
  rounds *= 4;
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::thread> pool;
    std::vector<float> sinks(threads);
    const auto t0 = clock::now();
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { sinks[t] = fma_rounds(rounds, 1.0f + static_cast<float>(t)); });
    for (auto& th : pool)
      th.join();
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    best = std::max(best, kFlopsPerRound * static_cast<double>(rounds) * threads / dt / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  if (!(seconds > 0)) {
    std::fprintf(stderr, "usage: fma_peak [seconds per measurement > 0]\n");
    return 2;
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::vector<unsigned> counts{1};
  if (hw >= 2) counts.push_back(2);
  if (hw > 2) counts.push_back(hw);
  for (const unsigned threads : counts)
    std::printf("threads %u: %.1f GFLOP/s\n", threads, measure(threads, seconds));
  return 0;
}

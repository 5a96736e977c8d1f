// NumPy/pandas-compatible random row sampling: selects exactly the rows that the Python pipeline selects with
//
//     df_coords.sample(frac=frac, random_state=seed)        # pandas 1.5, numpy's legacy RandomState
//
// What it reproduces (numpy 1.24 legacy `numpy.random.RandomState`, pandas 1.5):
//  * pandas `NDFrame.sample(frac=f, random_state=s)` (no weights, replace=False) computes the sample size
//    n = round(f * N) with Python's built-in round on the double product (ties to even: 0.25 * 10 = 2.5 -> 2,
//    0.35 * 10 = 3.5 -> 4), builds `RandomState(s)` and takes the row positions
//    `rs.choice(N, size=n, replace=False)`, in that order.
//  * Legacy `RandomState.choice(N, size=n, replace=False)` without p is `rs.permutation(N)[:n]`.
//  * `RandomState(s)` with an integer seed 0 <= s < 2^32 seeds MT19937 with the reference `init_genrand(s)`
//    (not `init_by_array`), position 624 (the first draw twists), so its 32-bit outputs are those of
//    std::mt19937(s).
//  * Legacy `permutation(N)` is `arange(N)` shuffled in place by Fisher-Yates: for i = N-1 down to 1,
//    j = random_interval(i), swap a[i] and a[j].
//  * `random_interval(max)` (numpy/random/src/distributions/distributions.c): 0 if max == 0 (no draw);
//    otherwise mask = the smallest all-ones bit mask >= max, and it repeats value = draw & mask until
//    value <= max, where draw is one 32-bit output if max <= 0xffffffff and one 64-bit output otherwise.
//    MT19937's 64-bit output is (first 32-bit output << 32) | second 32-bit output.
//
// How it was verified (Debian 12 /usr/bin/python3, python3-numpy 1.24.2, python3-pandas 1.5.3):
//  * `RandomState(s).get_state()` equals a Python init_genrand(s) key with position 624, for s = 0, 1, 42,
//    2^32-1; `randint(0, 2**32, dtype=uint32)` equals the reference MT19937 outputs (2000 draws, s = 0, 42).
//  * `randint(0, 2**64, dtype=uint64)` equals (first << 32) | second of those outputs.
//  * A Python transcription of the algorithm above equals `RandomState(s).permutation(N)` for s = 0, 7, 42
//  and
//    N = 0, 1, 2, 3, 10, 17, 1000, 65537, 100000; its 64-bit random_interval path equals legacy
//    `randint(0, max + 1, dtype=uint64)` (same mask-and-reject loop on next_uint64), values and final state,
//    for max from 2^32 to 2^64-2 (the 64-bit path cannot be reached through a permutation in practice: it
//    needs N > 2^32 + 1).
//  * `choice(N, n, replace=False)` equals `permutation(N)[:n]`, and `DataFrame.sample(frac, random_state=42)`
//    row positions equal `permutation(N)[:round(frac * N)]` for 13 (frac, N) cases including ties and N = 0.
//  The expected values in tests/dataset/test_numpy_random.cpp were computed with those packages and are
//  hard-coded; the tests do not run Python.
//
// Errors (negative N, frac outside [0, 1] or not finite) throw fluxkit::Error naming the value.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fluxkit::numpy_compat {

// The 32-bit Mersenne Twister as numpy's MT19937 bit generator with legacy integer seeding.
class MT19937 {
 public:
  static constexpr std::size_t kStateSize = 624;
  using State = std::array<std::uint32_t, kStateSize>;

  explicit MT19937(std::uint32_t seed = 5489U) { init_genrand(seed); }

  // Reference init_genrand(seed), as numpy's `RandomState(seed)` / `mt19937_seed`: position 624.
  void init_genrand(std::uint32_t seed);

  // The next 32-bit output (genrand_int32).
  std::uint32_t next32() {
    if (pos_ >= kStateSize) twist();
    std::uint32_t y = key_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    return y ^ (y >> 18);
  }

  // numpy's mt19937 next_uint64: (first 32-bit output << 32) | second 32-bit output.
  std::uint64_t next64() {
    const std::uint64_t hi = next32();
    return (hi << 32) | next32();
  }

  // The key and position as numpy's `RandomState.get_state()[1]` and `[2]`.
  const State& state() const { return key_; }
  std::size_t position() const { return pos_; }

 private:
  void twist();

  State key_{};
  std::size_t pos_ = kStateSize;
};

// numpy's random_interval: uniform in [0, max] by mask-and-reject; draws nothing for max == 0, 32-bit outputs
// for max <= 0xffffffff, 64-bit outputs (next64) above.
std::uint64_t random_interval(MT19937& rng, std::uint64_t max);

// `numpy.random.RandomState(seed).permutation(n)`. Throws fluxkit::Error for n < 0.
std::vector<std::int64_t> permutation(std::uint32_t seed, std::int64_t n);

// pandas' sample size for `frac` of `n` rows: Python's round(frac * n) (ties to even) on the double product.
// Throws fluxkit::Error for n < 0 and for frac not in [0, 1] (pandas rejects frac < 0, frac > 1 without
// replacement, and NaN).
std::int64_t pandas_sample_size(double frac, std::int64_t n);

// The row positions (0-based, in pandas' order) that `df.sample(frac=frac, random_state=random_state)`
// selects from a frame of n rows: permutation(random_state, n)[:pandas_sample_size(frac, n)].
std::vector<std::int64_t> pandas_sample(double frac, std::int64_t n, std::uint32_t random_state = 42);

}  // namespace fluxkit::numpy_compat

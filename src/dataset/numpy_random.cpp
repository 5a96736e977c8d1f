// NumPy/pandas-compatible random row sampling; see include/fluxkit/dataset/numpy_random.hpp for what is
// reproduced and how it was verified.
#include "fluxkit/dataset/numpy_random.hpp"

#include <charconv>
#include <cmath>
#include <numeric>
#include <string>
#include <system_error>
#include <utility>

#include "fluxkit/core/error.hpp"

namespace fluxkit::numpy_compat {
namespace {

constexpr std::uint32_t kMatrixA = 0x9908b0dfU;
constexpr std::uint32_t kUpperMask = 0x80000000U;
constexpr std::uint32_t kLowerMask = 0x7fffffffU;
constexpr std::size_t kShift = 397;

// The shortest text that reads back as v (as Python's repr).
std::string double_text(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  if (res.ec != std::errc{}) return "?";
  return std::string(buf, res.ptr);
}

// Smallest all-ones bit mask >= max.
constexpr std::uint64_t bit_mask(std::uint64_t max) {
  std::uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  return mask;
}

// random_interval's 32-bit path (max <= 0xffffffff, max > 0).
inline std::uint32_t interval32(MT19937& rng, std::uint32_t max) {
  const auto mask = static_cast<std::uint32_t>(bit_mask(max));
  std::uint32_t value = 0;
  do {
    value = rng.next32() & mask;
  } while (value > max);
  return value;
}

}  // namespace

void MT19937::init_genrand(std::uint32_t seed) {
  key_[0] = seed;
  for (std::size_t i = 1; i < kStateSize; ++i) {
    const std::uint32_t prev = key_[i - 1];
    key_[i] = 1812433253U * (prev ^ (prev >> 30)) + static_cast<std::uint32_t>(i);
  }
  pos_ = kStateSize;
}

void MT19937::twist() {
  auto mix = [](std::uint32_t a, std::uint32_t b) {
    const std::uint32_t y = (a & kUpperMask) | (b & kLowerMask);
    return (y >> 1) ^ ((0U - (y & 1U)) & kMatrixA);
  };
  std::size_t i = 0;
  for (; i < kStateSize - kShift; ++i)
    key_[i] = key_[i + kShift] ^ mix(key_[i], key_[i + 1]);
  for (; i < kStateSize - 1; ++i)
    key_[i] = key_[i + kShift - kStateSize] ^ mix(key_[i], key_[i + 1]);
  key_[kStateSize - 1] = key_[kShift - 1] ^ mix(key_[kStateSize - 1], key_[0]);
  pos_ = 0;
}

std::uint64_t random_interval(MT19937& rng, std::uint64_t max) {
  if (max == 0) return 0;
  if (max <= 0xffffffffULL) return interval32(rng, static_cast<std::uint32_t>(max));
  const std::uint64_t mask = bit_mask(max);
  std::uint64_t value = 0;
  do {
    value = rng.next64() & mask;
  } while (value > max);
  return value;
}

std::vector<std::int64_t> permutation(std::uint32_t seed, std::int64_t n) {
  if (n < 0) throw Error("numpy permutation: the number of elements must be >= 0, got " + std::to_string(n));
  std::vector<std::int64_t> a(static_cast<std::size_t>(n));
  std::iota(a.begin(), a.end(), std::int64_t{0});
  MT19937 rng(seed);
  std::int64_t i = n - 1;
  for (; i > static_cast<std::int64_t>(0xffffffffLL); --i) {
    const auto j = static_cast<std::int64_t>(random_interval(rng, static_cast<std::uint64_t>(i)));
    std::swap(a[static_cast<std::size_t>(i)], a[static_cast<std::size_t>(j)]);
  }
  for (; i > 0; --i) {
    const std::uint32_t j = interval32(rng, static_cast<std::uint32_t>(i));
    std::swap(a[static_cast<std::size_t>(i)], a[j]);
  }
  return a;
}

std::int64_t pandas_sample_size(double frac, std::int64_t n) {
  if (n < 0) throw Error("pandas sample: the number of rows must be >= 0, got " + std::to_string(n));
  if (!std::isfinite(frac) || frac < 0.0 || frac > 1.0) {
    throw Error("pandas sample: frac must be a number in [0, 1] (sampling without replacement), got " +
                double_text(frac));
  }
  // Python: round(frac * n) on the double product; CPython's float.__round__ without ndigits rounds half
  // away from zero and then fixes exact ties to even.
  const double x = frac * static_cast<double>(n);
  double r = std::round(x);
  if (std::fabs(x - r) == 0.5) r = 2.0 * std::round(x / 2.0);
  // Only reachable for n > 2^53, where the double product can round above n.
  if (r > static_cast<double>(n) || r >= 0x1p63 || static_cast<std::int64_t>(r) > n) {
    throw Error("pandas sample: round(" + double_text(frac) + " * " + std::to_string(n) +
                ") = " + double_text(r) + " rows is more than the " + std::to_string(n) + " rows available");
  }
  return static_cast<std::int64_t>(r);
}

std::vector<std::int64_t> pandas_sample(double frac, std::int64_t n, std::uint32_t random_state) {
  const std::int64_t size = pandas_sample_size(frac, n);
  if (size == 0) return {};
  const std::vector<std::int64_t> perm = permutation(random_state, n);
  return {perm.begin(), perm.begin() + size};
}

}  // namespace fluxkit::numpy_compat

#include "fluxkit/core/hash.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace fluxkit {

std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  return fmt::format("{:016x}", v);
}

double random_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const double u1 = random_uniform(seed, stream, 2 * index);
  const double u2 = random_uniform(seed, stream, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace fluxkit

// Stable, platform-independent hashing for fingerprints (config hash, data fingerprints) and for
// counter-based random numbers (the same value for the same key, whatever the thread or order of evaluation).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fluxkit {

// 64-bit FNV-1a of the bytes.
std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t seed = 0xcbf29ce484222325ULL);
std::string hex64(std::uint64_t v);  // 16 lowercase hex digits

// SplitMix64 finaliser: a bijective mix with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Counter-based random numbers: a pure function of (seed, stream, index).
constexpr std::uint64_t random_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return mix64(mix64(mix64(seed) ^ stream) ^ index);
}
// Uniform in (0, 1), never 0 or 1.
constexpr double random_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return (static_cast<double>(random_bits(seed, stream, index) >> 11) + 0.5) * 0x1.0p-53;
}
// Standard normal (Box-Muller on two counter-based uniforms).
double random_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index);

}  // namespace fluxkit

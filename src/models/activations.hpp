// exp, the logistic sigmoid and tanh in float32 for the LSTM cell (src/models/recurrence.cpp), written to
// vectorise inside loops: no branches, no library calls. libtorch's own (Sleef's 1-ULP AVX2 tanhf and expf)
// took 28 % of an LSTM TimeSHAP sample and 14 % of an LSTM training epoch. Internal to the libtorch part of
// fluxkit; a test checks the accuracy against double precision over the whole float range that matters.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace fluxkit::detail {

// exp(x), relative error within 1.2 ULP for x in [-87, 88] (clamped there: exp stays a normal float). x = k
// ln2 + r with k an integer and |r| <= ln2 / 2 (ln2 in two parts, the first with few bits, so k * part is
// exact: the Cody-Waite reduction), exp(r) from its Taylor series to r^7 (remainder below 1e-8 relative),
// times 2^k written into the exponent bits.
inline float exp_f32(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float k_rounded = x * kLog2e + kRound;  // holds k in its low mantissa bits
  const float k = k_rounded - kRound;
  const float r = (x - k * kLn2High) - k * kLn2Low;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^k from k's bits (no float-to-int conversion: a NaN gives a NaN, not undefined behaviour).
  const std::uint32_t bits = (std::bit_cast<std::uint32_t>(k_rounded) - 0x4B400000u + 127u) << 23;
  return p * std::bit_cast<float>(bits);
}

// 1 / (1 + exp(-x)), within 2.5 ULP.
inline float sigmoid_f32(float x) {
  return 1.0f / (1.0f + exp_f32(-x));
}

// tanh(x) = e / (e + 2) with e = exp(2x) - 1: for |2x| < 1 e comes from the Taylor series of exp(y) - 1 to
// y^12 (remainder below 1e-9 relative; exp(y) - 1 would cancel there), otherwise from exp_f32. Within 3.5 ULP
// (2.4e-7 relative, at |x| near 0.5 where the two meet); |x| > 10 gives +-1 exactly, as tanh does in float32.
inline float tanh_f32(float x) {
  const float y = 2.0f * std::min(std::max(x, -20.0f), 20.0f);
  float s = 1.0f / 479001600.0f;  // 1 / 12!
  s = s * y + 1.0f / 39916800.0f;
  s = s * y + 1.0f / 3628800.0f;
  s = s * y + 1.0f / 362880.0f;
  s = s * y + 1.0f / 40320.0f;
  s = s * y + 1.0f / 5040.0f;
  s = s * y + 1.0f / 720.0f;
  s = s * y + 1.0f / 120.0f;
  s = s * y + 1.0f / 24.0f;
  s = s * y + 1.0f / 6.0f;
  s = s * y + 0.5f;
  s = s * y + 1.0f;
  const float e = std::abs(y) < 1.0f ? s * y : exp_f32(y) - 1.0f;
  return e / (e + 2.0f);
}

}  // namespace fluxkit::detail

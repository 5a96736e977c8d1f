#include "synth/landmask.hpp"

#include <algorithm>
#include <cstddef>

namespace fluxkit::synth {
namespace {
#include "synth/landmask_gshhg.inc"

// Decoded once: 1 = ocean at 0.25 degree.
const std::vector<std::uint8_t>& fine_mask() {
  static const std::vector<std::uint8_t> mask = [] {
    std::vector<std::uint8_t> m(static_cast<std::size_t>(kLandmaskNx) * kLandmaskNy);
    std::size_t run = 0;
    for (int j = 0; j < kLandmaskNy; ++j) {
      int i = 0;
      bool ocean = true;
      while (i < kLandmaskNx) {
        const int len = kLandmaskRuns[run++];
        std::fill_n(m.begin() + static_cast<std::ptrdiff_t>(j) * kLandmaskNx + i, len, ocean ? 1 : 0);
        i += len;
        ocean = !ocean;
      }
    }
    return m;
  }();
  return mask;
}
}  // namespace

std::vector<std::uint8_t> ocean_mask(std::size_t ny, std::size_t nx) {
  const auto& fine = fine_mask();
  const std::size_t fy = kLandmaskNy, fx = kLandmaskNx;
  std::vector<std::uint8_t> out(ny * nx);
  for (std::size_t j = 0; j < ny; ++j) {
    // Fine rows whose centres fall in [j, j+1) / ny of the latitude span; at least the nearest one.
    std::size_t j0 = (j * fy + ny / 2) / ny, j1 = ((j + 1) * fy + ny / 2) / ny;
    if (j1 <= j0) j0 = std::min(fy - 1, (2 * j + 1) * fy / (2 * ny)), j1 = j0 + 1;
    for (std::size_t i = 0; i < nx; ++i) {
      std::size_t i0 = (i * fx + nx / 2) / nx, i1 = ((i + 1) * fx + nx / 2) / nx;
      if (i1 <= i0) i0 = std::min(fx - 1, (2 * i + 1) * fx / (2 * nx)), i1 = i0 + 1;
      std::size_t ocean = 0, total = 0;
      for (std::size_t jj = j0; jj < j1; ++jj)
        for (std::size_t ii = i0; ii < i1; ++ii)
          ocean += fine[jj * fx + ii], ++total;
      out[j * nx + i] = 2 * ocean >= total ? 1 : 0;
    }
  }
  return out;
}

double bundled_mask_ocean_fraction() {
  const auto& fine = fine_mask();
  return static_cast<double>(std::count(fine.begin(), fine.end(), 1)) / static_cast<double>(fine.size());
}

}  // namespace fluxkit::synth

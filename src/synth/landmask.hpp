// The bundled real-world land mask (GSHHG coastlines, 0.25 degree), resampled to other grids.
#pragma once

#include <cstdint>
#include <vector>

namespace fluxkit::synth {

// Ocean (1) / land (0) on the regular grid with cell centres lat = -90 + (j + 0.5) * res and
// lon = -180 + (i + 0.5) * res, [ny * nx] rows from south to north. A cell is ocean when at least half of the
// 0.25-degree mask cells whose centres lie inside it are ocean; grids finer than the mask take the nearest
// cell.
std::vector<std::uint8_t> ocean_mask(std::size_t ny, std::size_t nx);

// Ocean fraction of the bundled 0.25-degree mask, by cell count (for tests).
double bundled_mask_ocean_fraction();

}  // namespace fluxkit::synth

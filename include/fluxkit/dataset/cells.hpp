// Which grid cells are samples. Cells are identified by grid indices (y, x) — never by float (lat, lon) — and
// stored as the flat index y * nx + x. ORCA traps are removed: the east-west halo columns and the north-fold
// row repeat coordinates of interior cells; each repeated location is kept once, at its interior cell.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fluxkit/dataset/regions.hpp"
#include "fluxkit/io/nemo.hpp"

namespace fluxkit {

struct CellTable {
  // Distinct ocean locations in the order pandas' drop_duplicates sees them (first appearance in (y, x) scan
  // order): the coordinate table the seed subsamples. Each entry is the flat grid index of the location's
  // canonical cell (the interior twin of a halo cell).
  std::vector<std::int64_t> cells;
  std::size_t ny = 0, nx = 0;
  std::size_t ocean_cells = 0;         // tmask == 1, before removing repeats
  std::size_t halo_columns = 0;        // 2 when cyclic east-west halo columns were detected, else 0
  std::size_t repeated_locations = 0;  // ocean cells dropped because their (lat, lon) was already present
};

CellTable build_cell_table(const nemo::Grid& grid);

enum class SubsampleMode { Fluxkit, Numpy };
SubsampleMode parse_subsample_mode(std::string_view name);  // "fluxkit" | "numpy"

// Positions into table.cells of a spatial subsample of `fraction`. Fluxkit mode: the round(fraction * N)
// locations with the smallest seeded hash of their grid index (stable across years, fractions nest). Numpy
// mode: exactly pandas' `sample(frac=fraction, random_state=seed)` on the coordinate table. fraction 1 takes
// all.
std::vector<std::size_t> subsample(const CellTable& table, double fraction, SubsampleMode mode,
                                   std::uint64_t seed);

// The selected cells inside `region`, as flat grid indices sorted ascending (row-major streaming order).
std::vector<std::int64_t> cells_in_region(const CellTable& table, const std::vector<std::size_t>& positions,
                                          const nemo::Grid& grid, const Region& region);

}  // namespace fluxkit

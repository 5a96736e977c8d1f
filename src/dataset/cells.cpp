#include "fluxkit/dataset/cells.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/dataset/numpy_random.hpp"

namespace fluxkit {

namespace {
struct PairHash {
  std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& p) const {
    return static_cast<std::size_t>(mix64(p.first ^ mix64(p.second)));
  }
};
}  // namespace

CellTable build_cell_table(const nemo::Grid& g) {
  CellTable t;
  t.ny = g.ny;
  t.nx = g.nx;
  const std::size_t nx = g.nx;
  // Cyclic halo: column 0 repeats column nx-2 and column nx-1 repeats column 1 in every row.
  bool halo = nx >= 4 && g.ny > 0;
  for (std::size_t y = 0; halo && y < g.ny; ++y) {
    const std::size_t r = y * nx;
    halo = g.lat[r] == g.lat[r + nx - 2] && g.lon[r] == g.lon[r + nx - 2] &&
           g.lat[r + nx - 1] == g.lat[r + 1] && g.lon[r + nx - 1] == g.lon[r + 1];
  }
  t.halo_columns = halo ? 2 : 0;
  auto canonical = [&](std::size_t k) -> std::size_t {
    if (!halo) return k;
    const std::size_t y = k / nx, x = k % nx;
    if (x == 0) return y * nx + nx - 2;
    if (x == nx - 1) return y * nx + 1;
    return k;
  };

  std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, std::size_t, PairHash> seen;
  seen.reserve(g.size());
  for (std::size_t k = 0; k < g.size(); ++k) {
    if (!g.tmask[k]) continue;
    ++t.ocean_cells;
    const auto key =
        std::make_pair(std::bit_cast<std::uint64_t>(g.lat[k]), std::bit_cast<std::uint64_t>(g.lon[k]));
    if (!seen.emplace(key, t.cells.size()).second) {
      ++t.repeated_locations;
      continue;
    }
    std::size_t c = canonical(k);
    // The interior twin must itself be ocean (tmask agrees); otherwise keep the cell as found.
    if (!g.tmask[c]) c = k;
    t.cells.push_back(static_cast<std::int64_t>(c));
  }
  return t;
}

SubsampleMode parse_subsample_mode(std::string_view name) {
  if (name == "fluxkit") return SubsampleMode::Fluxkit;
  if (name == "numpy") return SubsampleMode::Numpy;
  throw Error(fmt::format("unknown subsample mode '{}' (expected fluxkit or numpy)", name));
}

std::vector<std::size_t> subsample(const CellTable& table, double fraction, SubsampleMode mode,
                                   std::uint64_t seed) {
  const std::size_t n_all = table.cells.size();
  if (!(fraction > 0.0 && fraction <= 1.0))
    throw Error(fmt::format("subsample fraction {} outside (0, 1]", fraction));
  std::vector<std::size_t> out;
  if (mode == SubsampleMode::Numpy) {
    for (std::int64_t p : numpy_compat::pandas_sample(fraction, static_cast<std::int64_t>(n_all),
                                                      static_cast<std::uint32_t>(seed)))
      out.push_back(static_cast<std::size_t>(p));
    return out;
  }
  out.resize(n_all);
  for (std::size_t i = 0; i < n_all; ++i)
    out[i] = i;
  if (fraction >= 1.0) return out;
  const auto n =
      static_cast<std::size_t>(numpy_compat::pandas_sample_size(fraction, static_cast<std::int64_t>(n_all)));
  auto key = [&](std::size_t i) {
    return random_bits(seed, 0x5ab5a3b1e, static_cast<std::uint64_t>(table.cells[i]));
  };
  std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  out.resize(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> cells_in_region(const CellTable& table, const std::vector<std::size_t>& positions,
                                          const nemo::Grid& grid, const Region& region) {
  std::vector<std::int64_t> out;
  for (std::size_t p : positions) {
    const auto k = static_cast<std::size_t>(table.cells[p]);
    if (region.contains(grid.lat[k], grid.lon[k])) out.push_back(table.cells[p]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fluxkit

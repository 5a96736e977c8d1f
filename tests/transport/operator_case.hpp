// Small random in-memory transport cases shared by the operator tests (on footprint sources and packed).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/operator.hpp"

namespace fluxkit::transport::testcase {

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kT0 = 1514764800;  // 2018-01-01 00:00:00 UTC

// ---- random cases -----------------------------------------------------------------------------------------

struct Case {
  TimeAxis axis;
  GridShape grid;
  FluxFile flux;
  MemoryFootprintSource source;
  std::vector<FileTask> files;
  std::size_t nrows = 0;
};

inline FluxFile make_flux(const TimeAxis& axis, GridShape grid, std::size_t ncat, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  FluxFile flux;
  for (std::size_t c = 0; c < ncat; ++c) {
    FluxCategory cat;
    cat.name = "cat" + std::to_string(c);
    cat.nt = axis.size();
    cat.nlat = grid.nlat;
    cat.nlon = grid.nlon;
    cat.emis.resize(cat.nt * cat.nlat * cat.nlon);
    for (auto& v : cat.emis)
      v = normal(rng) * std::pow(10.0, static_cast<double>(c));
    for (std::size_t k = 0; k < axis.size(); ++k) {
      cat.times_start.push_back(fluxkit::cftime::epoch_seconds_to_civil(axis.start[k]));
      cat.times_end.push_back(fluxkit::cftime::epoch_seconds_to_civil(axis.end[k]));
    }
    for (std::size_t i = 0; i < grid.nlat; ++i)
      cat.lats.push_back(static_cast<float>(40.25 + 0.5 * static_cast<double>(i)));
    for (std::size_t j = 0; j < grid.nlon; ++j)
      cat.lons.push_back(static_cast<float>(-10.25 + 0.5 * static_cast<double>(j)));
    flux.categories.push_back(std::move(cat));
  }
  return flux;
}

inline std::string key_of(std::size_t row) {
  return fmt::format("2018010{}{:08d}", row % 10, row);
}

// A footprint whose slices cover steps [first, first + n) of a regular 3-hour axis starting at kT0 (steps may
// lie outside the flux period), with random non-zeros, duplicated cells and empty slices.
inline Footprint make_footprint(std::string key, std::int64_t first, std::size_t n, GridShape grid,
                                std::mt19937_64& rng) {
  Footprint fp;
  fp.key = std::move(key);
  std::uniform_int_distribution<std::int32_t> ilat(0, static_cast<std::int32_t>(grid.nlat) - 1);
  std::uniform_int_distribution<std::int32_t> ilon(0, static_cast<std::int32_t>(grid.nlon) - 1);
  std::uniform_real_distribution<float> resp(0.0f, 1.0f);
  std::uniform_int_distribution<int> nnz(0, 12);
  for (std::size_t s = 0; s < n; ++s) {
    FootprintSlice slice;
    slice.start = kT0 + (first + static_cast<std::int64_t>(s)) * 3 * kHour;
    slice.end = slice.start + 3 * kHour;
    const int m = s % 5 == 3 ? 0 : nnz(rng);
    for (int k = 0; k < m; ++k) {
      slice.ilat.push_back(ilat(rng));
      slice.ilon.push_back(ilon(rng));
      slice.resp.push_back(resp(rng));
      if (k % 4 == 1) {  // a duplicated cell
        slice.ilat.push_back(slice.ilat.back());
        slice.ilon.push_back(slice.ilon.back());
        slice.resp.push_back(resp(rng));
      }
    }
    fp.slices.push_back(std::move(slice));
  }
  return fp;
}

// nfiles files with a few observations each; some footprints reach before or after the period, some keys have
// no footprint in their file.
inline Case make_case(std::uint64_t seed, std::size_t nfiles = 4, std::size_t ncat = 3, std::size_t nt = 24,
                      GridShape grid = {5, 7}) {
  std::mt19937_64 rng(seed);
  Case c;
  c.axis = TimeAxis::regular(kT0, kT0 + static_cast<std::int64_t>(nt) * 3 * kHour, 3 * kHour);
  c.grid = grid;
  c.flux = make_flux(c.axis, grid, ncat, rng);
  std::uniform_int_distribution<int> nobs(2, 6), len(1, 8), kind(0, 9);
  std::size_t row = 0;
  for (std::size_t f = 0; f < nfiles; ++f) {
    FileTask task;
    task.path = fmt::format("fp/site{}.h5", f);
    task.weight = rng() % 1000;
    auto& store = c.source.files[task.path.string()];
    const int n = f == 0 ? std::max(nobs(rng), 5) : nobs(rng);
    for (int o = 0; o < n; ++o, ++row) {
      const std::string key = key_of(row);
      task.obs.push_back(ObsTask{row, 0, key, std::normal_distribution<double>(0.0, 1.0)(rng)});
      const int k = f == 0 && o < 4 ? o : kind(rng);  // the first file has one of each special kind
      if (k == 0) continue;                           // no footprint under this key
      const auto l = static_cast<std::size_t>(len(rng));
      std::int64_t first = std::uniform_int_distribution<std::int64_t>(
          0, static_cast<std::int64_t>(nt) - static_cast<std::int64_t>(l))(rng);
      if (k == 1) first = -2;                                 // reaches before the period
      if (k == 2) first = static_cast<std::int64_t>(nt) - 1;  // reaches after the period
      if (k == 3) first = static_cast<std::int64_t>(nt) + 2;  // entirely after
      store[key] = make_footprint(key, first, l, grid, rng);
    }
    c.files.push_back(std::move(task));
  }
  c.nrows = row;
  return c;
}

inline Context threads(int n) {
  Context ctx;
  ctx.threads = n;
  return ctx;
}

}  // namespace fluxkit::transport::testcase

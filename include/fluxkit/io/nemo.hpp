// Reading NEMO-style ocean-model output: one file per year (or any span of months) with
//   - coordinates: 2-D nav_lat/nav_lon (y, x), or 1-D lat/lon (latitude/longitude) that are broadcast;
//   - optional masks and metrics: tmask (1 = ocean), e1t and e2t (cell widths, m), with any leading
//     singleton-like dimensions (time, depth) of which the first index is used;
//   - a monthly time axis (time_counter or time) with CF units and calendar;
//   - fields (time, y, x); values equal to _FillValue or missing_value, and NaN, are returned as NaN.
// Grid arrays are [ny * nx] row-major (x fastest), y from the first to the last row of the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/cftime.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit::nemo {

struct Grid {
  std::size_t ny = 0, nx = 0;
  std::string y_dim, x_dim;
  std::vector<double> lat, lon;     // degrees north / east
  std::vector<std::uint8_t> tmask;  // 1 = ocean; all 1 when the file has no tmask
  std::vector<double> e1t, e2t;     // metres; empty when absent
  bool has_tmask = false;

  std::size_t size() const { return ny * nx; }
  bool has_metrics() const { return !e1t.empty(); }
  std::vector<double> area() const;  // e1t * e2t in m2 (throws Error when absent)
  // True when both grids have the same shape, coordinates (to 1e-6 degrees) and mask.
  bool same_as(const Grid& other) const;
};

class File {
 public:
  explicit File(const std::filesystem::path& path);

  const std::string& path() const { return nc_.path(); }
  const nc::File& netcdf() const { return nc_; }
  const Grid& grid() const { return grid_; }
  const std::string& time_dim() const { return time_dim_; }
  const cftime::TimeUnits& time_units() const { return units_; }
  const cftime::MonthlyAxis& months() const { return months_; }

  // Checks that `var` exists with dimensions (time, y, x) of this file's lengths; FileError otherwise.
  void check_field(std::string_view var) const;
  // One month [ny * nx] or the whole variable [nt * ny * nx], float32, fill -> NaN.
  std::vector<float> read_month(std::string_view var, std::size_t t) const;
  std::vector<float> read_all(std::string_view var) const;

 private:
  void read_grid();
  void read_time();
  std::vector<double> read_surface(std::string_view var) const;

  nc::File nc_;
  Grid grid_;
  std::string time_dim_;
  cftime::TimeUnits units_{};
  cftime::MonthlyAxis months_{};
};

}  // namespace fluxkit::nemo

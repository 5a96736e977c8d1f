#include "fluxkit/io/nemo.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::nemo {

std::vector<double> Grid::area() const {
  if (!has_metrics()) throw Error("grid has no cell metrics (e1t, e2t)");
  std::vector<double> a(size());
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] = e1t[i] * e2t[i];
  return a;
}

bool Grid::same_as(const Grid& o) const {
  if (ny != o.ny || nx != o.nx || tmask != o.tmask) return false;
  for (std::size_t i = 0; i < size(); ++i) {
    if (std::abs(lat[i] - o.lat[i]) > 1e-6 || std::abs(lon[i] - o.lon[i]) > 1e-6) return false;
  }
  return true;
}

File::File(const std::filesystem::path& path) : nc_(path) {
  read_grid();
  read_time();
}

// A 2-D (y, x) field from a variable whose dimensions end in (y, x); leading dimensions (time, depth) take
// index 0, so the surface level of a 3-D or 4-D tmask is used.
std::vector<double> File::read_surface(std::string_view var) const {
  const nc::VarInfo info = nc_.var(var);
  const std::size_t nd = info.dims.size();
  if (nd < 2 || info.dims[nd - 2] != grid_.y_dim || info.dims[nd - 1] != grid_.x_dim)
    throw FileError(path(), std::string(var),
                    fmt::format("dimensions ({}) do not end in the grid's ({}, {})",
                                fmt::join(info.dims, ", "), grid_.y_dim, grid_.x_dim));
  std::vector<std::size_t> start(nd, 0), count(nd, 1);
  count[nd - 2] = grid_.ny;
  count[nd - 1] = grid_.nx;
  return nc_.read_double(var, start, count);
}

void File::read_grid() {
  auto first_present = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* n : names)
      if (nc_.has_var(n)) return n;
    return "";
  };
  const std::string lat_name = first_present({"nav_lat", "lat", "latitude"});
  const std::string lon_name = first_present({"nav_lon", "lon", "longitude"});
  if (lat_name.empty() || lon_name.empty())
    throw FileError(path(), lat_name.empty() ? "nav_lat" : "nav_lon",
                    "no coordinates: expected 2-D nav_lat/nav_lon or 1-D lat/lon (latitude/longitude)");
  const nc::VarInfo lat = nc_.var(lat_name), lon = nc_.var(lon_name);
  if (lat.dims.size() == 2 && lon.dims.size() == 2) {
    if (lat.dims != lon.dims)
      throw FileError(path(), lon_name,
                      fmt::format("dimensions ({}) differ from {}'s ({})", fmt::join(lon.dims, ", "),
                                  lat_name, fmt::join(lat.dims, ", ")));
    grid_.y_dim = lat.dims[0];
    grid_.x_dim = lat.dims[1];
    grid_.ny = lat.shape[0];
    grid_.nx = lat.shape[1];
    grid_.lat = nc_.read_double(lat_name);
    grid_.lon = nc_.read_double(lon_name);
  } else if (lat.dims.size() == 1 && lon.dims.size() == 1) {
    grid_.y_dim = lat.dims[0];
    grid_.x_dim = lon.dims[0];
    grid_.ny = lat.shape[0];
    grid_.nx = lon.shape[0];
    const auto lat1 = nc_.read_double(lat_name), lon1 = nc_.read_double(lon_name);
    grid_.lat.resize(grid_.size());
    grid_.lon.resize(grid_.size());
    for (std::size_t j = 0; j < grid_.ny; ++j)
      for (std::size_t i = 0; i < grid_.nx; ++i) {
        grid_.lat[j * grid_.nx + i] = lat1[j];
        grid_.lon[j * grid_.nx + i] = lon1[i];
      }
  } else {
    throw FileError(path(), lat_name,
                    fmt::format("expected 2-D (y, x) or 1-D coordinates, got {}-D {} and {}-D {}",
                                lat.dims.size(), lat_name, lon.dims.size(), lon_name));
  }
  for (std::size_t k = 0; k < grid_.size(); ++k) {
    if (!std::isfinite(grid_.lat[k]) || !std::isfinite(grid_.lon[k]))
      throw FileError(path(), std::isfinite(grid_.lat[k]) ? lon_name : lat_name,
                      fmt::format("missing coordinate at y={}, x={}", k / grid_.nx, k % grid_.nx));
  }

  grid_.tmask.assign(grid_.size(), 1);
  if (nc_.has_var("tmask")) {
    grid_.has_tmask = true;
    const auto m = read_surface("tmask");
    for (std::size_t k = 0; k < m.size(); ++k)
      grid_.tmask[k] = (std::isfinite(m[k]) && m[k] > 0.5) ? 1 : 0;
  }
  if (nc_.has_var("e1t") != nc_.has_var("e2t"))
    throw FileError(path(), nc_.has_var("e1t") ? "e2t" : "e1t", "missing (e1t and e2t come together)");
  if (nc_.has_var("e1t")) {
    grid_.e1t = read_surface("e1t");
    grid_.e2t = read_surface("e2t");
  }
}

void File::read_time() {
  for (const char* n : {"time_counter", "time", "t"}) {
    if (nc_.has_dim(n)) {
      time_dim_ = n;
      break;
    }
  }
  if (time_dim_.empty()) throw FileError(path(), "time_counter", "no time dimension (time_counter or time)");
  if (!nc_.has_var(time_dim_)) throw FileError(path(), time_dim_, "time coordinate variable missing");
  const auto units = nc_.text_attribute(time_dim_, "units");
  if (!units) throw FileError(path(), time_dim_, "no 'units' attribute (expected '<unit> since <date>')");
  const std::string calendar = nc_.text_attribute(time_dim_, "calendar").value_or("standard");
  const std::vector<double> values = nc_.read_double(time_dim_);
  for (std::size_t t = 0; t < values.size(); ++t)
    if (std::isnan(values[t]))
      throw FileError(path(), time_dim_, fmt::format("missing time value at index {}", t));
  try {
    units_ = cftime::parse_units(*units, calendar);
    months_ = cftime::MonthlyAxis::from_offsets(values, units_);
  } catch (const FileError&) {
    throw;
  } catch (const Error& e) {
    throw FileError(path(), time_dim_, e.what());
  }
}

void File::check_field(std::string_view var) const {
  const nc::VarInfo info = nc_.var(var);
  const std::vector<std::string> expected{time_dim_, grid_.y_dim, grid_.x_dim};
  if (info.dims != expected)
    throw FileError(
        path(), std::string(var),
        fmt::format("dimensions ({}), expected ({})", fmt::join(info.dims, ", "), fmt::join(expected, ", ")));
}

std::vector<float> File::read_month(std::string_view var, std::size_t t) const {
  check_field(var);
  if (t >= static_cast<std::size_t>(months_.count))
    throw FileError(path(), std::string(var),
                    fmt::format("time index {} out of range [0, {})", t, months_.count));
  const std::size_t start[3] = {t, 0, 0}, count[3] = {1, grid_.ny, grid_.nx};
  return nc_.read_float(var, start, count);
}

std::vector<float> File::read_all(std::string_view var) const {
  check_field(var);
  return nc_.read_float(var);
}

}  // namespace fluxkit::nemo

#include "fluxkit/reconstruct/cache.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {
constexpr const char* kTimeUnits = "days since 1900-01-01 00:00:00";
}

fs::path cache_path(const fs::path& root, std::string_view model, std::string_view experiment,
                    std::string_view region_dir, int year) {
  return root / std::string(experiment) / std::string(region_dir) /
         fmt::format("{}_{}_reconstruction_{}_{}.nc", model, region_dir, year, experiment);
}

void define_box_coordinates(nc::Writer& w, std::string_view mask_long_name) {
  const nc::Compression zip{1, true};
  w.add_var("y_index", NC_INT, {"y"});
  w.put_att("y_index", "long_name", "row index of the cell in the source grid (0-based)");
  w.add_var("x_index", NC_INT, {"x"});
  w.put_att("x_index", "long_name", "column index of the cell in the source grid (0-based)");
  w.add_var("nav_lat", NC_DOUBLE, {"y", "x"}, zip);
  w.put_att("nav_lat", "standard_name", "latitude");
  w.put_att("nav_lat", "units", "degrees_north");
  w.add_var("nav_lon", NC_DOUBLE, {"y", "x"}, zip);
  w.put_att("nav_lon", "standard_name", "longitude");
  w.put_att("nav_lon", "units", "degrees_east");
  w.add_var("area", NC_DOUBLE, {"y", "x"}, zip);
  w.put_att("area", "standard_name", "cell_area");
  w.put_att("area", "units", "m2");
  w.put_att("area", "coordinates", "nav_lat nav_lon");
  w.add_var("sample_mask", NC_BYTE, {"y", "x"}, zip);
  w.put_att("sample_mask", "long_name", mask_long_name);
  const std::int8_t flags[2] = {0, 1};
  w.put_att("sample_mask", "flag_values", std::span<const std::int8_t>(flags, 2));
  w.put_att("sample_mask", "flag_meanings", "not_a_sample sample");
  w.put_att("sample_mask", "coordinates", "nav_lat nav_lon");
  w.add_var("region_mask", NC_BYTE, {"y", "x"}, zip);
  w.put_att("region_mask", "long_name", "1 where the cell is an ocean cell of the region (sampled or not)");
  w.put_att("region_mask", "flag_values", std::span<const std::int8_t>(flags, 2));
  w.put_att("region_mask", "flag_meanings", "outside_the_region_or_land region_ocean");
  w.put_att("region_mask", "coordinates", "nav_lat nav_lon");
}

void write_cache(const fs::path& path, const ReconstructionCache& c, const Provenance& prov) {
  const std::size_t n = c.cells();
  if (c.lat.size() != n || c.lon.size() != n || c.area.size() != n || c.sample_mask.size() != n ||
      c.region_mask.size() != n || c.simulated.size() != c.months * n ||
      c.reconstructed.size() != c.months * n || c.y_index.size() != c.ny || c.x_index.size() != c.nx)
    throw Error(fmt::format("write_cache {}: inconsistent array sizes", path.string()));
  const bool ensemble = c.members > 1;
  if (c.members < 1 ||
      (ensemble && (c.reconstructed_std.size() != c.months * n ||
                    c.member_reconstructed.size() != static_cast<std::size_t>(c.members) * c.months * n)))
    throw Error(fmt::format("write_cache {}: inconsistent ensemble array sizes", path.string()));
  nc::Writer w(path);
  if (ensemble) w.add_dim("member", static_cast<std::size_t>(c.members));
  w.add_dim("time", c.months);
  w.add_dim("y", c.ny);
  w.add_dim("x", c.nx);
  w.add_dim("bnds", 2);
  const nc::Compression zip{1, true};
  w.add_var("time", NC_DOUBLE, {"time"});
  w.put_att("time", "standard_name", "time");
  w.put_att("time", "units", kTimeUnits);
  w.put_att("time", "calendar", c.calendar);
  w.put_att("time", "bounds", "time_bounds");
  w.put_att("time", "axis", "T");
  w.add_var("time_bounds", NC_DOUBLE, {"time", "bnds"});
  define_box_coordinates(w, "1 where the cell is a sample of the region");
  const std::string rec = "reconstructed_" + c.target_name;
  for (const auto& [name, long_name] :
       {std::pair<std::string, std::string>{c.target_name, "simulated " + c.target_name},
        {rec, "reconstruction of " + c.target_name + " by " + c.model}}) {
    w.add_var(name, NC_FLOAT, {"time", "y", "x"}, zip, {1, c.ny, c.nx});
    w.put_att(name, "_FillValue", std::numeric_limits<float>::quiet_NaN());
    w.put_att(name, "long_name", long_name);
    w.put_att(name, "units", c.target_units);
    w.put_att(name, "coordinates", "nav_lat nav_lon");
    w.put_att(name, "cell_measures", "area: area");
    w.put_att(name, "cell_methods", "time: mean (interval: 1 month)");
  }
  const std::string rec_std = rec + "_std", rec_member = rec + "_member";
  if (ensemble) {
    w.add_var("member", NC_INT, {"member"});
    w.put_att("member", "long_name", "ensemble member index k (artifact <model>/member_<k>)");
    w.put_att(rec, "long_name",
              fmt::format("reconstruction of {} by {}: mean of {} ensemble members", c.target_name, c.model,
                          c.members));
    w.put_att(rec, "ancillary_variables", rec_std);
    w.add_var(rec_std, NC_FLOAT, {"time", "y", "x"}, zip, {1, c.ny, c.nx});
    w.put_att(rec_std, "_FillValue", std::numeric_limits<float>::quiet_NaN());
    w.put_att(rec_std, "long_name",
              fmt::format("standard deviation of the reconstruction of {} across the {} ensemble members of "
                          "{} (N - 1 in the denominator)",
                          c.target_name, c.members, c.model));
    w.put_att(rec_std, "units", c.target_units);
    w.put_att(rec_std, "coordinates", "nav_lat nav_lon");
    w.put_att(rec_std, "cell_measures", "area: area");
    w.add_var(rec_member, NC_FLOAT, {"member", "time", "y", "x"}, zip, {1, 1, c.ny, c.nx});
    w.put_att(rec_member, "_FillValue", std::numeric_limits<float>::quiet_NaN());
    w.put_att(rec_member, "long_name",
              fmt::format("reconstruction of {} by each ensemble member of {}", c.target_name, c.model));
    w.put_att(rec_member, "units", c.target_units);
    w.put_att(rec_member, "coordinates", "nav_lat nav_lon");
    w.put_att(rec_member, "cell_measures", "area: area");
  }
  w.put_provenance(prov);
  w.put_att(
      "", "title",
      fmt::format("fluxkit reconstruction cache: {} {} {} {}", c.model, c.experiment, c.region, c.year));
  w.put_att("", "fluxkit_cache_version", kCacheVersion);
  w.put_att("", "model", c.model);
  w.put_att("", "experiment", c.experiment);
  w.put_att("", "region", c.region);
  w.put_att("", "year", c.year);
  w.put_att("", "target_name", c.target_name);
  w.put_att("", "target_units", c.target_units);
  w.put_att("", "fluxkit_artifact_fingerprint", c.artifact_fingerprint);
  w.put_att("", "fluxkit_store_fingerprint", c.store_fingerprint);
  if (ensemble) w.put_att("", "ensemble_members", c.members);
  if (!c.train_experiment.empty()) {
    w.put_att("", "training_experiment", c.train_experiment);
    const std::int32_t years[2] = {c.train_first_year, c.train_last_year};
    w.put_att("", "training_years", std::span<const std::int32_t>(years, 2));
  }
  if (!c.validation_experiment.empty()) {
    w.put_att("", "validation_experiment", c.validation_experiment);
    const std::int32_t years[2] = {c.validation_first_year, c.validation_last_year};
    w.put_att("", "validation_years", std::span<const std::int32_t>(years, 2));
  }
  w.end_define();

  const cftime::TimeUnits units = cftime::parse_units(kTimeUnits, c.calendar);
  const cftime::MonthlyAxis axis{{c.year, 1}, static_cast<int>(c.months)};
  const auto mid = axis.mid_month_offsets(units);
  std::vector<double> bounds;
  for (const auto& b : axis.bounds_offsets(units))
    bounds.insert(bounds.end(), b.begin(), b.end());
  w.write("time", std::span<const double>(mid));
  w.write("time_bounds", std::span<const double>(bounds));
  w.write("y_index", std::span<const std::int32_t>(c.y_index));
  w.write("x_index", std::span<const std::int32_t>(c.x_index));
  w.write("nav_lat", std::span<const double>(c.lat));
  w.write("nav_lon", std::span<const double>(c.lon));
  w.write("area", std::span<const double>(c.area));
  std::vector<std::int8_t> mask(c.sample_mask.begin(), c.sample_mask.end());
  w.write("sample_mask", std::span<const std::int8_t>(mask));
  const std::vector<std::int8_t> region(c.region_mask.begin(), c.region_mask.end());
  w.write("region_mask", std::span<const std::int8_t>(region));
  w.write(c.target_name, std::span<const float>(c.simulated));
  w.write(rec, std::span<const float>(c.reconstructed));
  if (ensemble) {
    std::vector<std::int32_t> index(static_cast<std::size_t>(c.members));
    std::iota(index.begin(), index.end(), 0);
    w.write("member", std::span<const std::int32_t>(index));
    w.write(rec_std, std::span<const float>(c.reconstructed_std));
    w.write(rec_member, std::span<const float>(c.member_reconstructed));
  }
  w.commit();
}

namespace {
ReconstructionCache read_header(const nc::File& f) {
  const std::string p = f.path();
  auto text = [&](const char* name) {
    auto v = f.text_attribute("", name);
    if (!v)
      throw FileError(p, "", fmt::format("not a fluxkit reconstruction cache: attribute '{}' missing", name));
    return *v;
  };
  auto number = [&](const char* name) {
    auto v = f.number_attribute("", name);
    if (!v || v->empty())
      throw FileError(p, "", fmt::format("not a fluxkit reconstruction cache: attribute '{}' missing", name));
    return (*v)[0];
  };
  const int version = static_cast<int>(number("fluxkit_cache_version"));
  if (version > kCacheVersion)
    throw FileError(
        p, "",
        fmt::format("cache format version {} is newer than this fluxkit reads ({})", version, kCacheVersion));
  ReconstructionCache c;
  c.version = version;
  c.model = text("model");
  c.experiment = text("experiment");
  c.region = text("region");
  c.year = static_cast<int>(number("year"));
  c.target_name = text("target_name");
  c.target_units = text("target_units");
  c.artifact_fingerprint = text("fluxkit_artifact_fingerprint");
  c.store_fingerprint = text("fluxkit_store_fingerprint");
  auto years = [&](const char* name, int& first, int& last) {
    const auto v = f.number_attribute("", name);
    if (!v) return;
    if (v->size() != 2) throw FileError(p, "", fmt::format("attribute '{}' is not [first, last]", name));
    first = static_cast<int>((*v)[0]);
    last = static_cast<int>((*v)[1]);
  };
  c.train_experiment = f.text_attribute("", "training_experiment").value_or("");
  years("training_years", c.train_first_year, c.train_last_year);
  c.validation_experiment = f.text_attribute("", "validation_experiment").value_or("");
  years("validation_years", c.validation_first_year, c.validation_last_year);
  if (const auto m = f.number_attribute("", "ensemble_members"); m && !m->empty()) {
    if (!((*m)[0] >= 1) || (*m)[0] != std::floor((*m)[0]))
      throw FileError(p, "", fmt::format("attribute 'ensemble_members' is {}, not a count >= 1", (*m)[0]));
    c.members = static_cast<int>((*m)[0]);
  }
  return c;
}
}  // namespace

ReconstructionCache read_cache_header(const fs::path& path) {
  return read_header(nc::File(path));
}

ReconstructionCache read_cache(const fs::path& path) {
  const nc::File f(path);
  ReconstructionCache c = read_header(f);
  c.calendar = f.text_attribute("time", "calendar").value_or("standard");
  c.months = f.dim_length("time");
  c.ny = f.dim_length("y");
  c.nx = f.dim_length("x");
  if (c.months != 12) throw FileError(f.path(), "time", fmt::format("{} months, expected 12", c.months));
  for (const auto& v : f.read_double("y_index"))
    c.y_index.push_back(static_cast<std::int32_t>(v));
  for (const auto& v : f.read_double("x_index"))
    c.x_index.push_back(static_cast<std::int32_t>(v));
  c.lat = f.read_double("nav_lat");
  c.lon = f.read_double("nav_lon");
  c.area = f.read_double("area");
  for (double v : f.read_double("sample_mask"))
    c.sample_mask.push_back(v > 0.5 ? 1 : 0);
  if (c.version >= 2)
    for (double v : f.read_double("region_mask"))
      c.region_mask.push_back(v > 0.5 ? 1 : 0);
  c.simulated = f.read_float(c.target_name);
  c.reconstructed = f.read_float("reconstructed_" + c.target_name);
  if (c.lat.size() != c.cells() || c.simulated.size() != c.months * c.cells() ||
      c.reconstructed.size() != c.months * c.cells())
    throw FileError(f.path(), c.target_name, "shape differs from (time, y, x)");
  if (c.members > 1) {
    const std::string rec = "reconstructed_" + c.target_name;
    c.reconstructed_std = f.read_float(rec + "_std");
    c.member_reconstructed = f.read_float(rec + "_member");
    if (c.reconstructed_std.size() != c.months * c.cells())
      throw FileError(f.path(), rec + "_std", "shape differs from (time, y, x)");
    if (c.member_reconstructed.size() != static_cast<std::size_t>(c.members) * c.months * c.cells())
      throw FileError(f.path(), rec + "_member",
                      fmt::format("shape differs from (member={}, time, y, x)", c.members));
  }
  return c;
}

void write_cache_csv(const fs::path& path, const ReconstructionCache& c) {
  std::vector<std::size_t> cells;
  for (std::size_t k = 0; k < c.cells(); ++k)
    if (c.sample_mask[k]) cells.push_back(k);
  std::sort(cells.begin(), cells.end(), [&](std::size_t a, std::size_t b) {
    return c.lat[a] != c.lat[b] ? c.lat[a] < c.lat[b] : c.lon[a] < c.lon[b];
  });
  const bool ensemble = c.members > 1;
  std::string out = fmt::format("nav_lat,nav_lon,time_counter,{0},reconstructed_{0}{1}\n", c.target_name,
                                ensemble ? fmt::format(",reconstructed_{}_std", c.target_name) : "");
  for (std::size_t k : cells)
    for (std::size_t t = 0; t < c.months; ++t) {
      out += fmt::format("{:.6f},{:.6f},{:04d}-{:02d}-15,{:.9g},{:.9g}", c.lat[k], c.lon[k], c.year, t + 1,
                         c.simulated[t * c.cells() + k], c.reconstructed[t * c.cells() + k]);
      out += ensemble ? fmt::format(",{:.9g}\n", c.reconstructed_std[t * c.cells() + k]) : "\n";
    }
  write_text_atomic(path, out);
}

}  // namespace fluxkit

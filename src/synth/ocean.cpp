#include "fluxkit/synth/ocean.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/cftime.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "synth/ocean_fields.hpp"

namespace fluxkit::synth {

const std::vector<ExperimentSpec>& known_experiments() {
  static const std::vector<ExperimentSpec> experiments = {
      {"experiment_1", "hind", "hindcast with the reference forcing", 1.0, 0.0, 1.0},
      {"experiment_5", "wind",
       "changed wind forcing: westerly stress 25% stronger and 2 degrees poleward, 50% stronger stress "
       "variability",
       1.25, 2.0, 1.5},
  };
  return experiments;
}

const ExperimentSpec& find_experiment(std::string_view name) {
  for (const auto& e : known_experiments())
    if (e.name == name) return e;
  std::vector<std::string> names;
  for (const auto& e : known_experiments())
    names.push_back(e.name);
  throw Error(fmt::format("unknown experiment '{}' (known: {})", name, fmt::join(names, ", ")));
}

std::string expand_pattern(std::string_view pattern, std::string_view experiment, std::string_view tag,
                           int year) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '{') {
      const auto close = pattern.find('}', i);
      if (close == std::string_view::npos)
        throw Error(fmt::format("file pattern '{}': unclosed '{{'", pattern));
      const auto name = pattern.substr(i + 1, close - i - 1);
      if (name == "experiment")
        out += experiment;
      else if (name == "tag")
        out += tag;
      else if (name == "year")
        out += std::to_string(year);
      else
        throw Error(fmt::format(
            "file pattern '{}': unknown placeholder '{{{}}}' (use {{experiment}}, {{tag}}, {{year}})",
            pattern, name));
      i = close + 1;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

void SynthOceanParams::validate() const {
  if (experiments.empty()) config::invalid(kSection, "experiments", "must name at least one experiment");
  for (const auto& e : experiments) {
    try {
      find_experiment(e);
    } catch (const Error& err) {
      config::invalid(kSection, "experiments", err.what());
    }
  }
  if (start_year < 1800 || start_year > 2300)
    config::invalid(kSection, "start_year", fmt::format("must be within 1800..2300, got {}", start_year));
  if (end_year < start_year || end_year > 2300)
    config::invalid(kSection, "end_year",
                    fmt::format("must be within start_year ({})..2300, got {}", start_year, end_year));
  const double nx = 360.0 / resolution, ny = 180.0 / resolution;
  if (!(resolution > 0) || std::abs(nx - std::round(nx)) > 1e-9 || std::abs(ny - std::round(ny)) > 1e-9)
    config::invalid(kSection, "resolution",
                    fmt::format("360 and 180 must be multiples of it, got {}", resolution));
  if (grid != "regular" && grid != "orca")
    config::invalid(kSection, "grid", fmt::format("expected 'regular' or 'orca', got '{}'", grid));
  if (file_pattern.find("{year}") == std::string::npos)
    config::invalid(kSection, "file_pattern", "must contain {year} (one file per year)");
  if (experiments.size() > 1 && file_pattern.find("{experiment}") == std::string::npos &&
      file_pattern.find("{tag}") == std::string::npos)
    config::invalid(kSection, "file_pattern",
                    "must contain {experiment} or {tag} when several experiments are generated");
  try {
    expand_pattern(file_pattern, "e", "t", 2000);
  } catch (const Error& err) {
    config::invalid(kSection, "file_pattern", err.what());
  }
  try {
    cftime::parse_calendar(calendar);
  } catch (const Error& err) {
    config::invalid(kSection, "calendar", err.what());
  }
  if (!(noise_std >= 0))
    config::invalid(kSection, "noise_std", fmt::format("must be >= 0, got {}", noise_std));
  if (deflate_level < 0 || deflate_level > 9)
    config::invalid(kSection, "deflate_level", fmt::format("must be 0..9, got {}", deflate_level));
}

namespace {

// Values written where tmask == 0. The regular grid uses NaN (declared as _FillValue); the ORCA-like grid
// uses what real NEMO output holds: 0 in the drivers (no fill attribute: only tmask tells land) and 1e20 in
// the target.
struct LandFill {
  float driver;
  float target;
  bool driver_declared;
};

void define_file(nc::Writer& w, const SynthGrid& grid, const SynthOceanParams& p, const ExperimentSpec& exp,
                 int year, const cftime::TimeUnits& units, const LandFill& fill, const Provenance& prov) {
  w.add_dim("time_counter", 12);
  w.add_dim("y", grid.ny);
  w.add_dim("x", grid.nx);
  w.add_dim("axis_nbounds", 2);
  const nc::Compression none{};
  const nc::Compression zip{static_cast<int>(p.deflate_level), true};
  const std::vector<std::string> yx = {"y", "x"}, tyx = {"time_counter", "y", "x"};

  w.add_var("nav_lat", NC_FLOAT, yx, zip);
  w.put_att("nav_lat", "standard_name", "latitude");
  w.put_att("nav_lat", "long_name", "Latitude");
  w.put_att("nav_lat", "units", "degrees_north");
  w.add_var("nav_lon", NC_FLOAT, yx, zip);
  w.put_att("nav_lon", "standard_name", "longitude");
  w.put_att("nav_lon", "long_name", "Longitude");
  w.put_att("nav_lon", "units", "degrees_east");

  for (const char* name : {"time_counter", "time_centered"}) {
    w.add_var(name, NC_DOUBLE, {"time_counter"}, none);
    w.put_att(name, "standard_name", "time");
    w.put_att(name, "long_name",
              std::string_view(name) == "time_counter" ? "Time axis" : "Time axis (centred)");
    w.put_att(name, "units", cftime::format_units(units));
    w.put_att(name, "calendar", cftime::calendar_name(units.calendar));
    w.put_att(name, "bounds", fmt::format("{}_bounds", name));
    if (std::string_view(name) == "time_counter") w.put_att(name, "axis", "T");
    w.add_var(fmt::format("{}_bounds", name), NC_DOUBLE, {"time_counter", "axis_nbounds"}, none);
  }

  w.add_var("tmask", NC_BYTE, yx, zip);
  w.put_att("tmask", "long_name", "surface land-sea mask");
  w.put_att("tmask", "flag_meanings", "land ocean");
  const std::int8_t flags[2] = {0, 1};
  w.put_att("tmask", "flag_values", std::span<const std::int8_t>(flags, 2));
  w.put_att("tmask", "coordinates", "nav_lat nav_lon");
  for (const char* name : {"e1t", "e2t"}) {
    w.add_var(name, NC_DOUBLE, yx, zip);
    w.put_att(name, "long_name",
              std::string_view(name) == "e1t" ? "cell width along x at T points"
                                              : "cell width along y at T points");
    w.put_att(name, "units", "m");
    w.put_att(name, "coordinates", "nav_lat nav_lon");
  }
  w.add_var("area", NC_DOUBLE, yx, zip);
  w.put_att("area", "standard_name", "cell_area");
  w.put_att("area", "long_name", "cell area (e1t * e2t)");
  w.put_att("area", "units", "m2");
  w.put_att("area", "coordinates", "nav_lat nav_lon");

  const std::vector<std::size_t> chunk = {1, grid.ny, grid.nx};
  auto field = [&](const VariableInfo& v, float land, bool declared) {
    w.add_var(v.name, NC_FLOAT, tyx, zip, chunk);
    if (declared) {
      w.put_att(v.name, "_FillValue", land);
      w.put_att(v.name, "missing_value", land);
    }
    if (*v.standard_name != '\0') w.put_att(v.name, "standard_name", v.standard_name);
    w.put_att(v.name, "long_name", v.long_name);
    w.put_att(v.name, "units", v.units);
    w.put_att(v.name, "coordinates", "time_centered nav_lat nav_lon");
    w.put_att(v.name, "cell_measures", "area: area");
    w.put_att(v.name, "cell_methods", "time: mean (interval: 1 month)");
  };
  for (const auto& d : kDriverInfo)
    field(d, fill.driver, fill.driver_declared);
  field(kTargetInfo, fill.target, true);
  w.put_att(kTargetInfo.name, "comment",
            "Synthetic: a known function of current and lagged drivers plus Gaussian noise; see the global "
            "attributes fluxkit_target_* and docs/synthetic-ocean.md.");

  w.put_provenance(prov);
  w.put_att("", "title",
            fmt::format("fluxkit synthetic ocean-model output, {} ({}), {}", exp.name, exp.tag, year));
  w.put_att("", "institution", "fluxkit synthetic data generator (not model output)");
  w.put_att("", "experiment", exp.name);
  w.put_att("", "experiment_tag", exp.tag);
  w.put_att("", "experiment_description", exp.description);
  w.put_att("", "grid_type", grid.orca ? "orca" : "regular");
  w.put_att("", "grid_resolution_degrees", p.resolution);
  w.put_att("", "year", static_cast<int>(year));
  w.put_att("", "land_mask_source", "GSHHG 2.3.7 low resolution via GMT grdlandmask, 0.25 degree (bundled)");
  w.put_att("", "fluxkit_target_formula", TargetTruth::kFormula);
  w.put_att("", "fluxkit_target_lags_months", TargetTruth::kLags);
  w.put_att("", "fluxkit_target_noise_std", p.noise_std);
  w.put_att("", "fluxkit_target_noise_variance", p.noise_std * p.noise_std);
  w.put_att("", "fluxkit_target_units", kTargetInfo.units);
}

}  // namespace

SynthOceanSummary generate_ocean(const SynthOceanParams& p, const Context& ctx, const Provenance& prov) {
  const SynthGrid grid = make_grid(p.resolution, p.grid == "orca");
  const cftime::TimeUnits units = cftime::parse_units("seconds since 1900-01-01 00:00:00", p.calendar);
  const LandFill fill = grid.orca ? LandFill{0.0f, 1e20f, false}
                                  : LandFill{std::numeric_limits<float>::quiet_NaN(),
                                             std::numeric_limits<float>::quiet_NaN(), true};
  const std::size_t ncell = grid.ny * grid.nx;

  SynthOceanSummary summary;
  summary.ny = grid.ny;
  summary.nx = grid.nx;
  summary.ocean_cells = grid.compute.size();
  spdlog::info("synth ocean: {} grid {}x{} (y x) at {} degrees, {} distinct ocean cells, years {}-{}, {}",
               p.grid, grid.ny, grid.nx, p.resolution, grid.compute.size(), p.start_year, p.end_year,
               fmt::join(p.experiments, ", "));

  // Static fields in the written layout.
  std::vector<float> nav_lat(ncell), nav_lon(ncell);
  std::vector<std::int8_t> tmask(ncell);
  std::vector<double> area(ncell);
  for (std::size_t k = 0; k < ncell; ++k) {
    nav_lat[k] = static_cast<float>(grid.lat[k]);
    nav_lon[k] = static_cast<float>(grid.lon[k]);
    tmask[k] = static_cast<std::int8_t>(grid.tmask[k]);
    area[k] = grid.e1t[k] * grid.e2t[k];
  }

  const int first_year = static_cast<int>(p.start_year), last_year = static_cast<int>(p.end_year);
  const std::size_t n = grid.compute.size();
  Progress progress("synth ocean",
                    static_cast<std::uint64_t>(p.experiments.size()) *
                        static_cast<std::uint64_t>(last_year - first_year + 1),
                    "years");
  for (const auto& exp_name : p.experiments) {
    const ExperimentSpec& exp = find_experiment(exp_name);
    // Three months before the first year feed the lagged terms of its January-March targets.
    const OceanModel model(grid, exp, ctx.seed, first_year * 12 - 3, last_year * 12 + 11);
    std::vector<float> lag3(n * kNumDrivers), lag2(n * kNumDrivers), lag1(n * kNumDrivers),
        now(n * kNumDrivers);
    model.drivers(first_year * 12 - 3, lag3, ctx);
    model.drivers(first_year * 12 - 2, lag2, ctx);
    model.drivers(first_year * 12 - 1, lag1, ctx);

    std::vector<float> slab(ncell);
    std::vector<float> target(n);
    for (int year = first_year; year <= last_year; ++year) {
      const auto path =
          std::filesystem::path(p.output_dir) / expand_pattern(p.file_pattern, exp.name, exp.tag, year);
      nc::Writer w(path);
      define_file(w, grid, p, exp, year, units, fill, prov);
      w.put_att("", "fluxkit_seed", fmt::format("{}", ctx.seed));
      w.end_define();
      w.write("nav_lat", std::span<const float>(nav_lat));
      w.write("nav_lon", std::span<const float>(nav_lon));
      w.write("tmask", std::span<const std::int8_t>(tmask));
      w.write("e1t", std::span<const double>(grid.e1t));
      w.write("e2t", std::span<const double>(grid.e2t));
      w.write("area", std::span<const double>(area));
      const cftime::MonthlyAxis axis{cftime::YearMonth{year, 1}, 12};
      const auto mid = axis.mid_month_offsets(units);
      const auto bounds = axis.bounds_offsets(units);
      std::vector<double> flat_bounds;
      for (const auto& b : bounds)
        flat_bounds.insert(flat_bounds.end(), b.begin(), b.end());
      for (const char* name : {"time_counter", "time_centered"}) {
        w.write(name, std::span<const double>(mid));
        w.write(fmt::format("{}_bounds", name), std::span<const double>(flat_bounds));
      }

      for (int month = 0; month < 12; ++month) {
        const int t = year * 12 + month;
        model.drivers(t, now, ctx);
        for (std::size_t c = 0; c < n; ++c) {
          float d[kNumDrivers];
          for (int v = 0; v < kNumDrivers; ++v)
            d[v] = now[static_cast<std::size_t>(v) * n + c];
          const double f = TargetTruth::flux(std::span<const float, kNumDrivers>(d, kNumDrivers),
                                             lag1[kHeatFluxDown * n + c], lag2[kMixedLayerDepth * n + c],
                                             lag3[kMixedLayerDepth * n + c]);
          target[c] = static_cast<float>(f + p.noise_std * model.noise(t, c));
        }
        const std::size_t start[3] = {static_cast<std::size_t>(month), 0, 0},
                          count[3] = {1, grid.ny, grid.nx};
        auto write_field = [&](const char* name, const float* values, float land) {
          for (std::size_t k = 0; k < ncell; ++k)
            slab[k] = land;
          for (std::size_t c = 0; c < n; ++c)
            slab[static_cast<std::size_t>(grid.compute[c])] = values[c];
          // Halo and fold cells repeat the cell they copy (ocean or land alike).
          for (std::size_t k = 0; k < ncell; ++k) {
            const auto s = static_cast<std::size_t>(grid.source[k]);
            if (s != k) slab[k] = slab[s];
          }
          w.write(name, std::span<const float>(slab), start, count);
        };
        for (int v = 0; v < kNumDrivers; ++v)
          write_field(kDriverInfo[static_cast<std::size_t>(v)].name, &now[static_cast<std::size_t>(v) * n],
                      fill.driver);
        write_field(kTargetInfo.name, target.data(), fill.target);
        std::swap(lag3, lag2);
        std::swap(lag2, lag1);
        std::swap(lag1, now);
      }
      w.commit();
      summary.files.push_back(path);
      progress.advance();
    }
  }
  progress.finish();
  return summary;
}

}  // namespace fluxkit::synth

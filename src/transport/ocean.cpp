#include "fluxkit/transport/ocean.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/cftime.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/regions.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/reconstruct/cache.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/remap.hpp"
#include "fluxkit/transport/run.hpp"

namespace fluxkit::transport {

namespace fs = std::filesystem;

namespace {

constexpr double kSecondsPerYear = 365.25 * 86400.0;

// umol m-2 s-1 per unit of the caches' flux; nullopt for units this conversion does not know.
std::optional<double> to_umol_m2_s(std::string_view units) {
  static const std::map<std::string, double, std::less<>> factors = {
      {"mol m-2 yr-1", 1e6 / kSecondsPerYear},
      {"mol m-2 s-1", 1e6},
      {"mmol m-2 d-1", 1e3 / 86400.0},
      {"mmol m-2 s-1", 1e3},
      {"umol m-2 s-1", 1.0},
      {"mol m-2 d-1", 1e6 / 86400.0},
  };
  const auto it = factors.find(units);
  if (it == factors.end()) return std::nullopt;
  return it->second;
}

// Corners of the caches' box from a grid file holding the full grid: CF bounds (y, x, 4) or NEMO's f-points
// (the corners of T cell (j, i) are the f-points (j-1, i-1), (j-1, i), (j, i), (j, i-1)).
SourceCells corners_from_grid_file(const fs::path& path, const ReconstructionCache& c) {
  const nc::File f(path);
  SourceCells out;
  out.n = c.cells();
  out.corner_lat.assign(out.n, {NAN, NAN, NAN, NAN});
  out.corner_lon.assign(out.n, {NAN, NAN, NAN, NAN});
  if (f.has_var("bounds_lat") && f.has_var("bounds_lon")) {
    const auto info = f.var("bounds_lat");
    if (info.shape.size() != 3 || info.shape[2] != 4)
      throw FileError(path, "bounds_lat", "expected dimensions (y, x, 4)");
    const std::size_t ny = info.shape[0], nx = info.shape[1];
    const auto la = f.read_double("bounds_lat"), lo = f.read_double("bounds_lon");
    for (std::size_t y = 0; y < c.ny; ++y)
      for (std::size_t x = 0; x < c.nx; ++x) {
        const auto gy = static_cast<std::size_t>(c.y_index[y]), gx = static_cast<std::size_t>(c.x_index[x]);
        if (gy >= ny || gx >= nx)
          throw FileError(
              path, "bounds_lat",
              fmt::format("grid of {} x {} cells does not hold cache cell (y {}, x {})", ny, nx, gy, gx));
        for (int k = 0; k < 4; ++k) {
          out.corner_lat[y * c.nx + x][k] = la[(gy * nx + gx) * 4 + k];
          out.corner_lon[y * c.nx + x][k] = lo[(gy * nx + gx) * 4 + k];
        }
      }
    return out;
  }
  if (f.has_var("gphif") && f.has_var("glamf")) {
    const auto info = f.var("gphif");
    const std::size_t nd = info.shape.size();
    if (nd < 2) throw FileError(path, "gphif", "expected dimensions ([t,] y, x)");
    const std::size_t ny = info.shape[nd - 2], nx = info.shape[nd - 1];
    const auto la = f.read_double("gphif"), lo = f.read_double("glamf");
    for (std::size_t y = 0; y < c.ny; ++y)
      for (std::size_t x = 0; x < c.nx; ++x) {
        const auto gy = static_cast<std::size_t>(c.y_index[y]), gx = static_cast<std::size_t>(c.x_index[x]);
        if (gy == 0 || gx == 0 || gy >= ny || gx >= nx) continue;  // first row/column: no corners (halo)
        const std::size_t p[4] = {(gy - 1) * nx + gx - 1, (gy - 1) * nx + gx, gy * nx + gx, gy * nx + gx - 1};
        for (int k = 0; k < 4; ++k) {
          out.corner_lat[y * c.nx + x][k] = la[p[k]];
          out.corner_lon[y * c.nx + x][k] = lo[p[k]];
        }
      }
    return out;
  }
  throw FileError(path, "",
                  "no cell corners: expected bounds_lat/bounds_lon (y, x, 4) or NEMO's gphif/glamf");
}

FluxCategory empty_like(const FluxCategory& t, const std::string& name) {
  FluxCategory c;
  c.name = name;
  c.nt = t.nt, c.nlat = t.nlat, c.nlon = t.nlon;
  c.times_start = t.times_start, c.times_end = t.times_end;
  c.lats = t.lats, c.lons = t.lons;
  c.emis.assign(c.nt * c.nlat * c.nlon, 0.0);
  return c;
}

fs::path output_path(const OceanTransportParams& p, const char* field) {
  return fs::path(p.output_dir) / fmt::format("fluxes_{}_{}.nc", p.category, field);
}

}  // namespace

void OceanTransportParams::validate() const {
  if (model.empty()) config::invalid(kSection, "model", "must name a model");
  if (experiment.empty()) config::invalid(kSection, "experiment", "must name an experiment");
  if (category.empty()) config::invalid(kSection, "category", "must not be empty");
  if (cache_sign != "into_ocean" && cache_sign != "into_atmosphere")
    config::invalid(kSection, "cache_sign",
                    fmt::format("'{}': expected into_ocean or into_atmosphere", cache_sign));
  if (fill_unsampled != "simulated" && fill_unsampled != "zero")
    config::invalid(kSection, "fill_unsampled",
                    fmt::format("'{}': expected simulated or zero", fill_unsampled));
  (void)find_region(region);  // Error listing the known regions
}

OceanFluxes regrid_ocean_fluxes(const OceanTransportParams& params, const FluxFile& templ) {
  params.validate();
  if (templ.categories.empty())
    throw FileError(params.template_flux, "", "the template flux file has no category");
  const FluxCategory& axis_of = templ.categories.front();
  const std::string& tfile = params.template_flux;

  // The months each transport step takes (the month holding the step's midpoint).
  std::vector<cftime::YearMonth> step_month(axis_of.nt);
  std::set<int> years;
  for (std::size_t t = 0; t < axis_of.nt; ++t) {
    const std::int64_t a = cftime::civil_to_epoch_seconds(axis_of.times_start[t]);
    const std::int64_t b = cftime::civil_to_epoch_seconds(axis_of.times_end[t]);
    const auto mid = cftime::epoch_seconds_to_civil(a + (b - a) / 2);
    step_month[t] = {mid[0], mid[1]};
    years.insert(mid[0]);
  }
  const Region region = find_region(params.region);

  // Caches of those years; every one on the same box.
  std::map<int, ReconstructionCache> caches;
  for (const int y : years) {
    const fs::path p = cache_path(params.caches_dir, params.model, params.experiment, region.dir_name, y);
    if (!fs::exists(p))
      throw FileError(
          p, "",
          fmt::format("no reconstruction cache for {} (the transport period of {} needs the year; "
                      "run `fluxkit reconstruct` for it or choose another period)",
                      y, tfile));
    caches.emplace(y, read_cache(p));
  }
  const ReconstructionCache& first = caches.begin()->second;
  const fs::path first_path =
      cache_path(params.caches_dir, params.model, params.experiment, region.dir_name, caches.begin()->first);
  for (const auto& [y, c] : caches)
    if (c.ny != first.ny || c.nx != first.nx || c.y_index != first.y_index || c.x_index != first.x_index)
      throw FileError(cache_path(params.caches_dir, params.model, params.experiment, region.dir_name, y), "",
                      "the cache's grid box differs from that of " + first_path.string());
  const auto factor = to_umol_m2_s(first.target_units);
  if (!factor)
    throw FileError(
        first_path, first.target_name,
        fmt::format("units '{}' cannot be converted to umol m-2 s-1 (known: mol m-2 yr-1, mol m-2 s-1, "
                    "mol m-2 d-1, mmol m-2 d-1, mmol m-2 s-1, umol m-2 s-1)",
                    first.target_units));
  const double sign = params.cache_sign == "into_ocean" ? -1.0 : 1.0;

  // Source cells: corners of a regular grid, or from the grid file.
  SourceCells cells;
  if (!params.grid_file.empty())
    cells = corners_from_grid_file(params.grid_file, first);
  else if (!regular_grid_corners(first.lat, first.lon, first.ny, first.nx, cells))
    throw FileError(first_path, "nav_lat",
                    "a curvilinear grid: its cell corners are needed for conservative regridding; give "
                    "[ocean_transport] grid_file (bounds_lat/bounds_lon or NEMO's gphif/glamf)");
  const std::vector<double> lats(axis_of.lats.begin(), axis_of.lats.end());
  const std::vector<double> lons(axis_of.lons.begin(), axis_of.lons.end());
  LatLonGrid grid;
  try {
    grid = LatLonGrid::from_centres(lats, lons);
  } catch (const Error& e) {
    throw FileError(tfile, axis_of.name + "/lats", e.what());
  }
  const RemapWeights w = conservative_weights(cells, grid);

  // The region's ocean cells (region_mask; sample_mask for version-1 caches).
  const auto& mask = first.region_mask.empty() ? first.sample_mask : first.region_mask;
  OceanFluxes out;
  out.source_cells = static_cast<std::size_t>(std::count(mask.begin(), mask.end(), 1));
  std::vector<double> probe(first.cells());
  for (std::size_t i = 0; i < probe.size(); ++i)
    probe[i] = mask[i] ? 1.0 : NAN;
  out.covered_fraction = w.covered_fraction(probe);
  if (std::all_of(out.covered_fraction.begin(), out.covered_fraction.end(),
                  [](double f) { return f == 0.0; }))
    throw FileError(
        tfile, axis_of.name,
        fmt::format("the transport grid ({} to {} N, {} to {} E) holds no ocean cell of the caches "
                    "({}, region {})",
                    grid.lat_edges.front(), grid.lat_edges.back(), grid.lon_edges.front(),
                    grid.lon_edges.back(), first_path.string(), params.region));

  out.simulated = empty_like(axis_of, params.category);
  out.reconstructed = empty_like(axis_of, params.category);
  const std::size_t plane = axis_of.nlat * axis_of.nlon;
  std::vector<double> sim(first.cells()), rec(first.cells()), sim_t(plane), rec_t(plane);
  std::map<int, std::pair<std::vector<double>, std::vector<double>>> done;  // month index -> planes
  for (std::size_t t = 0; t < axis_of.nt; ++t) {
    const auto ym = step_month[t];
    auto it = done.find(ym.index());
    if (it == done.end()) {
      const ReconstructionCache& c = caches.at(ym.year);
      const std::size_t m = static_cast<std::size_t>(ym.month - 1), n = c.cells();
      for (std::size_t i = 0; i < n; ++i) {
        const double s = mask[i] ? static_cast<double>(c.simulated[m * n + i]) : NAN;
        double r = mask[i] ? static_cast<double>(c.reconstructed[m * n + i]) : NAN;
        if (mask[i] && !std::isfinite(r)) r = params.fill_unsampled == "simulated" ? s : 0.0;
        sim[i] = s * *factor * sign;
        rec[i] = r * *factor * sign;
      }
      w.apply(sim, sim_t);
      w.apply(rec, rec_t);
      if (t == 0) {
        // Conservation over the overlap, mol s-1: sum over sources of overlap x flux, against the target.
        for (std::size_t k = 0; k < w.overlap.size(); ++k)
          if (std::isfinite(sim[w.source[k]])) out.source_integral += w.overlap[k] * sim[w.source[k]] * 1e-6;
        for (std::size_t k = 0; k < plane; ++k)
          out.target_integral += sim_t[k] * w.target_area[k] * 1e-6;
      }
      it = done.emplace(ym.index(), std::make_pair(sim_t, rec_t)).first;
    }
    std::copy(it->second.first.begin(), it->second.first.end(), out.simulated.emis.begin() + t * plane);
    std::copy(it->second.second.begin(), it->second.second.end(), out.reconstructed.emis.begin() + t * plane);
  }
  out.simulated.area_m2 = out.reconstructed.area_m2 = w.target_area;
  out.years.assign(years.begin(), years.end());
  for (FluxCategory* c : {&out.simulated, &out.reconstructed}) {
    const bool is_sim = c == &out.simulated;
    c->attributes = {
        {"units", "umol m-2 s-1"},
        {"sign_convention", "positive into the atmosphere (LUMIA); the source fluxes were positive " +
                                std::string(params.cache_sign == "into_ocean" ? "into the ocean: sign flipped"
                                                                              : "into the atmosphere")},
        {"source",
         fmt::format("fluxkit reconstruction caches {}: {} flux of model {}, experiment {}, region {}",
                     params.caches_dir, is_sim ? "simulated" : "reconstructed", params.model,
                     params.experiment, params.region)},
        {"source_units", first.target_units},
        {"unit_conversion", fmt::format("x {:.17g} (1 yr = 365.25 d where the units are per year)", *factor)},
        {"regridding",
         "first-order conservative (cell overlaps in the cylindrical equal-area plane); cell value = flux "
         "averaged over the whole transport cell, land counting as zero"},
        {"time_interpolation", "piecewise constant: each step takes the month containing its midpoint"},
        {"unsampled_cells", is_sim ? "simulated everywhere in the region"
                                   : (params.fill_unsampled == "simulated"
                                          ? "cells without a reconstruction take the simulated flux"
                                          : "cells without a reconstruction are zero")},
    };
  }
  return out;
}

OceanFluxesSummary write_ocean_fluxes(const OceanTransportParams& params, const Provenance& provenance) {
  if (params.template_flux.empty())
    config::invalid(OceanTransportParams::kSection, "template_flux",
                    "must name the LUMIA flux file to follow");
  const FluxFile templ = FluxFile::read(params.template_flux);
  OceanFluxesSummary s;
  s.fluxes = regrid_ocean_fluxes(params, templ);
  fs::create_directories(params.output_dir);
  s.simulated = output_path(params, "simulated");
  s.reconstructed = output_path(params, "reconstructed");
  auto with = [&](const FluxCategory& ocean) {
    FluxFile f = templ;
    auto it = std::find_if(f.categories.begin(), f.categories.end(),
                           [&](const FluxCategory& c) { return c.name == params.category; });
    if (it != f.categories.end())
      *it = ocean;
    else
      f.categories.push_back(ocean);
    return f;
  };
  // Both or neither: the second is written to a temp name first.
  const FluxFile sim = with(s.fluxes.simulated), rec = with(s.fluxes.reconstructed);
  AtomicFile rec_out(s.reconstructed);
  rec.write(rec_out.temp_path(), provenance);
  sim.write(s.simulated, provenance);
  rec_out.commit();
  return s;
}

OceanSignatureSummary ocean_signature(const OceanTransportParams& params, const Context& ctx) {
  if (params.db.empty()) config::invalid(OceanTransportParams::kSection, "db", "must name the obsdb");
  // Regridded from the caches every time (a few seconds): flux files left by an earlier ocean-fluxes run with
  // another configuration can never be picked up.
  if (params.template_flux.empty())
    config::invalid(OceanTransportParams::kSection, "template_flux",
                    "must name the LUMIA flux file to follow");
  OceanFluxes fluxes = regrid_ocean_fluxes(params, FluxFile::read(params.template_flux));
  FluxFile both;
  both.categories.push_back(std::move(fluxes.simulated));
  both.categories.back().name = "simulated";
  both.categories.push_back(std::move(fluxes.reconstructed));
  both.categories.back().name = "reconstructed";

  const ObsDb db = ObsDb::read(params.db);
  const Work work = collect_work(db, params.db, false, true);
  FootprintOperator op(
      make_file_footprint_source([](const fs::path& p) { return open_footprint_file(p, ""); }));
  OperatorOptions options;
  options.lats.assign(both.categories[0].lats.begin(), both.categories[0].lats.end());
  options.lons.assign(both.categories[0].lons.begin(), both.categories[0].lons.end());
  const ForwardResult r = op.forward(both, work.files, options, ctx);

  const CsvTable& obs = db.observations;
  const std::size_t site_col = obs.require_column("site", params.db.c_str());
  const std::size_t time_col = obs.require_column("time", params.db.c_str());
  struct Station {
    std::size_t n = 0;
    double sim = 0, rec = 0, diff = 0, diff2 = 0, max_abs = 0;
  };
  std::map<std::string, Station> stations;
  std::vector<const ObsResult*> by_row(obs.size(), nullptr);
  for (const auto& o : r.obs)
    by_row[o.row] = &o;
  std::string table = "row,site,time,simulated_ppm,reconstructed_ppm,difference_ppm\n";
  OceanSignatureSummary s;
  s.observations = work.observations;
  for (std::size_t row = 0; row < obs.size(); ++row) {
    const ObsResult* o = by_row[row];
    if (o == nullptr || o->status != ObsStatus::Computed) continue;
    const double a = o->values[0], b = o->values[1], d = b - a;
    const std::string& site = obs.rows[row][site_col];
    const auto when = parse_obs_time(obs.rows[row][time_col]);  // ISO in the table, whatever the db's form
    table += fmt::format("{},{},{},{},{},{}\n", obs.index[row], site,
                         when ? cftime::format_epoch_seconds(*when) : std::string(), format_number(a),
                         format_number(b), format_number(d));
    Station& st = stations[site];
    ++st.n;
    st.sim += a, st.rec += b, st.diff += d, st.diff2 += d * d;
    st.max_abs = std::max(st.max_abs, std::abs(d));
    ++s.computed;
  }
  if (s.computed == 0)
    throw FileError(params.db, "", "no observation could be computed (footprints outside the flux period?)");
  std::string st_table =
      "site,observations,mean_simulated_ppm,mean_reconstructed_ppm,mean_difference_ppm,rms_difference_ppm,"
      "max_abs_difference_ppm\n";
  for (const auto& [site, st] : stations) {
    const double n = static_cast<double>(st.n);
    st_table += fmt::format("{},{},{},{},{},{},{}\n", site, st.n, format_number(st.sim / n),
                            format_number(st.rec / n), format_number(st.diff / n),
                            format_number(std::sqrt(st.diff2 / n)), format_number(st.max_abs));
  }
  s.stations = stations.size();
  fs::create_directories(params.output_dir);
  s.observations_table = fs::path(params.output_dir) / "ocean_signature.csv";
  s.stations_table = fs::path(params.output_dir) / "ocean_signature_stations.csv";
  write_text_atomic(s.observations_table, table);
  write_text_atomic(s.stations_table, st_table);
  return s;
}

}  // namespace fluxkit::transport

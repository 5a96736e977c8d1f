// Reconstruction caches into LUMIA flux files (transport/ocean.hpp): units, sign, conservation, the time
// axis, cells without a reconstruction, and the errors.
#include "fluxkit/transport/ocean.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <sstream>

#include "common/temp_dir.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/reconstruct/cache.hpp"
#include "fluxkit/synth/footprints.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/remap.hpp"
#include "fluxkit/transport/run.hpp"

namespace fluxkit::transport {
namespace {

namespace fs = std::filesystem;
const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};
constexpr double kPerYear = 1e6 / (365.25 * 86400.0);  // umol m-2 s-1 per mol m-2 yr-1

// A 2-degree regular box [40, 48] N x [-10, 2] E (4 x 6 cells), land in one cell, one unsampled cell.
constexpr std::size_t kNy = 4, kNx = 6, kLand = 7, kUnsampled = 15;
double sim_value(std::size_t k, int month) {
  return static_cast<float>(1.0 + 0.1 * static_cast<double>(k) + month);  // as stored (float32)
}
double rec_value(std::size_t k, int month) {
  return static_cast<float>(sim_value(k, month) + 0.5);
}

ReconstructionCache make_cache(int year) {
  ReconstructionCache c;
  c.model = "mlp";
  c.experiment = "experiment_1";
  c.region = "global";
  c.year = year;
  c.target_units = "mol m-2 yr-1";
  c.ny = kNy, c.nx = kNx;
  for (std::size_t y = 0; y < kNy; ++y)
    c.y_index.push_back(static_cast<std::int32_t>(60 + y));
  for (std::size_t x = 0; x < kNx; ++x)
    c.x_index.push_back(static_cast<std::int32_t>(80 + x));
  for (std::size_t k = 0; k < kNy * kNx; ++k) {
    c.lat.push_back(41.0 + 2.0 * static_cast<double>(k / kNx));
    c.lon.push_back(-9.0 + 2.0 * static_cast<double>(k % kNx));
    c.area.push_back(1e10);
    c.region_mask.push_back(k == kLand ? 0 : 1);
    c.sample_mask.push_back(k == kLand || k == kUnsampled ? 0 : 1);
  }
  const float nan = std::nanf("");
  for (int m = 1; m <= 12; ++m)
    for (std::size_t k = 0; k < kNy * kNx; ++k) {
      c.simulated.push_back(k == kLand ? nan : static_cast<float>(sim_value(k, m)));
      c.reconstructed.push_back(c.sample_mask[k] ? static_cast<float>(rec_value(k, m)) : nan);
    }
  return c;
}

// The template: a 0.5-degree grid [42, 50] x [-12, 0] (partly outside the caches), 6-hourly steps from
// 2017-12-31 00:00 to 2018-01-01 12:00, one category.
FluxFile make_template() {
  FluxCategory c;
  c.name = "biosphere";
  c.nlat = 16, c.nlon = 24;
  for (std::size_t i = 0; i < c.nlat; ++i)
    c.lats.push_back(42.25f + 0.5f * static_cast<float>(i));
  for (std::size_t j = 0; j < c.nlon; ++j)
    c.lons.push_back(-11.75f + 0.5f * static_cast<float>(j));
  for (int h = 0; h < 36; h += 6) {
    const std::int64_t t0 = cftime::civil_to_epoch_seconds({2017, 12, 31, 0, 0, 0}) + h * 3600;
    c.times_start.push_back(cftime::epoch_seconds_to_civil(t0));
    c.times_end.push_back(cftime::epoch_seconds_to_civil(t0 + 6 * 3600));
  }
  c.nt = c.times_start.size();
  c.emis.assign(c.nt * c.nlat * c.nlon, 7.0);
  FluxFile f;
  f.categories.push_back(c);
  return f;
}

struct OceanCase : ::testing::Test {
  fluxkit::testing::TempDir dir{"fluxkit_ocean"};
  OceanTransportParams params;
  void SetUp() override {
    params.caches_dir = (dir / "caches").string();
    params.template_flux = (dir / "fluxes.nc").string();
    params.output_dir = (dir / "out").string();
    for (int y : {2017, 2018}) {
      const auto p = cache_path(params.caches_dir, "mlp", "experiment_1", "global", y);
      fs::create_directories(p.parent_path());
      write_cache(p, make_cache(y), kProv);
    }
    make_template().write(params.template_flux);
  }
};

TEST_F(OceanCase, UnitsSignConservationAndTheMonthOfEachStep) {
  const FluxFile templ = FluxFile::read(params.template_flux);
  const OceanFluxes o = regrid_ocean_fluxes(params, templ);
  ASSERT_EQ(o.simulated.nt, 6u);
  EXPECT_EQ(o.years, (std::vector<int>{2017, 2018}));
  EXPECT_NEAR(o.target_integral / o.source_integral, 1.0, 1e-10);
  EXPECT_LT(o.source_integral, 0.0);  // an ocean sink (positive into the ocean) is negative for LUMIA
  // Transport cell (2, 6) = [43, 43.5] x [-8.75.. ]: centre (43.25, -8.75) lies in cache cell (y 1, x 0)
  // = [42, 44] x [-10, -8], wholly ocean: the value is the cell's flux, converted and with the sign flipped.
  const std::size_t plane = 16 * 24, cell = 2 * 24 + 6, k = 1 * kNx + 0;
  EXPECT_NEAR(o.simulated.emis[cell], -sim_value(k, 12) * kPerYear, 1e-12);             // 2017-12-31
  EXPECT_NEAR(o.simulated.emis[4 * plane + cell], -sim_value(k, 1) * kPerYear, 1e-12);  // 2018-01-01 00-06
  EXPECT_NEAR(o.reconstructed.emis[4 * plane + cell], -rec_value(k, 1) * kPerYear, 1e-12);
  // Rows north of 48 N have no ocean cell: zero flux, zero coverage.
  const std::size_t north = 15 * 24 + 6;
  EXPECT_EQ(o.simulated.emis[north], 0.0);
  EXPECT_EQ(o.covered_fraction[north], 0.0);
  EXPECT_NEAR(o.covered_fraction[cell], 1.0, 1e-12);
  // The unsampled cell (y 2, x 3) = [44, 46] x [-4, -2] takes the simulated flux by default.
  const std::size_t c2 = 5 * 24 + 17;  // centre (44.75, -3.25)
  EXPECT_NEAR(o.reconstructed.emis[c2], o.simulated.emis[c2], 1e-15);
  params.fill_unsampled = "zero";
  const OceanFluxes z = regrid_ocean_fluxes(params, templ);
  EXPECT_EQ(z.reconstructed.emis[c2], 0.0);
  // The land cell (y 1, x 1) = [42, 44] x [-8, -6]: zero, not covered.
  const std::size_t land = 3 * 24 + 9;  // centre (43.75, -7.25)
  EXPECT_EQ(o.simulated.emis[land], 0.0);
  EXPECT_EQ(o.covered_fraction[land], 0.0);
  params.cache_sign = "into_atmosphere";
  params.fill_unsampled = "simulated";
  EXPECT_NEAR(regrid_ocean_fluxes(params, templ).simulated.emis[cell], sim_value(k, 12) * kPerYear, 1e-12);
}

TEST_F(OceanCase, WritesBothFilesWithTheOtherCategoriesAndTheConventions) {
  const auto s = write_ocean_fluxes(params, kProv);
  for (const auto& p : {s.simulated, s.reconstructed}) {
    const FluxFile f = FluxFile::read(p);
    ASSERT_EQ(f.categories.size(), 2u) << p;
    EXPECT_EQ(f.categories[0].name, "biosphere");
    EXPECT_EQ(f.categories[0].emis[0], 7.0);
    EXPECT_EQ(f.categories[1].name, "ocean");
  }
  nc::File f(s.reconstructed);
  int grp = -1;
  ASSERT_EQ(nc_inq_ncid(f.id(), "ocean", &grp), NC_NOERR);
  std::size_t len = 0;
  ASSERT_EQ(nc_inq_attlen(grp, NC_GLOBAL, "sign_convention", &len), NC_NOERR);
  std::string text(len, '\0');
  nc_get_att_text(grp, NC_GLOBAL, "sign_convention", text.data());
  EXPECT_NE(text.find("positive into the atmosphere"), std::string::npos) << text;
}

TEST_F(OceanCase, AYearWithoutACacheIsAnErrorAndNothingIsWritten) {
  fs::remove(cache_path(params.caches_dir, "mlp", "experiment_1", "global", 2017));
  try {
    write_ocean_fluxes(params, kProv);
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("2017"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no reconstruction cache"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out" / "fluxes_ocean_simulated.nc"));
  EXPECT_FALSE(fs::exists(dir / "out" / "fluxes_ocean_reconstructed.nc"));
}

TEST_F(OceanCase, ATransportGridAwayFromTheOceanIsAnError) {
  FluxFile t = make_template();
  for (float& l : t.categories[0].lats)
    l += 20.0f;  // 62-70 N: the caches end at 48 N
  t.write(params.template_flux);
  try {
    write_ocean_fluxes(params, kProv);
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("holds no ocean cell"), std::string::npos) << e.what();
  }
}

TEST_F(OceanCase, ACurvilinearCacheNeedsItsCorners) {
  for (int y : {2017, 2018}) {
    auto c = make_cache(y);
    for (std::size_t k = 0; k < c.lat.size(); ++k)
      c.lat[k] += 0.01 * static_cast<double>(k % kNx);  // tilted
    write_cache(cache_path(params.caches_dir, "mlp", "experiment_1", "global", y), c, kProv);
  }
  try {
    write_ocean_fluxes(params, kProv);
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("grid_file"), std::string::npos) << e.what();
  }
  // With the corners (CF bounds of the full grid) it works and conserves.
  const std::size_t gy = 70, gx = 90;
  std::vector<double> bl(gy * gx * 4, 0.0), bo(gy * gx * 4, 0.0);
  for (std::size_t y = 0; y < kNy; ++y)
    for (std::size_t x = 0; x < kNx; ++x) {
      const std::size_t g = ((60 + y) * gx + 80 + x) * 4;
      const double la = 40.0 + 2.0 * static_cast<double>(y), lo = -10.0 + 2.0 * static_cast<double>(x);
      const double la4[4] = {la, la, la + 2, la + 2}, lo4[4] = {lo, lo + 2, lo + 2, lo};
      for (int c = 0; c < 4; ++c)
        bl[g + c] = la4[c], bo[g + c] = lo4[c];
    }
  {
    nc::Writer w(dir / "grid.nc");
    w.add_dim("y", gy);
    w.add_dim("x", gx);
    w.add_dim("nv", 4);
    w.add_var("bounds_lat", NC_DOUBLE, {"y", "x", "nv"});
    w.add_var("bounds_lon", NC_DOUBLE, {"y", "x", "nv"});
    w.write("bounds_lat", std::span<const double>(bl));
    w.write("bounds_lon", std::span<const double>(bo));
    w.commit();
  }
  params.grid_file = (dir / "grid.nc").string();
  const OceanFluxes o = regrid_ocean_fluxes(params, FluxFile::read(params.template_flux));
  EXPECT_NEAR(o.target_integral / o.source_integral, 1.0, 1e-10);
  EXPECT_NEAR(o.simulated.emis[2 * 24 + 6], -sim_value(kNx, 12) * kPerYear, 1e-12);
}

TEST_F(OceanCase, BadParametersAreConfigErrors) {
  params.cache_sign = "down";
  EXPECT_THROW(params.validate(), ConfigError);
  params.cache_sign = "into_ocean";
  params.fill_unsampled = "nan";
  EXPECT_THROW(params.validate(), ConfigError);
}

// The signature at the stations: a synthetic transport case (coastal station, 1-degree grid over the sea west
// of Ireland) and caches of a constant flux v (simulated) and 3v (reconstructed) covering the whole grid, so
// each observation's ocean signal is -v (into the ocean -> negative for the atmosphere) in umol m-2 s-1 times
// its total sensitivity, and the reconstruction error doubles it.
TEST(OceanSignature, ConstantFluxesGiveTheSensitivityTimesTheFluxAtEveryObservation) {
  fluxkit::testing::TempDir dir{"fluxkit_ocean_signature"};
  synth::SynthFootprintParams sp;
  sp.output_dir = (dir / "case").string();
  sp.observations = 12;
  sp.stations = {"MHD:53.33:-9.90:24:5", "VAL:51.94:-10.25:10:10"};
  sp.start = "2018-01-03";
  sp.days = 2;
  sp.lat0 = 46, sp.lat1 = 58, sp.lon0 = -20, sp.lon1 = -4, sp.resolution = 1.0;
  sp.min_back_days = 2, sp.max_back_days = 3;
  sp.particles = 100;
  sp.categories = {"biosphere"};
  sp.optimize = {"biosphere"};
  Context ctx;
  ctx.threads = 2;
  const auto sum = synth::generate_footprints(sp, ctx);

  // Caches: 2-degree cells [44, 60] x [-22, -2], all ocean and sampled, 2017 and 2018.
  constexpr double v = 2.5;  // mol m-2 yr-1, into the ocean
  OceanTransportParams params;
  params.caches_dir = (dir / "caches").string();
  params.template_flux = sum.flux_file.string();
  params.db = sum.obsdb.string();
  params.output_dir = (dir / "out").string();
  for (int year : {2017, 2018}) {
    ReconstructionCache c;
    c.model = "mlp", c.experiment = "experiment_1", c.region = "global", c.year = year;
    c.target_units = "mol m-2 yr-1";
    c.ny = 8, c.nx = 10;
    for (std::size_t y = 0; y < c.ny; ++y)
      c.y_index.push_back(static_cast<std::int32_t>(y));
    for (std::size_t x = 0; x < c.nx; ++x)
      c.x_index.push_back(static_cast<std::int32_t>(x));
    for (std::size_t k = 0; k < c.ny * c.nx; ++k) {
      c.lat.push_back(45.0 + 2.0 * static_cast<double>(k / c.nx));
      c.lon.push_back(-21.0 + 2.0 * static_cast<double>(k % c.nx));
      c.area.push_back(1e10);
      c.region_mask.push_back(1);
      c.sample_mask.push_back(1);
    }
    c.simulated.assign(12 * c.ny * c.nx, static_cast<float>(v));
    c.reconstructed.assign(12 * c.ny * c.nx, static_cast<float>(3 * v));
    const auto path = cache_path(params.caches_dir, "mlp", "experiment_1", "global", year);
    fs::create_directories(path.parent_path());
    write_cache(path, c, kProv);
  }
  const auto s = ocean_signature(params, ctx);
  EXPECT_EQ(s.observations, 12u);
  EXPECT_EQ(s.computed, 12u);
  EXPECT_EQ(s.stations, 2u);

  // Each observation's total sensitivity from the operator on the same footprints.
  const ObsDb db = ObsDb::read(params.db);
  const Work work = collect_work(db, params.db, false, true);
  FootprintOperator op(
      make_file_footprint_source([](const fs::path& p) { return open_footprint_file(p, ""); }));
  const ForwardResult r = op.forward(FluxFile::read(params.template_flux), work.files, {}, ctx);
  std::map<std::size_t, double> total;
  for (const auto& o : r.obs)
    if (o.status == ObsStatus::Computed) total[o.row] = o.total;
  ASSERT_EQ(total.size(), 12u);

  std::ifstream in(s.observations_table);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "row,site,time,simulated_ppm,reconstructed_ppm,difference_ppm");
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');)
      f.push_back(x);
    ASSERT_EQ(f.size(), 6u) << line;
    const std::size_t row = static_cast<std::size_t>(
        std::distance(db.observations.index.begin(),
                      std::find(db.observations.index.begin(), db.observations.index.end(), f[0])));
    ASSERT_TRUE(total.contains(row)) << line;
    const double expected = -v * kPerYear * total.at(row);
    EXPECT_LT(expected, 0.0);
    EXPECT_NEAR(std::stod(f[3]), expected, 1e-9 * std::abs(expected)) << line;
    EXPECT_NEAR(std::stod(f[4]), 3 * expected, 3e-9 * std::abs(expected)) << line;
    EXPECT_NEAR(std::stod(f[5]), 2 * expected, 2e-9 * std::abs(expected)) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 12u);
  std::ifstream st(s.stations_table);
  std::getline(st, line);
  EXPECT_TRUE(line.starts_with("site,observations,mean_simulated_ppm,")) << line;
  std::size_t sites = 0;
  while (std::getline(st, line))
    sites += line.starts_with("MHD,6,") || line.starts_with("VAL,6,");
  EXPECT_EQ(sites, 2u);
}

}  // namespace
}  // namespace fluxkit::transport

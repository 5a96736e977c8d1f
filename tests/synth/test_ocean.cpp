#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fluxkit/core/config.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/synth/ocean.hpp"
#include "synth/landmask.hpp"
#include "synth/ocean_fields.hpp"

namespace fluxkit::synth {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fluxkit_synth_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

SynthOceanParams small(const fs::path& dir, double resolution = 5.0) {
  SynthOceanParams p;
  p.output_dir = dir.string();
  p.start_year = 2000;
  p.end_year = 2001;
  p.resolution = resolution;
  return p;
}

Provenance fixed_provenance() {
  return Provenance{"fluxkit test", "abc", "fnv1a64:0", "2000-01-01T00:00:00Z", "test"};
}

fs::path file_of(const SynthOceanParams& p, const std::string& experiment, int year) {
  return fs::path(p.output_dir) /
         expand_pattern(p.file_pattern, experiment, find_experiment(experiment).tag, year);
}

TEST(Landmask, BundledMaskIsRealWorld) {
  EXPECT_NEAR(bundled_mask_ocean_fraction(), 0.66, 0.01);  // by cell count; 0.71 by area
  const auto m = ocean_mask(180, 360);                     // 1 degree
  auto at = [&](double lat, double lon) {
    const auto j = static_cast<std::size_t>((lat + 90.0) / 1.0),
               i = static_cast<std::size_t>((lon + 180.0) / 1.0);
    return m[j * 360 + i];
  };
  EXPECT_EQ(at(0.5, -30.5), 1);    // equatorial Atlantic
  EXPECT_EQ(at(0.5, -160.5), 1);   // central Pacific
  EXPECT_EQ(at(85.5, 0.5), 1);     // Arctic Ocean
  EXPECT_EQ(at(48.5, 2.5), 0);     // Paris
  EXPECT_EQ(at(-80.5, 0.5), 0);    // Antarctica
  EXPECT_EQ(at(41.5, 50.5), 0);    // the Caspian Sea is not ocean
  EXPECT_EQ(at(-25.5, 135.5), 0);  // Australia
}

TEST(Grid, RegularGridGeometry) {
  const SynthGrid g = make_grid(2.0, false);
  EXPECT_EQ(g.nx, 180u);
  EXPECT_EQ(g.ny, 90u);
  EXPECT_DOUBLE_EQ(g.lat[0], -89.0);
  EXPECT_DOUBLE_EQ(g.lon[0], -179.0);
  double area = 0;
  for (std::size_t k = 0; k < g.lat.size(); ++k)
    area += g.e1t[k] * g.e2t[k];
  EXPECT_NEAR(area / (4 * M_PI * 6371000.0 * 6371000.0), 1.0, 1e-3);  // cells tile the sphere
  EXPECT_EQ(g.compute.size(), static_cast<std::size_t>(std::count(g.tmask.begin(), g.tmask.end(), 1)));
  EXPECT_THROW(make_grid(0.7, false), Error);
}

TEST(Grid, OrcaGridHasHaloAndFoldDuplicates) {
  const SynthGrid g = make_grid(2.0, true);
  ASSERT_EQ(g.nx, 182u);
  ASSERT_EQ(g.ny, 91u);
  for (std::size_t y = 0; y < g.ny; ++y) {
    // West halo repeats the last interior column, east halo the first.
    EXPECT_EQ(g.lon[y * g.nx + 0], g.lon[y * g.nx + 180]);
    EXPECT_EQ(g.lon[y * g.nx + 181], g.lon[y * g.nx + 1]);
    EXPECT_EQ(g.tmask[y * g.nx + 0], g.tmask[y * g.nx + 180]);
  }
  // The fold row repeats the row below it, mirrored.
  const std::size_t top = g.ny - 1;
  for (std::size_t x = 0; x < g.nx; ++x) {
    EXPECT_EQ(g.lat[top * g.nx + x], g.lat[(top - 1) * g.nx + x]);
    EXPECT_EQ(g.lon[top * g.nx + x], g.lon[(top - 1) * g.nx + (g.nx - 1 - x)]);
  }
  // Duplicated (lat, lon) pairs among ocean cells: the trap the reader must handle.
  std::map<std::pair<double, double>, int> seen;
  for (std::size_t k = 0; k < g.lat.size(); ++k)
    if (g.tmask[k]) seen[{g.lat[k], g.lon[k]}]++;
  std::size_t duplicated = 0;
  for (const auto& [key, count] : seen)
    duplicated += count > 1;
  EXPECT_GT(duplicated, 180u);  // the Arctic fold row plus ocean halo cells
  EXPECT_EQ(g.compute.size(), seen.size());
}

TEST(SynthOcean, TargetFollowsDocumentedTruthWithKnownNoise) {
  const fs::path dir = fresh_dir("truth");
  SynthOceanParams p = small(dir);
  p.experiments = {"experiment_1"};
  p.noise_std = 0.3;
  Context ctx;
  ctx.threads = 2;
  const auto summary = generate_ocean(p, ctx, fixed_provenance());
  ASSERT_EQ(summary.files.size(), 2u);
  const nemo::File y0(file_of(p, "experiment_1", 2000)), y1(file_of(p, "experiment_1", 2001));
  EXPECT_EQ(y1.months().first.year, 2001);
  EXPECT_EQ(y1.months().first.month, 1);
  EXPECT_EQ(y1.months().count, 12);
  const std::size_t n = y1.grid().size();
  std::map<std::string, std::vector<float>> a, b;
  for (const auto& v : kDriverInfo)
    a[v.name] = y0.read_all(v.name), b[v.name] = y1.read_all(v.name);
  const auto target = y1.read_all("co2flux_pre");
  // Driver value of month m in [-12, 12) relative to January 2001.
  auto at = [&](const char* var, int m, std::size_t k) {
    return m < 0 ? a[var][static_cast<std::size_t>(m + 12) * n + k]
                 : b[var][static_cast<std::size_t>(m) * n + k];
  };
  double sum = 0, sum2 = 0;
  std::size_t count = 0;
  for (int m = 0; m < 12; ++m) {
    for (std::size_t k = 0; k < n; ++k) {
      if (!y1.grid().tmask[k]) {
        EXPECT_TRUE(std::isnan(target[static_cast<std::size_t>(m) * n + k]));
        continue;
      }
      float now[kNumDrivers];
      for (int d = 0; d < kNumDrivers; ++d)
        now[d] = at(kDriverInfo[static_cast<std::size_t>(d)].name, m, k);
      const double truth = TargetTruth::flux(
          std::span<const float, kNumDrivers>(now, kNumDrivers), at("heat_flux_down", m - 1, k),
          at("mixed_layer_depth", m - 2, k), at("mixed_layer_depth", m - 3, k));
      const double r = target[static_cast<std::size_t>(m) * n + k] - truth;
      sum += r;
      sum2 += r * r;
      ++count;
    }
  }
  ASSERT_GT(count, 10000u);
  const double mean = sum / static_cast<double>(count);
  const double sd = std::sqrt(sum2 / static_cast<double>(count) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sd, 0.3, 0.015);
  // The documented truth is in the file.
  EXPECT_EQ(*y1.netcdf().text_attribute("", "fluxkit_target_formula"), TargetTruth::kFormula);
  EXPECT_DOUBLE_EQ((*y1.netcdf().number_attribute("", "fluxkit_target_noise_std"))[0], 0.3);
  fs::remove_all(dir);
}

TEST(SynthOcean, RealisticSeasonsIceAndRanges) {
  const fs::path dir = fresh_dir("seasons");
  SynthOceanParams p = small(dir, 2.0);
  p.experiments = {"experiment_1"};
  p.start_year = p.end_year = 2000;
  Context ctx;
  ctx.threads = 2;
  generate_ocean(p, ctx, fixed_provenance());
  const nemo::File f(file_of(p, "experiment_1", 2000));
  const auto& g = f.grid();
  const auto sst = f.read_all("SST"), ice = f.read_all("ice_frac"), mld = f.read_all("mixed_layer_depth");
  auto band_mean = [&](const std::vector<float>& v, int m, double lat0, double lat1) {
    double s = 0;
    int c = 0;
    for (std::size_t k = 0; k < g.size(); ++k)
      if (g.tmask[k] && g.lat[k] >= lat0 && g.lat[k] <= lat1)
        s += v[static_cast<std::size_t>(m) * g.size() + k], ++c;
    return s / c;
  };
  // Hemispheric phase: northern mid-latitudes warmest in August, southern in February.
  EXPECT_GT(band_mean(sst, 7, 30, 50), band_mean(sst, 1, 30, 50) + 4);
  EXPECT_GT(band_mean(sst, 1, -50, -30), band_mean(sst, 7, -50, -30) + 3);
  EXPECT_GT(band_mean(sst, 0, -5, 5), 24.0);
  // Sea ice where it is cold, more in the local winter.
  EXPECT_GT(band_mean(ice, 2, 70, 90), band_mean(ice, 8, 70, 90) + 0.1);
  EXPECT_GT(band_mean(ice, 8, -80, -60), band_mean(ice, 2, -80, -60) + 0.1);
  EXPECT_EQ(band_mean(ice, 0, -10, 10), 0.0);
  // Deep winter mixed layers at high latitude, shallow in summer.
  EXPECT_GT(band_mean(mld, 2, 50, 65), 2 * band_mean(mld, 8, 50, 65));
  for (std::size_t k = 0; k < sst.size(); ++k) {
    if (std::isnan(sst[k])) continue;
    ASSERT_GE(sst[k], -1.8f);
    ASSERT_LE(sst[k], 35.0f);
    ASSERT_GE(ice[k], 0.0f);
    ASSERT_LE(ice[k], 1.0f);
    ASSERT_GT(mld[k], 0.0f);
  }
  fs::remove_all(dir);
}

TEST(SynthOcean, DeterministicAndThreadIndependent) {
  const fs::path d1 = fresh_dir("det1"), d2 = fresh_dir("det2"), d3 = fresh_dir("det3");
  Context one, three;
  one.threads = 1;
  three.threads = 3;
  generate_ocean(small(d1), one, fixed_provenance());
  generate_ocean(small(d2), three, fixed_provenance());
  Context other_seed = one;
  other_seed.seed = 43;
  generate_ocean(small(d3), other_seed, fixed_provenance());
  for (const char* exp : {"experiment_1", "experiment_5"}) {
    for (int year : {2000, 2001}) {
      const auto rel = fs::relative(file_of(small(d1), exp, year), d1);
      EXPECT_EQ(slurp(d1 / rel), slurp(d2 / rel)) << rel;
      const auto a = nemo::File(d1 / rel).read_all("SST"), c = nemo::File(d3 / rel).read_all("SST");
      EXPECT_NE(std::vector<float>(a.begin(), a.begin() + 2000),
                std::vector<float>(c.begin(), c.begin() + 2000));
    }
  }
  for (const auto& d : {d1, d2, d3})
    fs::remove_all(d);
}

TEST(SynthOcean, ExperimentFiveHasStrongerWesterlies) {
  const fs::path dir = fresh_dir("exp5");
  SynthOceanParams p = small(dir);
  p.start_year = p.end_year = 2000;
  Context ctx;
  generate_ocean(p, ctx, fixed_provenance());
  const nemo::File e1(file_of(p, "experiment_1", 2000)), e5(file_of(p, "experiment_5", 2000));
  EXPECT_NE(e1.path().find("hind_2000.nc"), std::string::npos);
  EXPECT_NE(e5.path().find("wind_2000.nc"), std::string::npos);
  const auto s1 = e1.read_all("stress_X"), s5 = e5.read_all("stress_X");
  const auto& g = e1.grid();
  double m1 = 0, m5 = 0;
  for (std::size_t t = 0; t < 12; ++t)
    for (std::size_t k = 0; k < g.size(); ++k)
      if (g.tmask[k] && g.lat[k] < -40 && g.lat[k] > -65)
        m1 += s1[t * g.size() + k], m5 += s5[t * g.size() + k];
  EXPECT_GT(m5, 1.15 * m1);
  const auto t1 = e1.read_all("SST"), t5 = e5.read_all("SST");  // same thermal forcing
  EXPECT_TRUE(std::equal(t1.begin(), t1.end(), t5.begin(), t5.end(),
                         [](float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }));
  fs::remove_all(dir);
}

TEST(SynthOcean, OrcaFileHasNemoTraps) {
  const fs::path dir = fresh_dir("orca");
  SynthOceanParams p = small(dir);
  p.grid = "orca";
  p.experiments = {"experiment_1"};
  p.start_year = p.end_year = 2000;
  Context ctx;
  generate_ocean(p, ctx, fixed_provenance());
  const nemo::File f(file_of(p, "experiment_1", 2000));
  const auto& g = f.grid();
  ASSERT_EQ(g.nx, 74u);
  ASSERT_EQ(g.ny, 37u);
  // Land holds 0 in the drivers (no fill attribute, only tmask tells) and 1e20 in the target.
  EXPECT_FALSE(f.netcdf().number_attribute("SST", "_FillValue").has_value());
  EXPECT_FLOAT_EQ(static_cast<float>((*f.netcdf().number_attribute("co2flux_pre", "missing_value"))[0]),
                  1e20f);
  const auto sst = f.read_all("SST");
  const auto raw_target = f.netcdf().read_double("co2flux_pre");  // fill -> NaN
  std::size_t land = 0;
  for (std::size_t k = 0; k < g.size(); ++k) {
    if (g.tmask[k]) continue;
    ++land;
    EXPECT_EQ(sst[k], 0.0f);
    EXPECT_TRUE(std::isnan(raw_target[k]));
  }
  EXPECT_GT(land, 0u);
  // Halo and fold values repeat their source cells.
  for (std::size_t t = 0; t < 12; ++t) {
    for (std::size_t y = 0; y < g.ny; ++y) {
      EXPECT_EQ(sst[t * g.size() + y * g.nx], sst[t * g.size() + y * g.nx + 72]);
      EXPECT_EQ(sst[t * g.size() + y * g.nx + 73], sst[t * g.size() + y * g.nx + 1]);
    }
    for (std::size_t x = 0; x < g.nx; ++x)
      EXPECT_EQ(sst[t * g.size() + 36 * g.nx + x], sst[t * g.size() + 35 * g.nx + (g.nx - 1 - x)]);
  }
  fs::remove_all(dir);
}

TEST(SynthOcean, ParamsValidation) {
  config::register_section<SynthOceanParams>();
  auto message = [](const std::string& toml) {
    try {
      config::Document::from_string(toml, "t.toml").get<SynthOceanParams>();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(message("[synth.ocean]\nresolution = 0.7\n"),
            "config t.toml: key 'synth.ocean.resolution': 360 and 180 must be multiples of it, got 0.7");
  EXPECT_EQ(message("[synth.ocean]\ngrid = \"hex\"\n"),
            "config t.toml: key 'synth.ocean.grid': expected 'regular' or 'orca', got 'hex'");
  EXPECT_EQ(
      message("[synth.ocean]\nexperiments = [\"experiment_9\"]\n"),
      "config t.toml: key 'synth.ocean.experiments': unknown experiment 'experiment_9' (known: experiment_1, "
      "experiment_5)");
  EXPECT_EQ(message("[synth.ocean]\nstart_year = 2000\nend_year = 1999\n"),
            "config t.toml: key 'synth.ocean.end_year': must be within start_year (2000)..2300, got 1999");
  EXPECT_EQ(message("[synth.ocean]\nfile_pattern = \"x_{yr}.nc\"\n"),
            "config t.toml: key 'synth.ocean.file_pattern': must contain {year} (one file per year)");
  EXPECT_NE(message("[synth.ocean]\ncalendar = \"lunar\"\n")
                .find("key 'synth.ocean.calendar': unsupported calendar"),
            std::string::npos);
  EXPECT_EQ(message("[synth.ocean]\nresolution = 1.0\n"), "<no error>");
}

TEST(SynthOcean, PatternExpansion) {
  EXPECT_EQ(expand_pattern("{experiment}/a.{tag}_{year}.nc", "experiment_1", "hind", 1958),
            "experiment_1/a.hind_1958.nc");
  EXPECT_THROW(expand_pattern("{experiment", "e", "t", 1), Error);
  EXPECT_THROW(expand_pattern("{month}", "e", "t", 1), Error);
}

}  // namespace
}  // namespace fluxkit::synth

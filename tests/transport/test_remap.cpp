// Conservative regridding (transport/remap.hpp): exact areas, conservation, the dateline, curvilinear cells,
// and agreement with CDO's remapcon on the same grids.
#include "fluxkit/transport/remap.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <numeric>

#include <fmt/format.h>

#include "common/temp_dir.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit::transport {
namespace {

constexpr double kDeg = std::numbers::pi / 180.0;

std::vector<double> centres(double first, double step, std::size_t n) {
  std::vector<double> c(n);
  for (std::size_t k = 0; k < n; ++k)
    c[k] = first + step * static_cast<double>(k);
  return c;
}

// A regular source grid as 2-D centre arrays [ny x nx].
struct Grid2D {
  std::size_t ny, nx;
  std::vector<double> lat, lon;
};
Grid2D regular(const std::vector<double>& lats, const std::vector<double>& lons) {
  Grid2D g{lats.size(), lons.size(), {}, {}};
  for (double la : lats)
    for (double lo : lons)
      g.lat.push_back(la), g.lon.push_back(lo);
  return g;
}

SourceCells corners_of(const Grid2D& g) {
  SourceCells c;
  EXPECT_TRUE(regular_grid_corners(g.lat, g.lon, g.ny, g.nx, c));
  return c;
}

double sphere_band_area(double lat0, double lat1, double dlon) {
  return (std::sin(lat1 * kDeg) - std::sin(lat0 * kDeg)) * dlon * kDeg * kEarthRadius * kEarthRadius;
}

TEST(Remap, TargetAreasAreExactAndTheGlobeSumsTo4PiR2) {
  const auto g = LatLonGrid::from_centres(centres(-89.5, 1.0, 180), centres(-179.5, 1.0, 360));
  double total = 0;
  for (std::size_t i = 0; i < g.nlat(); ++i)
    for (std::size_t j = 0; j < g.nlon(); ++j)
      total += g.cell_area(i, j);
  EXPECT_NEAR(total / (4 * std::numbers::pi * kEarthRadius * kEarthRadius), 1.0, 1e-13);
  EXPECT_NEAR(g.cell_area(100, 7) / sphere_band_area(10.0, 11.0, 1.0), 1.0, 1e-13);
}

TEST(Remap, SameGridIsTheIdentity) {
  const auto lats = centres(30.25, 0.5, 10), lons = centres(-10.25, 0.5, 12);
  const auto src = regular(lats, lons);
  const auto w = conservative_weights(corners_of(src), LatLonGrid::from_centres(lats, lons));
  std::vector<double> f(src.lat.size()), out(f.size());
  std::iota(f.begin(), f.end(), 1.0);
  w.apply(f, out);
  for (std::size_t k = 0; k < f.size(); ++k)
    EXPECT_NEAR(out[k], f[k], 1e-12 * f[k]) << k;
  for (std::size_t k = 0; k < f.size(); ++k)
    EXPECT_NEAR(w.source_area[k] / w.target_area[k], 1.0, 1e-12);
}

TEST(Remap, CoarseToFineConservesTheIntegralAndSplitsCellsByArea) {
  // 2-degree source, 0.5-degree target inside it: every target cell lies in one source cell.
  const auto src = regular(centres(31, 2, 10), centres(-15, 2, 15));
  const auto tgt = LatLonGrid::from_centres(centres(33.25, 0.5, 30), centres(-12.75, 0.5, 40));
  const auto w = conservative_weights(corners_of(src), tgt);
  std::vector<double> f(src.lat.size());
  for (std::size_t k = 0; k < f.size(); ++k)
    f[k] = std::sin(0.37 * static_cast<double>(k)) - 0.2;
  std::vector<double> out(w.n_target);
  w.apply(f, out);
  double src_int = 0, tgt_int = 0;
  for (std::size_t t = 0; t < w.n_target; ++t) {
    tgt_int += out[t] * w.target_area[t];
    for (std::size_t k = w.row_start[t]; k < w.row_start[t + 1]; ++k)
      src_int += w.overlap[k] * f[w.source[k]];
    ASSERT_EQ(w.row_start[t + 1] - w.row_start[t], 1u) << "target cell " << t << " inside one source cell";
  }
  EXPECT_NEAR(tgt_int / src_int, 1.0, 1e-12);
  // Target cell (0, 0) = [33, 33.5] x [-13, -12.5] lies in source cell (y 1, x 1) = [32, 34] x [-14, -12].
  EXPECT_NEAR(out[0], f[1 * 15 + 1], 1e-12);
}

TEST(Remap, FineToCoarseIsTheAreaWeightedMeanAndLandCountsAsZero) {
  const auto src = regular(centres(0.25, 0.5, 4), centres(0.25, 0.5, 4));         // [0, 2] x [0, 2]
  const auto tgt = LatLonGrid::from_centres(centres(1, 2, 2), centres(1, 2, 2));  // [0, 4] x [0, 4], 2-deg
  const auto w = conservative_weights(corners_of(src), tgt);
  std::vector<double> f(16, 3.0);
  f[5] = NAN;  // one land cell
  std::vector<double> out(4);
  w.apply(f, out);
  double land = w.source_area[5], all = 0;
  for (double a : w.source_area)
    all += a;
  EXPECT_NEAR(out[0], 3.0 * (all - land) / w.target_area[0], 1e-12);
  EXPECT_EQ(out[1], 0.0);
  EXPECT_EQ(out[3], 0.0);
  const auto frac = w.covered_fraction(f);
  EXPECT_NEAR(frac[0], (all - land) / w.target_area[0], 1e-12);
  EXPECT_EQ(frac[2], 0.0);
}

TEST(Remap, SourceOnZeroTo360MeetsATargetAcrossGreenwich) {
  const auto src = regular(centres(-89, 2, 90), centres(1, 2, 180));                              // 0..360
  const auto tgt = LatLonGrid::from_centres(centres(33.25, 0.5, 80), centres(-14.75, 0.5, 100));  // -15..35
  const auto w = conservative_weights(corners_of(src), tgt);
  const std::vector<double> ones(src.lat.size(), 1.0);
  std::vector<double> out(w.n_target);
  w.apply(ones, out);
  for (std::size_t t = 0; t < w.n_target; ++t)
    ASSERT_NEAR(out[t], 1.0, 1e-11) << t;
}

TEST(Remap, RotatedCurvilinearCellsConserveTheIntegral) {
  // A 20 x 20 grid of 1-degree cells rotated by 30 degrees about (45 N, 0 E) in the (lon, lat) plane.
  SourceCells c;
  const double ang = 30 * kDeg;
  auto rot = [&](double u, double v, double& lat, double& lon) {
    lon = u * std::cos(ang) - v * std::sin(ang);
    lat = 45 + u * std::sin(ang) + v * std::cos(ang);
  };
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      std::array<double, 4> la{}, lo{};
      const double us[4] = {x - 10.0, x - 9.0, x - 9.0, x - 10.0},
                   vs[4] = {y - 10.0, y - 10.0, y - 9.0, y - 9.0};
      for (int k = 0; k < 4; ++k)
        rot(us[k], vs[k], la[k], lo[k]);
      c.corner_lat.push_back(la);
      c.corner_lon.push_back(lo);
    }
  c.n = c.corner_lat.size();
  const auto tgt = LatLonGrid::from_centres(centres(20.25, 0.5, 100), centres(-29.75, 0.5, 120));
  const auto w = conservative_weights(c, tgt);
  std::vector<double> f(c.n);
  for (std::size_t k = 0; k < f.size(); ++k)
    f[k] = 1.0 + 0.01 * static_cast<double>(k % 37);
  std::vector<double> out(w.n_target);
  w.apply(f, out);
  double src_int = 0, tgt_int = 0;
  for (std::size_t k = 0; k < c.n; ++k)
    src_int += w.source_area[k] * f[k];  // all inside the target
  for (std::size_t t = 0; t < w.n_target; ++t)
    tgt_int += out[t] * w.target_area[t];
  EXPECT_NEAR(tgt_int / src_int, 1.0, 1e-10);
  // Each source cell is split without loss.
  std::vector<double> covered(c.n, 0.0);
  for (std::size_t k = 0; k < w.overlap.size(); ++k)
    covered[w.source[k]] += w.overlap[k];
  for (std::size_t k = 0; k < c.n; ++k)
    EXPECT_NEAR(covered[k] / w.source_area[k], 1.0, 1e-10) << k;
}

TEST(Remap, BadGridsAreErrors) {
  const std::vector<double> uneven = {1, 2, 4}, even = {1, 2, 3};
  EXPECT_THROW(LatLonGrid::from_centres(uneven, even), Error);
  EXPECT_THROW(LatLonGrid::from_centres(even, std::vector<double>{5.0}), Error);
  SourceCells c;
  const std::vector<double> lat = {0, 1, 2, 3.5}, lon = {0, 1, 0, 1};  // 2 x 2, lat varies along x
  EXPECT_FALSE(regular_grid_corners(lat, lon, 2, 2, c));
}

// CDO's remapcon (destarea normalisation: cell value = overlap-weighted sum / target area, as fluxkit) on a
// 2-degree source with a missing cell onto a 0.5-degree target that straddles the source's edge.
TEST(Remap, AgreesWithCdoRemapcon) {
  if (std::system("cdo --version > /dev/null 2>&1") != 0)
    FAIL() << "cdo is not installed (scripts/install-deps installs it)";
  fluxkit::testing::TempDir dir("fluxkit_remap_cdo");
  const auto lats = centres(31, 2, 8), lons = centres(-17, 2, 12);
  const auto src = regular(lats, lons);
  std::vector<double> f(src.lat.size());
  for (std::size_t k = 0; k < f.size(); ++k)
    f[k] = 0.5 + std::cos(0.71 * static_cast<double>(k));
  f[13] = NAN;
  {
    nc::Writer wr(dir / "src.nc");
    wr.add_dim("lat", lats.size());
    wr.add_dim("lon", lons.size());
    wr.add_var("lat", NC_DOUBLE, {"lat"});
    wr.put_att("lat", "units", "degrees_north");
    wr.put_att("lat", "standard_name", "latitude");
    wr.add_var("lon", NC_DOUBLE, {"lon"});
    wr.put_att("lon", "units", "degrees_east");
    wr.put_att("lon", "standard_name", "longitude");
    wr.add_var("f", NC_DOUBLE, {"lat", "lon"});
    wr.put_att("f", "_FillValue", -999.0);
    wr.write("lat", std::span<const double>(lats));
    wr.write("lon", std::span<const double>(lons));
    std::vector<double> filled = f;
    for (double& v : filled)
      if (std::isnan(v)) v = -999.0;
    wr.write("f", std::span<const double>(filled));
    wr.commit();
  }
  // Target: 0.5 degrees over [32, 44] x [-20, 5]: partly outside the source (which spans [30, 46] x [-18,
  // 6]).
  const auto tl = centres(32.25, 0.5, 24), tn = centres(-19.75, 0.5, 50);
  {
    std::ofstream g(dir / "grid.txt");
    g << fmt::format(
        "gridtype = lonlat\nxsize = {}\nysize = {}\nxfirst = {}\nxinc = 0.5\nyfirst = {}\nyinc = 0.5\n",
        tn.size(), tl.size(), tn.front(), tl.front());
  }
  const std::string cmd = fmt::format(
      "cd '{}' && CDO_REMAP_NORM=destarea cdo -s remapcon,grid.txt src.nc out.nc", dir.path().string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nc::File out(dir / "out.nc");
  const auto cdo = out.read_double("f");
  const auto w = conservative_weights(corners_of(src), LatLonGrid::from_centres(tl, tn));
  std::vector<double> mine(w.n_target);
  w.apply(f, mine);
  ASSERT_EQ(cdo.size(), mine.size());
  std::size_t compared = 0;
  for (std::size_t t = 0; t < mine.size(); ++t) {
    if (std::isnan(cdo[t])) {  // CDO: no valid source cell overlaps; fluxkit: zero flux
      EXPECT_EQ(mine[t], 0.0) << t;
      continue;
    }
    EXPECT_NEAR(mine[t], cdo[t], 1e-6 * std::max(1.0, std::abs(cdo[t]))) << "target cell " << t;
    ++compared;
  }
  EXPECT_GT(compared, 1000u);
}

}  // namespace
}  // namespace fluxkit::transport

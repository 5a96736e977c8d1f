#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/cells.hpp"
#include "fluxkit/dataset/numpy_random.hpp"
#include "fluxkit/dataset/regions.hpp"
#include "synth/ocean_fields.hpp"

namespace fluxkit {
namespace {

TEST(Regions, BoundaryCellsAsTheSeed) {
  const Region na = find_region("north_atlantic"), so = find_region("southern_ocean"),
               ar = find_region("arctic"), eq = find_region("equatorial_pacific"), gl = find_region("global");
  EXPECT_EQ(na.dir_name, "North_Atlantic");
  EXPECT_TRUE(na.contains(10.0, -75.0));  // closed at every edge
  EXPECT_TRUE(na.contains(70.0, 0.0));
  EXPECT_FALSE(na.contains(9.999, -30.0));
  EXPECT_FALSE(na.contains(40.0, 0.001));
  EXPECT_TRUE(so.contains(-45.0, 120.0));
  EXPECT_FALSE(so.contains(-44.99, 120.0));
  EXPECT_FALSE(ar.contains(70.0, 10.0));  // lat > 70, open
  EXPECT_TRUE(ar.contains(70.001, 10.0));
  EXPECT_TRUE(eq.contains(0.0, 180.0));  // across the dateline
  EXPECT_TRUE(eq.contains(0.0, -180.0));
  EXPECT_TRUE(eq.contains(10.0, 105.0));
  EXPECT_TRUE(eq.contains(-10.0, -80.0));
  EXPECT_FALSE(eq.contains(0.0, -79.9));
  EXPECT_FALSE(eq.contains(0.0, 104.9));
  EXPECT_FALSE(eq.contains(10.1, 150.0));
  EXPECT_TRUE(eq.contains(0.0, 200.0));  // 0..360 longitudes are folded: 200 E = -160
  EXPECT_TRUE(gl.contains(-89.9, 33.0));
}

TEST(Regions, CustomBoxes) {
  const Region r = parse_region("kuroshio: 25, 45, 120, 160");
  EXPECT_EQ(r.name, "kuroshio");
  EXPECT_TRUE(r.contains(25.0, 160.0));
  EXPECT_FALSE(r.contains(24.9, 140.0));
  const Region dateline = parse_region("pacific_band: -5, 5, 170, -170");
  EXPECT_TRUE(dateline.contains(0.0, 175.0));
  EXPECT_TRUE(dateline.contains(0.0, -175.0));
  EXPECT_FALSE(dateline.contains(0.0, 0.0));
  EXPECT_EQ(find_region("kuroshio", {r}).name, "kuroshio");
  EXPECT_THROW(parse_region("bad 1, 2, 3, 4"), Error);
  EXPECT_THROW(parse_region("bad: 1, 2, 3"), Error);
  EXPECT_THROW(parse_region("bad: 10, 5, 3, 4"), Error);
  EXPECT_THROW(parse_region("bad: a, 5, 3, 4"), Error);
  try {
    find_region("atlantis");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown region 'atlantis' (known: global, north_atlantic"),
              std::string::npos);
  }
}

nemo::Grid to_nemo(const synth::SynthGrid& s) {
  nemo::Grid g;
  g.ny = s.ny;
  g.nx = s.nx;
  g.lat = s.lat;
  g.lon = s.lon;
  g.tmask = s.tmask;
  g.e1t = s.e1t;
  g.e2t = s.e2t;
  g.has_tmask = true;
  return g;
}

TEST(CellTable, OrcaHaloAndFoldRemovedToInteriorCells) {
  const nemo::Grid regular = to_nemo(synth::make_grid(2.0, false)),
                   orca = to_nemo(synth::make_grid(2.0, true));
  const CellTable r = build_cell_table(regular), o = build_cell_table(orca);
  EXPECT_EQ(r.halo_columns, 0u);
  EXPECT_EQ(r.repeated_locations, 0u);
  EXPECT_EQ(o.halo_columns, 2u);
  EXPECT_GT(o.repeated_locations, 100u);
  ASSERT_EQ(o.cells.size(), r.cells.size());  // the same distinct ocean locations
  std::set<std::pair<double, double>> locations;
  for (std::int64_t k : o.cells) {
    const auto x = static_cast<std::size_t>(k) % orca.nx, y = static_cast<std::size_t>(k) / orca.nx;
    EXPECT_NE(x, 0u);
    EXPECT_NE(x, orca.nx - 1);
    EXPECT_LT(y, orca.ny - 1);  // never the fold row
    EXPECT_EQ(orca.tmask[static_cast<std::size_t>(k)], 1);
    locations.insert({orca.lat[static_cast<std::size_t>(k)], orca.lon[static_cast<std::size_t>(k)]});
  }
  EXPECT_EQ(locations.size(), o.cells.size());
}

TEST(Subsample, FluxkitModeIsStableAndNested) {
  const nemo::Grid g = to_nemo(synth::make_grid(2.0, false));
  const CellTable t = build_cell_table(g);
  const auto a = subsample(t, 0.05, SubsampleMode::Fluxkit, 42),
             b = subsample(t, 0.05, SubsampleMode::Fluxkit, 42);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), static_cast<std::size_t>(
                          numpy_compat::pandas_sample_size(0.05, static_cast<std::int64_t>(t.cells.size()))));
  const auto bigger = subsample(t, 0.2, SubsampleMode::Fluxkit, 42);
  EXPECT_TRUE(std::includes(bigger.begin(), bigger.end(), a.begin(), a.end()));  // fractions nest
  EXPECT_NE(subsample(t, 0.05, SubsampleMode::Fluxkit, 43), a);
  EXPECT_EQ(subsample(t, 1.0, SubsampleMode::Fluxkit, 42).size(), t.cells.size());
  EXPECT_THROW(subsample(t, 0.0, SubsampleMode::Fluxkit, 42), Error);
}

TEST(Subsample, NumpyModeIsPandasSample) {
  const nemo::Grid g = to_nemo(synth::make_grid(2.0, false));
  const CellTable t = build_cell_table(g);
  const auto s = subsample(t, 0.01, SubsampleMode::Numpy, 42);
  const auto expected = numpy_compat::pandas_sample(0.01, static_cast<std::int64_t>(t.cells.size()), 42);
  ASSERT_EQ(s.size(), expected.size());
  for (std::size_t i = 0; i < s.size(); ++i)
    EXPECT_EQ(s[i], static_cast<std::size_t>(expected[i]));
  // Region filtering after sampling keeps grid order.
  const auto cells = cells_in_region(t, s, g, find_region("southern_ocean"));
  EXPECT_TRUE(std::is_sorted(cells.begin(), cells.end()));
  for (auto k : cells)
    EXPECT_LE(g.lat[static_cast<std::size_t>(k)], -45.0);
}

}  // namespace
}  // namespace fluxkit

#include <gtest/gtest.h>

#include <netcdf.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/sample_store.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

// A hand-made store: 3 cells, 6 months, features [a, b, s] (s static), window 3, lead 0, target_start 2.
struct TinyStore {
  fs::path path;
  Normalisation stats{{10.0, -1.0, 0.5}, {2.0, 4.0, 0.25}, 3.0, 0.5};
  TinyStore() {
    path = fs::temp_directory_path() / ("fluxkit_store_" + std::to_string(::getpid()) + ".nc");
    StoreHeader h;
    h.split = "test";
    h.experiment = "experiment_1";
    h.region = "global";
    h.first_year = h.last_year = 2001;
    h.features = {"a", "b", "s"};
    h.is_static = {false, false, true};
    h.target = "flux";
    h.target_units = "mol m-2 yr-1";
    h.window = 3;
    h.first_month = {2000, 11};
    h.months = 6;
    h.target_start = 2;
    h.grid_ny = 2;
    h.grid_nx = 4;
    SampleStoreWriter w(path, h, Provenance{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"});
    // value(cell, t, f) = 100 c + 10 t + f, target 1000 + 100 c + t; appended in two pieces
    for (int piece = 0; piece < 2; ++piece) {
      std::vector<CellCoords> cells;
      std::vector<float> in, tg;
      for (int c = piece == 0 ? 0 : 2; c < (piece == 0 ? 2 : 3); ++c) {
        cells.push_back({10.0 * c, 20.0 * c, c, c + 1, 1e6});
        for (int t = 0; t < 6; ++t) {
          for (int f = 0; f < 3; ++f)
            in.push_back(static_cast<float>(f == 2 ? 100 * c : 100 * c + 10 * t + f));
          tg.push_back(static_cast<float>(1000 + 100 * c + t));
        }
      }
      w.append(cells, in, tg);
    }
    w.commit(stats);
  }
  ~TinyStore() { fs::remove(path); }
  float z(int c, int t, int f) const {
    const double v = f == 2 ? 100 * c : 100 * c + 10 * t + f;
    return static_cast<float>((v - stats.feature_mean[static_cast<std::size_t>(f)]) /
                              stats.feature_std[static_cast<std::size_t>(f)]);
  }
};

TEST(SampleStore, RoundTripAndWindowIndexing) {
  TinyStore tiny;
  const SampleStore s(tiny.path);
  EXPECT_EQ(s.cells(), 3u);
  EXPECT_EQ(s.months(), 6u);
  EXPECT_EQ(s.windows_per_cell(), 4u);  // targets at months 2..5
  EXPECT_EQ(s.windows(), 12u);
  EXPECT_EQ(s.flat_width(), 3u * 2 + 1);
  EXPECT_EQ(s.header().features, (std::vector<std::string>{"a", "b", "s"}));
  EXPECT_EQ(s.header().target_units, "mol m-2 yr-1");
  EXPECT_EQ(s.month_at(2).year, 2001);
  EXPECT_EQ(s.month_at(2).month, 1);
  EXPECT_EQ(s.cell(2).y, 2);
  EXPECT_EQ(s.cell(2).x, 3);
  EXPECT_DOUBLE_EQ(s.cell(1).lat, 10.0);
  EXPECT_DOUBLE_EQ(s.stats().target_std, 0.5);
  // Window 5 = cell 1, target month 3: inputs months 1..3.
  const std::uint64_t id = 5;
  std::vector<float> x(3 * 3), y(1);
  s.gather_sequence(std::span<const std::uint64_t>(&id, 1), x, y);
  for (int w = 0; w < 3; ++w)
    for (int f = 0; f < 3; ++f)
      EXPECT_FLOAT_EQ(x[static_cast<std::size_t>(w * 3 + f)], tiny.z(1, 1 + w, f));
  EXPECT_FLOAT_EQ(y[0], static_cast<float>((1000 + 100 + 3 - 3.0) / 0.5));
  EXPECT_DOUBLE_EQ(s.denormalise_target(y[0]), 1103.0);
  // Flat: dynamic a, b at months 1, 2, 3 then the static s once.
  std::vector<float> flat(7);
  s.gather_flat(std::span<const std::uint64_t>(&id, 1), flat, y);
  const std::vector<float> expected = {tiny.z(1, 1, 0), tiny.z(1, 1, 1), tiny.z(1, 2, 0), tiny.z(1, 2, 1),
                                       tiny.z(1, 3, 0), tiny.z(1, 3, 1), tiny.z(1, 1, 2)};
  for (std::size_t i = 0; i < 7; ++i)
    EXPECT_FLOAT_EQ(flat[i], expected[i]) << i;
  // Partial loads.
  const SampleStore part(tiny.path, 1, 3);
  EXPECT_EQ(part.cells(), 2u);
  EXPECT_EQ(part.total_cells(), 3u);
  EXPECT_DOUBLE_EQ(part.cell(0).lat, 10.0);
}

TEST(SampleStore, BatchesCoverEveryWindowOnceInSeededOrder) {
  TinyStore tiny;
  const SampleStore s(tiny.path);
  WindowBatches a(s, 5, WindowLayout::Sequence, true, 7), b(s, 5, WindowLayout::Flat, true, 7);
  EXPECT_EQ(a.batches(), 3u);
  std::vector<float> x, y, x2, y2;
  std::vector<std::uint64_t> ids, ids2, all;
  while (a.next(x, y, ids)) {
    ASSERT_TRUE(b.next(x2, y2, ids2));
    EXPECT_EQ(ids, ids2);  // same seed, same order, whatever the layout
    EXPECT_EQ(x.size(), ids.size() * 9);
    EXPECT_EQ(x2.size(), ids.size() * 7);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  std::vector<std::uint64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint64_t> iota(12);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(all, iota);  // shuffled
  EXPECT_EQ(window_order(12, 7, true), window_order(12, 7, true));
  EXPECT_NE(window_order(1000, 7, true), window_order(1000, 8, true));
  EXPECT_EQ(window_order(5, 7, false), (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
}

TEST(SampleStore, RejectsNewerFormatNaNAndWrongBuffers) {
  TinyStore tiny;
  {
    const SampleStore s(tiny.path);
    std::vector<float> x(5), y(1);
    const std::uint64_t id = 0;
    EXPECT_THROW(s.gather_sequence(std::span<const std::uint64_t>(&id, 1), x, y), Error);
    const std::uint64_t bad = 12;
    std::vector<float> x9(9);
    EXPECT_THROW(s.gather_sequence(std::span<const std::uint64_t>(&bad, 1), x9, y), Error);
  }
  int ncid = -1, varid = -1;
  ASSERT_EQ(nc_open(tiny.path.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_inq_varid(ncid, "inputs", &varid), NC_NOERR);
  const std::size_t idx[3] = {1, 4, 0};
  const float nan = std::nanf("");
  ASSERT_EQ(nc_put_var1_float(ncid, varid, idx, &nan), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);
  try {
    SampleStore s(tiny.path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(e.variable(), "inputs");
    EXPECT_NE(std::string(e.what()).find("NaN at cell 1, month 4, feature 'a'"), std::string::npos)
        << e.what();
  }
  ASSERT_EQ(nc_open(tiny.path.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_redef(ncid), NC_NOERR);
  const int v = kSampleStoreVersion + 1;
  ASSERT_EQ(nc_put_att_int(ncid, NC_GLOBAL, "fluxkit_store_version", NC_INT, 1, &v), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);
  try {
    SampleStore s(tiny.path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this fluxkit reads"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fluxkit

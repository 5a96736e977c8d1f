#include <gtest/gtest.h>

#include <netcdf.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/cells.hpp"
#include "fluxkit/dataset/numpy_random.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

// One synthetic experiment (10-degree grid, 1999-2005, both experiments) shared by the tests.
class Prepare : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("fluxkit_prepare_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* grid : {"regular", "orca"}) {
      synth::SynthOceanParams p;
      p.output_dir = (root_ / "data" / grid).string();
      p.start_year = 1999;
      p.end_year = 2005;
      p.resolution = 10.0;
      p.grid = grid;
      Context ctx;
      synth::generate_ocean(p, ctx, kProv);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static DataParams data(const char* grid = "regular") {
    DataParams d;
    d.root = (root_ / "data" / grid).string();
    return d;
  }
  static PrepareParams params(const std::string& name) {
    PrepareParams p;
    p.output_dir = (root_ / "out" / name).string();
    p.train_years = {2000, 2001};
    p.validation_years = {2002, 2003};
    p.test_years = {2005, 2005};
    p.test_experiments = {"experiment_1", "experiment_5"};
    p.train_fraction = p.validation_fraction = 0.2;
    return p;
  }
  static std::string error_of(const PrepareParams& p, const DataParams& d) {
    try {
      prepare_samples(p, d, Context{}, kProv);
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  }
  static inline fs::path root_;
};

TEST_F(Prepare, SplitsHaveTheRightWindows) {
  const auto p = params("splits");
  const auto stores = prepare_samples(p, data(), Context{}, kProv);
  ASSERT_EQ(stores.size(), 2u + 2 * 3);  // train, validation, 2 experiments x 3 regions
  const SampleStore train(p.train_path()), val(p.validation_path());
  EXPECT_EQ(train.months(), 24u);
  EXPECT_EQ(train.windows_per_cell(), 21u);  // first target April 2000, windows cross the year boundary
  EXPECT_EQ(train.month_at(3).month, 4);
  EXPECT_EQ(val.months(), 27u);            // October 2001 .. December 2003
  EXPECT_EQ(val.windows_per_cell(), 24u);  // January-March 2002 kept thanks to the context
  EXPECT_EQ(val.month_at(3).year, 2002);
  EXPECT_EQ(val.month_at(3).month, 1);
  // Validation takes the same cells as training.
  ASSERT_EQ(train.cells(), val.cells());
  for (std::size_t c = 0; c < train.cells(); ++c)
    EXPECT_EQ(train.cell(c).x, val.cell(c).x);
  const SampleStore test(p.test_path("experiment_1", "global", 2005));
  EXPECT_EQ(test.windows_per_cell(), 12u);
  EXPECT_EQ(test.header().region, "global");
  EXPECT_EQ(test.stats().feature_mean, train.stats().feature_mean);  // training statistics everywhere
  EXPECT_NE(p.test_path("experiment_1", "north_atlantic", 2005)
                .string()
                .find("test/experiment_1/North_Atlantic/North_Atlantic_test_2005_experiment_1.nc"),
            std::string::npos);
  for (const auto& s : stores)
    EXPECT_EQ(s.windows, s.cells * (s.split == "train" ? 21u : s.split == "test" ? 12u : 24u));

  // Without context the seed's behaviour: January-March lost.
  auto q = params("no_context");
  q.validation_context = false;
  q.splits = {"train", "validation"};
  prepare_samples(q, data(), Context{}, kProv);
  EXPECT_EQ(SampleStore(q.validation_path()).windows_per_cell(), 21u);
}

TEST_F(Prepare, WindowContentsAndNormalisationMatchTheFiles) {
  const auto p = params("contents");
  prepare_samples(p, data(), Context{}, kProv);
  const SampleStore train(p.train_path());
  const SampleStore test(p.test_path("experiment_1", "global", 2005));
  const nemo::File y2004(data().file("experiment_1", 2004)), y2005(data().file("experiment_1", 2005));
  const auto sst4 = y2004.read_all("SST"), sst5 = y2005.read_all("SST"),
             flux5 = y2005.read_all("co2flux_pre");
  const std::size_t n = y2005.grid().size();
  const std::size_t F = test.features();
  // The January 2005 window of every cell: October-December 2004, then January 2005.
  for (std::size_t c = 0; c < test.cells(); c += 7) {
    const auto k =
        static_cast<std::size_t>(test.cell(c).y) * y2005.grid().nx + static_cast<std::size_t>(test.cell(c).x);
    const std::uint64_t id = c * test.windows_per_cell();  // first target = January
    std::vector<float> x(4 * F), y(1);
    test.gather_sequence(std::span<const std::uint64_t>(&id, 1), x, y);
    const double mean = test.stats().feature_mean[0], sd = test.stats().feature_std[0];
    EXPECT_NEAR(x[0 * F], (sst4[9 * n + k] - mean) / sd, 1e-5);
    EXPECT_NEAR(x[1 * F], (sst4[10 * n + k] - mean) / sd, 1e-5);
    EXPECT_NEAR(x[2 * F], (sst4[11 * n + k] - mean) / sd, 1e-5);
    EXPECT_NEAR(x[3 * F], (sst5[0 * n + k] - mean) / sd, 1e-5);
    EXPECT_NEAR(test.denormalise_target(y[0]), flux5[k], 1e-4);
    // Position encodings, then z-normalised.
    const double lat = y2005.grid().lat[k];
    EXPECT_NEAR(x[10] * test.stats().feature_std[10] + test.stats().feature_mean[10],
                std::sin(lat * M_PI / 180), 1e-5);
  }
  // Statistics: mean and std (ddof 1) of the training cell-months, computed directly.
  double s = 0, s2 = 0, cnt = 0;
  for (int year : {2000, 2001}) {
    const auto v = nemo::File(data().file("experiment_5", year)).read_all("SST");
    for (std::size_t c = 0; c < train.cells(); ++c) {
      const auto k = static_cast<std::size_t>(train.cell(c).y) * y2005.grid().nx +
                     static_cast<std::size_t>(train.cell(c).x);
      for (std::size_t t = 0; t < 12; ++t)
        s += v[t * n + k], s2 += static_cast<double>(v[t * n + k]) * v[t * n + k], ++cnt;
    }
  }
  const double mean = s / cnt, sd = std::sqrt((s2 - cnt * mean * mean) / (cnt - 1));
  EXPECT_NEAR(train.stats().feature_mean[0], mean, 1e-9 * std::abs(mean) + 1e-9);
  EXPECT_NEAR(train.stats().feature_std[0], sd, 1e-7 * sd);
  // The normalised training features have mean 0 and std 1 over the training cell-months.
  double zs = 0, zs2 = 0;
  for (std::size_t c = 0; c < train.cells(); ++c)
    for (std::size_t t = 0; t < train.months(); ++t) {
      const double z = train.inputs_of(c)[t * F + 0];
      zs += z, zs2 += z * z;
    }
  const double m = static_cast<double>(train.cells() * train.months());
  EXPECT_NEAR(zs / m, 0.0, 1e-5);
  EXPECT_NEAR(std::sqrt((zs2 - m * (zs / m) * (zs / m)) / (m - 1)), 1.0, 1e-5);
}

TEST_F(Prepare, RegionsHoldOnlyTheirCells) {
  auto p = params("regions");
  p.splits = {"train", "test"};
  p.test_regions = {"global", "north_atlantic", "southern_ocean", "arctic", "equatorial_pacific", "mybox"};
  p.custom_regions = {"mybox: -30, 30, -40, 20"};
  prepare_samples(p, data(), Context{}, kProv);
  const SampleStore global(p.test_path("experiment_5", "global", 2005));
  std::size_t total = 0;
  for (const auto& r : p.test_regions) {
    const SampleStore s(p.test_path("experiment_5", r, 2005));
    const Region region = find_region(r, p.user_regions());
    EXPECT_GT(s.cells(), 0u) << r;
    for (std::size_t c = 0; c < s.cells(); ++c)
      EXPECT_TRUE(region.contains(s.cell(c).lat, s.cell(c).lon)) << r;
    std::size_t expected = 0;
    for (std::size_t c = 0; c < global.cells(); ++c)
      expected += region.contains(global.cell(c).lat, global.cell(c).lon);
    EXPECT_EQ(s.cells(), expected) << r;
    total += s.cells();
  }
  EXPECT_GT(total, global.cells());
}

TEST_F(Prepare, OrcaGridGivesTheSameCellsWithoutDuplicates) {
  auto p = params("orca");
  p.splits = {"train", "test"};
  p.test_regions = {"global"};
  p.test_experiments = {"experiment_1"};
  prepare_samples(p, data("orca"), Context{}, kProv);
  auto q = params("orca_regular");
  q.splits = {"train", "test"};
  q.test_regions = {"global"};
  q.test_experiments = {"experiment_1"};
  prepare_samples(q, data("regular"), Context{}, kProv);
  const SampleStore o(p.test_path("experiment_1", "global", 2005)),
      r(q.test_path("experiment_1", "global", 2005));
  ASSERT_EQ(o.cells(), r.cells());
  std::set<std::pair<double, double>> seen;
  for (std::size_t c = 0; c < o.cells(); ++c) {
    EXPECT_TRUE(seen.insert({o.cell(c).lat, o.cell(c).lon}).second);
    EXPECT_GT(o.cell(c).x, 0);
    EXPECT_LT(o.cell(c).x, 37);
  }
  // Same series: the ORCA file's interior equals the regular grid.
  for (std::size_t c = 0; c < o.cells(); ++c) {
    const auto a = o.target_of(c), b = r.target_of(c);
    ASSERT_EQ(o.cell(c).x - 1, r.cell(c).x);
    for (std::size_t t = 0; t < a.size(); ++t)
      ASSERT_NEAR(o.denormalise_target(a[t]), r.denormalise_target(b[t]), 1e-5);
  }
}

TEST_F(Prepare, NumpyModeSelectsPandasCells) {
  auto p = params("numpy");
  p.splits = {"train"};
  p.subsample = "numpy";
  p.train_fraction = 0.1;
  prepare_samples(p, data(), Context{}, kProv);
  const SampleStore s(p.train_path());
  const nemo::File f(data().file("experiment_5", 2000));
  const CellTable table = build_cell_table(f.grid());
  std::vector<std::int64_t> expected;
  for (auto pos : numpy_compat::pandas_sample(0.1, static_cast<std::int64_t>(table.cells.size()), 42))
    expected.push_back(table.cells[static_cast<std::size_t>(pos)]);
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(s.cells(), expected.size());
  for (std::size_t c = 0; c < s.cells(); ++c)
    EXPECT_EQ(static_cast<std::int64_t>(s.cell(c).y) * 36 + s.cell(c).x, expected[c]);
}

TEST_F(Prepare, CellWithAGapIsDroppedNotWindowedAcross) {
  const fs::path copy = root_ / "gap_data";
  fs::remove_all(copy);
  fs::copy(root_ / "data" / "regular", copy, fs::copy_options::recursive);
  DataParams d = data();
  d.root = copy.string();
  auto p = params("gap");
  p.splits = {"train", "test"};
  p.test_regions = {"global"};
  p.test_experiments = {"experiment_1"};
  const auto before = prepare_samples(p, data(), Context{}, kProv);
  // Punch a NaN into one ocean cell of March 2005.
  const SampleStore full(p.test_path("experiment_1", "global", 2005));
  const auto victim = full.cell(5);
  const std::size_t full_cells = full.cells();
  int ncid = -1, varid = -1;
  const auto path = d.file("experiment_1", 2005).string();
  ASSERT_EQ(nc_open(path.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_inq_varid(ncid, "mixed_layer_depth", &varid), NC_NOERR);
  const std::size_t idx[3] = {2, static_cast<std::size_t>(victim.y), static_cast<std::size_t>(victim.x)};
  const float nan = std::nanf("");
  ASSERT_EQ(nc_put_var1_float(ncid, varid, idx, &nan), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);
  p.output_dir = (root_ / "out" / "gap2").string();
  const auto after = prepare_samples(p, d, Context{}, kProv);
  const SampleStore gap(p.test_path("experiment_1", "global", 2005));
  EXPECT_EQ(gap.cells(), full_cells - 1);
  EXPECT_EQ(after.back().dropped_cells, 1u);
  for (std::size_t c = 0; c < gap.cells(); ++c)
    EXPECT_FALSE(gap.cell(c).y == victim.y && gap.cell(c).x == victim.x);
  (void)before;
}

TEST_F(Prepare, BadInputsAreClearErrorsAndLeaveNoStore) {
  // Missing years: all named at once.
  auto p = params("bad_years");
  p.train_years = {1995, 2000};
  std::string e = error_of(p, data());
  EXPECT_NE(e.find("train set of experiment_5: missing 4 yearly file(s): 1995"), std::string::npos) << e;
  EXPECT_NE(e.find("1998 ("), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.train_path()));

  // Missing variable.
  p = params("bad_var");
  DataParams d = data();
  d.features = {"SST", "chlorophyll"};
  e = error_of(p, d);
  EXPECT_NE(e.find("variable 'chlorophyll': not found"), std::string::npos) << e;
  EXPECT_NE(e.find("wind_2000.nc"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.train_path()));

  // A region without cells.
  p = params("bad_region");
  p.splits = {"train", "test"};
  p.custom_regions = {"sahara: 15, 30, 0, 20"};
  p.test_regions = {"global", "sahara"};
  e = error_of(p, data());
  EXPECT_NE(e.find("region 'sahara' has no ocean cells"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.test_path("experiment_1", "global", 2005)));

  // Inconsistent grids between years, and a file holding the wrong year.
  const fs::path copy = root_ / "bad_data";
  fs::remove_all(copy);
  fs::copy(root_ / "data" / "regular", copy, fs::copy_options::recursive);
  d = data();
  d.root = copy.string();
  fs::copy_file(data("orca").file("experiment_5", 2001), d.file("experiment_5", 2001),
                fs::copy_options::overwrite_existing);
  p = params("bad_grid");
  e = error_of(p, d);
  EXPECT_NE(e.find("wind_2001.nc: variable 'nav_lat': grid differs from"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.train_path()));
  fs::copy_file(data().file("experiment_5", 2000), d.file("experiment_5", 2001),
                fs::copy_options::overwrite_existing);
  e = error_of(p, d);
  EXPECT_NE(e.find("wind_2001.nc: variable 'time_counter': covers 2000-01 .. 2000-12, but 2001-01 .. 2001-12 "
                   "are needed"),
            std::string::npos)
      << e;

  // Validation or test alone need the training statistics.
  p = params("no_train");
  p.splits = {"test"};
  e = error_of(p, data());
  EXPECT_NE(e.find("train.nc: the training store is needed"), std::string::npos) << e;
}

TEST_F(Prepare, PrepareSeedFixesTheCellsWhateverTheRunSeed) {
  auto cells_of = [](const fs::path& store) {
    const SampleStore s(store);
    std::vector<std::pair<int, int>> out;
    for (std::size_t c = 0; c < s.cells(); ++c)
      out.emplace_back(s.cell(c).y, s.cell(c).x);
    return out;
  };
  auto p = params("seed_a");
  p.splits = {"train"};
  p.seed = 7;
  Context run1, run2;
  run1.seed = 1;
  run2.seed = 2;
  prepare_samples(p, data(), run1, kProv);
  auto q = p;
  q.output_dir = (root_ / "out" / "seed_b").string();
  prepare_samples(q, data(), run2, kProv);
  EXPECT_EQ(cells_of(p.train_path()), cells_of(q.train_path())) << "[prepare] seed decides the cells";
  EXPECT_EQ(SampleStore(q.train_path()).header().seed, 7u);
  // Without [prepare] seed the run's seed decides.
  auto r = p;
  r.seed = -1;
  r.output_dir = (root_ / "out" / "seed_c").string();
  prepare_samples(r, data(), run2, kProv);
  EXPECT_EQ(SampleStore(r.train_path()).header().seed, 2u);
  EXPECT_NE(cells_of(r.train_path()), cells_of(p.train_path()));
  EXPECT_EQ(r.subsample_seed(run2), 2u);
  EXPECT_EQ(p.subsample_seed(run2), 7u);
}

TEST_F(Prepare, TestYearsOverlappingTrainingOrValidationAreAnError) {
  config::register_section<PrepareParams>();
  auto message = [](const std::string& toml) {
    try {
      config::Document::from_string(toml, "t.toml").get<PrepareParams>();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  const std::string base =
      "[prepare]\ntrain_experiment = \"experiment_5\"\ntrain_years = [1958, 1988]\n"
      "validation_years = [1989, 2008]\ntest_experiments = [\"experiment_1\", \"experiment_5\"]\n";
  EXPECT_EQ(message(base + "test_years = [2009, 2018]\n"), "<no error>");
  EXPECT_EQ(
      message(base + "test_years = [1959, 2018]\n"),
      "config t.toml: key 'prepare.test_years': test years 1959-2018 of experiment_5 overlap the training "
      "years 1958-1988 of the same experiment (in 1959-1988): test scores there would be in-sample. "
      "Choose other test years or experiments, or set [prepare] allow_overlap = true");
  EXPECT_NE(message(base + "test_years = [2008, 2010]\n")
                .find("overlap the validation years 1989-2008 of the same experiment (in 2008)"),
            std::string::npos);
  EXPECT_EQ(message(base + "test_years = [1959, 2018]\nallow_overlap = true\n"), "<no error>");
  // Another experiment in the same years is the seed's cross-experiment protocol: fine.
  EXPECT_EQ(message("[prepare]\ntrain_experiment = \"experiment_5\"\ntest_years = [1959, 2018]\n"
                    "test_experiments = [\"experiment_1\"]\n"),
            "<no error>");

  // Called directly: the same error, and nothing is written.
  auto p = params("overlap");
  p.test_years = {2001, 2001};  // a training year of experiment_5
  const std::string e = error_of(p, data());
  EXPECT_NE(e.find("key 'prepare.test_years'"), std::string::npos) << e;
  EXPECT_NE(e.find("overlap the training years 2000-2001"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.output_dir));
  p.allow_overlap = true;
  p.splits = {"train", "test"};
  p.test_experiments = {"experiment_5"};
  EXPECT_NO_THROW(prepare_samples(p, data(), Context{}, kProv));
  EXPECT_TRUE(fs::exists(p.test_path("experiment_5", "global", 2001)));
}

TEST_F(Prepare, ConfigValidation) {
  config::register_section<PrepareParams>();
  auto message = [](const std::string& toml) {
    try {
      config::Document::from_string(toml, "t.toml").get<PrepareParams>();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(
      message("[prepare]\ntrain_years = [1990]\n"),
      "config t.toml: key 'prepare.train_years': expected [first, last] with first <= last, got [1990]");
  EXPECT_EQ(
      message("[prepare]\nsplits = [\"training\"]\n"),
      "config t.toml: key 'prepare.splits': unknown split 'training' (expected train, validation, test)");
  EXPECT_NE(message("[prepare]\ntest_regions = [\"atlantis\"]\n").find("unknown region 'atlantis'"),
            std::string::npos);
  EXPECT_NE(message("[prepare]\ncustom_regions = [\"x: 1, 2\"]\n").find("key 'prepare.custom_regions'"),
            std::string::npos);
  EXPECT_EQ(message("[prepare]\ntrain_fraction = 0\n"),
            "config t.toml: key 'prepare.train_fraction': must be in (0, 1], got 0");
  EXPECT_EQ(
      message("[prepare]\nsubsample = \"pandas\"\n"),
      "config t.toml: key 'prepare.subsample': unknown subsample mode 'pandas' (expected fluxkit or numpy)");
  EXPECT_EQ(message("[prepare]\nwindow = 4\nlead = 10\n"),
            "config t.toml: key 'prepare.lead': must be >= 0 with window + lead <= 13, got 10");
}

}  // namespace
}  // namespace fluxkit

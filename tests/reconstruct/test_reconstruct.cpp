#include <gtest/gtest.h>
#include <netcdf.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fluxkit/analysis/evaluate.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/xgboost_model.hpp"
#include "fluxkit/reconstruct/cache.hpp"
#include "fluxkit/reconstruct/reconstruct.hpp"
#include "fluxkit/synth/ocean.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

// A synthetic experiment, its stores (test year 2003: global and North Atlantic) and a small XGBoost
// artifact.
class Reconstruct : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_xgboost_model();
    root_ = fs::temp_directory_path() / ("fluxkit_reconstruct_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    synth::SynthOceanParams s;
    s.output_dir = (root_ / "data").string();
    s.start_year = 1999;
    s.end_year = 2003;
    s.resolution = 10.0;
    Context ctx;
    synth::generate_ocean(s, ctx, kProv);
    data_.root = s.output_dir;
    prepare_.output_dir = (root_ / "samples").string();
    prepare_.train_years = {2000, 2001};
    prepare_.validation_years = {2002, 2002};
    prepare_.test_years = {2003, 2003};
    prepare_.test_experiments = {"experiment_1", "experiment_5"};
    prepare_.test_regions = {"global", "north_atlantic"};
    prepare_.train_fraction = prepare_.validation_fraction = 0.5;
    prepare_samples(prepare_, data_, ctx, kProv);
    const SampleStore train(prepare_.train_path()), val(prepare_.validation_path());
    XGBoostParams xp;
    xp.booster = "gbtree";
    xp.n_estimators = 20;
    xp.max_depth = 4;
    auto model = make_model("xgboost", InputShape::of(train), config::to_table(xp));
    model->fit(train, val, TrainOptions{root_ / "work", false, 1}, ctx);
    ArtifactInfo info;
    info.type = "xgboost";
    info.shape = InputShape::of(train);
    info.stats = train.stats();
    info.target = train.header().target;
    info.target_units = train.header().target_units;
    info.train_experiment = info.validation_experiment = "experiment_5";
    info.train_first_year = 2000;
    info.train_last_year = 2001;
    info.validation_first_year = info.validation_last_year = 2002;
    save_artifact(root_ / "models" / "xgboost", *model, info, {});
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  ReconstructParams params(const std::string& out) const {
    ReconstructParams p;
    p.models = {"xgboost"};
    p.experiments = {"experiment_1", "experiment_5"};
    p.regions = {"global", "north_atlantic"};
    p.years = {2003, 2003};
    p.output_dir = (root_ / out).string();
    p.cells_per_block = 37;  // several blocks
    return p;
  }
  std::vector<ReconstructOutcome> run(const ReconstructParams& p, bool force = false, int rank = 0,
                                      int size = 1) const {
    return reconstruct(p, prepare_, data_, root_ / "models", force, rank, size, Context{}, kProv);
  }

  static inline fs::path root_;
  static inline DataParams data_;
  static inline PrepareParams prepare_;
};

TEST_F(Reconstruct, CachesHoldTheDenormalisedFieldsOnTheGrid) {
  const auto p = params("caches");
  const auto outcomes = run(p);
  ASSERT_EQ(outcomes.size(), 4u);
  const fs::path path = cache_path(p.output_dir, "xgboost", "experiment_1", "North_Atlantic", 2003);
  EXPECT_EQ(outcomes[1].cache, path);  // tasks ordered by model, experiment, region, year
  const ReconstructionCache c = read_cache(path);
  EXPECT_EQ(c.model, "xgboost");
  EXPECT_EQ(c.region, "north_atlantic");
  EXPECT_EQ(c.year, 2003);
  EXPECT_EQ(c.target_units, "mol m-2 yr-1");
  EXPECT_EQ(c.version, kCacheVersion);
  // What the model was trained on, from the artifact.
  EXPECT_EQ(c.train_experiment, "experiment_5");
  EXPECT_EQ(c.train_first_year, 2000);
  EXPECT_EQ(c.train_last_year, 2001);
  EXPECT_EQ(c.validation_experiment, "experiment_5");
  EXPECT_EQ(c.validation_first_year, 2002);
  EXPECT_EQ(c.validation_last_year, 2002);
  // Simulated values are the source file's target at the region's ocean cells (region_mask); the
  // reconstruction is at the sample cells; NaN elsewhere.
  const nemo::File src(data_.file("experiment_1", 2003));
  const auto flux = src.read_all("co2flux_pre");
  const std::size_t n = src.grid().size();
  const SampleStore store(prepare_.test_path("experiment_1", "north_atlantic", 2003));
  const Region na = find_region("north_atlantic");
  std::size_t samples = 0, region_cells = 0;
  for (std::size_t j = 0; j < c.ny; ++j)
    for (std::size_t i = 0; i < c.nx; ++i) {
      const std::size_t k = j * c.nx + i;
      const std::size_t g =
          static_cast<std::size_t>(c.y_index[j]) * src.grid().nx + static_cast<std::size_t>(c.x_index[i]);
      EXPECT_DOUBLE_EQ(c.lat[k], src.grid().lat[g]);
      const bool ocean_in_region =
          src.grid().tmask[g] == 1 && na.contains(src.grid().lat[g], src.grid().lon[g]);
      EXPECT_EQ(c.region_mask[k], ocean_in_region ? 1 : 0) << j << "," << i;
      if (c.sample_mask[k]) {
        EXPECT_EQ(c.region_mask[k], 1);
      }
      for (std::size_t t = 0; t < 12; ++t) {
        if (c.region_mask[k])
          EXPECT_NEAR(c.simulated[t * c.cells() + k], flux[t * n + g], 1e-5);
        else
          EXPECT_TRUE(std::isnan(c.simulated[t * c.cells() + k]));
        if (c.sample_mask[k])
          EXPECT_TRUE(std::isfinite(c.reconstructed[t * c.cells() + k]));
        else
          EXPECT_TRUE(std::isnan(c.reconstructed[t * c.cells() + k]));
      }
      samples += c.sample_mask[k];
      region_cells += c.region_mask[k];
    }
  EXPECT_EQ(samples, store.cells());
  EXPECT_EQ(region_cells, store.cells()) << "test_fraction 1: every ocean cell of the region is a sample";
  // Reconstructed = the model's prediction, de-normalised with the training statistics.
  const LoadedModel m = load_artifact(root_ / "models" / "xgboost");
  WindowBatches b(store, store.windows(), WindowLayout::Flat, false, 0);
  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  b.next(x, y, ids);
  std::vector<float> pred(ids.size());
  m.model->predict(x, ids.size(), pred, Context{});
  for (std::size_t w = 0; w < ids.size(); w += 13) {
    const auto& cell = store.cell(store.cell_of(ids[w]));
    const std::size_t t = store.target_index_of(ids[w]) - 3;
    const std::size_t k = static_cast<std::size_t>(cell.y - c.y_index[0]) * c.nx +
                          static_cast<std::size_t>(cell.x - c.x_index[0]);
    EXPECT_NEAR(c.reconstructed[t * c.cells() + k],
                pred[w] * m.info.stats.target_std + m.info.stats.target_mean, 1e-5);
  }
  // CF attributes.
  const nc::File f(path);
  EXPECT_EQ(*f.text_attribute("", "Conventions"), "CF-1.8");
  EXPECT_EQ(*f.text_attribute("reconstructed_co2flux_pre", "units"), "mol m-2 yr-1");
  EXPECT_EQ(*f.text_attribute("nav_lat", "standard_name"), "latitude");
  EXPECT_EQ(*f.text_attribute("time", "bounds"), "time_bounds");
  EXPECT_EQ(*f.text_attribute("co2flux_pre", "cell_measures"), "area: area");
  EXPECT_EQ(*f.text_attribute("", "training_experiment"), "experiment_5");
  EXPECT_EQ(*f.number_attribute("", "training_years"), (std::vector<double>{2000, 2001}));
  EXPECT_EQ(*f.number_attribute("", "validation_years"), (std::vector<double>{2002, 2002}));
}

TEST_F(Reconstruct, SkipForceAndResume) {
  const auto p = params("skip");
  run(p);
  const fs::path one = cache_path(p.output_dir, "xgboost", "experiment_5", "global", 2003);
  const auto before = fs::last_write_time(one);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& o : run(p))
    EXPECT_TRUE(o.skipped);  // up to date
  EXPECT_EQ(fs::last_write_time(one), before);
  for (const auto& o : run(p, true))
    EXPECT_FALSE(o.skipped);  // --force
  EXPECT_NE(fs::last_write_time(one), before);
  // A killed run leaves some caches; the rerun builds only the missing ones.
  fs::remove(one);
  std::size_t rebuilt = 0;
  for (const auto& o : run(p))
    rebuilt += !o.skipped;
  EXPECT_EQ(rebuilt, 1u);
  EXPECT_TRUE(fs::exists(one));
  // No temporary files are left behind.
  for (const auto& e : fs::recursive_directory_iterator(p.output_dir))
    EXPECT_NE(e.path().filename().string().front(), '.') << e.path();
}

TEST_F(Reconstruct, RanksSplitTheTasksAndGiveTheSameCaches) {
  const auto all = params("ranks_all");
  run(all);
  auto split = params("ranks_split");
  const auto r0 = run(split, false, 0, 2), r1 = run(split, false, 1, 2);
  EXPECT_EQ(r0.size() + r1.size(), 4u);
  for (const auto& t : reconstruct_tasks(all, root_ / "models")) {
    const Region r = find_region(t.region);
    const auto a = read_cache(cache_path(all.output_dir, t.model, t.experiment, r.dir_name, t.year));
    const auto b = read_cache(cache_path(split.output_dir, t.model, t.experiment, r.dir_name, t.year));
    EXPECT_EQ(0, std::memcmp(a.reconstructed.data(), b.reconstructed.data(),
                             a.reconstructed.size() * sizeof(float)));
  }
}

TEST_F(Reconstruct, CsvLongTable) {
  auto p = params("csv");
  p.format = "csv";
  p.experiments = {"experiment_1"};
  p.regions = {"north_atlantic"};
  run(p);
  const fs::path csv = fs::path(cache_path(p.output_dir, "xgboost", "experiment_1", "North_Atlantic", 2003))
                           .replace_extension(".csv");
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "nav_lat,nav_lon,time_counter,co2flux_pre,reconstructed_co2flux_pre");
  std::size_t rows = 0;
  for (std::string line; std::getline(in, line);)
    ++rows;
  EXPECT_EQ(rows, SampleStore(prepare_.test_path("experiment_1", "north_atlantic", 2003)).cells() * 12);
}

// ---- integrated fluxes over the region, not the sample
// ----------------------------------------------------------------

std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string h; std::getline(hs, h, ',');)
    header.push_back(h);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::map<std::string, std::string> row;
    std::size_t i = 0;
    for (std::string v; std::getline(ls, v, ',');)
      row[header.at(i++)] = v;
    while (i < header.size())
      row[header[i++]] = "";
    rows.push_back(row);
  }
  return rows;
}

// Prepares the North Atlantic test store of experiment_1 2003 with `q` (training set as the fixture's, so the
// model's statistics match), reconstructs and evaluates it, and checks every month of timeseries_monthly.csv
// against the source file: sim_integrated is the integral over every ocean cell of the region, whatever was
// sampled. Returns the monthly rows.
std::vector<std::map<std::string, std::string>> evaluate_region(const fs::path& root, PrepareParams q,
                                                                const DataParams& data,
                                                                const fs::path& models,
                                                                double expected_fraction_below) {
  q.test_experiments = {"experiment_1"};
  q.test_regions = {"north_atlantic"};
  prepare_samples(q, data, Context{}, kProv);
  ReconstructParams r;
  r.models = {"xgboost"};
  r.experiments = {"experiment_1"};
  r.regions = {"north_atlantic"};
  r.years = {2003, 2003};
  r.output_dir = (root / "caches").string();
  reconstruct(r, q, data, models, false, 0, 1, Context{}, kProv);
  EvaluateParams e;
  e.caches_dir = r.output_dir;
  e.models = {"xgboost"};
  e.experiments = {"experiment_1"};
  e.regions = {"north_atlantic"};
  e.years = {2003, 2003};
  e.output_dir = (root / "evaluation").string();
  evaluate(e, Context{}, kProv);

  // The truth from the source file: every ocean cell of the North Atlantic box.
  const nemo::File src(data.file("experiment_1", 2003));
  const auto& grid = src.grid();
  const auto flux = src.read_all("co2flux_pre");
  const Region na = find_region("north_atlantic");
  const SampleStore store(q.test_path("experiment_1", "north_atlantic", 2003));
  std::set<std::size_t> sampled;
  for (std::size_t c = 0; c < store.cells(); ++c)
    sampled.insert(static_cast<std::size_t>(store.cell(c).y) * grid.nx +
                   static_cast<std::size_t>(store.cell(c).x));
  double ocean_area = 0, sampled_area = 0;
  for (std::size_t g = 0; g < grid.size(); ++g)
    if (grid.tmask[g] && na.contains(grid.lat[g], grid.lon[g])) {
      ocean_area += grid.e1t[g] * grid.e2t[g];
      if (sampled.contains(g)) sampled_area += grid.e1t[g] * grid.e2t[g];
    }
  EXPECT_LT(sampled_area, expected_fraction_below * ocean_area);
  const auto rows = read_csv(root / "evaluation" / "timeseries_monthly.csv");
  EXPECT_EQ(rows.size(), 12u);
  for (const auto& row : rows) {
    const std::size_t t = static_cast<std::size_t>(std::stoi(row.at("month")) - 1);
    double full = 0, partial = 0;
    for (std::size_t g = 0; g < grid.size(); ++g)
      if (grid.tmask[g] && na.contains(grid.lat[g], grid.lon[g])) {
        const double a = grid.e1t[g] * grid.e2t[g];
        full += a * flux[t * grid.size() + g];
        if (sampled.contains(g)) partial += a * flux[t * grid.size() + g];
      }
    full *= 12.011e-15;
    partial *= 12.011e-15;
    SCOPED_TRACE("month " + row.at("month"));
    EXPECT_NEAR(std::stod(row.at("ocean_area_m2")), ocean_area, 1e-8 * ocean_area);
    EXPECT_NEAR(std::stod(row.at("simulated_area_m2")), ocean_area, 1e-8 * ocean_area);
    EXPECT_NEAR(std::stod(row.at("sampled_area_m2")), sampled_area, 1e-8 * ocean_area);
    EXPECT_NEAR(std::stod(row.at("area_fraction")), sampled_area / ocean_area, 1e-8);
    EXPECT_NEAR(std::stod(row.at("sim_integrated")), full, 1e-6 * std::abs(full) + 1e-12);
    EXPECT_GT(std::abs(full - partial), 1e-4 * std::abs(full)) << "the partial sum must differ for the test";
    const double sim_mean = std::stod(row.at("sim_mean")), rec_mean = std::stod(row.at("rec_mean"));
    EXPECT_NEAR(std::stod(row.at("sim_integrated_extrapolated")), sim_mean * ocean_area * 12.011e-15,
                1e-7 * std::abs(full));
    EXPECT_NEAR(std::stod(row.at("rec_integrated_extrapolated")), rec_mean * ocean_area * 12.011e-15,
                1e-7 * std::abs(full));
    EXPECT_EQ(row.at("integrated_units"), "Pg C yr-1");
  }
  return rows;
}

TEST_F(Reconstruct, IntegratedFluxCoversTheRegionWithATestSubsample) {
  const fs::path root = root_ / "subsample";
  PrepareParams q = prepare_;
  q.output_dir = (root / "samples").string();
  q.test_fraction = 0.5;
  evaluate_region(root, q, data_, root_ / "models", 0.8);
}

TEST_F(Reconstruct, IntegratedFluxCoversTheRegionWithADroppedCell) {
  const fs::path root = root_ / "dropped";
  const fs::path copy = root / "data";
  fs::remove_all(copy);
  fs::create_directories(root);
  fs::copy(data_.root, copy, fs::copy_options::recursive);
  DataParams d = data_;
  d.root = copy.string();
  // A NaN driver in one North Atlantic cell: prepare drops the cell, its simulated flux is still known.
  const SampleStore full(prepare_.test_path("experiment_1", "north_atlantic", 2003));
  const auto victim = full.cell(full.cells() / 2);
  int ncid = -1, varid = -1;
  const std::string path = d.file("experiment_1", 2003).string();
  ASSERT_EQ(nc_open(path.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_inq_varid(ncid, "SST", &varid), NC_NOERR);
  const std::size_t idx[3] = {4, static_cast<std::size_t>(victim.y), static_cast<std::size_t>(victim.x)};
  const float nan = std::nanf("");
  ASSERT_EQ(nc_put_var1_float(ncid, varid, idx, &nan), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);
  PrepareParams q = prepare_;
  q.output_dir = (root / "samples").string();
  const auto rows = evaluate_region(root, q, d, root_ / "models", 1.0);
  const ReconstructionCache c =
      read_cache(cache_path((root / "caches").string(), "xgboost", "experiment_1", "North_Atlantic", 2003));
  const std::size_t k = static_cast<std::size_t>(victim.y - c.y_index[0]) * c.nx +
                        static_cast<std::size_t>(victim.x - c.x_index[0]);
  EXPECT_EQ(c.region_mask[k], 1);
  EXPECT_EQ(c.sample_mask[k], 0);
  EXPECT_TRUE(std::isfinite(c.simulated[k]));
  EXPECT_TRUE(std::isnan(c.reconstructed[k]));
}

TEST_F(Reconstruct, BadInputsNameTheProblem) {
  auto p = params("bad");
  p.years = {2003, 2005};
  try {
    run(p);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("input(s) missing"), std::string::npos) << m;
    EXPECT_NE(m.find("global_test_2004_experiment_1.nc"), std::string::npos) << m;
    EXPECT_NE(m.find("North_Atlantic_test_2005_experiment_5.nc"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(p.output_dir));
  p = params("bad2");
  p.models = {"nonexistent"};
  EXPECT_THROW(run(p), Error);
  // A store prepared with other statistics than the model's training set.
  const fs::path other = root_ / "other_samples";
  PrepareParams q = prepare_;
  q.output_dir = other.string();
  q.train_fraction = 0.3;  // another training set
  q.test_experiments = {"experiment_1"};
  q.test_regions = {"global"};
  prepare_samples(q, data_, Context{}, kProv);
  p = params("bad3");
  p.experiments = {"experiment_1"};
  p.regions = {"global"};
  try {
    reconstruct(p, q, data_, root_ / "models", false, 0, 1, Context{}, kProv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normalisation statistics differ"), std::string::npos) << e.what();
  }
}

// An ensemble of 3 XGBoost members ([train] ensemble = 3): the cache holds every member's reconstruction,
// their mean as the reconstruction and their standard deviation, equal to the members' own predictions.
TEST_F(Reconstruct, EnsembleCachesHoldTheMembersMeanAndStd) {
  TrainParams tp;
  tp.models = {"xgboost"};
  tp.output_dir = (root_ / "ensemble_models").string();
  tp.ensemble = 3;
  tp.seed = 11;
  XGBoostParams xp;
  xp.booster = "gbtree";
  xp.n_estimators = 10;
  xp.max_depth = 3;
  {
    const SampleStore train(prepare_.train_path()), val(prepare_.validation_path());
    train_models(tp, train, val, {{"xgboost", config::to_table(xp)}}, false, Context{}, kProv);
  }
  const fs::path ens = fs::path(tp.output_dir) / "xgboost";
  ReconstructParams p = params("ensemble_caches");
  p.models = {ens.string()};  // a path: the cache's model name is the directory's, xgboost
  p.experiments = {"experiment_1"};
  p.regions = {"north_atlantic"};
  p.format = "csv";
  const auto outcomes = run(p);
  ASSERT_EQ(outcomes.size(), 1u);
  const fs::path path = cache_path(p.output_dir, "xgboost", "experiment_1", "North_Atlantic", 2003);
  const ReconstructionCache c = read_cache(path);
  EXPECT_EQ(c.members, 3);
  EXPECT_EQ(read_cache_header(path).members, 3);
  const std::size_t n = c.cells();
  ASSERT_EQ(c.reconstructed_std.size(), 12 * n);
  ASSERT_EQ(c.member_reconstructed.size(), 3 * 12 * n);
  // Recompute every member's prediction from its artifact.
  const SampleStore store(prepare_.test_path("experiment_1", "north_atlantic", 2003));
  WindowBatches b(store, store.windows(), WindowLayout::Flat, false, 0);
  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  b.next(x, y, ids);
  std::vector<std::vector<double>> member(3, std::vector<double>(ids.size()));
  for (int k = 0; k < 3; ++k) {
    const LoadedModel m = load_artifact(ensemble_member_dir(ens, k));
    EXPECT_EQ(m.info.seed, 11u + static_cast<unsigned>(k));
    std::vector<float> pred(ids.size());
    m.model->predict(x, ids.size(), pred, Context{});
    for (std::size_t w = 0; w < ids.size(); ++w)
      member[static_cast<std::size_t>(k)][w] = store.denormalise_target(pred[w]);
  }
  double spread = 0;
  for (std::size_t w = 0; w < ids.size(); ++w) {
    const auto& cell = store.cell(store.cell_of(ids[w]));
    const std::size_t t = store.target_index_of(ids[w]) - 3;
    const std::size_t k = static_cast<std::size_t>(cell.y - c.y_index[0]) * c.nx +
                          static_cast<std::size_t>(cell.x - c.x_index[0]);
    const double mean = (member[0][w] + member[1][w] + member[2][w]) / 3;
    double ss = 0;
    for (int m = 0; m < 3; ++m) {
      EXPECT_NEAR(c.member_reconstructed[(static_cast<std::size_t>(m) * 12 + t) * n + k],
                  member[static_cast<std::size_t>(m)][w], 1e-5);
      ss += (member[static_cast<std::size_t>(m)][w] - mean) * (member[static_cast<std::size_t>(m)][w] - mean);
    }
    const double sd = std::sqrt(ss / 2);  // N - 1 in the denominator
    EXPECT_NEAR(c.reconstructed[t * n + k], mean, 1e-5);
    EXPECT_NEAR(c.reconstructed_std[t * n + k], sd, 1e-5);
    spread += sd;
  }
  EXPECT_GT(spread / static_cast<double>(ids.size()), 1e-4) << "the members differ";
  for (std::size_t k = 0; k < n; ++k)
    if (!c.sample_mask[k]) {
      EXPECT_TRUE(std::isnan(c.reconstructed_std[k]));
    }
  // The file: the member dimension, the std variable and the member count, CF attributes.
  const nc::File f(path);
  EXPECT_EQ(f.dim_length("member"), 3u);
  EXPECT_EQ(*f.number_attribute("", "ensemble_members"), (std::vector<double>{3}));
  EXPECT_EQ(*f.text_attribute("reconstructed_co2flux_pre_std", "units"), "mol m-2 yr-1");
  EXPECT_EQ(*f.text_attribute("reconstructed_co2flux_pre", "ancillary_variables"),
            "reconstructed_co2flux_pre_std");
  EXPECT_EQ(*f.number_attribute("", "fluxkit_cache_version"), (std::vector<double>{kCacheVersion}));
  // The long table has the std column.
  std::ifstream csv(fs::path(path).replace_extension(".csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header,
            "nav_lat,nav_lon,time_counter,co2flux_pre,reconstructed_co2flux_pre,"
            "reconstructed_co2flux_pre_std");
  // A single model's cache has none of it (as before ensembles).
  run(params("single_caches"));
  const fs::path single =
      cache_path(root_ / "single_caches", "xgboost", "experiment_1", "North_Atlantic", 2003);
  const nc::File sf(single);
  EXPECT_FALSE(sf.has_dim("member"));
  EXPECT_FALSE(sf.has_var("reconstructed_co2flux_pre_std"));
  EXPECT_FALSE(sf.number_attribute("", "ensemble_members").has_value());
  EXPECT_EQ(read_cache(single).members, 1);
  EXPECT_TRUE(read_cache(single).reconstructed_std.empty());
  // Up to date on a rerun; a retrained member makes it stale.
  for (const auto& o : run(p))
    EXPECT_TRUE(o.skipped);
  TrainParams tp2 = tp;
  tp2.seed = 12;
  {
    const SampleStore train(prepare_.train_path()), val(prepare_.validation_path());
    train_models(tp2, train, val, {{"xgboost", config::to_table(xp)}}, false, Context{}, kProv);
  }
  for (const auto& o : run(p))
    EXPECT_FALSE(o.skipped);

  // A member missing: an error naming its artifact, and nothing written.
  const fs::path broken = root_ / "broken_ensemble" / "xgboost";
  fs::create_directories(broken.parent_path());
  fs::copy(ens, broken, fs::copy_options::recursive);
  fs::remove_all(broken / "member_1");
  ReconstructParams bp = p;
  bp.models = {broken.string()};
  bp.output_dir = (root_ / "broken_caches").string();
  try {
    run(bp);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ensemble member artifact " + (broken / "member_1").string()), std::string::npos)
        << what;
    EXPECT_NE(what.find("member 1 of 3"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(bp.output_dir));
}

}  // namespace
}  // namespace fluxkit

// `fluxkit explain` end to end on the synthetic ocean: the true drivers and lags come out on top, the files,
// resume, and the errors on bad input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/explain/run.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/xgboost_model.hpp"
#include "fluxkit/synth/ocean.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};
const Communicator kSerial;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// importance.csv rows: key "model|method|region|month|driver|lag" -> mean_abs_phi.
std::map<std::string, double> read_importance(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::map<std::string, double> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ','))
      f.push_back(cell);
    if (f.size() != 12) continue;
    out[f[0] + "|" + f[1] + "|" + f[3] + "|" + f[5] + "|" + f[6] + "|" + f[7]] = std::stod(f[9]);
  }
  return out;
}

class ExplainRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spdlog::set_level(spdlog::level::warn);
    register_xgboost_model();
    root_ = fs::temp_directory_path() / ("fluxkit_explain_run_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    synth::SynthOceanParams s;
    s.output_dir = (root_ / "data").string();
    s.experiments = {"experiment_5"};
    s.start_year = 1993;
    s.end_year = 2003;
    s.resolution = 10.0;
    synth::generate_ocean(s, Context{}, kProv);
    DataParams data;
    data.root = s.output_dir;
    prepare_.output_dir = (root_ / "samples").string();
    prepare_.train_experiment = prepare_.validation_experiment = "experiment_5";
    prepare_.train_years = {1994, 2000};
    prepare_.validation_years = {2001, 2002};
    prepare_.test_years = {2003, 2003};
    prepare_.test_experiments = {"experiment_5"};
    prepare_.test_regions = {"global"};
    prepare_.train_fraction = prepare_.validation_fraction = 1.0;
    prepare_samples(prepare_, data, Context{}, kProv);

    XGBoostParams xp;
    xp.booster = "gbtree";
    xp.n_estimators = 150;
    xp.max_depth = 5;
    xp.learning_rate = 0.1;
    std::map<std::string, toml::table> hyper{{"xgboost", config::to_table(xp)}};
    train_.models = {"xgboost"};
    train_.output_dir = (root_ / "models").string();
    train_.seed = 7;
    const SampleStore tr(prepare_.train_path()), va(prepare_.validation_path());
    Context ctx;
    ctx.threads = 2;
    train_models(train_, tr, va, hyper, false, ctx, kProv);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static ExplainParams params(const std::string& out) {
    ExplainParams p;
    p.models = {"xgboost"};
    p.experiment = "experiment_5";
    p.regions = {"global"};
    p.year = 2003;
    p.months = {1, 7};
    p.n_samples = 40;
    p.background_size = 40;
    p.bootstrap = 200;
    p.chunk = 16;
    p.output_dir = (root_ / out).string();
    return p;
  }
  static Context ctx() {
    Context c;
    c.threads = 2;
    return c;
  }

  static inline fs::path root_;
  static inline PrepareParams prepare_;
  static inline TrainParams train_;
};

TEST_F(ExplainRun, TrueDriversAndLagsComeOutOnTop) {
  ExplainParams p = params("truth");
  p.methods = {"xgboost:tree_shap_interventional", "xgboost:tree_shap", "xgboost:kernel_shap"};
  p.kernel_nsamples = 300;
  p.background_kmeans = 10;
  const auto summary = run_explain(p, prepare_, train_, ctx(), kProv, kSerial);
  EXPECT_EQ(summary.files_written, 6u);
  const auto imp = read_importance(fs::path(p.output_dir) / "importance.csv");
  for (const auto& line : summary.lines)
    std::cout << line << "\n";
  const std::vector<std::string> truth = {
      "SST", "SAL", "stress_X", "stress_Y", "heat_flux_down", "mixed_layer_depth"};
  const std::vector<std::string> distractors = {"water_flux_up", "currents_X", "currents_Y"};
  for (const std::string method : {"tree_shap_interventional", "tree_shap", "kernel_shap"}) {
    auto get = [&](const std::string& driver, const std::string& lag) {
      const std::string key = "xgboost|" + method + "|all|all|" + driver + "|" + lag;
      EXPECT_TRUE(imp.contains(key)) << key;
      return imp.contains(key) ? imp.at(key) : 0.0;
    };
    // The strong true drivers each above every distractor, and the true drivers together far above them.
    // (This small model lets a distractor correlated with the wind stress, currents_X, take some credit: it
    // ranks above the weak true drivers SAL, stress_Y and, here, ice_frac and the mixed-layer depth.)
    double worst_strong = 1e300, best_distractor = 0, all_true = 0, all_distractors = 0;
    for (const auto& d : {"SST", "heat_flux_down", "stress_X"})
      worst_strong = std::min(worst_strong, get(d, "all"));
    for (const auto& d : truth)
      all_true += get(d, "all");
    for (const auto& d : distractors) {
      best_distractor = std::max(best_distractor, get(d, "all"));
      all_distractors += get(d, "all");
    }
    EXPECT_GT(worst_strong, 1.5 * best_distractor) << method;
    EXPECT_GT(all_true, 5 * all_distractors) << method;
    // Lags: heat flux acts at t-1, more than at any other lag.
    for (const auto* lag : {"0", "2", "3"})
      EXPECT_GT(get("heat_flux_down", "1"), 2 * get("heat_flux_down", lag)) << method << " lag " << lag;
  }
  // The per-sample file: efficiency and the xarray-friendly layout.
  const nc::File f(fs::path(p.output_dir) / "xgboost" /
                   "tree_shap_interventional_experiment_5_global_2003_01.nc");
  const auto phi = f.read_double("phi");
  const auto base = f.read_double("base_value");
  const auto fx = f.read_double("prediction");
  const std::size_t n = f.dim_length("sample"), P = f.dim_length("player");
  ASSERT_EQ(n, 40u);
  ASSERT_EQ(P, 44u);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < P; ++j)
      s += phi[i * P + j];
    EXPECT_NEAR(s, fx[i] - base[i], 1e-5);
  }
  EXPECT_TRUE(f.has_var("inputs"));
  EXPECT_TRUE(f.has_var("player_lag"));
}

TEST_F(ExplainRun, ResumesFinishedChunksAndReusesFinishedFiles) {
  ExplainParams p = params("resume");
  p.methods = {"xgboost:tree_shap_interventional"};
  p.months = {7};
  p.chunk = 8;
  // Interrupt the run when it writes its file: a directory in its place makes the final rename fail.
  const fs::path file =
      fs::path(p.output_dir) / "xgboost" / "tree_shap_interventional_experiment_5_global_2003_07.nc";
  fs::create_directories(file / "blocker");
  EXPECT_NE(error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); }), "<no error>");
  fs::remove_all(file);
  const auto resumed = run_explain(p, prepare_, train_, ctx(), kProv, kSerial);
  EXPECT_EQ(resumed.samples_computed, 0u);
  EXPECT_EQ(resumed.samples_reused, 40u);
  EXPECT_EQ(resumed.files_written, 1u);
  const auto again = run_explain(p, prepare_, train_, ctx(), kProv, kSerial);
  EXPECT_EQ(again.files_reused, 1u);
  EXPECT_EQ(again.samples_computed, 0u);
  // Another seed for the samples: recomputed.
  Context c = ctx();
  c.seed = 99;
  EXPECT_EQ(run_explain(p, prepare_, train_, c, kProv, kSerial).samples_computed, 40u);
}

// An ensemble directory is explained as its members' mean: interventional TreeSHAP is linear in the model,
// so the ensemble's values are the mean of its members' (the same samples and background).
TEST_F(ExplainRun, AnEnsembleIsExplainedAsTheMeanOfItsMembers) {
  TrainParams other = train_;  // a second member: the same model with another seed
  other.output_dir = (root_ / "models_seed_8").string();
  other.seed = 8;
  {
    XGBoostParams xp;
    xp.booster = "gbtree";
    xp.n_estimators = 60;
    xp.max_depth = 5;
    xp.learning_rate = 0.1;
    xp.subsample = 0.7;
    std::map<std::string, toml::table> hyper{{"xgboost", config::to_table(xp)}};
    const SampleStore tr(prepare_.train_path()), va(prepare_.validation_path());
    train_models(other, tr, va, hyper, false, ctx(), kProv);
  }
  const fs::path member_a = fs::path(train_.output_dir) / "xgboost",
                 member_b = fs::path(other.output_dir) / "xgboost";
  const fs::path ensemble = root_ / "ensemble" / "xgb_pair";
  fs::create_directories(ensemble);
  fs::copy(member_a, ensemble_member_dir(ensemble, 0), fs::copy_options::recursive);
  fs::copy(member_b, ensemble_member_dir(ensemble, 1), fs::copy_options::recursive);
  write_ensemble_manifest(ensemble, make_ensemble_manifest("xgboost", 7, 2));
  ExplainParams p = params("ensemble_out");
  p.models = {member_a.string(), (root_ / "b" / "xgboost_b").string(), ensemble.string()};
  fs::create_directories(root_ / "b");
  fs::copy(member_b, root_ / "b" / "xgboost_b", fs::copy_options::recursive);
  p.methods = {"xgboost:tree_shap_interventional", "xgboost_b:tree_shap_interventional",
               "xgb_pair:tree_shap_interventional"};
  p.months = {7};
  p.n_samples = 12;
  run_explain(p, prepare_, train_, ctx(), kProv, kSerial);
  const std::string name = "tree_shap_interventional_experiment_5_global_2003_07.nc";
  const fs::path out(p.output_dir);
  const nc::File a(out / "xgboost" / name), b(out / "xgboost_b" / name), pair(out / "xgb_pair" / name);
  EXPECT_EQ(a.number_attribute("", "ensemble_members").value().at(0), 1.0);
  EXPECT_EQ(pair.number_attribute("", "ensemble_members").value().at(0), 2.0);
  for (const char* var : {"phi", "base_value", "prediction"}) {
    const auto va = a.read_double(var), vb = b.read_double(var), vp = pair.read_double(var);
    ASSERT_EQ(va.size(), vp.size());
    ASSERT_GT(va.size(), 0u);
    double differ = 0;
    for (std::size_t i = 0; i < va.size(); ++i) {
      EXPECT_NEAR(vp[i], 0.5 * (va[i] + vb[i]), 1e-6 + 1e-5 * std::abs(vp[i])) << var << " " << i;
      differ = std::max(differ, std::abs(va[i] - vb[i]));
    }
    EXPECT_GT(differ, 1e-3) << var << ": the members should differ";
  }
}

TEST_F(ExplainRun, BadInputIsAnErrorBeforeAnyWork) {
  ExplainParams p = params("bad");
  p.n_samples = 100000;
  std::string e = error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); });
  EXPECT_NE(e.find("n_samples = 100000"), std::string::npos) << e;
  EXPECT_NE(e.find("_test_2003_experiment_5.nc"), std::string::npos) << e;  // names the store

  // A method the model type does not support.
  p = params("bad");
  p.methods = {"xgboost:attention"};
  e = error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); });
  EXPECT_NE(e.find("attention-LSTM"), std::string::npos) << e;
  p.methods = {"xgboost:timeshap_typo"};
  e = error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); });
  EXPECT_NE(e.find("unknown explanation method"), std::string::npos) << e;

  // A store without the month: the 2003 store under the name of 2002.
  p = params("bad");
  const fs::path store2003 = prepare_.test_path("experiment_5", "global", 2003);
  const fs::path store2002 = prepare_.test_path("experiment_5", "global", 2002);
  fs::copy_file(store2003, store2002, fs::copy_options::overwrite_existing);
  p.year = 2002;
  e = error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); });
  EXPECT_NE(e.find("no target month 2002-01"), std::string::npos) << e;
  fs::remove(store2002);

  // A missing store.
  p.year = 1990;
  e = error_of([&] { run_explain(p, prepare_, train_, ctx(), kProv, kSerial); });
  EXPECT_NE(e.find("missing inputs"), std::string::npos) << e;

  // A background from another store than the model's training store.
  p = params("bad");
  PrepareParams other = prepare_;
  other.output_dir = (root_ / "samples_other").string();
  other.train_years = {1994, 1995};
  other.splits = {"train"};
  DataParams data;
  data.root = (root_ / "data").string();
  prepare_samples(other, data, Context{}, kProv);
  fs::create_directories(fs::path(other.output_dir));
  for (const auto& entry : fs::directory_iterator(prepare_.output_dir))
    if (entry.path().filename().string().starts_with("test"))
      fs::copy(entry.path(), fs::path(other.output_dir) / entry.path().filename(),
               fs::copy_options::recursive | fs::copy_options::skip_existing);
  e = error_of([&] { run_explain(p, other, train_, ctx(), kProv, kSerial); });
  // (here the statistics already differ; the same statistics from other years are caught by the years)
  EXPECT_NE(e.find("samples_other/train.nc: background for model xgboost"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(p.output_dir));
}

}  // namespace
}  // namespace fluxkit

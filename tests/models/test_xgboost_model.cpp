#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/models/xgboost_model.hpp"
#include "fluxkit/synth/ocean.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

struct Flat {
  std::vector<float> x, y;
  std::size_t n = 0;
};

Flat gather(const SampleStore& s) {
  Flat f;
  f.n = s.windows();
  std::vector<std::uint64_t> ids(f.n);
  std::iota(ids.begin(), ids.end(), std::uint64_t{0});
  f.x.resize(f.n * s.flat_width());
  f.y.resize(f.n);
  s.gather_flat(ids, f.x, f.y);
  return f;
}

double mse(const std::vector<float>& pred, const std::vector<float>& y) {
  double sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    sum += (double(pred[i]) - y[i]) * (double(pred[i]) - y[i]);
  return sum / double(y.size());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// One synthetic experiment (10-degree grid, 2000-2003) and its training (2000-2001) and validation
// (2002-2003) stores, half of the ocean cells; plus stores of the same cells without the two current
// features.
class XGBoostModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spdlog::set_level(spdlog::level::warn);
    register_xgboost_model();
    root_ = fs::temp_directory_path() / ("fluxkit_xgboost_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    synth::SynthOceanParams s;
    s.output_dir = (root_ / "data").string();
    s.experiments = {"experiment_5"};
    s.start_year = 2000;
    s.end_year = 2003;
    s.resolution = 10.0;
    synth::generate_ocean(s, Context{}, kProv);

    DataParams d;
    d.root = s.output_dir;
    prepare_samples(prepare_params("samples"), d, Context{}, kProv);
    d.features = {"SST",      "SAL",      "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up",
                  "stress_X", "stress_Y", "sin_lat",  "cos_lat",           "sin_lon",        "cos_lon"};
    prepare_samples(prepare_params("other_features"), d, Context{}, kProv);

    train_ = new SampleStore(prepare_params("samples").train_path());
    validation_ = new SampleStore(prepare_params("samples").validation_path());
    other_ = new SampleStore(prepare_params("other_features").validation_path());
  }
  static void TearDownTestSuite() {
    delete train_;
    delete validation_;
    delete other_;
    fs::remove_all(root_);
  }
  static PrepareParams prepare_params(const std::string& name) {
    PrepareParams p;
    p.output_dir = (root_ / name).string();
    p.splits = {"train", "validation"};
    p.train_years = {2000, 2001};
    p.validation_years = {2002, 2003};
    p.train_fraction = p.validation_fraction = 0.5;
    return p;
  }
  static XGBoostParams small(const std::string& booster) {
    XGBoostParams p;
    p.booster = booster;
    p.n_estimators = 60;
    p.max_depth = 6;
    return p;
  }
  static std::unique_ptr<Model> make(const XGBoostParams& p) {
    return make_model("xgboost", InputShape::of(*train_), config::to_table(p));
  }
  static TrainOptions options(const std::string& name, std::uint64_t seed = 42) {
    TrainOptions o;
    o.work_dir = root_ / "work" / name;
    o.seed = seed;
    return o;
  }
  static Context ctx() {
    Context c;
    c.threads = 2;
    return c;
  }
  static std::vector<float> predict(const Model& m, const Flat& f) {
    std::vector<float> out(f.n);
    m.predict(f.x, f.n, out, ctx());
    return out;
  }
  // Validation MSE of predicting the training mean.
  static double baseline() {
    const Flat t = gather(*train_), v = gather(*validation_);
    const double mean = std::accumulate(t.y.begin(), t.y.end(), 0.0) / double(t.n);
    return mse(std::vector<float>(v.n, static_cast<float>(mean)), v.y);
  }

  static inline fs::path root_;
  static inline SampleStore *train_ = nullptr, *validation_ = nullptr, *other_ = nullptr;
};

TEST_F(XGBoostModelTest, ParamsDefaultsAreTheSeedsAndAreValidated) {
  const XGBoostParams p;
  EXPECT_EQ(p.booster, "dart");
  EXPECT_EQ(p.n_estimators, 400);
  EXPECT_EQ(p.max_depth, 14);
  EXPECT_EQ(p.learning_rate, 0.04292980473318146);
  EXPECT_EQ(p.subsample, 0.5459662212041141);
  EXPECT_EQ(p.colsample_bytree, 0.5336910753872645);
  EXPECT_EQ(p.gamma, 0.016137253371362736);
  EXPECT_EQ(p.reg_lambda, 0.00023498796241233066);
  EXPECT_EQ(p.reg_alpha, 0.010524060361037127);
  EXPECT_EQ(p.min_child_weight, 4.0);
  EXPECT_EQ(p.rate_drop, 0.0);
  EXPECT_EQ(p.early_stopping_rounds, 20);
  EXPECT_EQ(p.tree_method, "hist");

  // The hyper-parameters round-trip through the factory.
  XGBoostParams q = small("gbtree");
  q.learning_rate = 0.125;
  const auto model = make(q);
  EXPECT_EQ(model->type(), "xgboost");
  EXPECT_EQ(model->layout(), WindowLayout::Flat);
  EXPECT_EQ(model->input_shape(), InputShape::of(*train_));
  const auto back = config::Document::from_section(XGBoostParams::kSection, model->hyper_parameters(), "t")
                        .get<XGBoostParams>();
  EXPECT_EQ(back.learning_rate, 0.125);
  EXPECT_EQ(back.booster, "gbtree");
  EXPECT_NE(model->describe().find("gbtree booster, untrained, up to 60 trees"), std::string::npos)
      << model->describe();

  // Bad values and unknown keys name the key.
  toml::table bad = config::to_table(q);
  bad.insert_or_assign("booster", "gblinear");
  EXPECT_NE(
      error_of([&] { make_model("xgboost", InputShape::of(*train_), bad); }).find("model.xgboost.booster"),
      std::string::npos);
  bad = config::to_table(q);
  bad.insert_or_assign("subsample", 1.5);
  EXPECT_NE(
      error_of([&] { make_model("xgboost", InputShape::of(*train_), bad); }).find("model.xgboost.subsample"),
      std::string::npos);
  bad = config::to_table(q);
  bad.insert_or_assign("n_estimator", 10);
  EXPECT_NE(error_of([&] { make_model("xgboost", InputShape::of(*train_), bad); }).find("n_estimator"),
            std::string::npos);
}

// The synthetic target is a known function of the drivers (docs/synthetic-ocean.md): both boosters must learn
// most of it, and the kept model must be the one whose validation loss the fit reports.
TEST_F(XGBoostModelTest, GbtreeAndDartBeatTheMeanByAWideMargin) {
  const double base = baseline();
  const Flat v = gather(*validation_);
  for (const char* booster : {"gbtree", "dart"}) {
    SCOPED_TRACE(booster);
    const auto model = make(small(booster));
    const FitResult r = model->fit(*train_, *validation_, options(std::string("fit_") + booster), ctx());
    const double m = mse(predict(*model, v), v.y);
    std::cout << "[          ] " << booster << ": validation MSE " << m << " vs baseline (training mean) "
              << base << " (" << r.history.size() << " rounds, best " << r.best_epoch << ", " << r.stop_reason
              << ", " << train_->windows() << " training / " << v.n << " validation windows)\n";
    EXPECT_LT(m, 0.3 * base);
    EXPECT_NEAR(m, r.best_validation_loss, 1e-5 * r.best_validation_loss);
    ASSERT_FALSE(r.history.empty());
    EXPECT_EQ(r.history[std::size_t(r.best_epoch) - 1].validation_loss, r.best_validation_loss);
    EXPECT_NE(model->describe().find(std::to_string(r.best_epoch) + " trees"), std::string::npos)
        << model->describe();
  }
}

TEST_F(XGBoostModelTest, EarlyStoppingKeepsTheBestRoundAndWritesTheLossTable) {
  XGBoostParams p = small("gbtree");
  p.learning_rate = 1.0;
  p.subsample = 1.0;
  p.colsample_bytree = 1.0;
  p.n_estimators = 300;
  p.early_stopping_rounds = 5;
  const auto model = make(p);
  const auto o = options("early");
  const FitResult r = model->fit(*train_, *validation_, o, ctx());
  EXPECT_EQ(r.stop_reason, "early stopping");
  EXPECT_LT(r.history.size(), 300u);
  EXPECT_LT(std::size_t(r.best_epoch), r.history.size());
  EXPECT_EQ(r.history.size(), std::size_t(r.best_epoch) + 5);
  for (std::size_t i = 0; i < r.history.size(); ++i) {
    EXPECT_EQ(r.history[i].epoch, int(i) + 1);
    EXPECT_GE(r.history[i].validation_loss, r.best_validation_loss);
  }
  const Flat v = gather(*validation_);
  EXPECT_NEAR(mse(predict(*model, v), v.y), r.best_validation_loss, 1e-5 * r.best_validation_loss);

  ASSERT_TRUE(fs::exists(o.work_dir / "losses.csv"));
  EXPECT_FALSE(fs::exists(o.work_dir / "losses.csv.partial"));
  std::ifstream in(o.work_dir / "losses.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,train_loss,validation_loss,seconds");
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(rows, r.history.size());
    std::istringstream row(line);
    std::string epoch, train_loss, validation_loss;
    std::getline(row, epoch, ',');
    std::getline(row, train_loss, ',');
    std::getline(row, validation_loss, ',');
    EXPECT_EQ(std::stoi(epoch), r.history[rows].epoch);
    EXPECT_NEAR(std::stod(train_loss), r.history[rows].train_loss, 1e-7 * r.history[rows].train_loss);
    EXPECT_NEAR(std::stod(validation_loss), r.history[rows].validation_loss,
                1e-7 * r.history[rows].validation_loss);
    ++rows;
  }
  EXPECT_EQ(rows, r.history.size());
}

// With dropout DART rescales earlier trees, so slicing would not give the best round's model: it is restored
// from a snapshot instead.
TEST_F(XGBoostModelTest, AnEpochCallbackSeesEveryRoundAndCanStopTraining) {
  XGBoostParams p = small("gbtree");
  p.n_estimators = 50;
  p.early_stopping_rounds = 0;
  const auto model = make(p);
  auto o = options("callback");
  std::vector<EpochRecord> seen;
  o.on_epoch = [&seen](const EpochRecord& r) {
    seen.push_back(r);
    return r.epoch < 4;
  };
  const FitResult r = model->fit(*train_, *validation_, o, ctx());
  EXPECT_EQ(r.stop_reason, "callback");
  ASSERT_EQ(seen.size(), 4u);
  ASSERT_EQ(r.history.size(), 4u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].epoch, int(i) + 1);
    EXPECT_EQ(seen[i].validation_loss, r.history[i].validation_loss);
    EXPECT_TRUE(std::isfinite(seen[i].validation_loss));
  }
  // An exception thrown by the callback ends fit() with it.
  auto o2 = options("callback_throws");
  o2.on_epoch = [](const EpochRecord&) -> bool { throw std::runtime_error("stop here"); };
  EXPECT_THROW(make(p)->fit(*train_, *validation_, o2, ctx()), std::runtime_error);
}

TEST_F(XGBoostModelTest, DartWithDropoutKeepsTheBestRoundsModel) {
  XGBoostParams p = small("dart");
  p.rate_drop = 0.3;
  p.learning_rate = 0.5;
  p.n_estimators = 200;
  p.early_stopping_rounds = 4;
  const auto model = make(p);
  const FitResult r = model->fit(*train_, *validation_, options("dart_drop"), ctx());
  ASSERT_EQ(r.stop_reason, "early stopping");
  ASSERT_LT(std::size_t(r.best_epoch), r.history.size());
  const Flat v = gather(*validation_);
  const auto a = predict(*model, v), b = predict(*model, v);
  EXPECT_EQ(a, b);  // inference never drops trees
  EXPECT_NEAR(mse(a, v.y), r.best_validation_loss, 1e-5 * r.best_validation_loss);
}

TEST_F(XGBoostModelTest, EarlyStoppingOffKeepsEveryRound) {
  XGBoostParams p = small("gbtree");
  p.n_estimators = 15;
  p.early_stopping_rounds = 0;
  const auto model = make(p);
  const FitResult r = model->fit(*train_, *validation_, options("no_early"), ctx());
  EXPECT_EQ(r.stop_reason, "n_estimators");
  EXPECT_EQ(r.history.size(), 15u);
  EXPECT_EQ(r.best_epoch, 15);
  EXPECT_EQ(r.best_validation_loss, r.history.back().validation_loss);
  EXPECT_NE(model->describe().find("15 trees"), std::string::npos);
}

TEST_F(XGBoostModelTest, SavedWeightsReloadToBitIdenticalPredictions) {
  const auto model = make(small("dart"));
  model->fit(*train_, *validation_, options("save"), ctx());
  const fs::path dir = root_ / "artifact";
  model->save_weights(dir);
  ASSERT_TRUE(fs::exists(dir / "model.json"));

  const auto fresh = make_model("xgboost", model->input_shape(), model->hyper_parameters());
  EXPECT_NE(error_of([&] { predict(*fresh, gather(*validation_)); }).find("before fit or load_weights"),
            std::string::npos);
  fresh->load_weights(dir);
  const Flat v = gather(*validation_);
  const auto a = predict(*model, v), b = predict(*fresh, v);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_EQ(model->describe(), fresh->describe());
  // The thread count does not change predictions.
  std::vector<float> c(v.n);
  Context one;
  fresh->predict(v.x, v.n, c, one);
  EXPECT_EQ(a, c);

  // Missing and corrupt weights name the file.
  const std::string missing = error_of([&] { fresh->load_weights(root_ / "nowhere"); });
  EXPECT_NE(missing.find("nowhere/model.json"), std::string::npos) << missing;
  fs::create_directories(root_ / "corrupt");
  std::ofstream(root_ / "corrupt" / "model.json") << "{\"learner\": [1, 2";
  const std::string corrupt = error_of([&] { fresh->load_weights(root_ / "corrupt"); });
  EXPECT_NE(corrupt.find("corrupt/model.json"), std::string::npos) << corrupt;
  EXPECT_EQ(predict(*fresh, v), a);  // a failed load keeps the model
  // Weights of a model with another input width are rejected.
  const auto other = make_model("xgboost", InputShape::of(*other_), config::to_table(small("gbtree")));
  const std::string width = error_of([&] { other->load_weights(dir); });
  EXPECT_NE(width.find("44 input columns"), std::string::npos) << width;
}

// import-weights: an XGBoost JSON model (what convert_pickles.py --xgboost writes) predicts as the model that
// saved it; a pickle, other bytes and a model for another number of columns are FileErrors naming the file.
TEST_F(XGBoostModelTest, ImportsJsonModelsAndRefusesOthersNamingTheFile) {
  const auto model = make(small("gbtree"));
  model->fit(*train_, *validation_, options("import"), ctx());
  model->save_weights(root_ / "saved");
  const fs::path json = root_ / "saved" / "model.json";
  const auto imported = make_model("xgboost", model->input_shape(), model->hyper_parameters());
  imported->import_weights(json);
  const Flat v = gather(*validation_);
  EXPECT_EQ(predict(*imported, v), predict(*model, v));

  fs::create_directories(root_ / "bad");
  const auto refused = [&](const std::string& name, const std::string& bytes, const std::string& fragment) {
    const fs::path f = root_ / "bad" / name;
    std::ofstream(f, std::ios::binary) << bytes;
    try {
      imported->import_weights(f);
      ADD_FAILURE() << name << " was imported";
    } catch (const FileError& e) {
      EXPECT_EQ(e.file(), f.string());
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  refused("regressor.pkl", std::string("\x80\x04\x95", 3) + "xgboost.sklearn",
          "convert_pickles.py --xgboost");
  refused("model.txt", "booster[0]:\n0:leaf=1\n", "not an XGBoost JSON or UBJ model");
  refused("empty.json", "", "empty file");
  refused("cut.json", "{\"learner\": [1, 2", "not a readable XGBoost model");
  const std::string absent = error_of([&] { imported->import_weights(root_ / "bad" / "absent.json"); });
  EXPECT_NE(absent.find("absent.json: file not found"), std::string::npos) << absent;
  EXPECT_EQ(predict(*imported, v), predict(*model, v));  // a failed import keeps the model
  const auto other = make_model("xgboost", InputShape::of(*other_), config::to_table(small("gbtree")));
  try {
    other->import_weights(json);
    ADD_FAILURE() << "a model for 44 columns was imported for another width";
  } catch (const FileError& e) {
    EXPECT_EQ(e.file(), json.string());
    EXPECT_NE(std::string(e.what()).find("the model takes 44 input columns, but the inputs have"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(XGBoostModelTest, NonFiniteInputThrows) {
  const auto model = make(small("gbtree"));
  model->fit(*train_, *validation_, options("nan"), ctx());
  Flat v = gather(*validation_);
  const std::size_t width = train_->flat_width();
  v.x[5 * width + 3] = std::numeric_limits<float>::quiet_NaN();
  std::string e = error_of([&] { predict(*model, v); });
  EXPECT_NE(e.find("NaN in model input at row 5, column 3"), std::string::npos) << e;
  v.x[5 * width + 3] = 0;
  v.x[7 * width + 42] = std::numeric_limits<float>::infinity();
  e = error_of([&] { predict(*model, v); });
  EXPECT_NE(e.find("infinity in model input at row 7, column 42"), std::string::npos) << e;
}

TEST_F(XGBoostModelTest, AnotherFeatureSetIsRejected) {
  const auto model = make(small("gbtree"));
  // fit: the store's features differ from the model's; both are named.
  std::string e = error_of([&] { model->fit(*train_, *other_, options("other"), ctx()); });
  EXPECT_NE(e.find(other_->path().string()), std::string::npos) << e;
  EXPECT_NE(e.find("currents_X"), std::string::npos) << e;
  model->fit(*train_, *validation_, options("other"), ctx());
  // predict: windows of a store with 36 columns for a model of 44.
  const Flat o = gather(*other_);
  e = error_of([&] { predict(*model, o); });
  EXPECT_NE(e.find("36 columns per window"), std::string::npos) << e;
  EXPECT_NE(e.find("44 columns"), std::string::npos) << e;
}

TEST_F(XGBoostModelTest, SameSeedAndThreadsGiveIdenticalModels) {
  const Flat v = gather(*validation_);
  std::vector<std::vector<float>> preds;
  for (std::uint64_t seed : {7u, 7u, 8u}) {
    const auto model = make(small("gbtree"));
    model->fit(*train_, *validation_, options("seed", seed), ctx());
    preds.push_back(predict(*model, v));
  }
  EXPECT_EQ(preds[0], preds[1]);
  EXPECT_NE(preds[0], preds[2]);  // subsample and colsample_bytree < 1: the seed matters
}

// `fluxkit train`'s driver: [train] seed decides the model (not [run] seed), and the artifact records what
// the model learnt from, so a seed ensemble on one training store differs only in its models.
TEST_F(XGBoostModelTest, TrainSeedDecidesTheModelAndTheArtifactRecordsTheData) {
  const Flat v = gather(*validation_);
  const std::map<std::string, toml::table> hyper = {{"xgboost", config::to_table(small("gbtree"))}};
  auto train = [&](const std::string& name, std::int64_t train_seed, std::uint64_t run_seed) {
    TrainParams p;
    p.models = {"xgboost"};
    p.output_dir = (root_ / name).string();
    p.seed = train_seed;
    Context c = ctx();
    c.seed = run_seed;
    const auto trained = train_models(p, *train_, *validation_, hyper, false, c, kProv);
    EXPECT_EQ(trained.size(), 1u);
    const LoadedModel m = load_artifact(trained.at(0).artifact);
    return std::pair{m.info, predict(*m.model, v)};
  };
  const auto [a, pa] = train("ens_a", 11, 1);
  const auto [b, pb] = train("ens_b", 11, 2);   // another run seed, the same train seed
  const auto [c, pc] = train("ens_c", 12, 1);   // another train seed
  const auto [d, pd] = train("ens_d", -1, 12);  // -1: the run's seed
  EXPECT_EQ(a.seed, 11u);
  EXPECT_EQ(b.seed, 11u);
  EXPECT_EQ(c.seed, 12u);
  EXPECT_EQ(d.seed, 12u);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
  EXPECT_EQ(pc, pd);
  // The training data, from the stores: one store, so every member records the same.
  for (const ArtifactInfo* i : {&a, &b, &c}) {
    EXPECT_EQ(i->train_fingerprint, a.train_fingerprint);
    EXPECT_EQ(i->train_experiment, "experiment_5");
    EXPECT_EQ(i->train_first_year, 2000);
    EXPECT_EQ(i->train_last_year, 2001);
    EXPECT_EQ(i->validation_experiment, "experiment_5");
    EXPECT_EQ(i->validation_first_year, 2002);
    EXPECT_EQ(i->validation_last_year, 2003);
    EXPECT_EQ(i->subsample_seed, train_->header().seed);
  }
  EXPECT_THROW(config::Document::from_string("[train]\nseed = -2\n").get<TrainParams>(), ConfigError);
  EXPECT_EQ(config::Document().get<TrainParams>().seed, -1);
}

}  // namespace
}  // namespace fluxkit

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/torch_runtime.hpp"
#include "fluxkit/explain/explainer.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/models/torch_models.hpp"
#include "fluxkit/training/train.hpp"
#include "store_fixture.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

class TorchModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { register_torch_models(); }
  void SetUp() override {
    ctx_.threads = 2;
    configure_torch(ctx_);
    work_ = fs::temp_directory_path() / ("fluxkit_torch_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work_);
  }
  void TearDown() override { fs::remove_all(work_); }

  static toml::table small(const std::string& type, std::int64_t epochs) {
    if (type == "mlp") {
      MlpParams p;
      p.hidden_dims = {32, 32};
      p.fit.max_epochs = epochs;
      p.fit.batch_size = 64;
      p.fit.learning_rate = 3e-3;
      return config::to_table(p);
    }
    if (type == "lstm") {
      LstmParams p;
      p.hidden_dim = 16;
      p.num_layers = 2;
      p.dropout = 0.1;
      p.fit.max_epochs = epochs;
      p.fit.batch_size = 64;
      p.fit.learning_rate = 3e-3;
      return config::to_table(p);
    }
    AttentionLstmParams p;
    p.hidden_dim = 16;
    p.fit.max_epochs = epochs;
    p.fit.batch_size = 64;
    p.fit.learning_rate = 3e-3;
    return config::to_table(p);
  }
  std::vector<float> predict_all(const Model& m, const SampleStore& s) const {
    WindowBatches b(s, 100000, m.layout(), false, 0);
    std::vector<float> x, y, out;
    std::vector<std::uint64_t> ids;
    while (b.next(x, y, ids)) {
      std::vector<float> p(ids.size());
      m.predict(x, ids.size(), p, ctx_);
      out.insert(out.end(), p.begin(), p.end());
    }
    return out;
  }

  Context ctx_;
  fs::path work_;
};

TEST_F(TorchModels, ForwardShapesAndAttentionWeightsSumToOne) {
  const SampleStore val(testing::small_stores().validation);
  const InputShape shape = InputShape::of(val);
  for (const char* type : {"mlp", "lstm", "attention_lstm"}) {
    auto m = make_model(type, shape, small(type, 1));
    const std::size_t n = 37;
    std::vector<std::uint64_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    const std::size_t width =
        m->layout() == WindowLayout::Flat ? val.flat_width() : val.window() * val.features();
    std::vector<float> x(n * width), y(n), out(n);
    if (m->layout() == WindowLayout::Flat)
      val.gather_flat(ids, x, y);
    else
      val.gather_sequence(ids, x, y);
    m->predict(x, n, out, ctx_);
    for (float v : out)
      EXPECT_TRUE(std::isfinite(v)) << type;
    EXPECT_NE(m->describe().find("parameters"), std::string::npos);
    EXPECT_EQ(m->has_attention(), std::string(type) == "attention_lstm");
    if (m->has_attention()) {
      const std::size_t W = val.window(), F = val.features();
      std::vector<float> alpha(n * W * F), beta(n * W), y2(n);
      m->predict_with_attention(x, n, y2, alpha, beta, ctx_);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_FLOAT_EQ(y2[i], out[i]);
        double sb = 0;
        for (std::size_t t = 0; t < W; ++t) {
          sb += beta[i * W + t];
          double sa = 0;
          for (std::size_t f = 0; f < F; ++f)
            sa += alpha[(i * W + t) * F + f];
          EXPECT_NEAR(sa, 1.0, 1e-5);
        }
        EXPECT_NEAR(sb, 1.0, 1e-5);
      }
      // Each window's weights are its own: the same when it is predicted alone.
      for (std::size_t i : {std::size_t{0}, std::size_t{17}, n - 1}) {
        std::vector<float> a1(W * F), b1(W), y1(1);
        m->predict_with_attention(std::span<const float>(x).subspan(i * width, width), 1, y1, a1, b1, ctx_);
        EXPECT_NEAR(y1[0], y2[i], 1e-5);
        for (std::size_t k = 0; k < W * F; ++k)
          EXPECT_NEAR(a1[k], alpha[i * W * F + k], 1e-6) << "window " << i << ", alpha " << k;
        for (std::size_t t = 0; t < W; ++t)
          EXPECT_NEAR(b1[t], beta[i * W + t], 1e-6) << "window " << i << ", beta " << t;
      }
    }
  }
  // The seed's default architectures: parameter counts of spec §4 (44- and 14-feature inputs).
  EXPECT_NE(make_model("mlp", shape, config::to_table(MlpParams{}))->describe().find("110400 parameters"),
            std::string::npos);
  EXPECT_NE(make_model("lstm", shape, config::to_table(LstmParams{}))->describe().find("338049 parameters"),
            std::string::npos);
  EXPECT_NE(make_model("attention_lstm", shape, config::to_table(AttentionLstmParams{}))
                ->describe()
                .find("417808 parameters"),
            std::string::npos);
}

// The explainers run one sample per thread on a libtorch model (its predict runs concurrently): the
// attributions are bit for bit those of one thread, for the flat and the recurrent networks.
TEST_F(TorchModels, ExplanationsAreTheSameWithOneAndSeveralThreads) {
  const SampleStore val(testing::small_stores().validation);
  const InputShape shape = InputShape::of(val);
  const std::size_t M = val.flat_width(), n = 5, rows = 20;
  std::vector<std::uint64_t> ids(n + rows);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> x((n + rows) * M), y(n + rows);
  val.gather_flat(ids, x, y);
  const explain::Background bg =
      explain::uniform_background(std::vector<float>(x.begin() + n * M, x.end()), M);
  explain::ExplainOptions options;
  options.kernel.nsamples = 120;
  for (const char* type : {"mlp", "lstm", "attention_lstm"}) {
    auto m = make_model(type, shape, small(type, 1));
    EXPECT_TRUE(m->predicts_concurrently()) << type;
    std::vector<std::string> methods = {"kernel_shap"};
    if (m->layout() == WindowLayout::Sequence) methods.push_back("timeshap");
    for (const auto& method : methods) {
      const auto explainer = explain::make_explainer(method);
      std::vector<std::vector<double>> phi;
      for (int threads : {1, 2, 3}) {
        Context c = ctx_;
        c.threads = threads;
        const explain::Explanation e =
            explainer->explain(*m, std::span<const float>(x).first(n * M), n, bg, options, c);
        ASSERT_EQ(e.phi.size(), n * e.players) << type << " " << method;
        phi.push_back(e.phi);
        phi.back().insert(phi.back().end(), e.fx.begin(), e.fx.end());
        phi.back().insert(phi.back().end(), e.cell.begin(), e.cell.end());
      }
      for (std::size_t k = 1; k < phi.size(); ++k)
        for (std::size_t i = 0; i < phi[0].size(); ++i)
          ASSERT_EQ(phi[k][i], phi[0][i])
              << type << " " << method << ", " << k + 1 << " threads, value " << i;
    }
  }
  configure_torch(ctx_);  // this thread ran a sample with one thread
}

// An ensemble of attention-LSTMs (EnsembleMean, explained as the members' mean): its attention weights and
// predictions are the members' means, and TimeSHAP of the mean is efficient for the mean's predictions.
TEST_F(TorchModels, AnEnsembleAveragesPredictionsAndAttention) {
  const SampleStore val(testing::small_stores().validation);
  const InputShape shape = InputShape::of(val);
  const std::size_t M = val.flat_width(), n = 3, rows = 10, W = shape.window, F = shape.features.size();
  std::vector<std::uint64_t> ids(n + rows);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> x((n + rows) * M), y(n + rows);
  val.gather_flat(ids, x, y);
  std::vector<std::unique_ptr<Model>> members;
  std::vector<const Model*> member;
  for (int k = 0; k < 2; ++k) {  // two initialisations: different weights
    members.push_back(make_model("attention_lstm", shape, small("attention_lstm", 1)));
    member.push_back(members.back().get());
  }
  const EnsembleMean mean(std::move(members));
  EXPECT_TRUE(mean.has_attention());
  EXPECT_TRUE(mean.predicts_concurrently());
  std::vector<float> seq(n * W * F);
  explain::flat_to_sequence(shape, std::span<const float>(x).first(n * M), n, seq);
  std::vector<float> ym(n), am(n * W * F), bm(n * W);
  mean.predict_with_attention(seq, n, ym, am, bm, ctx_);
  std::vector<std::vector<float>> ys, as, bs;
  for (const Model* m : member) {
    ys.emplace_back(n);
    as.emplace_back(n * W * F);
    bs.emplace_back(n * W);
    m->predict_with_attention(seq, n, ys.back(), as.back(), bs.back(), ctx_);
  }
  double differ = 0;
  for (std::size_t i = 0; i < n * W * F; ++i) {
    EXPECT_NEAR(am[i], 0.5 * (double(as[0][i]) + as[1][i]), 1e-7) << i;
    differ = std::max(differ, std::abs(double(as[0][i]) - as[1][i]));
  }
  EXPECT_GT(differ, 1e-4) << "the members should differ";
  for (std::size_t i = 0; i < n * W; ++i)
    EXPECT_NEAR(bm[i], 0.5 * (double(bs[0][i]) + bs[1][i]), 1e-7) << i;
  std::vector<float> yp(n);
  mean.predict(seq, n, yp, ctx_);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(ym[i], 0.5 * (double(ys[0][i]) + ys[1][i]), 1e-6) << i;
    EXPECT_NEAR(yp[i], ym[i], 1e-6) << i;
  }
  const explain::Background bg =
      explain::uniform_background(std::vector<float>(x.begin() + n * M, x.end()), M);
  const explain::Explanation e = explain::make_explainer("timeshap")
                                     ->explain(mean, std::span<const float>(x).first(n * M), n, bg, {}, ctx_);
  ASSERT_EQ(e.players, (F + 1) + (W + 1));  // feature level (+ pruned events), event level (+ pruned events)
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(e.fx[i], yp[i], 1e-6) << i;
    double features = 0, events = 0;
    for (std::size_t p = 0; p < e.players; ++p)
      (p <= F ? features : events) += e.phi[i * e.players + p];
    EXPECT_NEAR(features, e.fx[i] - e.base[i], 1e-5 * (1 + std::abs(e.fx[i]))) << i;
    EXPECT_NEAR(events, e.fx[i] - e.base[i], 1e-5 * (1 + std::abs(e.fx[i]))) << i;
  }
}

TEST_F(TorchModels, OverfitsOneBatch) {
  const SampleStore tiny(testing::small_stores().tiny);
  ASSERT_LE(tiny.windows(), 128u);
  MlpParams p;
  p.hidden_dims = {64, 64};
  p.fit.batch_size = 128;
  p.fit.learning_rate = 1e-2;
  p.fit.max_epochs = 400;
  p.fit.patience = 400;
  auto m = make_model("mlp", InputShape::of(tiny), config::to_table(p));
  const FitResult r = m->fit(tiny, tiny, TrainOptions{work_, false, 1}, ctx_);
  EXPECT_LT(r.best_validation_loss, 0.01);  // memorised
}

TEST_F(TorchModels, TrainingBeatsTheBaselinesAndIsRepeatable) {
  const SampleStore train(testing::small_stores().train), val(testing::small_stores().validation);
  const Baselines base = baseline_mse(train, val);
  EXPECT_LT(base.linear_mse, base.mean_mse);
  auto a = make_model("lstm", InputShape::of(train), small("lstm", 6));
  const FitResult r = a->fit(train, val, TrainOptions{work_ / "a", false, 5}, ctx_);
  EXPECT_LT(r.best_validation_loss, 0.5 * base.mean_mse);
  EXPECT_EQ(r.history.size(), 6u);
  EXPECT_TRUE(fs::exists(work_ / "a" / "losses.csv"));
  // Same seed, same threads: the same weights.
  auto b = make_model("lstm", InputShape::of(train), small("lstm", 6));
  b->fit(train, val, TrainOptions{work_ / "b", false, 5}, ctx_);
  EXPECT_EQ(predict_all(*a, val), predict_all(*b, val));
}

TEST_F(TorchModels, ResumeEndsWithTheSameWeights) {
  const SampleStore train(testing::small_stores().train), val(testing::small_stores().validation);
  // attention_lstm: dropout, so the random generator state must be restored too.
  AttentionLstmParams p;
  p.hidden_dim = 16;
  p.dropout = 0.3;
  p.fit.batch_size = 64;
  p.fit.max_epochs = 4;
  p.fit.patience = 100;
  auto full = make_model("attention_lstm", InputShape::of(train), config::to_table(p));
  const FitResult rf = full->fit(train, val, TrainOptions{work_ / "full", false, 9}, ctx_);
  // An interrupted run: stops after epoch 2 (its checkpoint is what a kill -9 leaves), then resumes.
  AttentionLstmParams first = p;
  first.fit.max_epochs = 2;
  make_model("attention_lstm", InputShape::of(train), config::to_table(first))
      ->fit(train, val, TrainOptions{work_ / "cut", false, 9}, ctx_);
  auto resumed = make_model("attention_lstm", InputShape::of(train), config::to_table(p));
  const FitResult rr = resumed->fit(train, val, TrainOptions{work_ / "cut", true, 9}, ctx_);
  ASSERT_EQ(rr.history.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e)
    EXPECT_DOUBLE_EQ(rr.history[e].validation_loss, rf.history[e].validation_loss);
  EXPECT_EQ(predict_all(*full, val), predict_all(*resumed, val));
}

TEST_F(TorchModels, ArtifactRoundTripIsIdentical) {
  const SampleStore train(testing::small_stores().train), val(testing::small_stores().validation);
  for (const char* type : {"mlp", "attention_lstm"}) {
    auto m = make_model(type, InputShape::of(train), small(type, 1));
    const FitResult r = m->fit(train, val, TrainOptions{work_ / type, false, 3}, ctx_);
    ArtifactInfo info;
    info.type = type;
    info.shape = InputShape::of(train);
    info.stats = train.stats();
    info.best_epoch = r.best_epoch;
    save_artifact(work_ / (std::string(type) + "_artifact"), *m, info, work_ / type / "losses.csv");
    const LoadedModel loaded = load_artifact(work_ / (std::string(type) + "_artifact"));
    EXPECT_EQ(loaded.info.type, type);
    EXPECT_EQ(loaded.info.shape, info.shape);
    EXPECT_EQ(predict_all(*m, val), predict_all(*loaded.model, val));
    EXPECT_NO_THROW(check_store_matches(loaded.info, val));
  }
}

TEST_F(TorchModels, BadInputsAreErrors) {
  const SampleStore train(testing::small_stores().train), val(testing::small_stores().validation);
  auto m = make_model("mlp", InputShape::of(train), small("mlp", 1));
  std::vector<float> x(val.flat_width() * 2, 0.0f), y(2);
  x[val.flat_width() + 3] = std::nanf("");
  try {
    m->predict(x, 2, y, ctx_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite model input at row 1, column 3"), std::string::npos)
        << e.what();
  }
  {  // an infinity in a later block of the check (4096 values each) and one in the last, partial block
    const std::size_t rows = 200, W = val.flat_width();
    ASSERT_NE(rows * W % 4096, 0u);
    for (const std::size_t row : {150, 199}) {
      std::vector<float> big(W * rows, 0.5f), out(rows);
      big[row * W + W - 1] = -std::numeric_limits<float>::infinity();
      try {
        m->predict(big, rows, out, ctx_);
        FAIL() << row;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(
                      fmt::format("non-finite model input at row {}, column {} (-inf)", row, W - 1)),
                  std::string::npos)
            << e.what();
      }
    }
  }
  InputShape other = InputShape::of(train);
  other.features.back() = "chlorophyll";
  auto wrong = make_model("mlp", other, small("mlp", 1));
  EXPECT_THROW(wrong->fit(train, val, TrainOptions{work_, false, 1}, ctx_), Error);
  // An artifact of a newer format, or one whose model type is unknown.
  ArtifactInfo info;
  info.type = "mlp";
  info.shape = InputShape::of(train);
  info.stats = train.stats();
  save_artifact(work_ / "art", *m, info, {});
  {
    std::string text;
    {
      std::ifstream in(work_ / "art" / "model.toml");
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto pos = text.find("format_version = 1");
    ASSERT_NE(pos, std::string::npos);
    std::ofstream(work_ / "art" / "model.toml") << text.replace(pos, 18, "format_version = 9");
  }
  try {
    load_artifact(work_ / "art");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("artifact format 9 is newer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_artifact(work_ / "missing"), FileError);
  EXPECT_THROW(make_model("transformer", other, {}), Error);
}

}  // namespace
}  // namespace fluxkit

namespace fluxkit {
namespace {

// Weights saved by the seed's modules in Debian's python3-torch (tests/models/data/make_import_parity.py)
// give the same predictions in fluxkit.
class ImportWeights : public ::testing::TestWithParam<const char*> {};

TEST_P(ImportWeights, PredictsAsPyTorch) {
  register_torch_models();
  const std::string type = GetParam();
  const std::string base = std::string(FLUXKIT_SOURCE_DIR) + "/tests/models/data/" + type + "_seed";
  InputShape shape;
  shape.window = 4;
  for (int f = 0; f < 14; ++f) {
    shape.features.push_back("f" + std::to_string(f));
    shape.is_static.push_back(f >= 10);
  }
  toml::table hp;
  if (type == "mlp") {
    MlpParams p;
    p.hidden_dims = {12, 9};
    hp = config::to_table(p);
  } else if (type == "lstm") {
    LstmParams p;
    p.hidden_dim = 8;
    p.num_layers = 2;
    hp = config::to_table(p);
  } else {
    AttentionLstmParams p;
    p.hidden_dim = 8;
    hp = config::to_table(p);
  }
  auto model = make_model(type, shape, hp);
  model->import_state_dict(read_pytorch_state_dict(base + ".pt"));
  std::ifstream in(base + ".io");
  std::string line;
  std::vector<float> x, expected;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string tok;
    while (ss >> tok && tok != "|")
      x.push_back(std::stof(tok));
    ss >> tok;
    expected.push_back(std::stof(tok));
  }
  const std::size_t n = expected.size();
  ASSERT_EQ(n, 16u);
  std::vector<float> y(n);
  Context ctx;
  model->predict(x, n, y, ctx);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-5) << type << " window " << i;

  // A state dict for other hyper-parameters is refused, naming the weight.
  if (type == "lstm") {
    LstmParams p;
    p.hidden_dim = 16;
    p.num_layers = 2;
    auto wrong = make_model(type, shape, config::to_table(p));
    try {
      wrong->import_state_dict(read_pytorch_state_dict(base + ".pt"));
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(
                    "weight 'lstm.weight_ih_l0' has shape [32, 14], the model's is [64, 14]"),
                std::string::npos)
          << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SeedModels, ImportWeights, ::testing::Values("mlp", "lstm", "attention_lstm"));

}  // namespace
}  // namespace fluxkit

namespace fluxkit {
namespace {

TEST(TorchModelsDivergence, NonFiniteLossStopsAndKeepsTheLastGoodWeights) {
  register_torch_models();
  const SampleStore train(testing::small_stores().train), val(testing::small_stores().validation);
  MlpParams p;
  p.hidden_dims = {16};
  p.fit.learning_rate = 1e12;  // diverges within a few steps
  p.fit.max_epochs = 5;
  auto m = make_model("mlp", InputShape::of(train), config::to_table(p));
  const auto work =
      std::filesystem::temp_directory_path() / ("fluxkit_diverge_" + std::to_string(::getpid()));
  Context ctx;
  // Diverges in the first epoch: there are no good weights to keep, and the message says so.
  try {
    m->fit(train, val, TrainOptions{work, false, 1}, ctx);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no epoch finished with a finite validation loss"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(work / "checkpoint.pt"));  // no checkpoint of diverged weights
  std::filesystem::remove_all(work);
}

}  // namespace
}  // namespace fluxkit

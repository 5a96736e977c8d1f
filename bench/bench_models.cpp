// Training and inference throughput of the four models on a synthetic store (windows of 4 months x 14
// features), all cores. Compared with the same models in Python by bench/compare_training.sh.
//   build/bench/bench_models [--benchmark_filter=Train]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/torch_runtime.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/models/torch_models.hpp"
#include "fluxkit/models/xgboost_model.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace {

namespace fs = std::filesystem;
using namespace fluxkit;

struct Stores {
  fs::path root;
  std::unique_ptr<SampleStore> train, validation;
  Stores() {
    root = fs::temp_directory_path() / ("fluxkit_bench_models_" + std::to_string(::getpid()));
    const Provenance prov{"fluxkit bench", "", "", "", ""};
    synth::SynthOceanParams s;
    s.output_dir = (root / "data").string();
    s.experiments = {"experiment_5"};
    s.start_year = 1999;
    s.end_year = 2002;
    s.resolution = 5.0;
    Context ctx;
    ctx.threads = hardware_threads();
    synth::generate_ocean(s, ctx, prov);
    DataParams d;
    d.root = s.output_dir;
    PrepareParams p;
    p.output_dir = (root / "samples").string();
    p.splits = {"train", "validation"};
    p.train_years = {2000, 2001};
    p.validation_years = {2002, 2002};
    p.train_fraction = 1.0;
    p.validation_fraction = 0.05;
    prepare_samples(p, d, ctx, prov);
    train = std::make_unique<SampleStore>(p.train_path());
    validation = std::make_unique<SampleStore>(p.validation_path());
    register_torch_models();
    register_xgboost_model();
  }
  ~Stores() { fs::remove_all(root); }
};

Stores& stores() {
  static Stores s;
  return s;
}

Context bench_context() {
  Context ctx;
  ctx.threads = hardware_threads();
  configure_torch(ctx);
  return ctx;
}

toml::table hyper(const std::string& type, std::int64_t batch) {
  if (type == "mlp") {
    MlpParams p;
    p.fit.max_epochs = 1;
    p.fit.batch_size = batch;
    return config::to_table(p);
  }
  if (type == "lstm") {
    LstmParams p;
    p.fit.max_epochs = 1;
    p.fit.batch_size = batch;
    return config::to_table(p);
  }
  if (type == "attention_lstm") {
    AttentionLstmParams p;
    p.fit.max_epochs = 1;
    p.fit.batch_size = batch;
    return config::to_table(p);
  }
  XGBoostParams p;
  p.booster = "gbtree";
  p.n_estimators = 100;
  return config::to_table(p);
}

// One epoch of training (the seed's architectures and hyper-parameters, the given batch size).
void train_epoch(benchmark::State& state, const std::string& type) {
  auto& s = stores();
  const Context ctx = bench_context();
  const auto batch = state.range(0);
  const fs::path work = s.root / ("work_" + type);
  for (auto _ : state) {
    auto model = make_model(type, InputShape::of(*s.train), hyper(type, batch));
    model->fit(*s.train, *s.validation, TrainOptions{work, false, 42}, ctx);
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(s.train->windows()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["threads"] = ctx.threads;
}

void predict_all(benchmark::State& state, const std::string& type) {
  auto& s = stores();
  const Context ctx = bench_context();
  auto model = make_model(type, InputShape::of(*s.train), hyper(type, 256));
  if (type == "xgboost")
    model->fit(*s.train, *s.validation, TrainOptions{s.root / "work_xgb_predict", false, 42}, ctx);
  WindowBatches b(*s.train, s.train->windows(), model->layout(), false, 0);
  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  b.next(x, y, ids);
  std::vector<float> out(ids.size());
  for (auto _ : state)
    model->predict(x, ids.size(), out, ctx);
  state.counters["samples/s"] = benchmark::Counter(
      static_cast<double>(ids.size()) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_TrainEpoch_lstm(benchmark::State& s) {
  train_epoch(s, "lstm");
}
void BM_TrainEpoch_attention_lstm(benchmark::State& s) {
  train_epoch(s, "attention_lstm");
}
void BM_TrainEpoch_mlp(benchmark::State& s) {
  train_epoch(s, "mlp");
}
void BM_Predict_mlp(benchmark::State& s) {
  predict_all(s, "mlp");
}
void BM_Predict_lstm(benchmark::State& s) {
  predict_all(s, "lstm");
}
void BM_Predict_attention_lstm(benchmark::State& s) {
  predict_all(s, "attention_lstm");
}
void BM_Predict_xgboost(benchmark::State& s) {
  predict_all(s, "xgboost");
}

BENCHMARK(BM_TrainEpoch_lstm)->Arg(32)->Arg(256)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_TrainEpoch_attention_lstm)
    ->Arg(32)
    ->Arg(256)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(BM_TrainEpoch_mlp)->Arg(128)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_Predict_mlp)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Predict_lstm)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Predict_attention_lstm)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Predict_xgboost)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();

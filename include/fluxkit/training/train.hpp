// `fluxkit train`: fits the configured models on the training store, selects on the validation store, writes
// one artifact per model and compares them with two baselines.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/sample_store.hpp"

namespace fluxkit {

struct TrainParams {
  static constexpr std::string_view kSection = "train";
  static constexpr std::string_view kDoc =
      "Model training (`fluxkit train`); each model's hyper-parameters are in its [model.<type>] section.";
  std::vector<std::string> models = {"mlp", "lstm", "attention_lstm", "xgboost"};
  std::string output_dir = "models";
  std::string train_store = "";
  std::string validation_store = "";
  std::int64_t seed = -1;

  template <class V>
  void visit(V&& v) {
    v("models", models, "Models to train: `mlp`, `lstm`, `attention_lstm`, `xgboost`.");
    v("output_dir", output_dir,
      "Artifacts go to <output_dir>/<model>/, checkpoints and losses while training to "
      "<output_dir>/<model>.work/.");
    v("train_store", train_store, "Training sample store; empty = <[prepare] output_dir>/train.nc.");
    v("validation_store", validation_store,
      "Validation sample store; empty = <[prepare] output_dir>/validation.nc.");
    v("seed", seed,
      "Seed of the model initialisation, the shuffling of the training windows and XGBoost's sampling; -1 = "
      "[run] seed. The cells are chosen by [prepare] seed, so varying this one trains a seed ensemble on the "
      "same data.");
  }
  void validate() const;

  // The seed of the models: `seed`, or the run's seed when it is -1.
  std::uint64_t model_seed(const Context& ctx) const;
};

// Validation MSE (normalised units) of two reference predictors fitted on the training windows: the training
// mean, and ordinary least squares on the flat window (W * F_dynamic + F_static columns plus an intercept).
struct Baselines {
  double mean_mse = 0;
  double linear_mse = 0;
};
Baselines baseline_mse(const SampleStore& train, const SampleStore& validation);

struct TrainedModel {
  std::string type;
  std::filesystem::path artifact;
  double validation_mse = 0;
  int best_epoch = 0, epochs = 0;
  std::string stop_reason;
  double seconds = 0;
};

// Trains every model of `params`; `hyper_parameters` maps a model type to its [model.<type>] table.
// resume: continue interrupted runs from the checkpoints in <output_dir>/<model>.work/.
std::vector<TrainedModel> train_models(const TrainParams& params, const SampleStore& train,
                                       const SampleStore& validation,
                                       const std::map<std::string, toml::table>& hyper_parameters,
                                       bool resume, const Context& ctx, const Provenance& provenance);

}  // namespace fluxkit

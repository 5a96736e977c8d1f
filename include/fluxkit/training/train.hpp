// `fluxkit train`: fits the configured models on the training store, selects on the validation store, writes
// one artifact per model and compares them with two baselines.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/models/model.hpp"

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
  std::int64_t ensemble = 1;
  std::vector<std::string> ensemble_models = {};

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
    v("ensemble", ensemble,
      "Members per model of ensemble_models: N > 1 trains N models of the same type, hyper-parameters and "
      "stores that differ only in their model seed (member k, k = 0 .. N-1, uses `seed` + k; member 0 is the "
      "model N = 1 would train), into <output_dir>/<model>/member_<k>/ with the manifest "
      "<output_dir>/<model>/ensemble.toml (checkpoints in <output_dir>/<model>.work/member_<k>/). Members "
      "train concurrently, up to [run] threads at a time with the threads split between them, and "
      "round-robin over the MPI ranks of "
      "`fluxkit --mpi train`; a member whose artifact is up to date (same seed, stores and "
      "hyper-parameters) is skipped, so a rerun finishes an interrupted ensemble. 1 = one artifact in "
      "<output_dir>/<model>/, as without ensembles.");
    v("ensemble_models", ensemble_models,
      "Models of `models` trained as ensembles of `ensemble` members; empty = all of them.");
  }
  void validate() const;

  // The seed of the models: `seed`, or the run's seed when it is -1.
  std::uint64_t model_seed(const Context& ctx) const;
  // Members of `type`: `ensemble` when it is one of ensemble_models (or that list is empty), else 1.
  int members(const std::string& type) const;
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
  int member = 0, members = 1;  // member k of an ensemble of `members` (0 of 1 for a single model)
  bool skipped = false;         // an up-to-date ensemble member existed and was kept
  std::filesystem::path artifact;
  double validation_mse = 0;
  int best_epoch = 0, epochs = 0;
  std::string stop_reason;
  double seconds = 0;
};

// One model to train: member `member` of `members` of `type` (0 of 1 for a single model).
struct TrainTask {
  std::string type;
  int member = 0, members = 1;
  std::uint64_t seed = 0;
  std::filesystem::path artifact, work_dir;
};
// Every (model, member) in order: the models of `params`, each one's members 0 .. N-1. A single model's
// artifact is <output_dir>/<model>, an ensemble member's <output_dir>/<model>/member_<k>.
std::vector<TrainTask> train_tasks(const TrainParams& params, const Context& ctx);

// Trains every model of `params` whose task index (train_tasks) % size == rank (MPI ranks; 0 of 1 = all);
// `hyper_parameters` maps a model type to its [model.<type>] table. The members of an ensemble on this rank
// train concurrently in waves of up to ctx.threads members with ctx.threads / (members in the wave) threads
// each; a single model trains alone with ctx.threads. resume: continue interrupted runs from the checkpoints
// in the tasks' work directories. Results in task order (this rank's tasks only). on_epoch, when set, is
// called after every epoch of every task (TrainOptions::on_epoch; concurrently from the threads of an
// ensemble's members): false stops that task's training.
using TaskEpochCallback = std::function<bool(const TrainTask&, const EpochRecord&)>;
std::vector<TrainedModel> train_models(const TrainParams& params, const SampleStore& train,
                                       const SampleStore& validation,
                                       const std::map<std::string, toml::table>& hyper_parameters,
                                       bool resume, const Context& ctx, const Provenance& provenance,
                                       int rank = 0, int size = 1, const TaskEpochCallback& on_epoch = {});

}  // namespace fluxkit

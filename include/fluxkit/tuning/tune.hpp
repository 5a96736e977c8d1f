// Hyper-parameter tuning ([tune], `fluxkit tune`): the settings of the studies. The driver is Python
// (python/fluxkit/tuning.py, on Optuna), which trains every trial in-process through the library
// (pipeline::TrialData); this section is declared here so that the command line, `fluxkit config` and
// docs/config.md know it like every other stage. The search spaces live in the open section
// [tune.space.<model>], whose parameter names and ranges the driver checks before any trial starts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit {

struct TuneParams {
  static constexpr std::string_view kSection = "tune";
  static constexpr std::string_view kDoc =
      "Hyper-parameter tuning (`fluxkit tune`, docs/tuning.md): one Optuna study per model, stored in "
      "`storage`; the search space of a model is its built-in default (the thesis' spaces) overridden by "
      "[tune.space.<model>].";

  std::vector<std::string> models = {"mlp", "lstm", "attention_lstm", "xgboost"};
  std::int64_t n_trials = 50;
  double timeout_minutes = 0;
  std::string sampler = "tpe";
  std::int64_t sampler_seed = -1;
  std::string pruner = "median";
  std::int64_t pruner_startup_trials = 5;
  std::int64_t pruner_warmup_steps = 2;
  double pruner_percentile = 25.0;
  std::int64_t xgboost_report_every = 10;
  std::int64_t max_epochs = 20;
  std::int64_t patience = 10;
  std::string train_store = "";
  std::string validation_store = "";
  std::string storage = "";
  std::string study_prefix = "";
  std::int64_t workers = 1;
  std::int64_t heartbeat_seconds = 30;
  std::int64_t max_retries = 1;
  std::string output_dir = "tuning";

  template <class V>
  void visit(V&& v) {
    v("models", models, "Models to tune, one study each, in this order.");
    v("n_trials", n_trials,
      "Finished trials (complete, pruned or failed for good) each study should hold. A rerun, or another "
      "worker on the same storage, adds trials until it does; a study that has them is skipped.");
    v("timeout_minutes", timeout_minutes,
      "Time budget of this process over all its studies: no trial starts after it; 0 = none.");
    v("sampler", sampler, "`tpe` (Optuna's TPESampler, seeded) or `random` (RandomSampler, seeded).");
    v("sampler_seed", sampler_seed,
      "Seed of the sampler (worker k of `workers` uses sampler_seed + k); -1 = [run] seed. The trials train "
      "with the "
      "[run] seed, as `fluxkit train`.");
    v("pruner", pruner,
      "Stops unpromising trials early: `median` (MedianPruner), `percentile` (PercentilePruner at "
      "pruner_percentile), `hyperband`, `successive_halving` or `none`.");
    v("pruner_startup_trials", pruner_startup_trials,
      "Median/percentile: no trial is pruned until this many trials of the study have finished.");
    v("pruner_warmup_steps", pruner_warmup_steps,
      "Median/percentile: a trial may be pruned only after this step (epoch; XGBoost: boosting round).");
    v("pruner_percentile", pruner_percentile,
      "Percentile pruner: a trial is pruned when its best value is worse than this percentile of the others "
      "at the same step, in (0, 100).");
    v("xgboost_report_every", xgboost_report_every,
      "XGBoost trials report the validation MSE to the pruner every this many boosting rounds.");
    v("max_epochs", max_epochs,
      "Epoch budget of a neural-network trial (the thesis: 20); the objective is the best validation MSE.");
    v("patience", patience, "Early-stopping patience of a neural-network trial, epochs (the thesis: 10).");
    v("train_store", train_store,
      "Training store of the trials; empty = [train]'s. A smaller store (`fluxkit prepare` with a lower "
      "train_fraction into another output_dir) makes each trial cheaper; the final training keeps "
      "[train]'s.");
    v("validation_store", validation_store, "Validation store of the trials; empty = [train]'s.");
    v("storage", storage,
      "Optuna storage URL holding the studies: `sqlite:///path.db` or "
      "`postgresql://user@host:port/database` for workers on several machines; empty = "
      "sqlite:///<output_dir>/studies.db.");
    v("study_prefix", study_prefix, "Prefix of the study names (a study is named <prefix><model>).");
    v("workers", workers,
      "Worker processes on this machine sharing the studies; [run] threads are split between them.");
    v("heartbeat_seconds", heartbeat_seconds,
      "A running trial writes a heartbeat this often; a trial silent for twice as long (a killed worker) "
      "is marked failed by the next worker and retried.");
    v("max_retries", max_retries,
      "How often a trial whose worker died is retried with the same parameters (0 = never).");
    v("output_dir", output_dir,
      "Results: best.toml (the best parameters as [model.<type>] sections, for `fluxkit train --config "
      "<run.toml> --config best.toml`), trials_<model>.csv and studies.db (the default storage).");
  }
  void validate() const;
};

}  // namespace fluxkit

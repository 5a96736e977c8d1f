// The pipeline's stages as library calls on a configuration document: what `fluxkit prepare`, `train`,
// `reconstruct` and `evaluate` run once their flags are folded into the document, so that the command line
// and the Python binding produce the same files from the same configuration.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/analysis/evaluate.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/explain/run.hpp"
#include "fluxkit/reconstruct/reconstruct.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit::pipeline {

// Checks every section of the document (ConfigError naming the key) and returns its run context ([run]).
Context stage_context(const config::Document& doc);

// `fluxkit prepare`: the sample stores of [prepare] and [data]. Logs the table of stores.
std::vector<StoreSummary> run_prepare(const config::Document& doc, const Context& ctx,
                                      const std::string& command_line);

// The training and validation stores of [train] (default: [prepare]'s), opened once and checked against
// the configuration ([data] features, [prepare] window and lead): what run_train and every tuning trial
// train on. A missing store is a FileError naming it and saying to run `fluxkit prepare`.
struct TrainingStores {
  std::unique_ptr<SampleStore> train, validation;
};
TrainingStores open_training_stores(const config::Document& doc);

// One tuning trial: a model of type `type` with the hyper-parameters of doc's [model.<type>] (checked like
// every section), trained on `stores` with the [train] seed and ctx.threads, writing no file (no artifact,
// checkpoint or loss table). on_epoch as in TrainOptions; a diverging trial returns a stop_reason starting
// with "non-finite".
FitResult fit_trial(const config::Document& doc, std::string_view type, const TrainingStores& stores,
                    const Context& ctx, const EpochCallback& on_epoch);

// `fluxkit train`: the models of [train] on its stores (checked against [data] features and [prepare]
// window/lead), this rank's tasks of `comm`; on rank 0 the table of validation MSEs against the two baselines
// is logged and written to <output_dir>/validation_mse.csv. on_epoch: see train_models.
std::vector<TrainedModel> run_train(const config::Document& doc, const Context& ctx,
                                    const std::string& command_line, bool resume, const Communicator& comm,
                                    const TaskEpochCallback& on_epoch = {});

// `fluxkit reconstruct`: every (model, experiment, region, year) cache of [reconstruct], this rank's share.
std::vector<ReconstructOutcome> run_reconstruct(const config::Document& doc, const Context& ctx,
                                                const std::string& command_line, bool force,
                                                const Communicator& comm);

// `fluxkit evaluate`: the tables and fields of [evaluate]. Logs the summary.
EvaluationSummary run_evaluate(const config::Document& doc, const Context& ctx,
                               const std::string& command_line);

// `fluxkit explain`: the [explain] section's explanations (explain/run.hpp), this rank's share of the
// samples, with the wait policy chosen before a network is loaded; rank 0 logs the driver ranking per (model,
// method).
ExplainSummary run_explain(const config::Document& doc, const Context& ctx, const std::string& command_line,
                           const Communicator& comm);

// Hash of a set of effective config tables, for provenance ("fnv1a64:<hex>").
std::string config_hash(const toml::table& effective);

}  // namespace fluxkit::pipeline

#include "fluxkit/pipeline/stages.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/pipeline/sections.hpp"

namespace fluxkit::pipeline {

std::string config_hash(const toml::table& effective) {
  std::ostringstream os;
  os << effective;
  return "fnv1a64:" + hex64(fnv1a64(os.str()));
}

namespace {

// The OpenMP wait policy (core/context.hpp) is chosen before a stage loads a model.
void log_openmp_wait_policy(const std::string& policy) {
  if (policy.empty())
    spdlog::debug("OpenMP wait policy: the runtime's default");
  else
    spdlog::info("OpenMP wait policy: {}", policy);
}

}  // namespace

Context stage_context(const config::Document& doc) {
  register_sections();
  check_all_sections(doc);
  return make_context(doc.get<RunParams>());
}

std::vector<StoreSummary> run_prepare(const config::Document& doc, const Context& ctx,
                                      const std::string& command_line) {
  const auto params = doc.get<PrepareParams>();
  const auto data = doc.get<DataParams>();
  toml::table effective;
  effective.insert("prepare", config::to_table(params));
  effective.insert("data", config::to_table(data));
  effective.insert("seed", static_cast<std::int64_t>(ctx.seed));
  const auto prov = Provenance::make(config_hash(effective), command_line);
  auto stores = prepare_samples(params, data, ctx, prov);
  spdlog::info("{:<10} {:<13} {:<18} {:>9} {:>8} {:>11}  {}", "split", "experiment", "region", "years",
               "cells", "windows", "file");
  for (const auto& s : stores)
    spdlog::info("{:<10} {:<13} {:<18} {:>4}-{:<4} {:>8} {:>11}  {}", s.split, s.experiment, s.region,
                 s.first_year, s.last_year, s.cells, s.windows, s.path.string());
  return stores;
}

TrainingStores open_training_stores(const config::Document& doc) {
  const auto params = doc.get<TrainParams>();
  const auto prep = doc.get<PrepareParams>();
  const std::filesystem::path train_path =
      params.train_store.empty() ? prep.train_path() : std::filesystem::path(params.train_store);
  const std::filesystem::path val_path = params.validation_store.empty()
                                             ? prep.validation_path()
                                             : std::filesystem::path(params.validation_store);
  for (const auto& p : {train_path, val_path})
    if (!std::filesystem::exists(p))
      throw FileError(
          p.string(), "",
          fmt::format("sample store not found: run `fluxkit prepare --config {}` first", doc.source()));
  TrainingStores stores{std::make_unique<SampleStore>(train_path), std::make_unique<SampleStore>(val_path)};
  const SampleStore& train = *stores.train;
  const auto features = doc.get<DataParams>().features;
  if (train.header().features != features)
    throw Error(
        fmt::format("{}: features [{}] differ from [data] features [{}] of {}: prepare the stores again",
                    train_path.string(), fmt::join(train.header().features, ", "), fmt::join(features, ", "),
                    doc.source()));
  if (static_cast<std::int64_t>(train.window()) != prep.window || train.header().lead != prep.lead)
    throw Error(fmt::format("{}: window {} / lead {} differ from [prepare] window {} / lead {} of {}",
                            train_path.string(), train.window(), train.header().lead, prep.window, prep.lead,
                            doc.source()));
  return stores;
}

FitResult fit_trial(const config::Document& doc, std::string_view type, const TrainingStores& stores,
                    const Context& ctx, const EpochCallback& on_epoch) {
  const auto model =
      make_model(std::string(type), InputShape::of(*stores.train), model_hyper_parameters(doc, type));
  TrainOptions options{{}, false, doc.get<TrainParams>().model_seed(ctx)};
  options.on_epoch = on_epoch;
  try {
    return model->fit(*stores.train, *stores.validation, options, ctx);
  } catch (const DivergedError& e) {
    FitResult diverged;
    diverged.best_validation_loss = std::numeric_limits<double>::infinity();
    diverged.stop_reason = fmt::format("non-finite loss from the start ({})", e.what());
    return diverged;
  }
}

std::vector<TrainedModel> run_train(const config::Document& doc, const Context& ctx,
                                    const std::string& command_line, bool resume, const Communicator& mpi,
                                    const TaskEpochCallback& on_epoch) {
  const auto params = doc.get<TrainParams>();
  std::map<std::string, toml::table> hyper;
  for (const auto& m : params.models)
    hyper[m] = model_hyper_parameters(doc, m);
  toml::table effective;
  effective.insert("train", config::to_table(params));
  for (const auto& m : params.models)
    effective.insert("model." + m, hyper.at(m));
  effective.insert("seed", static_cast<std::int64_t>(ctx.seed));
  const auto prov = Provenance::make(config_hash(effective), command_line);

  const TrainingStores stores = open_training_stores(doc);
  const SampleStore &train = *stores.train, &validation = *stores.validation;
  if (mpi.active()) spdlog::info("rank {} of {}", mpi.rank(), mpi.size());
  log_openmp_wait_policy(choose_openmp_wait_policy(mpi.local_size(), ctx.threads, current_load()));
  spdlog::info("training windows {} ({} cells), validation windows {} ({} cells)", train.windows(),
               train.cells(), validation.windows(), validation.cells());
  const auto results =
      train_models(params, train, validation, hyper, resume, ctx, prov, mpi.rank(), mpi.size(), on_epoch);

  // The table, on rank 0: this rank's results, the other ranks' from their artifacts (written before the
  // barrier) with their training times gathered.
  const auto tasks = train_tasks(params, ctx);
  std::vector<double> local_seconds;
  for (std::size_t i = 0; i < tasks.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(mpi.size())) == mpi.rank()) {
      double s = 0;
      for (const auto& r : results)
        if (r.artifact == tasks[i].artifact) s = r.seconds;
      local_seconds.push_back(static_cast<double>(i));
      local_seconds.push_back(s);
    }
  const std::vector<double> all_seconds = mpi.gather(local_seconds);
  mpi.barrier();
  if (mpi.rank() != 0) return results;
  std::map<std::size_t, double> seconds;
  for (std::size_t i = 0; i + 1 < all_seconds.size(); i += 2)
    seconds[static_cast<std::size_t>(all_seconds[i])] = all_seconds[i + 1];
  std::vector<TrainedModel> rows;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    const auto local = std::find_if(results.begin(), results.end(),
                                    [&](const TrainedModel& r) { return r.artifact == t.artifact; });
    if (local != results.end()) {
      rows.push_back(*local);
      continue;
    }
    const ArtifactInfo info = read_artifact_info(t.artifact);
    rows.push_back({t.type, t.member, t.members, false, t.artifact, info.best_validation_loss,
                    info.best_epoch, info.epochs, info.stop_reason, seconds[i]});
  }

  const Baselines base = baseline_mse(train, validation);
  std::string csv = "model,validation_mse,best_epoch,epochs,stop_reason,seconds,artifact\n";
  csv += fmt::format("baseline_mean,{:.9g},,,,,\n", base.mean_mse);
  csv += fmt::format("baseline_linear,{:.9g},,,,,\n", base.linear_mse);
  spdlog::info("validation MSE (normalised target):");
  spdlog::info("  {:<16} {:>12}", "training mean", fmt::format("{:.5f}", base.mean_mse));
  spdlog::info("  {:<16} {:>12}", "linear", fmt::format("{:.5f}", base.linear_mse));
  for (const auto& r : rows) {
    // An ensemble member's row is named <model>/member_<k> (its artifact's place under output_dir).
    const std::string name = r.members > 1 ? fmt::format("{}/member_{}", r.type, r.member) : r.type;
    spdlog::info("  {:<16} {:>12}  (best epoch {} of {}, {}, {}) -> {}", name,
                 fmt::format("{:.5f}", r.validation_mse), r.best_epoch, r.epochs, r.stop_reason,
                 r.skipped ? std::string("up to date") : fmt::format("{:.0f} s", r.seconds),
                 r.artifact.string());
    csv += fmt::format("{},{:.9g},{},{},{},{},{}\n", name, r.validation_mse, r.best_epoch, r.epochs,
                       r.stop_reason, seconds_for_file(r.seconds, 1), r.artifact.string());
  }
  write_text_atomic(std::filesystem::path(params.output_dir) / "validation_mse.csv", csv);
  return rows;
}

std::vector<ReconstructOutcome> run_reconstruct(const config::Document& doc, const Context& ctx,
                                                const std::string& command_line, bool force,
                                                const Communicator& mpi) {
  const auto params = doc.get<ReconstructParams>();
  toml::table effective;
  effective.insert("reconstruct", config::to_table(params));
  const auto prov = Provenance::make(config_hash(effective), command_line);
  if (mpi.active()) spdlog::info("rank {} of {}", mpi.rank(), mpi.size());
  log_openmp_wait_policy(choose_openmp_wait_policy(mpi.local_size(), ctx.threads, current_load()));
  auto outcomes = reconstruct(params, doc.get<PrepareParams>(), doc.get<DataParams>(),
                              doc.get<TrainParams>().output_dir, force, mpi.rank(), mpi.size(), ctx, prov);
  long long written = 0, skipped = 0;
  for (const auto& o : outcomes)
    (o.skipped ? skipped : written)++;
  written = mpi.sum(written);
  skipped = mpi.sum(skipped);
  mpi.barrier();
  if (mpi.rank() == 0)
    spdlog::info("{} caches written, {} up to date, under {}", written, skipped, params.output_dir);
  return outcomes;
}

EvaluationSummary run_evaluate(const config::Document& doc, const Context& ctx,
                               const std::string& command_line) {
  const auto params = doc.get<EvaluateParams>();
  toml::table effective;
  effective.insert("evaluate", config::to_table(params));
  auto summary = evaluate(params, ctx, Provenance::make(config_hash(effective), command_line));
  spdlog::info("evaluation of {} caches, tables under {}:\n{}", summary.caches_read, params.output_dir,
               format_summary(summary));
  return summary;
}

ExplainSummary run_explain(const config::Document& doc, const Context& base_ctx,
                           const std::string& command_line, const Communicator& comm) {
  const auto params = doc.get<ExplainParams>();
  toml::table effective;
  effective.insert("explain", config::to_table(params));
  // Ranks on one machine share its cores.
  Context ctx = base_ctx;
  ctx.threads = std::max(1, ctx.threads / std::max(1, comm.local_size()));
  if (comm.active()) spdlog::info("rank {} of {}, {} thread(s)", comm.rank(), comm.size(), ctx.threads);
  log_openmp_wait_policy(choose_openmp_wait_policy(comm.local_size(), ctx.threads, current_load()));
  auto summary = fluxkit::run_explain(params, doc.get<PrepareParams>(), doc.get<TrainParams>(), ctx,
                                      Provenance::make(config_hash(effective), command_line), comm);
  if (comm.rank() != 0) return summary;
  spdlog::info("explain: {} files written, {} reused; {} samples computed, {} reused; under {}",
               summary.files_written, summary.files_reused, summary.samples_computed, summary.samples_reused,
               params.output_dir);
  for (const auto& line : summary.lines)
    spdlog::info("mean |phi| by driver, {}", line);
  return summary;
}

}  // namespace fluxkit::pipeline

// `fluxkit train`: trains the configured models and prints their validation MSE against two baselines.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit::cli {

namespace {

SectionFlags& train_flags() {
  static SectionFlags flags;
  return flags;
}
bool resume = false;

void run_train(GlobalOptions& g, const Communicator& mpi) {
  const Invocation inv = prepare(g, train_flags());
  const auto params = inv.doc.get<TrainParams>();
  const auto prep = inv.doc.get<PrepareParams>();
  const std::filesystem::path train_path =
      params.train_store.empty() ? prep.train_path() : std::filesystem::path(params.train_store);
  const std::filesystem::path val_path = params.validation_store.empty()
                                             ? prep.validation_path()
                                             : std::filesystem::path(params.validation_store);
  std::map<std::string, toml::table> hyper;
  for (const auto& m : params.models)
    hyper[m] = pipeline::model_hyper_parameters(inv.doc, m);
  toml::table effective;
  effective.insert("train", config::to_table(params));
  for (const auto& m : params.models)
    effective.insert("model." + m, hyper.at(m));
  effective.insert("seed", static_cast<std::int64_t>(inv.ctx.seed));
  const auto prov = Provenance::make(config_hash(effective), inv.command_line);

  const SampleStore train(train_path), validation(val_path);
  const auto features = inv.doc.get<DataParams>().features;
  if (train.header().features != features)
    throw Error(
        fmt::format("{}: features [{}] differ from [data] features [{}] of {}: prepare the stores again",
                    train_path.string(), fmt::join(train.header().features, ", "), fmt::join(features, ", "),
                    inv.doc.source()));
  if (static_cast<std::int64_t>(train.window()) != prep.window || train.header().lead != prep.lead)
    throw Error(fmt::format("{}: window {} / lead {} differ from [prepare] window {} / lead {} of {}",
                            train_path.string(), train.window(), train.header().lead, prep.window, prep.lead,
                            inv.doc.source()));
  if (mpi.active()) spdlog::info("rank {} of {}", mpi.rank(), mpi.size());
  log_openmp_wait_policy(choose_openmp_wait_policy(mpi.local_size(), inv.ctx.threads, load_average()));
  spdlog::info("training windows {} ({} cells), validation windows {} ({} cells)", train.windows(),
               train.cells(), validation.windows(), validation.cells());
  const auto results =
      train_models(params, train, validation, hyper, resume, inv.ctx, prov, mpi.rank(), mpi.size());

  // The table, on rank 0: this rank's results, the other ranks' from their artifacts (written before the
  // barrier) with their training times gathered.
  const auto tasks = train_tasks(params, inv.ctx);
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
  if (mpi.rank() != 0) return;
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
}

}  // namespace

void add_train_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "train",
      fmt::format(
          "Train the models of [train] ({}) on the training store, with early stopping\n"
          "on the validation store; write one artifact per model (docs/models.md) and print validation "
          "MSEs.\n"
          "[train] ensemble = N trains N members per model that differ only in their seed; across processes "
          "and\n"
          "machines: mpirun -n N fluxkit --mpi train ... (members round-robin over the ranks).",
          fmt::join(registered_models(), ", ")));
  SectionFlags& flags = train_flags();
  cmd->add_flag("--resume", resume,
                "Continue interrupted runs from their last checkpoints (same config and seed)");
  flags.add<TrainParams>(cmd);
  cmd->callback([&g] {
    const auto mpi_ptr = Communicator::make(g.mpi);
    const Communicator& mpi = *mpi_ptr;
    try {
      run_train(g, mpi);
    } catch (const Error& e) {
      if (!mpi.active()) throw;
      spdlog::error("{}", e.what());
      mpi.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

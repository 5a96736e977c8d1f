// `fluxkit train`: trains the configured models and prints their validation MSE against two baselines.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit::cli {

void add_train_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "train",
      fmt::format(
          "Train the models of [train] ({}) on the training store, with early stopping\n"
          "on the validation store; write one artifact per model (docs/models.md) and print validation "
          "MSEs.",
          fmt::join(registered_models(), ", ")));
  static SectionFlags flags;
  static bool resume = false;
  cmd->add_flag("--resume", resume,
                "Continue interrupted runs from their last checkpoints (same config and seed)");
  flags.add<TrainParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
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
                      train_path.string(), fmt::join(train.header().features, ", "),
                      fmt::join(features, ", "), inv.doc.source()));
    if (static_cast<std::int64_t>(train.window()) != prep.window || train.header().lead != prep.lead)
      throw Error(fmt::format("{}: window {} / lead {} differ from [prepare] window {} / lead {} of {}",
                              train_path.string(), train.window(), train.header().lead, prep.window,
                              prep.lead, inv.doc.source()));
    spdlog::info("training windows {} ({} cells), validation windows {} ({} cells)", train.windows(),
                 train.cells(), validation.windows(), validation.cells());
    const Baselines base = baseline_mse(train, validation);
    const auto results = train_models(params, train, validation, hyper, resume, inv.ctx, prov);

    std::string csv = "model,validation_mse,best_epoch,epochs,stop_reason,seconds,artifact\n";
    csv += fmt::format("baseline_mean,{:.9g},,,,,\n", base.mean_mse);
    csv += fmt::format("baseline_linear,{:.9g},,,,,\n", base.linear_mse);
    spdlog::info("validation MSE (normalised target):");
    spdlog::info("  {:<16} {:>12}", "training mean", fmt::format("{:.5f}", base.mean_mse));
    spdlog::info("  {:<16} {:>12}", "linear", fmt::format("{:.5f}", base.linear_mse));
    for (const auto& r : results) {
      spdlog::info("  {:<16} {:>12}  (best epoch {} of {}, {}, {:.0f} s) -> {}", r.type,
                   fmt::format("{:.5f}", r.validation_mse), r.best_epoch, r.epochs, r.stop_reason, r.seconds,
                   r.artifact.string());
      csv += fmt::format("{},{:.9g},{},{},{},{},{}\n", r.type, r.validation_mse, r.best_epoch, r.epochs,
                         r.stop_reason, seconds_for_file(r.seconds, 1), r.artifact.string());
    }
    write_text_atomic(std::filesystem::path(params.output_dir) / "validation_mse.csv", csv);
  });
}

}  // namespace fluxkit::cli

// `fluxkit explain`: attributions of the models' predictions to their inputs (docs/explain.md).
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/explain/run.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit::cli {

void add_explain_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "explain",
      "Explain model predictions on test stores: KernelSHAP (any model), TreeSHAP path-dependent and "
      "interventional (XGBoost,\n"
      "gbtree and DART), TimeSHAP (LSTM, attention-LSTM), attention weights (attention-LSTM). Per-sample "
      "netCDF files and importance.csv "
      "(mean |phi| per driver\n"
      "and lag, per region and month, bootstrap intervals) under [explain] output_dir; an interrupted run "
      "resumes (docs/explain.md).");
  static SectionFlags flags;
  flags.add<ExplainParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    const auto params = inv.doc.get<ExplainParams>();
    toml::table effective;
    effective.insert("explain", config::to_table(params));
    const auto summary = run_explain(params, inv.doc.get<PrepareParams>(), inv.doc.get<TrainParams>(),
                                     inv.ctx, Provenance::make(config_hash(effective), inv.command_line));
    spdlog::info("explain: {} files written, {} reused; {} samples computed, {} reused; under {}",
                 summary.files_written, summary.files_reused, summary.samples_computed,
                 summary.samples_reused, params.output_dir);
    for (const auto& line : summary.lines)
      spdlog::info("mean |phi| by driver, {}", line);
  });
}

}  // namespace fluxkit::cli

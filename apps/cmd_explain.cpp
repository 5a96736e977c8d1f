// `fluxkit explain`: attributions of the models' predictions to their inputs (docs/explain.md).
#include "cli.hpp"
#include "fluxkit/explain/run.hpp"
#include "fluxkit/pipeline/stages.hpp"

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
    pipeline::run_explain(inv.doc, inv.ctx, inv.command_line);
  });
}

}  // namespace fluxkit::cli

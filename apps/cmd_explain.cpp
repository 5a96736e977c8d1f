// `fluxkit explain`: attributions of the models' predictions to their inputs (docs/explain.md).
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
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
      "resumes.\n"
      "Across processes: mpirun -n N fluxkit --mpi explain ... (the samples are dealt to the ranks; "
      "docs/explain.md).");
  static SectionFlags flags;
  flags.add<ExplainParams>(cmd);
  cmd->callback([&g] {
    const auto comm_ptr = Communicator::make(g.mpi);
    const Communicator& comm = *comm_ptr;
    try {
      const Invocation inv = prepare(g, flags);
      pipeline::run_explain(inv.doc, inv.ctx, inv.command_line, comm);
    } catch (const Error& e) {
      if (!comm.active()) throw;
      spdlog::error("{}", e.what());
      comm.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

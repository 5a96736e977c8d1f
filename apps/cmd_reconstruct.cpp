// `fluxkit reconstruct`: reconstruction caches for every (model, experiment, region, year); MPI-aware.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/pipeline/stages.hpp"
#include "fluxkit/reconstruct/reconstruct.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit::cli {

void add_reconstruct_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "reconstruct",
      "Run the model artifacts over the test stores and write one reconstruction cache (CF netCDF on the "
      "model\n"
      "grid, cropped to the region) per (model, experiment, region, year); up-to-date caches are skipped.\n"
      "Across processes and machines: mpirun -n N fluxkit --mpi reconstruct ... (docs/reconstruction.md).");
  static SectionFlags flags;
  static bool force = false;
  cmd->add_flag("--force", force, "Rebuild caches even when they are up to date");
  flags.add<ReconstructParams>(cmd);
  cmd->callback([&g] {
    const auto mpi_ptr = Communicator::make(g.mpi);
    const Communicator& mpi = *mpi_ptr;
    try {
      const Invocation inv = prepare(g, flags);
      pipeline::run_reconstruct(inv.doc, inv.ctx, inv.command_line, force, mpi);
    } catch (const Error& e) {
      spdlog::error("{}", e.what());
      mpi.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

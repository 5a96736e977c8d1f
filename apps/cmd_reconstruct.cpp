// `fluxkit reconstruct`: reconstruction caches for every (model, experiment, region, year); MPI-aware.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
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
      const auto params = inv.doc.get<ReconstructParams>();
      toml::table effective;
      effective.insert("reconstruct", config::to_table(params));
      const auto prov = Provenance::make(config_hash(effective), inv.command_line);
      if (mpi.active()) spdlog::info("rank {} of {}", mpi.rank(), mpi.size());
      log_openmp_wait_policy(choose_openmp_wait_policy(mpi.local_size(), inv.ctx.threads, load_average()));
      const auto outcomes =
          reconstruct(params, inv.doc.get<PrepareParams>(), inv.doc.get<DataParams>(),
                      inv.doc.get<TrainParams>().output_dir, force, mpi.rank(), mpi.size(), inv.ctx, prov);
      long long written = 0, skipped = 0;
      for (const auto& o : outcomes)
        (o.skipped ? skipped : written)++;
      written = mpi.sum(written);
      skipped = mpi.sum(skipped);
      mpi.barrier();
      if (mpi.rank() == 0)
        spdlog::info("{} caches written, {} up to date, under {}", written, skipped, params.output_dir);
    } catch (const Error& e) {
      spdlog::error("{}", e.what());
      mpi.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

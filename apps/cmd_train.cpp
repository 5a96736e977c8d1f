// `fluxkit train`: trains the configured models and prints their validation MSE against two baselines.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/pipeline/stages.hpp"
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
  pipeline::run_train(inv.doc, inv.ctx, inv.command_line, resume, mpi);
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

// `fluxkit prepare`: builds the training, validation and yearly test sample stores.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/pipeline/stages.hpp"

namespace fluxkit::cli {

void add_prepare_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "prepare",
      "Build the sample stores: training and validation sets (subsampled cells, year ranges) and one test "
      "set per\n"
      "(experiment, region, year), with windows, position encodings and the training normalisation\n"
      "(docs/sample-store.md). Reads the files described by [data].");
  static SectionFlags flags;
  flags.add<PrepareParams>(cmd);
  flags.add<DataParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    pipeline::run_prepare(inv.doc, inv.ctx, inv.command_line);
  });
}

}  // namespace fluxkit::cli

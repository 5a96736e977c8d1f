// `fluxkit prepare`: builds the training, validation and yearly test sample stores.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/dataset/prepare.hpp"

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
    const auto params = inv.doc.get<PrepareParams>();
    const auto data = inv.doc.get<DataParams>();
    toml::table effective;
    effective.insert("prepare", config::to_table(params));
    effective.insert("data", config::to_table(data));
    effective.insert("seed", static_cast<std::int64_t>(inv.ctx.seed));
    const auto prov = Provenance::make(config_hash(effective), inv.command_line);
    const auto stores = prepare_samples(params, data, inv.ctx, prov);
    spdlog::info("{:<10} {:<13} {:<18} {:>9} {:>8} {:>11}  {}", "split", "experiment", "region", "years",
                 "cells", "windows", "file");
    for (const auto& s : stores)
      spdlog::info("{:<10} {:<13} {:<18} {:>4}-{:<4} {:>8} {:>11}  {}", s.split, s.experiment, s.region,
                   s.first_year, s.last_year, s.cells, s.windows, s.path.string());
  });
}

}  // namespace fluxkit::cli

// `fluxkit explore`: per-region monthly climatology, distributions and correlation matrices of the z-scored
// drivers and target, streamed over an experiment's yearly files (include/fluxkit/analysis/explore.hpp).
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/analysis/explore.hpp"

namespace fluxkit::cli {

void add_explore_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd =
      app.add_subcommand("explore",
                         "Explore the data as the seed's exploration scripts meant to: per experiment and "
                         "region, the monthly climatology, "
                         "distributions (histograms\n"
                         "and KDE) and correlation matrices of the z-scored drivers and target, one year "
                         "at a time (bounded memory).\n"
                         "Tables under [explore] output_dir; `fluxkit figures` draws them.");
  static SectionFlags flags;
  flags.add<ExploreParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    // The month buffers (megabytes each) are reused: keep them on the heap rather than in fresh mappings
    // whose pages fault in again for every file.
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    const auto params = inv.doc.get<ExploreParams>();
    const auto data = inv.doc.get<DataParams>();
    toml::table effective;
    effective.insert("explore", config::to_table(params));
    effective.insert("data", config::to_table(data));
    const auto summary =
        explore(params, data, inv.ctx, Provenance::make(config_hash(effective), inv.command_line));
    spdlog::info("explore: {} files read, {:.3g} values; tables under {}", summary.files_read,
                 static_cast<double>(summary.values), params.output_dir);
  });
}

}  // namespace fluxkit::cli

// `fluxkit synth ocean`: writes the synthetic ocean-model experiment (see docs/synthetic-ocean.md).
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "cmd_synth_footprints.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit::cli {

void add_synth_commands(CLI::App& app, GlobalOptions& g) {
  auto* synth = app.add_subcommand("synth", "Generate realistic synthetic inputs in the real file formats");
  synth->require_subcommand(1);
  add_synth_footprints_command(synth, g);

  auto* ocean = synth->add_subcommand("ocean",
                                      "Write a synthetic NEMO/FOCI-MOPS experiment: one netCDF file per year "
                                      "with monthly drivers and the target\n"
                                      "co2flux_pre, a documented function of current and lagged drivers plus "
                                      "noise (docs/synthetic-ocean.md).");
  static SectionFlags flags;
  flags.add<synth::SynthOceanParams>(ocean);
  ocean->callback([&g] {
    const Invocation inv = prepare(g, flags);
    const auto params = inv.doc.get<synth::SynthOceanParams>();
    toml::table effective;
    effective.insert("synth.ocean", config::to_table(params));
    effective.insert("seed", static_cast<std::int64_t>(inv.ctx.seed));
    const auto prov = Provenance::make(config_hash(effective), inv.command_line);
    const auto summary = synth::generate_ocean(params, inv.ctx, prov);
    spdlog::info("wrote {} files ({}x{} grid, {} ocean cells) under {}", summary.files.size(), summary.ny,
                 summary.nx, summary.ocean_cells, params.output_dir);
  });
}

}  // namespace fluxkit::cli

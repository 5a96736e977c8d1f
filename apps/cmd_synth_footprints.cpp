// `fluxkit synth footprints`: writes a synthetic LUMIA transport case (see docs/synthetic-footprints.md).
#include "cmd_synth_footprints.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "fluxkit/synth/footprints.hpp"

namespace fluxkit::cli {

void add_synth_footprints_command(CLI::App* synth, GlobalOptions& g) {
  auto* cmd = synth->add_subcommand(
      "footprints",
      "Write a synthetic LUMIA transport case: legacy HDF5 footprints (one file per station and month), the\n"
      "obsdb observations.tar.gz, the flux file fluxes.nc and transport.rc (docs/synthetic-footprints.md).");
  static SectionFlags flags;
  flags.add<synth::SynthFootprintParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    const auto params = inv.doc.get<synth::SynthFootprintParams>();
    const auto t0 = std::chrono::steady_clock::now();
    const auto s = synth::generate_footprints(params, inv.ctx);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info(
        "wrote {} observations ({} days) in {} footprint files: {} slices ({} empty), {} non-zeros ({:.0f} "
        "per observation), {:.1f} MB",
        s.observations, s.days_used, s.footprint_files.size(), s.slices, s.empty_slices, s.nonzeros,
        static_cast<double>(s.nonzeros) / static_cast<double>(s.observations),
        static_cast<double>(s.footprint_bytes) / 1e6);
    spdlog::info(
        "sum of resp per observation {:.1f} / {:.1f} / {:.1f} (min / mean / max), largest value {:.2f}",
        s.resp_sum_min, s.resp_sum_mean, s.resp_sum_max, s.resp_max);
    spdlog::info("flux grid {} x {}, {} steps; {}, {}, {} ({:.1f} s)", s.nlat, s.nlon, s.nt, s.obsdb.string(),
                 s.flux_file.string(), s.rc_file.string(), seconds);
  });
}

}  // namespace fluxkit::cli

// `fluxkit transport ocean-fluxes` and `fluxkit transport ocean-signature`: reconstructed ocean fluxes into
// LUMIA flux files and their forward transport (include/fluxkit/transport/ocean.hpp).
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/transport/ocean.hpp"

namespace fluxkit::cli {

namespace {

transport::OceanTransportParams params_of(const Invocation& inv, std::string& hash) {
  const auto params = inv.doc.get<transport::OceanTransportParams>();
  toml::table effective;
  effective.insert("ocean_transport", config::to_table(params));
  hash = config_hash(effective);
  return params;
}

}  // namespace

void add_ocean_transport_commands(CLI::App* transport, GlobalOptions& g) {
  auto* fluxes = transport->add_subcommand(
      "ocean-fluxes",
      "Reconstruction caches (monthly ocean CO2 flux on the ocean grid) into LUMIA flux files on the\n"
      "transport grid and time axis of [ocean_transport] template_flux: the `ocean` category of the "
      "simulated\n"
      "and of the reconstructed flux (conservative regridding, umol m-2 s-1, positive into the atmosphere;\n"
      "docs/ocean-to-atmosphere.md). Writes <output_dir>/fluxes_<category>_{simulated,reconstructed}.nc.");
  static SectionFlags fluxes_flags;
  fluxes_flags.add<transport::OceanTransportParams>(fluxes);
  fluxes->callback([&g] {
    const Invocation inv = prepare(g, fluxes_flags);
    std::string hash;
    const auto params = params_of(inv, hash);
    const auto s = transport::write_ocean_fluxes(params, Provenance::make(hash, inv.command_line));
    spdlog::info(
        "ocean-fluxes: {} ocean cells of {} {} ({} years {}), {} steps on {} x {}; integrated flux over the "
        "overlap {:.6g} mol s-1 on the ocean grid, {:.6g} on the transport grid; {} and {}",
        s.fluxes.source_cells, params.model, params.experiment, s.fluxes.years.size(),
        fmt::join(s.fluxes.years, ","), s.fluxes.simulated.nt, s.fluxes.simulated.nlat,
        s.fluxes.simulated.nlon, s.fluxes.source_integral, s.fluxes.target_integral, s.simulated.string(),
        s.reconstructed.string());
  });

  auto* signature = transport->add_subcommand(
      "ocean-signature",
      "The atmospheric signature of the ocean flux: forward transport of the simulated and of the\n"
      "reconstructed ocean flux (regridded from the caches as ocean-fluxes does) at every observation\n"
      "of [ocean_transport] db, in ppm. Writes <output_dir>/ocean_signature.csv (per observation) and\n"
      "ocean_signature_stations.csv (per station: means, mean/RMS/max difference reconstructed - "
      "simulated).");
  static SectionFlags signature_flags;
  signature_flags.add<transport::OceanTransportParams>(signature);
  signature->callback([&g] {
    const Invocation inv = prepare(g, signature_flags);
    const auto params = inv.doc.get<transport::OceanTransportParams>();
    const auto s = transport::ocean_signature(params, inv.ctx);
    spdlog::info("ocean-signature: {} of {} observations at {} stations; {} and {}", s.computed,
                 s.observations, s.stations, s.observations_table.string(), s.stations_table.string());
  });
}

}  // namespace fluxkit::cli

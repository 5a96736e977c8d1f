// From ocean to atmosphere (docs/ocean-to-atmosphere.md): reconstruction caches (monthly air-sea CO2 flux on
// the ocean model's grid) into the `ocean` category of a LUMIA flux file on the transport's grid and time
// axis, and the atmospheric signature of the ocean flux and of its reconstruction error at the observations.
//
//   fluxkit transport ocean-fluxes     writes <output_dir>/fluxes_ocean_{simulated,reconstructed}.nc: the
//                                      template flux file with its `ocean` category replaced (or added)
//   fluxkit transport ocean-signature  forward transport of both: <output_dir>/ocean_signature.csv (per
//                                      observation) and ocean_signature_stations.csv (per station)
//
// Conventions (stated in the files' attributes):
//   units   the caches' target units (mol m-2 yr-1 for NEMO/MOPS co2flux; a year = 365.25 days) to LUMIA's
//           umol m-2 s-1;
//   sign    the caches are positive into the ocean (`cache_sign = "into_ocean"`), LUMIA's fluxes positive
//           into the atmosphere: the sign is flipped;
//   grid    first-order conservative regridding (transport/remap.hpp); the value of a transport cell is the
//           flux averaged over the whole cell, land and cells without an ocean value counting as zero, so
//           the integrated flux is preserved (a coastal cell half ocean carries half the ocean flux per m2);
//   time    piecewise constant: a transport time step takes the month that contains its midpoint.
//   gaps    cells of the region the model did not reconstruct (not sampled) take the simulated value
//           (`fill_unsampled = "simulated"`), so simulated and reconstructed fields differ only by the
//           reconstruction error; or zero (`"zero"`).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/transport/flux_file.hpp"

namespace fluxkit::transport {

struct OceanTransportParams {
  static constexpr std::string_view kSection = "ocean_transport";
  static constexpr std::string_view kDoc =
      "Reconstructed ocean fluxes into the transport (`fluxkit transport ocean-fluxes`, `fluxkit transport "
      "ocean-signature`; docs/ocean-to-atmosphere.md).";

  std::string caches_dir = "reconstruction";
  std::string model = "mlp";
  std::string experiment = "experiment_1";
  std::string region = "global";
  std::string template_flux = "";
  std::string category = "ocean";
  std::string grid_file = "";
  std::string cache_sign = "into_ocean";
  std::string fill_unsampled = "simulated";
  std::string db = "";
  std::string output_dir = "ocean_transport";

  template <class V>
  void visit(V&& v) {
    v("caches_dir", caches_dir, "Reconstruction caches to read (normally [reconstruct] output_dir).");
    v("model", model, "Model whose reconstruction is transported.");
    v("experiment", experiment, "Experiment of the caches.");
    v("region", region,
      "Region of the caches (its ocean cells are the flux; outside it the ocean flux is zero: use global).");
    v("template_flux", template_flux,
      "LUMIA flux file giving the transport grid and time axis (its first category's); its other categories "
      "are copied to the outputs.");
    v("category", category, "Name of the ocean category written into the flux files.");
    v("grid_file", grid_file,
      "netCDF with the corners of a curvilinear ocean grid (bounds_lat/bounds_lon (y, x, 4), or NEMO's "
      "gphif/glamf) on the full grid the caches index; not needed for regular grids.");
    v("cache_sign", cache_sign,
      "Sign convention of the caches' flux: into_ocean (NEMO's downward flux) or into_atmosphere.");
    v("fill_unsampled", fill_unsampled,
      "Region ocean cells without a reconstruction: simulated (take the simulated flux) or zero.");
    v("db", db, "LUMIA observation database (tar.gz) of the transport case (ocean-signature; not modified).");
    v("output_dir", output_dir, "Directory of the flux files and the signature tables.");
  }
  void validate() const;
};

// The two fields on the transport grid and axis, umol m-2 s-1, positive into the atmosphere.
struct OceanFluxes {
  FluxCategory simulated, reconstructed;  // named params.category
  std::vector<double> covered_fraction;   // [nlat * nlon]: ocean-covered fraction of each transport cell
  double source_integral = 0.0;           // mol s-1 of the simulated flux over the overlap, first step
  double target_integral = 0.0;           // the same on the transport grid
  std::size_t source_cells = 0;           // ocean cells of the region
  std::vector<int> years;                 // cache years read
};

// Reads the caches of the years the template's time axis needs and regrids both fields. Error / FileError
// naming the file for: a missing cache (a year outside the reconstruction), unknown units, a curvilinear grid
// without corners, caches and transport grid that do not overlap.
OceanFluxes regrid_ocean_fluxes(const OceanTransportParams& params, const FluxFile& templ);

struct OceanFluxesSummary {
  std::filesystem::path simulated, reconstructed;
  OceanFluxes fluxes;
};
// `fluxkit transport ocean-fluxes`: both flux files, written atomically (both or neither).
OceanFluxesSummary write_ocean_fluxes(const OceanTransportParams& params, const Provenance& provenance);

struct OceanSignatureSummary {
  std::filesystem::path observations_table, stations_table;
  std::size_t observations = 0, computed = 0, stations = 0;
};
// `fluxkit transport ocean-signature`: the forward transport of the simulated and reconstructed ocean fluxes
// (regridded from the caches as write_ocean_fluxes does; no flux file is read or written) at every
// observation of the db.
OceanSignatureSummary ocean_signature(const OceanTransportParams& params, const Context& ctx);

}  // namespace fluxkit::transport

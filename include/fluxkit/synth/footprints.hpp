// `fluxkit synth footprints`: a synthetic LUMIA transport case in LUMIA's own formats
// (docs/synthetic-footprints.md):
//   <output_dir>/footprints/<code>.<height>m.<YYYY-MM>.h5   legacy HDF5 footprints, one file per station and
//   month <output_dir>/observations.tar.gz                          obsdb (observations.csv, sites.csv,
//   files.csv) <output_dir>/fluxes.nc                                    flux file, one group per category,
//   3-hourly <output_dir>/transport.rc                                 the rc keys the transport reads
// Footprints are plume-shaped sparse sensitivities from a small Lagrangian particle model (backward
// trajectories in a synoptic wind field, turbulent spread, surface touches, particles leaving the domain), in
// ppm per (umol m-2 s-1) per slice; the observations hold the exact forward model of the written fluxes
// (column `truth`), so the transport operator can be checked against them. See docs/synthetic-footprints.md.
// Everything is a pure function of the parameters and the seed (counter-based random numbers): the same seed
// gives byte-identical footprint files whatever the thread count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/footprint.hpp"

namespace fluxkit::synth {

struct SynthFootprintParams {
  static constexpr std::string_view kSection = "synth.footprints";
  static constexpr std::string_view kDoc =
      "Synthetic LUMIA transport case written by `fluxkit synth footprints`: legacy HDF5 footprints, obsdb, "
      "flux file and rc file (see docs/synthetic-footprints.md).";

  std::string output_dir = "data/synth/footprints";
  std::int64_t observations = 400;
  std::vector<std::string> stations = {"HTM:56.10:13.42:150:115", "NOR:60.09:17.48:100:46",
                                       "PUI:62.91:27.65:84:190",  "SMR:61.85:24.29:125:181",
                                       "OPE:48.56:5.50:120:390",  "CBW:51.97:4.93:207:0",
                                       "KRE:49.57:15.08:250:534", "HPB:47.80:11.02:131:934"};
  std::string start = "2018-01-01";
  std::int64_t days = 31;
  std::string hours = "daytime";
  double lat0 = 33.0;
  double lat1 = 73.0;
  double lon0 = -15.0;
  double lon1 = 35.0;
  double resolution = 0.5;
  std::int64_t slice_hours = 3;
  std::int64_t min_back_days = 7;
  std::int64_t max_back_days = 14;
  std::int64_t particles = 400;
  std::vector<std::string> categories = {"biosphere", "fossil"};
  std::vector<std::string> optimize = {"biosphere"};
  std::string region = "eurocom05x05";

  template <class V>
  void visit(V&& v) {
    v("output_dir", output_dir,
      "Directory the case is written under (footprints/, observations.tar.gz, fluxes.nc, transport.rc, "
      "run/).");
    v("observations", observations,
      "Total number of observations (hourly, stations round-robin, over as many days as needed).");
    v("stations", stations,
      "Stations as `CODE:lat:lon:height[:alt]` (inlet height above ground and ground altitude, m); one "
      "footprint file per station and month.");
    v("start", start, "First observation day, YYYY-MM-DD (UTC).");
    v("days", days,
      "Days available for observations, from start: observations <= days x stations x hours per day.");
    v("hours", hours,
      "Observation hours (UTC): `daytime` = 11..16 (6 per day and station, LUMIA's afternoon selection) or "
      "`all` = 0..23.");
    v("lat0", lat0, "Southern edge of the flux grid, degrees north.");
    v("lat1", lat1, "Northern edge of the flux grid, degrees north.");
    v("lon0", lon0, "Western edge of the flux grid, degrees east.");
    v("lon1", lon1, "Eastern edge of the flux grid, degrees east.");
    v("resolution", resolution,
      "Grid spacing in degrees (lat and lon); the extents must be multiples of it (0.5 = 80 x 100 cells).");
    v("slice_hours", slice_hours, "Length of the footprint time slices and flux steps in hours; divides 24.");
    v("min_back_days", min_back_days, "Shortest footprint, days back from the observation.");
    v("max_back_days", max_back_days,
      "Longest footprint, days back (random per observation); the flux file starts this many days before "
      "start.");
    v("particles", particles,
      "Particles per observation: sets the sparsity, not the totals (400: about 3000 non-zeros per "
      "observation "
      "as in LUMIA's example file; 800: about 5000 as in its 370-observation reference case).");
    v("categories", categories, "Flux categories written to the flux file: biosphere, fossil, ocean.");
    v("optimize", optimize, "Categories marked optimized in the rc file (a subset of categories).");
    v("region", region, "Region name in the rc file (`region` and `region.<name>.lat0` ...).");
  }
  void validate() const;
};

// A station parsed from "CODE:lat:lon:height[:alt]".
struct SynthStation {
  std::string code;  // as given (upper case by convention)
  double lat = 0, lon = 0;
  double height = 0;  // inlet height above ground, m
  double alt = 0;     // ground altitude above sea level, m
  std::string name;   // long name for the known sites, else the code
};
SynthStation parse_station(std::string_view spec);  // Error naming the spec for a malformed one

// Footprint file name of a station and month, LUMIA style: "htm.150m.2018-01.h5".
std::string footprint_file_name(const SynthStation& station, int year, int month);

// One observation's footprint as generate_footprints writes it: the valid ("end_start") slices, oldest first,
// covering [slice containing obs_time - back days, end of the slice containing obs_time); empty slices
// included (n = 0). A pure function of (params, station, obs_time, seed). obs_time: seconds since 1970-01-01
// UTC.
transport::Footprint make_footprint(const SynthFootprintParams& params, const SynthStation& station,
                                    std::int64_t obs_time, std::uint64_t seed);

struct SynthFootprintSummary {
  std::filesystem::path obsdb, flux_file, rc_file;
  std::vector<std::filesystem::path> footprint_files;  // by station code, then month
  std::size_t observations = 0;
  std::size_t days_used = 0;                  // days that hold observations
  std::size_t nlat = 0, nlon = 0, nt = 0;     // flux grid and time steps
  std::int64_t flux_start = 0, flux_end = 0;  // seconds since 1970, [start, end)
  std::uint64_t slices = 0;                   // valid slices written (junk start_end groups not counted)
  std::uint64_t empty_slices = 0;
  std::uint64_t nonzeros = 0;                                    // in valid slices
  std::uint64_t footprint_bytes = 0;                             // on disk, all footprint files
  double resp_sum_min = 0, resp_sum_mean = 0, resp_sum_max = 0;  // sum of resp per observation
  double resp_max = 0;                                           // largest single value
};

SynthFootprintSummary generate_footprints(const SynthFootprintParams& params, const Context& ctx);

}  // namespace fluxkit::synth

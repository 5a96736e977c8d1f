// `fluxkit synth ocean`: a synthetic FOCI-MOPS/NEMO-like experiment in the real file layout (one netCDF file
// per year, monthly time_counter, 2-D nav_lat/nav_lon, tmask, e1t, e2t, ten physical drivers and the target
// co2flux_pre). The target is a documented function of current and lagged drivers plus Gaussian noise of
// known variance (docs/synthetic-ocean.md), so models and explanations can be checked against the truth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit::synth {

struct SynthOceanParams {
  static constexpr std::string_view kSection = "synth.ocean";
  static constexpr std::string_view kDoc =
      "Synthetic ocean-model experiment written by `fluxkit synth ocean` (see docs/synthetic-ocean.md).";

  std::string output_dir = "data/synth/ocean";
  std::vector<std::string> experiments = {"experiment_1", "experiment_5"};
  std::int64_t start_year = 1958;
  std::int64_t end_year = 2018;
  double resolution = 2.0;
  std::string grid = "regular";
  std::string file_pattern = "{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}.nc";
  std::string calendar = "gregorian";
  double noise_std = 0.25;
  std::int64_t deflate_level = 1;

  template <class V>
  void visit(V&& v) {
    v("output_dir", output_dir, "Directory the experiment files are written under.");
    v("experiments", experiments,
      "Experiments to generate: `experiment_1` (hindcast, tag `hind`) and/or `experiment_5` (strengthened, "
      "poleward-shifted westerly wind stress, tag `wind`).");
    v("start_year", start_year, "First year generated (one file per year).");
    v("end_year", end_year, "Last year generated (inclusive).");
    v("resolution", resolution,
      "Grid spacing in degrees; 360 and 180 must be multiples of it (2 = demo, 0.25 = ORCA025 size).");
    v("grid", grid,
      "`regular` (lat-lon, land = NaN) or `orca` (adds NEMO's traps: duplicated east-west halo columns, a "
      "folded "
      "northern row with repeated coordinates, land filled with 0 and 1e20 instead of NaN).");
    v("file_pattern", file_pattern,
      "File path below output_dir; `{experiment}`, `{tag}` and `{year}` are replaced.");
    v("calendar", calendar,
      "CF calendar of time_counter: standard/gregorian, proleptic_gregorian, noleap, 360_day, ...");
    v("noise_std", noise_std,
      "Standard deviation of the Gaussian noise added to co2flux_pre (mol m-2 yr-1): the noise floor.");
    v("deflate_level", deflate_level, "zlib compression level of the fields, 0 (none) to 9.");
  }
  void validate() const;
};

// A named forcing variant.
struct ExperimentSpec {
  std::string name;  // "experiment_1"
  std::string tag;   // file-name tag: "hind"
  std::string description;
  double westerly_scale;        // multiplies the mid-latitude westerly wind stress
  double westerly_shift;        // degrees the westerly jets move poleward
  double stress_anomaly_scale;  // multiplies interannual wind-stress variability
};
const std::vector<ExperimentSpec>& known_experiments();
const ExperimentSpec& find_experiment(std::string_view name);  // throws Error listing the known ones

// Replaces {experiment}, {tag} and {year} in a file pattern.
std::string expand_pattern(std::string_view pattern, std::string_view experiment, std::string_view tag,
                           int year);

struct SynthOceanSummary {
  std::vector<std::filesystem::path> files;
  std::size_t ny = 0, nx = 0;
  std::size_t ocean_cells = 0;  // distinct ocean cells (halo/fold copies not counted)
};

SynthOceanSummary generate_ocean(const SynthOceanParams& params, const Context& ctx,
                                 const Provenance& provenance);

}  // namespace fluxkit::synth

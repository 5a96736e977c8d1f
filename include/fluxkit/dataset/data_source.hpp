// Where an experiment's yearly model-output files are and what their variables are called ([data] section).
// The same settings serve the synthetic experiment and real FOCI-MOPS output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit {

struct DataParams {
  static constexpr std::string_view kSection = "data";
  static constexpr std::string_view kDoc =
      "The ocean-model output the reconstruction learns from: yearly NEMO-style netCDF files.";

  std::string root = "data/synth/ocean";
  std::string file_pattern = "{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}.nc";
  std::vector<std::string> experiment_tags = {"experiment_1=hind", "experiment_5=wind"};
  std::vector<std::string> features = {
      "SST",      "SAL",      "ice_frac",   "mixed_layer_depth", "heat_flux_down", "water_flux_up",
      "stress_X", "stress_Y", "currents_X", "currents_Y",        "sin_lat",        "cos_lat",
      "sin_lon",  "cos_lon"};
  std::string target = "co2flux_pre";
  std::vector<std::string> variable_names = {};

  template <class V>
  void visit(V&& v) {
    v("root", root, "Directory the file pattern is relative to.");
    v("file_pattern", file_pattern,
      "Yearly file path below root; `{experiment}`, `{tag}` and `{year}` are replaced.");
    v("experiment_tags", experiment_tags, "`experiment=tag` pairs: the file-name tag of each experiment.");
    v("features", features,
      "Model input features in order. Names of file variables (time, y, x), or the position encodings "
      "`sin_lat`, "
      "`cos_lat`, `sin_lon`, `cos_lon` (static: constant per cell).");
    v("target", target, "The variable to learn (time, y, x).");
    v("variable_names", variable_names,
      "`feature=file_variable` pairs for files whose variable names differ from the feature names.");
  }
  void validate() const;

  std::string tag_of(std::string_view experiment) const;  // throws Error for an unknown experiment
  std::filesystem::path file(std::string_view experiment, int year) const;
  std::string file_variable(std::string_view feature) const;  // after variable_names
};

// Position encodings computed from the coordinates rather than read.
bool is_static_feature(std::string_view feature);
double static_feature_value(std::string_view feature, double lat, double lon);

}  // namespace fluxkit

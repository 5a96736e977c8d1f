// Model ensembles ([train] ensemble = N > 1): N artifacts of one model type that differ only in their model
// seed, trained on the same stores. On disk (docs/models.md):
//   <output_dir>/<model>/ensemble.toml         the manifest: type, members, seeds, member directories
//   <output_dir>/<model>/member_<k>/           member k (k = 0 .. N-1): an ordinary artifact (artifact.hpp)
//                                              trained with the model seed + k
// A single model (N = 1) is an artifact directory itself (<output_dir>/<model>/model.toml), as always.
// Whoever uses a model name (reconstruct) resolves it with model_members(): one directory for a single
// artifact, the N member directories for an ensemble.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace fluxkit {

inline constexpr const char* kEnsembleManifest = "ensemble.toml";

struct EnsembleManifest {
  std::string type;
  std::uint64_t base_seed = 0;  // member k was trained with base_seed + k
  int members = 0;
  std::vector<std::string> member_dirs;  // relative to the ensemble directory: member_0, member_1, ...
};

// <dir>/member_<k>
std::filesystem::path ensemble_member_dir(const std::filesystem::path& ensemble_dir, int member);

// The manifest of `members` members of `type` starting at `base_seed`.
EnsembleManifest make_ensemble_manifest(const std::string& type, std::uint64_t base_seed, int members);
// Writes <dir>/ensemble.toml atomically.
void write_ensemble_manifest(const std::filesystem::path& ensemble_dir, const EnsembleManifest& manifest);
// Reads <dir>/ensemble.toml; FileError naming the file for a missing or malformed key.
EnsembleManifest read_ensemble_manifest(const std::filesystem::path& ensemble_dir);
bool is_ensemble(const std::filesystem::path& dir);  // <dir>/ensemble.toml exists and no <dir>/model.toml

// The artifact directories behind a model directory: {dir} for a single artifact (dir/model.toml), the
// members' directories (in member order) for an ensemble. `missing` receives one line per artifact that does
// not exist ("artifact <dir>" or "ensemble member artifact <dir>/member_<k> (member k of N ...)"), and the
// result then leaves it out.
std::vector<std::filesystem::path> model_members(const std::filesystem::path& dir,
                                                 std::vector<std::string>& missing);

// Whether the artifact in `dir` is an up-to-date member: same type, seed, training and validation store
// fingerprints and hyper-parameters. False when it does not exist or cannot be read.
bool artifact_up_to_date(const std::filesystem::path& dir, const std::string& type, std::uint64_t seed,
                         const std::string& train_fingerprint, const std::string& validation_fingerprint,
                         const toml::table& hyper_parameters);

// Mean and sample standard deviation (N - 1 in the denominator; 0 for one member) of the members' values
// values[m * stride + i] for i in [0, stride): mean[i], std[i]. NaN where any member is not finite.
void ensemble_mean_std(const std::vector<float>& values, std::size_t members, std::size_t stride,
                       std::vector<float>& mean, std::vector<float>& std);

}  // namespace fluxkit

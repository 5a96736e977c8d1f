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
#include <memory>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/model.hpp"

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

// The mean of an ensemble's members (models of one type and input shape that differ in their seed), the
// prediction `reconstruct` makes, as one model (to explain, or to predict with from Python):
// predictions, attention weights and path-dependent tree contributions are the members' means (XGBoost's
// contributions add up tree by tree, so those of the mean's trees are the mean of the members'); its trees
// are all the members' (explain::tree_ensemble_of). It cannot be trained, saved or loaded, and has no single
// UBJSON document (trees_ubjson is an Error; explain::tree_ensemble_of reads the members').
class EnsembleMean final : public Model {
 public:
  // At least one member, all of the same type, layout and input shape (Error otherwise).
  explicit EnsembleMean(std::vector<std::unique_ptr<Model>> members);
  const std::vector<std::unique_ptr<Model>>& members() const { return members_; }

  std::string type() const override { return members_.front()->type(); }
  WindowLayout layout() const override { return members_.front()->layout(); }
  const InputShape& input_shape() const override { return members_.front()->input_shape(); }
  std::string describe() const override;
  toml::table hyper_parameters() const override { return members_.front()->hyper_parameters(); }
  FitResult fit(const SampleStore&, const SampleStore&, const TrainOptions&, const Context&) override;
  void predict(std::span<const float> x, std::size_t n, std::span<float> y,
               const Context& ctx) const override;
  bool predicts_concurrently() const override;
  bool has_attention() const override { return members_.front()->has_attention(); }
  void predict_with_attention(std::span<const float> x, std::size_t n, std::span<float> y,
                              std::span<float> alpha, std::span<float> beta,
                              const Context& ctx) const override;
  bool has_trees() const override { return members_.front()->has_trees(); }
  void predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                             std::vector<float>& out, const Context& ctx) const override;
  std::string trees_ubjson() const override;
  void save_weights(const std::filesystem::path& dir) const override;
  void load_weights(const std::filesystem::path& dir) override;

 private:
  std::vector<std::unique_ptr<Model>> members_;
};

// A model directory as one model: an artifact (dir/model.toml), or an ensemble (dir/ensemble.toml) as the
// mean of its members (EnsembleMean) with member 0's info. Members must share member 0's type, inputs,
// target, normalisation and training store. FileError naming the directory for a missing artifact or member,
// Error naming the member that differs.
LoadedModel load_model_dir(const std::filesystem::path& dir);

}  // namespace fluxkit

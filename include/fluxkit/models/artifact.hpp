// A model artifact: one directory holding everything reconstruction and explanation need, so they need
// nothing else:
//   model.toml   type, format version, hyper-parameters, input shape (window, lead, features), normalisation
//                statistics, training summary and data fingerprints, provenance
//   weights      model-specific (weights.pt for the neural networks, model.json for XGBoost)
//   losses.csv   per-epoch training and validation loss
// Written atomically: the directory is assembled under a temporary name and renamed into place.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit {

inline constexpr int kArtifactVersion = 1;

struct ArtifactInfo {
  std::string type;
  int format_version = kArtifactVersion;
  InputShape shape;
  int lead = 0;
  Normalisation stats;
  std::string target, target_units;
  // Training summary
  std::string train_store, validation_store;
  std::string train_fingerprint, validation_fingerprint;
  // What the model learnt from (from the stores' headers; empty / 0 when unknown, e.g. imported weights):
  // experiments, target years [first, last] and the seed of the cell subsample.
  std::string train_experiment, validation_experiment;
  int train_first_year = 0, train_last_year = 0;
  int validation_first_year = 0, validation_last_year = 0;
  std::uint64_t subsample_seed = 0;
  int best_epoch = 0, epochs = 0;
  double best_validation_loss = 0;
  std::string stop_reason;
  std::uint64_t seed = 0;
  int threads = 0;
  Provenance provenance;
};

struct LoadedModel {
  ArtifactInfo info;
  std::unique_ptr<Model> model;
};

// Data fingerprint of a store: a hash of its geometry, statistics and normalised contents.
std::string store_fingerprint(const SampleStore& store);

void save_artifact(const std::filesystem::path& dir, const Model& model, const ArtifactInfo& info,
                   const std::filesystem::path& losses_csv);
// Reads model.toml, checks the format version and the model type, rebuilds the model and loads its weights.
LoadedModel load_artifact(const std::filesystem::path& dir);
ArtifactInfo read_artifact_info(const std::filesystem::path& dir);

// Throws Error naming both when a store does not match what the model was trained on (features, window,
// lead).
void check_store_matches(const ArtifactInfo& info, const SampleStore& store);

}  // namespace fluxkit

// `fluxkit import-weights`: a model trained by the Python pipeline, with the pipeline's normalisation
// statistics, made into a fluxkit model artifact (docs/models.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/models/artifact.hpp"

namespace fluxkit {

struct ImportRequest {
  std::string type;                  // a registered model type whose ModelInfo::import_format is set
  std::filesystem::path weights;     // what the type's Model::import_weights reads
  std::filesystem::path statistics;  // training_stats.pkl, or a model artifact directory
  std::filesystem::path output;      // the artifact directory to write
};

// The registered model types that can import weights (ModelInfo::import_format set), sorted; loads no
// plugin.
std::vector<std::string> importable_models();

// Builds the model from `doc` ([model.<type>] hyper-parameters, [data] features, [prepare] window and
// lead), reads the statistics (their features must be [data] features), imports the weights and writes the
// artifact. Every check comes before the artifact is written: on an error (a FileError naming the file and
// the cause, or an Error for the type) nothing is written.
ArtifactInfo import_model(const ImportRequest& request, const config::Document& doc, const Context& ctx,
                          const std::string& command_line, const std::string& config_hash);

}  // namespace fluxkit

#include "fluxkit/models/import.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/data_source.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/statistics_file.hpp"

namespace fluxkit {

std::vector<std::string> importable_models() {
  std::vector<std::string> out;
  for (const auto& t : registered_models())
    if (!model_info(t).import_format.empty()) out.push_back(t);
  return out;
}

ArtifactInfo import_model(const ImportRequest& r, const config::Document& doc, const Context& ctx,
                          const std::string& command_line, const std::string& config_hash) {
  if (model_info(r.type).import_format.empty())  // Error listing the types for an unknown type
    throw Error(fmt::format("model type '{}' cannot import weights (types that can: {})", r.type,
                            fmt::join(importable_models(), ", ")));
  const auto data = doc.get<DataParams>();
  const auto prep = doc.get<PrepareParams>();
  InputShape shape;
  shape.window = static_cast<std::size_t>(prep.window);
  shape.features = data.features;
  for (const auto& f : data.features)
    shape.is_static.push_back(is_static_feature(f));

  // The statistics first: a pickle for other inputs is the likelier mistake, and it names the features.
  const Normalisation stats = read_normalisation(r.statistics, data.features);

  toml::table hp;
  if (const toml::table* t = doc.table().at_path("model." + r.type).as_table()) hp = *t;
  auto model = make_model(r.type, shape, hp);
  model->import_weights(r.weights);

  ArtifactInfo info;
  info.type = r.type;
  info.shape = shape;
  info.lead = static_cast<int>(prep.lead);
  info.stats = stats;
  info.target = data.target;
  info.stop_reason =
      fmt::format("imported from {} with the statistics of {}", r.weights.string(), r.statistics.string());
  info.seed = ctx.seed;
  info.threads = ctx.threads;
  info.provenance = Provenance::make(config_hash, command_line);
  save_artifact(r.output, *model, info, {});
  return info;
}

}  // namespace fluxkit

#include "fluxkit/models/model.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

std::size_t InputShape::dynamic_features() const {
  return static_cast<std::size_t>(std::count(is_static.begin(), is_static.end(), false));
}
std::size_t InputShape::static_features() const {
  return static_cast<std::size_t>(std::count(is_static.begin(), is_static.end(), true));
}

InputShape InputShape::of(const SampleStore& store) {
  return InputShape{store.window(), store.header().features, store.header().is_static};
}

void Model::predict_with_attention(std::span<const float>, std::size_t, std::span<float>, std::span<float>,
                                   std::span<float>, const Context&) const {
  throw Error(fmt::format("model '{}' has no attention weights", type()));
}

void Model::import_state_dict(const std::vector<std::pair<std::string, StateTensor>>&) {
  throw Error(fmt::format("model '{}' cannot import PyTorch weights", type()));
}

namespace {
std::map<std::string, ModelInfo, std::less<>>& registry() {
  static std::map<std::string, ModelInfo, std::less<>> r;
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void register_model(ModelInfo info) {
  std::lock_guard lock(registry_mutex());
  registry()[info.type] = std::move(info);
}

std::vector<std::string> registered_models() {
  std::lock_guard lock(registry_mutex());
  std::vector<std::string> out;
  for (const auto& [k, v] : registry())
    out.push_back(k);
  return out;
}

const ModelInfo& find_model(std::string_view type) {
  std::lock_guard lock(registry_mutex());
  auto it = registry().find(type);
  if (it == registry().end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : registry())
      names.push_back(k);
    throw Error(
        fmt::format("unknown model type '{}' (available in this build: {})", type, fmt::join(names, ", ")));
  }
  return it->second;
}

std::unique_ptr<Model> make_model(std::string_view type, const InputShape& shape,
                                  const toml::table& hyper_parameters) {
  return find_model(type).factory(shape, hyper_parameters);
}

}  // namespace fluxkit

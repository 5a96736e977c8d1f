#include "fluxkit/models/model.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/plugin.hpp"
#include "fluxkit/models/torch_models.hpp"
#include "fluxkit/models/xgboost_model.hpp"

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

void Model::predict_contributions(std::span<const float>, std::size_t, bool, std::vector<float>&,
                                  const Context&) const {
  throw Error(fmt::format("model '{}' is not a tree ensemble (no TreeSHAP contributions)", type()));
}

std::string Model::trees_ubjson() const {
  throw Error(fmt::format("model '{}' is not a tree ensemble (no trees)", type()));
}

void Model::import_state_dict(const std::vector<std::pair<std::string, StateTensor>>&) {
  throw Error(fmt::format("model '{}' cannot import PyTorch weights", type()));
}

void Model::import_weights(const std::filesystem::path& file) {
  const auto state = read_pytorch_state_dict(file);  // FileErrors name the file
  try {
    import_state_dict(state);
  } catch (const FileError&) {
    throw;
  } catch (const Error& e) {
    throw FileError(file.string(), "", e.what());
  }
}

namespace {

// The built-in model types: the one list every command, config and help text draws from.
std::map<std::string, ModelInfo, std::less<>> builtin_models() {
  std::map<std::string, ModelInfo, std::less<>> r;
  const std::string state_dict = "a PyTorch state dict (torch.save(model.state_dict()), .pt)";
  const std::string xgboost =
      "an XGBoost model, JSON or UBJ (Booster.save_model; a pickled XGBRegressor converted once by "
      "python/fluxkit/convert_pickles.py --xgboost)";
  for (ModelInfo info : {
           ModelInfo{"mlp", std::string(MlpParams::kDoc), WindowLayout::Flat, {}, "torch", state_dict},
           ModelInfo{"lstm", std::string(LstmParams::kDoc), WindowLayout::Sequence, {}, "torch", state_dict},
           ModelInfo{"attention_lstm",
                     std::string(AttentionLstmParams::kDoc),
                     WindowLayout::Sequence,
                     {},
                     "torch",
                     state_dict},
           ModelInfo{"xgboost", std::string(XGBoostParams::kDoc), WindowLayout::Flat, {}, "xgboost", xgboost},
       })
    r.emplace(info.type, std::move(info));
  return r;
}

std::map<std::string, ModelInfo, std::less<>>& registry() {
  static std::map<std::string, ModelInfo, std::less<>> r = builtin_models();
  return r;
}
std::recursive_mutex& registry_mutex() {
  static std::recursive_mutex m;  // recursive: loading a plugin registers from inside find_model
  return m;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : registry())
    out.push_back(k);
  return out;
}

}  // namespace

void register_model(ModelInfo info) {
  std::lock_guard lock(registry_mutex());
  registry()[info.type] = std::move(info);
}

void provide_model_factory(std::string_view type, ModelFactory factory) {
  std::lock_guard lock(registry_mutex());
  auto it = registry().find(type);
  if (it == registry().end()) throw Error(fmt::format("a plugin provides the unknown model type '{}'", type));
  it->second.factory = std::move(factory);
}

std::vector<std::string> registered_models() {
  std::lock_guard lock(registry_mutex());
  return names();
}

ModelInfo model_info(std::string_view type) {
  std::lock_guard lock(registry_mutex());
  auto it = registry().find(type);
  if (it == registry().end())
    throw Error(fmt::format("unknown model type '{}' (known types: {})", type, fmt::join(names(), ", ")));
  return it->second;
}

const ModelInfo& find_model(std::string_view type) {
  std::lock_guard lock(registry_mutex());
  auto it = registry().find(type);
  if (it == registry().end())
    throw Error(fmt::format("unknown model type '{}' (known types: {})", type, fmt::join(names(), ", ")));
  if (!it->second.factory && !it->second.plugin.empty()) load_plugin(it->second.plugin);
  if (!it->second.factory)
    throw Error(
        fmt::format("model type '{}': its plugin '{}' registered no factory", type, it->second.plugin));
  return it->second;
}

std::unique_ptr<Model> make_model(std::string_view type, const InputShape& shape,
                                  const toml::table& hyper_parameters) {
  return find_model(type).factory(shape, hyper_parameters);
}

}  // namespace fluxkit

// One interface for every model (MLP, LSTM, attention-LSTM, XGBoost), so tuning, reconstruction and
// explanation treat them the same. Models see normalised inputs and predict normalised targets; the sample
// store and the artifact hold the statistics to go back to physical units.
//
// Input layouts (float32, row-major, contiguous), see sample_store.hpp:
//   WindowLayout::Sequence  x[n, W, F]
//   WindowLayout::Flat      x[n, W * F_dynamic + F_static]
// Output: y[n], normalised target.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "fluxkit/core/context.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/models/pytorch_state_dict.hpp"

namespace fluxkit {

// What a model is built for: the input geometry of the sample stores it trains and predicts on.
struct InputShape {
  std::size_t window = 4;
  std::vector<std::string> features;  // in order
  std::vector<bool> is_static;
  std::size_t dynamic_features() const;
  std::size_t static_features() const;
  std::size_t flat_width() const { return window * dynamic_features() + static_features(); }
  static InputShape of(const SampleStore& store);
  bool operator==(const InputShape&) const = default;
};

struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0, validation_loss = 0, seconds = 0;
};

// Called after every epoch (boosting round for XGBoost) once its record, checkpoint and losses.csv are
// written, on the training thread: return false to stop training there (stop reason "callback"; the best
// weights so far are kept, as with early stopping). An exception it throws ends fit() with that exception.
using EpochCallback = std::function<bool(const EpochRecord&)>;

// Options of the fit loop shared by every model ([train] section).
struct TrainOptions {
  // Checkpoints and the per-epoch CSV go here; empty = none (tuning trials: a trial that dies is retried from
  // its first epoch, and writing ~3 copies of the weights every epoch would be most of a short trial's cost).
  std::filesystem::path work_dir;
  bool resume = false;  // continue from the last checkpoint in work_dir
  std::uint64_t seed = 42;
  EpochCallback on_epoch = {};  // empty = none (hyper-parameter tuning uses it to prune and to watch)
};

struct FitResult {
  std::vector<EpochRecord> history;
  int best_epoch = 0;
  double best_validation_loss = 0;
  std::string stop_reason;  // "patience", "max_epochs", "non-finite loss", ...
};

class Model {
 public:
  virtual ~Model() = default;

  virtual std::string type() const = 0;  // registry name: "mlp", "lstm", "attention_lstm", "xgboost"
  virtual WindowLayout layout() const = 0;
  virtual const InputShape& input_shape() const = 0;
  // Architecture, hyper-parameters and parameter count, for logs and `fluxkit describe`.
  virtual std::string describe() const = 0;
  // The hyper-parameters as a TOML table (stored in the artifact; the factory rebuilds the model from it).
  virtual toml::table hyper_parameters() const = 0;

  // Trains on `train`, selecting the best weights on `validation` (early stopping). Writes `losses.csv` and
  // checkpoints into options.work_dir while training.
  virtual FitResult fit(const SampleStore& train, const SampleStore& validation, const TrainOptions& options,
                        const Context& ctx) = 0;

  // Normalised predictions for n windows in layout(). Safe to call with large n (batched internally).
  virtual void predict(std::span<const float> x, std::size_t n, std::span<float> y,
                       const Context& ctx) const = 0;
  // Whether predict (and predict_with_attention) may run in several threads at once, each call using its
  // own ctx.threads, without the calls waiting for each other. Callers with many small independent jobs
  // (the explainers' samples) then run one job per thread instead of one job at a time on every thread.
  virtual bool predicts_concurrently() const { return false; }

  // Attention weights (attention-LSTM): alpha[n, W, F] (softmax over features) and beta[n, W] (over steps).
  virtual bool has_attention() const { return false; }
  virtual void predict_with_attention(std::span<const float> x, std::size_t n, std::span<float> y,
                                      std::span<float> alpha, std::span<float> beta,
                                      const Context& ctx) const;

  // Tree ensembles (XGBoost). predict_contributions: the path-dependent TreeSHAP values the library itself
  // computes (XGBoost's pred_contribs), out[n, flat_width + 1] with the bias (expected value) last; with
  // `interactions` the SHAP interaction values out[n, (flat_width + 1)^2] (pred_interactions). Both in the
  // model's output (normalised) units. trees_ubjson: the model in XGBoost's UBJSON format (its binary JSON),
  // for explanations that walk the trees themselves. The defaults throw an Error naming the model type.
  virtual bool has_trees() const { return false; }
  virtual void predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                                     std::vector<float>& out, const Context& ctx) const;
  virtual std::string trees_ubjson() const;

  // Weights trained by the Python pipeline, from the file its scripts saved (what ModelInfo::import_format
  // says; `fluxkit import-weights`). Throws FileError naming the file and the cause (a missing or mis-shaped
  // weight, a model for another number of input columns, an unreadable file). The default reads a PyTorch
  // state dict and calls import_state_dict(); XGBoost reads a JSON/UBJ model.
  virtual void import_weights(const std::filesystem::path& file);

  // A PyTorch state dict (torch.save(model.state_dict()), the Python modules' key names). Every parameter
  // must be present with its shape; unknown keys are errors except the attention model's unused
  // lstm_layer.*. The default: an Error (the model has no PyTorch weights).
  virtual void import_state_dict(const std::vector<std::pair<std::string, StateTensor>>& state);

  // Weights only, into / from a directory (the artifact writes the rest).
  virtual void save_weights(const std::filesystem::path& dir) const = 0;
  virtual void load_weights(const std::filesystem::path& dir) = 0;
};

// The registry: model type -> factory building an untrained model from its hyper-parameters. The built-in
// types are listed once in model.cpp with their description, layout and the plugin that provides their
// factory (core/plugin.hpp); the plugin is loaded the first time a model of its types is made, so listing
// the types never loads libtorch or XGBoost.
using ModelFactory =
    std::function<std::unique_ptr<Model>(const InputShape&, const toml::table& hyper_parameters)>;
struct ModelInfo {
  std::string type;
  std::string description;
  WindowLayout layout;
  ModelFactory factory;  // empty until the plugin is loaded
  std::string plugin;    // "torch", "xgboost"; "" = none (types registered in process, e.g. by tests)
  // The file Model::import_weights reads, for help texts; "" = the type imports nothing.
  std::string import_format;
};
// Adds or replaces a type (with its factory).
void register_model(ModelInfo info);
// Sets the factory of a built-in type (what a plugin does when it is loaded). Error for an unknown type.
void provide_model_factory(std::string_view type, ModelFactory factory);
// The type, its factory loaded (its plugin loaded on first use). Error listing the types for an unknown
// type; FileError naming the plugin when it cannot be loaded.
const ModelInfo& find_model(std::string_view type);
// The type as registered (its factory may still be empty), without loading its plugin: for help texts and
// checks before any work. Error listing the types for an unknown type.
ModelInfo model_info(std::string_view type);
// Every type, built-in and registered, sorted; none of their plugins is loaded.
std::vector<std::string> registered_models();
std::unique_ptr<Model> make_model(std::string_view type, const InputShape& shape,
                                  const toml::table& hyper_parameters);

}  // namespace fluxkit

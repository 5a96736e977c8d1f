// The XGBoost model (the Python pipeline's XGBRegressor) on the XGBoost C API (Debian libxgboost 1.7). The
// only translation unit that includes xgboost/c_api.h.
//
// XGBoost 1.7 facts this file relies on (checked against libxgboost 1.7.4):
// - XGBoosterEvalOneIter returns "[i]\ttrain-rmse:<v>\tvalidation-rmse:<v>"; evaluation predicts with
//   training = false, so DART drops no trees there.
// - XGBoosterSlice(h, 0, k, 1) returns a new booster with the trees of rounds 0..k-1 (-2 when k is out of
// range).
//   For gbtree, and for DART without dropout (rate_drop = 0), it predicts exactly as the booster did after
//   round k. With rate_drop > 0, DART rescales earlier trees when it drops them, so a slice keeps the *final*
//   weights and is not the model of round k: we snapshot the model (UBJSON buffer) at the best round instead.
// - XGBoosterPredictFromDense (in-place prediction) never applies DART dropout; in 1.7 its config needs
//   "cache_id": 0 (without it: "Invalid cast, from Null to Integer").
// - XGBoosterSaveModel picks the format from the file name (".json"), so we serialise to a JSON buffer and
// write it
//   atomically ourselves; a JSON model reloads to bit-identical predictions.
#include "fluxkit/models/xgboost_model.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {

// ---- XGBoost C API plumbing -------------------------------------------------------------------------------

// XGBoost's last error without its time stamp and stack trace.
std::string last_error() {
  std::string e = XGBGetLastError();
  if (const auto p = e.find("\nStack trace:"); p != std::string::npos) e.erase(p);
  if (!e.empty() && e.front() == '[') {
    if (const auto p = e.find("] "); p != std::string::npos && p < 16) e.erase(0, p + 2);
  }
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back())))
    e.pop_back();
  return e;
}

void check(int rc, std::string_view what) {
  if (rc != 0) throw Error(fmt::format("xgboost: {} failed: {}", what, last_error()));
}

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixFree>;
using BoosterPtr = std::unique_ptr<void, BoosterFree>;

// XGBoost's messages (warnings: its default verbosity) go to the fluxkit log instead of stderr.
void route_xgboost_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    XGBRegisterLogCallback([](const char* message) {
      std::string m = message != nullptr ? message : "";
      while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back())))
        m.pop_back();
      spdlog::warn("xgboost: {}", m);
    });
  });
}

void set_param(BoosterHandle b, const char* name, const std::string& value) {
  check(XGBoosterSetParam(b, name, value.c_str()), fmt::format("setting parameter {} = {}", name, value));
}

// XGBoost seeds a 32-bit Mersenne Twister: seeds below 2^31 are passed as they are (seed 42 is the Python
// wrapper's random_state=42), larger ones are folded so that their high bits still matter.
std::int64_t xgboost_seed(std::uint64_t seed) {
  constexpr std::uint64_t kMax = 0x7fffffffULL;
  return static_cast<std::int64_t>(seed <= kMax ? seed : (mix64(seed) & kMax));
}

// "name-rmse:<value>" in an XGBoosterEvalOneIter string.
double parse_metric(std::string_view text, std::string_view key) {
  const auto p = text.find(key);
  if (p != std::string_view::npos) {
    const char* begin = text.data() + p + key.size();
    double v = 0;
    const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), v);
    if (ec == std::errc() && end != begin) return v;
  }
  throw Error(fmt::format("xgboost: cannot read '{}' from the evaluation output '{}'", key, text));
}

BoosterPtr slice(BoosterHandle b, int rounds) {
  BoosterHandle out = nullptr;
  check(XGBoosterSlice(b, 0, rounds, 1, &out),
        fmt::format("keeping the first {} rounds (XGBoosterSlice)", rounds));
  return BoosterPtr(out);
}

std::vector<char> serialise(BoosterHandle b, const char* format) {
  bst_ulong len = 0;
  const char* data = nullptr;
  check(XGBoosterSaveModelToBuffer(b, fmt::format(R"({{"format": "{}"}})", format).c_str(), &len, &data),
        "serialising the model");
  return std::vector<char>(data, data + len);
}

BoosterPtr deserialise(const std::vector<char>& buffer) {
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(nullptr, 0, &h), "creating a booster");
  BoosterPtr b(h);
  check(XGBoosterLoadModelFromBuffer(h, buffer.data(), buffer.size()),
        "restoring the model of the best round");
  return b;
}

// ---- inputs -----------------------------------------------------------------------------------------------

// Name of column c of the flat layout: the dynamic features at t-W+1 .. t, then the static ones.
std::string column_name(const InputShape& s, std::size_t c) {
  std::vector<std::string> dynamic, fixed;
  for (std::size_t f = 0; f < s.features.size(); ++f)
    (s.is_static[f] ? fixed : dynamic).push_back(s.features[f]);
  const std::size_t nd = dynamic.size();
  if (c < s.window * nd) {
    const std::size_t lag = s.window - 1 - c / nd;
    return lag == 0 ? fmt::format("{} at t", dynamic[c % nd])
                    : fmt::format("{} at t-{}", dynamic[c % nd], lag);
  }
  const std::size_t k = c - s.window * nd;
  return k < fixed.size() ? fixed[k] : "?";
}

std::string describe_columns(const InputShape& s) {
  return fmt::format("{} columns: {} dynamic features x window {} + {} static; features [{}]", s.flat_width(),
                     s.dynamic_features(), s.window, s.static_features(), fmt::join(s.features, ", "));
}

// Throws naming the first (lowest index) NaN or infinity in x[n, width].
void check_finite(std::span<const float> x, std::size_t width, const InputShape& shape, const Context& ctx,
                  std::string_view where) {
  const std::size_t n = width == 0 ? 0 : x.size() / width;
  std::mutex m;
  std::size_t first = x.size();
  parallel_for(ctx, n, [&](std::size_t begin, std::size_t end) {
    const auto it = std::find_if(x.begin() + static_cast<std::ptrdiff_t>(begin * width),
                                 x.begin() + static_cast<std::ptrdiff_t>(end * width),
                                 [](float v) { return !std::isfinite(v); });
    const auto i = static_cast<std::size_t>(it - x.begin());
    if (i < end * width) {
      std::lock_guard lock(m);
      first = std::min(first, i);
    }
  });
  if (first == x.size()) return;
  const std::size_t r = first / width, c = first % width;
  throw Error(fmt::format("{}{} in model input at row {}, column {} ({})", where,
                          std::isnan(x[first]) ? "NaN" : "infinity", r, c, column_name(shape, c)));
}

// All windows of a store in the flat layout as a DMatrix with its labels.
DMatrixPtr load_matrix(const SampleStore& store, const InputShape& shape, const Context& ctx) {
  const std::size_t n = store.windows(), width = store.flat_width();
  std::vector<float> x(n * width), y(n);
  constexpr std::size_t kChunk = 8192;
  parallel_for(ctx, n, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint64_t> ids;
    for (std::size_t b = begin; b < end; b += kChunk) {
      const std::size_t e = std::min(end, b + kChunk);
      ids.resize(e - b);
      std::iota(ids.begin(), ids.end(), static_cast<std::uint64_t>(b));
      store.gather_flat(ids, std::span<float>(x).subspan(b * width, (e - b) * width),
                        std::span<float>(y).subspan(b, e - b));
    }
  });
  const std::string where = store.path().string() + ": ";
  check_finite(x, width, shape, ctx, where);
  if (const auto it = std::find_if(y.begin(), y.end(), [](float v) { return !std::isfinite(v); });
      it != y.end())
    throw Error(fmt::format("{}non-finite target at row {}", where, it - y.begin()));
  DMatrixHandle h = nullptr;
  check(XGDMatrixCreateFromMat_omp(x.data(), n, width, std::numeric_limits<float>::quiet_NaN(), &h,
                                   std::max(1, ctx.threads)),
        fmt::format("building the DMatrix of {}", store.path().string()));
  DMatrixPtr m(h);
  check(XGDMatrixSetFloatInfo(h, "label", y.data(), n),
        fmt::format("setting the labels of {}", store.path().string()));
  return m;
}

// losses.csv, written as training goes under losses.csv.partial and renamed into place at the end, so a
// killed run never leaves a file that looks complete.
class LossLog {
 public:
  explicit LossLog(const fs::path& dir) : final_(dir / "losses.csv"), partial_(dir / "losses.csv.partial") {
    std::error_code ec;
    fs::remove(final_, ec);  // a previous run's table must not pass for this run's
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out_) throw FileError(partial_.string(), "", "cannot create the loss table");
    out_ << "epoch,train_loss,validation_loss,seconds\n";
    out_.flush();
  }
  void add(const EpochRecord& r) {
    out_ << fmt::format("{},{:.9g},{:.9g},{}\n", r.epoch, r.train_loss, r.validation_loss,
                        seconds_for_file(r.seconds));
    out_.flush();
    if (!out_) throw FileError(partial_.string(), "", "cannot write the loss table");
  }
  void commit() {
    out_.close();
    if (!out_) throw FileError(partial_.string(), "", "cannot write the loss table");
    std::error_code ec;
    fs::rename(partial_, final_, ec);
    if (ec)
      throw FileError(final_.string(), "",
                      fmt::format("cannot move the loss table into place: {}", ec.message()));
  }

 private:
  fs::path final_, partial_;
  std::ofstream out_;
};

// ---- the model --------------------------------------------------------------------------------------------

class XGBoostModel final : public Model {
 public:
  XGBoostModel(InputShape shape, XGBoostParams params)
      : shape_(std::move(shape)), params_(std::move(params)) {
    if (shape_.is_static.size() != shape_.features.size() || shape_.flat_width() == 0)
      throw Error(fmt::format("xgboost: invalid input shape (window {}, {} features, {} static flags)",
                              shape_.window, shape_.features.size(), shape_.is_static.size()));
    route_xgboost_log();
  }

  std::string type() const override { return "xgboost"; }
  WindowLayout layout() const override { return WindowLayout::Flat; }
  const InputShape& input_shape() const override { return shape_; }
  toml::table hyper_parameters() const override { return config::to_table(params_); }
  std::string describe() const override;

  FitResult fit(const SampleStore& train, const SampleStore& validation, const TrainOptions& options,
                const Context& ctx) override;
  void predict(std::span<const float> x, std::size_t n, std::span<float> y,
               const Context& ctx) const override;
  void save_weights(const fs::path& dir) const override;
  void load_weights(const fs::path& dir) override;
  void import_weights(const fs::path& file) override;
  bool has_trees() const override { return true; }
  void predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                             std::vector<float>& out, const Context& ctx) const override;
  std::string trees_ubjson() const override;

 private:
  // Takes a loaded booster after checking its number of input columns against the input shape.
  void adopt(BoosterPtr booster, const fs::path& file);
  void check_store(const SampleStore& s) const {
    const InputShape other = InputShape::of(s);
    if (!(other == shape_))
      throw Error(fmt::format(
          "{}: features [{}] / window {} differ from the xgboost model's [{}] / window {}", s.path().string(),
          fmt::join(other.features, ", "), other.window, fmt::join(shape_.features, ", "), shape_.window));
  }
  // Whether XGBoosterSlice at the best round reproduces the model of that round exactly (see the top).
  bool slice_is_exact() const { return params_.booster == "gbtree" || params_.rate_drop == 0; }

  InputShape shape_;
  XGBoostParams params_;
  BoosterPtr booster_;
  int rounds_ = 0;  // boosting rounds in booster_
  mutable std::mutex mutex_;
  mutable int threads_ = 0;  // nthread booster_ is configured with (0: not yet)
};

std::string XGBoostModel::describe() const {
  const auto& p = params_;
  const std::string trees =
      booster_ ? fmt::format("{} trees", rounds_) : fmt::format("untrained, up to {} trees", p.n_estimators);
  const std::string dart = p.booster == "dart" ? fmt::format(", rate_drop {:g}", p.rate_drop) : "";
  const std::string settings = fmt::format(
      "max_depth {}, learning_rate {:g}, subsample {:g}, colsample_bytree {:g}, gamma {:g}, reg_lambda {:g}, "
      "reg_alpha {:g}, min_child_weight {:g}{}, tree_method {}, early_stopping_rounds {}",
      p.max_depth, p.learning_rate, p.subsample, p.colsample_bytree, p.gamma, p.reg_lambda, p.reg_alpha,
      p.min_child_weight, dart, p.tree_method, p.early_stopping_rounds);
  return fmt::format("xgboost: {} booster, {}; {}; inputs: {}", p.booster, trees, settings,
                     describe_columns(shape_));
}

FitResult XGBoostModel::fit(const SampleStore& train, const SampleStore& validation,
                            const TrainOptions& options, const Context& ctx) {
  check_store(train);
  check_store(validation);
  if (train.windows() == 0) throw Error(fmt::format("{}: no training windows", train.path().string()));
  if (validation.windows() == 0)
    throw Error(fmt::format("{}: no validation windows", validation.path().string()));
  if (options.resume)
    spdlog::warn("xgboost: resuming is not supported; training from the first round (it is deterministic)");
  const int threads = std::max(1, ctx.threads);
  const auto& p = params_;

  const DMatrixPtr dtrain = load_matrix(train, shape_, ctx);
  const DMatrixPtr dval = load_matrix(validation, shape_, ctx);
  std::optional<LossLog> log;  // none without a work directory (tuning trials)
  if (!options.work_dir.empty()) {
    fs::create_directories(options.work_dir);
    log.emplace(options.work_dir);
  }
  spdlog::info("xgboost: {} training and {} validation windows of {} columns; {} booster, up to {} rounds",
               train.windows(), validation.windows(), shape_.flat_width(), p.booster, p.n_estimators);

  DMatrixHandle evals[2] = {dtrain.get(), dval.get()};
  const char* names[2] = {"train", "validation"};
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(evals, 2, &h), "creating the booster");
  const BoosterPtr booster(h);
  set_param(h, "objective", "reg:squarederror");
  set_param(h, "booster", p.booster);
  set_param(h, "tree_method", p.tree_method);
  set_param(h, "max_depth", std::to_string(p.max_depth));
  set_param(h, "eta", fmt::format("{}", p.learning_rate));
  set_param(h, "subsample", fmt::format("{}", p.subsample));
  set_param(h, "colsample_bytree", fmt::format("{}", p.colsample_bytree));
  set_param(h, "gamma", fmt::format("{}", p.gamma));
  set_param(h, "lambda", fmt::format("{}", p.reg_lambda));
  set_param(h, "alpha", fmt::format("{}", p.reg_alpha));
  set_param(h, "min_child_weight", fmt::format("{}", p.min_child_weight));
  if (p.booster == "dart") set_param(h, "rate_drop", fmt::format("{}", p.rate_drop));  // gbtree would warn
  set_param(h, "nthread", std::to_string(threads));
  set_param(h, "seed", std::to_string(xgboost_seed(options.seed)));
  set_param(h, "eval_metric", "rmse");

  FitResult result;
  result.best_validation_loss = std::numeric_limits<double>::infinity();
  result.stop_reason = "n_estimators";
  const int rounds = static_cast<int>(p.n_estimators);
  const int patience = static_cast<int>(p.early_stopping_rounds);
  int since_best = 0;
  bool finite = true;
  std::vector<char> best_snapshot;  // DART with dropout only
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    check(XGBoosterUpdateOneIter(h, round, dtrain.get()), fmt::format("boosting round {}", round + 1));
    const char* text = nullptr;
    check(XGBoosterEvalOneIter(h, round, evals, names, 2, &text),
          fmt::format("evaluating round {}", round + 1));
    const double train_rmse = parse_metric(text, "train-rmse:");
    const double val_rmse = parse_metric(text, "validation-rmse:");
    if (!std::isfinite(train_rmse) || !std::isfinite(val_rmse)) {
      finite = false;
      result.stop_reason = fmt::format("non-finite {} loss in round {}",
                                       std::isfinite(train_rmse) ? "validation" : "training", round + 1);
      spdlog::error("xgboost: {}; keeping the first {} rounds", result.stop_reason, result.best_epoch);
      break;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const EpochRecord record{round + 1, train_rmse * train_rmse, val_rmse * val_rmse, seconds};
    result.history.push_back(record);
    if (log) log->add(record);
    if (record.validation_loss < result.best_validation_loss) {
      result.best_validation_loss = record.validation_loss;
      result.best_epoch = record.epoch;
      since_best = 0;
      if (!slice_is_exact()) best_snapshot = serialise(h, "ubj");
    } else {
      ++since_best;
    }
    if (record.epoch % 10 == 0 || record.epoch == rounds)
      spdlog::info("xgboost: round {}/{}: train MSE {:.6g}, validation MSE {:.6g} (best {:.6g} in round {})",
                   record.epoch, rounds, record.train_loss, record.validation_loss,
                   result.best_validation_loss, result.best_epoch);
    else
      spdlog::debug("xgboost: round {}/{}: train MSE {:.6g}, validation MSE {:.6g}", record.epoch, rounds,
                    record.train_loss, record.validation_loss);
    if (options.on_epoch && !options.on_epoch(record)) {
      result.stop_reason = "callback";
      break;
    }
    if (patience > 0 && since_best >= patience) {
      result.stop_reason = "early stopping";
      break;
    }
  }
  if (result.history.empty()) throw DivergedError("xgboost: no boosting round finished with a finite loss");

  // Early stopping off: the model of the last round is kept, as the seed does.
  if (patience == 0 && finite) {
    result.best_epoch = result.history.back().epoch;
    result.best_validation_loss = result.history.back().validation_loss;
  }
  const int keep = result.best_epoch;
  const bool last = keep == result.history.back().epoch && finite;
  booster_ = (!best_snapshot.empty() && !last) ? deserialise(best_snapshot) : slice(h, keep);
  rounds_ = keep;
  threads_ = 0;
  if (log) log->commit();
  spdlog::info("xgboost: stopped after {} rounds ({}); keeping {} rounds, validation MSE {:.6g}",
               result.history.size(), result.stop_reason, keep, result.best_validation_loss);
  return result;
}

void XGBoostModel::predict(std::span<const float> x, std::size_t n, std::span<float> y,
                           const Context& ctx) const {
  const std::size_t width = shape_.flat_width();
  if (y.size() != n)
    throw Error(fmt::format("xgboost: predict needs {} outputs for {} windows, got {}", n, n, y.size()));
  if (x.size() != n * width) {
    const std::string per_row =
        n > 0 && x.size() % n == 0 ? fmt::format(" ({} columns per window)", x.size() / n) : std::string();
    throw Error(fmt::format("xgboost: predict got {} input values for {} windows{}, but the model takes {}",
                            x.size(), n, per_row, describe_columns(shape_)));
  }
  if (!booster_) throw Error("xgboost: predict called before fit or load_weights");
  if (n == 0) return;
  check_finite(x, width, shape_, ctx, "");

  std::lock_guard lock(mutex_);
  const int threads = std::max(1, ctx.threads);
  if (threads_ != threads) {
    set_param(booster_.get(), "nthread", std::to_string(threads));
    threads_ = threads;
  }
  // In-place prediction: no copy of x, never DART dropout. Chunks bound XGBoost's output buffer.
  static constexpr const char* kConfig =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, )"
      R"("missing": NaN, "cache_id": 0})";
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t m = std::min(kChunk, n - i);
    const std::string array =
        fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                    reinterpret_cast<std::uintptr_t>(x.data() + i * width), m, width);
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    check(XGBoosterPredictFromDense(booster_.get(), array.c_str(), kConfig, nullptr, &shape, &dim, &out),
          fmt::format("predicting windows {}..{}", i, i + m - 1));
    bst_ulong total = 1;
    for (bst_ulong d = 0; d < dim; ++d)
      total *= shape[d];
    if (total != m)
      throw Error(fmt::format("xgboost: prediction returned {} values for {} windows", total, m));
    std::copy(out, out + m, y.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

// XGBoosterPredictFromDMatrix with type 2 (contributions) or 4 (interactions): XGBoost's own path-dependent
// TreeSHAP; for DART the trees are weighted as in prediction (training = false drops none).
void XGBoostModel::predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                                         std::vector<float>& out, const Context& ctx) const {
  const std::size_t width = shape_.flat_width();
  if (x.size() != n * width)
    throw Error(
        fmt::format("xgboost: contributions got {} input values for {} windows, but the model takes {}",
                    x.size(), n, describe_columns(shape_)));
  if (!booster_) throw Error("xgboost: contributions requested before fit or load_weights");
  const std::size_t per_row = interactions ? (width + 1) * (width + 1) : width + 1;
  out.assign(n * per_row, 0.0f);
  if (n == 0) return;
  check_finite(x, width, shape_, ctx, "");
  std::lock_guard lock(mutex_);
  const int threads = std::max(1, ctx.threads);
  if (threads_ != threads) {
    set_param(booster_.get(), "nthread", std::to_string(threads));
    threads_ = threads;
  }
  const std::string config = fmt::format(
      R"({{"type": {}, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}})",
      interactions ? 4 : 2);
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t{1} << 24) / per_row);
  for (std::size_t i = 0; i < n; i += chunk) {
    const std::size_t m = std::min(chunk, n - i);
    DMatrixHandle d = nullptr;
    check(XGDMatrixCreateFromMat(x.data() + i * width, m, width, std::numeric_limits<float>::quiet_NaN(), &d),
          "building the contribution matrix");
    DMatrixPtr dm(d);
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    check(XGBoosterPredictFromDMatrix(booster_.get(), d, config.c_str(), &shape, &dim, &result),
          fmt::format("SHAP contributions of windows {}..{}", i, i + m - 1));
    bst_ulong total = 1;
    for (bst_ulong k = 0; k < dim; ++k)
      total *= shape[k];
    if (total != m * per_row)
      throw Error(
          fmt::format("xgboost: contributions returned {} values for {} windows x {}", total, m, per_row));
    std::copy(result, result + total, out.begin() + static_cast<std::ptrdiff_t>(i * per_row));
  }
}

std::string XGBoostModel::trees_ubjson() const {
  if (!booster_) throw Error("xgboost: trees requested before fit or load_weights");
  std::lock_guard lock(mutex_);
  const std::vector<char> ubj = serialise(booster_.get(), "ubj");
  return std::string(ubj.begin(), ubj.end());
}

void XGBoostModel::save_weights(const fs::path& dir) const {
  if (!booster_) throw Error("xgboost: save_weights called before fit or load_weights");
  std::lock_guard lock(mutex_);
  const std::vector<char> json = serialise(booster_.get(), "json");
  write_text_atomic(dir / "model.json", std::string(json.begin(), json.end()));
}

void XGBoostModel::load_weights(const fs::path& dir) {
  const fs::path path = dir / "model.json";
  if (!fs::exists(path)) throw FileError(path.string(), "", "XGBoost model file not found");
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(nullptr, 0, &h), "creating a booster");
  BoosterPtr b(h);
  if (XGBoosterLoadModel(h, path.c_str()) != 0)
    throw FileError(path.string(), "", fmt::format("not a readable XGBoost model: {}", last_error()));
  adopt(std::move(b), path);
}

// XGBoosterLoadModelFromBuffer tells JSON ('{' then '"') from UBJ ('{' then a type marker) itself.
void XGBoostModel::import_weights(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw FileError(file.string(), "", "file not found");
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw FileError(file.string(), "", "cannot read the file");
  if (data.empty()) throw FileError(file.string(), "", "empty file, not an XGBoost model");
  if (static_cast<unsigned char>(data[0]) == 0x80)
    throw FileError(
        file.string(), "",
        "a Python pickle (an XGBRegressor saved with pickle.dump?), not an XGBoost model: convert it "
        "once with python/fluxkit/convert_pickles.py --xgboost, which writes the model as JSON, and "
        "import that");
  if (data[0] != '{')
    throw FileError(file.string(), "",
                    "not an XGBoost JSON or UBJ model (Booster.save_model(\"model.json\") or \"model.ubj\")");
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(nullptr, 0, &h), "creating a booster");
  BoosterPtr b(h);
  if (XGBoosterLoadModelFromBuffer(h, data.data(), data.size()) != 0)
    throw FileError(file.string(), "", fmt::format("not a readable XGBoost model: {}", last_error()));
  adopt(std::move(b), file);
}

void XGBoostModel::adopt(BoosterPtr b, const fs::path& file) {
  bst_ulong features = 0;
  int rounds = 0;
  check(XGBoosterGetNumFeature(b.get(), &features), fmt::format("reading {}", file.string()));
  check(XGBoosterBoostedRounds(b.get(), &rounds), fmt::format("reading {}", file.string()));
  if (features != shape_.flat_width())
    throw FileError(file.string(), "",
                    fmt::format("the model takes {} input columns, but the inputs have {}", features,
                                describe_columns(shape_)));
  std::lock_guard lock(mutex_);
  booster_ = std::move(b);
  rounds_ = rounds;
  threads_ = 0;
}

}  // namespace

void register_xgboost_model() {
  provide_model_factory(
      "xgboost", [](const InputShape& shape, const toml::table& hp) -> std::unique_ptr<Model> {
        return std::make_unique<XGBoostModel>(
            shape, config::Document::from_section(XGBoostParams::kSection, hp, "<model artifact>")
                       .get<XGBoostParams>());
      });
}

namespace {
// Loading the plugin registers its factory.
[[maybe_unused]] const bool kRegistered = (register_xgboost_model(), true);
}  // namespace

}  // namespace fluxkit

// The explainer registry, the flat <-> sequence plumbing, backgrounds and the built-in explainers
// (include/fluxkit/explain/explainer.hpp).
#include "fluxkit/explain/explainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/parallel.hpp"

namespace fluxkit::explain {

// ---- layouts ----------------------------------------------------------------------------------------------

void flat_to_sequence(const InputShape& shape, std::span<const float> flat, std::size_t n,
                      std::span<float> sequence) {
  const std::size_t W = shape.window, F = shape.features.size(), M = shape.flat_width();
  const std::size_t nd = shape.dynamic_features();
  if (flat.size() != n * M || sequence.size() != n * W * F)
    throw Error("explain: flat_to_sequence buffer sizes do not match the input shape");
  std::vector<std::size_t> dyn_pos(F), stat_pos(F);
  std::size_t d = 0, s = 0;
  for (std::size_t f = 0; f < F; ++f)
    (shape.is_static[f] ? stat_pos[f] = s++ : dyn_pos[f] = d++);
  for (std::size_t i = 0; i < n; ++i) {
    const float* in = flat.data() + i * M;
    float* out = sequence.data() + i * W * F;
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t f = 0; f < F; ++f)
        out[w * F + f] = shape.is_static[f] ? in[W * nd + stat_pos[f]] : in[w * nd + dyn_pos[f]];
  }
}

BatchFunction flat_function(const Model& model, const Context& ctx) {
  if (model.layout() == WindowLayout::Flat)
    return [&model, ctx](std::span<const float> x, std::size_t n, std::span<float> y) {
      model.predict(x, n, y, ctx);
    };
  return [&model, ctx](std::span<const float> x, std::size_t n, std::span<float> y) {
    const InputShape& s = model.input_shape();
    std::vector<float> seq(n * s.window * s.features.size());
    flat_to_sequence(s, x, n, seq);
    model.predict(seq, n, y, ctx);
  };
}

std::vector<ColumnMeaning> flat_column_meanings(const InputShape& s) {
  std::vector<std::string> dynamic, fixed;
  for (std::size_t f = 0; f < s.features.size(); ++f)
    (s.is_static[f] ? fixed : dynamic).push_back(s.features[f]);
  std::vector<ColumnMeaning> out;
  for (std::size_t w = 0; w < s.window; ++w)
    for (const auto& d : dynamic)
      out.push_back({d, static_cast<int>(s.window - 1 - w)});
  for (const auto& f : fixed)
    out.push_back({f, -1});
  return out;
}

std::vector<std::string> flat_column_names(const InputShape& s) {
  std::vector<std::string> out;
  for (const auto& m : flat_column_meanings(s))
    out.push_back(m.lag < 0    ? m.driver
                  : m.lag == 0 ? m.driver + " at t"
                               : fmt::format("{} at t-{}", m.driver, m.lag));
  return out;
}

// ---- backgrounds ------------------------------------------------------------------------------------------

Background uniform_background(std::vector<float> x, std::size_t width) {
  Background b;
  b.width = width;
  b.rows = width == 0 ? 0 : x.size() / width;
  b.x = std::move(x);
  b.weight.assign(b.rows, b.rows ? 1.0 / double(b.rows) : 0.0);
  return b;
}

Background kmeans_background(std::span<const float> x, std::size_t n, std::size_t width, std::size_t k,
                             std::uint64_t seed, int iterations) {
  if (k == 0 || n == 0) throw Error("explain: k-means background needs k >= 1 and at least one row");
  if (k >= n)
    return uniform_background(
        std::vector<float>(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n * width)), width);
  auto dist = [&](const float* a, const double* c) {
    double s = 0;
    for (std::size_t j = 0; j < width; ++j)
      s += (a[j] - c[j]) * (a[j] - c[j]);
    return s;
  };
  std::vector<double> centre(k * width);
  // k-means++ seeding from a counter-based stream.
  std::vector<double> d2(n, std::numeric_limits<double>::infinity());
  std::size_t first = static_cast<std::size_t>(random_bits(seed, 11, 0) % n);
  for (std::size_t c = 0; c < k; ++c) {
    std::size_t pick = first;
    if (c > 0) {
      const double total = std::accumulate(d2.begin(), d2.end(), 0.0);
      double u = random_uniform(seed, 12, c) * total, acc = 0;
      pick = n - 1;
      for (std::size_t i = 0; i < n; ++i)
        if ((acc += d2[i]) >= u && d2[i] > 0) {
          pick = i;
          break;
        }
    }
    for (std::size_t j = 0; j < width; ++j)
      centre[c * width + j] = x[pick * width + j];
    for (std::size_t i = 0; i < n; ++i)
      d2[i] = std::min(d2[i], dist(&x[i * width], &centre[c * width]));
  }
  std::vector<std::size_t> assign(n, 0);
  for (int it = 0; it < iterations; ++it) {
    bool changed = false;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (std::size_t c = 0; c < k; ++c) {
        const double d = dist(&x[i * width], &centre[c * width]);
        if (d < bd) bd = d, best = c;
      }
      if (best != assign[i] || it == 0) changed |= best != assign[i], assign[i] = best;
    }
    std::vector<double> sum(k * width, 0.0);
    std::vector<std::size_t> count(k, 0);
    for (std::size_t i = 0; i < n; ++i) {
      ++count[assign[i]];
      for (std::size_t j = 0; j < width; ++j)
        sum[assign[i] * width + j] += x[i * width + j];
    }
    for (std::size_t c = 0; c < k; ++c)
      if (count[c] > 0)
        for (std::size_t j = 0; j < width; ++j)
          centre[c * width + j] = sum[c * width + j] / double(count[c]);
    if (!changed && it > 0) break;
  }
  Background b;
  b.width = width;
  std::vector<std::size_t> count(k, 0);
  for (std::size_t i = 0; i < n; ++i)
    ++count[assign[i]];
  for (std::size_t c = 0; c < k; ++c) {
    if (count[c] == 0) continue;
    // Column-wise nearest member value.
    for (std::size_t j = 0; j < width; ++j) {
      float best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < n; ++i)
        if (assign[i] == c) {
          const double d = std::abs(x[i * width + j] - centre[c * width + j]);
          if (d < bd) bd = d, best = x[i * width + j];
        }
      b.x.push_back(best);
    }
    b.weight.push_back(double(count[c]) / double(n));
    ++b.rows;
  }
  return b;
}

// ---- the explainers ---------------------------------------------------------------------------------------

namespace {

Explanation empty_explanation(const Model& model, std::size_t n) {
  Explanation e;
  e.samples = n;
  e.player_names = flat_column_names(model.input_shape());
  e.players = e.player_names.size();
  e.phi.assign(n * e.players, 0.0);
  e.base.assign(n, 0.0);
  e.fx.assign(n, 0.0);
  return e;
}

void check_width(const Model& model, std::span<const float> x, std::size_t n) {
  const std::size_t M = model.input_shape().flat_width();
  if (x.size() != n * M)
    throw Error(fmt::format("explain: {} values for {} samples, but the model takes {} flat columns",
                            x.size(), n, M));
}

// Calls explain_sample(i, sample_ctx) for every sample i < n, each writing only its own sample's results.
// A model that predicts concurrently (libtorch on the CPU) explains one sample per thread, its model calls
// on that thread alone: a sample's own work between the calls (building the coalitions' rows, the solve)
// then runs in parallel too, and no model call waits for the other threads. On 2 cores that was 1.6-2x
// faster than one sample at a time on both threads (docs/explain.md). It also makes the numbers independent
// of the thread count: a recurrent network's rows round differently when a call splits them over threads
// (by about 1e-9). Otherwise (XGBoost, whose predictions take turns on one booster) one sample at a time,
// the model's calls using every thread.
void for_each_sample(const Model& model, std::size_t n, const Context& ctx,
                     const std::function<void(std::size_t, const Context&)>& explain_sample) {
  if (model.predicts_concurrently() && ctx.device == Device::Cpu) {
    Context one = ctx;
    one.threads = 1;
    parallel_for_each(ctx, n, [&](std::size_t i) { explain_sample(i, one); });
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    explain_sample(i, ctx);
}

class KernelShapExplainer final : public Explainer {
 public:
  std::string method() const override { return "kernel_shap"; }
  void check_model(const Model&) const override {}
  Explanation explain(const Model& model, std::span<const float> x, std::size_t n, const Background& bg,
                      const ExplainOptions& options, const Context& ctx) const override {
    check_width(model, x, n);
    Explanation e = empty_explanation(model, n);
    const std::size_t M = model.input_shape().flat_width();
    if (!options.kernel.groups.empty()) {
      e.players = options.kernel.groups.size();
      e.phi.assign(n * e.players, 0.0);
      e.player_names.clear();
      const auto names = flat_column_names(model.input_shape());
      for (const auto& g : options.kernel.groups) {
        std::string name;
        for (const auto c : g)
          name += (name.empty() ? "" : "+") + names[c];
        e.player_names.push_back(name);
      }
    }
    // Each sample's coalitions go to the model in large batches.
    for_each_sample(model, n, ctx, [&](std::size_t i, const Context& sample_ctx) {
      KernelShapOptions o = options.kernel;
      o.seed = random_bits(options.kernel.seed, 21, i);
      const Attribution a = kernel_shap(flat_function(model, sample_ctx), x.subspan(i * M, M), bg, o);
      std::copy(a.phi.begin(), a.phi.end(), e.phi.begin() + static_cast<std::ptrdiff_t>(i * e.players));
      e.base[i] = a.base;
      e.fx[i] = a.fx;
    });
    return e;
  }
};

class TreeShapExplainer final : public Explainer {
 public:
  std::string method() const override { return "tree_shap"; }
  bool needs_background() const override { return false; }
  void check_model(const Model& model) const override {
    if (!model.has_trees())
      throw Error(fmt::format("explain: method tree_shap needs a tree ensemble (xgboost), not a '{}' model",
                              model.type()));
  }
  Explanation explain(const Model& model, std::span<const float> x, std::size_t n, const Background&,
                      const ExplainOptions& options, const Context& ctx) const override {
    check_model(model);
    check_width(model, x, n);
    Explanation e = empty_explanation(model, n);
    std::vector<float> contrib;
    if (options.interactions) {
      const std::size_t M = e.players, K = M + 1;
      model.predict_contributions(x, n, true, contrib, ctx);
      e.interactions.resize(n * M * M);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < M; ++a)
          for (std::size_t b = 0; b < M; ++b)
            e.interactions[(i * M + a) * M + b] = contrib[(i * K + a) * K + b];
    }
    model.predict_contributions(x, n, false, contrib, ctx);
    const std::size_t M = e.players;
    for (std::size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (std::size_t c = 0; c < M; ++c) {
        e.phi[i * M + c] = contrib[i * (M + 1) + c];
        sum += contrib[i * (M + 1) + c];
      }
      e.base[i] = contrib[i * (M + 1) + M];
      e.fx[i] = e.base[i] + sum;
    }
    return e;
  }
};

class InterventionalTreeShapExplainer final : public Explainer {
 public:
  std::string method() const override { return "tree_shap_interventional"; }
  void check_model(const Model& model) const override {
    if (!model.has_trees())
      throw Error(fmt::format(
          "explain: method tree_shap_interventional needs a tree ensemble (xgboost), not a '{}' model",
          model.type()));
  }
  Explanation explain(const Model& model, std::span<const float> x, std::size_t n, const Background& bg,
                      const ExplainOptions&, const Context& ctx) const override {
    check_model(model);
    check_width(model, x, n);
    Explanation e = empty_explanation(model, n);
    const std::shared_ptr<const Walker> walker = prepare(model, bg, ctx);
    const std::size_t M = e.players;
    parallel_for(ctx, n, [&](std::size_t b, std::size_t end) {
      for (std::size_t i = b; i < end; ++i) {
        const Attribution a = walker->shap(x.subspan(i * M, M));
        std::copy(a.phi.begin(), a.phi.end(), e.phi.begin() + static_cast<std::ptrdiff_t>(i * M));
        e.base[i] = a.base;
        e.fx[i] = a.fx;
      }
    });
    return e;
  }

 private:
  // The trees with a copy of the background and the walk's set-up on them (InterventionalTreeShap refers to
  // both). Never moved once built.
  struct Walker {
    Walker(std::shared_ptr<const TreeEnsemble> t, const Background& b, std::uint64_t k, const Context& ctx)
        : trees(std::move(t)), background(b), key(k), shap(*trees, background, ctx) {}
    std::shared_ptr<const TreeEnsemble> trees;
    Background background;
    std::uint64_t key;  // background_key(background)
    InterventionalTreeShap shap;
  };
  static std::uint64_t background_key(const Background& bg) {
    std::uint64_t h =
        fnv1a64(std::string_view(reinterpret_cast<const char*>(bg.x.data()), bg.x.size() * sizeof(float)));
    h = fnv1a64(
        std::string_view(reinterpret_cast<const char*>(bg.weight.data()), bg.weight.size() * sizeof(double)),
        h);
    return fnv1a64(fmt::format("{}x{}", bg.rows, bg.width), h);
  }
  // An explainer explains one model many times, chunk by chunk, against the same background: the trees are
  // read once per model, and the set-up is built once per background (for 2000 rows it took as long as
  // walking 16 samples). The background is recognised by its content, not its address.
  std::shared_ptr<const Walker> prepare(const Model& model, const Background& bg, const Context& ctx) const {
    const std::uint64_t key = background_key(bg);
    std::lock_guard lock(mutex_);
    if (trees_for_ != &model) {
      trees_ = std::make_shared<const TreeEnsemble>(tree_ensemble_of(model));
      trees_for_ = &model;
      walker_.reset();
    }
    if (!walker_ || walker_->key != key) walker_ = std::make_shared<const Walker>(trees_, bg, key, ctx);
    return walker_;
  }

  mutable std::mutex mutex_;
  mutable const Model* trees_for_ = nullptr;
  mutable std::shared_ptr<const TreeEnsemble> trees_;
  mutable std::shared_ptr<const Walker> walker_;
};

class AttentionExplainer final : public Explainer {
 public:
  std::string method() const override { return "attention"; }
  bool needs_background() const override { return false; }
  void check_model(const Model& model) const override {
    if (!model.has_attention())
      throw Error(
          fmt::format("explain: method attention needs the attention-LSTM, not a '{}' model", model.type()));
  }
  Explanation explain(const Model& model, std::span<const float> x, std::size_t n, const Background&,
                      const ExplainOptions&, const Context& ctx) const override {
    check_model(model);
    check_width(model, x, n);
    const InputShape& s = model.input_shape();
    const std::size_t W = s.window, F = s.features.size();
    std::vector<float> seq(n * W * F), y(n);
    flat_to_sequence(s, x, n, seq);
    Explanation e;
    e.samples = n;
    e.alpha.resize(n * W * F);
    e.beta.resize(n * W);
    model.predict_with_attention(seq, n, y, e.alpha, e.beta, ctx);
    // "Attributions" alpha x beta per (step, feature): the attention mass on each input; no base value.
    e.players = W * F;
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t f = 0; f < F; ++f)
        e.player_names.push_back(W - 1 - w == 0 ? s.features[f] + " at t"
                                                : fmt::format("{} at t-{}", s.features[f], W - 1 - w));
    e.phi.resize(n * W * F);
    e.base.assign(n, 0.0);
    e.fx.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      e.fx[i] = y[i];
      for (std::size_t w = 0; w < W; ++w)
        for (std::size_t f = 0; f < F; ++f)
          e.phi[i * W * F + w * F + f] = double(e.alpha[i * W * F + w * F + f]) * e.beta[i * W + w];
    }
    return e;
  }
};

class TimeShapExplainer final : public Explainer {
 public:
  std::string method() const override { return "timeshap"; }
  void check_model(const Model& model) const override {
    if (model.layout() != WindowLayout::Sequence)
      throw Error(
          fmt::format("explain: method timeshap needs a recurrent model (lstm, attention_lstm), not a "
                      "'{}' model",
                      model.type()));
  }
  Explanation explain(const Model& model, std::span<const float> x, std::size_t n, const Background& bg,
                      const ExplainOptions& options, const Context& ctx) const override {
    check_model(model);
    check_width(model, x, n);
    const InputShape& s = model.input_shape();
    const std::size_t W = s.window, F = s.features.size(), M = s.flat_width();
    // The baseline from the background rows as sequences.
    std::vector<float> bseq(bg.rows * W * F);
    flat_to_sequence(s, bg.x, bg.rows, bseq);
    std::vector<float> baseline;
    if (options.timeshap_baseline == "median_event") {
      baseline.resize(F);
      std::vector<float> col(bg.rows * W);
      for (std::size_t f = 0; f < F; ++f) {
        for (std::size_t i = 0; i < bg.rows * W; ++i)
          col[i] = bseq[i * F + f];
        std::sort(col.begin(), col.end());
        const std::size_t h = col.size() / 2;
        baseline[f] = col.size() % 2 ? col[h] : 0.5f * (col[h - 1] + col[h]);
      }
    } else if (options.timeshap_baseline == "mean_sequence") {
      baseline.assign(W * F, 0.0f);
      for (std::size_t j = 0; j < bg.rows; ++j)
        for (std::size_t c = 0; c < W * F; ++c)
          baseline[c] += static_cast<float>(bg.weight[j] * bseq[j * W * F + c]);
    } else {
      throw Error(fmt::format("explain: unknown TimeSHAP baseline '{}' (median_event or mean_sequence)",
                              options.timeshap_baseline));
    }
    Explanation e;
    e.samples = n;
    for (const auto& f : s.features)
      e.player_names.push_back(f);
    e.player_names.push_back("pruned events");
    for (std::size_t w = 0; w < W; ++w)
      e.player_names.push_back(fmt::format("event t-{}", W - 1 - w));
    e.player_names.push_back("pruned events (event level)");
    e.players = e.player_names.size();
    e.phi.assign(n * e.players, 0.0);
    e.base.assign(n, 0.0);
    e.fx.assign(n, 0.0);
    e.cell.assign(n * W * F, 0.0);
    e.kept.assign(n, 0);
    for_each_sample(model, n, ctx, [&](std::size_t i, const Context& sample_ctx) {
      const BatchFunction seq_f = [&model, &sample_ctx](std::span<const float> xs, std::size_t rows,
                                                        std::span<float> y) {
        model.predict(xs, rows, y, sample_ctx);
      };
      std::vector<float> seq(W * F);
      flat_to_sequence(s, x.subspan(i * M, M), 1, seq);
      TimeShapOptions o;
      o.tolerance = options.timeshap_tolerance;
      o.kernel = options.kernel;
      o.kernel.groups.clear();
      o.kernel.seed = random_bits(options.kernel.seed, 22, i);
      const TimeShapResult r = timeshap(seq_f, seq, baseline, W, F, o);
      double* phi = e.phi.data() + i * e.players;
      std::copy(r.feature.begin(), r.feature.end(), phi);
      phi[F] = r.feature_pruned;
      std::copy(r.event.begin(), r.event.end(), phi + F + 1);
      phi[F + 1 + W] = r.event_pruned;
      std::copy(r.cell.begin(), r.cell.end(), e.cell.begin() + static_cast<std::ptrdiff_t>(i * W * F));
      e.base[i] = r.base;
      e.fx[i] = r.fx;
      e.kept[i] = static_cast<std::int32_t>(r.kept);
    });
    return e;
  }
};

std::mutex registry_mutex;
std::map<std::string, ExplainerInfo, std::less<>>& registry() {
  static std::map<std::string, ExplainerInfo, std::less<>> r = [] {
    std::map<std::string, ExplainerInfo, std::less<>> m;
    auto add = [&](std::string name, std::string doc, std::function<std::unique_ptr<Explainer>()> f) {
      m.emplace(name, ExplainerInfo{name, std::move(doc), std::move(f)});
    };
    add("kernel_shap", "KernelSHAP against a background (any model)",
        [] { return std::make_unique<KernelShapExplainer>(); });
    add("tree_shap", "path-dependent TreeSHAP by XGBoost (gbtree, DART)",
        [] { return std::make_unique<TreeShapExplainer>(); });
    add("tree_shap_interventional", "exact interventional TreeSHAP against a background (gbtree, DART)",
        [] { return std::make_unique<InterventionalTreeShapExplainer>(); });
    add("timeshap", "TimeSHAP event, feature and cell level with temporal pruning (LSTM, attention-LSTM)",
        [] { return std::make_unique<TimeShapExplainer>(); });
    add("attention", "attention weights alpha x beta of the attention-LSTM",
        [] { return std::make_unique<AttentionExplainer>(); });
    return m;
  }();
  return r;
}

}  // namespace

void register_explainer(ExplainerInfo info) {
  std::lock_guard lock(registry_mutex);
  auto& r = registry();
  const std::string name = info.method;
  r.insert_or_assign(name, std::move(info));
}

std::vector<std::string> registered_explainers() {
  std::lock_guard lock(registry_mutex);
  std::vector<std::string> out;
  for (const auto& [k, v] : registry())
    out.push_back(k);
  return out;
}

const ExplainerInfo& find_explainer(std::string_view method) {
  {
    std::lock_guard lock(registry_mutex);
    const auto& r = registry();
    if (const auto it = r.find(method); it != r.end()) return it->second;
  }
  throw Error(fmt::format("unknown explanation method '{}' (methods: {})", method,
                          fmt::join(registered_explainers(), ", ")));
}

std::unique_ptr<Explainer> make_explainer(std::string_view method) {
  return find_explainer(method).factory();
}

}  // namespace fluxkit::explain

// Explanations of model predictions (`fluxkit explain`, docs/explain.md): Shapley-value attributions of each
// prediction to its inputs, and the attention weights of the attention-LSTM.
//
// Every method works on the flat window of the model input, the "players": x[M], M = W * F_dynamic + F_static
// (column c < W * F_dynamic is dynamic feature c % F_dynamic at lag W - 1 - c / F_dynamic, the rest the
// static features; the layout of include/fluxkit/dataset/sample_store.hpp). A sequence model is evaluated on
// the flat vector expanded to its sequence layout (static features repeated at every step), so every method
// that needs only predictions works for every model. Attributions are in the model's output units (the
// normalised target) and satisfy efficiency: sum_i phi_i = f(x) - base, base = E_background[f].
//
// Methods (registry by name, `explainer_info`):
//   kernel_shap               any model; KernelSHAP with a background (kernel_shap.cpp)
//   tree_shap                 tree ensembles; path-dependent TreeSHAP by the XGBoost library (gbtree and
//   DART) tree_shap_interventional  tree ensembles; exact interventional TreeSHAP over a background, on the
//   trees attention                 attention-LSTM; alpha (per step and feature), beta (per step), alpha x
//   beta
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit::explain {

// A batch prediction function on the flat layout: y[n] = f(x[n, M]).
using BatchFunction = std::function<void(std::span<const float> x, std::size_t n, std::span<float> y)>;

// The model as a BatchFunction on the flat layout (a sequence model gets the expanded sequence).
BatchFunction flat_function(const Model& model, const Context& ctx);
// flat x[n, M] -> sequence x[n, W, F] of the shape (static features repeated at every step), and back.
void flat_to_sequence(const InputShape& shape, std::span<const float> flat, std::size_t n,
                      std::span<float> sequence);
// Names of the flat columns: "SST at t", "SST at t-1", ..., static features by name.
std::vector<std::string> flat_column_names(const InputShape& shape);
// Per flat column: the driver (feature name) and the lag in months (-1 for a static feature).
struct ColumnMeaning {
  std::string driver;
  int lag = -1;
};
std::vector<ColumnMeaning> flat_column_meanings(const InputShape& shape);

// A background: rows x[N, M] with weights w[N] (summing to 1).
struct Background {
  std::vector<float> x;
  std::vector<double> weight;
  std::size_t rows = 0, width = 0;
};
// Uniform weights over the rows.
Background uniform_background(std::vector<float> x, std::size_t width);
// Weighted k-means summary of rows x[n, width] (as a k-means background summary: k centres, each weighted by
// the fraction of rows assigned to it). Lloyd's iterations from k seeded distinct starting rows (k-means++
// seeding), at most `iterations`; each centre is then replaced by its column-wise nearest actual value among
// its members (so a categorical-like column keeps real values). Deterministic for a seed and any thread
// count.
Background kmeans_background(std::span<const float> x, std::size_t n, std::size_t width, std::size_t k,
                             std::uint64_t seed, int iterations = 100);

// ---- KernelSHAP -------------------------------------------------------------------------------------------

struct KernelShapOptions {
  std::size_t nsamples = 0;  // coalitions per sample; 0 = 2 M + 2048 (capped at 2^M - 2)
  std::uint64_t seed = 42;
  // Players: groups of flat columns (each column in at most one group; columns in no group always take the
  // sample's value). Empty = one player per column.
  std::vector<std::vector<std::size_t>> groups;
  std::size_t rows_per_call = 16384;  // model rows per batch call
};

struct Attribution {
  std::vector<double> phi;  // [players]
  double base = 0, fx = 0;
};

// KernelSHAP of f at x (one sample) against the background. Players whose columns equal those of every
// background row are fixed (phi = 0) as they cannot change f. See docs/explain.md for the algorithm.
Attribution kernel_shap(const BatchFunction& f, std::span<const float> x, const Background& background,
                        const KernelShapOptions& options);

// Exact Shapley values of the game v(S) = E_background f(x_S, z_rest), by enumerating all 2^M coalitions
// (M = players <= 20): the reference the tests compare the estimators with.
Attribution exact_shapley(const BatchFunction& f, std::span<const float> x, const Background& background,
                          const std::vector<std::vector<std::size_t>>& groups = {});

// ---- trees ------------------------------------------------------------------------------------------------

// One regression tree: node i is a leaf when left[i] < 0 (value[i] its output), otherwise it sends x to
// left[i] when x[feature[i]] < threshold[i] and to right[i] otherwise; a missing (NaN) value goes to
// default_left ? left : right.
struct Tree {
  std::vector<int> left, right, feature;
  std::vector<float> threshold;
  std::vector<double> value;
  std::vector<bool> default_left;
  std::vector<double> cover;  // training hessian sum per node (XGBoost's sum_hessian)
  double weight = 1;          // DART tree weight (1 for gbtree), times 1 / N in an ensemble's mean
  double predict(std::span<const float> x) const;
};
struct TreeEnsemble {
  std::vector<Tree> trees;
  double base_score = 0;  // added to every prediction (in the margin space)
  std::size_t features = 0;
  std::string booster;  // "gbtree" | "dart" ("mixed": an ensemble's mean of both kinds)
  double predict(std::span<const float> x) const;
};
// Reads an XGBoost model as Booster.save_model writes it, JSON ("model.json") or UBJSON ("model.ubj", the
// binary form, 5x faster to write and read): gbtree or DART (with its tree weights), one output group,
// regression. Error naming the problem otherwise.
enum class XGBoostFormat { Json, Ubjson };
TreeEnsemble parse_xgboost_model(std::string_view bytes, XGBoostFormat format);

// Exact interventional TreeSHAP: phi for x against every background row (the game v(S) = f(x_S, z_rest)
// averaged over the rows with their weights), the rows walking each tree together as sets (bitsets) that
// share a path (docs/explain.md). phi[M], base = weighted mean prediction of the background. Set up once per
// model and background (it checks their widths, computes the base and builds the node records), then called
// for each sample; the model and the background must outlive it. Calls are independent (const): threads may
// share one.
class InterventionalTreeShap {
 public:
  // The set-up (the background's predictions, the node records) runs on ctx.threads threads.
  InterventionalTreeShap(const TreeEnsemble& model, const Background& background, const Context& ctx = {});
  Attribution operator()(std::span<const float> x) const;

  static constexpr std::size_t kMaxFeatures = 1 << 16;  // feature indices fit the records' 16 bits

 private:
  const TreeEnsemble* model_;
  const Background* background_;
  // Records of the trees' nodes, each tree's in depth-first order (a node, its left subtree, its right
  // subtree: the order the walk reads them), tree k from word tree_offset_[k], positions in words:
  //   word 0: split feature in the low 16 bits, default (missing-value) side left in bit 16, leaf in bit 17,
  //           and in the high 32 bits the split threshold, or for a leaf its value, as a float's bits;
  //   a split then has: word 1, its right child's position in the tree (the left child's is right after
  //   the record), and words_ words: which background rows go left at this split. A leaf is one word.
  // A visited split and its rows' sides are read together (for 100 rows, one 32-byte record).
  std::vector<std::uint64_t> records_;
  std::vector<std::size_t> tree_offset_;
  std::vector<double> tree_weight_;  // DART weights (1 for gbtree), applied to the leaf values
  std::size_t max_depth_ = 0;
  std::size_t words_ = 0;  // 64-bit words per set of background rows
  double base_ = 0;
  double uniform_weight_ = 0;  // > 0 when every background row has this weight
};
// One sample: InterventionalTreeShap(model, background)(x).
Attribution tree_shap_interventional(const TreeEnsemble& model, std::span<const float> x,
                                     const Background& background);

// The trees a tree model predicts with: its own (Model::trees_ubjson), or for an EnsembleMean
// (include/fluxkit/models/ensemble.hpp) every member's trees, each weighted 1 / N, with the mean of their
// base scores (the ensemble's mean prediction). Error naming the model type for a model without trees.
TreeEnsemble tree_ensemble_of(const Model& model);

// ---- TimeSHAP ---------------------------------------------------------------------------------------------

// TimeSHAP of a sequence model at x[W, F] (step 0 the oldest) against a baseline event or sequence: an absent
// player's cells take the baseline's values. Steps 0..W-1 are the "events".
struct TimeShapOptions {
  // Temporal-coalition pruning: the smallest k (1 <= k < W) such that the older events 0..W-k-1, as one
  // player against the k most recent as the other, have |phi| <= tolerance are pruned (one player "pruned
  // events" in every level); 0 prunes only an exact zero; negative = no pruning.
  double tolerance = 0.025;
  KernelShapOptions kernel;  // nsamples and seed of the three KernelSHAP runs (groups are set here)
};
struct TimeShapResult {
  std::size_t kept = 0;         // most recent events explained individually (W when nothing is pruned)
  double pruning_phi = 0;       // phi of the pruned older events in the pruning game (0 when none pruned)
  std::vector<double> event;    // [W]: phi per kept event, 0 for pruned steps
  std::vector<double> feature;  // [F]: phi per feature over the kept events
  std::vector<double> cell;     // [W * F]: phi per kept cell, 0 for pruned steps
  double event_pruned = 0, feature_pruned = 0, cell_pruned = 0;  // the pruned events' player in each level
  double base = 0, fx = 0;                                       // f(baseline sequence), f(x)
};
// seq_f evaluates sequences y[n] = f(x[n, W, F]); baseline is [F] (an event, repeated at every step) or
// [W * F] (a sequence).
TimeShapResult timeshap(const BatchFunction& seq_f, std::span<const float> x, std::span<const float> baseline,
                        std::size_t window, std::size_t features, const TimeShapOptions& options);

// ---- the explainer interface and registry
// ------------------------------------------------------------------

struct ExplainOptions {
  KernelShapOptions kernel;
  double timeshap_tolerance = 0.025;
  std::string timeshap_baseline = "median_event";  // or "mean_sequence"; from the background rows
  bool interactions = false;  // tree_shap: also the SHAP interaction values (Explanation::interactions)
};

// Attributions of n samples x[n, M] (flat layout). phi[n, players], base[n], fx[n]; `extra` holds
// method-specific per-sample arrays (attention: alpha[n, W, F], beta[n, W]).
struct Explanation {
  std::size_t samples = 0, players = 0;
  std::vector<std::string> player_names;
  std::vector<double> phi, base, fx;
  std::vector<float> alpha, beta;  // attention only
  // timeshap only: cell-level phi[n, W, F] and the number of kept (unpruned) events per sample.
  std::vector<double> cell;
  std::vector<std::int32_t> kept;
  // tree_shap with interactions: [n, players, players] (the bias row and column left out).
  std::vector<double> interactions;
};

class Explainer {
 public:
  virtual ~Explainer() = default;
  virtual std::string method() const = 0;
  // Throws an Error naming the method and the model type when the model is not supported.
  virtual void check_model(const Model& model) const = 0;
  virtual bool needs_background() const { return true; }
  // Explains x[n, M]. `background` is ignored by methods that do not need one.
  virtual Explanation explain(const Model& model, std::span<const float> x, std::size_t n,
                              const Background& background, const ExplainOptions& options,
                              const Context& ctx) const = 0;
};

struct ExplainerInfo {
  std::string method;
  std::string description;
  std::function<std::unique_ptr<Explainer>()> factory;
};
void register_explainer(ExplainerInfo info);                         // adds or replaces
const ExplainerInfo& find_explainer(std::string_view method);        // Error listing the methods
std::vector<std::string> registered_explainers();                    // sorted
std::unique_ptr<Explainer> make_explainer(std::string_view method);  // Error listing the methods

}  // namespace fluxkit::explain

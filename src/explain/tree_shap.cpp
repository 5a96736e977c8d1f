// Tree ensembles from XGBoost's JSON model and exact interventional TreeSHAP on them
// (include/fluxkit/explain/explainer.hpp, docs/explain.md).
//
// Interventional TreeSHAP for one sample x and one background row r: the game v(S) = f(x_S, r_rest) of a
// tree is a sum over its leaves of leaf * [x_S, r_rest reaches the leaf]. Walking the tree, a split on a
// feature where x and r go the same way is followed; where they differ the feature joins A (x's side taken)
// or B (r's side), and a feature already in A or B keeps its side further down. A leaf reached with the sets
// A, B is the game value * [A subset of S, B disjoint from S], whose Shapley values are value * (|A|-1)! |B|!
// / (|A|+|B|)! for each feature of A and - value * |A|! (|B|-1)! / (|A|+|B|)! for each of B. Summed over
// leaves and trees (DART: times the tree weight) and averaged over the background with its weights.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fluxkit/core/error.hpp"
#include "fluxkit/explain/explainer.hpp"

namespace fluxkit::explain {

namespace {

using json = nlohmann::json;

double number(const json& j) {
  if (j.is_string()) return std::stod(j.get<std::string>());
  return j.get<double>();
}

Tree parse_tree(const json& t) {
  Tree tree;
  tree.left = t.at("left_children").get<std::vector<int>>();
  tree.right = t.at("right_children").get<std::vector<int>>();
  tree.feature = t.at("split_indices").get<std::vector<int>>();
  const auto& cond = t.at("split_conditions");
  const auto& dl = t.at("default_left");
  const std::size_t n = tree.left.size();
  if (tree.right.size() != n || tree.feature.size() != n || cond.size() != n || dl.size() != n)
    throw Error("explain: malformed XGBoost tree (arrays of different lengths)");
  tree.threshold.resize(n);
  tree.value.resize(n);
  tree.default_left.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double c = cond[i].get<double>();
    tree.threshold[i] = static_cast<float>(c);
    tree.value[i] = static_cast<double>(static_cast<float>(c));
    tree.default_left[i] = dl[i].is_boolean() ? dl[i].get<bool>() : dl[i].get<int>() != 0;
  }
  if (t.contains("sum_hessian")) tree.cover = t.at("sum_hessian").get<std::vector<double>>();
  return tree;
}

// All background rows walk a tree together as a set (a bitset over the rows): rows that reach a node along
// the same path with the same sets A and B are one set, so a leaf is attributed once per set with the set's
// total weight instead of once per row, and splitting a set at a node is a few word operations with the
// node's precomputed "goes left" bits (InterventionalTreeShap's constructor), not a pass over its rows.
struct SetWalk {
  const InterventionalTreeShap::Node* nodes = nullptr;  // this tree's nodes
  std::span<const float> x;
  const std::uint64_t* goes_left = nullptr;  // this tree's bits: node i's rows at goes_left[i * words]
  std::size_t words = 0;
  const double* row_weight = nullptr;
  double uniform_weight = 0;        // > 0: every row has this weight (a set's weight from its popcount)
  std::vector<std::uint64_t> sets;  // one set per recursion level (words each)
  std::vector<std::int8_t> state;   // per feature: 0 none, 1 in A (x's side), 2 in B (r's side)
  std::vector<int> a, b;
  std::vector<double> fact;
  double* phi = nullptr;

  static int child(const InterventionalTreeShap::Node& n, float v) {
    if (std::isnan(v)) return n.default_left ? n.left : n.right;
    return v < n.threshold ? n.left : n.right;
  }
  double weight_of(const std::uint64_t* rows) const {
    if (uniform_weight > 0) {
      std::size_t n = 0;
      for (std::size_t k = 0; k < words; ++k)
        n += static_cast<std::size_t>(__builtin_popcountll(rows[k]));
      return uniform_weight * static_cast<double>(n);
    }
    double w = 0;
    for (std::size_t k = 0; k < words; ++k)
      for (std::uint64_t bits = rows[k]; bits != 0; bits &= bits - 1)
        w += row_weight[k * 64 + static_cast<std::size_t>(__builtin_ctzll(bits))];
    return w;
  }
  // out = rows & (bits ^ flip); flip all-ones takes the complement. True when out is not empty.
  bool intersect(const std::uint64_t* rows, const std::uint64_t* bits, std::uint64_t flip,
                 std::uint64_t* out) const {
    std::uint64_t any = 0;
    for (std::size_t k = 0; k < words; ++k)
      any |= out[k] = rows[k] & (bits[k] ^ flip);
    return any != 0;
  }

  void go(int node, const std::uint64_t* rows, std::size_t level) {
    const auto i = static_cast<std::size_t>(node);
    const InterventionalTreeShap::Node& n = nodes[i];
    if (n.left < 0) {
      const std::size_t na = a.size(), nb = b.size();
      if (na + nb == 0) return;
      const double v = n.value * weight_of(rows);
      if (na > 0) {
        const double w = v * fact[na - 1] * fact[nb] / fact[na + nb];
        for (const int f : a)
          phi[f] += w;
      }
      if (nb > 0) {
        const double w = v * fact[na] * fact[nb - 1] / fact[na + nb];
        for (const int f : b)
          phi[f] -= w;
      }
      return;
    }
    const auto f = static_cast<std::size_t>(n.feature);
    const int cx = child(n, x[f]);
    if (state[f] == 1) return go(cx, rows, level);
    const std::uint64_t* left = goes_left + i * words;
    std::uint64_t* next = sets.data() + (level + 1) * words;  // deeper levels never touch `rows`
    constexpr std::uint64_t kSame = 0, kFlip = ~std::uint64_t{0};
    if (state[f] == 2) {  // each row its own side
      if (intersect(rows, left, kSame, next)) go(n.left, next, level + 1);
      if (intersect(rows, left, kFlip, next)) go(n.right, next, level + 1);
      return;
    }
    // Rows going x's way continue unchanged; the others go both ways, with f in A or in B.
    const std::uint64_t x_way = cx == n.left ? kSame : kFlip;
    if (intersect(rows, left, x_way, next)) go(cx, next, level + 1);
    if (!intersect(rows, left, ~x_way, next)) return;
    const int other = cx == n.left ? n.right : n.left;
    state[f] = 1;
    a.push_back(static_cast<int>(f));
    go(cx, next, level + 1);
    a.pop_back();
    state[f] = 2;
    b.push_back(static_cast<int>(f));
    go(other, next, level + 1);  // `next` still holds the rows off x's way: deeper levels use their own sets
    b.pop_back();
    state[f] = 0;
  }
};

std::size_t tree_depth(const Tree& t) {
  std::vector<std::pair<int, std::size_t>> todo{{0, 0}};
  std::size_t depth = 0;
  while (!todo.empty()) {
    const auto [node, d] = todo.back();
    todo.pop_back();
    depth = std::max(depth, d);
    const auto i = static_cast<std::size_t>(node);
    if (t.left[i] >= 0) {
      todo.push_back({t.left[i], d + 1});
      todo.push_back({t.right[i], d + 1});
    }
  }
  return depth;
}

}  // namespace

double Tree::predict(std::span<const float> x) const {
  std::size_t i = 0;
  while (left[i] >= 0) {
    const float v = x[static_cast<std::size_t>(feature[i])];
    const int next =
        std::isnan(v) ? (default_left[i] ? left[i] : right[i]) : (v < threshold[i] ? left[i] : right[i]);
    i = static_cast<std::size_t>(next);
  }
  return value[i];
}

double TreeEnsemble::predict(std::span<const float> x) const {
  double s = base_score;
  for (const auto& t : trees)
    s += t.weight * t.predict(x);
  return s;
}

TreeEnsemble parse_xgboost_json(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(fmt::format("explain: the XGBoost model is not valid JSON: {}", e.what()));
  }
  try {
    const json& learner = j.at("learner");
    const json& param = learner.at("learner_model_param");
    TreeEnsemble m;
    m.base_score = number(param.at("base_score"));
    m.features = static_cast<std::size_t>(number(param.at("num_feature")));
    if (param.contains("num_target") && number(param.at("num_target")) != 1)
      throw Error("explain: only single-output XGBoost models are supported");
    const std::string objective = learner.at("objective").at("name").get<std::string>();
    if (objective != "reg:squarederror" && objective != "reg:linear" && objective != "reg:pseudohubererror" &&
        objective != "reg:absoluteerror")
      throw Error(
          fmt::format("explain: XGBoost objective '{}' is not an identity-link regression", objective));
    const json& gb = learner.at("gradient_booster");
    m.booster = gb.at("name").get<std::string>();
    const json* model = nullptr;
    std::vector<double> weights;
    if (m.booster == "gbtree") {
      model = &gb.at("model");
    } else if (m.booster == "dart") {
      model = &gb.at("gbtree").at("model");
      weights = gb.at("weight_drop").get<std::vector<double>>();
    } else {
      throw Error(
          fmt::format("explain: XGBoost booster '{}' has no trees (gbtree or dart expected)", m.booster));
    }
    for (const auto& t : model->at("trees"))
      m.trees.push_back(parse_tree(t));
    if (!weights.empty()) {
      if (weights.size() != m.trees.size())
        throw Error("explain: DART model with a tree weight count that differs from its tree count");
      for (std::size_t i = 0; i < weights.size(); ++i)
        m.trees[i].weight = weights[i];
    }
    for (const auto& t : m.trees)
      for (std::size_t i = 0; i < t.left.size(); ++i)
        if (t.left[i] >= 0 && (t.feature[i] < 0 || static_cast<std::size_t>(t.feature[i]) >= m.features))
          throw Error("explain: XGBoost tree splits on a feature index beyond num_feature");
    return m;
  } catch (const json::exception& e) {
    throw Error(fmt::format("explain: unexpected XGBoost JSON model layout: {}", e.what()));
  }
}

InterventionalTreeShap::InterventionalTreeShap(const TreeEnsemble& model, const Background& bg)
    : model_(&model), background_(&bg), words_((bg.rows + 63) / 64) {
  if (bg.width != model.features)
    throw Error(fmt::format("explain: the tree model takes {} columns, the background has {}", model.features,
                            bg.width));
  if (bg.rows == 0) throw Error("explain: the background has no rows");
  for (std::size_t j = 0; j < bg.rows; ++j)
    base_ += bg.weight[j] * model.predict(std::span<const float>(bg.x.data() + j * bg.width, bg.width));
  // Which background rows go left at every split node: nodes x rows bits, shared by every sample explained.
  std::size_t nodes = 0;
  for (const auto& t : model.trees) {
    tree_offset_.push_back(nodes);
    nodes += t.left.size();
    max_depth_ = std::max(max_depth_, tree_depth(t));
  }
  goes_left_.assign(nodes * words_, 0);
  nodes_.reserve(nodes);
  for (std::size_t k = 0; k < model.trees.size(); ++k) {
    const Tree& t = model.trees[k];
    for (std::size_t i = 0; i < t.left.size(); ++i) {
      nodes_.push_back({t.left[i], t.right[i], t.feature[i], t.threshold[i], t.value[i] * t.weight,
                        static_cast<bool>(t.default_left[i])});
      if (t.left[i] < 0) continue;
      std::uint64_t* bits = goes_left_.data() + (tree_offset_[k] + i) * words_;
      const auto f = static_cast<std::size_t>(t.feature[i]);
      for (std::size_t r = 0; r < bg.rows; ++r) {
        const float v = bg.x[r * bg.width + f];
        if (std::isnan(v) ? static_cast<bool>(t.default_left[i]) : v < t.threshold[i])
          bits[r / 64] |= std::uint64_t{1} << (r % 64);
      }
    }
  }
  uniform_weight_ = bg.weight[0];
  for (std::size_t j = 1; j < bg.rows; ++j)
    if (bg.weight[j] != uniform_weight_) uniform_weight_ = 0;
}

Attribution InterventionalTreeShap::operator()(std::span<const float> x) const {
  const TreeEnsemble& model = *model_;
  const Background& bg = *background_;
  if (x.size() != model.features)
    throw Error(
        fmt::format("explain: the tree model takes {} columns, the sample has {}", model.features, x.size()));
  Attribution out;
  out.phi.assign(model.features, 0.0);
  out.fx = model.predict(x);
  out.base = base_;
  SetWalk w;
  w.x = x;
  w.words = words_;
  w.row_weight = bg.weight.data();
  w.uniform_weight = uniform_weight_;
  w.sets.assign((max_depth_ + 2) * words_, 0);
  w.state.assign(model.features, 0);
  w.fact.assign(model.features + 2, 1.0);
  for (std::size_t i = 1; i < w.fact.size(); ++i)
    w.fact[i] = w.fact[i - 1] * double(i);
  w.phi = out.phi.data();
  std::uint64_t* all = w.sets.data();  // level 0: every row
  for (std::size_t r = 0; r < bg.rows; ++r)
    all[r / 64] |= std::uint64_t{1} << (r % 64);
  for (std::size_t k = 0; k < model.trees.size(); ++k) {
    w.nodes = nodes_.data() + tree_offset_[k];
    w.goes_left = goes_left_.data() + tree_offset_[k] * words_;
    w.go(0, all, 0);
  }
  return out;
}

Attribution tree_shap_interventional(const TreeEnsemble& model, std::span<const float> x,
                                     const Background& background) {
  return InterventionalTreeShap(model, background)(x);
}

}  // namespace fluxkit::explain

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
#include <numeric>
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

// All background rows walk a tree together: rows that reach a node along the same path with the same sets A
// and B form one group (a range of `rows`, split in place at every node), so a leaf is attributed once per
// group with the group's total weight instead of once per row. Every row still visits exactly the nodes of
// its own walk.
struct GroupWalk {
  const Tree* tree = nullptr;
  std::span<const float> x;
  const float* bg = nullptr;  // background rows, row-major
  std::size_t width = 0;
  const double* row_weight = nullptr;
  std::vector<std::uint32_t> rows;
  std::vector<std::int8_t> state;  // per feature: 0 none, 1 in A (x's side), 2 in B (r's side)
  std::vector<int> a, b;
  std::vector<double> fact;
  double* phi = nullptr;

  int child(std::size_t i, float v) const {
    if (std::isnan(v)) return tree->default_left[i] ? tree->left[i] : tree->right[i];
    return v < tree->threshold[i] ? tree->left[i] : tree->right[i];
  }
  int row_child(std::size_t i, std::uint32_t row, std::size_t f) const {
    return child(i, bg[row * width + f]);
  }

  void go(int node, std::size_t begin, std::size_t end) {
    const auto i = static_cast<std::size_t>(node);
    if (tree->left[i] < 0) {
      const std::size_t na = a.size(), nb = b.size();
      if (na + nb == 0) return;
      double weight = 0;
      for (std::size_t k = begin; k < end; ++k)
        weight += row_weight[rows[k]];
      const double v = tree->value[i] * tree->weight * weight;
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
    const auto f = static_cast<std::size_t>(tree->feature[i]);
    const int cx = child(i, x[f]);
    if (state[f] == 1) return go(cx, begin, end);
    const auto first = rows.begin() + static_cast<std::ptrdiff_t>(begin),
               last = rows.begin() + static_cast<std::ptrdiff_t>(end);
    if (state[f] == 2) {  // each row its own side
      const int left = tree->left[i];
      const auto mid =
          std::partition(first, last, [&](std::uint32_t r) { return row_child(i, r, f) == left; });
      const auto m = static_cast<std::size_t>(mid - rows.begin());
      if (begin < m) go(left, begin, m);
      if (m < end) go(tree->right[i], m, end);
      return;
    }
    // Rows going x's way continue unchanged; the others go both ways, with f in A or in B.
    const auto mid = std::partition(first, last, [&](std::uint32_t r) { return row_child(i, r, f) == cx; });
    const auto m = static_cast<std::size_t>(mid - rows.begin());
    if (begin < m) go(cx, begin, m);
    if (m == end) return;
    const int other = cx == tree->left[i] ? tree->right[i] : tree->left[i];
    state[f] = 1;
    a.push_back(static_cast<int>(f));
    go(cx, m, end);
    a.pop_back();
    state[f] = 2;
    b.push_back(static_cast<int>(f));
    go(other, m, end);
    b.pop_back();
    state[f] = 0;
  }
};

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
    : model_(&model), background_(&bg) {
  if (bg.width != model.features)
    throw Error(fmt::format("explain: the tree model takes {} columns, the background has {}", model.features,
                            bg.width));
  if (bg.rows == 0) throw Error("explain: the background has no rows");
  for (std::size_t j = 0; j < bg.rows; ++j)
    base_ += bg.weight[j] * model.predict(std::span<const float>(bg.x.data() + j * bg.width, bg.width));
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
  GroupWalk w;
  w.x = x;
  w.bg = bg.x.data();
  w.width = bg.width;
  w.row_weight = bg.weight.data();
  w.state.assign(model.features, 0);
  w.fact.assign(model.features + 2, 1.0);
  for (std::size_t i = 1; i < w.fact.size(); ++i)
    w.fact[i] = w.fact[i - 1] * double(i);
  w.phi = out.phi.data();
  w.rows.resize(bg.rows);
  for (const auto& t : model.trees) {
    w.tree = &t;
    std::iota(w.rows.begin(), w.rows.end(), std::uint32_t{0});
    w.go(0, 0, bg.rows);
  }
  return out;
}

Attribution tree_shap_interventional(const TreeEnsemble& model, std::span<const float> x,
                                     const Background& background) {
  return InterventionalTreeShap(model, background)(x);
}

}  // namespace fluxkit::explain

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
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/explain/explainer.hpp"
#include "fluxkit/models/ensemble.hpp"

namespace fluxkit::explain {

namespace {

using json = nlohmann::json;

// XGBoost's model document read as a stream of events (nlohmann's SAX interface), keeping only what the trees
// need: no document tree is built (for the demo's 199 trees of depth <= 15 that took 11-17 ms of a 20-30 ms
// read; UBJSON is read in about 4 ms). Paths, in XGBoost 1.x's schema:
//   learner.learner_model_param.{base_score, num_feature, num_target}   (numbers or strings)
//   learner.objective.name, learner.gradient_booster.name ("gbtree" | "dart")
//   gradient_booster[.gbtree].model.trees[k].{left_children, right_children, split_indices,
//                                               split_conditions, default_left, sum_hessian}
//   gradient_booster.weight_drop (DART's tree weights)
class ModelReader final : public nlohmann::json_sax<json> {
 public:
  std::map<std::string, std::string> params;  // learner_model_param, as text
  std::string objective, booster;
  std::vector<Tree> trees;
  std::vector<double> weight_drop;
  bool saw_trees = false;

  bool null() override { return true; }
  bool boolean(bool v) override { return value(v ? 1.0 : 0.0); }
  bool number_integer(number_integer_t v) override { return value(double(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(double(v)); }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& v) override {
    if (frames_.empty() || frames_.back().array) return true;
    const std::string& owner = frames_.back().key;
    if (owner == "learner_model_param") params[key_] = v;
    if (key_ == "name" && owner == "objective") objective = v;
    if (key_ == "name" && owner == "gradient_booster") booster = v;
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool start_object(std::size_t) override {
    if (in_trees_array()) {
      trees.emplace_back();
      tree_depth_ = frames_.size() + 1;
    }
    frames_.push_back({key_for_child(), false});
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    if (frames_.size() + 1 == tree_depth_) tree_depth_ = 0;
    return true;
  }
  bool start_array(std::size_t) override {
    const std::string k = key_for_child();
    if (k == "trees") saw_trees = true;
    Field field = Field::None;
    if (k == "weight_drop") {
      field = Field::WeightDrop;
    } else if (tree_depth_ != 0 && frames_.size() == tree_depth_) {  // an array of the tree's own
      static const std::map<std::string, Field, std::less<>> kFields = {
          {"left_children", Field::Left},       {"right_children", Field::Right},
          {"split_indices", Field::Feature},    {"split_conditions", Field::Condition},
          {"default_left", Field::DefaultLeft}, {"sum_hessian", Field::Cover}};
      if (const auto it = kFields.find(k); it != kFields.end()) field = it->second;
    }
    frames_.push_back({k, true, field});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error = fmt::format("{} (byte {})", e.what(), position);
    return false;
  }
  std::string error;

 private:
  enum class Field { None, WeightDrop, Left, Right, Feature, Condition, DefaultLeft, Cover };
  struct Frame {
    std::string key;  // the key this object or array is the value of ("" inside an array)
    bool array;
    Field field = Field::None;  // an array whose numbers are kept
  };
  // A node or feature index; anything that is not one (a fraction, out of int's range) becomes -2, which the
  // checks after reading reject.
  static int index(double v) {
    return v == std::floor(v) && v >= -1 && v <= std::numeric_limits<int>::max() ? static_cast<int>(v) : -2;
  }
  std::string key_for_child() const { return frames_.empty() || frames_.back().array ? "" : key_; }
  bool in_trees_array() const {
    return tree_depth_ == 0 && !frames_.empty() && frames_.back().array && frames_.back().key == "trees";
  }
  bool value(double v) {
    if (frames_.empty()) return true;
    const Frame& top = frames_.back();
    if (!top.array) {
      if (top.key == "learner_model_param") params[key_] = fmt::format("{}", v);
      return true;
    }
    // XGBoost keeps these numbers in float32: JSON writes their shortest decimal, UBJSON the float itself.
    const double single = static_cast<double>(static_cast<float>(v));
    switch (top.field) {
      case Field::None:
        break;
      case Field::WeightDrop:
        weight_drop.push_back(single);
        break;
      case Field::Left:
        trees.back().left.push_back(index(v));
        break;
      case Field::Right:
        trees.back().right.push_back(index(v));
        break;
      case Field::Feature:
        trees.back().feature.push_back(index(v));
        break;
      case Field::Condition:  // thresholds, and the leaves' values
        trees.back().value.push_back(single);
        break;
      case Field::DefaultLeft:
        trees.back().default_left.push_back(v != 0);
        break;
      case Field::Cover:
        trees.back().cover.push_back(single);
        break;
    }
    return true;
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::size_t tree_depth_ = 0;  // frames_.size() inside the current tree object, 0 outside trees
};

double param_number(const std::map<std::string, std::string>& params, const std::string& name) {
  const auto it = params.find(name);
  if (it == params.end())
    throw Error(fmt::format("explain: unexpected XGBoost model layout: no learner_model_param.{}", name));
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    throw Error(
        fmt::format("explain: XGBoost learner_model_param.{} is not a number: '{}'", name, it->second));
  }
}

// All background rows walk a tree together as a set (a bitset over the rows): rows that reach a node along
// the same path with the same sets A and B are one set, so a leaf is attributed once per set with the set's
// total weight instead of once per row, and splitting a set at a node is a few word operations with the
// node's precomputed "goes left" bits (InterventionalTreeShap's constructor), not a pass over its rows.
// kWords > 0: sets of exactly that many words, known to the compiler (backgrounds of up to 64 or 128 rows);
// 0: `words` words.
constexpr std::uint64_t kLeafBit = std::uint64_t{1} << 17;  // in a node record's first word

template <std::size_t kWords>
struct SetWalk {
  const std::uint64_t* records = nullptr;  // this tree's node records (InterventionalTreeShap::records_)
  double tree_weight = 1;
  std::span<const float> x;
  std::size_t words = kWords;
  const double* row_weight = nullptr;
  double uniform_weight = 0;        // > 0: every row has this weight (a set's weight from its popcount)
  std::vector<std::uint64_t> sets;  // one set per recursion level (words each)
  std::vector<std::int8_t> state;   // per feature: 0 none, 1 in A (x's side), 2 in B (r's side)
  std::size_t na = 0, nb = 0;       // |A|, |B|
  // Shapley weights of a leaf reached with |A| = na, |B| = nb, at [na * stride + nb]:
  // in_a = (na-1)! nb! / (na+nb)! for each feature of A, in_b = na! (nb-1)! / (na+nb)! for each of B.
  std::vector<double> in_a, in_b;
  std::size_t stride = 0;
  double* phi = nullptr;

  // Inline: without -mpopcnt (not in the x86-64 baseline) __builtin_popcountll is a call into libgcc,
  // which was 5 % of the walk.
  static std::size_t popcount(std::uint64_t v) {
    v -= (v >> 1) & 0x5555555555555555ULL;
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return static_cast<std::size_t>((v * 0x0101010101010101ULL) >> 56);
  }
  std::size_t n_words() const { return kWords > 0 ? kWords : words; }
  double weight_of(const std::uint64_t* rows) const {
    if (uniform_weight > 0) {
      std::size_t n = 0;
      for (std::size_t k = 0; k < n_words(); ++k)
        n += popcount(rows[k]);
      return uniform_weight * static_cast<double>(n);
    }
    double w = 0;
    for (std::size_t k = 0; k < n_words(); ++k)
      for (std::uint64_t bits = rows[k]; bits != 0; bits &= bits - 1)
        w += row_weight[k * 64 + static_cast<std::size_t>(__builtin_ctzll(bits))];
    return w;
  }
  // out = rows & (bits ^ flip); flip all-ones takes the complement. True when out is not empty.
  bool intersect(const std::uint64_t* rows, const std::uint64_t* bits, std::uint64_t flip,
                 std::uint64_t* out) const {
    std::uint64_t any = 0;
    for (std::size_t k = 0; k < n_words(); ++k)
      any |= out[k] = rows[k] & (bits[k] ^ flip);
    return any != 0;
  }

  // What the leaves below a node give each feature of A (in_a) and of B (in_b): every feature in A at a
  // leaf receives the same amount, so a feature that joins A at a node receives the subtree's in_a sum
  // once, on the way back up, instead of each leaf adding to every feature of A and B (2-3x fewer
  // operations per leaf).
  struct Share {
    double in_a = 0, in_b = 0;
    Share& operator+=(const Share& o) {
      in_a += o.in_a;
      in_b += o.in_b;
      return *this;
    }
  };

  Share go(std::uint32_t node, const std::uint64_t* rows, std::size_t level) {
    const std::uint64_t* record = records + node;
    const std::uint64_t head = record[0];
    const auto split = std::bit_cast<float>(static_cast<std::uint32_t>(head >> 32));
    if ((head & kLeafBit) != 0) {
      if (na + nb == 0) return {};
      const double v = static_cast<double>(split) * tree_weight * weight_of(rows);
      return {v * in_a[na * stride + nb], v * in_b[na * stride + nb]};
    }
    const auto left = static_cast<std::uint32_t>(node + 2 + n_words());
    const auto right = static_cast<std::uint32_t>(record[1]);
    const auto f = static_cast<std::size_t>(head & 0xffff);
    const float v = x[f];
    const std::uint32_t cx = std::isnan(v) ? ((head >> 16) & 1 ? left : right) : (v < split ? left : right);
    if (state[f] == 1) return go(cx, rows, level);
    const std::uint64_t* goes_left = record + 2;
    std::uint64_t* next = sets.data() + (level + 1) * n_words();  // deeper levels never touch `rows`
    constexpr std::uint64_t kSame = 0, kFlip = ~std::uint64_t{0};
    Share share;
    if (state[f] == 2) {  // each row its own side
      if (intersect(rows, goes_left, kSame, next)) share += go(left, next, level + 1);
      if (intersect(rows, goes_left, kFlip, next)) share += go(right, next, level + 1);
      return share;
    }
    // Rows going x's way continue unchanged; the others go both ways, with f in A or in B.
    const std::uint64_t x_way = cx == left ? kSame : kFlip;
    if (intersect(rows, goes_left, x_way, next)) share += go(cx, next, level + 1);
    if (!intersect(rows, goes_left, ~x_way, next)) return share;
    const std::uint32_t other = cx == left ? right : left;
    state[f] = 1;
    ++na;
    const Share in_a_side = go(cx, next, level + 1);
    --na;
    phi[f] += in_a_side.in_a;
    state[f] = 2;
    ++nb;
    const Share in_b_side = go(other, next, level + 1);  // `next` still holds the rows off x's way
    --nb;
    phi[f] -= in_b_side.in_b;
    state[f] = 0;
    share += in_a_side;
    share += in_b_side;
    return share;
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

TreeEnsemble parse_xgboost_model(std::string_view bytes, XGBoostFormat format) {
  const char* format_name = format == XGBoostFormat::Json ? "JSON" : "UBJSON";
  ModelReader r;
  const bool ok = json::sax_parse(
      bytes.begin(), bytes.end(), &r,
      format == XGBoostFormat::Json ? json::input_format_t::json : json::input_format_t::ubjson);
  if (!ok)
    throw Error(fmt::format("explain: the XGBoost model is not valid {}: {}", format_name,
                            r.error.empty() ? "unexpected end" : r.error));
  TreeEnsemble m;
  m.base_score = param_number(r.params, "base_score");
  m.features = static_cast<std::size_t>(param_number(r.params, "num_feature"));
  if (r.params.contains("num_target") && param_number(r.params, "num_target") != 1)
    throw Error("explain: only single-output XGBoost models are supported");
  if (r.objective != "reg:squarederror" && r.objective != "reg:linear" &&
      r.objective != "reg:pseudohubererror" && r.objective != "reg:absoluteerror")
    throw Error(
        fmt::format("explain: XGBoost objective '{}' is not an identity-link regression", r.objective));
  m.booster = r.booster;
  if (m.booster != "gbtree" && m.booster != "dart")
    throw Error(
        fmt::format("explain: XGBoost booster '{}' has no trees (gbtree or dart expected)", m.booster));
  if (!r.saw_trees) throw Error("explain: unexpected XGBoost model layout: no trees");
  m.trees = std::move(r.trees);
  for (auto& t : m.trees) {
    const std::size_t n = t.left.size();
    if (n == 0 || t.right.size() != n || t.feature.size() != n || t.value.size() != n ||
        t.default_left.size() != n || (!t.cover.empty() && t.cover.size() != n))
      throw Error("explain: malformed XGBoost tree (arrays of different lengths)");
    t.threshold.assign(t.value.begin(), t.value.end());
  }
  if (m.booster == "dart") {
    if (r.weight_drop.size() != m.trees.size())
      throw Error("explain: DART model with a tree weight count that differs from its tree count");
    for (std::size_t i = 0; i < m.trees.size(); ++i)
      m.trees[i].weight = r.weight_drop[i];
  }
  for (std::size_t k = 0; k < m.trees.size(); ++k) {
    const Tree& t = m.trees[k];
    std::vector<bool> has_parent(t.left.size(), false);
    for (std::size_t i = 0; i < t.left.size(); ++i) {
      if (t.left[i] == -1) continue;  // a leaf
      // XGBoost numbers a node's children after it: this also rules out cycles. Every node has one parent
      // (the walk's records are laid out as a tree, not a graph).
      const auto n = static_cast<int>(t.left.size()), node = static_cast<int>(i);
      if (t.left[i] <= node || t.left[i] >= n || t.right[i] <= node || t.right[i] >= n)
        throw Error(fmt::format("explain: XGBoost tree {} node {} has children {} and {} outside the tree", k,
                                i, t.left[i], t.right[i]));
      for (const int child : {t.left[i], t.right[i]}) {
        if (has_parent[static_cast<std::size_t>(child)])
          throw Error(fmt::format(
              "explain: XGBoost tree {} node {} is the child of two splits (node {} is one)", k, child, i));
        has_parent[static_cast<std::size_t>(child)] = true;
      }
      if (t.feature[i] < 0 || static_cast<std::size_t>(t.feature[i]) >= m.features)
        throw Error("explain: XGBoost tree splits on a feature index beyond num_feature");
    }
  }
  return m;
}

InterventionalTreeShap::InterventionalTreeShap(const TreeEnsemble& model, const Background& bg,
                                               const Context& ctx)
    : model_(&model), background_(&bg), words_((bg.rows + 63) / 64) {
  if (bg.width != model.features)
    throw Error(fmt::format("explain: the tree model takes {} columns, the background has {}", model.features,
                            bg.width));
  if (bg.rows == 0) throw Error("explain: the background has no rows");
  if (model.features > kMaxFeatures)
    throw Error(fmt::format("explain: interventional TreeSHAP takes at most {} features, the model has {}",
                            kMaxFeatures, model.features));
  std::vector<double> predictions(bg.rows);
  parallel_for(ctx, bg.rows, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j)
      predictions[j] = model.predict(std::span<const float>(bg.x.data() + j * bg.width, bg.width));
  });
  for (std::size_t j = 0; j < bg.rows; ++j)  // summed in order: the same base at any thread count
    base_ += bg.weight[j] * predictions[j];
  // The node records (the header), with which background rows go left at every split: shared by every
  // sample explained.
  // Each tree's nodes in depth-first order (order[k]) and their positions in words (position[k]).
  const std::size_t split_words = 2 + words_;
  std::vector<std::vector<std::int32_t>> order(model.trees.size());
  std::vector<std::vector<std::uint32_t>> position(model.trees.size());
  std::size_t size = 0;
  for (std::size_t k = 0; k < model.trees.size(); ++k) {
    const Tree& t = model.trees[k];
    tree_offset_.push_back(size);
    tree_weight_.push_back(t.weight);
    constexpr auto kUnplaced = std::numeric_limits<std::uint32_t>::max();
    position[k].assign(t.left.size(), kUnplaced);
    std::size_t at = 0;
    std::vector<std::pair<std::int32_t, std::size_t>> todo{{0, 0}};  // node, depth
    while (!todo.empty()) {
      const auto [node, depth] = todo.back();
      const auto i = static_cast<std::size_t>(node);
      todo.pop_back();
      // A node reached twice makes a graph, not a tree (parse_xgboost_model rejects those).
      if (position[k][i] != kUnplaced)
        throw Error(fmt::format("explain: tree {} node {} is reached along two paths", k, i));
      if (at >= kUnplaced)
        throw Error(
            fmt::format("explain: tree {} is too large for interventional TreeSHAP's node records", k));
      order[k].push_back(node);
      position[k][i] = static_cast<std::uint32_t>(at);
      max_depth_ = std::max(max_depth_, depth);
      if (t.left[i] >= 0) {
        todo.insert(todo.end(), {{t.right[i], depth + 1}, {t.left[i], depth + 1}});
        at += split_words;
      } else {
        at += 1;
      }
    }
    size += at;
  }
  records_.assign(size, 0);
  std::vector<float> columns(bg.x.size());  // the background column by column: each split reads one
  for (std::size_t r = 0; r < bg.rows; ++r)
    for (std::size_t c = 0; c < bg.width; ++c)
      columns[c * bg.rows + r] = bg.x[r * bg.width + c];
  parallel_for_each(ctx, model.trees.size(), [&](std::size_t k) {
    const Tree& t = model.trees[k];
    for (const auto node : order[k]) {
      const auto i = static_cast<std::size_t>(node);
      std::uint64_t* record = records_.data() + tree_offset_[k] + position[k][i];
      const bool leaf = t.left[i] < 0;
      const float split = leaf ? static_cast<float>(t.value[i]) : t.threshold[i];
      record[0] = (leaf ? kLeafBit : static_cast<std::uint64_t>(t.feature[i])) |
                  std::uint64_t{t.default_left[i]} << 16 |
                  std::uint64_t{std::bit_cast<std::uint32_t>(split)} << 32;
      if (leaf) continue;
      record[1] = position[k][static_cast<std::size_t>(t.right[i])];
      const float* column = columns.data() + static_cast<std::size_t>(t.feature[i]) * bg.rows;
      for (std::size_t r = 0; r < bg.rows; ++r) {
        const float v = column[r];
        if (std::isnan(v) ? static_cast<bool>(t.default_left[i]) : v < t.threshold[i])
          record[2 + r / 64] |= std::uint64_t{1} << (r % 64);
      }
    }
  });
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
  auto walk = [&](auto& w) {
    w.x = x;
    w.words = words_;
    w.row_weight = bg.weight.data();
    w.uniform_weight = uniform_weight_;
    w.sets.assign((max_depth_ + 2) * words_, 0);
    w.state.assign(model.features, 0);
    // A path holds at most max_depth_ features in A and B together.
    std::vector<double> fact(max_depth_ + 2, 1.0);
    for (std::size_t i = 1; i < fact.size(); ++i)
      fact[i] = fact[i - 1] * double(i);
    w.stride = max_depth_ + 1;
    w.in_a.assign(w.stride * w.stride, 0.0);
    w.in_b.assign(w.stride * w.stride, 0.0);
    for (std::size_t na = 0; na < w.stride; ++na)
      for (std::size_t nb = 0; na + nb < w.stride; ++nb) {
        if (na > 0) w.in_a[na * w.stride + nb] = fact[na - 1] * fact[nb] / fact[na + nb];
        if (nb > 0) w.in_b[na * w.stride + nb] = fact[na] * fact[nb - 1] / fact[na + nb];
      }
    w.phi = out.phi.data();
    std::uint64_t* all = w.sets.data();  // level 0: every row
    for (std::size_t r = 0; r < bg.rows; ++r)
      all[r / 64] |= std::uint64_t{1} << (r % 64);
    for (std::size_t k = 0; k < model.trees.size(); ++k) {
      w.records = records_.data() + tree_offset_[k];
      w.tree_weight = tree_weight_[k];
      w.go(0, all, 0);
    }
  };
  if (words_ == 1) {
    SetWalk<1> w;
    walk(w);
  } else if (words_ == 2) {
    SetWalk<2> w;
    walk(w);
  } else {
    SetWalk<0> w;
    walk(w);
  }
  return out;
}

Attribution tree_shap_interventional(const TreeEnsemble& model, std::span<const float> x,
                                     const Background& background) {
  return InterventionalTreeShap(model, background)(x);
}

TreeEnsemble tree_ensemble_of(const Model& model) {
  const auto* ensemble = dynamic_cast<const EnsembleMean*>(&model);
  if (ensemble == nullptr) return parse_xgboost_model(model.trees_ubjson(), XGBoostFormat::Ubjson);
  const auto& members = ensemble->members();
  const double share = 1.0 / static_cast<double>(members.size());
  TreeEnsemble merged;
  for (std::size_t k = 0; k < members.size(); ++k) {
    TreeEnsemble e = tree_ensemble_of(*members[k]);
    if (k == 0) {
      merged.features = e.features;
      merged.booster = e.booster;
    }
    if (e.booster != merged.booster) merged.booster = "mixed";
    merged.base_score += share * e.base_score;
    for (auto& t : e.trees) {
      t.weight *= share;
      merged.trees.push_back(std::move(t));
    }
  }
  return merged;
}

}  // namespace fluxkit::explain

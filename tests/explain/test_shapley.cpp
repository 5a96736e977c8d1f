// KernelSHAP, interventional and path-dependent TreeSHAP against exact Shapley values by enumeration, and
// the Shapley axioms (efficiency, symmetry, dummy).
#include <gtest/gtest.h>

#include <unistd.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/explain/explainer.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/models/xgboost_model.hpp"

namespace fluxkit::explain {
namespace {

namespace fs = std::filesystem;

// A nonlinear function of M inputs with interactions.
BatchFunction nonlinear(std::size_t m) {
  return [m](std::span<const float> x, std::size_t n, std::span<float> y) {
    for (std::size_t i = 0; i < n; ++i) {
      const float* r = x.data() + i * m;
      double v = 0;
      for (std::size_t j = 0; j < m; ++j)
        v += (0.3 + 0.1 * double(j)) * r[j];
      v += r[0] * r[1] + std::sin(r[2]) * r[m - 1] + (r[3] > 0.2f ? 0.7 : -0.1) * r[4];
      y[i] = static_cast<float>(v);
    }
  };
}

Background random_background(std::size_t rows, std::size_t m, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(rows * m);
  for (auto& v : x)
    v = d(g);
  return uniform_background(std::move(x), m);
}

std::vector<float> random_row(std::size_t m, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(m);
  for (auto& v : x)
    v = d(g);
  return x;
}

double sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}

TEST(KernelShap, EqualsExactShapleyWhenEveryCoalitionFits) {
  for (const std::size_t m : {5u, 8u, 10u}) {
    const auto f = nonlinear(m);
    const Background bg = random_background(7, m, 1);
    const auto x = random_row(m, 2);
    const Attribution exact = exact_shapley(f, x, bg);
    const Attribution k = kernel_shap(f, x, bg, {});  // default nsamples >= 2^m - 2: complete enumeration
    ASSERT_EQ(k.phi.size(), m);
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(k.phi[i], exact.phi[i], 1e-5 * (1 + std::abs(exact.phi[i])))
          << "m " << m << " player " << i;
    EXPECT_NEAR(sum(exact.phi), exact.fx - exact.base, 1e-5);
  }
}

TEST(KernelShap, EfficiencyHoldsWithSampledCoalitions) {
  const std::size_t m = 44;
  const auto f = nonlinear(m);
  const Background bg = random_background(10, m, 3);
  const auto x = random_row(m, 4);
  KernelShapOptions o;
  o.seed = 7;
  const Attribution k = kernel_shap(f, x, bg, o);
  const double total = k.fx - k.base;
  EXPECT_NEAR(sum(k.phi), total, 1e-5 * std::max(1.0, std::abs(total)));
  // The sampled estimate is close to the truth for this near-additive function: the linear part exactly.
  // Player 10 enters only linearly with weight 1.3: phi = 1.3 (x - mean background).
  double mean10 = 0;
  for (std::size_t j = 0; j < bg.rows; ++j)
    mean10 += bg.weight[j] * bg.x[j * m + 10];
  EXPECT_NEAR(k.phi[10], 1.3 * (x[10] - mean10), 0.05);
  // Same seed, same result; another seed, a different sample.
  const Attribution again = kernel_shap(f, x, bg, o);
  EXPECT_EQ(again.phi, k.phi);
  o.seed = 8;
  const Attribution other = kernel_shap(f, x, bg, o);
  EXPECT_NE(other.phi, k.phi);
  EXPECT_NEAR(sum(other.phi), total, 1e-5 * std::max(1.0, std::abs(total)));
}

TEST(KernelShap, SymmetryAndDummy) {
  // f = x0 * x1 + x2; x3 unused (a dummy although it varies); x0 and x1 symmetric in f and in the data.
  const BatchFunction f = [](std::span<const float> x, std::size_t n, std::span<float> y) {
    for (std::size_t i = 0; i < n; ++i)
      y[i] = x[i * 4] * x[i * 4 + 1] + x[i * 4 + 2];
  };
  const Background bg = uniform_background({0, 0, 1, 5, 1, 1, 0, -3, 2, 2, 2, 1}, 4);
  const std::vector<float> x = {3, 3, 4, 9};
  const Attribution k = kernel_shap(f, x, bg, {});
  const Attribution e = exact_shapley(f, x, bg);
  EXPECT_NEAR(k.phi[0], k.phi[1], 1e-9);
  EXPECT_NEAR(k.phi[3], 0.0, 1e-9);
  EXPECT_NEAR(e.phi[3], 0.0, 1e-12);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(k.phi[i], e.phi[i], 1e-6);
  // A column equal in the sample and every background row cannot change f: phi exactly 0.
  const std::vector<float> x2 = {3, 3, 4, 1};
  const Background bg2 = uniform_background({0, 0, 1, 1, 1, 1, 0, 1}, 4);
  EXPECT_EQ(kernel_shap(f, x2, bg2, {}).phi[3], 0.0);
}

TEST(KernelShap, GroupsAreOnePlayerEach) {
  const std::size_t m = 9;
  const auto f = nonlinear(m);
  const Background bg = random_background(5, m, 5);
  const auto x = random_row(m, 6);
  KernelShapOptions o;
  o.groups = {{0, 3, 6}, {1, 4, 7}, {2, 5, 8}};
  const Attribution k = kernel_shap(f, x, bg, o);
  const Attribution e = exact_shapley(f, x, bg, o.groups);
  ASSERT_EQ(k.phi.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(k.phi[i], e.phi[i], 1e-5);
  EXPECT_NEAR(sum(k.phi), k.fx - k.base, 1e-5);
}

TEST(KMeans, WeightedSummaryKeepsTheMean) {
  const std::size_t m = 3, n = 200;
  const Background raw = random_background(n, m, 9);
  const Background km = kmeans_background(raw.x, n, m, 10, 42);
  EXPECT_EQ(km.rows, 10u);
  EXPECT_NEAR(sum(km.weight), 1.0, 1e-12);
  // Deterministic
  EXPECT_EQ(kmeans_background(raw.x, n, m, 10, 42).x, km.x);
  double mean_raw = 0, mean_km = 0;
  for (std::size_t i = 0; i < n; ++i)
    mean_raw += raw.x[i * m] / double(n);
  for (std::size_t c = 0; c < km.rows; ++c)
    mean_km += km.weight[c] * km.x[c * m];
  EXPECT_NEAR(mean_km, mean_raw, 0.15);
}

// ---- trees ------------------------------------------------------------------------------------------------

// Random small trees on m features.
TreeEnsemble random_trees(std::size_t m, std::size_t count, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  TreeEnsemble e;
  e.features = m;
  e.base_score = 0.5;
  for (std::size_t t = 0; t < count; ++t) {
    Tree tree;
    // Complete tree of depth 3: nodes 0..6 internal, 7..14 leaves.
    for (int i = 0; i < 15; ++i) {
      const bool leaf = i >= 7;
      tree.left.push_back(leaf ? -1 : 2 * i + 1);
      tree.right.push_back(leaf ? -1 : 2 * i + 2);
      tree.feature.push_back(leaf ? 0 : static_cast<int>(g() % m));
      tree.threshold.push_back(leaf ? 0 : d(g) * 0.5f);
      tree.value.push_back(leaf ? d(g) : 0);
      tree.default_left.push_back(g() % 2 == 0);
      tree.cover.push_back(1);
    }
    tree.weight = 0.5 + 0.1 * double(t);
    e.trees.push_back(tree);
  }
  return e;
}

// Interventional TreeSHAP of x against the exact Shapley values of the trees' own predictions.
void expect_exact_interventional(const TreeEnsemble& trees, const std::vector<float>& x, const Background& bg,
                                 unsigned sample) {
  const std::size_t m = trees.features;
  const BatchFunction f = [&](std::span<const float> xs, std::size_t n, std::span<float> y) {
    for (std::size_t i = 0; i < n; ++i)
      y[i] = static_cast<float>(trees.predict(xs.subspan(i * m, m)));
  };
  const Attribution t = tree_shap_interventional(trees, x, bg);
  const Attribution e = exact_shapley(f, x, bg);
  for (std::size_t i = 0; i < m; ++i)
    EXPECT_NEAR(t.phi[i], e.phi[i], 1e-5) << "sample " << sample << " feature " << i;
  EXPECT_NEAR(sum(t.phi), t.fx - t.base, 1e-9);
  EXPECT_NEAR(t.base, e.base, 1e-5);
}

TEST(TreeShapInterventional, EqualsExactShapleyOnSmallTrees) {
  const std::size_t m = 6;
  const TreeEnsemble trees = random_trees(m, 5, 11);
  for (unsigned s = 0; s < 5; ++s)
    expect_exact_interventional(trees, random_row(m, 200 + s), random_background(9, m, 100 + s), s);
}

// Trees built in code are not checked by the XGBoost reader: the set-up refuses a node that two splits share
// (its records are laid out as a tree; a shared node would be read where it was never written).
TEST(TreeShapInterventional, ANodeSharedByTwoSplitsIsAnError) {
  TreeEnsemble trees = random_trees(3, 2, 13);
  trees.trees[1].right[2] = trees.trees[1].left[2];  // node 2's children: the same leaf twice
  try {
    InterventionalTreeShap shap(trees, random_background(9, 3, 14));
    FAIL() << "a shared node accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tree 1 node 5 is reached along two paths"), std::string::npos)
        << e.what();
  }
}

// More rows than one 64-bit word of the row sets (two words and three: the walk has a version for each of
// one and two words and a general one), unequal weights (a k-means background's) and missing values in the
// background and the sample (each split's default direction).
TEST(TreeShapInterventional, EqualsExactShapleyWithWeightedRowsAndMissingValues) {
  const std::size_t m = 5;
  const TreeEnsemble trees = random_trees(m, 6, 12);
  for (const std::size_t rows : {100, 150}) {
    SCOPED_TRACE(rows);
    Background bg = random_background(rows, m, 300);
    std::mt19937 g(301);
    double total = 0;
    for (auto& w : bg.weight)
      total += w = 0.5 + double(g() % 1000) / 1000.0;
    for (auto& w : bg.weight)
      w /= total;
    for (std::size_t k = 0; k < rows * m; k += 7)
      bg.x[k] = std::numeric_limits<float>::quiet_NaN();
    for (unsigned s = 0; s < 4; ++s) {
      auto x = random_row(m, 400 + s);
      x[s % m] = std::numeric_limits<float>::quiet_NaN();
      expect_exact_interventional(trees, x, bg, s);
    }
  }
}

// ---- XGBoost models built here through the C API (small, few features) ------------------------------------

void xcheck(int rc) {
  if (rc != 0) throw Error(XGBGetLastError());
}

// Trains a booster on y = f(x) + noise, m features, and returns its JSON.
std::string train_booster(std::size_t m, const std::string& booster, std::vector<float>& x, std::size_t& n) {
  n = 400;
  x = random_background(n, m, 77).x;
  std::vector<float> y(n);
  for (std::size_t i = 0; i < n; ++i)
    y[i] = x[i * m] * 2 + (x[i * m + 1] > 0 ? 1.f : -1.f) * x[i * m + 2] + 0.3f * x[i * m + 3] * x[i * m + 4];
  DMatrixHandle d = nullptr;
  xcheck(XGDMatrixCreateFromMat(x.data(), n, m, std::nanf(""), &d));
  xcheck(XGDMatrixSetFloatInfo(d, "label", y.data(), n));
  BoosterHandle b = nullptr;
  xcheck(XGBoosterCreate(&d, 1, &b));
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{"booster", booster},
                                                                             {"max_depth", "4"},
                                                                             {"eta", "0.3"},
                                                                             {"seed", "1"},
                                                                             {"nthread", "1"},
                                                                             {"rate_drop", "0.3"},
                                                                             {"verbosity", "0"},
                                                                             {"base_score", "0.25"}})
    xcheck(XGBoosterSetParam(b, k.c_str(), v.c_str()));
  for (int it = 0; it < 12; ++it)
    xcheck(XGBoosterUpdateOneIter(b, it, d));
  bst_ulong len = 0;
  const char* data = nullptr;
  xcheck(XGBoosterSaveModelToBuffer(b, R"({"format": "json"})", &len, &data));
  std::string json(data, len);
  XGBoosterFree(b);
  XGDMatrixFree(d);
  return json;
}

std::unique_ptr<Model> load_booster(const std::string& json, std::size_t m, const fs::path& file) {
  register_xgboost_model();
  InputShape shape;
  shape.window = 1;
  for (std::size_t i = 0; i < m; ++i)
    shape.features.push_back(fmt::format("f{}", i));
  shape.is_static.assign(m, false);
  auto model = make_model("xgboost", shape, toml::table{});
  {
    std::ofstream out(file);
    out << json;
  }
  model->import_weights(file);
  return model;
}

// Path-dependent expectation of one tree with the features of S known (the cover-weighted average over the
// unknown splits), as TreeSHAP's path-dependent algorithm defines it.
double path_value(const Tree& t, std::size_t node, std::span<const float> x, unsigned mask) {
  if (t.left[node] < 0) return t.value[node];
  const auto f = static_cast<std::size_t>(t.feature[node]);
  const auto l = static_cast<std::size_t>(t.left[node]), r = static_cast<std::size_t>(t.right[node]);
  if ((mask >> f) & 1) return path_value(t, x[f] < t.threshold[node] ? l : r, x, mask);
  return (t.cover[l] * path_value(t, l, x, mask) + t.cover[r] * path_value(t, r, x, mask)) / t.cover[node];
}

class XGBoostTrees : public ::testing::TestWithParam<std::string> {};

TEST_P(XGBoostTrees, BothTreeShapsEqualBruteForceAndTheModel) {
  const std::size_t m = 6;
  std::vector<float> data;
  std::size_t n = 0;
  const std::string json = train_booster(m, GetParam(), data, n);
  const fs::path file =
      fs::temp_directory_path() / fmt::format("fluxkit_explain_{}_{}.json", GetParam(), ::getpid());
  const auto model = load_booster(json, m, file);
  const TreeEnsemble trees = parse_xgboost_model(model->trees_ubjson(), XGBoostFormat::Ubjson);
  ASSERT_EQ(trees.booster, GetParam());
  {  // The JSON text reads as the same ensemble; broken or foreign documents are errors naming the cause.
    const TreeEnsemble from_json = parse_xgboost_model(json, XGBoostFormat::Json);
    EXPECT_EQ(from_json.base_score, trees.base_score);
    EXPECT_EQ(from_json.features, m);
    ASSERT_EQ(from_json.trees.size(), trees.trees.size());
    for (std::size_t t = 0; t < trees.trees.size(); ++t) {
      const Tree &a = from_json.trees[t], &b = trees.trees[t];
      EXPECT_EQ(a.left, b.left);
      EXPECT_EQ(a.right, b.right);
      EXPECT_EQ(a.feature, b.feature);
      EXPECT_EQ(a.threshold, b.threshold);
      EXPECT_EQ(a.value, b.value);
      EXPECT_EQ(a.default_left, b.default_left);
      EXPECT_EQ(a.cover, b.cover);
      EXPECT_EQ(a.weight, b.weight);
    }
    const std::string ubj = model->trees_ubjson();
    auto message = [](std::string_view bytes, XGBoostFormat f) {
      try {
        parse_xgboost_model(bytes, f);
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string("<no error>");
    };
    EXPECT_NE(message(std::string_view(ubj).substr(0, ubj.size() / 2), XGBoostFormat::Ubjson)
                  .find("not valid UBJSON"),
              std::string::npos);
    EXPECT_NE(message(json, XGBoostFormat::Ubjson).find("not valid UBJSON"), std::string::npos);
    EXPECT_NE(message(R"({"learner": {"learner_model_param": {"num_feature": "3"}}})", XGBoostFormat::Json)
                  .find("no learner_model_param.base_score"),
              std::string::npos);
    std::string linear = json;
    const auto at = linear.find(GetParam() == "dart" ? "\"dart\"" : "\"gbtree\"");
    ASSERT_NE(at, std::string::npos);
    linear.replace(at, GetParam().size() + 2, "\"gblinear\"");
    EXPECT_NE(message(linear, XGBoostFormat::Json).find("booster 'gblinear' has no trees"),
              std::string::npos);
    std::string cyclic = json;  // the first tree's root as its own left child
    const auto first = cyclic.find('[', cyclic.find("\"left_children\"")) + 1;
    cyclic.replace(first, cyclic.find(',', first) - first, "0");
    EXPECT_NE(message(cyclic, XGBoostFormat::Json).find("tree 0 node 0 has children 0 and"),
              std::string::npos)
        << message(cyclic, XGBoostFormat::Json);
    std::string shared = json;  // the first tree's root with its left child as its right child too
    const auto lefts = shared.find('[', shared.find("\"left_children\"")) + 1;
    const std::string left_child = shared.substr(lefts, shared.find(',', lefts) - lefts);
    const auto rights = shared.find('[', shared.find("\"right_children\"")) + 1;
    shared.replace(rights, shared.find(',', rights) - rights, left_child);
    EXPECT_NE(message(shared, XGBoostFormat::Json)
                  .find(fmt::format("tree 0 node {} is the child of two splits (node 0", left_child)),
              std::string::npos)
        << message(shared, XGBoostFormat::Json);
  }
  if (GetParam() == "dart") {
    bool some = false;
    for (const auto& t : trees.trees)
      some |= std::abs(t.weight - 1) > 1e-3;
    EXPECT_TRUE(some) << "DART with dropout should have tree weights != 1";
  }
  Context ctx;
  const std::size_t k = 20;
  std::vector<float> x(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k * m)), pred(k);
  model->predict(x, k, pred, ctx);
  for (std::size_t i = 0; i < k; ++i)
    EXPECT_NEAR(trees.predict(std::span<const float>(x).subspan(i * m, m)), pred[i], 1e-5);

  // Interventional: against the exact Shapley values of the model's own predictions.
  const BatchFunction f = [&](std::span<const float> xs, std::size_t rows, std::span<float> y) {
    model->predict(xs, rows, y, ctx);
  };
  const Background bg = uniform_background(std::vector<float>(data.end() - 30 * m, data.end()), m);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto xi = std::span<const float>(x).subspan(i * m, m);
    const Attribution t = tree_shap_interventional(trees, xi, bg);
    const Attribution e = exact_shapley(f, xi, bg);
    for (std::size_t j = 0; j < m; ++j)
      EXPECT_NEAR(t.phi[j], e.phi[j], 1e-4) << "sample " << i << " feature " << j;
    EXPECT_NEAR(sum(t.phi), t.fx - t.base, 1e-6);
  }
  {  // The explainer keeps its set-up for the background it last saw: another background, then the first
     // again (a new object with the same rows), give each its own values.
    const auto explainer = make_explainer("tree_shap_interventional");
    const Background other =
        uniform_background(std::vector<float>(data.end() - 60 * m, data.end() - 30 * m), m);
    const Background same = uniform_background(std::vector<float>(data.end() - 30 * m, data.end()), m);
    Context two;
    two.threads = 2;
    for (const Background* b : {&bg, &other, &same, &other}) {
      const Explanation ex =
          explainer->explain(*model, std::span<const float>(x).first(4 * m), 4, *b, {}, two);
      for (std::size_t i = 0; i < 4; ++i) {
        const Attribution t =
            tree_shap_interventional(trees, std::span<const float>(x).subspan(i * m, m), *b);
        EXPECT_EQ(ex.base[i], t.base);
        for (std::size_t j = 0; j < m; ++j)
          EXPECT_EQ(ex.phi[i * m + j], t.phi[j]) << "sample " << i << " feature " << j;
      }
    }
  }

  // Path-dependent (XGBoost's contributions): against brute force over the cover-weighted game.
  std::vector<float> contrib;
  model->predict_contributions(x, k, false, contrib, ctx);
  ASSERT_EQ(contrib.size(), k * (m + 1));
  std::vector<double> fact(m + 1, 1);
  for (std::size_t i = 1; i <= m; ++i)
    fact[i] = fact[i - 1] * double(i);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto xi = std::span<const float>(x).subspan(i * m, m);
    std::vector<double> v(1u << m, trees.base_score);
    for (unsigned s = 0; s < (1u << m); ++s)
      for (const auto& t : trees.trees)
        v[s] += t.weight * path_value(t, 0, xi, s);
    std::vector<double> phi(m, 0);
    for (unsigned s = 0; s < (1u << m); ++s)
      for (std::size_t j = 0; j < m; ++j)
        if (!((s >> j) & 1)) {
          const auto size = static_cast<std::size_t>(__builtin_popcount(s));
          phi[j] += fact[size] * fact[m - size - 1] / fact[m] * (v[s | (1u << j)] - v[s]);
        }
    double total = 0;
    for (std::size_t j = 0; j < m; ++j) {
      EXPECT_NEAR(contrib[i * (m + 1) + j], phi[j], 1e-4) << "sample " << i << " feature " << j;
      total += contrib[i * (m + 1) + j];
    }
    EXPECT_NEAR(contrib[i * (m + 1) + m], v[0], 1e-4);  // the bias: expected value
    EXPECT_NEAR(total + contrib[i * (m + 1) + m], pred[i], 1e-4);
  }

  // Interactions: each row sums to the feature's contribution (the bias column included).
  const Explanation ex = make_explainer("tree_shap")
                             ->explain(*model, x, k, Background{}, {{}, 0.025, "median_event", true}, ctx);
  ASSERT_EQ(ex.interactions.size(), k * m * m);
  std::vector<float> inter;
  model->predict_contributions(x, k, true, inter, ctx);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t a = 0; a < m; ++a) {
      double row = 0;
      for (std::size_t b = 0; b <= m; ++b)
        row += inter[(i * (m + 1) + a) * (m + 1) + b];
      EXPECT_NEAR(row, contrib[i * (m + 1) + a], 1e-4);
      EXPECT_EQ(ex.interactions[(i * m + a) * m + a], inter[(i * (m + 1) + a) * (m + 1) + a]);
      EXPECT_NEAR(ex.phi[i * m + a], contrib[i * (m + 1) + a], 1e-7);
    }

  // The same numbers as Python's xgboost (pred_contribs) on the same model and inputs.
  if (std::system("/usr/bin/python3 -c 'import xgboost' >/dev/null 2>&1") != 0) {
    fs::remove(file);
    GTEST_SKIP() << "python3-xgboost not installed";
  }
  const fs::path xfile = file.string() + ".x.csv", out = file.string() + ".contrib.csv";
  {
    std::ofstream o(xfile);
    o.precision(9);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < m; ++j)
        o << x[i * m + j] << (j + 1 < m ? ',' : '\n');
  }
  const std::string cmd = fmt::format(
      "/usr/bin/python3 -c \"import numpy as np, xgboost as xgb; b = xgb.Booster(model_file='{}'); "
      "x = np.loadtxt('{}', delimiter=',', dtype=np.float32, ndmin=2); "
      "np.savetxt('{}', b.predict(xgb.DMatrix(x), pred_contribs=True), delimiter=',', fmt='%.9g')\"",
      file.string(), xfile.string(), out.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  std::string line;
  std::size_t row = 0;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell;
    std::size_t col = 0;
    while (std::getline(ss, cell, ',')) {
      EXPECT_NEAR(std::stod(cell), contrib[row * (m + 1) + col], 1e-6 * (1 + std::abs(std::stod(cell))));
      ++col;
    }
    EXPECT_EQ(col, m + 1);
    ++row;
  }
  EXPECT_EQ(row, k);
  fs::remove(file);
  fs::remove(xfile);
  fs::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Boosters, XGBoostTrees, ::testing::Values("gbtree", "dart"));

// ---- TimeSHAP ---------------------------------------------------------------------------------------------

// f on sequences x[n, 4, 3]: depends on the last two steps, and on step 0 with weight `old`.
BatchFunction recent_only(double old) {
  return [old](std::span<const float> x, std::size_t n, std::span<float> y) {
    for (std::size_t i = 0; i < n; ++i) {
      const float* s = x.data() + i * 12;
      y[i] = static_cast<float>(2 * s[9] + s[10] * s[11] + 0.5 * s[6] * s[9] - s[7] + old * s[0]);
    }
  };
}

TEST(TimeShap, PruningToleranceZeroMeansZeroNotOff) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1.5f, -2, 0.5f};
  const std::vector<float> baseline = {0.1f, 0.2f, -0.3f};
  TimeShapOptions o;
  o.tolerance = 0;
  // Steps 0 and 1 do not matter: pruned even with tolerance 0, the two recent events kept.
  TimeShapResult r = timeshap(recent_only(0), x, baseline, 4, 3, o);
  EXPECT_EQ(r.kept, 2u);
  EXPECT_EQ(r.event[0], 0.0);
  EXPECT_EQ(r.event[1], 0.0);
  EXPECT_NEAR(r.event_pruned, 0.0, 1e-6);
  // A tiny dependence on step 0 is not exactly 0: nothing pruned at tolerance 0, pruned at 0.01.
  r = timeshap(recent_only(1e-3), x, baseline, 4, 3, o);
  EXPECT_EQ(r.kept, 4u);
  o.tolerance = 0.01;
  r = timeshap(recent_only(1e-3), x, baseline, 4, 3, o);
  EXPECT_EQ(r.kept, 2u);
  EXPECT_NEAR(r.pruning_phi, 1e-3 * (x[0] - baseline[0]), 1e-5);
  // Negative: off.
  o.tolerance = -1;
  r = timeshap(recent_only(0), x, baseline, 4, 3, o);
  EXPECT_EQ(r.kept, 4u);
}

TEST(TimeShap, EveryLevelIsEfficientAndExact) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1.5f, -2, 0.5f};
  const std::vector<float> baseline = {0.1f, 0.2f, -0.3f};
  TimeShapOptions o;
  o.tolerance = 0.0;
  const auto f = recent_only(0.2);
  const TimeShapResult r = timeshap(f, x, baseline, 4, 3, o);
  const double total = r.fx - r.base;
  EXPECT_NEAR(sum(r.event) + r.event_pruned, total, 1e-5);
  EXPECT_NEAR(sum(r.feature) + r.feature_pruned, total, 1e-5);
  EXPECT_NEAR(sum(r.cell) + r.cell_pruned, total, 1e-5);
  // Event level against the exact Shapley values of the event game (4 players, every coalition).
  const BatchFunction events = [&](std::span<const float> z, std::size_t n, std::span<float> y) {
    std::vector<float> seq(n * 12);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t w = 0; w < 4; ++w)
        for (std::size_t c = 0; c < 3; ++c)
          seq[i * 12 + w * 3 + c] = z[i * 4 + w] > 0.5f ? x[w * 3 + c] : baseline[c];
    f(seq, n, y);
  };
  const Attribution e =
      exact_shapley(events, std::vector<float>(4, 1.0f), uniform_background({0, 0, 0, 0}, 4));
  for (std::size_t w = 0; w < 4; ++w)
    EXPECT_NEAR(r.event[w], e.phi[w], 1e-5) << w;
  // Step 2 and step 3 matter most; step 1 not at all.
  EXPECT_NEAR(r.event[1], 0.0, 1e-6);
}

// An ensemble is explained as its members' mean: predictions are the mean, and every method gives the
// Shapley values of the mean (exact enumeration on the mean's predictions), for which the tree methods walk
// every member's trees (a gbtree and a DART member here, so the merged trees carry both kinds of weight).
TEST(Ensembles, TheMeanOfTheMembersIsExplained) {
  const std::size_t m = 6;
  std::vector<float> data;
  std::size_t n = 0;
  std::vector<std::unique_ptr<Model>> members;
  std::vector<const Model*> member;
  for (const char* booster : {"gbtree", "dart"}) {
    const fs::path file =
        fs::temp_directory_path() / fmt::format("fluxkit_ens_{}_{}.json", booster, ::getpid());
    members.push_back(load_booster(train_booster(m, booster, data, n), m, file));
    member.push_back(members.back().get());
    fs::remove(file);
  }
  const EnsembleMean mean(std::move(members));
  EXPECT_EQ(mean.type(), "xgboost");
  EXPECT_TRUE(mean.has_trees());
  Context ctx;
  const std::size_t k = 4;
  const std::vector<float> x(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k * m));
  std::vector<float> y(k), y0(k), y1(k);
  mean.predict(x, k, y, ctx);
  member[0]->predict(x, k, y0, ctx);
  member[1]->predict(x, k, y1, ctx);
  const TreeEnsemble trees = tree_ensemble_of(mean);
  EXPECT_EQ(trees.trees.size(), tree_ensemble_of(*member[0]).trees.size() * 2);
  for (std::size_t i = 0; i < k; ++i) {
    EXPECT_NEAR(y[i], 0.5 * (double(y0[i]) + y1[i]), 1e-6);
    EXPECT_NEAR(trees.predict(std::span<const float>(x).subspan(i * m, m)), y[i], 1e-5);
  }

  const BatchFunction f = [&](std::span<const float> xs, std::size_t rows, std::span<float> out) {
    mean.predict(xs, rows, out, ctx);
  };
  const Background bg = uniform_background(std::vector<float>(data.end() - 20 * m, data.end()), m);
  ExplainOptions options;
  options.kernel.nsamples = 64;  // every coalition of 6 players: KernelSHAP is exact
  for (const char* method : {"tree_shap_interventional", "kernel_shap"}) {
    const Explanation e = make_explainer(method)->explain(mean, x, k, bg, options, ctx);
    for (std::size_t i = 0; i < k; ++i) {
      const Attribution exact = exact_shapley(f, std::span<const float>(x).subspan(i * m, m), bg);
      EXPECT_NEAR(e.base[i], exact.base, 1e-5) << method;
      for (std::size_t j = 0; j < m; ++j)
        EXPECT_NEAR(e.phi[i * m + j], exact.phi[j], 1e-4) << method << " sample " << i << " feature " << j;
    }
  }
  // Path-dependent: the mean of the members' contributions (each member's sum to its prediction).
  std::vector<float> c, c0, c1;
  mean.predict_contributions(x, k, false, c, ctx);
  member[0]->predict_contributions(x, k, false, c0, ctx);
  member[1]->predict_contributions(x, k, false, c1, ctx);
  ASSERT_EQ(c.size(), k * (m + 1));
  for (std::size_t i = 0; i < c.size(); ++i)
    EXPECT_NEAR(c[i], 0.5 * (double(c0[i]) + c1[i]), 1e-6) << i;
  for (std::size_t i = 0; i < k; ++i) {
    double s = 0;
    for (std::size_t j = 0; j <= m; ++j)
      s += c[i * (m + 1) + j];
    EXPECT_NEAR(s, y[i], 1e-5);
  }
  // Members of other inputs are not an ensemble.
  std::vector<std::unique_ptr<Model>> odd;
  const fs::path file = fs::temp_directory_path() / fmt::format("fluxkit_ens_odd_{}.json", ::getpid());
  odd.push_back(load_booster(train_booster(m, "gbtree", data, n), m, file));
  odd.push_back(load_booster(train_booster(5, "gbtree", data, n), 5, file));
  fs::remove(file);
  try {
    const EnsembleMean bad(std::move(odd));
    FAIL() << "members of different inputs accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("member 1"), std::string::npos) << e.what();
  }
}

TEST(Explainers, RegistryAndUnsupportedModels) {
  const auto names = registered_explainers();
  for (const auto* m : {"attention", "kernel_shap", "timeshap", "tree_shap", "tree_shap_interventional"})
    EXPECT_NE(std::find(names.begin(), names.end(), m), names.end()) << m;
  try {
    (void)make_explainer("timeshap_typo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kernel_shap"), std::string::npos) << e.what();
  }
  std::vector<float> data;
  std::size_t n = 0;
  const fs::path file = fs::temp_directory_path() / fmt::format("fluxkit_explain_reg_{}.json", ::getpid());
  const auto model = load_booster(train_booster(6, "gbtree", data, n), 6, file);
  fs::remove(file);
  try {
    make_explainer("attention")->check_model(*model);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("xgboost"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(make_explainer("tree_shap")->check_model(*model));
  try {
    make_explainer("timeshap")->check_model(*model);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a recurrent model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fluxkit::explain

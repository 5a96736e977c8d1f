// Gradient-boosted trees through the XGBoost C API, behind the fluxkit::Model interface, and
// their hyper-parameters ([model.xgboost]; defaults = the thesis' final values). This header
// does not include XGBoost: only src/models/xgboost_model.cpp does.
//
// Layout: WindowLayout::Flat, x[n, W * F_dynamic + F_static] float32 (44 columns for the seed's features);
// y[n] the normalised target. Unlike the seed (no seed, no evaluation set, float64 training), fluxkit trains
// on float32 with a fixed seed and thread count, evaluates the validation MSE after every boosting round and
// keeps the best number of rounds (early stopping). Weights: `model.json` (XGBoost's JSON model format).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fluxkit {

struct XGBoostParams {
  static constexpr std::string_view kSection = "model.xgboost";
  static constexpr std::string_view kDoc =
      "XGBoost regressor (squared error) on the flat window (10 drivers x 4 months + 4 position features = "
      "44 "
      "inputs), with per-round validation MSE and early stopping.";

  std::string booster = "dart";
  std::int64_t n_estimators = 400;
  std::int64_t max_depth = 14;
  double learning_rate = 0.04292980473318146;
  double subsample = 0.5459662212041141;
  double colsample_bytree = 0.5336910753872645;
  double gamma = 0.016137253371362736;
  double reg_lambda = 0.00023498796241233066;
  double reg_alpha = 0.010524060361037127;
  double min_child_weight = 4;
  double rate_drop = 0.0;
  std::int64_t early_stopping_rounds = 20;
  std::string tree_method = "hist";

  template <class V>
  void visit(V&& v) {
    v("booster", booster,
      "`dart` (the seed's choice; with rate_drop = 0 no tree is dropped, so it acts like gbtree, only "
      "slower) or "
      "`gbtree`.");
    v("n_estimators", n_estimators, "Maximum number of boosting rounds (one tree per round).");
    v("max_depth", max_depth, "Maximum depth of a tree.");
    v("learning_rate", learning_rate, "Shrinkage of each new tree (XGBoost's eta).");
    v("subsample", subsample, "Fraction of the training windows sampled for each tree, in (0, 1].");
    v("colsample_bytree", colsample_bytree,
      "Fraction of the input columns sampled for each tree, in (0, 1].");
    v("gamma", gamma, "Minimum loss reduction to split a leaf.");
    v("reg_lambda", reg_lambda, "L2 penalty on the leaf weights (XGBoost's lambda).");
    v("reg_alpha", reg_alpha, "L1 penalty on the leaf weights (XGBoost's alpha).");
    v("min_child_weight", min_child_weight, "Minimum sum of instance weights (hessian) in a child.");
    v("rate_drop", rate_drop,
      "DART only: fraction of the previous trees dropped in each round, in [0, 1] (0 = none, the seed's "
      "value).");
    v("early_stopping_rounds", early_stopping_rounds,
      "Stop after this many rounds without a strict improvement of the validation MSE and keep the best "
      "round's trees; 0 = off: train all n_estimators rounds and keep them all (as the seed).");
    v("tree_method", tree_method,
      "XGBoost tree construction: `hist` (fast, the default), `approx` or `exact`.");
  }
  void validate() const;
};

// Registers "xgboost" with the model registry (include/fluxkit/models/model.hpp).
void register_xgboost_model();

}  // namespace fluxkit

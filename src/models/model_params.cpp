// Validation of every model's hyper-parameters; kept in libfluxkit, apart from the plugins (torch, xgboost),
// so that reading, checking and documenting a config never loads them.
#include <cmath>

#include <fmt/format.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/models/torch_models.hpp"
#include "fluxkit/models/xgboost_model.hpp"

namespace fluxkit {

void TorchFitParams::validate(std::string_view section) const {
  if (batch_size < 1) config::invalid(section, "batch_size", "must be >= 1");
  if (!(learning_rate > 0)) config::invalid(section, "learning_rate", "must be > 0");
  if (!(weight_decay >= 0)) config::invalid(section, "weight_decay", "must be >= 0");
  if (max_epochs < 1) config::invalid(section, "max_epochs", "must be >= 1");
  if (patience < 1) config::invalid(section, "patience", "must be >= 1");
}
void MlpParams::validate() const {
  if (hidden_dims.empty()) config::invalid(kSection, "hidden_dims", "needs at least one hidden layer");
  for (auto h : hidden_dims)
    if (h < 1) config::invalid(kSection, "hidden_dims", fmt::format("layer sizes must be >= 1, got {}", h));
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}
void LstmParams::validate() const {
  if (hidden_dim < 1) config::invalid(kSection, "hidden_dim", "must be >= 1");
  if (num_layers < 1) config::invalid(kSection, "num_layers", "must be >= 1");
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}
void AttentionLstmParams::validate() const {
  if (hidden_dim < 1) config::invalid(kSection, "hidden_dim", "must be >= 1");
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}

void XGBoostParams::validate() const {
  auto in_unit = [&](std::string_view key, double v, bool zero_ok) {
    if (!(zero_ok ? v >= 0 : v > 0) || !(v <= 1))
      config::invalid(kSection, key, fmt::format("must be in {}0, 1], got {}", zero_ok ? "[" : "(", v));
  };
  auto non_negative = [&](std::string_view key, double v) {
    if (!(v >= 0) || !std::isfinite(v))
      config::invalid(kSection, key, fmt::format("must be a finite value >= 0, got {}", v));
  };
  if (booster != "gbtree" && booster != "dart")
    config::invalid(kSection, "booster", fmt::format("must be `gbtree` or `dart`, got '{}'", booster));
  if (n_estimators < 1 || n_estimators > 1000000)
    config::invalid(kSection, "n_estimators", fmt::format("must be in [1, 1000000], got {}", n_estimators));
  if (max_depth < 1 || max_depth > 64)
    config::invalid(kSection, "max_depth", fmt::format("must be in [1, 64], got {}", max_depth));
  in_unit("learning_rate", learning_rate, false);
  in_unit("subsample", subsample, false);
  in_unit("colsample_bytree", colsample_bytree, false);
  non_negative("gamma", gamma);
  non_negative("reg_lambda", reg_lambda);
  non_negative("reg_alpha", reg_alpha);
  non_negative("min_child_weight", min_child_weight);
  in_unit("rate_drop", rate_drop, true);
  if (early_stopping_rounds < 0)
    config::invalid(kSection, "early_stopping_rounds",
                    fmt::format("must be >= 0 (0 = off), got {}", early_stopping_rounds));
  if (tree_method != "hist" && tree_method != "approx" && tree_method != "exact")
    config::invalid(kSection, "tree_method",
                    fmt::format("must be `hist`, `approx` or `exact`, got '{}'", tree_method));
}

}  // namespace fluxkit

#include "fluxkit/tuning/tune.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit {

void TuneParams::validate() const {
  if (models.empty()) config::invalid(kSection, "models", "no model to tune");
  const auto known = registered_models();
  for (const auto& m : models)
    if (std::find(known.begin(), known.end(), m) == known.end())
      config::invalid(kSection, "models",
                      fmt::format("unknown model '{}' (models: {})", m, fmt::join(known, ", ")));
  if (n_trials < 1) config::invalid(kSection, "n_trials", "must be at least 1");
  if (timeout_minutes < 0) config::invalid(kSection, "timeout_minutes", "must be >= 0 (0 = no limit)");
  if (sampler != "tpe" && sampler != "random")
    config::invalid(kSection, "sampler", fmt::format("'{}': expected tpe or random", sampler));
  if (pruner != "median" && pruner != "percentile" && pruner != "hyperband" &&
      pruner != "successive_halving" && pruner != "none")
    config::invalid(
        kSection, "pruner",
        fmt::format("'{}': expected median, percentile, hyperband, successive_halving or none", pruner));
  if (pruner_startup_trials < 0) config::invalid(kSection, "pruner_startup_trials", "must be >= 0");
  if (pruner_warmup_steps < 0) config::invalid(kSection, "pruner_warmup_steps", "must be >= 0");
  if (!(pruner_percentile > 0 && pruner_percentile < 100))
    config::invalid(kSection, "pruner_percentile", "must lie in (0, 100)");
  if (xgboost_report_every < 1) config::invalid(kSection, "xgboost_report_every", "must be at least 1");
  if (max_epochs < 1) config::invalid(kSection, "max_epochs", "must be at least 1");
  if (patience < 1) config::invalid(kSection, "patience", "must be at least 1");
  if (workers < 1) config::invalid(kSection, "workers", "must be at least 1");
  if (heartbeat_seconds < 1) config::invalid(kSection, "heartbeat_seconds", "must be at least 1");
  if (max_retries < 0) config::invalid(kSection, "max_retries", "must be >= 0");
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
  if (!storage.empty() && !storage.starts_with("sqlite:///") && !storage.starts_with("postgresql://") &&
      !storage.starts_with("postgresql+psycopg2://"))
    config::invalid(
        kSection, "storage",
        fmt::format("'{}': expected sqlite:///<file> or postgresql://user@host:port/database", storage));
}

}  // namespace fluxkit

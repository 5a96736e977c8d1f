#include "fluxkit/training/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

void TrainParams::validate() const {
  if (models.empty()) config::invalid(kSection, "models", "must name at least one model");
  const auto known = registered_models();
  for (const auto& m : models)
    if (std::find(known.begin(), known.end(), m) == known.end())
      config::invalid(kSection, "models",
                      fmt::format("unknown model '{}' (model types: {})", m, fmt::join(known, ", ")));
  if (seed < -1)
    config::invalid(kSection, "seed", fmt::format("must be >= 0 (or -1 = [run] seed), got {}", seed));
}

std::uint64_t TrainParams::model_seed(const Context& ctx) const {
  return seed >= 0 ? static_cast<std::uint64_t>(seed) : ctx.seed;
}

Baselines baseline_mse(const SampleStore& train, const SampleStore& validation) {
  const std::size_t D = train.flat_width(), P = D + 1;  // + intercept
  // Normal equations in double: (X^T X + ridge) b = X^T y.
  std::vector<double> xtx(P * P, 0.0), xty(P, 0.0);
  double y_sum = 0;
  std::size_t n = 0;
  WindowBatches tb(train, 8192, WindowLayout::Flat, false, 0);
  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  std::vector<double> row(P);
  while (tb.next(x, y, ids)) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (std::size_t j = 0; j < D; ++j)
        row[j] = x[i * D + j];
      row[D] = 1.0;
      for (std::size_t a = 0; a < P; ++a) {
        xty[a] += row[a] * y[i];
        for (std::size_t b = 0; b <= a; ++b)
          xtx[a * P + b] += row[a] * row[b];
      }
      y_sum += y[i];
      ++n;
    }
  }
  for (std::size_t a = 0; a < P; ++a) {
    for (std::size_t b = 0; b < a; ++b)
      xtx[b * P + a] = xtx[a * P + b];
    xtx[a * P + a] += 1e-8 * static_cast<double>(n);  // guards against collinear columns
  }
  // Cholesky solve.
  std::vector<double> L(P * P, 0.0);
  for (std::size_t i = 0; i < P; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      double s = xtx[i * P + j];
      for (std::size_t k = 0; k < j; ++k)
        s -= L[i * P + k] * L[j * P + k];
      if (i == j) {
        if (!(s > 0)) throw Error("linear baseline: singular normal equations");
        L[i * P + i] = std::sqrt(s);
      } else {
        L[i * P + j] = s / L[j * P + j];
      }
    }
  }
  std::vector<double> z(P), beta(P);
  for (std::size_t i = 0; i < P; ++i) {
    double s = xty[i];
    for (std::size_t k = 0; k < i; ++k)
      s -= L[i * P + k] * z[k];
    z[i] = s / L[i * P + i];
  }
  for (std::size_t i = P; i-- > 0;) {
    double s = z[i];
    for (std::size_t k = i + 1; k < P; ++k)
      s -= L[k * P + i] * beta[k];
    beta[i] = s / L[i * P + i];
  }
  const double mean = y_sum / static_cast<double>(n);
  Baselines out;
  std::size_t m = 0;
  WindowBatches vb(validation, 8192, WindowLayout::Flat, false, 0);
  while (vb.next(x, y, ids)) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      double pred = beta[D];
      for (std::size_t j = 0; j < D; ++j)
        pred += beta[j] * x[i * D + j];
      out.linear_mse += (pred - y[i]) * (pred - y[i]);
      out.mean_mse += (mean - y[i]) * (mean - y[i]);
      ++m;
    }
  }
  out.linear_mse /= static_cast<double>(m);
  out.mean_mse /= static_cast<double>(m);
  return out;
}

std::vector<TrainedModel> train_models(const TrainParams& params, const SampleStore& train,
                                       const SampleStore& validation,
                                       const std::map<std::string, toml::table>& hyper_parameters,
                                       bool resume, const Context& ctx, const Provenance& provenance) {
  if (train.header().features != validation.header().features || train.window() != validation.window())
    throw Error(fmt::format("{} and {} hold different features or windows", train.path().string(),
                            validation.path().string()));
  const InputShape shape = InputShape::of(train);
  const std::string train_fp = store_fingerprint(train), val_fp = store_fingerprint(validation);
  std::vector<TrainedModel> out;
  for (const auto& type : params.models) {
    const auto hp = hyper_parameters.find(type);
    if (hp == hyper_parameters.end()) throw Error(fmt::format("no hyper-parameters for model '{}'", type));
    auto model = make_model(type, shape, hp->second);
    spdlog::info("training {}", model->describe());
    const fs::path work = fs::path(params.output_dir) / (type + ".work");
    const auto t0 = std::chrono::steady_clock::now();
    TrainOptions options{work, resume, params.model_seed(ctx)};
    const FitResult fit = model->fit(train, validation, options, ctx);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    ArtifactInfo info;
    info.type = type;
    info.shape = shape;
    info.lead = train.header().lead;
    info.stats = train.stats();
    info.target = train.header().target;
    info.target_units = train.header().target_units;
    info.train_store = train.path().string();
    info.validation_store = validation.path().string();
    info.train_fingerprint = train_fp;
    info.validation_fingerprint = val_fp;
    info.train_experiment = train.header().experiment;
    info.train_first_year = train.header().first_year;
    info.train_last_year = train.header().last_year;
    info.validation_experiment = validation.header().experiment;
    info.validation_first_year = validation.header().first_year;
    info.validation_last_year = validation.header().last_year;
    info.subsample_seed = train.header().seed;
    info.best_epoch = fit.best_epoch;
    info.epochs = static_cast<int>(fit.history.size());
    info.best_validation_loss = fit.best_validation_loss;
    info.stop_reason = fit.stop_reason;
    info.seed = options.seed;
    info.threads = ctx.threads;
    info.provenance = provenance;
    const fs::path artifact = fs::path(params.output_dir) / type;
    save_artifact(artifact, *model, info, work / "losses.csv");
    out.push_back(
        {type, artifact, fit.best_validation_loss, fit.best_epoch, info.epochs, fit.stop_reason, seconds});
  }
  return out;
}

}  // namespace fluxkit

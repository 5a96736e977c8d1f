#include "fluxkit/training/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
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
  if (ensemble < 1 || ensemble > 10000)
    config::invalid(kSection, "ensemble", fmt::format("must be in 1 .. 10000, got {}", ensemble));
  for (const auto& m : ensemble_models)
    if (std::find(models.begin(), models.end(), m) == models.end())
      config::invalid(kSection, "ensemble_models",
                      fmt::format("'{}' is not one of models [{}]", m, fmt::join(models, ", ")));
}

std::uint64_t TrainParams::model_seed(const Context& ctx) const {
  return seed >= 0 ? static_cast<std::uint64_t>(seed) : ctx.seed;
}

int TrainParams::members(const std::string& type) const {
  if (ensemble <= 1) return 1;
  if (ensemble_models.empty() ||
      std::find(ensemble_models.begin(), ensemble_models.end(), type) != ensemble_models.end())
    return static_cast<int>(ensemble);
  return 1;
}

std::vector<TrainTask> train_tasks(const TrainParams& params, const Context& ctx) {
  std::vector<TrainTask> tasks;
  const fs::path out = params.output_dir;
  const std::uint64_t base = params.model_seed(ctx);
  for (const auto& type : params.models) {
    const int n = params.members(type);
    if (n == 1) {
      tasks.push_back({type, 0, 1, base, out / type, out / (type + ".work")});
      continue;
    }
    for (int k = 0; k < n; ++k)
      tasks.push_back({type, k, n, base + static_cast<std::uint64_t>(k), ensemble_member_dir(out / type, k),
                       ensemble_member_dir(out / (type + ".work"), k)});
  }
  return tasks;
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

namespace {

// The ensemble directory <output_dir>/<type>/ before its members are written: a single artifact of an earlier
// run with ensemble = 1 is replaced (its files removed), members beyond `members` of an earlier larger
// ensemble are removed (only by the rank training member 0), and the manifest is written.
void prepare_ensemble_dir(const fs::path& dir, const std::string& type, std::uint64_t base_seed, int members,
                          bool owns_member_0) {
  fs::create_directories(dir);
  if (fs::exists(dir / "model.toml")) {
    spdlog::warn("{}: a single {} artifact of an earlier run is replaced by an ensemble of {} members",
                 dir.string(), type, members);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) fs::remove(e.path(), ec);
  }
  if (owns_member_0) {
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory() || !name.starts_with("member_")) continue;
      const std::string digits = name.substr(7);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
      if (std::stoll(digits) >= members) {
        spdlog::info("{}: not a member of the ensemble of {} any more, removed", e.path().string(), members);
        fs::remove_all(e.path());
      }
    }
  }
  write_ensemble_manifest(dir, make_ensemble_manifest(type, base_seed, members));
}

}  // namespace

std::vector<TrainedModel> train_models(const TrainParams& params, const SampleStore& train,
                                       const SampleStore& validation,
                                       const std::map<std::string, toml::table>& hyper_parameters,
                                       bool resume, const Context& ctx, const Provenance& provenance,
                                       int rank, int size, const TaskEpochCallback& on_epoch) {
  if (train.header().features != validation.header().features || train.window() != validation.window())
    throw Error(fmt::format("{} and {} hold different features or windows", train.path().string(),
                            validation.path().string()));
  if (size < 1 || rank < 0 || rank >= size)
    throw Error(fmt::format("train_models: rank {} of {} processes", rank, size));
  const InputShape shape = InputShape::of(train);
  const std::string train_fp = store_fingerprint(train), val_fp = store_fingerprint(validation);
  const auto tasks = train_tasks(params, ctx);

  // One task: fits (or keeps an up-to-date ensemble member) and writes the artifact.
  auto run_task = [&](const TrainTask& task, const toml::table& hp, const Context& member_ctx) {
    auto model = make_model(task.type, shape, hp);
    const std::string label = task.members > 1 ? fmt::format("{} member {} of {} (seed {})", task.type,
                                                             task.member, task.members, task.seed)
                                               : task.type;
    if (task.members > 1 && !resume &&
        artifact_up_to_date(task.artifact, task.type, task.seed, train_fp, val_fp,
                            model->hyper_parameters())) {
      const ArtifactInfo info = read_artifact_info(task.artifact);
      spdlog::info("{}: up to date in {}, skipped", label, task.artifact.string());
      TrainedModel r{
          task.type,       task.member, task.members,     true, task.artifact, info.best_validation_loss,
          info.best_epoch, info.epochs, info.stop_reason, 0.0};
      return r;
    }
    spdlog::info("training {}{}", label == task.type ? "" : label + ": ", model->describe());
    const auto t0 = std::chrono::steady_clock::now();
    TrainOptions options{task.work_dir, resume, task.seed};
    if (on_epoch) options.on_epoch = [&on_epoch, &task](const EpochRecord& r) { return on_epoch(task, r); };
    const FitResult fit = model->fit(train, validation, options, member_ctx);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    ArtifactInfo info;
    info.type = task.type;
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
    info.threads = member_ctx.threads;
    info.provenance = provenance;
    save_artifact(task.artifact, *model, info, task.work_dir / "losses.csv");
    TrainedModel r{
        task.type,      task.member, task.members,    false,  task.artifact, fit.best_validation_loss,
        fit.best_epoch, info.epochs, fit.stop_reason, seconds};
    return r;
  };

  std::vector<TrainedModel> out;
  for (const auto& type : params.models) {
    std::vector<const TrainTask*> local;
    bool owns_member_0 = false;
    for (std::size_t i = 0; i < tasks.size(); ++i)
      if (tasks[i].type == type && static_cast<int>(i % static_cast<std::size_t>(size)) == rank) {
        local.push_back(&tasks[i]);
        owns_member_0 = owns_member_0 || tasks[i].member == 0;
      }
    if (local.empty()) continue;
    const auto hp = hyper_parameters.find(type);
    if (hp == hyper_parameters.end()) throw Error(fmt::format("no hyper-parameters for model '{}'", type));
    const int members = local.front()->members;
    if (members > 1)
      prepare_ensemble_dir(fs::path(params.output_dir) / type, type, params.model_seed(ctx), members,
                           owns_member_0);
    // Concurrent members: in waves of up to ctx.threads members, the threads split evenly within a wave
    // (the last, smaller wave gets more per member). A member's thread count depends only on its place in
    // the order, not on timing, so its result does not depend on which member ran next to it.
    const std::size_t width = static_cast<std::size_t>(std::max(1, ctx.threads));
    std::vector<TrainedModel> results(local.size());
    if (local.size() > 1) (void)find_model(type);  // loads the model's plugin once, before any worker starts
    for (std::size_t begin = 0; begin < local.size(); begin += width) {
      const std::size_t end = std::min(local.size(), begin + width);
      Context member_ctx = ctx;
      member_ctx.threads = std::max(1, ctx.threads / static_cast<int>(end - begin));
      if (end - begin == 1) {
        results[begin] = run_task(*local[begin], hp->second, member_ctx);
        continue;
      }
      std::vector<int> ids;
      for (std::size_t j = begin; j < end; ++j)
        ids.push_back(local[j]->member);
      spdlog::info("{}: members {} at the same time with {} thread{} each", type, fmt::join(ids, ", "),
                   member_ctx.threads, member_ctx.threads == 1 ? "" : "s");
      std::exception_ptr error;
      std::mutex error_mutex;
      std::vector<std::thread> workers;
      for (std::size_t j = begin; j < end; ++j)
        workers.emplace_back([&, j] {
          try {
            results[j] = run_task(*local[j], hp->second, member_ctx);
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        });
      for (auto& w : workers)
        w.join();
      if (error) std::rethrow_exception(error);
    }
    out.insert(out.end(), results.begin(), results.end());
  }
  return out;
}

}  // namespace fluxkit

// `fluxkit explain` (include/fluxkit/explain/run.hpp).
#include "fluxkit/explain/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/explain/explainer.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

void ExplainParams::validate() const {
  if (models.empty()) config::invalid(kSection, "models", "must name at least one model artifact");
  if (regions.empty()) config::invalid(kSection, "regions", "must name at least one region");
  if (months.empty()) config::invalid(kSection, "months", "must name at least one month");
  for (const auto m : months)
    if (m < 1 || m > 12) config::invalid(kSection, "months", fmt::format("month {} is not in 1-12", m));
  if (n_samples < 1) config::invalid(kSection, "n_samples", "must be >= 1");
  if (background != "train" && background != "test")
    config::invalid(kSection, "background", fmt::format("expected train or test, got '{}'", background));
  if (background_size < 1) config::invalid(kSection, "background_size", "must be >= 1");
  if (background_kmeans < 0) config::invalid(kSection, "background_kmeans", "must be >= 0");
  if (kernel_nsamples < 0) config::invalid(kSection, "kernel_nsamples", "must be >= 0 (0 = 2 M + 2048)");
  if (kernel_players != "columns" && kernel_players != "drivers" && kernel_players != "lags")
    config::invalid(kSection, "kernel_players",
                    fmt::format("expected columns, drivers or lags, got '{}'", kernel_players));
  if (chunk < 1) config::invalid(kSection, "chunk", "must be >= 1");
  if (bootstrap < 0) config::invalid(kSection, "bootstrap", "must be >= 0");
  if (!(confidence > 0 && confidence < 1)) config::invalid(kSection, "confidence", "must be in (0, 1)");
  if (timeshap_baseline != "median_event" && timeshap_baseline != "mean_sequence")
    config::invalid(kSection, "timeshap_baseline",
                    fmt::format("expected median_event or mean_sequence, got '{}'", timeshap_baseline));
  for (const auto& m : methods) {
    const auto p = m.find(':');
    if (p == std::string::npos || p == 0 || p + 1 == m.size())
      config::invalid(kSection, "methods", fmt::format("'{}' is not a model:method pair", m));
    try {
      (void)explain::find_explainer(m.substr(p + 1));
    } catch (const Error& e) {
      config::invalid(kSection, "methods", e.what());
    }
  }
}

namespace {

struct ModelEntry {
  std::string name;
  fs::path artifact;              // the model's directory (an artifact, or an ensemble's)
  std::vector<fs::path> members;  // its artifacts: itself, or the ensemble's members
  LoadedModel loaded;             // member 0's info; the model, or the members' mean (EnsembleMean)
  std::vector<std::string> methods;
  std::string fingerprint;  // of model.toml
};

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> default_methods(const std::string& type) {
  if (type == "xgboost") return {"tree_shap_interventional", "tree_shap"};
  if (type == "attention_lstm") return {"attention", "timeshap", "kernel_shap"};
  if (type == "lstm") return {"timeshap", "kernel_shap"};
  return {"kernel_shap"};
}

// Player groups for KernelSHAP (empty = one per column) and the meaning of each player.
struct Players {
  std::vector<std::vector<std::size_t>> groups;
  std::vector<explain::ColumnMeaning> meaning;  // lag -2 = all lags of the driver
};

Players kernel_players(const InputShape& shape, const std::string& mode) {
  Players p;
  const auto cols = explain::flat_column_meanings(shape);
  if (mode == "columns") {
    p.meaning = cols;
    return p;
  }
  std::map<std::string, std::size_t> index;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    std::string key;
    explain::ColumnMeaning m;
    if (mode == "drivers" || cols[c].lag < 0) {
      key = cols[c].driver;
      m = {cols[c].driver, cols[c].lag < 0 ? -1 : -2};
    } else {
      key = fmt::format("lag {}", cols[c].lag);
      m = {"all dynamic", cols[c].lag};
    }
    const auto [it, fresh] = index.emplace(key, p.groups.size());
    if (fresh) {
      p.groups.emplace_back();
      p.meaning.push_back(m);
    }
    p.groups[it->second].push_back(c);
  }
  return p;
}

// The players of an explanation (attention: step x feature of the sequence).
std::vector<explain::ColumnMeaning> attention_meanings(const InputShape& s) {
  std::vector<explain::ColumnMeaning> out;
  for (std::size_t w = 0; w < s.window; ++w)
    for (std::size_t f = 0; f < s.features.size(); ++f)
      out.push_back({s.features[f], static_cast<int>(s.window - 1 - w)});
  return out;
}

// TimeSHAP's players: the features (over the kept events), the pruned events of the feature level, the
// events (lags), the pruned events of the event level.
std::vector<explain::ColumnMeaning> timeshap_meanings(const InputShape& s) {
  std::vector<explain::ColumnMeaning> out;
  for (const auto& f : s.features)
    out.push_back({f, -2});
  out.push_back({"pruned events", -2});
  for (std::size_t w = 0; w < s.window; ++w)
    out.push_back({"event", static_cast<int>(s.window - 1 - w)});
  out.push_back({"pruned events (event level)", -2});
  return out;
}

struct Chunk {
  std::vector<double> phi, base, fx;
  std::vector<float> alpha, beta;
  std::vector<double> cell;
  std::vector<std::int32_t> kept;
  std::vector<double> inter;
};

std::string chunk_bytes(const std::string& key, const Chunk& c) {
  std::string out =
      fmt::format("fluxkit-explain-chunk {} {} {} {} {} {} {} {} {}\n", key, c.phi.size(), c.base.size(),
                  c.fx.size(), c.alpha.size(), c.beta.size(), c.cell.size(), c.kept.size(), c.inter.size());
  auto put = [&](const auto& v) {
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  put(c.phi);
  put(c.base);
  put(c.fx);
  put(c.alpha);
  put(c.beta);
  put(c.cell);
  put(c.kept);
  put(c.inter);
  return out;
}

bool read_chunk(const fs::path& p, const std::string& key, Chunk& c) {
  if (!fs::exists(p)) return false;
  const std::string bytes = file_bytes(p);
  const auto nl = bytes.find('\n');
  if (nl == std::string::npos) return false;
  std::istringstream head(bytes.substr(0, nl));
  std::string magic, k;
  std::size_t n[8];
  head >> magic >> k >> n[0] >> n[1] >> n[2] >> n[3] >> n[4] >> n[5] >> n[6] >> n[7];
  if (!head || magic != "fluxkit-explain-chunk" || k != key) return false;
  const std::size_t size = nl + 1 + (n[0] + n[1] + n[2] + n[5] + n[7]) * sizeof(double) +
                           (n[3] + n[4]) * sizeof(float) + n[6] * sizeof(std::int32_t);
  if (bytes.size() != size) return false;
  const char* at = bytes.data() + nl + 1;
  auto get = [&](auto& v, std::size_t count) {
    v.resize(count);
    if (count > 0) std::memcpy(v.data(), at, count * sizeof(v[0]));  // an empty vector's data() may be null
    at += count * sizeof(v[0]);
  };
  get(c.phi, n[0]);
  get(c.base, n[1]);
  get(c.fx, n[2]);
  get(c.alpha, n[3]);
  get(c.beta, n[4]);
  get(c.cell, n[5]);
  get(c.kept, n[6]);
  get(c.inter, n[7]);
  return true;
}

void append(Chunk& all, const Chunk& c) {
  auto add = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  add(all.phi, c.phi);
  add(all.base, c.base);
  add(all.fx, c.fx);
  add(all.alpha, c.alpha);
  add(all.beta, c.beta);
  add(all.cell, c.cell);
  add(all.kept, c.kept);
  add(all.inter, c.inter);
}

// One explained (model, method, region, month): what the aggregates need.
struct Result {
  std::string model, method, region;
  int month = 0;
  std::size_t samples = 0, players = 0;
  std::vector<double> phi;
  std::vector<explain::ColumnMeaning> meaning;
};

void bootstrap_ci(const std::vector<double>& v, std::int64_t resamples, double confidence, std::uint64_t seed,
                  double& mean, double& lo, double& hi) {
  const std::size_t n = v.size();
  mean = n ? std::accumulate(v.begin(), v.end(), 0.0) / double(n) : std::nan("");
  if (n == 0 || resamples == 0) {
    lo = hi = std::nan("");
    return;
  }
  std::vector<double> means(static_cast<std::size_t>(resamples));
  for (std::size_t b = 0; b < means.size(); ++b) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i)
      s += v[random_bits(seed, b, i) % n];
    means[b] = s / double(n);
  }
  std::sort(means.begin(), means.end());
  const double a = (1 - confidence) / 2;
  auto q = [&](double p) {
    const double pos = p * double(means.size() - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const double f = pos - double(i);
    return i + 1 < means.size() ? means[i] * (1 - f) + means[i + 1] * f : means[i];
  };
  lo = q(a);
  hi = q(1 - a);
}

std::string fmt9(double v) {
  return std::isnan(v) ? "nan" : fmt::format("{:.9g}", v);
}

}  // namespace

ExplainSummary run_explain(const ExplainParams& params, const PrepareParams& prepare,
                           const TrainParams& train, const Context& ctx, const Provenance& provenance,
                           const Communicator& comm) {
  params.validate();
  ExplainSummary summary;

  // ---- everything is checked before any work ----
  std::vector<std::string> missing;
  std::vector<ModelEntry> models;
  for (const auto& m : params.models) {
    const fs::path dir = m.find('/') != std::string::npos ? fs::path(m) : fs::path(train.output_dir) / m;
    const std::string name =
        dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
    const auto members = model_members(dir, missing);
    if (members.empty()) continue;
    ModelEntry e;
    e.name = name;
    e.artifact = dir;
    e.members = members;
    models.push_back(std::move(e));
  }
  std::map<std::string, fs::path> stores;  // region -> test store
  for (const auto& r : params.regions) {
    const fs::path p = prepare.test_path(params.experiment, r, static_cast<int>(params.year));
    if (!fs::exists(p)) missing.push_back(fmt::format("test store {}", p.string()));
    stores[r] = p;
  }
  if (params.background == "train" && !fs::exists(prepare.train_path()))
    missing.push_back(fmt::format("background (training) store {}", prepare.train_path().string()));
  if (!missing.empty())
    throw Error(fmt::format("explain: missing inputs:\n  {}", fmt::join(missing, "\n  ")));

  for (const auto& m : params.methods) {
    const std::string model = m.substr(0, m.find(':'));
    if (std::none_of(models.begin(), models.end(), [&](const ModelEntry& e) { return e.name == model; }))
      throw ConfigError("[explain]", "methods",
                        fmt::format("'{}' names model '{}', which is not in [explain] models", m, model));
  }
  for (auto& e : models) {
    e.loaded =
        load_model_dir(e.artifact);  // an ensemble: its members' mean, the prediction reconstruct makes
    std::string tomls;
    for (const auto& member : e.members)
      tomls += file_bytes(member / "model.toml");
    e.fingerprint = hex64(fnv1a64(tomls));
    for (const auto& m : params.methods)
      if (m.substr(0, m.find(':')) == e.name) e.methods.push_back(m.substr(m.find(':') + 1));
    if (e.methods.empty()) e.methods = default_methods(e.loaded.info.type);
    for (const auto& method : e.methods) {
      try {
        explain::make_explainer(method)->check_model(*e.loaded.model);
      } catch (const Error& err) {
        throw Error(fmt::format("model {} ({}): {}", e.name, e.artifact.string(), err.what()));
      }
    }
  }

  // Stores: features, months present, enough windows.
  std::map<std::string, std::unique_ptr<SampleStore>> loaded;
  std::map<std::pair<std::string, int>, std::vector<std::uint64_t>> month_windows;
  for (const auto& [region, path] : stores) {
    const SampleStore meta(path, 0, 0);
    for (const auto& e : models) {
      try {
        check_store_matches(e.loaded.info, meta);
      } catch (const Error& err) {
        throw FileError(path.string(), "", fmt::format("model {}: {}", e.name, err.what()));
      }
    }
    std::set<int> available;
    for (std::size_t t = static_cast<std::size_t>(meta.header().target_start); t < meta.months(); ++t)
      if (meta.month_at(t).year == params.year) available.insert(meta.month_at(t).month);
    for (const auto m : params.months)
      if (!available.contains(static_cast<int>(m)))
        throw FileError(path.string(), "",
                        fmt::format("the store has no target month {}-{:02d} (its target months of {}: [{}])",
                                    params.year, m, params.year, fmt::join(available, ", ")));
    auto store = std::make_unique<SampleStore>(path);
    for (const auto m : params.months) {
      std::vector<std::uint64_t> ids;
      for (std::uint64_t i = 0; i < store->windows(); ++i) {
        const auto ym = store->month_at(store->target_index_of(i));
        if (ym.year == params.year && ym.month == m) ids.push_back(i);
      }
      if (ids.size() < static_cast<std::size_t>(params.n_samples))
        throw FileError(path.string(), "",
                        fmt::format("[explain] n_samples = {} but the store has only {} windows with target "
                                    "month {}-{:02d}",
                                    params.n_samples, ids.size(), params.year, m));
      const auto order = window_order(
          ids.size(), random_bits(ctx.seed, fnv1a64(region), static_cast<std::uint64_t>(m)), true);
      std::vector<std::uint64_t> chosen(static_cast<std::size_t>(params.n_samples));
      for (std::size_t i = 0; i < chosen.size(); ++i)
        chosen[i] = ids[order[i]];
      month_windows[{region, static_cast<int>(m)}] = std::move(chosen);
    }
    loaded[region] = std::move(store);
  }

  // Backgrounds: per (model, region) as the store decides.
  std::unique_ptr<SampleStore> train_store;
  if (params.background == "train") {
    train_store = std::make_unique<SampleStore>(prepare.train_path());
    for (const auto& e : models) {
      const auto& info = e.loaded.info;
      try {
        check_store_matches(info, *train_store);
      } catch (const Error& err) {
        throw FileError(train_store->path().string(), "",
                        fmt::format("background for model {}: {}", e.name, err.what()));
      }
      const auto& h = train_store->header();
      if (!info.train_experiment.empty() &&
          (info.train_experiment != h.experiment || info.train_first_year != h.first_year ||
           info.train_last_year != h.last_year))
        throw FileError(train_store->path().string(), "",
                        fmt::format("background store is not the one model {} was trained on ({} {}-{}; this "
                                    "store: {} {}-{})",
                                    e.name, info.train_experiment, info.train_first_year,
                                    info.train_last_year, h.experiment, h.first_year, h.last_year));
    }
  }
  auto make_background = [&](const SampleStore& s) {
    const std::size_t n = static_cast<std::size_t>(params.background_size);
    if (n > s.windows())
      throw FileError(
          s.path().string(), "",
          fmt::format("[explain] background_size = {} but the store has only {} windows", n, s.windows()));
    const auto order = window_order(s.windows(), random_bits(ctx.seed, 31, 0), true);
    std::vector<std::uint64_t> ids(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<float> x(n * s.flat_width()), y(n);
    s.gather_flat(ids, x, y);
    if (params.background_kmeans > 0)
      return explain::kmeans_background(x, n, s.flat_width(),
                                        static_cast<std::size_t>(params.background_kmeans),
                                        random_bits(ctx.seed, 32, 0));
    return explain::uniform_background(std::move(x), s.flat_width());
  };
  std::map<std::string, explain::Background> backgrounds;  // by region ("" = the training store)
  if (train_store)
    backgrounds[""] = make_background(*train_store);
  else
    for (const auto& [region, s] : loaded)
      backgrounds[region] = make_background(*s);

  // ---- the work ----
  std::vector<Result> results;
  std::size_t chunks_dealt = 0;  // chunks of every file so far, in the same order on every rank
  const fs::path out_dir(params.output_dir);
  for (auto& e : models) {
    const Model& model = *e.loaded.model;
    const InputShape& shape = model.input_shape();
    const std::size_t M = shape.flat_width();
    for (const auto& method : e.methods) {
      const auto explainer = explain::make_explainer(method);
      explain::ExplainOptions options;
      options.kernel.nsamples = static_cast<std::size_t>(params.kernel_nsamples);
      options.kernel.seed = random_bits(ctx.seed, 41, 0);
      options.timeshap_tolerance = params.timeshap_tolerance;
      options.timeshap_baseline = params.timeshap_baseline;
      options.interactions = method == "tree_shap" && params.tree_interactions;
      Players players = method == "attention"     ? Players{{}, attention_meanings(shape)}
                        : method == "timeshap"    ? Players{{}, timeshap_meanings(shape)}
                        : method == "kernel_shap" ? kernel_players(shape, params.kernel_players)
                                                  : Players{{}, explain::flat_column_meanings(shape)};
      if (method == "kernel_shap") options.kernel.groups = players.groups;
      for (const auto& region : params.regions) {
        const SampleStore& store = *loaded.at(region);
        const explain::Background& bg = backgrounds.at(train_store ? "" : region);
        for (const auto m : params.months) {
          const auto& ids = month_windows.at({region, static_cast<int>(m)});
          const std::size_t n = ids.size(), P = players.meaning.size();
          const fs::path file =
              out_dir / e.name /
              fmt::format("{}_{}_{}_{}_{:02d}.nc", method, params.experiment, region, params.year, m);
          const std::string key =
              hex64(fnv1a64(fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", e.fingerprint, method,
                                        store.path().string(), fmt::join(ids, ","), params.background,
                                        params.background_size, params.background_kmeans,
                                        params.kernel_nsamples, params.kernel_players, ctx.seed, n, P) +
                            fmt::format("|{}|{}|{}", params.timeshap_tolerance, params.timeshap_baseline,
                                        params.tree_interactions)));
          Result res{e.name, method, region, static_cast<int>(m), n, P, {}, players.meaning};
          // A finished file of the same key is reused.
          if (fs::exists(file)) {
            try {
              const nc::File f(file);
              if (f.text_attribute("", "fluxkit_explain_key") == key) {
                res.phi = f.read_double("phi");
                results.push_back(std::move(res));
                ++summary.files_reused;
                summary.samples_reused += n;
                continue;
              }
            } catch (const Error&) {
            }
          }
          const fs::path partial = file.parent_path() / ("." + file.filename().string() + ".partial");
          const std::size_t chunk = static_cast<std::size_t>(params.chunk);
          Chunk all;
          std::vector<float> xs(n * M), ys(n);
          store.gather_flat(ids, xs, ys);
          const auto t0 = std::chrono::steady_clock::now();
          std::size_t computed = 0;
          // Under MPI the chunks of every file are dealt to the ranks in turn; each rank saves its chunks
          // as checkpoints, and rank 0 assembles the file from them once every rank is done.
          const auto chunk_path = [&](std::size_t c0) {
            return partial / fmt::format("chunk_{:06d}.bin", c0 / chunk);
          };
          for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
            const std::size_t c1 = std::min(n, c0 + chunk);
            const fs::path cp = chunk_path(c0);
            const bool mine = chunks_dealt++ % comm.size() == static_cast<std::size_t>(comm.rank());
            Chunk c;
            if (!mine) continue;
            if (read_chunk(cp, key, c)) {
              summary.samples_reused += c1 - c0;
            } else {
              const explain::Explanation ex =
                  explainer->explain(model, std::span<const float>(xs).subspan(c0 * M, (c1 - c0) * M),
                                     c1 - c0, bg, options, ctx);
              c.phi = ex.phi;
              c.base = ex.base;
              c.fx = ex.fx;
              c.alpha = ex.alpha;
              c.beta = ex.beta;
              c.cell = ex.cell;
              c.kept = ex.kept;
              c.inter = ex.interactions;
              fs::create_directories(partial);
              write_text_atomic(cp, chunk_bytes(key, c));
              summary.samples_computed += c1 - c0;
              computed += c1 - c0;
            }
            if (comm.size() == 1) append(all, c);
          }
          const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (computed > 0)
            spdlog::info("explain {} {} {} month {}: {} samples in {:.2f} s ({:.4f} s per sample){}", e.name,
                         method, region, m, computed, seconds, seconds / double(computed),
                         comm.size() > 1 ? fmt::format(" on rank {}", comm.rank()) : std::string());
          if (comm.size() > 1) {
            comm.barrier();
            if (comm.rank() != 0) continue;
            for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
              Chunk c;
              if (!read_chunk(chunk_path(c0), key, c))
                throw FileError(chunk_path(c0).string(), "",
                                "an MPI rank's checkpoint is missing or unreadable after every rank "
                                "finished: the ranks must share [explain] output_dir (one file system)");
              append(all, c);
            }
          }
          if (all.phi.size() != n * P)
            throw Error(
                fmt::format("explain: {} attributions for {} samples x {} players", all.phi.size(), n, P));

          // The netCDF file.
          nc::Writer w(file);
          const std::size_t W = shape.window, F = shape.features.size();
          w.add_dim("sample", n);
          w.add_dim("player", P);
          w.add_dim("column", M);
          w.add_var("phi", NC_DOUBLE, {"sample", "player"});
          w.put_att("phi", "long_name", "Shapley value (attribution) of each player to the prediction");
          w.put_att("phi", "units", "1");
          w.put_att("phi", "comment",
                    "in the model's normalised target units; multiply by the global attribute target_std for "
                    "physical units. attention: alpha x beta");
          w.add_var("base_value", NC_DOUBLE, {"sample"});
          w.put_att("base_value", "long_name", "expected prediction over the background (normalised)");
          w.add_var("prediction", NC_DOUBLE, {"sample"});
          w.put_att("prediction", "long_name", "model prediction f(x) (normalised)");
          w.add_var("inputs", NC_FLOAT, {"sample", "column"});
          w.put_att("inputs", "long_name", "normalised model inputs, flat window layout");
          const bool uses_background = explainer->needs_background() || method == "timeshap";
          if (uses_background) {
            w.add_dim("background_row", bg.rows);
            w.add_var("background", NC_FLOAT, {"background_row", "column"});
            w.put_att("background", "long_name", "background rows (normalised flat inputs)");
            w.add_var("background_weight", NC_DOUBLE, {"background_row"});
          }
          w.add_var("lat", NC_DOUBLE, {"sample"});
          w.put_att("lat", "units", "degrees_north");
          w.put_att("lat", "standard_name", "latitude");
          w.add_var("lon", NC_DOUBLE, {"sample"});
          w.put_att("lon", "units", "degrees_east");
          w.put_att("lon", "standard_name", "longitude");
          w.add_var("window", NC_INT, {"sample"});
          w.put_att("window", "long_name", "window index in the test store");
          w.add_var("player_lag", NC_INT, {"player"});
          w.put_att("player_lag", "long_name", "lag of the player in months (-1 static, -2 all lags)");
          w.add_var("player_driver", NC_INT, {"player"});
          w.put_att("player_driver", "long_name", "index of the player's driver in the attribute `drivers`");
          if (options.interactions) {
            w.add_dim("player2", P);
            w.add_var("interactions", NC_DOUBLE, {"sample", "player", "player2"});
            w.put_att("interactions", "long_name",
                      "SHAP interaction values (XGBoost), diagonal = main effects (bias left out)");
          }
          if (method == "timeshap") {
            w.add_dim("step", W);
            w.add_dim("feature", F);
            w.add_var("cell_phi", NC_DOUBLE, {"sample", "step", "feature"});
            w.put_att("cell_phi", "long_name",
                      "TimeSHAP cell-level phi (0 for pruned steps), step 0 = t-W+1");
            w.add_var("kept_events", NC_INT, {"sample"});
            w.put_att("kept_events", "long_name", "most recent events not pruned (W = nothing pruned)");
          }
          if (method == "attention") {
            w.add_dim("step", W);
            w.add_dim("feature", F);
            w.add_var("alpha", NC_FLOAT, {"sample", "step", "feature"});
            w.put_att("alpha", "long_name", "input attention (softmax over features), step 0 = t-W+1");
            w.add_var("beta", NC_FLOAT, {"sample", "step"});
            w.put_att("beta", "long_name", "temporal attention (softmax over steps), step 0 = t-W+1");
          }
          std::vector<std::string> drivers;
          std::vector<std::int32_t> lag(P), driver(P);
          std::vector<std::string> names;
          for (std::size_t p = 0; p < P; ++p) {
            const auto& mm = players.meaning[p];
            auto it = std::find(drivers.begin(), drivers.end(), mm.driver);
            if (it == drivers.end()) it = drivers.insert(drivers.end(), mm.driver);
            driver[p] = static_cast<std::int32_t>(it - drivers.begin());
            lag[p] = mm.lag;
            names.push_back(mm.lag >= 0 ? fmt::format("{}@t-{}", mm.driver, mm.lag) : mm.driver);
          }
          w.put_provenance(provenance);
          w.put_att("", "title", fmt::format("fluxkit explanations: {} of model {}", method, e.name));
          w.put_att("", "model", e.name);
          w.put_att("", "model_type", e.loaded.info.type);
          w.put_att("", "ensemble_members", static_cast<int>(e.members.size()));
          w.put_att("", "method", method);
          w.put_att("", "experiment", params.experiment);
          w.put_att("", "region", region);
          w.put_att("", "year", static_cast<int>(params.year));
          w.put_att("", "month", static_cast<int>(m));
          w.put_att("", "drivers", fmt::format("{}", fmt::join(drivers, ",")));
          w.put_att("", "player_names", fmt::format("{}", fmt::join(names, ",")));
          w.put_att("", "columns", fmt::format("{}", fmt::join(explain::flat_column_names(shape), ",")));
          w.put_att("", "target_mean", e.loaded.info.stats.target_mean);
          w.put_att("", "target_std", e.loaded.info.stats.target_std);
          w.put_att("", "target_units", e.loaded.info.target_units);
          w.put_att("", "background",
                    fmt::format("{} ({} windows{})", params.background, params.background_size,
                                params.background_kmeans > 0
                                    ? fmt::format(", k-means summary of {}", params.background_kmeans)
                                    : std::string()));
          w.put_att("", "fluxkit_explain_key", key);
          std::vector<double> lat(n), lon(n);
          std::vector<std::int32_t> win(n);
          for (std::size_t i = 0; i < n; ++i) {
            const auto& cc = store.cell(store.cell_of(ids[i]));
            lat[i] = cc.lat;
            lon[i] = cc.lon;
            win[i] = static_cast<std::int32_t>(ids[i]);
          }
          w.write("phi", all.phi);
          w.write("base_value", all.base);
          w.write("prediction", all.fx);
          w.write("inputs", xs);
          if (uses_background) {
            w.write("background", bg.x);
            w.write("background_weight", bg.weight);
          }
          w.write("lat", lat);
          w.write("lon", lon);
          w.write("window", win);
          w.write("player_lag", lag);
          w.write("player_driver", driver);
          if (options.interactions) w.write("interactions", all.inter);
          if (method == "timeshap") {
            w.write("cell_phi", all.cell);
            w.write("kept_events", all.kept);
          }
          if (method == "attention") {
            w.write("alpha", all.alpha);
            w.write("beta", all.beta);
          }
          w.commit();
          fs::remove_all(partial);
          ++summary.files_written;
          res.phi = std::move(all.phi);
          results.push_back(std::move(res));
        }
      }
    }
  }

  summary.samples_computed =
      static_cast<std::size_t>(comm.sum(static_cast<long long>(summary.samples_computed)));
  summary.samples_reused = static_cast<std::size_t>(comm.sum(static_cast<long long>(summary.samples_reused)));
  if (comm.rank() != 0) return summary;

  // ---- aggregates ----
  std::string csv = "model,method,experiment,region,year,month,driver,lag,n,mean_abs_phi,ci_low,ci_high\n";
  auto emit = [&](const std::string& model, const std::string& method, const std::string& region,
                  const std::string& month, const std::vector<const Result*>& rs) {
    const Result& first = *rs.front();
    const std::size_t P = first.players;
    std::size_t n = 0;
    for (const auto* r : rs)
      n += r->samples;
    auto row = [&](const std::string& driver, const std::string& lag, const std::vector<std::size_t>& cols) {
      std::vector<double> v;
      v.reserve(n);
      for (const auto* r : rs)
        for (std::size_t i = 0; i < r->samples; ++i) {
          double s = 0;
          for (const auto c : cols)
            s += std::abs(r->phi[i * P + c]);
          v.push_back(s);
        }
      double mean = 0, lo = 0, hi = 0;
      bootstrap_ci(
          v, params.bootstrap, params.confidence,
          fnv1a64(fmt::format("{}|{}|{}|{}|{}|{}", ctx.seed, model, method, region, month, driver + lag)),
          mean, lo, hi);
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", model, method, params.experiment, region,
                         params.year, month, driver, lag, n, fmt9(mean), fmt9(lo), fmt9(hi));
    };
    std::map<std::string, std::vector<std::size_t>> by_driver;
    std::vector<std::string> order;
    for (std::size_t p = 0; p < P; ++p) {
      const auto& mm = first.meaning[p];
      row(mm.driver, mm.lag == -2 ? "all" : std::to_string(mm.lag), {p});
      if (!by_driver.contains(mm.driver)) order.push_back(mm.driver);
      by_driver[mm.driver].push_back(p);
    }
    for (const auto& d : order)
      if (by_driver[d].size() > 1) row(d, "all", by_driver[d]);
  };
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const Result*>> pooled;
  for (const auto& r : results) {
    emit(r.model, r.method, r.region, std::to_string(r.month), {&r});
    pooled[{r.model, r.method, r.region}].push_back(&r);
    pooled[{r.model, r.method, "all"}].push_back(&r);
  }
  for (const auto& [k, rs] : pooled)
    emit(std::get<0>(k), std::get<1>(k), std::get<2>(k), "all", rs);
  write_text_atomic(out_dir / "importance.csv", csv);

  // Driver ranking per (model, method), pooled over regions and months.
  for (const auto& [k, rs] : pooled) {
    if (std::get<2>(k) != "all") continue;
    const Result& first = *rs.front();
    std::map<std::string, double> total;
    std::size_t n = 0;
    for (const auto* r : rs) {
      n += r->samples;
      for (std::size_t i = 0; i < r->samples; ++i)
        for (std::size_t p = 0; p < r->players; ++p)
          total[first.meaning[p].driver] += std::abs(r->phi[i * r->players + p]);
    }
    std::vector<std::pair<double, std::string>> rank;
    for (const auto& [d, s] : total)
      rank.emplace_back(s / double(n), d);
    std::sort(rank.rbegin(), rank.rend());
    std::string line = fmt::format("{} {}:", std::get<0>(k), std::get<1>(k));
    for (const auto& [v, d] : rank)
      line += fmt::format(" {} {:.3g};", d, v);
    summary.lines.push_back(line);
  }
  return summary;
}

}  // namespace fluxkit

#include "fluxkit/models/artifact.hpp"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

std::string store_fingerprint(const SampleStore& s) {
  std::uint64_t h =
      fnv1a64(fmt::format("{}|{}|{}|{}|{}|{}", s.cells(), s.months(), fmt::join(s.header().features, ","),
                          s.window(), s.header().lead, s.header().target_start));
  for (std::size_t c = 0; c < s.cells(); ++c) {
    const auto in = s.inputs_of(c);
    const auto tg = s.target_of(c);
    h = fnv1a64(std::string_view(reinterpret_cast<const char*>(in.data()), in.size_bytes()), h);
    h = fnv1a64(std::string_view(reinterpret_cast<const char*>(tg.data()), tg.size_bytes()), h);
  }
  return "fnv1a64:" + hex64(h);
}

namespace {

template <class T>
toml::array to_array(const std::vector<T>& v) {
  toml::array a;
  for (const auto& e : v)
    a.push_back(e);
  return a;
}

toml::table info_table(const Model& model, const ArtifactInfo& i) {
  std::vector<std::int64_t> statics;
  for (bool b : i.shape.is_static)
    statics.push_back(b ? 1 : 0);
  toml::table t;
  t.insert("model", toml::table{{"type", i.type},
                                {"format_version", static_cast<std::int64_t>(i.format_version)},
                                {"layout", model.layout() == WindowLayout::Flat ? "flat" : "sequence"},
                                {"description", model.describe()}});
  t.insert("hyper_parameters", model.hyper_parameters());
  t.insert("input", toml::table{{"window", static_cast<std::int64_t>(i.shape.window)},
                                {"lead", static_cast<std::int64_t>(i.lead)},
                                {"features", to_array(i.shape.features)},
                                {"is_static", to_array(statics)}});
  t.insert("normalisation", toml::table{{"feature_mean", to_array(i.stats.feature_mean)},
                                        {"feature_std", to_array(i.stats.feature_std)},
                                        {"target_mean", i.stats.target_mean},
                                        {"target_std", i.stats.target_std},
                                        {"target", i.target},
                                        {"target_units", i.target_units}});
  t.insert("training",
           toml::table{{"train_store", i.train_store},
                       {"validation_store", i.validation_store},
                       {"train_fingerprint", i.train_fingerprint},
                       {"validation_fingerprint", i.validation_fingerprint},
                       {"train_experiment", i.train_experiment},
                       {"train_years", toml::array{static_cast<std::int64_t>(i.train_first_year),
                                                   static_cast<std::int64_t>(i.train_last_year)}},
                       {"validation_experiment", i.validation_experiment},
                       {"validation_years", toml::array{static_cast<std::int64_t>(i.validation_first_year),
                                                        static_cast<std::int64_t>(i.validation_last_year)}},
                       {"subsample_seed", static_cast<std::int64_t>(i.subsample_seed)},
                       {"best_epoch", static_cast<std::int64_t>(i.best_epoch)},
                       {"epochs", static_cast<std::int64_t>(i.epochs)},
                       {"best_validation_loss", i.best_validation_loss},
                       {"stop_reason", i.stop_reason},
                       {"seed", static_cast<std::int64_t>(i.seed)},
                       {"threads", static_cast<std::int64_t>(i.threads)}});
  t.insert("provenance", toml::table{{"software", i.provenance.software},
                                     {"git_commit", i.provenance.git_commit},
                                     {"config_hash", i.provenance.config_hash},
                                     {"creation_date", i.provenance.creation_date},
                                     {"command_line", i.provenance.command_line}});
  return t;
}

}  // namespace

void save_artifact(const fs::path& dir, const Model& model, const ArtifactInfo& info,
                   const fs::path& losses_csv) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.tmp-{}", dir.filename().string(), getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    model.save_weights(tmp);
    if (!losses_csv.empty() && fs::exists(losses_csv)) fs::copy_file(losses_csv, tmp / "losses.csv");
    std::ofstream out(tmp / "model.toml");
    out << "# fluxkit model artifact; see docs/models.md\n" << info_table(model, info) << "\n";
    out.close();
    if (!out) throw FileError((tmp / "model.toml").string(), "", "write failed");
    // Replace an older artifact only once the new one is complete.
    const fs::path old = parent / fmt::format(".{}.old-{}", dir.filename().string(), getpid());
    if (fs::exists(dir)) fs::rename(dir, old);
    fs::rename(tmp, dir);
    fs::remove_all(old);
    remove_stale_temporaries(dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

ArtifactInfo read_artifact_info(const fs::path& dir) {
  const fs::path file = dir / "model.toml";
  if (!fs::exists(file)) throw FileError(dir.string(), "", "not a model artifact (no model.toml)");
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw FileError(file.string(), "", fmt::format("unreadable: {}", e.description()));
  }
  auto need = [&](std::string_view path) -> toml::node_view<toml::node> {
    auto v = t.at_path(path);
    if (!v) throw FileError(file.string(), std::string(path), "missing");
    return v;
  };
  ArtifactInfo i;
  i.format_version = static_cast<int>(need("model.format_version").value_or<std::int64_t>(0));
  if (i.format_version > kArtifactVersion)
    throw FileError(file.string(), "model.format_version",
                    fmt::format("artifact format {} is newer than this fluxkit reads ({})", i.format_version,
                                kArtifactVersion));
  i.type = need("model.type").value_or<std::string>("");
  i.shape.window = static_cast<std::size_t>(need("input.window").value_or<std::int64_t>(0));
  i.lead = static_cast<int>(need("input.lead").value_or<std::int64_t>(0));
  for (const auto& f : *need("input.features").as_array())
    i.shape.features.push_back(f.value_or<std::string>(""));
  for (const auto& f : *need("input.is_static").as_array())
    i.shape.is_static.push_back(f.value_or<std::int64_t>(0) != 0);
  for (const auto& f : *need("normalisation.feature_mean").as_array())
    i.stats.feature_mean.push_back(f.value_or(0.0));
  for (const auto& f : *need("normalisation.feature_std").as_array())
    i.stats.feature_std.push_back(f.value_or(1.0));
  i.stats.target_mean = need("normalisation.target_mean").value_or(0.0);
  i.stats.target_std = need("normalisation.target_std").value_or(1.0);
  i.target = need("normalisation.target").value_or<std::string>("");
  i.target_units = t.at_path("normalisation.target_units").value_or<std::string>("");
  i.train_store = t.at_path("training.train_store").value_or<std::string>("");
  i.validation_store = t.at_path("training.validation_store").value_or<std::string>("");
  i.train_fingerprint = t.at_path("training.train_fingerprint").value_or<std::string>("");
  i.validation_fingerprint = t.at_path("training.validation_fingerprint").value_or<std::string>("");
  i.train_experiment = t.at_path("training.train_experiment").value_or<std::string>("");
  i.validation_experiment = t.at_path("training.validation_experiment").value_or<std::string>("");
  auto years = [&](const char* key, int& first, int& last) {
    const toml::array* a = t.at_path(key).as_array();
    if (a == nullptr) return;  // artifacts before the key: unknown
    if (a->size() != 2)
      throw FileError(file.string(), key, fmt::format("expected [first, last], got {} values", a->size()));
    first = static_cast<int>((*a)[0].value_or<std::int64_t>(0));
    last = static_cast<int>((*a)[1].value_or<std::int64_t>(0));
  };
  years("training.train_years", i.train_first_year, i.train_last_year);
  years("training.validation_years", i.validation_first_year, i.validation_last_year);
  i.subsample_seed =
      static_cast<std::uint64_t>(t.at_path("training.subsample_seed").value_or<std::int64_t>(0));
  i.best_epoch = static_cast<int>(t.at_path("training.best_epoch").value_or<std::int64_t>(0));
  i.epochs = static_cast<int>(t.at_path("training.epochs").value_or<std::int64_t>(0));
  i.best_validation_loss = t.at_path("training.best_validation_loss").value_or(0.0);
  i.stop_reason = t.at_path("training.stop_reason").value_or<std::string>("");
  i.seed = static_cast<std::uint64_t>(t.at_path("training.seed").value_or<std::int64_t>(0));
  i.threads = static_cast<int>(t.at_path("training.threads").value_or<std::int64_t>(0));
  i.provenance.software = t.at_path("provenance.software").value_or<std::string>("");
  i.provenance.git_commit = t.at_path("provenance.git_commit").value_or<std::string>("");
  i.provenance.config_hash = t.at_path("provenance.config_hash").value_or<std::string>("");
  i.provenance.creation_date = t.at_path("provenance.creation_date").value_or<std::string>("");
  i.provenance.command_line = t.at_path("provenance.command_line").value_or<std::string>("");
  const std::size_t F = i.shape.features.size();
  if (i.shape.is_static.size() != F || i.stats.feature_mean.size() != F || i.stats.feature_std.size() != F)
    throw FileError(file.string(), "input.features",
                    "feature list, static flags and statistics differ in length");
  return i;
}

LoadedModel load_artifact(const fs::path& dir) {
  LoadedModel m;
  m.info = read_artifact_info(dir);
  const toml::table t = toml::parse_file((dir / "model.toml").string());
  const toml::table* hp = t["hyper_parameters"].as_table();
  if (hp == nullptr) throw FileError((dir / "model.toml").string(), "hyper_parameters", "missing");
  try {
    m.model = make_model(m.info.type, m.info.shape, *hp);
  } catch (const FileError&) {
    throw;
  } catch (const Error& e) {
    throw FileError((dir / "model.toml").string(), "model.type", e.what());
  }
  m.model->load_weights(dir);
  return m;
}

void check_store_matches(const ArtifactInfo& info, const SampleStore& store) {
  const InputShape s = InputShape::of(store);
  if (s.features != info.shape.features)
    throw Error(fmt::format("{}: features [{}] differ from the model's [{}]", store.path().string(),
                            fmt::join(s.features, ", "), fmt::join(info.shape.features, ", ")));
  if (s.window != info.shape.window || store.header().lead != info.lead)
    throw Error(fmt::format("{}: window {} and lead {} differ from the model's window {} and lead {}",
                            store.path().string(), s.window, store.header().lead, info.shape.window,
                            info.lead));
  if (s.is_static != info.shape.is_static)
    throw Error(
        fmt::format("{}: static/dynamic feature flags differ from the model's", store.path().string()));
  // The store is normalised with its own copy of the training statistics: they must be the model's.
  auto same = [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(a)); };
  const auto& st = store.stats();
  bool equal = same(st.target_mean, info.stats.target_mean) && same(st.target_std, info.stats.target_std);
  for (std::size_t f = 0; equal && f < st.feature_mean.size(); ++f)
    equal = same(st.feature_mean[f], info.stats.feature_mean[f]) &&
            same(st.feature_std[f], info.stats.feature_std[f]);
  if (!equal)
    throw Error(
        fmt::format("{}: normalisation statistics differ from the model's (the store was prepared from "
                    "another training set)",
                    store.path().string()));
}

}  // namespace fluxkit

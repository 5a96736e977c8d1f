#include "fluxkit/models/ensemble.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

fs::path ensemble_member_dir(const fs::path& ensemble_dir, int member) {
  return ensemble_dir / fmt::format("member_{}", member);
}

EnsembleManifest make_ensemble_manifest(const std::string& type, std::uint64_t base_seed, int members) {
  EnsembleManifest m{type, base_seed, members, {}};
  for (int k = 0; k < members; ++k)
    m.member_dirs.push_back(fmt::format("member_{}", k));
  return m;
}

void write_ensemble_manifest(const fs::path& dir, const EnsembleManifest& m) {
  toml::array seeds, dirs;
  for (int k = 0; k < m.members; ++k)
    seeds.push_back(static_cast<std::int64_t>(m.base_seed + static_cast<std::uint64_t>(k)));
  for (const auto& d : m.member_dirs)
    dirs.push_back(d);
  const toml::table t{{"type", m.type},
                      {"members", static_cast<std::int64_t>(m.members)},
                      {"base_seed", static_cast<std::int64_t>(m.base_seed)},
                      {"seeds", seeds},
                      {"member_dirs", dirs}};
  std::ostringstream out;
  out << "# fluxkit model ensemble: members that differ only in their model seed (base_seed + k); see "
         "docs/models.md\n"
      << t << "\n";
  write_text_atomic(dir / kEnsembleManifest, out.str());
}

EnsembleManifest read_ensemble_manifest(const fs::path& dir) {
  const fs::path file = dir / kEnsembleManifest;
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw FileError(file.string(), "", fmt::format("unreadable: {}", e.description()));
  }
  EnsembleManifest m;
  const auto type = t["type"].value<std::string>();
  const auto members = t["members"].value<std::int64_t>();
  const auto seed = t["base_seed"].value<std::int64_t>();
  const toml::array* dirs = t["member_dirs"].as_array();
  if (!type) throw FileError(file.string(), "type", "missing");
  if (!members || *members < 1) throw FileError(file.string(), "members", "missing or < 1");
  if (!seed || *seed < 0) throw FileError(file.string(), "base_seed", "missing or < 0");
  if (dirs == nullptr || dirs->size() != static_cast<std::size_t>(*members))
    throw FileError(file.string(), "member_dirs", fmt::format("missing or not {} entries", *members));
  m.type = *type;
  m.members = static_cast<int>(*members);
  m.base_seed = static_cast<std::uint64_t>(*seed);
  for (const auto& d : *dirs) {
    const auto s = d.value<std::string>();
    if (!s || s->empty() || s->find('/') != std::string::npos)
      throw FileError(file.string(), "member_dirs", "entries must be directory names");
    m.member_dirs.push_back(*s);
  }
  return m;
}

bool is_ensemble(const fs::path& dir) {
  return !fs::exists(dir / "model.toml") && fs::exists(dir / kEnsembleManifest);
}

std::vector<fs::path> model_members(const fs::path& dir, std::vector<std::string>& missing) {
  if (fs::exists(dir / "model.toml")) return {dir};
  if (!fs::exists(dir / kEnsembleManifest)) {
    missing.push_back(fmt::format("artifact {}", dir.string()));
    return {};
  }
  const EnsembleManifest m = read_ensemble_manifest(dir);
  std::vector<fs::path> out;
  for (int k = 0; k < m.members; ++k) {
    const fs::path member = dir / m.member_dirs[static_cast<std::size_t>(k)];
    if (fs::exists(member / "model.toml"))
      out.push_back(member);
    else
      missing.push_back(fmt::format(
          "ensemble member artifact {} (member {} of {} listed in {}; train the ensemble again to finish it)",
          member.string(), k, m.members, (dir / kEnsembleManifest).string()));
  }
  return out;
}

bool artifact_up_to_date(const fs::path& dir, const std::string& type, std::uint64_t seed,
                         const std::string& train_fingerprint, const std::string& validation_fingerprint,
                         const toml::table& hyper_parameters) {
  const fs::path file = dir / "model.toml";
  if (!fs::exists(file)) return false;
  try {
    const toml::table t = toml::parse_file(file.string());
    const toml::table* hp = t["hyper_parameters"].as_table();
    return t["model"]["type"].value<std::string>() == type &&
           t["training"]["seed"].value<std::int64_t>() == static_cast<std::int64_t>(seed) &&
           t["training"]["train_fingerprint"].value<std::string>() == train_fingerprint &&
           t["training"]["validation_fingerprint"].value<std::string>() == validation_fingerprint &&
           hp != nullptr && *hp == hyper_parameters;
  } catch (const toml::parse_error&) {
    return false;
  }
}

void ensemble_mean_std(const std::vector<float>& values, std::size_t members, std::size_t stride,
                       std::vector<float>& mean, std::vector<float>& std) {
  if (members == 0 || values.size() != members * stride)
    throw Error(
        fmt::format("ensemble_mean_std: {} values for {} members of {}", values.size(), members, stride));
  constexpr float nan = std::numeric_limits<float>::quiet_NaN();
  mean.assign(stride, nan);
  std.assign(stride, nan);
  for (std::size_t i = 0; i < stride; ++i) {
    double s = 0;
    bool finite = true;
    for (std::size_t m = 0; m < members && finite; ++m) {
      const double v = values[m * stride + i];
      finite = std::isfinite(v);
      s += v;
    }
    if (!finite) continue;
    const double mu = s / static_cast<double>(members);
    double ss = 0;
    for (std::size_t m = 0; m < members; ++m) {
      const double d = values[m * stride + i] - mu;
      ss += d * d;
    }
    mean[i] = static_cast<float>(mu);
    std[i] = members > 1 ? static_cast<float>(std::sqrt(ss / static_cast<double>(members - 1))) : 0.0f;
  }
}

namespace {

// out[i] = mean over the members of what `member_values(k, buffer)` writes into buffer[size], summed in
// double in member order (the same numbers at any thread count).
template <class Fill>
void member_mean(std::size_t members, std::size_t size, std::span<float> out, const Fill& member_values) {
  std::vector<double> sum(size, 0.0);
  std::vector<float> buffer(size);
  for (std::size_t k = 0; k < members; ++k) {
    member_values(k, std::span<float>(buffer));
    for (std::size_t i = 0; i < size; ++i)
      sum[i] += buffer[i];
  }
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<float>(sum[i] / static_cast<double>(members));
}

}  // namespace

EnsembleMean::EnsembleMean(std::vector<std::unique_ptr<Model>> members) : members_(std::move(members)) {
  if (members_.empty()) throw Error("ensemble: an ensemble needs at least one member");
  const Model& first = *members_.front();
  for (std::size_t k = 1; k < members_.size(); ++k) {
    const Model& m = *members_[k];
    if (m.type() != first.type() || m.layout() != first.layout() || !(m.input_shape() == first.input_shape()))
      throw Error(fmt::format("ensemble: member {} is a '{}' model on other inputs than member 0 ('{}')", k,
                              m.type(), first.type()));
  }
}

std::string EnsembleMean::describe() const {
  return fmt::format("mean of {} members; member 0: {}", members_.size(), members_.front()->describe());
}

FitResult EnsembleMean::fit(const SampleStore&, const SampleStore&, const TrainOptions&, const Context&) {
  throw Error("ensemble: the members' mean is not trained as one model (`fluxkit train` trains its members)");
}

void EnsembleMean::predict(std::span<const float> x, std::size_t n, std::span<float> y,
                           const Context& ctx) const {
  if (y.size() != n) throw Error(fmt::format("ensemble: {} outputs for {} windows", y.size(), n));
  member_mean(members_.size(), n, y,
              [&](std::size_t k, std::span<float> out) { members_[k]->predict(x, n, out, ctx); });
}

bool EnsembleMean::predicts_concurrently() const {
  return std::all_of(members_.begin(), members_.end(),
                     [](const auto& m) { return m->predicts_concurrently(); });
}

void EnsembleMean::predict_with_attention(std::span<const float> x, std::size_t n, std::span<float> y,
                                          std::span<float> alpha, std::span<float> beta,
                                          const Context& ctx) const {
  // One pass per member gives all three; their means are taken together.
  const std::size_t na = alpha.size(), nb = beta.size(), size = n + na + nb;
  if (y.size() != n) throw Error(fmt::format("ensemble: {} outputs for {} windows", y.size(), n));
  std::vector<float> mean(size);
  member_mean(members_.size(), size, mean, [&](std::size_t k, std::span<float> out) {
    members_[k]->predict_with_attention(x, n, out.first(n), out.subspan(n, na), out.subspan(n + na, nb), ctx);
  });
  std::copy_n(mean.begin(), n, y.begin());
  std::copy_n(mean.begin() + static_cast<std::ptrdiff_t>(n), na, alpha.begin());
  std::copy_n(mean.begin() + static_cast<std::ptrdiff_t>(n + na), nb, beta.begin());
}

void EnsembleMean::predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                                         std::vector<float>& out, const Context& ctx) const {
  std::vector<float> member;
  std::vector<double> sum;
  for (const auto& m : members_) {
    m->predict_contributions(x, n, interactions, member, ctx);
    if (sum.empty()) sum.assign(member.size(), 0.0);
    if (member.size() != sum.size()) throw Error("ensemble: members give contributions of different sizes");
    for (std::size_t i = 0; i < member.size(); ++i)
      sum[i] += member[i];
  }
  out.resize(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i)
    out[i] = static_cast<float>(sum[i] / static_cast<double>(members_.size()));
}

std::string EnsembleMean::trees_ubjson() const {
  throw Error(
      fmt::format("ensemble: an ensemble of {} '{}' models has no single tree document (its members have "
                  "one each)",
                  members_.size(), type()));
}

void EnsembleMean::save_weights(const std::filesystem::path&) const {
  throw Error(
      "ensemble: the members' mean has no weights of its own (its members are saved by `fluxkit train`)");
}

void EnsembleMean::load_weights(const std::filesystem::path&) {
  throw Error("ensemble: the members' mean has no weights of its own (its members are loaded one by one)");
}

LoadedModel load_model_dir(const fs::path& dir) {
  std::vector<std::string> missing;
  const std::vector<fs::path> members = model_members(dir, missing);
  if (!missing.empty())
    throw FileError(dir.string(), "", fmt::format("missing {}", fmt::join(missing, "; ")));
  LoadedModel loaded = load_artifact(members.front());
  if (members.size() == 1) return loaded;
  std::vector<std::unique_ptr<Model>> models;
  models.push_back(std::move(loaded.model));
  for (std::size_t k = 1; k < members.size(); ++k) {
    LoadedModel member = load_artifact(members[k]);
    // Whoever reads the mean's info (statistics, stores) reads member 0's: the others must share it.
    const ArtifactInfo &first = loaded.info, &other = member.info;
    if (other.type != first.type || !(other.shape == first.shape) || other.target != first.target ||
        other.stats.feature_mean != first.stats.feature_mean ||
        other.stats.feature_std != first.stats.feature_std ||
        other.stats.target_mean != first.stats.target_mean ||
        other.stats.target_std != first.stats.target_std ||
        other.train_fingerprint != first.train_fingerprint)
      throw Error(
          fmt::format("ensemble {}: member {} ({}) differs from member 0 ({}) in its type, inputs, target, "
                      "normalisation or training store",
                      dir.string(), k, members[k].string(), members.front().string()));
    models.push_back(std::move(member.model));
  }
  loaded.model = std::make_unique<EnsembleMean>(std::move(models));
  return loaded;
}

}  // namespace fluxkit

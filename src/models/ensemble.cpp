#include "fluxkit/models/ensemble.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

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

}  // namespace fluxkit

#include "fluxkit/dataset/data_source.hpp"

#include <cmath>
#include <numbers>
#include <set>

#include <fmt/format.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit {

namespace {
std::pair<std::string, std::string> split_pair(const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) return {"", ""};
  return {s.substr(0, eq), s.substr(eq + 1)};
}
}  // namespace

bool is_static_feature(std::string_view f) {
  return f == "sin_lat" || f == "cos_lat" || f == "sin_lon" || f == "cos_lon";
}

double static_feature_value(std::string_view f, double lat, double lon) {
  const double d = std::numbers::pi / 180.0;
  if (f == "sin_lat") return std::sin(lat * d);
  if (f == "cos_lat") return std::cos(lat * d);
  if (f == "sin_lon") return std::sin(lon * d);
  if (f == "cos_lon") return std::cos(lon * d);
  throw Error(fmt::format("'{}' is not a position encoding", f));
}

void DataParams::validate() const {
  for (const auto& p : experiment_tags)
    if (split_pair(p).first.empty())
      config::invalid(kSection, "experiment_tags", fmt::format("'{}' is not of the form experiment=tag", p));
  for (const auto& p : variable_names)
    if (split_pair(p).first.empty())
      config::invalid(kSection, "variable_names",
                      fmt::format("'{}' is not of the form feature=file_variable", p));
  if (features.empty()) config::invalid(kSection, "features", "must name at least one feature");
  std::set<std::string> seen;
  for (const auto& f : features)
    if (!seen.insert(f).second) config::invalid(kSection, "features", fmt::format("'{}' is listed twice", f));
  if (seen.contains(target))
    config::invalid(kSection, "target", fmt::format("'{}' is also a feature", target));
  if (file_pattern.find("{year}") == std::string::npos)
    config::invalid(kSection, "file_pattern", "must contain {year} (one file per year)");
  try {
    synth::expand_pattern(file_pattern, "e", "t", 2000);
  } catch (const Error& e) {
    config::invalid(kSection, "file_pattern", e.what());
  }
}

std::string DataParams::tag_of(std::string_view experiment) const {
  std::vector<std::string> known;
  for (const auto& p : experiment_tags) {
    auto [name, tag] = split_pair(p);
    if (name == experiment) return tag;
    known.push_back(name);
  }
  throw Error(fmt::format("experiment '{}' has no file tag in [data] experiment_tags (known: {})", experiment,
                          fmt::join(known, ", ")));
}

std::filesystem::path DataParams::file(std::string_view experiment, int year) const {
  return std::filesystem::path(root) /
         synth::expand_pattern(file_pattern, experiment, tag_of(experiment), year);
}

std::string DataParams::file_variable(std::string_view feature) const {
  for (const auto& p : variable_names) {
    auto [name, var] = split_pair(p);
    if (name == feature) return var;
  }
  return std::string(feature);
}

}  // namespace fluxkit

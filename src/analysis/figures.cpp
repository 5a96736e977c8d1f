#include "fluxkit/analysis/figures.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/config.hpp"

namespace fluxkit {

const std::vector<std::string>& figure_families() {
  static const std::vector<std::string> families = {
      "maps",          "differences",    "errors",  "annual",    "seasonal", "scatter", "losses",
      "ensemble_maps", "ensemble_bands", "explore", "signature", "explain",  "tuning"};
  return families;
}

void FiguresParams::validate() const {
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
  if (months.empty()) config::invalid(kSection, "months", "must name at least one month");
  for (auto m : months)
    if (m < 1 || m > 12) config::invalid(kSection, "months", fmt::format("{} is not a month (1-12)", m));
  if (map_year < 0) config::invalid(kSection, "map_year", "must be 0 (the last evaluated year) or a year");
  if (formats.empty()) config::invalid(kSection, "formats", "must name at least one format");
  for (const auto& f : formats)
    if (f != "png" && f != "pdf" && f != "svg")
      config::invalid(kSection, "formats", fmt::format("'{}' is not one of png, pdf, svg", f));
  if (dpi < 30 || dpi > 1200) config::invalid(kSection, "dpi", "must be within 30..1200");
  std::set<std::string> seen;
  for (const auto& f : families) {
    const auto& known = figure_families();
    if (std::find(known.begin(), known.end(), f) == known.end())
      config::invalid(kSection, "families",
                      fmt::format("unknown family '{}' (known: {})", f, fmt::join(known, ", ")));
    if (!seen.insert(f).second) config::invalid(kSection, "families", fmt::format("'{}' is listed twice", f));
  }
  if (scatter_bins < 10 || scatter_bins > 2000)
    config::invalid(kSection, "scatter_bins", "must be within 10..2000");
}

void ReportParams::validate() const {
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
}

}  // namespace fluxkit

// The configuration of the figures and of the HTML report. Both are drawn by fluxkit's Python layer
// (python/fluxkit/figures, python/fluxkit/report.py) from the files the other stages wrote; `fluxkit figures`
// and `fluxkit report` validate the configuration and hand Python the effective one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit {

// The figure families python/fluxkit/figures draws, in order.
const std::vector<std::string>& figure_families();

struct FiguresParams {
  static constexpr std::string_view kSection = "figures";
  static constexpr std::string_view kDoc =
      "Figures (`fluxkit figures`, drawn by the Python layer from the caches, evaluation tables and fields, "
      "loss "
      "tables and exploration tables): maps, differences, error maps, annual means, seasonal cycles, density "
      "scatter, losses, data exploration.";

  std::string output_dir = "figures";
  std::vector<std::int64_t> months = {1, 7};
  std::int64_t map_year = 0;
  std::vector<std::string> formats = {"png"};
  std::int64_t dpi = 150;
  std::vector<std::string> families = {};
  std::int64_t scatter_bins = 150;

  template <class V>
  void visit(V&& v) {
    v("output_dir", output_dir, "Directory the figures and their list figures.json are written to.");
    v("months", months, "Months (1-12) shown as the columns of the maps.");
    v("map_year", map_year, "Year of the maps; 0 = the last year of [evaluate] years.");
    v("formats", formats, "File formats: `png`, `pdf`, `svg` (each figure in every format).");
    v("dpi", dpi, "Resolution of PNG files, dots per inch.");
    v("families", families,
      "Figure families to draw (empty = all): `maps`, `differences`, `errors`, `annual`, `seasonal`, "
      "`scatter`, `losses`, `ensemble_maps`, `ensemble_bands` (drawn only for models evaluated as "
      "ensembles), `explore`, `signature` (the ocean signature of `fluxkit transport ocean-signature`), "
      "`explain` (`fluxkit explain`: "
      "importance bars, beeswarms, attention maps), `tuning` (`fluxkit tune`: optimisation history, "
      "parameter importances).");
    v("scatter_bins", scatter_bins, "Bins per axis of the density scatter plots.");
  }
  void validate() const;
};

struct ReportParams {
  static constexpr std::string_view kSection = "report";
  static constexpr std::string_view kDoc =
      "The HTML report (`fluxkit report`): configuration, provenance, rankings, metric tables, every figure "
      "of `fluxkit figures` and the losses, in one folder that opens offline.";

  std::string output_dir = "report";
  std::string title = "fluxkit run report";

  template <class V>
  void visit(V&& v) {
    v("output_dir", output_dir, "Directory of the report: index.html and img/.");
    v("title", title, "Title of the page.");
  }
  void validate() const;
};

}  // namespace fluxkit

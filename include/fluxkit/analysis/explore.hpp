// `fluxkit explore`: the data exploration of the seed (its data_exploration_*.py scripts) without
// concatenating 61 years into one table. For every experiment and region it streams over the yearly files,
// one (year, month) at a time, and computes:
//   * the z-score parameters of each variable (the dynamic [data] features and the target): mean and standard
//     deviation (ddof 1) over every ocean cell and month of the years, as the seed z-scores each variable
//     with the statistics of its own concatenated table;
//   * the monthly climatology of the z-scored variables (mean and spread per calendar month);
//   * the distribution of the z-scored values in the chosen months: a histogram over [-range, range] and a
//     Gaussian kernel density estimate with Scott's bandwidth (as seaborn's kdeplot / scipy's gaussian_kde),
//     computed from a fine histogram (binned KDE, error far below the plotted resolution);
//   * Pearson correlation matrices of the variables for every calendar month and over all months.
// Two passes: the first over every file for moments, climatology and correlations, the second (only the
// chosen months) for the distributions, whose bins need the z-score parameters. The second pass takes the
// chosen months' region values kept from the first, up to keep_mb, and reads the files again only for the
// rest. Memory is bounded by one month of the variables over the regions' rows plus keep_mb: nothing grows
// with the years.
//
// Cells: the ocean cells (tmask == 1) of the region, each location once (ORCA halo columns and north-fold
// repeats removed, as `fluxkit prepare`). Means and distributions skip NaN values per variable; correlations
// use the (cell, month) rows where every variable is finite.
//
// Files written into [explore] output_dir (CSV, one header line, 9 significant digits, NaN as "nan"):
//   statistics.csv     experiment, region, variable, units, n, mean, std, min, max
//   climatology.csv    experiment, region, variable, month, n, mean, mean_z, std_z
//   distributions.csv  experiment, region, variable, month, z_lower, z_upper, count, density, kde
//                      (density = count / (n * bin width), n counting the values outside the range too; kde
//                      at the bin centre, NaN when the month's values are constant)
//   correlations.csv   experiment, region, month (0 = all months), variable_a, variable_b, n, r
// Every file is written atomically after everything is computed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/data_source.hpp"
#include "fluxkit/dataset/regions.hpp"

namespace fluxkit {

struct ExploreParams {
  static constexpr std::string_view kSection = "explore";
  static constexpr std::string_view kDoc =
      "Data exploration (`fluxkit explore`): per experiment and region, the monthly climatology, "
      "distributions "
      "and correlation matrices of the z-scored drivers and target, streamed over the yearly files.";

  std::vector<std::string> experiments = {"experiment_1", "experiment_5"};
  std::vector<std::string> regions = {"north_atlantic", "southern_ocean"};
  std::vector<std::int64_t> years = {1958, 2018};
  std::vector<std::int64_t> months = {1, 7};
  std::vector<std::string> variables = {};
  std::int64_t bins = 80;
  double range = 4.0;
  double keep_mb = 256.0;
  std::string output_dir = "exploration";
  std::vector<std::string> custom_regions = {};

  template <class V>
  void visit(V&& v) {
    v("experiments", experiments, "Experiments explored.");
    v("regions", regions,
      "Regions: `global`, `north_atlantic`, `southern_ocean`, `arctic`, `equatorial_pacific` or a name from "
      "custom_regions.");
    v("years", years, "First and last year read.");
    v("months", months, "Months (1-12) whose distributions are computed.");
    v("variables", variables,
      "Variables (file variables of [data]); empty = the dynamic [data] features and the target.");
    v("bins", bins, "Histogram bins over [-range, range] of the z-scored values.");
    v("range", range, "Half-width of the distributions' z range (the seed's KDE clip = 4).");
    v("keep_mb", keep_mb,
      "Memory (MB) for the chosen months' region values kept from the first pass for the distributions; "
      "months beyond it are read from the files again (0 = always). The tables do not depend on it.");
    v("output_dir", output_dir, "Directory the tables are written to.");
    v("custom_regions", custom_regions,
      "User regions \"name: lat_min, lat_max, lon_min, lon_max\" (as [prepare] custom_regions).");
  }
  void validate() const;

  std::vector<Region> user_regions() const;
};

// ---- streaming statistics (pure, tested)
// ----------------------------------------------------------------------

// Count, mean and sum of squared deviations with Chan's merge; min and max.
struct RunningMoments {
  double n = 0, mean = 0, m2 = 0;
  double min = 0, max = 0;
  void add(std::span<const double> values);  // NaN values are skipped
  void merge(const RunningMoments& other);
  double variance_ddof1() const;  // NaN for n < 2
};

// Co-moments of V variables over complete rows (every variable finite), mergeable.
struct CoMoments {
  std::size_t v = 0;
  double n = 0;
  std::vector<double> mean;  // [v]
  std::vector<double> c;     // [v * v] sum of products of deviations
  explicit CoMoments(std::size_t variables = 0)
      : v(variables), mean(variables, 0), c(variables * variables, 0) {}
  // rows: [n_rows * v] row-major; rows with a NaN are skipped.
  void add_rows(std::span<const double> rows);
  void merge(const CoMoments& other);
  double correlation(std::size_t a, std::size_t b) const;  // NaN when a variable is constant or n < 2
};

// Gaussian KDE with Scott's bandwidth (std ddof 1 * n^(-1/5)) evaluated at `points`, from a fine histogram of
// the data (counts over equal bins starting at `lo` of width `width`, values outside ignored), with `n`,
// `mean` and `m2` the moments of all the data. NaN everywhere when the data are constant or n < 2.
std::vector<double> binned_kde(std::span<const double> counts, double lo, double width, double n, double m2,
                               std::span<const double> points);

struct ExploreSummary {
  std::filesystem::path output_dir;
  std::size_t files_read = 0;
  std::size_t values = 0;  // cell-month values accumulated (first pass, all variables)
  std::vector<std::filesystem::path> files;
};

// Runs the exploration (checks first that every yearly file exists: one Error naming all missing ones).
ExploreSummary explore(const ExploreParams& params, const DataParams& data, const Context& ctx,
                       const Provenance& provenance);

}  // namespace fluxkit

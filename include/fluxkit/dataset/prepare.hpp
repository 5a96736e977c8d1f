// `fluxkit prepare`: builds the training, validation and yearly test sample stores from an experiment's
// yearly files (as the thesis preprocessing), streaming by bands of grid rows so memory stays bounded
// whatever the grid size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/data_source.hpp"
#include "fluxkit/dataset/regions.hpp"

namespace fluxkit {

struct PrepareParams {
  static constexpr std::string_view kSection = "prepare";
  static constexpr std::string_view kDoc =
      "Sample preparation (`fluxkit prepare`): subsampling, splits by years, regions, windows, "
      "normalisation.";

  std::string output_dir = "data/samples";
  std::vector<std::string> splits = {"train", "validation", "test"};
  std::int64_t window = 4;
  std::int64_t lead = 0;
  std::string subsample = "fluxkit";
  std::int64_t seed = -1;
  std::string train_experiment = "experiment_5";
  std::vector<std::int64_t> train_years = {1958, 1988};
  double train_fraction = 0.01;
  std::string train_region = "global";
  std::string validation_experiment = "experiment_5";
  std::vector<std::int64_t> validation_years = {1989, 2008};
  double validation_fraction = 0.01;
  std::string validation_region = "global";
  bool validation_context = true;
  std::vector<std::string> test_experiments = {"experiment_1"};
  std::vector<std::int64_t> test_years = {2009, 2018};
  std::vector<std::string> test_regions = {"global", "north_atlantic", "southern_ocean"};
  double test_fraction = 1.0;
  std::vector<std::string> custom_regions = {};
  std::int64_t band_megabytes = 512;
  bool allow_overlap = false;
  std::string statistics = "";

  template <class V>
  void visit(V&& v) {
    v("output_dir", output_dir, "Directory the sample stores are written under.");
    v("splits", splits, "Which stores to build: `train`, `validation`, `test`.");
    v("window", window, "Months per input window (the target month and the W-1 before it).");
    v("lead", lead,
      "Forecast lead in months: the window ends `lead` months before the target month (0 = nowcast, as the "
      "seed).");
    v("subsample", subsample,
      "Spatial subsampling: `fluxkit` (seeded hash of the grid index: stable, nested fractions) or `numpy` "
      "(exactly "
      "the cells of pandas `sample(frac, random_state=seed)` on the coordinate table, as the Python "
      "pipeline).");
    v("seed", seed,
      "Seed of the cell subsample; -1 = [run] seed. Fixing it keeps the same training, validation and test "
      "cells while [train] seed varies (a seed ensemble of models on the same data).");
    v("train_experiment", train_experiment, "Experiment the training set comes from.");
    v("train_years", train_years, "First and last year of the training targets.");
    v("train_fraction", train_fraction, "Fraction of ocean cells in the training set.");
    v("train_region", train_region, "Region of the training set.");
    v("validation_experiment", validation_experiment, "Experiment the validation set comes from.");
    v("validation_years", validation_years, "First and last year of the validation targets.");
    v("validation_fraction", validation_fraction,
      "Fraction of ocean cells in the validation set (same seed: the same cells as training).");
    v("validation_region", validation_region, "Region of the validation set.");
    v("validation_context", validation_context,
      "Take the first windows' input months from the year before the validation years, so January-March "
      "targets "
      "are kept (the seed lost them).");
    v("test_experiments", test_experiments, "Experiments test sets are built for.");
    v("test_years", test_years, "First and last test year; one store per (experiment, region, year).");
    v("test_regions", test_regions,
      "Regions of the test sets: `global`, `north_atlantic`, `southern_ocean`, `arctic`, "
      "`equatorial_pacific` or a "
      "name from custom_regions.");
    v("test_fraction", test_fraction, "Fraction of ocean cells in the test sets (1 = all).");
    v("custom_regions", custom_regions,
      "User regions \"name: lat_min, lat_max, lon_min, lon_max\" (closed; lon_min > lon_max crosses the "
      "dateline).");
    v("band_megabytes", band_megabytes, "Memory budget for the cells streamed at once (bounds peak memory).");
    v("allow_overlap", allow_overlap,
      "Allow test years that overlap the training or validation years of the same experiment (an error "
      "otherwise: such test scores are in-sample).");
    v("statistics", statistics,
      "Normalisation statistics of every store instead of the training cell-months': a model artifact "
      "directory (e.g. from `fluxkit import-weights`) or the Python pipeline's training_stats.pkl; its "
      "features "
      "must be [data] features. Empty: computed from the training store (read from train.nc when it is not "
      "rebuilt).");
  }
  void validate() const;

  // The seed of the cell subsample: `seed`, or the run's seed when it is -1.
  std::uint64_t subsample_seed(const Context& ctx) const;

  std::vector<Region> user_regions() const;
  std::filesystem::path train_path() const;
  std::filesystem::path validation_path() const;
  std::filesystem::path test_path(std::string_view experiment, std::string_view region, int year) const;
};

struct StoreSummary {
  std::filesystem::path path;
  std::string split, experiment, region;
  int first_year = 0, last_year = 0;
  std::size_t cells = 0, windows = 0, dropped_cells = 0;
};

std::vector<StoreSummary> prepare_samples(const PrepareParams& params, const DataParams& data,
                                          const Context& ctx, const Provenance& provenance);

}  // namespace fluxkit

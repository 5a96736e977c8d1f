// `fluxkit evaluate`: scores the reconstructions against the simulation. It reads only the reconstruction
// caches (include/fluxkit/reconstruct/cache.hpp), never the models, and writes tables (CSV) and per-cell
// error fields (netCDF) into [evaluate] output_dir (docs/evaluation.md).
//
// Conventions:
//   * error e = reconstructed - simulated (so bias > 0 means the model over-estimates the flux);
//   * R^2 as sklearn r2_score(simulated, reconstructed): 1 - SS_res / SS_tot, SS_res = sum w (rec - sim)^2,
//     SS_tot = sum w (sim - mean_w(sim))^2; it can be negative; a constant simulated series gives 1 when the
//     reconstruction is perfect and 0 otherwise (sklearn's force_finite);
//   * Pearson r with the same weights (weighted covariance over the weighted standard deviations); NaN when
//     either series is constant;
//   * weighting "unweighted" = every (cell, month) counts once (as the seed); "area" = weights are the cell
//     areas (cells without a finite positive area are left out of every area-weighted number);
//   * seasons by calendar month: 12, 1, 2 -> DJF; 3-5 -> MAM; 6-8 -> JJA; 9-11 -> SON. [evaluate] december
//     says which DJF a December belongs to: "next_year" (default, meteorological: December 2009 and
//     January-February 2010 form "2010-DJF") or "same_year" (December 2009 with January-February 2009). Only
//     complete seasons (all three months evaluated) are scored;
//   * only pairs where both values are finite (the cache's sample cells) enter any metric; regional means are
//     over those pairs, the simulated integrated flux over every ocean cell of the region;
//   * evaluated years that the models were trained or validated on (same experiment) are an error unless
//     [evaluate] allow_overlap = true.
//
// Files written into output_dir (all CSV with a header line; numbers with 9 significant digits, NaN as
// "nan"):
//   metrics.csv            model, experiment, region, weighting [unweighted|area],
//                          period_type [overall|year|month|season|season_year],
//                          period [all | YYYY | 1-12 | DJF... | YYYY-DJF...], n, mse, rmse, mae, bias, r2,
//                          pearson_r
//   timeseries_monthly.csv model, experiment, region, year, month, ocean_area_m2, simulated_area_m2,
//                          sampled_area_m2, area_fraction, sim_mean, rec_mean, diff_mean, sim_integrated,
//                          sim_integrated_extrapolated, rec_integrated_extrapolated, integrated_units
//                          (areas: the region's ocean cells, those with a simulated value, the sampled
//                          cells; area_fraction = sampled / ocean; means: area-weighted over the sampled
//                          cells, diff = rec - sim; sim_integrated = sum of flux * area over the region's
//                          ocean cells; *_extrapolated = sampled mean * ocean area; integrated fluxes for
//                          "mol m-2 yr-1" in "Pg C yr-1" (* 12.011e-15), otherwise in "<target_units> m2")
//   timeseries_annual.csv  the same per year (without month): areas averaged over the months, means over all
//                          sampled cells and months, integrated = mean of the monthly integrated fluxes
//   training.csv           model, experiment, region, train_experiment, train_years, validation_experiment,
//                          validation_years, overlap_years (what each model was trained on, from the caches;
//                          "unknown" when the artifact did not record it)
//   seasonal_cycle.csv     model, experiment, region, month, sim_mean, rec_mean, sim_std_cells, rec_std_cells
//                          (12-month climatology over the years of the area-weighted regional mean; std = the
//                          area-weighted standard deviation across cells of the per-cell climatology)
//   seasonal_summary.csv   model, experiment, region, sim_amplitude, rec_amplitude, amplitude_error,
//                          sim_peak_month, rec_peak_month, phase_error_months
//                          (amplitude = max - min of the climatology; amplitude_error = rec - sim; phase
//                          error = rec_peak - sim_peak wrapped to (-6, 6], months)
//   scatter_fit.csv        model, experiment, region, n, slope, intercept (OLS of reconstructed on simulated)
//   ranking.csv            experiment, region, rank, model, rmse, mse, r2 (overall unweighted; rank 1 =
//   lowest
//                          RMSE; ties keep the order of [evaluate] models)
//   model_metrics_<experiment>_<region>.csv
//                          the thesis' model_metrics.py table: Region, Model, Month, MSE, RMSE,
//                          MAE; Region is the seed's display name ("Global", "North Atlantic", ...), Month
//                          "Overall"
//   fields/<model>_<experiment>_<region>_errors.nc
//                          per-cell fields on the cache's grid box (y, x): simulated_mean,
//                          reconstructed_mean, mean_difference (rec - sim), rmse, pearson_r (over the months
//                          of all years), n_months, with y_index, x_index, nav_lat, nav_lon, area,
//                          sample_mask; NaN outside samples
//   ensemble_calibration.csv
//                          model, experiment, region, members, n, within_1sigma, within_2sigma, mean_std,
//                          rmse, spread_error_ratio: for every ensemble ([train] ensemble > 1; single models
//                          have no row), over the (cell, month) pairs of all years where the simulation, the
//                          ensemble mean and its standard deviation sigma are finite, unweighted: the
//                          fraction of simulated values with |sim - mean| <= sigma (<= 2 sigma), the mean
//                          sigma, the RMSE of the mean and their ratio mean_std / rmse (1 for a calibrated
//                          ensemble, < 1 for an over-confident one). A Gaussian ensemble spread that matches
//                          the error gives fractions near 0.683 and 0.954.
//   ensemble_spread.csv    model, experiment, region, period_type [month|year|climatology], year, month,
//                          members, sim_mean, rec_mean, member_std, member_min, member_max: the area-weighted
//                          regional mean of every member over the sampled cells (as rec_mean of the time
//                          series), and its standard deviation (N - 1 in the denominator), minimum and
//                          maximum across the members; rec_mean is the ensemble mean's (= the members' mean).
//                          Month rows have year and month, year rows the year (month empty), climatology rows
//                          the month (year empty; the 12-month climatology over the years)
//   fields/..._errors.nc   for an ensemble also ensemble_std: the time mean over the months of all years of
//   the
//                          ensemble standard deviation per cell
//
// Nothing is written when an error occurs: every cache is checked to exist first (one Error naming all that
// are missing), everything is computed, then every file is written atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/regions.hpp"

namespace fluxkit {

struct EvaluateParams {
  static constexpr std::string_view kSection = "evaluate";
  static constexpr std::string_view kDoc =
      "Evaluation of the reconstructions (`fluxkit evaluate`): metrics, regional time series, seasonal "
      "cycles, error maps and model ranking, from the reconstruction caches.";

  std::string caches_dir = "reconstruction";
  std::vector<std::string> models = {"mlp", "lstm", "attention_lstm", "xgboost"};
  std::vector<std::string> experiments = {"experiment_1"};
  std::vector<std::string> regions = {"global", "north_atlantic", "southern_ocean"};
  std::vector<std::int64_t> years = {2009, 2018};
  std::string output_dir = "evaluation";
  std::vector<std::string> custom_regions = {};
  std::string december = "next_year";
  bool allow_overlap = false;

  template <class V>
  void visit(V&& v) {
    v("caches_dir", caches_dir,
      "Root of the reconstruction caches (<caches_dir>/<experiment>/<RegionDir>/"
      "<model>_<RegionDir>_reconstruction_<year>_<experiment>.nc).");
    v("models", models, "Models to evaluate (the model names in the cache file names).");
    v("experiments", experiments, "Experiments to evaluate.");
    v("regions", regions,
      "Regions to evaluate: `global`, `north_atlantic`, `southern_ocean`, `arctic`, `equatorial_pacific` or "
      "a "
      "name from custom_regions.");
    v("years", years, "First and last year evaluated; every year's cache must exist.");
    v("output_dir", output_dir, "Directory the tables and error fields are written to.");
    v("custom_regions", custom_regions,
      "User regions \"name: lat_min, lat_max, lon_min, lon_max\" (as [prepare] custom_regions; used to find "
      "the regions' directory names).");
    v("december", december,
      "Season convention: `next_year` = meteorological DJF, December counts with the following "
      "January-February (DJF 2010 = December 2009 + January-February 2010; only complete seasons are "
      "scored); `same_year` = December with January-February of its own calendar year.");
    v("allow_overlap", allow_overlap,
      "Evaluate years that the models were trained or validated on in the same experiment (in-sample "
      "scores; an error otherwise). The tables record what every model was trained on either way.");
  }
  void validate() const;

  std::vector<Region> user_regions() const;
};

// ---- metrics (pure functions)
// ------------------------------------------------------------------------------

struct Metrics {
  std::size_t n = 0;  // pairs used
  double mse = 0, rmse = 0, mae = 0, bias = 0, r2 = 0, pearson_r = 0;
};

// Streaming, mergeable accumulator of weighted first and second moments of (sim, rec) pairs (West's weighted
// update, Chan's merge), so metrics over millions of values need no second pass and stay accurate.
class MetricsAccumulator {
 public:
  // Adds a pair; ignored when sim or rec is not finite or the weight is not finite and > 0.
  void add(double sim, double rec, double weight = 1.0);
  void merge(const MetricsAccumulator& other);

  std::size_t n() const { return n_; }
  double weight_sum() const { return w_; }
  double mean_sim() const { return mean_x_; }
  double mean_rec() const { return mean_y_; }
  // All NaN when n() == 0.
  Metrics metrics() const;
  double ols_slope() const;      // cov(sim, rec) / var(sim); NaN when var(sim) == 0
  double ols_intercept() const;  // mean(rec) - slope * mean(sim)

 private:
  std::size_t n_ = 0;
  double w_ = 0;                        // sum of weights
  double mean_x_ = 0, mean_y_ = 0;      // weighted means of sim (x) and rec (y)
  double m2x_ = 0, m2y_ = 0, cxy_ = 0;  // weighted sums of squared deviations / co-deviations
  double sse_ = 0, sae_ = 0, se_ = 0;   // weighted sums of e^2, |e|, e with e = rec - sim
};

// Metrics of rec against sim; weights empty = unweighted, otherwise one weight per pair (same length). Pairs
// with a non-finite value or a non-finite or non-positive weight are skipped. Throws Error on length
// mismatch.
Metrics compute_metrics(std::span<const double> sim, std::span<const double> rec,
                        std::span<const double> weights = {});

// Ordinary least squares of rec on sim (rec ~ slope * sim + intercept), unweighted, as the seed's
// LinearRegression in the thesis' scatter plots.
struct OlsFit {
  double slope = 0, intercept = 0;
  std::size_t n = 0;
};
OlsFit ols_fit(std::span<const double> sim, std::span<const double> rec);

// Calibration of an ensemble's spread against the simulation (ensemble_calibration.csv): a pair counts when
// sim, mean and std are all finite (and std >= 0); |sim - mean| <= k * std counts as inside (so std = 0 and
// sim = mean is inside).
struct EnsembleCalibration {
  std::size_t n = 0;
  double within_1sigma = 0, within_2sigma = 0;  // fractions in [0, 1]
  double mean_std = 0, rmse = 0;
  double spread_error_ratio = 0;  // mean_std / rmse; NaN when rmse == 0
};
class CalibrationAccumulator {
 public:
  void add(double sim, double mean, double std);
  void merge(const CalibrationAccumulator& other);
  std::size_t n() const { return n_; }
  // All NaN when n() == 0.
  EnsembleCalibration result() const;

 private:
  std::size_t n_ = 0, in1_ = 0, in2_ = 0;
  double sum_std_ = 0, sse_ = 0;
};
EnsembleCalibration ensemble_calibration(std::span<const double> sim, std::span<const double> mean,
                                         std::span<const double> std);

// "DJF" for 12, 1, 2; "MAM" for 3-5; "JJA" for 6-8; "SON" for 9-11. Throws Error outside 1-12.
const char* season_of(int month);
// 0 = DJF, 1 = MAM, 2 = JJA, 3 = SON.
int season_index(int month);

// The year a month's season belongs to: the calendar year, except December with december = "next_year"
// (meteorological DJF), which belongs to the next year's DJF. Throws Error for a month outside 1-12 or an
// unknown convention.
int season_year(int year, int month, std::string_view december);
// Whether all three months of season `season` (0 = DJF ... 3 = SON) of `season_year` lie in the evaluated
// years [first, last]: always for same_year within [first, last]; with next_year, DJF of the first year
// (whose December precedes it) and of last + 1 are incomplete.
bool season_complete(int season_year, int season, int first, int last, std::string_view december);

// Month difference b - a wrapped to (-6, 6] (e.g. 12 -> 1 is +1, 1 -> 12 is -1, 6 months apart is +6).
int wrap_month_difference(int a, int b);

// Integrated flux conversion: for target units "mol m-2 yr-1" the factor 12.011e-15 (mol -> Pg C) and units
// "Pg C yr-1"; otherwise 1 and "<units> m2".
struct IntegratedUnits {
  double factor = 1;
  std::string units;
};
IntegratedUnits integrated_units(std::string_view target_units);

// ---- the evaluation
// ----------------------------------------------------------------------------------------

// Overall scores of one (model, experiment, region) over all evaluated years.
struct ModelEvaluation {
  std::string model, experiment, region;
  std::string target_units;
  Metrics unweighted, area;  // area-weighted
  OlsFit fit;
  int members = 1;                  // ensemble members (1 = a single model)
  EnsembleCalibration calibration;  // ensembles only
  int rank = 0;                     // within (experiment, region) by unweighted RMSE, 1 = best
};

struct EvaluationSummary {
  std::filesystem::path output_dir;
  int first_year = 0, last_year = 0;
  std::size_t caches_read = 0;
  std::vector<ModelEvaluation> entries;      // in the order experiment, region, model (config order)
  std::vector<std::filesystem::path> files;  // every file written
};

// Runs the evaluation: checks that every cache exists (one Error naming all missing model, experiment,
// region, years and paths), reads each (model, experiment, region)'s caches one year at a time (FileError
// naming both files when grids, coordinates or units differ between years), then writes every table and field
// file.
EvaluationSummary evaluate(const EvaluateParams& params, const Context& ctx, const Provenance& provenance);

// The evaluation table printed by the CLI: overall unweighted and area-weighted RMSE and R^2 per model.
std::string format_summary(const EvaluationSummary& summary);

}  // namespace fluxkit

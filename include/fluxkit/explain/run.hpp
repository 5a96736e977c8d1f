// `fluxkit explain`: explains chosen models on chosen test stores ([explain] section) and saves the numbers
// (docs/explain.md).
//
// For every model, method, region and month: n_samples windows of the test store of (experiment, region,
// year) whose target month is that month, chosen by a seeded shuffle; a background of background_size windows
// of the background store (the training store the model learnt from, or the test store), optionally
// summarised by weighted k-means. Files under output_dir:
//   <model>/<method>_<experiment>_<region>_<year>_<MM>.nc
//       per sample: phi[sample, player], base_value[sample], prediction[sample] (f(x)), inputs[sample,
//       column] (normalised model inputs), lat/lon/window of the sample; per player: player_lag (months, -1
//       static), player_driver (index into the global attribute `drivers`); for `attention` also
//       alpha[sample, step, feature] and beta[sample, step]. Units: the model's normalised target (attribute
//       target_std converts).
//   importance.csv
//       model, method, experiment, region, year, month (1-12 or "all"), driver, lag (months, -1 static, "all"
//       = summed over lags per sample), n, mean_abs_phi, ci_low, ci_high (bootstrap percentile interval over
//       samples, [explain] bootstrap resamples, level confidence)
// Resume: samples are computed in chunks, each saved on completion under <file>.partial/; a rerun with the
// same configuration reuses the finished chunks and files (also with another number of MPI ranks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit {

class Communicator;
struct PrepareParams;
struct TrainParams;

struct ExplainParams {
  static constexpr std::string_view kSection = "explain";
  static constexpr std::string_view kDoc =
      "Explanations of the models' predictions (`fluxkit explain`): KernelSHAP, TreeSHAP (path-dependent and "
      "interventional) and attention weights, per sample and aggregated (docs/explain.md).";

  std::vector<std::string> models = {"mlp", "lstm", "attention_lstm", "xgboost"};
  std::vector<std::string> methods = {};
  std::string experiment = "experiment_1";
  std::vector<std::string> regions = {"north_atlantic", "southern_ocean"};
  std::int64_t year = 2018;
  std::vector<std::int64_t> months = {1, 7};
  std::int64_t n_samples = 300;
  std::string background = "train";
  std::int64_t background_size = 100;
  std::int64_t background_kmeans = 0;
  std::int64_t kernel_nsamples = 0;
  std::string kernel_players = "columns";
  double timeshap_tolerance = 0.025;
  bool tree_interactions = false;
  std::string timeshap_baseline = "median_event";
  std::int64_t chunk = 16;
  std::int64_t bootstrap = 1000;
  double confidence = 0.95;
  std::string output_dir = "explanations";

  template <class V>
  void visit(V&& v) {
    v("models", models,
      "Model artifacts: names under [train] output_dir or paths to artifact directories. An ensemble is "
      "explained as the mean of its members, the prediction reconstruct makes (each explanation costs its "
      "members' evaluations; tree methods walk every member's trees).");
    v("methods", methods,
      "`model:method` pairs (e.g. `xgboost:tree_shap`); methods: kernel_shap, tree_shap, "
      "tree_shap_interventional, timeshap, attention. Empty = per model type: kernel_shap for mlp; timeshap "
      "and "
      "kernel_shap for lstm; attention, timeshap and kernel_shap for attention_lstm; "
      "tree_shap_interventional "
      "and tree_shap for xgboost.");
    v("experiment", experiment, "Experiment of the test stores.");
    v("regions", regions, "Regions of the test stores (as in [prepare] test_regions).");
    v("year", year, "Year of the test store.");
    v("months", months, "Target months (1-12) explained, each separately.");
    v("n_samples", n_samples,
      "Windows explained per (region, month), chosen by a seeded shuffle; more than the store has is an "
      "error.");
    v("background", background,
      "`train`: background windows from the training store the model learnt from; `test`: from the explained "
      "test store.");
    v("background_size", background_size, "Background windows drawn (seeded) from the background store.");
    v("background_kmeans", background_kmeans,
      "0 = use the background windows as they are (equal weights); k > 0 = their weighted k-means summary of "
      "k rows.");
    v("kernel_nsamples", kernel_nsamples,
      "KernelSHAP coalitions per sample; 0 = 2 M + 2048 (M players), at most 2^M - 2.");
    v("kernel_players", kernel_players,
      "KernelSHAP players: `columns` (one per flat input column), `drivers` (one per feature, all its lags "
      "together) or `lags` (one per lag, all dynamic features together; static features one each).");
    v("timeshap_tolerance", timeshap_tolerance,
      "TimeSHAP pruning: older events whose joint contribution is at most this (in normalised target units) "
      "become one player; 0 prunes only an exact 0; negative = no pruning.");
    v("timeshap_baseline", timeshap_baseline,
      "TimeSHAP's absent values: `median_event` (the median of each feature over the background's events, "
      "at every step) or `mean_sequence` (the background's mean sequence).");
    v("tree_interactions", tree_interactions,
      "tree_shap: also save XGBoost's SHAP interaction values, interactions[sample, player, player2] (M^2 "
      "values per sample).");
    v("chunk", chunk, "Samples computed between two saved checkpoints (resume granularity).");
    v("bootstrap", bootstrap, "Bootstrap resamples for the confidence intervals of importance.csv.");
    v("confidence", confidence, "Level of the bootstrap confidence intervals, in (0, 1).");
    v("output_dir", output_dir, "Where the netCDF files and importance.csv go.");
  }
  void validate() const;
};

struct ExplainSummary {
  std::size_t files_written = 0, files_reused = 0, samples_computed = 0, samples_reused = 0;
  std::vector<std::string> lines;  // one per (model, method): the driver ranking by mean |phi|
};

// Under MPI (`comm` of several ranks) the chunks of samples are dealt to the ranks in turn; every rank saves
// its chunks under the output directory (which the ranks must share), and rank 0 writes the files and
// importance.csv. The results are the same as a serial run's. On ranks other than 0 the summary's `lines` and
// file counts are empty; the sample counts are the totals over the ranks.
ExplainSummary run_explain(const ExplainParams& params, const PrepareParams& prepare,
                           const TrainParams& train, const Context& ctx, const Provenance& provenance,
                           const Communicator& comm);

}  // namespace fluxkit

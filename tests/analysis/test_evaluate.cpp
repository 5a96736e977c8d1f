#include <gtest/gtest.h>
#include <netcdf.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fluxkit/analysis/evaluate.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/reconstruct/cache.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

// ---- metric functions
// ---------------------------------------------------------------------------------------

const std::vector<double> kSim = {1, 2, 3, 4};
const std::vector<double> kRec = {1.5, 1.5, 3.5, 3.0};
const std::vector<double> kW = {1, 2, 1, 4};

TEST(EvaluateMetrics, UnweightedByHand) {
  // e = rec - sim = {0.5, -0.5, 0.5, -1}; mean(sim) = 2.5, SS_tot = 5; mean(rec) = 2.375.
  const Metrics m = compute_metrics(kSim, kRec);
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.mse, 1.75 / 4);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(1.75 / 4));
  EXPECT_DOUBLE_EQ(m.mae, 2.5 / 4);
  EXPECT_DOUBLE_EQ(m.bias, -0.5 / 4);
  EXPECT_DOUBLE_EQ(m.r2, 1 - 1.75 / 5);  // 0.65
  // cov sum = (-1.5)(-0.875) + (-0.5)(-0.875) + (0.5)(1.125) + (1.5)(0.625) = 3.25; S_rec = 3.1875
  EXPECT_NEAR(m.pearson_r, 3.25 / std::sqrt(5 * 3.1875), 1e-14);

  // The same by direct two-pass computation.
  double ms = 0, mr = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    ms += kSim[i] / 4;
    mr += kRec[i] / 4;
  }
  double sres = 0, stot = 0, srr = 0, cov = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    sres += (kRec[i] - kSim[i]) * (kRec[i] - kSim[i]);
    stot += (kSim[i] - ms) * (kSim[i] - ms);
    srr += (kRec[i] - mr) * (kRec[i] - mr);
    cov += (kSim[i] - ms) * (kRec[i] - mr);
  }
  EXPECT_NEAR(m.r2, 1 - sres / stot, 1e-14);
  EXPECT_NEAR(m.pearson_r, cov / std::sqrt(stot * srr), 1e-14);
}

TEST(EvaluateMetrics, AreaWeightedByHand) {
  // W = 8; weighted e^2 sum = 0.25 + 0.5 + 0.25 + 4 = 5; |e| sum = 0.5 + 1 + 0.5 + 4 = 6; e sum = -4.
  // mean_w(sim) = 24 / 8 = 3, SS_tot_w = 1*4 + 2*1 + 1*0 + 4*1 = 10; mean_w(rec) = 20 / 8 = 2.5,
  // dx = {-2, -1, 0, 1}, dy = {-1, -1, 1, 0.5}: cov_w = 2 + 2 + 0 + 2 = 6, S_rec_w = 1 + 2 + 1 + 1 = 5.
  const Metrics m = compute_metrics(kSim, kRec, kW);
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.mse, 5.0 / 8);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(5.0 / 8));
  EXPECT_DOUBLE_EQ(m.mae, 6.0 / 8);
  EXPECT_DOUBLE_EQ(m.bias, -4.0 / 8);
  EXPECT_DOUBLE_EQ(m.r2, 1 - 5.0 / 10);
  EXPECT_NEAR(m.pearson_r, 6 / std::sqrt(10.0 * 5.0), 1e-14);
  // Integer weights = repeated pairs.
  const std::vector<double> s = {1, 2, 2, 3, 4, 4, 4, 4}, r = {1.5, 1.5, 1.5, 3.5, 3, 3, 3, 3};
  const Metrics rep = compute_metrics(s, r);
  EXPECT_NEAR(rep.mse, m.mse, 1e-14);
  EXPECT_NEAR(rep.r2, m.r2, 1e-14);
  EXPECT_NEAR(rep.pearson_r, m.pearson_r, 1e-14);
}

TEST(EvaluateMetrics, R2CanBeNegativeAndPearson) {
  const std::vector<double> s = {1, 2, 3}, r = {3, 2, 1};
  const Metrics m = compute_metrics(s, r);
  EXPECT_DOUBLE_EQ(m.r2, 1 - 8.0 / 2.0);  // SS_res = 8, SS_tot = 2
  EXPECT_LT(m.r2, 0);
  EXPECT_NEAR(m.pearson_r, -1, 1e-15);
  // A perfect linear relation that is not the identity: r = 1 but R^2 < 1.
  const std::vector<double> r2 = {2, 4, 6};
  const Metrics lin = compute_metrics(s, r2);
  EXPECT_NEAR(lin.pearson_r, 1, 1e-15);
  EXPECT_DOUBLE_EQ(lin.r2, 1 - 14.0 / 2.0);
  // Constant simulated values: sklearn's force_finite (1 when perfect, else 0); Pearson undefined.
  const std::vector<double> c = {2, 2, 2};
  EXPECT_DOUBLE_EQ(compute_metrics(c, c).r2, 1.0);
  EXPECT_DOUBLE_EQ(compute_metrics(c, s).r2, 0.0);
  EXPECT_TRUE(std::isnan(compute_metrics(c, s).pearson_r));
}

TEST(EvaluateMetrics, SkipsNonFiniteAndEmpty) {
  const double nan = std::nan("");
  const std::vector<double> s = {1, nan, 2, 3, 4, 5}, r = {1.5, 7, 1.5, 3.5, 3.0, nan},
                            w = {1, 1, 2, 1, 4, 1};
  const Metrics m = compute_metrics(s, r);
  const Metrics ref = compute_metrics(kSim, kRec);
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.mse, ref.mse);
  const std::vector<double> w_bad = {1, 1, 2, 1, 4, 0};  // zero weight: skipped too
  EXPECT_EQ(compute_metrics(s, r, w_bad).n, 4u);
  EXPECT_NEAR(compute_metrics(s, r, w).r2, compute_metrics(kSim, kRec, kW).r2, 1e-14);
  const Metrics empty = compute_metrics({}, {});
  EXPECT_EQ(empty.n, 0u);
  EXPECT_TRUE(std::isnan(empty.rmse));
  EXPECT_THROW(compute_metrics(kSim, std::vector<double>{1, 2}), Error);
  EXPECT_THROW(compute_metrics(kSim, kRec, std::vector<double>{1}), Error);
}

TEST(EvaluateMetrics, MergeEqualsSinglePass) {
  MetricsAccumulator all, a, b;
  for (std::size_t i = 0; i < 4; ++i) {
    all.add(kSim[i], kRec[i], kW[i]);
    (i < 1 ? a : b).add(kSim[i], kRec[i], kW[i]);
  }
  a.merge(b);
  const Metrics x = all.metrics(), y = a.metrics();
  EXPECT_EQ(x.n, y.n);
  EXPECT_NEAR(x.mse, y.mse, 1e-14);
  EXPECT_NEAR(x.r2, y.r2, 1e-14);
  EXPECT_NEAR(x.pearson_r, y.pearson_r, 1e-14);
  EXPECT_NEAR(x.bias, y.bias, 1e-14);
  MetricsAccumulator empty;
  empty.merge(a);
  EXPECT_NEAR(empty.metrics().r2, x.r2, 1e-14);
}

TEST(EvaluateMetrics, OlsFit) {
  const std::vector<double> s = {0, 1, 2, 3}, r = {1, 3, 5, 7};
  const OlsFit f = ols_fit(s, r);
  EXPECT_NEAR(f.slope, 2, 1e-14);
  EXPECT_NEAR(f.intercept, 1, 1e-14);
  EXPECT_EQ(f.n, 4u);
  // slope = cov / var(sim) = 3.25 / 5; intercept = mean(rec) - slope * mean(sim) = 2.375 - 0.65 * 2.5.
  const OlsFit g = ols_fit(kSim, kRec);
  EXPECT_NEAR(g.slope, 0.65, 1e-14);
  EXPECT_NEAR(g.intercept, 0.75, 1e-14);
}

TEST(EvaluateMetrics, SeasonAssignment) {
  EXPECT_STREQ(season_of(12), "DJF");  // December belongs to DJF (of its own calendar year)
  EXPECT_STREQ(season_of(1), "DJF");
  EXPECT_STREQ(season_of(2), "DJF");
  EXPECT_STREQ(season_of(3), "MAM");
  EXPECT_STREQ(season_of(5), "MAM");
  EXPECT_STREQ(season_of(6), "JJA");
  EXPECT_STREQ(season_of(8), "JJA");
  EXPECT_STREQ(season_of(9), "SON");
  EXPECT_STREQ(season_of(11), "SON");
  EXPECT_EQ(season_index(12), 0);
  EXPECT_THROW(season_of(0), Error);
  EXPECT_THROW(season_of(13), Error);
}

TEST(EvaluateMetrics, SeasonYearsUnderBothDecemberConventions) {
  // Meteorological DJF: December counts with the next January-February.
  EXPECT_EQ(season_year(2009, 12, "next_year"), 2010);
  EXPECT_EQ(season_year(2010, 1, "next_year"), 2010);
  EXPECT_EQ(season_year(2010, 2, "next_year"), 2010);
  EXPECT_EQ(season_year(2010, 11, "next_year"), 2010);
  // Calendar-year DJF: December with January-February of its own year.
  EXPECT_EQ(season_year(2009, 12, "same_year"), 2009);
  EXPECT_EQ(season_year(2009, 1, "same_year"), 2009);
  EXPECT_THROW(season_year(2009, 13, "next_year"), Error);
  EXPECT_THROW(season_year(2009, 12, "winter"), Error);
  // Complete seasons within 2009-2010.
  EXPECT_FALSE(season_complete(2009, 0, 2009, 2010, "next_year"));  // needs December 2008
  EXPECT_TRUE(season_complete(2010, 0, 2009, 2010, "next_year"));
  EXPECT_FALSE(season_complete(2011, 0, 2009, 2010, "next_year"));  // January-February 2011
  EXPECT_TRUE(season_complete(2009, 3, 2009, 2010, "next_year"));
  EXPECT_FALSE(season_complete(2011, 1, 2009, 2010, "next_year"));
  EXPECT_TRUE(season_complete(2009, 0, 2009, 2010, "same_year"));
  EXPECT_TRUE(season_complete(2010, 0, 2009, 2010, "same_year"));
  EXPECT_FALSE(season_complete(2011, 0, 2009, 2010, "same_year"));
  EXPECT_FALSE(season_complete(2008, 2, 2009, 2010, "same_year"));
}

TEST(EvaluateMetrics, PhaseWrapAndUnits) {
  EXPECT_EQ(wrap_month_difference(12, 1), 1);
  EXPECT_EQ(wrap_month_difference(1, 12), -1);
  EXPECT_EQ(wrap_month_difference(7, 9), 2);
  EXPECT_EQ(wrap_month_difference(1, 7), 6);
  EXPECT_EQ(wrap_month_difference(7, 1), 6);
  EXPECT_EQ(wrap_month_difference(3, 3), 0);
  EXPECT_EQ(wrap_month_difference(2, 10), -4);
  const IntegratedUnits pg = integrated_units("mol m-2 yr-1");
  EXPECT_DOUBLE_EQ(pg.factor, 12.011e-15);
  EXPECT_EQ(pg.units, "Pg C yr-1");
  const IntegratedUnits raw = integrated_units("mmol m-2 s-1");
  EXPECT_DOUBLE_EQ(raw.factor, 1.0);
  EXPECT_EQ(raw.units, "mmol m-2 s-1 m2");
}

TEST(EvaluateParamsTest, ConfigValidation) {
  const EvaluateParams d = config::Document().get<EvaluateParams>();
  EXPECT_EQ(d.years, (std::vector<std::int64_t>{2009, 2018}));
  EXPECT_EQ(d.models.size(), 4u);
  EXPECT_NO_THROW(
      config::Document::from_string("[evaluate]\nregions = [\"box\"]\ncustom_regions = [\"box: 0, "
                                    "10, 20, 30\"]\n")
          .get<EvaluateParams>());
  EXPECT_THROW(config::Document::from_string("[evaluate]\nyears = [2018, 2009]\n").get<EvaluateParams>(),
               ConfigError);
  EXPECT_THROW(config::Document::from_string("[evaluate]\nregions = [\"atlantis\"]\n").get<EvaluateParams>(),
               ConfigError);
  EXPECT_THROW(config::Document::from_string("[evaluate]\nmodels = []\n").get<EvaluateParams>(), ConfigError);
  EXPECT_THROW(config::Document::from_string("[evaluate]\nmodel = [\"mlp\"]\n").get<EvaluateParams>(),
               ConfigError);
  EXPECT_EQ(d.december, "next_year");
  EXPECT_FALSE(d.allow_overlap);
  EXPECT_EQ(
      config::Document::from_string("[evaluate]\ndecember = \"same_year\"\n").get<EvaluateParams>().december,
      "same_year");
  try {
    config::Document::from_string("[evaluate]\ndecember = \"winter\"\n", "e.toml").get<EvaluateParams>();
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "evaluate.december");
    EXPECT_NE(std::string(e.what()).find("e.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'winter'"), std::string::npos) << e.what();
  }
}

// A constructed case: sigma = 1 everywhere, errors |sim - mean| = 0, 0.5, 1, 1.5, 2, 3 (and pairs with a
// non-finite value, which do not count).
TEST(EnsembleCalibrationTest, FractionsAndSpreadErrorRatioByHand) {
  const double nan = std::nan("");
  const std::vector<double> mean = {0, 0, 0, 0, 0, 0, 0, nan};
  const std::vector<double> sim = {0, 0.5, -1, 1.5, -2, 3, nan, 1};
  const std::vector<double> sd = {1, 1, 1, 1, 1, 1, 1, 1};
  const EnsembleCalibration c = ensemble_calibration(sim, mean, sd);
  EXPECT_EQ(c.n, 6u);
  EXPECT_DOUBLE_EQ(c.within_1sigma, 3.0 / 6.0);  // 0, 0.5, 1 (the boundary counts as inside)
  EXPECT_DOUBLE_EQ(c.within_2sigma, 5.0 / 6.0);  // and 1.5, 2
  EXPECT_DOUBLE_EQ(c.mean_std, 1.0);
  const double rmse = std::sqrt((0 + 0.25 + 1 + 2.25 + 4 + 9) / 6.0);
  EXPECT_DOUBLE_EQ(c.rmse, rmse);
  EXPECT_DOUBLE_EQ(c.spread_error_ratio, 1.0 / rmse);
  // Merged halves give the same; an empty accumulator gives NaN; a zero spread with no error is inside.
  CalibrationAccumulator a, b;
  for (std::size_t i = 0; i < sim.size(); ++i)
    (i < 3 ? a : b).add(sim[i], mean[i], sd[i]);
  a.merge(b);
  EXPECT_DOUBLE_EQ(a.result().within_2sigma, c.within_2sigma);
  EXPECT_TRUE(std::isnan(CalibrationAccumulator().result().within_1sigma));
  const std::vector<double> zero = {0.0}, one = {1.0};
  EXPECT_DOUBLE_EQ(ensemble_calibration(one, one, zero).within_1sigma, 1.0);
  EXPECT_TRUE(std::isnan(ensemble_calibration(one, one, zero).spread_error_ratio));  // RMSE 0
  EXPECT_THROW(ensemble_calibration(one, one, std::vector<double>{}), Error);
}

// ---- end to end on hand-made caches
// ---------------------------------------------------------------------------

constexpr std::size_t kNy = 3, kNx = 4, kCells = kNy * kNx;
// Cell 8 is outside the region (land); cell 3 is an ocean cell of the region that is not a sample (a cell the
// subsample left out, or one dropped for a gap): it has a simulated value but no reconstruction.
bool in_region(std::size_t k) {
  return k != 8;
}
bool is_sample(std::size_t k) {
  return k != 3 && in_region(k);
}
double area_of(std::size_t k) {
  return 1e8 * static_cast<double>(k / kNx + 1);
}  // 1e8, 2e8, 3e8 by row
// Simulated flux: a cell offset, +1 in the second year, a seasonal cycle peaking in July (exact in float).
double sim_value(std::size_t k, int year, int month) {
  return 0.5 * static_cast<double>(k) + (year - 2009) - std::abs(month - 7);
}
// "xgboost": a constant +0.25 bias (the better model); "mlp": the cycle peaking in September, a bias by row.
double rec_value(const std::string& model, std::size_t k, int year, int month) {
  if (model == "xgboost") return sim_value(k, year, month) + 0.25;
  return 0.5 * static_cast<double>(k) + (year - 2009) - std::abs(month - 9) +
         0.25 * static_cast<double>(k / kNx);
}

ReconstructionCache make_cache(const std::string& model, int year) {
  ReconstructionCache c;
  c.model = model;
  c.experiment = "experiment_1";
  c.region = "north_atlantic";
  c.year = year;
  c.target_units = "mol m-2 yr-1";
  c.ny = kNy;
  c.nx = kNx;
  c.y_index = {100, 101, 102};
  c.x_index = {20, 21, 22, 23};
  for (std::size_t k = 0; k < kCells; ++k) {
    c.lat.push_back(40.0 + static_cast<double>(k / kNx));
    c.lon.push_back(-30.0 + static_cast<double>(k % kNx));
    c.area.push_back(area_of(k));
    c.sample_mask.push_back(is_sample(k) ? 1 : 0);
    c.region_mask.push_back(in_region(k) ? 1 : 0);
  }
  c.train_experiment = c.validation_experiment = "experiment_5";
  c.train_first_year = 1958;
  c.train_last_year = 1988;
  c.validation_first_year = 1989;
  c.validation_last_year = 2008;
  const float nan = std::nanf("");
  for (int m = 1; m <= 12; ++m)
    for (std::size_t k = 0; k < kCells; ++k) {
      c.simulated.push_back(in_region(k) ? static_cast<float>(sim_value(k, year, m)) : nan);
      c.reconstructed.push_back(is_sample(k) ? static_cast<float>(rec_value(model, k, year, m)) : nan);
    }
  return c;
}

using Table = std::vector<std::map<std::string, std::string>>;

Table read_csv(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string h; std::getline(hs, h, ',');)
    header.push_back(h);
  Table rows;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::map<std::string, std::string> row;
    std::size_t i = 0;
    for (std::string v; std::getline(ls, v, ',');)
      row[header.at(i++)] = v;
    while (i < header.size())
      row[header[i++]] = "";
    rows.push_back(row);
  }
  return rows;
}

const std::map<std::string, std::string>& find_row(const Table& t,
                                                   const std::map<std::string, std::string>& where) {
  for (const auto& row : t) {
    bool ok = true;
    for (const auto& [k, v] : where)
      ok = ok && row.at(k) == v;
    if (ok) return row;
  }
  ADD_FAILURE() << "no matching row";
  static const std::map<std::string, std::string> none;
  return none;
}

// Rows must come from a named table, not a temporary.
const std::map<std::string, std::string>& find_row(Table&&,
                                                   const std::map<std::string, std::string>&) = delete;

double value(const std::map<std::string, std::string>& row, const std::string& key) {
  return std::stod(row.at(key));
}

bool has_regular_files(const fs::path& dir) {
  if (!fs::exists(dir)) return false;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) return true;
  return false;
}

class EvaluateEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fluxkit_evaluate_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    params_.caches_dir = (root_ / "caches").string();
    params_.output_dir = (root_ / "out").string();
    params_.models = {"mlp", "xgboost"};
    params_.experiments = {"experiment_1"};
    params_.regions = {"north_atlantic"};
    params_.years = {2009, 2010};
    for (const std::string model : {"mlp", "xgboost"})
      for (int year : {2009, 2010})
        write_cache(path(model, year), make_cache(model, year), kProv);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path path(const std::string& model, int year) const {
    return cache_path(params_.caches_dir, model, "experiment_1", "North_Atlantic", year);
  }

  fs::path root_;
  EvaluateParams params_;
};

TEST_F(EvaluateEndToEnd, TablesAndFields) {
  const EvaluationSummary s = evaluate(params_, Context{}, kProv);
  const fs::path out = params_.output_dir;
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.caches_read, 4u);

  // Reference values computed directly from the generating functions.
  std::vector<double> sim, rec_mlp, w, djf_sim, djf_rec;
  for (int year : {2009, 2010})
    for (int m = 1; m <= 12; ++m)
      for (std::size_t k = 0; k < kCells; ++k) {
        if (!is_sample(k)) continue;
        sim.push_back(sim_value(k, year, m));
        rec_mlp.push_back(rec_value("mlp", k, year, m));
        w.push_back(area_of(k));
        // Meteorological DJF (the default december = "next_year"): only DJF 2010 = December 2009 and
        // January-February 2010 is complete within 2009-2010.
        if ((year == 2009 && m == 12) || (year == 2010 && m <= 2)) {
          djf_sim.push_back(sim.back());
          djf_rec.push_back(rec_mlp.back());
        }
      }
  const Metrics mlp_u = compute_metrics(sim, rec_mlp), mlp_a = compute_metrics(sim, rec_mlp, w);
  const Metrics mlp_djf = compute_metrics(djf_sim, djf_rec);

  const Table metrics = read_csv(out / "metrics.csv");
  // 2 models x 2 weightings x (1 overall + 2 years + 12 months + 4 seasons + 7 complete season-years: DJF
  // 2010, MAM/JJA/SON 2009 and 2010)
  EXPECT_EQ(metrics.size(), 2u * 2u * 26u);
  const auto& xu =
      find_row(metrics, {{"model", "xgboost"}, {"weighting", "unweighted"}, {"period_type", "overall"}});
  EXPECT_EQ(xu.at("n"), std::to_string(2 * 12 * 10));
  EXPECT_NEAR(value(xu, "rmse"), 0.25, 1e-6);
  EXPECT_NEAR(value(xu, "bias"), 0.25, 1e-6);
  EXPECT_NEAR(value(xu, "mae"), 0.25, 1e-6);
  EXPECT_NEAR(value(xu, "pearson_r"), 1.0, 1e-6);
  const auto& mu =
      find_row(metrics, {{"model", "mlp"}, {"weighting", "unweighted"}, {"period_type", "overall"}});
  EXPECT_NEAR(value(mu, "mse"), mlp_u.mse, 1e-7);
  EXPECT_NEAR(value(mu, "r2"), mlp_u.r2, 1e-7);
  EXPECT_NEAR(value(mu, "pearson_r"), mlp_u.pearson_r, 1e-7);
  const auto& ma = find_row(metrics, {{"model", "mlp"}, {"weighting", "area"}, {"period_type", "overall"}});
  EXPECT_NEAR(value(ma, "mse"), mlp_a.mse, 1e-7);
  EXPECT_NEAR(value(ma, "r2"), mlp_a.r2, 1e-7);
  EXPECT_NEAR(value(ma, "bias"), mlp_a.bias, 1e-7);
  EXPECT_NE(value(ma, "mse"), value(mu, "mse"));
  // DJF holds the complete meteorological winters: December 2009 with January-February 2010.
  const auto& djf = find_row(metrics, {{"model", "mlp"}, {"weighting", "unweighted"}, {"period", "DJF"}});
  EXPECT_EQ(djf.at("n"), std::to_string(3 * 10));
  EXPECT_NEAR(value(djf, "mse"), mlp_djf.mse, 1e-7);
  EXPECT_NEAR(value(djf, "bias"), mlp_djf.bias, 1e-7);
  const auto& djf2010 =
      find_row(metrics, {{"model", "mlp"}, {"weighting", "unweighted"}, {"period", "2010-DJF"}});
  EXPECT_EQ(djf2010.at("period_type"), "season_year");
  EXPECT_EQ(djf2010.at("n"), std::to_string(3 * 10));
  EXPECT_NEAR(value(djf2010, "mse"), mlp_djf.mse, 1e-7);
  for (const auto& row : metrics)
    EXPECT_NE(row.at("period"), "2009-DJF") << "DJF 2009 lacks December 2008: not scored";
  EXPECT_EQ(find_row(metrics, {{"model", "mlp"}, {"weighting", "area"}, {"period", "2009-SON"}}).at("n"),
            std::to_string(3 * 10));
  const auto& y2010 = find_row(metrics, {{"model", "xgboost"}, {"weighting", "area"}, {"period", "2010"}});
  EXPECT_EQ(y2010.at("period_type"), "year");
  EXPECT_EQ(y2010.at("n"), "120");

  // Annual area-weighted mean and integrated flux, by hand. The region's ocean area includes cell 3, which
  // is not sampled: the simulated integrated flux covers it, the reconstruction's is extrapolated to it.
  double ocean_area = 0, sampled_area = 0;
  for (std::size_t k = 0; k < kCells; ++k) {
    if (in_region(k)) ocean_area += area_of(k);
    if (is_sample(k)) sampled_area += area_of(k);
  }
  ASSERT_LT(sampled_area, ocean_area);
  const Table annual = read_csv(out / "timeseries_annual.csv");
  ASSERT_EQ(annual.size(), 4u);
  for (int year : {2009, 2010}) {
    double sw = 0, ss = 0, sr = 0, integrated = 0, sampled_integrated = 0;
    for (int m = 1; m <= 12; ++m) {
      double month_sum = 0, sampled_sum = 0;
      for (std::size_t k = 0; k < kCells; ++k) {
        if (in_region(k)) month_sum += area_of(k) * sim_value(k, year, m);
        if (is_sample(k)) {
          sw += area_of(k);
          ss += area_of(k) * sim_value(k, year, m);
          sr += area_of(k) * rec_value("mlp", k, year, m);
          sampled_sum += area_of(k) * sim_value(k, year, m);
        }
      }
      integrated += month_sum * 12.011e-15 / 12;
      sampled_integrated += sampled_sum * 12.011e-15 / 12;
    }
    const auto& row = find_row(annual, {{"model", "mlp"}, {"year", std::to_string(year)}});
    EXPECT_NEAR(value(row, "sim_mean"), ss / sw, 1e-7);
    EXPECT_NEAR(value(row, "rec_mean"), sr / sw, 1e-7);
    EXPECT_NEAR(value(row, "diff_mean"), (sr - ss) / sw, 1e-7);
    EXPECT_DOUBLE_EQ(value(row, "ocean_area_m2"), ocean_area);
    EXPECT_DOUBLE_EQ(value(row, "simulated_area_m2"), ocean_area);
    EXPECT_DOUBLE_EQ(value(row, "sampled_area_m2"), sampled_area);
    EXPECT_NEAR(value(row, "area_fraction"), sampled_area / ocean_area, 1e-8);
    EXPECT_NEAR(value(row, "sim_integrated"), integrated, 1e-7 * std::abs(integrated));
    EXPECT_GT(std::abs(value(row, "sim_integrated") - sampled_integrated), 1e-3 * std::abs(integrated))
        << "the integrated flux must not be the partial sum over the sample cells";
    EXPECT_NEAR(value(row, "sim_integrated_extrapolated"), ss / sw * ocean_area * 12.011e-15,
                1e-7 * std::abs(integrated));
    EXPECT_NEAR(value(row, "rec_integrated_extrapolated"), sr / sw * ocean_area * 12.011e-15,
                1e-7 * std::abs(integrated));
    EXPECT_EQ(row.at("integrated_units"), "Pg C yr-1");
    EXPECT_EQ(row.count("rec_integrated"), 0u) << "no unlabelled partial sum";
  }
  // Hand check of the 2009 mean: sample cells' area-weighted offset plus the mean cycle (-3).
  {
    double sw = 0, so = 0;
    for (std::size_t k = 0; k < kCells; ++k)
      if (is_sample(k)) {
        sw += area_of(k);
        so += area_of(k) * 0.5 * static_cast<double>(k);
      }
    const double mean_cycle = -(6 + 5 + 4 + 3 + 2 + 1 + 0 + 1 + 2 + 3 + 4 + 5) / 12.0;  // -3
    EXPECT_NEAR(value(find_row(annual, {{"model", "xgboost"}, {"year", "2009"}}), "sim_mean"),
                so / sw + mean_cycle, 1e-7);
  }
  const Table monthly = read_csv(out / "timeseries_monthly.csv");
  EXPECT_EQ(monthly.size(), 2u * 24u);
  EXPECT_NEAR(value(find_row(monthly, {{"model", "xgboost"}, {"year", "2010"}, {"month", "3"}}), "diff_mean"),
              0.25, 1e-6);

  // Seasonal cycle and its summary: peaks in July (simulation, xgboost) and September (mlp).
  const Table cycle = read_csv(out / "seasonal_cycle.csv");
  EXPECT_EQ(cycle.size(), 24u);
  const auto& july = find_row(cycle, {{"model", "xgboost"}, {"month", "7"}});
  EXPECT_NEAR(value(july, "rec_mean") - value(july, "sim_mean"), 0.25, 1e-6);
  EXPECT_GT(value(july, "sim_std_cells"), 0);
  const Table summary = read_csv(out / "seasonal_summary.csv");
  const auto& sx = find_row(summary, {{"model", "xgboost"}});
  EXPECT_EQ(sx.at("sim_peak_month"), "7");
  EXPECT_EQ(sx.at("rec_peak_month"), "7");
  EXPECT_EQ(sx.at("phase_error_months"), "0");
  EXPECT_NEAR(value(sx, "sim_amplitude"), 6, 1e-6);
  EXPECT_NEAR(value(sx, "amplitude_error"), 0, 1e-6);
  const auto& sm = find_row(summary, {{"model", "mlp"}});
  EXPECT_EQ(sm.at("sim_peak_month"), "7");
  EXPECT_EQ(sm.at("rec_peak_month"), "9");
  EXPECT_EQ(sm.at("phase_error_months"), "2");
  EXPECT_NEAR(value(sm, "rec_amplitude"), 8, 1e-6);  // -|m - 9| over 1..12: 0 - (-8)
  EXPECT_NEAR(value(sm, "amplitude_error"), 2, 1e-6);

  // Scatter fit: xgboost is sim + 0.25 exactly.
  const Table scatter = read_csv(out / "scatter_fit.csv");
  const auto& fit = find_row(scatter, {{"model", "xgboost"}});
  EXPECT_NEAR(value(fit, "slope"), 1, 1e-6);
  EXPECT_NEAR(value(fit, "intercept"), 0.25, 1e-5);
  EXPECT_EQ(fit.at("n"), "240");

  // Ranking: the better model first.
  const Table ranking = read_csv(out / "ranking.csv");
  ASSERT_EQ(ranking.size(), 2u);
  EXPECT_EQ(find_row(ranking, {{"rank", "1"}}).at("model"), "xgboost");
  EXPECT_EQ(find_row(ranking, {{"rank", "2"}}).at("model"), "mlp");
  EXPECT_EQ(s.entries[0].model, "mlp");
  EXPECT_EQ(s.entries[0].rank, 2);
  EXPECT_EQ(s.entries[1].rank, 1);

  // The seed's table.
  const Table seed = read_csv(out / "model_metrics_experiment_1_north_atlantic.csv");
  ASSERT_EQ(seed.size(), 2u);
  EXPECT_EQ(seed[0].at("Region"), "North Atlantic");
  EXPECT_EQ(seed[0].at("Model"), "mlp");
  EXPECT_EQ(seed[0].at("Month"), "Overall");
  EXPECT_NEAR(value(seed[0], "MSE"), mlp_u.mse, 1e-7);
  EXPECT_NEAR(value(seed[0], "MAE"), mlp_u.mae, 1e-7);
  EXPECT_NEAR(value(seed[1], "RMSE"), 0.25, 1e-6);

  // Per-cell fields.
  const nc::File f(out / "fields" / "xgboost_experiment_1_north_atlantic_errors.nc");
  for (const char* v : {"mean_difference", "rmse", "pearson_r", "simulated_mean", "reconstructed_mean",
                        "n_months", "nav_lat", "nav_lon", "area", "sample_mask"})
    EXPECT_TRUE(f.has_var(v)) << v;
  EXPECT_EQ(f.var("rmse").shape, (std::vector<std::size_t>{kNy, kNx}));
  EXPECT_EQ(f.text_attribute("rmse", "units").value_or(""), "mol m-2 yr-1");
  const auto diff = f.read_double("mean_difference");
  const auto rmse = f.read_double("rmse");
  const auto r = f.read_double("pearson_r");
  const auto n_months = f.read_double("n_months");
  for (std::size_t k = 0; k < kCells; ++k) {
    if (is_sample(k)) {
      EXPECT_NEAR(diff[k], 0.25, 1e-6);
      EXPECT_NEAR(rmse[k], 0.25, 1e-6);
      EXPECT_NEAR(r[k], 1.0, 1e-6);
      EXPECT_EQ(n_months[k], 24);
    } else {
      EXPECT_TRUE(std::isnan(diff[k]) && std::isnan(rmse[k]) && std::isnan(r[k])) << k;
    }
  }
  const auto region_mask = f.read_double("region_mask");
  for (std::size_t k = 0; k < kCells; ++k)
    EXPECT_EQ(region_mask[k], in_region(k) ? 1.0 : 0.0) << k;
  EXPECT_TRUE(fs::exists(out / "fields" / "mlp_experiment_1_north_atlantic_errors.nc"));
  EXPECT_EQ(s.files.size(), 11u + 2u);  // 9 tables, the 2 ensemble tables (header only here), 2 fields
  EXPECT_TRUE(read_csv(out / "ensemble_calibration.csv").empty());  // no ensemble, no row

  // What the models were trained on.
  const Table training = read_csv(out / "training.csv");
  ASSERT_EQ(training.size(), 2u);
  const auto& tr = find_row(training, {{"model", "xgboost"}});
  EXPECT_EQ(tr.at("train_experiment"), "experiment_5");
  EXPECT_EQ(tr.at("train_years"), "1958-1988");
  EXPECT_EQ(tr.at("validation_experiment"), "experiment_5");
  EXPECT_EQ(tr.at("validation_years"), "1989-2008");
  EXPECT_EQ(tr.at("overlap_years"), "");

  const std::string text = format_summary(s);
  EXPECT_NE(text.find("xgboost"), std::string::npos);
  EXPECT_NE(text.find("RMSE(area)"), std::string::npos);
}

// Half-width of the 2-member ensemble of "xgboost" in the ensemble test: members = reconstruction -+ a(k), so
// the mean is the reconstruction, sigma = a * sqrt(2), and |sim - mean| = 0.25 is inside 1 sigma for
// a = 0.2, inside 2 sigma only for a = 0.1 and outside both for a = 0.05.
double half_width(std::size_t k) {
  return k % 3 == 0 ? 0.2 : (k % 3 == 1 ? 0.1 : 0.05);
}

TEST_F(EvaluateEndToEnd, EnsembleCalibrationSpreadAndStdField) {
  for (int year : {2009, 2010}) {
    ReconstructionCache c = make_cache("xgboost", year);
    const std::size_t n = c.cells();
    c.members = 2;
    c.member_reconstructed.assign(2 * 12 * n, std::nanf(""));
    for (std::size_t t = 0; t < 12; ++t)
      for (std::size_t k = 0; k < n; ++k)
        if (is_sample(k)) {
          const double r = c.reconstructed[t * n + k];
          c.member_reconstructed[t * n + k] = static_cast<float>(r - half_width(k));
          c.member_reconstructed[(12 + t) * n + k] = static_cast<float>(r + half_width(k));
        }
    std::vector<float> mean;
    ensemble_mean_std(c.member_reconstructed, 2, 12 * n, mean, c.reconstructed_std);
    for (std::size_t i = 0; i < mean.size(); ++i)
      if (std::isfinite(mean[i])) {
        EXPECT_NEAR(mean[i], c.reconstructed[i], 1e-6);
      }
    write_cache(path("xgboost", year), c, kProv);
  }
  const EvaluationSummary s = evaluate(params_, Context{}, kProv);
  const fs::path out = params_.output_dir;
  const Table cal = read_csv(out / "ensemble_calibration.csv");
  ASSERT_EQ(cal.size(), 1u);  // the single model mlp has none
  const auto& row = find_row(cal, {{"model", "xgboost"}, {"region", "north_atlantic"}});
  EXPECT_EQ(row.at("members"), "2");
  EXPECT_EQ(row.at("n"), "240");                       // 10 sample cells x 24 months
  EXPECT_DOUBLE_EQ(value(row, "within_1sigma"), 0.3);  // cells 0, 6, 9 of the 10
  EXPECT_DOUBLE_EQ(value(row, "within_2sigma"), 0.7);  // and 1, 4, 7, 10
  const double mean_std = (3 * 0.2 + 4 * 0.1 + 3 * 0.05) * std::sqrt(2.0) / 10;
  EXPECT_NEAR(value(row, "mean_std"), mean_std, 1e-6);
  EXPECT_NEAR(value(row, "rmse"), 0.25, 1e-6);
  EXPECT_NEAR(value(row, "spread_error_ratio"), mean_std / 0.25, 1e-5);
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[1].members, 2);
  EXPECT_NEAR(s.entries[1].calibration.spread_error_ratio, mean_std / 0.25, 1e-5);
  EXPECT_NE(format_summary(s).find("ensemble xgboost (2 members)"), std::string::npos);

  // The spread of the regional mean: the members' area-weighted means over the sampled cells differ by
  // -+ A, A the area-weighted mean half-width, so their std is A sqrt(2) in every month, year and
  // climatology.
  double sw = 0, sa = 0;
  for (std::size_t k = 0; k < kCells; ++k)
    if (is_sample(k)) {
      sw += area_of(k);
      sa += area_of(k) * half_width(k);
    }
  const Table spread = read_csv(out / "ensemble_spread.csv");
  ASSERT_EQ(spread.size(), 24u + 2u + 12u);
  const Table annual = read_csv(out / "timeseries_annual.csv");
  for (const auto& r : spread) {
    EXPECT_EQ(r.at("model"), "xgboost");
    EXPECT_NEAR(value(r, "member_std"), sa / sw * std::sqrt(2.0), 1e-5) << r.at("period_type");
    EXPECT_NEAR(value(r, "member_max") - value(r, "member_min"), 2 * sa / sw, 1e-5);
    EXPECT_NEAR(value(r, "member_max") + value(r, "member_min"), 2 * value(r, "rec_mean"), 1e-5);
  }
  const auto& y2010 = find_row(spread, {{"period_type", "year"}, {"year", "2010"}});
  EXPECT_EQ(y2010.at("month"), "");
  const auto& a2010 = find_row(annual, {{"model", "xgboost"}, {"year", "2010"}});
  EXPECT_NEAR(value(y2010, "rec_mean"), value(a2010, "rec_mean"), 1e-7);
  EXPECT_NEAR(value(y2010, "sim_mean"), value(a2010, "sim_mean"), 1e-7);
  const auto& jul = find_row(spread, {{"period_type", "climatology"}, {"month", "7"}});
  EXPECT_EQ(jul.at("year"), "");

  // The per-cell std field: a sqrt(2) at the samples.
  const nc::File f(out / "fields" / "xgboost_experiment_1_north_atlantic_errors.nc");
  const auto field = f.read_double("ensemble_std");
  for (std::size_t k = 0; k < kCells; ++k)
    if (is_sample(k)) {
      EXPECT_NEAR(field[k], half_width(k) * std::sqrt(2.0), 1e-6) << k;
    } else {
      EXPECT_TRUE(std::isnan(field[k])) << k;
    }
  EXPECT_FALSE(
      nc::File(out / "fields" / "mlp_experiment_1_north_atlantic_errors.nc").has_var("ensemble_std"));

  // A cache with another member count than the other years' is an error naming both files.
  ReconstructionCache c = make_cache("xgboost", 2010);
  write_cache(path("xgboost", 2010), c, kProv);
  try {
    evaluate(params_, Context{}, kProv);
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("ensemble of 1 member"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path("xgboost", 2009).string()), std::string::npos) << e.what();
  }
}

TEST_F(EvaluateEndToEnd, DecemberWithItsOwnYear) {
  params_.december = "same_year";
  evaluate(params_, Context{}, kProv);
  const Table metrics = read_csv(fs::path(params_.output_dir) / "metrics.csv");
  EXPECT_EQ(metrics.size(), 2u * 2u * 27u);  // 8 season-years
  std::vector<double> sim, rec, sim09, rec09;
  for (int year : {2009, 2010})
    for (int m : {1, 2, 12})
      for (std::size_t k = 0; k < kCells; ++k)
        if (is_sample(k)) {
          sim.push_back(sim_value(k, year, m));
          rec.push_back(rec_value("mlp", k, year, m));
          if (year == 2009) {
            sim09.push_back(sim.back());
            rec09.push_back(rec.back());
          }
        }
  const auto& djf = find_row(metrics, {{"model", "mlp"}, {"weighting", "unweighted"}, {"period", "DJF"}});
  EXPECT_EQ(djf.at("n"), std::to_string(2 * 3 * 10));
  EXPECT_NEAR(value(djf, "mse"), compute_metrics(sim, rec).mse, 1e-7);
  const auto& djf09 =
      find_row(metrics, {{"model", "mlp"}, {"weighting", "unweighted"}, {"period", "2009-DJF"}});
  EXPECT_EQ(djf09.at("n"), std::to_string(3 * 10));
  EXPECT_NEAR(value(djf09, "mse"), compute_metrics(sim09, rec09).mse, 1e-7);
  EXPECT_NEAR(value(djf09, "bias"), compute_metrics(sim09, rec09).bias, 1e-7);
}

TEST_F(EvaluateEndToEnd, OverlapWithTrainingYearsIsAnErrorUnlessAllowed) {
  // mlp was trained on experiment_1 2000-2009 and validated on 2010: both evaluated years are in-sample.
  for (int year : {2009, 2010}) {
    ReconstructionCache c = make_cache("mlp", year);
    c.train_experiment = c.validation_experiment = "experiment_1";
    c.train_first_year = 2000;
    c.train_last_year = 2009;
    c.validation_first_year = c.validation_last_year = 2010;
    write_cache(path("mlp", year), c, kProv);
  }
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& part :
         {std::string("overlap the training or validation years"), std::string("model mlp"),
          std::string("2009 (training year; ") + path("mlp", 2009).string(),
          std::string("2010 (validation year; ") + path("mlp", 2010).string(), std::string("allow_overlap")})
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << msg << "' lacks '" << part << "'";
    EXPECT_EQ(msg.find("model xgboost"), std::string::npos) << msg;
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));

  params_.allow_overlap = true;
  evaluate(params_, Context{}, kProv);
  const Table training = read_csv(fs::path(params_.output_dir) / "training.csv");
  const auto& mlp = find_row(training, {{"model", "mlp"}});
  EXPECT_EQ(mlp.at("train_experiment"), "experiment_1");
  EXPECT_EQ(mlp.at("train_years"), "2000-2009");
  EXPECT_EQ(mlp.at("validation_years"), "2010-2010");
  EXPECT_EQ(mlp.at("overlap_years"), "2009 2010");
  EXPECT_EQ(find_row(training, {{"model", "xgboost"}}).at("overlap_years"), "");
}

TEST_F(EvaluateEndToEnd, UnknownTrainingIsRecordedAsUnknown) {
  for (int year : {2009, 2010}) {
    ReconstructionCache c = make_cache("xgboost", year);
    c.train_experiment = c.validation_experiment = "";
    write_cache(path("xgboost", year), c, kProv);
  }
  evaluate(params_, Context{}, kProv);
  const Table training = read_csv(fs::path(params_.output_dir) / "training.csv");
  const auto& x = find_row(training, {{"model", "xgboost"}});
  EXPECT_EQ(x.at("train_experiment"), "unknown");
  EXPECT_EQ(x.at("train_years"), "unknown");
  EXPECT_EQ(x.at("overlap_years"), "unknown");
}

TEST_F(EvaluateEndToEnd, CachesOfDifferentlyTrainedModelsNameBothFiles) {
  ReconstructionCache c = make_cache("mlp", 2010);
  c.train_last_year = 1990;
  write_cache(path("mlp", 2010), c, kProv);
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("mlp", 2010).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("mlp", 2009).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("1958-1990"), std::string::npos) << msg;
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));
}

TEST_F(EvaluateEndToEnd, VersionOneCacheWithoutRegionMaskMustBeRebuilt) {
  const fs::path p = path("xgboost", 2010);
  int ncid = -1;
  ASSERT_EQ(nc_open(p.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_redef(ncid), NC_NOERR);
  const int one = 1;
  ASSERT_EQ(nc_put_att_int(ncid, NC_GLOBAL, "fluxkit_cache_version", NC_INT, 1, &one), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("version 1 does not record the region's ocean cells"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fluxkit reconstruct"), std::string::npos) << msg;
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));
}

TEST_F(EvaluateEndToEnd, MissingYearsNamedAtOnceAndNothingWritten) {
  fs::remove(path("mlp", 2010));
  fs::remove(path("xgboost", 2010));
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mlp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("xgboost"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2010"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("mlp", 2010).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("xgboost", 2010).string()), std::string::npos) << msg;
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));
}

TEST_F(EvaluateEndToEnd, DifferentUnitsNameBothFiles) {
  ReconstructionCache c = make_cache("xgboost", 2010);
  c.target_units = "mmol m-2 s-1";
  write_cache(path("xgboost", 2010), c, kProv);
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("xgboost", 2010).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("xgboost", 2009).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("units"), std::string::npos) << msg;
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));
}

TEST_F(EvaluateEndToEnd, DifferentGridNamesBothFiles) {
  ReconstructionCache c = make_cache("mlp", 2010);
  c.lat[5] += 0.5;
  write_cache(path("mlp", 2010), c, kProv);
  try {
    evaluate(params_, Context{}, kProv);
    FAIL() << "no error";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path("mlp", 2010).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(path("mlp", 2009).string()), std::string::npos) << msg;
    EXPECT_EQ(e.variable(), "nav_lat");
  }
  EXPECT_FALSE(has_regular_files(params_.output_dir));
}

}  // namespace
}  // namespace fluxkit

#include "fluxkit/analysis/evaluate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/reconstruct/cache.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr std::array<const char*, 4> kSeasons = {"DJF", "MAM", "JJA", "SON"};
}  // namespace

// ---- parameters
// ---------------------------------------------------------------------------------------------

std::vector<Region> EvaluateParams::user_regions() const {
  std::vector<Region> out;
  for (const auto& s : custom_regions)
    out.push_back(parse_region(s));
  return out;
}

void EvaluateParams::validate() const {
  if (caches_dir.empty()) config::invalid(kSection, "caches_dir", "must not be empty");
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
  auto names = [&](const char* key, const std::vector<std::string>& list) {
    if (list.empty()) config::invalid(kSection, key, "must name at least one");
    std::set<std::string> seen;
    for (const auto& s : list) {
      if (s.empty() || s.find_first_of("/\\") != std::string::npos)
        config::invalid(kSection, key, fmt::format("'{}' is not a valid name (non-empty, no '/')", s));
      if (!seen.insert(s).second) config::invalid(kSection, key, fmt::format("'{}' is listed twice", s));
    }
  };
  names("models", models);
  names("experiments", experiments);
  names("regions", regions);
  if (december != "next_year" && december != "same_year")
    config::invalid(
        kSection, "december",
        fmt::format("expected \"next_year\" (meteorological DJF) or \"same_year\", got '{}'", december));
  if (years.size() != 2 || years[0] > years[1] || years[0] < 1)
    config::invalid(
        kSection, "years",
        fmt::format("expected [first, last] with first <= last, got [{}]", fmt::join(years, ", ")));
  std::vector<Region> custom;
  try {
    custom = user_regions();
  } catch (const Error& e) {
    config::invalid(kSection, "custom_regions", e.what());
  }
  for (const auto& r : regions) {
    try {
      find_region(r, custom);
    } catch (const Error& e) {
      config::invalid(kSection, "regions", e.what());
    }
  }
}

// ---- metrics
// ------------------------------------------------------------------------------------------------

void MetricsAccumulator::add(double sim, double rec, double weight) {
  if (!std::isfinite(sim) || !std::isfinite(rec) || !std::isfinite(weight) || !(weight > 0)) return;
  ++n_;
  const double w_new = w_ + weight;
  const double dx = sim - mean_x_;
  const double dy = rec - mean_y_;
  const double r = weight / w_new;
  mean_x_ += r * dx;
  mean_y_ += r * dy;
  m2x_ += weight * dx * (sim - mean_x_);
  m2y_ += weight * dy * (rec - mean_y_);
  cxy_ += weight * dx * (rec - mean_y_);
  w_ = w_new;
  const double e = rec - sim;
  sse_ += weight * e * e;
  sae_ += weight * std::abs(e);
  se_ += weight * e;
}

void MetricsAccumulator::merge(const MetricsAccumulator& o) {
  if (o.n_ == 0) return;
  if (n_ == 0) {
    *this = o;
    return;
  }
  const double w = w_ + o.w_;
  const double dx = o.mean_x_ - mean_x_;
  const double dy = o.mean_y_ - mean_y_;
  const double f = w_ * o.w_ / w;
  mean_x_ += dx * (o.w_ / w);
  mean_y_ += dy * (o.w_ / w);
  m2x_ += o.m2x_ + dx * dx * f;
  m2y_ += o.m2y_ + dy * dy * f;
  cxy_ += o.cxy_ + dx * dy * f;
  sse_ += o.sse_;
  sae_ += o.sae_;
  se_ += o.se_;
  n_ += o.n_;
  w_ = w;
}

Metrics MetricsAccumulator::metrics() const {
  Metrics m;
  m.n = n_;
  if (n_ == 0) {
    m.mse = m.rmse = m.mae = m.bias = m.r2 = m.pearson_r = kNaN;
    return m;
  }
  m.mse = sse_ / w_;
  m.rmse = std::sqrt(m.mse);
  m.mae = sae_ / w_;
  m.bias = se_ / w_;
  // sklearn r2_score with force_finite=True: a constant y_true gives 1 (perfect) or 0.
  m.r2 = m2x_ > 0 ? 1.0 - sse_ / m2x_ : (sse_ == 0 ? 1.0 : 0.0);
  m.pearson_r = (m2x_ > 0 && m2y_ > 0) ? std::clamp(cxy_ / std::sqrt(m2x_ * m2y_), -1.0, 1.0) : kNaN;
  return m;
}

double MetricsAccumulator::ols_slope() const {
  return (n_ > 0 && m2x_ > 0) ? cxy_ / m2x_ : kNaN;
}
double MetricsAccumulator::ols_intercept() const {
  return mean_y_ - ols_slope() * mean_x_;
}

namespace {
MetricsAccumulator accumulate(std::span<const double> sim, std::span<const double> rec,
                              std::span<const double> weights) {
  if (sim.size() != rec.size() || (!weights.empty() && weights.size() != sim.size()))
    throw Error(fmt::format("metrics: {} simulated, {} reconstructed and {} weights differ in length",
                            sim.size(), rec.size(), weights.size()));
  MetricsAccumulator acc;
  for (std::size_t i = 0; i < sim.size(); ++i)
    acc.add(sim[i], rec[i], weights.empty() ? 1.0 : weights[i]);
  return acc;
}
}  // namespace

Metrics compute_metrics(std::span<const double> sim, std::span<const double> rec,
                        std::span<const double> weights) {
  return accumulate(sim, rec, weights).metrics();
}

OlsFit ols_fit(std::span<const double> sim, std::span<const double> rec) {
  const MetricsAccumulator acc = accumulate(sim, rec, {});
  return {acc.ols_slope(), acc.ols_intercept(), acc.n()};
}

void CalibrationAccumulator::add(double sim, double mean, double std) {
  if (!std::isfinite(sim) || !std::isfinite(mean) || !std::isfinite(std) || std < 0) return;
  const double e = std::abs(mean - sim);
  ++n_;
  in1_ += e <= std;
  in2_ += e <= 2 * std;
  sum_std_ += std;
  sse_ += e * e;
}

void CalibrationAccumulator::merge(const CalibrationAccumulator& o) {
  n_ += o.n_;
  in1_ += o.in1_;
  in2_ += o.in2_;
  sum_std_ += o.sum_std_;
  sse_ += o.sse_;
}

EnsembleCalibration CalibrationAccumulator::result() const {
  if (n_ == 0) return {0, kNaN, kNaN, kNaN, kNaN, kNaN};
  const double n = static_cast<double>(n_);
  EnsembleCalibration c;
  c.n = n_;
  c.within_1sigma = static_cast<double>(in1_) / n;
  c.within_2sigma = static_cast<double>(in2_) / n;
  c.mean_std = sum_std_ / n;
  c.rmse = std::sqrt(sse_ / n);
  c.spread_error_ratio = c.rmse > 0 ? c.mean_std / c.rmse : kNaN;
  return c;
}

EnsembleCalibration ensemble_calibration(std::span<const double> sim, std::span<const double> mean,
                                         std::span<const double> std) {
  if (sim.size() != mean.size() || sim.size() != std.size())
    throw Error(fmt::format("ensemble_calibration: {} simulated, {} mean and {} std values", sim.size(),
                            mean.size(), std.size()));
  CalibrationAccumulator a;
  for (std::size_t i = 0; i < sim.size(); ++i)
    a.add(sim[i], mean[i], std[i]);
  return a.result();
}

int season_index(int month) {
  if (month < 1 || month > 12) throw Error(fmt::format("month {} is not in 1-12", month));
  return (month % 12) / 3;  // 12, 1, 2 -> 0; 3-5 -> 1; 6-8 -> 2; 9-11 -> 3
}

const char* season_of(int month) {
  return kSeasons[static_cast<std::size_t>(season_index(month))];
}

int season_year(int year, int month, std::string_view december) {
  if (month < 1 || month > 12) throw Error(fmt::format("month {} is not in 1-12", month));
  if (december != "same_year" && december != "next_year")
    throw Error(fmt::format("december convention '{}' is not same_year or next_year", december));
  return month == 12 && december == "next_year" ? year + 1 : year;
}

bool season_complete(int season_year, int season, int first, int last, std::string_view december) {
  if (season_year < first || season_year > last + 1) return false;
  if (season == 0 && december == "next_year")  // December season_year - 1, January-February season_year
    return season_year - 1 >= first && season_year <= last;
  return season_year <= last;
}

int wrap_month_difference(int a, int b) {
  int d = (b - a) % 12;  // (-12, 12)
  if (d > 6) d -= 12;
  if (d <= -6) d += 12;
  return d;
}

IntegratedUnits integrated_units(std::string_view target_units) {
  std::string u(target_units);
  u.erase(0, u.find_first_not_of(" \t"));
  u.erase(u.find_last_not_of(" \t") + 1);
  if (u == "mol m-2 yr-1") return {12.011e-15, "Pg C yr-1"};
  return {1.0, u.empty() ? std::string("m2") : u + " m2"};
}

// ---- the evaluation
// -----------------------------------------------------------------------------------------

namespace {

std::string num(double v) {
  return fmt::format("{:.9g}", v);
}

// A CSV field, quoted when it holds a separator, a quote or a line break.
std::string field(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The seed's display names (model_metrics.py region_map); custom regions keep their name.
std::string display_name(const Region& r) {
  static const std::map<std::string, std::string> names = {{"global", "Global"},
                                                           {"north_atlantic", "North Atlantic"},
                                                           {"southern_ocean", "Southern Ocean"},
                                                           {"arctic", "Arctic Ocean"},
                                                           {"equatorial_pacific", "Equatorial Pacific"}};
  const auto it = names.find(r.name);
  return it == names.end() ? r.name : it->second;
}

struct MetricRow {
  const char* weighting;
  const char* period_type;
  std::string period;
  Metrics m;
};

// A row of the monthly or annual time series. Areas in m2; means over the sampled cells (area-weighted);
// sim_integrated over every ocean cell of the region with a simulated value; *_extrapolated = the sampled
// mean times the region's ocean area.
struct SeriesRow {
  int year = 0, month = 0;  // month 0 for annual rows
  double ocean_area = kNaN, simulated_area = kNaN, sampled_area = kNaN;
  double sim_mean = kNaN, rec_mean = kNaN;
  double sim_integrated = kNaN, sim_extrapolated = kNaN, rec_extrapolated = kNaN;
};

struct CycleRow {
  double sim_mean = kNaN, rec_mean = kNaN, sim_std = kNaN, rec_std = kNaN;
};

// The per-cell error fields of one (model, experiment, region), on the cache's grid box.
struct Fields {
  std::size_t ny = 0, nx = 0;
  std::vector<std::int32_t> y_index, x_index;
  std::vector<double> lat, lon, area;
  std::vector<std::int8_t> sample_mask, region_mask;
  std::vector<float> sim_mean, rec_mean, mean_difference, rmse, pearson_r;
  std::vector<float> ensemble_std;  // ensembles only
  std::vector<std::int32_t> n_months;
  std::string target_name, target_units, calendar;
};

// What a model was trained on, from its caches (empty experiment = unknown).
struct TrainingRecord {
  std::string train_experiment, validation_experiment;
  int train_first = 0, train_last = 0, validation_first = 0, validation_last = 0;
  bool known() const { return !train_experiment.empty(); }
  bool operator==(const TrainingRecord&) const = default;
  std::string describe() const {
    if (!known()) return "unknown";
    return fmt::format("training {} {}-{}, validation {} {}-{}", train_experiment, train_first, train_last,
                       validation_experiment.empty() ? "?" : validation_experiment, validation_first,
                       validation_last);
  }
  static TrainingRecord of(const ReconstructionCache& c) {
    return {c.train_experiment, c.validation_experiment, c.train_first_year,
            c.train_last_year,  c.validation_first_year, c.validation_last_year};
  }
  // "training" / "validation" when (experiment, year) is one of those years, else "".
  std::string overlap(std::string_view experiment, int year) const {
    if (train_experiment == experiment && year >= train_first && year <= train_last) return "training";
    if (validation_experiment == experiment && year >= validation_first && year <= validation_last)
      return "validation";
    return "";
  }
};

// A row of ensemble_spread.csv: the regional mean of every member (area-weighted over the sampled cells).
struct SpreadRow {
  const char* period_type = "month";
  int year = 0, month = 0;  // 0 = not applicable
  double sim_mean = kNaN, rec_mean = kNaN;
  std::vector<double> members;
};

struct GroupResult {
  ModelEvaluation eval;
  std::vector<SpreadRow> spread;  // ensembles only
  TrainingRecord training;
  std::vector<int> overlap_years;  // evaluated years that are training or validation years
  Region region;
  IntegratedUnits integrated;
  std::vector<MetricRow> metrics;
  std::vector<SeriesRow> monthly, annual;
  std::array<CycleRow, 12> cycle;
  double sim_amplitude = kNaN, rec_amplitude = kNaN;
  int sim_peak = 0, rec_peak = 0;  // 0 = no data
  Fields fields;
};

struct Job {
  std::string model, experiment;
  Region region;
};

bool same_doubles(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

// Area-weighted mean and standard deviation (population form) of values[k] over cells with ok[k] and a finite
// positive area.
std::pair<double, double> weighted_mean_std(const std::vector<double>& values, const std::vector<char>& ok,
                                            const std::vector<double>& area) {
  double sw = 0, s = 0;
  for (std::size_t k = 0; k < values.size(); ++k)
    if (ok[k] && std::isfinite(area[k]) && area[k] > 0) {
      sw += area[k];
      s += area[k] * values[k];
    }
  if (!(sw > 0)) return {kNaN, kNaN};
  const double mean = s / sw;
  double ss = 0;
  for (std::size_t k = 0; k < values.size(); ++k)
    if (ok[k] && std::isfinite(area[k]) && area[k] > 0)
      ss += area[k] * (values[k] - mean) * (values[k] - mean);
  return {mean, std::sqrt(ss / sw)};
}

GroupResult evaluate_group(const EvaluateParams& params, const Job& job, Progress& progress) {
  const int first = static_cast<int>(params.years[0]);
  const int last = static_cast<int>(params.years[1]);
  const std::size_t n_years = static_cast<std::size_t>(last - first + 1);

  GroupResult g;
  g.region = job.region;
  g.eval.model = job.model;
  g.eval.experiment = job.experiment;
  g.eval.region = job.region.name;

  // [0] unweighted, [1] area-weighted
  std::array<MetricsAccumulator, 2> overall;
  std::array<std::vector<MetricsAccumulator>, 2> by_year, by_month, by_season, by_season_year;
  for (auto& v : by_year)
    v.resize(n_years);
  for (auto& v : by_month)
    v.resize(12);
  for (auto& v : by_season)
    v.resize(4);
  for (auto& v : by_season_year)
    v.resize((n_years + 1) * 4);  // season years first .. last + 1
  // Area-weighted sums per calendar month over all years (seasonal cycle).
  std::array<double, 12> cyc_w{}, cyc_sim{}, cyc_rec{};
  // Per cell: pairs over all months and years; per-cell climatology sums [cell * 12 + month].
  std::vector<MetricsAccumulator> cell;
  std::vector<double> clim_sim, clim_rec;
  std::vector<std::uint16_t> clim_n;
  fs::path ref_path;
  std::size_t cells_without_area = 0;
  double ocean_area = 0;  // the region's ocean cells with a finite positive area
  std::size_t cell_months_without_value = 0;
  // Ensembles: calibration, per-cell sums of the std, the members' area-weighted sums per calendar month.
  CalibrationAccumulator calibration;
  std::vector<double> cell_std_sum;
  std::vector<std::uint32_t> cell_std_n;
  std::vector<std::array<double, 12>> cyc_member;

  for (int year = first; year <= last; ++year) {
    const fs::path path = cache_path(params.caches_dir, job.model, job.experiment, job.region.dir_name, year);
    ReconstructionCache c = read_cache(path);
    const std::string p = path.string();
    if (c.year != year)
      throw FileError(p, "", fmt::format("holds year {}, expected {} (from the file name)", c.year, year));
    if (c.version < 2)
      throw FileError(
          p, "",
          fmt::format("cache format version {} does not record the region's ocean cells, which the "
                      "regional means and integrated fluxes need: rebuild it with `fluxkit "
                      "reconstruct` (version {})",
                      c.version, kCacheVersion));
    const std::size_t n = c.cells();
    if (year == first) {
      ref_path = path;
      Fields& f = g.fields;
      f.ny = c.ny;
      f.nx = c.nx;
      f.y_index = c.y_index;
      f.x_index = c.x_index;
      f.lat = c.lat;
      f.lon = c.lon;
      f.area = c.area;
      f.sample_mask.assign(n, 0);
      f.region_mask.assign(c.region_mask.begin(), c.region_mask.end());
      f.target_name = c.target_name;
      f.target_units = c.target_units;
      f.calendar = c.calendar;
      g.eval.target_units = c.target_units;
      g.integrated = integrated_units(c.target_units);
      g.training = TrainingRecord::of(c);
      g.eval.members = c.members;
      if (c.members > 1) {
        cell_std_sum.assign(n, 0.0);
        cell_std_n.assign(n, 0);
        cyc_member.assign(static_cast<std::size_t>(c.members), {});
      }
      cell.resize(n);
      clim_sim.assign(n * 12, 0.0);
      clim_rec.assign(n * 12, 0.0);
      clim_n.assign(n * 12, 0);
      std::size_t region_without_area = 0;
      for (std::size_t k = 0; k < n; ++k)
        if (c.region_mask[k]) {
          if (std::isfinite(c.area[k]) && c.area[k] > 0)
            ocean_area += c.area[k];
          else
            ++region_without_area;
        }
      if (region_without_area > 0) {
        spdlog::warn(
            "evaluate {} {} {}: {} ocean cells of the region have no finite positive area; the region's "
            "ocean area and integrated fluxes are unknown (NaN)",
            job.model, job.experiment, job.region.name, region_without_area);
        ocean_area = kNaN;
      }
    } else {
      const Fields& f = g.fields;
      const std::string other =
          fmt::format("differs from {} (same model, experiment and region)", ref_path.string());
      if (c.ny != f.ny || c.nx != f.nx)
        throw FileError(p, "", fmt::format("grid box {}x{} {} ({}x{})", c.ny, c.nx, other, f.ny, f.nx));
      if (c.y_index != f.y_index) throw FileError(p, "y_index", "box rows " + other);
      if (c.x_index != f.x_index) throw FileError(p, "x_index", "box columns " + other);
      if (!same_doubles(c.lat, f.lat)) throw FileError(p, "nav_lat", "coordinates " + other);
      if (!same_doubles(c.lon, f.lon)) throw FileError(p, "nav_lon", "coordinates " + other);
      if (!same_doubles(c.area, f.area)) throw FileError(p, "area", "cell areas " + other);
      if (!std::equal(c.region_mask.begin(), c.region_mask.end(), f.region_mask.begin(), f.region_mask.end()))
        throw FileError(p, "region_mask", "the region's ocean cells " + other);
      if (c.target_name != f.target_name)
        throw FileError(p, "",
                        fmt::format("target '{}' {} (target '{}')", c.target_name, other, f.target_name));
      if (c.target_units != f.target_units)
        throw FileError(p, c.target_name,
                        fmt::format("units '{}' {} (units '{}')", c.target_units, other, f.target_units));
      if (c.members != g.eval.members)
        throw FileError(
            p, "",
            fmt::format("ensemble of {} member(s) {} ({} member(s))", c.members, other, g.eval.members));
      if (!(TrainingRecord::of(c) == g.training))
        throw FileError(
            p, "",
            fmt::format("the model was trained on {} but in {} on {}: caches of different models",
                        TrainingRecord::of(c).describe(), ref_path.string(), g.training.describe()));
    }
    if (!g.training.overlap(job.experiment, year).empty()) g.overlap_years.push_back(year);
    const std::size_t yi = static_cast<std::size_t>(year - first);
    for (std::size_t k = 0; k < n; ++k)
      if (c.sample_mask[k]) {
        g.fields.sample_mask[k] = 1;
        if (!c.region_mask[k])
          throw FileError(
              p, "sample_mask",
              fmt::format("sample cell (y={}, x={}) is not an ocean cell of the region (region_mask)",
                          c.y_index[k / c.nx], c.x_index[k % c.nx]));
        if (year == first && !(std::isfinite(c.area[k]) && c.area[k] > 0)) ++cells_without_area;
      }

    SeriesRow annual{year, 0};
    annual.ocean_area = ocean_area;
    double ann_w = 0, ann_sim = 0, ann_rec = 0, ann_simulated_area = 0, ann_sampled_area = 0;
    double ann_int = 0, ann_sim_ex = 0, ann_rec_ex = 0;
    int ann_int_months = 0, ann_ex_months = 0;
    const std::size_t members = c.members > 1 ? static_cast<std::size_t>(c.members) : 0;
    std::vector<double> ann_member(members, 0.0), month_member(members);
    for (std::size_t t = 0; t < c.months; ++t) {
      const int month = static_cast<int>(t) + 1;
      const float* sim = c.simulated.data() + t * n;
      const float* rec = c.reconstructed.data() + t * n;
      std::fill(month_member.begin(), month_member.end(), 0.0);
      MetricsAccumulator u, a;
      double sw = 0, ssim = 0, srec = 0, region_w = 0, region_sim = 0;
      for (std::size_t k = 0; k < n; ++k) {
        if (!c.region_mask[k]) continue;
        const double x = sim[k], ak = c.area[k];
        const bool has_area = std::isfinite(ak) && ak > 0;
        if (!std::isfinite(x))
          ++cell_months_without_value;
        else if (has_area) {
          region_w += ak;
          region_sim += ak * x;
        }
        if (!c.sample_mask[k]) continue;
        const double y = rec[k];
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        u.add(x, y);
        cell[k].add(x, y);
        clim_sim[k * 12 + t] += x;
        clim_rec[k * 12 + t] += y;
        ++clim_n[k * 12 + t];
        if (members > 0) {
          const double sd = c.reconstructed_std[t * n + k];
          calibration.add(x, y, sd);
          if (std::isfinite(sd)) {
            cell_std_sum[k] += sd;
            ++cell_std_n[k];
          }
        }
        if (has_area) {
          a.add(x, y, ak);
          sw += ak;
          ssim += ak * x;
          srec += ak * y;
          for (std::size_t m = 0; m < members; ++m)
            month_member[m] += ak * c.member_reconstructed[(m * c.months + t) * n + k];
        }
      }
      const std::size_t s = static_cast<std::size_t>(season_index(month));
      const int sy = season_year(year, month, params.december);
      const bool complete = season_complete(sy, static_cast<int>(s), first, last, params.december);
      const std::size_t syi = static_cast<std::size_t>(sy - first) * 4 + s;
      const std::array<const MetricsAccumulator*, 2> acc = {&u, &a};
      for (std::size_t w = 0; w < 2; ++w) {
        overall[w].merge(*acc[w]);
        by_year[w][yi].merge(*acc[w]);
        by_month[w][t].merge(*acc[w]);
        if (complete) {
          by_season[w][s].merge(*acc[w]);
          by_season_year[w][syi].merge(*acc[w]);
        }
      }
      SeriesRow row{year, month};
      row.ocean_area = ocean_area;
      row.simulated_area = region_w;
      row.sampled_area = sw;
      if (region_w > 0) {
        row.sim_integrated = region_sim * g.integrated.factor;
        ann_int += row.sim_integrated;
        ++ann_int_months;
      }
      ann_simulated_area += region_w;
      ann_sampled_area += sw;
      if (sw > 0) {
        row.sim_mean = ssim / sw;
        row.rec_mean = srec / sw;
        row.sim_extrapolated = row.sim_mean * ocean_area * g.integrated.factor;
        row.rec_extrapolated = row.rec_mean * ocean_area * g.integrated.factor;
        ann_w += sw;
        ann_sim += ssim;
        ann_rec += srec;
        ann_sim_ex += row.sim_extrapolated;
        ann_rec_ex += row.rec_extrapolated;
        ++ann_ex_months;
        cyc_w[t] += sw;
        cyc_sim[t] += ssim;
        cyc_rec[t] += srec;
      }
      g.monthly.push_back(row);
      if (members > 0) {
        SpreadRow sr{"month", year, month, row.sim_mean, row.rec_mean, std::vector<double>(members, kNaN)};
        for (std::size_t m = 0; m < members; ++m) {
          ann_member[m] += month_member[m];
          cyc_member[m][t] += month_member[m];
          if (sw > 0) sr.members[m] = month_member[m] / sw;
        }
        g.spread.push_back(std::move(sr));
      }
    }
    const double months = static_cast<double>(c.months);
    annual.simulated_area = ann_simulated_area / months;
    annual.sampled_area = ann_sampled_area / months;
    if (ann_int_months > 0) annual.sim_integrated = ann_int / ann_int_months;
    if (ann_w > 0) {
      annual.sim_mean = ann_sim / ann_w;
      annual.rec_mean = ann_rec / ann_w;
      annual.sim_extrapolated = ann_sim_ex / ann_ex_months;
      annual.rec_extrapolated = ann_rec_ex / ann_ex_months;
    }
    g.annual.push_back(annual);
    if (members > 0) {
      SpreadRow sr{"year", year, 0, annual.sim_mean, annual.rec_mean, std::vector<double>(members, kNaN)};
      for (std::size_t m = 0; m < members && ann_w > 0; ++m)
        sr.members[m] = ann_member[m] / ann_w;
      g.spread.push_back(std::move(sr));
    }
    progress.advance();
  }
  if (cells_without_area > 0)
    spdlog::warn(
        "evaluate {} {} {}: {} sample cells have no finite positive area and are left out of the "
        "area-weighted numbers",
        job.model, job.experiment, job.region.name, cells_without_area);
  if (cell_months_without_value > 0)
    spdlog::warn(
        "evaluate {} {} {}: {} (cell, month) pairs of the region's ocean cells have no simulated value; "
        "sim_integrated covers simulated_area_m2, less than ocean_area_m2, in those months",
        job.model, job.experiment, job.region.name, cell_months_without_value);

  // Metrics table rows.
  const std::array<const char*, 2> weighting = {"unweighted", "area"};
  for (std::size_t w = 0; w < 2; ++w) {
    g.metrics.push_back({weighting[w], "overall", "all", overall[w].metrics()});
    for (std::size_t i = 0; i < n_years; ++i)
      g.metrics.push_back(
          {weighting[w], "year", std::to_string(first + static_cast<int>(i)), by_year[w][i].metrics()});
    for (std::size_t t = 0; t < 12; ++t)
      g.metrics.push_back({weighting[w], "month", std::to_string(t + 1), by_month[w][t].metrics()});
    for (std::size_t s = 0; s < 4; ++s)
      g.metrics.push_back({weighting[w], "season", kSeasons[s], by_season[w][s].metrics()});
    for (int sy = first; sy <= last + 1; ++sy)
      for (std::size_t s = 0; s < 4; ++s)
        if (season_complete(sy, static_cast<int>(s), first, last, params.december))
          g.metrics.push_back({weighting[w], "season_year", fmt::format("{}-{}", sy, kSeasons[s]),
                               by_season_year[w][static_cast<std::size_t>(sy - first) * 4 + s].metrics()});
  }
  g.eval.unweighted = overall[0].metrics();
  g.eval.area = overall[1].metrics();
  g.eval.fit = {overall[0].ols_slope(), overall[0].ols_intercept(), overall[0].n()};

  // Seasonal cycle: the regional mean climatology and the spread across cells of the per-cell climatology.
  const std::size_t n = g.fields.ny * g.fields.nx;
  std::vector<double> cs(n), cr(n);
  std::vector<char> ok(n);
  for (std::size_t t = 0; t < 12; ++t) {
    CycleRow& row = g.cycle[t];
    if (cyc_w[t] > 0) {
      row.sim_mean = cyc_sim[t] / cyc_w[t];
      row.rec_mean = cyc_rec[t] / cyc_w[t];
    }
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint16_t cnt = clim_n[k * 12 + t];
      ok[k] = cnt > 0;
      cs[k] = cnt > 0 ? clim_sim[k * 12 + t] / cnt : 0.0;
      cr[k] = cnt > 0 ? clim_rec[k * 12 + t] / cnt : 0.0;
    }
    row.sim_std = weighted_mean_std(cs, ok, g.fields.area).second;
    row.rec_std = weighted_mean_std(cr, ok, g.fields.area).second;
  }
  auto amplitude_peak = [&](double CycleRow::*member, double& amplitude, int& peak) {
    double lo = kNaN, hi = kNaN;
    for (std::size_t t = 0; t < 12; ++t) {
      const double v = g.cycle[t].*member;
      if (!std::isfinite(v)) continue;
      if (!(v >= lo)) lo = v;
      if (!(v <= hi)) {
        hi = v;
        peak = static_cast<int>(t) + 1;
      }
    }
    amplitude = hi - lo;
  };
  amplitude_peak(&CycleRow::sim_mean, g.sim_amplitude, g.sim_peak);
  amplitude_peak(&CycleRow::rec_mean, g.rec_amplitude, g.rec_peak);
  if (g.eval.members > 1) {
    g.eval.calibration = calibration.result();
    for (std::size_t t = 0; t < 12; ++t) {
      SpreadRow sr{"climatology",           0,
                   static_cast<int>(t) + 1, g.cycle[t].sim_mean,
                   g.cycle[t].rec_mean,     std::vector<double>(cyc_member.size(), kNaN)};
      for (std::size_t m = 0; m < cyc_member.size() && cyc_w[t] > 0; ++m)
        sr.members[m] = cyc_member[m][t] / cyc_w[t];
      g.spread.push_back(std::move(sr));
    }
  }

  // Per-cell fields.
  Fields& f = g.fields;
  f.sim_mean.assign(n, kNaNf);
  f.rec_mean.assign(n, kNaNf);
  f.mean_difference.assign(n, kNaNf);
  f.rmse.assign(n, kNaNf);
  f.pearson_r.assign(n, kNaNf);
  f.n_months.assign(n, 0);
  for (std::size_t k = 0; k < n; ++k) {
    if (cell[k].n() == 0) continue;
    const Metrics m = cell[k].metrics();
    f.sim_mean[k] = static_cast<float>(cell[k].mean_sim());
    f.rec_mean[k] = static_cast<float>(cell[k].mean_rec());
    f.mean_difference[k] = static_cast<float>(m.bias);
    f.rmse[k] = static_cast<float>(m.rmse);
    f.pearson_r[k] = static_cast<float>(m.pearson_r);
    f.n_months[k] = static_cast<std::int32_t>(m.n);
  }
  if (g.eval.members > 1) {
    f.ensemble_std.assign(n, kNaNf);
    for (std::size_t k = 0; k < n; ++k)
      if (cell_std_n[k] > 0) f.ensemble_std[k] = static_cast<float>(cell_std_sum[k] / cell_std_n[k]);
  }
  return g;
}

void write_fields(const fs::path& path, const GroupResult& g, const EvaluateParams& params,
                  const Provenance& prov) {
  const Fields& f = g.fields;
  nc::Writer w(path);
  w.add_dim("y", f.ny);
  w.add_dim("x", f.nx);
  const nc::Compression zip{1, true};
  define_box_coordinates(w, "1 where the cell is a sample of the region in any evaluated year");

  const std::string period = fmt::format("{}-{}", params.years[0], params.years[1]);
  struct Var {
    const char* name;
    std::string long_name, units, cell_methods;
    const std::vector<float>* data;
  };
  const std::string& t = f.target_name;
  std::vector<Var> vars = {
      {"simulated_mean", fmt::format("time mean of the simulated {} over {}", t, period), f.target_units,
       "time: mean", &f.sim_mean},
      {"reconstructed_mean", fmt::format("time mean of the reconstructed {} over {}", t, period),
       f.target_units, "time: mean", &f.rec_mean},
      {"mean_difference", fmt::format("time mean of reconstructed minus simulated {} over {}", t, period),
       f.target_units, "time: mean", &f.mean_difference},
      {"rmse",
       fmt::format("root mean square of reconstructed minus simulated {} over the months of {}", t, period),
       f.target_units, "time: root_mean_square", &f.rmse},
      {"pearson_r",
       fmt::format("Pearson correlation of reconstructed and simulated {} over the months of {}", t, period),
       "1", "time: point", &f.pearson_r},
  };
  if (!f.ensemble_std.empty())
    vars.push_back(
        {"ensemble_std",
         fmt::format("time mean over the months of {} of the standard deviation of the reconstructed "
                     "{} across the {} ensemble members",
                     period, t, g.eval.members),
         f.target_units, "time: mean", &f.ensemble_std});
  for (const Var& v : vars) {
    w.add_var(v.name, NC_FLOAT, {"y", "x"}, zip);
    w.put_att(v.name, "_FillValue", kNaNf);
    w.put_att(v.name, "long_name", v.long_name);
    w.put_att(v.name, "units", v.units);
    w.put_att(v.name, "coordinates", "nav_lat nav_lon");
    w.put_att(v.name, "cell_measures", "area: area");
    if (std::string_view(v.name) != "pearson_r") w.put_att(v.name, "cell_methods", v.cell_methods);
  }
  w.add_var("n_months", NC_INT, {"y", "x"}, zip);
  w.put_att("n_months", "long_name", "number of months with simulated and reconstructed values");
  w.put_att("n_months", "units", "1");
  w.put_att("n_months", "coordinates", "nav_lat nav_lon");
  w.put_provenance(prov);
  w.put_att("", "title",
            fmt::format("fluxkit evaluation error fields: {} {} {} {}", g.eval.model, g.eval.experiment,
                        g.eval.region, period));
  w.put_att("", "model", g.eval.model);
  w.put_att("", "experiment", g.eval.experiment);
  w.put_att("", "region", g.eval.region);
  w.put_att("", "first_year", static_cast<int>(params.years[0]));
  w.put_att("", "last_year", static_cast<int>(params.years[1]));
  w.put_att("", "target_name", f.target_name);
  w.put_att("", "target_units", f.target_units);
  w.put_att("", "calendar", f.calendar);
  w.end_define();
  w.write("y_index", std::span<const std::int32_t>(f.y_index));
  w.write("x_index", std::span<const std::int32_t>(f.x_index));
  w.write("nav_lat", std::span<const double>(f.lat));
  w.write("nav_lon", std::span<const double>(f.lon));
  w.write("area", std::span<const double>(f.area));
  w.write("sample_mask", std::span<const std::int8_t>(f.sample_mask));
  w.write("region_mask", std::span<const std::int8_t>(f.region_mask));
  for (const Var& v : vars)
    w.write(v.name, std::span<const float>(*v.data));
  w.write("n_months", std::span<const std::int32_t>(f.n_months));
  w.commit();
}

}  // namespace

EvaluationSummary evaluate(const EvaluateParams& params, [[maybe_unused]] const Context& ctx,
                           const Provenance& provenance) {
  params.validate();
  const std::vector<Region> custom = params.user_regions();
  const int first = static_cast<int>(params.years[0]);
  const int last = static_cast<int>(params.years[1]);

  std::vector<Job> jobs;
  for (const auto& experiment : params.experiments)
    for (const auto& region : params.regions)
      for (const auto& model : params.models)
        jobs.push_back({model, experiment, find_region(region, custom)});

  // Every cache must exist before any work: one error naming all that are missing.
  std::vector<std::string> missing;
  std::size_t n_missing = 0;
  for (const Job& job : jobs) {
    std::vector<int> years;
    std::vector<std::string> paths;
    for (int year = first; year <= last; ++year) {
      const fs::path p = cache_path(params.caches_dir, job.model, job.experiment, job.region.dir_name, year);
      if (!fs::exists(p)) {
        years.push_back(year);
        paths.push_back(p.string());
      }
    }
    if (years.empty()) continue;
    n_missing += years.size();
    missing.push_back(fmt::format("  model {}, experiment {}, region {}: year{} {} ({})", job.model,
                                  job.experiment, job.region.name, years.size() > 1 ? "s" : "",
                                  fmt::join(years, ", "), fmt::join(paths, ", ")));
  }
  if (!missing.empty())
    throw Error(
        fmt::format("evaluate: {} reconstruction cache{} missing for {}-{} (run `fluxkit reconstruct` "
                    "for them first):\n{}",
                    n_missing, n_missing > 1 ? "s" : "", first, last, fmt::join(missing, "\n")));

  // Leakage: evaluated years the models were trained or validated on, in the same experiment (from the
  // caches' headers, cheap), before anything is computed or written.
  {
    std::vector<std::string> overlaps, unknown;
    for (const Job& job : jobs) {
      std::vector<std::string> found;
      for (int year = first; year <= last; ++year) {
        const fs::path p =
            cache_path(params.caches_dir, job.model, job.experiment, job.region.dir_name, year);
        const ReconstructionCache h = read_cache_header(p);
        const TrainingRecord r = TrainingRecord::of(h);
        if (!r.known()) {
          if (year == first) unknown.push_back(fmt::format("{} ({})", job.model, p.string()));
          continue;
        }
        const std::string split = r.overlap(job.experiment, year);
        if (!split.empty()) found.push_back(fmt::format("{} ({} year; {})", year, split, p.string()));
      }
      if (!found.empty())
        overlaps.push_back(fmt::format("  model {}, experiment {}, region {}: {}", job.model, job.experiment,
                                       job.region.name, fmt::join(found, ", ")));
    }
    if (!overlaps.empty() && !params.allow_overlap)
      throw Error(fmt::format(
          "evaluate: evaluated years overlap the training or validation years of the same experiment, so "
          "their scores would be in-sample:\n{}\nEvaluate other years or experiments, or set "
          "[evaluate] allow_overlap = true (the tables then record the overlap in training.csv)",
          fmt::join(overlaps, "\n")));
    if (!overlaps.empty())
      spdlog::warn("evaluate: in-sample years evaluated (allow_overlap = true):\n{}",
                   fmt::join(overlaps, "\n"));
    std::sort(unknown.begin(), unknown.end());
    unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
    if (!unknown.empty())
      spdlog::warn(
          "evaluate: the caches of {} do not record what the model was trained on (imported weights or an "
          "older artifact); overlap with the training years cannot be checked",
          fmt::join(unknown, ", "));
  }

  // Compute everything, one (model, experiment, region) at a time, before writing anything.
  EvaluationSummary summary;
  summary.output_dir = params.output_dir;
  summary.first_year = first;
  summary.last_year = last;
  std::string metrics_csv =
      "model,experiment,region,weighting,period_type,period,n,mse,rmse,mae,bias,r2,pearson_r\n";
  const char* series_columns =
      "ocean_area_m2,simulated_area_m2,sampled_area_m2,area_fraction,sim_mean,rec_mean,diff_mean,"
      "sim_integrated,sim_integrated_extrapolated,rec_integrated_extrapolated,integrated_units\n";
  std::string monthly_csv = std::string("model,experiment,region,year,month,") + series_columns;
  std::string annual_csv = std::string("model,experiment,region,year,") + series_columns;
  std::string training_csv =
      "model,experiment,region,train_experiment,train_years,validation_experiment,validation_years,"
      "overlap_years\n";
  std::string cycle_csv = "model,experiment,region,month,sim_mean,rec_mean,sim_std_cells,rec_std_cells\n";
  std::string seasonal_csv =
      "model,experiment,region,sim_amplitude,rec_amplitude,amplitude_error,sim_peak_month,rec_peak_month,"
      "phase_error_months\n";
  std::string scatter_csv = "model,experiment,region,n,slope,intercept\n";
  std::string calibration_csv =
      "model,experiment,region,members,n,within_1sigma,within_2sigma,mean_std,rmse,spread_error_ratio\n";
  std::string spread_csv =
      "model,experiment,region,period_type,year,month,members,sim_mean,rec_mean,member_std,member_min,"
      "member_max\n";
  std::vector<std::pair<fs::path, GroupResult>> field_files;  // written at the end
  {
    Progress progress("evaluate", jobs.size() * static_cast<std::uint64_t>(last - first + 1), "caches");
    for (const Job& job : jobs) {
      GroupResult g = evaluate_group(params, job, progress);
      summary.caches_read += static_cast<std::size_t>(last - first + 1);
      const std::string key =
          fmt::format("{},{},{}", field(job.model), field(job.experiment), field(job.region.name));
      for (const MetricRow& r : g.metrics)
        metrics_csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", key, r.weighting, r.period_type,
                                   r.period, r.m.n, num(r.m.mse), num(r.m.rmse), num(r.m.mae), num(r.m.bias),
                                   num(r.m.r2), num(r.m.pearson_r));
      const std::string units = field(g.integrated.units);
      auto series = [&](const SeriesRow& r) {
        return fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", num(r.ocean_area), num(r.simulated_area),
                           num(r.sampled_area), num(r.sampled_area / r.ocean_area), num(r.sim_mean),
                           num(r.rec_mean), num(r.rec_mean - r.sim_mean), num(r.sim_integrated),
                           num(r.sim_extrapolated), num(r.rec_extrapolated), units);
      };
      for (const SeriesRow& r : g.monthly)
        monthly_csv += fmt::format("{},{},{},", key, r.year, r.month) + series(r);
      for (const SeriesRow& r : g.annual)
        annual_csv += fmt::format("{},{},", key, r.year) + series(r);
      {
        const TrainingRecord& t = g.training;
        auto years = [](int a, int b) { return fmt::format("{}-{}", a, b); };
        training_csv += fmt::format(
            "{},{},{},{},{},{}\n", key, t.known() ? field(t.train_experiment) : "unknown",
            t.known() ? years(t.train_first, t.train_last) : "unknown",
            t.validation_experiment.empty() ? "unknown" : field(t.validation_experiment),
            t.validation_experiment.empty() ? "unknown" : years(t.validation_first, t.validation_last),
            t.known() ? fmt::format("{}", fmt::join(g.overlap_years, " ")) : "unknown");
      }
      for (std::size_t t = 0; t < 12; ++t) {
        const CycleRow& r = g.cycle[t];
        cycle_csv += fmt::format("{},{},{},{},{},{}\n", key, t + 1, num(r.sim_mean), num(r.rec_mean),
                                 num(r.sim_std), num(r.rec_std));
      }
      const auto month_or_empty = [](int m) { return m > 0 ? std::to_string(m) : std::string(); };
      seasonal_csv += fmt::format(
          "{},{},{},{},{},{},{}\n", key, num(g.sim_amplitude), num(g.rec_amplitude),
          num(g.rec_amplitude - g.sim_amplitude), month_or_empty(g.sim_peak), month_or_empty(g.rec_peak),
          (g.sim_peak > 0 && g.rec_peak > 0) ? std::to_string(wrap_month_difference(g.sim_peak, g.rec_peak))
                                             : std::string());
      scatter_csv +=
          fmt::format("{},{},{},{}\n", key, g.eval.fit.n, num(g.eval.fit.slope), num(g.eval.fit.intercept));
      if (g.eval.members > 1) {
        const EnsembleCalibration& cal = g.eval.calibration;
        calibration_csv += fmt::format("{},{},{},{},{},{},{},{}\n", key, g.eval.members, cal.n,
                                       num(cal.within_1sigma), num(cal.within_2sigma), num(cal.mean_std),
                                       num(cal.rmse), num(cal.spread_error_ratio));
        for (const SpreadRow& r : g.spread) {
          double lo = kNaN, hi = kNaN, sum = 0, ss = 0;
          bool finite = true;
          for (double v : r.members) {
            finite = finite && std::isfinite(v);
            sum += v;
            lo = std::isnan(lo) ? v : std::min(lo, v);
            hi = std::isnan(hi) ? v : std::max(hi, v);
          }
          const double count = static_cast<double>(r.members.size());
          for (double v : r.members)
            ss += (v - sum / count) * (v - sum / count);
          const double sd = finite ? std::sqrt(ss / (count - 1)) : kNaN;
          if (!finite) lo = hi = kNaN;
          spread_csv += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", key, r.period_type,
                                    r.year > 0 ? std::to_string(r.year) : std::string(),
                                    r.month > 0 ? std::to_string(r.month) : std::string(), r.members.size(),
                                    num(r.sim_mean), num(r.rec_mean), num(sd), num(lo), num(hi));
        }
        g.spread.clear();
      }
      summary.entries.push_back(g.eval);
      const fs::path fields_path =
          fs::path(params.output_dir) / "fields" /
          fmt::format("{}_{}_{}_errors.nc", job.model, job.experiment, job.region.name);
      g.metrics.clear();  // in the tables already; the per-cell fields are kept until written
      g.monthly.clear();
      g.annual.clear();
      field_files.emplace_back(fields_path, std::move(g));
    }
  }

  // Ranking per (experiment, region) by overall unweighted RMSE, and the seed's model_metrics tables.
  std::string ranking_csv = "experiment,region,rank,model,rmse,mse,r2\n";
  std::vector<std::pair<fs::path, std::string>> seed_tables;
  const std::size_t n_models = params.models.size();
  for (std::size_t begin = 0; begin < summary.entries.size(); begin += n_models) {
    std::vector<std::size_t> order(n_models);
    for (std::size_t i = 0; i < n_models; ++i)
      order[i] = begin + i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const double ra = summary.entries[a].unweighted.rmse, rb = summary.entries[b].unweighted.rmse;
      if (std::isnan(ra)) return false;
      if (std::isnan(rb)) return true;
      return ra < rb;
    });
    for (std::size_t r = 0; r < n_models; ++r) {
      ModelEvaluation& e = summary.entries[order[r]];
      e.rank = static_cast<int>(r) + 1;
      ranking_csv +=
          fmt::format("{},{},{},{},{},{},{}\n", field(e.experiment), field(e.region), e.rank, field(e.model),
                      num(e.unweighted.rmse), num(e.unweighted.mse), num(e.unweighted.r2));
    }
    const ModelEvaluation& head = summary.entries[begin];
    const std::string region_name = display_name(field_files[begin].second.region);
    std::string table = "Region,Model,Month,MSE,RMSE,MAE\n";
    for (std::size_t i = begin; i < begin + n_models; ++i) {
      const ModelEvaluation& e = summary.entries[i];
      table += fmt::format("{},{},Overall,{},{},{}\n", field(region_name), field(e.model),
                           num(e.unweighted.mse), num(e.unweighted.rmse), num(e.unweighted.mae));
    }
    seed_tables.emplace_back(
        fs::path(params.output_dir) / fmt::format("model_metrics_{}_{}.csv", head.experiment, head.region),
        std::move(table));
  }

  // Write, each file atomically.
  const fs::path out = params.output_dir;
  auto write_table = [&](const fs::path& path, const std::string& text) {
    write_text_atomic(path, text);
    summary.files.push_back(path);
  };
  write_table(out / "metrics.csv", metrics_csv);
  write_table(out / "timeseries_monthly.csv", monthly_csv);
  write_table(out / "timeseries_annual.csv", annual_csv);
  write_table(out / "seasonal_cycle.csv", cycle_csv);
  write_table(out / "seasonal_summary.csv", seasonal_csv);
  write_table(out / "scatter_fit.csv", scatter_csv);
  write_table(out / "ranking.csv", ranking_csv);
  write_table(out / "training.csv", training_csv);
  write_table(out / "ensemble_calibration.csv", calibration_csv);
  write_table(out / "ensemble_spread.csv", spread_csv);
  for (const auto& [path, text] : seed_tables)
    write_table(path, text);
  for (const auto& [path, g] : field_files) {
    write_fields(path, g, params, provenance);
    summary.files.push_back(path);
  }
  return summary;
}

std::string format_summary(const EvaluationSummary& s) {
  std::size_t we = 10, wr = 6, wm = 5;
  for (const auto& e : s.entries) {
    we = std::max(we, e.experiment.size());
    wr = std::max(wr, e.region.size());
    wm = std::max(wm, e.model.size());
  }
  auto fixed = [](double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : std::string("nan"); };
  std::string out = fmt::format("evaluation {}-{} ({} caches) -> {}\n", s.first_year, s.last_year,
                                s.caches_read, s.output_dir.string());
  out += fmt::format("{:<{}}  {:<{}}  {:>4}  {:<{}}  {:>12}  {:>10}  {:>10}  {:>11}  {:>10}", "experiment",
                     we, "region", wr, "rank", "model", wm, "n", "RMSE", "R2", "RMSE(area)", "R2(area)");
  for (const auto& e : s.entries)
    out +=
        fmt::format("\n{:<{}}  {:<{}}  {:>4}  {:<{}}  {:>12}  {:>10}  {:>10}  {:>11}  {:>10}", e.experiment,
                    we, e.region, wr, e.rank, e.model, wm, e.unweighted.n, fixed(e.unweighted.rmse),
                    fixed(e.unweighted.r2), fixed(e.area.rmse), fixed(e.area.r2));
  for (const auto& e : s.entries)
    if (e.members > 1)
      out += fmt::format(
          "\nensemble {} ({} members), {} {}: {:.3f} of the simulated values within +-1 sigma, {:.3f} within "
          "+-2 sigma, spread/error {}",
          e.model, e.members, e.experiment, e.region, e.calibration.within_1sigma,
          e.calibration.within_2sigma, fixed(e.calibration.spread_error_ratio));
  return out;
}

}  // namespace fluxkit

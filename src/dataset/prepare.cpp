#include "fluxkit/dataset/prepare.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/dataset/cells.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/models/statistics_file.hpp"

namespace fluxkit {

// ---- parameters
// ---------------------------------------------------------------------------------------------

std::vector<Region> PrepareParams::user_regions() const {
  std::vector<Region> out;
  for (const auto& s : custom_regions)
    out.push_back(parse_region(s));
  return out;
}

void PrepareParams::validate() const {
  for (const auto& s : splits)
    if (s != "train" && s != "validation" && s != "test")
      config::invalid(kSection, "splits",
                      fmt::format("unknown split '{}' (expected train, validation, test)", s));
  if (window < 1 || window > 12)
    config::invalid(kSection, "window", fmt::format("must be 1..12, got {}", window));
  if (lead < 0 || window + lead > 13)
    config::invalid(kSection, "lead", fmt::format("must be >= 0 with window + lead <= 13, got {}", lead));
  try {
    parse_subsample_mode(subsample);
  } catch (const Error& e) {
    config::invalid(kSection, "subsample", e.what());
  }
  auto years = [&](const char* key, const std::vector<std::int64_t>& y) {
    if (y.size() != 2 || y[0] > y[1] || y[0] < 1)
      config::invalid(kSection, key,
                      fmt::format("expected [first, last] with first <= last, got [{}]", fmt::join(y, ", ")));
  };
  years("train_years", train_years);
  years("validation_years", validation_years);
  years("test_years", test_years);
  auto fraction = [&](const char* key, double f) {
    if (!(f > 0 && f <= 1)) config::invalid(kSection, key, fmt::format("must be in (0, 1], got {}", f));
  };
  fraction("train_fraction", train_fraction);
  fraction("validation_fraction", validation_fraction);
  fraction("test_fraction", test_fraction);
  std::vector<Region> custom;
  try {
    custom = user_regions();
  } catch (const Error& e) {
    config::invalid(kSection, "custom_regions", e.what());
  }
  auto region = [&](const char* key, const std::string& name) {
    try {
      find_region(name, custom);
    } catch (const Error& e) {
      config::invalid(kSection, key, e.what());
    }
  };
  region("train_region", train_region);
  region("validation_region", validation_region);
  for (const auto& r : test_regions)
    region("test_regions", r);
  if (test_experiments.empty() && std::find(splits.begin(), splits.end(), "test") != splits.end())
    config::invalid(kSection, "test_experiments",
                    "must name at least one experiment when building test sets");
  if (band_megabytes < 1) config::invalid(kSection, "band_megabytes", "must be >= 1");
  // Leakage: test targets in years the models were trained or validated on, in the same experiment.
  if (!allow_overlap) {
    for (const auto& experiment : test_experiments) {
      for (const auto& [split, exp, y] :
           {std::tuple{"training", train_experiment, train_years},
            std::tuple{"validation", validation_experiment, validation_years}}) {
        if (experiment != exp) continue;
        const auto lo = std::max(test_years[0], y[0]), hi = std::min(test_years[1], y[1]);
        if (lo > hi) continue;
        config::invalid(
            kSection, "test_years",
            fmt::format("test years {}-{} of {} overlap the {} years {}-{} of the same experiment (in {}): "
                        "test scores there would be in-sample. Choose other test years or experiments, or "
                        "set [prepare] allow_overlap = true",
                        test_years[0], test_years[1], experiment, split, y[0], y[1],
                        lo == hi ? std::to_string(lo) : fmt::format("{}-{}", lo, hi)));
      }
    }
  }
  if (seed < -1)
    config::invalid(kSection, "seed", fmt::format("must be >= 0 (or -1 = [run] seed), got {}", seed));
}

std::uint64_t PrepareParams::subsample_seed(const Context& ctx) const {
  return seed >= 0 ? static_cast<std::uint64_t>(seed) : ctx.seed;
}

std::filesystem::path PrepareParams::train_path() const {
  return std::filesystem::path(output_dir) / "train.nc";
}
std::filesystem::path PrepareParams::validation_path() const {
  return std::filesystem::path(output_dir) / "validation.nc";
}
std::filesystem::path PrepareParams::test_path(std::string_view experiment, std::string_view region,
                                               int year) const {
  const Region r = find_region(region, user_regions());
  return std::filesystem::path(output_dir) / "test" / std::string(experiment) / r.dir_name /
         fmt::format("{}_test_{}_{}.nc", r.dir_name, year, experiment);
}

// ---- streaming builder
// --------------------------------------------------------------------------------------

namespace {

// One pass over an experiment's files for a span of months, feeding one or more stores (regions).
struct SplitJob {
  std::string split, experiment;
  int first_year = 0, last_year = 0;  // target years
  int context = 0;                    // months before first_year read as window context only
  double fraction = 1.0;
  struct Output {
    Region region;
    std::filesystem::path path;
  };
  std::vector<Output> outputs;
};

// Running mean and sum of squared deviations (Chan et al.), double precision, per column.
struct Moments {
  std::vector<double> n, mean, m2;
  explicit Moments(std::size_t cols) : n(cols, 0), mean(cols, 0), m2(cols, 0) {}
  void add(std::size_t col, const std::vector<double>& values) {
    if (values.empty()) return;
    double m = 0;
    for (double v : values)
      m += v;
    m /= static_cast<double>(values.size());
    double s = 0;
    for (double v : values)
      s += (v - m) * (v - m);
    const double nb = static_cast<double>(values.size()), na = n[col], delta = m - mean[col];
    mean[col] += delta * nb / (na + nb);
    m2[col] += s + delta * delta * na * nb / (na + nb);
    n[col] = na + nb;
  }
  double std_ddof1(std::size_t col) const { return n[col] > 1 ? std::sqrt(m2[col] / (n[col] - 1)) : 0.0; }
};

class Preparer {
 public:
  Preparer(const PrepareParams& p, const DataParams& d, const Context& ctx, const Provenance& prov)
      : p_(p), d_(d), ctx_(ctx), prov_(prov), mode_(parse_subsample_mode(p.subsample)) {
    for (const auto& f : d_.features)
      is_static_.push_back(is_static_feature(f));
  }

  std::vector<StoreSummary> run();

 private:
  // Builds the stores of one job; with stats == nullopt computes the normalisation from this job's data.
  std::vector<StoreSummary> build(const SplitJob& job, std::optional<Normalisation>& stats);
  const nemo::Grid& reference_grid(const std::filesystem::path& first_file);
  void check_files_exist(const SplitJob& job) const;

  const PrepareParams& p_;
  const DataParams& d_;
  const Context& ctx_;
  const Provenance& prov_;
  SubsampleMode mode_;
  std::vector<bool> is_static_;
  std::optional<nemo::Grid> grid_;
  std::string grid_file_;
  std::optional<CellTable> table_;
  std::map<double, std::vector<std::size_t>> subsamples_;  // by fraction
};

const nemo::Grid& Preparer::reference_grid(const std::filesystem::path& first_file) {
  if (!grid_) {
    const nemo::File f(first_file);
    grid_ = f.grid();
    grid_file_ = f.path();
    table_ = build_cell_table(*grid_);
    spdlog::info("grid {}x{} (y x) from {}: {} ocean cells, {} distinct locations{}{}", grid_->ny, grid_->nx,
                 grid_file_, table_->ocean_cells, table_->cells.size(),
                 table_->halo_columns ? ", east-west halo columns removed" : "",
                 table_->repeated_locations ? fmt::format(", {} repeated locations (halo/north fold) removed",
                                                          table_->repeated_locations)
                                            : "");
  }
  return *grid_;
}

void Preparer::check_files_exist(const SplitJob& job) const {
  const int first_file_year = cftime::YearMonth::from_index(job.first_year * 12 - job.context).year;
  std::vector<std::string> missing;
  for (int y = first_file_year; y <= job.last_year; ++y) {
    const auto path = d_.file(job.experiment, y);
    if (!std::filesystem::exists(path)) missing.push_back(fmt::format("{} ({})", y, path.string()));
  }
  if (!missing.empty())
    throw Error(fmt::format("{} set of {}: missing {} yearly file(s): {}", job.split, job.experiment,
                            missing.size(), fmt::join(missing, "; ")));
}

std::vector<StoreSummary> Preparer::build(const SplitJob& job, std::optional<Normalisation>& stats) {
  check_files_exist(job);
  const int first_month = job.first_year * 12 - job.context;  // YearMonth index of series index 0
  const int last_month = job.last_year * 12 + 11;
  const std::size_t T = static_cast<std::size_t>(last_month - first_month + 1);
  const std::size_t F = d_.features.size();
  const int first_file_year = cftime::YearMonth::from_index(first_month).year;
  const nemo::Grid& grid = reference_grid(d_.file(job.experiment, first_file_year));
  const CellTable& table = *table_;

  // Cells: the subsample (identical for every job with the same fraction), then each output's region.
  auto& positions = subsamples_[job.fraction];
  if (positions.empty()) positions = subsample(table, job.fraction, mode_, p_.subsample_seed(ctx_));
  std::vector<std::vector<std::int64_t>> region_cells;
  std::set<std::int64_t> all;
  for (const auto& out : job.outputs) {
    region_cells.push_back(cells_in_region(table, positions, grid, out.region));
    if (region_cells.back().empty())
      throw Error(fmt::format(
          "{} set of {}: region '{}' has no ocean cells (fraction {} selected {} of {} locations)", job.split,
          job.experiment, out.region.name, job.fraction, positions.size(), table.cells.size()));
    all.insert(region_cells.back().begin(), region_cells.back().end());
  }
  const std::vector<std::int64_t> cells(all.begin(), all.end());  // ascending grid index

  StoreHeader h;
  h.split = job.split;
  h.experiment = job.experiment;
  h.first_year = job.first_year;
  h.last_year = job.last_year;
  h.features = d_.features;
  h.is_static = is_static_;
  h.target = d_.target;
  h.window = static_cast<int>(p_.window);
  h.lead = static_cast<int>(p_.lead);
  h.first_month = cftime::YearMonth::from_index(first_month);
  h.months = static_cast<int>(T);
  h.target_start = job.context > 0 ? job.context : static_cast<int>(p_.window - 1 + p_.lead);
  h.fraction = job.fraction;
  h.subsample_mode = p_.subsample;
  h.seed = p_.subsample_seed(ctx_);
  h.grid_ny = grid.ny;
  h.grid_nx = grid.nx;
  h.source = fmt::format("{} .. {}", d_.file(job.experiment, first_file_year).string(),
                         d_.file(job.experiment, job.last_year).string());
  {
    const nemo::File f(d_.file(job.experiment, first_file_year));
    h.calendar = std::string(cftime::calendar_name(f.time_units().calendar));
    h.target_units = f.netcdf().has_var(d_.file_variable(d_.target))
                         ? f.netcdf().text_attribute(d_.file_variable(d_.target), "units").value_or("")
                         : "";
  }

  std::vector<std::unique_ptr<SampleStoreWriter>> writers;
  for (const auto& out : job.outputs) {
    h.region = out.region.name;
    writers.push_back(std::make_unique<SampleStoreWriter>(out.path, h, prov_));
  }

  Moments moments(F + 1);  // features, then the target
  std::vector<std::string> dropped_examples;
  std::vector<std::size_t> dropped(job.outputs.size(), 0);
  const std::size_t per_cell_bytes = T * (F + 1) * sizeof(float);
  const std::size_t band_cells =
      std::max<std::size_t>(1, static_cast<std::size_t>(p_.band_megabytes) * (1u << 20) / per_cell_bytes);
  const int first_year_file = first_file_year;
  const std::size_t n_files = static_cast<std::size_t>(job.last_year - first_year_file + 1);
  Progress progress(fmt::format("prepare {} {}", job.split, job.experiment),
                    static_cast<std::uint64_t>(n_files * ((cells.size() + band_cells - 1) / band_cells)),
                    "file reads");

  for (std::size_t b0 = 0; b0 < cells.size(); b0 += band_cells) {
    const std::size_t b1 = std::min(cells.size(), b0 + band_cells), nb = b1 - b0;
    const std::size_t y0 = static_cast<std::size_t>(cells[b0]) / grid.nx;
    const std::size_t y1 = static_cast<std::size_t>(cells[b1 - 1]) / grid.nx + 1;
    std::vector<float> inputs(nb * T * F), target(nb * T);
    // Position of each band cell in the row band read from the files.
    std::vector<std::size_t> offset(nb);
    for (std::size_t i = 0; i < nb; ++i)
      offset[i] = static_cast<std::size_t>(cells[b0 + i]) - y0 * grid.nx;

    for (int year = first_year_file; year <= job.last_year; ++year) {
      const auto path = d_.file(job.experiment, year);
      const nemo::File f(path);
      if (!f.grid().same_as(grid))
        throw FileError(
            f.path(), "nav_lat",
            fmt::format("grid differs from {} (shape, coordinates or tmask): years must share one grid",
                        grid_file_));
      // Months of this file that the series needs, and where they sit in the file.
      const int m0 = std::max(first_month, year * 12), m1 = std::min(last_month, year * 12 + 11);
      const int file_first = f.months().first.index();
      if (m0 < file_first || m1 >= file_first + f.months().count)
        throw FileError(
            f.path(), f.time_dim(),
            fmt::format("covers {} .. {}, but {} .. {} are needed", cftime::format(f.months().first),
                        cftime::format(f.months().at(f.months().count - 1)),
                        cftime::format(cftime::YearMonth::from_index(m0)),
                        cftime::format(cftime::YearMonth::from_index(m1))));
      const std::size_t nt = static_cast<std::size_t>(m1 - m0 + 1);
      const std::size_t start[3] = {static_cast<std::size_t>(m0 - file_first), y0, 0};
      const std::size_t count[3] = {nt, y1 - y0, grid.nx};
      const std::size_t slab = (y1 - y0) * grid.nx;
      auto scatter = [&](const std::string& name, std::size_t feature) {
        const std::string var = d_.file_variable(name);
        f.check_field(var);
        const std::vector<float> values = f.netcdf().read_float(var, start, count);
        for (std::size_t t = 0; t < nt; ++t) {
          const std::size_t series_t = static_cast<std::size_t>(m0 - first_month) + t;
          for (std::size_t i = 0; i < nb; ++i) {
            const float v = values[t * slab + offset[i]];
            if (feature < F)
              inputs[(i * T + series_t) * F + feature] = v;
            else
              target[i * T + series_t] = v;
          }
        }
      };
      for (std::size_t fi = 0; fi < F; ++fi)
        if (!is_static_[fi]) scatter(d_.features[fi], fi);
      scatter(d_.target, F);
      progress.advance();
    }

    // Position encodings, a cell with a gap or NaN anywhere is dropped, never windowed across.
    std::vector<CellCoords> coords;
    std::vector<bool> keep(nb, true);
    for (std::size_t i = 0; i < nb; ++i) {
      const auto k = static_cast<std::size_t>(cells[b0 + i]);
      const double lat = grid.lat[k], lon = grid.lon[k];
      for (std::size_t fi = 0; fi < F; ++fi)
        if (is_static_[fi]) {
          const auto v = static_cast<float>(static_feature_value(d_.features[fi], lat, lon));
          for (std::size_t t = 0; t < T; ++t)
            inputs[(i * T + t) * F + fi] = v;
        }
      for (std::size_t t = 0; t < T && keep[i]; ++t) {
        for (std::size_t fi = 0; fi <= F && keep[i]; ++fi) {
          const float v = fi < F ? inputs[(i * T + t) * F + fi] : target[i * T + t];
          if (std::isnan(v)) {
            keep[i] = false;
            if (dropped_examples.size() < 5)
              dropped_examples.push_back(fmt::format(
                  "(y={}, x={}) {} in {}", k / grid.nx, k % grid.nx, fi < F ? d_.features[fi] : d_.target,
                  cftime::format(cftime::YearMonth::from_index(first_month + static_cast<int>(t)))));
          }
        }
      }
      coords.push_back({lat, lon, static_cast<std::int32_t>(k / grid.nx),
                        static_cast<std::int32_t>(k % grid.nx),
                        grid.has_metrics() ? grid.e1t[k] * grid.e2t[k] : std::nan("")});
    }

    // Statistics over the kept cell-months (the training set's own, when computing them).
    if (!stats) {
      std::vector<double> column;
      for (std::size_t fi = 0; fi <= F; ++fi) {
        column.clear();
        for (std::size_t i = 0; i < nb; ++i) {
          if (!keep[i]) continue;
          for (std::size_t t = 0; t < T; ++t)
            column.push_back(fi < F ? inputs[(i * T + t) * F + fi] : target[i * T + t]);
        }
        moments.add(fi, column);
      }
    }

    // Each output takes the kept cells of its region.
    for (std::size_t o = 0; o < job.outputs.size(); ++o) {
      const auto& mine = region_cells[o];
      std::vector<CellCoords> c_out;
      std::vector<float> in_out, tg_out;
      for (std::size_t i = 0; i < nb; ++i) {
        if (!std::binary_search(mine.begin(), mine.end(), cells[b0 + i])) continue;
        if (!keep[i]) {
          ++dropped[o];
          continue;
        }
        c_out.push_back(coords[i]);
        in_out.insert(in_out.end(), inputs.begin() + static_cast<std::ptrdiff_t>(i * T * F),
                      inputs.begin() + static_cast<std::ptrdiff_t>((i + 1) * T * F));
        tg_out.insert(tg_out.end(), target.begin() + static_cast<std::ptrdiff_t>(i * T),
                      target.begin() + static_cast<std::ptrdiff_t>((i + 1) * T));
      }
      writers[o]->append(c_out, in_out, tg_out);
    }
  }
  progress.finish();

  if (!dropped_examples.empty())
    spdlog::warn("{} set of {}: dropped {} cell(s) with gaps or NaN in their series, e.g. {}", job.split,
                 job.experiment, *std::max_element(dropped.begin(), dropped.end()),
                 fmt::join(dropped_examples, "; "));

  if (!stats) {
    Normalisation s;
    for (std::size_t fi = 0; fi < F; ++fi) {
      s.feature_mean.push_back(moments.mean[fi]);
      double sd = moments.std_ddof1(fi);
      if (!(sd > 0)) {
        spdlog::warn("feature '{}' is constant over the training cell-months; its std is set to 1",
                     d_.features[fi]);
        sd = 1.0;
      }
      s.feature_std.push_back(sd);
    }
    s.target_mean = moments.mean[F];
    s.target_std = moments.std_ddof1(F) > 0 ? moments.std_ddof1(F) : 1.0;
    stats = s;
  }

  std::vector<StoreSummary> out;
  for (std::size_t o = 0; o < job.outputs.size(); ++o) {
    if (writers[o]->cells() == 0)
      throw Error(fmt::format("{} set of {}, region '{}': every cell has gaps or NaN; nothing to write",
                              job.split, job.experiment, job.outputs[o].region.name));
    const std::size_t windows = writers[o]->cells() * (T - static_cast<std::size_t>(h.target_start));
    writers[o]->commit(*stats);
    out.push_back({job.outputs[o].path, job.split, job.experiment, job.outputs[o].region.name, job.first_year,
                   job.last_year, writers[o]->cells(), windows, dropped[o]});
  }
  return out;
}

std::vector<StoreSummary> Preparer::run() {
  auto wants = [&](const char* s) {
    return std::find(p_.splits.begin(), p_.splits.end(), s) != p_.splits.end();
  };
  const auto custom = p_.user_regions();
  const int context = static_cast<int>(p_.window - 1 + p_.lead);
  std::vector<StoreSummary> all;
  std::optional<Normalisation> stats;
  if (!p_.statistics.empty()) {
    stats = read_normalisation(p_.statistics, d_.features);
    spdlog::info("normalisation statistics of every store from {}", p_.statistics);
  }

  if (wants("train")) {
    SplitJob job{"train",
                 p_.train_experiment,
                 static_cast<int>(p_.train_years[0]),
                 static_cast<int>(p_.train_years[1]),
                 0,
                 p_.train_fraction,
                 {{find_region(p_.train_region, custom), p_.train_path()}}};
    auto s = build(job, stats);
    all.insert(all.end(), s.begin(), s.end());
  } else if (!stats) {
    // Validation and test sets need the training statistics: read them from the existing training store.
    if (!std::filesystem::exists(p_.train_path()))
      throw FileError(
          p_.train_path().string(), "",
          "the training store is needed for its normalisation statistics; build it first (splits = "
          "[\"train\", ...])");
    stats = SampleStore(p_.train_path(), 0, 0).stats();
  }
  if (wants("validation")) {
    SplitJob job{"validation",
                 p_.validation_experiment,
                 static_cast<int>(p_.validation_years[0]),
                 static_cast<int>(p_.validation_years[1]),
                 p_.validation_context ? context : 0,
                 p_.validation_fraction,
                 {{find_region(p_.validation_region, custom), p_.validation_path()}}};
    auto s = build(job, stats);
    all.insert(all.end(), s.begin(), s.end());
  }
  if (wants("test")) {
    for (const auto& exp : p_.test_experiments) {
      for (auto year = p_.test_years[0]; year <= p_.test_years[1]; ++year) {
        SplitJob job{"test",           exp, static_cast<int>(year), static_cast<int>(year), context,
                     p_.test_fraction, {}};
        for (const auto& r : p_.test_regions)
          job.outputs.push_back({find_region(r, custom), p_.test_path(exp, r, static_cast<int>(year))});
        auto s = build(job, stats);
        all.insert(all.end(), s.begin(), s.end());
      }
    }
  }
  return all;
}

}  // namespace

std::vector<StoreSummary> prepare_samples(const PrepareParams& params, const DataParams& data,
                                          const Context& ctx, const Provenance& provenance) {
  params.validate();  // also for callers that did not read the params through the config loader
  return Preparer(params, data, ctx, provenance).run();
}

}  // namespace fluxkit

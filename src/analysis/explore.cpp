#include "fluxkit/analysis/explore.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/dataset/cells.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/io/plane_reader.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Largest half-width of the distributions' z range.
constexpr double kMaxRange = 8.0;
// The fine histogram the kernel density estimate is computed from spans the month's own z range [min, max]
// (known after the first pass) in kFineBins bins, with linear binning (each value shared between the two
// nearest bin centres): the bins stay far narrower than the bandwidth even for a nearly constant variable.
constexpr std::size_t kFineBins = 8192;
// Rows per block of the correlation accumulation (fixed, so results do not depend on the thread count).
constexpr std::size_t kRowBlock = 8192;

std::string toml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string quoted(const std::vector<std::string>& list) {
  std::vector<std::string> q;
  for (const auto& s : list)
    q.push_back("\"" + toml_escape(s) + "\"");
  return fmt::format("{}", fmt::join(q, ", "));
}

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  return fmt::format("{:.9g}", v);
}
}  // namespace

// ---- parameters
// ------------------------------------------------------------------------------------------------

std::vector<Region> ExploreParams::user_regions() const {
  std::vector<Region> out;
  for (const auto& s : custom_regions)
    out.push_back(parse_region(s));
  return out;
}

void ExploreParams::validate() const {
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
  auto names = [&](const char* key, const std::vector<std::string>& list, bool allow_empty) {
    if (list.empty() && !allow_empty) config::invalid(kSection, key, "must name at least one");
    std::set<std::string> seen;
    for (const auto& s : list) {
      if (s.empty()) config::invalid(kSection, key, "empty name");
      if (!seen.insert(s).second) config::invalid(kSection, key, fmt::format("'{}' is listed twice", s));
    }
  };
  names("experiments", experiments, false);
  names("regions", regions, false);
  names("variables", variables, true);
  if (years.size() != 2 || years[0] > years[1] || years[0] < 1)
    config::invalid(
        kSection, "years",
        fmt::format("expected [first, last] with first <= last, got [{}]", fmt::join(years, ", ")));
  for (auto m : months)
    if (m < 1 || m > 12) config::invalid(kSection, "months", fmt::format("{} is not a month (1-12)", m));
  if (bins < 2 || bins > 10000) config::invalid(kSection, "bins", "must be within 2..10000");
  if (!(keep_mb >= 0)) config::invalid(kSection, "keep_mb", "must be >= 0");
  if (!(range > 0 && range <= kMaxRange))
    config::invalid(kSection, "range", fmt::format("must be within (0, {}]", kMaxRange));
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

// ---- streaming statistics
// ----------------------------------------------------------------------------------------

void RunningMoments::add(std::span<const double> values) {
  // Two passes over the block (sum, then squared deviations from the block mean), merged with Chan's formula.
  double nb = 0, sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (std::isnan(v)) continue;
    nb += 1;
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (nb == 0) return;
  const double mb = sum / nb;
  double s = 0;
  for (double v : values)
    if (!std::isnan(v)) s += (v - mb) * (v - mb);
  RunningMoments b;
  b.n = nb;
  b.mean = mb;
  b.m2 = s;
  b.min = lo;
  b.max = hi;
  merge(b);
}

void RunningMoments::merge(const RunningMoments& o) {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double nn = n + o.n, delta = o.mean - mean;
  mean += delta * o.n / nn;
  m2 += o.m2 + delta * delta * n * o.n / nn;
  n = nn;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
}

double RunningMoments::variance_ddof1() const {
  return n > 1 ? m2 / (n - 1) : kNaN;
}

void CoMoments::add_rows(std::span<const double> rows) {
  if (v == 0) return;
  const std::size_t nrows = rows.size() / v;
  CoMoments b(v);
  std::vector<char> ok(nrows, 1);
  for (std::size_t r = 0; r < nrows; ++r)
    for (std::size_t a = 0; a < v; ++a)
      if (std::isnan(rows[r * v + a])) {
        ok[r] = 0;
        break;
      }
  for (std::size_t r = 0; r < nrows; ++r) {
    if (!ok[r]) continue;
    b.n += 1;
    for (std::size_t a = 0; a < v; ++a)
      b.mean[a] += rows[r * v + a];
  }
  if (b.n == 0) return;
  for (auto& m : b.mean)
    m /= b.n;
  // Deviations of four complete rows at a time: each accumulator is loaded and stored once per four rows.
  std::vector<double> d(4 * v, 0.0);
  std::size_t filled = 0;
  const auto flush = [&] {
    const double *d0 = d.data(), *d1 = d0 + v, *d2 = d1 + v, *d3 = d2 + v;
    for (std::size_t a = 0; a < v; ++a)
      for (std::size_t c2 = a; c2 < v; ++c2)
        b.c[a * v + c2] += (d0[a] * d0[c2] + d1[a] * d1[c2]) + (d2[a] * d2[c2] + d3[a] * d3[c2]);
    std::fill(d.begin(), d.end(), 0.0);
    filled = 0;
  };
  for (std::size_t r = 0; r < nrows; ++r) {
    if (!ok[r]) continue;
    for (std::size_t a = 0; a < v; ++a)
      d[filled * v + a] = rows[r * v + a] - b.mean[a];
    if (++filled == 4) flush();
  }
  if (filled > 0) flush();
  for (std::size_t a = 0; a < v; ++a)
    for (std::size_t c2 = 0; c2 < a; ++c2)
      b.c[a * v + c2] = b.c[c2 * v + a];
  merge(b);
}

void CoMoments::merge(const CoMoments& o) {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double nn = n + o.n;
  std::vector<double> delta(v);
  for (std::size_t a = 0; a < v; ++a)
    delta[a] = o.mean[a] - mean[a];
  for (std::size_t a = 0; a < v; ++a)
    for (std::size_t b = 0; b < v; ++b)
      c[a * v + b] += o.c[a * v + b] + delta[a] * delta[b] * n * o.n / nn;
  for (std::size_t a = 0; a < v; ++a)
    mean[a] += delta[a] * o.n / nn;
  n = nn;
}

double CoMoments::correlation(std::size_t a, std::size_t b) const {
  if (n < 2) return kNaN;
  const double caa = c[a * v + a], cbb = c[b * v + b];
  if (!(caa > 0) || !(cbb > 0)) return kNaN;
  return std::clamp(c[a * v + b] / std::sqrt(caa * cbb), -1.0, 1.0);
}

std::vector<double> binned_kde(std::span<const double> counts, double lo, double width, double n, double m2,
                               std::span<const double> points) {
  std::vector<double> out(points.size(), kNaN);
  if (n < 2 || !(m2 > 0)) return out;
  const double bw = std::sqrt(m2 / (n - 1)) * std::pow(n, -0.2);
  const double norm = 1.0 / (n * bw * std::sqrt(2.0 * std::numbers::pi));
  for (std::size_t p = 0; p < points.size(); ++p) {
    double s = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (counts[k] == 0) continue;
      const double u = (points[p] - (lo + (static_cast<double>(k) + 0.5) * width)) / bw;
      if (std::abs(u) < 40) s += counts[k] * std::exp(-0.5 * u * u);
    }
    out[p] = s * norm;
  }
  return out;
}

// ---- the exploration
// -------------------------------------------------------------------------------------------

namespace {

struct RegionCells {
  Region region;
  std::vector<std::size_t> offsets;  // positions of the region's cells in the row band read from the files
};

// Everything accumulated for one (experiment, region).
struct RegionStats {
  std::vector<std::array<RunningMoments, 12>> monthly;  // [variable][month-1]
  std::array<CoMoments, 12> comoments;                  // per month
  // second pass: per chosen month, per variable
  std::map<int, std::vector<std::vector<double>>> coarse, fine;  // month -> [variable][bin]
  std::map<int, std::vector<std::pair<double, double>>>
      fine_grid;                                    // month -> [variable] (first centre, width)
  std::map<int, std::vector<double>> below, above;  // values outside [-range, range]
};

}  // namespace

ExploreSummary explore(const ExploreParams& params, const DataParams& data, const Context& ctx,
                       const Provenance& provenance) {
  ExploreSummary summary;
  summary.output_dir = params.output_dir;
  const int first = static_cast<int>(params.years[0]), last = static_cast<int>(params.years[1]);

  // Variables: names as configured (features) and as stored in the files.
  std::vector<std::string> names = params.variables;
  if (names.empty()) {
    for (const auto& f : data.features)
      if (!is_static_feature(f)) names.push_back(f);
    names.push_back(data.target);
  }
  for (const auto& n : names)
    if (is_static_feature(n))
      throw ConfigError("explore", "variables",
                        fmt::format("'{}' is a position encoding, not a file variable", n));
  std::vector<std::string> file_vars;
  for (const auto& n : names)
    file_vars.push_back(data.file_variable(n));
  const std::size_t V = names.size();

  // Every file first: one error naming all that are missing.
  std::vector<std::string> missing;
  for (const auto& e : params.experiments)
    for (int y = first; y <= last; ++y)
      if (!fs::exists(data.file(e, y)))
        missing.push_back(fmt::format("{} {} ({})", e, y, data.file(e, y).string()));
  if (!missing.empty())
    throw Error(
        fmt::format("explore: {} yearly file(s) missing: {}", missing.size(), fmt::join(missing, "; ")));

  const auto custom = params.user_regions();
  std::vector<double> centres(static_cast<std::size_t>(params.bins));
  const double coarse_width = 2.0 * params.range / static_cast<double>(params.bins);
  for (std::size_t k = 0; k < centres.size(); ++k)
    centres[k] = -params.range + (static_cast<double>(k) + 0.5) * coarse_width;
  std::set<int> dist_months(params.months.begin(), params.months.end());

  std::string statistics = "experiment,region,variable,units,n,mean,std,min,max\n";
  std::string climatology = "experiment,region,variable,month,n,mean,mean_z,std_z\n";
  std::string distributions = "experiment,region,variable,month,z_lower,z_upper,count,density,kde\n";
  std::string correlations = "experiment,region,month,variable_a,variable_b,n,r\n";

  for (const auto& experiment : params.experiments) {
    // Grid, cells and the row band covering every region.
    nemo::Grid grid;
    std::string grid_file;
    std::vector<std::string> units;
    {
      const nemo::File first_file(data.file(experiment, first));
      grid = first_file.grid();
      grid_file = first_file.path();
      for (const auto& v : file_vars) {
        first_file.check_field(v);
        units.push_back(first_file.netcdf().text_attribute(v, "units").value_or(""));
      }
    }
    const CellTable table = build_cell_table(grid);
    std::vector<std::size_t> all(table.cells.size());
    for (std::size_t i = 0; i < all.size(); ++i)
      all[i] = i;
    std::vector<std::vector<std::int64_t>> cells;
    std::size_t y0 = grid.ny, y1 = 0;
    for (const auto& name : params.regions) {
      cells.push_back(cells_in_region(table, all, grid, find_region(name, custom)));
      if (cells.back().empty())
        throw Error(
            fmt::format("explore {}: region '{}' has no ocean cells in {}", experiment, name, grid_file));
      y0 = std::min(y0, static_cast<std::size_t>(cells.back().front()) / grid.nx);
      y1 = std::max(y1, static_cast<std::size_t>(cells.back().back()) / grid.nx + 1);
    }
    std::vector<RegionCells> regions;
    for (std::size_t r = 0; r < params.regions.size(); ++r) {
      RegionCells rc{find_region(params.regions[r], custom), {}};
      for (auto k : cells[r])
        rc.offsets.push_back(static_cast<std::size_t>(k) - y0 * grid.nx);
      regions.push_back(std::move(rc));
    }
    spdlog::info("explore {}: {} variables, {} years, regions {}", experiment, V, last - first + 1,
                 fmt::join(params.regions, ", "));

    std::vector<RegionStats> stats(regions.size());
    for (auto& s : stats) {
      s.monthly.resize(V);
      for (auto& c : s.comoments)
        c = CoMoments(V);
    }

    // The first pass checks every file's grid and time axis; the second reuses the axes.
    std::map<int, cftime::MonthlyAxis> axes;
    // `body(year, month, values)` for every month of every year (only the distributions' months with
    // `only_chosen`), except those `in_memory(year, month)` says are kept from the first pass.
    auto for_each_month = [&](const std::string& label, bool only_chosen, auto&& in_memory, auto&& body) {
      const std::size_t n_years = static_cast<std::size_t>(last - first + 1);
      Progress progress(fmt::format("explore {} ({})", experiment, label), n_years, "years");
      std::vector<std::vector<float>> values;
      for (int year = first; year <= last; ++year) {
        if (only_chosen &&
            std::all_of(dist_months.begin(), dist_months.end(), [&](int m) { return in_memory(year, m); })) {
          progress.advance();
          continue;
        }
        const auto path = data.file(experiment, year);
        if (!axes.contains(year)) {
          const nemo::File f(path);  // closed before the plane reader opens the file
          if (!f.grid().same_as(grid))
            throw FileError(f.path(), "nav_lat",
                            fmt::format("grid differs from {}: years must share one grid", grid_file));
          axes[year] = f.months();
        }
        const cftime::MonthlyAxis& months = axes.at(year);
        const nc::PlaneReader reader(path, file_vars);
        ++summary.files_read;
        for (int t = 0; t < months.count; ++t) {
          const auto ym = months.at(static_cast<std::size_t>(t));
          if (ym.year != year) continue;
          if (only_chosen && (!dist_months.contains(ym.month) || in_memory(year, ym.month))) continue;
          reader.read(static_cast<std::size_t>(t), y0, y1, values, ctx);
          body(year, ym.month, values);
        }
        progress.advance();
      }
    };

    // Pass 1: moments per (variable, month), co-moments per month. Co-moments are accumulated over fixed
    // blocks of cells and merged in order, so the result does not depend on the thread count.
    std::vector<std::vector<CoMoments>> partial(regions.size());
    // The distributions' months need the z-score parameters of every year, hence a second pass; the region
    // values of those months are kept from the first pass up to keep_mb (the rest is read again), so the
    // memory stays bounded whatever the number of years.
    using RegionValues = std::vector<std::vector<std::vector<float>>>;  // [region][variable][cell]
    std::map<std::pair<int, int>, RegionValues> kept;                   // (year, month) -> values
    std::size_t kept_bytes = 0, region_cells = 0;
    for (const auto& rc : regions)
      region_cells += rc.offsets.size();
    const auto gather = [&](const std::vector<std::vector<float>>& values) {
      RegionValues g(regions.size(), std::vector<std::vector<float>>(V));
      parallel_for_each(ctx, regions.size() * V, [&](std::size_t i) {
        const std::size_t r = i / V, a = i % V;
        const auto& off = regions[r].offsets;
        g[r][a].resize(off.size());
        for (std::size_t j = 0; j < off.size(); ++j)
          g[r][a][j] = values[a][off[j]];
      });
      return g;
    };
    const auto no_month = [](int, int) { return false; };
    for_each_month(
        "moments", false, no_month, [&](int year, int month, const std::vector<std::vector<float>>& values) {
          if (dist_months.contains(month) &&
              static_cast<double>(kept_bytes + region_cells * V * sizeof(float)) <= params.keep_mb * 1e6) {
            kept[{year, month}] = gather(values);
            kept_bytes += region_cells * V * sizeof(float);
          }
          const auto mi = static_cast<std::size_t>(month - 1);
          for (std::size_t r = 0; r < regions.size(); ++r) {
            const auto& off = regions[r].offsets;
            const std::size_t n = off.size();
            parallel_for_each(ctx, V, [&](std::size_t a) {
              thread_local std::vector<double> column;
              column.resize(n);
              for (std::size_t i = 0; i < n; ++i)
                column[i] = static_cast<double>(values[a][off[i]]);
              stats[r].monthly[a][mi].add(column);
            });
            const std::size_t blocks = (n + kRowBlock - 1) / kRowBlock;
            partial[r].assign(blocks, CoMoments(V));
            parallel_for(ctx, blocks, [&](std::size_t b0, std::size_t b1) {
              thread_local std::vector<double> rows;
              rows.resize(kRowBlock * V);
              for (std::size_t b = b0; b < b1; ++b) {
                const std::size_t i0 = b * kRowBlock, i1 = std::min(n, i0 + kRowBlock);
                for (std::size_t i = i0; i < i1; ++i)
                  for (std::size_t a = 0; a < V; ++a)
                    rows[(i - i0) * V + a] = static_cast<double>(values[a][off[i]]);
                partial[r][b].add_rows(std::span<const double>(rows).first((i1 - i0) * V));
              }
            });
            for (const auto& p : partial[r])
              stats[r].comoments[mi].merge(p);
            summary.values += n * V;
          }
        });

    // z-score parameters per (region, variable)
    std::vector<std::vector<RunningMoments>> overall(regions.size(), std::vector<RunningMoments>(V));
    std::vector<std::vector<double>> zmean(regions.size(), std::vector<double>(V)),
        zstd(regions.size(), std::vector<double>(V));
    for (std::size_t r = 0; r < regions.size(); ++r)
      for (std::size_t a = 0; a < V; ++a) {
        for (const auto& m : stats[r].monthly[a])
          overall[r][a].merge(m);
        zmean[r][a] = overall[r][a].mean;
        double s = std::sqrt(overall[r][a].variance_ddof1());
        if (!(s > 0)) {
          spdlog::warn("explore {} {}: {} is constant (or has fewer than 2 values): z-scores use std 1",
                       experiment, params.regions[r], names[a]);
          s = 1.0;
        }
        zstd[r][a] = s;
      }

    // Pass 2: distributions of the chosen months.
    if (!dist_months.empty()) {
      for (auto& s : stats)
        for (int m : dist_months) {
          s.coarse[m].assign(V, std::vector<double>(centres.size(), 0));
          s.fine[m].assign(V, std::vector<double>(kFineBins, 0));
          s.below[m].assign(V, 0);
          s.above[m].assign(V, 0);
        }
      for (std::size_t r = 0; r < regions.size(); ++r)
        for (int m : dist_months)
          for (std::size_t a = 0; a < V; ++a) {
            const auto& mm = stats[r].monthly[a][static_cast<std::size_t>(m - 1)];
            const double lo = (mm.min - zmean[r][a]) / zstd[r][a], hi = (mm.max - zmean[r][a]) / zstd[r][a];
            const double width = mm.n > 0 && hi > lo ? (hi - lo) / static_cast<double>(kFineBins - 1) : 1.0;
            stats[r].fine_grid[m].push_back({mm.n > 0 ? lo : 0.0, width});
          }
      const auto add_distributions = [&](int month, const RegionValues& g) {
        for (std::size_t r = 0; r < regions.size(); ++r) {
          auto& coarse = stats[r].coarse[month];
          auto& fine = stats[r].fine[month];
          auto& below = stats[r].below[month];
          auto& above = stats[r].above[month];
          const auto& fine_grid = stats[r].fine_grid[month];
          parallel_for_each(ctx, V, [&](std::size_t a) {
            for (const float value : g[r][a]) {
              const double v = value;
              if (std::isnan(v)) continue;
              const double z = (v - zmean[r][a]) / zstd[r][a];
              if (z < -params.range)
                below[a] += 1;
              else if (z > params.range)
                above[a] += 1;
              else
                coarse[a][std::min(centres.size() - 1,
                                   static_cast<std::size_t>((z + params.range) / coarse_width))] += 1;
              // linear binning between the centres lo + k * width, k = 0 .. kFineBins - 1
              const double p = std::clamp((z - fine_grid[a].first) / fine_grid[a].second, 0.0,
                                          static_cast<double>(kFineBins - 1));
              const auto k = std::min(kFineBins - 2, static_cast<std::size_t>(p));
              const double frac = p - static_cast<double>(k);
              fine[a][k] += 1 - frac;
              fine[a][k + 1] += frac;
            }
          });
        }
      };
      // The kept months are the first ones of the first pass, so for every month the years still come in
      // file order: the sums do not depend on how much was kept.
      for (const auto& [year_month, g] : kept)
        add_distributions(year_month.second, g);
      const auto in_memory = [&](int year, int month) { return kept.contains({year, month}); };
      for_each_month("distributions", true, in_memory,
                     [&](int, int month, const std::vector<std::vector<float>>& values) {
                       add_distributions(month, gather(values));
                     });
    }

    // The KDEs (tens of millions of exp() for a few regions and variables), on every thread.
    const std::vector<int> kde_months(dist_months.begin(), dist_months.end());
    std::vector<std::vector<double>> kdes(regions.size() * V * kde_months.size());
    parallel_for_each(ctx, kdes.size(), [&](std::size_t i) {
      const std::size_t r = i / (V * kde_months.size()), a = i / kde_months.size() % V;
      const int m = kde_months[i % kde_months.size()];
      const auto& mm = stats[r].monthly[a][static_cast<std::size_t>(m - 1)];
      const double m2_z = mm.m2 / (zstd[r][a] * zstd[r][a]);
      // binned_kde takes bin lower edges: the centres start at lo, so the first edge is lo - width / 2
      const auto [lo, width] = stats[r].fine_grid[m][a];
      kdes[i] = binned_kde(stats[r].fine[m][a], lo - width / 2, width, mm.n, m2_z, centres);
    });

    // Tables.
    for (std::size_t r = 0; r < regions.size(); ++r) {
      const auto& rname = params.regions[r];
      for (std::size_t a = 0; a < V; ++a) {
        const auto& o = overall[r][a];
        statistics +=
            fmt::format("{},{},{},{},{},{},{},{},{}\n", experiment, rname, names[a], units[a],
                        static_cast<std::uint64_t>(o.n), num(o.mean), num(std::sqrt(o.variance_ddof1())),
                        num(o.n ? o.min : kNaN), num(o.n ? o.max : kNaN));
        for (int m = 1; m <= 12; ++m) {
          const auto& mm = stats[r].monthly[a][static_cast<std::size_t>(m - 1)];
          const double mean_z = mm.n ? (mm.mean - zmean[r][a]) / zstd[r][a] : kNaN;
          const double std_z = std::sqrt(mm.variance_ddof1()) / zstd[r][a];
          climatology += fmt::format("{},{},{},{},{},{},{},{}\n", experiment, rname, names[a], m,
                                     static_cast<std::uint64_t>(mm.n), num(mm.n ? mm.mean : kNaN),
                                     num(mean_z), num(std_z));
        }
        for (std::size_t mi = 0; mi < kde_months.size(); ++mi) {
          const int m = kde_months[mi];
          const double n = stats[r].monthly[a][static_cast<std::size_t>(m - 1)].n;
          const auto& kde = kdes[(r * V + a) * kde_months.size() + mi];
          for (std::size_t k = 0; k < centres.size(); ++k) {
            const double c = stats[r].coarse[m][a][k];
            distributions += fmt::format("{},{},{},{},{},{},{},{},{}\n", experiment, rname, names[a], m,
                                         num(centres[k] - coarse_width / 2),
                                         num(centres[k] + coarse_width / 2), static_cast<std::uint64_t>(c),
                                         num(n > 0 ? c / (n * coarse_width) : kNaN), num(kde[k]));
          }
        }
      }
      // correlations: every month, then all months (month 0)
      CoMoments total(V);
      for (int m = 1; m <= 13; ++m) {
        const CoMoments* cm = nullptr;
        if (m <= 12) {
          cm = &stats[r].comoments[static_cast<std::size_t>(m - 1)];
          total.merge(*cm);
        } else {
          cm = &total;
        }
        for (std::size_t a = 0; a < V; ++a)
          for (std::size_t b = 0; b < V; ++b)
            correlations +=
                fmt::format("{},{},{},{},{},{},{}\n", experiment, rname, m <= 12 ? m : 0, names[a], names[b],
                            static_cast<std::uint64_t>(cm->n),
                            num(a == b && cm->n > 1 && cm->c[a * V + a] > 0 ? 1.0 : cm->correlation(a, b)));
      }
    }
  }

  fs::create_directories(params.output_dir);
  std::string prov = fmt::format(
      "# fluxkit explore: provenance of the tables in this directory\nsoftware = \"{}\"\ngit_commit = "
      "\"{}\"\n"
      "config_hash = \"{}\"\ncreation_date = \"{}\"\ncommand_line = \"{}\"\nexperiments = [{}]\n"
      "regions = [{}]\nyears = [{}, {}]\nvariables = [{}]\n",
      provenance.software, provenance.git_commit, provenance.config_hash, provenance.creation_date,
      toml_escape(provenance.command_line), quoted(params.experiments), quoted(params.regions), first, last,
      quoted(names));
  write_text_atomic(fs::path(params.output_dir) / "provenance.toml", prov);
  summary.files.push_back(fs::path(params.output_dir) / "provenance.toml");
  for (const auto& [name, text] : {std::pair<const char*, const std::string&>{"statistics.csv", statistics},
                                   {"climatology.csv", climatology},
                                   {"distributions.csv", distributions},
                                   {"correlations.csv", correlations}}) {
    const auto path = fs::path(params.output_dir) / name;
    write_text_atomic(path, text);
    summary.files.push_back(path);
  }
  return summary;
}

}  // namespace fluxkit

#include "fluxkit/transport/run.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/operator_cache.hpp"

namespace fluxkit::transport {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::string mb(std::uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

// Hash of the rc entries, for the provenance of the adjoint file.
std::string rc_hash(const RcFile& rc) {
  std::string text;
  for (const auto& [k, v] : rc.entries())
    text += k + " : " + v + "\n";
  return "fnv1a64:" + hex64(fnv1a64(text));
}

}  // namespace

// A date-time as "YYYYmmddHHMMSS" (LUMIA's obsdb), "YYYY-mm-dd HH:MM:SS" (pandas' default), ISO 8601 with a
// 'T', or shorter forms; fractional seconds ignored. nullopt for an empty cell or NaT.
std::optional<std::int64_t> parse_obs_time(std::string_view cell) {
  std::string_view v = trim(cell);
  if (v.empty() || v == "NaT" || v == "nan" || v == "NaN") return std::nullopt;
  if (const auto dot = v.find('.'); dot != std::string_view::npos) v = v.substr(0, dot);
  if (v.size() > 6 && (v.ends_with("+00:00") || v.ends_with("-00:00"))) v.remove_suffix(6);
  if (!v.empty() && v.back() == 'Z') v.remove_suffix(1);
  std::string digits;
  for (const char ch : v) {
    if (std::isdigit(static_cast<unsigned char>(ch)))
      digits += ch;
    else if (ch != '-' && ch != ':' && ch != ' ' && ch != 'T' && ch != '/')
      throw Error(fmt::format("'{}' is not a date-time", cell));
  }
  if (digits.size() != 8 && digits.size() != 10 && digits.size() != 12 && digits.size() != 14)
    throw Error(fmt::format("'{}' is not a date-time (expected YYYYmmddHHMMSS)", cell));
  const auto field = [&](std::size_t pos, std::size_t len) {
    int x = 0;
    if (pos + len <= digits.size()) std::from_chars(digits.data() + pos, digits.data() + pos + len, x);
    return x;
  };
  const TimeStamp t{field(0, 4), field(4, 2), field(6, 2), field(8, 2), field(10, 2), field(12, 2)};
  if (t[1] < 1 || t[1] > 12 || t[2] < 1 || t[2] > 31 || t[3] > 23 || t[4] > 59 || t[5] > 60)
    throw Error(fmt::format("'{}' is not a valid date-time", cell));
  return fluxkit::cftime::civil_to_epoch_seconds(t);
}

// time.start / time.end: "Y, M, D[, h[, m[, s]]]" (LUMIA: datetime(*list)), or a single date-time.
std::int64_t rc_time(const RcFile& rc, const std::string& key) {
  const std::vector<std::string> items = rc.get_list(key);
  const auto bad = [&] {
    return FileError(rc.source(), key,
                     fmt::format("expected 'Y, M, D[, h[, m[, s]]]', found '{}'", rc.get(key)));
  };
  if (items.size() == 1) {
    try {
      if (const auto t = parse_obs_time(items[0])) return *t;
    } catch (const Error&) {
    }
    throw bad();
  }
  if (items.size() < 3 || items.size() > 6) throw bad();
  TimeStamp t{0, 1, 1, 0, 0, 0};
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string_view s = trim(items[i]);
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), t[i]);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) throw bad();
  }
  return fluxkit::cftime::civil_to_epoch_seconds(t);
}

// emissions.*.interval (v2020; emissions.interval from 1400b8f on): "<n>h" (LUMIA accepts hours only).
std::int64_t rc_interval(const RcFile& rc) {
  std::string key = "emissions.*.interval";
  std::optional<std::string> value = rc.find(key);
  if (!value) {
    key = "emissions.interval";
    value = rc.find(key);
  }
  if (!value)
    throw FileError(
        rc.source(), "emissions.*.interval",
        "missing rc key: the time step of the adjoint fluxes, e.g. 3h (also read: emissions.interval)");
  const std::string v = lower(trim(*value));
  long long n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  const std::string_view unit = trim(std::string_view(v).substr(static_cast<std::size_t>(ptr - v.data())));
  if (ec != std::errc() || n <= 0 || (unit != "h" && unit != "d"))
    throw FileError(rc.source(), key,
                    fmt::format("expected a number of hours such as 3h, found '{}'", *value));
  return n * (unit == "d" ? 86400 : 3600);
}

// region = NAME and region.NAME.lat0/lat1/dlat/lon0/lon1/dlon: nlat = floor((lat1 - lat0) / dlat) (LUMIA's
// Region), centres lat0 + dlat/2 + i dlat.
RcGrid rc_grid(const RcFile& rc) {
  RcGrid g;
  g.region = std::string(trim(rc.get("region")));
  const std::string r = "region." + g.region + ".";
  const auto axis = [&](const char* name, std::vector<double>& centres) {
    const double x0 = rc.get_double(r + name + "0"), x1 = rc.get_double(r + name + "1");
    const double dx = rc.get_double(r + "d" + name);
    if (!(dx > 0.0) || !(x1 > x0))
      throw FileError(rc.source(), r + name + "0",
                      fmt::format("region {}: expected {}0 < {}1 and d{} > 0, found {}, {} and {}", g.region,
                                  name, name, name, x0, x1, dx));
    const double n = std::floor((x1 - x0) / dx);
    if (n < 1 || n > 1e7)
      throw FileError(rc.source(), r + "d" + name,
                      fmt::format("region {}: {} cells along {}", g.region, n, name));
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i)
      centres.push_back(x0 + dx / 2 + static_cast<double>(i) * dx);
  };
  axis("lat", g.lats);
  axis("lon", g.lons);
  g.shape = {g.lats.size(), g.lons.size()};
  return g;
}

// need_files: the footprint files must exist (not with a packed operator, which holds their footprints).
Work collect_work(const ObsDb& db, const fs::path& db_path, bool with_dy, bool need_files) {
  const std::string where = db_path.string();
  const CsvTable& obs = db.observations;
  const auto require = [&](std::string_view column) {
    try {
      return obs.require_column(column, "observations.csv");
    } catch (const Error& e) {
      throw FileError(where, "", e.what());  // name the archive too
    }
  };
  const std::size_t c_time = require("time");
  const std::size_t c_site = require("site");
  const std::size_t c_fp = require("footprint");
  const std::size_t c_dy = with_dy ? require("dy") : 0;

  // Every site must be a site of sites.csv (LUMIA: sites.loc[unique(observations.site)] -> KeyError).
  const std::set<std::string, std::less<>> sites(db.sites.index.begin(), db.sites.index.end());
  for (std::size_t r = 0; r < obs.size(); ++r) {
    const std::string& site = obs.rows[r][c_site];
    if (!sites.contains(site))
      throw FileError(where, "",
                      fmt::format("observations.csv row {} (index {}): site '{}' is missing from sites.csv",
                                  r, r < obs.index.size() ? obs.index[r] : "?", site));
  }

  Work w;
  std::map<std::string, FileTask> by_path;
  for (std::size_t r = 0; r < obs.size(); ++r) {
    const std::string path(trim(obs.rows[r][c_fp]));
    if (path.empty() || path == "nan" || path == "NaN") {
      ++w.without_path;
      continue;
    }
    std::optional<std::int64_t> time;
    try {
      time = parse_obs_time(obs.rows[r][c_time]);
    } catch (const Error& e) {
      throw FileError(where, "", fmt::format("observations.csv row {}, column 'time': {}", r, e.what()));
    }
    if (!time) {
      ++w.without_time;
      continue;
    }
    ObsTask task;
    task.row = r;
    task.time = *time;
    // key "" = the file's footprint for the observation time (legacy and STILT: %Y%m%d%H%M%S; lumia_v2: the
    // obsid ending in that time).
    if (with_dy)
      task.dy = parse_number(obs.rows[r][c_dy], fmt::format("{}: observations.csv row {}", where, r));
    auto& file = by_path[path];
    file.path = path;
    file.obs.push_back(std::move(task));
    ++w.observations;
  }
  for (auto& [path, file] : by_path) {
    std::error_code ec;
    if (need_files && !fs::is_regular_file(file.path, ec))
      throw FileError(
          path, "",
          fmt::format("footprint file not found (named by {} observation(s) of {}, first at row {})",
                      file.obs.size(), where, file.obs.front().row));
    file.weight = fs::file_size(file.path, ec);
    if (ec) file.weight = 0;
    w.bytes += file.weight;
    w.files.push_back(std::move(file));
  }
  return w;
}

std::vector<std::string> optimized_categories(const RcFile& rc, const std::vector<std::string>& categories) {
  std::vector<std::string> out;
  for (const auto& c : categories)
    if (rc.get_bool("emissions." + c + ".optimize")) out.push_back(c);
  return out;
}

namespace {

// Forward results of every rank on rank 0 (per observation: row, status, total, slices, dropped, cells
// outside the grid, then one value per category).
ForwardResult gather_forward(ForwardResult local, std::size_t ncat, const Communicator& mpi) {
  if (mpi.size() == 1) return local;
  const std::size_t width = 6 + ncat;
  std::vector<double> flat;
  flat.reserve(local.obs.size() * width);
  for (const ObsResult& r : local.obs) {
    flat.insert(flat.end(), {static_cast<double>(r.row), static_cast<double>(static_cast<int>(r.status)),
                             r.total, static_cast<double>(r.slices), static_cast<double>(r.dropped),
                             static_cast<double>(r.outside_domain)});
    if (r.status == ObsStatus::Computed)
      flat.insert(flat.end(), r.values.begin(), r.values.end());
    else
      flat.insert(flat.end(), ncat, 0.0);
  }
  const std::vector<double> all = mpi.gather(flat);
  ForwardResult merged;
  for (std::size_t at = 0; at + width <= all.size(); at += width) {
    ObsResult r;
    r.row = static_cast<std::size_t>(all[at]);
    r.status = static_cast<ObsStatus>(static_cast<int>(all[at + 1]));
    r.total = all[at + 2];
    r.slices = static_cast<std::size_t>(all[at + 3]);
    r.dropped = static_cast<std::size_t>(all[at + 4]);
    r.outside_domain = static_cast<std::size_t>(all[at + 5]);
    if (r.status == ObsStatus::Computed)
      r.values.assign(all.begin() + static_cast<std::ptrdiff_t>(at + 6),
                      all.begin() + static_cast<std::ptrdiff_t>(at + width));
    merged.obs.push_back(std::move(r));
  }
  merged.recount();
  return merged;
}

std::size_t summed(std::size_t n, const Communicator& mpi) {
  return static_cast<std::size_t>(mpi.sum(static_cast<long long>(n)));
}

}  // namespace

namespace {

// The threads of a run (RunOptions::threads).
int run_threads(const RunOptions& o, const RcFile& rc, const Context& ctx, const Communicator& comm) {
  if (o.serial) return 1;
  if (o.threads > 0) return o.threads;
  if (rc.has("model.transport.split")) {
    const long long split = rc.get_int("model.transport.split");
    if (split < 1)
      throw FileError(rc.source(), "model.transport.split",
                      fmt::format("expected a number of parallel chunks >= 1, found {}", split));
    return static_cast<int>(std::min<long long>(split, 4096));
  }
  // Ranks sharing a machine share its cores.
  return std::max(1, ctx.threads / std::max(1, comm.local_size()));
}

// The cache directory of a run ("" = no cache).
fs::path cache_directory(const RunOptions& o, const RcFile& rc) {
  if (!o.use_cache || !o.packed.empty()) return {};
  if (!o.cache_dir.empty()) return o.cache_dir;
  if (const auto run = rc.find("path.run"); run && !trim(*run).empty())
    return fs::path(std::string(trim(*run))) / "fluxkit-operators";
  return {};
}

// The files of this rank, balanced by `weight` (see Operator::weight), in their original order.
std::vector<FileTask> files_of_rank(const std::vector<FileTask>& files,
                                    const std::vector<std::uint64_t>& weights, const Communicator& comm) {
  if (comm.size() == 1) return files;
  const std::vector<int> rank = balance_by_weight(weights, comm.size());
  std::vector<FileTask> mine;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (rank[i] == comm.rank()) mine.push_back(files[i]);
  return mine;
}

FluxFile adjoint_file(const std::vector<std::string>& optimized, const TimeAxis& axis, const RcGrid& grid,
                      std::vector<double> field) {
  FluxFile out;
  for (std::size_t i = 0; i < optimized.size(); ++i) {
    FluxCategory c;
    c.name = optimized[i];
    c.nt = axis.size();
    c.nlat = grid.shape.nlat;
    c.nlon = grid.shape.nlon;
    c.emis = i + 1 == optimized.size() ? std::move(field) : field;  // no copy for the last one
    for (std::size_t k = 0; k < axis.size(); ++k) {
      c.times_start.push_back(cftime::epoch_seconds_to_civil(axis.start[k]));
      c.times_end.push_back(cftime::epoch_seconds_to_civil(axis.end[k]));
    }
    for (const double v : grid.lats)
      c.lats.push_back(static_cast<float>(v));
    for (const double v : grid.lons)
      c.lons.push_back(static_cast<float>(v));
    out.categories.push_back(std::move(c));
  }
  return out;
}

// The adjoint's axis and grid from the rc (read before any work, so that a bad rc fails early).
struct AdjointSetup {
  std::vector<std::string> optimized;
  TimeAxis axis;
  RcGrid grid;
};

AdjointSetup adjoint_setup(const RcFile& rc, const std::vector<std::string>& categories,
                           bool need_optimized) {
  AdjointSetup s;
  s.optimized = optimized_categories(rc, categories);
  if (need_optimized && s.optimized.empty())
    throw FileError(rc.source(), "emissions.categories",
                    "no optimized category (emissions.<cat>.optimize): the adjoint would have no output");
  const std::int64_t start = rc_time(rc, "time.start"), end = rc_time(rc, "time.end");
  s.axis = TimeAxis::regular(start, end, rc_interval(rc));
  if (s.axis.size() == 0)
    throw FileError(rc.source(), "time.end",
                    "time.end is not after time.start: the adjoint has no time step");
  s.grid = rc_grid(rc);
  return s;
}

void check_output_directory(const fs::path& path, const char* what) {
  if (path.empty()) return;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw FileError(path.string(), "", fmt::format("the directory of the {} does not exist", what));
}

}  // namespace

RunSummary run(const RunOptions& o, const Context& base_ctx, const Communicator& comm) {
  const bool root = comm.rank() == 0;
  const bool only_adjtest = o.adjtest && !o.forward && !o.adjoint;
  if (!o.forward && !o.adjoint && !o.adjtest)
    throw Error("nothing to do: give --forward, --adjoint and/or --adjtest");
  if (o.db.empty()) throw Error("--db is required (the observation database, LUMIA obsdb tar.gz)");
  if (o.emis.empty() && !only_adjtest)
    throw Error("--emis is required (forward: the flux file to read; adjoint: the file to write)");
  if (o.rc.empty())
    throw Error("--rc is required (the LUMIA rc file: emissions.categories, time.*, region.*)");
  check_output_directory(o.checkfile, "check file");
  if (o.adjoint) check_output_directory(o.emis, "adjoint file");

  const RcFile rc = RcFile::parse_file(o.rc);
  const std::vector<std::string> categories = rc.get_list("emissions.categories");
  if (categories.empty()) throw FileError(o.rc.string(), "emissions.categories", "no category");
  spdlog::debug("rc {}: categories {}; db {}; emis {}", o.rc.string(), fmt::join(categories, ", "),
                o.db.string(), o.emis.string());
  std::optional<AdjointSetup> adj;
  if (o.adjoint || o.adjtest) adj = adjoint_setup(rc, categories, o.adjoint);

  RunSummary summary;
  Context ctx = base_ctx;
  ctx.threads = summary.threads = run_threads(o, rc, base_ctx, comm);

  ObsDb db = ObsDb::read(o.db);
  summary.work = collect_work(db, o.db, o.adjoint, o.packed.empty());
  const Work& work = summary.work;
  std::optional<FluxFile> flux;
  if (o.forward) {
    flux = FluxFile::read(o.emis);
    for (const auto& c : categories)
      (void)flux->require(c, o.emis);  // FileError naming the flux file and the missing category
  }

  OperatorOptions options;
  options.truncate = o.truncate;
  options.check_grid = o.check_grid;
  // The grid the footprints are read onto: the flux file's (forward), else the rc's.
  GridShape grid;
  if (flux) {
    const FluxCategory& first = flux->require(categories.front(), o.emis);
    grid = {first.nlat, first.nlon};
    options.lats.assign(first.lats.begin(), first.lats.end());
    options.lons.assign(first.lons.begin(), first.lons.end());
  } else {
    grid = adj->grid.shape;
    options.lats = adj->grid.lats;
    options.lons = adj->grid.lons;
  }
  if (!o.check_grid) options.lats.clear(), options.lons.clear();

  // The operator: a packed file, the cache, or the footprint files. The MPI split uses the packed non-zeros
  // of an explicit packed operator, else the file sizes (stable across cached and uncached calls).
  std::vector<std::uint64_t> weights;
  std::unique_ptr<Operator> op;
  std::unique_ptr<PackedOperator> packed;
  if (!o.packed.empty()) {
    packed = std::make_unique<PackedOperator>(o.packed);
    const std::size_t gone = packed->check_sources();
    spdlog::info("packed operator {}: {} observations, {} non-zeros ({}){}", o.packed.string(),
                 packed->observations(), packed->nonzeros(), mb(packed->bytes()),
                 gone > 0 ? fmt::format("; {} of its footprint files are no longer on disk", gone) : "");
  }
  for (const FileTask& f : work.files)
    weights.push_back(packed ? packed->weight(f) : f.weight);
  const std::vector<FileTask> mine = files_of_rank(work.files, weights, comm);
  std::size_t my_obs = 0;
  for (const auto& f : mine)
    my_obs += f.obs.size();
  spdlog::info(
      "{} observations in {} footprint files ({}); {} without footprint, {} without time; {} x {} thread{}",
      work.observations, work.files.size(), mb(work.bytes), work.without_path, work.without_time,
      comm.active() ? fmt::format("{} MPI rank{}", comm.size(), comm.size() == 1 ? "" : "s") : "no MPI",
      ctx.threads, ctx.threads == 1 ? "" : "s");

  auto source = make_file_footprint_source(
      [format = o.footprint_format](const fs::path& p) { return open_footprint_file(p, format); });
  if (packed) {
    summary.operator_source = "packed operator " + o.packed.string();
    op = std::move(packed);
  } else if (const fs::path dir = cache_directory(o, rc); !dir.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    CachedOperator c;
    {
      Progress progress("pack", root && o.progress ? my_obs : 0, "obs", false);
      OperatorOptions pack_options = options;
      if (root && o.progress) pack_options.progress = [&progress](std::size_t n) { progress.advance(n); };
      c = cached_operator(dir, mine, *source, grid, pack_options, o.footprint_format, ctx);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    summary.operator_source =
        fmt::format("operator cache {} ({})", c.path.string(), c.built ? "built" : "reused");
    if (c.built)
      spdlog::info("operator cache: packed {} footprints ({} non-zeros, {}) into {} in {:.2f} s",
                   c.summary.observations, c.summary.nonzeros, mb(c.summary.bytes), c.path.string(), seconds);
    else
      spdlog::info("operator cache: reusing {} ({} non-zeros)", c.path.string(), c.op->nonzeros());
    op = std::move(c.op);
  } else {
    summary.operator_source = "footprint files";
    op = std::make_unique<FootprintOperator>(std::move(source));
  }

  const auto with_progress = [&](const char* label, const OperatorOptions& base, auto&& body) {
    Progress progress(label, root && o.progress ? my_obs : 0, "obs");
    OperatorOptions opt = base;
    if (root && o.progress) opt.progress = [&progress](std::size_t n) { progress.advance(n); };
    return body(opt);
  };
  const char* skip_word = o.truncate ? "truncated" : "skipped";

  // Compute everything first; write only when every direction succeeded.
  if (o.forward) {
    const ForwardResult local = with_progress(
        "forward", options, [&](const OperatorOptions& opt) { return op->forward(*flux, mine, opt, ctx); });
    summary.forward = gather_forward(local, flux->categories.size(), comm);
    if (root) {
      const ForwardResult& r = *summary.forward;
      std::vector<std::string> flux_categories;
      for (const auto& c : flux->categories)
        flux_categories.push_back(c.name);
      write_forward_columns(db.observations, r, flux_categories, categories);
      spdlog::info(
          "forward: {} observations computed, {} without a footprint in their file, {} outside the flux "
          "period{}{}",
          r.computed, r.no_footprint, r.outside_period,
          o.truncate ? fmt::format(" ({} {})", r.truncated, skip_word) : std::string(" (skipped)"),
          r.outside_domain > 0
              ? fmt::format("; {} footprint cells outside the flux grid discarded", r.outside_domain)
              : "");
    }
  }

  if (adj) {
    OperatorOptions rc_options = options;
    rc_options.lats = o.check_grid ? adj->grid.lats : std::vector<double>{};
    rc_options.lons = o.check_grid ? adj->grid.lons : std::vector<double>{};
    spdlog::debug("adjoint grid: region {}, {} x {}, {} steps from {}", adj->grid.region,
                  adj->grid.shape.nlat, adj->grid.shape.nlon, adj->axis.size(),
                  cftime::format_epoch_seconds(adj->axis.start.front()));
    if (o.adjoint) {
      AdjointResult r = with_progress("adjoint", rc_options, [&](const OperatorOptions& opt) {
        return op->adjoint(adj->axis, adj->grid.shape, mine, opt, ctx);
      });
      comm.reduce_sum(r.field);
      r.computed = summed(r.computed, comm);
      r.no_footprint = summed(r.no_footprint, comm);
      r.outside_period = summed(r.outside_period, comm);
      r.truncated = summed(r.truncated, comm);
      r.outside_domain = summed(r.outside_domain, comm);
      spdlog::info(
          "adjoint: {} observations contributed, {} without a footprint in their file, {} outside the "
          "period of the rc{} ({})",
          r.computed, r.no_footprint, r.outside_period,
          o.truncate ? fmt::format(" ({} {})", r.truncated, skip_word) : std::string(" (skipped)"),
          fmt::format("{}", fmt::join(adj->optimized, ", ")));
      summary.adjoint = std::move(r);
    }
    if (o.adjtest) {
      const std::size_t ncat = std::max<std::size_t>(1, adj->optimized.size());
      AdjointTestResult t =
          op->adjoint_test(adj->axis, adj->grid.shape, ncat, mine, rc_options, ctx, o.adjtest_seed);
      t.hx_y = comm.sum(t.hx_y);
      t.x_hty = comm.sum(t.x_hty);
      t.observations = summed(t.observations, comm);
      t.value = adjoint_test_value(t.hx_y, t.x_hty);
      if (t.observations == 0)
        throw Error("adjoint test: no observation has a footprint within the period of the rc file");
      summary.adjtest = t;
      if (!(std::abs(t.value) < 1e-12))
        throw Error(
            fmt::format("adjoint test failed: 1 - <Hx, y> / <x, H^T y> = {:.3e} is not below 1e-12 ({} "
                        "observations)",
                        t.value, t.observations));
      spdlog::info("adjoint test passed: 1 - <Hx, y> / <x, H^T y> = {:.3e} ({} observations)", t.value,
                   t.observations);
    }
  }

  // Write: both outputs into temp files next to their targets, then renamed (all or nothing).
  comm.barrier();
  if (root) {
    std::optional<AtomicFile> db_out, adj_out;
    if (o.forward) {
      db_out.emplace(o.db);
      db.write(db_out->temp_path());
    }
    if (o.adjoint) {
      adj_out.emplace(o.emis);
      adjoint_file(adj->optimized, adj->axis, adj->grid, std::move(summary.adjoint->field))
          .write(adj_out->temp_path(), Provenance::make(rc_hash(rc), o.command_line));
      summary.adjoint->field.clear();
    }
    if (db_out) db_out->commit();
    if (adj_out) adj_out->commit();
    if (o.forward) spdlog::info("forward columns written into {}", o.db.string());
    if (o.adjoint) spdlog::info("adjoint written to {}", o.emis.string());
  }
  comm.barrier();
  if (root && !o.checkfile.empty()) write_text_atomic(o.checkfile, "");
  return summary;
}

PackSummary pack(const fs::path& rc_path, const fs::path& db_path, const fs::path& out,
                 const std::string& footprint_format, bool check_grid, const Context& ctx) {
  const RcFile rc = RcFile::parse_file(rc_path);
  const RcGrid grid = rc_grid(rc);
  const ObsDb db = ObsDb::read(db_path);
  const Work work = collect_work(db, db_path, false, true);
  const auto source = make_file_footprint_source(
      [format = footprint_format](const fs::path& p) { return open_footprint_file(p, format); });
  OperatorOptions options;
  options.check_grid = check_grid;
  if (check_grid) {
    options.lats = grid.lats;
    options.lons = grid.lons;
  }
  spdlog::info("packing {} observations of {} footprint files ({}) on the {} x {} grid of region {}",
               work.observations, work.files.size(), mb(work.bytes), grid.shape.nlat, grid.shape.nlon,
               grid.region);
  Progress progress("pack", work.observations, "obs");
  options.progress = [&progress](std::size_t n) { progress.advance(n); };
  return pack_operator(out, work.files, *source, grid.shape, options, ctx);
}

}  // namespace fluxkit::transport

// `fluxkit transport`: forward (fluxes -> foreground concentrations at the observations), adjoint (departures
// -> flux sensitivities) and the adjoint test, with LUMIA lagrange_mp.py's flags and files (spec transport.md
// §3-§9): rc file (--rc), obsdb tar (--db, rewritten atomically by the forward), flux netCDF (--emis: input
// of the forward, output of the adjoint).
#include "cmd_transport.hpp"

#include "mpi_session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/packed.hpp"
#include "fluxkit/transport/rc.hpp"

namespace fluxkit::cli {

namespace {

namespace fs = std::filesystem;
using namespace fluxkit::transport;

struct TransportArgs {
  bool forward = false, adjoint = false, serial = false, adjtest = false, truncate = false,
       no_grid_check = false;
  std::string checkfile, rc, db, emis, verbosity, footprint_format, packed, out;
  // The global options, also accepted after the verb (the verb does not fall through to them, so that
  // trailing unknown arguments can be ignored as LUMIA's argparse REMAINDER does).
  std::string config;
  int threads = -1;
  std::int64_t seed = -1;
  std::string device;
  std::vector<std::string> sets;
};

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

// LUMIA's logging levels (DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET) and fluxkit's, case-insensitive.
spdlog::level::level_enum parse_verbosity(std::string_view name) {
  const std::string v = lower(trim(name));
  if (v == "notset") return spdlog::level::trace;
  if (v == "warning") return spdlog::level::warn;
  if (v == "critical" || v == "fatal") return spdlog::level::critical;
  try {
    return parse_log_level(v);
  } catch (const Error&) {
    throw Error(
        fmt::format("--verbosity: unknown level '{}' (expected DEBUG, INFO, WARNING, ERROR, CRITICAL or "
                    "trace, debug, info, "
                    "warn, error, off)",
                    name));
  }
}

// A date-time as "YYYYmmddHHMMSS" (LUMIA's obsdb), "YYYY-mm-dd HH:MM:SS" (pandas' default), ISO 8601 with a
// 'T', or shorter forms; fractional seconds ignored. nullopt for an empty cell or NaT.
std::optional<std::int64_t> parse_time(std::string_view cell) {
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
  return stamp_to_seconds(t);
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
      if (const auto t = parse_time(items[0])) return *t;
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
  return stamp_to_seconds(t);
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

struct RcGrid {
  std::string region;
  GridShape shape;
  std::vector<double> lats, lons;  // cell centres
};

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

// The observations to transport, grouped by footprint file (sorted paths, as numpy.unique), rows in db order.
struct Work {
  std::vector<FileTask> files;
  std::size_t observations = 0;  // rows with a footprint path and a time
  std::size_t without_path = 0;  // rows without a footprint path (never visited, as LUMIA)
  std::size_t without_time = 0;  // rows with an empty time (LUMIA drops them on reading)
  std::uint64_t bytes = 0;       // footprint files on disk
};

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
      time = parse_time(obs.rows[r][c_time]);
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

Context transport_context(const TransportArgs& a, const GlobalOptions& global, const Invocation& inv,
                          const MpiSession& mpi) {
  Context ctx = inv.ctx;
  if (a.serial) ctx.threads = 1;
  // Ranks sharing a machine share its cores, unless the threads were given.
  if (mpi.local_size() > 1 && a.threads < 0 && global.threads < 0)
    ctx.threads = std::max(1, ctx.threads / mpi.local_size());
  return ctx;
}

Invocation transport_invocation(const TransportArgs& a, const GlobalOptions& global) {
  GlobalOptions g = global;
  if (!a.config.empty()) g.config_path = a.config;
  if (a.threads >= 0) g.threads = a.threads;
  if (a.seed >= 0) g.seed = a.seed;
  if (!a.device.empty()) g.device = a.device;
  g.sets.insert(g.sets.end(), a.sets.begin(), a.sets.end());
  static const SectionFlags no_flags;
  Invocation inv = prepare(g, no_flags);
  if (!a.verbosity.empty()) spdlog::set_level(parse_verbosity(a.verbosity));
  return inv;
}

// The footprints as the operator reads them: the files, or a packed operator.
struct Footprints {
  std::unique_ptr<FootprintSource> files;
  std::unique_ptr<PackedOperator> packed;

  ForwardResult forward(const FluxFile& flux, const std::vector<FileTask>& tasks, const OperatorOptions& o,
                        const Context& ctx) const {
    return packed ? transport::forward(flux, tasks, *packed, o, ctx)
                  : transport::forward(flux, tasks, *files, o, ctx);
  }
  AdjointResult adjoint(const TimeAxis& axis, GridShape grid, const std::vector<FileTask>& tasks,
                        const OperatorOptions& o, const Context& ctx) const {
    return packed ? transport::adjoint(axis, grid, tasks, *packed, o, ctx)
                  : transport::adjoint(axis, grid, tasks, *files, o, ctx);
  }
  AdjointTestResult adjoint_test(const TimeAxis& axis, GridShape grid, std::size_t ncat,
                                 const std::vector<FileTask>& tasks, const OperatorOptions& o,
                                 const Context& ctx, std::uint64_t seed) const {
    return packed ? transport::adjoint_test(axis, grid, ncat, tasks, *packed, o, ctx, seed)
                  : transport::adjoint_test(axis, grid, ncat, tasks, *files, o, ctx, seed);
  }
};

// The files of this rank: balanced by non-zeros (exact from a packed operator, estimated by the file size
// otherwise), in their original order.
std::vector<FileTask> files_of_rank(const std::vector<FileTask>& files, const Footprints& fp,
                                    const MpiSession& mpi) {
  if (mpi.size() == 1) return files;
  std::vector<std::uint64_t> weights;
  for (const auto& f : files)
    weights.push_back(fp.packed ? fp.packed->nonzeros_of(f.path) : f.weight);
  const std::vector<int> rank = balance_by_weight(weights, mpi.size());
  std::vector<FileTask> mine;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (rank[i] == mpi.rank()) mine.push_back(files[i]);
  return mine;
}

// Forward results of every rank on rank 0 (per observation: row, status, total, slices, dropped, cells
// outside the grid, then one value per category).
ForwardResult gather_forward(ForwardResult local, std::size_t ncat, const MpiSession& mpi) {
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

std::size_t summed(std::size_t n, const MpiSession& mpi) {
  return static_cast<std::size_t>(mpi.sum(static_cast<long long>(n)));
}

void run_transport(const TransportArgs& a, const GlobalOptions& global,
                   const std::vector<std::string>& ignored, const MpiSession& mpi) {
  Invocation inv = transport_invocation(a, global);
  const Context ctx = transport_context(a, global, inv, mpi);
  const bool root = mpi.rank() == 0;
  if (!root) spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));  // rank 0 reports
  if (!ignored.empty()) spdlog::debug("ignoring trailing arguments: {}", fmt::join(ignored, " "));

  const bool only_adjtest = a.adjtest && !a.forward && !a.adjoint;
  if (a.db.empty()) throw Error("--db is required (the observation database, LUMIA obsdb tar.gz)");
  if (a.emis.empty() && !only_adjtest)
    throw Error("--emis is required (forward: the flux file to read; adjoint: the file to write)");
  if (a.rc.empty())
    throw Error("--rc is required (the LUMIA rc file: emissions.categories, time.*, region.*)");
  if (!a.forward && !a.adjoint && !a.adjtest)
    spdlog::warn("nothing to do: give --forward, --adjoint and/or --adjtest");

  const RcFile rc = RcFile::parse_file(a.rc);
  const std::vector<std::string> categories = rc.get_list("emissions.categories");
  if (categories.empty()) throw FileError(a.rc, "emissions.categories", "no category");
  const fs::path db_path = a.db;
  ObsDb db = ObsDb::read(db_path);
  const Work work = collect_work(db, db_path, a.adjoint, a.packed.empty());

  Footprints footprints;
  if (a.packed.empty()) {
    footprints.files = make_file_footprint_source(
        [format = a.footprint_format](const fs::path& p) { return open_footprint_file(p, format); });
  } else {
    footprints.packed = std::make_unique<PackedOperator>(a.packed);
    const std::size_t gone = footprints.packed->check_sources();
    spdlog::info("packed operator {}: {} observations, {} non-zeros ({}){}", a.packed,
                 footprints.packed->observations(), footprints.packed->nonzeros(),
                 mb(footprints.packed->bytes()),
                 gone > 0 ? fmt::format("; {} of its footprint files are no longer on disk", gone) : "");
  }
  const std::vector<FileTask> mine = files_of_rank(work.files, footprints, mpi);
  std::size_t my_obs = 0;
  for (const auto& f : mine)
    my_obs += f.obs.size();
  spdlog::info(
      "{} observations in {} footprint files ({}); {} without footprint, {} without time; {} rank{} x {} "
      "thread{}",
      work.observations, work.files.size(), mb(work.bytes), work.without_path, work.without_time, mpi.size(),
      mpi.size() == 1 ? "" : "s", ctx.threads, ctx.threads == 1 ? "" : "s");

  OperatorOptions options;
  options.truncate = a.truncate;
  options.check_grid = !a.no_grid_check;
  const auto with_progress = [&](const char* label, const OperatorOptions& base, auto&& body) {
    Progress progress(label, root ? my_obs : 0, "obs");
    OperatorOptions o = base;
    if (root) o.progress = [&progress](std::size_t n) { progress.advance(n); };
    return body(o);
  };
  const char* skip_word = a.truncate ? "truncated" : "skipped";

  if (a.forward) {
    const FluxFile flux = FluxFile::read(a.emis);
    for (const auto& c : categories)
      (void)flux.require(c, a.emis);  // FileError naming the flux file and the missing category
    const ForwardResult local = with_progress(
        "forward", options, [&](const OperatorOptions& o) { return footprints.forward(flux, mine, o, ctx); });
    const ForwardResult r = gather_forward(local, flux.categories.size(), mpi);
    if (root) {
      std::vector<std::string> flux_categories;
      for (const auto& c : flux.categories)
        flux_categories.push_back(c.name);
      write_forward_columns(db.observations, r, flux_categories, categories);
      db.write(db_path);
      spdlog::info(
          "forward: {} observations computed, {} without a footprint in their file, {} outside the flux "
          "period{}{}; {} written",
          r.computed, r.no_footprint, r.outside_period,
          a.truncate ? fmt::format(" ({} {})", r.truncated, skip_word) : std::string(" (skipped)"),
          r.outside_domain > 0
              ? fmt::format("; {} footprint cells outside the flux grid discarded", r.outside_domain)
              : "",
          db_path.string());
    }
  }

  if (a.adjoint || a.adjtest) {
    const std::vector<std::string> optimized = optimized_categories(rc, categories);
    const std::int64_t start = rc_time(rc, "time.start"), end = rc_time(rc, "time.end");
    const TimeAxis axis = TimeAxis::regular(start, end, rc_interval(rc));
    if (axis.size() == 0)
      throw FileError(a.rc, "time.end", "time.end is not after time.start: the adjoint has no time step");
    const RcGrid grid = rc_grid(rc);
    OperatorOptions rc_options = options;
    rc_options.lats = grid.lats;
    rc_options.lons = grid.lons;
    spdlog::debug("adjoint grid: region {}, {} x {}, {} steps from {}", grid.region, grid.shape.nlat,
                  grid.shape.nlon, axis.size(), legacy_key(start));

    if (a.adjoint) {
      if (optimized.empty())
        throw FileError(a.rc, "emissions.categories",
                        "no optimized category (emissions.<cat>.optimize): the adjoint would have no output");
      AdjointResult r = with_progress("adjoint", rc_options, [&](const OperatorOptions& o) {
        return footprints.adjoint(axis, grid.shape, mine, o, ctx);
      });
      mpi.reduce_sum(r.field);
      r.computed = summed(r.computed, mpi);
      r.no_footprint = summed(r.no_footprint, mpi);
      r.outside_period = summed(r.outside_period, mpi);
      r.truncated = summed(r.truncated, mpi);
      if (root) {
        FluxFile out;
        for (std::size_t i = 0; i < optimized.size(); ++i) {
          const std::string& name = optimized[i];
          FluxCategory c;
          c.name = name;
          c.nt = axis.size();
          c.nlat = grid.shape.nlat;
          c.nlon = grid.shape.nlon;
          c.emis = i + 1 == optimized.size() ? std::move(r.field) : r.field;  // no copy for the last one
          for (std::size_t k = 0; k < axis.size(); ++k) {
            c.times_start.push_back(seconds_to_stamp(axis.start[k]));
            c.times_end.push_back(seconds_to_stamp(axis.end[k]));
          }
          for (const double v : grid.lats)
            c.lats.push_back(static_cast<float>(v));
          for (const double v : grid.lons)
            c.lons.push_back(static_cast<float>(v));
          out.categories.push_back(std::move(c));
        }
        out.write(a.emis, Provenance::make(rc_hash(rc), inv.command_line));
        spdlog::info(
            "adjoint: {} observations contributed, {} without a footprint in their file, {} outside the "
            "period of the rc{}; {} written ({})",
            r.computed, r.no_footprint, r.outside_period,
            a.truncate ? fmt::format(" ({} {})", r.truncated, skip_word) : std::string(" (skipped)"), a.emis,
            fmt::join(optimized, ", "));
      }
    }

    if (a.adjtest) {
      const std::size_t ncat = std::max<std::size_t>(1, optimized.size());
      AdjointTestResult t = footprints.adjoint_test(axis, grid.shape, ncat, mine, rc_options, ctx, ctx.seed);
      t.hx_y = mpi.sum(t.hx_y);
      t.x_hty = mpi.sum(t.x_hty);
      t.observations = summed(t.observations, mpi);
      t.value = adjoint_test_value(t.hx_y, t.x_hty);
      if (t.observations == 0)
        throw Error("adjoint test: no observation has a footprint within the period of the rc file");
      if (root) {
        fmt::print(
            "adjoint test: 1 - <Hx, y> / <x, H^T y> = {:.3e}  (<Hx, y> = {:.17g}, <x, H^T y> = {:.17g}, {} "
            "observations, {} categor{})\n",
            t.value, t.hx_y, t.x_hty, t.observations, ncat, ncat == 1 ? "y" : "ies");
        std::fflush(stdout);
      }
      if (!(std::abs(t.value) < 1e-12))
        throw Error(fmt::format("adjoint test failed: 1 - <Hx, y> / <x, H^T y> = {:.3e} is not below 1e-12",
                                t.value));
      spdlog::info("adjoint test passed ({:.3e} < 1e-12)", t.value);
    }
  }

  mpi.barrier();
  if (root && !a.checkfile.empty()) write_text_atomic(a.checkfile, "");
}

// `fluxkit transport pack`: every footprint the obsdb references, on the rc's grid, into one packed operator.
void run_pack(const TransportArgs& a, const GlobalOptions& global) {
  Invocation inv = transport_invocation(a, global);
  Context ctx = inv.ctx;
  if (a.db.empty() || a.rc.empty() || a.out.empty())
    throw Error(
        "transport pack needs --rc (the grid), --db (the observations) and --out (the packed operator)");
  const RcFile rc = RcFile::parse_file(a.rc);
  const RcGrid grid = rc_grid(rc);
  const ObsDb db = ObsDb::read(a.db);
  const Work work = collect_work(db, a.db, false, true);
  const auto source = make_file_footprint_source(
      [format = a.footprint_format](const fs::path& p) { return open_footprint_file(p, format); });
  OperatorOptions options;
  options.check_grid = !a.no_grid_check;
  options.lats = grid.lats;
  options.lons = grid.lons;
  spdlog::info("packing {} observations of {} footprint files ({}) on the {} x {} grid of region {}",
               work.observations, work.files.size(), mb(work.bytes), grid.shape.nlat, grid.shape.nlon,
               grid.region);
  const auto t0 = std::chrono::steady_clock::now();
  PackSummary s;
  {
    Progress progress("pack", work.observations, "obs");
    options.progress = [&progress](std::size_t n) { progress.advance(n); };
    s = pack_operator(a.out, work.files, *source, grid.shape, options, ctx);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "packed {} footprints ({} without one in their file) of {} files: {} non-zeros in {} slices on {} time "
      "steps{}; {} written ({}, {:.1f} s)",
      s.observations, s.no_footprint, s.files, s.nonzeros, s.slices, s.steps,
      s.outside_domain > 0 ? fmt::format(", {} cells outside the grid discarded", s.outside_domain) : "",
      a.out, mb(s.bytes), seconds);
  if (!a.checkfile.empty()) write_text_atomic(a.checkfile, "");
}

}  // namespace

void add_transport_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("transport",
                                 "Lagrangian transport operator, a drop-in for LUMIA's lagrange_mp.py (docs: "
                                 "shared/specs/transport.md):\n"
                                 "forward = fluxes (--emis) to foreground concentrations at the observations "
                                 "of the obsdb (--db, rewritten\n"
                                 "with the columns foreground, totals, model, id and one per category); "
                                 "adjoint = departures (column dy)\n"
                                 "to flux sensitivities written to --emis on the rc's grid and time axis. "
                                 "Footprint files are read with\n"
                                 "the HDF5 C API, processed in parallel (--threads; --serial = one thread).");
  static TransportArgs a;
  cmd->add_flag("-f,--forward", a.forward, "Forward run: fluxes -> concentrations, written into --db");
  cmd->add_flag(
      "-a,--adjoint", a.adjoint,
      "Adjoint run: departures (dy) -> adjoint fluxes written to --emis (after the forward if both)");
  cmd->add_flag("-s,--serial", a.serial, "Run on one thread");
  cmd->add_option("-c,--checkfile", a.checkfile, "Create this empty file on success (after all work)");
  cmd->add_option("--rc", a.rc,
                  "LUMIA rc file (emissions.categories, emissions.<cat>.optimize, time.start/end, "
                  "emissions.*.interval, region)");
  cmd->add_option("--db", a.db,
                  "Observation database (LUMIA obsdb tar.gz); the forward rewrites it atomically [required]");
  cmd->add_option("--emis", a.emis,
                  "Flux file (netCDF, one group per category): forward input, adjoint output");
  cmd->add_option("-v,--verbosity", a.verbosity,
                  "Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL (LUMIA) or trace..off [default: INFO]");
  cmd->add_flag(
      "--adjtest", a.adjtest,
      "Adjoint test on the rc's grid: forward with random fluxes, adjoint with random departures; prints "
      "1 - <Hx, y> / <x, H^T y> and fails if it is not below 1e-12");
  cmd->add_flag(
      "--truncate", a.truncate,
      "Drop the footprint slices outside the flux period instead of skipping the observation (LUMIA "
      "v2020 skips)");
  cmd->add_option("--footprint-format", a.footprint_format,
                  "Footprint file format: legacy, lumia_v2, stilt [default: detected per file]");
  cmd->add_flag("--no-grid-check", a.no_grid_check,
                "Do not compare the grid a footprint file states with the flux grid");
  cmd->add_option("--packed", a.packed,
                  "Read the footprints from this packed operator (`fluxkit transport pack`) instead of their "
                  "files");
  auto* globals = cmd->add_option_group("Global options (also accepted before the verb)");
  globals->add_option("--config", a.config, "Pipeline configuration file (TOML)")->check(CLI::ExistingFile);
  globals->add_option("--threads", a.threads, "Worker threads [default: all cores]");
  globals->add_option("--seed", a.seed, "Base random seed (adjoint test) [default: 42]");
  globals->add_option("--device", a.device, "cpu or cuda [default: cpu]");
  globals->add_option("--set", a.sets, "Override any config key: --set section.key=value (repeatable)");
  cmd->footer(
      "Trailing arguments after the first unknown one are ignored (LUMIA's argparse REMAINDER). Exit status "
      "0 on\n"
      "success, non-zero on any failure; a failed run leaves the db and the flux file untouched.");
  // Everything is parsed here, so that unknown trailing arguments are kept (and ignored) instead of reaching
  // the main command.
  cmd->fallthrough(false);
  cmd->prefix_command();

  auto* pack = cmd->add_subcommand(
      "pack",
      "Convert every footprint the obsdb references, on the rc's grid, into one packed operator (CSR aligned "
      "to\nthe footprints' time steps) that forward and adjoint runs memory-map with --packed: HDF5 is read "
      "once.");
  static TransportArgs p;
  pack->add_option("--rc", p.rc, "LUMIA rc file (region: the grid the footprints are stored on)")->required();
  pack->add_option("--db", p.db, "Observation database (LUMIA obsdb tar.gz): the footprints to pack")
      ->required();
  pack->add_option("-o,--out", p.out, "The packed operator to write (atomically)")->required();
  pack->add_option("--footprint-format", p.footprint_format,
                   "Footprint file format: legacy, lumia_v2, stilt [default: detected per file]");
  pack->add_flag("--no-grid-check", p.no_grid_check,
                 "Do not compare the grid a footprint file states with the rc's grid");
  pack->add_option("-c,--checkfile", p.checkfile, "Create this empty file on success");
  pack->add_option("-v,--verbosity", p.verbosity, "Log level (as for transport)");
  pack->callback([&g] { run_pack(p, g); });

  cmd->callback([&g, cmd, pack] {
    if (pack->parsed()) return;
    const MpiSession mpi;
    try {
      run_transport(a, g, cmd->remaining(), mpi);
    } catch (const std::exception& e) {
      if (mpi.size() == 1) throw;
      spdlog::error("rank {}: {}", mpi.rank(), e.what());
      mpi.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

// A transport run as LUMIA's lagrange_mp.py does it, as a library call: rc file + obsdb + flux file ->
// the obsdb with the forward columns (forward), an adjoint flux file (adjoint), the dot-product test, and the
// check file that tells LUMIA the run succeeded. `fluxkit transport` only parses its arguments into
// RunOptions and calls run(); bindings and other programs call the same function.
//
// Files (docs/transport.md):
//   rc    LUMIA rc: emissions.categories, emissions.<cat>.optimize, time.start/time.end and
//         emissions.*.interval (adjoint axis), region + region.<name>.* (adjoint grid), model.transport.split
//         (threads), path.run (the operator cache)
//   db    obsdb tar.gz: columns time, site, footprint (path), dy (adjoint); the forward rewrites it with the
//         columns id, totals, model, foreground and one per rc category
//   emis  flux netCDF, one group per category: forward input, adjoint output (on the rc's grid and axis)
// Writes are atomic and all-or-nothing: nothing is written unless every requested direction succeeded (with
// forward and adjoint, the db and the adjoint file are both prepared in temp files and renamed at the end),
// and the check file is written last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/packed.hpp"
#include "fluxkit/transport/rc.hpp"

namespace fluxkit::transport {

// ---- rc semantics (LUMIA v2020)
// ------------------------------------------------------------------------------

// A date-time cell of the obsdb: "YYYYmmddHHMMSS" (LUMIA), "YYYY-mm-dd HH:MM:SS" (pandas), ISO 8601 with 'T',
// or shorter forms; fractional seconds ignored. nullopt for an empty cell or NaT; Error for anything else.
std::optional<std::int64_t> parse_obs_time(std::string_view cell);

// time.start / time.end: "Y, M, D[, h[, m[, s]]]" (LUMIA: datetime(*list)) or one date-time. FileError naming
// the rc file and key (missing or malformed).
std::int64_t rc_time(const RcFile& rc, const std::string& key);
// emissions.*.interval (v2020; emissions.interval from later versions): "<n>h" (or "<n>d"), in seconds.
std::int64_t rc_interval(const RcFile& rc);

// The adjoint grid: region = NAME and region.NAME.lat0/lat1/dlat/lon0/lon1/dlon; nlat = floor((lat1 - lat0) /
// dlat), centres lat0 + dlat/2 + i dlat (LUMIA's Region).
struct RcGrid {
  std::string region;
  GridShape shape;
  std::vector<double> lats, lons;  // cell centres, degrees
};
RcGrid rc_grid(const RcFile& rc);

// The categories whose emissions.<cat>.optimize is true, in rc order.
std::vector<std::string> optimized_categories(const RcFile& rc, const std::vector<std::string>& categories);

// ---- the work
// ------------------------------------------------------------------------------------------------

// The observations to transport, grouped by footprint file (sorted paths, as numpy.unique), rows in db order.
struct Work {
  std::vector<FileTask> files;
  std::size_t observations = 0;  // rows with a footprint path and a time
  std::size_t without_path = 0;  // rows without a footprint path (never visited, as LUMIA)
  std::size_t without_time = 0;  // rows with an empty time (LUMIA drops them on reading)
  std::uint64_t bytes = 0;       // footprint files on disk
};

// FileError naming the db for a missing column (time, site, footprint; dy when with_dy), a site missing from
// sites.csv or a malformed time; with need_files, FileError naming a footprint file that does not exist.
Work collect_work(const ObsDb& db, const std::filesystem::path& db_path, bool with_dy, bool need_files);

// ---- the run
// -------------------------------------------------------------------------------------------------

struct RunOptions {
  bool forward = false;  // fluxes (emis) -> foreground concentrations written into db
  bool adjoint = false;  // departures (db column dy) -> adjoint fluxes written to emis
  bool adjtest = false;  // dot-product test on the rc's grid and axis (random x and y); Error above 1e-12
  std::filesystem::path rc, db, emis;
  std::filesystem::path checkfile;  // "" = none; its directory must exist (checked before any work)
  bool truncate = false;            // drop slices outside the flux period instead of skipping the observation
  bool check_grid = true;           // compare the grid a footprint file states with the flux grid
  std::string footprint_format;     // legacy, lumia_v2, stilt; "" = detected per file
  std::filesystem::path packed;     // read the footprints from this packed operator instead of their files
  // The operator cache (operator_cache.hpp): `cache_dir`, or <path.run>/fluxkit-operators when the rc has
  // path.run and cache_dir is empty; no cache when use_cache is false or neither is known.
  bool use_cache = true;
  std::filesystem::path cache_dir;
  // Threads: 1 with `serial` (LUMIA --serial); else `threads` when > 0; else the rc's model.transport.split
  // when present (LUMIA's number of parallel chunks); else ctx.threads divided among the MPI ranks sharing a
  // machine.
  bool serial = false;
  int threads = 0;
  std::uint64_t adjtest_seed = 42;
  std::string command_line;  // provenance of the adjoint file
  bool progress = true;      // progress bars / log lines on rank 0
};

struct RunSummary {
  Work work;        // this run's observations (all ranks)
  int threads = 1;  // threads per rank
  std::string
      operator_source;  // "footprint files", "packed operator <path>", "operator cache <path> (built)"...
  std::optional<ForwardResult> forward;      // merged over ranks (rank 0)
  std::optional<AdjointResult> adjoint;      // counts summed over ranks; field on rank 0 (written to emis)
  std::optional<AdjointTestResult> adjtest;  // summed over ranks
};

// Runs the transport. Every rank of `comm` calls it; rank 0 writes. Errors (Error/FileError naming the file
// and the cause) leave db and emis untouched and write no check file. Under MPI an error on one rank is
// thrown there only: the caller aborts the other ranks (Communicator::abort).
RunSummary run(const RunOptions& options, const Context& ctx, const Communicator& comm);

// `fluxkit transport pack`: every footprint the obsdb references, on the rc's grid, into one packed operator
// written atomically to `out`.
PackSummary pack(const std::filesystem::path& rc, const std::filesystem::path& db,
                 const std::filesystem::path& out, const std::string& footprint_format, bool check_grid,
                 const Context& ctx);

}  // namespace fluxkit::transport

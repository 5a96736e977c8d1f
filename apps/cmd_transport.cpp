// `fluxkit transport`: argument parsing for the transport run of the library (fluxkit/transport/run.hpp),
// with LUMIA lagrange_mp.py's flags and files: rc file (--rc), obsdb tar (--db, rewritten atomically by the
// forward), flux netCDF (--emis: input of the forward, output of the adjoint).
#include "cmd_transport.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>

#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/transport/run.hpp"

namespace fluxkit::cli {

namespace {

namespace fs = std::filesystem;

struct TransportArgs {
  bool forward = false, adjoint = false, serial = false, adjtest = false, truncate = false,
       no_grid_check = false, no_cache = false;
  std::string checkfile, rc, db, emis, verbosity, footprint_format, packed, out, cache_dir;
};

// LUMIA's logging levels (DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET) and fluxkit's, case-insensitive.
spdlog::level::level_enum parse_verbosity(std::string_view name) {
  std::string v(name);
  for (auto& ch : v)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "notset") return spdlog::level::trace;
  if (v == "warning") return spdlog::level::warn;
  if (v == "critical" || v == "fatal") return spdlog::level::critical;
  try {
    return parse_log_level(v);
  } catch (const Error&) {
    throw CLI::ValidationError("--verbosity",
                               fmt::format("unknown level '{}' (expected DEBUG, INFO, WARNING, ERROR, "
                                           "CRITICAL or trace, debug, info, warn, error, off)",
                                           name));
  }
}

Invocation transport_invocation(const TransportArgs& a, const GlobalOptions& global) {
  static const SectionFlags no_flags;
  Invocation inv = prepare(global, no_flags);
  if (!a.verbosity.empty()) spdlog::set_level(parse_verbosity(a.verbosity));
  return inv;
}

void run_transport(const TransportArgs& a, const GlobalOptions& global, const Communicator& comm) {
  Invocation inv = transport_invocation(a, global);
  if (comm.rank() != 0)
    spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));  // rank 0 reports
  transport::RunOptions o;
  o.forward = a.forward;
  o.adjoint = a.adjoint;
  o.adjtest = a.adjtest;
  o.rc = a.rc;
  o.db = a.db;
  o.emis = a.emis;
  o.checkfile = a.checkfile;
  o.truncate = a.truncate;
  o.check_grid = !a.no_grid_check;
  o.footprint_format = a.footprint_format;
  o.packed = a.packed;
  o.use_cache = !a.no_cache;
  o.cache_dir = a.cache_dir;
  o.serial = a.serial;
  o.threads = global.threads >= 0 ? inv.ctx.threads : 0;
  o.adjtest_seed = inv.ctx.seed;
  o.command_line = inv.command_line;
  const transport::RunSummary r = transport::run(o, inv.ctx, comm);
  if (r.adjtest && comm.rank() == 0) {
    fmt::print(
        "adjoint test: 1 - <Hx, y> / <x, H^T y> = {:.3e}  (<Hx, y> = {:.17g}, <x, H^T y> = {:.17g}, {} "
        "observations)\n",
        r.adjtest->value, r.adjtest->hx_y, r.adjtest->x_hty, r.adjtest->observations);
    std::fflush(stdout);
  }
}

void run_pack(const TransportArgs& a, const GlobalOptions& global) {
  Invocation inv = transport_invocation(a, global);
  const auto t0 = std::chrono::steady_clock::now();
  const transport::PackSummary s =
      transport::pack(a.rc, a.db, a.out, a.footprint_format, !a.no_grid_check, inv.ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "packed {} footprints ({} without one in their file) of {} files: {} non-zeros in {} slices on {} time "
      "steps{}; {} written ({:.1f} MB, {:.1f} s)",
      s.observations, s.no_footprint, s.files, s.nonzeros, s.slices, s.steps,
      s.outside_domain > 0 ? fmt::format(", {} cells outside the grid discarded", s.outside_domain) : "",
      a.out, static_cast<double>(s.bytes) / 1e6, seconds);
  if (!a.checkfile.empty()) write_text_atomic(a.checkfile, "");
}

}  // namespace

void add_transport_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "transport",
      "Lagrangian transport operator, a drop-in for LUMIA's lagrange_mp.py (docs/transport.md): forward =\n"
      "fluxes (--emis) to foreground concentrations at the observations of the obsdb (--db, rewritten with\n"
      "the columns foreground, totals, model, id and one per category); adjoint = departures (column dy) to\n"
      "flux sensitivities written to --emis on the rc's grid and time axis. Later calls with the same\n"
      "footprints reuse a packed copy of them (the operator cache under the rc's path.run).");
  static TransportArgs a;
  cmd->add_flag("-f,--forward", a.forward, "Forward run: fluxes -> concentrations, written into --db");
  cmd->add_flag("-a,--adjoint", a.adjoint,
                "Adjoint run: departures (dy) -> adjoint fluxes written to --emis (with --forward: both are "
                "written only when both succeed)");
  cmd->add_flag("-s,--serial", a.serial, "Run on one thread");
  cmd->add_option("-c,--checkfile", a.checkfile,
                  "Create this empty file on success, after all work (its directory must exist)");
  cmd->add_option("--rc", a.rc,
                  "LUMIA rc file (emissions.categories, emissions.<cat>.optimize, time.start/end, "
                  "emissions.*.interval, region, model.transport.split, path.run)");
  cmd->add_option("--db", a.db,
                  "Observation database (LUMIA obsdb tar.gz); the forward rewrites it atomically");
  cmd->add_option("--emis", a.emis,
                  "Flux file (netCDF, one group per category): forward input, adjoint output");
  cmd->add_option("-v,--verbosity", a.verbosity,
                  "Log level: DEBUG, INFO, WARNING, ERROR, CRITICAL (LUMIA) or trace..off [default: INFO]");
  cmd->add_flag("--adjtest", a.adjtest,
                "Adjoint test on the rc's grid: forward with random fluxes, adjoint with random departures; "
                "prints 1 - <Hx, y> / <x, H^T y> and fails if it is not below 1e-12");
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
  cmd->add_option("--operator-cache", a.cache_dir,
                  "Directory of the operator cache [default: <path.run>/fluxkit-operators when the rc has "
                  "path.run, else no cache]");
  cmd->add_flag("--no-operator-cache", a.no_cache,
                "Read the footprint files at every call (no operator cache)");
  cmd->footer(
      "Threads: --serial = 1; else --threads; else the rc's model.transport.split; else all cores (shared "
      "by\n"
      "the MPI ranks of a machine). MPI only with --mpi (mpirun -n N fluxkit --mpi transport ...).\n"
      "Unknown arguments are errors (exit status 2). Exit status 0 on success, non-zero on any failure; a\n"
      "failed run leaves the db and the flux file untouched and writes no check file.\n" +
      std::string(kGlobalOptionsFooter));

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

  add_ocean_transport_commands(cmd, g);

  cmd->callback([&g, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // pack, ocean-fluxes, ocean-signature
    if (!a.forward && !a.adjoint && !a.adjtest)
      throw CLI::ValidationError("transport",
                                 "nothing to do: give --forward/-f, --adjoint/-a and/or --adjtest");
    const auto comm_ptr = Communicator::make(g.mpi);
    const Communicator& comm = *comm_ptr;
    try {
      run_transport(a, g, comm);
    } catch (const std::exception& e) {
      if (comm.size() == 1) throw;
      spdlog::error("rank {}: {}", comm.rank(), e.what());
      comm.abort(1);
    }
  });
}

}  // namespace fluxkit::cli

#include "cli.hpp"

#include <sstream>

#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/pipeline/stages.hpp"

namespace fluxkit::cli {

std::string config_hash(const toml::table& effective) {
  return pipeline::config_hash(effective);
}

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.fallthrough();
  app.add_option("-c,--config", g.config_paths,
                 "Pipeline configuration file (TOML); repeatable: a later file overrides the keys it sets "
                 "(--config run.toml --config tuning/best.toml)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  app.add_option("--verbosity", g.verbosity,
                 "Log level: trace, debug, info, warn, error, off [default: info]");
  app.add_option("--threads", g.threads, "Worker threads [default: all cores]");
  app.add_option("--seed", g.seed, "Base random seed [default: 42]");
  app.add_option("--device", g.device, "cpu or cuda [default: cpu]");
  app.add_option("--set", g.sets, "Override any config key: --set section.key=value (repeatable)");
  app.add_flag(
      "--mpi", g.mpi,
      "Run as one rank of an MPI job (mpirun -n N fluxkit --mpi <verb> ...; train, reconstruct, explain and "
      "transport split their work). Without it MPI is never initialised, even under mpirun");
}

Invocation prepare(const GlobalOptions& g, const SectionFlags& flags) {
  Invocation inv;
  for (const auto& path : g.config_paths)
    inv.doc.merge(config::Document::from_file(path));
  for (const auto& s : g.sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) throw ConfigError("command line", s, "expected --set section.key=value");
    inv.doc.set_value(s.substr(0, eq), s.substr(eq + 1));
  }
  flags.apply(inv.doc);
  if (!g.verbosity.empty()) inv.doc.set_from_cli<RunParams>("verbosity", g.verbosity, std::string{});
  if (g.threads >= 0) inv.doc.set_from_cli<RunParams>("threads", std::to_string(g.threads), std::int64_t{});
  if (g.seed >= 0) inv.doc.set_from_cli<RunParams>("seed", std::to_string(g.seed), std::int64_t{});
  if (!g.device.empty()) inv.doc.set_from_cli<RunParams>("device", g.device, std::string{});
  pipeline::check_all_sections(inv.doc);
  const auto run = inv.doc.get<RunParams>();
  spdlog::set_level(parse_log_level(run.verbosity));
  inv.ctx = make_context(run);
  inv.command_line = g.command_line;
  spdlog::debug("context: {} threads, seed {}, device {}", inv.ctx.threads, inv.ctx.seed,
                device_name(inv.ctx.device));
  return inv;
}

}  // namespace fluxkit::cli

// `fluxkit evaluate`: metrics, time series, seasonal cycles and error fields from reconstruction caches.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/analysis/evaluate.hpp"

namespace fluxkit::cli {

void add_evaluate_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("evaluate",
                                 "Evaluate reconstruction caches (never the models): metrics overall, per "
                                 "year, month and season, unweighted\n"
                                 "and area-weighted; regional means and integrated fluxes; seasonal cycles; "
                                 "per-cell error fields; OLS fits;\n"
                                 "a ranking of the models (docs/evaluation.md).");
  static SectionFlags flags;
  flags.add<EvaluateParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    const auto params = inv.doc.get<EvaluateParams>();
    toml::table effective;
    effective.insert("evaluate", config::to_table(params));
    const auto summary =
        evaluate(params, inv.ctx, Provenance::make(config_hash(effective), inv.command_line));
    spdlog::info("evaluation of {} caches, tables under {}:\n{}", summary.caches_read, params.output_dir,
                 format_summary(summary));
  });
}

}  // namespace fluxkit::cli

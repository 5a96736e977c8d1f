// `fluxkit evaluate`: metrics, time series, seasonal cycles and error fields from reconstruction caches.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/analysis/evaluate.hpp"
#include "fluxkit/pipeline/stages.hpp"

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
    pipeline::run_evaluate(inv.doc, inv.ctx, inv.command_line);
  });
}

}  // namespace fluxkit::cli

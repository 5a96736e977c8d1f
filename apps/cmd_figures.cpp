// `fluxkit figures` and `fluxkit report`: figures and the HTML report are drawn by fluxkit's Python layer
// (python/fluxkit, Debian's /usr/bin/python3 with python3-matplotlib and python3-cartopy), run through
// run_python_module (python_verb.hpp).
#include <string>

#include "cli.hpp"
#include "fluxkit/analysis/figures.hpp"
#include "fluxkit/core/error.hpp"
#include "python_verb.hpp"

namespace fluxkit::cli {

namespace {

void add_python_verb(CLI::App& app, GlobalOptions& g, const std::string& name, const std::string& description,
                     const std::string& module, SectionFlags& flags) {
  auto* cmd = app.add_subcommand(name, description);
  cmd->callback([&g, &flags, module, name] {
    const Invocation inv = prepare(g, flags);
    const int status = run_python_module(module, inv, PythonPackage::pure);
    if (status != 0)
      throw Error(
          fmt::format("{}: incomplete (exit status {}); what is missing is named above", name, status));
  });
  if (name == "figures")
    flags.add<FiguresParams>(cmd);
  else
    flags.add<ReportParams>(cmd);
}

}  // namespace

void add_figures_commands(CLI::App& app, GlobalOptions& g) {
  static SectionFlags figure_flags, report_flags;
  add_python_verb(
      app, g, "figures",
      "Draw every figure of the run from fluxkit's files (caches, evaluation tables and fields, loss "
      "and exploration\n"
      "tables): maps, differences, error maps, annual means, seasonal cycles, density scatter, losses, "
      "exploration.\n"
      "Skipped figures are named and make the exit status non-zero.",
      "fluxkit.figures", figure_flags);
  add_python_verb(app, g, "report",
                  "Write a static HTML report of the run ([report] output_dir/index.html, opens offline): "
                  "configuration,\n"
                  "provenance, rankings, metric tables, every figure, losses; missing inputs are marked.",
                  "fluxkit.report", report_flags);
}

}  // namespace fluxkit::cli

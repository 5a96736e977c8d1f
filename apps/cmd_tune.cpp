// `fluxkit tune`: hyper-parameter tuning on Optuna ([tune], docs/tuning.md). The studies are driven by the
// Python package (fluxkit.tuning, Debian's python3-optuna), which trains every trial in-process through the
// library; this verb validates the configuration and runs `python3 -m fluxkit.tuning` with the package that
// holds the extension module.
#include <algorithm>
#include <string>

#include "cli.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/tuning/tune.hpp"
#include "python_verb.hpp"

namespace fluxkit::cli {

void add_tune_command(CLI::App& app, GlobalOptions& g) {
  static SectionFlags flags;
  auto* cmd = app.add_subcommand(
      "tune",
      "Tune the hyper-parameters of the models of [tune] with Optuna: one study per model in [tune] storage\n"
      "(SQLite by default, PostgreSQL for workers on several machines), trials trained in-process and "
      "pruned\n"
      "per epoch, reruns continue the studies. Writes [tune] output_dir/best.toml for\n"
      "`fluxkit train --config <run.toml> --config <output_dir>/best.toml`, and the trial tables.");
  flags.add<TuneParams>(cmd);
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    const auto tune = inv.doc.get<TuneParams>();
    // Several worker processes' OpenMP teams on this machine must not spin-wait on each other's cores. The
    // policy is set in this process's environment, which the workers inherit: OpenMP reads it only once, when
    // it starts in a process.
    const int workers = static_cast<int>(tune.workers);
    (void)choose_openmp_wait_policy(workers, std::max(1, inv.ctx.threads / workers), current_load());
    const int status = run_python_module("fluxkit.tuning", inv, PythonPackage::with_core);
    if (status == 2) throw ConfigError(inv.doc.source(), "tune", "rejected by the tuning driver (see above)");
    if (status != 0)
      throw Error(
          fmt::format("tune: incomplete (exit status {}); the studies keep every finished trial, "
                      "run the same command again to continue",
                      status));
  });
}

}  // namespace fluxkit::cli

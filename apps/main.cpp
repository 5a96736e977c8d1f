// fluxkit: one command line, `fluxkit <verb>`; each verb lives in its own apps/cmd_*.cpp.
#include <cstdio>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "cmd_transport.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/core/plugin.hpp"
#include "fluxkit/version.hpp"

int main(int argc, char** argv) {
  using namespace fluxkit;
  init_logging(spdlog::level::info);
  pipeline::register_sections();

  CLI::App app{
      "fluxkit: surface CO2 fluxes. Reconstructs air-sea CO2 fluxes of ocean models from time-lagged\n"
      "physical drivers, and runs the Lagrangian transport operator. One TOML pipeline file (--config)\n"
      "configures every stage; flags override it. Reference: docs/config.md.",
      "fluxkit"};
  app.set_version_flag("--version", [] {
    std::string v = fmt::format("fluxkit {} (commit {})", kVersion, kGitCommit);
    for (const char* plugin : {"torch", "xgboost", "mpi"})
      v += fmt::format("\nplugin {}: {}", plugin, plugin_available(plugin) ? "available" : "not built");
    return v;
  });
  cli::GlobalOptions global;
  std::ostringstream cmd;
  for (int i = 0; i < argc; ++i)
    cmd << (i ? " " : "") << argv[i];
  global.command_line = cmd.str();
  cli::add_global_options(app, global);
  cli::add_synth_commands(app, global);
  cli::add_prepare_command(app, global);
  cli::add_tune_command(app, global);
  cli::add_train_command(app, global);
  cli::add_import_weights_command(app, global);
  cli::add_reconstruct_command(app, global);
  cli::add_evaluate_command(app, global);
  cli::add_explain_command(app, global);
  cli::add_explore_command(app, global);
  cli::add_figures_commands(app, global);
  cli::add_transport_command(app, global);
  cli::add_config_commands(app, global);
  app.require_subcommand(1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error (unknown argument, missing value, bad flag
    // combination) exits 2, as argparse does, so a caller such as LUMIA never mistakes it for success.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 3;
  }
  return 0;
}

// `fluxkit synth footprints`: the subcommand, added under `synth` by add_synth_commands
// (cmd_synth_ocean.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include "cli.hpp"

namespace fluxkit::cli {

void add_synth_footprints_command(CLI::App* synth, GlobalOptions& g);

}  // namespace fluxkit::cli

// `fluxkit transport`: the Lagrangian transport operator, a drop-in for LUMIA's lagrange_mp.py
// (docs/transport.md).
#pragma once

#include <CLI/CLI.hpp>

#include "cli.hpp"

namespace fluxkit::cli {

void add_transport_command(CLI::App& app, GlobalOptions& g);

}  // namespace fluxkit::cli

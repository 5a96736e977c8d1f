// Logging goes through spdlog's default logger (stderr). Library code calls spdlog::info/debug/... directly;
// only the CLI configures the level.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace fluxkit {

// "trace" | "debug" | "info" | "warn" | "error" | "off"; throws Error naming the accepted values otherwise.
spdlog::level::level_enum parse_log_level(std::string_view name);

// Sets up the stderr logger with the given level.
void init_logging(spdlog::level::level_enum level);

}  // namespace fluxkit

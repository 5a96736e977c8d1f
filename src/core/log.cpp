#include "fluxkit/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

spdlog::level::level_enum parse_log_level(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "off") return spdlog::level::off;
  throw Error(fmt::format("unknown log level '{}' (expected trace, debug, info, warn, error or off)", name));
}

void init_logging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_color_mt("fluxkit");
  logger->set_pattern("%^[%Y-%m-%d %H:%M:%S.%e] [%l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
}

}  // namespace fluxkit

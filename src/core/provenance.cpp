#include "fluxkit/core/provenance.hpp"

#include <cstdlib>
#include <ctime>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/version.hpp"

namespace fluxkit {

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0') {
    char* end = nullptr;
    long long v = std::strtoll(epoch, &end, 10);
    if (end == nullptr || *end != '\0' || v < 0)
      throw Error(fmt::format("SOURCE_DATE_EPOCH='{}' is not a number of seconds since 1970", epoch));
    t = static_cast<std::time_t>(v);
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool reproducible_files() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  return epoch != nullptr && *epoch != '\0';
}

std::string seconds_for_file(double seconds, int decimals) {
  return reproducible_files() ? std::string() : fmt::format("{:.{}f}", seconds, decimals);
}

Provenance Provenance::make(std::string config_hash, std::string command_line) {
  return Provenance{fmt::format("fluxkit {}", kVersion), kGitCommit, std::move(config_hash), utc_timestamp(),
                    std::move(command_line)};
}

}  // namespace fluxkit

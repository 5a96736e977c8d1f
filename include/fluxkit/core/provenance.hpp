// Provenance written into every output file, so a file says what made it.
#pragma once

#include <string>

namespace fluxkit {

struct Provenance {
  std::string software;       // "fluxkit <version>"
  std::string git_commit;     // commit the binary was built from ("-dirty" when the tree had changes)
  std::string config_hash;    // hash of the effective configuration of the stage
  std::string creation_date;  // ISO 8601 UTC; SOURCE_DATE_EPOCH, when set, fixes it (reproducible files)
  std::string command_line;   // how the stage was invoked

  static Provenance make(std::string config_hash, std::string command_line);
};

// Current time as "YYYY-MM-DDTHH:MM:SSZ", or SOURCE_DATE_EPOCH when that environment variable is set.
std::string utc_timestamp();

// Whether SOURCE_DATE_EPOCH is set: the same config and seed must then give byte-identical files, so besides
// the fixed creation date fluxkit writes no wall-clock durations into files.
bool reproducible_files();
// A duration for a file (CSV "seconds" columns): fixed-point with `decimals` digits, or "" (unknown) when
// reproducible_files().
std::string seconds_for_file(double seconds, int decimals = 3);

}  // namespace fluxkit

// The operator cache: LUMIA calls the transport with the same footprints at every iteration of an
// inversion, so the first call packs the footprints it reads (one pass over the HDF5 files, then the run
// computes from the fresh packed operator) and later calls memory-map the packed operator instead of reading
// HDF5 again, without any change on LUMIA's side.
//
// An entry is one packed operator file (packed.hpp) named by a 128-bit key over everything its content
// depends on:
//   - the packed format version and the grid (shape, cell centres rounded to 1e-4 degrees), the grid check
//     flag and the footprint format;
//   - per footprint file (sorted paths): its absolute path, size, modification time (ns) and a content hash
//     of its first and last 64 KiB (where HDF5 keeps the superblock and, for files written once, the index
//     of its groups);
//   - the observations read from it (time and key, in db order): the obsdb's footprint column.
// Any change of these gives another key, so a stale entry is never used; opening an entry also re-checks the
// files' size and modification time. Entries are written atomically (temp + rename), so concurrent runs
// sharing a directory (MPI ranks, two inversions) see a complete entry or none; at worst two of them build
// the same entry. An entry that fails validation (truncated, corrupt) is rebuilt with a warning. Each use
// refreshes an entry's modification time; beyond kMaxEntries entries in the directory, the least recently
// used ones are deleted.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/packed.hpp"

namespace fluxkit::transport {

inline constexpr std::size_t kMaxCacheEntries = 16;

// 32 hex digits. FileError naming a footprint file that cannot be read.
std::string operator_cache_key(const std::vector<FileTask>& files, GridShape grid,
                               const OperatorOptions& options, std::string_view footprint_format);

struct CachedOperator {
  std::unique_ptr<PackedOperator> op;
  std::filesystem::path path;
  bool built = false;   // packed by this call (false: reused)
  std::string rebuilt;  // why an existing entry was not usable ("" when none was there)
  PackSummary summary;  // when built
};

// The packed operator of `files` on `grid` (options.lats/lons/check_grid/progress as for pack_operator) from
// the cache directory `dir` (created when missing): reused when a valid entry exists, else packed from
// `source` and stored.
CachedOperator cached_operator(const std::filesystem::path& dir, const std::vector<FileTask>& files,
                               const FootprintSource& source, GridShape grid, const OperatorOptions& options,
                               std::string_view footprint_format, const Context& ctx);

}  // namespace fluxkit::transport

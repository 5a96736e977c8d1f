// Footprints: per observation, sparse sensitivities K[t, i, j] over time slices, in ppm per (umol m-2 s-1)
// (docs/transport.md). One interface over the on-disk formats, with a registry by name:
//   "legacy"   LUMIA v2020 HDF5: one group per obs (%Y%m%d%H%M%S), sub-groups <T1>_<T2> per slice (only T1 >
//   T2
//              used, as [T2, T1); "start_end" junk groups skipped), datasets resp/ilats/ilons (fallback
//              ilat/ilon)
//   "lumia_v2" HDF: root attrs start/tres, one group per obsid with itims/ilats/ilons/sensi (s m3 kg-1,
//   converted
//              with kSensiToPpm)
//   "stilt"    STILT sparse netCDF (footprint_<CODE>_<YYYYMM>.nc), hourly CSR rows
// Read with the HDF5 C API, iterating groups in one pass (H5Literate), never by index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit::transport {

// FLEXPART s m3 kg-1 to ppm per umol m-2 s-1: M_air 0.02897 kg/mol over a 100 m surface layer (LUMIA v2
// reader).
inline constexpr double kSensiToPpm = 0.0002897;

struct FootprintSlice {
  std::int64_t start = 0, end = 0;  // seconds since 1970-01-01 UTC, [start, end)
  std::vector<std::int32_t> ilat, ilon;
  std::vector<float> resp;  // ppm per (umol m-2 s-1), same length as ilat/ilon
};

struct Footprint {
  std::string key;                     // group name / obsid
  std::vector<FootprintSlice> slices;  // sorted by start
  std::size_t nonzeros() const;
};

// The grid a file's indices refer to, when the file states it: cell centres in degrees north/east (legacy and
// lumia_v2: the root datasets latitudes/longitudes; stilt: lat_ll/lon_ll + (k + 1/2) * res).
struct FootprintGrid {
  std::vector<double> lats, lons;
};

class FootprintFile {
 public:
  virtual ~FootprintFile() = default;
  virtual std::string format() const = 0;
  virtual const std::filesystem::path& path() const = 0;
  // Keys of the footprints in the file, sorted (legacy and stilt: %Y%m%d%H%M%S of the obs time; lumia_v2: the
  // group names, i.e. obsids).
  virtual const std::vector<std::string>& keys() const = 0;
  virtual bool contains(std::string_view key) const = 0;
  // FileError naming the file, the key and the problem (missing dataset, unequal lengths, corrupt data).
  virtual Footprint read(std::string_view key) const = 0;

  // Like read(), into `out`, reusing the capacity of its slices' vectors (for loops over many footprints).
  // Default: out = read(key).
  virtual void read_into(std::string_view key, Footprint& out) const;
  // Key of the footprint of an observation at `obs_time` (seconds since 1970-01-01 UTC), nullopt when the
  // file has none. Default (legacy, stilt): legacy_key(obs_time) when contained; lumia_v2: the obsid whose
  // time suffix (<code>.<height>m.YYYYmmdd-HHMMSS) is that time.
  virtual std::optional<std::string> key_at(std::int64_t obs_time) const;
  // The grid the indices refer to, when the file states it.
  virtual std::optional<FootprintGrid> grid() const { return std::nullopt; }
};

using FootprintOpener = std::function<std::unique_ptr<FootprintFile>(const std::filesystem::path&)>;
void register_footprint_format(std::string name, FootprintOpener open,
                               std::function<bool(const std::filesystem::path&)> detect);
// Opens with the named format, or detects it ("" = auto). FileError for a missing, corrupt or unknown file.
std::unique_ptr<FootprintFile> open_footprint_file(const std::filesystem::path& path,
                                                   std::string_view format = "");
void register_builtin_footprint_formats();
// Names of the registered formats, in registration order.
std::vector<std::string> footprint_formats();

// Key of an observation time in a legacy file: %Y%m%d%H%M%S.
std::string legacy_key(std::int64_t epoch_seconds);

}  // namespace fluxkit::transport

// The LUMIA flux file (docs/transport.md): netCDF-4 with one group per category holding emis(nt, nlat,
// nlon) [umol m-2 s-1], times_start/times_end(nt, 6) as (Y, M, D, h, m, s), lats(nlat), lons(nlon) (cell
// centres), optionally area_m2(nlat, nlon). Fields are row-major [t][lat][lon], double.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fluxkit/core/cftime.hpp"

namespace fluxkit {
struct Provenance;
}

namespace fluxkit::transport {

// (Y, M, D, h, m, s), proleptic Gregorian, UTC: the core's civil clock (cftime::civil_to_epoch_seconds).
using TimeStamp = cftime::CivilTime;

struct FluxCategory {
  std::string name;
  std::size_t nt = 0, nlat = 0, nlon = 0;
  std::vector<double> emis;  // [nt * nlat * nlon]
  std::vector<TimeStamp> times_start, times_end;
  std::vector<float> lats, lons;
  std::vector<double> area_m2;  // empty when absent
  // Text attributes of the group (units, conventions, source), written with the group; not read back.
  std::vector<std::pair<std::string, std::string>> attributes;
  double& at(std::size_t t, std::size_t i, std::size_t j) { return emis[(t * nlat + i) * nlon + j]; }
  double at(std::size_t t, std::size_t i, std::size_t j) const { return emis[(t * nlat + i) * nlon + j]; }
};

struct FluxFile {
  std::vector<FluxCategory> categories;
  const FluxCategory* find(const std::string& name) const;
  // The category, or a FileError naming `file` (where the fluxes came from) and the missing group.
  const FluxCategory& require(const std::string& name, const std::filesystem::path& file) const;
  static FluxFile read(const std::filesystem::path& path);  // FileError naming file, group and variable
  void write(const std::filesystem::path& path) const;      // atomic
  // Same, with fluxkit's provenance as global attributes (source, fluxkit_*, date_created, history).
  void write(const std::filesystem::path& path, const Provenance& provenance) const;
};

}  // namespace fluxkit::transport

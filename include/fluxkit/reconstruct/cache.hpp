// Reconstruction caches: one CF-1.8 netCDF file per (model, experiment, region, year) holding the simulated
// and the reconstructed target on the model grid, cropped to the region's index box (docs/reconstruction.md).
//
// Layout (all fields row-major [time][y][x], y and x local to the box):
//   time(time=12) days since 1900-01-01 (source calendar), time_bounds(time, bnds)
//   y_index(y), x_index(x)        int32   grid indices of the box rows/columns in the source files
//   nav_lat(y, x), nav_lon(y, x)  double  degrees
//   area(y, x)                    double  m2 (NaN where the source has no cell metrics)
//   sample_mask(y, x)             byte    1 where the cell is a sample of the region (has data)
//   region_mask(y, x)             byte    1 where the cell is an ocean cell of the region (sampled or not;
//                                         halo and north-fold repeats excluded)
//   <target>(time, y, x)          float   simulated, physical units: the store's values at the samples, the
//                                         source file's at the region's other ocean cells; NaN elsewhere
//   reconstructed_<target>(...)   float   the model's reconstruction, same units, NaN outside the samples;
//   for
//                                         an ensemble the mean of its members
// Ensembles ([train] ensemble = N > 1; global attribute ensemble_members = N, absent = 1 = a single model)
// add a member dimension and two variables, so readers that know only the single-model layout read the
// ensemble mean as the reconstruction:
//   member(member=N)              int32   member index k (artifact <model>/member_<k>)
//   reconstructed_<target>_std(time, y, x)            float  standard deviation across the members (sample
//                                                     form, N - 1 in the denominator), NaN outside samples
//   reconstructed_<target>_member(member, time, y, x) float  every member's reconstruction
// Global attributes: model, experiment, region, year, target_name, target_units, [ensemble_members],
// fluxkit_artifact_fingerprint, fluxkit_store_fingerprint, what the model was trained on
// (training_experiment, training_years, validation_experiment, validation_years; empty / absent when the
// artifact does not say), and the provenance. Version 1 caches had no region_mask and NaN outside the
// samples.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fluxkit/core/cftime.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit {

inline constexpr int kCacheVersion = 2;

struct ReconstructionCache {
  std::string model, experiment, region;
  int year = 0;
  std::string target_name = "co2flux_pre", target_units;
  std::string calendar = "standard";
  std::string artifact_fingerprint, store_fingerprint;
  int version = kCacheVersion;
  // What the model was trained on (empty experiment = unknown).
  std::string train_experiment, validation_experiment;
  int train_first_year = 0, train_last_year = 0, validation_first_year = 0, validation_last_year = 0;
  std::size_t ny = 0, nx = 0, months = 12;
  std::vector<std::int32_t> y_index, x_index;   // [ny], [nx]
  std::vector<double> lat, lon, area;           // [ny * nx]
  std::vector<std::uint8_t> sample_mask;        // [ny * nx]
  std::vector<std::uint8_t> region_mask;        // [ny * nx]; empty in version 1 caches
  std::vector<float> simulated, reconstructed;  // [months * ny * nx], NaN outside samples
  // Ensembles: members > 1, reconstructed = the members' mean, reconstructed_std their standard deviation
  // ([months * ny * nx]) and member_reconstructed every member's ([members * months * ny * nx]); both empty
  // for a single model (members = 1, also every version 2 cache written before ensembles).
  int members = 1;
  std::vector<float> reconstructed_std, member_reconstructed;

  std::size_t cells() const { return ny * nx; }
  cftime::YearMonth month(std::size_t t) const { return {year, static_cast<int>(t) + 1}; }
};

// Defines the box coordinates shared by caches and evaluation fields (dims y and x must exist): y_index,
// x_index, nav_lat, nav_lon, area, sample_mask and region_mask, with their CF attributes.
void define_box_coordinates(nc::Writer& w, std::string_view mask_long_name);

// Writes atomically (temp file + rename).
void write_cache(const std::filesystem::path& path, const ReconstructionCache& cache,
                 const Provenance& provenance);
// Reads a cache; FileError naming the file for a missing variable, wrong shape or a newer version.
ReconstructionCache read_cache(const std::filesystem::path& path);
// Only the global attributes (model, experiment, region, year, fingerprints), cheap: for skip decisions.
ReconstructionCache read_cache_header(const std::filesystem::path& path);

// <root>/<experiment>/<RegionDir>/<model>_<RegionDir>_reconstruction_<year>_<experiment>.nc (the seed's
// naming).
std::filesystem::path cache_path(const std::filesystem::path& root, std::string_view model,
                                 std::string_view experiment, std::string_view region_dir, int year);

// The seed's long table: nav_lat, nav_lon, time_counter (YYYY-MM-15), <target>, reconstructed_<target> (and
// reconstructed_<target>_std for an ensemble), one row per sample cell and month, sorted by (lat, lon, time).
void write_cache_csv(const std::filesystem::path& path, const ReconstructionCache& cache);

}  // namespace fluxkit

// Sample stores: the prepared training, validation and test sets (docs/sample-store.md).
//
// On disk (netCDF-4, one file per split, region and year): per-cell monthly series in physical units,
//   inputs[cell, time, feature] float32, target[cell, time] float32,
// cell coordinates (lat, lon, y, x, area), the monthly time axis and the normalisation statistics of the
// training cell-months. A window is an index view, never a copy: the window of cell c with target month t
// (t = target_start .. time-1) covers input months t-lead-W+1 .. t-lead.
//
// In memory (SampleStore): the series z-normalised with the stored statistics, float32, row-major
// [cell][time][feature]. Batches come out as contiguous float32 arrays:
//   sequence layout  x[B, W, F]                   (LSTM, attention-LSTM)
//   flat layout      x[B, W * F_dynamic + F_static] (MLP, XGBoost): the dynamic features at t-W+1 .. t in
//   time
//                    order, then the static features once (10 x 4 + 4 = 44 columns)
//   target           y[B] (normalised)
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "fluxkit/core/cftime.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit {

inline constexpr int kSampleStoreVersion = 1;

struct Normalisation {
  std::vector<double> feature_mean, feature_std;  // per feature
  double target_mean = 0, target_std = 1;
};

struct StoreHeader {
  std::string split;  // "train" | "validation" | "test"
  std::string experiment;
  std::string region;
  int first_year = 0, last_year = 0;  // years of the target months
  std::vector<std::string> features;
  std::vector<bool> is_static;  // per feature
  std::string target, target_units;
  int window = 4, lead = 0;
  cftime::YearMonth first_month{};  // month of series index 0
  int months = 0;                   // series length
  int target_start = 0;             // first series index that is a target
  std::string calendar = "standard";
  double fraction = 1.0;
  std::string subsample_mode = "fluxkit";
  std::uint64_t seed = 0;
  std::size_t grid_ny = 0, grid_nx = 0;
  std::string source;  // first and last source file
};

struct CellCoords {
  double lat, lon;
  std::int32_t y, x;
  double area;  // m2, NaN when the source has no e1t/e2t
};

class SampleStoreWriter {
 public:
  SampleStoreWriter(const std::filesystem::path& path, const StoreHeader& header,
                    const Provenance& provenance);
  // Appends n cells: inputs [n * months * F] and target [n * months], physical units.
  void append(std::span<const CellCoords> cells, std::span<const float> inputs,
              std::span<const float> target);
  std::size_t cells() const { return cells_; }
  // Writes the statistics and moves the file into place.
  void commit(const Normalisation& stats);

 private:
  nc::Writer w_;
  StoreHeader header_;
  std::size_t cells_ = 0;
};

class SampleStore {
 public:
  // Loads a store (or the cells [cell_begin, cell_end) of it) and normalises it with its statistics.
  explicit SampleStore(const std::filesystem::path& path, std::size_t cell_begin = 0,
                       std::size_t cell_end = static_cast<std::size_t>(-1));

  const std::filesystem::path& path() const { return path_; }
  const StoreHeader& header() const { return header_; }
  const Normalisation& stats() const { return stats_; }
  std::size_t total_cells() const { return total_cells_; }  // in the file

  std::size_t cells() const { return coords_.size(); }  // loaded
  std::size_t months() const { return static_cast<std::size_t>(header_.months); }
  std::size_t features() const { return header_.features.size(); }
  std::size_t window() const { return static_cast<std::size_t>(header_.window); }
  std::size_t windows_per_cell() const { return months() - static_cast<std::size_t>(header_.target_start); }
  std::size_t windows() const { return cells() * windows_per_cell(); }
  std::size_t flat_width() const;  // W * F_dynamic + F_static

  const CellCoords& cell(std::size_t c) const { return coords_[c]; }
  // Window i (0 <= i < windows()) is cell i / windows_per_cell() at target index target_start + i % wpc.
  std::size_t cell_of(std::uint64_t i) const { return static_cast<std::size_t>(i / windows_per_cell()); }
  std::size_t target_index_of(std::uint64_t i) const;
  cftime::YearMonth month_at(std::size_t t) const;

  void gather_sequence(std::span<const std::uint64_t> ids, std::span<float> x, std::span<float> y) const;
  void gather_flat(std::span<const std::uint64_t> ids, std::span<float> x, std::span<float> y) const;

  // Normalised <-> physical target.
  double denormalise_target(double z) const { return z * stats_.target_std + stats_.target_mean; }

  // Raw access: normalised series of cell c, [months][features] and [months].
  std::span<const float> inputs_of(std::size_t c) const;
  std::span<const float> target_of(std::size_t c) const;

 private:
  std::filesystem::path path_;
  StoreHeader header_;
  Normalisation stats_;
  std::size_t total_cells_ = 0;
  std::vector<CellCoords> coords_;
  std::vector<float> inputs_, target_;
  std::vector<std::size_t> dynamic_, static_;  // feature indices
};

// The order windows are visited in: 0..n-1, or a permutation from `seed` (Fisher-Yates on a counter-based
// generator: the same on every platform and thread count).
std::vector<std::uint64_t> window_order(std::uint64_t n, std::uint64_t seed, bool shuffle);

enum class WindowLayout { Sequence, Flat };

// Consecutive batches over a store in window_order. Each batch is contiguous float32 (see the layouts above).
class WindowBatches {
 public:
  WindowBatches(const SampleStore& store, std::size_t batch_size, WindowLayout layout, bool shuffle,
                std::uint64_t seed);
  // Fills the next batch; false at the end. The last batch may be smaller.
  bool next(std::vector<float>& x, std::vector<float>& y, std::vector<std::uint64_t>& ids);
  std::size_t batches() const { return (order_.size() + batch_ - 1) / batch_; }
  void rewind() { pos_ = 0; }

 private:
  const SampleStore& store_;
  std::size_t batch_;
  WindowLayout layout_;
  std::vector<std::uint64_t> order_;
  std::size_t pos_ = 0;
};

}  // namespace fluxkit

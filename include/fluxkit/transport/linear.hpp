// The transport operator as a linear map between flat vectors, for iterative inversions driven from another
// program (the Python binding's scipy.sparse.linalg.LinearOperator): the same rc file and obsdb as
// `fluxkit transport`, loaded once, then any number of forward and adjoint products in memory.
//
// Vectors (float64, row-major):
//   x  the fluxes of the rc's optimized categories (emissions.<cat>.optimize, rc order) on the rc's adjoint
//      time axis (time.start .. time.end by emissions.*.interval) and grid (region.*), umol m-2 s-1,
//      laid out [category][time][lat][lon]: x[((c * nt + t) * nlat + i) * nlon + j]; columns() values.
//   y  one value per row of the obsdb's observations table, in table order (ppm); rows() values.
//   forward  y[r] = sum over the categories c of (H x_c)[r]: the row's foreground from these categories
//   adjoint  x_c = H^T y for every category c (the same field in each)
// Rows the transport does not compute (no footprint path or time, no footprint in their file, a footprint
// slice outside the rc's period unless `truncate`) give 0 and receive nothing, so forward and adjoint are
// exact transposes of each other (<H x, y> = <x, H^T y> to rounding).
//
// Footprints are read once: from a packed operator (`packed`), from the operator cache (packed on first use,
// operator_cache.hpp), or, with neither, from the footprint files at every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/operator.hpp"
#include "fluxkit/transport/run.hpp"

namespace fluxkit::transport {

struct LinearOptions {
  std::filesystem::path rc, db;
  std::filesystem::path packed;  // a packed operator (`fluxkit transport pack`); "" = the footprint files
  // With footprint files: pack them once into this cache directory (operator_cache.hpp); "" = <path.run of
  // the rc>/fluxkit-operators when the rc has path.run, else read the footprint files at every call.
  std::filesystem::path cache_dir;
  bool use_cache = true;
  std::string footprint_format;  // legacy, lumia_v2, stilt; "" = detected per file
  bool truncate = false;
  bool check_grid = true;
};

class LinearTransport {
 public:
  // Reads the rc and the obsdb and opens the operator. FileError naming the file for a bad rc, obsdb,
  // missing footprint file or packed operator; Error when the rc has no optimized category.
  LinearTransport(const LinearOptions& options, const Context& ctx);
  ~LinearTransport();
  LinearTransport(const LinearTransport&) = delete;
  LinearTransport& operator=(const LinearTransport&) = delete;

  std::size_t rows() const { return rows_; }
  std::size_t columns() const {
    return categories_.size() * axis_.size() * grid_.shape.nlat * grid_.shape.nlon;
  }
  const std::vector<std::string>& categories() const { return categories_; }
  const TimeAxis& axis() const { return axis_; }
  const RcGrid& grid() const { return grid_; }
  const std::string& source() const { return source_; }  // where the footprints come from
  // Per row: 1 when it has a footprint path and a time (it may still be skipped by a run), else 0.
  const std::vector<std::uint8_t>& transported() const { return transported_; }
  // The observations table of the obsdb (read at construction).
  const CsvTable& observations() const { return observations_; }

  // y = H x. Error naming the expected and actual lengths for a wrong x or y. Thread-safe.
  void forward(std::span<const double> x, std::span<double> y) const;
  // x = H^T y (columns() values). Error naming the expected and actual length for a wrong y; Error for a
  // non-finite y of a transported row. Thread-safe.
  std::vector<double> adjoint(std::span<const double> y) const;

  // The status of each row in the last forward() (ObsStatus as int; -1 = not transported).
  std::vector<int> last_status() const;

 private:
  Context ctx_;
  LinearOptions options_;
  std::vector<std::string> categories_;
  TimeAxis axis_;
  RcGrid grid_;
  std::size_t rows_ = 0;
  std::vector<FileTask> files_;
  std::vector<std::uint8_t> transported_;
  CsvTable observations_;
  std::unique_ptr<Operator> op_;
  std::string source_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fluxkit::transport

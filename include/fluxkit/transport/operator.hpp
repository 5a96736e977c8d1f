// The Lagrangian transport operator (docs/transport.md), independent of file formats: it works
// on footprints (FootprintSource) and flux fields in memory.
//
//   forward   y[o, c] = sum_{slices s of o} sum_k resp[s, k] * f_c[t(s), ilat[s, k], ilon[s, k]]     (ppm)
//   totals    tot[o]  = sum_{slices s of o} sum_k resp[s, k]
//   adjoint   adj[t, i, j] = sum_o sum_{s, k : t(s) = t, (ilat, ilon)[s, k] = (i, j)} resp[s, k] * dy[o]
//
// Units: f in umol m-2 s-1, resp in ppm per (umol m-2 s-1) (already integrated over the slice), y in ppm. No
// area or time-step factor. Fields are row-major [t][lat][lon]. All arithmetic in float64 (resp is float32
// and converted exactly); duplicated (ilat, ilon) pairs inside a slice are summed in both directions, so
// forward and adjoint are exact transposes of each other.
//
// Time matching: slice [start, end) uses flux step t(s) with exactly equal (start, end) (hash lookup; the
// first step when the axis repeats an interval). An observation with a slice that has no such step is
// skipped, as LUMIA v2020 does (forward: no value; adjoint: nothing added for that observation), or, with
// OperatorOptions::truncate, the unmatched slices are dropped and the others used.
// Indices (ilat, ilon) outside the grid are an Error naming the footprint file, the observation key and the
// slice.
//
// Threads: the work is a list of footprint files, processed largest (by weight) first on ctx.threads threads.
// Reads go through the FootprintSource (the on-disk source serialises them with one process-wide mutex
// because Debian's HDF5 is not thread-safe); the arithmetic runs in parallel. Results are bit-for-bit
// identical for any thread count: forward values are per observation; the adjoint is accumulated per file
// into a sparse contribution, and the contributions are added into the field in a fixed order (the schedule
// order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/obsdb.hpp"

namespace fluxkit::transport {

// ---- time axis and slice matching -------------------------------------------------------------------------

// A flux time axis: step k covers [start[k], end[k]), seconds since 1970-01-01 UTC. Steps need not be
// uniform.
struct TimeAxis {
  std::vector<std::int64_t> start, end;

  std::size_t size() const { return start.size(); }
  bool operator==(const TimeAxis&) const = default;
  // The axis of a flux category (times_start/times_end). Error naming the category for unequal lengths.
  static TimeAxis of(const FluxCategory& category);
  // numpy.arange(start, end, step) with ends = starts + step (the adjoint axis of the rc file).
  static TimeAxis regular(std::int64_t start, std::int64_t end, std::int64_t step);
};

// Exact (start, end) -> step lookup through a hash map (not a linear search).
class SliceMatcher {
 public:
  explicit SliceMatcher(const TimeAxis& axis);
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t find(std::int64_t start, std::int64_t end) const;  // npos when no step matches exactly
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::int64_t start = 0, end = 0;
    std::size_t index = npos;
  };
  std::vector<Slot> slots_;  // open addressing, power-of-two size, load <= 1/2
  std::size_t mask_ = 0, size_ = 0;
};

struct GridShape {
  std::size_t nlat = 0, nlon = 0;
  bool operator==(const GridShape&) const = default;
};

// ---- footprints -------------------------------------------------------------------------------------------

struct ObsTask {
  std::size_t row = 0;    // row of the observation in the db (identifies the result)
  std::int64_t time = 0;  // observation time, seconds since 1970-01-01 UTC
  std::string key;        // footprint key in the file; "" = the file's key for `time` (FootprintFile::key_at)
  double dy = 0.0;        // departure, used by the adjoint only
};

// Where the operator gets footprints from. open() and the readers' calls may come from several threads.
class FootprintSource {
 public:
  class Reader {
   public:
    virtual ~Reader() = default;
    // The footprint of an observation into `out` (reusing its capacity); false when the file has none.
    virtual bool read(const ObsTask& obs, Footprint& out) = 0;
    // The grid the file's indices refer to, when the file states it.
    virtual std::optional<FootprintGrid> grid() const { return std::nullopt; }
  };
  virtual ~FootprintSource() = default;
  // FileError naming the file when it is missing or unreadable.
  virtual std::unique_ptr<Reader> open(const std::filesystem::path& path) const = 0;
};

// The mutex every HDF5 call of the operator holds (Debian's HDF5 is built without thread safety).
std::mutex& hdf5_mutex();

// Footprint files on disk through a FootprintFile opener (normally open_footprint_file). Opening, reading and
// closing a file all hold hdf5_mutex(); the caller's arithmetic does not. Keys: ObsTask::key, or
// FootprintFile::key_at(time) when it is empty.
std::unique_ptr<FootprintSource> make_file_footprint_source(FootprintOpener open);

// Footprints in memory (tests, benchmarks): files[path][key] (an empty ObsTask::key looks up the legacy key
// %Y%m%d%H%M%S of the time); grids[path] = the grid a file states. Thread-safe for reading.
class MemoryFootprintSource : public FootprintSource {
 public:
  std::map<std::string, std::map<std::string, Footprint, std::less<>>> files;
  std::map<std::string, FootprintGrid> grids;
  std::unique_ptr<Reader> open(const std::filesystem::path& path) const override;
};

// ---- the work ---------------------------------------------------------------------------------------------

// One footprint file and its observations (in db order).
struct FileTask {
  std::filesystem::path path;
  std::vector<ObsTask> obs;
  std::uint64_t weight = 0;  // scheduling weight (file size in bytes); larger files are started first
};

struct OperatorOptions {
  bool truncate = false;  // drop the slices outside the flux period instead of skipping the observation
  // Cell centres (degrees) of the flux grid. A file that states its grid must be on this grid or on a larger
  // one containing it cell for cell (within 1e-3 degrees; e.g. a STILT domain larger than the region): its
  // indices are then shifted onto this grid and the cells outside it discarded (LUMIA's STILT reader).
  // Another grid is an Error ("mismatched grids"). Empty = no check. forward() fills them from the flux
  // file's lats/lons when empty and check_grid is set.
  std::vector<double> lats, lons;
  bool check_grid = true;
  // Called after each file with its number of observations, from worker threads (must be thread-safe).
  std::function<void(std::size_t)> progress;
};

enum class ObsStatus {
  Computed,       // value computed (possibly from a truncated footprint)
  NoFootprint,    // the file has no footprint for the key: skipped, as LUMIA
  OutsidePeriod,  // a slice has no matching flux step and truncation is off: skipped, as LUMIA v2020
};
std::string_view status_name(ObsStatus s);

struct ObsResult {
  std::size_t row = 0;
  ObsStatus status = ObsStatus::NoFootprint;
  std::vector<double> values;  // per flux category, in FluxFile order (empty unless Computed)
  double total = 0.0;          // sum of resp over the slices used
  std::size_t slices = 0;      // slices used
  std::size_t dropped = 0;  // slices without a flux step (dropped under truncate, else the cause of the skip)
  std::size_t outside_domain = 0;  // cells of a larger footprint grid outside the flux grid (discarded)
};

struct ForwardResult {
  std::vector<ObsResult> obs;  // task order: files as given, then their observations in order
  std::size_t computed = 0, no_footprint = 0, outside_period = 0, truncated = 0;
  std::size_t outside_domain = 0;  // footprint cells outside the flux grid (discarded)
  // Sets the counters from obs (after merging the results of several runs, e.g. MPI ranks).
  void recount();
};

struct AdjointResult {
  std::vector<double> field;  // [axis.size() * nlat * nlon], K^T dy
  std::size_t computed = 0, no_footprint = 0, outside_period = 0, truncated = 0;
  std::size_t outside_domain = 0;  // footprint cells outside the flux grid (discarded)
};

// Dot-product test on the given axis and grid: x = uniform random fields (one per category), y = uniform
// random departures; value = 1 - <Hx, y> / <x, H^T y> over the observations that contribute.
struct AdjointTestResult {
  double hx_y = 0.0, x_hty = 0.0, value = 0.0;
  std::size_t observations = 0;  // observations that contribute
};

namespace detail {
struct Fields;
}

// The transport operator H and its adjoint H^T (scipy's LinearOperator in spirit): one interface, two
// implementations that give the same results, FootprintOperator (reads the footprint files at every call)
// and PackedOperator (packed.hpp: a memory-mapped file written once). `files` lists the observations to
// compute (FileTask: a footprint file and its observations in db order); results come back in that order.
class Operator {
 public:
  virtual ~Operator() = default;

  // Forward run over every flux category of `flux`. Error for inconsistent categories (sizes, grids), indices
  // outside the grid; FileError from the footprints (missing file, another grid).
  ForwardResult forward(const FluxFile& flux, const std::vector<FileTask>& files,
                        const OperatorOptions& options, const Context& ctx) const;

  // Forward run on fields in memory, without copying them: fields[c] points at category c's field
  // [axis.size()][grid.nlat][grid.nlon] (row-major), every category on `axis` and `grid`. options.lats/lons
  // are the grid's centres when a grid check is asked for. Same results as forward() on a flux file holding
  // the same fields. Error for an empty list of fields.
  ForwardResult forward(const std::vector<const double*>& fields, const TimeAxis& axis, GridShape grid,
                        const std::vector<FileTask>& files, const OperatorOptions& options,
                        const Context& ctx) const;

  // Adjoint run on the given axis and grid (the rc's). Error for a NaN dy of an observation that
  // contributes, indices outside the grid; FileError from the footprints.
  virtual AdjointResult adjoint(const TimeAxis& axis, GridShape grid, const std::vector<FileTask>& files,
                                const OperatorOptions& options, const Context& ctx) const = 0;

  // The dot-product test through forward and adjoint (the same code for every implementation).
  AdjointTestResult adjoint_test(const TimeAxis& axis, GridShape grid, std::size_t ncategories,
                                 const std::vector<FileTask>& files, const OperatorOptions& options,
                                 const Context& ctx, std::uint64_t seed) const;

  // The work of a footprint file, for balancing files over MPI ranks (non-zeros, or bytes as their estimate).
  virtual std::uint64_t weight(const FileTask& file) const = 0;

 protected:
  // Forward on fields in memory; `options` carry the flux grid's centres when a grid check is asked for.
  virtual ForwardResult forward_fields(const detail::Fields& fields, const std::vector<FileTask>& files,
                                       const OperatorOptions& options, const Context& ctx) const = 0;
};

// The operator on footprint files, read at every call through a FootprintSource (normally
// make_file_footprint_source). Weight: the file's size in bytes (FileTask::weight).
class FootprintOperator final : public Operator {
 public:
  // `source` must outlive the operator.
  explicit FootprintOperator(const FootprintSource& source) : source_(&source) {}
  explicit FootprintOperator(std::unique_ptr<FootprintSource> source)
      : owned_(std::move(source)), source_(owned_.get()) {}

  AdjointResult adjoint(const TimeAxis& axis, GridShape grid, const std::vector<FileTask>& files,
                        const OperatorOptions& options, const Context& ctx) const override;
  std::uint64_t weight(const FileTask& file) const override { return file.weight; }

 protected:
  ForwardResult forward_fields(const detail::Fields& fields, const std::vector<FileTask>& files,
                               const OperatorOptions& options, const Context& ctx) const override;

 private:
  std::unique_ptr<FootprintSource> owned_;
  const FootprintSource* source_;
};

// 1 - hx_y / x_hty (0 when both are 0): the test's value from its two dot products (summed over MPI ranks).
double adjoint_test_value(double hx_y, double x_hty);

// Splits files over `ranks` MPI ranks balanced by weight (non-zeros, or bytes as their estimate): files are
// taken largest first (ties in file order), each onto the least loaded rank (ties: the lowest). Returns the
// rank of each file; the split depends only on the weights, so every rank computes the same one.
std::vector<int> balance_by_weight(const std::vector<std::uint64_t>& weights, int ranks);

// ---- forward output columns ---------------------------------------------------------------------

// Writes LUMIA's forward columns into the observations table (creating them in LUMIA's order when absent: id,
// totals, model, foreground, then one per rc category): `foreground` = 0.0 on every row, then the sum of the
// rc categories (rc order) on computed rows; per rc category its value; `totals`; `model` = Python repr of
// the dict {category: value} over the flux categories; `id` = the row's index label (as a float when
// numeric). Rows not computed (skipped or not visited) get "" (NaN) in every column but `foreground`. Error
// when an rc category is not a flux category or a result's row is outside the table.
void write_forward_columns(CsvTable& observations, const ForwardResult& result,
                           const std::vector<std::string>& flux_categories,
                           const std::vector<std::string>& rc_categories);

// Python's repr() of a float ("0.1", "1e-05", "1.5e+16", "100.0", "nan", "inf", "-0.0").
std::string python_float_repr(double v);
// Python's repr() of a str ('abc', "it's").
std::string python_str_repr(std::string_view s);

}  // namespace fluxkit::transport

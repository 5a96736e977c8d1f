// The packed transport operator (`fluxkit transport pack`, beyond LUMIA): every footprint an obsdb
// references, read once from its HDF5/netCDF file, mapped onto the flux grid and written into one compact
// file that later forward and adjoint runs memory-map, so an iterative inversion calling the operator dozens
// of times reads HDF5 once.
//
// File layout (version 1, little-endian, every section 8-byte aligned; docs/transport.md):
//   header       512 bytes: magic "fluxkit-operator", version, byte-order mark, sizes and section offsets
//   entries      nnz x {uint32 cell = ilat * nlon + ilon on the packed grid, float32 resp (ppm per umol m-2
//                s-1)}, stored step by step: all non-zeros of the slices of step 0, then step 1, ...
//   lats, lons   nlat, nlon x float64: cell centres of the packed grid (degrees)
//   steps        nsteps x {int64 start, int64 end}: the distinct slice intervals (s since 1970), sorted
//   files        nfiles x {path, size and mtime at packing, first observation, count, non-zeros}
//   obs          nobs x {time, key, first slice in obs_slices, slice count, flags, cells discarded}
//   slices       (nslices + 1) x {uint64 first entry, uint32 step, uint32 observation}: CSR rows, one per
//                footprint slice, step by step (observation order within a step), a sentinel at the end
//   step_slices  (nsteps + 1) x uint64: the slices of step p are [step_slices[p], step_slices[p + 1])
//   obs_slices   nslices x uint64: each observation's slices in its own (time) order
//   strings      file paths and keys
// A run maps each packed step to its flux time step once (exact (start, end) equality, as the operator on
// files) and sweeps the steps, reading the non-zeros in file order. Each observation still receives its
// slices in its own order, so a forward run from the packed operator computes the same sums in the same
// order as from the files: its results are bit-for-bit identical. The adjoint adds contributions per time
// step in observation order (equal to the files' to rounding, the same for any thread count).
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

namespace fluxkit::transport {

struct PackSummary {
  std::size_t files = 0, observations = 0, no_footprint = 0, slices = 0, steps = 0;
  std::uint64_t nonzeros = 0, bytes = 0;
  std::size_t outside_domain = 0;  // cells of larger footprint grids outside the packed grid (discarded)
};

// Reads every footprint of `files` through `source` and writes the packed operator to `out` atomically (temp
// file + rename). `grid` is the flux grid the indices are stored on; options.lats/lons its centres (checked
// against, and mapping, the grids the files state, as forward() does; empty = no check). An observation is
// identified by (file, key) when its key is given, else by (file, time), as at run time. Errors as forward()
// (missing file, indices outside the grid, corrupt footprints).
PackSummary pack_operator(const std::filesystem::path& out, const std::vector<FileTask>& files,
                          const FootprintSource& source, GridShape grid, const OperatorOptions& options,
                          const Context& ctx);

class PackedOperator final : public Operator {
 public:
  static constexpr std::uint32_t kVersion = 1;

  // Memory-maps and validates the file: FileError naming it for a missing, truncated, corrupt or
  // newer-format file.
  explicit PackedOperator(const std::filesystem::path& path);
  ~PackedOperator();
  PackedOperator(const PackedOperator&) = delete;
  PackedOperator& operator=(const PackedOperator&) = delete;

  const std::filesystem::path& path() const;
  GridShape grid() const;
  std::span<const double> lats() const;
  std::span<const double> lons() const;
  std::size_t files() const;
  std::size_t observations() const;
  std::size_t steps() const;
  std::uint64_t nonzeros() const;
  std::uint64_t bytes() const;
  // Non-zeros of the footprints of a packed file (the MPI balancing weight); 0 for a file not packed.
  std::uint64_t nonzeros_of(const std::filesystem::path& file) const;

  // FileError for every footprint file that still exists but changed (size or modification time) since it
  // was packed; returns the number of packed files no longer on disk (the packed operator does not need
  // them).
  std::size_t check_sources() const;

  // The grid of a run must be the packed grid (sizes; centres within 1e-3 degrees when both are known):
  // FileError "mismatched grids" naming the packed file otherwise.
  void check_grid(GridShape grid, const std::vector<double>& lats, const std::vector<double>& lons) const;

  // The operator (operator.hpp) from the packed file: same semantics, same results (forward bit-for-bit,
  // adjoint to rounding). Every observation of `files` must be in the packed operator (Error naming the
  // observation otherwise: re-pack after changing the obsdb). Weight: the file's packed non-zeros.
  AdjointResult adjoint(const TimeAxis& axis, GridShape grid, const std::vector<FileTask>& files,
                        const OperatorOptions& options, const Context& ctx) const override;
  std::uint64_t weight(const FileTask& file) const override { return nonzeros_of(file.path); }

  struct Impl;
  const Impl& impl() const { return *impl_; }

 protected:
  ForwardResult forward_fields(const detail::Fields& fields, const std::vector<FileTask>& files,
                               const OperatorOptions& options, const Context& ctx) const override;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fluxkit::transport

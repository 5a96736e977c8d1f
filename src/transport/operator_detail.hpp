// Pieces shared by the operator on footprint files (operator.cpp) and the packed operator (packed.cpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/transport/operator.hpp"

namespace fluxkit::transport::detail {

// Flux fields as the kernels see them: per category a pointer to [nt][nlat][nlon] and the index of its time
// axis among the distinct axes.
struct Fields {
  GridShape grid;
  std::vector<TimeAxis> axes;
  std::vector<SliceMatcher> matchers;
  std::vector<std::size_t> axis_of;
  std::vector<const double*> data;
};

// Error for inconsistent categories (grids, sizes, time axes).
Fields fields_of(const FluxFile& flux);

// The options with the flux file's cell centres filled in when options.check_grid asks for a check and gives
// no centres itself.
OperatorOptions with_flux_grid(const FluxFile& flux, const OperatorOptions& options);

// How the indices of a footprint file map onto the flux grid. A file that states no grid, or the flux grid
// itself, maps 1:1 (indices outside the flux grid are an error). A file whose grid contains the flux grid as
// an aligned sub-window (a STILT domain larger than the region) is shifted by (di, dj); cells of
// the file's grid outside the flux grid are discarded, as LUMIA's STILT reader does, and indices outside the
// file's own grid are an error.
struct IndexMap {
  bool identity = true;
  std::int64_t di = 0, dj = 0;               // flux index = file index - (di, dj)
  std::size_t file_nlat = 0, file_nlon = 0;  // the file's grid (bounds of its indices)
  std::size_t flux_nlat = 0, flux_nlon = 0;
};

// FileError "mismatched grids" when the file states a grid that neither is nor contains the flux grid.
IndexMap index_map(const std::optional<FootprintGrid>& file_grid, const OperatorOptions& options,
                   const std::filesystem::path& path);

// Applies the map to a footprint read from `path` (in place): shifts the indices and drops the cells outside
// the flux grid. Returns the number of cells dropped. FileError for indices outside the file's grid.
std::size_t apply_index_map(Footprint& fp, const IndexMap& map, const std::filesystem::path& path,
                            std::string_view key);

// Checks the slice's arrays and indices against the grid (FileError naming file, observation and slice).
void check_slice(const FootprintSlice& s, GridShape grid, const std::filesystem::path& path,
                 std::string_view key);

// Reads the footprint of `task` (false when the file has none), applies the index map (adding the cells
// dropped to `outside_domain`) and checks every slice against the flux grid.
bool read_checked(FootprintSource::Reader& reader, const ObsTask& task, const IndexMap& map, GridShape grid,
                  const std::filesystem::path& path, Footprint& out, std::size_t& outside_domain);

// The dot-product test given the operator's two directions: forward_fn(const Fields&) -> ForwardResult and
// adjoint_fn(const std::vector<FileTask>& with departures) -> AdjointResult.
template <class ForwardFn, class AdjointFn>
AdjointTestResult adjoint_test_with(const TimeAxis& axis, GridShape grid, std::size_t ncategories,
                                    const std::vector<FileTask>& files, std::uint64_t seed,
                                    ForwardFn&& forward_fn, AdjointFn&& adjoint_fn);

// Runs fn(begin, end, worker) over [0, n) in contiguous chunks on up to `threads` threads (chunks of at least
// `grain` items). The first error in index order is rethrown.
template <class Fn>
void parallel_chunks(std::size_t n, int threads, std::size_t grain, Fn&& fn) {
  if (n == 0) return;
  const std::size_t chunk = std::max<std::size_t>(grain, 1);
  const std::size_t nchunks = (n + chunk - 1) / chunk;
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, threads)), nchunks);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::vector<std::exception_ptr> errors(nchunks);
  auto work = [&](std::size_t w) {
    while (!stop.load(std::memory_order_relaxed)) {
      const std::size_t c = next.fetch_add(1);
      if (c >= nchunks) break;
      try {
        fn(c * chunk, std::min(n, (c + 1) * chunk), w);
      } catch (...) {
        errors[c] = std::current_exception();
        stop = true;
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    pool.reserve(workers - 1);
    for (std::size_t w = 1; w < workers; ++w)
      pool.emplace_back(work, w);
    work(0);
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

template <class ForwardFn, class AdjointFn>
AdjointTestResult adjoint_test_with(const TimeAxis& axis, GridShape grid, std::size_t ncategories,
                                    const std::vector<FileTask>& files, std::uint64_t seed,
                                    ForwardFn&& forward_fn, AdjointFn&& adjoint_fn) {
  if (ncategories == 0) throw Error("adjoint test: no category");
  const std::size_t size = axis.size() * grid.nlat * grid.nlon;
  std::vector<std::vector<double>> x(ncategories, std::vector<double>(size));
  Fields f;
  f.grid = grid;
  f.axes.push_back(axis);
  f.matchers.emplace_back(axis);
  for (std::size_t c = 0; c < ncategories; ++c) {
    for (std::size_t k = 0; k < size; ++k)
      x[c][k] = random_uniform(seed, 1 + c, k);
    f.axis_of.push_back(0);
    f.data.push_back(x[c].data());
  }
  const ForwardResult hx = forward_fn(static_cast<const Fields&>(f));

  constexpr std::uint64_t kDepartureStream = 0xd7;
  std::vector<FileTask> with_dy = files;
  for (auto& file : with_dy)
    for (auto& o : file.obs)
      o.dy = random_uniform(seed, kDepartureStream, o.row);
  const AdjointResult hty = adjoint_fn(static_cast<const std::vector<FileTask>&>(with_dy));

  AdjointTestResult r;
  long double hx_y = 0.0L, x_hty = 0.0L;
  std::size_t i = 0;
  for (const auto& file : with_dy)
    for (const auto& o : file.obs) {
      const ObsResult& res = hx.obs[i++];
      if (res.status != ObsStatus::Computed) continue;
      long double y = 0.0L;
      for (const double v : res.values)
        y += v;
      hx_y += y * static_cast<long double>(o.dy);
      ++r.observations;
    }
  for (std::size_t c = 0; c < ncategories; ++c)
    for (std::size_t k = 0; k < size; ++k)
      x_hty += static_cast<long double>(x[c][k]) * static_cast<long double>(hty.field[k]);
  r.hx_y = static_cast<double>(hx_y);
  r.x_hty = static_cast<double>(x_hty);
  r.value = adjoint_test_value(r.hx_y, r.x_hty);
  return r;
}

}  // namespace fluxkit::transport::detail

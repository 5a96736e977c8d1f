// Fast reading of whole time steps of (time, y, x) float variables from netCDF-4 files, for stages that
// stream every month of many yearly files (`fluxkit explore`).
//
// netCDF-C (through HDF5) decompresses one chunk at a time on one thread. For a variable stored as float32 in
// chunks one time step deep, with no filters or only HDF5's shuffle and deflate (what NEMO/XIOS and
// `fluxkit synth ocean` write), PlaneReader instead takes the chunks' file offsets from HDF5 once, then reads
// the bytes with pread and inflates/unshuffles them on all threads (libdeflate when the build found it, else
// zlib). Other layouts (contiguous, other filters or types, netCDF-3 files) are read through nc::File. Either
// way the values equal nc::File::read_float: _FillValue, missing_value and non-finite values become NaN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fluxkit/core/context.hpp"

namespace fluxkit::nc {

class PlaneReader {
 public:
  // Opens `path` for the variables `vars` (each (time, y, x) with the same y and x lengths); FileError when a
  // variable is missing or has another shape.
  PlaneReader(const std::filesystem::path& path, const std::vector<std::string>& vars);
  ~PlaneReader();
  PlaneReader(const PlaneReader&) = delete;
  PlaneReader& operator=(const PlaneReader&) = delete;

  std::size_t times() const { return nt_; }
  std::size_t ny() const { return ny_; }
  std::size_t nx() const { return nx_; }
  // True when every variable is read directly (chunk offsets + parallel decompression).
  bool direct() const;

  // Time step t of every variable over rows [y0, y1) and all columns: out[v] holds (y1 - y0) * nx floats,
  // row-major. Buffers are reused across calls. Decompression runs on ctx.threads threads.
  void read(std::size_t t, std::size_t y0, std::size_t y1, std::vector<std::vector<float>>& out,
            const Context& ctx) const;

 private:
  struct Chunk {
    std::uint64_t address = 0, size = 0;  // size 0: not allocated (the fill value)
    std::uint32_t filter_mask = 0;        // bit i set: filter i was skipped for this chunk
  };
  struct Var {
    std::string name;
    bool direct = false;
    std::size_t cy = 0, cx = 0;    // chunk extent in y and x
    std::vector<int> filters;      // HDF5 filter ids in pipeline (write) order
    std::vector<Chunk> chunks;     // [t][cy index][cx index]
    float fill = 0;                // HDF5 fill value of unallocated chunks
    std::vector<float> sentinels;  // _FillValue, missing_value
  };

  std::string path_;
  int fd_ = -1;
  std::size_t nt_ = 0, ny_ = 0, nx_ = 0;
  std::vector<Var> vars_;
};

}  // namespace fluxkit::nc

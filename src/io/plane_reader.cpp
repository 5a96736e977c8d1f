#include "fluxkit/io/plane_reader.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/io/netcdf.hpp"

#ifdef FLUXKIT_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

namespace fluxkit::nc {

namespace {

// An owned HDF5 identifier.
struct H5Handle {
  hid_t id = H5I_INVALID_HID;
  herr_t (*close)(hid_t) = nullptr;
  H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~H5Handle() {
    if (id >= 0) close(id);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  explicit operator bool() const { return id >= 0; }
};

// Chunk offsets, filters and fill value of one dataset, when it can be read directly. Returns false
// otherwise.
template <class Var>
bool inspect_dataset(hid_t file, Var& v, std::size_t nt, std::size_t ny, std::size_t nx) {
  if constexpr (std::endian::native != std::endian::little) return false;
  H5Handle d(H5Dopen2(file, v.name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d) return false;
  H5Handle type(H5Dget_type(d.id), H5Tclose);
  if (!type || H5Tequal(type.id, H5T_IEEE_F32LE) <= 0) return false;
  H5Handle space(H5Dget_space(d.id), H5Sclose);
  if (!space || H5Sget_simple_extent_ndims(space.id) != 3) return false;
  hsize_t dims[3];
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  if (dims[0] != nt || dims[1] != ny || dims[2] != nx) return false;
  H5Handle dcpl(H5Dget_create_plist(d.id), H5Pclose);
  if (!dcpl || H5Pget_layout(dcpl.id) != H5D_CHUNKED) return false;
  hsize_t cdims[3];
  if (H5Pget_chunk(dcpl.id, 3, cdims) != 3 || cdims[0] != 1) return false;
  v.cy = cdims[1];
  v.cx = cdims[2];
  const int nf = H5Pget_nfilters(dcpl.id);
  for (int i = 0; i < nf; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t nelmts = 8;
    unsigned values[8];
    char fname[64];
    const H5Z_filter_t id = H5Pget_filter2(dcpl.id, static_cast<unsigned>(i), &flags, &nelmts, values,
                                           sizeof fname, fname, &config);
    if (id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_DEFLATE) return false;
    v.filters.push_back(static_cast<int>(id));
  }
  H5D_fill_value_t fill_status;
  v.fill = 0;
  if (H5Pfill_value_defined(dcpl.id, &fill_status) >= 0 && fill_status != H5D_FILL_VALUE_UNDEFINED)
    H5Pget_fill_value(dcpl.id, H5T_NATIVE_FLOAT, &v.fill);
  const std::size_t gy = (ny + v.cy - 1) / v.cy, gx = (nx + v.cx - 1) / v.cx;
  v.chunks.assign(nt * gy * gx, {});
  hsize_t n = 0;
  if (H5Dget_num_chunks(d.id, space.id, &n) < 0) return false;
  for (hsize_t i = 0; i < n; ++i) {
    hsize_t off[3];
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(d.id, space.id, i, off, &mask, &addr, &size) < 0) return false;
    const std::size_t k = (off[0] * gy + off[1] / v.cy) * gx + off[2] / v.cx;
    if (k >= v.chunks.size()) return false;
    v.chunks[k] = {static_cast<std::uint64_t>(addr), static_cast<std::uint64_t>(size), mask};
  }
  return true;
}

void read_at(int fd, std::uint64_t address, std::size_t size, unsigned char* out, const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t r = ::pread(fd, out + done, size - done, static_cast<off_t>(address + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      throw FileError(path, "",
                      fmt::format("reading {} bytes at {}: {}", size, address,
                                  r < 0 ? std::strerror(errno) : "end of file"));
    done += static_cast<std::size_t>(r);
  }
}

void inflate_into(const std::vector<unsigned char>& in, std::vector<unsigned char>& out,
                  const std::string& path, const std::string& var) {
#ifdef FLUXKIT_HAVE_LIBDEFLATE
  thread_local std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> dec(
      libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  std::size_t got = 0;
  if (libdeflate_zlib_decompress(dec.get(), in.data(), in.size(), out.data(), out.size(), &got) !=
          LIBDEFLATE_SUCCESS ||
      got != out.size())
    throw FileError(path, var, "corrupt deflate chunk");
#else
  uLongf len = static_cast<uLongf>(out.size());
  if (::uncompress(out.data(), &len, in.data(), static_cast<uLong>(in.size())) != Z_OK || len != out.size())
    throw FileError(path, var, "corrupt deflate chunk");
#endif
}

}  // namespace

PlaneReader::PlaneReader(const std::filesystem::path& path, const std::vector<std::string>& vars)
    : path_(path.string()) {
  {
    const File f(path);  // metadata, shapes and fill attributes through netCDF (closed before HDF5 opens it)
    for (const auto& name : vars) {
      const VarInfo info = f.var(name);
      if (info.shape.size() != 3)
        throw FileError(path_, name,
                        fmt::format("has {} dimensions, expected (time, y, x)", info.shape.size()));
      if (vars_.empty()) {
        nt_ = info.shape[0];
        ny_ = info.shape[1];
        nx_ = info.shape[2];
      } else if (info.shape[0] != nt_ || info.shape[1] != ny_ || info.shape[2] != nx_) {
        throw FileError(path_, name, fmt::format("shape differs from {}'s", vars_.front().name));
      }
      Var v;
      v.name = name;
      if (info.type == NC_FLOAT) {
        for (const char* att : {"_FillValue", "missing_value"})
          if (auto vals = f.number_attribute(name, att))
            for (double x : *vals)
              v.sentinels.push_back(static_cast<float>(x));
      }
      v.direct = info.type == NC_FLOAT;
      vars_.push_back(std::move(v));
    }
  }
  // Chunk tables from HDF5 (netCDF-4 files are HDF5 files; anything else keeps the netCDF path).
  H5E_BEGIN_TRY {
    if (H5Fis_hdf5(path_.c_str()) > 0) {
      H5Handle file(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      for (auto& v : vars_)
        if (v.direct) v.direct = file && inspect_dataset(file.id, v, nt_, ny_, nx_);
    } else {
      for (auto& v : vars_)
        v.direct = false;
    }
  }
  H5E_END_TRY;
  if (direct()) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw FileError(path_, "", fmt::format("cannot open: {}", std::strerror(errno)));
  }
}

PlaneReader::~PlaneReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool PlaneReader::direct() const {
  return std::all_of(vars_.begin(), vars_.end(), [](const Var& v) { return v.direct; });
}

void PlaneReader::read(std::size_t t, std::size_t y0, std::size_t y1, std::vector<std::vector<float>>& out,
                       const Context& ctx) const {
  if (t >= nt_ || y0 >= y1 || y1 > ny_)
    throw Error(fmt::format("{}: read of time {} rows [{}, {}) outside ({}, {}, {})", path_, t, y0, y1, nt_,
                            ny_, nx_));
  out.resize(vars_.size());
  const std::size_t rows = y1 - y0;
  for (auto& o : out)
    o.resize(rows * nx_);
  if (!direct()) {
    const File f(path_);
    for (std::size_t v = 0; v < vars_.size(); ++v) {
      const std::size_t start[3] = {t, y0, 0}, count[3] = {1, rows, nx_};
      out[v] = f.read_float(vars_[v].name, start, count);
    }
    return;
  }
  // One task per (variable, chunk) that overlaps the rows.
  struct Task {
    std::size_t var, gy_index, gx_index;
  };
  std::vector<Task> tasks;
  for (std::size_t v = 0; v < vars_.size(); ++v) {
    const auto& var = vars_[v];
    for (std::size_t gy = y0 / var.cy; gy * var.cy < y1; ++gy)
      for (std::size_t gx = 0; gx * var.cx < nx_; ++gx)
        tasks.push_back({v, gy, gx});
  }
  // Tasks go to whichever thread is free: chunks differ in cost, and a whole-plane chunk per variable is
  // common (e.g. 11 tasks on 2 threads).
  parallel_for_each(ctx, tasks.size(), [&](std::size_t k) {
    // Per-thread buffers that live across calls: no fresh pages (and page faults) for every chunk.
    thread_local std::vector<unsigned char> raw, a, c;
    thread_local std::vector<float> filled;
    {
      const Task& task = tasks[k];
      const Var& var = vars_[task.var];
      const std::size_t gy_n = (ny_ + var.cy - 1) / var.cy, gx_n = (nx_ + var.cx - 1) / var.cx;
      const Chunk& ch = var.chunks[(t * gy_n + task.gy_index) * gx_n + task.gx_index];
      const std::size_t elements = var.cy * var.cx;
      const float* values = nullptr;
      if (ch.size == 0) {
        filled.assign(elements, var.fill);
        values = filled.data();
      } else {
        raw.resize(ch.size);
        read_at(fd_, ch.address, ch.size, raw.data(), path_);
        std::vector<unsigned char>* cur = &raw;
        // Undo the filters in reverse pipeline order, skipping those the chunk's mask marks as not applied.
        for (std::size_t i = var.filters.size(); i-- > 0;) {
          if (ch.filter_mask & (1u << i)) continue;
          std::vector<unsigned char>& dst = (cur == &a) ? c : a;
          dst.resize(elements * 4);
          if (var.filters[i] == H5Z_FILTER_DEFLATE) {
            inflate_into(*cur, dst, path_, var.name);
          } else {  // shuffle, element size 4
            if (cur->size() != elements * 4)
              throw FileError(path_, var.name, "shuffled chunk of the wrong size");
            // Byte b of element j is at b * elements + j; whole words, so that the compiler vectorises it.
            const unsigned char* s = cur->data();
            unsigned char* o = dst.data();
            for (std::size_t j = 0; j < elements; ++j) {
              const std::uint32_t word = std::uint32_t{s[j]} | std::uint32_t{s[elements + j]} << 8 |
                                         std::uint32_t{s[2 * elements + j]} << 16 |
                                         std::uint32_t{s[3 * elements + j]} << 24;
              std::memcpy(o + 4 * j, &word, 4);
            }
          }
          cur = &dst;
        }
        if (cur->size() != elements * 4) throw FileError(path_, var.name, "chunk of the wrong size");
        values = reinterpret_cast<const float*>(cur->data());
      }
      // Copy the chunk's part of the rows, masking fill values as nc::File does.
      const std::size_t cy0 = task.gy_index * var.cy, cx0 = task.gx_index * var.cx;
      const std::size_t r0 = std::max(cy0, y0), r1 = std::min({cy0 + var.cy, y1, ny_});
      const std::size_t w = std::min(var.cx, nx_ - cx0);
      constexpr float nan = std::numeric_limits<float>::quiet_NaN();
      constexpr float largest = std::numeric_limits<float>::max();
      float* dst = out[task.var].data();
      // Up to two sentinels (_FillValue, missing_value) in a branch-free loop; more in a second pass.
      const std::size_t ns = var.sentinels.size();
      const float s0 = ns > 0 ? var.sentinels[0] : nan, s1 = ns > 1 ? var.sentinels[1] : s0;
      for (std::size_t r = r0; r < r1; ++r) {
        const float* src = values + (r - cy0) * var.cx;
        float* d = dst + (r - y0) * nx_ + cx0;
        for (std::size_t i = 0; i < w; ++i) {
          const float x = src[i];
          d[i] = (!(std::fabs(x) <= largest) || x == s0 || x == s1) ? nan : x;
        }
        for (std::size_t extra = 2; extra < ns; ++extra)
          for (std::size_t i = 0; i < w; ++i)
            if (d[i] == var.sentinels[extra]) d[i] = nan;
      }
    }
  });
}

}  // namespace fluxkit::nc

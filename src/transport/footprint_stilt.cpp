// STILT sparse footprint files (docs/transport.md; lumia transport/stilt.py StiltFootprintFile), netCDF-4
// (read here as the HDF5 file it is; a netCDF-3 classic file is reported as such, see open_hdf5_file):
//   global attributes  Footprints_receptor ("...: CODE; ..."), sampling_height ("<n> m"), lon_ll, lat_ll
//   (lower-left
//                      corner of the STILT grid), lon_res, lat_res, numpix_x, numpix_y
//   per footprint, obs time YYYYmmddHH (hourly):
//     ftp_<YYYYmmddHH>_val     sensitivities, ppm per (umol m-2 s-1) (no unit factor)
//     ftp_<YYYYmmddHH>_lat/_lon  lower-left corner of each non-zero cell (degrees)
//     ftp_<YYYYmmddHH>_indptr  CSR row pointer over hourly rows: row r holds entries [indptr[r], indptr[r+1])
//
// Conventions settled here (LUMIA's reader, for a drop-in):
// - Keys: the obs time as %Y%m%d%H%M%S (YYYYmmddHH + "0000"), like legacy keys, so key_at(obs time) works
// alike.
// - Time: LUMIA gives row r the time index itim = -r with origin = the obs time and a hard-coded 1 h step,
// and a
//   footprint index itim covers [origin + itim*dt, origin + (itim+1)*dt). So row r is the slice
//   [obs - r h, obs - r h + 1 h): row 0 is the hour starting at the obs time (like legacy files, whose most
//   recent slice contains the obs time). Only non-empty rows become slices (LUMIA's COO footprints have no
//   empty slices); slices are sorted by start (last row first).
// - Space: centre = corner + res/2; ilat = floor((lat_centre - lat_ll) / lat_res), ilon likewise: 0-based
// indices on
//   the STILT grid itself (grid() gives its centres). LUMIA's int() truncation gives the same for cells
//   inside the grid; cells outside it get negative (or >= numpix) indices for the caller to reject or re-map,
//   where LUMIA kept only the cells inside the requested flux domain.
// - A footprint whose indptr is entirely masked (NaN, _FillValue, or netCDF's default fill) is dropped (not a
// key),
//   as in LUMIA; a partially masked indptr is an error when the footprint is read.
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "transport/footprint_hdf5.hpp"

namespace fluxkit::transport::detail {

namespace {

constexpr std::int64_t kRowSeconds = 3600;

struct Entry {
  std::string key;   // %Y%m%d%H%M%S
  std::string stem;  // ftp_YYYYmmddHH
  std::int64_t time = 0;
  std::vector<std::int64_t> indptr;
  std::string problem;  // non-empty: reported when the footprint is read
};

// Whether a value read from `ds` is masked the way netCDF4-python masks it.
class MaskTest {
 public:
  MaskTest(hid_t ds, const std::string& file) {
    fill_ = number_attribute(ds, "_FillValue", file);
    if (fill_) return;
    Hid type = type_hid(H5Dget_type(ds));
    if (!type) return;
    const H5T_class_t cls = H5Tget_class(type.get());
    const std::size_t size = H5Tget_size(type.get());
    if (cls == H5T_FLOAT)
      fill_ = size == 4 ? static_cast<double>(9.9692099683868690e+36f) : 9.9692099683868690e+36;
    else if (cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_2)
      fill_ = size == 2   ? -32767.0
              : size == 4 ? -2147483647.0
              : size == 8 ? -9223372036854775806.0
                          : std::nan("");
  }
  bool operator()(double v) const { return std::isnan(v) || (fill_ && v == *fill_); }

 private:
  std::optional<double> fill_;
};

class StiltFile final : public FootprintFile {
 public:
  StiltFile(std::filesystem::path path, Hid file)
      : path_(std::move(path)), name_(path_.string()), file_(std::move(file)) {
    if (!string_attribute(file_.get(), "Footprints_receptor", name_))
      throw FileError(name_, "Footprints_receptor", "missing global attribute (STILT footprint file)");
    auto need = [&](const char* attr) {
      const auto v = number_attribute(file_.get(), attr, name_);
      if (!v || !std::isfinite(*v))
        throw FileError(name_, attr, "missing global attribute (STILT footprint file)");
      return *v;
    };
    lon_ll_ = need("lon_ll");
    lat_ll_ = need("lat_ll");
    lon_res_ = need("lon_res");
    lat_res_ = need("lat_res");
    const double nx = need("numpix_x"), ny = need("numpix_y");
    if (!(lon_res_ > 0) || !(lat_res_ > 0))
      throw FileError(name_, "lon_res", "grid resolutions must be positive");
    if (!(nx >= 1 && ny >= 1 && nx == std::floor(nx) && ny == std::floor(ny) && nx < 1e8 && ny < 1e8))
      throw FileError(name_, "numpix_x",
                      fmt::format("grid sizes must be positive integers, not {} x {}", nx, ny));
    nlon_ = static_cast<std::size_t>(nx);
    nlat_ = static_cast<std::size_t>(ny);

    // Footprints: the ftp_<YYYYmmddHH>_val variables (one H5Literate pass over the root), and their row
    // pointers.
    for (const auto& n : link_names(file_.get(), name_, "/")) {
      if (n.size() != 18 || n.compare(0, 4, "ftp_") != 0 || n.compare(14, 4, "_val") != 0) continue;
      const std::string_view tag = std::string_view(n).substr(4, 10);
      const auto t = parse_compact_time(tag, 10);
      if (!t) continue;
      Entry e;
      e.key = std::string(tag) + "0000";
      e.stem = n.substr(0, 14);
      e.time = *t;
      if (load_indptr(e)) entries_.push_back(std::move(e));
    }
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    for (const auto& e : entries_)
      keys_.push_back(e.key);
  }

  std::string format() const override { return "stilt"; }
  const std::filesystem::path& path() const override { return path_; }
  const std::vector<std::string>& keys() const override { return keys_; }
  bool contains(std::string_view key) const override { return find(key) != nullptr; }

  Footprint read(std::string_view key) const override {
    Footprint fp;
    read_into(key, fp);
    return fp;
  }

  void read_into(std::string_view key, Footprint& out) const override {
    quiet_hdf5();
    const Entry* e = find(key);
    if (e == nullptr) throw FileError(name_, "", fmt::format("footprint '{}' not in the file", key));
    if (!e->problem.empty()) throw FileError(name_, e->stem + "_indptr", e->problem);

    thread_local std::vector<float> val;
    thread_local std::vector<double> lat, lon;
    auto need = [&](const char* suffix, auto& buf, hid_t type) {
      const std::string var = e->stem + suffix;
      if (!read_dataset(file_.get(), var.c_str(), type, buf, name_, ""))
        throw FileError(name_, var, fmt::format("missing variable (footprint '{}')", e->key));
    };
    need("_val", val, H5T_NATIVE_FLOAT);
    need("_lat", lat, H5T_NATIVE_DOUBLE);
    need("_lon", lon, H5T_NATIVE_DOUBLE);
    const std::size_t n = val.size();
    if (lat.size() != n || lon.size() != n)
      throw FileError(name_, e->stem + "_val",
                      fmt::format("unequal lengths in footprint '{}': val {}, lat {}, lon {}", e->key, n,
                                  lat.size(), lon.size()));
    const auto& ptr = e->indptr;
    if (static_cast<std::size_t>(ptr.back()) != n)
      throw FileError(name_, e->stem + "_indptr",
                      fmt::format("footprint '{}': the row pointer ends at {} but there are {} values",
                                  e->key, ptr.back(), n));

    const std::size_t rows = ptr.size() - 1;
    std::size_t used = 0;
    for (std::size_t r = 0; r < rows; ++r)
      used += ptr[r + 1] > ptr[r] ? 1 : 0;
    out.key = e->key;
    out.slices.resize(used);
    std::size_t s = 0;
    for (std::size_t r = rows; r-- > 0;) {  // last row = earliest slice first
      const auto b = static_cast<std::size_t>(ptr[r]), end = static_cast<std::size_t>(ptr[r + 1]);
      if (end == b) continue;
      FootprintSlice& slice = out.slices[s++];
      slice.start = e->time - static_cast<std::int64_t>(r) * kRowSeconds;
      slice.end = slice.start + kRowSeconds;
      const std::size_t c = end - b;
      slice.ilat.resize(c);
      slice.ilon.resize(c);
      slice.resp.assign(val.begin() + static_cast<std::ptrdiff_t>(b),
                        val.begin() + static_cast<std::ptrdiff_t>(end));
      for (std::size_t k = 0; k < c; ++k) {
        const double fi = std::floor((lat[b + k] + 0.5 * lat_res_ - lat_ll_) / lat_res_);
        const double fj = std::floor((lon[b + k] + 0.5 * lon_res_ - lon_ll_) / lon_res_);
        if (!(std::abs(fi) < 2e9 && std::abs(fj) < 2e9))
          throw FileError(name_, e->stem + "_lat",
                          fmt::format("footprint '{}': cell ({}, {}) is not a coordinate on the grid", e->key,
                                      lat[b + k], lon[b + k]));
        slice.ilat[k] = static_cast<std::int32_t>(fi);
        slice.ilon[k] = static_cast<std::int32_t>(fj);
      }
    }
  }

  std::optional<FootprintGrid> grid() const override {
    FootprintGrid g;
    g.lats.resize(nlat_);
    g.lons.resize(nlon_);
    for (std::size_t k = 0; k < nlat_; ++k)
      g.lats[k] = lat_ll_ + (static_cast<double>(k) + 0.5) * lat_res_;
    for (std::size_t k = 0; k < nlon_; ++k)
      g.lons[k] = lon_ll_ + (static_cast<double>(k) + 0.5) * lon_res_;
    return g;
  }

 private:
  const Entry* find(std::string_view key) const {
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                                     [](const Entry& e, std::string_view k) { return e.key < k; });
    return it != entries_.end() && it->key == key ? &*it : nullptr;
  }

  // Reads the row pointer; false when the footprint is dropped (entirely masked or empty).
  bool load_indptr(Entry& e) const {
    const std::string var = e.stem + "_indptr";
    Hid ds = dataset_hid(H5Dopen2(file_.get(), var.c_str(), H5P_DEFAULT));
    if (!ds) {
      e.problem = "missing variable";
      return true;
    }
    Hid space = space_hid(H5Dget_space(ds.get()));
    const hssize_t npoints = space ? H5Sget_simple_extent_npoints(space.get()) : -1;
    if (npoints < 0) throw FileError(name_, var, "cannot read the variable's shape (corrupt file)");
    thread_local std::vector<double> raw;
    raw.resize(static_cast<std::size_t>(npoints));
    if (npoints > 0 && H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      throw FileError(name_, var, "cannot read the variable (corrupt data or not numeric)");
    const MaskTest masked(ds.get(), name_);
    const auto nmasked = static_cast<std::size_t>(std::count_if(raw.begin(), raw.end(), masked));
    if (raw.empty() || nmasked == raw.size()) return false;
    if (nmasked > 0) {
      e.problem = fmt::format("footprint '{}': {} of {} row pointers are masked", e.key, nmasked, raw.size());
      return true;
    }
    e.indptr.resize(raw.size());
    for (std::size_t k = 0; k < raw.size(); ++k) {
      const double v = raw[k];
      const bool ok = v == std::floor(v) && v >= 0 && v < 9e15 && (k == 0 ? v == 0 : v >= raw[k - 1]);
      if (!ok) {
        e.problem = fmt::format(
            "footprint '{}': not a CSR row pointer (starting at 0, non-decreasing): "
            "element {} is {}",
            e.key, k, v);
        e.indptr.clear();
        return true;
      }
      e.indptr[k] = static_cast<std::int64_t>(v);
    }
    return true;
  }

  std::filesystem::path path_;
  std::string name_;
  Hid file_;
  double lon_ll_ = 0, lat_ll_ = 0, lon_res_ = 0, lat_res_ = 0;
  std::size_t nlon_ = 0, nlat_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::string> keys_;
};

}  // namespace

std::unique_ptr<FootprintFile> make_stilt_file(const std::filesystem::path& path, Hid file) {
  return std::make_unique<StiltFile>(path, std::move(file));
}

}  // namespace fluxkit::transport::detail

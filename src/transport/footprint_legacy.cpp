// The legacy LUMIA footprint file (docs/transport.md), HDF5:
//   /latitudes, /longitudes                 float64 cell centres (ignored by LUMIA v2020; grid())
//   /<obs %Y%m%d%H%M%S>/<T1>_<T2>/resp      float32 sensitivities, ppm per (umol m-2 s-1)
//                                /ilats    int32 0-based row indices into the flux grid (fallback name ilat)
//                                /ilons    int32 0-based column indices (fallback name ilon)
// Only slice groups with T1 > T2 are used, as the interval [T2, T1); the "start_end" ones (T1 <= T2, "old and
// wrong" in LUMIA) are skipped; a sub-group name that is not two valid %Y%m%d%H%M%S times is an error
// (LUMIA's strptime would fail on it too). The three datasets of a slice have one length n >= 0; slices are
// returned sorted by start.
//
// Reading one footprint: one H5Gopen of the footprint group, one H5Literate over its slice groups, then per
// used slice one H5Gopen and per dataset one H5Dopen + one H5Dread straight into the output vectors (whose
// capacity read_into() reuses). Root links are listed once, when the file is opened.
#include <hdf5.h>

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "transport/footprint_hdf5.hpp"

namespace fluxkit::transport::detail {

namespace {

class LegacyFile final : public FootprintFile {
 public:
  LegacyFile(std::filesystem::path path, Hid file, std::optional<std::vector<std::string>> root_names)
      : path_(std::move(path)), name_(path_.string()), file_(std::move(file)) {
    std::vector<std::string> names =
        root_names ? std::move(*root_names) : link_names(file_.get(), name_, "/");
    for (auto& n : names)
      if (parse_compact_time(n, 14)) keys_.push_back(std::move(n));
    std::sort(keys_.begin(), keys_.end());
  }

  std::string format() const override { return "legacy"; }
  const std::filesystem::path& path() const override { return path_; }
  const std::vector<std::string>& keys() const override { return keys_; }
  bool contains(std::string_view key) const override {
    return std::binary_search(keys_.begin(), keys_.end(), key,
                              [](std::string_view a, std::string_view b) { return a < b; });
  }

  Footprint read(std::string_view key) const override {
    Footprint fp;
    read_into(key, fp);
    return fp;
  }

  void read_into(std::string_view key_view, Footprint& out) const override {
    quiet_hdf5();
    const std::string key(key_view);
    if (!contains(key)) throw FileError(name_, "", fmt::format("footprint '{}' not in the file", key));
    Hid group = group_hid(H5Gopen2(file_.get(), key.c_str(), H5P_DEFAULT));
    if (!group) throw FileError(name_, key, "cannot open the footprint group (not a group, or corrupt file)");

    // The slice groups, in one pass; keep T1 > T2 as [T2, T1).
    struct Used {
      std::int64_t start, end;
      std::size_t name;
    };
    std::vector<std::string> names = link_names(group.get(), name_, key);
    std::vector<Used> used;
    used.reserve(names.size());
    for (std::size_t k = 0; k < names.size(); ++k) {
      const std::string& n = names[k];
      std::optional<std::int64_t> t1, t2;
      if (n.size() == 29 && n[14] == '_') {
        t1 = parse_compact_time(std::string_view(n).substr(0, 14), 14);
        t2 = parse_compact_time(std::string_view(n).substr(15), 14);
      }
      if (!t1 || !t2)
        throw FileError(name_, key + "/" + n,
                        "slice group name is not <T1>_<T2> with both times as %Y%m%d%H%M%S");
      if (*t1 > *t2) used.push_back({*t2, *t1, k});  // else a "start_end" junk group: skipped
    }
    std::sort(used.begin(), used.end(), [](const Used& a, const Used& b) {
      return a.start != b.start ? a.start < b.start : a.end < b.end;
    });

    out.key = key;
    out.slices.resize(used.size());
    for (std::size_t s = 0; s < used.size(); ++s) {
      FootprintSlice& slice = out.slices[s];
      slice.start = used[s].start;
      slice.end = used[s].end;
      const std::string& sname = names[used[s].name];
      const std::string where = key + "/" + sname;
      Hid sg = group_hid(H5Gopen2(group.get(), sname.c_str(), H5P_DEFAULT));
      if (!sg) throw FileError(name_, where, "cannot open the slice group (not a group, or corrupt file)");
      if (!read_dataset(sg.get(), "resp", H5T_NATIVE_FLOAT, slice.resp, name_, where))
        throw FileError(name_, where + "/resp", "missing dataset");
      read_index(sg.get(), where, 0, slice.ilat);
      read_index(sg.get(), where, 1, slice.ilon);
      if (slice.ilat.size() != slice.resp.size() || slice.ilon.size() != slice.resp.size())
        throw FileError(name_, where,
                        fmt::format("unequal lengths: resp {}, ilats {}, ilons {}", slice.resp.size(),
                                    slice.ilat.size(), slice.ilon.size()));
    }
  }

  std::optional<FootprintGrid> grid() const override {
    quiet_hdf5();
    FootprintGrid g;
    if (!read_dataset(file_.get(), "latitudes", H5T_NATIVE_DOUBLE, g.lats, name_, "") ||
        !read_dataset(file_.get(), "longitudes", H5T_NATIVE_DOUBLE, g.lons, name_, ""))
      return std::nullopt;
    return g;
  }

 private:
  // axis 0: ilats, else ilat; axis 1: ilons, else ilon (LUMIA's forward order; always in this order, so the
  // result does not depend on what was read before when a slice has both).
  void read_index(hid_t sg, const std::string& where, int axis, std::vector<std::int32_t>& out) const {
    static constexpr const char* kNames[2][2] = {{"ilats", "ilat"}, {"ilons", "ilon"}};
    if (read_dataset(sg, kNames[axis][0], H5T_NATIVE_INT32, out, name_, where)) return;
    if (read_dataset(sg, kNames[axis][1], H5T_NATIVE_INT32, out, name_, where)) return;
    throw FileError(name_, where + "/" + kNames[axis][0],
                    fmt::format("missing dataset (nor '{}')", kNames[axis][1]));
  }

  std::filesystem::path path_;
  std::string name_;
  Hid file_;
  std::vector<std::string> keys_;
};

}  // namespace

std::unique_ptr<FootprintFile> make_legacy_file(const std::filesystem::path& path, Hid file,
                                                std::optional<std::vector<std::string>> root_names) {
  return std::make_unique<LegacyFile>(path, std::move(file), std::move(root_names));
}

}  // namespace fluxkit::transport::detail

// The LUMIA v2 footprint file (docs/transport.md; lumia transport/transport.py LumiaFootprintFile), HDF5:
//   root attributes  start  '%Y-%m-%d %H:%M:%S' (the origin of the time indices), tres (time step, seconds)
//   /latitudes, /longitudes   cell centres (grid())
//   /<obsid>/itims, ilats, ilons (int32), sensi (float32, FLEXPART units s m3 kg-1)
// obsid = <code>.<height>m.<YYYYmmdd-HHMMSS>. Time index itim covers [start + itim*tres, start +
// (itim+1)*tres).
//
// Units: sensi [s m3 kg-1] * kSensiToPpm (0.0002897 = M_air 0.02897 kg mol-1 / 100 m surface layer) =
// ppm per (umol m-2 s-1), as LUMIA's `sensi * 0.0002897`. LUMIA multiplies a float32 array by that Python
// float, which NumPy evaluates in float32 (value-based casting, and NEP 50 alike): float32(sensi *
// float32(0.0002897)). This reader does the same, so its values equal LUMIA's bit for bit.
//
// A footprint becomes one slice per distinct itim (ascending), holding its cells in file order.
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "transport/footprint_hdf5.hpp"

namespace fluxkit::transport::detail {

namespace {

constexpr float kSensiToPpmF = static_cast<float>(kSensiToPpm);

// '%Y-%m-%d %H:%M:%S' -> seconds since 1970.
std::optional<std::int64_t> parse_start(std::string_view s) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  std::string compact;
  for (std::size_t k : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    compact += s[k];
  return parse_compact_time(compact, 14);
}

// Time of an obsid "<code>.<height>m.<YYYYmmdd-HHMMSS>".
std::optional<std::int64_t> obsid_time(std::string_view key) {
  const auto dot = key.rfind('.');
  const std::string_view tail = dot == std::string_view::npos ? key : key.substr(dot + 1);
  if (tail.size() != 15 || tail[8] != '-') return std::nullopt;
  std::string compact(tail.substr(0, 8));
  compact += tail.substr(9);
  return parse_compact_time(compact, 14);
}

struct GroupLinks {
  std::vector<std::string> groups;
};
herr_t collect_groups(hid_t loc, const char* name, const H5L_info_t* /*info*/, void* data) {
#if H5_VERSION_GE(1, 12, 0)
  H5O_info2_t oi;
  const herr_t st = H5Oget_info_by_name3(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#else
  H5O_info_t oi;
  const herr_t st = H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
  if (st >= 0 && oi.type == H5O_TYPE_GROUP) static_cast<GroupLinks*>(data)->groups.emplace_back(name);
  return 0;
}

class LumiaV2File final : public FootprintFile {
 public:
  LumiaV2File(std::filesystem::path path, Hid file)
      : path_(std::move(path)), name_(path_.string()), file_(std::move(file)) {
    const auto start = string_attribute(file_.get(), "start", name_);
    if (!start) throw FileError(name_, "start", "missing root attribute (lumia_v2 footprint file)");
    const auto origin = parse_start(*start);
    if (!origin) throw FileError(name_, "start", fmt::format("not a '%Y-%m-%d %H:%M:%S' time: '{}'", *start));
    origin_ = *origin;
    const auto tres = number_attribute(file_.get(), "tres", name_);
    if (!tres) throw FileError(name_, "tres", "missing root attribute (lumia_v2 footprint file)");
    if (!(*tres > 0) || std::abs(*tres - std::round(*tres)) > 1e-6 || *tres > 1e9)
      throw FileError(name_, "tres",
                      fmt::format("time step must be a positive whole number of seconds, not {}", *tres));
    tres_ = static_cast<std::int64_t>(std::llround(*tres));

    // Every root group is a footprint (one H5Literate pass; datasets such as latitudes are skipped).
    GroupLinks links;
    if (H5Literate(file_.get(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, &collect_groups, &links) < 0)
      throw FileError(name_, "/", "cannot list the root group (corrupt file)");
    keys_ = std::move(links.groups);
    std::sort(keys_.begin(), keys_.end());
    for (const auto& k : keys_)
      if (const auto t = obsid_time(k)) by_time_.emplace(*t, k);  // first (sorted) key wins
  }

  std::string format() const override { return "lumia_v2"; }
  const std::filesystem::path& path() const override { return path_; }
  const std::vector<std::string>& keys() const override { return keys_; }
  bool contains(std::string_view key) const override {
    return std::binary_search(keys_.begin(), keys_.end(), key,
                              [](std::string_view a, std::string_view b) { return a < b; });
  }
  std::optional<std::string> key_at(std::int64_t obs_time) const override {
    const auto it = by_time_.find(obs_time);
    if (it == by_time_.end()) return std::nullopt;
    return it->second;
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
    if (!group) throw FileError(name_, key, "cannot open the footprint group (corrupt file)");

    thread_local std::vector<std::int32_t> itims, ilats, ilons;
    thread_local std::vector<float> sensi;
    auto need = [&](const char* var, auto& buf, hid_t type) {
      if (!read_dataset(group.get(), var, type, buf, name_, key))
        throw FileError(name_, key + "/" + var, "missing dataset");
    };
    need("itims", itims, H5T_NATIVE_INT32);
    need("ilats", ilats, H5T_NATIVE_INT32);
    need("ilons", ilons, H5T_NATIVE_INT32);
    need("sensi", sensi, H5T_NATIVE_FLOAT);
    const std::size_t n = sensi.size();
    if (itims.size() != n || ilats.size() != n || ilons.size() != n)
      throw FileError(name_, key,
                      fmt::format("unequal lengths: itims {}, ilats {}, ilons {}, sensi {}", itims.size(),
                                  ilats.size(), ilons.size(), n));

    // Group by itim (counting sort when the range is compact, else a stable sort of the positions).
    out.key = key;
    if (n == 0) {
      out.slices.clear();
      return;
    }
    const auto [mn, mx] = std::minmax_element(itims.begin(), itims.end());
    const std::int64_t lo = *mn, range = static_cast<std::int64_t>(*mx) - lo + 1;
    thread_local std::vector<std::size_t> order;
    order.resize(n);
    std::vector<std::pair<std::int64_t, std::size_t>> groups;  // (itim, count)
    if (range <= static_cast<std::int64_t>(4 * n + 4096)) {
      thread_local std::vector<std::size_t> count;
      count.assign(static_cast<std::size_t>(range) + 1, 0);
      for (std::size_t k = 0; k < n; ++k)
        ++count[static_cast<std::size_t>(itims[k] - lo) + 1];
      for (std::int64_t t = 0; t < range; ++t) {
        const std::size_t c = count[static_cast<std::size_t>(t) + 1];
        if (c > 0) groups.emplace_back(lo + t, c);
      }
      std::partial_sum(count.begin(), count.end(), count.begin());
      for (std::size_t k = 0; k < n; ++k)
        order[count[static_cast<std::size_t>(itims[k] - lo)]++] = k;
    } else {
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return itims[a] < itims[b]; });
      for (std::size_t k = 0; k < n; ++k) {
        if (groups.empty() || groups.back().first != itims[order[k]]) groups.emplace_back(itims[order[k]], 0);
        ++groups.back().second;
      }
    }
    out.slices.resize(groups.size());
    std::size_t pos = 0;
    for (std::size_t s = 0; s < groups.size(); ++s) {
      FootprintSlice& slice = out.slices[s];
      slice.start = origin_ + groups[s].first * tres_;
      slice.end = slice.start + tres_;
      const std::size_t c = groups[s].second;
      slice.ilat.resize(c);
      slice.ilon.resize(c);
      slice.resp.resize(c);
      for (std::size_t k = 0; k < c; ++k) {
        const std::size_t i = order[pos + k];
        slice.ilat[k] = ilats[i];
        slice.ilon[k] = ilons[i];
        slice.resp[k] = sensi[i] * kSensiToPpmF;
      }
      pos += c;
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
  std::filesystem::path path_;
  std::string name_;
  Hid file_;
  std::int64_t origin_ = 0, tres_ = 0;
  std::vector<std::string> keys_;
  std::unordered_map<std::int64_t, std::string> by_time_;
};

}  // namespace

std::unique_ptr<FootprintFile> make_lumia_v2_file(const std::filesystem::path& path, Hid file) {
  return std::make_unique<LumiaV2File>(path, std::move(file));
}

}  // namespace fluxkit::transport::detail

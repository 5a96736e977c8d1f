#include "fluxkit/dataset/regions.hpp"

#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

double wrap_longitude(double lon) {
  if (lon >= -180.0 && lon < 180.0) return lon;
  double w = std::fmod(lon + 180.0, 360.0);
  if (w < 0) w += 360.0;
  return w - 180.0;
}

bool LatLonBox::contains(double lat, double lon) const {
  const bool lat_ok = (lat_min_exclusive ? lat > lat_min : lat >= lat_min) && lat <= lat_max;
  if (!lat_ok) return false;
  // 180 is the same meridian as -180: test both spellings so a box ending at 180 includes it.
  const double l = wrap_longitude(lon);
  auto in = [&](double x) {
    return lon_min <= lon_max ? (x >= lon_min && x <= lon_max) : (x >= lon_min || x <= lon_max);
  };
  return in(l) || (l == -180.0 && in(180.0));
}

bool Region::contains(double lat, double lon) const {
  if (boxes.empty()) return true;
  for (const auto& b : boxes)
    if (b.contains(lat, lon)) return true;
  return false;
}

const std::vector<Region>& builtin_regions() {
  static const std::vector<Region> regions = {
      {"global", "global", {}},
      {"north_atlantic", "North_Atlantic", {{10.0, 70.0, -75.0, 0.0}}},
      {"southern_ocean", "Southern_Ocean", {{-90.0, -45.0, -180.0, 180.0}}},
      {"arctic", "Arctic", {{70.0, 90.0, -180.0, 180.0, true}}},
      {"equatorial_pacific", "EQ_Pacific", {{-10.0, 10.0, 105.0, 180.0}, {-10.0, 10.0, -180.0, -80.0}}},
  };
  return regions;
}

Region parse_region(std::string_view spec) {
  const auto colon = spec.find(':');
  auto fail = [&](const std::string& why) -> Region {
    throw Error(
        fmt::format("region '{}': {} (expected \"name: lat_min, lat_max, lon_min, lon_max\")", spec, why));
  };
  if (colon == std::string_view::npos) return fail("no ':'");
  std::string name(spec.substr(0, colon));
  name.erase(0, name.find_first_not_of(" \t"));
  name.erase(name.find_last_not_of(" \t") + 1);
  if (name.empty()) return fail("empty name");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      return fail("name must be [A-Za-z0-9_-]");
  std::vector<double> v;
  std::stringstream ss{std::string(spec.substr(colon + 1))};
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (item.find_first_not_of(" \t", used) != std::string::npos)
        return fail(fmt::format("'{}' is not a number", item));
    } catch (const std::exception&) {
      return fail(fmt::format("'{}' is not a number", item));
    }
  }
  if (v.size() != 4) return fail(fmt::format("{} numbers", v.size()));
  if (!(v[0] >= -90 && v[1] <= 90 && v[0] <= v[1]))
    return fail("latitudes must satisfy -90 <= lat_min <= lat_max <= 90");
  if (!(v[2] >= -180 && v[2] <= 180 && v[3] >= -180 && v[3] <= 180))
    return fail("longitudes must be within [-180, 180]");
  return Region{name, name, {{v[0], v[1], v[2], v[3]}}};
}

Region find_region(std::string_view name, const std::vector<Region>& custom) {
  for (const auto& r : custom)
    if (r.name == name) return r;
  for (const auto& r : builtin_regions())
    if (r.name == name) return r;
  std::vector<std::string> names;
  for (const auto& r : builtin_regions())
    names.push_back(r.name);
  for (const auto& r : custom)
    names.push_back(r.name);
  throw Error(fmt::format("unknown region '{}' (known: {})", name, fmt::join(names, ", ")));
}

}  // namespace fluxkit

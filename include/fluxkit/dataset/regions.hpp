// Ocean regions as latitude/longitude boxes on the raw cell coordinates (degrees north, degrees east with
// longitudes taken in [-180, 180)). Built-in regions reproduce the seed's boxes exactly: closed
// intervals except the Arctic (lat > 70), and the equatorial Pacific as the union of two boxes across the
// dateline.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fluxkit {

struct LatLonBox {
  double lat_min, lat_max, lon_min, lon_max;  // closed; lon_min > lon_max crosses the dateline
  bool lat_min_exclusive = false;             // the Arctic: lat > 70
  bool contains(double lat, double lon) const;
};

struct Region {
  std::string name;              // config name: "north_atlantic"
  std::string dir_name;          // in file paths, as the seed: "North_Atlantic"
  std::vector<LatLonBox> boxes;  // union; empty = everything (global)
  bool contains(double lat, double lon) const;
};

// Longitude folded into [-180, 180).
double wrap_longitude(double lon);

// The built-in regions: global, north_atlantic, southern_ocean, arctic, equatorial_pacific.
const std::vector<Region>& builtin_regions();

// Parses a user box "name: lat_min, lat_max, lon_min, lon_max" (closed intervals; lon_min > lon_max crosses
// the dateline). Throws Error naming the text.
Region parse_region(std::string_view spec);

// Looks a region up among the built-in ones and `custom` (user boxes); throws Error listing the known names.
Region find_region(std::string_view name, const std::vector<Region>& custom = {});

}  // namespace fluxkit

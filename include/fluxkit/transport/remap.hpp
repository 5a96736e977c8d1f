// First-order conservative regridding on the sphere (docs/ocean-to-atmosphere.md), from cells given by their
// corners (a regular or curvilinear ocean grid) onto a regular latitude-longitude grid (the transport grid).
//
// Geometry: cells are polygons in the plane (longitude in radians, sine of latitude), the Lambert cylindrical
// equal-area projection, in which an area times R^2 is the area on the sphere. A target cell (bounded by two
// meridians and two parallels) is an exact rectangle there, so the areas of regular latitude-longitude cells
// and of their overlaps are exact; the edges of a curvilinear source cell are taken as straight in that plane
// (great-circle edges, as CDO assumes, differ from them by a fraction of the cell for cells far from the
// poles: at 0.25 degrees, by less than 1e-6 of the cell's area away from the poles).
//
// Every overlap is counted once: sum over target cells of the overlaps of a source cell = the part of the
// source cell inside the target grid, so the integrated flux over the overlap is preserved to rounding.
//
// Layout: source cells n, corners [n x 4] row-major, degrees; target grid nlat x nlon, row-major [lat][lon],
// edges ascending, degrees east/north. Areas in m2 on a sphere of radius kEarthRadius.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fluxkit::transport {

inline constexpr double kEarthRadius = 6371000.0;  // m, the sphere of the areas (CDO and LUMIA use 6371 km)

// Cells by their four corners (in order around the cell, either direction), degrees.
struct SourceCells {
  std::size_t n = 0;
  std::vector<std::array<double, 4>> corner_lat, corner_lon;  // [n]
};

// A regular latitude-longitude grid by its cell edges (nlat + 1 and nlon + 1 values, ascending, degrees).
// Longitudes may span at most 360 degrees; any starting longitude (-180, 0, ...) is fine.
struct LatLonGrid {
  std::vector<double> lat_edges, lon_edges;
  std::size_t nlat() const { return lat_edges.empty() ? 0 : lat_edges.size() - 1; }
  std::size_t nlon() const { return lon_edges.empty() ? 0 : lon_edges.size() - 1; }
  // The grid of cell centres spaced evenly (LUMIA's lats/lons): edges half a spacing either side. Error when
  // the centres are not evenly spaced (1e-4 of the spacing) or fewer than two.
  static LatLonGrid from_centres(std::span<const double> lats, std::span<const double> lons);
  // Area of cell (i, j), m2.
  double cell_area(std::size_t i, std::size_t j) const;
};

// Corners of a regular grid given by its cell centres [ny x nx] (lat constant along x, lon along y within
// 1e-9 degrees): edges half-way between centres, the outer ones half a spacing out (latitudes clipped to
// +-90). nullopt-like: returns false when the centres are not those of a regular grid.
bool regular_grid_corners(std::span<const double> lat, std::span<const double> lon, std::size_t ny,
                          std::size_t nx, SourceCells& out);

// Overlap areas (m2) of every source cell with every target cell, as a sparse matrix by target cell (CSR):
// row t = target cell i * nlon + j, entries (source cell, overlap area).
struct RemapWeights {
  std::size_t n_source = 0, n_target = 0;
  std::vector<std::size_t> row_start;  // [n_target + 1]
  std::vector<std::uint32_t> source;   // [nnz]
  std::vector<double> overlap;         // [nnz], m2
  std::vector<double> target_area;     // [n_target], m2
  std::vector<double> source_area;     // [n_source], m2 (the polygon's area in the same geometry)
  // dst[t] = sum_s overlap * src[s] / target_area[t] (the mean over the whole target cell: parts covered by
  // no source value (land, outside the source grid, NaN) count as zero flux). NaN sources are skipped.
  void apply(std::span<const double> src, std::span<double> dst) const;
  // Fraction of each target cell covered by source cells whose value is finite in `src` (0..1).
  std::vector<double> covered_fraction(std::span<const double> src) const;
};

RemapWeights conservative_weights(const SourceCells& source, const LatLonGrid& target);

}  // namespace fluxkit::transport

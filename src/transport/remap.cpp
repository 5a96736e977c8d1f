#include "fluxkit/transport/remap.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::transport {

namespace {

constexpr double kDeg = std::numbers::pi / 180.0;
// m2 per (degree of longitude x unit of sin(latitude)).
constexpr double kPlaneToM2 = kDeg * kEarthRadius * kEarthRadius;

struct Point {
  double x, y;  // longitude (degrees, unwrapped), sin(latitude)
};

double shoelace(const std::vector<Point>& p) {
  double a = 0;
  for (std::size_t k = 0, n = p.size(); k < n; ++k) {
    const Point& u = p[k];
    const Point& v = p[(k + 1) % n];
    a += u.x * v.y - v.x * u.y;
  }
  return 0.5 * std::abs(a);
}

// One Sutherland-Hodgman pass: keeps the side of the line `coord(p) >= bound` (keep_above) or `<= bound`.
template <bool kAlongX, bool kKeepAbove>
void clip_pass(const std::vector<Point>& in, double bound, std::vector<Point>& out) {
  out.clear();
  const std::size_t n = in.size();
  if (n == 0) return;
  auto c = [](const Point& p) { return kAlongX ? p.x : p.y; };
  auto inside = [&](const Point& p) { return kKeepAbove ? c(p) >= bound : c(p) <= bound; };
  for (std::size_t k = 0; k < n; ++k) {
    const Point& cur = in[k];
    const Point& prev = in[(k + n - 1) % n];
    const bool ci = inside(cur), pi = inside(prev);
    if (ci != pi) {
      const double t = (bound - c(prev)) / (c(cur) - c(prev));
      Point q{prev.x + t * (cur.x - prev.x), prev.y + t * (cur.y - prev.y)};
      if (kAlongX)
        q.x = bound;
      else
        q.y = bound;
      out.push_back(q);
    }
    if (ci) out.push_back(cur);
  }
}

// Area (plane units) of the polygon inside [x0, x1] x [y0, y1].
double clipped_area(const std::vector<Point>& poly, double x0, double x1, double y0, double y1,
                    std::vector<Point>& a, std::vector<Point>& b) {
  clip_pass<true, true>(poly, x0, a);
  clip_pass<true, false>(a, x1, b);
  clip_pass<false, true>(b, y0, a);
  clip_pass<false, false>(a, y1, b);
  return b.size() < 3 ? 0.0 : shoelace(b);
}

void check_edges(const std::vector<double>& e, const char* what) {
  if (e.size() < 2) throw Error(fmt::format("target grid: fewer than two {} edges", what));
  for (std::size_t k = 1; k < e.size(); ++k)
    if (!(e[k] > e[k - 1]))
      throw Error(
          fmt::format("target grid: {} edges not ascending at {} ({} then {})", what, k, e[k - 1], e[k]));
}

// Index range [first, last) of the cells between edges that overlap (lo, hi).
std::pair<std::size_t, std::size_t> cell_range(const std::vector<double>& edges, double lo, double hi) {
  const auto first = std::upper_bound(edges.begin(), edges.end(), lo) - edges.begin();
  const auto last = std::lower_bound(edges.begin(), edges.end(), hi) - edges.begin();
  const std::size_t n = edges.size() - 1;
  const std::size_t f = first == 0 ? 0 : static_cast<std::size_t>(first) - 1;
  const std::size_t l = std::min<std::size_t>(static_cast<std::size_t>(last), n);
  return {f, std::max(f, l)};
}

std::vector<double> evenly_spaced_edges(std::span<const double> c, const char* what) {
  if (c.size() < 2)
    throw Error(fmt::format("{}: at least two cell centres are needed, got {}", what, c.size()));
  const double d = (c.back() - c.front()) / static_cast<double>(c.size() - 1);
  if (!(d > 0)) throw Error(fmt::format("{}: cell centres are not ascending", what));
  for (std::size_t k = 1; k < c.size(); ++k)
    if (std::abs((c[k] - c[k - 1]) - d) > 1e-3 * d)
      throw Error(fmt::format("{}: cell centres are not evenly spaced ({} then {}, spacing {})", what,
                              c[k - 1], c[k], d));
  std::vector<double> e(c.size() + 1);
  for (std::size_t k = 0; k <= c.size(); ++k)
    e[k] = c.front() + (static_cast<double>(k) - 0.5) * d;
  return e;
}

}  // namespace

LatLonGrid LatLonGrid::from_centres(std::span<const double> lats, std::span<const double> lons) {
  LatLonGrid g;
  g.lat_edges = evenly_spaced_edges(lats, "latitudes");
  g.lon_edges = evenly_spaced_edges(lons, "longitudes");
  g.lat_edges.front() = std::max(g.lat_edges.front(), -90.0);
  g.lat_edges.back() = std::min(g.lat_edges.back(), 90.0);
  return g;
}

double LatLonGrid::cell_area(std::size_t i, std::size_t j) const {
  return (std::sin(lat_edges[i + 1] * kDeg) - std::sin(lat_edges[i] * kDeg)) *
         (lon_edges[j + 1] - lon_edges[j]) * kPlaneToM2;
}

bool regular_grid_corners(std::span<const double> lat, std::span<const double> lon, std::size_t ny,
                          std::size_t nx, SourceCells& out) {
  if (ny < 2 || nx < 2 || lat.size() != ny * nx || lon.size() != ny * nx) return false;
  for (std::size_t y = 0; y < ny; ++y)
    for (std::size_t x = 0; x < nx; ++x)
      if (std::abs(lat[y * nx + x] - lat[y * nx]) > 1e-9 || std::abs(lon[y * nx + x] - lon[x]) > 1e-9)
        return false;
  // Longitudes unwrapped along x (a grid may cross the dateline: 179, -179, ...).
  std::vector<double> lo(nx);
  lo[0] = lon[0];
  for (std::size_t x = 1; x < nx; ++x) {
    double d = lon[x] - lon[x - 1];
    d -= 360.0 * std::round(d / 360.0);
    lo[x] = lo[x - 1] + d;
  }
  auto edges = [](const std::vector<double>& c, double lo_clip, double hi_clip) {
    const std::size_t n = c.size();
    std::vector<double> e(n + 1);
    for (std::size_t k = 1; k < n; ++k)
      e[k] = 0.5 * (c[k - 1] + c[k]);
    e[0] = c[0] - 0.5 * (c[1] - c[0]);
    e[n] = c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]);
    for (double& v : e)
      v = std::clamp(v, lo_clip, hi_clip);
    return e;
  };
  std::vector<double> la(ny);
  for (std::size_t y = 0; y < ny; ++y)
    la[y] = lat[y * nx];
  const bool descending = la.back() < la.front();
  if (descending) std::reverse(la.begin(), la.end());
  auto le = edges(la, -90.0, 90.0);
  if (descending) std::reverse(le.begin(), le.end());
  const auto xe = edges(lo, -1e300, 1e300);
  out.n = ny * nx;
  out.corner_lat.assign(out.n, {});
  out.corner_lon.assign(out.n, {});
  for (std::size_t y = 0; y < ny; ++y)
    for (std::size_t x = 0; x < nx; ++x) {
      const std::size_t c = y * nx + x;
      out.corner_lat[c] = {le[y], le[y], le[y + 1], le[y + 1]};
      out.corner_lon[c] = {xe[x], xe[x + 1], xe[x + 1], xe[x]};
    }
  return true;
}

RemapWeights conservative_weights(const SourceCells& source, const LatLonGrid& target) {
  check_edges(target.lat_edges, "latitude");
  check_edges(target.lon_edges, "longitude");
  if (target.lat_edges.front() < -90.0 || target.lat_edges.back() > 90.0)
    throw Error("target grid: latitude edges outside [-90, 90]");
  if (target.lon_edges.back() - target.lon_edges.front() > 360.0 + 1e-9)
    throw Error("target grid: longitudes span more than 360 degrees");
  if (source.corner_lat.size() != source.n || source.corner_lon.size() != source.n)
    throw Error("source cells: corner arrays do not match the number of cells");
  if (source.n > std::numeric_limits<std::uint32_t>::max()) throw Error("source grid: too many cells");

  const std::size_t nlat = target.nlat(), nlon = target.nlon();
  RemapWeights w;
  w.n_source = source.n;
  w.n_target = nlat * nlon;
  w.target_area.resize(w.n_target);
  for (std::size_t i = 0; i < nlat; ++i)
    for (std::size_t j = 0; j < nlon; ++j)
      w.target_area[i * nlon + j] = target.cell_area(i, j);
  w.source_area.assign(source.n, 0.0);

  std::vector<double> sin_edges(target.lat_edges.size());
  for (std::size_t k = 0; k < sin_edges.size(); ++k)
    sin_edges[k] = std::sin(target.lat_edges[k] * kDeg);
  const double x_lo = target.lon_edges.front(), x_hi = target.lon_edges.back();

  struct Triplet {
    std::uint32_t t, s;
    double a;
  };
  std::vector<Triplet> trip;
  std::vector<Point> poly(4), shifted, a, b;
  for (std::size_t s = 0; s < source.n; ++s) {
    const auto& cl = source.corner_lat[s];
    const auto& cx = source.corner_lon[s];
    bool finite = true;
    for (int k = 0; k < 4; ++k)
      finite = finite && std::isfinite(cl[k]) && std::isfinite(cx[k]);
    if (!finite) continue;  // a cell without corners (masked) overlaps nothing
    for (int k = 0; k < 4; ++k) {
      double x = cx[k];
      if (k > 0) {
        double d = x - poly[0].x;
        d -= 360.0 * std::round(d / 360.0);
        x = poly[0].x + d;
      }
      poly[k] = {x, std::sin(std::clamp(cl[k], -90.0, 90.0) * kDeg)};
    }
    w.source_area[s] = shoelace(poly) * kPlaneToM2;
    double px0 = poly[0].x, px1 = poly[0].x, py0 = poly[0].y, py1 = poly[0].y;
    for (const Point& p : poly) {
      px0 = std::min(px0, p.x), px1 = std::max(px1, p.x);
      py0 = std::min(py0, p.y), py1 = std::max(py1, p.y);
    }
    if (px1 - px0 >= 180.0)
      continue;  // a cell around a pole: not representable, and never an ocean cell here
    const auto [i0, i1] = cell_range(sin_edges, py0, py1);
    // The polygon at every 360-degree shift that reaches the target's longitudes.
    for (const double shift : {-720.0, -360.0, 0.0, 360.0, 720.0}) {
      if (px1 + shift <= x_lo || px0 + shift >= x_hi) continue;
      shifted = poly;
      for (Point& p : shifted)
        p.x += shift;
      const auto [j0, j1] = cell_range(target.lon_edges, px0 + shift, px1 + shift);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = j0; j < j1; ++j) {
          const double area = clipped_area(shifted, target.lon_edges[j], target.lon_edges[j + 1],
                                           sin_edges[i], sin_edges[i + 1], a, b) *
                              kPlaneToM2;
          if (area > 0)
            trip.push_back({static_cast<std::uint32_t>(i * nlon + j), static_cast<std::uint32_t>(s), area});
        }
    }
  }
  // CSR by target cell (counting sort keeps the source order within a row).
  w.row_start.assign(w.n_target + 1, 0);
  for (const auto& t : trip)
    ++w.row_start[t.t + 1];
  for (std::size_t t = 0; t < w.n_target; ++t)
    w.row_start[t + 1] += w.row_start[t];
  w.source.resize(trip.size());
  w.overlap.resize(trip.size());
  std::vector<std::size_t> next(w.row_start.begin(), w.row_start.end() - 1);
  for (const auto& t : trip) {
    const std::size_t k = next[t.t]++;
    w.source[k] = t.s;
    w.overlap[k] = t.a;
  }
  return w;
}

void RemapWeights::apply(std::span<const double> src, std::span<double> dst) const {
  if (src.size() != n_source || dst.size() != n_target)
    throw Error(fmt::format("remap: {} source and {} target values, expected {} and {}", src.size(),
                            dst.size(), n_source, n_target));
  for (std::size_t t = 0; t < n_target; ++t) {
    double sum = 0;
    for (std::size_t k = row_start[t]; k < row_start[t + 1]; ++k)
      if (const double v = src[source[k]]; std::isfinite(v)) sum += overlap[k] * v;
    dst[t] = sum / target_area[t];
  }
}

std::vector<double> RemapWeights::covered_fraction(std::span<const double> src) const {
  std::vector<double> f(n_target, 0.0);
  for (std::size_t t = 0; t < n_target; ++t) {
    double a = 0;
    for (std::size_t k = row_start[t]; k < row_start[t + 1]; ++k)
      if (std::isfinite(src[source[k]])) a += overlap[k];
    f[t] = std::min(1.0, a / target_area[t]);
  }
  return f;
}

}  // namespace fluxkit::transport

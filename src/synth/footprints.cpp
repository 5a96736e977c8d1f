#include "fluxkit/synth/footprints.hpp"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <future>
#include <limits>
#include <map>
#include <numbers>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "synth/landmask.hpp"

namespace fluxkit::synth {

namespace fs = std::filesystem;

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kDeg = kPi / 180.0;
constexpr double kKmPerDeg = 111.195;  // great-circle km per degree of latitude
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 86400;

// ---- calendar: the core's civil clock (proleptic Gregorian, UTC)
// -------------------------------------------

struct Civil {
  int year, month, day, hour, minute, second;
};

Civil civil_from_epoch(std::int64_t s) {
  const cftime::CivilTime c = cftime::epoch_seconds_to_civil(s);
  return {c[0], c[1], c[2], c[3], c[4], c[5]};
}

std::int64_t days_from_civil(int y, int m, int d) {
  return cftime::civil_to_epoch_seconds({y, m, d, 0, 0, 0}) / kDay;
}

// "%Y%m%d%H%M%S", the legacy group and slice names.
std::string stamp(std::int64_t s) {
  return cftime::compact_stamp(s);
}

transport::TimeStamp time_stamp(std::int64_t s) {
  return cftime::epoch_seconds_to_civil(s);
}

// "YYYY-MM-DD" -> seconds since 1970; Error when malformed.
std::int64_t parse_date(std::string_view text) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s.size() != 10)
    throw Error(fmt::format("'{}' is not a date YYYY-MM-DD", text));
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 ||
      d > cftime::days_in_month(y, m, cftime::Calendar::ProlepticGregorian))
    throw Error(fmt::format("'{}' is not a valid date (years 1900..2200)", text));
  return days_from_civil(y, m, d) * kDay;
}

// Fractional day of the year (0 = Jan 1, 00:00) and UTC hour of a time.
double day_of_year(std::int64_t s) {
  const Civil c = civil_from_epoch(s);
  const std::int64_t jan1 = days_from_civil(c.year, 1, 1) * kDay;
  return static_cast<double>(s - jan1) / static_cast<double>(kDay);
}
double utc_hour(std::int64_t s) {
  const std::int64_t sod = ((s % kDay) + kDay) % kDay;
  return static_cast<double>(sod) / static_cast<double>(kHour);
}

// ---- the case
// ----------------------------------------------------------------------------------------------------

struct Grid {
  double lat0, lon0, res;
  std::size_t nlat, nlon;
  double lat(std::size_t i) const { return lat0 + (static_cast<double>(i) + 0.5) * res; }
  double lon(std::size_t j) const { return lon0 + (static_cast<double>(j) + 0.5) * res; }
};

std::size_t cells_along(double a, double b, double res) {
  return static_cast<std::size_t>(std::llround((b - a) / res));
}

Grid make_grid(const SynthFootprintParams& p) {
  return {p.lat0, p.lon0, p.resolution, cells_along(p.lat0, p.lat1, p.resolution),
          cells_along(p.lon0, p.lon1, p.resolution)};
}

std::vector<int> observation_hours(const SynthFootprintParams& p) {
  std::vector<int> h;
  if (p.hours == "all") {
    for (int i = 0; i < 24; ++i)
      h.push_back(i);
  } else {
    for (int i = 11; i <= 16; ++i)
      h.push_back(i);
  }
  return h;
}

const std::set<std::string>& known_categories() {
  static const std::set<std::string> names = {"biosphere", "fossil", "ocean"};
  return names;
}

std::string number_text(double v) {
  // Heights and edges in names and rc files: "150", "22.5", "-15".
  return fmt::format("{:g}", v);
}

// Counter-based stream of random numbers for one purpose (one observation, the weather, ...).
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) : seed_(seed), stream_(stream) {}
  std::uint64_t bits() { return random_bits(seed_, stream_, counter_++); }
  double uniform() { return (static_cast<double>(bits() >> 11) + 0.5) * 0x1.0p-53; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  // Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms, rescaled (bounded at +-3.46).
  double normal() {
    const std::uint64_t b = bits();
    double s = 0;
    for (int k = 0; k < 4; ++k)
      s += static_cast<double>((b >> (16 * k)) & 0xffffU) + 0.5;
    return (s * 0x1.0p-16 - 2.0) * 1.7320508075688772;
  }

 private:
  std::uint64_t seed_, stream_, counter_ = 0;
};

constexpr std::uint64_t kStreamWeather = 0x5745415448455231ULL;  // "WEATHER1"
constexpr std::uint64_t kStreamFlux = 0x464c555846494c44ULL;
constexpr std::uint64_t kStreamObs = 0x4f42534e4f495345ULL;

// Synoptic weather: a mean south-westerly flow plus travelling waves, the same for every station, so
// neighbouring stations and consecutive hours see similar (but not equal) winds. Wind in km/h, (east, north).
struct Weather {
  struct Mode {
    double amp_e, amp_n, omega, kx, ky, phase_e, phase_n;
  };
  std::array<Mode, 4> modes{};

  explicit Weather(std::uint64_t seed) {
    Rng r(seed, kStreamWeather);
    for (auto& m : modes) {
      m.amp_e = r.uniform(9.0, 15.0);
      m.amp_n = r.uniform(9.0, 15.0);
      m.omega = 2.0 * kPi / r.uniform(50.0, 240.0);  // periods of 2 to 10 days
      const double wavelength = r.uniform(2000.0, 5000.0), dir = r.uniform(0.0, 2.0 * kPi);
      m.kx = 2.0 * kPi / wavelength * std::cos(dir);
      m.ky = 2.0 * kPi / wavelength * std::sin(dir);
      m.phase_e = r.uniform(0.0, 2.0 * kPi);
      m.phase_n = r.uniform(0.0, 2.0 * kPi);
    }
  }
  // t: hours since 1970; x, y: km east and north of (0 E, 0 N) on a plane (only phases depend on them).
  std::pair<double, double> wind(double t, double x, double y) const {
    double ue = 20.0, vn = 4.0;
    for (const auto& m : modes) {
      const double arg = m.omega * t + m.kx * x + m.ky * y;
      ue += m.amp_e * std::cos(arg + m.phase_e);
      vn += m.amp_n * std::sin(arg + m.phase_n);
    }
    return {ue, vn};
  }
};

std::uint64_t observation_stream(const SynthStation& st, std::int64_t obs_time) {
  return mix64(fnv1a64(st.code) ^ mix64(static_cast<std::uint64_t>(obs_time) ^ kStreamObs));
}

// Deposits of one slice: (cell, value) pairs merged into unique cells, row-major order.
void flush_slice(std::vector<std::pair<std::uint32_t, double>>& buf, std::size_t nlon,
                 transport::FootprintSlice& out) {
  std::sort(buf.begin(), buf.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t k = 0; k < buf.size();) {
    const std::uint32_t cell = buf[k].first;
    double v = 0;
    for (; k < buf.size() && buf[k].first == cell; ++k)
      v += buf[k].second;
    out.ilat.push_back(static_cast<std::int32_t>(cell / nlon));
    out.ilon.push_back(static_cast<std::int32_t>(cell % nlon));
    out.resp.push_back(static_cast<float>(v));
  }
  buf.clear();
}

transport::Footprint make_footprint_impl(const SynthFootprintParams& p, const Grid& grid,
                                         const Weather& weather, const SynthStation& st,
                                         std::int64_t obs_time, std::uint64_t seed) {
  const std::int64_t S = p.slice_hours * kHour;
  const std::int64_t newest = obs_time - ((obs_time % S) + S) % S;  // start of the slice containing obs_time
  Rng rng(seed, observation_stream(st, obs_time));

  // Per observation: length, sensitivity scale and decay, chosen once.
  const std::int64_t back_days =
      p.min_back_days + static_cast<std::int64_t>(std::floor(
                            rng.uniform() * static_cast<double>(p.max_back_days - p.min_back_days + 1)));
  const std::int64_t per_day = 24 / p.slice_hours;
  const std::size_t nslices = static_cast<std::size_t>(back_days * per_day + 1);
  const std::int64_t oldest = newest - back_days * kDay;
  const double height_factor = std::pow(100.0 / std::max(10.0, st.height), 0.3);
  const double scale = 0.65 * std::exp(0.2 * rng.normal()) * height_factor;  // ppm/(umol m-2 s-1) per hour
  const double tau1 = rng.uniform(10.0, 28.0), tau2 = rng.uniform(60.0, 140.0);
  auto hourly = [&](double age) {
    return scale * (0.75 * std::exp(-age / tau1) + 0.25 * std::exp(-age / tau2));
  };
  // Chance per hour that a particle is in the surface layer: 1 at release, decaying as the plume mixes up;
  // lower at night (shallow boundary layer), so old night-time slices are sparse or empty.
  auto touch_probability = [&](double age, double t_hours) {
    const double local = std::fmod(t_hours + st.lon / 15.0 + 240.0, 24.0);
    const double far = local >= 9.0 && local < 18.0 ? 0.12 : 0.003;
    return far + (1.0 - far) * std::exp(-age / 12.0);
  };

  const std::size_t np = static_cast<std::size_t>(p.particles);
  struct Particle {
    double x, y;   // km east, north of the station
    double u, v;   // turbulent velocity, km/h
    double shear;  // multiplies the mean wind (height in the boundary layer)
    bool alive;
  };
  std::vector<Particle> parts(np);
  for (auto& q : parts) {
    q.x = 2.0 * rng.normal();
    q.y = 2.0 * rng.normal();
    q.u = 0;
    q.v = 0;
    q.shear = std::max(0.2, 1.0 + 0.3 * rng.normal());
    q.alive = true;
  }
  std::vector<double> km_to_lon(grid.nlat);  // degrees of longitude per km, at each grid row's centre
  for (std::size_t i = 0; i < grid.nlat; ++i)
    km_to_lon[i] = 1.0 / (kKmPerDeg * std::max(0.01, std::cos(grid.lat(i) * kDeg)));
  const double r_l = std::exp(-1.0 / 6.0), r_s = std::sqrt(1.0 - r_l * r_l);  // Lagrangian time scale 6 h
  const double station_x = st.lon * kKmPerDeg * std::cos(50.0 * kDeg), station_y = st.lat * kKmPerDeg;

  transport::Footprint fp;
  fp.key = stamp(obs_time);
  fp.slices.resize(nslices);  // filled newest first, reversed at the end
  for (std::size_t q = 0; q < nslices; ++q) {
    const std::int64_t start = newest - static_cast<std::int64_t>(q) * S;
    fp.slices[q].start = start;
    fp.slices[q].end = start + S;
  }

  // The observation is the hourly mean [obs_time, obs_time + 1 h): trajectories start at its end and run back
  // in hourly sub-steps to the start of the oldest slice.
  const std::int64_t release_end = obs_time + kHour;
  std::vector<std::pair<std::uint32_t, double>> buf;
  buf.reserve(np * 4);
  std::size_t current = 0;
  double cx = 0, cy = 0;  // plume centre, km from the station
  std::size_t alive = np;
  for (std::int64_t h = 0;; ++h) {
    const std::int64_t sub_start = release_end - (h + 1) * kHour;
    if (sub_start < oldest || alive == 0) break;
    const std::size_t q =
        sub_start >= newest ? 0 : static_cast<std::size_t>((newest - sub_start + S - 1) / S);
    if (q != current) {
      flush_slice(buf, grid.nlon, fp.slices[current]);
      current = q;
    }
    const double age = static_cast<double>(h) + 0.5;
    const double t_hours = static_cast<double>(sub_start) / static_cast<double>(kHour) + 0.5;
    const auto [we, wn] = weather.wind(t_hours, station_x + cx, station_y + cy);
    const double speed = std::hypot(we, wn);
    const double sigma_u = 4.0 + 0.3 * speed;
    const double dt = h == 0 ? 0.5 : 1.0;  // positions at the middle of each hour
    cx -= dt * we;
    cy -= dt * wn;
    const double prob = touch_probability(age, t_hours);
    const double weight = hourly(age) / (static_cast<double>(np) * prob);
    for (auto& pt : parts) {
      if (!pt.alive) continue;
      pt.u = r_l * pt.u + r_s * sigma_u * rng.normal();
      pt.v = r_l * pt.v + r_s * sigma_u * rng.normal();
      pt.x -= dt * (pt.shear * we + pt.u);  // backwards in time: upwind
      pt.y -= dt * (pt.shear * wn + pt.v);
      const double fi = (st.lat + pt.y / kKmPerDeg - grid.lat0) / grid.res;
      const double fj = fi >= 0 && fi < static_cast<double>(grid.nlat)
                            ? (st.lon + pt.x * km_to_lon[static_cast<std::size_t>(fi)] - grid.lon0) / grid.res
                            : -1.0;
      if (!(fj >= 0 && fj < static_cast<double>(grid.nlon))) {
        pt.alive = false;  // left the domain: the model stops following it
        --alive;
        continue;
      }
      if (rng.uniform() >= prob) continue;  // above the surface layer during this hour
      const auto cell =
          static_cast<std::uint32_t>(static_cast<std::size_t>(fi) * grid.nlon + static_cast<std::size_t>(fj));
      buf.emplace_back(cell, weight);
    }
  }
  flush_slice(buf, grid.nlon, fp.slices[current]);
  std::reverse(fp.slices.begin(), fp.slices.end());
  return fp;
}

// ---- fluxes
// ------------------------------------------------------------------------------------------------------

// Land fraction of each cell from the bundled 0.25-degree land mask.
std::vector<double> land_fraction(const Grid& g) {
  constexpr double fine = 0.25;
  constexpr std::size_t fny = 720, fnx = 1440;
  const auto ocean = ocean_mask(fny, fnx);
  std::vector<double> land(g.nlat * g.nlon, 0.0), count(g.nlat * g.nlon, 0.0);
  for (std::size_t fj = 0; fj < fny; ++fj) {
    const double lat = -90.0 + (static_cast<double>(fj) + 0.5) * fine;
    const double fi = (lat - g.lat0) / g.res;
    if (fi < 0 || fi >= static_cast<double>(g.nlat)) continue;
    for (std::size_t fx = 0; fx < fnx; ++fx) {
      double lon = -180.0 + (static_cast<double>(fx) + 0.5) * fine;
      if (lon < g.lon0) lon += 360.0;
      const double fk = (lon - g.lon0) / g.res;
      if (fk < 0 || fk >= static_cast<double>(g.nlon)) continue;
      const std::size_t c = static_cast<std::size_t>(fi) * g.nlon + static_cast<std::size_t>(fk);
      count[c] += 1;
      land[c] += ocean[fj * fnx + fx] ? 0.0 : 1.0;
    }
  }
  for (std::size_t i = 0; i < g.nlat; ++i)
    for (std::size_t j = 0; j < g.nlon; ++j) {
      const std::size_t c = i * g.nlon + j;
      if (count[c] > 0) {
        land[c] /= count[c];
        continue;
      }
      // Finer than the mask: the nearest mask cell.
      const auto fj = static_cast<std::size_t>(std::clamp((g.lat(i) + 90.0) / fine, 0.0, fny - 1.0));
      double lon = g.lon(j);
      while (lon >= 180.0)
        lon -= 360.0;
      const auto fx = static_cast<std::size_t>(std::clamp((lon + 180.0) / fine, 0.0, fnx - 1.0));
      land[c] = ocean[fj * fnx + fx] ? 0.0 : 1.0;
    }
  return land;
}

struct City {
  double lat, lon, strength;  // umol m-2 s-1 at the centre of a 0.5-degree cell
};
// Large European emitters (rough strengths; a synthetic inventory, not EDGAR).
constexpr City kCities[] = {
    {51.51, -0.13, 9.0}, {48.86, 2.35, 8.0},  {51.45, 7.01, 7.0},  {52.52, 13.40, 5.0}, {40.42, -3.70, 6.0},
    {41.39, 2.17, 4.0},  {45.46, 9.19, 6.0},  {41.90, 12.50, 4.0}, {53.55, 9.99, 3.5},  {48.14, 11.58, 3.0},
    {48.21, 16.37, 3.0}, {50.08, 14.44, 3.0}, {52.23, 21.01, 4.0}, {47.50, 19.04, 3.0}, {50.85, 4.35, 4.0},
    {51.92, 4.48, 5.0},  {55.68, 12.57, 2.0}, {59.33, 18.07, 2.0}, {59.91, 10.75, 1.5}, {60.17, 24.94, 2.0},
    {38.72, -9.14, 2.5}, {37.98, 23.73, 3.0}, {41.01, 28.98, 7.0}, {50.45, 30.52, 4.0}, {53.90, 27.57, 2.5},
    {59.94, 30.31, 4.0}, {50.26, 19.02, 5.0}, {53.48, -2.24, 4.0}, {52.49, -1.89, 3.0}, {55.86, -4.25, 2.0},
    {53.35, -6.26, 2.0}, {45.76, 4.84, 2.5},  {43.30, 5.37, 2.5},  {45.07, 7.69, 2.5},  {44.43, 26.10, 3.0},
    {44.79, 20.45, 2.0}, {42.70, 23.32, 2.0}, {47.38, 8.54, 1.5},  {50.11, 8.68, 3.0},  {55.75, 37.62, 9.0},
};

struct FluxModel {
  Grid grid;
  std::vector<double> land, bio_texture, gpp_texture, fossil_base;

  FluxModel(const Grid& g, std::uint64_t seed) : grid(g), land(land_fraction(g)) {
    Rng r(seed, kStreamFlux);
    std::array<double, 8> ph{};
    for (auto& x : ph)
      x = r.uniform(0.0, 2.0 * kPi);
    const std::size_t n = g.nlat * g.nlon;
    bio_texture.resize(n);
    gpp_texture.resize(n);
    fossil_base.resize(n);
    for (std::size_t i = 0; i < g.nlat; ++i)
      for (std::size_t j = 0; j < g.nlon; ++j) {
        const std::size_t c = i * g.nlon + j;
        const double lat = g.lat(i), lon = g.lon(j);
        bio_texture[c] = 1.0 + 0.25 * std::sin(0.31 * lat + 0.17 * lon + ph[0]) *
                                   std::cos(0.13 * lat - 0.23 * lon + ph[1]);
        gpp_texture[c] =
            1.0 + 0.2 * std::sin(0.21 * lat - 0.29 * lon + ph[2]) * std::cos(0.37 * lat + 0.11 * lon + ph[3]);
        const double belt =
            std::exp(-((lat - 50.5) * (lat - 50.5) / (2 * 25.0) + (lon - 7.0) * (lon - 7.0) / (2 * 81.0)));
        double f = land[c] * (0.06 + 0.5 * belt) + (1.0 - land[c]) * 0.01;  // shipping over sea
        for (const City& city : kCities) {
          const double dy = (lat - city.lat) / 0.35, dx = (lon - city.lon) * std::cos(lat * kDeg) / 0.35;
          const double d2 = dx * dx + dy * dy;
          if (d2 < 16.0) f += city.strength * std::exp(-0.5 * d2);
        }
        fossil_base[c] = f;
      }
  }

  // Fills emis[nlat * nlon] of one category at time t (mid-step, seconds since 1970).
  void field(const std::string& category, std::int64_t t, double* emis) const {
    const double doy = day_of_year(t), hour = utc_hour(t);
    const double season = std::cos(2.0 * kPi * (doy - 20.0) / 365.25);  // +1 in late January
    const double decl = 23.44 * kDeg * std::sin(2.0 * kPi * (doy - 81.0) / 365.25);
    const std::int64_t day_number = (t >= 0 ? t / kDay : (t - kDay + 1) / kDay);
    const int dow =
        static_cast<int>(((day_number + 3) % 7 + 7) % 7);  // 0 = Monday (1970-01-01 was a Thursday)
    for (std::size_t i = 0; i < grid.nlat; ++i) {
      const double lat = grid.lat(i);
      for (std::size_t j = 0; j < grid.nlon; ++j) {
        const std::size_t c = i * grid.nlon + j;
        const double lon = grid.lon(j);
        double v = 0;
        if (category == "biosphere") {
          if (land[c] > 0) {
            const double hour_angle = 2.0 * kPi * (hour + lon / 15.0 - 12.0) / 24.0;
            const double sin_elev = std::sin(lat * kDeg) * std::sin(decl) +
                                    std::cos(lat * kDeg) * std::cos(decl) * std::cos(hour_angle);
            const double t_season = 12.0 - 0.5 * (lat - 45.0) - (7.0 + 0.15 * (lon + 15.0)) * season;
            const double temp = t_season + 3.0 * sin_elev;
            const double resp = 1.6 * bio_texture[c] * std::pow(2.0, (temp - 10.0) / 10.0);
            const double phen = 1.0 / (1.0 + std::exp(-(t_season - 6.0) / 2.5));
            const double light = sin_elev > 0 ? 1.25 * sin_elev / (sin_elev + 0.25) : 0.0;
            const double gpp = 14.0 * gpp_texture[c] * phen * light;
            v = land[c] * (resp - gpp);
          }
        } else if (category == "fossil") {
          const double local = std::fmod(hour + lon / 15.0 + 48.0, 24.0);
          const double diurnal = 1.0 + 0.35 * std::sin(2.0 * kPi * (local - 8.0) / 24.0);
          const double weekly = dow == 5 ? 0.85 : dow == 6 ? 0.75 : 1.0;
          v = fossil_base[c] * diurnal * weekly * (1.0 + 0.15 * season);
        } else {  // ocean: a weak sink, stronger in spring and at high latitudes
          v = -(1.0 - land[c]) * (0.04 + 0.02 * std::cos(2.0 * kPi * (doy - 100.0) / 365.25)) *
              (1.0 + 0.3 * (lat - 50.0) / 20.0);
        }
        emis[c] = v;
      }
    }
  }
};

// ---- HDF5 writing
// ------------------------------------------------------------------------------------------------

class H5Id {
 public:
  H5Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), close_(closer) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Silences HDF5's error printing while fluxkit reports its own errors; restores it after.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

struct ObsRecord {
  std::size_t station = 0;  // index into the station list
  std::int64_t time = 0;
  std::size_t file = 0;  // index into the file list
  transport::Footprint footprint;
  std::vector<double> foreground;  // per category, ppm
  double resp_sum = 0, resp_max = 0;
  std::uint64_t nonzeros = 0, empty = 0;
};

class Hdf5Writer {
 public:
  explicit Hdf5Writer(const fs::path& target) : target_(target), atomic_(target) {
    fcpl_ = H5Pcreate(H5P_FILE_CREATE);
    gcpl_ = H5Pcreate(H5P_GROUP_CREATE);
    dcpl_ = H5Pcreate(H5P_DATASET_CREATE);
    // No modification times: the same inputs give byte-identical files. Layout stays contiguous (the
    // default).
    check(fcpl_ >= 0 && gcpl_ >= 0 && dcpl_ >= 0 && H5Pset_obj_track_times(fcpl_, false) >= 0 &&
              H5Pset_obj_track_times(gcpl_, false) >= 0 && H5Pset_obj_track_times(dcpl_, false) >= 0,
          "", "cannot create property lists");
    file_ = H5Fcreate(atomic_.temp_path().c_str(), H5F_ACC_TRUNC, fcpl_, H5P_DEFAULT);
    check(file_ >= 0, "", "cannot create file");
  }
  ~Hdf5Writer() {
    if (file_ >= 0) H5Fclose(file_);
    for (hid_t p : {fcpl_, gcpl_, dcpl_})
      if (p >= 0) H5Pclose(p);
  }
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;

  void coordinates(const std::vector<double>& lats, const std::vector<double>& lons) {
    dataset(file_, "latitudes", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, lats.data(), lats.size(), "latitudes");
    dataset(file_, "longitudes", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, lons.data(), lons.size(), "longitudes");
  }

  // One observation group: the valid slices newest first, then one junk "start_end" group (the newest slice's
  // data under its name reversed, T1 < T2, as older footprint files contain).
  void observation(const transport::Footprint& fp) {
    H5Id group(H5Gcreate2(file_, fp.key.c_str(), H5P_DEFAULT, gcpl_, H5P_DEFAULT), H5Gclose);
    check(group.ok(), fp.key, "cannot create group");
    for (auto it = fp.slices.rbegin(); it != fp.slices.rend(); ++it)
      slice(group.get(), fp.key, stamp(it->end) + "_" + stamp(it->start), *it);
    const auto& newest = fp.slices.back();
    slice(group.get(), fp.key, stamp(newest.start) + "_" + stamp(newest.end), newest);
  }

  void commit() {
    check(H5Fclose(file_) >= 0, "", "cannot close file");
    file_ = -1;
    atomic_.commit();
  }

 private:
  void slice(hid_t parent, const std::string& key, const std::string& name,
             const transport::FootprintSlice& s) {
    const std::string where = key + "/" + name;
    H5Id group(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl_, H5P_DEFAULT), H5Gclose);
    check(group.ok(), where, "cannot create group");
    dataset(group.get(), "ilats", H5T_STD_I32LE, H5T_NATIVE_INT32, s.ilat.data(), s.ilat.size(), where);
    dataset(group.get(), "ilons", H5T_STD_I32LE, H5T_NATIVE_INT32, s.ilon.data(), s.ilon.size(), where);
    dataset(group.get(), "resp", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s.resp.data(), s.resp.size(), where);
  }

  void dataset(hid_t parent, const char* name, hid_t file_type, hid_t mem_type, const void* data,
               std::size_t n, const std::string& where) {
    const hsize_t dims[1] = {static_cast<hsize_t>(n)};
    H5Id space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    check(space.ok(), where, "cannot create dataspace");
    H5Id ds(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, dcpl_, H5P_DEFAULT), H5Dclose);
    check(ds.ok(), where + "/" + name, "cannot create dataset");
    if (n > 0)
      check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, where + "/" + name,
            "write failed");
  }

  void check(bool ok, const std::string& object, const std::string& problem) const {
    if (!ok) throw FileError(target_.string(), object, "HDF5: " + problem);
  }

  fs::path target_;
  AtomicFile atomic_;
  hid_t fcpl_ = -1, gcpl_ = -1, dcpl_ = -1, file_ = -1;
  QuietHdf5 quiet_;
};

std::string rc_text(const SynthFootprintParams& p, const Grid& g, std::int64_t flux_start,
                    std::int64_t flux_end, const fs::path& run_dir, std::uint64_t seed) {
  auto date = [](std::int64_t s) {
    const Civil c = civil_from_epoch(s);
    return c.hour == 0 ? fmt::format("{}, {}, {}", c.year, c.month, c.day)
                       : fmt::format("{}, {}, {}, {}", c.year, c.month, c.day, c.hour);
  };
  std::string t;
  t += "! LUMIA rc file of a synthetic transport case written by `fluxkit synth footprints` (seed " +
       std::to_string(seed) + ").\n";
  t += "! Run from this directory: fluxkit transport --forward --rc transport.rc --db observations.tar.gz "
       "--emis "
       "fluxes.nc\n";
  t += "! time.start/time.end = the flux file's period, so an adjoint has the flux file's time axis.\n\n";
  t += "! Flux categories (a single category needs the trailing comma)\n";
  t += fmt::format("emissions.categories : {}{}\n", fmt::join(p.categories, ", "),
                   p.categories.size() == 1 ? "," : "");
  t += fmt::format("emissions.*.interval : {}h\n", p.slice_hours);
  for (const auto& c : p.categories) {
    const bool opt = std::find(p.optimize.begin(), p.optimize.end(), c) != p.optimize.end();
    t += fmt::format("emissions.{}.optimize : {}\n", c, opt ? "T" : "F");
    t += fmt::format("emissions.{}.error : 25\n", c);
    t += fmt::format("emissions.{}.corr : 500-g\n", c);
    t += fmt::format("emissions.{}.tcorr : 1.0-e-monthly\n", c);
  }
  t += "optimization.interval : m\n\n";
  t += "! Period and grid of the fluxes\n";
  t += fmt::format("time.start : {}\n", date(flux_start));
  t += fmt::format("time.end : {}\n", date(flux_end));
  t += fmt::format("region : {}\n", p.region);
  const std::string r = "region." + p.region;
  t += fmt::format("{}.lat0 : {}\n", r, number_text(p.lat0));
  t += fmt::format("{}.lat1 : {}\n", r, number_text(p.lat1));
  t += fmt::format("{}.dlat : {}\n", r, number_text(p.resolution));
  t += fmt::format("{}.lon0 : {}\n", r, number_text(p.lon0));
  t += fmt::format("{}.lon1 : {}\n", r, number_text(p.lon1));
  t += fmt::format("{}.dlon : {}\n\n", r, number_text(p.resolution));
  t += fmt::format("! {} x {} cells of {} degrees\n", g.nlat, g.nlon, number_text(p.resolution));
  t += "! Parallel runs (without --serial): number of chunks and where their files go\n";
  t += "model.transport.split : 2\n";
  t += fmt::format("path.run : {}\n", run_dir.string());
  return t;
}

double background_ppm(const SynthStation& st, std::int64_t t) {
  const double doy = day_of_year(t);
  const double days = static_cast<double>(t) / static_cast<double>(kDay);
  return 408.0 + 0.0066 * (days - 17532.0)  // 2.4 ppm per year, 408 ppm on 2018-01-01
         + 3.0 * std::cos(2.0 * kPi * (doy - 110.0) / 365.25) + 0.05 * (st.lat - 50.0) +
         0.6 * std::sin(2.0 * kPi * days / 5.3 + 0.01 * st.lon);
}

double obs_error(const SynthStation& st) {
  return st.height >= 150 ? 1.5 : st.height >= 100 ? 2.0 : 2.5;
}

}  // namespace

// ---- public
// ------------------------------------------------------------------------------------------------------

SynthStation parse_station(std::string_view spec) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : spec) {
    if (ch == ':') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  parts.push_back(cur);
  if (parts.size() != 4 && parts.size() != 5)
    throw Error(fmt::format("station '{}': expected CODE:lat:lon:height[:alt]", spec));
  SynthStation st;
  st.code = parts[0];
  if (st.code.empty() || st.code.find_first_of("/\\. \t") != std::string::npos)
    throw Error(fmt::format("station '{}': the code must be non-empty, without '/', '.' or blanks", spec));
  auto number = [&](const std::string& text, const char* what) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v))
      throw Error(fmt::format("station '{}': {} '{}' is not a number", spec, what, text));
    return v;
  };
  st.lat = number(parts[1], "latitude");
  st.lon = number(parts[2], "longitude");
  st.height = number(parts[3], "height");
  st.alt = parts.size() == 5 ? number(parts[4], "altitude") : 0.0;
  if (st.lat < -90 || st.lat > 90) throw Error(fmt::format("station '{}': latitude outside -90..90", spec));
  if (!(st.height > 0) || st.height > 2000)
    throw Error(fmt::format("station '{}': height must be within (0, 2000] m", spec));
  static const std::map<std::string, std::string> names = {{"HTM", "Hyltemossa"},
                                                           {"NOR", "Norunda"},
                                                           {"PUI", "Puijo"},
                                                           {"SMR", "Hyytiala"},
                                                           {"OPE", "Observatoire perenne de l'environnement"},
                                                           {"CBW", "Cabauw"},
                                                           {"KRE", "Kresin u Pacova"},
                                                           {"HPB", "Hohenpeissenberg"},
                                                           {"PAL", "Pallas"},
                                                           {"LIN", "Lindenberg"},
                                                           {"TRN", "Trainou"},
                                                           {"GAT", "Gartow"},
                                                           {"JFJ", "Jungfraujoch"},
                                                           {"SAC", "Saclay"},
                                                           {"IPR", "Ispra"}};
  const auto it = names.find(st.code);
  st.name = it != names.end() ? it->second : st.code;
  return st;
}

std::string footprint_file_name(const SynthStation& station, int year, int month) {
  std::string code = station.code;
  for (auto& ch : code)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return fmt::format("{}.{}m.{:04d}-{:02d}.h5", code, number_text(station.height), year, month);
}

void SynthFootprintParams::validate() const {
  if (output_dir.empty()) config::invalid(kSection, "output_dir", "must not be empty");
  if (stations.empty()) config::invalid(kSection, "stations", "must name at least one station");
  if (!(resolution > 0) || resolution > 10)
    config::invalid(kSection, "resolution", fmt::format("must be within (0, 10], got {}", resolution));
  auto multiple = [&](double a, double b) {
    const double n = (b - a) / resolution;
    return n >= 1 && std::abs(n - std::round(n)) < 1e-6;
  };
  if (!(lat0 >= -90 && lat1 <= 90 && lat0 < lat1))
    config::invalid(kSection, "lat1", fmt::format("need -90 <= lat0 < lat1 <= 90, got {}..{}", lat0, lat1));
  if (!(lon0 >= -180 && lon1 <= 360 && lon0 < lon1 && lon1 - lon0 <= 360))
    config::invalid(kSection, "lon1", fmt::format("need -180 <= lon0 < lon1 <= 360, got {}..{}", lon0, lon1));
  if (!multiple(lat0, lat1))
    config::invalid(
        kSection, "resolution",
        fmt::format("lat1 - lat0 ({}) must be a multiple of the resolution {}", lat1 - lat0, resolution));
  if (!multiple(lon0, lon1))
    config::invalid(
        kSection, "resolution",
        fmt::format("lon1 - lon0 ({}) must be a multiple of the resolution {}", lon1 - lon0, resolution));
  std::set<std::string> codes;
  for (const auto& s : stations) {
    SynthStation st;
    try {
      st = parse_station(s);
    } catch (const Error& e) {
      config::invalid(kSection, "stations", e.what());
    }
    if (!(st.lat > lat0 && st.lat < lat1 && st.lon > lon0 && st.lon < lon1))
      config::invalid(
          kSection, "stations",
          fmt::format("station '{}' lies outside the grid {}..{} N, {}..{} E", s, lat0, lat1, lon0, lon1));
    std::string lower = st.code;
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!codes.insert(lower).second)
      config::invalid(kSection, "stations", fmt::format("station code '{}' appears twice", st.code));
  }
  try {
    parse_date(start);
  } catch (const Error& e) {
    config::invalid(kSection, "start", e.what());
  }
  if (days < 1 || days > 3660)
    config::invalid(kSection, "days", fmt::format("must be within 1..3660, got {}", days));
  if (hours != "daytime" && hours != "all")
    config::invalid(kSection, "hours", fmt::format("expected 'daytime' or 'all', got '{}'", hours));
  if (slice_hours < 1 || slice_hours > 24 || 24 % slice_hours != 0)
    config::invalid(kSection, "slice_hours", fmt::format("must divide 24, got {}", slice_hours));
  if (min_back_days < 1 || min_back_days > 60)
    config::invalid(kSection, "min_back_days", fmt::format("must be within 1..60, got {}", min_back_days));
  if (max_back_days < min_back_days || max_back_days > 60)
    config::invalid(
        kSection, "max_back_days",
        fmt::format("must be within min_back_days ({})..60, got {}", min_back_days, max_back_days));
  if (particles < 1 || particles > 100000)
    config::invalid(kSection, "particles", fmt::format("must be within 1..100000, got {}", particles));
  if (categories.empty()) config::invalid(kSection, "categories", "must name at least one category");
  std::set<std::string> seen;
  for (const auto& c : categories) {
    if (!known_categories().contains(c))
      config::invalid(
          kSection, "categories",
          fmt::format("unknown category '{}' (known: {})", c, fmt::join(known_categories(), ", ")));
    if (!seen.insert(c).second) config::invalid(kSection, "categories", fmt::format("'{}' appears twice", c));
  }
  for (const auto& c : optimize)
    if (!seen.contains(c))
      config::invalid(kSection, "optimize",
                      fmt::format("'{}' is not one of the categories ({})", c, fmt::join(categories, ", ")));
  if (region.empty() || region.find_first_of(" \t:!.") != std::string::npos)
    config::invalid(kSection, "region", fmt::format("'{}' is not a valid rc region name", region));
  const auto per_day = static_cast<std::int64_t>(observation_hours(*this).size() * stations.size());
  if (observations < 1)
    config::invalid(kSection, "observations", fmt::format("must be >= 1, got {}", observations));
  if (observations > days * per_day)
    config::invalid(
        kSection, "observations",
        fmt::format("{} observations need {} days at {} per day ({} stations x {} hours '{}'), but days "
                    "= {}: raise days, add stations or use hours = \"all\"",
                    observations, (observations + per_day - 1) / per_day, per_day, stations.size(),
                    per_day / static_cast<std::int64_t>(stations.size()), hours, days));
  const double nt = static_cast<double>((days + max_back_days) * 24 / slice_hours);
  const double values = nt * ((lat1 - lat0) / resolution) * ((lon1 - lon0) / resolution) *
                        static_cast<double>(categories.size());
  if (values > 1.0e9)
    config::invalid(
        kSection, "days",
        fmt::format("the flux file would hold {:.3g} values (> 1e9, 8 GB): fewer days, categories or "
                    "a coarser grid",
                    values));
}

transport::Footprint make_footprint(const SynthFootprintParams& params, const SynthStation& station,
                                    std::int64_t obs_time, std::uint64_t seed) {
  return make_footprint_impl(params, make_grid(params), Weather(seed), station, obs_time, seed);
}

SynthFootprintSummary generate_footprints(const SynthFootprintParams& p, const Context& ctx) {
  p.validate();
  const Grid grid = make_grid(p);
  const Weather weather(ctx.seed);
  const std::int64_t start = parse_date(p.start);
  const std::int64_t S = p.slice_hours * kHour;

  // Stations sorted by code: the obsdb is ordered by site, then time (as real databases are).
  std::vector<SynthStation> stations;
  for (const auto& s : p.stations)
    stations.push_back(parse_station(s));
  std::vector<SynthStation> sorted = stations;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.code < b.code; });

  // Observations: day by day, hour by hour, stations round-robin (in the given order) until the count is
  // reached.
  const auto hours = observation_hours(p);
  const auto total = static_cast<std::size_t>(p.observations);
  std::vector<ObsRecord> obs;
  obs.reserve(total);
  for (std::int64_t d = 0; obs.size() < total; ++d)
    for (int h : hours) {
      for (std::size_t s = 0; s < stations.size() && obs.size() < total; ++s) {
        ObsRecord r;
        r.station =
            static_cast<std::size_t>(std::find_if(sorted.begin(), sorted.end(),
                                                  [&](const auto& x) { return x.code == stations[s].code; }) -
                                     sorted.begin());
        r.time = start + d * kDay + h * kHour;
        obs.push_back(std::move(r));
      }
      if (obs.size() >= total) break;
    }
  std::sort(obs.begin(), obs.end(), [](const ObsRecord& a, const ObsRecord& b) {
    return std::tie(a.station, a.time) < std::tie(b.station, b.time);
  });
  const std::size_t per_day = hours.size() * stations.size();
  const std::size_t days_used = (total + per_day - 1) / per_day;

  // Files: one per station and month of the observation time.
  const fs::path out_dir = fs::absolute(fs::path(p.output_dir)).lexically_normal();
  const fs::path fp_dir = out_dir / "footprints";
  std::vector<fs::path> files;
  std::vector<std::vector<std::size_t>> file_obs;
  {
    std::map<std::pair<std::size_t, int>, std::size_t> index;
    for (std::size_t o = 0; o < obs.size(); ++o) {
      const Civil c = civil_from_epoch(obs[o].time);
      const auto key = std::make_pair(obs[o].station, c.year * 100 + c.month);
      auto it = index.find(key);
      if (it == index.end()) {
        it = index.emplace(key, files.size()).first;
        files.push_back(fp_dir / footprint_file_name(sorted[obs[o].station], c.year, c.month));
        file_obs.emplace_back();
      }
      obs[o].file = it->second;
      file_obs[it->second].push_back(o);
    }
  }

  // Fluxes: [start - max_back_days, start + days) in slice steps, so every footprint lies inside.
  const std::int64_t flux_start = start - p.max_back_days * kDay, flux_end = start + p.days * kDay;
  const auto nt = static_cast<std::size_t>((flux_end - flux_start) / S);
  const std::size_t ncell = grid.nlat * grid.nlon;
  spdlog::info(
      "synth footprints: {} observations at {} stations over {} days, {} files; fluxes {} x {} x {} x {} "
      "steps",
      total, stations.size(), days_used, files.size(), p.categories.size(), grid.nlat, grid.nlon, nt);
  transport::FluxFile flux;
  {
    const FluxModel model(grid, ctx.seed);
    std::vector<float> lats(grid.nlat), lons(grid.nlon);
    for (std::size_t i = 0; i < grid.nlat; ++i)
      lats[i] = static_cast<float>(grid.lat(i));
    for (std::size_t j = 0; j < grid.nlon; ++j)
      lons[j] = static_cast<float>(grid.lon(j));
    std::vector<double> area(ncell);
    constexpr double kEarthRadius = 6371000.0;
    for (std::size_t i = 0; i < grid.nlat; ++i) {
      const double south = (grid.lat0 + static_cast<double>(i) * grid.res) * kDeg;
      const double a = kEarthRadius * kEarthRadius * grid.res * kDeg *
                       (std::sin(south + grid.res * kDeg) - std::sin(south));
      std::fill_n(area.begin() + static_cast<std::ptrdiff_t>(i * grid.nlon), grid.nlon, a);
    }
    std::vector<transport::TimeStamp> ts(nt), te(nt);
    for (std::size_t k = 0; k < nt; ++k) {
      ts[k] = time_stamp(flux_start + static_cast<std::int64_t>(k) * S);
      te[k] = time_stamp(flux_start + static_cast<std::int64_t>(k + 1) * S);
    }
    for (const auto& name : p.categories) {
      transport::FluxCategory c;
      c.name = name;
      c.nt = nt;
      c.nlat = grid.nlat;
      c.nlon = grid.nlon;
      c.emis.resize(nt * ncell);
      c.times_start = ts;
      c.times_end = te;
      c.lats = lats;
      c.lons = lons;
      c.area_m2 = area;
      parallel_for(ctx, nt, [&](std::size_t b, std::size_t e) {
        for (std::size_t k = b; k < e; ++k)
          model.field(name, flux_start + static_cast<std::int64_t>(k) * S + S / 2, c.emis.data() + k * ncell);
      });
      flux.categories.push_back(std::move(c));
    }
  }

  // Footprints, file by file: the next file is computed (on ctx.threads) while this one is written (HDF5 is
  // serial). The exact forward model of the written fluxes gives each observation's foreground.
  std::vector<double> lat_centres(grid.nlat), lon_centres(grid.nlon);
  for (std::size_t i = 0; i < grid.nlat; ++i)
    lat_centres[i] = grid.lat(i);
  for (std::size_t j = 0; j < grid.nlon; ++j)
    lon_centres[j] = grid.lon(j);
  auto compute = [&](std::size_t f) {
    const auto& members = file_obs[f];
    parallel_for(ctx, members.size(), [&](std::size_t b, std::size_t e) {
      for (std::size_t m = b; m < e; ++m) {
        ObsRecord& r = obs[members[m]];
        r.footprint = make_footprint_impl(p, grid, weather, sorted[r.station], r.time, ctx.seed);
        r.foreground.assign(flux.categories.size(), 0.0);
        for (const auto& s : r.footprint.slices) {
          if (s.resp.empty()) {
            ++r.empty;
            continue;
          }
          const auto k = static_cast<std::size_t>((s.start - flux_start) / S);
          for (std::size_t c = 0; c < flux.categories.size(); ++c) {
            const double* field = flux.categories[c].emis.data() + k * ncell;
            double sum = 0;
            for (std::size_t n = 0; n < s.resp.size(); ++n)
              sum += static_cast<double>(s.resp[n]) * field[static_cast<std::size_t>(s.ilat[n]) * grid.nlon +
                                                            static_cast<std::size_t>(s.ilon[n])];
            r.foreground[c] += sum;
          }
          for (float v : s.resp) {
            r.resp_sum += v;
            r.resp_max = std::max(r.resp_max, static_cast<double>(v));
          }
          r.nonzeros += s.resp.size();
        }
      }
    });
  };

  SynthFootprintSummary sum;
  sum.observations = total;
  sum.days_used = days_used;
  sum.nlat = grid.nlat;
  sum.nlon = grid.nlon;
  sum.nt = nt;
  sum.flux_start = flux_start;
  sum.flux_end = flux_end;
  sum.footprint_files = files;
  sum.resp_sum_min = std::numeric_limits<double>::infinity();
  {
    Progress progress("footprints", total, "obs");
    std::future<void> next = std::async(std::launch::async, compute, 0);
    for (std::size_t f = 0; f < files.size(); ++f) {
      next.get();
      if (f + 1 < files.size()) next = std::async(std::launch::async, compute, f + 1);
      Hdf5Writer w(files[f]);
      w.coordinates(lat_centres, lon_centres);
      for (std::size_t o : file_obs[f]) {
        ObsRecord& r = obs[o];
        w.observation(r.footprint);
        sum.slices += r.footprint.slices.size();
        sum.empty_slices += r.empty;
        sum.nonzeros += r.nonzeros;
        sum.resp_sum_min = std::min(sum.resp_sum_min, r.resp_sum);
        sum.resp_sum_max = std::max(sum.resp_sum_max, r.resp_sum);
        sum.resp_sum_mean += r.resp_sum;
        sum.resp_max = std::max(sum.resp_max, r.resp_max);
        r.footprint = {};  // release the memory
      }
      w.commit();
      sum.footprint_bytes += fs::file_size(files[f]);
      progress.advance(file_obs[f].size());
    }
  }
  sum.resp_sum_mean /= static_cast<double>(total);

  // The flux file.
  sum.flux_file = out_dir / "fluxes.nc";
  flux.write(sum.flux_file);
  flux = {};

  // The obsdb: observations by site and time, truth = background + foreground (exact), obs = truth + noise.
  transport::ObsDb db;
  db.observations.columns = {"time", "site", "lat",        "lon", "alt",       "height",
                             "obs",  "err",  "background", "dy",  "footprint", "truth"};
  for (std::size_t o = 0; o < obs.size(); ++o) {
    const ObsRecord& r = obs[o];
    const SynthStation& st = sorted[r.station];
    Rng rng(ctx.seed, observation_stream(st, r.time) ^ 0x4e4f495345ULL);
    const double bg = background_ppm(st, r.time);
    double fg = 0;
    for (double v : r.foreground)
      fg += v;
    const double truth = bg + fg, err = obs_error(st);
    const double value = truth + err * rng.normal();
    db.observations.index.push_back(std::to_string(o));
    db.observations.rows.push_back({stamp(r.time), st.code, transport::format_number(st.lat),
                                    transport::format_number(st.lon), transport::format_number(st.alt),
                                    transport::format_number(st.height), transport::format_number(value),
                                    transport::format_number(err), transport::format_number(bg),
                                    transport::format_number((truth - value) / (err * err)),
                                    files[r.file].string(), transport::format_number(truth)});
  }
  db.sites.columns = {"lat", "lon", "alt", "height", "code", "name"};
  for (const auto& st : sorted) {
    db.sites.index.push_back(st.code);
    db.sites.rows.push_back({transport::format_number(st.lat), transport::format_number(st.lon),
                             transport::format_number(st.alt), transport::format_number(st.height), st.code,
                             st.name});
  }
  db.files.columns = {"filename"};
  sum.obsdb = out_dir / "observations.tar.gz";
  db.write(sum.obsdb);

  // The rc file, and the run directory it names.
  const fs::path run_dir = out_dir / "run";
  fs::create_directories(run_dir);
  if (run_dir.string().find("obs") != std::string::npos)
    spdlog::warn("path.run '{}' contains 'obs': LUMIA's parallel adjoint would mangle its chunk names",
                 run_dir.string());
  sum.rc_file = out_dir / "transport.rc";
  write_text_atomic(sum.rc_file, rc_text(p, grid, flux_start, flux_end, run_dir, ctx.seed));
  return sum;
}

}  // namespace fluxkit::synth

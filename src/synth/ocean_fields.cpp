#include "synth/ocean_fields.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/parallel.hpp"
#include "synth/landmask.hpp"

namespace fluxkit::synth {

const std::array<VariableInfo, kNumDrivers> kDriverInfo = {{
    {"SST", "sea surface temperature", "degC", "sea_surface_temperature"},
    {"SAL", "sea surface salinity", "1e-3", "sea_surface_salinity"},
    {"ice_frac", "sea-ice area fraction", "1", "sea_ice_area_fraction"},
    {"mixed_layer_depth", "mixed-layer depth", "m", "ocean_mixed_layer_thickness"},
    {"heat_flux_down", "net downward surface heat flux", "W m-2", "surface_downward_heat_flux_in_sea_water"},
    {"water_flux_up", "net upward fresh-water flux (evaporation - precipitation - runoff)", "kg m-2 s-1", ""},
    {"stress_X", "surface wind stress along the grid x axis", "N m-2", "surface_downward_x_stress"},
    {"stress_Y", "surface wind stress along the grid y axis", "N m-2", "surface_downward_y_stress"},
    {"currents_X", "surface current along the grid x axis", "m s-1", "sea_water_x_velocity"},
    {"currents_Y", "surface current along the grid y axis", "m s-1", "sea_water_y_velocity"},
}};
const VariableInfo kTargetInfo = {"co2flux_pre", "air-sea CO2 flux of the preformed (natural) carbon tracer",
                                  "mol m-2 yr-1", "surface_downward_mole_flux_of_carbon_dioxide"};

double TargetTruth::flux(std::span<const float, kNumDrivers> now, float heat_flux_down_t1, float mld_t2,
                         float mld_t3) {
  const double stress = std::hypot(static_cast<double>(now[kStressX]), static_cast<double>(now[kStressY]));
  const double k = kK0 + kK1 * stress;
  const double chemistry = kSol * (kTref - now[kSST]) + kAlk * (now[kSAL] - kSref);
  const double entrain = std::max(0.0, static_cast<double>(mld_t2) - static_cast<double>(mld_t3));
  return (1.0 - now[kIceFrac]) * (k * chemistry - kHeat * heat_flux_down_t1 - kEntrain * entrain);
}

namespace {

constexpr double kEarthRadius = 6371000.0;  // m
constexpr double kDeg = std::numbers::pi / 180.0;

double gauss(double x, double centre, double width) {
  const double z = (x - centre) / width;
  return std::exp(-z * z);
}

// Smooth 0 -> 1 between a and b.
double smoothstep(double a, double b, double x) {
  const double t = std::clamp((x - a) / (b - a), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// Longitude distance in degrees, wrapped to [-180, 180).
double dlon(double lon, double centre) {
  return std::remainder(lon - centre, 360.0);
}

bool in_atlantic(double lat, double lon) {
  return lat > -35 && lon > -80 + 0.3 * std::max(0.0, lat - 10) && lon < 20;
}

}  // namespace

SynthGrid make_grid(double resolution, bool orca) {
  const double nxf = 360.0 / resolution, nyf = 180.0 / resolution;
  if (!(resolution > 0) || std::abs(nxf - std::round(nxf)) > 1e-9 || std::abs(nyf - std::round(nyf)) > 1e-9)
    throw Error(fmt::format("resolution {} does not divide 360 and 180 degrees", resolution));
  const auto nx = static_cast<std::size_t>(std::llround(nxf)),
             ny = static_cast<std::size_t>(std::llround(nyf));
  const std::vector<std::uint8_t> ocean = ocean_mask(ny, nx);

  SynthGrid g;
  g.orca = orca;
  // ORCA layout: column 0 repeats the last interior column, column nx+1 the first (cyclic east-west halo);
  // row ny repeats row ny-1 mirrored in x (the north fold). The interior is the regular grid.
  g.nx = orca ? nx + 2 : nx;
  g.ny = orca ? ny + 1 : ny;
  const std::size_t n = g.nx * g.ny;
  g.lat.resize(n);
  g.lon.resize(n);
  g.e1t.resize(n);
  g.e2t.resize(n);
  g.tmask.resize(n);
  g.source.resize(n);
  auto interior_x = [&](std::size_t x) -> std::size_t {
    if (!orca) return x;
    if (x == 0) return nx - 1;
    if (x == nx + 1) return 0;
    return x - 1;
  };
  for (std::size_t y = 0; y < g.ny; ++y) {
    for (std::size_t x = 0; x < g.nx; ++x) {
      std::size_t sy = y, sx = x;
      if (orca && y == ny) sy = ny - 1, sx = g.nx - 1 - x;  // north fold
      const std::size_t iy = sy, ix = interior_x(sx);
      const std::size_t k = y * g.nx + x;
      g.lat[k] = -90.0 + (static_cast<double>(iy) + 0.5) * resolution;
      g.lon[k] = -180.0 + (static_cast<double>(ix) + 0.5) * resolution;
      g.e1t[k] = kEarthRadius * std::cos(g.lat[k] * kDeg) * resolution * kDeg;
      g.e2t[k] = kEarthRadius * resolution * kDeg;
      g.tmask[k] = ocean[iy * nx + ix];
      // The cell whose values this one repeats, in the written layout.
      const std::size_t src_x = orca ? ix + 1 : ix;
      g.source[k] = static_cast<std::int32_t>(iy * g.nx + src_x);
    }
  }
  for (std::size_t k = 0; k < n; ++k)
    if (g.tmask[k] && g.source[k] == static_cast<std::int32_t>(k))
      g.compute.push_back(static_cast<std::int32_t>(k));
  return g;
}

OceanModel::OceanModel(const SynthGrid& grid, const ExperimentSpec& experiment, std::uint64_t seed,
                       int first_month_index, int last_month_index)
    : seed_(seed), experiment_(experiment), first_month_(first_month_index), nx_(grid.nx), ny_(grid.ny) {
  // ---- static climatology of every compute cell ----
  climate_.reserve(grid.compute.size());
  cell_id_.reserve(grid.compute.size());
  for (std::int32_t k : grid.compute) {
    const double lat = grid.lat[static_cast<std::size_t>(k)], lon = grid.lon[static_cast<std::size_t>(k)];
    const double alat = std::abs(lat);
    const double c = std::cos(lat * kDeg);
    Climate cl{};
    cl.lat = static_cast<float>(lat);
    cl.hemisphere = static_cast<float>(std::tanh(lat / 8.0));
    // SST: warm tropics, warm pool, cold tongue, North Atlantic drift; below -1.8 means ice-forming cold.
    double sst = -4.0 + 32.0 * std::pow(c, 2.2) + 1.5 * gauss(dlon(lon, 150), 0, 40) * gauss(lat, 0, 15) -
                 3.0 * gauss(dlon(lon, -100), 0, 30) * gauss(lat, 0, 5);
    if (in_atlantic(lat, lon)) sst += 3.0 * gauss(lat, 58, 12);
    cl.sst_mean = static_cast<float>(sst);
    cl.sst_amp = static_cast<float>((0.5 + 4.5 * gauss(alat, 40, 15) + 2.5 * gauss(alat, 70, 8)) *
                                    (lat > 0 ? 1.15 : 0.85));
    // Salinity: subtropical maxima, fresh ITCZ, salty Atlantic, fresh Arctic.
    double sal = 34.2 + 1.6 * gauss(alat, 22, 10) - 0.6 * gauss(lat, 6, 6) - 2.5 * smoothstep(65, 85, lat);
    if (in_atlantic(lat, lon)) sal += 0.6;
    cl.sal_mean = static_cast<float>(sal);
    // Heat flux: tropical gain, mid-latitude loss, strong seasonal cycle away from the equator.
    cl.heat_mean = static_cast<float>(40.0 * gauss(lat, 0, 15) - 30.0 * gauss(alat, 42, 10));
    cl.heat_amp = static_cast<float>(20.0 + 110.0 * (1.0 - gauss(lat, 0, 25)));
    // Mixed layer: shallow tropics, deep winter convection in the subpolar North Atlantic and Southern Ocean.
    cl.mld_base = static_cast<float>(25.0 + 25.0 * (1.0 - gauss(lat, 0, 30)));
    double deep = 100.0 * (1.0 - gauss(lat, 0, 30));
    if (in_atlantic(lat, lon)) deep += 500.0 * gauss(lat, 60, 6);
    deep += 250.0 * gauss(lat, -58, 6);
    cl.mld_deep = static_cast<float>(deep);
    // Zonal wind stress: trades, westerlies (experiment-dependent strength and position), polar easterlies.
    const double shift = experiment_.westerly_shift;
    cl.trade_x = static_cast<float>(-0.07 * gauss(alat, 15, 9));
    cl.west_x = static_cast<float>(experiment_.westerly_scale *
                                   (0.12 * gauss(lat, 45 + shift, 10) + 0.18 * gauss(lat, -50 - shift, 9)));
    cl.polar_x = static_cast<float>(-0.03 * gauss(alat, 70, 6));
    // Zonal currents: South Equatorial Current, North Equatorial Countercurrent, Antarctic Circumpolar
    // Current.
    cl.current_x =
        static_cast<float>(-0.25 * gauss(lat, 0, 3) + 0.2 * gauss(lat, 6, 2) + 0.15 * gauss(lat, -52, 8));
    climate_.push_back(cl);
    cell_id_.push_back(k);
    // Noise is keyed by the location's index on the regular grid, so both layouts hold the same values.
    const std::int32_t nxi = static_cast<std::int32_t>(grid.orca ? grid.nx - 2 : grid.nx);
    const std::int32_t y = k / static_cast<std::int32_t>(grid.nx), x = k % static_cast<std::int32_t>(grid.nx);
    noise_key_.push_back(static_cast<std::uint64_t>(y) * static_cast<std::uint64_t>(nxi) +
                         static_cast<std::uint64_t>(grid.orca ? x - 1 : x));
  }

  // ---- anomaly modes: smooth, periodic in longitude ----
  mode_lon_.resize(static_cast<std::size_t>(kNumAnomalies) * kModes * nx_);
  mode_lat_.resize(static_cast<std::size_t>(kNumAnomalies) * kModes * ny_);
  for (int f = 0; f < kNumAnomalies; ++f) {
    for (int m = 0; m < kModes; ++m) {
      const std::uint64_t stream = 1000 + static_cast<std::uint64_t>(f * kModes + m);
      const double wave_x =
          1.0 + std::floor(4.0 * random_uniform(seed_, stream, 0));  // 1..4 waves round the globe
      const double wave_y = 1.0 + 3.0 * random_uniform(seed_, stream, 1);
      const double phase_x = 2 * std::numbers::pi * random_uniform(seed_, stream, 2);
      const double phase_y = 2 * std::numbers::pi * random_uniform(seed_, stream, 3);
      const std::size_t base = static_cast<std::size_t>(f * kModes + m);
      for (std::size_t x = 0; x < nx_; ++x) {
        // Longitudes of the interior column this written column repeats (halo columns repeat interior ones).
        const double lon = grid.lon[x];
        mode_lon_[base * nx_ + x] = static_cast<float>(std::cos(wave_x * lon * kDeg + phase_x));
      }
      for (std::size_t y = 0; y < ny_; ++y) {
        const double lat = grid.lat[y * nx_];
        mode_lat_[base * ny_ + y] = static_cast<float>(std::cos(wave_y * lat * kDeg + phase_y));
      }
    }
  }

  // ---- AR(1) time coefficients, started at a fixed epoch so a month's value never depends on the range ----
  constexpr int kEpoch = 1750 * 12;
  if (first_month_index < kEpoch + 12) throw Error("synthetic ocean years must be after 1750");
  const int months = last_month_index - first_month_index + 1;
  coef_.assign(static_cast<std::size_t>(kNumAnomalies) * static_cast<std::size_t>(months) * kModes, 0.0);
  constexpr double rho = 0.9;  // monthly persistence: interannual, ENSO-like memory
  const double innovation = std::sqrt(1 - rho * rho);
  const double scale = 1.0 / std::sqrt(kModes / 4.0);  // unit variance of the summed field
  for (int f = 0; f < kNumAnomalies; ++f) {
    for (int m = 0; m < kModes; ++m) {
      const std::uint64_t stream = 2000 + static_cast<std::uint64_t>(f * kModes + m);
      double state = 0;
      for (int t = kEpoch; t <= last_month_index; ++t) {
        state = rho * state + innovation * random_normal(seed_, stream, static_cast<std::uint64_t>(t));
        if (t >= first_month_index)
          coef_[(static_cast<std::size_t>(f) * static_cast<std::size_t>(months) +
                 static_cast<std::size_t>(t - first_month_index)) *
                    kModes +
                static_cast<std::size_t>(m)] = state * scale;
      }
    }
  }
}

double OceanModel::anomaly(int field, int month_index, std::size_t c) const {
  const std::size_t months = coef_.size() / (static_cast<std::size_t>(kNumAnomalies) * kModes);
  const std::size_t t = static_cast<std::size_t>(month_index - first_month_);
  const double* coef = &coef_[(static_cast<std::size_t>(field) * months + t) * kModes];
  const std::size_t k = static_cast<std::size_t>(cell_id_[c]);
  const std::size_t x = k % nx_, y = k / nx_;
  double v = 0;
  for (int m = 0; m < kModes; ++m) {
    const std::size_t base = static_cast<std::size_t>(field * kModes + m);
    v += coef[m] * mode_lon_[base * nx_ + x] * mode_lat_[base * ny_ + y];
  }
  return v;
}

double OceanModel::noise(int month_index, std::size_t c) const {
  return random_normal(seed_, 3000, static_cast<std::uint64_t>(month_index) * 0x100000000ULL + noise_key_[c]);
}

void OceanModel::drivers(int month_index, std::span<float> out, const Context& ctx) const {
  const std::size_t n = size();
  if (out.size() != n * kNumDrivers) throw Error("OceanModel::drivers: output size mismatch");
  if (month_index < first_month_ ||
      static_cast<std::size_t>(month_index - first_month_) >= coef_.size() / (kNumAnomalies * kModes))
    throw Error(fmt::format("OceanModel::drivers: month {} outside the prepared range", month_index));
  const int year = month_index / 12;
  const double tau = ((month_index % 12) + 0.5) / 12.0;  // fraction of the year at mid-month
  const double two_pi = 2 * std::numbers::pi;
  // Northern-hemisphere phases (the hemisphere factor flips them south of the equator): SST peaks in
  // mid-August, heat gain two months earlier, winds in January; the mixed layer deepens after the heat loss.
  const double sst_season = std::cos(two_pi * (tau - 0.62));
  const double heat_season = std::cos(two_pi * (tau - 0.45));
  const double heat_season_prev = std::cos(two_pi * (tau - 1.0 / 12.0 - 0.45));
  const double wind_season = std::cos(two_pi * (tau - 0.04));
  const double sal_season = std::cos(two_pi * (tau - 0.2));
  const double itcz = 6.0 + 5.0 * std::cos(two_pi * (tau - 0.6));  // ITCZ latitude, degrees north
  const double warming = 0.012 * (year - 1958);                    // degC, the trend

  parallel_for(ctx, n, [&](std::size_t begin, std::size_t end) {
    for (std::size_t c = begin; c < end; ++c) {
      const Climate& cl = climate_[c];
      const double h = cl.hemisphere;
      const double a_t = anomaly(kAnomT, month_index, c), a_u = anomaly(kAnomU, month_index, c),
                   a_v = anomaly(kAnomV, month_index, c), a_s = anomaly(kAnomS, month_index, c),
                   a_m = anomaly(kAnomM, month_index, c);
      const double lat = cl.lat;
      const double anomaly_amp = 0.3 + 0.7 * gauss(lat, 0, 12) + 0.4 * gauss(std::abs(lat), 45, 15);

      const double raw_sst = cl.sst_mean + cl.sst_amp * h * sst_season + anomaly_amp * a_t + warming;
      const double ice = std::clamp((-1.2 - raw_sst) / 1.5, 0.0, 1.0);
      const double sst = std::max(raw_sst, -1.8);
      const double sal = cl.sal_mean + 0.15 * h * sal_season + 0.25 * a_s + 0.4 * ice;
      const double heat =
          (cl.heat_mean + cl.heat_amp * h * heat_season - 15.0 * anomaly_amp * a_t + 8.0 * a_u) *
          (1.0 - 0.7 * ice);
      // Deepening follows last month's heat loss (seasonal part), modulated by a slow anomaly.
      const double cooling = std::max(0.0, -h * heat_season_prev);
      const double mld = (cl.mld_base + cl.mld_deep * std::pow(cooling, 1.5)) * std::exp(0.25 * a_m);
      const double ep_mm_day = 2.5 * gauss(std::abs(lat), 22, 9) - 3.0 * gauss(lat, itcz, 5) -
                               1.0 * gauss(std::abs(lat), 50, 10) + 0.5 * a_s;
      const double water = ep_mm_day / 86400.0 * (1.0 - ice);  // 1 mm/day = 1/86400 kg m-2 s-1
      const double wind_cycle = 1.0 + 0.3 * h * wind_season;
      const double stress_x =
          (cl.trade_x + cl.west_x + cl.polar_x) * wind_cycle + 0.03 * experiment_.stress_anomaly_scale * a_u;
      const double stress_y =
          0.02 * std::sin(2 * lat * kDeg) * wind_cycle + 0.02 * experiment_.stress_anomaly_scale * a_v;
      const double cur_x = cl.current_x + 0.4 * stress_x + 0.05 * a_u;
      const double cur_y = 0.3 * stress_y + 0.03 * a_v - 0.02 * std::sin(lat * kDeg) * a_t;

      const double values[kNumDrivers] = {sst, sal, ice, mld, heat, water, stress_x, stress_y, cur_x, cur_y};
      for (int d = 0; d < kNumDrivers; ++d)
        out[static_cast<std::size_t>(d) * n + c] = static_cast<float>(values[d]);
    }
  });
}

}  // namespace fluxkit::synth

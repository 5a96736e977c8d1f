// The physics of the synthetic ocean: grids, driver climatologies and anomalies, and the target function.
// Everything is a pure function of (seed, experiment, cell, month), so any year can be generated alone, in
// any order and on any number of threads, with identical results.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit::synth {

enum Driver : int {
  kSST,
  kSAL,
  kIceFrac,
  kMixedLayerDepth,
  kHeatFluxDown,
  kWaterFluxUp,
  kStressX,
  kStressY,
  kCurrentsX,
  kCurrentsY,
  kNumDrivers
};

struct VariableInfo {
  const char* name;
  const char* long_name;
  const char* units;
  const char* standard_name;  // "" where CF has none
};
extern const std::array<VariableInfo, kNumDrivers> kDriverInfo;
extern const VariableInfo kTargetInfo;

// Ground truth of co2flux_pre (mol m-2 yr-1, positive into the ocean), with d(t) the drivers of month t:
//   k(t) = kK0 + kK1 * sqrt(stress_X(t)^2 + stress_Y(t)^2)
//   F(t) = (1 - ice_frac(t)) * ( k(t) * [kSol * (kTref - SST(t)) + kAlk * (SAL(t) - kSref)]
//                                - kHeat * heat_flux_down(t-1)
//                                - kEntrain * max(0, mixed_layer_depth(t-2) - mixed_layer_depth(t-3)) )
//          + noise,  noise ~ N(0, noise_std^2), independent per cell and month.
struct TargetTruth {
  static constexpr double kK0 = 0.25, kK1 = 6.0;    // gas-transfer factor, per N m-2
  static constexpr double kSol = 0.12, kTref = 18;  // solubility term, per degC; reference SST, degC
  static constexpr double kAlk = 0.15, kSref = 35;  // salinity (alkalinity) term, per psu; reference, psu
  static constexpr double kHeat = 0.004;            // per W m-2 of the previous month's heat gain
  static constexpr double kEntrain = 0.006;         // per metre of mixed-layer deepening two months earlier
  static constexpr const char* kFormula =
      "co2flux_pre(t) = (1 - ice_frac(t)) * ((0.25 + 6.0*sqrt(stress_X(t)^2 + stress_Y(t)^2)) * "
      "(0.12*(18 - SST(t)) + 0.15*(SAL(t) - 35)) - 0.004*heat_flux_down(t-1) - 0.006*max(0, "
      "mixed_layer_depth(t-2) - mixed_layer_depth(t-3))) + N(0, noise_std^2)";
  static constexpr const char* kLags =
      "SST:0 SAL:0 ice_frac:0 stress_X:0 stress_Y:0 heat_flux_down:1 mixed_layer_depth:2,3";

  // The noise-free flux from the stored (float32) driver values.
  static double flux(std::span<const float, kNumDrivers> now, float heat_flux_down_t1, float mld_t2,
                     float mld_t3);
};

// A regular lat-lon grid, optionally with ORCA's traps. Arrays are [ny * nx], rows south to north.
struct SynthGrid {
  std::size_t ny = 0, nx = 0;
  bool orca = false;
  std::vector<double> lat, lon, e1t, e2t;
  std::vector<std::uint8_t> tmask;    // 1 = ocean
  std::vector<std::int32_t> source;   // cell whose values this cell repeats (itself, or for halo/fold cells
                                      // the interior cell they copy)
  std::vector<std::int32_t> compute;  // distinct ocean cells, in grid order: the cells the physics runs on
};
SynthGrid make_grid(double resolution, bool orca);

class OceanModel {
 public:
  OceanModel(const SynthGrid& grid, const ExperimentSpec& experiment, std::uint64_t seed,
             int first_month_index, int last_month_index);

  std::size_t size() const { return climate_.size(); }

  // The drivers of month `month_index` (year*12 + month-1) for every compute cell: out[d * size() + c].
  void drivers(int month_index, std::span<float> out, const Context& ctx) const;
  // Noise for co2flux_pre of month `month_index` and compute cell c (N(0, 1); scale by noise_std).
  double noise(int month_index, std::size_t c) const;

 private:
  static constexpr int kModes = 8;
  enum Anomaly : int { kAnomT, kAnomU, kAnomV, kAnomS, kAnomM, kNumAnomalies };
  double anomaly(int field, int month_index, std::size_t c) const;

  // Time-independent climatology of one compute cell.
  struct Climate {
    float lat, hemisphere;           // degrees; smooth +1 (north) .. -1 (south)
    float sst_mean, sst_amp;         // degC
    float sal_mean;                  // psu
    float heat_mean, heat_amp;       // W m-2
    float mld_base, mld_deep;        // m
    float trade_x, west_x, polar_x;  // N m-2, zonal stress components
    float current_x;                 // m s-1, large-scale zonal current
  };

  std::uint64_t seed_;
  ExperimentSpec experiment_;
  int first_month_ = 0;
  std::size_t nx_ = 0, ny_ = 0;
  std::vector<Climate> climate_;
  std::vector<std::int32_t> cell_id_;  // grid index (y * nx + x) in the written layout
  std::vector<std::uint64_t>
      noise_key_;  // index on the regular (halo-free) grid: the key of the per-cell noise
  // Separable anomaly modes: value(c, t) = sum_k coef[f][t][k] * mode_lon[f][k][x(c)] * mode_lat[f][k][y(c)].
  std::vector<float> mode_lon_, mode_lat_;  // [f][k][nx], [f][k][ny]
  std::vector<double> coef_;                // [f][t - first_month_][k], AR(1) in time
};

}  // namespace fluxkit::synth

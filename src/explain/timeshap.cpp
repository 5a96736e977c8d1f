// TimeSHAP (include/fluxkit/explain/explainer.hpp, docs/explain.md): KernelSHAP over players that are sets of
// cells of the input sequence (events, features, cells), an absent player's cells taking the baseline's
// values, after pruning the older events that do not matter.
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/explain/explainer.hpp"

namespace fluxkit::explain {

namespace {

// v(z) of the cell-set game as a BatchFunction on masks z[n, P] (1 = the player's cells from x).
BatchFunction cell_game(const BatchFunction& seq_f, std::span<const float> x,
                        const std::vector<float>& base_seq,
                        const std::vector<std::vector<std::size_t>>& players) {
  return [&seq_f, x, &base_seq, players](std::span<const float> z, std::size_t n, std::span<float> y) {
    const std::size_t P = players.size(), cells = base_seq.size();
    std::vector<float> seq(n * cells);
    for (std::size_t i = 0; i < n; ++i) {
      float* out = seq.data() + i * cells;
      std::copy(base_seq.begin(), base_seq.end(), out);
      for (std::size_t p = 0; p < P; ++p)
        if (z[i * P + p] > 0.5f)
          for (const auto c : players[p])
            out[c] = x[c];
    }
    seq_f(seq, n, y);
  };
}

Attribution play(const BatchFunction& seq_f, std::span<const float> x, const std::vector<float>& base_seq,
                 const std::vector<std::vector<std::size_t>>& players, const KernelShapOptions& kernel) {
  const std::size_t P = players.size();
  const Background zero = uniform_background(std::vector<float>(P, 0.0f), P);
  const std::vector<float> ones(P, 1.0f);
  KernelShapOptions o = kernel;
  o.groups.clear();
  return kernel_shap(cell_game(seq_f, x, base_seq, players), ones, zero, o);
}

}  // namespace

TimeShapResult timeshap(const BatchFunction& seq_f, std::span<const float> x, std::span<const float> baseline,
                        std::size_t W, std::size_t F, const TimeShapOptions& options) {
  if (x.size() != W * F)
    throw Error(fmt::format("timeshap: the sequence has {} values, not {} x {}", x.size(), W, F));
  std::vector<float> base_seq(W * F);
  if (baseline.size() == F) {
    for (std::size_t w = 0; w < W; ++w)
      std::copy(baseline.begin(), baseline.end(), base_seq.begin() + static_cast<std::ptrdiff_t>(w * F));
  } else if (baseline.size() == W * F) {
    std::copy(baseline.begin(), baseline.end(), base_seq.begin());
  } else {
    throw Error(fmt::format("timeshap: the baseline has {} values, expected {} (an event) or {} (a sequence)",
                            baseline.size(), F, W * F));
  }
  auto cells_of_steps = [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> c;
    for (std::size_t w = begin; w < end; ++w)
      for (std::size_t f = 0; f < F; ++f)
        c.push_back(w * F + f);
    return c;
  };

  TimeShapResult r;
  r.kept = W;
  // Pruning: two players, the older events and the k most recent; exact 2-player Shapley values.
  if (options.tolerance >= 0 && W > 1) {
    for (std::size_t k = 1; k < W; ++k) {
      const std::vector<std::vector<std::size_t>> two = {cells_of_steps(0, W - k), cells_of_steps(W - k, W)};
      const BatchFunction g = cell_game(seq_f, x, base_seq, two);
      const std::vector<float> z = {0, 0, 1, 0, 0, 1, 1, 1};
      std::vector<float> v(4);
      g(z, 4, v);
      const double phi_old = 0.5 * (double(v[1]) - v[0]) + 0.5 * (double(v[3]) - v[2]);
      if (std::abs(phi_old) <= options.tolerance) {
        r.kept = k;
        r.pruning_phi = phi_old;
        break;
      }
    }
  }
  const std::size_t first = W - r.kept;  // first kept step
  const bool pruned = first > 0;
  const std::vector<std::size_t> pruned_cells = cells_of_steps(0, first);

  // Event level.
  std::vector<std::vector<std::size_t>> players;
  for (std::size_t w = first; w < W; ++w)
    players.push_back(cells_of_steps(w, w + 1));
  if (pruned) players.push_back(pruned_cells);
  Attribution a = play(seq_f, x, base_seq, players, options.kernel);
  r.base = a.base;
  r.fx = a.fx;
  r.event.assign(W, 0.0);
  for (std::size_t w = first; w < W; ++w)
    r.event[w] = a.phi[w - first];
  if (pruned) r.event_pruned = a.phi.back();

  // Feature level: each feature over the kept events.
  players.clear();
  for (std::size_t f = 0; f < F; ++f) {
    std::vector<std::size_t> c;
    for (std::size_t w = first; w < W; ++w)
      c.push_back(w * F + f);
    players.push_back(c);
  }
  if (pruned) players.push_back(pruned_cells);
  a = play(seq_f, x, base_seq, players, options.kernel);
  r.feature.assign(a.phi.begin(), a.phi.begin() + static_cast<std::ptrdiff_t>(F));
  if (pruned) r.feature_pruned = a.phi.back();

  // Cell level: every kept cell.
  players.clear();
  for (std::size_t w = first; w < W; ++w)
    for (std::size_t f = 0; f < F; ++f)
      players.push_back({w * F + f});
  if (pruned) players.push_back(pruned_cells);
  a = play(seq_f, x, base_seq, players, options.kernel);
  r.cell.assign(W * F, 0.0);
  for (std::size_t i = 0; i < r.kept * F; ++i)
    r.cell[first * F + i] = a.phi[i];
  if (pruned) r.cell_pruned = a.phi.back();
  return r;
}

}  // namespace fluxkit::explain

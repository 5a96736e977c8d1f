// KernelSHAP and the exact Shapley values by enumeration (include/fluxkit/explain/explainer.hpp).
//
// The estimator (docs/explain.md): coalitions z in {0,1}^M of the varying players are weighted by the Shapley
// kernel; subset sizes s and M - s are paired; the sizes whose every coalition fits into the remaining budget
// are enumerated completely (smallest first), the rest is sampled (size from the remaining kernel mass, then
// a uniformly random coalition of that size and its complement), repeated draws adding weight to the
// coalition already drawn; v(z) = sum_j w_j f(x_z, b_j) over the background; phi solves the kernel-weighted
// least squares with the efficiency constraint sum phi = f(x) - E[f] eliminated through the last varying
// player.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/explain/explainer.hpp"

namespace fluxkit::explain {

namespace {

std::vector<std::vector<std::size_t>> resolve_groups(const std::vector<std::vector<std::size_t>>& groups,
                                                     std::size_t width) {
  if (groups.empty()) {
    std::vector<std::vector<std::size_t>> g(width);
    for (std::size_t i = 0; i < width; ++i)
      g[i] = {i};
    return g;
  }
  std::vector<bool> seen(width, false);
  for (const auto& g : groups)
    for (const auto c : g) {
      if (c >= width || seen[c])
        throw Error(fmt::format("explain: player group column {} is out of range or in two groups", c));
      seen[c] = true;
    }
  return groups;
}

// v(z) for coalitions masks[k][M] (over `players`) of the varying players: weighted mean over the background
// of f(x with the coalition's columns, the rest from the background row). Batched over many coalitions.
std::vector<double> coalition_values(const BatchFunction& f, std::span<const float> x, const Background& bg,
                                     const std::vector<std::vector<std::size_t>>& groups,
                                     const std::vector<std::size_t>& players,
                                     const std::vector<std::uint8_t>& masks, std::size_t count,
                                     std::size_t rows_per_call) {
  const std::size_t m = players.size(), width = bg.width, nb = bg.rows;
  std::vector<double> v(count, 0.0);
  // Columns of no group always take the sample's value.
  std::vector<bool> covered(width, false);
  for (const auto& g : groups)
    for (const auto c : g)
      covered[c] = true;
  std::vector<std::size_t> uncovered;
  for (std::size_t c = 0; c < width; ++c)
    if (!covered[c]) uncovered.push_back(c);
  const std::size_t per_call = std::max<std::size_t>(1, rows_per_call / std::max<std::size_t>(1, nb));
  std::vector<float> rows, y;
  for (std::size_t k0 = 0; k0 < count; k0 += per_call) {
    const std::size_t k1 = std::min(count, k0 + per_call), n = (k1 - k0) * nb;
    rows.resize(n * width);
    y.resize(n);
    for (std::size_t k = k0; k < k1; ++k) {
      float* block = rows.data() + (k - k0) * nb * width;
      std::copy(bg.x.begin(), bg.x.begin() + static_cast<std::ptrdiff_t>(nb * width), block);
      for (const auto c : uncovered)
        for (std::size_t j = 0; j < nb; ++j)
          block[j * width + c] = x[c];
      for (std::size_t p = 0; p < m; ++p) {
        if (masks[k * m + p] == 0) continue;
        for (const auto c : groups[players[p]])
          for (std::size_t j = 0; j < nb; ++j)
            block[j * width + c] = x[c];
      }
    }
    f(rows, n, y);
    for (std::size_t k = k0; k < k1; ++k) {
      double s = 0;
      for (std::size_t j = 0; j < nb; ++j)
        s += bg.weight[j] * y[(k - k0) * nb + j];
      v[k] = s;
    }
  }
  return v;
}

// f(x) and v(empty) = the weighted mean of f over the background (columns of no group from x).
double base_and_fx(const BatchFunction& f, std::span<const float> x, const Background& bg,
                   const std::vector<std::vector<std::size_t>>& groups, double& fx) {
  std::vector<float> yx(1);
  f(x, 1, yx);
  fx = yx[0];
  const std::vector<std::uint8_t> none;
  return coalition_values(f, x, bg, groups, {}, none, 1, std::size_t{1} << 16)[0];
}

void check_inputs(std::span<const float> x, const Background& bg) {
  if (bg.rows == 0) throw Error("explain: the background has no rows");
  if (bg.width != x.size())
    throw Error(fmt::format("explain: the background has {} columns, the sample {}", bg.width, x.size()));
  if (bg.weight.size() != bg.rows || bg.x.size() != bg.rows * bg.width)
    throw Error("explain: inconsistent background (rows, weights, values)");
}

double binomial(std::size_t n, std::size_t k) {
  double r = 1;
  for (std::size_t i = 1; i <= k; ++i)
    r = r * double(n - k + i) / double(i);
  return r;
}

// Solves A b = r (A symmetric, size n) by Gaussian elimination with partial pivoting; a (near-)singular
// system gets a tiny ridge.
std::vector<double> solve(std::vector<double> a, std::vector<double> r, std::size_t n) {
  double scale = 0;
  for (std::size_t i = 0; i < n; ++i)
    scale = std::max(scale, std::abs(a[i * n + i]));
  for (std::size_t i = 0; i < n; ++i)
    a[i * n + i] += 1e-13 * std::max(scale, 1e-300);
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t i = c + 1; i < n; ++i)
      if (std::abs(a[i * n + c]) > std::abs(a[p * n + c])) p = i;
    if (p != c) {
      for (std::size_t j = 0; j < n; ++j)
        std::swap(a[c * n + j], a[p * n + j]);
      std::swap(r[c], r[p]);
    }
    const double d = a[c * n + c];
    if (d == 0) continue;
    for (std::size_t i = c + 1; i < n; ++i) {
      const double g = a[i * n + c] / d;
      if (g == 0) continue;
      for (std::size_t j = c; j < n; ++j)
        a[i * n + j] -= g * a[c * n + j];
      r[i] -= g * r[c];
    }
  }
  std::vector<double> b(n, 0.0);
  for (std::size_t c = n; c-- > 0;) {
    double s = r[c];
    for (std::size_t j = c + 1; j < n; ++j)
      s -= a[c * n + j] * b[j];
    b[c] = a[c * n + c] != 0 ? s / a[c * n + c] : 0.0;
  }
  return b;
}

}  // namespace

Attribution kernel_shap(const BatchFunction& f, std::span<const float> x, const Background& bg,
                        const KernelShapOptions& options) {
  check_inputs(x, bg);
  const auto groups = resolve_groups(options.groups, x.size());
  Attribution out;
  out.phi.assign(groups.size(), 0.0);
  out.base = base_and_fx(f, x, bg, groups, out.fx);

  // Players that can change f: some column differs from some background row.
  std::vector<std::size_t> players;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    bool varies = false;
    for (const auto c : groups[g])
      for (std::size_t j = 0; j < bg.rows && !varies; ++j)
        varies = bg.x[j * bg.width + c] != x[c];
    if (varies) players.push_back(g);
  }
  const std::size_t m = players.size();
  const double total = out.fx - out.base;
  if (m == 0) return out;
  if (m == 1) {
    out.phi[players[0]] = total;
    return out;
  }

  std::size_t nsamples = options.nsamples == 0 ? 2 * m + 2048 : options.nsamples;
  if (m <= 30) nsamples = std::min<std::size_t>(nsamples, (std::size_t{1} << m) - 2);

  // Kernel mass per subset size s = 1 .. ceil((m-1)/2), sizes s and m - s together.
  const std::size_t sizes = (m - 1 + 1) / 2, paired = (m - 1) / 2;
  std::vector<double> weight(sizes);
  for (std::size_t s = 1; s <= sizes; ++s)
    weight[s - 1] = double(m - 1) / double(s * (m - s)) * (s <= paired ? 2.0 : 1.0);
  const double wsum = std::accumulate(weight.begin(), weight.end(), 0.0);
  for (auto& w : weight)
    w /= wsum;

  std::vector<std::uint8_t> masks;
  std::vector<double> kw;
  std::unordered_map<std::string, std::size_t> index;  // coalition bytes -> position
  std::vector<std::uint8_t> mask(m);
  auto add = [&](const std::vector<std::uint8_t>& z, double w) {
    const auto [it, fresh] = index.emplace(std::string(z.begin(), z.end()), kw.size());
    if (!fresh) {
      kw[it->second] += w;
      return false;
    }
    masks.insert(masks.end(), z.begin(), z.end());
    kw.push_back(w);
    return true;
  };

  // Complete enumeration of the sizes that fit.
  std::size_t full = 0;
  double left = double(nsamples);
  std::vector<double> remaining = weight;
  for (std::size_t s = 1; s <= sizes; ++s) {
    double count = binomial(m, s) * (s <= paired ? 2.0 : 1.0);
    if (left * remaining[s - 1] / count < 1 - 1e-8) break;
    ++full;
    left -= count;
    if (const double share = remaining[s - 1]; share < 1)
      for (auto& r : remaining)
        r /= 1 - share;
    double w = weight[s - 1] / binomial(m, s);
    if (s <= paired) w /= 2;
    // All combinations of size s (lexicographic), and their complements.
    std::vector<std::size_t> comb(s);
    std::iota(comb.begin(), comb.end(), std::size_t{0});
    while (true) {
      std::fill(mask.begin(), mask.end(), 0);
      for (const auto i : comb)
        mask[i] = 1;
      add(mask, w);
      if (s <= paired) {
        for (auto& b : mask)
          b = 1 - b;
        add(mask, w);
      }
      std::size_t i = s;
      while (i > 0 && comb[i - 1] == m - s + i - 1)
        --i;
      if (i == 0) break;
      ++comb[i - 1];
      for (std::size_t j = i; j < s; ++j)
        comb[j] = comb[j - 1] + 1;
    }
  }
  const std::size_t fixed = kw.size();

  // Sampling of the remaining sizes.
  if (full < sizes && left >= 1) {
    std::vector<double> rest(weight.begin() + static_cast<std::ptrdiff_t>(full), weight.end());
    for (std::size_t s = full + 1; s <= sizes; ++s)
      if (s <= paired) rest[s - 1 - full] /= 2;
    const double rsum = std::accumulate(rest.begin(), rest.end(), 0.0);
    std::vector<double> cdf(rest.size());
    double acc = 0;
    for (std::size_t i = 0; i < rest.size(); ++i)
      cdf[i] = (acc += rest[i] / rsum);
    auto samples_left = static_cast<std::size_t>(left);
    const std::size_t draws = 4 * samples_left;
    std::vector<std::size_t> perm(m);
    std::uint64_t counter = 0;
    const std::uint64_t seed = options.seed;
    for (std::size_t d = 0; d < draws && samples_left > 0; ++d) {
      const double u = random_uniform(seed, 1, d);
      const std::size_t s =
          full + 1 + static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end() - 1, u) - cdf.begin());
      // A uniformly random subset of size s: partial Fisher-Yates.
      std::iota(perm.begin(), perm.end(), std::size_t{0});
      for (std::size_t i = 0; i < s; ++i) {
        const std::size_t j = i + static_cast<std::size_t>(random_bits(seed, 2, counter++) % (m - i));
        std::swap(perm[i], perm[j]);
      }
      std::fill(mask.begin(), mask.end(), 0);
      for (std::size_t i = 0; i < s; ++i)
        mask[perm[i]] = 1;
      if (add(mask, 1.0)) --samples_left;
      if (samples_left > 0 && s <= paired) {
        for (auto& b : mask)
          b = 1 - b;
        if (add(mask, 1.0)) --samples_left;
      }
    }
    const double weight_left =
        std::accumulate(weight.begin() + static_cast<std::ptrdiff_t>(full), weight.end(), 0.0);
    const double sampled = std::accumulate(kw.begin() + static_cast<std::ptrdiff_t>(fixed), kw.end(), 0.0);
    if (sampled > 0)
      for (std::size_t k = fixed; k < kw.size(); ++k)
        kw[k] *= weight_left / sampled;
  }

  const std::size_t count = kw.size();
  const std::vector<double> v =
      coalition_values(f, x, bg, groups, players, masks, count, options.rows_per_call);

  // Weighted least squares with sum phi = total: phi_last = total - sum of the others.
  const std::size_t n = m - 1, last = m - 1;
  std::vector<double> a(n * n, 0.0), r(n, 0.0), row(n);
  for (std::size_t k = 0; k < count; ++k) {
    const double zl = masks[k * m + last];
    const double y = v[k] - out.base - zl * total;
    for (std::size_t i = 0; i < n; ++i)
      row[i] = double(masks[k * m + i]) - zl;
    for (std::size_t i = 0; i < n; ++i) {
      if (row[i] == 0) continue;
      const double wi = kw[k] * row[i];
      r[i] += wi * y;
      for (std::size_t j = 0; j < n; ++j)
        a[i * n + j] += wi * row[j];
    }
  }
  const std::vector<double> b = solve(std::move(a), std::move(r), n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out.phi[players[i]] = b[i];
    sum += b[i];
  }
  out.phi[players[last]] = total - sum;
  return out;
}

Attribution exact_shapley(const BatchFunction& f, std::span<const float> x, const Background& bg,
                          const std::vector<std::vector<std::size_t>>& groups_in) {
  check_inputs(x, bg);
  const auto groups = resolve_groups(groups_in, x.size());
  const std::size_t m = groups.size();
  if (m > 20) throw Error(fmt::format("explain: exact Shapley values need <= 20 players, got {}", m));
  Attribution out;
  out.phi.assign(m, 0.0);
  out.base = base_and_fx(f, x, bg, groups, out.fx);
  const std::size_t count = std::size_t{1} << m;
  std::vector<std::size_t> players(m);
  std::iota(players.begin(), players.end(), std::size_t{0});
  std::vector<std::uint8_t> masks(count * m);
  for (std::size_t s = 0; s < count; ++s)
    for (std::size_t i = 0; i < m; ++i)
      masks[s * m + i] = static_cast<std::uint8_t>((s >> i) & 1);
  const std::vector<double> v = coalition_values(f, x, bg, groups, players, masks, count, 1 << 16);
  std::vector<double> fact(m + 1, 1.0);
  for (std::size_t i = 1; i <= m; ++i)
    fact[i] = fact[i - 1] * double(i);
  for (std::size_t s = 0; s < count; ++s) {
    const auto size = static_cast<std::size_t>(__builtin_popcountll(s));
    for (std::size_t i = 0; i < m; ++i) {
      if ((s >> i) & 1) continue;
      const double w = fact[size] * fact[m - size - 1] / fact[m];
      out.phi[i] += w * (v[s | (std::size_t{1} << i)] - v[s]);
    }
  }
  return out;
}

}  // namespace fluxkit::explain

// An ensemble's mean as one model to explain (include/fluxkit/explain/explainer.hpp).
#include <algorithm>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/explain/explainer.hpp"

namespace fluxkit::explain {

namespace {

// out[i] = mean over the members of what `member_values(k, buffer)` writes into buffer[size], summed in
// double in member order (the same numbers at any thread count).
template <class Fill>
void member_mean(std::size_t members, std::size_t size, std::span<float> out, const Fill& member_values) {
  std::vector<double> sum(size, 0.0);
  std::vector<float> buffer(size);
  for (std::size_t k = 0; k < members; ++k) {
    member_values(k, std::span<float>(buffer));
    for (std::size_t i = 0; i < size; ++i)
      sum[i] += buffer[i];
  }
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<float>(sum[i] / static_cast<double>(members));
}

}  // namespace

EnsembleMean::EnsembleMean(std::vector<std::unique_ptr<Model>> members) : members_(std::move(members)) {
  if (members_.empty()) throw Error("explain: an ensemble needs at least one member");
  const Model& first = *members_.front();
  for (std::size_t k = 1; k < members_.size(); ++k) {
    const Model& m = *members_[k];
    if (m.type() != first.type() || m.layout() != first.layout() || !(m.input_shape() == first.input_shape()))
      throw Error(
          fmt::format("explain: ensemble member {} is a '{}' model on other inputs than member 0 ('{}')", k,
                      m.type(), first.type()));
  }
}

std::string EnsembleMean::describe() const {
  return fmt::format("mean of {} members; member 0: {}", members_.size(), members_.front()->describe());
}

FitResult EnsembleMean::fit(const SampleStore&, const SampleStore&, const TrainOptions&, const Context&) {
  throw Error("explain: an ensemble's mean is not trained as one model (`fluxkit train` trains its members)");
}

void EnsembleMean::predict(std::span<const float> x, std::size_t n, std::span<float> y,
                           const Context& ctx) const {
  if (y.size() != n) throw Error(fmt::format("ensemble: {} outputs for {} windows", y.size(), n));
  member_mean(members_.size(), n, y,
              [&](std::size_t k, std::span<float> out) { members_[k]->predict(x, n, out, ctx); });
}

bool EnsembleMean::predicts_concurrently() const {
  return std::all_of(members_.begin(), members_.end(),
                     [](const auto& m) { return m->predicts_concurrently(); });
}

void EnsembleMean::predict_with_attention(std::span<const float> x, std::size_t n, std::span<float> y,
                                          std::span<float> alpha, std::span<float> beta,
                                          const Context& ctx) const {
  // One pass per member gives all three; their means are taken together.
  const std::size_t na = alpha.size(), nb = beta.size(), size = n + na + nb;
  if (y.size() != n) throw Error(fmt::format("ensemble: {} outputs for {} windows", y.size(), n));
  std::vector<float> mean(size);
  member_mean(members_.size(), size, mean, [&](std::size_t k, std::span<float> out) {
    members_[k]->predict_with_attention(x, n, out.first(n), out.subspan(n, na), out.subspan(n + na, nb), ctx);
  });
  std::copy_n(mean.begin(), n, y.begin());
  std::copy_n(mean.begin() + static_cast<std::ptrdiff_t>(n), na, alpha.begin());
  std::copy_n(mean.begin() + static_cast<std::ptrdiff_t>(n + na), nb, beta.begin());
}

void EnsembleMean::predict_contributions(std::span<const float> x, std::size_t n, bool interactions,
                                         std::vector<float>& out, const Context& ctx) const {
  std::vector<float> member;
  std::vector<double> sum;
  for (const auto& m : members_) {
    m->predict_contributions(x, n, interactions, member, ctx);
    if (sum.empty()) sum.assign(member.size(), 0.0);
    if (member.size() != sum.size()) throw Error("ensemble: members give contributions of different sizes");
    for (std::size_t i = 0; i < member.size(); ++i)
      sum[i] += member[i];
  }
  out.resize(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i)
    out[i] = static_cast<float>(sum[i] / static_cast<double>(members_.size()));
}

std::string EnsembleMean::trees_ubjson() const {
  throw Error(
      fmt::format("explain: an ensemble of {} '{}' models has no single tree document (its members have "
                  "one each)",
                  members_.size(), type()));
}

void EnsembleMean::save_weights(const std::filesystem::path&) const {
  throw Error(
      "explain: an ensemble's mean has no weights of its own (its members are saved by `fluxkit train`)");
}

void EnsembleMean::load_weights(const std::filesystem::path&) {
  throw Error("explain: an ensemble's mean has no weights of its own (its members are loaded one by one)");
}

TreeEnsemble tree_ensemble_of(const Model& model) {
  const auto* ensemble = dynamic_cast<const EnsembleMean*>(&model);
  if (ensemble == nullptr) return parse_xgboost_model(model.trees_ubjson(), XGBoostFormat::Ubjson);
  const auto& members = ensemble->members();
  const double share = 1.0 / static_cast<double>(members.size());
  TreeEnsemble merged;
  for (std::size_t k = 0; k < members.size(); ++k) {
    TreeEnsemble e = tree_ensemble_of(*members[k]);
    if (k == 0) {
      merged.features = e.features;
      merged.booster = e.booster;
    }
    if (e.booster != merged.booster) merged.booster = "mixed";
    merged.base_score += share * e.base_score;
    for (auto& t : e.trees) {
      t.weight *= share;
      merged.trees.push_back(std::move(t));
    }
  }
  return merged;
}

}  // namespace fluxkit::explain

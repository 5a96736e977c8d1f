#include "models/adam.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fluxkit::detail {

namespace {

// One parameter's tensors and the step's constants, as step() rounds them: the scalars are double there and
// become float32 in the element-wise kernels.
struct Slice {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  std::int64_t size;
  float weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
      neg_step_size;
};

// The update of elements [begin, end) of one parameter. Built with -fno-math-errno (CMakeLists.txt) so
// that the square root vectorises.
void update(const Slice& s, std::int64_t begin, std::int64_t end) {
  float* __restrict p = s.param;
  const float* __restrict g = s.grad;
  float* __restrict m = s.exp_avg;
  float* __restrict v = s.exp_avg_sq;
  for (std::int64_t i = begin; i < end; ++i) {
    const float gi = g[i] + s.weight_decay * p[i];        // grad.add(p, weight_decay)
    m[i] = m[i] * s.beta1 + s.one_minus_beta1 * gi;       // exp_avg.mul_(beta1).add_(grad, 1 - beta1)
    v[i] = v[i] * s.beta2 + s.one_minus_beta2 * gi * gi;  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, ..)
    const float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + s.eps;
    p[i] = p[i] + s.neg_step_size * (m[i] / denom);  // p.addcdiv_(exp_avg, denom, -step_size)
  }
}

bool fusable(const at::Tensor& t) {
  return t.is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

}  // namespace

bool adam_step(torch::optim::Adam& optimizer) {
  // Everything is checked before anything changes, so that a fallback takes the whole step.
  auto one_pass = [&] {
    for (const auto& group : optimizer.param_groups()) {
      if (static_cast<const torch::optim::AdamOptions&>(group.options()).amsgrad()) return false;
      for (const auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        if (!fusable(p) || !fusable(p.grad()) || p.grad().sizes() != p.sizes()) return false;
        const auto it = optimizer.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
        if (it == optimizer.state().end()) continue;
        const auto& st = static_cast<const torch::optim::AdamParamState&>(*it->second);
        if (!fusable(st.exp_avg()) || !fusable(st.exp_avg_sq()) || st.exp_avg().sizes() != p.sizes() ||
            st.exp_avg_sq().sizes() != p.sizes())
          return false;
      }
    }
    return true;
  };
  if (!one_pass()) {
    optimizer.step();
    return false;
  }
  at::NoGradGuard no_grad;
  std::vector<Slice> slices;
  std::vector<std::int64_t> starts{0};  // slice k holds elements [starts[k], starts[k + 1]) of the pass
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    const auto [beta1, beta2] = o.betas();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& entry = optimizer.state()[c10::guts::to_string(p.unsafeGetTensorImpl())];
      if (!entry) {
        auto st = std::make_unique<torch::optim::AdamParamState>();
        st->step(0);
        st->exp_avg(at::zeros_like(p, at::MemoryFormat::Contiguous));
        st->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Contiguous));
        entry = std::move(st);
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*entry);
      st.step(st.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(st.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(st.step()));
      slices.push_back({p.data_ptr<float>(), p.grad().data_ptr<float>(), st.exp_avg().data_ptr<float>(),
                        st.exp_avg_sq().data_ptr<float>(), p.numel(), static_cast<float>(o.weight_decay()),
                        static_cast<float>(beta1), static_cast<float>(1 - beta1), static_cast<float>(beta2),
                        static_cast<float>(1 - beta2), static_cast<float>(std::sqrt(bias_correction2)),
                        static_cast<float>(o.eps()), static_cast<float>(-(o.lr() / bias_correction1))});
      starts.push_back(starts.back() + p.numel());
    }
  }
  at::parallel_for(0, starts.back(), at::internal::GRAIN_SIZE, [&](std::int64_t begin, std::int64_t end) {
    for (std::size_t k = 0; k < slices.size(); ++k) {
      const std::int64_t b = std::max(begin, starts[k]), e = std::min(end, starts[k + 1]);
      if (b < e) update(slices[k], b - starts[k], e - starts[k]);
    }
  });
  return true;
}

}  // namespace fluxkit::detail

// The one-pass Adam step against libtorch's own torch::optim::Adam::step on the same parameters, gradients
// and options, over several steps: parameters and state equal to float rounding.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <vector>

#include "models/adam.hpp"

namespace fluxkit {
namespace {

// Three parameters of different sizes (one above ATen's grain, so its own step() runs in parallel), the
// same values for both optimisers.
std::vector<torch::Tensor> make_params(torch::Dtype dtype = torch::kFloat32) {
  torch::manual_seed(21);
  return {torch::randn({512, 142}, dtype).requires_grad_(true),
          torch::randn({512}, dtype).requires_grad_(true), torch::randn({3, 5}, dtype).requires_grad_(true)};
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps)
    out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

// Runs `steps` steps on both, with the same gradients each step (none for `skip` at step 1).
// one_pass: whether adam_step is expected to take its one-pass path.
void compare(const torch::optim::AdamOptions& options, int steps, bool one_pass, int skip = -1,
             torch::Dtype dtype = torch::kFloat32) {
  auto a = make_params(dtype), b = copies(a);
  torch::optim::Adam ours(a, options), theirs(b, options);
  for (int s = 1; s <= steps; ++s) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (s == 1 && static_cast<int>(i) == skip) {
        a[i].mutable_grad() = torch::Tensor();
        b[i].mutable_grad() = torch::Tensor();
        continue;
      }
      const torch::Tensor g = torch::randn_like(a[i]);
      a[i].mutable_grad() = g.clone();
      b[i].mutable_grad() = g.clone();
    }
    EXPECT_EQ(detail::adam_step(ours), one_pass);
    theirs.step();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_FALSE(torch::equal(a[i], make_params(dtype)[i])) << "parameter " << i << " unchanged";
    EXPECT_LE(rel(a[i], b[i]), 1e-6) << "parameter " << i;
    const auto key = [](const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); };
    const auto& sa = static_cast<const torch::optim::AdamParamState&>(*ours.state().at(key(a[i])));
    const auto& sb = static_cast<const torch::optim::AdamParamState&>(*theirs.state().at(key(b[i])));
    EXPECT_EQ(sa.step(), sb.step()) << "parameter " << i;
    EXPECT_EQ(sa.step(), static_cast<int>(i) == skip ? steps - 1 : steps);
    EXPECT_LE(rel(sa.exp_avg(), sb.exp_avg()), 1e-6) << "parameter " << i;
    EXPECT_LE(rel(sa.exp_avg_sq(), sb.exp_avg_sq()), 1e-6) << "parameter " << i;
  }
}

TEST(AdamStep, MatchesLibtorchsStep) {
  compare(torch::optim::AdamOptions(1e-3), 5, true);
  // The thesis' LSTM options: a small learning rate and L2 weight decay.
  compare(torch::optim::AdamOptions(0.00015007036384757517).weight_decay(2.939570672798765e-06), 7, true);
  compare(torch::optim::AdamOptions(1e-2).weight_decay(0.1).betas({0.8, 0.99}).eps(1e-6), 4, true);
}

TEST(AdamStep, AParameterWithoutGradientIsLeftAlone) {
  compare(torch::optim::AdamOptions(1e-3).weight_decay(1e-4), 3, true, /*skip=*/1);
}

TEST(AdamStep, OtherCasesTakeLibtorchsStep) {
  compare(torch::optim::AdamOptions(1e-3).amsgrad(true), 3, false);
  compare(torch::optim::AdamOptions(1e-3), 3, false, -1, torch::kFloat64);
}

}  // namespace
}  // namespace fluxkit

// The MLP as one autograd node (hand-written backward) against libtorch's Linear and ReLU through autograd:
// outputs and the gradients of the input and of every weight.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <vector>

#include "models/mlp.hpp"

namespace fluxkit {
namespace {

using detail::DenseWeights;

struct Net {
  std::vector<DenseWeights> hidden;
  DenseWeights output;
  std::vector<torch::Tensor> all() const {
    std::vector<torch::Tensor> out;
    for (const auto& w : hidden)
      out.insert(out.end(), {w.weight, w.bias});
    out.insert(out.end(), {output.weight, output.bias});
    return out;
  }
};

Net random_net(std::int64_t inputs, const std::vector<std::int64_t>& sizes, std::int64_t outputs,
               torch::Dtype dtype) {
  auto u = [&](std::vector<std::int64_t> shape, std::int64_t fan_in) {  // torch.nn.Linear's scale
    const double k = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return (torch::rand(shape, dtype) * 2 - 1).mul_(k).requires_grad_(true);
  };
  Net net;
  std::int64_t prev = inputs;
  for (auto h : sizes) {
    net.hidden.push_back({u({h, prev}, prev), u({h}, prev)});
    prev = h;
  }
  net.output = {u({outputs, prev}, prev), u({outputs}, prev)};
  return net;
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

struct Result {
  torch::Tensor y, dx;
  std::vector<torch::Tensor> dw;
};

Result run(bool fused, const Net& net, const torch::Tensor& x0, const torch::Tensor& gy, bool x_grad) {
  for (auto& t : net.all())
    t.mutable_grad() = torch::Tensor();
  const torch::Tensor x = x0.detach().clone().requires_grad_(x_grad);
  const torch::Tensor y =
      fused ? detail::mlp_fused(x, net.hidden, net.output) : detail::mlp_reference(x, net.hidden, net.output);
  (y * gy).sum().backward();
  Result r{y.detach(), x_grad ? x.grad() : torch::Tensor(), {}};
  for (const auto& t : net.all())
    r.dw.push_back(t.grad().clone());
  return r;
}

void compare(std::int64_t batch, std::int64_t inputs, const std::vector<std::int64_t>& sizes,
             std::int64_t outputs, torch::Dtype dtype, bool x_grad, double tol_out, double tol_grad) {
  torch::manual_seed(17);
  const Net net = random_net(inputs, sizes, outputs, dtype);
  const torch::Tensor x = torch::randn({batch, inputs}, dtype), gy = torch::randn({batch, outputs}, dtype);
  const Result ref = run(false, net, x, gy, x_grad), got = run(true, net, x, gy, x_grad);
  ASSERT_EQ(got.y.sizes(), (std::vector<std::int64_t>{batch, outputs}));
  EXPECT_LE(rel(got.y, ref.y), tol_out);
  if (x_grad) {
    EXPECT_LE(rel(got.dx, ref.dx), tol_grad) << "dx";
  }
  ASSERT_EQ(got.dw.size(), ref.dw.size());
  for (std::size_t i = 0; i < ref.dw.size(); ++i) {
    ASSERT_EQ(got.dw[i].sizes(), ref.dw[i].sizes()) << "tensor " << i;
    EXPECT_GT(ref.dw[i].abs().max().item<double>(), 0) << "tensor " << i;
    EXPECT_LE(rel(got.dw[i], ref.dw[i]), tol_grad) << "tensor " << i;
  }
}

TEST(FusedMlp, MatchesLibtorchsLayersInDouble) {
  compare(7, 5, {6, 4}, 1, torch::kFloat64, true, 1e-13, 1e-11);
  compare(3, 4, {3}, 2, torch::kFloat64, false, 1e-13, 1e-11);
  compare(40, 9, {12, 10, 8}, 1, torch::kFloat64, true, 1e-13, 1e-11);
}

TEST(FusedMlp, MatchesLibtorchsLayersInFloatAtTheSeedsSize) {
  // The thesis' MLP: 44 inputs (fluxkit's flat window here 60), hidden 207, 248, 198, one output.
  compare(256, 60, {207, 248, 198}, 1, torch::kFloat32, false, 1e-5, 1e-4);
  compare(32, 60, {207, 248, 198}, 1, torch::kFloat32, true, 1e-5, 1e-4);
}

TEST(FusedMlp, NoGradAndDispatch) {
  torch::manual_seed(4);
  const Net net = random_net(6, {5, 4}, 1, torch::kFloat32);
  const torch::Tensor x = torch::randn({9, 6});
  torch::Tensor ref, fused, dispatched;
  {
    torch::NoGradGuard no_grad;
    ref = detail::mlp_reference(x, net.hidden, net.output);
    fused = detail::mlp_fused(x, net.hidden, net.output);
    dispatched = detail::mlp(x, net.hidden, net.output);
  }
  EXPECT_FALSE(fused.requires_grad());
  EXPECT_LE((fused - ref).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::equal(dispatched, fused));
  // A non-contiguous input, an empty batch; a three-dimensional input is refused.
  const torch::Tensor xt = x.t().contiguous().t();
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(torch::equal(detail::mlp_fused(xt, net.hidden, net.output).detach(), fused));
  EXPECT_EQ(detail::mlp_fused(x.narrow(0, 0, 0), net.hidden, net.output).sizes(),
            (std::vector<std::int64_t>{0, 1}));
  EXPECT_THROW(detail::mlp_fused(x.unsqueeze(0), net.hidden, net.output), c10::Error);
}

}  // namespace
}  // namespace fluxkit

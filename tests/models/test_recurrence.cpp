// The fused recurrences (hand-written backward) against autograd: the stacked LSTM against libtorch's own
// LSTM, the attention-LSTM's against the seed's formulation; outputs, attention weights and the gradients of
// the input and of every weight.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "models/activations.hpp"
#include "models/recurrence.hpp"

namespace fluxkit {
namespace {

using detail::AttentionLstmSteps;
using detail::AttentionLstmWeights;

struct Case {
  std::int64_t batch, window, features, hidden;
  torch::Dtype dtype;
};

AttentionLstmWeights random_weights(const Case& c) {
  const auto opt = torch::TensorOptions().dtype(c.dtype);
  const auto F = c.features, H = c.hidden;
  // PyTorch's default initialisation scale for Linear / LSTMCell: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  auto u = [&](std::vector<std::int64_t> shape, std::int64_t fan_in) {
    const double k = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return (torch::rand(shape, opt) * 2 - 1).mul_(k).requires_grad_(true);
  };
  return {u({H, 2 * H}, 2 * H), u({H}, 2 * H),    u({H, F}, F),  u({H}, F),    u({F, H}, H), u({F}, H),
          u({4 * H, F}, H),     u({4 * H, H}, H), u({4 * H}, H), u({4 * H}, H)};
}

std::vector<torch::Tensor> tensors(const AttentionLstmWeights& w) {
  return {w.w_weight, w.w_bias,    w.u_weight,  w.u_bias,  w.v_weight,
          w.v_bias,   w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh};
}

const char* const kNames[] = {"W.weight", "W.bias",    "U.weight",  "U.bias",  "V.weight",
                              "V.bias",   "weight_ih", "weight_hh", "bias_ih", "bias_hh"};

// A scalar loss: a weighted sum of h and h^2 (random weights: every b, t, j matters) and, if ga is defined,
// of alpha; without gh, the plain sum of h (its gradient reaches the recurrence as an expanded, stride-0
// tensor).
torch::Tensor loss_of(const AttentionLstmSteps& s, const torch::Tensor& gh, const torch::Tensor& ga) {
  if (!gh.defined()) return s.h.sum();
  torch::Tensor l = (s.h * gh).sum() + (s.h * s.h).sum() * 0.1;
  if (ga.defined()) l = l + (s.alpha * ga).sum();
  return l;
}

struct Result {
  torch::Tensor h, alpha, dx;
  std::vector<torch::Tensor> dw;
};

Result run(bool fused, const torch::Tensor& x0, const AttentionLstmWeights& w, const torch::Tensor& gh,
           const torch::Tensor& ga, bool x_grad) {
  for (auto& t : tensors(w))
    t.mutable_grad() = torch::Tensor();
  const torch::Tensor x = x0.detach().clone().requires_grad_(x_grad);
  const AttentionLstmSteps s =
      fused ? detail::attention_lstm_steps_fused(x, w) : detail::attention_lstm_steps_reference(x, w);
  loss_of(s, gh, ga).backward();
  Result r{s.h.detach(), s.alpha.detach(), x_grad ? x.grad() : torch::Tensor(), {}};
  for (const auto& t : tensors(w))
    r.dw.push_back(t.grad().clone());
  return r;
}

// Largest |a - b| relative to the largest |b|.
double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

void compare(const Case& c, bool with_alpha_loss, bool x_grad, double tol_out, double tol_grad,
             bool plain_sum = false) {
  torch::manual_seed(7);
  const AttentionLstmWeights w = random_weights(c);
  const auto opt = torch::TensorOptions().dtype(c.dtype);
  const torch::Tensor x = torch::randn({c.batch, c.window, c.features}, opt);
  const torch::Tensor gh = plain_sum ? torch::Tensor() : torch::randn({c.window, c.batch, c.hidden}, opt);
  const torch::Tensor ga =
      with_alpha_loss ? torch::randn({c.window, c.batch, c.features}, opt) : torch::Tensor();
  std::vector<torch::Tensor> before;
  for (const auto& t : tensors(w))
    before.push_back(t.detach().clone());
  const Result ref = run(false, x, w, gh, ga, x_grad), got = run(true, x, w, gh, ga, x_grad);
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_TRUE(torch::equal(tensors(w)[i], before[i])) << kNames[i] << " written to";
  ASSERT_EQ(got.h.sizes(), ref.h.sizes());
  ASSERT_EQ(got.alpha.sizes(), ref.alpha.sizes());
  EXPECT_LE((got.h - ref.h).abs().max().item<double>(), tol_out);
  EXPECT_LE((got.alpha - ref.alpha).abs().max().item<double>(), tol_out);
  if (x_grad) {
    EXPECT_LE(rel(got.dx, ref.dx), tol_grad) << "dx";
  }
  for (std::size_t i = 0; i < ref.dw.size(); ++i) {
    ASSERT_EQ(got.dw[i].sizes(), ref.dw[i].sizes()) << kNames[i];
    EXPECT_LE(rel(got.dw[i], ref.dw[i]), tol_grad) << kNames[i];
  }
}

// The float32 cell's exp, sigmoid and tanh against double precision, in ULPs of the float result, on a dense
// grid of [-90, 90] and on magnitudes from 1e-30 to 1 of both signs.
TEST(Activations, Float32WithinAFewUlpOfDoublePrecision) {
  std::vector<float> xs;
  for (int k = -900000; k <= 900000; ++k)
    xs.push_back(static_cast<float>(k * 1e-4));
  for (double m = 1e-30; m < 1; m *= 1.001) {
    xs.push_back(static_cast<float>(m));
    xs.push_back(static_cast<float>(-m));
  }
  auto ulps = [](float got, double want) {
    const auto w = static_cast<float>(std::abs(want));
    return std::abs(double(got) - want) /
           double(std::nextafter(w, std::numeric_limits<float>::infinity()) - w);
  };
  double worst_exp = 0, worst_sigmoid = 0, worst_tanh = 0;
  for (const float x : xs) {
    const double xd = x;
    if (x > -87 && x < 88) worst_exp = std::max(worst_exp, ulps(detail::exp_f32(x), std::exp(xd)));
    if (const double s = 1 / (1 + std::exp(-xd)); s > 1e-37)
      worst_sigmoid = std::max(worst_sigmoid, ulps(detail::sigmoid_f32(x), s));
    worst_tanh = std::max(worst_tanh, ulps(detail::tanh_f32(x), std::tanh(xd)));
  }
  EXPECT_LE(worst_exp, 1.5);
  EXPECT_LE(worst_sigmoid, 3.0);
  EXPECT_LE(worst_tanh, 4.0);
  EXPECT_EQ(detail::exp_f32(0), 1.0f);
  EXPECT_EQ(detail::sigmoid_f32(0), 0.5f);
  EXPECT_EQ(detail::tanh_f32(0), 0.0f);
  EXPECT_EQ(detail::tanh_f32(15), 1.0f);
  EXPECT_EQ(detail::tanh_f32(-1e30f), -1.0f);
  EXPECT_LT(detail::sigmoid_f32(-200), 1e-37f);  // exp(200) is clamped to exp(87)
  EXPECT_EQ(detail::sigmoid_f32(200), 1.0f);
  EXPECT_TRUE(std::isnan(detail::tanh_f32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(detail::sigmoid_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST(AttentionRecurrence, MatchesAutogradInDouble) {
  compare({5, 4, 14, 8, torch::kFloat64}, false, false, 1e-13, 1e-11);
  compare({3, 4, 6, 5, torch::kFloat64}, true, true, 1e-13, 1e-11);  // alpha in the loss, dL/dx
  compare({2, 1, 3, 4, torch::kFloat64}, true, true, 1e-13, 1e-11);  // a window of one step
  compare({1, 7, 4, 3, torch::kFloat64}, false, true, 1e-13, 1e-11);
  compare({4, 3, 5, 6, torch::kFloat64}, false, false, 1e-13, 1e-11, true);
  compare({20, 4, 6, 5, torch::kFloat64}, true, true, 1e-13, 1e-11);  // a block of rows per thread
}

TEST(AttentionRecurrence, MatchesAutogradInFloatAtTheSeedsSize) {
  // 14 features, hidden 256, window 4 (spec §4.3); float32 sums in a different order.
  compare({64, 4, 14, 256, torch::kFloat32}, false, false, 1e-6, 2e-5);
  // Small and odd sizes (float32 may take another product than float64: oneDNN's).
  compare({1, 3, 5, 7, torch::kFloat32}, true, true, 1e-6, 1e-5);
  compare({3, 1, 4, 6, torch::kFloat32}, true, true, 1e-6, 1e-5);
}

TEST(AttentionRecurrence, NoGradAndDispatch) {
  torch::manual_seed(3);
  const Case c{6, 4, 14, 16, torch::kFloat32};
  const AttentionLstmWeights w = random_weights(c);
  const torch::Tensor x = torch::randn({c.batch, c.window, c.features});
  AttentionLstmSteps ref, fused, dispatched;
  {
    torch::NoGradGuard no_grad;
    ref = detail::attention_lstm_steps_reference(x, w);
    fused = detail::attention_lstm_steps_fused(x, w);
    dispatched = detail::attention_lstm_steps(x, w);
  }
  EXPECT_FALSE(fused.h.requires_grad());
  EXPECT_LE((fused.h - ref.h).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::equal(dispatched.h, fused.h));
  EXPECT_EQ(fused.h.sizes(), (std::vector<std::int64_t>{c.window, c.batch, c.hidden}));
  EXPECT_EQ(fused.alpha.sizes(), (std::vector<std::int64_t>{c.window, c.batch, c.features}));
  EXPECT_TRUE(torch::allclose(fused.alpha.sum(-1), torch::ones({c.window, c.batch})));
  // A non-contiguous input; an empty batch.
  const torch::Tensor xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(torch::equal(detail::attention_lstm_steps_fused(xt, w).h.detach(), fused.h));
  const AttentionLstmSteps empty = detail::attention_lstm_steps_fused(x.narrow(0, 0, 0), w);
  EXPECT_EQ(empty.h.sizes(), (std::vector<std::int64_t>{c.window, 0, c.hidden}));
}

// The stacked LSTM.
struct LstmCase {
  std::int64_t batch, window, features, hidden, layers;
  torch::Dtype dtype;
};

std::vector<detail::LstmLayerWeights> random_lstm(const LstmCase& c) {
  const auto opt = torch::TensorOptions().dtype(c.dtype);
  const auto H = c.hidden;
  const double k = 1.0 / std::sqrt(static_cast<double>(H));  // torch.nn.LSTM's U(-1/sqrt(H), 1/sqrt(H))
  auto u = [&](std::vector<std::int64_t> shape) {
    return (torch::rand(shape, opt) * 2 - 1).mul_(k).requires_grad_(true);
  };
  std::vector<detail::LstmLayerWeights> layers;
  for (std::int64_t l = 0; l < c.layers; ++l)
    layers.push_back({u({4 * H, l == 0 ? c.features : H}), u({4 * H, H}), u({4 * H}), u({4 * H})});
  return layers;
}

std::vector<torch::Tensor> lstm_tensors(const std::vector<detail::LstmLayerWeights>& layers) {
  std::vector<torch::Tensor> all;
  for (const auto& w : layers)
    all.insert(all.end(), {w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh});
  return all;
}

// loss: a weighted sum of h and h^2 over every step, or (last_only) the plain sum of the last step's h, as
// the LSTM model uses it.
Result run_lstm(bool fused, const torch::Tensor& x0, const std::vector<detail::LstmLayerWeights>& layers,
                const torch::Tensor& gh, bool x_grad, bool last_only) {
  for (auto& t : lstm_tensors(layers))
    t.mutable_grad() = torch::Tensor();
  const torch::Tensor x = x0.detach().clone().requires_grad_(x_grad);
  const torch::Tensor h =
      fused ? detail::lstm_steps_fused(x, layers) : detail::lstm_steps_reference(x, layers);
  const torch::Tensor loss = last_only ? h[h.size(0) - 1].sum() : (h * gh).sum() + (h * h).sum() * 0.1;
  loss.backward();
  Result r{h.detach(), torch::Tensor(), x_grad ? x.grad() : torch::Tensor(), {}};
  for (const auto& t : lstm_tensors(layers))
    r.dw.push_back(t.grad().clone());
  return r;
}

void compare_lstm(const LstmCase& c, bool x_grad, bool last_only, double tol_out, double tol_grad) {
  torch::manual_seed(11);
  const auto layers = random_lstm(c);
  const auto opt = torch::TensorOptions().dtype(c.dtype);
  const torch::Tensor x = torch::randn({c.batch, c.window, c.features}, opt);
  const torch::Tensor gh = torch::randn({c.window, c.batch, c.hidden}, opt);
  std::vector<torch::Tensor> before;
  for (const auto& t : lstm_tensors(layers))
    before.push_back(t.detach().clone());
  const Result ref = run_lstm(false, x, layers, gh, x_grad, last_only);
  const Result got = run_lstm(true, x, layers, gh, x_grad, last_only);
  const auto now = lstm_tensors(layers);
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_TRUE(torch::equal(now[i], before[i])) << "weight " << i << " written to";
  ASSERT_EQ(got.h.sizes(), (std::vector<std::int64_t>{c.window, c.batch, c.hidden}));
  ASSERT_EQ(got.h.sizes(), ref.h.sizes());
  EXPECT_LE((got.h - ref.h).abs().max().item<double>(), tol_out);
  if (x_grad) {
    ASSERT_EQ(got.dx.sizes(), x.sizes());
    EXPECT_LE(rel(got.dx, ref.dx), tol_grad) << "dx";
  }
  const char* const names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  for (std::size_t i = 0; i < ref.dw.size(); ++i) {
    ASSERT_EQ(got.dw[i].sizes(), ref.dw[i].sizes()) << names[i % 4] << "_l" << i / 4;
    if (c.window > 1 || i % 4 != 1) {  // weight_hh meets h_0 = 0 only in a window of one step
      EXPECT_GT(ref.dw[i].abs().max().item<double>(), 0) << names[i % 4] << "_l" << i / 4;
    }
    EXPECT_LE(rel(got.dw[i], ref.dw[i]), tol_grad) << names[i % 4] << "_l" << i / 4;
  }
}

TEST(LstmRecurrence, MatchesLibtorchsLstmInDouble) {
  compare_lstm({5, 4, 14, 8, 3, torch::kFloat64}, false, false, 1e-13, 1e-11);
  compare_lstm({3, 4, 6, 5, 2, torch::kFloat64}, true, false, 1e-13, 1e-11);   // dL/dx
  compare_lstm({4, 4, 6, 5, 3, torch::kFloat64}, true, true, 1e-13, 1e-11);    // the model's loss: last step
  compare_lstm({2, 1, 3, 4, 2, torch::kFloat64}, true, false, 1e-13, 1e-11);   // a window of one step
  compare_lstm({1, 7, 4, 3, 1, torch::kFloat64}, true, false, 1e-13, 1e-11);   // one layer
  compare_lstm({20, 4, 6, 5, 2, torch::kFloat64}, true, false, 1e-13, 1e-11);  // a block of rows per thread
}

TEST(LstmRecurrence, MatchesLibtorchsLstmInFloatAtTheSeedsSize) {
  // 14 features, window 4, hidden 128, 3 layers (the thesis' LSTM); float32 sums in a different order.
  compare_lstm({64, 4, 14, 128, 3, torch::kFloat32}, false, true, 1e-6, 2e-5);
  compare_lstm({3, 3, 5, 7, 2, torch::kFloat32}, true, false, 1e-6, 1e-5);
}

TEST(LstmRecurrence, NoGradAndDispatch) {
  torch::manual_seed(5);
  const LstmCase c{6, 4, 14, 16, 2, torch::kFloat32};
  const auto layers = random_lstm(c);
  const torch::Tensor x = torch::randn({c.batch, c.window, c.features});
  torch::Tensor ref, fused, dispatched;
  {
    torch::NoGradGuard no_grad;
    ref = detail::lstm_steps_reference(x, layers);
    fused = detail::lstm_steps_fused(x, layers);
    dispatched = detail::lstm_steps(x, layers);
  }
  EXPECT_FALSE(fused.requires_grad());
  EXPECT_LE((fused - ref).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::equal(dispatched, fused));
  // A non-contiguous input; an empty batch; the fused function refuses a bfloat16 input.
  const torch::Tensor xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(torch::equal(detail::lstm_steps_fused(xt, layers).detach(), fused));
  EXPECT_EQ(detail::lstm_steps_fused(x.narrow(0, 0, 0), layers).sizes(),
            (std::vector<std::int64_t>{c.window, 0, c.hidden}));
  EXPECT_THROW(detail::lstm_steps_fused(x.to(torch::kBFloat16), layers), c10::Error);
}

}  // namespace
}  // namespace fluxkit

// The recurrent parts of the LSTM and of the attention-LSTM (the thesis models): a stacked LSTM, and input
// attention + LSTMCell over the window. Internal to the libtorch part of fluxkit (src/models/torch_models.cpp
// and the tests).
#pragma once

#include <ATen/Tensor.h>

#include <vector>

namespace fluxkit::detail {

// One layer of a stacked LSTM, as torch::nn::LSTM registers it (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
// bias_hh_l{k}; the state dict's tensors, not copies), gates in PyTorch's order i, f, g, o.
struct LstmLayerWeights {
  at::Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // [4H, I], [4H, H], [4H], [4H]
};

// A stacked LSTM over x [B, W, F] from zero states, without dropout between the layers: the last layer's
// h_1..h_W, time-major [W, B, H]. Differentiable (through autograd) in x and all the weights.
//
// On the CPU (float32, float64) this runs lstm_steps_fused, elsewhere lstm_steps_reference.
at::Tensor lstm_steps(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers);

// libtorch's own LSTM (at::lstm), the function torch.nn.LSTM runs.
at::Tensor lstm_steps_reference(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers);

// One autograd node for the whole stack, CPU only. Forward, per layer: the input's products with weight_ih
// for all steps in one matrix product, then one product with weight_hh per step (none at step 1). Backward:
// through time by hand, per layer from the top, then each weight's gradient and the gradient of the layer's
// input as one matrix product over all steps.
at::Tensor lstm_steps_fused(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers);

// The weights of the recurrence, as registered by the network (the state dict's tensors, not copies):
// attention.W (Linear(2H -> H)), attention.U (Linear(F -> H)), attention.V (Linear(H -> F)) and
// lstm_cell (LSTMCell(F -> H), gates in PyTorch's order i, f, g, o).
struct AttentionLstmWeights {
  at::Tensor w_weight, w_bias;                        // [H, 2H], [H]
  at::Tensor u_weight, u_bias;                        // [H, F], [H]
  at::Tensor v_weight, v_bias;                        // [F, H], [F]
  at::Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // [4H, F], [4H, H], [4H], [4H]
};

// Time-major, unlike the input x [B, W, F].
struct AttentionLstmSteps {
  at::Tensor h;      // h_1..h_W, [W, B, H]
  at::Tensor alpha;  // the input attention's weights alpha_1..alpha_W, [W, B, F]
};

// For t = 1..W, from h_0 = c_0 = 0:
//   alpha_t = softmax_F(V tanh(W [h_{t-1}; c_{t-1}] + U x_t)),  (h_t, c_t) = LSTMCell(alpha_t * x_t,
//   (h_{t-1}, c_{t-1})).
// Differentiable (through autograd) in x and all the weights.
//
// On the CPU (float32, float64) this runs attention_lstm_steps_fused: the same function with a hand-written
// backward pass. Elsewhere it runs attention_lstm_steps_reference.
AttentionLstmSteps attention_lstm_steps(const at::Tensor& x, const AttentionLstmWeights& w);

// The recurrence written as the seed's Python modules write it, one autograd node per operation.
AttentionLstmSteps attention_lstm_steps_reference(const at::Tensor& x, const AttentionLstmWeights& w);

// One autograd node for the whole recurrence, CPU only. Forward: h_{t-1} is multiplied by W's h half and the
// cell's weight_hh in one matrix product; step 1 skips the products with h_0 = c_0 = 0. Backward: through
// time by hand (the gates' derivatives in one pass), then each weight's gradient as one matrix product over
// all steps instead of one per step.
AttentionLstmSteps attention_lstm_steps_fused(const at::Tensor& x, const AttentionLstmWeights& w);

}  // namespace fluxkit::detail

// The MLP's layers as one autograd node. Internal to the libtorch part of fluxkit
// (src/models/torch_models.cpp and the tests).
#pragma once

#include <ATen/Tensor.h>

#include <vector>

namespace fluxkit::detail {

// One Linear layer's weight [out, in] and bias [out] (the module's tensors, not copies).
struct DenseWeights {
  at::Tensor weight, bias;
};

// y = output(relu(... relu(hidden_1(x)))) for x [B, I]: the hidden layers with ReLU, the output layer
// linear; y [B, O]. Differentiable (through autograd) in x and all the weights. No dropout.
//
// On the CPU (float32, float64) this runs mlp_fused, elsewhere mlp_reference.
at::Tensor mlp(const at::Tensor& x, const std::vector<DenseWeights>& hidden, const DenseWeights& output);

// The layers as libtorch's modules run them (at::linear, at::relu).
at::Tensor mlp_reference(const at::Tensor& x, const std::vector<DenseWeights>& hidden,
                         const DenseWeights& output);

// One autograd node, CPU only. Forward: each thread takes its block of rows through every layer. Backward:
// the rows' gradients back through the layers the same way, then the weight gradients, each thread a block
// of the weights' rows (every one a matrix product over the batch).
at::Tensor mlp_fused(const at::Tensor& x, const std::vector<DenseWeights>& hidden,
                     const DenseWeights& output);

}  // namespace fluxkit::detail

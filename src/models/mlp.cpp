#include "models/mlp.hpp"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <vector>

#include "models/dense.hpp"

namespace fluxkit::detail {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// out[r, :] += bias, then the ReLU when `relu`: one pass over rows the product has just written (still in
// cache), where ATen's broadcast copy before the product and clamp after it were two passes and two
// operator calls per layer and block.
void add_bias(const at::Tensor& out, const at::Tensor& bias, bool relu) {
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "add_bias", [&] {
    const auto rows = out.size(0), cols = out.size(1), stride = out.stride(0);
    const at::Tensor b = bias.contiguous();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    scalar_t* p = out.data_ptr<scalar_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      scalar_t* row = p + r * stride;
      if (relu)
        for (std::int64_t c = 0; c < cols; ++c)
          row[c] = std::max(row[c] + bp[c], scalar_t(0));
      else
        for (std::int64_t c = 0; c < cols; ++c)
          row[c] += bp[c];
    }
  });
}

// Inputs x, then weight and bias of every layer (the output layer last); output y [B, O].
struct FusedMlp : torch::autograd::Function<FusedMlp> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x_in, at::TensorList weights) {
    const at::Tensor x = x_in.contiguous();
    const auto B = x.size(0), L = static_cast<std::int64_t>(weights.size() / 2);  // L - 1 hidden layers
    std::vector<at::Tensor> acts;  // the hidden layers' outputs after ReLU, [B, h_l]; then y
    for (std::int64_t l = 0; l < L; ++l)
      acts.push_back(at::empty({B, weights[2 * l].size(0)}, x.options()));
    for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
      at::Tensor in = x.narrow(0, b0, n);
      for (std::int64_t l = 0; l < L; ++l) {
        const at::Tensor out = acts[l].narrow(0, b0, n);
        gemm(in, weights[2 * l].t(), out, 0);
        add_bias(out, weights[2 * l + 1], l + 1 < L);
        in = out;
      }
    });
    const at::Tensor y = acts.back();
    acts.pop_back();
    acts.insert(acts.begin(), x);  // acts[l] is now layer l's input
    ctx->save_for_backward(weights.vec());
    ctx->saved_data["inputs"] = acts;
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list weights = ctx->get_saved_variables();
    const std::vector<at::Tensor> inputs = ctx->saved_data["inputs"].toTensorVector();
    const auto L = static_cast<std::int64_t>(weights.size() / 2);
    const auto B = inputs[0].size(0);
    const bool need_dx = ctx->needs_input_grad(0);
    // dz[l]: dL/d(layer l's pre-activation), [B, out_l]; dz[L - 1] is dL/dy.
    std::vector<at::Tensor> dz(static_cast<std::size_t>(L));
    dz.back() = grads[0].contiguous();
    for (std::int64_t l = 0; l + 1 < L; ++l)
      dz[l] = at::empty({B, weights[2 * l].size(0)}, inputs[0].options());
    at::Tensor dx = need_dx ? at::empty_like(inputs[0]) : at::Tensor();
    for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
      for (std::int64_t l = L - 1; l >= 1; --l) {
        // dL/d(layer l's input) = dz_l W_l, then through the ReLU whose output that input is.
        at::Tensor d = dz[l - 1].narrow(0, b0, n);
        gemm(dz[l].narrow(0, b0, n), weights[2 * l], d, 0);
        at::threshold_backward_out(d, d, inputs[l].narrow(0, b0, n), 0);
      }
      if (need_dx) gemm(dz[0].narrow(0, b0, n), weights[0], dx.narrow(0, b0, n), 0);
    });
    // The weight gradients dz_l^T input_l and the bias gradients (column sums of dz_l), all layers in one
    // parallel region: the threads share out the weights' rows (the layers' outputs), counted over all
    // layers.
    variable_list out(1 + 2 * L);
    out[0] = dx;
    std::vector<std::int64_t> first_row{0};  // layer l holds rows [first_row[l], first_row[l + 1])
    for (std::int64_t l = 0; l < L; ++l) {
      out[1 + 2 * l] = at::empty_like(weights[2 * l]);
      out[2 + 2 * l] = at::empty_like(weights[2 * l + 1]);
      first_row.push_back(first_row.back() + weights[2 * l].size(0));
    }
    parallel_rows(first_row.back(), kMinRowsPerThread, [&](std::int64_t begin, std::int64_t count) {
      for (std::int64_t l = 0; l < L; ++l) {
        const std::int64_t r0 = std::max(begin, first_row[l]), r1 = std::min(begin + count, first_row[l + 1]);
        if (r0 >= r1) continue;
        const at::Tensor dz_cols = dz[l].narrow(1, r0 - first_row[l], r1 - r0);
        gemm(dz_cols.t(), inputs[l], out[1 + 2 * l].narrow(0, r0 - first_row[l], r1 - r0), 0);
        at::Tensor bias_rows = out[2 + 2 * l].narrow(0, r0 - first_row[l], r1 - r0);
        at::sum_out(bias_rows, dz_cols, 0);
      }
    });
    return out;
  }
};

variable_list flat_weights(const std::vector<DenseWeights>& hidden, const DenseWeights& output) {
  variable_list flat;
  for (const auto& w : hidden)
    flat.insert(flat.end(), {w.weight, w.bias});
  flat.insert(flat.end(), {output.weight, output.bias});
  return flat;
}

bool fusable(const at::Tensor& x) {
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) && x.dim() == 2;
}

}  // namespace

at::Tensor mlp_reference(const at::Tensor& x, const std::vector<DenseWeights>& hidden,
                         const DenseWeights& output) {
  at::Tensor a = x;
  for (const auto& w : hidden)
    a = at::relu(at::linear(a, w.weight, w.bias));
  return at::linear(a, output.weight, output.bias);
}

at::Tensor mlp_fused(const at::Tensor& x, const std::vector<DenseWeights>& hidden,
                     const DenseWeights& output) {
  TORCH_CHECK(fusable(x), "mlp_fused: CPU float32 or float64 input [B, I] expected");
  // As an at::TensorList, apply() sees the weights as variables (a std::vector would be an opaque argument).
  const variable_list weights = flat_weights(hidden, output);
  return FusedMlp::apply(x, at::TensorList(weights))[0];
}

at::Tensor mlp(const at::Tensor& x, const std::vector<DenseWeights>& hidden, const DenseWeights& output) {
  return fusable(x) ? mlp_fused(x, hidden, output) : mlp_reference(x, hidden, output);
}

}  // namespace fluxkit::detail

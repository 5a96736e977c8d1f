#include "models/recurrence.hpp"

#include "models/activations.hpp"
#include "models/dense.hpp"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <tuple>
#include <vector>

namespace fluxkit::detail {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The LSTM cell's backward for one row of one step, given dL/dh_t (dhs from the layers above plus dh from
// step t + 1) and dL/dc_t from step t + 1 (dc): writes dL/dz (z = the gates' pre-activations i, f, g, o) and
// replaces dc by dL/dc_{t-1}. g holds the activated gates, tc = tanh(c_t), c_prev = c_{t-1} (null: zero).
template <class T>
void cell_backward_row(std::int64_t H, const T* __restrict g, const T* __restrict tc,
                       const T* __restrict c_prev, const T* __restrict dhs, const T* __restrict dh,
                       T* __restrict dc, T* __restrict dz) {
  const T* __restrict gi = g;
  const T* __restrict gf = g + H;
  const T* __restrict gg = g + 2 * H;
  const T* __restrict go = g + 3 * H;
  T* __restrict dzi = dz;
  T* __restrict dzf = dz + H;
  T* __restrict dzg = dz + 2 * H;
  T* __restrict dzo = dz + 3 * H;
  for (std::int64_t j = 0; j < H; ++j) {
    const T dht = dhs[j] + dh[j];  // h_t = o tanh(c_t)
    const T i = gi[j], gv = gg[j], o = go[j], tcj = tc[j];
    const T dct = dc[j] + dht * o * (1 - tcj * tcj);  // c_t = f c_{t-1} + i g
    dzo[j] = dht * tcj * o * (1 - o);
    dzi[j] = dct * gv * i * (1 - i);
    dzg[j] = dct * i * (1 - gv * gv);
    dc[j] = dct;
  }
  if (c_prev != nullptr) {
    for (std::int64_t j = 0; j < H; ++j) {
      const T f = gf[j];
      dzf[j] = dc[j] * c_prev[j] * f * (1 - f);
      dc[j] *= f;
    }
  } else {
    for (std::int64_t j = 0; j < H; ++j) {
      dzf[j] = 0;
      dc[j] *= gf[j];
    }
  }
}

// cell_forward in float32 on rows: z [B rows of 4H, z_stride apart], c_prev (null: zero), c, tc, h [B, H]
// contiguous. Compiled for AVX-512, AVX2 and the baseline instruction set, chosen when the library loads; the
// activations (activations.hpp) vectorise in the loop.
[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]] void cell_forward_f32(
    std::int64_t B, std::int64_t H, float* z, std::int64_t z_stride, const float* c_prev, float* c, float* tc,
    float* h) {
  for (std::int64_t b = 0; b < B; ++b) {
    float* __restrict zi = z + b * z_stride;
    float* __restrict zf = zi + H;
    float* __restrict zg = zi + 2 * H;
    float* __restrict zo = zi + 3 * H;
    float* __restrict cb = c + b * H;
    float* __restrict tcb = tc + b * H;
    float* __restrict hb = h + b * H;
    const float* __restrict cp = c_prev != nullptr ? c_prev + b * H : nullptr;
    for (std::int64_t j = 0; j < H; ++j) {
      const float i = sigmoid_f32(zi[j]), g = tanh_f32(zg[j]), o = sigmoid_f32(zo[j]);
      zi[j] = i;
      zg[j] = g;
      zo[j] = o;
      cb[j] = i * g;
    }
    if (cp != nullptr)
      for (std::int64_t j = 0; j < H; ++j) {
        const float f = sigmoid_f32(zf[j]);
        zf[j] = f;
        cb[j] += f * cp[j];
      }
    else
      for (std::int64_t j = 0; j < H; ++j)
        zf[j] = sigmoid_f32(zf[j]);
    for (std::int64_t j = 0; j < H; ++j) {
      tcb[j] = tanh_f32(cb[j]);
      hb[j] = zo[j] * tcb[j];
    }
  }
}

// out = tanh(in) for B rows of H float32 values, rows in_stride and out_stride apart (the attention's
// pre-activation, a column block of a wider buffer). Compiled like cell_forward_f32.
[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]] void tanh_rows_f32(
    std::int64_t B, std::int64_t H, const float* in, std::int64_t in_stride, float* out,
    std::int64_t out_stride) {
  for (std::int64_t b = 0; b < B; ++b) {
    const float* __restrict src = in + b * in_stride;
    float* __restrict dst = out + b * out_stride;
    for (std::int64_t j = 0; j < H; ++j)
      dst[j] = tanh_f32(src[j]);
  }
}

// out = tanh(in), [B, H] views with contiguous rows (float32 through tanh_rows_f32, otherwise ATen's).
void tanh_rows(const at::Tensor& in, const at::Tensor& out) {
  if (in.scalar_type() == at::kFloat && in.stride(1) == 1 && out.stride(1) == 1) {
    tanh_rows_f32(in.size(0), in.size(1), in.data_ptr<float>(), in.stride(0), out.data_ptr<float>(),
                  out.stride(0));
    return;
  }
  at::Tensor o = out;
  at::tanh_out(o, in);
}

// The LSTM cell's forward for one step, from the gates' pre-activations z [B, 4H] (i, f, g, o; rows may be
// strided): activates z in place and writes c_t = f c_{t-1} + i g, tanh(c_t) and h_t = o tanh(c_t), [B, H]
// each. An undefined c_prev is c_{t-1} = 0. Called on one thread's block of rows (for_batch_blocks).
void cell_forward(const at::Tensor& z, const at::Tensor& c_prev, const at::Tensor& c, const at::Tensor& tc,
                  const at::Tensor& h) {
  const auto H = c.size(1);
  if (z.scalar_type() == at::kFloat && z.stride(1) == 1 && c.is_contiguous() && tc.is_contiguous() &&
      h.is_contiguous() && (!c_prev.defined() || c_prev.is_contiguous())) {
    cell_forward_f32(z.size(0), H, z.data_ptr<float>(), z.stride(0),
                     c_prev.defined() ? c_prev.data_ptr<float>() : nullptr, c.data_ptr<float>(),
                     tc.data_ptr<float>(), h.data_ptr<float>());
    return;
  }
  at::Tensor c_out = c, tc_out = tc, h_out = h;
  z.narrow(1, 0, 2 * H).sigmoid_();
  z.narrow(1, 2 * H, H).tanh_();
  z.narrow(1, 3 * H, H).sigmoid_();
  at::mul_out(c_out, z.narrow(1, 0, H), z.narrow(1, 2 * H, H));     // i g
  if (c_prev.defined()) c_out.addcmul_(z.narrow(1, H, H), c_prev);  // + f c_{t-1}
  at::tanh_out(tc_out, c);
  at::mul_out(h_out, z.narrow(1, 3 * H, H), tc);  // o tanh(c_t)
}

// The LSTM cell's backward for one step (cell_backward_row on every row): g the activated gates and dz the
// gradient of their pre-activations, [B, 4H] views whose rows may be strided; tc, c_prev (undefined: zero),
// dhs, dh and dc contiguous [B, H]. Called on one thread's block of rows (for_batch_blocks).
void cell_backward(const at::Tensor& g, const at::Tensor& tc, const at::Tensor& c_prev, const at::Tensor& dhs,
                   const at::Tensor& dh, const at::Tensor& dc, const at::Tensor& dz) {
  const auto B = g.size(0), H = tc.size(1), g_stride = g.stride(0), dz_stride = dz.stride(0);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "lstm_cell_backward", [&] {
    const scalar_t* pg = g.data_ptr<scalar_t>();
    const scalar_t* ptc = tc.data_ptr<scalar_t>();
    const scalar_t* pc = c_prev.defined() ? c_prev.data_ptr<scalar_t>() : nullptr;
    const scalar_t* pdhs = dhs.data_ptr<scalar_t>();
    const scalar_t* pdh = dh.data_ptr<scalar_t>();
    scalar_t* pdc = dc.data_ptr<scalar_t>();
    scalar_t* pdz = dz.data_ptr<scalar_t>();
    for (std::int64_t b = 0; b < B; ++b)
      cell_backward_row<scalar_t>(H, pg + b * g_stride, ptc + b * H, pc != nullptr ? pc + b * H : nullptr,
                                  pdhs + b * H, pdh + b * H, pdc + b * H, pdz + b * dz_stride);
  });
}

// Inputs x, then the weights in AttentionLstmWeights' order; outputs h [W, B, H] and alpha [W, B, F].
// Activations are time-major: each step's rows are contiguous, and the weight gradients are single products
// over all W * B rows.
struct FusedSteps : torch::autograd::Function<FusedSteps> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w_weight,
                               const at::Tensor& w_bias, const at::Tensor& u_weight, const at::Tensor& u_bias,
                               const at::Tensor& v_weight, const at::Tensor& v_bias,
                               const at::Tensor& weight_ih, const at::Tensor& weight_hh,
                               const at::Tensor& bias_ih, const at::Tensor& bias_hh) {
    const auto B = x.size(0), T = x.size(1), F = x.size(2), H = weight_hh.size(1);
    const auto opt = x.options();
    const at::Tensor X = x.transpose(0, 1).contiguous();  // [T, B, F]
    const at::Tensor w_c = w_weight.narrow(1, H, H);
    // h_{t-1} meets W's first half (attention) and weight_hh (gates): one product with [W_h; weight_hh].
    const at::Tensor w_hcat = at::cat({w_weight.narrow(1, 0, H), weight_hh}, 0);  // [5H, H]
    const at::Tensor bias = at::cat({u_bias + w_bias, bias_ih + bias_hh}).expand({B, 5 * H});
    const at::Tensor ux = product(X.view({T * B, F}), u_weight.t()).view({T, B, H});  // U x_t, all steps
    // Per step [p | z]: p = W [h_{t-1}; c_{t-1}] + U x_t + biases, the attention's pre-activation, and
    // z = weight_ih x~_t + weight_hh h_{t-1} + biases, the gates' (i, f, g, o), activated in place.
    at::Tensor pzs = at::empty({T, B, 5 * H}, opt), hs = at::empty({T, B, H}, opt),
               cs = at::empty({T, B, H}, opt), tcs = at::empty({T, B, H}, opt),
               ss = at::empty({T, B, H}, opt), alphas = at::empty({T, B, F}, opt),
               xs = at::empty({T, B, F}, opt);
    for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
      auto rows = [&](const at::Tensor& m, std::int64_t t) { return m[t].narrow(0, b0, n); };
      const at::Tensor bias_rows = bias.narrow(0, b0, n), v_bias_rows = v_bias.expand({n, F});
      const at::Tensor e = at::empty({n, F}, opt);
      for (std::int64_t t = 0; t < T; ++t) {
        const at::Tensor pz = rows(pzs, t), s = rows(ss, t), a = rows(alphas, t), xt = rows(xs, t);
        const at::Tensor p = pz.narrow(1, 0, H), z = pz.narrow(1, H, 4 * H);
        pz.copy_(bias_rows);
        if (t > 0) gemm(rows(hs, t - 1), w_hcat.t(), pz, 1);  // h_0 = c_0 = 0: no products at the first step
        p.add_(rows(ux, t));
        if (t > 0) gemm(rows(cs, t - 1), w_c.t(), p, 1);
        // alpha_t = softmax(V tanh(p) + V's bias), x~_t = alpha_t x_t
        at::Tensor a_out = a, xt_out = xt;
        tanh_rows(p, s);
        e.copy_(v_bias_rows);
        gemm(s, v_weight.t(), e, 1);
        at::softmax_out(a_out, e, 1);
        at::mul_out(xt_out, a, rows(X, t));
        gemm(xt, weight_ih.t(), z, 1);
        cell_forward(z, t > 0 ? rows(cs, t - 1) : at::Tensor(), rows(cs, t), rows(tcs, t), rows(hs, t));
      }
    });
    ctx->save_for_backward({w_weight, u_weight, v_weight, weight_ih, hs, alphas});
    for (const auto& [key, value] : {std::pair{"X", X},
                                     {"w_hcat", w_hcat},
                                     {"pzs", pzs},
                                     {"cs", cs},
                                     {"tcs", tcs},
                                     {"ss", ss},
                                     {"xs", xs}})
      ctx->saved_data[key] = value;
    return {hs, alphas};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &w_weight = saved[0], &u_weight = saved[1], &v_weight = saved[2], &weight_ih = saved[3],
                     &hs = saved[4], &alphas = saved[5];
    auto get = [ctx](const char* key) { return ctx->saved_data[key].toTensor(); };
    const at::Tensor X = get("X"), w_hcat = get("w_hcat"), pzs = get("pzs"), cs = get("cs"), tcs = get("tcs"),
                     ss = get("ss"), xs = get("xs");
    const auto T = X.size(0), B = X.size(1), F = X.size(2), H = hs.size(2);
    const auto opt = X.options();
    const at::Tensor dhs = grads[0].defined() ? grads[0].contiguous() : at::zeros({T, B, H}, opt);
    const at::Tensor& dalphas = grads[1];
    const at::Tensor w_c = w_weight.narrow(1, H, H);
    const bool need_dx = ctx->needs_input_grad(0);
    // Per step: [dL/dp | dL/dz], p = the attention's pre-activation W [h; c] + U x_t, z = the gates'.
    at::Tensor dpz = at::empty({T, B, 5 * H}, opt), des = at::empty({T, B, F}, opt);
    at::Tensor dx = need_dx ? at::empty({T, B, F}, opt) : at::Tensor();
    at::Tensor dh = at::zeros({B, H}, opt), dc = at::zeros({B, H}, opt);  // from step t + 1
    for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
      auto rows = [&](const at::Tensor& m, std::int64_t t) { return m[t].narrow(0, b0, n); };
      const at::Tensor dh_rows = dh.narrow(0, b0, n), dc_rows = dc.narrow(0, b0, n);
      for (std::int64_t t = T - 1; t >= 0; --t) {
        const at::Tensor dpz_t = rows(dpz, t), dp = dpz_t.narrow(1, 0, H), dz = dpz_t.narrow(1, H, 4 * H);
        cell_backward(rows(pzs, t).narrow(1, H, 4 * H), rows(tcs, t), t > 0 ? rows(cs, t - 1) : at::Tensor(),
                      rows(dhs, t), dh_rows, dc_rows, dz);
        // x~_t = alpha_t x_t, alpha_t = softmax(e_t), e_t = V tanh(p_t) + V's bias.
        const at::Tensor a = rows(alphas, t), dxt = product(dz, weight_ih);
        at::Tensor da = dxt * rows(X, t), de = rows(des, t), dp_out = dp;
        if (dalphas.defined()) da.add_(rows(dalphas, t));
        at::mul_out(de, a, da - (da * a).sum(1, true));
        at::tanh_backward_out(dp_out, product(de, v_weight), rows(ss, t));
        if (need_dx) {
          at::Tensor dx_t = rows(dx, t);
          at::mul_out(dx_t, dxt, a);
          gemm(dp, u_weight, dx_t, 1);
        }
        if (t > 0) {  // to h_{t-1} through W's h half and weight_hh, to c_{t-1} through W's c half
          gemm(dpz_t, w_hcat, dh_rows, 0);
          gemm(dp, w_c, dc_rows, 1);
        }
      }
    });
    // Weight gradients: sums over all steps; W's and weight_hh's over steps 2..W (h_0 = c_0 = 0).
    const auto TB = T * B, T1B = (T - 1) * B;
    const at::Tensor dpz_all = dpz.view({TB, 5 * H}), dp_all = dpz_all.narrow(1, 0, H),
                     dz_all = dpz_all.narrow(1, H, 4 * H), de_all = des.view({TB, F});
    const at::Tensor dpz_later = dpz_all.narrow(0, B, T1B);
    const at::Tensor d_hcat = product(dpz_later.t(), hs.narrow(0, 0, T - 1).reshape({T1B, H}));  // [5H, H]
    const at::Tensor d_wc = product(dpz_later.narrow(1, 0, H).t(), cs.narrow(0, 0, T - 1).reshape({T1B, H}));
    const at::Tensor d_w_weight = at::cat({d_hcat.narrow(0, 0, H), d_wc}, 1);
    const at::Tensor d_weight_hh = d_hcat.narrow(0, H, 4 * H).contiguous();
    const at::Tensor d_p_bias = dp_all.sum(0), d_z_bias = dz_all.sum(0);
    const at::Tensor d_u_weight = product(dp_all.t(), X.view({TB, F}));
    const at::Tensor d_v_weight = product(de_all.t(), ss.view({TB, H})), d_v_bias = de_all.sum(0);
    const at::Tensor d_weight_ih = product(dz_all.t(), xs.view({TB, F}));
    return {need_dx ? dx.transpose(0, 1).contiguous() : at::Tensor(),
            d_w_weight,
            d_p_bias,
            d_u_weight,
            d_p_bias.clone(),
            d_v_weight,
            d_v_bias,
            d_weight_ih,
            d_weight_hh,
            d_z_bias,
            d_z_bias.clone()};
  }
};

// Inputs x, then per layer weight_ih, weight_hh, bias_ih, bias_hh; output the last layer's h [W, B, H].
// Activations are time-major, as in FusedSteps.
struct FusedLstm : torch::autograd::Function<FusedLstm> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList weights) {
    const auto B = x.size(0), T = x.size(1), L = static_cast<std::int64_t>(weights.size() / 4);
    const auto H = weights[1].size(1), TB = T * B;
    const auto opt = x.options();
    at::Tensor input = x.transpose(0, 1).contiguous();  // [T, B, I]
    std::vector<at::Tensor> inputs, gates, cs, tcs;     // per layer; the input of layer l + 1 is h of layer l
    for (std::int64_t l = 0; l < L; ++l) {
      const at::Tensor &weight_ih = weights[4 * l], &weight_hh = weights[4 * l + 1];
      // Every step's z = weight_ih x_t + both biases at once; weight_hh h_{t-1} is added step by step.
      at::Tensor z = at::empty({T, B, 4 * H}, opt), h = at::empty({T, B, H}, opt),
                 c = at::empty({T, B, H}, opt), tc = at::empty({T, B, H}, opt);
      z.view({TB, 4 * H}).copy_((weights[4 * l + 2] + weights[4 * l + 3]).expand({TB, 4 * H}));
      gemm(input.view({TB, input.size(2)}), weight_ih.t(), z.view({TB, 4 * H}), 1);
      for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
        auto rows = [&](const at::Tensor& a, std::int64_t t) { return a[t].narrow(0, b0, n); };
        for (std::int64_t t = 0; t < T; ++t) {
          const at::Tensor zt = rows(z, t);
          if (t > 0) gemm(rows(h, t - 1), weight_hh.t(), zt, 1);  // h_0 = c_0 = 0: no product at step 1
          cell_forward(zt, t > 0 ? rows(c, t - 1) : at::Tensor(), rows(c, t), rows(tc, t), rows(h, t));
        }
      });
      inputs.push_back(input);
      gates.push_back(z);
      cs.push_back(c);
      tcs.push_back(tc);
      input = h;
    }
    // The output (the last layer's h) is saved as a variable: a tensor kept in saved_data would hold its own
    // autograd node.
    variable_list to_save = weights.vec();
    to_save.push_back(input);
    ctx->save_for_backward(to_save);
    ctx->saved_data["inputs"] = inputs;
    ctx->saved_data["gates"] = gates;
    ctx->saved_data["cs"] = cs;
    ctx->saved_data["tcs"] = tcs;
    return {input};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const auto L = static_cast<std::int64_t>((saved.size() - 1) / 4);
    const std::vector<at::Tensor> inputs = ctx->saved_data["inputs"].toTensorVector(),
                                  gates = ctx->saved_data["gates"].toTensorVector(),
                                  cs = ctx->saved_data["cs"].toTensorVector(),
                                  tcs = ctx->saved_data["tcs"].toTensorVector();
    const at::Tensor& h_last = saved[4 * L];
    const auto T = h_last.size(0), B = h_last.size(1), H = h_last.size(2), TB = T * B;
    const auto opt = h_last.options();
    const bool need_dx = ctx->needs_input_grad(0);
    variable_list out(1 + 4 * L);
    // dL/dh of the layer's every step, from above (the loss for the last layer, the next layer's input
    // gradient below it).
    at::Tensor dhs = grads[0].defined() ? grads[0].contiguous() : at::zeros({T, B, H}, opt);
    for (std::int64_t l = L - 1; l >= 0; --l) {
      const at::Tensor &weight_ih = saved[4 * l], &weight_hh = saved[4 * l + 1];
      const at::Tensor &input = inputs[l], &g = gates[l], &c = cs[l], &tc = tcs[l];
      const at::Tensor h = l + 1 < L ? inputs[l + 1] : h_last;
      at::Tensor dz = at::empty({T, B, 4 * H}, opt);
      at::Tensor dh = at::zeros({B, H}, opt), dc = at::zeros({B, H}, opt);  // from step t + 1
      for_batch_blocks(B, [&](std::int64_t b0, std::int64_t n) {
        auto rows = [&](const at::Tensor& a, std::int64_t t) { return a[t].narrow(0, b0, n); };
        const at::Tensor dh_rows = dh.narrow(0, b0, n), dc_rows = dc.narrow(0, b0, n);
        for (std::int64_t t = T - 1; t >= 0; --t) {
          cell_backward(rows(g, t), rows(tc, t), t > 0 ? rows(c, t - 1) : at::Tensor(), rows(dhs, t), dh_rows,
                        dc_rows, rows(dz, t));
          if (t > 0) gemm(rows(dz, t), weight_hh, dh_rows, 0);
        }
      });
      const auto I = input.size(2);
      const at::Tensor dz_all = dz.view({TB, 4 * H});
      out[1 + 4 * l] = product(dz_all.t(), input.view({TB, I}));
      // weight_hh meets h_1..h_{W-1} at steps 2..W.
      out[2 + 4 * l] = T > 1 ? product(dz.narrow(0, 1, T - 1).view({(T - 1) * B, 4 * H}).t(),
                                       h.narrow(0, 0, T - 1).reshape({(T - 1) * B, H}))
                             : at::zeros_like(weight_hh);
      out[3 + 4 * l] = dz_all.sum(0);
      out[4 + 4 * l] = out[3 + 4 * l].clone();
      if (l > 0 || need_dx) dhs = product(dz_all, weight_ih).view({T, B, I});
    }
    if (need_dx) out[0] = dhs.transpose(0, 1).contiguous();
    return out;
  }
};

variable_list flat_weights(const std::vector<LstmLayerWeights>& layers) {
  variable_list flat;
  for (const auto& w : layers)
    flat.insert(flat.end(), {w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh});
  return flat;
}

bool fusable(const at::Tensor& x) {
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) && x.size(1) > 0;
}

}  // namespace

AttentionLstmSteps attention_lstm_steps_reference(const at::Tensor& x, const AttentionLstmWeights& w) {
  const auto B = x.size(0), T = x.size(1), H = w.weight_hh.size(1);
  at::Tensor h = at::zeros({B, H}, x.options()), c = at::zeros({B, H}, x.options());
  std::vector<at::Tensor> hs, alphas;
  const at::Tensor ux = at::linear(x, w.u_weight, w.u_bias);  // [B, W, H]
  for (std::int64_t t = 0; t < T; ++t) {
    const at::Tensor xt = x.select(1, t);
    const at::Tensor e =
        at::linear(at::tanh(at::linear(at::cat({h, c}, 1), w.w_weight, w.w_bias) + ux.select(1, t)),
                   w.v_weight, w.v_bias);
    const at::Tensor a = at::softmax(e, 1);
    std::tie(h, c) = at::lstm_cell(a * xt, {h, c}, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh);
    hs.push_back(h);
    alphas.push_back(a);
  }
  return {at::stack(hs), at::stack(alphas)};
}

AttentionLstmSteps attention_lstm_steps_fused(const at::Tensor& x, const AttentionLstmWeights& w) {
  TORCH_CHECK(x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "attention_lstm_steps_fused: CPU float32 or float64 input expected");
  TORCH_CHECK(x.dim() == 3 && x.size(1) > 0, "attention_lstm_steps_fused: input [B, W > 0, F] expected");
  const variable_list out = FusedSteps::apply(x, w.w_weight, w.w_bias, w.u_weight, w.u_bias, w.v_weight,
                                              w.v_bias, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh);
  return {out[0], out[1]};
}

AttentionLstmSteps attention_lstm_steps(const at::Tensor& x, const AttentionLstmWeights& w) {
  if (fusable(x)) return attention_lstm_steps_fused(x, w);
  return attention_lstm_steps_reference(x, w);
}

at::Tensor lstm_steps_reference(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers) {
  const auto B = x.size(0), H = layers.front().weight_hh.size(1),
             L = static_cast<std::int64_t>(layers.size());
  const at::Tensor zero = at::zeros({L, B, H}, x.options());
  // at::lstm(input, (h0, c0), weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
  const at::Tensor out =
      std::get<0>(at::lstm(x, {zero, zero}, flat_weights(layers), true, L, 0.0, false, false, true));
  return out.transpose(0, 1);
}

at::Tensor lstm_steps_fused(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers) {
  TORCH_CHECK(x.dim() == 3 && !layers.empty(), "lstm_steps_fused: input [B, W, F] and a layer expected");
  TORCH_CHECK(fusable(x), "lstm_steps_fused: CPU float32 or float64 input with a window > 0 expected");
  // As an at::TensorList, apply() sees the weights as variables (a std::vector would be an opaque argument).
  const variable_list weights = flat_weights(layers);
  return FusedLstm::apply(x, at::TensorList(weights))[0];
}

at::Tensor lstm_steps(const at::Tensor& x, const std::vector<LstmLayerWeights>& layers) {
  return fusable(x) ? lstm_steps_fused(x, layers) : lstm_steps_reference(x, layers);
}

}  // namespace fluxkit::detail

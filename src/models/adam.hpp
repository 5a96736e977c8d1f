// Adam's step in one pass. Internal to the libtorch part of fluxkit (src/models/torch_models.cpp and the
// tests).
#pragma once

#include <torch/optim/adam.h>

namespace fluxkit::detail {

// One step of torch::optim::Adam with its options and state (L2 weight decay added to the gradient, bias
// corrections; the state created at a parameter's first step, as step() does), for every parameter with a
// gradient, in one parallel pass over all their elements. libtorch's step() runs about eight element-wise
// operations per parameter, each a parallel region of its own on the larger ones: some forty per batch for
// the thesis' networks, each waking the other threads with a system call. Per element the arithmetic is
// step()'s, in float32; its vectorised kernels fuse some multiply-adds, so the last bit may differ.
//
// Parameters that are not contiguous float32 tensors on the CPU with such gradients, or AMSGrad, take
// optimizer.step() instead. Returns true when the step was taken in one pass.
bool adam_step(torch::optim::Adam& optimizer);

}  // namespace fluxkit::detail

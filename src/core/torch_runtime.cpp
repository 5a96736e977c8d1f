#include "fluxkit/core/torch_runtime.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

void configure_torch(const Context& ctx) {
  if (at::get_num_threads() != ctx.threads) at::set_num_threads(ctx.threads);
  if (ctx.device == Device::Cuda && !torch::cuda::is_available())
    throw Error(
        "device 'cuda' requested, but this libtorch has no usable CUDA device (build against a "
        "CUDA-enabled libtorch with -DTorch_DIR=..., or use --device cpu)");
}

std::string torch_description() {
  return fmt::format("libtorch {}, {} intra-op threads, cuda available: {}", TORCH_VERSION,
                     at::get_num_threads(), torch::cuda::is_available() ? "yes" : "no");
}

}  // namespace fluxkit

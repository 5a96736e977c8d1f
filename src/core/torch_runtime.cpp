#include "fluxkit/core/torch_runtime.hpp"

#include <malloc.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

void configure_torch(const Context& ctx) {
  // A training batch allocates and frees the same few hundred kilobyte to megabyte tensors again and again.
  // With glibc's defaults (dynamic mmap threshold, 128 kB trim threshold) many of them are fresh mappings,
  // or heap top returned to the kernel, so every batch faults its pages in again (page faults by the hundred
  // thousand per attention-LSTM epoch, spent as system time). Keep such blocks on the heap and the freed
  // heap top mapped; the memory stays with the process, which reuses it for the next batch.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // Always, in the calling thread: libtorch's count is process-wide but OpenMP's is per thread, so an
  // ensemble member starting in a new thread would otherwise run with the runtime's default (all cores)
  // whenever another member had already set the process-wide count, and its sums would depend on which
  // started first.
  at::set_num_threads(ctx.threads);
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

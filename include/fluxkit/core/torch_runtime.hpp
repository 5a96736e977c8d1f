// libtorch set-up from the run context. Only fluxkit_torch links libtorch; this header does not include it.
#pragma once

#include <string>

#include "fluxkit/core/context.hpp"

namespace fluxkit {

// Applies ctx.threads to libtorch's intra-op pool (it starts with half the cores), sets the allocator up for
// libtorch's batch-by-batch allocations (glibc malloc keeps blocks up to 64 MB on the heap and does not
// return the heap top below 512 MB; the heap's free top is advised for transparent huge pages) and checks
// that the device is usable; throws Error for cuda without a CUDA-enabled libtorch.
void configure_torch(const Context& ctx);

// "libtorch <version>, <n> threads, cuda available: yes/no" for logs and `fluxkit --version`.
std::string torch_description();

}  // namespace fluxkit

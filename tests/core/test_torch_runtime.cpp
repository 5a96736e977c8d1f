// libtorch gets the context's thread count (it starts with half the cores) and rejects cuda when absent.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/torch_runtime.hpp"

namespace fluxkit {
namespace {

TEST(TorchRuntime, AppliesThreadCount) {
  Context ctx;
  ctx.threads = 3;
  configure_torch(ctx);
  EXPECT_EQ(at::get_num_threads(), 3);
  ctx.threads = 1;
  configure_torch(ctx);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_NE(torch_description().find("1 intra-op threads"), std::string::npos);
}

TEST(TorchRuntime, CudaWithoutDeviceIsAnError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  Context ctx;
  ctx.device = Device::Cuda;
  EXPECT_THROW(configure_torch(ctx), Error);
}

}  // namespace
}  // namespace fluxkit

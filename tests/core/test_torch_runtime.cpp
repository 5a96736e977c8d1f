// libtorch gets the context's thread count (it starts with half the cores) and rejects cuda when absent.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>

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

std::set<std::string> thread_ids() {
  std::set<std::string> ids;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task"))
    ids.insert(e.path().filename().string());
  return ids;
}

// at::set_num_threads replaces libtorch's pthreadpool (new threads, which spin for milliseconds); every
// predict call configures libtorch, so an unchanged count must leave the process's threads as they are.
TEST(TorchRuntime, UnchangedThreadCountKeepsTheThreads) {
  Context ctx;
  ctx.threads = 2;
  configure_torch(ctx);
  const auto before = thread_ids();
  for (int i = 0; i < 3; ++i)
    configure_torch(ctx);
  EXPECT_EQ(thread_ids(), before);
  EXPECT_EQ(at::get_num_threads(), 2);
}

// The count is checked in the calling thread: a new thread starts from libtorch's process-wide count.
TEST(TorchRuntime, AppliesThreadCountInANewThread) {
  Context ctx;
  ctx.threads = 3;
  configure_torch(ctx);
  int seen_same = 0, seen_other = 0;
  std::thread([&] {
    configure_torch(ctx);
    seen_same = at::get_num_threads();
    Context two = ctx;
    two.threads = 2;
    configure_torch(two);
    seen_other = at::get_num_threads();
  }).join();
  EXPECT_EQ(seen_same, 3);
  EXPECT_EQ(seen_other, 2);
  EXPECT_EQ(at::get_num_threads(), 3);  // the calling thread's own count is its own
}

TEST(TorchRuntime, CudaWithoutDeviceIsAnError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  Context ctx;
  ctx.device = Device::Cuda;
  EXPECT_THROW(configure_torch(ctx), Error);
}

}  // namespace
}  // namespace fluxkit

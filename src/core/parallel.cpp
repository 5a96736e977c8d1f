#include "fluxkit/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fluxkit {

void parallel_for(const Context& ctx, std::size_t n,
                  const std::function<void(std::size_t, std::size_t)>& body) {
  if (n == 0) return;
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, ctx.threads)), n);
  if (workers == 1) {
    body(0, n);
    return;
  }
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::vector<std::jthread> threads;
  threads.reserve(workers - 1);
  auto run = [&](std::size_t w) {
    const std::size_t begin = n * w / workers, end = n * (w + 1) / workers;
    try {
      body(begin, end);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  };
  for (std::size_t w = 1; w < workers; ++w)
    threads.emplace_back(run, w);
  run(0);
  threads.clear();  // joins
  if (first_error) std::rethrow_exception(first_error);
}

void parallel_for_each(const Context& ctx, std::size_t n, const std::function<void(std::size_t)>& body) {
  std::atomic<std::size_t> next{0};
  const auto workers = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, ctx.threads)), n);
  parallel_for(ctx, workers, [&](std::size_t, std::size_t) {
    for (std::size_t i = next++; i < n; i = next++)
      body(i);
  });
}

}  // namespace fluxkit

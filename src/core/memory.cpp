#include "fluxkit/core/memory.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace fluxkit {

void assign_zeros(std::vector<double>& v, std::size_t n) {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
  if (v.capacity() >= n || n * sizeof(double) < 2 * kHugePage) {
    v.assign(n, 0.0);
    return;
  }
  std::vector<double> fresh;
  fresh.reserve(n);  // a large malloc is a fresh mapping: nothing touched yet
  const auto begin = reinterpret_cast<std::uintptr_t>(fresh.data());
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + n * sizeof(double)) & ~(kHugePage - 1);
  if (last > first)  // advice only: failure (no THP support) leaves ordinary pages
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  fresh.assign(n, 0.0);
  v.swap(fresh);
}

}  // namespace fluxkit

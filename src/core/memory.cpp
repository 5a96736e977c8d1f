#include "fluxkit/core/memory.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace fluxkit {

namespace {
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
}  // namespace

void assign_zeros(std::vector<double>& v, std::size_t n) {
  if (v.capacity() >= n || n * sizeof(double) < 2 * kHugePage) {
    v.assign(n, 0.0);
    return;
  }
  std::vector<double> fresh;
  fresh.reserve(n);  // a large malloc is a fresh mapping: nothing touched yet
  advise_huge_pages(fresh.data(), n * sizeof(double));
  fresh.assign(n, 0.0);
  v.swap(fresh);
}

void advise_huge_pages(const void* begin, std::size_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(begin);
  const std::uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (start + bytes) & ~(kHugePage - 1);
  if (last > first)  // advice only: failure (no THP support) leaves ordinary pages
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

}  // namespace fluxkit

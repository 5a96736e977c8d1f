#include "fluxkit/core/torch_runtime.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/memory.hpp"

namespace fluxkit {

namespace {

// The first epoch touches much of the heap for the first time, one 4 kB page fault each (about 5,000 in an
// MLP epoch at batch 256; on a virtual machine each costs several microseconds of system time). Backing the
// heap's free top with transparent huge pages makes that one fault per 2 MB (measured: the epoch's system
// time falls from about 4 % to about 3 %). glibc does this itself with the tunable
// glibc.malloc.hugetlb=1, but tunables are read at process start; this is the same advice given once here:
// grow the heap by kHeapReserve (an allocation below the mmap threshold, freed at once: the top stays mapped,
// below the trim threshold) and advise the untouched range. Advice only: without THP nothing changes.
void reserve_huge_page_heap() {
  constexpr std::size_t kHeapReserve = std::size_t{48} << 20;
  char* const before = static_cast<char*>(::sbrk(0));
  void* block = std::malloc(kHeapReserve);
  if (block == nullptr) return;
  std::free(block);
  char* const after = static_cast<char*>(::sbrk(0));
  if (after > before) advise_huge_pages(before, static_cast<std::size_t>(after - before));
}

}  // namespace

void configure_torch(const Context& ctx) {
  // A training batch allocates and frees the same few hundred kilobyte to megabyte tensors again and again.
  // With glibc's defaults (dynamic mmap threshold, 128 kB trim threshold) many of them are fresh mappings,
  // or heap top returned to the kernel, so every batch faults its pages in again (page faults by the hundred
  // thousand per attention-LSTM epoch, spent as system time). Keep such blocks on the heap and the freed
  // heap top mapped; the memory stays with the process, which reuses it for the next batch.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  static std::once_flag heap_once;
  std::call_once(heap_once, reserve_huge_page_heap);
  // Checked in the calling thread: libtorch's count is process-wide but OpenMP's is per thread (what
  // at::get_num_threads returns), so an ensemble member starting in a new thread would otherwise run with the
  // runtime's default (all cores) whenever another member had already set the process-wide count, and its
  // sums would depend on which started first. Only when it differs: at::set_num_threads also replaces
  // libtorch's pthreadpool, whose new threads spin for milliseconds; set on every predict call (16,384 rows
  // at a time in the explainers) that made 2 threads twice as slow as one.
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

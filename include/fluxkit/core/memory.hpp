// Large buffers written once per run (adjoint fields) and the training heap: how they get their memory.
#pragma once

#include <cstddef>
#include <vector>

namespace fluxkit {

// `v` becomes n zeros. A new allocation of at least 2 MB asks the kernel for transparent huge pages
// (madvise; a no-op where they are off), so that zeroing it takes one page fault per 2 MB instead of one per
// 4 kB: for a 23 MB adjoint field that is most of the time of a fast adjoint run.
void assign_zeros(std::vector<double>& v, std::size_t n);

// Asks for transparent huge pages on the whole 2 MB pages inside [begin, begin + bytes) (madvise
// MADV_HUGEPAGE). Advice only: where THP is off, or the range holds no whole huge page, nothing changes.
void advise_huge_pages(const void* begin, std::size_t bytes);

}  // namespace fluxkit

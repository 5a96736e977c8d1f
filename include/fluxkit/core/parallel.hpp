// Fork-join parallel loops over index ranges on ctx.threads threads. Work is split into contiguous chunks, so
// a function that writes only to its own indices is deterministic whatever the thread count.
#pragma once

#include <cstddef>
#include <functional>

#include "fluxkit/core/context.hpp"

namespace fluxkit {

// Calls body(begin, end) on disjoint chunks covering [0, n). Exceptions from any chunk are rethrown (the
// first).
void parallel_for(const Context& ctx, std::size_t n,
                  const std::function<void(std::size_t, std::size_t)>& body);

// Calls body(i) for every i in [0, n), each index taken by whichever thread is free (for few items of unequal
// cost, e.g. one per variable). Same determinism as parallel_for for a body that writes only its own index.
void parallel_for_each(const Context& ctx, std::size_t n, const std::function<void(std::size_t)>& body);

}  // namespace fluxkit

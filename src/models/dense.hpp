// Dense building blocks of the fused networks (src/models/recurrence.cpp, mlp.cpp). Internal to the libtorch
// part of fluxkit.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/Tensor.h>
#include <ATen/core/grad_mode.h>

#include <cstdint>

namespace fluxkit::detail {

// c = a b + beta c, for a [M, K], b [K, N] and c [M, N] (views allowed: the column blocks of a buffer,
// transposed weights). float32 runs oneDNN's sgemm when fluxkit is built with it (FLUXKIT_HAVE_DNNL):
// libtorch multiplies with OpenBLAS, and Debian's 0.3.21 runs its AVX2 (Haswell) kernels on CPUs it does
// not know, such as Zen 5, while oneDNN picks its kernels by instruction set: AVX-512 there, twice as fast
// for these shapes. Otherwise ATen's product. Inside a parallel region, serial.
void gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, double beta);

// a b as a new tensor, through gemm.
at::Tensor product(const at::Tensor& a, const at::Tensor& b);

// at::parallel_for(0, rows, grain, ...) calling fn(first, count), for work that calls ATen operations inside
// a custom autograd node: they must not record a graph, and OpenMP's threads start with autograd on (the mode
// is thread-local).
template <class Fn>
void parallel_rows(std::int64_t rows, std::int64_t grain, const Fn& fn) {
  at::parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    const at::NoGradGuard no_grad;
    fn(begin, end - begin);
  });
}

// Calls fn(first, count) on one block of the batch's rows per thread. Rows are independent through a
// recurrence or a stack of layers, so each thread runs all the steps or layers on its rows: a pass costs one
// parallel region instead of several per step or layer (each region wakes the other threads, a system call
// apiece, which at batch 32 cost more than the work they shared). Inside, the products and element-wise
// operations run serially.
inline constexpr std::int64_t kMinRowsPerThread = 8;
template <class Fn>
void for_batch_blocks(std::int64_t rows, const Fn& fn) {
  parallel_rows(rows, kMinRowsPerThread, fn);
}

}  // namespace fluxkit::detail

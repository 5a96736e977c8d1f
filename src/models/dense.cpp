#include "models/dense.hpp"

#include <ATen/ATen.h>

#ifdef FLUXKIT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include <algorithm>

namespace fluxkit::detail {

namespace {

// The matrix's layout for a row-major GEMM: 'N' and the row stride when its rows are contiguous, 'T' and the
// column stride when its columns are (a transposed view).
[[maybe_unused]] bool gemm_layout(const at::Tensor& m, char& trans, std::int64_t& ld) {
  if (m.stride(1) == 1 && m.stride(0) >= std::max<std::int64_t>(1, m.size(1))) {
    trans = 'N';
    ld = m.stride(0);
    return true;
  }
  if (m.stride(0) == 1 && m.stride(1) >= std::max<std::int64_t>(1, m.size(0))) {
    trans = 'T';
    ld = m.stride(1);
    return true;
  }
  return false;
}

}  // namespace

void gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, double beta) {
#ifdef FLUXKIT_HAVE_DNNL
  char ta = 'N', tb = 'N', tc = 'N';
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  if (c.scalar_type() == at::kFloat && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
      gemm_layout(a, ta, lda) && gemm_layout(b, tb, ldb) && gemm_layout(c, tc, ldc) && tc == 'N') {
    const std::int64_t M = c.size(0), N = c.size(1), K = a.size(1);
    if (M == 0 || N == 0) return;
    if (K == 0) {
      at::Tensor out = c;
      beta == 0 ? out.zero_() : out.mul_(beta);
      return;
    }
    const dnnl_status_t status =
        dnnl_sgemm(ta, tb, M, N, K, 1.0F, a.data_ptr<float>(), lda, b.data_ptr<float>(), ldb,
                   static_cast<float>(beta), c.data_ptr<float>(), ldc);
    TORCH_CHECK(status == dnnl_success, "oneDNN sgemm failed with status ", static_cast<int>(status));
    return;
  }
#endif
  at::Tensor out = c;
  if (beta == 0)
    at::mm_out(out, a, b);
  else
    out.addmm_(a, b, beta);
}

at::Tensor product(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor c = at::empty({a.size(0), b.size(1)}, a.options());
  gemm(a, b, c, 0);
  return c;
}

}  // namespace fluxkit::detail

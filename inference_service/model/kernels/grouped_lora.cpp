// Grouped LoRA decode delta on the CPU (see inference_service/model/grouped_lora_kernel.py for why).
//
//   y[n, o_p + :] += s[u, p] * (x[n, :] . A[u]) [r_p + :] . B_p[u]      for every row n at position u, every part p
//
// A [P, in, R] and each B_p [P, r_p, out_p] are the resident operands of fused_lora.FusedLoRA
// (fp32 or bf16), s [P, parts] the adapters' scales; x, y and s are fp32. Rows are given grouped by position (CSR: rows, offsets), and
// positions are split between threads, so each adapter's bytes are read from memory once per call
// and its other rows read them from cache.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__))
#error "built with -mavx512f -mavx512bw -mavx512vl -mfma (grouped_lora_kernel.py CFLAGS)"
#endif

namespace {

inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const c10::BFloat16* p, __mmask16 m) {  // bf16 -> fp32 is a 16-bit shift
  __m256i v = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// h[c0 : c0 + 16 * NV] = sum_k x[k] * A[k, c0 : ...], accumulated in registers (rank columns in 16-lane vectors)
template <int NV, typename W>
inline void shrink_block(const float* x, const W* a, int64_t fan_in, int64_t rank, int64_t c0, float* h) {
  __m512 acc[NV];
  __mmask16 m[NV];
  for (int v = 0; v < NV; ++v) {
    acc[v] = _mm512_setzero_ps();
    m[v] = lanes(rank - c0 - 16 * v);
  }
  for (int64_t k = 0; k < fan_in; ++k) {
    const __m512 xv = _mm512_set1_ps(x[k]);
    const W* ak = a + k * rank + c0;
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(xv, load16(ak + 16 * v, m[v]), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(h + c0 + 16 * v, m[v], acc[v]);
}

template <typename W>
inline void shrink(const float* x, const W* a, int64_t fan_in, int64_t rank, float* h) {
  for (int64_t c0 = 0; c0 < rank; c0 += 64) {
    const int64_t nv = (std::min<int64_t>(rank - c0, 64) + 15) / 16;
    switch (nv) {
      case 1: shrink_block<1>(x, a, fan_in, rank, c0, h); break;
      case 2: shrink_block<2>(x, a, fan_in, rank, c0, h); break;
      case 3: shrink_block<3>(x, a, fan_in, rank, c0, h); break;
      default: shrink_block<4>(x, a, fan_in, rank, c0, h); break;
    }
  }
}

// y[:out] += sum_j (h[j] * scale) * B[j, :out], B read row after row (one sequential stream; y stays in L1)
template <typename W>
inline void expand(const float* h, float scale, const W* b, int64_t cap, int64_t out, float* y) {
  for (int64_t j = 0; j < cap; ++j) {
    const __m512 hv = _mm512_set1_ps(h[j] * scale);
    const W* bj = b + j * out;
    for (int64_t o = 0; o < out; o += 16) {
      const __mmask16 m = lanes(out - o);
      _mm512_mask_storeu_ps(y + o, m, _mm512_fmadd_ps(hv, load16(bj + o, m), _mm512_maskz_loadu_ps(m, y + o)));
    }
  }
}

template <typename W>
void run(torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& rows, const torch::Tensor& offsets,
         const torch::Tensor& a, const std::vector<torch::Tensor>& bs, const torch::Tensor& scales,
         const std::vector<int64_t>& caps, const std::vector<int64_t>& outs) {
  const int64_t positions = offsets.size(0) - 1;
  const int64_t fan_in = a.size(1), rank = a.size(2), x_stride = x.size(1), y_stride = y.size(1);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t* rp = rows.data_ptr<int64_t>();
  const int64_t* op = offsets.data_ptr<int64_t>();
  const float* sp = scales.data_ptr<float>();
  const int64_t parts = static_cast<int64_t>(bs.size());
  const W* ap = reinterpret_cast<const W*>(a.data_ptr());
  std::vector<const W*> bp(bs.size(), nullptr);
  for (size_t p = 0; p < bs.size(); ++p)
    if (caps[p]) bp[p] = reinterpret_cast<const W*>(bs[p].data_ptr());
  at::parallel_for(0, positions, 1, [&](int64_t u0, int64_t u1) {
    std::vector<float> h(rank);
    for (int64_t u = u0; u < u1; ++u) {
      for (int64_t i = op[u]; i < op[u + 1]; ++i) {
        shrink(xp + rp[i] * x_stride, ap + u * fan_in * rank, fan_in, rank, h.data());
        float* yr = yp + rp[i] * y_stride;
        int64_t r0 = 0, o0 = 0;
        for (size_t p = 0; p < bs.size(); ++p) {
          if (caps[p]) {
            expand(h.data() + r0, sp[u * parts + p], bp[p] + u * caps[p] * outs[p], caps[p], outs[p], yr + o0);
            r0 += caps[p];
          }
          o0 += outs[p];
        }
      }
    }
  });
}

void grouped_lora_add_(torch::Tensor y, torch::Tensor x, torch::Tensor rows, torch::Tensor offsets, torch::Tensor a,
                       std::vector<torch::Tensor> bs, torch::Tensor scales, std::vector<int64_t> caps,
                       std::vector<int64_t> outs) {
  TORCH_CHECK(y.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat, "x and y must be float32");
  TORCH_CHECK(y.is_contiguous() && x.is_contiguous() && a.is_contiguous(), "x, y and A must be contiguous");
  TORCH_CHECK(rows.scalar_type() == at::kLong && offsets.scalar_type() == at::kLong, "rows/offsets must be int64");
  TORCH_CHECK(bs.size() == caps.size() && caps.size() == outs.size(), "one cap and one out size per part");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous() && scales.dim() == 2 &&
                  scales.size(0) >= offsets.size(0) - 1 && scales.size(1) == static_cast<int64_t>(bs.size()),
              "scales must be float32 [positions, parts]");
  int64_t r_total = 0, o_total = 0;
  for (size_t p = 0; p < bs.size(); ++p) {
    r_total += caps[p];
    o_total += outs[p];
    if (caps[p]) {
      TORCH_CHECK(bs[p].scalar_type() == a.scalar_type() && bs[p].is_contiguous(), "B parts: A's dtype, contiguous");
      TORCH_CHECK(bs[p].size(1) == caps[p] && bs[p].size(2) == outs[p], "B part shape does not match its cap/out");
      TORCH_CHECK(bs[p].size(0) >= offsets.size(0) - 1, "B part has fewer positions than offsets");
    }
  }
  TORCH_CHECK(a.size(2) == r_total && a.size(0) >= offsets.size(0) - 1, "A's rank or positions do not match");
  TORCH_CHECK(y.size(1) == o_total && x.size(1) == a.size(1), "x/y widths do not match A and the parts");
  if (a.scalar_type() == at::kFloat)
    run<float>(y, x, rows, offsets, a, bs, scales, caps, outs);
  else if (a.scalar_type() == at::kBFloat16)
    run<c10::BFloat16>(y, x, rows, offsets, a, bs, scales, caps, outs);
  else
    TORCH_CHECK(false, "operands must be float32 or bfloat16");
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // without the GIL, like torch's own ops: the server's gRPC threads keep running while a step computes
  m.def("grouped_lora_add_", &grouped_lora_add_, "y += grouped LoRA delta, rows grouped by position (in place)",
        py::call_guard<py::gil_scoped_release>());
}

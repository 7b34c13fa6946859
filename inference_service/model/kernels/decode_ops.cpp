// The small ops of a CPU decode step, fused (FastLlama._decode_fused; built by cpu_kernels.py): RMSNorm (with the residual add before it)
// and the attention block between the q|k|v and o projections (rotary embedding, KV-cache write, softmax
// attention over the row's cache). At one row each torch op costs 5-25 us of dispatch and allocation for
// microseconds of arithmetic; these do the same fp32 arithmetic in one call each.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <vector>

namespace {

inline void rms_norm_row(const float* h, const float* w, float* out, int64_t n, double eps) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) ss += h[i] * h[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + static_cast<float>(eps));
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = h[i] * inv * w[i];
}

// e^x in 16 lanes for x <= 0 (softmax's x - max): Cephes' expf polynomial on r = x - n ln2 (|r| <= ln2 / 2, ln2 in
// two parts), then 2^n by vscalefps, exact down through the subnormals to 0. Within 2 ulp of the correctly rounded
// value, where std::exp is one scalar call per score
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // e^-104 is 0 in fp32
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// Lane i of the result is the sum of v[i]'s 16 lanes, for 16 vectors: a transposing tree of adds, about two
// instructions per sum where a horizontal reduction per vector costs eight
inline __m512 sum16x16(const __m512* v) {
  __m512 u[4];
  for (int q = 0; q < 4; ++q) {
    const __m512* w = v + 4 * q;
    const __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
    const __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
    u[q] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))));
  }
  const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x44), _mm512_shuffle_f32x4(u[0], u[1], 0xEE));
  const __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x44), _mm512_shuffle_f32x4(u[2], u[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
}

inline __mmask16 first(int64_t m) { return m >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << m) - 1u); }

// p[t] = softmax_t(q·K[t] / sqrt(d)) for t < n (d a multiple of 16), into p[0 : n] (p holds n rounded up to 16):
// the scores of 16 positions at a time (each dot product in 16 lanes, then the 16 summed together), the
// exponentials 16 at a time; returns 1 / sum, which the caller applies to the weighted values
inline float softmax_weights(const float* q, const float* keys, int64_t n, int64_t d, float scale, float* p) {
  __m512 top = _mm512_set1_ps(-INFINITY);
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int64_t m = std::min<int64_t>(16, n - t0);
    __m512 acc[16];
    for (int64_t i = 0; i < 16; ++i) {
      acc[i] = _mm512_setzero_ps();
      if (i >= m) continue;
      const float* kt = keys + (t0 + i) * d;
      acc[i] = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(kt));
      for (int64_t j = 16; j < d; j += 16)
        acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(kt + j), acc[i]);
    }
    const __m512 sc = _mm512_mul_ps(sum16x16(acc), _mm512_set1_ps(scale));
    _mm512_storeu_ps(p + t0, sc);
    top = _mm512_mask_max_ps(top, first(m), top, sc);
  }
  const __m512 topv = _mm512_set1_ps(_mm512_reduce_max_ps(top));
  __m512 total = _mm512_setzero_ps();
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const __m512 e = _mm512_maskz_mov_ps(first(n - t0), exp16(_mm512_sub_ps(_mm512_loadu_ps(p + t0), topv)));
    _mm512_storeu_ps(p + t0, e);
    total = _mm512_add_ps(total, e);
  }
  return 1.0f / _mm512_reduce_add_ps(total);
}

// out[g] = inv[g] * sum_t p[g][t] V[t] for the G query heads of one kv head (p: G rows of stride ps), with d = 16 DV:
// each row of V loaded once for all G heads, the G x DV sums in registers (G * DV <= 16 of them)
template <int G, int DV>
inline void weighted_values(const float* p, int64_t ps, const float* inv, const float* values, int64_t n, float* out) {
  __m512 acc[G][DV];
  for (int g = 0; g < G; ++g)
    for (int u = 0; u < DV; ++u) acc[g][u] = _mm512_setzero_ps();
  for (int64_t t = 0; t < n; ++t) {
    __m512 v[DV];
    for (int u = 0; u < DV; ++u) v[u] = _mm512_loadu_ps(values + t * 16 * DV + 16 * u);
    for (int g = 0; g < G; ++g) {
      const __m512 w = _mm512_set1_ps(p[g * ps + t] * inv[g]);
      for (int u = 0; u < DV; ++u) acc[g][u] = _mm512_fmadd_ps(w, v[u], acc[g][u]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int u = 0; u < DV; ++u) _mm512_storeu_ps(out + g * 16 * DV + 16 * u, acc[g][u]);
}

// the same for any G and d (a multiple of 16), G heads at a time as registers allow
inline void weighted_values_any(const float* p, int64_t ps, const float* inv, const float* values, int64_t n,
                                int64_t group, int64_t d, float* out) {
  const int64_t dv = d / 16;
  if (dv == 4) {
    for (int64_t g = 0; g < group; g += 4) {
      switch (std::min<int64_t>(4, group - g)) {
        case 1: weighted_values<1, 4>(p + g * ps, ps, inv + g, values, n, out + g * d); break;
        case 2: weighted_values<2, 4>(p + g * ps, ps, inv + g, values, n, out + g * d); break;
        case 3: weighted_values<3, 4>(p + g * ps, ps, inv + g, values, n, out + g * d); break;
        default: weighted_values<4, 4>(p + g * ps, ps, inv + g, values, n, out + g * d); break;
      }
    }
    return;
  }
  if (dv == 8) {
    for (int64_t g = 0; g < group; g += 2) {
      if (group - g >= 2) weighted_values<2, 8>(p + g * ps, ps, inv + g, values, n, out + g * d);
      else weighted_values<1, 8>(p + g * ps, ps, inv + g, values, n, out + g * d);
    }
    return;
  }
  for (int64_t g = 0; g < group; ++g) {  // other head sizes: one head at a time, the sums in memory
    float* o = out + g * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t t = 0; t < n; ++t) {
      const __m512 w = _mm512_set1_ps(p[g * ps + t] * inv[g]);
      for (int64_t j = 0; j < d; j += 16)
        _mm512_storeu_ps(o + j, _mm512_fmadd_ps(w, _mm512_loadu_ps(values + t * d + j), _mm512_loadu_ps(o + j)));
    }
  }
}

void check_rows(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 2 && t.scalar_type() == torch::kFloat32 && t.is_contiguous(), name,
              ": contiguous fp32 [rows, n]");
}

}  // namespace

// y = h * rsqrt(mean(h^2) + eps) * w, per row (torch.nn.functional.rms_norm over the last dim)
torch::Tensor rms_norm(const torch::Tensor& h, const torch::Tensor& w, double eps) {
  check_rows(h, "h");
  const int64_t rows = h.size(0), n = h.size(1);
  TORCH_CHECK(w.numel() == n && w.scalar_type() == torch::kFloat32 && w.is_contiguous(), "w: fp32 [n]");
  auto out = torch::empty_like(h);
  for (int64_t r = 0; r < rows; ++r)
    rms_norm_row(h.data_ptr<float>() + r * n, w.data_ptr<float>(), out.data_ptr<float>() + r * n, n, eps);
  return out;
}

// h += delta (in place), then rms_norm(h, w): the residual add and the next norm in one pass
torch::Tensor add_rms_norm_(torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& w, double eps) {
  check_rows(h, "h");
  check_rows(delta, "delta");
  TORCH_CHECK(delta.sizes() == h.sizes(), "delta must match h");
  const int64_t rows = h.size(0), n = h.size(1);
  TORCH_CHECK(w.numel() == n && w.scalar_type() == torch::kFloat32 && w.is_contiguous(), "w: fp32 [n]");
  auto out = torch::empty_like(h);
  float* hp = h.data_ptr<float>();
  const float* dp = delta.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) hp[r * n + i] += dp[r * n + i];
    rms_norm_row(hp + r * n, w.data_ptr<float>(), out.data_ptr<float>() + r * n, n, eps);
  }
  return out;
}

// One decode token per row b = 0..B-1 at position pos[b]:
//   q, k = rotary(q|k of qkv[b]) with cos[b], sin[b] ([B, d], halves repeated: HF's rotate_half form)
//   kc[b, :, pos[b]] = k; vc[b, :, pos[b]] = v
//   att[b, head] = softmax(q·K[b, kv(head), :pos[b]+1]ᵀ / sqrt(d)) · V[b, kv(head), :pos[b]+1]
// with grouped-query heads (head h reads kv head h / (heads / kv_heads)). Returns att [B, heads * d].
// Head sizes that are a multiple of 16 take the vectorized softmax (softmax_weights) and weighted values
// (each row of V read once for the heads of its group): 16 rows of SmolLM2 at ~33 positions 61.5 -> 30.9 us
// a layer, 500 positions 753 -> 251 us, outputs within 3e-7 of the scalar loop's (relative to the largest;
// an ad hoc A/B of the two sources, 2-core Zen 4). Other head sizes keep the scalar loop.
torch::Tensor attention(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor& kc, torch::Tensor& vc, const torch::Tensor& pos, int64_t heads,
                        int64_t kv_heads) {
  check_rows(qkv, "qkv");
  check_rows(cos, "cos");
  check_rows(sin, "sin");
  const int64_t b = qkv.size(0), d = cos.size(1), group = heads / kv_heads;
  TORCH_CHECK(heads % kv_heads == 0 && d % 2 == 0, "heads must be a multiple of kv_heads, d even");
  TORCH_CHECK(qkv.size(1) == (heads + 2 * kv_heads) * d, "qkv: [B, (heads + 2 kv_heads) d]");
  TORCH_CHECK(cos.size(0) == b && sin.sizes() == cos.sizes(), "cos, sin: [B, d]");
  TORCH_CHECK(kc.dim() == 4 && kc.is_contiguous() && vc.is_contiguous() && kc.sizes() == vc.sizes() &&
                  kc.scalar_type() == torch::kFloat32 && vc.scalar_type() == torch::kFloat32 &&
                  kc.size(0) >= b && kc.size(1) == kv_heads && kc.size(3) == d,
              "kc, vc: contiguous fp32 [rows >= B, kv_heads, width, d]");
  TORCH_CHECK(pos.dim() == 1 && pos.size(0) == b && pos.scalar_type() == torch::kInt64, "pos: int64 [B]");
  const int64_t width = kc.size(2), half = d / 2, row_width = (heads + 2 * kv_heads) * d;
  const int64_t* pp = pos.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) TORCH_CHECK(pp[r] >= 0 && pp[r] < width, "pos[", r, "] outside the cache");
  auto att = torch::empty({b, heads * d}, qkv.options());
  const float* src = qkv.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  float* kp = kc.data_ptr<float>();
  float* vp = vc.data_ptr<float>();
  float* out = att.data_ptr<float>();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  {
    pybind11::gil_scoped_release release;
    at::parallel_for(0, b * kv_heads, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> q(group * d), scores, inv;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t r = item / kv_heads, kv = item % kv_heads, p = pp[r], n = p + 1;
        const float* c = cp + r * d;
        const float* s = sp + r * d;
        const float* row = src + r * row_width;
        auto rotate = [&](const float* x, float* y) {
          for (int64_t j = 0; j < half; ++j) {
            y[j] = x[j] * c[j] - x[j + half] * s[j];
            y[j + half] = x[j + half] * c[j + half] + x[j] * s[j + half];
          }
        };
        float* kdst = kp + ((r * kv_heads + kv) * width + p) * d;
        float* vdst = vp + ((r * kv_heads + kv) * width + p) * d;
        rotate(row + (heads + kv) * d, kdst);
        const float* v = row + (heads + kv_heads + kv) * d;
        for (int64_t j = 0; j < d; ++j) vdst[j] = v[j];
        for (int64_t g = 0; g < group; ++g) rotate(row + (kv * group + g) * d, q.data() + g * d);
        const float* keys = kp + (r * kv_heads + kv) * width * d;
        const float* values = vp + (r * kv_heads + kv) * width * d;
        float* o = out + r * heads * d + kv * group * d;
        if (d % 16 == 0) {  // vectorized: the scores and exponentials 16 positions at a time
          const int64_t padded = (n + 15) / 16 * 16;
          scores.resize(group * padded);
          inv.resize(group);
          for (int64_t g = 0; g < group; ++g)
            inv[g] = softmax_weights(q.data() + g * d, keys, n, d, scale, scores.data() + g * padded);
          weighted_values_any(scores.data(), padded, inv.data(), values, n, group, d, o);
          continue;
        }
        scores.assign(group * n, 0.0f);
        for (int64_t g = 0; g < group; ++g) {
          const float* qg = q.data() + g * d;
          float* sg = scores.data() + g * n;
          float top = -INFINITY;
          for (int64_t t = 0; t < n; ++t) {
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t j = 0; j < d; ++j) dot += qg[j] * keys[t * d + j];
            sg[t] = dot * scale;
            top = std::max(top, sg[t]);
          }
          float total = 0.0f;
          for (int64_t t = 0; t < n; ++t) {
            sg[t] = std::exp(sg[t] - top);
            total += sg[t];
          }
          float* og = o + g * d;
          for (int64_t j = 0; j < d; ++j) og[j] = 0.0f;
          const float norm = 1.0f / total;
          for (int64_t t = 0; t < n; ++t) {
            const float w = sg[t] * norm;
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) og[j] += w * values[t * d + j];
          }
        }
      }
    });
  }
  return att;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rms_norm", &rms_norm, "RMSNorm over the last dim of fp32 [rows, n]");
  m.def("add_rms_norm_", &add_rms_norm_, "h += delta, then RMSNorm of h");
  m.def("attention", &attention, "rotary, KV-cache write and attention of one decode token per row");
}

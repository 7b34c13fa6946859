// The small ops of a CPU decode step, fused (FastLlama._decode_fused; built by cpu_kernels.py): RMSNorm (with the residual add before it)
// and the attention block between the q|k|v and o projections (rotary embedding, KV-cache write, softmax
// attention over the row's cache). At one row each torch op costs 5-25 us of dispatch and allocation for
// microseconds of arithmetic; these do the same fp32 arithmetic in one call each.
#include <torch/extension.h>
#include <ATen/Parallel.h>
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
      std::vector<float> q(group * d), scores;
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
          float* o = out + r * heads * d + (kv * group + g) * d;
          for (int64_t j = 0; j < d; ++j) o[j] = 0.0f;
          const float inv = 1.0f / total;
          for (int64_t t = 0; t < n; ++t) {
            const float w = sg[t] * inv;
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) o[j] += w * values[t * d + j];
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

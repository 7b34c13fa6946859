// Grouped LoRA decode delta on the CPU (see inference_service/model/grouped_lora_kernel.py for why).
//
//   y[n, o_p + :] += s[u, p] * (x[n, :] . A[u]) [r_p + :] . B_p[u]      for every row n at position u, every part p
//
// A [P, in, R] and each B_p [P, r_p, out_p] are the resident operands of fused_lora.FusedLoRA
// (fp32, bf16 or int8), s [P, parts] the adapters' scales; x, y and s are fp32. int8 operands carry one more
// fp32 scale per rank column, c [P, R] (A[u][:, j] ~ a_j * qA[:, j], B[u][j, :] ~ b_j * qB[j, :], c[u, j] = a_j * b_j):
//
//   y[n, o_p + :] += s[u, p] * sum_j c[u, r_p + j] * (x[n, :] . qA[u][:, r_p + j]) * qB_p[u][j, :] Rows are given grouped (CSR: rows,
// offsets; group g's rows are rows[offsets[g] : offsets[g + 1]]) and index[g] is the operand position u of
// group g (FusedLoRA groups rows by adapter slot and keeps each slot's operands at a cached position). Work
// items of up to 4 rows of one group are split between threads: the rows of an item share each load of A
// and B, and an adapter's other items read its bytes from cache.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
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
inline __m512 load16(const int8_t* p, __mmask16 m) {  // int8 -> fp32: sign-extend, convert (exact)
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}
inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

constexpr int ROWS = 4;  // rows of one position computed together: A and B are read once for them

// h_r[c0 : c0 + 16 * NV] = sum_k x_r[k] * A[k, c0 : ...] for RB rows, accumulated in registers (rank columns in
// 16-lane vectors); each row's sums run in the same order whatever RB is, so a row's result does not depend on
// the rows beside it
template <int NV, int RB, typename W>
inline void shrink_block(const float* const* x, const W* a, int64_t fan_in, int64_t rank, int64_t c0,
                         float* const* h) {
  __m512 acc[RB][NV];
  __mmask16 m[NV];
  for (int v = 0; v < NV; ++v) m[v] = lanes(rank - c0 - 16 * v);
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < fan_in; ++k) {
    const W* ak = a + k * rank + c0;
    __m512 av[NV];
    for (int v = 0; v < NV; ++v) av[v] = load16(ak + 16 * v, m[v]);
    for (int r = 0; r < RB; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r][k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xv, av[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(h[r] + c0 + 16 * v, m[v], acc[r][v]);
}

template <int RB, typename W>
inline void shrink(const float* const* x, const W* a, int64_t fan_in, int64_t rank, float* const* h) {
  for (int64_t c0 = 0; c0 < rank; c0 += 64) {
    const int64_t nv = (std::min<int64_t>(rank - c0, 64) + 15) / 16;
    switch (nv) {
      case 1: shrink_block<1, RB>(x, a, fan_in, rank, c0, h); break;
      case 2: shrink_block<2, RB>(x, a, fan_in, rank, c0, h); break;
      case 3: shrink_block<3, RB>(x, a, fan_in, rank, c0, h); break;
      default: shrink_block<4, RB>(x, a, fan_in, rank, c0, h); break;
    }
  }
}

// y_r[o0 : o0 + 16 * NV] += sum_j (h_r[j] * scale) * B[j, o0 : ...] for RB rows: the tile of y held in registers
// over all j (loaded and stored once), each B vector used by all RB rows. The sums run in the order of a
// row-by-row update (y, then j = 0, 1, ...), so the result is that of y[o] = fma(h_j * scale, B[j, o], y[o]) for
// j in turn, whatever the tiling
template <int NV, int RB, typename W>
inline void expand_tile(const float* const* h, float scale, const W* b, int64_t cap, int64_t out, int64_t o0,
                        float* const* y) {
  __m512 acc[RB][NV];
  __mmask16 m[NV];
  for (int v = 0; v < NV; ++v) m[v] = lanes(out - o0 - 16 * v);
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_maskz_loadu_ps(m[v], y[r] + o0 + 16 * v);
  for (int64_t j = 0; j < cap; ++j) {
    const W* bj = b + j * out + o0;
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = load16(bj + 16 * v, m[v]);
    for (int r = 0; r < RB; ++r) {
      const __m512 hv = _mm512_set1_ps(h[r][j] * scale);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(hv, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(y[r] + o0 + 16 * v, m[v], acc[r][v]);
}

// y_r[:out] += sum_j (h_r[j] * scale) * B[j, :out]. Several rows (a hot adapter, its B in cache): in tiles of 64
// outputs, y in registers (one adapter's 16 rows 3.5 -> 2.6 ms over 30 layers, bf16). One row (each adapter of a mixed
// batch, its B streamed from memory): row after row of B, one sequential stream, y updated in L1 (the tiles'
// 16 strided streams are slower there: 6.7 -> 7.9 ms for 16 adapters). Same sums, same order either way
template <int RB, typename W>
inline void expand(const float* const* h, float scale, const W* b, int64_t cap, int64_t out, float* const* y) {
  if (RB == 1) {
    for (int64_t j = 0; j < cap; ++j) {
      const __m512 hv = _mm512_set1_ps(h[0][j] * scale);
      const W* bj = b + j * out;
      for (int64_t o = 0; o < out; o += 16) {
        const __mmask16 m = lanes(out - o);
        _mm512_mask_storeu_ps(y[0] + o, m, _mm512_fmadd_ps(hv, load16(bj + o, m), _mm512_maskz_loadu_ps(m, y[0] + o)));
      }
    }
    return;
  }
  for (int64_t o0 = 0; o0 < out; o0 += 64) {
    switch ((std::min<int64_t>(out - o0, 64) + 15) / 16) {
      case 1: expand_tile<1, RB>(h, scale, b, cap, out, o0, y); break;
      case 2: expand_tile<2, RB>(h, scale, b, cap, out, o0, y); break;
      case 3: expand_tile<3, RB>(h, scale, b, cap, out, o0, y); break;
      default: expand_tile<4, RB>(h, scale, b, cap, out, o0, y); break;
    }
  }
}

struct Work {
  int64_t position, first, count;  // rows[first : first + count] of one group, on operand position `position`
};

template <int RB, typename W>
void rows_of(const Work& w, const float* xp, float* yp, const int64_t* rp, int64_t x_stride, int64_t y_stride,
             const W* ap, const std::vector<const W*>& bp, const float* sp, const float* cp, int64_t fan_in,
             int64_t rank, const std::vector<int64_t>& caps, const std::vector<int64_t>& outs,
             std::vector<float>& hbuf) {
  const int64_t u = w.position, parts = static_cast<int64_t>(caps.size());
  const float* xs[RB];
  float* hs[RB];
  float* ys[RB];
  for (int r = 0; r < RB; ++r) {
    xs[r] = xp + rp[w.first + r] * x_stride;
    hs[r] = hbuf.data() + r * rank;
    ys[r] = yp + rp[w.first + r] * y_stride;
  }
  shrink<RB>(xs, ap + u * fan_in * rank, fan_in, rank, hs);
  if (cp)  // int8: each rank column's scale a_j * b_j, once per row
    for (int r = 0; r < RB; ++r)
      for (int64_t j = 0; j < rank; ++j) hs[r][j] *= cp[u * rank + j];
  int64_t r0 = 0, o0 = 0;
  for (int64_t p = 0; p < parts; ++p) {
    if (caps[p]) {
      const float* hp[RB];
      float* yo[RB];
      for (int r = 0; r < RB; ++r) {
        hp[r] = hs[r] + r0;
        yo[r] = ys[r] + o0;
      }
      expand<RB>(hp, sp[u * parts + p], bp[p] + u * caps[p] * outs[p], caps[p], outs[p], yo);
      r0 += caps[p];
    }
    o0 += outs[p];
  }
}

template <typename W>
void run(torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& rows, const torch::Tensor& offsets,
         const torch::Tensor& index, const torch::Tensor& a, const std::vector<torch::Tensor>& bs,
         const torch::Tensor& scales, const torch::Tensor& col_scales, const std::vector<int64_t>& caps,
         const std::vector<int64_t>& outs) {
  const int64_t groups = offsets.size(0) - 1;
  const int64_t fan_in = a.size(1), rank = a.size(2), x_stride = x.size(1), y_stride = y.size(1);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t* rp = rows.data_ptr<int64_t>();
  const int64_t* op = offsets.data_ptr<int64_t>();
  const int64_t* ip = index.data_ptr<int64_t>();
  const float* sp = scales.data_ptr<float>();
  const float* cp = col_scales.numel() ? col_scales.data_ptr<float>() : nullptr;
  const W* ap = reinterpret_cast<const W*>(a.data_ptr());
  std::vector<const W*> bp(bs.size(), nullptr);
  for (size_t p = 0; p < bs.size(); ++p)
    if (caps[p]) bp[p] = reinterpret_cast<const W*>(bs[p].data_ptr());
  // work items of up to ROWS rows of one group, split between threads: a hot adapter's rows are shared out
  std::vector<Work> work;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = op[g]; i < op[g + 1]; i += ROWS)
      work.push_back({ip[g], i, std::min<int64_t>(ROWS, op[g + 1] - i)});
  at::parallel_for(0, static_cast<int64_t>(work.size()), 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> h(ROWS * rank);
    for (int64_t i = w0; i < w1; ++i) {
      const Work& w = work[i];
      switch (w.count) {
        case 1: rows_of<1>(w, xp, yp, rp, x_stride, y_stride, ap, bp, sp, cp, fan_in, rank, caps, outs, h); break;
        case 2: rows_of<2>(w, xp, yp, rp, x_stride, y_stride, ap, bp, sp, cp, fan_in, rank, caps, outs, h); break;
        case 3: rows_of<3>(w, xp, yp, rp, x_stride, y_stride, ap, bp, sp, cp, fan_in, rank, caps, outs, h); break;
        default: rows_of<4>(w, xp, yp, rp, x_stride, y_stride, ap, bp, sp, cp, fan_in, rank, caps, outs, h); break;
      }
    }
  });
}

// int8 operands need their column scales, float32 [positions, R]; fp32 and bf16 ones take none (an empty tensor)
void check_col_scales(const torch::Tensor& a, const torch::Tensor& col_scales) {
  const auto t = a.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kBFloat16 || t == at::kChar, "operands must be float32, bfloat16 or int8");
  if (t == at::kChar) {
    TORCH_CHECK(col_scales.scalar_type() == at::kFloat && col_scales.is_contiguous() && col_scales.dim() == 2 &&
                    col_scales.size(0) == a.size(0) && col_scales.size(1) == a.size(2),
                "int8 operands need column scales, float32 [positions, R]");
  } else {
    TORCH_CHECK(col_scales.numel() == 0, "column scales are for int8 operands only");
  }
}

void grouped_lora_add_(torch::Tensor y, torch::Tensor x, torch::Tensor rows, torch::Tensor offsets,
                       torch::Tensor index, torch::Tensor a, std::vector<torch::Tensor> bs, torch::Tensor scales,
                       torch::Tensor col_scales, std::vector<int64_t> caps, std::vector<int64_t> outs) {
  TORCH_CHECK(y.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat, "x and y must be float32");
  TORCH_CHECK(y.is_contiguous() && x.is_contiguous() && a.is_contiguous(), "x, y and A must be contiguous");
  TORCH_CHECK(rows.scalar_type() == at::kLong && offsets.scalar_type() == at::kLong && index.scalar_type() == at::kLong,
              "rows/offsets/index must be int64");
  TORCH_CHECK(offsets.is_contiguous() && index.is_contiguous() && rows.is_contiguous() &&
                  index.size(0) >= offsets.size(0) - 1, "one operand position per group");
  {  // every group with rows must name an operand position the operands hold
    const int64_t* op = offsets.data_ptr<int64_t>();
    const int64_t* ip = index.data_ptr<int64_t>();
    for (int64_t g = 0; g + 1 < offsets.size(0); ++g)
      TORCH_CHECK(op[g + 1] == op[g] || (ip[g] >= 0 && ip[g] < a.size(0) && ip[g] < scales.size(0)),
                  "group ", g, " has rows but no operand position (", ip[g], ")");
  }
  TORCH_CHECK(bs.size() == caps.size() && caps.size() == outs.size(), "one cap and one out size per part");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous() && scales.dim() == 2 &&
                  scales.size(1) == static_cast<int64_t>(bs.size()),
              "scales must be float32 [positions, parts]");
  int64_t r_total = 0, o_total = 0;
  for (size_t p = 0; p < bs.size(); ++p) {
    r_total += caps[p];
    o_total += outs[p];
    if (caps[p]) {
      TORCH_CHECK(bs[p].scalar_type() == a.scalar_type() && bs[p].is_contiguous(), "B parts: A's dtype, contiguous");
      TORCH_CHECK(bs[p].size(1) == caps[p] && bs[p].size(2) == outs[p], "B part shape does not match its cap/out");
      TORCH_CHECK(bs[p].size(0) == a.size(0), "B parts have A's positions");
    }
  }
  TORCH_CHECK(a.size(2) == r_total, "A's rank does not match the parts' caps");
  TORCH_CHECK(y.size(1) == o_total && x.size(1) == a.size(1), "x/y widths do not match A and the parts");
  check_col_scales(a, col_scales);
  if (a.scalar_type() == at::kFloat)
    run<float>(y, x, rows, offsets, index, a, bs, scales, col_scales, caps, outs);
  else if (a.scalar_type() == at::kBFloat16)
    run<c10::BFloat16>(y, x, rows, offsets, index, a, bs, scales, col_scales, caps, outs);
  else
    run<int8_t>(y, x, rows, offsets, index, a, bs, scales, col_scales, caps, outs);
}

// 16 fp32 lanes to bf16 as torch rounds them (c10::BFloat16: round to nearest even, NaN to 0x7FC0)
inline __m256i to_bf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
  return _mm512_cvtepi32_epi16(r);
}
inline void store16(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
inline void store16(c10::BFloat16* p, __m512 v, __mmask16 m) { _mm256_mask_storeu_epi16(p, m, to_bf16(v)); }
// int8: v already scaled; round to nearest even (torch.round) and saturate to [-128, 127] (|v| <= 127 here)
inline void store16(int8_t* p, __m512 v, __mmask16 m) {
  _mm_mask_storeu_epi8(p, m, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
}

// dst[i * dst_stride + c] = src[c * src_stride + i] for c < cols, i < n: 16 source columns gathered at a time
// (one gather per 16 destination entries; the transposes of small ranks are otherwise scalar). int8: each value
// times col_inv[c] or row_inv[i] first (whichever is given), then rounded
template <typename D>
inline void transpose_from_f32(D* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t n,
                               int64_t cols, const float* col_inv = nullptr, const float* row_inv = nullptr) {
  for (int64_t c0 = 0; c0 < cols; c0 += 16) {
    const __mmask16 m = lanes(cols - c0);
    const __m512i idx = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(c0)),
                                                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                                              12, 13, 14, 15)),
                                           _mm512_set1_epi32(static_cast<int>(src_stride)));
    const __m512 cinv = col_inv ? _mm512_maskz_loadu_ps(m, col_inv + c0) : _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; ++i) {
      __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src + i, 4);
      if (col_inv) v = _mm512_mul_ps(v, cinv);
      if (row_inv) v = _mm512_mul_ps(v, _mm512_set1_ps(row_inv[i]));
      store16(dst + i * dst_stride + c0, v, m);
    }
  }
}

// int8 scales of one rank column: amax = max |v|, the stored scale amax / 127 and the inverse 127 / amax that
// quantizes (0 and 0 for a column of zeros, such as a rank's padding)
inline void int8_scale(float amax, float& scale, float& inv) {
  scale = amax / 127.0f;
  inv = amax > 0.0f ? 127.0f / amax : 0.0f;
}

// One slot's parts into position `pos`: A[pos, k, r0 + j] = A_p[j, k] and B_p[pos, j, o] = B_p[o, j]
// int8 (cd, the position's column scales, given): A_p's rank row j and B_p's rank column j are each quantized on
// their own absmax, and cd[r0 + j] = a_j * b_j
template <typename D>
void write_parts(torch::Tensor& a, std::vector<torch::Tensor>& bs, int64_t pos, const std::vector<torch::Tensor>& as_src,
                 const std::vector<torch::Tensor>& bs_src, int64_t slot, const std::vector<int64_t>& caps,
                 float* cd = nullptr) {
  const int64_t fan_in = a.size(1), rank = a.size(2);
  D* ad = reinterpret_cast<D*>(a.data_ptr()) + pos * fan_in * rank;
  int64_t r0 = 0;
  std::vector<float> a_inv, b_inv;
  for (size_t p = 0; p < caps.size(); ++p) {
    const int64_t cap = caps[p];
    if (!cap) continue;
    const int64_t out = bs[p].size(2);
    D* bd = reinterpret_cast<D*>(bs[p].data_ptr()) + pos * cap * out;
    const float* as = as_src[p].data_ptr<float>() + slot * cap * fan_in;  // [cap, in]
    const float* bsrc = bs_src[p].data_ptr<float>() + slot * out * cap;   // [out, cap]
    if (cd) {
      std::vector<float> a_max(cap, 0.0f), b_max(cap, 0.0f);
      for (int64_t j = 0; j < cap; ++j)
        for (int64_t k = 0; k < fan_in; ++k) a_max[j] = std::max(a_max[j], std::abs(as[j * fan_in + k]));
      for (int64_t o = 0; o < out; ++o)
        for (int64_t j = 0; j < cap; ++j) b_max[j] = std::max(b_max[j], std::abs(bsrc[o * cap + j]));
      a_inv.assign(cap, 0.0f);
      b_inv.assign(cap, 0.0f);
      for (int64_t j = 0; j < cap; ++j) {
        float sa, sb;
        int8_scale(a_max[j], sa, a_inv[j]);
        int8_scale(b_max[j], sb, b_inv[j]);
        cd[r0 + j] = sa * sb;
      }
    }
    transpose_from_f32(ad + r0, rank, as, fan_in, fan_in, cap, cd ? a_inv.data() : nullptr);
    transpose_from_f32(bd, out, bsrc, cap, cap, out, nullptr, cd ? b_inv.data() : nullptr);
    r0 += cap;
  }
}

// One slot's adapter written into operand position `pos` (fused_lora.FusedLoRA._write): for each part p with a rank
// capacity, A[pos, :, r0 + j] = A_p[j, :] (the bank's A_p[slot] [cap_p, in], transposed), B_p[pos, j, :] = B_p[:, j]
// (the bank's B_p[slot] [out_p, cap_p], transposed) and s[pos, p] = scale_p[slot]; the bank is float32 (its
// dtype on a CPU, the only device of this kernel). One call for all parts, the transposes
// gathered 16 entries at a time, where torch's strided copies ran element by element. Values
// convert as torch's copy_ converts them (bf16: round to nearest even), so the operands equal the torch path's.
void write_operands_(torch::Tensor a, std::vector<torch::Tensor> bs, torch::Tensor scales, torch::Tensor col_scales,
                     int64_t pos, std::vector<torch::Tensor> as_src, std::vector<torch::Tensor> bs_src,
                     std::vector<torch::Tensor> scale_src, int64_t slot, std::vector<int64_t> caps) {
  const size_t parts = caps.size();
  TORCH_CHECK(bs.size() == parts && as_src.size() == parts && bs_src.size() == parts && scale_src.size() == parts,
              "one B, source A, source B and scale vector per part");
  TORCH_CHECK(a.is_contiguous() && a.dim() == 3 && pos >= 0 && pos < a.size(0), "A [positions, in, R], pos inside");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous() && scales.dim() == 2 &&
                  scales.size(0) == a.size(0) && scales.size(1) == static_cast<int64_t>(parts),
              "scales must be float32 [positions, parts]");
  int64_t r_total = 0;
  for (size_t p = 0; p < parts; ++p) {
    if (!caps[p]) continue;
    r_total += caps[p];
    TORCH_CHECK(bs[p].scalar_type() == a.scalar_type() && bs[p].is_contiguous() && bs[p].dim() == 3 &&
                    bs[p].size(0) == a.size(0) && bs[p].size(1) == caps[p],
                "B part: A's dtype and positions, its cap, contiguous");
    TORCH_CHECK(as_src[p].scalar_type() == at::kFloat && bs_src[p].scalar_type() == at::kFloat &&
                    as_src[p].is_contiguous() && bs_src[p].is_contiguous(),
                "source A and B: the bank's float32, contiguous");
    TORCH_CHECK(as_src[p].dim() == 3 && as_src[p].size(1) == caps[p] && as_src[p].size(2) == a.size(1),
                "source A part must be the bank's [slots, cap, in]");
    TORCH_CHECK(bs_src[p].dim() == 3 && bs_src[p].size(1) == bs[p].size(2) && bs_src[p].size(2) == caps[p] &&
                    bs_src[p].size(0) == as_src[p].size(0),
                "source B part must be the bank's [slots, out, cap]");
    TORCH_CHECK(scale_src[p].scalar_type() == at::kFloat && scale_src[p].is_contiguous() &&
                    scale_src[p].numel() == as_src[p].size(0) && slot >= 0 && slot < as_src[p].size(0),
                "scale vector: float32, one per slot; slot inside");
  }
  TORCH_CHECK(r_total == a.size(2), "A's rank does not match the parts' caps");
  check_col_scales(a, col_scales);
  // every check passed: nothing is written for a refused call
  float* sd = scales.data_ptr<float>() + pos * static_cast<int64_t>(parts);
  for (size_t p = 0; p < parts; ++p)
    if (caps[p]) sd[p] = scale_src[p].data_ptr<float>()[slot];
  if (a.scalar_type() == at::kBFloat16) write_parts<c10::BFloat16>(a, bs, pos, as_src, bs_src, slot, caps);
  else if (a.scalar_type() == at::kChar)
    write_parts<int8_t>(a, bs, pos, as_src, bs_src, slot, caps, col_scales.data_ptr<float>() + pos * a.size(2));
  else write_parts<float>(a, bs, pos, as_src, bs_src, slot, caps);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // without the GIL, like torch's own ops: the server's gRPC threads keep running while a step computes
  m.def("grouped_lora_add_", &grouped_lora_add_, "y += grouped LoRA delta, rows grouped by position (in place)",
        py::call_guard<py::gil_scoped_release>());
  m.def("write_operands_", &write_operands_, "one slot's parts written, transposed, into an operand position",
        py::call_guard<py::gil_scoped_release>());
}

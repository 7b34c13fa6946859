// The LM head's ranking product on AVX512-VNNI: int8 weights x 8-bit hidden states, summed exactly in int32
// (lm_head.VnniRanking; built by cpu_kernels.py).
//
// Weight: w[v, k] = q[v, k] * s[v], q in -127..127 (one scale per vocabulary row). Hidden state x[m, :] on its
// own scale: p[m] = max_k |x[m, k]|, x̂[m, k] = round(127 x[m, k] / p[m]) in -127..127. Then
//   rough[m, v] = s[v] * (p[m] / 127) * sum_k x̂[m, k] q[v, k].
// vpdpbusd multiplies unsigned by signed bytes, so the kernel feeds u = x̂ + 128 (0..255) and subtracts
// 128 * sum_k q[v, k], kept per row of the weight: sum_k u q = sum_k x̂ q + 128 sum_k q. Every product and sum
// is an integer below 2^31 (|u q| <= 255 * 127 per term, K terms: K < 66,000), so the int32 total is exact in any
// order and a row's result does not depend on the rows batched with it.
//
// Packed layout (pack()): 16 vocabulary rows (a "block") by 4 inputs are 64 bytes, byte 4i + j holding row i's
// input 4c + j: one 512-bit load is the signed operand of vpdpbusd for 16 rows and an input quad, and the
// broadcast quad of one hidden state's u is the unsigned one. 64 products per instruction, twice vdpbf16ps's.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t BLOCK = 16;
constexpr int MAX_ROWS = 16;  // hidden states per pass: one accumulator register each
constexpr int64_t PREFETCH = 24;  // quads (64-byte lines) ahead of the one multiplied; past the end it never faults

// rows R of one pass against vocabulary block vb: xq [quads][R] (each 32-bit word 4 bytes of u), K/4 quads
template <int R>
void block_rows(const int8_t* w, const int32_t* corr, const float* wscale, const uint32_t* xq, const float* xscale,
                float* y, float* ymax, int64_t quads, int64_t vocab, int64_t valid, int64_t vb) {
  __m512i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  const int8_t* wp = w + vb * quads * 64;
  for (int64_t c = 0; c < quads; ++c) {
    _mm_prefetch(reinterpret_cast<const char*>(wp + (c + PREFETCH) * 64), _MM_HINT_T0);
    const __m512i wq = _mm512_loadu_si512(wp + c * 64);
    const uint32_t* xc = xq + c * R;
    for (int r = 0; r < R; ++r) acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(static_cast<int>(xc[r])), wq);
  }
  const __m512i cr = _mm512_loadu_si512(corr + vb * BLOCK);
  const __m512 ws = _mm512_loadu_ps(wscale + vb * BLOCK);
  // lanes past the valid vocabulary (padding rows) read -inf, so they never rank
  const __mmask16 live = valid >= (vb + 1) * BLOCK ? 0xFFFF : static_cast<__mmask16>((1u << (valid - vb * BLOCK)) - 1);
  for (int r = 0; r < R; ++r) {
    // exact in fp32 while k * 127^2 < 2^24 (k <= 1040, SmolLM2's 576); beyond, rounded the same in any batch
    const __m512 exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r], cr));
    const __m512 value = _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), live, _mm512_mul_ps(exact, ws),
                                            _mm512_set1_ps(xscale[r]));
    _mm512_storeu_ps(y + r * vocab + vb * BLOCK, value);
    ymax[r * (vocab / BLOCK) + vb] = _mm512_reduce_max_ps(value);
  }
}

using BlockFn = void (*)(const int8_t*, const int32_t*, const float*, const uint32_t*, const float*, float*, float*,
                         int64_t, int64_t, int64_t, int64_t);

// The k best of n values by a strict order: larger first, NaN as -inf, then the smaller index (deterministic ties).
// One pass with a heap of k whose top is the worst kept: most values lose one comparison against it.
struct Ranked {
  float key;
  int64_t id;
};
inline bool better(const Ranked& a, const Ranked& b) { return a.key > b.key || (a.key == b.key && a.id < b.id); }
inline float key(float v) { return std::isnan(v) ? -INFINITY : v; }

inline void offer(std::vector<Ranked>& heap, int64_t k, const Ranked& r) {
  if (static_cast<int64_t>(heap.size()) < k) {
    heap.push_back(r);
    std::push_heap(heap.begin(), heap.end(), better);
  } else if (better(r, heap.front())) {
    std::pop_heap(heap.begin(), heap.end(), better);
    heap.back() = r;
    std::push_heap(heap.begin(), heap.end(), better);
  }
}

// The k best ids of one row, best first: the k best blocks by their maxima, then the k best of their entries.
void select_row(const float* rough, const float* bmax, int64_t blocks, int64_t k, int64_t* out) {
  std::vector<Ranked> best_blocks, best;
  best_blocks.reserve(k);
  best.reserve(k);
  for (int64_t b = 0; b < blocks; ++b) offer(best_blocks, std::min<int64_t>(k, blocks), Ranked{key(bmax[b]), b});
  for (const Ranked& b : best_blocks)
    for (int64_t id = b.id * BLOCK; id < (b.id + 1) * BLOCK; ++id) offer(best, k, Ranked{key(rough[id]), id});
  std::sort(best.begin(), best.end(), better);
  for (size_t i = 0; i < best.size(); ++i) out[i] = best[i].id;
}

// One row's exact scores: sum_d h[d] * table[id, d] for each id, accumulated in float64 and rounded once to fp32,
// the next ids' table rows prefetched while one is summed (they are scattered over the table).
void exact_scores(const float* h, const float* table, int64_t dim, const int64_t* ids, int64_t n, float* out) {
  constexpr int64_t AHEAD = 2;
  auto prefetch = [&](int64_t i) {
    const char* row = reinterpret_cast<const char*>(table + ids[i] * dim);
    for (int64_t b = 0; b < dim * 4; b += 64) _mm_prefetch(row + b, _MM_HINT_T0);
  };
  for (int64_t i = 0; i < std::min(n, AHEAD); ++i) prefetch(i);
  for (int64_t i = 0; i < n; ++i) {
    if (i + AHEAD < n) prefetch(i + AHEAD);
    const float* row = table + ids[i] * dim;
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    int64_t d = 0;
    for (; d + 16 <= dim; d += 16) {
      acc0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(h + d)), _mm512_cvtps_pd(_mm256_loadu_ps(row + d)), acc0);
      acc1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(h + d + 8)),
                             _mm512_cvtps_pd(_mm256_loadu_ps(row + d + 8)), acc1);
    }
    for (; d < dim; d += 8) {
      const __mmask8 m = dim - d >= 8 ? __mmask8(0xFF) : __mmask8((1u << (dim - d)) - 1);
      acc0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, h + d)),
                             _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, row + d)), acc0);
    }
    out[i] = static_cast<float>(_mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1)));
  }
}

constexpr BlockFn BLOCKS[MAX_ROWS + 1] = {nullptr, block_rows<1>, block_rows<2>, block_rows<3>, block_rows<4>,
                                          block_rows<5>, block_rows<6>, block_rows<7>, block_rows<8>, block_rows<9>,
                                          block_rows<10>, block_rows<11>, block_rows<12>, block_rows<13>,
                                          block_rows<14>, block_rows<15>, block_rows<16>};

}  // namespace

// x [m, k] fp32; packed [V/16, k/4, 64] int8, corr [V] int32 (128 * row sums), wscale [V] fp32; the first `valid`
// of the V (padded) rows are the vocabulary; table: the exact fp32 head [valid, d] (d <= k; x's first d values are
// the hidden state), or empty -> (rough [m, V] fp32, -inf past `valid`; ids [m, top] int64: each row's `top` best,
// best first, found in its `top` best blocks of 16 by their maxima, which hold them all; their exact scores
// [m, top] fp32 from the table, or [m, 0] without one)
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> rough(const torch::Tensor& x, const torch::Tensor& packed,
                                                              const torch::Tensor& corr, const torch::Tensor& wscale,
                                                              int64_t valid, int64_t top, const torch::Tensor& table) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32 && x.is_contiguous(), "x: contiguous fp32 [m, k]");
  TORCH_CHECK(packed.dim() == 3 && packed.scalar_type() == torch::kInt8 && packed.is_contiguous() &&
                  packed.size(2) == 64, "packed: contiguous int8 [V/16, k/4, 64]");
  const int64_t m = x.size(0), k = x.size(1), blocks = packed.size(0), vocab = blocks * BLOCK, quads = k / 4;
  TORCH_CHECK(k % 4 == 0 && packed.size(1) == quads, "k must be a multiple of 4 and match the weight");
  TORCH_CHECK(corr.scalar_type() == torch::kInt32 && corr.is_contiguous() && corr.numel() == vocab,
              "corr: contiguous int32 [V]");
  TORCH_CHECK(wscale.scalar_type() == torch::kFloat32 && wscale.is_contiguous() && wscale.numel() == vocab,
              "wscale: contiguous fp32 [V]");
  TORCH_CHECK(valid > vocab - BLOCK && valid <= vocab, "valid: the vocabulary size, padded to V by under 16 rows");
  TORCH_CHECK(top >= 0 && top <= valid, "top: 0..valid ids per row");
  const bool scored = table.numel() > 0;
  TORCH_CHECK(!scored || (table.dim() == 2 && table.scalar_type() == torch::kFloat32 && table.is_contiguous() &&
                          table.size(0) == valid && table.size(1) <= k && table.size(1) > k - 4),
              "table: contiguous fp32 [valid, d], x padded from d to k by under 4 zeros");
  auto y = torch::empty({m, vocab}, x.options());
  auto ids = torch::empty({m, top}, x.options().dtype(torch::kInt64));
  auto scores = torch::empty({m, scored ? top : 0}, x.options());
  if (m == 0) return {y, ids, scores};
  std::vector<float> ymax(m * blocks);
  // each pass's rows quantized and transposed to [quads][rows]: the broadcasts read one line per quad
  const int64_t passes = (m + MAX_ROWS - 1) / MAX_ROWS, per_pass = (m + passes - 1) / passes;
  std::vector<uint32_t> xq(m * quads);
  std::vector<float> xscale(m);
  const float* xp = x.data_ptr<float>();
  for (int64_t r0 = 0; r0 < m; r0 += per_pass) {
    const int64_t rows = std::min<int64_t>(per_pass, m - r0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = xp + (r0 + r) * k;
      float peak = 0.0f;
      for (int64_t i = 0; i < k; ++i) peak = std::max(peak, std::fabs(row[i]));
      const float inv = peak > 0.0f ? 127.0f / peak : 0.0f;
      xscale[r0 + r] = peak / 127.0f;
      for (int64_t c = 0; c < quads; ++c) {
        uint32_t word = 0;
        for (int j = 0; j < 4; ++j) {
          const int q = static_cast<int>(std::nearbyint(row[4 * c + j] * inv));  // -127..127 (round half even)
          word |= static_cast<uint32_t>(q + 128) << (8 * j);
        }
        xq[r0 * quads + c * rows + r] = word;
      }
    }
  }
  const int8_t* w = packed.data_ptr<int8_t>();
  const int32_t* cr = corr.data_ptr<int32_t>();
  const float* ws = wscale.data_ptr<float>();
  float* out = y.data_ptr<float>();
  float* out_max = ymax.data();
  int64_t* out_ids = ids.data_ptr<int64_t>();
  float* out_scores = scores.data_ptr<float>();
  const float* tp = scored ? table.data_ptr<float>() : nullptr;
  const int64_t dim = scored ? table.size(1) : 0;
  {
    pybind11::gil_scoped_release release;
    at::parallel_for(0, blocks, 16, [&](int64_t begin, int64_t end) {
      for (int64_t vb = begin; vb < end; ++vb) {
        for (int64_t r0 = 0; r0 < m; r0 += per_pass) {
          const int rows = static_cast<int>(std::min<int64_t>(per_pass, m - r0));
          BLOCKS[rows](w, cr, ws, xq.data() + r0 * quads, xscale.data() + r0, out + r0 * vocab,
                       out_max + r0 * blocks, quads, vocab, valid, vb);
        }
      }
    });
    if (top > 0)
      at::parallel_for(0, m, 1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          select_row(out + r * vocab, out_max + r * blocks, blocks, top, out_ids + r * top);
          if (scored) exact_scores(xp + r * k, tp, dim, out_ids + r * top, top, out_scores + r * top);
        }
      });
  }
  return {y, ids, scores};
}

// q [V, k] int8 (-127..127), V a multiple of 16 and k of 4 -> (packed [V/16, k/4, 64], corr [V] = 128 * row sums)
std::tuple<torch::Tensor, torch::Tensor> pack(const torch::Tensor& q) {
  TORCH_CHECK(q.dim() == 2 && q.scalar_type() == torch::kInt8, "q: int8 [V, k]");
  const int64_t vocab = q.size(0), k = q.size(1);
  TORCH_CHECK(vocab % BLOCK == 0 && k % 4 == 0, "V must be a multiple of 16 and k of 4");
  auto qc = q.contiguous();
  const int64_t blocks = vocab / BLOCK, quads = k / 4;
  auto packed = torch::empty({blocks, quads, 64}, torch::dtype(torch::kInt8));
  auto corr = torch::empty({vocab}, torch::dtype(torch::kInt32));
  const int8_t* qp = qc.data_ptr<int8_t>();
  int8_t* pp = packed.data_ptr<int8_t>();
  int32_t* cp = corr.data_ptr<int32_t>();
  for (int64_t v = 0; v < vocab; ++v) {
    int32_t sum = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int8_t value = qp[v * k + i];
      sum += value;
      pp[((v / BLOCK) * quads + i / 4) * 64 + (v % BLOCK) * 4 + i % 4] = value;
    }
    cp[v] = 128 * sum;
  }
  return {packed, corr};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rough", &rough, "x [m, k] fp32 -> (rough logits [m, V], each row's `top` best ids, best first, their exact "
                        "scores from the table)");
  m.def("pack", &pack, "q [V, k] int8 -> (packed, corr) in the layout rough() reads");
}

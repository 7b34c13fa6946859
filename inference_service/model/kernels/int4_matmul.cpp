// Group-32 int4 weight x fp32 activations for decode-sized batches, on AVX512-BF16 (quant.Int4Weight; built by cpu_kernels.py).
//
// Weight: w[n, k] = (q[n, k] - 8) * s[n, k/32] + z[n, k/32], q in 0..15, s and z bf16 (quant.Int4Weight).
// Per output column n and row m:
//   y[m, n] = sum_g s[n, g] * S[m, n, g] + (z[n, g] - 136 s[n, g]) * X[m, g]
//   S[m, n, g] = sum_{k in g} x̂[m, k] * (128 + q[n, k]),   X[m, g] = sum_{k in g} x̂[m, k]
// where x̂ is x rounded to bf16 (as torch's int4 path rounds it). 128 + q is exact in bf16 and its bits are
// 0x4300 | q, so a nibble becomes a bf16 operand with one ternary-logic op; vdpbf16ps multiplies bf16
// pairs exactly and accumulates in fp32, 32 products per instruction. The 128 offset cancels in fp32;
// its rounding error (about 2^-24 * 143 * sum|x̂|) is far below the bf16 rounding of x̂ itself.
//
// Packed layout (pack()): 16 output columns (a "column block") by 8 inputs (an "octet") are 32 uint16
// words, word 2i + p holding in nibble j the weight of column i, input 8o + 2j + p: one 512-bit load
// gives, per nibble, 16 columns x one input pair, the operand layout vdpbf16ps wants. Scales and zeros
// are bf16 [column blocks, groups, 16].
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t GROUP = 32;
constexpr int64_t BLOCK = 16;
constexpr int MAX_ROWS = 16;  // rows per pass: group accumulators in registers, totals spilled to L1 past 8 rows

inline __m512 bf16_to_fp32(const uint16_t* p) {  // 16 bf16 values, widened exactly
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The low nibble q of each 16-bit word of src as the bf16 operand 128 + q (bits 0x4300 | q), both paths.
inline __m512i nibble_operands(__m512i src) {
  return _mm512_ternarylogic_epi32(src, _mm512_set1_epi16(0x000F), _mm512_set1_epi16(0x4300), 0xEA);  // (a & b) | c
}

// z - 136 s for a group's 16 columns: s, and the zeros stored BLOCK values after the scales at sp.
inline __m512 zero_term(__m512 s, const uint16_t* sp) {
  return _mm512_fnmadd_ps(_mm512_set1_ps(136.0f), s, bf16_to_fp32(sp + BLOCK));
}

template <int R>
void column_block(const uint16_t* w, const uint16_t* sz, const uint32_t* xpairs, const float* xsum,
                  float* y, int64_t k, int64_t n, int64_t nb, int64_t rows_stride_pairs) {
  const int64_t groups = k / GROUP;
  __m512 total[R];
  for (int r = 0; r < R; ++r) total[r] = _mm512_setzero_ps();
  const uint16_t* wp = w + nb * (k / 8) * 32;
  const uint16_t* sp = sz + nb * groups * 2 * BLOCK;
  for (int64_t g = 0; g < groups; ++g) {
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int o = 0; o < GROUP / 8; ++o) {
      __m512i raw = _mm512_loadu_si512(wp + (g * 4 + o) * 32);
      const int64_t pair0 = g * 16 + o * 4;  // input pair index of nibble 0
#define LF_NIBBLE(J, SRC)                                                                           \
      {                                                                                             \
        __m512bh wb = (__m512bh)nibble_operands(SRC);                                               \
        for (int r = 0; r < R; ++r) {                                                               \
          __m512bh xb = (__m512bh)_mm512_set1_epi32(xpairs[r * rows_stride_pairs + pair0 + J]);     \
          acc[r] = _mm512_dpbf16_ps(acc[r], wb, xb);                                                \
        }                                                                                           \
      }
      LF_NIBBLE(0, raw)
      LF_NIBBLE(1, _mm512_srli_epi16(raw, 4))
      LF_NIBBLE(2, _mm512_srli_epi16(raw, 8))
      LF_NIBBLE(3, _mm512_srli_epi16(raw, 12))
#undef LF_NIBBLE
    }
    const __m512 s = bf16_to_fp32(sp + g * 2 * BLOCK);
    const __m512 c = zero_term(s, sp + g * 2 * BLOCK);
    for (int r = 0; r < R; ++r) {
      total[r] = _mm512_fmadd_ps(acc[r], s, total[r]);
      total[r] = _mm512_fmadd_ps(c, _mm512_set1_ps(xsum[r * groups + g]), total[r]);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + r * n + nb * BLOCK, total[r]);
}

using BlockFn = void (*)(const uint16_t*, const uint16_t*, const uint32_t*, const float*, float*, int64_t,
                         int64_t, int64_t, int64_t);
constexpr BlockFn BLOCKS[MAX_ROWS + 1] = {nullptr, column_block<1>, column_block<2>, column_block<3>,
                                          column_block<4>, column_block<5>, column_block<6>, column_block<7>,
                                          column_block<8>, column_block<9>, column_block<10>, column_block<11>,
                                          column_block<12>, column_block<13>, column_block<14>, column_block<15>,
                                          column_block<16>};

// AMX (Intel Sapphire Rapids and later): the same sums with one tile multiply per column block and group.
// A group's 16 input pairs x 16 columns, nibble by nibble, are exactly the rows of a bf16 B tile in the
// layout TDPBF16PS wants (row = input pair, 16 columns x 2 bf16), and the rows' bf16 inputs of that group are
// an A tile read in place from the input pairs (stride: a row's pairs). C = A·B is S[m, n, g] for up to 16
// rows at once; the fp32 scale and zero terms follow as above. Three column blocks go side by side (tiles
// C 0-2, B 3-5, A 6) so their tile multiplies overlap. On the 2-core Xeon test machine the 30 layers at 16
// rows take 8.8 ms here against 28.8 ms in the loop (benchmarks/decode_formats.py; model/quant.py has the
// table). A row's sums never depend on the other rows of its call, as in the loop; the two paths may differ
// in the last fp32 bit, so mm runs one of them in a process (AMX where the CPU has it).
struct TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

bool cpu_has_amx_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (d & (1u << 24)) && (d & (1u << 22));  // AMX-TILE, AMX-BF16
}

bool request_amx() {  // Linux asks each process to request the tile state before its first tile instruction
  constexpr long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
  return cpu_has_amx_bf16() && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

#define LF_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,fma")))

// One group's B tile of column block nb: 16 input pairs x 16 columns x 2 bf16 operands (128 + q).
LF_AMX inline void fill_b_tile(uint16_t* b_tile, const uint16_t* wp, int64_t g) {
  for (int o = 0; o < GROUP / 8; ++o) {
    const __m512i raw = _mm512_loadu_si512(wp + (g * 4 + o) * 32);
    for (int j = 0; j < 4; ++j)  // nibble j of octet o: input pair 4o + j of the group
      _mm512_store_si512(b_tile + (4 * o + j) * 32, nibble_operands(_mm512_srli_epi16(raw, 4 * j)));
  }
}

// total[r] += s · C[r] + (z - 136 s) · X[r, g] for one block's group, rows r of the pass.
LF_AMX inline void scale_into(float* total, const float* c_tile, const uint16_t* sp, const float* xsum_g,
                              int64_t groups, int rows) {
  const __m512 s = bf16_to_fp32(sp);
  const __m512 c = zero_term(s, sp);
  for (int r = 0; r < rows; ++r) {
    __m512 t = _mm512_fmadd_ps(_mm512_load_ps(c_tile + r * 16), s, _mm512_load_ps(total + r * 16));
    _mm512_store_ps(total + r * 16, _mm512_fmadd_ps(c, _mm512_set1_ps(xsum_g[r * groups]), t));
  }
}

// NB column blocks side by side (tiles: C 0..NB-1, B 3..3+NB-1, A 6), so their tile multiplies overlap.
template <int NB>
LF_AMX void amx_blocks(const uint16_t* w, const uint16_t* sz, const uint32_t* xrows, const float* xsum,
                       float* y, int rows, int64_t k, int64_t n, int64_t nb0, int64_t pairs) {
  const int64_t groups = k / GROUP;
  alignas(64) uint16_t b_tile[NB][16 * 32];
  alignas(64) float c_tile[NB][16 * 16];
  alignas(64) float total[NB][16 * 16];
  std::memset(total, 0, sizeof total);
  for (int64_t g = 0; g < groups; ++g) {
    for (int b = 0; b < NB; ++b) fill_b_tile(b_tile[b], w + (nb0 + b) * (k / 8) * 32, g);
    _tile_loadd(6, xrows + g * 16, pairs * 4);
    _tile_zero(0); _tile_loadd(3, b_tile[0], 64); _tile_dpbf16ps(0, 6, 3);
    if constexpr (NB > 1) { _tile_zero(1); _tile_loadd(4, b_tile[1], 64); _tile_dpbf16ps(1, 6, 4); }
    if constexpr (NB > 2) { _tile_zero(2); _tile_loadd(5, b_tile[2], 64); _tile_dpbf16ps(2, 6, 5); }
    _tile_stored(0, c_tile[0], 64);
    if constexpr (NB > 1) _tile_stored(1, c_tile[1], 64);
    if constexpr (NB > 2) _tile_stored(2, c_tile[2], 64);
    for (int b = 0; b < NB; ++b)
      scale_into(total[b], c_tile[b], sz + ((nb0 + b) * groups + g) * 2 * BLOCK, xsum + g, groups, rows);
  }
  for (int b = 0; b < NB; ++b)
    for (int r = 0; r < rows; ++r)
      _mm512_storeu_ps(y + r * n + (nb0 + b) * BLOCK, _mm512_load_ps(total[b] + r * 16));
}

LF_AMX void amx_column_blocks(const uint16_t* w, const uint16_t* sz, const uint32_t* xpairs, const float* xsum,
                              float* y, int64_t m, int64_t k, int64_t n, int64_t nb_begin, int64_t nb_end,
                              int64_t pairs) {
  const int64_t groups = k / GROUP;
  for (int64_t r0 = 0; r0 < m; r0 += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, m - r0));
    TileConfig cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 3; ++t) {
      cfg.rows[t] = rows; cfg.colsb[t] = 64;          // C: rows x 16 fp32
      cfg.rows[3 + t] = 16; cfg.colsb[3 + t] = 64;    // B: 16 input pairs x 16 columns x 2 bf16
    }
    cfg.rows[6] = rows; cfg.colsb[6] = 64;            // A: rows x 16 input pairs
    _tile_loadconfig(&cfg);
    const uint32_t* xrows = xpairs + r0 * pairs;
    const float* xs = xsum + r0 * groups;
    float* yr = y + r0 * n;
    int64_t nb = nb_begin;
    for (; nb + 3 <= nb_end; nb += 3) amx_blocks<3>(w, sz, xrows, xs, yr, rows, k, n, nb, pairs);
    if (nb_end - nb == 2) amx_blocks<2>(w, sz, xrows, xs, yr, rows, k, n, nb, pairs);
    else if (nb_end - nb == 1) amx_blocks<1>(w, sz, xrows, xs, yr, rows, k, n, nb, pairs);
  }
  _tile_release();
}

const bool AMX = request_amx();

inline uint16_t round_bf16(float f) {  // round to nearest even, as torch's .to(bfloat16) (no NaN inputs here)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace

enum class Path { automatic, loop, amx };

// x [m, k] fp32, packed [n/16, k/8, 32] int16, scales_zeros [n/16, k/32, 2, 16] int16 (bf16 bits) -> [m, n] fp32
torch::Tensor run(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& scales_zeros, Path path) {
  TORCH_CHECK(path != Path::amx || AMX, "the AMX path needs a CPU with AMX-BF16 and the kernel's permission");
  const bool amx = path == Path::amx || (path == Path::automatic && AMX);
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32 && x.is_contiguous(), "x: contiguous fp32 [m, k]");
  TORCH_CHECK(packed.dim() == 3 && packed.scalar_type() == torch::kInt16 && packed.is_contiguous() &&
                  packed.size(2) == 32, "packed: contiguous int16 [n/16, k/8, 32]");
  const int64_t m = x.size(0), k = x.size(1), blocks = packed.size(0), n = blocks * BLOCK;
  TORCH_CHECK(k % GROUP == 0 && packed.size(1) * 8 == k, "k must be a multiple of 32 and match the weight");
  TORCH_CHECK(scales_zeros.scalar_type() == torch::kInt16 && scales_zeros.is_contiguous() &&
                  scales_zeros.numel() == blocks * (k / GROUP) * 2 * BLOCK, "scales_zeros: [n/16, k/32, 2, 16]");
  auto y = torch::empty({m, n}, x.options());
  if (m == 0) return y;
  const int64_t groups = k / GROUP, pairs = k / 2;
  // x rounded to bf16 once (pairs of inputs as one 32-bit word each), and its per-group sums
  std::vector<uint32_t> xpairs(m * pairs);
  std::vector<float> xsum(m * groups);
  const float* xp = x.data_ptr<float>();
  for (int64_t r = 0; r < m; ++r) {
    auto* dst = reinterpret_cast<uint16_t*>(xpairs.data() + r * pairs);
    for (int64_t g = 0; g < groups; ++g) {
      float sum = 0.0f;
      for (int64_t i = g * GROUP; i < (g + 1) * GROUP; ++i) {
        const uint16_t b = round_bf16(xp[r * k + i]);
        dst[i] = b;
        const uint32_t wide = static_cast<uint32_t>(b) << 16;
        float f;
        std::memcpy(&f, &wide, 4);
        sum += f;
      }
      xsum[r * groups + g] = sum;
    }
  }
  const auto* w = reinterpret_cast<const uint16_t*>(packed.data_ptr<int16_t>());
  const auto* sz = reinterpret_cast<const uint16_t*>(scales_zeros.data_ptr<int16_t>());
  float* out = y.data_ptr<float>();
  const int64_t passes = (m + MAX_ROWS - 1) / MAX_ROWS, per_pass = (m + passes - 1) / passes;  // even passes
  {
    pybind11::gil_scoped_release release;
    at::parallel_for(0, blocks, 4, [&](int64_t begin, int64_t end) {
      if (amx) {
        amx_column_blocks(w, sz, xpairs.data(), xsum.data(), out, m, k, n, begin, end, pairs);
        return;
      }
      for (int64_t nb = begin; nb < end; ++nb) {
        for (int64_t r0 = 0; r0 < m; r0 += per_pass) {
          const int rows = static_cast<int>(std::min<int64_t>(per_pass, m - r0));
          BLOCKS[rows](w, sz, xpairs.data() + r0 * pairs, xsum.data() + r0 * groups, out + r0 * n, k, n, nb,
                       pairs);
        }
      }
    });
  }
  return y;
}

torch::Tensor mm(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& scales_zeros) {
  return run(x, packed, scales_zeros, Path::automatic);
}

// q [n, k] uint8 (0..15), scale and zero [n, k/32] bf16 -> (packed, scales_zeros) in the layout above
std::tuple<torch::Tensor, torch::Tensor> pack(const torch::Tensor& q, const torch::Tensor& scale,
                                              const torch::Tensor& zero) {
  TORCH_CHECK(q.dim() == 2 && q.scalar_type() == torch::kUInt8, "q: uint8 [n, k]");
  const int64_t n = q.size(0), k = q.size(1);
  TORCH_CHECK(n % BLOCK == 0 && k % GROUP == 0, "n must be a multiple of 16 and k of 32");
  TORCH_CHECK(scale.scalar_type() == torch::kBFloat16 && zero.scalar_type() == torch::kBFloat16 &&
                  scale.size(0) == n && scale.size(1) == k / GROUP && zero.sizes() == scale.sizes(),
              "scale and zero: bf16 [n, k/32]");
  auto qc = q.contiguous();
  auto sc = scale.contiguous(), zc = zero.contiguous();
  const int64_t blocks = n / BLOCK, octets = k / 8, groups = k / GROUP;
  auto packed = torch::zeros({blocks, octets, 32}, torch::dtype(torch::kInt16));
  auto sz = torch::empty({blocks, groups, 2, BLOCK}, torch::dtype(torch::kInt16));
  const uint8_t* qp = qc.data_ptr<uint8_t>();
  auto* pp = reinterpret_cast<uint16_t*>(packed.data_ptr<int16_t>());
  auto* szp = reinterpret_cast<uint16_t*>(sz.data_ptr<int16_t>());
  const auto* sp = reinterpret_cast<const uint16_t*>(sc.data_ptr<at::BFloat16>());
  const auto* zp = reinterpret_cast<const uint16_t*>(zc.data_ptr<at::BFloat16>());
  for (int64_t nb = 0; nb < blocks; ++nb) {
    for (int64_t i = 0; i < BLOCK; ++i) {
      const int64_t col = nb * BLOCK + i;
      for (int64_t kk = 0; kk < k; ++kk) {
        const uint16_t v = qp[col * k + kk] & 0xF;
        const int64_t o = kk / 8, j = (kk % 8) / 2, p = kk % 2;
        pp[(nb * octets + o) * 32 + 2 * i + p] |= static_cast<uint16_t>(v << (4 * j));
      }
      for (int64_t g = 0; g < groups; ++g) {
        szp[((nb * groups + g) * 2 + 0) * BLOCK + i] = sp[col * groups + g];
        szp[((nb * groups + g) * 2 + 1) * BLOCK + i] = zp[col * groups + g];
      }
    }
  }
  return {packed, sz};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("mm", &mm, "x [m, k] fp32 times a packed group-32 int4 weight -> [m, n] fp32 (AMX where the CPU has it)");
  m.def("mm_loop", [](const torch::Tensor& x, const torch::Tensor& p, const torch::Tensor& s) {
    return run(x, p, s, Path::loop); }, "mm on the vdpbf16ps loop, whatever the CPU");
  m.def("mm_amx", [](const torch::Tensor& x, const torch::Tensor& p, const torch::Tensor& s) {
    return run(x, p, s, Path::amx); }, "mm on AMX tiles; refused where the CPU has none");
  m.def("amx", []() { return AMX; }, "whether mm runs on AMX tiles in this process");
  m.def("pack", &pack, "q, scale, zero -> the kernel's packed weight and scales");
}

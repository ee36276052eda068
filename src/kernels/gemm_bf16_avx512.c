// The bf16 variant of our AVX-512 GEMM (AVX-512 BF16: vdpbf16ps): out (N, OC) =
// act(inp (N, IC) weight (OC, IC)^T + bias) with weight and inp rounded to bf16 and the
// products summed in fp32. Compiled with -mavx512bf16 on top of the AVX-512 flags
// (CMakeLists.txt); called only when dispatch found AVX-512 and the CPU has AVX-512 BF16.
//
// Packed layout: panels of NR = 64 columns, as the fp32 sgemm (gemm_avx512.c), but over
// pairs of k, the operand order vdpbf16ps wants: with ICp = IC rounded up to even, panel p
// is (ICp / 2, 64, 2) bf16, element [kp][j][e] = bf16(weight[64 p + j][2 kp + e]), zero
// past OC or IC. One k pair of a panel is 256 bytes: 4 zmm of 16 columns x 2 k.
//
// inp is rounded to bf16 once per call into a row-major (N, ICp) buffer (rows split over
// the threads), then each thread runs its 64-column panels with a 6 x 64 micro-kernel: per
// k pair, 4 loads of the panel, one 32-bit broadcast (the pair) per row, 24 vdpbf16ps.
// Blocking as the fp32 sgemm: rows in blocks of at most 384, depth in blocks of KC = 256
// (128 pairs). Each out element is bias + (sum over its first KC of k) + (the next KC) +
// ..., then the activation, whatever N, the row's tile or the thread count.
// Rounding: round to nearest even (lector_f32_to_bf16), NaN to a quiet NaN; vdpbf16ps
// itself treats bf16 denormals as zero and flushes denormal results.
#include "kernels/kernels_impl.h"

#include <immintrin.h>

#include "base/base_impl.h"
#include "kernels/simd.h"

#define MR 6
#define NR 64
#define KC 256

static inline int64_t even_up(int64_t n) { return n + (n & 1); }

size_t lector__matmul_bf16_packed_size_avx512(int64_t IC, int64_t OC) {
    return (size_t)((OC + NR - 1) / NR) * (size_t)even_up(IC) * NR;
}

// ----------------------------------------------------------------------------
// rounding to bf16 (16 at a time; the same bits as lector_f32_to_bf16)

static inline __m256i v_to_bf16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    r = _mm512_srli_epi32(r, 16);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
    return _mm512_cvtepi32_epi16(r);
}

// dst (n, ICp) bf16 <- src (n, IC) fp32, the padding column (odd IC) zero
static void rows_to_bf16(uint16_t *dst, const float *src, int64_t n, int64_t IC) {
    int64_t ICp = even_up(IC);
    for (int64_t r = 0; r < n; r++) {
        const float *s = src + r * IC;
        uint16_t *d = dst + r * ICp;
        int64_t k = 0;
        for (; k + 16 <= IC; k += 16)
            _mm256_storeu_si256((__m256i *)(d + k), v_to_bf16(_mm512_loadu_ps(s + k)));
        for (; k < IC; k++) d[k] = lector_f32_to_bf16(s[k]);
        if (ICp != IC) d[IC] = 0;
    }
}

// ----------------------------------------------------------------------------
// packing

void lector__matmul_bf16_pack_avx512(uint16_t *packed, const float *weight, int64_t IC,
                                     int64_t OC) {
    int64_t ICp = even_up(IC), n_panels = (OC + NR - 1) / NR;
    for (int64_t p = 0; p < n_panels; p++) {
        uint16_t *dst = packed + p * ICp * NR;
        for (int64_t j = 0; j < NR; j++) {
            int64_t o = p * NR + j;
            for (int64_t k = 0; k < ICp; k++) {
                float v = o < OC && k < IC ? weight[o * IC + k] : 0.0f;
                dst[(k / 2) * 2 * NR + 2 * j + (k & 1)] = lector_f32_to_bf16(v);
            }
        }
    }
}

void lector__matmul_bf16_pack_from_f32_avx512(uint16_t *packed, const float *packed_f32,
                                              int64_t IC, int64_t OC) {
    // packed_f32 panel p is (IC, 64), element [k][j] (gemm_avx512.c), padding already 0
    int64_t ICp = even_up(IC), n_panels = (OC + NR - 1) / NR;
    for (int64_t p = 0; p < n_panels; p++) {
        const float *src = packed_f32 + p * IC * NR;
        uint16_t *dst = packed + p * ICp * NR;
        for (int64_t k = 0; k < ICp; k++) {
            for (int64_t j = 0; j < NR; j++) {
                float v = k < IC ? src[k * NR + j] : 0.0f;
                dst[(k / 2) * 2 * NR + 2 * j + (k & 1)] = lector_f32_to_bf16(v);
            }
        }
    }
}

// ----------------------------------------------------------------------------
// micro-kernel

// c[0..m, 0..n] = (first ? bias (or 0) : c) + a (m rows, lda apart, 2 kp deep) . b, then
// act when last. Rows of a past m repeat row 0: computed, never stored.
static void kernel_6x64(int64_t kp, const uint16_t *a, int64_t lda, int m,
                        const uint16_t *restrict b, float *c, int64_t ldc, int n,
                        const float *bias, int first, int last, enum lector__act act) {
    V_TILE_ROWS6(uint16_t, a, lda, m);
    V_TILE_ACC6X4(__m512, _mm512_setzero_ps());
    for (int64_t k = 0; k < kp; k++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 32),
                 b2 = (__m512bh)_mm512_load_si512(b + 64),
                 b3 = (__m512bh)_mm512_load_si512(b + 96);
        __m512bh ai;
#define ROW(i)                                                                              \
    ai = (__m512bh)v_bcast32(a##i + 2 * k);                                                 \
    c##i##0 = _mm512_dpbf16_ps(c##i##0, ai, b0);                                            \
    c##i##1 = _mm512_dpbf16_ps(c##i##1, ai, b1);                                            \
    c##i##2 = _mm512_dpbf16_ps(c##i##2, ai, b2);                                            \
    c##i##3 = _mm512_dpbf16_ps(c##i##3, ai, b3);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += 2 * NR;
    }
    __m512 acc[MR][4] = V_TILE_ARRAY6X4;
    v_tile_store(acc, m, c, ldc, n, bias, first, last, act);
}

// the operands of the bf16 product's tiles
struct operands {
    const uint16_t *a, *packed; // inp in bf16 (N, ICp), the panels
    int64_t ICp;
};

static void tile_bf16(const struct lector__gemm_tiles *t, int64_t r0, int m, int64_t p,
                      int64_t pc, int64_t kc, int first, int last) {
    const struct operands *x = t->ctx;
    int n = t->OC - p * NR < NR ? (int)(t->OC - p * NR) : NR;
    kernel_6x64(kc / 2, x->a + r0 * x->ICp + pc, x->ICp, m, x->packed + p * x->ICp * NR + pc * NR,
                t->out + r0 * t->OC + p * NR, t->OC, n, t->bias ? t->bias + p * NR : NULL, first,
                last, t->act);
}

// out[:, 64 p0 .. min(64 p1, OC)) from panels [p0, p1); a is inp in bf16, (N, ICp)
static void panels_run(float *out, const uint16_t *a, const uint16_t *packed, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, int64_t p0, int64_t p1,
                       enum lector__act act) {
    struct operands x = {a, packed, even_up(IC)};
    struct lector__gemm_tiles t = {out, bias, N, OC, even_up(IC), KC, 0, act, tile_bf16, &x, 0};
    lector__gemm_tiles_run_avx512(&t, p0, p1);
}

// ----------------------------------------------------------------------------
// threaded entry point

struct job {
    float *out;
    const float *inp;
    uint16_t *a; // inp in bf16, (N, ICp)
    const uint16_t *packed;
    const float *bias;
    int64_t N, IC, OC;
    enum lector__act act;
};

static void convert_worker(void *arg, int ith, int nth) {
    struct job *j = arg;
    int64_t lo, hi;
    lector__split(j->N, ith, nth, &lo, &hi);
    rows_to_bf16(j->a + lo * even_up(j->IC), j->inp + lo * j->IC, hi - lo, j->IC);
}

static void gemm_worker(void *arg, int ith, int nth) {
    struct job *j = arg;
    int64_t lo, hi;
    lector__split((j->OC + NR - 1) / NR, ith, nth, &lo, &hi);
    if (lo < hi) panels_run(j->out, j->a, j->packed, j->bias, j->N, j->IC, j->OC, lo, hi, j->act);
}

static void run_rows(struct job *j) {
    int64_t n_panels = (j->OC + NR - 1) / NR;
    int64_t work = j->N * j->IC * j->OC;
    int n_max = work < (int64_t)1 << 18 ? 1 : n_panels > 64 ? 64 : (int)n_panels;
    int n_conv = j->N * j->IC < (int64_t)1 << 16 ? 1 : 64;
    lector__parallel_run(convert_worker, j, n_conv);
    lector__parallel_run(gemm_worker, j, n_max);
}

void lector__matmul_bf16_packed_avx512(float *out, const float *inp, const uint16_t *packed,
                                       const float *bias, int64_t N, int64_t IC, int64_t OC,
                                       enum lector__act act) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    int64_t ICp = even_up(IC);
    // Rows are independent: when the whole bf16 copy of inp does not fit, go in smaller
    // chunks of rows (the same values, as every row is computed the same way).
    int64_t chunk = N;
    uint16_t *a = NULL;
    for (;;) {
        a = lector__aligned_alloc((size_t)(chunk * (ICp ? ICp : 1)) * sizeof *a);
        if (a || chunk <= MR) break;
        chunk = (chunk / 2 + MR - 1) / MR * MR;
    }
    LECTOR_ASSERT(a); // not even MR rows of bf16 could be allocated
    for (int64_t r = 0; r < N; r += chunk) {
        int64_t n = N - r < chunk ? N - r : chunk;
        struct job j = {out + r * OC, inp + r * IC, a, packed, bias, n, IC, OC, act};
        run_rows(&j);
    }
    lector__aligned_free(a);
}

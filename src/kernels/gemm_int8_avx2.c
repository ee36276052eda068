// The int8 product on AVX2 without VNNI: the quantisation kernels.h specifies (weights int8
// symmetric per output column, input rows uint8 with a zero point per row), the same bits
// as lector_matmul_int8_ref and as the VNNI product (gemm_int8_avx512.c). Compiled with
// -mavx2 -mfma (CMakeLists.txt); dispatch calls it where AVX2 is there and VNNI is not.
//
// The products are vpmaddwd on the values widened to int16: 8 columns x 2 k per
// instruction, each pair of products summed exactly into an int32 lane (2 x 255 x 127 <
// 2^31), then vpaddd into the accumulator. The uint8 x int8 instruction (vpmaddubsw) does
// twice the products per instruction, but sums each pair into int16 with saturation,
// which full-range weights overflow (7-bit weights, a coarser quantisation, avoid it), and
// its int16 sums still need a vpmaddwd (by ones) to widen them. On the AMD EPYC (Zen) this
// was measured on, both instructions issue at the same rate on the one vector integer
// multiplier, so the two ways sustain the same 41 GOP/s on one core, as many as the FMA
// units (42 GFLOP/s); scripts/bench/int8_peak.c measures them (docs/performance.md).
//
// Packed layout (bytes): panels of NR = 16 columns (the AVX2 sgemm's width) over pairs of
// k: with IC2 = IC rounded up to even, panel p is (IC2 / 2, 16, 2) int8, element [g][j][e]
// = wq[16 p + j][2 g + e], zero past OC or IC. One k pair of a panel is 32 bytes, each
// half (8 columns x 2 k) widened to one ymm of int16 by vpmovsxbw. After the panels: the
// column sums of wq (n_panels x 16 int32), then the column scales sw (n_panels x 16
// float), zero past OC.
//
// inp is quantised once per call into a row-major (N, IC2) int16 buffer (the uint8 values
// 0..255, so a 32-bit broadcast gives one k pair) plus each row's zero point and scale,
// rows split over the threads; then each thread runs its 16-column panels, rows in blocks
// of MC, a 6 x 16 micro-kernel in 12 int32 ymm accumulators over the whole depth (per k
// pair: 2 widening loads of the panel, one broadcast per row, 12 vpmaddwd), and an
// epilogue that takes off zp sum(wq), converts, scales by the row's and the column's
// scale, adds the bias and applies the activation. The sums are exact integers, so every
// out element is exactly lector_matmul_int8_ref's whatever N, the row's tile or block, or
// the thread count (which decides only which thread computes which panel).
#include "kernels/kernels_impl.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/simd.h"

#define MR 6
#define NR 16
#define MC 192 // rows per block, as the fp32 sgemm

static inline int64_t two_up(int64_t n) { return (n + 1) / 2 * 2; }
static inline int64_t n_panels_of(int64_t OC) { return (OC + NR - 1) / NR; }

// the panels' bytes: the column sums, then the scales, follow them
static inline size_t panels_bytes(int64_t IC, int64_t OC) {
    return (size_t)n_panels_of(OC) * NR * (size_t)two_up(IC);
}

// ----------------------------------------------------------------------------
// input rows

// dst (n, IC2) int16, zp (n), sa (n) <- src (n, IC) fp32; the padding column zero
static void quantize_rows(int16_t *dst, int32_t *zp, float *sa, const float *src, int64_t n,
                          int64_t IC) {
    int64_t IC2 = two_up(IC);
    for (int64_t r = 0; r < n; r++) {
        const float *x = src + r * IC;
        int16_t *d = dst + r * IC2;
        float inv;
        v_int8_row_params(x, IC, &zp[r], &sa[r], &inv);
        const vf vinv = v_set1(inv), vz = v_set1((float)zp[r]);
        int64_t k = 0;
        for (; k + 16 <= IC; k += 16) {
            // the saturating pack is exact (0..255) and interleaves by 128-bit lane; the
            // permutation puts the quadwords back in order
            __m256i q = _mm256_packs_epi32(
                _mm256_cvtps_epi32(v_int8_quantize(v_load(x + k), vinv, vz)),
                _mm256_cvtps_epi32(v_int8_quantize(v_load(x + k + 8), vinv, vz)));
            _mm256_storeu_si256((__m256i *)(d + k), _mm256_permute4x64_epi64(q, 0xd8));
        }
        for (; k < IC; k++) d[k] = lector__int8_quantize_input(x[k], inv, (float)zp[r]);
        if (IC < IC2) d[IC] = 0;
    }
}

// ----------------------------------------------------------------------------
// micro-kernel

// what the epilogue needs to turn the int32 sums of a tile into out
struct epi {
    const int32_t *zp;  // (m) the rows' zero points
    const float *sa;    // (m) the rows' scales
    const int32_t *sum; // (16) the panel's column sums of wq
    const float *sw;    // (16) the panel's column scales
    const float *bias;  // (16, fewer valid) or NULL
    enum lector__act act;
};

static inline __m256i bcast32(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

// c[0..M, 0..n] = act(dequantised (a (M rows, lda apart, kq pairs deep) . b) + bias). M is
// a constant in each caller, so the unused rows' accumulators, loads and stores compile
// away.
static inline __attribute__((always_inline)) void
kernel_mx16(const int M, int64_t kq, const int16_t *a, int64_t lda, const int8_t *restrict b,
            float *c, int64_t ldc, int n, const struct epi *e) {
    V_TILE_ROWS6(int16_t, a, lda, M);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kq; k++) {
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 16)));
        __m256i ai;
#define ROW(i)                                                                              \
    if (M > i) {                                                                            \
        ai = bcast32(a##i + 2 * k);                                                         \
        c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(ai, b0));                     \
        c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(ai, b1));                     \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += 2 * NR;
    }
    const __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < M; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < 2; v++) {
            int nv = n - 8 * v;
            if (nv <= 0) break;
            // s - zp sum(wq): the products of (aq - zp) and wq, exactly
            __m256i zs = _mm256_mullo_epi32(_mm256_set1_epi32(e->zp[i]),
                                            _mm256_loadu_si256((const __m256i *)(e->sum + 8 * v)));
            __m256 r = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][v], zs));
            r = _mm256_mul_ps(r, _mm256_set1_ps(e->sa[i]));
            r = _mm256_mul_ps(r, _mm256_loadu_ps(e->sw + 8 * v));
            if (e->bias)
                r = _mm256_add_ps(r, nv >= 8 ? v_load(e->bias + 8 * v)
                                             : v_load_n(e->bias + 8 * v, nv));
            r = v_act(r, e->act);
            if (nv >= 8) v_store(ci + 8 * v, r);
            else v_store_n(ci + 8 * v, r, nv);
        }
    }
}

static void tile(int m, int64_t kq, const int16_t *a, int64_t lda, const int8_t *b, float *c,
                 int64_t ldc, int n, const struct epi *e) {
    switch (m) {
    case 1: kernel_mx16(1, kq, a, lda, b, c, ldc, n, e); break;
    case 2: kernel_mx16(2, kq, a, lda, b, c, ldc, n, e); break;
    case 3: kernel_mx16(3, kq, a, lda, b, c, ldc, n, e); break;
    case 4: kernel_mx16(4, kq, a, lda, b, c, ldc, n, e); break;
    case 5: kernel_mx16(5, kq, a, lda, b, c, ldc, n, e); break;
    default: kernel_mx16(MR, kq, a, lda, b, c, ldc, n, e); break;
    }
}

// ----------------------------------------------------------------------------
// entry point (threads and chunks of rows: lector__int8_run)

static void quantize_step(const struct lector__int8_job *j, int64_t r0, int64_t r1) {
    quantize_rows((int16_t *)(j->a + r0 * j->row_bytes), j->zp + r0, j->sa + r0,
                  j->inp + r0 * j->IC, r1 - r0, j->IC);
}

// out[:, 16 p0 .. min(16 p1, OC)) from panels [p0, p1), rows in blocks of MC
static void panels_step(const struct lector__int8_job *j, int64_t p0, int64_t p1) {
    int64_t IC2 = two_up(j->IC), OC = j->OC;
    const int16_t *a = (const int16_t *)j->a;
    const int32_t *sums = (const int32_t *)(j->packed + panels_bytes(j->IC, OC));
    const float *scales = (const float *)(sums + j->n_panels * NR);
    for (int64_t ic = 0; ic < j->N; ic += MC) {
        int64_t mc = j->N - ic < MC ? j->N - ic : MC;
        for (int64_t p = p0; p < p1; p++) {
            int n = OC - p * NR < NR ? (int)(OC - p * NR) : NR;
            const int8_t *b = j->packed + p * IC2 * NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
                int64_t r0 = ic + ir;
                struct epi e = {j->zp + r0,  j->sa + r0, sums + p * NR, scales + p * NR,
                                j->bias ? j->bias + p * NR : NULL, j->act};
                tile(mc - ir < MR ? (int)(mc - ir) : MR, IC2 / 2, a + r0 * IC2, IC2, b,
                     j->out + r0 * OC + p * NR, OC, n, &e);
            }
        }
    }
}

static void product(float *out, const float *inp, const int8_t *packed, const float *bias,
                    int64_t N, int64_t IC, int64_t OC, enum lector__act act) {
    struct lector__int8_job j = {out, inp, NULL, NULL, NULL, 2 * (size_t)two_up(IC), packed,
                                 bias, N,  IC,   OC,   n_panels_of(OC), act, quantize_step,
                                 panels_step};
    lector__int8_run(&j, MR);
}

const struct lector__int8_kernels lector__int8_avx2 = {"avx2", 2, NR, product};

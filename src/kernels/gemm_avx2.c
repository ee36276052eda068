// Our AVX2+FMA sgemm: out (N, OC) = act(inp (N, IC) weight (OC, IC)^T + bias), the one
// product shape the encoder needs. Compiled with -mavx2 -mfma (CMakeLists.txt); called only
// when dispatch found AVX2 and FMA. The AVX-512 one (gemm_avx512.c) is the model; this is
// the same design at half the width and with half the registers.
//
// Weights are packed once (at an encoder's second forward, or at open) into panels of
// NR = 16 columns, each k-major over the whole depth: panel p is (IC, 16), element [k][j] =
// weight[16 p + j][k], columns past OC zero. A forward then never repacks them; the
// unpacked entry point packs into a temporary first (each thread its own panels), and the
// first-use one (lector_matmul_rows, an encoder's first small forward) packs each panel
// into a per-thread buffer just before the core runs on it. The packing and the threaded driver are
// gemm_panels.c's, shared with the AVX-512 sgemm; this file is the core over a range of
// panels.
//
// Blocking, for each thread's range of panels:
//   rows in blocks of MC = 192;
//   depth in blocks of KC = 1536 (BERT-base's FFN output is two, every other product of
//   the usual encoders one): one panel's (KC, 16) slice (up to 96 KB, in L2) is reused
//   while every 6-row tile of the row block passes over it, and each tile's input rows
//   stream from L2 or L3;
//   micro-kernel: a 6 x 16 tile of out in 12 ymm accumulators; per k, 2 loads of the
//   panel, 6 broadcasts read straight from the row-major input (no input packing). A tile
//   of fewer rows (the last of a block) runs a kernel of that many rows, so a single row
//   costs one sixth of a full tile.
// Measured on one core (AMD EPYC, Zen, thread CPU time, the encoder's shapes at N = 128
// and 1024): sizing the row block so that the thread's block of out stays in L2 (the
// AVX-512 choice) cut it to 24 rows for the wide products and cost 15%; KC = 256, 512 and
// 768 were 1-5% slower than 1536, and no depth blocking at all the same as 1536.
// Each out element is bias + (sum over the first KC of k, in k order, one fused
// multiply-add each) + (the next KC) + ..., then the activation: the same operations
// whatever N, the row's place in a tile or block, or the thread count, which only decides
// which thread computes which 16-column panel. Panels are 64 bytes wide, one cache line of
// a 64-byte aligned out row.
#include "kernels/kernels_impl.h"

#include <immintrin.h>

#include "kernels/simd.h"

#define MR 6
#define NR 16
#define KC 1536
#define MC 192 // MR * 32

// ----------------------------------------------------------------------------
// micro-kernel

// One row of a finished tile: c[0..n) = (first ? bias (or 0) : c) + (acc0, acc1), then act
// when last.
static inline void store_row(float *c, __m256 acc0, __m256 acc1, int n, const float *bias,
                             int first, int last, enum lector__act act) {
    __m256 acc[2] = {acc0, acc1};
    for (int v = 0; v < 2; v++) {
        int nv = n - 8 * v;
        if (nv <= 0) break;
        float *cv = c + 8 * v;
        __m256 base;
        if (!first) base = nv >= 8 ? v_load(cv) : v_load_n(cv, nv);
        else if (bias) base = nv >= 8 ? v_load(bias + 8 * v) : v_load_n(bias + 8 * v, nv);
        else base = v_zero();
        __m256 r = _mm256_add_ps(base, acc[v]);
        if (last) r = v_act(r, act);
        if (nv >= 8) v_store(cv, r);
        else v_store_n(cv, r, nv);
    }
}

// c[0..M, 0..n] = (first ? bias (or 0) : c) + a (M rows, lda apart, kc deep) . b (kc, NR),
// then act when last. M is a constant in each caller, so the unused rows' accumulators,
// loads and stores compile away.
static inline __attribute__((always_inline)) void
kernel_mx16(const int M, int64_t kc, const float *a, int64_t lda, const float *restrict b,
            float *c, int64_t ldc, int n, const float *bias, int first, int last,
            enum lector__act act) {
    V_TILE_ROWS6(float, a, lda, M);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), ai;
#define ROW(i)                                                                              \
    if (M > i) {                                                                            \
        ai = _mm256_broadcast_ss(a##i + k);                                                 \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                         \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                         \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += NR;
    }
    const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                               {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < M; i++)
        store_row(c + i * ldc, acc[i][0], acc[i][1], n, bias, first, last, act);
}

static void tile(int m, int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                 int64_t ldc, int n, const float *bias, int first, int last,
                 enum lector__act act) {
    switch (m) {
    case 1: kernel_mx16(1, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    case 2: kernel_mx16(2, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    case 3: kernel_mx16(3, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    case 4: kernel_mx16(4, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    case 5: kernel_mx16(5, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    default: kernel_mx16(MR, kc, a, lda, b, c, ldc, n, bias, first, last, act); break;
    }
}

// ----------------------------------------------------------------------------
// one thread's panels

// out[:, 16 p0 .. min(16 p1, OC)) from packed panels [p0, p1), panel p0 at packed
static void panels_run(float *out, const float *inp, const float *packed, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, int64_t p0, int64_t p1,
                       enum lector__act act, int accumulate) {
    if (IC == 0 && accumulate) return;
    if (IC == 0) { // no products: out is act(bias) (or act(0))
        for (int64_t r = 0; r < N; r++)
            for (int64_t p = p0; p < p1; p++) {
                int n = OC - p * NR < NR ? (int)(OC - p * NR) : NR;
                store_row(out + r * OC + p * NR, v_zero(), v_zero(), n,
                          bias ? bias + p * NR : NULL, 1, 1, act);
            }
        return;
    }
    for (int64_t ic = 0; ic < N; ic += MC) {
        int64_t mc = N - ic < MC ? N - ic : MC;
        for (int64_t pc = 0; pc < IC; pc += KC) {
            int64_t kc = IC - pc < KC ? IC - pc : KC;
            int first = pc == 0 && !accumulate, last = pc + kc == IC;
            for (int64_t p = p0; p < p1; p++) {
                int n = OC - p * NR < NR ? (int)(OC - p * NR) : NR;
                const float *b = packed + (p - p0) * IC * NR + pc * NR;
                const float *bp = bias ? bias + p * NR : NULL;
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    int64_t r0 = ic + ir;
                    tile(mc - ir < MR ? (int)(mc - ir) : MR, kc, inp + r0 * IC + pc, IC, b,
                         out + r0 * OC + p * NR, OC, n, bp, first, last, act);
                }
            }
        }
    }
}

const struct lector__gemm_core lector__gemm_core_avx2 = {NR, panels_run};

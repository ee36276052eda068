// Our AVX-512 sgemm: out (N, OC) = act(inp (N, IC) weight (OC, IC)^T + bias), the one
// product shape the encoder needs. Compiled with -mavx512f -mavx512bw -mavx512vl -mfma
// (CMakeLists.txt); called only when dispatch found AVX-512.
//
// Weights are packed once (lector__matmul_pack_rows_avx512, at encoder open) into panels of
// NR = 64 columns, each k-major over the whole depth: panel p is (IC, 64), element
// [k][j] = weight[64 p + j][k], columns past OC zero. A forward then never repacks them;
// the unpacked entry point packs into a temporary first (each thread its own panels). The
// packing and the threaded driver are gemm_panels.c's; this file is the core over a range
// of panels.
//
// Blocking, for each thread's range of panels:
//   rows in blocks of MC (at most 384, fewer when the thread has many panels, so that the
//   block of out it updates stays in L2 across the depth blocks);
//   depth in blocks of KC: one panel's (KC, 64) slice (64 KB, from L2) is reused while
//   every 6-row tile of the row block passes over it, so each weight byte comes from
//   memory once per row block (once per call when N <= MC). KC = 128 (a slice in L1)
//   measured no faster, and 256 keeps the sums of the earlier, repacking version;
//   micro-kernel: a 6 x 64 tile of out in 24 zmm accumulators; per k, 4 loads of the
//   panel, 6 broadcasts read straight from the row-major input (no input packing).
// Each out element is bias + (sum over the first KC of k, in k order) + (the next KC) +
// ..., then the activation: the same operations whatever N, the row's place in a tile or
// the thread count, which only decides which thread computes which 64-column panel.
// Panels are 256 bytes wide, so two threads never write the same cache line of out.
#include "kernels/kernels_impl.h"

#include <immintrin.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/simd.h"

#define MR 6
#define NR 64
#ifndef KC
#define KC 256
#endif
#define MC_MAX 384 // MR * 64
// Rows per block are chosen so that the block of out one thread updates (rows x its
// columns) stays in L2 across the depth blocks: at most this many bytes.
#define OUT_BLOCK_BYTES (768 * 1024)

// ----------------------------------------------------------------------------
// micro-kernel

// c[0..m, 0..n] = (first ? bias (or 0) : c) + a (m rows, lda apart, kc deep) . b (kc, NR),
// then act when last. Rows of a past m repeat row 0: computed, never stored.
static void kernel_6x64(int64_t kc, const float *a, int64_t lda, int m,
                        const float *restrict b, float *c, int64_t ldc, int n,
                        const float *bias, int first, int last, enum lector__act act) {
    V_TILE_ROWS6(float, a, lda, m);
    V_TILE_ACC6X4(__m512, _mm512_setzero_ps());
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32),
               b3 = _mm512_load_ps(b + 48);
        __m512 ai;
#define ROW(i)                                                                              \
    ai = _mm512_set1_ps(a##i[k]);                                                           \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                             \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                             \
    c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                                             \
    c##i##3 = _mm512_fmadd_ps(ai, b3, c##i##3);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += NR;
    }
    __m512 acc[MR][4] = V_TILE_ARRAY6X4;
    v_tile_store(acc, m, c, ldc, n, bias, first, last, act);
}

// ----------------------------------------------------------------------------
// one thread's panels

void lector__gemm_tiles_run_avx512(const struct lector__gemm_tiles *t, int64_t p0, int64_t p1) {
    int64_t N = t->N, OC = t->OC;
    if (t->depth == 0 && t->accumulate) return;
    if (t->depth == 0) { // no products: out is act(bias) (or act(0))
        for (int64_t r = 0; r < N; r++) {
            for (int64_t o = p0 * NR; o < p1 * NR && o < OC; o += 16) {
                int64_t nn = OC - o < 16 ? OC - o : 16;
                __mmask16 mk = (__mmask16)(nn >= 16 ? 0xffff : (1u << nn) - 1u);
                __m512 v = t->bias ? _mm512_maskz_loadu_ps(mk, t->bias + o) : _mm512_setzero_ps();
                _mm512_mask_storeu_ps(t->out + r * OC + o, mk, v_act(v, t->act));
            }
        }
        return;
    }
    int64_t MC = OUT_BLOCK_BYTES / (int64_t)sizeof(float) / ((p1 - p0) * NR) / MR * MR;
    MC = MC < 4 * MR ? 4 * MR : MC > MC_MAX ? MC_MAX : MC;
    if (t->mc_max > 0) MC = t->mc_max;
    for (int64_t ic = 0; ic < N; ic += MC) {
        int64_t mc = N - ic < MC ? N - ic : MC;
        for (int64_t pc = 0; pc < t->depth; pc += t->kc_max) {
            int64_t kc = t->depth - pc < t->kc_max ? t->depth - pc : t->kc_max;
            int first = pc == 0 && !t->accumulate, last = pc + kc == t->depth;
            for (int64_t p = p0; p < p1; p++)
                for (int64_t ir = 0; ir < mc; ir += MR)
                    t->tile(t, ic + ir, mc - ir < MR ? (int)(mc - ir) : MR, p, pc, kc, first,
                            last);
        }
    }
}

// the operands of the fp32 product's tiles
struct operands {
    const float *inp, *packed; // (N, IC), the panels from p0 on
    int64_t IC, p0;
};

static void tile_f32(const struct lector__gemm_tiles *t, int64_t r0, int m, int64_t p,
                     int64_t pc, int64_t kc, int first, int last) {
    const struct operands *x = t->ctx;
    int n = t->OC - p * NR < NR ? (int)(t->OC - p * NR) : NR;
    kernel_6x64(kc, x->inp + r0 * x->IC + pc, x->IC, m, x->packed + (p - x->p0) * x->IC * NR + pc * NR,
                t->out + r0 * t->OC + p * NR, t->OC, n, t->bias ? t->bias + p * NR : NULL, first,
                last, t->act);
}

// out[:, 64 p0 .. min(64 p1, OC)) from packed panels [p0, p1), panel p0 at packed
static void panels_run(float *out, const float *inp, const float *packed, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, int64_t p0, int64_t p1,
                       enum lector__act act, int accumulate) {
    struct operands x = {inp, packed, IC, p0};
    struct lector__gemm_tiles t = {out, bias, N, OC, IC, KC, 0, act, tile_f32, &x, accumulate};
    lector__gemm_tiles_run_avx512(&t, p0, p1);
}

const struct lector__gemm_core lector__gemm_core_avx512 = {NR, panels_run};

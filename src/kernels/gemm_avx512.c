// Our AVX-512 sgemm: out (N, OC) = act(inp (N, IC) weight (OC, IC)^T + bias), the one
// product shape the encoder needs. Compiled with -mavx512f -mavx512bw -mavx512vl -mfma
// (CMakeLists.txt); called only when dispatch found AVX-512.
//
// Weights are packed once (lector__matmul_pack_avx512, at encoder open) into panels of
// NR = 64 columns, each k-major over the whole depth: panel p is (IC, 64), element
// [k][j] = weight[64 p + j][k], columns past OC zero. A forward then never repacks them;
// the unpacked entry point packs into a temporary first (each thread its own panels).
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
// packing

size_t lector__matmul_packed_size_avx512(int64_t IC, int64_t OC) {
    return (size_t)((OC + NR - 1) / NR) * (size_t)IC * NR;
}

// Panels [p0, p1) of packed (ceil(OC / NR), IC, NR) <- weight (OC, IC)
static void pack_panels(float *restrict packed, const float *restrict weight, int64_t IC,
                        int64_t OC, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        float *dst = packed + p * IC * NR;
        int64_t ncol = OC - p * NR < NR ? OC - p * NR : NR;
        // 16 k at a time: 64 B read per weight row, writes within a 4 KB block
        for (int64_t k0 = 0; k0 < IC; k0 += 16) {
            int64_t nk = IC - k0 < 16 ? IC - k0 : 16;
            for (int64_t j = 0; j < NR; j++) {
                if (j >= ncol) {
                    for (int64_t k = 0; k < nk; k++) dst[(k0 + k) * NR + j] = 0.0f;
                    continue;
                }
                const float *src = weight + (p * NR + j) * IC + k0;
                for (int64_t k = 0; k < nk; k++) dst[(k0 + k) * NR + j] = src[k];
            }
        }
    }
}

void lector__matmul_pack_rows_avx512(float *packed, const float *rows, int64_t IC, int64_t OC,
                                     int64_t o0, int64_t n) {
    LECTOR_ASSERT(o0 >= 0 && n >= 0 && o0 + n <= OC);
    if (o0 == 0 && n == OC) {
        pack_panels(packed, rows, IC, OC, 0, (OC + NR - 1) / NR);
        return;
    }
    for (int64_t r = 0; r < n; r++) {
        int64_t o = o0 + r;
        float *dst = packed + (o / NR) * IC * NR + o % NR;
        const float *src = rows + r * IC;
        for (int64_t k = 0; k < IC; k++) dst[k * NR] = src[k];
    }
}

// ----------------------------------------------------------------------------
// micro-kernel

// c[0..m, 0..n] = (first ? bias (or 0) : c) + a (m rows, lda apart, kc deep) . b (kc, NR),
// then act when last. Rows of a past m repeat row 0: computed, never stored.
static void kernel_6x64(int64_t kc, const float *a, int64_t lda, int m,
                        const float *restrict b, float *c, int64_t ldc, int n,
                        const float *bias, int first, int last, enum lector__act act) {
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a,
                *a3 = m > 3 ? a + 3 * lda : a, *a4 = m > 4 ? a + 4 * lda : a,
                *a5 = m > 5 ? a + 5 * lda : a;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    __m512 c40 = c00, c41 = c00, c42 = c00, c43 = c00;
    __m512 c50 = c00, c51 = c00, c52 = c00, c53 = c00;
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
    __m512 acc[MR][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},
                         {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
    v_tile_store(acc, m, c, ldc, n, bias, first, last, act);
}

// ----------------------------------------------------------------------------
// one thread's panels

void lector__gemm_tiles_run_avx512(const struct lector__gemm_tiles *t, int64_t p0, int64_t p1) {
    int64_t N = t->N, OC = t->OC;
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
            int first = pc == 0, last = pc + kc == t->depth;
            for (int64_t p = p0; p < p1; p++)
                for (int64_t ir = 0; ir < mc; ir += MR)
                    t->tile(t, ic + ir, mc - ir < MR ? (int)(mc - ir) : MR, p, pc, kc, first,
                            last);
        }
    }
}

// the operands of the fp32 product's tiles
struct operands {
    const float *inp, *packed; // (N, IC), the panels
    int64_t IC;
};

static void tile_f32(const struct lector__gemm_tiles *t, int64_t r0, int m, int64_t p,
                     int64_t pc, int64_t kc, int first, int last) {
    const struct operands *x = t->ctx;
    int n = t->OC - p * NR < NR ? (int)(t->OC - p * NR) : NR;
    kernel_6x64(kc, x->inp + r0 * x->IC + pc, x->IC, m, x->packed + p * x->IC * NR + pc * NR,
                t->out + r0 * t->OC + p * NR, t->OC, n, t->bias ? t->bias + p * NR : NULL, first,
                last, t->act);
}

// out[:, 64 p0 .. min(64 p1, OC)) from packed panels [p0, p1)
static void panels_run(float *out, const float *inp, const float *packed, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, int64_t p0, int64_t p1,
                       enum lector__act act) {
    struct operands x = {inp, packed, IC};
    struct lector__gemm_tiles t = {out, bias, N, OC, IC, KC, 0, act, tile_f32, &x};
    lector__gemm_tiles_run_avx512(&t, p0, p1);
}

// ----------------------------------------------------------------------------
// threaded entry points

struct gemm_job {
    float *out;
    const float *inp, *packed, *bias;
    const float *weight; // non-NULL: pack each thread's panels from it into packed first
    float *pack_dst;
    int64_t N, IC, OC;
    enum lector__act act;
};

static void gemm_worker(void *arg, int ith, int nth) {
    struct gemm_job *j = arg;
    int64_t n_panels = (j->OC + NR - 1) / NR, lo, hi;
    lector__split(n_panels, ith, nth, &lo, &hi);
    if (lo == hi) return;
    if (j->weight) pack_panels(j->pack_dst, j->weight, j->IC, j->OC, lo, hi);
    panels_run(j->out, j->inp, j->packed, j->bias, j->N, j->IC, j->OC, lo, hi, j->act);
}

static void run(struct gemm_job *j) {
    int64_t n_panels = (j->OC + NR - 1) / NR;
    // a product too small to pay for waking a thread runs on the caller
    int64_t work = j->N * j->IC * j->OC;
    int n_max = work < (int64_t)1 << 18 ? 1 : n_panels > 64 ? 64 : (int)n_panels;
    lector__parallel_run(gemm_worker, j, n_max);
}

void lector__matmul_packed_avx512(float *out, const float *inp, const float *packed,
                                  const float *bias, int64_t N, int64_t IC, int64_t OC,
                                  enum lector__act act) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    struct gemm_job j = {out, inp, packed, bias, NULL, NULL, N, IC, OC, act};
    run(&j);
}

void lector__matmul_avx512(float *out, const float *inp, const float *weight, const float *bias,
                           int64_t N, int64_t IC, int64_t OC) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    size_t n_packed = lector__matmul_packed_size_avx512(IC, OC);
    float *packed = lector__aligned_alloc((n_packed ? n_packed : 1) * sizeof(float));
    if (!packed) { // no memory for the panels: the slow reference still gives the answer
        lector_matmul_ref(out, inp, weight, bias, N, IC, OC);
        return;
    }
    struct gemm_job j = {out, inp, packed, bias, weight, packed, N, IC, OC, LECTOR__ACT_NONE};
    run(&j);
    lector__aligned_free(packed);
}

void lector__matmul_avx512_cols(float *out, const float *inp, const float *weight,
                                const float *bias, int64_t N, int64_t IC, int64_t OC,
                                int64_t o0, int64_t o1) {
    LECTOR_ASSERT(o0 % NR == 0 && o0 <= o1 && o1 <= OC && (o1 % NR == 0 || o1 == OC));
    size_t n_packed = lector__matmul_packed_size_avx512(IC, OC);
    float *packed = lector__aligned_alloc((n_packed ? n_packed : 1) * sizeof(float));
    LECTOR_ASSERT(packed); // test helper only
    int64_t p0 = o0 / NR, p1 = (o1 + NR - 1) / NR;
    pack_panels(packed, weight, IC, OC, p0, p1);
    panels_run(out, inp, packed, bias, N, IC, OC, p0, p1, LECTOR__ACT_NONE);
    lector__aligned_free(packed);
}

// Our own AVX-512 sgemm for out (N, OC) = inp (N, IC) weight (OC, IC)^T + bias, the one
// product shape the encoder needs. Compiled with -mavx512f -mavx512bw -mavx512vl -mfma
// (CMakeLists.txt); called only when dispatch found AVX-512.
//
// Blocking, for each thread's range of output columns:
//   columns in blocks of NC, depth in blocks of KC: the weight block (NC, KC) is packed
//   into panels of NR = 64 columns, k-major ([k][64]), so the micro-kernel reads it
//   contiguously (about 1 MB: stays in L2 across all row blocks);
//   rows in blocks of MC: the input block (MC, KC) is packed into panels of MR = 6 rows,
//   k-major ([k][6]), so one panel (6 KB) stays in L1 while the weight panels stream past;
//   micro-kernel: a 6 x 64 tile of out in 24 zmm accumulators; per k, 4 loads of weight,
//   6 broadcasts of input, 24 FMAs.
// Each out element is bias + (sum over the first KC of k, in k order) + (the next KC) +
// ...: the same additions whatever the thread count, which only decides which thread
// computes which 64-column panel.
#include "kernels/kernels_impl.h"

#include <immintrin.h>
#include <stdlib.h>

#include "base/base_impl.h"

#define MR 6
#define NR 64
#define KC 256
#define MC 96   // MR * 16
#define NC 1024 // NR * 16

// ----------------------------------------------------------------------------
// packing

// bp (ceil(nc / NR), kc, NR) <- weight[o0 .. o0+nc, p0 .. p0+kc], zero columns past nc
static void pack_weight(float *restrict bp, const float *restrict weight, int64_t IC,
                        int64_t o0, int64_t nc, int64_t p0, int64_t kc) {
    // 16 rows of weight, IC apart, gathered into one vector per k
    __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                        12, 13, 14, 15),
                                      _mm512_set1_epi32((int)IC));
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        int64_t ncol = nc - j0 < NR ? nc - j0 : NR;
        float *dst = bp + j0 * kc; // panel j0 / NR, each kc * NR floats
        if (ncol == NR) {
            const float *src = weight + (o0 + j0) * IC + p0;
            for (int64_t k = 0; k < kc; k++) {
                for (int g = 0; g < NR / 16; g++) {
                    __m512 v = _mm512_i32gather_ps(rows, src + g * 16 * IC + k, 4);
                    _mm512_store_ps(dst + k * NR + g * 16, v);
                }
            }
        } else {
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = 0; j < NR; j++)
                    dst[k * NR + j] = j < ncol ? weight[(o0 + j0 + j) * IC + p0 + k] : 0.0f;
        }
    }
}

// ap (ceil(mc / MR), kc, MR) <- inp[r0 .. r0+mc, p0 .. p0+kc], zero rows past mc
static void pack_input(float *restrict ap, const float *restrict inp, int64_t IC, int64_t r0,
                       int64_t mc, int64_t p0, int64_t kc) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        float *dst = ap + i0 * kc; // panel i0 / MR, each kc * MR floats
        for (int64_t i = 0; i < MR; i++) {
            if (i0 + i >= mc) {
                for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = 0.0f;
                continue;
            }
            const float *src = inp + (r0 + i0 + i) * IC + p0;
            for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = src[k];
        }
    }
}

// ----------------------------------------------------------------------------
// micro-kernel

// c[0..m, 0..n] = (first ? bias (or 0) : c) + a_panel (kc, MR) . b_panel (kc, NR)
static void kernel_6x64(int64_t kc, const float *restrict a, const float *restrict b,
                        float *restrict c, int64_t ldc, int m, int n, const float *bias,
                        int first) {
    __m512 acc[MR][4];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32),
               b3 = _mm512_load_ps(b + 48);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3]);
        }
        a += MR;
        b += NR;
    }
    __mmask16 mk[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        int nv = n - 16 * v;
        mk[v] = nv >= 16 ? (__mmask16)0xffff : nv <= 0 ? (__mmask16)0 : (__mmask16)((1u << nv) - 1u);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= m) break;
        float *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m512 base;
            if (!first) base = _mm512_maskz_loadu_ps(mk[v], ci + 16 * v);
            else if (bias) base = _mm512_maskz_loadu_ps(mk[v], bias + 16 * v);
            else base = _mm512_setzero_ps();
            _mm512_mask_storeu_ps(ci + 16 * v, mk[v], _mm512_add_ps(base, acc[i][v]));
        }
    }
}

// ----------------------------------------------------------------------------
// one thread's columns

static size_t weight_pack_floats(int64_t ncols) {
    int64_t nc = ncols < NC ? ncols : NC;
    return (size_t)((nc + NR - 1) / NR * NR) * KC;
}
#define INPUT_PACK_FLOATS ((size_t)MC * KC)

static void cols_with(float *out, const float *inp, const float *weight, const float *bias,
                      int64_t N, int64_t IC, int64_t OC, int64_t o0, int64_t o1, float *bp,
                      float *ap) {
    if (IC == 0) { // no products: out is the bias (or zeros)
        for (int64_t r = 0; r < N; r++)
            for (int64_t o = o0; o < o1; o++) out[r * OC + o] = bias ? bias[o] : 0.0f;
        return;
    }
    for (int64_t jc = o0; jc < o1; jc += NC) {
        int64_t nc = o1 - jc < NC ? o1 - jc : NC;
        for (int64_t pc = 0; pc < IC; pc += KC) {
            int64_t kc = IC - pc < KC ? IC - pc : KC;
            pack_weight(bp, weight, IC, jc, nc, pc, kc);
            for (int64_t ic = 0; ic < N; ic += MC) {
                int64_t mc = N - ic < MC ? N - ic : MC;
                pack_input(ap, inp, IC, ic, mc, pc, kc);
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    int m = mc - ir < MR ? (int)(mc - ir) : MR;
                    for (int64_t jr = 0; jr < nc; jr += NR) {
                        int n = nc - jr < NR ? (int)(nc - jr) : NR;
                        kernel_6x64(kc, ap + ir * kc, bp + jr * kc, out + (ic + ir) * OC + jc + jr,
                                    OC, m, n, bias ? bias + jc + jr : NULL, pc == 0);
                    }
                }
            }
        }
    }
}

void lector__matmul_avx512_cols(float *out, const float *inp, const float *weight,
                                const float *bias, int64_t N, int64_t IC, int64_t OC,
                                int64_t o0, int64_t o1) {
    LECTOR_ASSERT(o0 % NR == 0 && o0 <= o1 && o1 <= OC);
    float *bp = lector__aligned_alloc(weight_pack_floats(o1 - o0) * sizeof(float));
    float *ap = lector__aligned_alloc(INPUT_PACK_FLOATS * sizeof(float));
    LECTOR_ASSERT(bp && ap); // test helper only
    cols_with(out, inp, weight, bias, N, IC, OC, o0, o1, bp, ap);
    lector__aligned_free(ap);
    lector__aligned_free(bp);
}

// ----------------------------------------------------------------------------
// threaded entry point

struct gemm_job {
    float *out;
    const float *inp, *weight, *bias;
    int64_t N, IC, OC;
    float *pack; // per thread: pack_stride floats
    size_t pack_stride, bp_floats;
};

static void gemm_worker(void *arg, int ith, int nth) {
    struct gemm_job *j = arg;
    int64_t n_panels = (j->OC + NR - 1) / NR, lo, hi;
    lector__split(n_panels, ith, nth, &lo, &hi);
    if (lo == hi) return;
    int64_t o1 = hi * NR < j->OC ? hi * NR : j->OC;
    float *bp = j->pack + (size_t)ith * j->pack_stride;
    cols_with(j->out, j->inp, j->weight, j->bias, j->N, j->IC, j->OC, lo * NR, o1, bp,
              bp + j->bp_floats);
}

void lector__matmul_avx512(float *out, const float *inp, const float *weight, const float *bias,
                           int64_t N, int64_t IC, int64_t OC) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    // the gather offsets are int32: 15 rows of IC floats must fit
    LECTOR_ASSERT(IC <= INT32_MAX / 16);
    if (N == 0 || OC == 0) return;
    int nth = lector__kernels_n_threads();
    int64_t n_panels = (OC + NR - 1) / NR;
    if (nth > n_panels) nth = (int)n_panels;
    struct gemm_job j = {out, inp, weight, bias, N, IC, OC, NULL, 0, 0};
    // room for a whole column block: a region may run with fewer threads than asked
    j.bp_floats = weight_pack_floats(OC);
    j.pack_stride = j.bp_floats + INPUT_PACK_FLOATS;
    j.pack = lector__aligned_alloc((size_t)nth * j.pack_stride * sizeof(float));
    if (!j.pack) { // no memory for the panels: the slow reference still gives the answer
        lector_matmul_ref(out, inp, weight, bias, N, IC, OC);
        return;
    }
    lector__parallel_run(gemm_worker, &j, nth);
    lector__aligned_free(j.pack);
}

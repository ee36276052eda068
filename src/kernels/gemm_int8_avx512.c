// The int8 variant of our AVX-512 GEMM (AVX-512 VNNI: vpdpbusd, uint8 x int8 -> int32):
// out (N, OC) = act(dequantised (quantised inp) (quantised weight)^T + bias), with the
// quantisation kernels.h specifies (weights int8 symmetric per output column, input rows
// uint8 with a zero point per row). Compiled with -mavx512vnni on top of the AVX-512 flags
// (CMakeLists.txt); called only when dispatch found AVX-512 and the CPU has AVX-512 VNNI.
//
// Packed layout (bytes): panels of NR = 64 columns, as the fp32 sgemm (gemm_avx512.c), but
// over groups of 4 k, the operand order vpdpbusd wants: with IC4 = IC rounded up to a
// multiple of 4, panel p is (IC4 / 4, 64, 4) int8, element [g][j][e] = wq[64 p + j][4 g + e],
// zero past OC or IC. One k group of a panel is 256 bytes: 4 zmm of 16 columns x 4 k. After
// the panels: the column sums of wq (n_panels x 64 int32), then the column scales sw
// (n_panels x 64 float), zero past OC.
//
// inp is quantised once per call into a row-major (N, IC4) uint8 buffer plus each row's zero
// point and scale (rows split over the threads), then each thread runs its 64-column panels
// with a 6 x 64 micro-kernel: per k group, 4 loads of the panel, one 32-bit broadcast (the 4
// bytes) per row, 24 vpdpbusd into int32 accumulators. Blocking through the fp32 sgemm's
// driver (lector__gemm_tiles_run_avx512), but with rows in blocks of 384 whatever the
// panel count (the partial sums are few next to the work: no need to keep them in L2) and
// depth in blocks of KC = 1024 (a 64 KB panel slice); both measured faster than the fp32
// sizes on BERT shapes. Between depth blocks the int32 partial sums wait in out. While the
// tiles pass over one panel's slice, they prefetch the next panel's into L2. vpdpbusd adds its 4 products to
// the accumulator without saturating, and the sums are exact integers (IC <=
// LECTOR_INT8_IC_MAX), so every out element is exactly lector_matmul_int8_ref's, whatever
// N, the blocking, the row's tile or the thread count.
#include "kernels/kernels_impl.h"

#include <immintrin.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/simd.h"

#define MR 6
#define NR 64
#define KC 1024     // k per depth block: one panel slice of 64 KB (from L2)
#define MC_INT8 384 // rows per block: the weights pass once per 384 rows

static inline int64_t four_up(int64_t n) { return (n + 3) / 4 * 4; }
static inline int64_t n_panels_of(int64_t OC) { return (OC + NR - 1) / NR; }

// the panels' bytes: the column sums, then the scales, follow them
static inline size_t panels_bytes(int64_t IC, int64_t OC) {
    return (size_t)n_panels_of(OC) * NR * (size_t)four_up(IC);
}

// ----------------------------------------------------------------------------
// input rows

// clamp(round(x * inv) + zp, 0, 255) of the lanes of mk (others 0), as int32
static inline __m512i quantize16(const float *x, __mmask16 mk, __m512 inv, __m512 zp) {
    return _mm512_cvtps_epi32(v_int8_quantize(_mm512_maskz_loadu_ps(mk, x), inv, zp));
}

// dst (n, IC4) uint8, zp (n), sa (n) <- src (n, IC) fp32; the padding columns zero
static void quantize_rows(uint8_t *dst, int32_t *zp, float *sa, const float *src, int64_t n,
                          int64_t IC) {
    int64_t IC4 = four_up(IC);
    for (int64_t r = 0; r < n; r++) {
        const float *x = src + r * IC;
        uint8_t *d = dst + r * IC4;
        float inv;
        v_int8_row_params(x, IC, &zp[r], &sa[r], &inv);
        const vf vinv = v_set1(inv), vz = v_set1((float)zp[r]);
        int64_t k = 0;
        for (; k + 64 <= IC; k += 64) {
            // four vectors of 16, narrowed by two saturating packs (exact: 0..255), which
            // interleave them by 128-bit lane; the permutation puts the dwords back in order
            __m512i q0 = quantize16(x + k, 0xffff, vinv, vz),
                    q1 = quantize16(x + k + 16, 0xffff, vinv, vz),
                    q2 = quantize16(x + k + 32, 0xffff, vinv, vz),
                    q3 = quantize16(x + k + 48, 0xffff, vinv, vz);
            __m512i b = _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
            const __m512i order =
                _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            _mm512_storeu_si512(d + k, _mm512_permutexvar_epi32(order, b));
        }
        for (; k < IC; k += 16) {
            __mmask16 mk = IC - k >= 16 ? (__mmask16)0xffff : tail_mask(IC - k);
            _mm512_mask_cvtepi32_storeu_epi8(d + k, mk, quantize16(x + k, mk, vinv, vz));
        }
        for (k = IC; k < IC4; k++) d[k] = 0;
    }
}

// ----------------------------------------------------------------------------
// micro-kernel

// what the last depth block needs to turn the int32 sums of a tile into out
struct epi {
    const int32_t *zp;  // (m) the rows' zero points
    const float *sa;    // (m) the rows' scales
    const int32_t *sum; // (64) the panel's column sums of wq
    const float *sw;    // (64) the panel's column scales
    const float *bias;  // (64, fewer valid) or NULL
    enum lector__act act;
};

// c[0..m, 0..n] = (first ? 0 : c as int32) + a (m rows, lda apart, 4 kq deep) . b; when last,
// dequantised, bias and act applied, stored as float. Rows of a past m repeat row 0:
// computed, never stored.
static void kernel_6x64(int64_t kq, const uint8_t *a, int64_t lda, int m,
                        const int8_t *restrict b, float *c, int64_t ldc, int n, int first,
                        int last, const struct epi *e) {
    V_TILE_ROWS6(uint8_t, a, lda, m);
    V_TILE_ACC6X4(__m512i, _mm512_setzero_si512());
    for (int64_t k = 0; k < kq; k++) {
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64),
                b2 = _mm512_load_si512(b + 128), b3 = _mm512_load_si512(b + 192);
        __m512i ai;
#define ROW(i)                                                                              \
    ai = v_bcast32(a##i + 4 * k);                                                           \
    c##i##0 = _mm512_dpbusd_epi32(c##i##0, ai, b0);                                         \
    c##i##1 = _mm512_dpbusd_epi32(c##i##1, ai, b1);                                         \
    c##i##2 = _mm512_dpbusd_epi32(c##i##2, ai, b2);                                         \
    c##i##3 = _mm512_dpbusd_epi32(c##i##3, ai, b3);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += 4 * NR;
    }
    __m512i acc[MR][4] = V_TILE_ARRAY6X4;
    __mmask16 mk[4];
    v_tile_masks(n, mk);
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < 4; v++) {
            __m512i s = acc[i][v];
            if (!first) s = _mm512_add_epi32(s, _mm512_maskz_loadu_epi32(mk[v], ci + 16 * v));
            if (!last) {
                _mm512_mask_storeu_epi32(ci + 16 * v, mk[v], s);
                continue;
            }
            // s - zp sum(wq): the products of (aq - zp) and wq, exactly
            __m512i zs = _mm512_mullo_epi32(_mm512_set1_epi32(e->zp[i]),
                                            _mm512_loadu_si512(e->sum + 16 * v));
            __m512 r = _mm512_cvtepi32_ps(_mm512_sub_epi32(s, zs));
            r = _mm512_mul_ps(r, _mm512_set1_ps(e->sa[i]));
            r = _mm512_mul_ps(r, _mm512_loadu_ps(e->sw + 16 * v));
            if (e->bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mk[v], e->bias + 16 * v));
            _mm512_mask_storeu_ps(ci + 16 * v, mk[v], v_act(r, e->act));
        }
    }
}

// the operands of the int8 product's tiles
struct operands {
    const uint8_t *a;     // inp quantised, (N, IC4)
    const int32_t *zp;    // (N) its rows' zero points
    const float *sa;      // (N) its rows' scales
    const int8_t *packed; // the panels, then the column sums and scales
    const int32_t *sums;  // (n_panels * 64)
    const float *scales;  // (n_panels * 64)
    int64_t IC4;
};

static void tile_int8(const struct lector__gemm_tiles *t, int64_t r0, int m, int64_t p,
                      int64_t pc, int64_t kc, int first, int last) {
    const struct operands *x = t->ctx;
    int n = t->OC - p * NR < NR ? (int)(t->OC - p * NR) : NR;
    struct epi e = {x->zp + r0,      x->sa + r0, x->sums + p * NR, x->scales + p * NR,
                    t->bias ? t->bias + p * NR : NULL, t->act};
    // While the tiles of a row block pass over panel p's depth slice (from L1), bring the
    // next panel's slice into L2, a share per tile, so the first tile over it does not
    // wait for memory.
    if ((p + 1) * NR < t->OC) {
        int64_t b0 = r0 - r0 % MC_INT8, rows = t->N - b0 < MC_INT8 ? t->N - b0 : MC_INT8;
        int64_t n_tiles = (rows + MR - 1) / MR, tile = (r0 - b0) / MR;
        int64_t lines = kc * NR / 64, per = (lines + n_tiles - 1) / n_tiles;
        const char *next = (const char *)(x->packed + (p + 1) * x->IC4 * NR + pc * NR);
        for (int64_t l = tile * per; l < (tile + 1) * per && l < lines; l++)
            _mm_prefetch(next + 64 * l, _MM_HINT_T1);
    }
    kernel_6x64(kc / 4, x->a + r0 * x->IC4 + pc, x->IC4, m, x->packed + p * x->IC4 * NR + pc * NR,
                t->out + r0 * t->OC + p * NR, t->OC, n, first, last, &e);
}

// out[:, 64 p0 .. min(64 p1, OC)) from panels [p0, p1); a, zp, sa: inp quantised
static void panels_run(float *out, const uint8_t *a, const int32_t *zp, const float *sa,
                       const int8_t *packed, const float *bias, int64_t N, int64_t IC,
                       int64_t OC, int64_t p0, int64_t p1, enum lector__act act) {
    const int32_t *sums = (const int32_t *)(packed + panels_bytes(IC, OC));
    struct operands x = {a, zp, sa, packed, sums, (const float *)(sums + n_panels_of(OC) * NR),
                         four_up(IC)};
    struct lector__gemm_tiles t = {out, bias, N, OC, four_up(IC), KC, MC_INT8, act, tile_int8,
                                   &x, 0};
    lector__gemm_tiles_run_avx512(&t, p0, p1);
}

// ----------------------------------------------------------------------------
// entry point (threads and chunks of rows: lector__int8_run)

static void quantize_step(const struct lector__int8_job *j, int64_t r0, int64_t r1) {
    quantize_rows(j->a + r0 * j->row_bytes, j->zp + r0, j->sa + r0, j->inp + r0 * j->IC,
                  r1 - r0, j->IC);
}

static void panels_step(const struct lector__int8_job *j, int64_t p0, int64_t p1) {
    panels_run(j->out, j->a, j->zp, j->sa, j->packed, j->bias, j->N, j->IC, j->OC, p0, p1,
               j->act);
}

static void product(float *out, const float *inp, const int8_t *packed, const float *bias,
                    int64_t N, int64_t IC, int64_t OC, enum lector__act act) {
    struct lector__int8_job j = {out,  inp, NULL, NULL, NULL, (size_t)four_up(IC), packed, bias,
                                 N,    IC,  OC,   n_panels_of(OC), act, quantize_step,
                                 panels_step};
    lector__int8_run(&j, MR);
}

const struct lector__int8_kernels lector__int8_avx512 = {"avx512_vnni", 4, NR, product};

/*
 * simd.h: one small vector vocabulary over AVX-512 (16 floats) or AVX2+FMA (8 floats), so
 * that a kernel body written once compiles to both. Include it only from a *_avx2.c or
 * *_avx512.c file, which the build compiles with the matching -m flags; the choice is made
 * from the compiler's __AVX512F__ / __AVX2__ macros.
 *
 * v_exp, v_erfc and v_tanh are our own approximations (no -ffast-math anywhere):
 *   v_exp:  Cody-Waite reduction by ln 2 and a degree-7 Taylor polynomial on
 *           |r| <= ln2/2; relative error about 2e-7 (a few ulp) on [-87, 88]; inputs are
 *           clamped to that range, so exp(-inf) gives about 1e-38, not 0: callers that need
 *           exact zeros (masked keys) select them.
 *   v_erfc: Abramowitz & Stegun 7.1.26 for x >= 0, absolute error <= 1.5e-7.
 *   v_tanh: 1 - 2 / (exp(2x) + 1), absolute error about 2e-7.
 */
#ifndef LECTOR_KERNELS_SIMD_H
#define LECTOR_KERNELS_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

#if defined(__AVX512F__)
#define VL 16
#define SIMD_SUFFIX(name) name##_avx512
#define V_MM(op) _mm512_##op
typedef __m512 vf;
#elif defined(__AVX2__) && defined(__FMA__)
#define VL 8
#define SIMD_SUFFIX(name) name##_avx2
#define V_MM(op) _mm256_##op
typedef __m256 vf;
#else
#error "simd.h needs -mavx512f (with bw, vl) or -mavx2 -mfma"
#endif

// ----------------------------------------------------------------------------
// the operations both widths spell alike (_mm512_add_ps, _mm256_add_ps, ...)

static inline vf v_set1(float x) { return V_MM(set1_ps)(x); }
static inline vf v_zero(void) { return V_MM(setzero_ps)(); }
static inline vf v_load(const float *p) { return V_MM(loadu_ps)(p); }
static inline void v_store(float *p, vf x) { V_MM(storeu_ps)(p, x); }
static inline vf v_add(vf a, vf b) { return V_MM(add_ps)(a, b); }
static inline vf v_sub(vf a, vf b) { return V_MM(sub_ps)(a, b); }
static inline vf v_mul(vf a, vf b) { return V_MM(mul_ps)(a, b); }
static inline vf v_div(vf a, vf b) { return V_MM(div_ps)(a, b); }
static inline vf v_sqrt(vf x) { return V_MM(sqrt_ps)(x); } // correctly rounded, as sqrtf
static inline vf v_fma(vf a, vf b, vf c) { return V_MM(fmadd_ps)(a, b, c); } // a*b + c
static inline vf v_max(vf a, vf b) { return V_MM(max_ps)(a, b); }
static inline vf v_min(vf a, vf b) { return V_MM(min_ps)(a, b); }

// ----------------------------------------------------------------------------
// the operations each width spells its own way (masks, rounding, reductions)

#if defined(__AVX512F__)

static inline __mmask16 tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1u); }
// the first n < VL floats; the rest read as 0 and never touched in memory
static inline vf v_load_n(const float *p, int64_t n) {
    return _mm512_maskz_loadu_ps(tail_mask(n), p);
}
static inline void v_store_n(float *p, vf x, int64_t n) {
    _mm512_mask_storeu_ps(p, tail_mask(n), x);
}
static inline vf v_round(vf x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf v_pow2i(vf n) { // 2^n for integral n in [-126, 127]
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
// lanes where a < b become 0 (select)
static inline vf v_zero_where_lt(vf x, vf a, vf b) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ), x);
}
// lanes where x < 0 take y
static inline vf v_select_neg(vf x, vf y, vf other) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, v_zero(), _CMP_LT_OQ), other, y);
}
// lanes >= n become 0
static inline vf v_keep_n(vf x, int64_t n) { return _mm512_maskz_mov_ps(tail_mask(n), x); }
static inline float v_hsum(vf x) { return _mm512_reduce_add_ps(x); }
static inline float v_hmax(vf x) { return _mm512_reduce_max_ps(x); }
static inline float v_hmin(vf x) { return _mm512_reduce_min_ps(x); }

#else // AVX2 + FMA

static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf v_load_n(const float *p, int64_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
static inline void v_store_n(float *p, vf x, int64_t n) { _mm256_maskstore_ps(p, tail_mask(n), x); }
static inline vf v_round(vf x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf v_pow2i(vf n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline vf v_zero_where_lt(vf x, vf a, vf b) {
    return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ), x);
}
static inline vf v_select_neg(vf x, vf y, vf other) {
    return _mm256_blendv_ps(other, y, _mm256_cmp_ps(x, v_zero(), _CMP_LT_OQ));
}
static inline vf v_keep_n(vf x, int64_t n) {
    return _mm256_and_ps(_mm256_castsi256_ps(tail_mask(n)), x);
}
static inline float v_hsum(vf x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float v_hmax(vf x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float v_hmin(vf x) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif

// ----------------------------------------------------------------------------
// transcendental functions, shared by both widths

static inline vf v_exp(vf x) {
    x = v_min(v_max(x, v_set1(-87.0f)), v_set1(88.0f));
    vf n = v_round(v_mul(x, v_set1(1.44269504088896341f)));
    // x - n ln2 in two steps: the high part of ln 2 has few bits, so n * hi is exact
    vf r = v_fma(n, v_set1(-0.693359375f), x);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    vf p = v_set1(1.0f / 5040.0f);
    p = v_fma(p, r, v_set1(1.0f / 720.0f));
    p = v_fma(p, r, v_set1(1.0f / 120.0f));
    p = v_fma(p, r, v_set1(1.0f / 24.0f));
    p = v_fma(p, r, v_set1(1.0f / 6.0f));
    p = v_fma(p, r, v_set1(0.5f));
    p = v_fma(p, r, v_set1(1.0f));
    p = v_fma(p, r, v_set1(1.0f));
    return v_mul(p, v_pow2i(n));
}

// erfc(x) for x >= 0
static inline vf v_erfc_pos(vf x) {
    vf t = v_div(v_set1(1.0f), v_fma(v_set1(0.3275911f), x, v_set1(1.0f)));
    vf p = v_set1(1.061405429f);
    p = v_fma(p, t, v_set1(-1.453152027f));
    p = v_fma(p, t, v_set1(1.421413741f));
    p = v_fma(p, t, v_set1(-0.284496736f));
    p = v_fma(p, t, v_set1(0.254829592f));
    p = v_mul(p, t);
    return v_mul(p, v_exp(v_sub(v_zero(), v_mul(x, x))));
}

static inline vf v_tanh(vf x) {
    vf e = v_exp(v_add(x, x));
    return v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(e, v_set1(1.0f))));
}

// ----------------------------------------------------------------------------
// activations (the FFN nonlinearities; bias + act passes and the sgemm epilogue use them)

// 0.5 x (1 + erf(x / sqrt 2)), with 1 + erf(-a) = erfc(a) so the tail x << 0 keeps its
// relative accuracy instead of cancelling against 1
static inline vf v_gelu(vf x) {
    vf a = v_mul(x, v_set1(0.70710678118654752440f));
    vf ax = v_max(a, v_sub(v_zero(), a));
    vf e = v_erfc_pos(ax);
    vf f = v_select_neg(x, e, v_sub(v_set1(2.0f), e));
    return v_mul(v_mul(v_set1(0.5f), x), f);
}

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
static inline vf v_gelu_new(vf x) {
    vf x3 = v_mul(v_mul(x, x), x);
    vf u = v_mul(v_set1(0.79788456080286535588f), v_fma(v_set1(0.044715f), x3, x));
    return v_mul(v_mul(v_set1(0.5f), x), v_add(v_set1(1.0f), v_tanh(u)));
}

// max(x, 0); NaN gives 0 and -0 gives +0, as lector_relu_ref (max returns its second
// operand when the first is NaN or both are zero)
static inline vf v_relu(vf x) { return v_max(x, v_zero()); }

// the activation a product's epilogue applies to each finished element
static inline vf v_act(vf x, enum lector__act act) {
    switch (act) {
    case LECTOR__ACT_NONE: return x;
    case LECTOR__ACT_GELU: return v_gelu(x);
    case LECTOR__ACT_GELU_NEW: return v_gelu_new(x);
    case LECTOR__ACT_RELU: return v_relu(x);
    }
    return x;
}

// ----------------------------------------------------------------------------
// int8 products: the input rows' quantisation (kernels.h), the same values as its scalar
// helpers

// The zero point, scale and reciprocal of the input row x[0..n) (lector__int8_row_params
// of min(0, x) and max(0, x), exact whatever the order; x comes first in each min/max, so
// a NaN keeps the running value, as the scalar comparisons do)
static inline void v_int8_row_params(const float *x, int64_t n, int32_t *zp, float *sa,
                                     float *inv) {
    vf vlo = v_zero(), vhi = vlo;
    int64_t k = 0;
    for (; k + VL <= n; k += VL) {
        vf v = v_load(x + k);
        vlo = v_min(v, vlo), vhi = v_max(v, vhi);
    }
    if (k < n) { // the lanes past n read as 0, which the range contains anyway
        vf v = v_load_n(x + k, n - k);
        vlo = v_min(v, vlo), vhi = v_max(v, vhi);
    }
    lector__int8_row_params(v_hmin(vlo), v_hmax(vhi), sa, inv, zp);
}

// clamp(round(x * inv) + zp, 0, 255), integral floats: the IEEE operations of
// lector__int8_quantize_input (max(v, 0) gives 0 for NaN, as the scalar)
static inline vf v_int8_quantize(vf x, vf inv, vf zp) {
    vf v = v_add(v_round(v_mul(x, inv)), zp);
    return v_min(v_max(v, v_zero()), v_set1(255.0f));
}

// The 6-row micro-kernels' operand rows: a0 .. a5, pointers to T, lda elements apart from
// a; the rows past m repeat row 0 (computed, never stored).
#define V_TILE_ROWS6(T, a, lda, m)                                                          \
    const T *a0 = (a), *a1 = (m) > 1 ? (a) + (lda) : (a), *a2 = (m) > 2 ? (a) + 2 * (lda) : (a), \
            *a3 = (m) > 3 ? (a) + 3 * (lda) : (a), *a4 = (m) > 4 ? (a) + 4 * (lda) : (a),     \
            *a5 = (m) > 5 ? (a) + 5 * (lda) : (a)

#if defined(__AVX512F__)
// The 6x64 tiles' 24 accumulators c00 .. c53 (row, 16-column vector) of type V, all zero,
// and the (6, 4) array initialiser that gathers them.
#define V_TILE_ACC6X4(V, zero)                                                              \
    V c00 = (zero), c01 = c00, c02 = c00, c03 = c00;                                        \
    V c10 = c00, c11 = c00, c12 = c00, c13 = c00;                                           \
    V c20 = c00, c21 = c00, c22 = c00, c23 = c00;                                           \
    V c30 = c00, c31 = c00, c32 = c00, c33 = c00;                                           \
    V c40 = c00, c41 = c00, c42 = c00, c43 = c00;                                           \
    V c50 = c00, c51 = c00, c52 = c00, c53 = c00
#define V_TILE_ARRAY6X4                                                                     \
    {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},                      \
     {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}}

// The 4 bytes at p (any alignment) in every 32-bit lane: the broadcast operand of the
// bf16 (2 x bf16) and int8 (4 x uint8) dot-product instructions.
static inline __m512i v_bcast32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

// The products' 6x64 tiles: the masks of a tile's four 16-column vectors when n of its 64
// columns are valid, and the store of a float tile of m rows (the rows of a past m are
// computed, never stored): (first ? bias (or 0) : c) + acc, then act when last.
static inline void v_tile_masks(int n, __mmask16 mk[4]) {
    for (int v = 0; v < 4; v++) {
        int nv = n - 16 * v;
        mk[v] = nv >= 16 ? (__mmask16)0xffff : nv <= 0 ? (__mmask16)0 : tail_mask(nv);
    }
}
static inline void v_tile_store(__m512 acc[][4], int m, float *c, int64_t ldc, int n,
                                const float *bias, int first, int last, enum lector__act act) {
    __mmask16 mk[4];
    v_tile_masks(n, mk);
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < 4; v++) {
            __m512 base;
            if (!first) base = _mm512_maskz_loadu_ps(mk[v], ci + 16 * v);
            else if (bias) base = _mm512_maskz_loadu_ps(mk[v], bias + 16 * v);
            else base = _mm512_setzero_ps();
            __m512 r = _mm512_add_ps(base, acc[i][v]);
            if (last) r = v_act(r, act);
            _mm512_mask_storeu_ps(ci + 16 * v, mk[v], r);
        }
    }
}
#endif

#endif /* LECTOR_KERNELS_SIMD_H */

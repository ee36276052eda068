/*
 * activation_simd.h: bias + GELU bodies for activation_avx2.c and activation_avx512.c,
 * written once over simd.h. Include after simd.h, from those two files only.
 */
#ifndef LECTOR_KERNELS_ACTIVATION_SIMD_H
#define LECTOR_KERNELS_ACTIVATION_SIMD_H

#include "kernels/kernels_impl.h"
#include "kernels/simd.h"

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

#define DEFINE_BIAS_ACT(fname, act)                                                        \
    void fname(float *x, const float *bias, int64_t N, int64_t C) {                        \
        for (int64_t n = 0; n < N; n++) {                                                  \
            float *row = x + n * C;                                                        \
            int64_t c = 0;                                                                 \
            for (; c + VL <= C; c += VL) {                                                 \
                vf v = v_load(row + c);                                                    \
                if (bias) v = v_add(v, v_load(bias + c));                                  \
                v_store(row + c, act(v));                                                  \
            }                                                                              \
            if (c < C) {                                                                   \
                vf v = v_load_n(row + c, C - c);                                           \
                if (bias) v = v_add(v, v_load_n(bias + c, C - c));                         \
                v_store_n(row + c, act(v), C - c);                                         \
            }                                                                              \
        }                                                                                  \
    }

DEFINE_BIAS_ACT(SIMD_SUFFIX(lector__bias_gelu), v_gelu)
DEFINE_BIAS_ACT(SIMD_SUFFIX(lector__bias_gelu_new), v_gelu_new)

#endif /* LECTOR_KERNELS_ACTIVATION_SIMD_H */

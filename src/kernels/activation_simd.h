/*
 * activation_simd.h: bias + GELU bodies for activation_avx2.c and activation_avx512.c,
 * written once over simd.h. Include after simd.h, from those two files only.
 */
#ifndef LECTOR_KERNELS_ACTIVATION_SIMD_H
#define LECTOR_KERNELS_ACTIVATION_SIMD_H

#include "kernels/kernels_impl.h"
#include "kernels/simd.h"

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
DEFINE_BIAS_ACT(SIMD_SUFFIX(lector__bias_relu), v_relu)

#endif /* LECTOR_KERNELS_ACTIVATION_SIMD_H */

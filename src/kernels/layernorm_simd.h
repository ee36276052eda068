/*
 * layernorm_simd.h: the (bias +) residual + LayerNorm body for layernorm_avx2.c and
 * layernorm_avx512.c, written once over simd.h.
 *
 * Same two-pass algorithm as lector_layernorm_ref (mean, then the variance about it), but
 * the sums run in VL interleaved lanes, so results differ from the reference by rounding.
 */
#ifndef LECTOR_KERNELS_LAYERNORM_SIMD_H
#define LECTOR_KERNELS_LAYERNORM_SIMD_H

#include <math.h>

#include "kernels/kernels_impl.h"
#include "kernels/simd.h"

// shapes as lector_residual_layernorm_ref (kernels.h)
void SIMD_SUFFIX(lector__residual_layernorm)(float *out, const float *x, const float *bias,
                                             const float *res, const float *gamma,
                                             const float *beta, int64_t N, int64_t C, float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        const float *rr = res ? res + n * C : NULL;
        float *y = out + n * C;
        // pass 1: y = x + bias + res, written to out (each element read before it is
        // written, so out may be x or res) and summed
        vf acc = v_zero();
        int64_t c = 0;
        for (; c <= C - VL; c += VL) {
            vf v = v_load(xr + c);
            if (bias) v = v_add(v, v_load(bias + c));
            if (rr) v = v_add(v, v_load(rr + c));
            v_store(y + c, v);
            acc = v_add(acc, v);
        }
        if (c < C) {
            vf v = v_load_n(xr + c, C - c);
            if (bias) v = v_add(v, v_load_n(bias + c, C - c));
            if (rr) v = v_add(v, v_load_n(rr + c, C - c));
            v_store_n(y + c, v, C - c);
            acc = v_add(acc, v);
        }
        float mean = v_hsum(acc) / (float)C;
        // pass 2: the biased variance about the mean
        vf vm = v_set1(mean);
        acc = v_zero();
        for (c = 0; c <= C - VL; c += VL) {
            vf d = v_sub(v_load(y + c), vm);
            acc = v_fma(d, d, acc);
        }
        if (c < C) {
            // lanes past the row would hold -mean: keep only the C - c real ones
            vf d = v_keep_n(v_sub(v_load_n(y + c, C - c), vm), C - c);
            acc = v_fma(d, d, acc);
        }
        float var = v_hsum(acc) / (float)C;
        float rstd = 1.0f / sqrtf(var + eps);
        // pass 3: normalise, scale and shift
        vf vr = v_set1(rstd);
        for (c = 0; c <= C - VL; c += VL) {
            vf d = v_mul(v_sub(v_load(y + c), vm), vr);
            v_store(y + c, v_fma(d, v_load(gamma + c), v_load(beta + c)));
        }
        if (c < C) {
            vf d = v_mul(v_sub(v_load_n(y + c, C - c), vm), vr);
            v_store_n(y + c, v_fma(d, v_load_n(gamma + c, C - c), v_load_n(beta + c, C - c)),
                      C - c);
        }
    }
}

#endif /* LECTOR_KERNELS_LAYERNORM_SIMD_H */

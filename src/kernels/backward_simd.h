/*
 * backward_simd.h: the training kernels' bodies for backward_avx2.c and backward_avx512.c,
 * written once over simd.h. Include after simd.h, from those two files only.
 *
 * Sums run in float, in VL lanes, so results differ from the double references by
 * rounding (tolerances in tests/test_backward.c).
 */
#ifndef LECTOR_KERNELS_BACKWARD_SIMD_H
#define LECTOR_KERNELS_BACKWARD_SIMD_H

#include <math.h>
#include <string.h>

#include "kernels/backward.h"
#include "kernels/simd.h"

// the first n floats at p (n may be >= VL or <= 0)
static inline vf ld_n(const float *p, int64_t n) {
    return n >= VL ? v_load(p) : n > 0 ? v_load_n(p, n) : v_zero();
}
static inline void st_n(float *p, vf x, int64_t n) {
    if (n >= VL) v_store(p, x);
    else if (n > 0) v_store_n(p, x, n);
}

// ----------------------------------------------------------------------------
// bias gradient

// out[c] += sum over rows n of x[n, c] (rows ld apart), rows in order
void SIMD_SUFFIX(lector__col_sum_acc)(float *out, const float *x, int64_t N, int64_t C,
                                      int64_t ld) {
    for (int64_t c = 0; c < C; c += VL) {
        vf acc = v_zero();
        for (int64_t n = 0; n < N; n++) acc = v_add(acc, ld_n(x + n * ld + c, C - c));
        st_n(out + c, v_add(ld_n(out + c, C - c), acc), C - c);
    }
}

// ----------------------------------------------------------------------------
// attention, one (b, h)

struct att_scratch {
    float *kt, *vt; // (D, Tp) keys and values transposed, zero padded
    float *dk, *dv; // (T, D)
    float *s, *pr, *kp, *ds; // (Tp) rows
    int64_t Tp;
};

static struct att_scratch att_scratch_point(float *mem, int64_t T, int64_t D) {
    struct att_scratch s;
    s.Tp = (T + 15) / 16 * 16;
    s.kt = mem;
    s.vt = s.kt + D * s.Tp;
    s.dk = s.vt + D * s.Tp;
    s.dv = s.dk + T * D;
    s.s = s.dv + T * D;
    s.pr = s.s + s.Tp;
    s.kp = s.pr + s.Tp;
    s.ds = s.kp + s.Tp;
    return s;
}

// dst (D, Tp) <- rows src + t stride (t < T), zeros past T
static void transpose_in(float *dst, const float *src, int64_t stride, int64_t T, int64_t D,
                         int64_t Tp) {
    for (int64_t d = 0; d < D; d++) {
        float *row = dst + d * Tp;
        for (int64_t t = 0; t < T; t++) row[t] = src[t * stride + d];
        for (int64_t t = T; t < Tp; t++) row[t] = 0.0f;
    }
}

// s[t2] = (q . k_t2) scale for every t2 < Tp, from kt (D, Tp)
static void scores_row(float *s, const float *q, const float *kt, int64_t D, int64_t Tp,
                       float scale) {
    for (int64_t t2 = 0; t2 < Tp; t2 += VL) {
        vf acc = v_zero();
        for (int64_t d = 0; d < D; d++) acc = v_fma(v_set1(q[d]), v_load(kt + d * Tp + t2), acc);
        v_store(s + t2, v_mul(acc, v_set1(scale)));
    }
}

// kp[t2]: 0 for a masked or dropped key, else 1 / (1 - p) (1 without dropout)
static int64_t keep_row(float *kp, const int32_t *mrow, int64_t T, int64_t Tp, uint64_t row0,
                        float p, uint64_t seed) {
    uint32_t thr = lector__dropout_threshold(p);
    float ks = thr ? 1.0f / (1.0f - p) : 1.0f;
    int64_t n_real = 0;
    for (int64_t t2 = 0; t2 < Tp; t2++) {
        bool real = t2 < T && (!mrow || mrow[t2] != 0);
        n_real += real;
        kp[t2] = !real ? 0.0f : (!thr || lector__dropout_keep(seed, row0 + (uint64_t)t2, thr)) ? ks : 0.0f;
    }
    return n_real;
}

void SIMD_SUFFIX(lector__attention_lse_head)(float *out, float *lse, const float *qkv,
                                             const int32_t *mask, float *scratch, int64_t b,
                                             int64_t h, int64_t T, int64_t C, int64_t H,
                                             float p, uint64_t seed) {
    int64_t D = C / H, C3 = 3 * C;
    struct att_scratch w = att_scratch_point(scratch, T, D);
    const float *base = qkv + b * T * C3;
    const int32_t *mrow = mask ? mask + b * T : NULL;
    float scale = 1.0f / sqrtf((float)D);
    transpose_in(w.kt, base + C + h * D, C3, T, D, w.Tp);
    for (int64_t t = 0; t < T; t++) {
        float *o = out + (b * T + t) * C + h * D;
        uint64_t row0 = (uint64_t)(((b * H + h) * T + t) * T);
        int64_t n_real = keep_row(w.kp, mrow, T, w.Tp, row0, p, seed);
        float *l = lse + (b * H + h) * T + t;
        if (n_real == 0) {
            memset(o, 0, (size_t)D * sizeof *o);
            *l = -INFINITY;
            continue;
        }
        scores_row(w.s, base + t * C3 + h * D, w.kt, D, w.Tp, scale);
        float mx = -INFINITY;
        for (int64_t t2 = 0; t2 < T; t2++)
            if ((!mrow || mrow[t2]) && w.s[t2] > mx) mx = w.s[t2];
        vf acc = v_zero(), vmx = v_set1(mx);
        for (int64_t t2 = 0; t2 < w.Tp; t2 += VL) {
            v_store(w.pr + t2, v_exp(v_sub(v_load(w.s + t2), vmx)));
        }
        // masked and padding keys give exactly 0
        for (int64_t t2 = 0; t2 < w.Tp; t2++)
            if (t2 >= T || (mrow && !mrow[t2])) w.pr[t2] = 0.0f;
        for (int64_t t2 = 0; t2 < w.Tp; t2 += VL) acc = v_add(acc, v_load(w.pr + t2));
        float sum = v_hsum(acc);
        *l = mx + logf(sum);
        float inv = 1.0f / sum;
        for (int64_t t2 = 0; t2 < w.Tp; t2 += VL)
            v_store(w.pr + t2, v_mul(v_mul(v_load(w.pr + t2), v_set1(inv)), v_load(w.kp + t2)));
        for (int64_t d = 0; d < D; d += VL) {
            vf od = v_zero();
            for (int64_t t2 = 0; t2 < T; t2++) {
                float pw = w.pr[t2];
                if (pw == 0.0f) continue;
                od = v_fma(v_set1(pw), ld_n(base + t2 * C3 + 2 * C + h * D + d, D - d), od);
            }
            st_n(o + d, od, D - d);
        }
    }
}

void SIMD_SUFFIX(lector__attention_backward_head)(float *dqkv, const float *dout,
                                                  const float *qkv, const float *out,
                                                  const float *lse, const int32_t *mask,
                                                  float *scratch, int64_t b, int64_t h,
                                                  int64_t T, int64_t C, int64_t H, float p,
                                                  uint64_t seed) {
    int64_t D = C / H, C3 = 3 * C;
    struct att_scratch w = att_scratch_point(scratch, T, D);
    const float *base = qkv + b * T * C3;
    float *dbase = dqkv + b * T * C3;
    const int32_t *mrow = mask ? mask + b * T : NULL;
    float scale = 1.0f / sqrtf((float)D);
    transpose_in(w.kt, base + C + h * D, C3, T, D, w.Tp);
    transpose_in(w.vt, base + 2 * C + h * D, C3, T, D, w.Tp);
    memset(w.dk, 0, (size_t)(2 * T * D) * sizeof *w.dk); // dk and dv
    for (int64_t t = 0; t < T; t++) {
        float l = lse[(b * H + h) * T + t];
        if (l == -INFINITY) continue;
        const float *q = base + t * C3 + h * D;
        const float *o = out + (b * T + t) * C + h * D;
        const float *dO = dout + (b * T + t) * C + h * D;
        float *dq = dbase + t * C3 + h * D;
        uint64_t row0 = (uint64_t)(((b * H + h) * T + t) * T);
        keep_row(w.kp, mrow, T, w.Tp, row0, p, seed);
        scores_row(w.s, q, w.kt, D, w.Tp, scale);
        vf acc = v_zero();
        for (int64_t d = 0; d < D; d += VL)
            acc = v_fma(ld_n(dO + d, D - d), ld_n(o + d, D - d), acc);
        float Di = v_hsum(acc);
        // P (0 at masked and padding keys)
        vf vl = v_set1(l);
        for (int64_t t2 = 0; t2 < w.Tp; t2 += VL)
            v_store(w.pr + t2, v_exp(v_sub(v_load(w.s + t2), vl)));
        for (int64_t t2 = 0; t2 < w.Tp; t2++)
            if (t2 >= T || (mrow && !mrow[t2])) w.pr[t2] = 0.0f;
        // dP = (dO V^T) keep, dS = P (dP - Di) scale
        for (int64_t t2 = 0; t2 < w.Tp; t2 += VL) {
            vf dp = v_zero();
            for (int64_t d = 0; d < D; d++)
                dp = v_fma(v_set1(dO[d]), v_load(w.vt + d * w.Tp + t2), dp);
            dp = v_mul(dp, v_load(w.kp + t2));
            vf ds = v_mul(v_mul(v_load(w.pr + t2), v_sub(dp, v_set1(Di))), v_set1(scale));
            v_store(w.ds + t2, ds);
        }
        for (int64_t d = 0; d < D; d += VL) {
            int64_t nd = D - d;
            vf dqv = v_zero(), vdo = ld_n(dO + d, nd), vq = ld_n(q + d, nd);
            for (int64_t t2 = 0; t2 < T; t2++) {
                float pr = w.pr[t2];
                if (pr == 0.0f) continue;
                float ds = w.ds[t2], pw = pr * w.kp[t2];
                dqv = v_fma(v_set1(ds), ld_n(base + t2 * C3 + C + h * D + d, nd), dqv);
                float *dk = w.dk + t2 * D + d, *dv = w.dv + t2 * D + d;
                st_n(dk, v_fma(v_set1(ds), vq, ld_n(dk, nd)), nd);
                st_n(dv, v_fma(v_set1(pw), vdo, ld_n(dv, nd)), nd);
            }
            st_n(dq + d, v_add(ld_n(dq + d, nd), dqv), nd);
        }
    }
    for (int64_t t2 = 0; t2 < T; t2++) {
        float *dk = dbase + t2 * C3 + C + h * D, *dv = dk + C;
        for (int64_t d = 0; d < D; d += VL) {
            int64_t nd = D - d;
            st_n(dk + d, v_add(ld_n(dk + d, nd), ld_n(w.dk + t2 * D + d, nd)), nd);
            st_n(dv + d, v_add(ld_n(dv + d, nd), ld_n(w.dv + t2 * D + d, nd)), nd);
        }
    }
}

// ----------------------------------------------------------------------------
// layernorm

void SIMD_SUFFIX(lector__layernorm_stats)(float *out, float *mean, float *rstd,
                                          const float *inp, const float *gamma,
                                          const float *beta, int64_t N, int64_t C, float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        vf acc = v_zero();
        for (int64_t c = 0; c < C; c += VL) acc = v_add(acc, ld_n(x + c, C - c));
        float m = v_hsum(acc) / (float)C;
        vf vm = v_set1(m);
        acc = v_zero();
        for (int64_t c = 0; c < C; c += VL) {
            vf d = v_keep_n(v_sub(ld_n(x + c, C - c), vm), C - c < VL ? C - c : VL);
            acc = v_fma(d, d, acc);
        }
        float r = 1.0f / sqrtf(v_hsum(acc) / (float)C + eps);
        vf vr = v_set1(r);
        for (int64_t c = 0; c < C; c += VL) {
            int64_t nc = C - c;
            vf d = v_mul(v_sub(ld_n(x + c, nc), vm), vr);
            st_n(y + c, v_fma(d, ld_n(gamma + c, nc), ld_n(beta + c, nc)), nc);
        }
        mean[n] = m;
        rstd[n] = r;
    }
}

void SIMD_SUFFIX(lector__layernorm_backward)(float *dinp, float *dgamma, float *dbeta,
                                             const float *dout, const float *inp,
                                             const float *mean, const float *rstd,
                                             const float *gamma, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; n++) {
        const float *dy = dout + n * C, *x = inp + n * C;
        vf vm = v_set1(mean[n]), vr = v_set1(rstd[n]);
        vf ag = v_zero(), agx = v_zero();
        for (int64_t c = 0; c < C; c += VL) {
            int64_t nc = C - c;
            vf xh = v_mul(v_sub(ld_n(x + c, nc), vm), vr);
            vf g = v_mul(ld_n(dy + c, nc), ld_n(gamma + c, nc));
            ag = v_add(ag, g);
            agx = v_fma(g, xh, agx);
            if (dgamma) st_n(dgamma + c, v_fma(ld_n(dy + c, nc), xh, ld_n(dgamma + c, nc)), nc);
            if (dbeta) st_n(dbeta + c, v_add(ld_n(dbeta + c, nc), ld_n(dy + c, nc)), nc);
        }
        if (!dinp) continue;
        vf mg = v_set1(v_hsum(ag) / (float)C), mgx = v_set1(v_hsum(agx) / (float)C);
        for (int64_t c = 0; c < C; c += VL) {
            int64_t nc = C - c;
            vf xh = v_mul(v_sub(ld_n(x + c, nc), vm), vr);
            vf g = v_mul(ld_n(dy + c, nc), ld_n(gamma + c, nc));
            vf d = v_mul(v_sub(v_sub(g, mg), v_mul(xh, mgx)), vr);
            st_n(dinp + n * C + c, v_add(ld_n(dinp + n * C + c, nc), d), nc);
        }
    }
}

// ----------------------------------------------------------------------------
// activations and the residual

// Phi(x) + x phi(x), Phi from erfc as v_gelu does
static inline vf v_gelu_grad(vf x) {
    vf a = v_mul(x, v_set1(0.70710678118654752440f));
    vf ax = v_max(a, v_sub(v_zero(), a));
    vf e = v_erfc_pos(ax);
    vf cdf = v_mul(v_set1(0.5f), v_select_neg(x, e, v_sub(v_set1(2.0f), e)));
    vf pdf = v_mul(v_set1(0.39894228040143267794f),
                   v_exp(v_mul(v_set1(-0.5f), v_mul(x, x))));
    return v_fma(x, pdf, cdf);
}

static inline vf v_gelu_new_grad(vf x) {
    const float k = 0.79788456080286535588f, a = 0.044715f;
    vf x2 = v_mul(x, x);
    vf t = v_tanh(v_mul(v_set1(k), v_fma(v_mul(v_set1(a), x2), x, x)));
    vf one = v_set1(1.0f);
    vf left = v_mul(v_set1(0.5f), v_add(one, t));
    vf du = v_mul(v_set1(k), v_fma(v_set1(3.0f * a), x2, one));
    vf right = v_mul(v_mul(v_mul(v_set1(0.5f), x), v_sub(one, v_mul(t, t))), du);
    return v_add(left, right);
}

static inline vf v_relu_grad(vf x) {
    return v_select_neg(v_sub(v_zero(), x), v_set1(1.0f), v_zero()); // 1 where -x < 0
}

#define DEFINE_ACT_BACKWARD(fname, grad)                                                   \
    void fname(float *dinp, const float *dout, const float *inp, int64_t n) {              \
        for (int64_t i = 0; i < n; i += VL) {                                              \
            vf g = v_mul(ld_n(dout + i, n - i), grad(ld_n(inp + i, n - i)));               \
            st_n(dinp + i, v_add(ld_n(dinp + i, n - i), g), n - i);                        \
        }                                                                                  \
    }
DEFINE_ACT_BACKWARD(SIMD_SUFFIX(lector__gelu_backward), v_gelu_grad)
DEFINE_ACT_BACKWARD(SIMD_SUFFIX(lector__gelu_new_backward), v_gelu_new_grad)
DEFINE_ACT_BACKWARD(SIMD_SUFFIX(lector__relu_backward), v_relu_grad)

void SIMD_SUFFIX(lector__residual_backward)(float *dx, float *dr, const float *dout, int64_t n) {
    for (int64_t i = 0; i < n; i += VL) {
        vf g = ld_n(dout + i, n - i);
        if (dx) st_n(dx + i, v_add(ld_n(dx + i, n - i), g), n - i);
        if (dr) st_n(dr + i, v_add(ld_n(dr + i, n - i), g), n - i);
    }
}

// ----------------------------------------------------------------------------
// pooling

void SIMD_SUFFIX(lector__pool_mean_backward)(float *dh, const float *dpool,
                                             const int32_t *mask, int64_t B, int64_t T,
                                             int64_t C) {
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++) n += !mask || mask[b * T + t] != 0;
        if (n == 0) continue;
        vf inv = v_set1(1.0f / (float)n);
        for (int64_t t = 0; t < T; t++) {
            if (mask && mask[b * T + t] == 0) continue;
            float *d = dh + (b * T + t) * C;
            for (int64_t c = 0; c < C; c += VL)
                st_n(d + c, v_fma(ld_n(dpool + b * C + c, C - c), inv, ld_n(d + c, C - c)),
                     C - c);
        }
    }
}

void SIMD_SUFFIX(lector__pool_max_backward)(float *dh, const float *dpool, const float *h,
                                            const int32_t *mask, int64_t B, int64_t T,
                                            int64_t C) {
    float idx[VL];
    for (int64_t b = 0; b < B; b++) {
        for (int64_t c = 0; c < C; c += VL) {
            int64_t nc = C - c < VL ? C - c : VL;
            vf vb = v_set1(-INFINITY), vi = v_set1(-1.0f);
            for (int64_t t = 0; t < T; t++) {
                if (mask && mask[b * T + t] == 0) continue;
                vf x = ld_n(h + (b * T + t) * C + c, nc);
                // lanes where best < x (strictly: the first maximum wins) take x and t;
                // a first real token always wins (best - x < 0 against -inf, or vi < 0)
                vf diff = v_sub(vb, x);
                vf first = v_sub(vi, v_set1(-0.5f)); // < 0 while no token was taken
                vf take = v_select_neg(first, v_set1(-1.0f), diff);
                vb = v_select_neg(take, x, vb);
                vi = v_select_neg(take, v_set1((float)t), vi);
            }
            v_store(idx, vi);
            for (int64_t i = 0; i < nc; i++) {
                if (idx[i] < 0.0f) continue;
                int64_t t = (int64_t)idx[i];
                dh[(b * T + t) * C + c + i] += dpool[b * C + c + i];
            }
        }
    }
}

// ----------------------------------------------------------------------------
// AdamW

// lector__adamw_update_ref's operations lane by lane (multiplying by 1 where the mask spares
// an element is exact): the same bits
void SIMD_SUFFIX(lector__adamw_update)(float *params, float *m, float *v, const float *grads,
                                       const uint8_t *decay_mask,
                                       const struct lector__adamw_consts *k, int64_t n) {
    const vf b1 = v_set1(k->b1), b2 = v_set1(k->b2), omb1 = v_set1(k->one_minus_b1),
             omb2 = v_set1(k->one_minus_b2), nss = v_set1(k->neg_step_size),
             bc2 = v_set1(k->bc2_sqrt), eps = v_set1(k->eps), decay = v_set1(k->decay);
    float dec[VL];
    for (int64_t i = 0; i < n; i += VL) {
        const int64_t r = n - i;
        vf p = ld_n(params + i, r), g = ld_n(grads + i, r);
        if (decay_mask) {
            for (int64_t j = 0; j < VL; j++) dec[j] = j < r && decay_mask[i + j] ? k->decay : 1.0f;
            p = v_mul(p, v_load(dec));
        } else {
            p = v_mul(p, decay);
        }
        vf mi = v_add(v_mul(ld_n(m + i, r), b1), v_mul(omb1, g));
        vf vi = v_add(v_mul(ld_n(v + i, r), b2), v_mul(v_mul(omb2, g), g));
        vf denom = v_add(v_div(v_sqrt(vi), bc2), eps);
        p = v_add(p, v_div(v_mul(nss, mi), denom));
        st_n(m + i, mi, r);
        st_n(v + i, vi, r);
        st_n(params + i, p, r);
    }
}

#endif /* LECTOR_KERNELS_BACKWARD_SIMD_H */

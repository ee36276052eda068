/*
 * backward.h: the training kernels (internal, lector__ callers only): the forward ops
 * training needs beyond kernels.h (attention that keeps its row logsumexp, LayerNorm that
 * keeps its row statistics) and the backward of every op of a post-LayerNorm transformer
 * layer and of every pooling.
 *
 * Each op has a portable reference `lector_<op>_ref` (plain loops, sums in double: the
 * specification) and a fast entry point `lector_<op>` that runs the AVX2 or AVX-512 variant
 * where dispatch (kernels_impl.h) chose one, else the reference. The variants are also
 * declared here, `lector__<op>_avx2` / `_avx512`, for the tests.
 *
 * Conventions as kernels.h: raw pointers, row-major contiguous, a shape comment per
 * argument, N rows (usually B*T). Every backward ADDS into its gradient outputs (llm.c's
 * convention): the caller zeroes them first, and a tensor used twice (the residual
 * stream) collects both contributions.
 *
 * Determinism: every output element is computed by one thread, in an order fixed by the
 * shapes alone, so results do not depend on the thread count.
 *
 * Dropout inside attention (on the probabilities, as Hugging Face's attention_probs
 * dropout) is a pure function of (seed, index), lector__dropout_keep, so the backward
 * regenerates the mask instead of storing a (T, T) one per head.
 */
#ifndef LECTOR_KERNELS_BACKWARD_H
#define LECTOR_KERNELS_BACKWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------
// dropout masks

/* The drop threshold of probability p in [0, 1): an element is kept when its 32-bit draw
 * is >= the threshold. */
static inline uint32_t lector__dropout_threshold(float p) {
    if (!(p > 0.0f)) return 0;
    double t = (double)p * 4294967296.0;
    return t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
}

/* Whether element i of the mask of `seed` is kept (splitmix64 of seed + i: stateless, the
 * same on every machine and whatever the thread split). */
static inline bool lector__dropout_keep(uint64_t seed, uint64_t i, uint32_t threshold) {
    uint64_t z = seed + (i + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return (uint32_t)(z >> 32) >= threshold;
}

/* x[i] = keep(seed, i) ? x[i] / (1 - p) : 0, in place (torch.nn.functional.dropout in
 * training mode); and its backward, dx[i] += the same mask times dout[i]. p = 0 leaves x.
 *   x, dx, dout: (n) */
void lector_dropout_forward(float *x, int64_t n, float p, uint64_t seed);
void lector_dropout_backward(float *dx, const float *dout, int64_t n, float p, uint64_t seed);

// ----------------------------------------------------------------------------
// linear: out = inp weight^T + bias (torch.nn.functional.linear)

/* https://pytorch.org/docs/stable/generated/torch.nn.functional.linear.html
 *   dinp   += dout weight        (N, IC), or NULL when not wanted
 *   dweight += dout^T inp        (OC, IC), or NULL
 *   dbias  += sum over rows of dout  (OC), or NULL
 *   dout:   (N, OC)
 *   inp:    (N, IC)
 *   weight: (OC, IC)
 * The fast version runs both products on the forward's packed sgemm (kernels_impl.h,
 * lector__gemm_acc_kmajor: weight and inp are already its k-major right operands, dout is
 * transposed for dweight's), panels split over the kernel threads. */
void lector_linear_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int64_t N, int64_t IC,
                                int64_t OC);
void lector_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int64_t N, int64_t IC,
                            int64_t OC);

// ----------------------------------------------------------------------------
// attention that keeps its row logsumexp, and its backward

/* As lector_attention_ref (kernels.h), plus:
 *   lse: (B, H, T) the logsumexp of each query row's scaled, masked scores (-INFINITY
 *        for a row whose keys are all masked: its output is 0)
 * and with dropout p on the probabilities (mask element ((b H + h) T + t) T + t2 of
 * `seed`, kept ones scaled by 1 / (1 - p)). No (T, T) matrix is stored. */
void lector_attention_lse_ref(float *out, float *lse, const float *qkv, const int32_t *mask,
                              int64_t B, int64_t T, int64_t C, int64_t H, float p,
                              uint64_t seed);
void lector_attention_lse(float *out, float *lse, const float *qkv, const int32_t *mask,
                          int64_t B, int64_t T, int64_t C, int64_t H, float p, uint64_t seed);

/* The backward of lector_attention_lse, per (b, h), recomputing the probabilities from Q,
 * K and lse as FlashAttention-2's backward does:
 *   P = exp(S - lse), Pd = P * keep / (1 - p), Di = dO_i . O_i,
 *   dV += Pd^T dO, dP = (dO V^T) * keep / (1 - p), dS = P (dP - Di),
 *   dQ += dS K / sqrt(D), dK += dS^T Q / sqrt(D)
 *   dqkv: (B, T, 3C) += (dQ, dK, dV) in qkv's layout
 *   dout: (B, T, C)
 *   qkv:  (B, T, 3C) the forward's input
 *   out:  (B, T, C) the forward's output
 *   lse:  (B, H, T) the forward's row logsumexp
 *   mask: (B, T) or NULL; p and seed as the forward's */
void lector_attention_backward_ref(float *dqkv, const float *dout, const float *qkv,
                                   const float *out, const float *lse, const int32_t *mask,
                                   int64_t B, int64_t T, int64_t C, int64_t H, float p,
                                   uint64_t seed);
void lector_attention_backward(float *dqkv, const float *dout, const float *qkv,
                               const float *out, const float *lse, const int32_t *mask,
                               int64_t B, int64_t T, int64_t C, int64_t H, float p,
                               uint64_t seed);

// ----------------------------------------------------------------------------
// layernorm with statistics, and its backward

/* https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
 * out as lector_layernorm_ref, plus each row's mean and 1 / sqrt(var + eps).
 *   out:   (N, C), may equal inp
 *   mean:  (N)
 *   rstd:  (N)
 *   inp:   (N, C)
 *   gamma, beta: (C) */
void lector_layernorm_stats_ref(float *out, float *mean, float *rstd, const float *inp,
                                const float *gamma, const float *beta, int64_t N, int64_t C,
                                float eps);
void lector_layernorm_stats(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int64_t N, int64_t C,
                            float eps);

/* With xhat = (inp - mean) rstd and g = dout gamma:
 *   dinp   += rstd (g - mean_c(g) - xhat mean_c(g xhat))   (N, C)
 *   dgamma += sum over rows of dout xhat                   (C)
 *   dbeta  += sum over rows of dout                        (C)
 *   dout, inp: (N, C); mean, rstd: (N) from lector_layernorm_stats; gamma: (C) */
void lector_layernorm_backward_ref(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                   const float *inp, const float *mean, const float *rstd,
                                   const float *gamma, int64_t N, int64_t C);
void lector_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *inp, const float *mean, const float *rstd,
                               const float *gamma, int64_t N, int64_t C);

// ----------------------------------------------------------------------------
// activations and the residual

/* dinp[i] += dout[i] act'(inp[i]), inp the activation's input (pre-activation):
 *   gelu:     Phi(x) + x phi(x)
 *   gelu_new: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2),
 *             t = tanh(sqrt(2/pi) (x + 0.044715 x^3))
 *   relu:     1 where x > 0, else 0
 *   dinp, dout, inp: (n) */
void lector_gelu_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n);
void lector_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);
void lector_gelu_new_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n);
void lector_gelu_new_backward(float *dinp, const float *dout, const float *inp, int64_t n);
void lector_relu_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n);
void lector_relu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

/* out = x + r: dx += dout, dr += dout.   dx, dr, dout: (n) */
void lector_residual_backward_ref(float *dx, float *dr, const float *dout, int64_t n);
void lector_residual_backward(float *dx, float *dr, const float *dout, int64_t n);

// ----------------------------------------------------------------------------
// pooling backward (the poolings of kernels.h)

/* cls: dh[b, 0, :] += dpool[b, :]
 *   dh: (B, T, C); dpool: (B, C) */
void lector_pool_cls_backward_ref(float *dh, const float *dpool, int64_t B, int64_t T,
                                  int64_t C);
void lector_pool_cls_backward(float *dh, const float *dpool, int64_t B, int64_t T, int64_t C);
/* mean: dh[b, t, :] += dpool[b, :] / n_real(b) where mask[b, t] != 0
 *   mask: (B, T) or NULL */
void lector_pool_mean_backward_ref(float *dh, const float *dpool, const int32_t *mask,
                                   int64_t B, int64_t T, int64_t C);
void lector_pool_mean_backward(float *dh, const float *dpool, const int32_t *mask, int64_t B,
                               int64_t T, int64_t C);
/* max: dh[b, t, c] += dpool[b, c] at the first real t where h[b, t, c] is the maximum
 * (torch.max(dim)'s index); nothing for a row without real tokens.
 *   h: (B, T, C) the pooled hidden states */
void lector_pool_max_backward_ref(float *dh, const float *dpool, const float *h,
                                  const int32_t *mask, int64_t B, int64_t T, int64_t C);
void lector_pool_max_backward(float *dh, const float *dpool, const float *h,
                              const int32_t *mask, int64_t B, int64_t T, int64_t C);
/* pooler: pooled = tanh(h[:, 0, :] W^T + bias), W (C, C):
 *   dz = dpool (1 - pooled^2); dW += dz^T h0; dbias += sum dz; dh[b, 0, :] += dz W
 *   dh: (B, T, C); dW: (C, C) or NULL; dbias: (C) or NULL
 *   dpool, pooled: (B, C); h: (B, T, C); W: (C, C)
 *   scratch: (2 B C) floats */
void lector_pool_pooler_backward_ref(float *dh, float *dW, float *dbias, const float *dpool,
                                     const float *pooled, const float *h, const float *W,
                                     float *scratch, int64_t B, int64_t T, int64_t C);
void lector_pool_pooler_backward(float *dh, float *dW, float *dbias, const float *dpool,
                                 const float *pooled, const float *h, const float *W,
                                 float *scratch, int64_t B, int64_t T, int64_t C);

// ----------------------------------------------------------------------------
// the AdamW update (head/adamw.c)

/* The factors of one AdamW step, as torch.optim.AdamW computes them (head/adamw.c). */
struct lector__adamw_consts {
    float decay, b1, b2, one_minus_b1, one_minus_b2, neg_step_size, bc2_sqrt, eps;
};
/* Elements [0, n) of one step, torch's single-tensor order of operations:
 *   p *= decay (where decay_mask is NULL or non-zero); m = m b1 + (1 - b1) g;
 *   v = v b2 + (1 - b2) g g; p += -step_size m / (sqrt(v) / bc2_sqrt + eps)
 *   params, m, v, grads: (n); decay_mask: (n) or NULL
 * Every operation is a single IEEE float operation (sqrt and division correctly rounded, no
 * fused multiply-add), so the SIMD variants give the reference's bits. */
void lector__adamw_update_ref(float *params, float *m, float *v, const float *grads,
                              const uint8_t *decay_mask, const struct lector__adamw_consts *k,
                              int64_t n);
void lector__adamw_update(float *params, float *m, float *v, const float *grads,
                          const uint8_t *decay_mask, const struct lector__adamw_consts *k,
                          int64_t n);

// ----------------------------------------------------------------------------
// SIMD variants (same contracts; tests call each one the CPU can run)

#define LECTOR__BWD_DECLARE(sfx)                                                             \
    void lector__col_sum_acc_##sfx(float *out, const float *x, int64_t N, int64_t C,        \
                                   int64_t ld);                                             \
    void lector__attention_lse_head_##sfx(float *out, float *lse, const float *qkv,         \
                                          const int32_t *mask, float *scratch, int64_t b,   \
                                          int64_t h, int64_t T, int64_t C, int64_t H,       \
                                          float p, uint64_t seed);                          \
    void lector__attention_backward_head_##sfx(                                             \
        float *dqkv, const float *dout, const float *qkv, const float *out,                 \
        const float *lse, const int32_t *mask, float *scratch, int64_t b, int64_t h,        \
        int64_t T, int64_t C, int64_t H, float p, uint64_t seed);                           \
    void lector__layernorm_stats_##sfx(float *out, float *mean, float *rstd,                \
                                       const float *inp, const float *gamma,                \
                                       const float *beta, int64_t N, int64_t C, float eps); \
    void lector__layernorm_backward_##sfx(float *dinp, float *dgamma, float *dbeta,         \
                                          const float *dout, const float *inp,              \
                                          const float *mean, const float *rstd,             \
                                          const float *gamma, int64_t N, int64_t C);        \
    void lector__gelu_backward_##sfx(float *dinp, const float *dout, const float *inp,      \
                                     int64_t n);                                            \
    void lector__gelu_new_backward_##sfx(float *dinp, const float *dout, const float *inp,  \
                                         int64_t n);                                        \
    void lector__relu_backward_##sfx(float *dinp, const float *dout, const float *inp,      \
                                     int64_t n);                                            \
    void lector__residual_backward_##sfx(float *dx, float *dr, const float *dout,           \
                                         int64_t n);                                        \
    void lector__pool_mean_backward_##sfx(float *dh, const float *dpool,                    \
                                          const int32_t *mask, int64_t B, int64_t T,        \
                                          int64_t C);                                       \
    void lector__pool_max_backward_##sfx(float *dh, const float *dpool, const float *h,     \
                                         const int32_t *mask, int64_t B, int64_t T,         \
                                         int64_t C);                                        \
    void lector__adamw_update_##sfx(float *params, float *m, float *v, const float *grads,  \
                                    const uint8_t *decay_mask,                              \
                                    const struct lector__adamw_consts *k, int64_t n);

LECTOR__BWD_DECLARE(avx2)
LECTOR__BWD_DECLARE(avx512)

/* Floats of scratch one (b, h) of the attention variants needs. */
size_t lector__attention_train_scratch_size(int64_t T, int64_t C, int64_t H);

/* Which variant the fast entry points run: "ref", "avx2" or "avx512". Set
 * `forced` to "ref", "avx2" or "avx512" to choose (tests; NULL returns to dispatch's
 * choice); the variant must be one the CPU can run. Not thread-safe. */
const char *lector__backward_variant(void);
void lector__backward_force(const char *forced);

#endif /* LECTOR_KERNELS_BACKWARD_H */

// The training kernels: references (plain loops, sums in double) and the fast entry points,
// which run the AVX2 or AVX-512 variant dispatch chose and split work over the kernel
// threads in pieces fixed by the shapes.
#include "kernels/backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"

// ----------------------------------------------------------------------------
// variant table

struct bwd_table {
    const char *name;
    const struct lector__gemm_core *gemm; // the forward's sgemm core of the same width
    void (*col_sum_acc)(float *out, const float *x, int64_t N, int64_t C, int64_t ld);
    void (*attention_lse_head)(float *out, float *lse, const float *qkv, const int32_t *mask,
                               float *scratch, int64_t b, int64_t h, int64_t T, int64_t C,
                               int64_t H, float p, uint64_t seed);
    void (*attention_backward_head)(float *dqkv, const float *dout, const float *qkv,
                                    const float *out, const float *lse, const int32_t *mask,
                                    float *scratch, int64_t b, int64_t h, int64_t T, int64_t C,
                                    int64_t H, float p, uint64_t seed);
    void (*layernorm_stats)(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int64_t N, int64_t C,
                            float eps);
    void (*layernorm_backward)(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *inp, const float *mean, const float *rstd,
                               const float *gamma, int64_t N, int64_t C);
    void (*gelu_backward)(float *dinp, const float *dout, const float *inp, int64_t n);
    void (*gelu_new_backward)(float *dinp, const float *dout, const float *inp, int64_t n);
    void (*relu_backward)(float *dinp, const float *dout, const float *inp, int64_t n);
    void (*residual_backward)(float *dx, float *dr, const float *dout, int64_t n);
    void (*pool_mean_backward)(float *dh, const float *dpool, const int32_t *mask, int64_t B,
                               int64_t T, int64_t C);
    void (*pool_max_backward)(float *dh, const float *dpool, const float *h,
                              const int32_t *mask, int64_t B, int64_t T, int64_t C);
    void (*adamw_update)(float *params, float *m, float *v, const float *grads,
                         const uint8_t *decay_mask, const struct lector__adamw_consts *k,
                         int64_t n);
};

#define BWD_TABLE(sfx)                                                                     \
    {                                                                                      \
        .name = #sfx, .gemm = &lector__gemm_core_##sfx,                                    \
        .col_sum_acc = lector__col_sum_acc_##sfx,                                          \
        .attention_lse_head = lector__attention_lse_head_##sfx,                            \
        .attention_backward_head = lector__attention_backward_head_##sfx,                  \
        .layernorm_stats = lector__layernorm_stats_##sfx,                                  \
        .layernorm_backward = lector__layernorm_backward_##sfx,                            \
        .gelu_backward = lector__gelu_backward_##sfx,                                      \
        .gelu_new_backward = lector__gelu_new_backward_##sfx,                              \
        .relu_backward = lector__relu_backward_##sfx,                                      \
        .residual_backward = lector__residual_backward_##sfx,                              \
        .pool_mean_backward = lector__pool_mean_backward_##sfx,                            \
        .pool_max_backward = lector__pool_max_backward_##sfx,                              \
        .adamw_update = lector__adamw_update_##sfx,                                        \
    }

static const struct bwd_table table_avx2 = BWD_TABLE(avx2);
// The AVX-512 variants are the same bodies at 16 floats a vector (backward_simd.h).
static const struct bwd_table table_avx512 = BWD_TABLE(avx512);

static const struct bwd_table *forced_table;
static bool forced_ref;

// NULL: the references
static const struct bwd_table *table(void) {
    if (forced_ref) return NULL;
    if (forced_table) return forced_table;
    const char *name = lector__kernels()->name;
    if (strcmp(name, "avx512") == 0) return &table_avx512;
    if (strcmp(name, "avx2") == 0) return &table_avx2;
    return NULL;
}

const char *lector__backward_variant(void) {
    const struct bwd_table *t = table();
    return t ? t->name : "ref";
}

void lector__backward_force(const char *forced) {
    forced_ref = forced && strcmp(forced, "ref") == 0;
    forced_table = NULL;
    if (forced && strcmp(forced, "avx2") == 0) forced_table = &table_avx2;
    if (forced && strcmp(forced, "avx512") == 0) forced_table = &table_avx512;
}

// ----------------------------------------------------------------------------
// element-wise work over the kernel threads

struct range_job {
    void (*body)(const void *arg, int64_t i0, int64_t i1);
    const void *arg;
    int64_t n, grain;
};

static void range_worker(void *arg, int ith, int nth) {
    const struct range_job *j = arg;
    int64_t n_piece = (j->n + j->grain - 1) / j->grain, lo, hi;
    lector__split(n_piece, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    j->body(j->arg, lo * j->grain, hi * j->grain < j->n ? hi * j->grain : j->n);
}

// body(arg, i0, i1) over [0, n) in runs of whole pieces of `grain` items (a multiple of every
// variant's vector width), on the kernel threads when there are at least `min_items`;
// every item's result is the same whatever the split.
static void parallel_range(void (*body)(const void *arg, int64_t i0, int64_t i1),
                           const void *arg, int64_t n, int64_t grain, int64_t min_items) {
    if (n <= 0) return;
    struct range_job j = {body, arg, n, grain};
    int64_t n_piece = (n + grain - 1) / grain;
    int n_max = n < min_items ? 1 : n_piece < 64 ? (int)n_piece : 64;
    lector__parallel_run(range_worker, &j, n_max);
}

// below this many elements, waking a thread costs more than it saves
#define EW_MIN ((int64_t)1 << 15)
#define EW_GRAIN 4096

// ----------------------------------------------------------------------------
// dropout

struct dropout_args {
    float *x;
    const float *dout;
    uint32_t thr;
    float scale;
    uint64_t seed;
};

static void dropout_forward_body(const void *arg, int64_t i0, int64_t i1) {
    const struct dropout_args *a = arg;
    for (int64_t i = i0; i < i1; i++)
        a->x[i] = lector__dropout_keep(a->seed, (uint64_t)i, a->thr) ? a->x[i] * a->scale : 0.0f;
}

static void dropout_backward_body(const void *arg, int64_t i0, int64_t i1) {
    const struct dropout_args *a = arg;
    for (int64_t i = i0; i < i1; i++)
        if (lector__dropout_keep(a->seed, (uint64_t)i, a->thr)) a->x[i] += a->dout[i] * a->scale;
}

void lector_dropout_forward(float *x, int64_t n, float p, uint64_t seed) {
    if (!(p > 0.0f)) return;
    struct dropout_args a = {x, NULL, lector__dropout_threshold(p), 1.0f / (1.0f - p), seed};
    parallel_range(dropout_forward_body, &a, n, EW_GRAIN, EW_MIN);
}

void lector_dropout_backward(float *dx, const float *dout, int64_t n, float p, uint64_t seed) {
    if (!(p > 0.0f)) {
        lector_residual_backward(dx, NULL, dout, n);
        return;
    }
    struct dropout_args a = {dx, dout, lector__dropout_threshold(p), 1.0f / (1.0f - p), seed};
    parallel_range(dropout_backward_body, &a, n, EW_GRAIN, EW_MIN);
}

// ----------------------------------------------------------------------------
// linear

// c (M, J) += A (M, K) b (K, J), A(m, k) = a[m rs + k ks], sums in double
static void product_acc_ref(float *c, const float *a, int64_t rs, int64_t ks, const float *b,
                            int64_t M, int64_t K, int64_t J) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < J; j++) {
            double sum = 0.0;
            for (int64_t k = 0; k < K; k++) sum += (double)a[m * rs + k * ks] * (double)b[k * J + j];
            c[m * J + j] += (float)sum;
        }
}

void lector_linear_backward_ref(float *dinp,         // (N, IC) or NULL
                                float *dweight,      // (OC, IC) or NULL
                                float *dbias,        // (OC) or NULL
                                const float *dout,   // (N, OC)
                                const float *inp,    // (N, IC)
                                const float *weight, // (OC, IC)
                                int64_t N, int64_t IC, int64_t OC) {
    // dinp (N, IC) += dout (N, OC) weight (OC, IC)
    if (dinp) product_acc_ref(dinp, dout, OC, 1, weight, N, OC, IC);
    // dweight (OC, IC) += dout^T (OC, N) inp (N, IC)
    if (dweight) product_acc_ref(dweight, dout, 1, OC, inp, OC, N, IC);
    if (dbias)
        for (int64_t o = 0; o < OC; o++) {
            double s = 0.0;
            for (int64_t n = 0; n < N; n++) s += (double)dout[n * OC + o];
            dbias[o] += (float)s;
        }
}

struct transpose_args {
    float *dst;
    const float *src;
    int64_t N, C;
};

// columns [c0, c1) of dst (C, N) <- src (N, C), 16 rows at a time
static void transpose_body(const void *arg, int64_t c0, int64_t c1) {
    const struct transpose_args *a = arg;
    for (int64_t n0 = 0; n0 < a->N; n0 += 16) {
        int64_t n1 = n0 + 16 < a->N ? n0 + 16 : a->N;
        for (int64_t c = c0; c < c1; c++)
            for (int64_t n = n0; n < n1; n++) a->dst[c * a->N + n] = a->src[n * a->C + c];
    }
}

struct col_sum_args {
    void (*fn)(float *out, const float *x, int64_t N, int64_t C, int64_t ld);
    float *out;
    const float *x;
    int64_t N, C;
};

static void col_sum_body(const void *arg, int64_t c0, int64_t c1) {
    const struct col_sum_args *a = arg;
    a->fn(a->out + c0, a->x + c0, a->N, c1 - c0, a->C);
}

void lector_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int64_t N, int64_t IC,
                            int64_t OC) {
    const struct bwd_table *t = table();
    // both products on the forward's sgemm, accumulating: weight (OC, IC) is already the
    // k-major right operand of dinp's, and inp (N, IC) of dweight's
    bool done_x = !dinp, done_w = !dweight;
    if (t && dinp) done_x = lector__gemm_acc_kmajor(t->gemm, dinp, dout, weight, IC, N, OC, IC);
    float *dout_t = t && dweight ? lector__aligned_alloc((size_t)(N * OC) * sizeof(float) + 64)
                                 : NULL;
    if (dout_t) {
        struct transpose_args ta = {dout_t, dout, N, OC};
        parallel_range(transpose_body, &ta, OC, 16, EW_MIN / (N > 0 ? N : 1));
        done_w = lector__gemm_acc_kmajor(t->gemm, dweight, dout_t, inp, IC, OC, N, IC);
        lector__aligned_free(dout_t);
    }
    if (t && dbias) { // each column summed over the rows in order, by one thread
        struct col_sum_args ca = {t->col_sum_acc, dbias, dout, N, OC};
        parallel_range(col_sum_body, &ca, OC, 64, EW_MIN / (N > 0 ? N : 1));
    }
    // no SIMD variant, or no memory for the operands: the reference does the rest
    if (!done_x || !done_w || (!t && dbias))
        lector_linear_backward_ref(done_x ? NULL : dinp, done_w ? NULL : dweight,
                                   t ? NULL : dbias, dout, inp, weight, N, IC, OC);
}

// ----------------------------------------------------------------------------
// attention

// What both attention references use: head size D, the scores' scale 1 / sqrt(D), the
// kept probabilities' scale 1 / (1 - p) and the dropout threshold of p.
struct att_ref {
    int64_t D;
    double scale, keep_scale;
    uint32_t thr;
};

static struct att_ref att_ref_consts(int64_t C, int64_t H, float p) {
    LECTOR_ASSERT(H > 0 && C % H == 0);
    struct att_ref a = {C / H, 1.0 / sqrt((double)(C / H)), 1.0 / (1.0 - (double)p),
                        lector__dropout_threshold(p)};
    return a;
}

// sum of x[d] y[d] in double, d in order
static double dot_ref(const float *x, const float *y, int64_t n) {
    double acc = 0.0;
    for (int64_t d = 0; d < n; d++) acc += (double)x[d] * (double)y[d];
    return acc;
}

void lector_attention_lse_ref(float *out,          // (B, T, C)
                              float *lse,          // (B, H, T)
                              const float *qkv,    // (B, T, 3C)
                              const int32_t *mask, // (B, T) or NULL
                              int64_t B, int64_t T, int64_t C, int64_t H, float p,
                              uint64_t seed) {
    const struct att_ref a = att_ref_consts(C, H, p);
    const int64_t D = a.D;
    double *s = lector__calloc((size_t)T, sizeof *s);
    LECTOR_ASSERT(s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *q = qkv + (b * T + t) * 3 * C + h * D;
                float *o = out + (b * T + t) * C + h * D;
                double mx = -HUGE_VAL;
                for (int64_t t2 = 0; t2 < T; t2++) {
                    if (mask && mask[b * T + t2] == 0) {
                        s[t2] = -HUGE_VAL;
                        continue;
                    }
                    double dot = dot_ref(q, qkv + (b * T + t2) * 3 * C + C + h * D, D);
                    s[t2] = dot * a.scale;
                    if (s[t2] > mx) mx = s[t2];
                }
                for (int64_t d = 0; d < D; d++) o[d] = 0.0f;
                float *l = lse + (b * H + h) * T + t;
                if (mx == -HUGE_VAL) {
                    *l = -INFINITY;
                    continue;
                }
                double sum = 0.0;
                for (int64_t t2 = 0; t2 < T; t2++) sum += exp(s[t2] - mx);
                *l = (float)(mx + log(sum));
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0.0;
                    for (int64_t t2 = 0; t2 < T; t2++) {
                        if (s[t2] == -HUGE_VAL) continue;
                        uint64_t idx = (uint64_t)(((b * H + h) * T + t) * T + t2);
                        if (a.thr && !lector__dropout_keep(seed, idx, a.thr)) continue;
                        double w = exp(s[t2] - mx) / sum * (a.thr ? a.keep_scale : 1.0);
                        acc += w * (double)qkv[(b * T + t2) * 3 * C + 2 * C + h * D + d];
                    }
                    o[d] = (float)acc;
                }
            }
    lector_free(s);
}

void lector_attention_backward_ref(float *dqkv, const float *dout, const float *qkv,
                                   const float *out, const float *lse, const int32_t *mask,
                                   int64_t B, int64_t T, int64_t C, int64_t H, float p,
                                   uint64_t seed) {
    const struct att_ref a = att_ref_consts(C, H, p);
    const int64_t D = a.D;
    double *pr = lector__calloc((size_t)T, sizeof *pr), *kp = lector__calloc((size_t)T, sizeof *kp);
    LECTOR_ASSERT(pr && kp);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                float l = lse[(b * H + h) * T + t];
                if (l == -INFINITY) continue; // output 0 whatever the inputs
                const float *q = qkv + (b * T + t) * 3 * C + h * D;
                const float *o = out + (b * T + t) * C + h * D;
                const float *dO = dout + (b * T + t) * C + h * D;
                float *dq = dqkv + (b * T + t) * 3 * C + h * D;
                double Di = dot_ref(dO, o, D);
                for (int64_t t2 = 0; t2 < T; t2++) {
                    pr[t2] = 0.0;
                    kp[t2] = 0.0;
                    if (mask && mask[b * T + t2] == 0) continue;
                    double dot = dot_ref(q, qkv + (b * T + t2) * 3 * C + C + h * D, D);
                    pr[t2] = exp(dot * a.scale - (double)l);
                    uint64_t idx = (uint64_t)(((b * H + h) * T + t) * T + t2);
                    bool kept = !a.thr || lector__dropout_keep(seed, idx, a.thr);
                    kp[t2] = !a.thr ? 1.0 : kept ? a.keep_scale : 0.0;
                }
                for (int64_t t2 = 0; t2 < T; t2++) {
                    if (pr[t2] == 0.0) continue;
                    const float *k = qkv + (b * T + t2) * 3 * C + C + h * D;
                    const float *v = k + C;
                    float *dk = dqkv + (b * T + t2) * 3 * C + C + h * D;
                    float *dv = dk + C;
                    double dp = dot_ref(dO, v, D) * kp[t2];
                    double ds = pr[t2] * (dp - Di) * a.scale;
                    for (int64_t d = 0; d < D; d++) {
                        dv[d] += (float)(pr[t2] * kp[t2] * (double)dO[d]);
                        dq[d] += (float)(ds * (double)k[d]);
                        dk[d] += (float)(ds * (double)q[d]);
                    }
                }
            }
    lector_free(pr);
    lector_free(kp);
}

size_t lector__attention_train_scratch_size(int64_t T, int64_t C, int64_t H) {
    size_t D = (size_t)(C / H), Tp = ((size_t)T + 15) / 16 * 16;
    // kt and vt (D, Tp), dk and dv (T, D), four rows of Tp
    return 2 * D * Tp + 2 * (size_t)T * D + 4 * Tp + 64;
}

struct att_job {
    const struct bwd_table *t;
    float *out, *lse, *dqkv;
    const float *qkv, *dout, *fout, *flse;
    const int32_t *mask;
    int64_t B, T, C, H;
    float p;
    uint64_t seed;
    bool backward;
};

static void att_worker(void *arg, int ith, int nth) {
    const struct att_job *j = arg;
    int64_t lo, hi;
    lector__split(j->B * j->H, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    float *scratch = lector__aligned_alloc(
        lector__attention_train_scratch_size(j->T, j->C, j->H) * sizeof(float));
    LECTOR_ASSERT(scratch);
    for (int64_t i = lo; i < hi; i++) {
        int64_t b = i / j->H, h = i % j->H;
        if (j->backward)
            j->t->attention_backward_head(j->dqkv, j->dout, j->qkv, j->fout, j->flse, j->mask,
                                          scratch, b, h, j->T, j->C, j->H, j->p, j->seed);
        else
            j->t->attention_lse_head(j->out, j->lse, j->qkv, j->mask, scratch, b, h, j->T, j->C,
                                     j->H, j->p, j->seed);
    }
    lector__aligned_free(scratch);
}

void lector_attention_lse(float *out, float *lse, const float *qkv, const int32_t *mask,
                          int64_t B, int64_t T, int64_t C, int64_t H, float p, uint64_t seed) {
    const struct bwd_table *t = table();
    if (!t) {
        lector_attention_lse_ref(out, lse, qkv, mask, B, T, C, H, p, seed);
        return;
    }
    struct att_job j = {.t = t, .out = out, .lse = lse, .qkv = qkv, .mask = mask, .B = B,
                        .T = T, .C = C, .H = H, .p = p, .seed = seed, .backward = false};
    lector__parallel_run(att_worker, &j, (int)(B * H < 64 ? B * H : 64));
}

void lector_attention_backward(float *dqkv, const float *dout, const float *qkv,
                               const float *out, const float *lse, const int32_t *mask,
                               int64_t B, int64_t T, int64_t C, int64_t H, float p,
                               uint64_t seed) {
    const struct bwd_table *t = table();
    if (!t) {
        lector_attention_backward_ref(dqkv, dout, qkv, out, lse, mask, B, T, C, H, p, seed);
        return;
    }
    struct att_job j = {.t = t, .dqkv = dqkv, .dout = dout, .qkv = qkv, .fout = out,
                        .flse = lse, .mask = mask, .B = B, .T = T, .C = C, .H = H, .p = p,
                        .seed = seed, .backward = true};
    lector__parallel_run(att_worker, &j, (int)(B * H < 64 ? B * H : 64));
}

// ----------------------------------------------------------------------------
// layernorm

void lector_layernorm_stats_ref(float *out, float *mean, float *rstd, const float *inp,
                                const float *gamma, const float *beta, int64_t N, int64_t C,
                                float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double m = 0.0, v = 0.0;
        for (int64_t c = 0; c < C; c++) m += (double)x[c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++) v += ((double)x[c] - m) * ((double)x[c] - m);
        v /= (double)C;
        double r = 1.0 / sqrt(v + (double)eps);
        float *o = out + n * C;
        for (int64_t c = 0; c < C; c++)
            o[c] = (float)(((double)x[c] - m) * r * (double)gamma[c] + (double)beta[c]);
        mean[n] = (float)m;
        rstd[n] = (float)r;
    }
}

void lector_layernorm_backward_ref(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                   const float *inp, const float *mean, const float *rstd,
                                   const float *gamma, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; n++) {
        const float *dy = dout + n * C, *x = inp + n * C;
        double m = (double)mean[n], r = (double)rstd[n], mg = 0.0, mgx = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double xh = ((double)x[c] - m) * r, g = (double)dy[c] * (double)gamma[c];
            mg += g;
            mgx += g * xh;
        }
        mg /= (double)C;
        mgx /= (double)C;
        for (int64_t c = 0; c < C; c++) {
            double xh = ((double)x[c] - m) * r, g = (double)dy[c] * (double)gamma[c];
            if (dinp) dinp[n * C + c] += (float)(r * (g - mg - xh * mgx));
        }
    }
    for (int64_t c = 0; c < C; c++) {
        double sg = 0.0, sb = 0.0;
        for (int64_t n = 0; n < N; n++) {
            double xh = ((double)inp[n * C + c] - (double)mean[n]) * (double)rstd[n];
            sg += (double)dout[n * C + c] * xh;
            sb += (double)dout[n * C + c];
        }
        if (dgamma) dgamma[c] += (float)sg;
        if (dbeta) dbeta[c] += (float)sb;
    }
}

void lector_layernorm_stats(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int64_t N, int64_t C,
                            float eps) {
    const struct bwd_table *t = table();
    if (t) t->layernorm_stats(out, mean, rstd, inp, gamma, beta, N, C, eps);
    else lector_layernorm_stats_ref(out, mean, rstd, inp, gamma, beta, N, C, eps);
}

void lector_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *inp, const float *mean, const float *rstd,
                               const float *gamma, int64_t N, int64_t C) {
    const struct bwd_table *t = table();
    if (t) t->layernorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, N, C);
    else lector_layernorm_backward_ref(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, N, C);
}

// ----------------------------------------------------------------------------
// activations and the residual

static double gelu_grad(double x) {
    return 0.5 * (1.0 + erf(x * 0.70710678118654752440)) +
           x * exp(-0.5 * x * x) * 0.39894228040143267794;
}

static double gelu_new_grad(double x) {
    const double k = 0.79788456080286535588, a = 0.044715;
    double t = tanh(k * (x + a * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * a * x * x);
}

void lector_gelu_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) dinp[i] += (float)((double)dout[i] * gelu_grad((double)inp[i]));
}

void lector_gelu_new_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) dinp[i] += (float)((double)dout[i] * gelu_new_grad((double)inp[i]));
}

void lector_relu_backward_ref(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (inp[i] > 0.0f) dinp[i] += dout[i];
}

void lector_residual_backward_ref(float *dx, float *dr, const float *dout, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (dx) dx[i] += dout[i];
        if (dr) dr[i] += dout[i];
    }
}

struct act_args {
    void (*fn)(float *dinp, const float *dout, const float *inp, int64_t n);
    float *dinp;
    const float *dout, *inp;
};

static void act_body(const void *arg, int64_t i0, int64_t i1) {
    const struct act_args *a = arg;
    a->fn(a->dinp + i0, a->dout + i0, a->inp + i0, i1 - i0);
}

#define FAST_ELEMENTWISE(op)                                                               \
    void lector_##op(float *dinp, const float *dout, const float *inp, int64_t n) {        \
        const struct bwd_table *t = table();                                               \
        if (!t) {                                                                          \
            lector_##op##_ref(dinp, dout, inp, n);                                         \
            return;                                                                        \
        }                                                                                  \
        struct act_args a = {t->op, dinp, dout, inp};                                      \
        parallel_range(act_body, &a, n, EW_GRAIN, EW_MIN);                                 \
    }
FAST_ELEMENTWISE(gelu_backward)
FAST_ELEMENTWISE(gelu_new_backward)
FAST_ELEMENTWISE(relu_backward)

struct residual_args {
    void (*fn)(float *dx, float *dr, const float *dout, int64_t n);
    float *dx, *dr;
    const float *dout;
};

static void residual_body(const void *arg, int64_t i0, int64_t i1) {
    const struct residual_args *a = arg;
    a->fn(a->dx ? a->dx + i0 : NULL, a->dr ? a->dr + i0 : NULL, a->dout + i0, i1 - i0);
}

void lector_residual_backward(float *dx, float *dr, const float *dout, int64_t n) {
    const struct bwd_table *t = table();
    if (!t) {
        lector_residual_backward_ref(dx, dr, dout, n);
        return;
    }
    struct residual_args a = {t->residual_backward, dx, dr, dout};
    parallel_range(residual_body, &a, n, EW_GRAIN, EW_MIN);
}

// ----------------------------------------------------------------------------
// pooling

void lector_pool_cls_backward_ref(float *dh, const float *dpool, int64_t B, int64_t T,
                                  int64_t C) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) dh[b * T * C + c] += dpool[b * C + c];
}

void lector_pool_cls_backward(float *dh, const float *dpool, int64_t B, int64_t T, int64_t C) {
    for (int64_t b = 0; b < B; b++) lector_residual_backward(dh + b * T * C, NULL, dpool + b * C, C);
}

// Real tokens of row b.
static int64_t n_real_tokens(const int32_t *mask, int64_t b, int64_t T) {
    if (!mask) return T;
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++) n += mask[b * T + t] != 0;
    return n;
}

void lector_pool_mean_backward_ref(float *dh, const float *dpool, const int32_t *mask,
                                   int64_t B, int64_t T, int64_t C) {
    for (int64_t b = 0; b < B; b++) {
        int64_t n = n_real_tokens(mask, b, T);
        if (n == 0) continue;
        for (int64_t t = 0; t < T; t++) {
            if (mask && mask[b * T + t] == 0) continue;
            for (int64_t c = 0; c < C; c++)
                dh[(b * T + t) * C + c] += (float)((double)dpool[b * C + c] / (double)n);
        }
    }
}

void lector_pool_mean_backward(float *dh, const float *dpool, const int32_t *mask, int64_t B,
                               int64_t T, int64_t C) {
    const struct bwd_table *t = table();
    if (t) t->pool_mean_backward(dh, dpool, mask, B, T, C);
    else lector_pool_mean_backward_ref(dh, dpool, mask, B, T, C);
}

void lector_pool_max_backward_ref(float *dh, const float *dpool, const float *h,
                                  const int32_t *mask, int64_t B, int64_t T, int64_t C) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) {
            int64_t best = -1;
            for (int64_t t = 0; t < T; t++) {
                if (mask && mask[b * T + t] == 0) continue;
                if (best < 0 || h[(b * T + t) * C + c] > h[(b * T + best) * C + c]) best = t;
            }
            if (best >= 0) dh[(b * T + best) * C + c] += dpool[b * C + c];
        }
}

void lector_pool_max_backward(float *dh, const float *dpool, const float *h,
                              const int32_t *mask, int64_t B, int64_t T, int64_t C) {
    const struct bwd_table *t = table();
    if (t) t->pool_max_backward(dh, dpool, h, mask, B, T, C);
    else lector_pool_max_backward_ref(dh, dpool, h, mask, B, T, C);
}

// dz = dpool (1 - pooled^2) into scratch, h0 gathered after it
static void pooler_prepare(float *scratch, const float *dpool, const float *pooled,
                           const float *h, int64_t B, int64_t T, int64_t C) {
    float *dz = scratch, *h0 = scratch + B * C;
    for (int64_t i = 0; i < B * C; i++) dz[i] = dpool[i] * (1.0f - pooled[i] * pooled[i]);
    for (int64_t b = 0; b < B; b++) memcpy(h0 + b * C, h + b * T * C, (size_t)C * sizeof *h0);
}

static void pooler_backward(bool fast, float *dh, float *dW, float *dbias, const float *dpool,
                            const float *pooled, const float *h, const float *W,
                            float *scratch, int64_t B, int64_t T, int64_t C) {
    pooler_prepare(scratch, dpool, pooled, h, B, T, C);
    float *dz = scratch, *h0 = scratch + B * C;
    // dh0 goes over h0 (no longer needed once dW is done), then into row 0 of each text
    if (fast) lector_linear_backward(NULL, dW, dbias, dz, h0, W, B, C, C);
    else lector_linear_backward_ref(NULL, dW, dbias, dz, h0, W, B, C, C);
    memset(h0, 0, (size_t)(B * C) * sizeof *h0);
    if (fast) lector_linear_backward(h0, NULL, NULL, dz, NULL, W, B, C, C);
    else lector_linear_backward_ref(h0, NULL, NULL, dz, NULL, W, B, C, C);
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) dh[b * T * C + c] += h0[b * C + c];
}

void lector_pool_pooler_backward_ref(float *dh, float *dW, float *dbias, const float *dpool,
                                     const float *pooled, const float *h, const float *W,
                                     float *scratch, int64_t B, int64_t T, int64_t C) {
    pooler_backward(false, dh, dW, dbias, dpool, pooled, h, W, scratch, B, T, C);
}

void lector_pool_pooler_backward(float *dh, float *dW, float *dbias, const float *dpool,
                                 const float *pooled, const float *h, const float *W,
                                 float *scratch, int64_t B, int64_t T, int64_t C) {
    pooler_backward(true, dh, dW, dbias, dpool, pooled, h, W, scratch, B, T, C);
}

// ----------------------------------------------------------------------------
// AdamW

void lector__adamw_update_ref(float *params, float *m, float *v, const float *grads,
                              const uint8_t *decay_mask, const struct lector__adamw_consts *k,
                              int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = grads[i];
        // decoupled weight decay first, on the parameter itself
        if (!decay_mask || decay_mask[i]) params[i] *= k->decay;
        // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1);
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
        m[i] = m[i] * k->b1 + k->one_minus_b1 * g;
        v[i] = v[i] * k->b2 + k->one_minus_b2 * g * g;
        // denom = (v.sqrt() / bias_correction2_sqrt).add_(eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size)
        float denom = sqrtf(v[i]) / k->bc2_sqrt + k->eps;
        params[i] += k->neg_step_size * m[i] / denom;
    }
}

void lector__adamw_update(float *params, float *m, float *v, const float *grads,
                          const uint8_t *decay_mask, const struct lector__adamw_consts *k,
                          int64_t n) {
    const struct bwd_table *t = table();
    if (t) t->adamw_update(params, m, v, grads, decay_mask, k, n);
    else lector__adamw_update_ref(params, m, v, grads, decay_mask, k, n);
}

// Tests for the training kernels (src/kernels/backward.h).
//
// 1. Every reference backward against central finite differences of a float64 forward
//    written here (loss = sum(out * r) for a random r, so dout = r; step 1e-4 on inputs in
//    [-1, 1]): |analytic - numeric| <= 2e-5 (1 + |numeric|) (the references round their
//    double sums to float once).
// 2. The forwards training adds (attention with logsumexp, LayerNorm with statistics)
//    against the same float64 forwards: 1e-5 (1 + |x|).
// 3. The AVX2 variants (and, as the second ctest entry test_backward_avx512, the AVX-512
//    ones, Skipped on a CPU without AVX-512) against the reference on awkward
//    shapes (T = 1, widths off the vector length, padding, dropout):
//      linear products and sums:    2e-5 (1 + sqrt(depth)) (float sums in lanes)
//      attention forward/backward:  2e-5 (1 + |x|)
//      layernorm, activations:      2e-5 (1 + |x|) (own erfc/exp/tanh: ~1e-6)
//      pooling:                     1e-6
//      AdamW's update:              the same bits
// 4. Bit-identical results for 1, 2 and 3 kernel threads (linear and attention backward).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "testutil.h"

// ----------------------------------------------------------------------------
// helpers

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static float *rand_array(int64_t n) { return test_rand_array(&rng_state, n); }

static float *zeros(int64_t n) {
    float *x = calloc((size_t)(n > 0 ? n : 1), sizeof *x);
    assert_non_null(x);
    return x;
}

static float *copy_of(const float *x, int64_t n) {
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    assert_non_null(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

// A double-precision loss of the float inputs of one op: the op's forward in double,
// dotted with a fixed random r. `in` points at the inputs the test perturbs.
struct fd_case {
    double (*loss)(const struct fd_case *c);
    float *in[4];
    int64_t n_in[4];
    const float *r; // weights of the outputs
    int64_t B, T, C, H, N, IC, OC;
    const int32_t *mask;
    float p;
    uint64_t seed;
};

// Central differences of c->loss w.r.t. every element of input k, against grad.
static void check_fd(const struct fd_case *c, int k, const float *grad, const char *what) {
    const double h = 1e-4;
    double worst = 0.0;
    for (int64_t i = 0; i < c->n_in[k]; i++) {
        float *x = &c->in[k][i], saved = *x;
        // perturb in double through a float that holds the shifted value exactly enough:
        // inputs are in [-1, 1], so x +- 1e-4 is represented to ~1e-11 relative
        *x = (float)((double)saved + h);
        double dp = (double)*x - (double)saved, lp = c->loss(c);
        *x = (float)((double)saved - h);
        double dm = (double)saved - (double)*x, lm = c->loss(c);
        *x = saved;
        double num = (lp - lm) / (dp + dm), ana = (double)grad[i];
        double err = fabs(ana - num) / (1.0 + fabs(num));
        if (err > worst) worst = err;
        if (!(err <= 2e-5))
            fail_msg("%s: element %lld analytic %.9g numeric %.9g", what, (long long)i, ana, num);
    }
    print_message("  %-34s finite differences: worst relative error %.3g\n", what, worst);
}

// ----------------------------------------------------------------------------
// float64 forwards

static double loss_linear(const struct fd_case *c) {
    const float *x = c->in[0], *w = c->in[1], *b = c->in[2];
    double s = 0.0;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->OC; o++) {
            double y = (double)b[o];
            for (int64_t i = 0; i < c->IC; i++) y += (double)x[n * c->IC + i] * (double)w[o * c->IC + i];
            s += y * (double)c->r[n * c->OC + o];
        }
    return s;
}

// out (B, T, C) and lse (B, H, T) of masked attention with dropout on the probabilities
static void attention_f64(const struct fd_case *c, double *out, double *lse) {
    int64_t B = c->B, T = c->T, C = c->C, H = c->H, D = C / H;
    const float *qkv = c->in[0];
    uint32_t thr = lector__dropout_threshold(c->p);
    double *s = malloc((size_t)T * sizeof *s);
    assert_non_null(s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double mx = -HUGE_VAL;
                for (int64_t u = 0; u < T; u++) {
                    s[u] = -HUGE_VAL;
                    if (c->mask && !c->mask[b * T + u]) continue;
                    double dot = 0.0;
                    for (int64_t d = 0; d < D; d++)
                        dot += (double)qkv[(b * T + t) * 3 * C + h * D + d] *
                               (double)qkv[(b * T + u) * 3 * C + C + h * D + d];
                    s[u] = dot / sqrt((double)D);
                    mx = s[u] > mx ? s[u] : mx;
                }
                double sum = 0.0;
                for (int64_t u = 0; u < T; u++) sum += mx == -HUGE_VAL ? 0.0 : exp(s[u] - mx);
                if (lse) lse[(b * H + h) * T + t] = mx == -HUGE_VAL ? -HUGE_VAL : mx + log(sum);
                for (int64_t d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int64_t u = 0; u < T && mx != -HUGE_VAL; u++) {
                        double pr = exp(s[u] - mx) / sum;
                        uint64_t idx = (uint64_t)(((b * H + h) * T + t) * T + u);
                        if (thr) pr = lector__dropout_keep(c->seed, idx, thr) ? pr / (1.0 - (double)c->p) : 0.0;
                        o += pr * (double)qkv[(b * T + u) * 3 * C + 2 * C + h * D + d];
                    }
                    out[(b * T + t) * C + h * D + d] = o;
                }
            }
    free(s);
}

static double loss_attention(const struct fd_case *c) {
    int64_t n = c->B * c->T * c->C;
    double *out = malloc((size_t)n * sizeof *out), s = 0.0;
    assert_non_null(out);
    attention_f64(c, out, NULL);
    for (int64_t i = 0; i < n; i++) s += out[i] * (double)c->r[i];
    free(out);
    return s;
}

static double layernorm_row_f64(const float *x, const float *g, const float *be, int64_t C,
                                const float *r, double eps) {
    double m = 0.0, v = 0.0, s = 0.0;
    for (int64_t i = 0; i < C; i++) m += (double)x[i];
    m /= (double)C;
    for (int64_t i = 0; i < C; i++) v += ((double)x[i] - m) * ((double)x[i] - m);
    v /= (double)C;
    for (int64_t i = 0; i < C; i++)
        s += (((double)x[i] - m) / sqrt(v + eps) * (double)g[i] + (double)be[i]) * (double)r[i];
    return s;
}

static double loss_layernorm(const struct fd_case *c) {
    double s = 0.0;
    for (int64_t n = 0; n < c->N; n++)
        s += layernorm_row_f64(c->in[0] + n * c->C, c->in[1], c->in[2], c->C, c->r + n * c->C,
                               1e-5);
    return s;
}

static double gelu_f64(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double gelu_new_f64(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static double relu_f64(double x) { return x > 0.0 ? x : 0.0; }

static double (*act_fn)(double);
static double loss_act(const struct fd_case *c) {
    double s = 0.0;
    for (int64_t i = 0; i < c->n_in[0]; i++) s += act_fn((double)c->in[0][i]) * (double)c->r[i];
    return s;
}

// pooling: c->OC selects 0 cls, 1 mean, 2 max, 3 pooler (in[1] W, in[2] bias)
static double loss_pool(const struct fd_case *c) {
    int64_t B = c->B, T = c->T, C = c->C;
    const float *h = c->in[0];
    double s = 0.0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t k = 0; k < C; k++) {
            double v = 0.0;
            if (c->OC == 0) v = (double)h[b * T * C + k];
            if (c->OC == 1) {
                int64_t n = 0;
                for (int64_t t = 0; t < T; t++)
                    if (!c->mask || c->mask[b * T + t]) v += (double)h[(b * T + t) * C + k], n++;
                v /= (double)n;
            }
            if (c->OC == 2) {
                v = -HUGE_VAL;
                for (int64_t t = 0; t < T; t++)
                    if ((!c->mask || c->mask[b * T + t]) && (double)h[(b * T + t) * C + k] > v)
                        v = (double)h[(b * T + t) * C + k];
            }
            if (c->OC == 3) {
                v = (double)c->in[2][k];
                for (int64_t i = 0; i < C; i++)
                    v += (double)c->in[1][k * C + i] * (double)h[b * T * C + i];
                v = tanh(v);
            }
            s += v * (double)c->r[b * C + k];
        }
    }
    return s;
}

// ----------------------------------------------------------------------------
// 1, 2. references against finite differences and float64 forwards

static void test_linear_ref_finite_differences(void **state) {
    (void)state;
    int64_t N = 5, IC = 7, OC = 6;
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *b = rand_array(OC);
    float *r = rand_array(N * OC);
    float *dx = zeros(N * IC), *dw = zeros(OC * IC), *db = zeros(OC);
    lector_linear_backward_ref(dx, dw, db, r, x, w, N, IC, OC);
    struct fd_case c = {.loss = loss_linear, .in = {x, w, b}, .n_in = {N * IC, OC * IC, OC},
                        .r = r, .N = N, .IC = IC, .OC = OC};
    check_fd(&c, 0, dx, "linear dX");
    check_fd(&c, 1, dw, "linear dW");
    check_fd(&c, 2, db, "linear db");
    free(x), free(w), free(b), free(r), free(dx), free(dw), free(db);
}

static void attention_fd(int64_t B, int64_t T, int64_t C, int64_t H, const int32_t *mask,
                         float p, const char *what) {
    int64_t n_qkv = B * T * 3 * C, n_out = B * T * C;
    float *qkv = rand_array(n_qkv), *r = rand_array(n_out);
    for (int64_t i = 0; i < n_qkv; i++) qkv[i] *= 2.0f; // scores up to ~4
    float *out = zeros(n_out), *lse = zeros(B * H * T), *dqkv = zeros(n_qkv);
    struct fd_case c = {.loss = loss_attention, .in = {qkv}, .n_in = {n_qkv}, .r = r, .B = B,
                        .T = T, .C = C, .H = H, .mask = mask, .p = p, .seed = 77};
    lector_attention_lse_ref(out, lse, qkv, mask, B, T, C, H, p, 77);
    // the forward against float64
    double *o64 = malloc((size_t)n_out * sizeof *o64), *l64 = malloc((size_t)(B * H * T) * sizeof *l64);
    assert_true(o64 && l64);
    attention_f64(&c, o64, l64);
    for (int64_t i = 0; i < n_out; i++)
        if (!(fabs((double)out[i] - o64[i]) <= 1e-5 * (1.0 + fabs(o64[i]))))
            fail_msg("%s forward: out[%lld] %g vs %g", what, (long long)i, (double)out[i], o64[i]);
    for (int64_t i = 0; i < B * H * T; i++)
        if (l64[i] == -HUGE_VAL ? lse[i] != -INFINITY
                                : !(fabs((double)lse[i] - l64[i]) <= 1e-5 * (1.0 + fabs(l64[i]))))
            fail_msg("%s forward: lse[%lld] %g vs %g", what, (long long)i, (double)lse[i], l64[i]);
    lector_attention_backward_ref(dqkv, r, qkv, out, lse, mask, B, T, C, H, p, 77);
    check_fd(&c, 0, dqkv, what);
    free(o64), free(l64), free(qkv), free(r), free(out), free(lse), free(dqkv);
}

static void test_attention_ref_finite_differences(void **state) {
    (void)state;
    const int32_t mask[2 * 5] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    attention_fd(2, 5, 8, 2, mask, 0.0f, "attention dQKV (padding)");
    attention_fd(1, 4, 6, 3, NULL, 0.3f, "attention dQKV (dropout 0.3)");
    const int32_t none[3] = {0, 0, 0};
    attention_fd(1, 3, 4, 1, none, 0.0f, "attention dQKV (all keys masked)");
    attention_fd(1, 1, 4, 2, NULL, 0.0f, "attention dQKV (T = 1)");
}

static void test_layernorm_ref_finite_differences(void **state) {
    (void)state;
    int64_t N = 4, C = 9;
    float *x = rand_array(N * C), *g = rand_array(C), *be = rand_array(C), *r = rand_array(N * C);
    float *out = zeros(N * C), *mean = zeros(N), *rstd = zeros(N);
    float *dx = zeros(N * C), *dg = zeros(C), *db = zeros(C);
    lector_layernorm_stats_ref(out, mean, rstd, x, g, be, N, C, 1e-5f);
    struct fd_case c = {.loss = loss_layernorm, .in = {x, g, be}, .n_in = {N * C, C, C}, .r = r,
                        .N = N, .C = C};
    // the forward: sum(out r) against float64
    double s = 0.0;
    for (int64_t i = 0; i < N * C; i++) s += (double)out[i] * (double)r[i];
    assert_true(fabs(s - loss_layernorm(&c)) <= 1e-5 * (1.0 + fabs(s)));
    lector_layernorm_backward_ref(dx, dg, db, r, x, mean, rstd, g, N, C);
    check_fd(&c, 0, dx, "layernorm dX");
    check_fd(&c, 1, dg, "layernorm dgamma");
    check_fd(&c, 2, db, "layernorm dbeta");
    free(x), free(g), free(be), free(r), free(out), free(mean), free(rstd), free(dx), free(dg),
        free(db);
}

static void test_activations_ref_finite_differences(void **state) {
    (void)state;
    int64_t n = 41;
    float *x = rand_array(n), *r = rand_array(n);
    for (int64_t i = 0; i < n; i++) {
        x[i] *= 4.0f;                                // [-4, 4]
        if (fabsf(x[i]) < 1e-3f) x[i] = 0.5f;        // relu's kink
    }
    struct fd_case c = {.loss = loss_act, .in = {x}, .n_in = {n}, .r = r};
    struct {
        double (*f)(double);
        void (*bwd)(float *, const float *, const float *, int64_t);
        const char *name;
    } acts[] = {{gelu_f64, lector_gelu_backward_ref, "gelu'"},
                {gelu_new_f64, lector_gelu_new_backward_ref, "gelu_new'"},
                {relu_f64, lector_relu_backward_ref, "relu'"}};
    for (size_t k = 0; k < 3; k++) {
        float *dx = zeros(n);
        act_fn = acts[k].f;
        acts[k].bwd(dx, r, x, n);
        check_fd(&c, 0, dx, acts[k].name);
        free(dx);
    }
    // the residual and dropout: dx and dr both get dout; dropout's mask as its forward's
    float *dx = zeros(n), *dr = zeros(n), *y = copy_of(x, n);
    lector_residual_backward_ref(dx, dr, r, n);
    for (int64_t i = 0; i < n; i++) assert_true(dx[i] == r[i] && dr[i] == r[i]);
    lector_dropout_forward(y, n, 0.5f, 9);
    memset(dx, 0, (size_t)n * sizeof *dx);
    lector_dropout_backward(dx, r, n, 0.5f, 9);
    int n_kept = 0;
    for (int64_t i = 0; i < n; i++) {
        bool kept = y[i] != 0.0f;
        n_kept += kept;
        assert_true(kept ? y[i] == x[i] * 2.0f && dx[i] == r[i] * 2.0f : dx[i] == 0.0f);
    }
    assert_true(n_kept > 5 && n_kept < (int)n - 5);
    free(x), free(r), free(dx), free(dr), free(y);
}

static void test_pooling_ref_finite_differences(void **state) {
    (void)state;
    int64_t B = 2, T = 4, C = 5;
    const int32_t mask[8] = {1, 1, 0, 0, 1, 1, 1, 1};
    float *h = rand_array(B * T * C), *W = rand_array(C * C), *bias = rand_array(C);
    float *r = rand_array(B * C);
    const char *names[4] = {"pool cls dh", "pool mean dh", "pool max dh", "pooler dh"};
    for (int kind = 0; kind < 4; kind++) {
        float *dh = zeros(B * T * C), *dW = zeros(C * C), *db = zeros(C);
        struct fd_case c = {.loss = loss_pool, .in = {h, W, bias}, .n_in = {B * T * C, C * C, C},
                            .r = r, .B = B, .T = T, .C = C, .OC = kind, .mask = mask};
        if (kind == 0) lector_pool_cls_backward_ref(dh, r, B, T, C);
        if (kind == 1) lector_pool_mean_backward_ref(dh, r, mask, B, T, C);
        if (kind == 2) lector_pool_max_backward_ref(dh, r, h, mask, B, T, C);
        if (kind == 3) {
            float *pooled = zeros(B * C), *h0 = zeros(B * C), *scratch = zeros(2 * B * C);
            lector_pool_cls_ref(h0, h, B, T, C);
            lector_matmul_ref(pooled, h0, W, bias, B, C, C);
            lector_tanh_ref(pooled, B * C);
            lector_pool_pooler_backward_ref(dh, dW, db, r, pooled, h, W, scratch, B, T, C);
            check_fd(&c, 1, dW, "pooler dW");
            check_fd(&c, 2, db, "pooler db");
            free(pooled), free(h0), free(scratch);
        }
        check_fd(&c, 0, dh, names[kind]);
        free(dh), free(dW), free(db);
    }
    free(h), free(W), free(bias), free(r);
}

// ----------------------------------------------------------------------------
// 3. SIMD variants against the references

static void expect_close(const float *ref, const float *got, int64_t n, double tol_abs,
                         const char *what) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)ref[i] - (double)got[i]) / (1.0 + fabs((double)ref[i]));
        if (d > worst) worst = d;
        if (!(d <= tol_abs))
            fail_msg("%s: element %lld ref %.9g got %.9g", what, (long long)i, (double)ref[i],
                     (double)got[i]);
    }
}

// "avx2", or "avx512" when the binary runs as its second ctest entry (test_backward_avx512)
static const char *g_isa = "avx2";

// Runs the body with the fast entry points forced to g_isa's variant; skipped (and so
// reported) where the CPU lacks it.
static void with_variant(void (*body)(const char *variant)) {
    bool have = strcmp(g_isa, "avx512") == 0 ? lector__kernels_have_avx512()
                                              : lector__kernels_have_avx2();
    if (!have) {
        print_message("  %s: not on this CPU, not run\n", g_isa);
        test_skip();
    }
    lector__backward_force(g_isa);
    body(g_isa);
    lector__backward_force(NULL);
}

static void linear_variant(const char *variant) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {7, 33, 17}, {13, 70, 65},
                                        {6, 16, 48}, {50, 128, 384}, {3, 300, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
        float *x = rand_array(N * IC), *w = rand_array(OC * IC), *dy = rand_array(N * OC);
        float *dx0 = rand_array(N * IC), *dw0 = rand_array(OC * IC), *db0 = rand_array(OC);
        float *dx1 = copy_of(dx0, N * IC), *dw1 = copy_of(dw0, OC * IC), *db1 = copy_of(db0, OC);
        lector_linear_backward_ref(dx0, dw0, db0, dy, x, w, N, IC, OC);
        lector_linear_backward(dx1, dw1, db1, dy, x, w, N, IC, OC);
        char what[96];
        snprintf(what, sizeof what, "%s linear N=%lld IC=%lld OC=%lld", variant, (long long)N,
                 (long long)IC, (long long)OC);
        expect_close(dx0, dx1, N * IC, 2e-5 * (1.0 + sqrt((double)OC)), what);
        expect_close(dw0, dw1, OC * IC, 2e-5 * (1.0 + sqrt((double)N)), what);
        expect_close(db0, db1, OC, 2e-5 * (1.0 + sqrt((double)N)), what);
        free(x), free(w), free(dy), free(dx0), free(dw0), free(db0), free(dx1), free(dw1),
            free(db1);
    }
}

static void test_linear_variants_match_ref(void **state) {
    (void)state;
    with_variant(linear_variant);
}

static void attention_variant(const char *variant) {
    static const int64_t shapes[][4] = {{1, 1, 8, 1},  {2, 5, 16, 2}, {2, 19, 128, 2},
                                        {1, 17, 12, 3}, {3, 33, 64, 4}, {1, 7, 40, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t B = shapes[s][0], T = shapes[s][1], C = shapes[s][2], H = shapes[s][3];
        int32_t *mask = malloc((size_t)(B * T) * sizeof *mask);
        assert_non_null(mask);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) mask[b * T + t] = b == 0 || t < T - b; // padding
        if (B == 3) for (int64_t t = 0; t < T; t++) mask[2 * T + t] = 0; // a row all padding
        for (int drop = 0; drop < 2; drop++) {
            float p = drop ? 0.1f : 0.0f;
            int64_t nq = B * T * 3 * C, no = B * T * C;
            float *qkv = rand_array(nq), *dout = rand_array(no);
            for (int64_t i = 0; i < nq; i++) qkv[i] *= 2.0f;
            float *o0 = zeros(no), *o1 = zeros(no), *l0 = zeros(B * H * T), *l1 = zeros(B * H * T);
            lector_attention_lse_ref(o0, l0, qkv, mask, B, T, C, H, p, 5);
            lector_attention_lse(o1, l1, qkv, mask, B, T, C, H, p, 5);
            char what[128];
            snprintf(what, sizeof what, "%s attention B=%lld T=%lld C=%lld H=%lld p=%g", variant,
                     (long long)B, (long long)T, (long long)C, (long long)H, (double)p);
            expect_close(o0, o1, no, 2e-5, what);
            for (int64_t i = 0; i < B * H * T; i++)
                assert_true(l0[i] == -INFINITY ? l1[i] == -INFINITY
                                               : fabsf(l0[i] - l1[i]) <= 2e-5f * (1.0f + fabsf(l0[i])));
            float *d0 = rand_array(nq), *d1 = copy_of(d0, nq);
            lector_attention_backward_ref(d0, dout, qkv, o0, l0, mask, B, T, C, H, p, 5);
            lector_attention_backward(d1, dout, qkv, o0, l0, mask, B, T, C, H, p, 5);
            expect_close(d0, d1, nq, 2e-5 * (1.0 + sqrt((double)T)), what);
            free(qkv), free(dout), free(o0), free(o1), free(l0), free(l1), free(d0), free(d1);
        }
        free(mask);
    }
}

static void test_attention_variants_match_ref(void **state) {
    (void)state;
    with_variant(attention_variant);
}

static void elementwise_variant(const char *variant) {
    static const int64_t widths[] = {1, 5, 8, 37, 128, 130};
    for (size_t s = 0; s < sizeof widths / sizeof widths[0]; s++) {
        int64_t C = widths[s], N = 3;
        char what[96];
        snprintf(what, sizeof what, "%s layernorm/act C=%lld", variant, (long long)C);
        float *x = rand_array(N * C), *g = rand_array(C), *be = rand_array(C), *dy = rand_array(N * C);
        for (int64_t i = 0; i < N * C; i++) x[i] = x[i] * 3.0f + 0.5f;
        float *o0 = zeros(N * C), *o1 = zeros(N * C), *m0 = zeros(N), *m1 = zeros(N), *r0 = zeros(N),
              *r1 = zeros(N);
        lector_layernorm_stats_ref(o0, m0, r0, x, g, be, N, C, 1e-12f);
        lector_layernorm_stats(o1, m1, r1, x, g, be, N, C, 1e-12f);
        expect_close(o0, o1, N * C, 2e-5, what);
        expect_close(m0, m1, N, 2e-5, what);
        expect_close(r0, r1, N, 2e-5, what);
        float *dx0 = rand_array(N * C), *dx1 = copy_of(dx0, N * C), *dg0 = rand_array(C),
              *dg1 = copy_of(dg0, C), *db0 = rand_array(C), *db1 = copy_of(db0, C);
        lector_layernorm_backward_ref(dx0, dg0, db0, dy, x, m0, r0, g, N, C);
        lector_layernorm_backward(dx1, dg1, db1, dy, x, m0, r0, g, N, C);
        expect_close(dx0, dx1, N * C, 2e-5, what);
        expect_close(dg0, dg1, C, 2e-5, what);
        expect_close(db0, db1, C, 2e-5, what);
        void (*refs[3])(float *, const float *, const float *, int64_t) = {
            lector_gelu_backward_ref, lector_gelu_new_backward_ref, lector_relu_backward_ref};
        void (*fast[3])(float *, const float *, const float *, int64_t) = {
            lector_gelu_backward, lector_gelu_new_backward, lector_relu_backward};
        for (int k = 0; k < 3; k++) {
            float *a0 = rand_array(N * C), *a1 = copy_of(a0, N * C);
            refs[k](a0, dy, x, N * C);
            fast[k](a1, dy, x, N * C);
            expect_close(a0, a1, N * C, 2e-5, what);
            free(a0), free(a1);
        }
        float *e0 = rand_array(N * C), *e1 = copy_of(e0, N * C), *f0 = rand_array(N * C),
              *f1 = copy_of(f0, N * C);
        lector_residual_backward_ref(e0, f0, dy, N * C);
        lector_residual_backward(e1, f1, dy, N * C);
        expect_close(e0, e1, N * C, 0.0, what);
        expect_close(f0, f1, N * C, 0.0, what);
        // pooling: rows of T = 4 with padding
        int64_t B = 3, T = 4;
        const int32_t mask[12] = {1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1};
        float *h = rand_array(B * T * C), *dp = rand_array(B * C);
        float *p0 = rand_array(B * T * C), *p1 = copy_of(p0, B * T * C);
        lector_pool_mean_backward_ref(p0, dp, mask, B, T, C);
        lector_pool_mean_backward(p1, dp, mask, B, T, C);
        expect_close(p0, p1, B * T * C, 1e-6, what);
        lector_pool_max_backward_ref(p0, dp, h, mask, B, T, C);
        lector_pool_max_backward(p1, dp, h, mask, B, T, C);
        expect_close(p0, p1, B * T * C, 1e-6, what);
        lector_pool_cls_backward_ref(p0, dp, B, T, C);
        lector_pool_cls_backward(p1, dp, B, T, C);
        expect_close(p0, p1, B * T * C, 1e-6, what);
        free(h), free(dp), free(p0), free(p1);
        free(x), free(g), free(be), free(dy), free(o0), free(o1), free(m0), free(m1), free(r0),
            free(r1), free(dx0), free(dx1), free(dg0), free(dg1), free(db0), free(db1), free(e0),
            free(e1), free(f0), free(f1);
    }
}

static void test_elementwise_variants_match_ref(void **state) {
    (void)state;
    with_variant(elementwise_variant);
}

// AdamW: the variant gives the reference's bits (each step is single float operations),
// with and without a decay mask, for lengths around the vector width, over three steps.
static void adamw_variant(const char *variant) {
    static const int64_t lengths[] = {1, 7, 8, 9, 16, 17, 33, 1000};
    const struct lector__adamw_consts k = {0.99f, 0.9f, 0.999f, 0.1f, 0.001f, -1e-3f, 0.3f, 1e-8f};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
        for (int masked = 0; masked < 2; masked++) {
            int64_t n = lengths[l];
            float *p0 = rand_array(n), *m0 = rand_array(n), *v0 = rand_array(n);
            for (int64_t i = 0; i < n; i++) v0[i] = fabsf(v0[i]);
            float *p1 = copy_of(p0, n), *m1 = copy_of(m0, n), *v1 = copy_of(v0, n);
            uint8_t *mask = malloc((size_t)n);
            assert_non_null(mask);
            for (int64_t i = 0; i < n; i++) mask[i] = (uint8_t)(i % 3 != 1);
            for (int step = 0; step < 3; step++) {
                float *g = rand_array(n);
                lector__adamw_update_ref(p0, m0, v0, g, masked ? mask : NULL, &k, n);
                lector__adamw_update(p1, m1, v1, g, masked ? mask : NULL, &k, n);
                free(g);
            }
            if (memcmp(p0, p1, (size_t)n * sizeof *p0) || memcmp(m0, m1, (size_t)n * sizeof *m0) ||
                memcmp(v0, v1, (size_t)n * sizeof *v0))
                fail_msg("%s adamw n=%lld masked=%d: not the reference's bits", variant, (long long)n,
                         masked);
            free(p0), free(m0), free(v0), free(p1), free(m1), free(v1), free(mask);
        }
}

static void test_adamw_variants_match_ref(void **state) {
    (void)state;
    with_variant(adamw_variant);
}

// ----------------------------------------------------------------------------
// 4. thread count

static void test_threads_bit_identical(void **state) {
    (void)state;
    int64_t N = 96, IC = 200, OC = 260, B = 4, T = 24, C = 64, H = 4;
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *dy = rand_array(N * OC);
    float *qkv = rand_array(B * T * 3 * C), *dout = rand_array(B * T * C);
    float *out = zeros(B * T * C), *lse = zeros(B * H * T);
    lector_attention_lse(out, lse, qkv, NULL, B, T, C, H, 0.1f, 3);
    float *first[3] = {NULL, NULL, NULL};
    for (int nth = 1; nth <= 3; nth++) {
        lector__kernels_set_n_threads(nth);
        float *dx = zeros(N * IC), *dw = zeros(OC * IC), *dq = zeros(B * T * 3 * C);
        lector_linear_backward(dx, dw, NULL, dy, x, w, N, IC, OC);
        lector_attention_backward(dq, dout, qkv, out, lse, NULL, B, T, C, H, 0.1f, 3);
        if (nth == 1) {
            first[0] = dx, first[1] = dw, first[2] = dq;
            continue;
        }
        assert_memory_equal(first[0], dx, (size_t)(N * IC) * sizeof *dx);
        assert_memory_equal(first[1], dw, (size_t)(OC * IC) * sizeof *dw);
        assert_memory_equal(first[2], dq, (size_t)(B * T * 3 * C) * sizeof *dq);
        free(dx), free(dw), free(dq);
    }
    lector__kernels_set_n_threads(0);
    for (int i = 0; i < 3; i++) free(first[i]);
    free(x), free(w), free(dy), free(qkv), free(dout), free(out), free(lse);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_ref_finite_differences),
        cmocka_unit_test(test_attention_ref_finite_differences),
        cmocka_unit_test(test_layernorm_ref_finite_differences),
        cmocka_unit_test(test_activations_ref_finite_differences),
        cmocka_unit_test(test_pooling_ref_finite_differences),
        cmocka_unit_test(test_linear_variants_match_ref),
        cmocka_unit_test(test_attention_variants_match_ref),
        cmocka_unit_test(test_elementwise_variants_match_ref),
        cmocka_unit_test(test_adamw_variants_match_ref),
        cmocka_unit_test(test_threads_bit_identical),
    };
    const struct CMUnitTest avx512_tests[] = {
        cmocka_unit_test(test_linear_variants_match_ref),
        cmocka_unit_test(test_attention_variants_match_ref),
        cmocka_unit_test(test_elementwise_variants_match_ref),
        cmocka_unit_test(test_adamw_variants_match_ref),
    };
    if (argc > 1 && strcmp(argv[1], "avx512") == 0) {
        g_isa = "avx512";
        return test_status(cmocka_run_group_tests(avx512_tests, NULL, NULL));
    }
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

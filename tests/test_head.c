// Tests for src/head: the linear softmax head (init, forward, softmax, loss and gradient)
// and a small end-to-end training run with AdamW.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/head.h"
#include "head/head_impl.h"
#include "testutil.h"

// A test-local generator (not the library's), uniform in [-1, 1).
static uint64_t rng_state = 12345;
static double rnd(void) {
    rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (double)(rng_state >> 11) * 0x1p-53 * 2.0 - 1.0;
}

// Mean softmax cross-entropy in double, written independently of the library:
// params [W (K, C) | b (K)], x (B, C), y (B).
static double loss_ref(const double *params, const float *x, const int32_t *y, int64_t B,
                       int64_t C, int64_t K) {
    double total = 0.0;
    for (int64_t i = 0; i < B; i++) {
        double z[16], zmax = -HUGE_VAL, sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            z[k] = params[K * C + k];
            for (int64_t c = 0; c < C; c++) z[k] += params[k * C + c] * (double)x[i * C + c];
            if (z[k] > zmax) zmax = z[k];
        }
        for (int64_t k = 0; k < K; k++) sum += exp(z[k] - zmax);
        total += zmax + log(sum) - z[y[i]];
    }
    return total / (double)B;
}

static void test_head_gradient_matches_finite_differences(void **state) {
    (void)state;
    enum { C = 7, K = 3, B = 5, P = K * C + K };
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 7, &head, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_params(head), P);
    float *params = lector_head_params(head);
    // Random weights and a nonzero bias, so every term of the gradient is exercised.
    for (int j = 0; j < P; j++) params[j] = (float)rnd();
    float x[B * C];
    for (int j = 0; j < B * C; j++) x[j] = (float)(2.0 * rnd());
    const int32_t y[B] = {0, 2, 1, 2, 0};

    float loss = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, NULL, y, B, NULL, &loss, NULL);
    const float *grads = lector_head_grads(head);

    double p[P];
    for (int j = 0; j < P; j++) p[j] = (double)params[j];
    double l0 = loss_ref(p, x, y, B, C, K);
    assert_true(fabs((double)loss - l0) < 1e-6);

    // Central differences in double: truncation error O(h^2) ~ 1e-10 and rounding error
    // ~ 1e-16 / h ~ 1e-11, so the difference measures the float32 gradient alone. Tolerance:
    // 1e-6 absolute, a few float32 ulps of accumulated rounding on O(0.1..1) gradients.
    const double h = 1e-5, tol = 1e-6;
    double worst = 0.0;
    for (int j = 0; j < P; j++) {
        double save = p[j];
        p[j] = save + h;
        double lp = loss_ref(p, x, y, B, C, K);
        p[j] = save - h;
        double lm = loss_ref(p, x, y, B, C, K);
        p[j] = save;
        double fd = (lp - lm) / (2.0 * h);
        double d = fabs(fd - (double)grads[j]);
        if (d > worst) worst = d;
    }
    printf("gradient check C=%d K=%d B=%d: max |analytic - finite difference| = %.3g (tol %g)\n",
           C, K, B, worst, tol);
    assert_true(worst < tol);

    // Gradients accumulate until zero_grad.
    float g0[P];
    memcpy(g0, grads, sizeof g0);
    lector_head_loss_backward(head, x, NULL, y, B, NULL, NULL, NULL);
    for (int j = 0; j < P; j++) assert_float_equal(grads[j], 2.0f * g0[j], 1e-6f);
    lector_head_zero_grad(head);
    for (int j = 0; j < P; j++) assert_true(grads[j] == 0.0f);
    lector_head_free(head);
}

static void test_head_softmax_of_large_logits(void **state) {
    (void)state;
    float z[4 * 4] = {
        1000.0f, 999.0f,    -1000.0f,   88.8f,            // would overflow expf without the max
        -1e30f,  -1e30f,    -1e30f,     -1e30f,           // all equal and huge
        3e38f,   -3e38f,    0.0f,       1.0f,             // near FLT_MAX
        -INFINITY, -INFINITY, -INFINITY, -INFINITY,       // fully masked row
    };
    lector_softmax_rows(z, 4, 4);
    for (int i = 0; i < 3; i++) {
        double sum = 0.0;
        for (int k = 0; k < 4; k++) {
            assert_true(isfinite(z[i * 4 + k]));
            assert_true(z[i * 4 + k] >= 0.0f);
            sum += (double)z[i * 4 + k];
        }
        assert_true(fabs(sum - 1.0) < 1e-6);
    }
    assert_float_equal(z[0], 0.7310586f, 1e-6f);  // 1 / (1 + e^-1)
    assert_float_equal(z[1], 0.2689414f, 1e-6f);
    assert_float_equal(z[4], 0.25f, 1e-7f);
    assert_float_equal(z[8], 1.0f, 0.0f);
    for (int k = 0; k < 4; k++) assert_true(z[12 + k] == 0.0f);

    // The loss stays finite when the true class's probability underflows.
    const float W[2] = {1e4f, -1e4f};
    struct lector_head *head = NULL;
    assert_int_equal(test_head_from(1, 2, W, NULL, &head, NULL), LECTOR_STATUS_OK);
    float x = 1.0f, loss = 0.0f;
    int32_t y = 1;
    lector_head_loss_backward(head, &x, NULL, &y, 1, NULL, &loss, NULL);
    assert_float_equal(loss, 2e4f, 1.0f);
    assert_float_equal(lector_head_grads(head)[0], 1.0f, 1e-6f);
    assert_float_equal(lector_head_grads(head)[1], -1.0f, 1e-6f);
    lector_head_free(head);
}

static void test_head_init_is_deterministic(void **state) {
    (void)state;
    enum { C = 5, K = 4 };
    struct lector_head *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 42, &a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 42, &b, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 43, &c, NULL), LECTOR_STATUS_OK);
    const float *pa = lector_head_params_const(a);
    size_t bytes = (size_t)lector_head_n_params(a) * sizeof(float);
    assert_memory_equal(pa, lector_head_params_const(b), bytes);
    assert_memory_not_equal(pa, lector_head_params_const(c), bytes);

    // The first weights for seed 42, C = 5, worked out from the splitmix64 definition by a
    // separate script: the same bits on every machine.
    assert_true(pa[0] == 0x1.ba7ed0p-3f);
    assert_true(pa[1] == -0x1.377c60p-2f);
    assert_true(pa[2] == -0x1.958e3ap-3f);
    assert_true(pa[3] == -0x1.1d68d6p-3f);

    const float bound = 0x1.c9f25cp-2f;  // 1/sqrt(5) rounded to float
    const uint8_t *mask = lector_head_decay_mask(a);
    for (int j = 0; j < C * K; j++) {
        assert_true(pa[j] >= -bound && pa[j] < bound);
        assert_int_equal(mask[j], 1);
    }
    for (int k = 0; k < K; k++) {
        assert_true(pa[C * K + k] == 0.0f);
        assert_int_equal(mask[C * K + k], 0);
    }
    lector_head_free(a);
    lector_head_free(b);
    lector_head_free(c);
}

static void test_head_forward_and_arguments(void **state) {
    (void)state;
    const float W[2 * 3] = {1, 2, 3, -1, 0, 0.5f};
    const float bias[2] = {0.25f, -1};
    struct lector_head *head = NULL;
    struct lector_error err = {0};
    assert_int_equal(test_head_from(3, 2, W, bias, &head, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_in(head), 3);
    assert_int_equal(lector_head_n_classes(head), 2);
    const float x[2 * 3] = {1, 1, 1, 2, 0, -2};
    float logits[4];
    assert_int_equal(lector_head_forward(head, x, NULL, 2, logits, NULL), LECTOR_STATUS_OK);
    assert_float_equal(logits[0], 6.25f, 0.0f);   // 1+2+3 + 0.25
    assert_float_equal(logits[1], -1.5f, 0.0f);   // -1+0+0.5 - 1
    assert_float_equal(logits[2], -3.75f, 0.0f);  // 2-6 + 0.25
    assert_float_equal(logits[3], -4.0f, 0.0f);   // -2-1 - 1
    lector_head_free(head);

    head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){0, 0, 0, 2}, 1, &head, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(head);
    assert_non_null(strstr(err.msg, "C=0"));
    assert_int_equal(lector_head_new(&(struct lector_head_shape){INT64_MAX / 2, 0, 0, 4}, 1, &head, &err), LECTOR_STATUS_NOMEM);
    assert_null(head);
    lector_head_free(NULL);
}

// Three classes around well separated centres in 4 dimensions: a head trained with AdamW
// classifies every training example correctly.
static void test_head_trains_to_full_accuracy(void **state) {
    (void)state;
    enum { C = 4, K = 3, B = 60 };
    const float centre[K][C] = {{2, 0, 0, 1}, {-2, 1, 0, -1}, {0, -2, 2, 0}};
    float x[B * C];
    int32_t y[B];
    for (int i = 0; i < B; i++) {
        y[i] = i % K;
        for (int c = 0; c < C; c++) x[i * C + c] = centre[y[i]][c] + (float)(0.5 * rnd());
    }
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 2024, &head, NULL), LECTOR_STATUS_OK);
    struct lector_adamw_params hp = lector_adamw_default_params();
    hp.lr = 0.05f;
    struct lector_adamw *opt = NULL;
    assert_int_equal(lector_adamw_new(lector_head_n_params(head), &hp, &opt, NULL),
                     LECTOR_STATUS_OK);
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < 200; step++) {
        lector_head_zero_grad(head);
        lector_head_loss_backward(head, x, NULL, y, B, NULL, &loss, NULL);
        if (step == 0) first = loss;
        lector_adamw_step(opt, lector_head_params(head), lector_head_grads(head),
                          lector_head_decay_mask(head));
    }
    assert_true(loss < 0.1f * first);
    float logits[B * K];
    assert_int_equal(lector_head_forward(head, x, NULL, B, logits, NULL), LECTOR_STATUS_OK);
    int correct = 0;
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (logits[i * K + k] > logits[i * K + best]) best = k;
        correct += best == y[i];
    }
    assert_int_equal(correct, B);
    lector_adamw_free(opt);
    lector_head_free(head);
}

#define assert_close(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

// Lazy row steps: with every row listed at every step they are the dense step, bit for bit.
static void test_adamw_rows_all_listed_is_dense(void **state) {
    (void)state;
    enum { R = 7, L = 3, N = R * L, STEPS = 25 };
    struct lector_adamw_params hp = lector_adamw_default_params();
    hp.lr = 0.05f;
    hp.weight_decay = 0.1f;
    struct lector_adamw *a = NULL, *b = NULL;
    assert_int_equal(lector_adamw_new(N, &hp, &a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_adamw_new(N, &hp, &b, NULL), LECTOR_STATUS_OK);
    float pa[N], pb[N], g[N];
    uint8_t mask[N];
    int64_t rows[R];
    for (int i = 0; i < N; i++) pa[i] = pb[i] = (float)rnd(), mask[i] = (uint8_t)(i % 4 != 0);
    for (int r = 0; r < R; r++) rows[r] = R - 1 - r; // any order
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)rnd();
        float lr = 0.05f * (float)(STEPS - t) / (float)STEPS; // a schedule
        lector_adamw_set_lr(a, lr);
        lector_adamw_set_lr(b, lr);
        lector_adamw_step(a, pa, g, mask);
        assert_int_equal(lector_adamw_step_rows(b, pb, g, mask, rows, R, L, NULL), LECTOR_STATUS_OK);
    }
    lector_adamw_sync_rows(b, pb, mask);
    assert_memory_equal(pa, pb, sizeof pa);
    assert_memory_equal(lector__adamw_m(a), lector__adamw_m(b), sizeof pa);
    assert_memory_equal(lector__adamw_v(a), lector__adamw_v(b), sizeof pa);
    lector_adamw_free(a);
    lector_adamw_free(b);
}

// Rows left out of some steps (a random half of the rows each step, long idle stretches for
// some) follow the full AdamW trajectory: same weight decay, moments and momentum drift,
// under a changing learning rate and a decay mask. The closed form leaves eps out of the
// missed steps' denominators, so the two agree to float rounding, not bit for bit.
static void test_adamw_rows_match_dense(void **state) {
    (void)state;
    enum { R = 12, L = 3, N = R * L, STEPS = 700 };
    struct lector_adamw_params hp = lector_adamw_default_params();
    hp.weight_decay = 0.3f;
    struct lector_adamw *lazy = NULL, *dense = NULL;
    assert_int_equal(lector_adamw_new(N, &hp, &lazy, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_adamw_new(N, &hp, &dense, NULL), LECTOR_STATUS_OK);
    float pl[N], pd[N], g[N];
    uint8_t mask[N];
    for (int i = 0; i < N; i++) pl[i] = pd[i] = (float)rnd(), mask[i] = (uint8_t)(i % 5 != 1);
    for (int t = 0; t < STEPS; t++) {
        const float lr = 0.02f * (1.0f - (float)t / (float)STEPS) + 0.001f;
        int64_t rows[R], n = 0;
        for (int r = 0; r < R; r++) {
            // row 0 only in the first 5 steps (then idle past J), row 1 every 50th step,
            // the others at random
            bool in = r == 0 ? t < 5 : r == 1 ? t % 50 == 0 : rnd() > 0.0;
            for (int j = 0; j < L; j++) g[r * L + j] = in ? (float)rnd() : 0.0f;
            if (in) rows[n++] = r;
        }
        lector_adamw_set_lr(lazy, lr);
        lector_adamw_set_lr(dense, lr);
        assert_int_equal(lector_adamw_step_rows(lazy, pl, g, mask, rows, n, L, NULL),
                         LECTOR_STATUS_OK);
        lector_adamw_step(dense, pd, g, mask);
        if (t % 97 == 0 || t == STEPS - 1) {
            lector_adamw_sync_rows(lazy, pl, mask);
            for (int i = 0; i < N; i++) {
                assert_close(pl[i], pd[i], 2e-5 * (1.0 + fabs((double)pd[i])));
                assert_close(lector__adamw_m(lazy)[i], lector__adamw_m(dense)[i], 1e-6);
                assert_close(lector__adamw_v(lazy)[i], lector__adamw_v(dense)[i], 1e-7);
            }
        }
    }
    lector_adamw_free(lazy);
    lector_adamw_free(dense);
}

static void test_adamw_rows_arguments(void **state) {
    (void)state;
    struct lector_adamw_params hp = lector_adamw_default_params();
    struct lector_adamw *opt = NULL;
    assert_int_equal(lector_adamw_new(6, &hp, &opt, NULL), LECTOR_STATUS_OK);
    float p[6] = {0}, g[6] = {0};
    int64_t bad = 3, dup[3] = {1, 1, 0};
    struct lector_error err = {0};
    struct lector_adamw_params ams = hp;
    ams.amsgrad = 1;
    struct lector_adamw *opt_ams = NULL;
    assert_int_equal(lector_adamw_new(6, &ams, &opt_ams, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_adamw_step_rows(opt_ams, p, g, NULL, dup, 3, 2, &err),
                     LECTOR_STATUS_INVALID_ARG);
    lector_adamw_free(opt_ams);
    assert_int_equal(lector_adamw_step_rows(opt, p, g, NULL, dup, 3, 4, &err),
                     LECTOR_STATUS_INVALID_ARG); // 6 is not rows of 4
    assert_int_equal(lector_adamw_step_rows(opt, p, g, NULL, &bad, 1, 2, &err),
                     LECTOR_STATUS_RANGE);
    assert_int_equal(lector_adamw_step_rows(opt, p, g, NULL, dup, 3, 2, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_adamw_step_rows(opt, p, g, NULL, dup, 3, 3, &err),
                     LECTOR_STATUS_INVALID_ARG); // row length changed
    lector_adamw_free(opt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_gradient_matches_finite_differences),
        cmocka_unit_test(test_head_softmax_of_large_logits),
        cmocka_unit_test(test_head_init_is_deterministic),
        cmocka_unit_test(test_head_forward_and_arguments),
        cmocka_unit_test(test_head_trains_to_full_accuracy),
        cmocka_unit_test(test_adamw_rows_all_listed_is_dense),
        cmocka_unit_test(test_adamw_rows_match_dense),
        cmocka_unit_test(test_adamw_rows_arguments),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

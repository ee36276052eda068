// Tests for the wide-and-deep head: dense + sparse inputs, class weights and label smoothing
// against finite differences of an independent double-precision loss, and the probability
// helper with a temperature.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lector/head.h"
#include "testutil.h"

static uint64_t rng_state = 99;
static double rnd(void) {
    rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (double)(rng_state >> 11) * 0x1p-53 * 2.0 - 1.0;
}

enum { C = 5, S = 6, K = 3, B = 4, P = K * C + K + S * K };

// A fixed sparse batch of B rows over S columns.
static int64_t offsets[B + 1] = {0, 2, 2, 5, 6};
static int32_t cols[6] = {0, 3, 1, 2, 5, 3};
static float vals[6] = {0.6f, 0.8f, 0.5f, -0.5f, 0.7f, 1.0f};

// Weighted, smoothed cross-entropy in double, written from the definitions.
static double loss_ref(const double *p, const float *x, const int32_t *y, const float *cw,
                       double eps) {
    double total = 0.0, wsum = 0.0;
    for (int i = 0; i < B; i++) {
        double z[K], zmax = -HUGE_VAL, sum = 0.0;
        for (int k = 0; k < K; k++) {
            z[k] = p[K * C + k];
            for (int c = 0; c < C; c++) z[k] += p[k * C + c] * (double)x[i * C + c];
            for (int64_t j = offsets[i]; j < offsets[i + 1]; j++)
                z[k] += (double)vals[j] * p[K * C + K + cols[j] * K + k];
            if (z[k] > zmax) zmax = z[k];
        }
        for (int k = 0; k < K; k++) sum += exp(z[k] - zmax);
        double lse = zmax + log(sum), l = 0.0;
        for (int k = 0; k < K; k++) {
            double q = (k == y[i] ? 1.0 - eps : 0.0) + eps / K;
            l += q * (lse - z[k]);
        }
        double w = cw ? (double)cw[y[i]] : 1.0;
        total += w * l;
        wsum += w;
    }
    return total / wsum;
}

static void check_gradient(const float *cw, float eps) {
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, S, K}, 3, &head, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_params(head), P);
    assert_int_equal(lector_head_n_sparse(head), S);
    float *params = lector_head_params(head);
    for (int j = 0; j < P; j++) params[j] = (float)rnd();
    float x[B * C];
    for (int j = 0; j < B * C; j++) x[j] = (float)(2.0 * rnd());
    const int32_t y[B] = {2, 0, 1, 2};
    struct lector_sparse_rows sp = {B, S, offsets, cols, vals};
    struct lector_loss_params lp = {cw, eps, 0.0f, 0, NULL};
    float loss = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, &sp, y, B, &lp, &loss, NULL);
    double p[P];
    for (int j = 0; j < P; j++) p[j] = (double)params[j];
    assert_true(fabs((double)loss - loss_ref(p, x, y, cw, (double)eps)) < 1e-5);
    const float *g = lector_head_grads(head);
    double max_err = 0.0;
    for (int j = 0; j < P; j++) {
        const double h = 1e-5;
        double save = p[j];
        p[j] = save + h;
        double lp1 = loss_ref(p, x, y, cw, (double)eps);
        p[j] = save - h;
        double lm1 = loss_ref(p, x, y, cw, (double)eps);
        p[j] = save;
        double fd = (lp1 - lm1) / (2 * h);
        double e = fabs(fd - (double)g[j]);
        if (e > max_err) max_err = e;
    }
    // The analytic gradient is float32; the finite difference is double.
    assert_true(max_err < 1e-5);
    lector_head_free(head);
}

static void test_head_wide_gradient_plain(void **state) {
    (void)state;
    check_gradient(NULL, 0.0f);
}

static void test_head_wide_gradient_weighted_smoothed(void **state) {
    (void)state;
    const float cw[K] = {0.5f, 2.0f, 1.25f};
    check_gradient(cw, 0.1f);
}

// Multi-label: mean binary cross-entropy over all B*K entries, label-weighted and smoothed.
static double bce_ref(const double *p, const float *x, const uint8_t *T, const float *cw, double eps) {
    double total = 0.0;
    for (int i = 0; i < B; i++)
        for (int k = 0; k < K; k++) {
            double z = p[K * C + k];
            for (int c = 0; c < C; c++) z += p[k * C + c] * (double)x[i * C + c];
            for (int64_t j = offsets[i]; j < offsets[i + 1]; j++)
                z += (double)vals[j] * p[K * C + K + cols[j] * K + k];
            double t = T[i * K + k] * (1.0 - eps) + eps / 2.0, w = cw ? (double)cw[k] : 1.0;
            total += w * (log(1.0 + exp(z)) - t * z);
        }
    return total / (B * K);
}

static void test_head_wide_gradient_multi_label(void **state) {
    (void)state;
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, S, K}, 4, &head, NULL), LECTOR_STATUS_OK);
    float *params = lector_head_params(head);
    for (int j = 0; j < P; j++) params[j] = (float)rnd();
    float x[B * C];
    for (int j = 0; j < B * C; j++) x[j] = (float)(2.0 * rnd());
    const uint8_t T[B * K] = {1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0};
    const float cw[K] = {1.0f, 2.0f, 0.5f};
    struct lector_sparse_rows sp = {B, S, offsets, cols, vals};
    struct lector_loss_params lp = {cw, 0.1f, 0.0f, 0, T};
    float loss = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, &sp, NULL, B, &lp, &loss, NULL);
    double p[P];
    for (int j = 0; j < P; j++) p[j] = (double)params[j];
    assert_true(fabs((double)loss - bce_ref(p, x, T, cw, 0.1)) < 1e-5);
    const float *g = lector_head_grads(head);
    double max_err = 0.0;
    for (int j = 0; j < P; j++) {
        const double h = 1e-5;
        double save = p[j];
        p[j] = save + h;
        double a = bce_ref(p, x, T, cw, 0.1);
        p[j] = save - h;
        double b = bce_ref(p, x, T, cw, 0.1);
        p[j] = save;
        double e = fabs((a - b) / (2 * h) - (double)g[j]);
        if (e > max_err) max_err = e;
    }
    assert_true(max_err < 1e-5);
    float probs[B * K], logits[B * K];
    assert_int_equal(lector_head_probs_multi(head, x, &sp, B, probs, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_forward(head, x, &sp, B, logits, NULL), LECTOR_STATUS_OK);
    for (int j = 0; j < B * K; j++) assert_true(fabs((double)probs[j] - 1.0 / (1.0 + exp(-(double)logits[j]))) < 1e-6);
    lector_head_free(head);
}

static void test_head_wide_sparse_only_and_decay_mask(void **state) {
    (void)state;
    struct lector_head *head = NULL;
    struct lector_error err;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){0, 0, 0, 2}, 1, &head, &err), LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_head_new(&(struct lector_head_shape){0, 0, S, K}, 1, &head, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_params(head), K + S * K);
    const uint8_t *mask = lector_head_decay_mask(head);
    for (int k = 0; k < K; k++) assert_int_equal(mask[k], 0); // bias
    for (int j = K; j < K + S * K; j++) assert_int_equal(mask[j], 1); // V
    // V starts at zero: every class equally likely.
    struct lector_sparse_rows sp = {B, S, offsets, cols, vals};
    float probs[B * K];
    assert_int_equal(lector_head_probs(head, NULL, &sp, B, 1.0f, probs, NULL), LECTOR_STATUS_OK);
    for (int j = 0; j < B * K; j++) assert_true(fabsf(probs[j] - 1.0f / K) < 1e-6f);
    lector_head_free(head);
}

// A wide head from given weights: logits = W x + b + (sparse row) V, worked out by hand.
// A wide head holding the weights W (K, C), b (K; NULL: zeros) and V (S, K), written into the
// parameters of a new head.
static enum lector_status wide_from(int64_t nc, int64_t ns, int64_t nk, const float *W, const float *b, const float *V,
                                    struct lector_head **out) {
    enum lector_status s = lector_head_new(&(struct lector_head_shape){nc, 0, ns, nk}, 0, out, NULL);
    if (s != LECTOR_STATUS_OK) return s;
    float *p = lector_head_params(*out);
    const struct lector_head_layout lay = lector_head_get_layout(*out);
    memcpy(p + lay.W, W, (size_t)(nk * nc) * sizeof *p);
    for (int64_t k = 0; k < nk; k++) p[lay.b + k] = b ? b[k] : 0.0f;
    memcpy(p + lay.V, V, (size_t)(ns * nk) * sizeof *p);
    return s;
}

static void test_head_init_wide_from_by_hand(void **state) {
    (void)state;
    // C = 2 dense inputs, S = 3 n-gram columns, K = 2 classes.
    const float W[2 * 2] = {1, 2, -1, 0.5f}, b[2] = {0.25f, -0.5f};
    const float V[3 * 2] = {1, 0, 0, -2, 3, 1};
    const float x[2 * 2] = {1, 1, 2, -1};
    int64_t off[3] = {0, 2, 3};
    int32_t col[3] = {0, 2, 1};
    float val[3] = {0.5f, 1.0f, 2.0f};
    struct lector_sparse_rows sp = {2, 3, off, col, val};
    struct lector_head *head = NULL;
    assert_int_equal(wide_from(2, 3, 2, W, b, V, &head), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_params(head), 2 * 2 + 2 + 3 * 2);
    float z[2 * 2];
    lector_head_forward(head, x, &sp, 2, z, NULL);
    // row 0: W x = (3, -0.5); + b = (3.25, -1); + 0.5 V[0] + 1 V[2] = (0.5 + 3, 0 + 1)
    // row 1: W x = (0, -2.5); + b = (0.25, -3); + 2 V[1] = (0, -4)
    const float want[4] = {6.75f, 0.0f, 0.25f, -7.0f};
    for (int j = 0; j < 4; j++)
        if (fabsf(z[j] - want[j]) > 1e-6f) fail_msg("logit %d: %g, want %g", j, (double)z[j], (double)want[j]);
    lector_head_free(head);
    // b NULL: zeros; the weights are copied, not kept
    float W2[2 * 2] = {1, 0, 0, 1};
    assert_int_equal(wide_from(2, 3, 2, W2, NULL, V, &head), LECTOR_STATUS_OK);
    W2[0] = 100.0f;
    lector_head_forward(head, x, NULL, 1, z, NULL);
    assert_true(z[0] == 1.0f && z[1] == 1.0f);
    lector_head_free(head);
}

static void test_head_probs_temperature(void **state) {
    (void)state;
    const float W[2 * 2] = {1, 0, 0, 1}, b[2] = {0, 0};
    struct lector_head *head = NULL;
    assert_int_equal(test_head_from(2, 2, W, b, &head, NULL), LECTOR_STATUS_OK);
    const float x[2] = {2.0f, 0.0f};
    float p1[2], p2[2];
    assert_int_equal(lector_head_probs(head, x, NULL, 1, 1.0f, p1, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_probs(head, x, NULL, 1, 2.0f, p2, NULL), LECTOR_STATUS_OK);
    assert_true(fabs((double)p1[0] - 1.0 / (1.0 + exp(-2.0))) < 1e-6);
    assert_true(fabs((double)p2[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6);
    lector_head_free(head);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_wide_gradient_plain),
        cmocka_unit_test(test_head_wide_gradient_weighted_smoothed),
        cmocka_unit_test(test_head_wide_gradient_multi_label),
        cmocka_unit_test(test_head_wide_sparse_only_and_decay_mask),
        cmocka_unit_test(test_head_probs_temperature),
        cmocka_unit_test(test_head_init_wide_from_by_hand),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

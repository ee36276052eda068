// Tests for the MLP head (one GELU hidden layer, dropout, plus the sparse wide part): the
// gradient (of the parameters, and of the input x that fine-tuning hands on to the encoder)
// against finite differences of an independent double-precision loss, and with
// dropout against finite differences of the library's own (seeded, deterministic) loss.
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
#include "testutil.h"

static uint64_t rng_state = 7;
static double rnd(void) {
    rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (double)(rng_state >> 11) * 0x1p-53 * 2.0 - 1.0;
}

enum { C = 4, H = 6, S = 5, K = 3, B = 3 };
static int64_t offsets[B + 1] = {0, 2, 3, 3};
static int32_t cols[3] = {1, 4, 0};
static float vals[3] = {0.8f, 0.6f, 1.0f};

static double gelu_ref(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

// Row i's logits of the MLP in double, from the definitions and the documented layout:
// W gelu(W1 x + b1) + b + the sparse row times V.
static void logits_ref(const double *p, const struct lector_head_layout *L, const double *x,
                       int i, double z[K]) {
    double a[H];
    for (int j = 0; j < H; j++) {
        double h = p[L->b1 + j];
        for (int c = 0; c < C; c++) h += p[L->W1 + j * C + c] * x[i * C + c];
        a[j] = gelu_ref(h);
    }
    for (int k = 0; k < K; k++) {
        z[k] = p[L->b + k];
        for (int j = 0; j < H; j++) z[k] += p[L->W + k * H + j] * a[j];
        for (int64_t t = offsets[i]; t < offsets[i + 1]; t++)
            z[k] += (double)vals[t] * p[L->V + cols[t] * K + k];
    }
}

// Mean cross-entropy of the MLP in double.
static double loss_ref(const double *p, const struct lector_head_layout *L, const double *x,
                       const int32_t *y) {
    double total = 0.0;
    for (int i = 0; i < B; i++) {
        double z[K], zmax = -HUGE_VAL, sum = 0.0;
        logits_ref(p, L, x, i, z);
        for (int k = 0; k < K; k++)
            if (z[k] > zmax) zmax = z[k];
        for (int k = 0; k < K; k++) sum += exp(z[k] - zmax);
        total += zmax + log(sum) - z[y[i]];
    }
    return total / B;
}

// The largest gap between g (n) and central differences of loss_ref over v (n values of the
// parameters p or the inputs x).
static double fd_max_err(double *v, int n, const float *g, const double *p,
                         const struct lector_head_layout *L, const double *x, const int32_t *y) {
    const double h = 1e-5;
    double max_err = 0.0;
    for (int j = 0; j < n; j++) {
        const double save = v[j];
        v[j] = save + h;
        const double up = loss_ref(p, L, x, y);
        v[j] = save - h;
        const double down = loss_ref(p, L, x, y);
        v[j] = save;
        const double e = fabs((up - down) / (2 * h) - (double)g[j]);
        if (e > max_err) max_err = e;
    }
    return max_err;
}

static void test_head_mlp_gradient(void **state) {
    (void)state;
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, H, S, K}, 5, &head, NULL), LECTOR_STATUS_OK);
    const struct lector_head_layout L = lector_head_get_layout(head);
    assert_int_equal(L.D, H);
    assert_int_equal(lector_head_n_hidden(head), H);
    const int P = K * H + K + H * C + H + S * K;
    assert_int_equal(lector_head_n_params(head), P);
    assert_int_equal(L.V, P - S * K);
    const uint8_t *mask = lector_head_decay_mask(head);
    assert_int_equal(mask[L.b], 0);
    assert_int_equal(mask[L.b1], 0);
    assert_int_equal(mask[L.W1], 1);
    float *params = lector_head_params(head);
    for (int j = 0; j < P; j++) params[j] = (float)rnd();
    float x[B * C], dx[B * C];
    double xd[B * C];
    for (int j = 0; j < B * C; j++) xd[j] = x[j] = (float)(1.5 * rnd());
    const int32_t y[B] = {1, 0, 2};
    struct lector_sparse_rows sp = {B, S, offsets, cols, vals};
    float loss = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, &sp, y, B, NULL, &loss, dx);
    double *p = malloc((size_t)P * sizeof *p);
    for (int j = 0; j < P; j++) p[j] = (double)params[j];
    assert_true(fabs((double)loss - loss_ref(p, &L, xd, y)) < 1e-5);
    // The forward pass (prediction) gives the same logits, sparse part included: rows 0 and
    // 1 have n-grams, whose V terms are of order 1 here.
    float logits[B * K];
    assert_int_equal(lector_head_forward(head, x, &sp, B, logits, NULL), LECTOR_STATUS_OK);
    for (int i = 0; i < B; i++) {
        double z[K];
        logits_ref(p, &L, xd, i, z);
        for (int k = 0; k < K; k++)
            if (!(fabs((double)logits[i * K + k] - z[k]) < 1e-5))
                fail_msg("row %d logit %d: forward %.9g, reference %.9g", i, k,
                         (double)logits[i * K + k], z[k]);
    }
    assert_true(fd_max_err(p, P, lector_head_grads(head), p, &L, xd, y) < 1e-5);
    // d(loss)/dx, which fine-tuning hands on to the encoder layers that made x
    const double max_err_x = fd_max_err(xd, B * C, dx, p, &L, xd, y);
    printf("  max |d(loss)/dx - central difference| %.3g\n", max_err_x);
    assert_true(max_err_x < 1e-5);
    free(p);
    lector_head_free(head);
}

static void test_head_mlp_dropout_gradient(void **state) {
    (void)state;
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, H, 0, K}, 9, &head, NULL), LECTOR_STATUS_OK);
    const int P = (int)lector_head_n_params(head);
    float *params = lector_head_params(head);
    for (int j = 0; j < P; j++) params[j] = (float)rnd();
    float x[B * C];
    for (int j = 0; j < B * C; j++) x[j] = (float)(1.5 * rnd());
    const int32_t y[B] = {2, 2, 0};
    struct lector_loss_params lp = {NULL, 0.0f, 0.5f, 1234, NULL};
    float loss = 0.0f, loss2 = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, NULL, y, B, &lp, &loss, NULL);
    float *g = malloc((size_t)P * sizeof *g);
    memcpy(g, lector_head_grads(head), (size_t)P * sizeof *g);
    // The same seed gives the same mask; another seed another loss.
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, x, NULL, y, B, &lp, &loss2, NULL);
    assert_true(loss == loss2);
    lp.dropout_seed = 99;
    lector_head_loss_backward(head, x, NULL, y, B, &lp, &loss2, NULL);
    assert_true(loss != loss2);
    lp.dropout_seed = 1234;
    double max_err = 0.0;
    for (int j = 0; j < P; j++) {
        const float h = 1e-2f;
        float save = params[j], lpl, lmi;
        params[j] = save + h;
        lector_head_loss_backward(head, x, NULL, y, B, &lp, &lpl, NULL);
        params[j] = save - h;
        lector_head_loss_backward(head, x, NULL, y, B, &lp, &lmi, NULL);
        params[j] = save;
        double e = fabs(((double)lpl - (double)lmi) / (2.0 * (double)h) - (double)g[j]);
        if (e > max_err) max_err = e;
    }
    assert_true(max_err < 2e-3); // float32 loss, central difference with h = 1e-2
    free(g);
    lector_head_free(head);
    struct lector_error err;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){0, 4, 3, 2}, 1, &head, &err), LECTOR_STATUS_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_mlp_gradient),
        cmocka_unit_test(test_head_mlp_dropout_gradient),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

// Tests for src/task/train.c: schedules, the stratified split, the training loop (dense and
// sparse inputs, early stopping, reproducibility, divergence) and temperature fitting.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lector/train.h"
#include "testutil.h"

static uint64_t rng_state = 2024;
static double rnd01(void) {
    rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (double)(rng_state >> 11) * 0x1p-53;
}

static void test_train_schedule_factors(void **state) {
    (void)state;
    // 10 warm-up steps of 100: 0.1, 0.2, ... 1.0, then decay.
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_LINEAR, 0, 100, 10) - 0.1) < 1e-12);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_LINEAR, 9, 100, 10) - 1.0) < 1e-12);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_LINEAR, 10, 100, 10) - 1.0) < 1e-12);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_LINEAR, 55, 100, 10) - 0.5) < 1e-12);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_COSINE, 55, 100, 10) - 0.5) < 1e-12);
    assert_true(lector_schedule_factor(LECTOR_SCHEDULE_COSINE, 99, 100, 10) < 0.01);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_CONSTANT, 99, 100, 10) - 1.0) < 1e-12);
    assert_true(fabs(lector_schedule_factor(LECTOR_SCHEDULE_CONSTANT, 0, 100, 0) - 1.0) < 1e-12);
    assert_int_equal(lector_schedule_parse("cosine"), LECTOR_SCHEDULE_COSINE);
    assert_int_equal(lector_schedule_parse("step"), -1);
}

static void test_train_split_is_stratified(void **state) {
    (void)state;
    enum { N = 1000 };
    int32_t y[N];
    for (int i = 0; i < N; i++) y[i] = i % 10 == 0 ? 2 : (i % 3 == 0 ? 1 : 0); // 100 / ~300 / ~600
    y[7] = 3;                                                                    // a singleton
    int64_t tr[N], va[N], n_tr, n_va, tr2[N], va2[N], n_tr2, n_va2;
    assert_int_equal(lector_split_stratified(y, N, 4, 0.1, 5, tr, &n_tr, va, &n_va, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(n_tr + n_va, N);
    int64_t cnt[4] = {0}, vcnt[4] = {0};
    for (int i = 0; i < N; i++) cnt[y[i]]++;
    for (int64_t i = 0; i < n_va; i++) vcnt[y[va[i]]]++;
    for (int k = 0; k < 3; k++) assert_true(llabs(vcnt[k] - (cnt[k] + 5) / 10) <= 1);
    assert_int_equal(vcnt[3], 0); // a class with one row stays in training
    for (int64_t i = 1; i < n_va; i++) assert_true(va[i] > va[i - 1]);
    for (int64_t i = 1; i < n_tr; i++) assert_true(tr[i] > tr[i - 1]);
    // Same seed, same split; another seed, another split.
    assert_int_equal(lector_split_stratified(y, N, 4, 0.1, 5, tr2, &n_tr2, va2, &n_va2, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(n_va2, n_va);
    assert_memory_equal(va, va2, (size_t)n_va * sizeof *va);
    assert_int_equal(lector_split_stratified(y, N, 4, 0.1, 6, tr2, &n_tr2, va2, &n_va2, NULL),
                     LECTOR_STATUS_OK);
    assert_true(memcmp(va, va2, (size_t)n_va * sizeof *va) != 0);
    assert_int_equal(lector_split_stratified(y, N, 4, 1.0, 5, tr2, &n_tr2, va2, &n_va2, NULL),
                     LECTOR_STATUS_INVALID_ARG);
}

// A separable 3-class problem: dense features carry the class on some dims (with an offset
// and scale the standardisation must undo), the sparse part repeats it as one active column.
enum { N = 600, NV = 150, C = 6, S = 9, K = 3 };
static float X[N * C], XV[NV * C];
static int32_t Y[N], YV[NV];
static int64_t OFF[N + 1], OFFV[NV + 1];
static int32_t COLS[N], COLSV[NV];
static float VALS[N], VALSV[NV];

static void make_data(float *x, int32_t *y, int64_t *off, int32_t *cols, float *vals, int n) {
    off[0] = 0;
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(rnd01() * K);
        for (int c = 0; c < C; c++) x[i * C + c] = (float)(100.0 + 5.0 * (rnd01() - 0.5));
        x[i * C + y[i]] += 4.0f;
        cols[i] = y[i] * 3 + (int32_t)(rnd01() * 3);
        vals[i] = 1.0f;
        off[i + 1] = i + 1;
    }
}

static int setup(void **state) {
    (void)state;
    make_data(X, Y, OFF, COLS, VALS, N);
    make_data(XV, YV, OFFV, COLSV, VALSV, NV);
    return 0;
}

// The head's memory is estimated by hand here, and a budget below it refuses before training.
static void test_train_head_memory_budget(void **state) {
    (void)state;
    struct lector_train_params p = test_train_params();
    // (K x C + K) parameters, 21 bytes each (params, grads, best copy, m, v, decay mask)
    assert_int_equal(lector_train_head_memory(384, 0, 20000, &p), (uint64_t)(20000 * 384 + 20000) * 21);
    // plus S x K n-gram weights and 16 bytes of bookkeeping per n-gram row
    assert_int_equal(lector_train_head_memory(C, S, K, &p), (uint64_t)(K * C + K + S * K) * 21 + S * 16);
    assert_int_equal(lector_train_head_memory(INT64_MAX, INT64_MAX, INT64_MAX, &p), UINT64_MAX);
    struct lector_sparse_rows sp = {N, S, OFF, COLS, VALS};
    struct lector_train_set tr = {X, &sp, Y, N, NULL};
    struct lector_train_result r;
    memset(&r, 0, sizeof r);
    struct lector_error err;
    p.n_epochs = 1;
    p.max_memory = lector_train_head_memory(C, S, K, &p) - 1;
    assert_int_equal(lector_train_head(&tr, NULL, C, K, &p, &r, &err), LECTOR_STATUS_NOMEM);
    assert_non_null(strstr(err.msg, "K=3 labels, C=6 dense inputs, H=0 hidden units, S=9 n-gram features"));
    assert_non_null(strstr(err.msg, "over the memory budget"));
    assert_null(r.head);
    p.max_memory += 1;
    assert_int_equal(lector_train_head(&tr, NULL, C, K, &p, &r, &err), LECTOR_STATUS_OK);
    lector_train_result_free(&r);
}

static void test_train_dense_and_sparse_reproducible(void **state) {
    (void)state;
    struct lector_sparse_rows sp = {N, S, OFF, COLS, VALS}, spv = {NV, S, OFFV, COLSV, VALSV};
    struct lector_train_set tr = {X, &sp, Y, N, NULL}, va = {XV, &spv, YV, NV, NULL};
    struct lector_train_params p = test_train_params();
    p.n_epochs = 5;
    p.adamw.lr = 0.01f;
    p.class_weight_balanced = 1;
    p.label_smoothing = 0.05f;
    p.schedule = LECTOR_SCHEDULE_COSINE;
    struct lector_train_result a, b;
    struct lector_error err;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &a, &err), LECTOR_STATUS_OK);
    assert_true(a.valid_accuracy > 0.95);
    assert_true(a.valid_macro_f1 > 0.95);
    assert_true(a.best_epoch >= 1 && a.best_epoch <= 5);
    assert_true(a.temperature > 0.0f);
    assert_non_null(a.history);
    assert_int_equal(lector_head_n_in(a.head), C);
    assert_int_equal(lector_head_n_sparse(a.head), S);
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &b, &err), LECTOR_STATUS_OK);
    assert_memory_equal(lector_head_params(a.head), lector_head_params(b.head),
                        (size_t)lector_head_n_params(a.head) * sizeof(float));
    lector_train_result_free(&b);
    // Another seed gives other weights.
    p.seed = 7;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &b, &err), LECTOR_STATUS_OK);
    assert_true(memcmp(lector_head_params(a.head), lector_head_params(b.head),
                       (size_t)lector_head_n_params(a.head) * sizeof(float)) != 0);
    lector_train_result_free(&b);
    lector_train_result_free(&a);
    lector_train_result_free(NULL);
}

static void test_train_sparse_only(void **state) {
    (void)state;
    struct lector_sparse_rows sp = {N, S, OFF, COLS, VALS}, spv = {NV, S, OFFV, COLSV, VALSV};
    struct lector_train_set tr = {NULL, &sp, Y, N, NULL}, va = {NULL, &spv, YV, NV, NULL};
    struct lector_train_params p = test_train_params();
    p.n_epochs = 5;
    p.adamw.lr = 0.05f;
    struct lector_train_result r;
    assert_int_equal(lector_train_head(&tr, &va, 0, K, &p, &r, NULL), LECTOR_STATUS_OK);
    assert_true(r.valid_accuracy > 0.99);
    assert_int_equal(lector_head_n_in(r.head), 0);
    lector_train_result_free(&r);
}

// Accuracy of a returned head on the raw (unstandardised) validation features.
static double raw_accuracy(const struct lector_head *h, const struct lector_sparse_rows *sp) {
    float logits[NV * K];
    assert_int_equal(lector_head_forward(h, lector_head_n_in(h) ? XV : NULL, sp, NV, logits, NULL), LECTOR_STATUS_OK);
    int correct = 0;
    for (int i = 0; i < NV; i++) {
        int b = 0;
        for (int k = 1; k < K; k++)
            if (logits[i * K + k] > logits[i * K + b]) b = k;
        correct += b == YV[i];
    }
    return (double)correct / NV;
}

static void test_train_mlp_folds_standardisation(void **state) {
    (void)state;
    struct lector_train_set tr = {X, NULL, Y, N, NULL}, va = {XV, NULL, YV, NV, NULL};
    struct lector_train_params p = test_train_params();
    p.n_epochs = 8;
    p.adamw.lr = 0.01f;
    p.n_hidden = 8;
    p.dropout = 0.1f;
    struct lector_train_result r, r2;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_head_n_hidden(r.head), 8);
    assert_true(r.valid_accuracy > 0.95);
    // The head takes raw features: the standardisation went into W1 and b1.
    assert_true(fabs(raw_accuracy(r.head, NULL) - r.valid_accuracy) < 1e-9);
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r2, NULL), LECTOR_STATUS_OK);
    assert_memory_equal(lector_head_params(r.head), lector_head_params(r2.head),
                        (size_t)lector_head_n_params(r.head) * sizeof(float));
    lector_train_result_free(&r2);
    lector_train_result_free(&r);
    // The linear head too.
    p.n_hidden = 0;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r, NULL), LECTOR_STATUS_OK);
    assert_true(fabs(raw_accuracy(r.head, NULL) - r.valid_accuracy) < 1e-9);
    lector_train_result_free(&r);
    // A hidden layer needs dense inputs.
    struct lector_sparse_rows sp = {N, S, OFF, COLS, VALS};
    struct lector_train_set trs = {NULL, &sp, Y, N, NULL};
    p.n_hidden = 4;
    assert_int_equal(lector_train_head(&trs, NULL, 0, K, &p, &r, NULL), LECTOR_STATUS_INVALID_ARG);
}

static int count_epochs(void *user, const struct lector_epoch_info *e) {
    (void)e;
    (*(int *)user)++;
    return 0;
}

static void test_train_early_stopping(void **state) {
    (void)state;
    struct lector_train_set tr = {X, NULL, Y, N, NULL}, va = {XV, NULL, YV, NV, NULL};
    struct lector_train_params p = test_train_params();
    p.n_epochs = 50;
    p.adamw.lr = 0.05f;
    p.patience = 2;
    int seen = 0;
    p.on_epoch = count_epochs;
    p.user = &seen;
    struct lector_train_result r;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r, NULL), LECTOR_STATUS_OK);
    // Validation macro-F1 saturates quickly; two epochs later training stops.
    assert_true(r.n_epochs_run < 50);
    assert_int_equal(r.n_epochs_run, seen);
    assert_int_equal(r.n_epochs_run, r.best_epoch + 2);
    lector_train_result_free(&r);
}

// The epoch kept: macro-F1 first, but differences up to min_delta are ties that the lower
// validation loss breaks (never more than min_delta below the best macro-F1 seen). The
// rule is recomputed here from the per-epoch figures and must name the same epoch.
struct epoch_log {
    int n;
    double f1[64], loss[64];
};
static int log_epoch(void *user, const struct lector_epoch_info *e) {
    struct epoch_log *l = user;
    l->f1[l->n] = e->valid_macro_f1;
    l->loss[l->n] = e->valid_loss;
    l->n++;
    return 0;
}

static void test_train_selection_min_delta(void **state) {
    (void)state;
    struct lector_train_set tr = {X, NULL, Y, N, NULL}, va = {XV, NULL, YV, NV, NULL};
    const float deltas[3] = {0.0f, 0.005f, 0.2f};
    for (int d = 0; d < 3; d++) {
        struct lector_train_params p = test_train_params();
        p.n_epochs = 12;
        p.adamw.lr = 0.02f;
        p.min_delta = deltas[d];
        struct epoch_log l = {0};
        p.on_epoch = log_epoch;
        p.user = &l;
        struct lector_train_result r;
        assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r, NULL), LECTOR_STATUS_OK);
        assert_int_equal(l.n, 12);
        int best = 0;
        double max_f1 = l.f1[0];
        for (int e = 1; e < l.n; e++) {
            if (l.f1[e] > max_f1) max_f1 = l.f1[e];
            double bf = l.f1[best], dd = (double)deltas[d];
            if (l.f1[e] > bf + dd || (l.f1[e] >= bf - dd && l.f1[e] >= max_f1 - dd &&
                                      l.loss[e] < l.loss[best]))
                best = e;
        }
        assert_int_equal(r.best_epoch, best + 1);
        assert_true(fabs(r.valid_macro_f1 - l.f1[best]) < 1e-12);
        if (d == 2) {
            // every epoch is within 0.2 of the others here: the lowest loss wins
            int lowest = 0;
            for (int e = 1; e < l.n; e++)
                if (l.loss[e] < l.loss[lowest]) lowest = e;
            assert_int_equal(best, lowest);
        }
        lector_train_result_free(&r);
    }
    struct lector_train_params p = test_train_params();
    struct lector_train_result r;
    p.min_delta = -0.1f;
    assert_int_equal(lector_train_head(&tr, &va, C, K, &p, &r, NULL), LECTOR_STATUS_INVALID_ARG);
}

static void test_train_divergence_saves_nothing(void **state) {
    (void)state;
    static float bad[N * C];
    memcpy(bad, X, sizeof bad);
    bad[5] = NAN;
    struct lector_train_set tr = {bad, NULL, Y, N, NULL};
    struct lector_train_params p = test_train_params();
    struct lector_train_result r;
    struct lector_error err;
    assert_int_equal(lector_train_head(&tr, NULL, C, K, &p, &r, &err), LECTOR_STATUS_RANGE);
    assert_null(r.head);
    assert_non_null(strstr(err.msg, "NaN"));
    volatile int cancel = 1;
    p.cancel = &cancel;
    tr.X = X;
    assert_int_equal(lector_train_head(&tr, NULL, C, K, &p, &r, &err), LECTOR_STATUS_INTERRUPTED);
    assert_null(r.head);
}

// Mean NLL of softmax(logits / T), in double: the test's own, independent of train.c.
static double nll_ref(const float *logits, const int32_t *y, int n, int n_cls, double T) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * n_cls;
        double zmax = -HUGE_VAL, sum = 0.0;
        for (int k = 0; k < n_cls; k++)
            if ((double)z[k] / T > zmax) zmax = (double)z[k] / T;
        for (int k = 0; k < n_cls; k++) sum += exp((double)z[k] / T - zmax);
        total += zmax + log(sum) - (double)z[y[i]] / T;
    }
    return total / n;
}

// Balanced class weights (n / (K n_k)) on 180 rows of class 0 and 20 of class 1 with an
// uninformative feature: the weighted loss is lowest where both classes weigh the same, so
// the mean predicted probability of class 1 goes towards 0.5 (0.44 after 40 epochs); without
// weights, to the 0.1 prior; with the weights inverted, below 0.02.
static void test_train_class_weights_balanced(void **state) {
    (void)state;
    enum { NB = 200, N1 = 20 };
    float *x = malloc(NB * sizeof *x), *probs = malloc(2 * NB * sizeof *probs);
    int32_t *y = malloc(NB * sizeof *y);
    assert_non_null(x), assert_non_null(probs), assert_non_null(y);
    for (int i = 0; i < NB; i++) x[i] = (float)(rnd01() - 0.5), y[i] = i % (NB / N1) == 0;
    struct lector_train_set tr = {x, NULL, y, NB, NULL};
    double mean_p1[2];
    for (int balanced = 0; balanced < 2; balanced++) {
        struct lector_train_params p = test_train_params();
        p.n_epochs = 40;
        p.adamw.lr = 0.05f;
        p.class_weight_balanced = balanced;
        struct lector_train_result r;
        assert_int_equal(lector_train_head(&tr, NULL, 1, 2, &p, &r, NULL), LECTOR_STATUS_OK);
        lector_head_probs(r.head, x, NULL, NB, 1.0f, probs, NULL);
        mean_p1[balanced] = 0.0;
        for (int i = 0; i < NB; i++) mean_p1[balanced] += (double)probs[2 * i + 1] / NB;
        lector_train_result_free(&r);
    }
    print_message("mean p(class 1): %.3f unweighted, %.3f balanced\n", mean_p1[0], mean_p1[1]);
    assert_true(mean_p1[0] > 0.05 && mean_p1[0] < 0.15);
    assert_true(mean_p1[1] > 0.3 && mean_p1[1] < 0.7);
    free(x), free(probs), free(y);
}

static void test_train_fit_temperature(void **state) {
    (void)state;
    enum { M = 20000, KK = 3 };
    float *logits = malloc((size_t)M * KK * sizeof *logits);
    int32_t *y = malloc((size_t)M * sizeof *y);
    assert_non_null(logits);
    assert_non_null(y);
    // Labels drawn from softmax(z); the logits given to the fit are 3 z, so T should be ~3.
    for (int i = 0; i < M; i++) {
        double z[KK], sum = 0.0;
        for (int k = 0; k < KK; k++) {
            z[k] = 3.0 * (rnd01() - 0.5);
            sum += exp(z[k]);
        }
        double u = rnd01() * sum, acc = 0.0;
        y[i] = KK - 1;
        for (int k = 0; k < KK; k++) {
            acc += exp(z[k]);
            if (u < acc) {
                y[i] = k;
                break;
            }
        }
        for (int k = 0; k < KK; k++) logits[i * KK + k] = (float)(3.0 * z[k]);
    }
    float T = lector_fit_temperature(logits, y, M, KK);
    assert_true(fabsf(T - 3.0f) < 0.25f);
    // And T is the minimiser itself, to float precision (a search cut short lands within a
    // few percent and fails here): a ternary search of the test's own NLL over ln T.
    double a = log(0.05), b = log(20.0);
    for (int it = 0; it < 200; it++) {
        double m1 = a + (b - a) / 3.0, m2 = b - (b - a) / 3.0;
        if (nll_ref(logits, y, M, KK, exp(m1)) <= nll_ref(logits, y, M, KK, exp(m2)))
            b = m2;
        else
            a = m1;
    }
    const double t_best = exp(0.5 * (a + b));
    print_message("temperature %.7f, the NLL's minimiser %.7f\n", (double)T, t_best);
    assert_true(fabs((double)T - t_best) <= 1e-4 * t_best);
    assert_true(lector_fit_temperature(logits, y, 0, KK) == 1.0f);
    free(y);
    free(logits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_schedule_factors),
        cmocka_unit_test(test_train_split_is_stratified),
        cmocka_unit_test(test_train_dense_and_sparse_reproducible),
        cmocka_unit_test(test_train_head_memory_budget),
        cmocka_unit_test(test_train_sparse_only),
        cmocka_unit_test(test_train_selection_min_delta),
        cmocka_unit_test(test_train_early_stopping),
        cmocka_unit_test(test_train_mlp_folds_standardisation),
        cmocka_unit_test(test_train_divergence_saves_nothing),
        cmocka_unit_test(test_train_fit_temperature),
        cmocka_unit_test(test_train_class_weights_balanced),
    };
    return test_status(cmocka_run_group_tests(tests, setup, NULL));
}

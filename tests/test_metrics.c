// Tests for src/task/metrics.c against examples worked out by hand.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "lector/data.h"
#include "testutil.h"

#define EPS 1e-12

static void assert_near(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, expected %.17g", got, want);
}

static void test_metrics_three_classes_by_hand(void **state) {
    (void)state;
    const int32_t y_true[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    const int32_t y_pred[10] = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
    // Confusion matrix (row = true, column = predicted):
    //   true 0: predicted 0,0,1,2 -> [2 1 1]
    //   true 1: predicted 1,1,0   -> [1 2 0]
    //   true 2: predicted 2,2,1   -> [0 1 2]
    // accuracy = (2 + 2 + 2) / 10 = 0.6
    // class 0: tp 2, predicted 2+1+0 = 3, support 4: P = 2/3, R = 2/4, F1 = 2*2/(3+4) = 4/7
    // class 1: tp 2, predicted 1+2+1 = 4, support 3: P = 2/4, R = 2/3, F1 = 4/(4+3) = 4/7
    // class 2: tp 2, predicted 1+0+2 = 3, support 3: P = 2/3, R = 2/3, F1 = 4/6 = 2/3
    // macro F1 = (4/7 + 4/7 + 2/3) / 3 = (24/21 + 14/21) / 3 = 38/63 = 0.603174603...
    struct lector_metrics m;
    struct lector_error err = {0};
    assert_int_equal(lector_metrics_compute(y_true, y_pred, 10, 3, &m, &err), LECTOR_STATUS_OK);
    assert_int_equal(m.n_classes, 3);
    assert_int_equal(m.n, 10);
    const int64_t confusion[9] = {2, 1, 1, 1, 2, 0, 0, 1, 2};
    assert_memory_equal(m.confusion, confusion, sizeof confusion);
    assert_int_equal(m.support[0], 4);
    assert_int_equal(m.support[1], 3);
    assert_int_equal(m.support[2], 3);
    assert_near(m.accuracy, 0.6, EPS);
    assert_near(m.precision[0], 2.0 / 3.0, EPS);
    assert_near(m.recall[0], 0.5, EPS);
    assert_near(m.f1[0], 4.0 / 7.0, EPS);
    assert_near(m.precision[1], 0.5, EPS);
    assert_near(m.recall[1], 2.0 / 3.0, EPS);
    assert_near(m.f1[1], 4.0 / 7.0, EPS);
    assert_near(m.precision[2], 2.0 / 3.0, EPS);
    assert_near(m.recall[2], 2.0 / 3.0, EPS);
    assert_near(m.f1[2], 2.0 / 3.0, EPS);
    assert_true(m.macro_f1 > 0.6031746 && m.macro_f1 < 0.6031747);  // 38/63
    lector_metrics_free(&m);
    assert_null(m.confusion);
}

static void test_metrics_zero_division_is_zero(void **state) {
    (void)state;
    // K = 4. Class 2 is predicted once but never true; class 3 never occurs at all.
    //   class 0: tp 1, predicted 1, support 2: P = 1, R = 1/2, F1 = 2/(1+2) = 2/3
    //   class 1: tp 1, predicted 1, support 1: P = 1, R = 1,   F1 = 1
    //   class 2: tp 0, predicted 1, support 0: P = 0, R = 0 (0/0 -> 0), F1 = 0
    //   class 3: nothing: P = R = F1 = 0 (0/0 -> 0)
    // accuracy = 2/3; macro F1 = (2/3 + 1 + 0 + 0) / 4 = 5/12
    const int32_t y_true[3] = {0, 0, 1};
    const int32_t y_pred[3] = {0, 2, 1};
    struct lector_metrics m;
    assert_int_equal(lector_metrics_compute(y_true, y_pred, 3, 4, &m, NULL), LECTOR_STATUS_OK);
    assert_near(m.accuracy, 2.0 / 3.0, EPS);
    assert_near(m.precision[0], 1.0, EPS);
    assert_near(m.recall[0], 0.5, EPS);
    assert_near(m.f1[0], 2.0 / 3.0, EPS);
    assert_near(m.f1[1], 1.0, EPS);
    assert_true(m.precision[2] == 0.0 && m.recall[2] == 0.0 && m.f1[2] == 0.0);
    assert_true(m.precision[3] == 0.0 && m.recall[3] == 0.0 && m.f1[3] == 0.0);
    assert_int_equal(m.support[2], 0);
    assert_true(m.macro_f1 > 0.41666666 && m.macro_f1 < 0.41666667);  // 5/12
    lector_metrics_free(&m);
}

static void test_metrics_rejects_bad_input(void **state) {
    (void)state;
    const int32_t y_true[2] = {0, 1};
    const int32_t y_pred[2] = {0, 3};
    struct lector_metrics m;
    struct lector_error err = {0};
    assert_int_equal(lector_metrics_compute(y_true, y_pred, 2, 3, &m, &err), LECTOR_STATUS_RANGE);
    assert_int_equal(err.index, 1);
    assert_non_null(strstr(err.msg, "example 1"));
    assert_null(m.confusion);
    assert_int_equal(lector_metrics_compute(y_true, y_pred, 2, 0, &m, &err),
                     LECTOR_STATUS_INVALID_ARG);
    // No examples: defined, all zeros.
    assert_int_equal(lector_metrics_compute(NULL, NULL, 0, 2, &m, &err), LECTOR_STATUS_OK);
    assert_true(m.accuracy == 0.0 && m.macro_f1 == 0.0);
    lector_metrics_free(&m);
    lector_metrics_free(NULL);
}

static void test_metrics_probs_micro_f1_and_ece(void **state) {
    (void)state;
    // Four rows, K = 2. Confidences 0.9 (right), 0.8 (wrong), 0.6 (right), 0.55 (right).
    // Bins of width 1/15: 0.9 -> (0.8667, 0.9333]; 0.8 -> (0.7333, 0.8]; 0.6 -> (0.5333, 0.6];
    // 0.55 -> (0.5333, 0.6] too. ECE = 1/4 |1 - 0.9| + 1/4 |0 - 0.8| + 2/4 |1 - 0.575|.
    const float probs[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.4f, 0.6f, 0.55f, 0.45f};
    const int32_t y[4] = {0, 0, 1, 0};
    struct lector_metrics m;
    assert_int_equal(lector_metrics_compute_probs(y, probs, 4, 2, &m, NULL), LECTOR_STATUS_OK);
    assert_near(m.accuracy, 0.75, EPS);
    assert_near(m.micro_f1, 0.75, EPS);
    assert_near(m.ece, 0.25 * 0.1 + 0.25 * 0.8 + 0.5 * 0.425, 1e-6);
    double ll = -(log(0.9) + log(0.2) + log(0.6) + log(0.55)) / 4.0;
    assert_near(m.log_loss, ll, 1e-6);
    lector_metrics_free(&m);
    // From class ids alone there is no calibration figure.
    const int32_t yp[4] = {0, 1, 1, 0};
    assert_int_equal(lector_metrics_compute(y, yp, 4, 2, &m, NULL), LECTOR_STATUS_OK);
    assert_near(m.micro_f1, 0.75, EPS);
    assert_true(m.ece < 0 && m.log_loss < 0);
    lector_metrics_free(&m);
}

static void test_metrics_multi_by_hand(void **state) {
    (void)state;
    // Three rows, two labels, thresholds 0.5 and 0.3 (label k predicted when p >= t_k).
    //   row 0: targets [1 0], probs [0.9 0.25] -> predicted [1 0]
    //   row 1: targets [1 1], probs [0.38 0.35] -> predicted [0 1]
    //   row 2: targets [0 1], probs [0.62 0.1] -> predicted [1 0]
    // label 0: tp 1, predicted 2, support 2: P = R = F1 = 1/2
    // label 1: tp 1, predicted 1, support 2: P = 1, R = 1/2, F1 = 2/3
    // macro F1 = 7/12; micro: tp 2, fp 1, fn 2 -> F1 = 4 / (4 + 3) = 4/7; exact match 1/3.
    // Confidence of each (row, label) decision: p when predicted, 1 - p otherwise; in bins of
    // width 1/15: 0.9 right and 0.9 wrong (bin 13), 0.75 right (11), 0.62 wrong twice (9), 0.35
    // right (5): ECE = (2 |0.5 - 0.9| + |1 - 0.75| + 2 |0 - 0.62| + |1 - 0.35|) / 6.
    const uint8_t Y[6] = {1, 0, 1, 1, 0, 1};
    const float probs[6] = {0.9f, 0.25f, 0.38f, 0.35f, 0.62f, 0.1f};
    const float thr[2] = {0.5f, 0.3f};
    struct lector_metrics m;
    struct lector_error err = {0};
    assert_int_equal(lector_metrics_compute_multi(Y, probs, thr, 3, 2, &m, &err), LECTOR_STATUS_OK);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.n_classes, 2);
    assert_int_equal(m.support[0], 2);
    assert_int_equal(m.support[1], 2);
    assert_near(m.precision[0], 0.5, EPS);
    assert_near(m.recall[0], 0.5, EPS);
    assert_near(m.f1[0], 0.5, EPS);
    assert_near(m.precision[1], 1.0, EPS);
    assert_near(m.recall[1], 0.5, EPS);
    assert_near(m.f1[1], 2.0 / 3.0, EPS);
    assert_near(m.macro_f1, 7.0 / 12.0, EPS);
    assert_near(m.micro_f1, 4.0 / 7.0, EPS);
    assert_near(m.accuracy, 1.0 / 3.0, EPS);
    assert_near(m.ece, (2 * 0.4 + 0.25 + 2 * 0.62 + 0.65) / 6.0, 1e-6);
    double ll = -(log(0.9) + log(0.75) + log(0.38) + log(0.35) + log(0.38) + log(0.1)) / 6.0;
    assert_near(m.log_loss, ll, 1e-6);
    lector_metrics_free(&m);
    // Without thresholds, 0.5 for both: label 1 is never predicted. tp 1, fp 1, fn 1 + 2:
    // micro F1 = 2 / (2 + 4) = 1/3; label 1's F1 0.
    assert_int_equal(lector_metrics_compute_multi(Y, probs, NULL, 3, 2, &m, &err), LECTOR_STATUS_OK);
    assert_near(m.micro_f1, 1.0 / 3.0, EPS);
    assert_near(m.f1[1], 0.0, EPS);
    assert_near(m.macro_f1, 0.25, EPS);
    lector_metrics_free(&m);
    // Bad arguments
    assert_int_equal(lector_metrics_compute_multi(Y, probs, thr, 3, 0, &m, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_metrics_compute_multi(NULL, probs, thr, 3, 2, &m, &err),
                     LECTOR_STATUS_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_probs_micro_f1_and_ece),
        cmocka_unit_test(test_metrics_three_classes_by_hand),
        cmocka_unit_test(test_metrics_zero_division_is_zero),
        cmocka_unit_test(test_metrics_rejects_bad_input),
        cmocka_unit_test(test_metrics_multi_by_hand),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

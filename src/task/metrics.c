// Single-label classification metrics: accuracy, per-class precision/recall/F1/support,
// macro-F1 and the confusion matrix, with scikit-learn's zero_division=0 convention.
#include "lector/data.h"

#include <stdbool.h>

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

// num / den, or 0 when den is 0 (scikit-learn's zero_division=0).
static double safe_div(double num, double den) { return den > 0.0 ? num / den : 0.0; }

// out cleared, then the arguments every entry point checks: K >= 1 (what_k: classes or
// labels), n >= 0 (what_n: labels or rows) and, with rows, both inputs.
static enum lector_status check_args(struct lector_metrics *out, const void *a, const void *b,
                                     int64_t n, int64_t K, const char *what_k, const char *what_n,
                                     struct lector_error *err) {
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (K < 1 || n < 0 || (n > 0 && (!a || !b)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "metrics: expected K >= 1 %s and n >= 0 %s, got K=%lld, n=%lld", what_k,
                             what_n, (long long)K, (long long)n);
    return LECTOR_STATUS_OK;
}

// out's per-class arrays for K classes (zeroed); false when out of memory.
static bool alloc_per_class(struct lector_metrics *out, int64_t K, int64_t n) {
    out->n_classes = K;
    out->n = n;
    out->precision = lector__calloc((size_t)K, sizeof(double));
    out->recall = lector__calloc((size_t)K, sizeof(double));
    out->f1 = lector__calloc((size_t)K, sizeof(double));
    out->support = lector__calloc((size_t)K, sizeof(int64_t));
    return out->precision && out->recall && out->f1 && out->support;
}

// Precision, recall and F1 of class k from its true positives, its predictions and
// out->support[k]; returns the F1. F1 = 2 tp / (2 tp + fp + fn), which is 0 (not 0/0) when
// the class never occurs.
static double class_scores(struct lector_metrics *out, int64_t k, int64_t tp, int64_t predicted) {
    out->precision[k] = safe_div((double)tp, (double)predicted);
    out->recall[k] = safe_div((double)tp, (double)out->support[k]);
    out->f1[k] = safe_div(2.0 * (double)tp, (double)(predicted + out->support[k]));
    return out->f1[k];
}

// Calibration over N_BINS equal-width confidence bins (lo, hi], and the log loss.
enum { N_BINS = 15 };
struct calibration {
    double conf_sum[N_BINS], hit[N_BINS], count[N_BINS], nll;
};

// A prediction of confidence c counted in its bin (confidence 0 goes to the first); returns
// the bin.
static int calibration_add(struct calibration *cal, double c) {
    int bin = (int)ceil(c * N_BINS) - 1;
    if (bin < 0) bin = 0;
    if (bin >= N_BINS) bin = N_BINS - 1;
    cal->conf_sum[bin] += c;
    cal->count[bin] += 1.0;
    return bin;
}

// The negative log of the probability given to the truth, floored at 1e-15.
static void calibration_add_nll(struct calibration *cal, double p_true) {
    cal->nll += -log(p_true > 1e-15 ? p_true : 1e-15);
}

// out->ece and out->log_loss over total predictions (0 without rows).
static void calibration_finish(const struct calibration *cal, double total, int64_t n,
                               struct lector_metrics *out) {
    double ece = 0.0;
    for (int b = 0; b < N_BINS; b++)
        if (cal->count[b] > 0)
            ece += cal->count[b] / total * fabs(cal->hit[b] / cal->count[b] - cal->conf_sum[b] / cal->count[b]);
    out->ece = n > 0 ? ece : 0.0;
    out->log_loss = n > 0 ? cal->nll / total : 0.0;
}

enum lector_status lector_metrics_compute(const int32_t *y_true, const int32_t *y_pred,
                                          int64_t n, int64_t K, struct lector_metrics *out,
                                          struct lector_error *err) {
    size_t n_cells = 0;
    enum lector_status s = check_args(out, y_true, y_pred, n, K, "classes", "labels", err);
    if (s != LECTOR_STATUS_OK) return s;
    for (int64_t i = 0; i < n; i++) {
        if (y_true[i] < 0 || y_true[i] >= K || y_pred[i] < 0 || y_pred[i] >= K)
            return lector__error_index(err, LECTOR_STATUS_RANGE, i,
                                    "metrics: example %lld: expected class ids in [0, %lld), "
                                    "got true %d, predicted %d",
                                    (long long)i, (long long)K, (int)y_true[i], (int)y_pred[i]);
    }
    if (!lector__mul_size((size_t)K, (size_t)K, &n_cells))
        return lector__error(err, LECTOR_STATUS_NOMEM, "metrics: K=%lld is too large",
                             (long long)K);

    out->confusion = lector__calloc(n_cells, sizeof(int64_t));
    if (!alloc_per_class(out, K, n) || !out->confusion) {
        lector_metrics_free(out);
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "metrics: cannot allocate a %lld x %lld confusion matrix",
                             (long long)K, (long long)K);
    }

    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        out->confusion[(int64_t)y_true[i] * K + y_pred[i]]++;
        out->support[y_true[i]]++;
        if (y_true[i] == y_pred[i]) correct++;
    }
    out->accuracy = safe_div((double)correct, (double)n);

    // Micro-F1 pools tp, fp and fn over classes; with one label per example every error is one
    // fp and one fn, so it equals accuracy. Computed the long way, as multi-label does.
    double f1_sum = 0.0;
    int64_t tp_all = 0, fp_fn = 0;
    for (int64_t k = 0; k < K; k++) {
        int64_t tp = out->confusion[k * K + k], predicted = 0;
        for (int64_t t = 0; t < K; t++) predicted += out->confusion[t * K + k];
        f1_sum += class_scores(out, k, tp, predicted);
        tp_all += tp;
        fp_fn += (predicted - tp) + (out->support[k] - tp);
    }
    out->macro_f1 = f1_sum / (double)K;
    out->micro_f1 = safe_div(2.0 * (double)tp_all, 2.0 * (double)tp_all + (double)fp_fn);
    out->ece = -1.0;
    out->log_loss = -1.0;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_metrics_compute_probs(const int32_t *y_true, const float *probs,
                                                int64_t n, int64_t K, struct lector_metrics *out,
                                                struct lector_error *err) {
    enum lector_status s = check_args(out, y_true, probs, n, K, "classes", "rows", err);
    if (s != LECTOR_STATUS_OK) return s;
    int32_t *pred = lector__malloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    if (!pred) return lector__error(err, LECTOR_STATUS_NOMEM, "metrics: out of memory");
    struct calibration cal = {{0}, {0}, {0}, 0.0};
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + i * K;
        int64_t b = 0;
        for (int64_t k = 1; k < K; k++)
            if (p[k] > p[b]) b = k;
        pred[i] = (int32_t)b;
        int bin = calibration_add(&cal, (double)p[b]);
        if (y_true[i] >= 0 && y_true[i] < K) {
            cal.hit[bin] += b == y_true[i];
            calibration_add_nll(&cal, (double)p[y_true[i]]);
        }
    }
    s = lector_metrics_compute(y_true, pred, n, K, out, err);
    lector_free(pred);
    if (s != LECTOR_STATUS_OK) return s;
    calibration_finish(&cal, (double)n, n, out);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_metrics_compute_multi(const uint8_t *Y, const float *probs,
                                                const float *thresholds, int64_t n, int64_t K,
                                                struct lector_metrics *out, struct lector_error *err) {
    enum lector_status s = check_args(out, Y, probs, n, K, "labels", "rows", err);
    if (s != LECTOR_STATUS_OK) return s;
    int64_t *tp = lector__calloc((size_t)K, sizeof *tp), *pp = lector__calloc((size_t)K, sizeof *pp);
    if (!alloc_per_class(out, K, n) || !tp || !pp) {
        lector_free(tp);
        lector_free(pp);
        lector_metrics_free(out);
        return lector__error(err, LECTOR_STATUS_NOMEM, "metrics: out of memory");
    }
    struct calibration cal = {{0}, {0}, {0}, 0.0};
    int64_t exact = 0, tp_all = 0, fp_fn = 0;
    for (int64_t i = 0; i < n; i++) {
        bool all = true;
        for (int64_t k = 0; k < K; k++) {
            const double p = (double)probs[i * K + k];
            const bool t = Y[i * K + k] != 0, pred = p >= (thresholds ? (double)thresholds[k] : 0.5);
            out->support[k] += t;
            pp[k] += pred;
            tp[k] += t && pred;
            all = all && t == pred;
            cal.hit[calibration_add(&cal, pred ? p : 1.0 - p)] += t == pred;
            calibration_add_nll(&cal, t ? p : 1.0 - p);
        }
        exact += all;
    }
    double f1_sum = 0.0;
    for (int64_t k = 0; k < K; k++) {
        f1_sum += class_scores(out, k, tp[k], pp[k]);
        tp_all += tp[k];
        fp_fn += (pp[k] - tp[k]) + (out->support[k] - tp[k]);
    }
    out->macro_f1 = f1_sum / (double)K;
    out->micro_f1 = safe_div(2.0 * (double)tp_all, 2.0 * (double)tp_all + (double)fp_fn);
    out->accuracy = safe_div((double)exact, (double)n);
    calibration_finish(&cal, (double)n * (double)K, n, out);
    lector_free(tp);
    lector_free(pp);
    return LECTOR_STATUS_OK;
}

void lector_metrics_free(struct lector_metrics *m) {
    if (!m) return;
    lector_free(m->confusion);
    lector_free(m->support);
    lector_free(m->f1);
    lector_free(m->recall);
    lector_free(m->precision);
    memset(m, 0, sizeof *m);
}

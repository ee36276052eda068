// Single-label classification metrics: accuracy, per-class precision/recall/F1/support,
// macro-F1 and the confusion matrix, with scikit-learn's zero_division=0 convention.
#include "lector/data.h"

#include <stdbool.h>

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

// num / den, or 0 when den is 0 (scikit-learn's zero_division=0).
static double safe_div(double num, double den) { return den > 0.0 ? num / den : 0.0; }

enum lector_status lector_metrics_compute(const int32_t *y_true, const int32_t *y_pred,
                                          int64_t n, int64_t K, struct lector_metrics *out,
                                          struct lector_error *err) {
    size_t n_cells = 0;
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (K < 1 || n < 0 || (n > 0 && (!y_true || !y_pred)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "metrics: expected K >= 1 classes and n >= 0 labels, got K=%lld, "
                             "n=%lld",
                             (long long)K, (long long)n);
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

    out->n_classes = K;
    out->n = n;
    out->precision = lector__calloc((size_t)K, sizeof(double));
    out->recall = lector__calloc((size_t)K, sizeof(double));
    out->f1 = lector__calloc((size_t)K, sizeof(double));
    out->support = lector__calloc((size_t)K, sizeof(int64_t));
    out->confusion = lector__calloc(n_cells, sizeof(int64_t));
    if (!out->precision || !out->recall || !out->f1 || !out->support || !out->confusion) {
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

    double f1_sum = 0.0;
    for (int64_t k = 0; k < K; k++) {
        int64_t tp = out->confusion[k * K + k], predicted = 0;
        for (int64_t t = 0; t < K; t++) predicted += out->confusion[t * K + k];
        out->precision[k] = safe_div((double)tp, (double)predicted);
        out->recall[k] = safe_div((double)tp, (double)out->support[k]);
        // F1 = 2 tp / (2 tp + fp + fn), which is 0 (not 0/0) when the class never occurs.
        out->f1[k] = safe_div(2.0 * (double)tp, (double)(predicted + out->support[k]));
        f1_sum += out->f1[k];
    }
    out->macro_f1 = f1_sum / (double)K;
    // Micro-F1 pools tp, fp and fn over classes; with one label per example every error is one
    // fp and one fn, so it equals accuracy. Computed the long way so multi-label can reuse it.
    int64_t tp_all = 0, fp_fn = 0;
    for (int64_t k = 0; k < K; k++) {
        int64_t predicted = 0;
        for (int64_t t = 0; t < K; t++) predicted += out->confusion[t * K + k];
        tp_all += out->confusion[k * K + k];
        fp_fn += (predicted - out->confusion[k * K + k]) + (out->support[k] - out->confusion[k * K + k]);
    }
    out->micro_f1 = safe_div(2.0 * (double)tp_all, 2.0 * (double)tp_all + (double)fp_fn);
    out->ece = -1.0;
    out->log_loss = -1.0;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_metrics_compute_probs(const int32_t *y_true, const float *probs,
                                                int64_t n, int64_t K, struct lector_metrics *out,
                                                struct lector_error *err) {
    enum { N_BINS = 15 };
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (K < 1 || n < 0 || (n > 0 && (!y_true || !probs)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "metrics: expected K >= 1 classes and n >= 0 rows, got K=%lld, n=%lld",
                             (long long)K, (long long)n);
    int32_t *pred = lector__malloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    if (!pred) return lector__error(err, LECTOR_STATUS_NOMEM, "metrics: out of memory");
    double conf_sum[N_BINS] = {0}, hit[N_BINS] = {0}, count[N_BINS] = {0}, nll = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + i * K;
        int64_t b = 0;
        for (int64_t k = 1; k < K; k++)
            if (p[k] > p[b]) b = k;
        pred[i] = (int32_t)b;
        double c = (double)p[b];
        int bin = (int)ceil(c * N_BINS) - 1; // bins (lo, hi]; confidence 0 goes to the first
        if (bin < 0) bin = 0;
        if (bin >= N_BINS) bin = N_BINS - 1;
        conf_sum[bin] += c;
        count[bin] += 1.0;
        if (y_true[i] >= 0 && y_true[i] < K) {
            hit[bin] += b == y_true[i];
            double pt = (double)p[y_true[i]];
            nll += -log(pt > 1e-15 ? pt : 1e-15);
        }
    }
    enum lector_status s = lector_metrics_compute(y_true, pred, n, K, out, err);
    lector_free(pred);
    if (s != LECTOR_STATUS_OK) return s;
    double ece = 0.0;
    for (int b = 0; b < N_BINS; b++)
        if (count[b] > 0) ece += count[b] / (double)n * fabs(hit[b] / count[b] - conf_sum[b] / count[b]);
    out->ece = n > 0 ? ece : 0.0;
    out->log_loss = n > 0 ? nll / (double)n : 0.0;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_metrics_compute_multi(const uint8_t *Y, const float *probs,
                                                const float *thresholds, int64_t n, int64_t K,
                                                struct lector_metrics *out, struct lector_error *err) {
    enum { N_BINS = 15 };
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (K < 1 || n < 0 || (n > 0 && (!Y || !probs)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "metrics: expected K >= 1 labels and n >= 0 rows, got K=%lld, n=%lld",
                             (long long)K, (long long)n);
    out->n_classes = K;
    out->n = n;
    out->precision = lector__calloc((size_t)K, sizeof(double));
    out->recall = lector__calloc((size_t)K, sizeof(double));
    out->f1 = lector__calloc((size_t)K, sizeof(double));
    out->support = lector__calloc((size_t)K, sizeof(int64_t));
    int64_t *tp = lector__calloc((size_t)K, sizeof *tp), *pp = lector__calloc((size_t)K, sizeof *pp);
    if (!out->precision || !out->recall || !out->f1 || !out->support || !tp || !pp) {
        lector_free(tp);
        lector_free(pp);
        lector_metrics_free(out);
        return lector__error(err, LECTOR_STATUS_NOMEM, "metrics: out of memory");
    }
    double conf_sum[N_BINS] = {0}, hit[N_BINS] = {0}, count[N_BINS] = {0}, nll = 0.0;
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
            double c = pred ? p : 1.0 - p;
            int bin = (int)ceil(c * N_BINS) - 1;
            if (bin < 0) bin = 0;
            if (bin >= N_BINS) bin = N_BINS - 1;
            conf_sum[bin] += c;
            count[bin] += 1.0;
            hit[bin] += t == pred;
            double pt = t ? p : 1.0 - p;
            nll += -log(pt > 1e-15 ? pt : 1e-15);
        }
        exact += all;
    }
    double f1_sum = 0.0;
    for (int64_t k = 0; k < K; k++) {
        out->precision[k] = safe_div((double)tp[k], (double)pp[k]);
        out->recall[k] = safe_div((double)tp[k], (double)out->support[k]);
        out->f1[k] = safe_div(2.0 * (double)tp[k], (double)(pp[k] + out->support[k]));
        f1_sum += out->f1[k];
        tp_all += tp[k];
        fp_fn += (pp[k] - tp[k]) + (out->support[k] - tp[k]);
    }
    out->macro_f1 = f1_sum / (double)K;
    out->micro_f1 = safe_div(2.0 * (double)tp_all, 2.0 * (double)tp_all + (double)fp_fn);
    out->accuracy = safe_div((double)exact, (double)n);
    double ece = 0.0, total = (double)n * (double)K;
    for (int b = 0; b < N_BINS; b++)
        if (count[b] > 0) ece += count[b] / total * fabs(hit[b] / count[b] - conf_sum[b] / count[b]);
    out->ece = n > 0 ? ece : 0.0;
    out->log_loss = n > 0 ? nll / total : 0.0;
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

// Training a (wide) linear head on frozen features: shuffled mini-batches, AdamW with warm-up
// and decay, gradient clipping, class weights, label smoothing, best-epoch selection on
// validation macro-F1 with early stopping, and temperature scaling.
#include "lector/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "lector/data.h"
#include "task/task_impl.h"

uint64_t lector_train_head_memory(int64_t C, int64_t S, int64_t K, const struct lector_train_params *p) {
    // In long double: 20k labels times a million n-gram buckets must not wrap around.
    const long double H = p->n_hidden > 0 && C > 0 ? (long double)p->n_hidden : 0.0L;
    const long double D = H > 0 ? H : (long double)C;
    const long double n_params = (long double)K * D + (long double)K + H * (long double)C + H +
                                 (long double)S * (long double)K;
    // params, grads, best copy, m and v: 4 bytes each; the decay mask 1; vmax 4 with amsgrad
    long double per = 21.0L;
    if (p->adamw.amsgrad || p->adamw_sparse.amsgrad) per += 4.0L;
    const long double bytes = n_params * per + (long double)S * 16.0L; // row stamps, touched list
    return bytes >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)bytes;
}

void lector_train_result_free(struct lector_train_result *r) {
    if (!r) return;
    lector_head_free(r->head);
    lector_free(r->history);
    lector_free(r->thresholds);
    memset(r, 0, sizeof *r);
}

// ---------------------------------------------------------------------------------------
// schedules

int lector_schedule_parse(const char *name) {
    if (!strcmp(name, "constant")) return LECTOR_SCHEDULE_CONSTANT;
    if (!strcmp(name, "linear")) return LECTOR_SCHEDULE_LINEAR;
    if (!strcmp(name, "cosine")) return LECTOR_SCHEDULE_COSINE;
    return -1;
}

double lector_schedule_factor(enum lector_schedule s, int64_t t, int64_t n_steps,
                              int64_t n_warmup) {
    if (t < n_warmup) return (double)(t + 1) / (double)n_warmup;
    if (s == LECTOR_SCHEDULE_CONSTANT || n_steps <= n_warmup) return 1.0;
    // Progress through the decay phase, 0 at its first step, reaching 1 one step after the end.
    double x = (double)(t - n_warmup) / (double)(n_steps - n_warmup);
    if (x > 1.0) x = 1.0;
    if (s == LECTOR_SCHEDULE_LINEAR) return 1.0 - x;
    return 0.5 * (1.0 + cos(3.14159265358979323846 * x));
}

// ---------------------------------------------------------------------------------------
// helpers

// splitmix64: a tiny, well-mixed generator; the same seed shuffles identically everywhere.
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void shuffle(int64_t *idx, int64_t n, uint64_t *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_u64(rng) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static int64_t argmax(const float *v, int64_t K) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

// Mean cross-entropy of softmax(z / T) over rows of logits (n, K).
static double nll_at(const float *logits, const int32_t *y, int64_t n, int64_t K, double T) {
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * K;
        double zmax = -HUGE_VAL;
        for (int64_t k = 0; k < K; k++)
            if ((double)z[k] / T > zmax) zmax = (double)z[k] / T;
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) sum += exp((double)z[k] / T - zmax);
        total += log(sum) - ((double)z[y[i]] / T - zmax);
    }
    return n ? total / (double)n : 0.0;
}

void lector__sigmoid(const float *z, int64_t n, float *p) {
    for (int64_t i = 0; i < n; i++)
        p[i] = z[i] >= 0.0f ? 1.0f / (1.0f + expf(-z[i])) : expf(z[i]) / (1.0f + expf(z[i]));
}

void lector__tune_thresholds(const uint8_t *Y, const float *probs, int64_t n, int64_t K, float *thr) {
    for (int64_t k = 0; k < K; k++) {
        double best_f1 = -1.0;
        for (int t = 1; t <= 19; t++) {
            const float th = 0.05f * (float)t;
            int64_t tp = 0, pp = 0, pos = 0;
            for (int64_t i = 0; i < n; i++) {
                bool pred = probs[i * K + k] >= th, y = Y[i * K + k] != 0;
                tp += pred && y;
                pp += pred;
                pos += y;
            }
            double f1 = pp + pos > 0 ? 2.0 * (double)tp / (double)(pp + pos) : 0.0;
            if (f1 > best_f1 + 1e-12 ||
                (fabs(f1 - best_f1) <= 1e-12 && fabsf(th - 0.5f) < fabsf(thr[k] - 0.5f))) {
                best_f1 = f1;
                thr[k] = th;
            }
        }
    }
}

float lector_fit_temperature(const float *logits, const int32_t *y, int64_t n, int64_t K) {
    if (n <= 0) return 1.0f;
    // The NLL is smooth and unimodal in ln T for a fixed set of logits; a golden-section
    // search needs no derivative and always lands inside the bracket.
    const double g = 0.6180339887498949;
    double a = log(0.05), b = log(20.0);
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = nll_at(logits, y, n, K, exp(x1)), f2 = nll_at(logits, y, n, K, exp(x2));
    for (int it = 0; it < 60; it++) {
        if (f1 <= f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = nll_at(logits, y, n, K, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = nll_at(logits, y, n, K, exp(x2));
        }
    }
    return (float)exp(0.5 * (a + b));
}

void lector__class_weights_balanced(const int32_t *y, int64_t n, int64_t K, float *cw) {
    for (int64_t k = 0; k < K; k++) cw[k] = 1.0f;
    for (int64_t k = 0; k < K; k++) {
        int64_t nk = 0;
        for (int64_t i = 0; i < n; i++) nk += y[i] == k;
        if (nk > 0) cw[k] = (float)((double)n / ((double)K * (double)nk));
    }
}

enum lector_status lector__valid_scores(const float *logits, const int32_t *y, const uint8_t *Y, int64_t n,
                                        int64_t K, float *probs, int32_t *pred, double *acc, double *f1,
                                        double *loss, struct lector_error *err) {
    struct lector_metrics m;
    enum lector_status s;
    if (Y) {
        lector__sigmoid(logits, n * K, probs);
        s = lector_metrics_compute_multi(Y, probs, NULL, n, K, &m, err);
    } else {
        for (int64_t i = 0; i < n; i++) pred[i] = (int32_t)argmax(logits + i * K, K);
        s = lector_metrics_compute(y, pred, n, K, &m, err);
    }
    if (s != LECTOR_STATUS_OK) return s;
    *acc = m.accuracy;
    *f1 = m.macro_f1;
    *loss = Y ? m.log_loss : nll_at(logits, y, n, K, 1.0);
    lector_metrics_free(&m);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_split_stratified(const int32_t *y, int64_t n, int64_t K,
                                           double fraction, uint64_t seed, int64_t *idx_train,
                                           int64_t *n_train, int64_t *idx_valid,
                                           int64_t *n_valid, struct lector_error *err) {
    *n_train = *n_valid = 0;
    if (!(fraction > 0.0 && fraction < 1.0) || K < 1 || n < 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "split: expected a fraction in (0, 1), got %g", fraction);
    int64_t *rows = lector__malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    uint8_t *is_valid = lector__calloc((size_t)(n > 0 ? n : 1), 1);
    if (!rows || !is_valid) {
        lector_free(rows);
        lector_free(is_valid);
        return lector__error(err, LECTOR_STATUS_NOMEM, "split: out of memory for %lld rows",
                             (long long)n);
    }
    uint64_t rng = seed ^ UINT64_C(0x73706c6974);
    for (int64_t k = 0; k < K; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == k) rows[m++] = i;
        if (m < 2) continue;
        int64_t take = (int64_t)floor(fraction * (double)m + 0.5);
        if (take < 1) take = 1;
        if (take > m - 1) take = m - 1;
        shuffle(rows, m, &rng);
        for (int64_t t = 0; t < take; t++) is_valid[rows[t]] = 1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (is_valid[i])
            idx_valid[(*n_valid)++] = i;
        else
            idx_train[(*n_train)++] = i;
    }
    lector_free(rows);
    lector_free(is_valid);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_split_folds(const int32_t *y, int64_t n, int64_t K, int64_t folds, uint64_t seed,
                                      int32_t *fold_of, struct lector_error *err) {
    if (folds < 2 || folds > n || K < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "folds: %lld folds of %lld rows (needs 2 to the rows)",
                             (long long)folds, (long long)n);
    int64_t *rows = lector__malloc((size_t)n * sizeof *rows);
    if (!rows) return lector__error(err, LECTOR_STATUS_NOMEM, "folds: out of memory for %lld rows", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K) {
            lector_free(rows);
            return lector__error(err, LECTOR_STATUS_INVALID_ARG, "folds: row %lld has class %d, outside [0, %lld)",
                                 (long long)i, (int)y[i], (long long)K);
        }
    uint64_t rng = seed ^ UINT64_C(0x666f6c6473);
    int64_t next = 0;
    for (int64_t k = 0; k < K; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == k) rows[m++] = i;
        shuffle(rows, m, &rng);
        for (int64_t t = 0; t < m; t++, next = (next + 1) % folds) fold_of[rows[t]] = (int32_t)next;
    }
    lector_free(rows);
    return LECTOR_STATUS_OK;
}

bool lector__gather_sparse(const struct lector_sparse_rows *sp, const int64_t *idx, int64_t B,
                           struct lector_sparse_rows *out, size_t *cap) {
    size_t nnz = 0;
    for (int64_t b = 0; b < B; b++) nnz += (size_t)(sp->offsets[idx[b] + 1] - sp->offsets[idx[b]]);
    if (nnz > *cap) {
        size_t nc = *cap ? *cap : 1024;
        while (nc < nnz) nc *= 2;
        int32_t *c = lector__realloc(out->cols, nc * sizeof *c);
        if (!c) return false;
        out->cols = c;
        float *v = lector__realloc(out->vals, nc * sizeof *v);
        if (!v) return false;
        out->vals = v;
        *cap = nc;
    }
    out->n_rows = B;
    out->n_cols = sp->n_cols;
    out->offsets[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t s0 = sp->offsets[idx[b]], s1 = sp->offsets[idx[b] + 1], o = out->offsets[b];
        memcpy(out->cols + o, sp->cols + s0, (size_t)(s1 - s0) * sizeof *out->cols);
        memcpy(out->vals + o, sp->vals + s0, (size_t)(s1 - s0) * sizeof *out->vals);
        out->offsets[b + 1] = o + (s1 - s0);
    }
    return true;
}

bool lector__list_touched(const struct lector_sparse_rows *sb, int64_t step, int64_t *stamp,
                          int64_t **touched, size_t *cap, int64_t *n_touched) {
    const size_t nnz = (size_t)sb->offsets[sb->n_rows];
    if (nnz > *cap) {
        int64_t *t = lector__realloc(*touched, nnz * sizeof *t);
        if (!t) return false;
        *touched = t;
        *cap = nnz;
    }
    int64_t m = 0;
    for (size_t j = 0; j < nnz; j++) {
        const int32_t c = sb->cols[j];
        if (stamp[c] == step) continue;
        stamp[c] = step;
        (*touched)[m++] = c;
    }
    *n_touched = m;
    return true;
}

// A view of rows [i, i + m) of sp (offsets are not rebased: the head reads offsets[r] ..
// offsets[r + 1] of the view, which is what a pointer into the original array gives).
static struct lector_sparse_rows sparse_slice(const struct lector_sparse_rows *sp, int64_t i,
                                              int64_t m) {
    struct lector_sparse_rows v = {m, sp->n_cols, sp->offsets + i, sp->cols, sp->vals};
    return v;
}

// Logits of the head for all rows of a standardised split (Z (n, C), sparse sp).
static enum lector_status all_logits(const struct lector_head *head, const float *Z,
                                     const struct lector_sparse_rows *sp, int64_t n, int64_t C, int64_t K,
                                     float *logits, struct lector_error *err) {
    const int64_t chunk = 256;
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t m = n - i < chunk ? n - i : chunk;
        struct lector_sparse_rows v;
        if (sp) v = sparse_slice(sp, i, m);
        enum lector_status s =
            lector_head_forward(head, C > 0 ? Z + i * C : NULL, sp ? &v : NULL, m, logits + i * K, err);
        if (s != LECTOR_STATUS_OK) return s;
    }
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------
// the training loop

// One lector_train_head call: its inputs, its buffers and where the training stands.
struct fit {
    const struct lector_train_set *train, *valid;
    const struct lector_train_params *p;
    int64_t n, n_valid, C, S, K, Bmax;
    bool multi;
    float *mu, *sd;     // (C) the dense features' training mean and standard deviation
    float *Z, *Zv;      // (n, C), (n_valid, C) the dense features standardised
    float *xb;          // (Bmax, C) the batch's rows of Z
    int32_t *yb;        // (Bmax) the batch's labels
    uint8_t *Yb;        // (Bmax, K) the batch's multi-label targets
    float *vlogits;     // (n_valid, K)
    int32_t *vpred;     // (n_valid)
    float *vprobs;      // (n_valid, K)
    int64_t *idx;       // (n) the shuffled training order
    float *cw;          // (K) balanced class weights, when the loss uses them
    float *best;        // (n_params) the best epoch's parameters
    struct lector_head *head;
    struct lector_adamw *opt, *opt_sp; // [W | b | W1 | b1] and V
    struct lector_sparse_rows spb;     // the batch's n-gram rows
    size_t spb_cap;
    // n-gram rows (of V) the current batch touched, in first-seen order, and the step that
    // last listed each row: the sparse group's step, zeroing and clipping visit only these.
    int64_t *touched, *stamp, n_touched;
    size_t touched_cap;
    json_t *hist;
    struct lector_loss_params lp;
    struct lector_head_layout lay;
    int64_t n_params, n_dense;
    int64_t n_steps, n_warmup, step;
    double lr; // of the last step
    double best_f1, best_acc, best_loss, max_f1;
    int64_t best_epoch, since_best;
};

static enum lector_status nomem(const struct fit *f, struct lector_error *err) {
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "out of memory training on %lld x (%lld + %lld) features", (long long)f->n,
                         (long long)f->C, (long long)f->S);
}

// The arguments lector_train_head refuses, and a head over the memory budget (refused
// before any allocation: 20k labels over a million n-gram buckets would otherwise ask for
// hundreds of GB before anything is said).
static enum lector_status check_args(const struct lector_train_set *train,
                                     const struct lector_train_set *valid, int64_t C, int64_t K,
                                     const struct lector_train_params *p,
                                     struct lector_error *err) {
    const int64_t n = train->n, n_valid = valid ? valid->n : 0;
    const int64_t S = train->sp ? train->sp->n_cols : 0;
    if (n <= 0 || C < 0 || C + S < 1 || K < 2)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "training needs examples, features and at least 2 classes (got %lld "
                             "examples, %lld + %lld features, %lld classes)",
                             (long long)n, (long long)C, (long long)S, (long long)K);
    if (p->n_epochs <= 0 || p->batch_size <= 0 || !(p->warmup >= 0.0f && p->warmup < 1.0f) ||
        p->n_hidden < 0 || (p->n_hidden > 0 && C < 1) || !(p->dropout >= 0.0f && p->dropout < 1.0f) ||
        !(p->clip_norm >= 0.0f) || !(p->label_smoothing >= 0.0f && p->label_smoothing < 1.0f) ||
        p->patience < 0 || !(p->min_delta >= 0.0f && p->min_delta < 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "epochs and batch size must be positive, warm-up, label smoothing and "
                             "dropout in [0, 1), clip norm and patience >= 0, min delta in [0, 1), and a "
                             "hidden layer needs dense features");
    if ((C > 0 && (!train->X || (n_valid > 0 && !valid->X))) ||
        (S > 0 && n_valid > 0 && (!valid->sp || valid->sp->n_cols != S)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "training and validation sets have different features");
    const bool multi = train->Y != NULL;
    if (multi && n_valid > 0 && !valid->Y)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "multi-label training needs validation targets");
    for (int64_t i = 0; i < n && !multi; i++)
        if (train->y[i] < 0 || train->y[i] >= K)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG, "label %d of row %lld outside [0, %lld)",
                                 train->y[i], (long long)i, (long long)K);
    for (int64_t i = 0; i < n_valid && !multi; i++)
        if (valid->y[i] < 0 || valid->y[i] >= K)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "validation label %d of row %lld outside [0, %lld)", valid->y[i],
                                 (long long)i, (long long)K);
    const uint64_t need = lector_train_head_memory(C, S, K, p);
    if (p->max_memory > 0 && need > p->max_memory)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "the head (K=%lld labels, C=%lld dense inputs, H=%lld hidden units, S=%lld "
                             "n-gram features) and its optimiser state need %.1f MB, over the memory budget "
                             "of %.1f MB",
                             (long long)K, (long long)C, (long long)p->n_hidden, (long long)S,
                             (double)need / 1e6, (double)p->max_memory / 1e6);
    return LECTOR_STATUS_OK;
}

// The buffers whose size the sets and C, S, K, Bmax give; false when one is missing.
static bool fit_alloc(struct fit *f) {
    const int64_t n = f->n, n_valid = f->n_valid, C = f->C, S = f->S, K = f->K, Bmax = f->Bmax;
    size_t nc = 0, nvc = 0;
    if (!lector__mul_size((size_t)n, (size_t)(C > 0 ? C : 1), &nc) ||
        !lector__mul_size((size_t)(n_valid > 0 ? n_valid : 1), (size_t)(C > 0 ? C : 1), &nvc))
        return false;
    f->mu = lector__calloc((size_t)(C > 0 ? C : 1), sizeof *f->mu);
    f->sd = lector__calloc((size_t)(C > 0 ? C : 1), sizeof *f->sd);
    f->Z = C > 0 ? lector__malloc(nc * sizeof *f->Z) : NULL;
    f->Zv = C > 0 && n_valid > 0 ? lector__malloc(nvc * sizeof *f->Zv) : NULL;
    f->xb = lector__malloc((size_t)Bmax * (size_t)(C > 0 ? C : 1) * sizeof *f->xb);
    f->yb = lector__malloc((size_t)Bmax * sizeof *f->yb);
    f->vlogits = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * (size_t)K * sizeof *f->vlogits);
    f->vpred = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * sizeof *f->vpred);
    f->vprobs = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * (size_t)K * sizeof *f->vprobs);
    f->Yb = f->multi ? lector__malloc((size_t)Bmax * (size_t)K) : NULL;
    f->idx = lector__malloc((size_t)n * sizeof *f->idx);
    f->cw = lector__malloc((size_t)K * sizeof *f->cw);
    f->spb.offsets = S > 0 ? lector__malloc((size_t)(Bmax + 1) * sizeof *f->spb.offsets) : NULL;
    f->stamp = S > 0 ? lector__malloc((size_t)S * sizeof *f->stamp) : NULL;
    for (int64_t j = 0; j < S && f->stamp; j++) f->stamp[j] = -1;
    return !((S > 0 && !f->stamp) || !f->mu || !f->sd || (C > 0 && !f->Z) ||
             (C > 0 && n_valid > 0 && !f->Zv) || !f->xb || !f->yb || !f->vlogits || !f->vpred ||
             !f->vprobs || (f->multi && !f->Yb) || !f->idx || !f->cw ||
             (S > 0 && !f->spb.offsets) || !f->hist);
}

static void fit_free(struct fit *f) {
    json_decref(f->hist);
    lector_sparse_rows_free(&f->spb);
    lector_free(f->touched);
    lector_free(f->stamp);
    lector_adamw_free(f->opt_sp);
    lector_adamw_free(f->opt);
    lector_head_free(f->head);
    lector_free(f->best);
    lector_free(f->cw);
    lector_free(f->idx);
    lector_free(f->vpred);
    lector_free(f->vprobs);
    lector_free(f->Yb);
    lector_free(f->vlogits);
    lector_free(f->yb);
    lector_free(f->xb);
    lector_free(f->Zv);
    lector_free(f->Z);
    lector_free(f->sd);
    lector_free(f->mu);
}

// Standardise each dense feature on the training set: frozen encoder features have very
// different scales per dimension, and AdamW converges far faster on z-scores. The scaling
// is folded back into W and b at the end (fold_standardisation), so the saved head takes
// raw features. The sparse TF-IDF rows are already unit-normalised and are used as they are.
static void standardise(struct fit *f) {
    const int64_t n = f->n, C = f->C;
    const float *X = f->train->X;
    for (int64_t c = 0; c < C; c++) {
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < n; i++) m += (double)X[i * C + c];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)X[i * C + c] - m;
            v += d * d;
        }
        v /= (double)n;
        f->mu[c] = (float)m;
        f->sd[c] = (float)(v > 1e-12 ? sqrt(v) : 1.0);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++) f->Z[i * C + c] = (X[i * C + c] - f->mu[c]) / f->sd[c];
    for (int64_t i = 0; i < f->n_valid && C > 0; i++)
        for (int64_t c = 0; c < C; c++)
            f->Zv[i * C + c] = (f->valid->X[i * C + c] - f->mu[c]) / f->sd[c];
}

// The head, its two optimiser groups over the one parameter array ([W | b | W1 | b1] and
// V), and the best parameters so far (the initial ones).
static enum lector_status head_new(struct fit *f, struct lector_error *err) {
    const struct lector_train_params *p = f->p;
    enum lector_status s =
        lector_head_new(&(struct lector_head_shape){f->C, p->n_hidden, f->S, f->K}, p->seed, &f->head, err);
    if (s != LECTOR_STATUS_OK) return s;
    f->n_params = lector_head_n_params(f->head);
    f->lay = lector_head_get_layout(f->head);
    f->n_dense = f->lay.V;
    s = lector_adamw_new(f->n_dense, &p->adamw, &f->opt, err);
    if (s != LECTOR_STATUS_OK) return s;
    if (f->S > 0) {
        s = lector_adamw_new(f->n_params - f->n_dense, &p->adamw_sparse, &f->opt_sp, err);
        if (s != LECTOR_STATUS_OK) return s;
    }
    f->best = lector__malloc((size_t)f->n_params * sizeof *f->best);
    if (!f->best) return nomem(f, err);
    memcpy(f->best, lector_head_params(f->head), (size_t)f->n_params * sizeof *f->best);
    return LECTOR_STATUS_OK;
}

// Clip the gradient to p->clip_norm: its global L2 norm over the dense part and the touched
// rows (the other grads are zero), summed in a fixed order in double: deterministic.
static void clip_grads(struct fit *f, float *grads) {
    const int64_t n_dense = f->n_dense, K = f->K;
    double g2 = 0.0;
    for (int64_t i = 0; i < n_dense; i++) g2 += (double)grads[i] * (double)grads[i];
    for (int64_t j = 0; j < f->n_touched; j++) {
        const float *g = grads + n_dense + f->touched[j] * K;
        for (int64_t k = 0; k < K; k++) g2 += (double)g[k] * (double)g[k];
    }
    double gn = sqrt(g2);
    if (gn > (double)f->p->clip_norm) {
        float scale = (float)((double)f->p->clip_norm / (gn + 1e-6));
        for (int64_t i = 0; i < n_dense; i++) grads[i] *= scale;
        for (int64_t j = 0; j < f->n_touched; j++) {
            float *g = grads + n_dense + f->touched[j] * K;
            for (int64_t k = 0; k < K; k++) g[k] *= scale;
        }
    }
}

// One optimiser step on the B rows at idx[start ..]; *loss is the batch's.
static enum lector_status train_batch(struct fit *f, int64_t epoch, int64_t start, int64_t B,
                                      float *loss, struct lector_error *err) {
    const struct lector_train_params *p = f->p;
    const int64_t C = f->C, S = f->S, K = f->K, n_dense = f->n_dense;
    const int64_t *idx = f->idx;
    for (int64_t b = 0; b < B; b++) {
        if (C > 0) memcpy(f->xb + b * C, f->Z + idx[start + b] * C, (size_t)C * sizeof *f->xb);
        if (f->multi)
            memcpy(f->Yb + b * K, f->train->Y + idx[start + b] * K, (size_t)K);
        else
            f->yb[b] = f->train->y[idx[start + b]];
    }
    if (S > 0) {
        if (!lector__gather_sparse(f->train->sp, idx + start, B, &f->spb, &f->spb_cap))
            return nomem(f, err);
        if (!lector__list_touched(&f->spb, f->step, f->stamp, &f->touched, &f->touched_cap,
                                  &f->n_touched))
            return nomem(f, err);
    }
    *loss = 0.0f;
    f->lp.dropout_seed = p->seed ^ ((uint64_t)f->step * UINT64_C(0x9e3779b97f4a7c15));
    // grads are zero here: all of them at the start, then the dense part and the touched
    // rows after each step (the only ones a step writes)
    lector_head_loss_backward(f->head, C > 0 ? f->xb : NULL, S > 0 ? &f->spb : NULL, f->yb, B,
                              &f->lp, loss, NULL);
    if (!isfinite(*loss))
        return lector__error(err, LECTOR_STATUS_RANGE,
                             "training diverged: loss is %s in epoch %lld; try a smaller --lr",
                             isnan(*loss) ? "NaN" : "infinite", (long long)epoch);
    float *grads = lector_head_grads(f->head), *params = lector_head_params(f->head);
    const uint8_t *mask = lector_head_decay_mask(f->head);
    if (p->clip_norm > 0.0f) clip_grads(f, grads);
    const double fac = lector_schedule_factor(p->schedule, f->step, f->n_steps, f->n_warmup);
    f->lr = (double)p->adamw.lr * fac;
    lector_adamw_set_lr(f->opt, (float)f->lr);
    lector_adamw_step(f->opt, params, grads, mask);
    memset(grads, 0, (size_t)n_dense * sizeof *grads);
    if (f->opt_sp) {
        lector_adamw_set_lr(f->opt_sp, (float)((double)p->adamw_sparse.lr * fac));
        enum lector_status s =
            lector_adamw_step_rows(f->opt_sp, params + n_dense, grads + n_dense, mask + n_dense,
                                   f->touched, f->n_touched, K, err);
        if (s != LECTOR_STATUS_OK) return s;
        for (int64_t j = 0; j < f->n_touched; j++)
            memset(grads + n_dense + f->touched[j] * K, 0, (size_t)K * sizeof *grads);
    }
    f->step++;
    return LECTOR_STATUS_OK;
}

// One pass over the training set in a new shuffled order; *train_loss is the mean batch loss.
static enum lector_status train_epoch(struct fit *f, int64_t epoch, uint64_t *rng,
                                      double *train_loss, struct lector_error *err) {
    const struct lector_train_params *p = f->p;
    const int64_t n = f->n, Bmax = f->Bmax;
    shuffle(f->idx, n, rng);
    double loss_sum = 0.0;
    int64_t n_batches = 0;
    for (int64_t start = 0; start < n; start += Bmax) {
        if (p->cancel && *p->cancel)
            return lector__error(err, LECTOR_STATUS_INTERRUPTED, "training interrupted in epoch %lld",
                                 (long long)epoch);
        int64_t B = n - start < Bmax ? n - start : Bmax;
        float loss;
        enum lector_status s = train_batch(f, epoch, start, B, &loss, err);
        if (s != LECTOR_STATUS_OK) return s;
        loss_sum += (double)loss;
        n_batches++;
        if (p->on_step) p->on_step(p->user, epoch, f->step, f->n_steps, (double)loss);
    }
    // the n-gram rows not touched lately still owe their weight decay
    if (f->opt_sp)
        lector_adamw_sync_rows(f->opt_sp, lector_head_params(f->head) + f->n_dense,
                               lector_head_decay_mask(f->head) + f->n_dense);
    *train_loss = loss_sum / (double)n_batches;
    return LECTOR_STATUS_OK;
}

// e's validation scores, whether its epoch is the best so far (better macro-F1 by more than
// min_delta, or as good within min_delta of both the best and the highest seen, with a
// lower loss; every epoch without validation), the best parameters kept, and its line of
// the history.
static enum lector_status judge_epoch(struct fit *f, struct lector_epoch_info *e,
                                      struct lector_error *err) {
    const int64_t n_valid = f->n_valid, K = f->K;
    if (n_valid > 0) {
        enum lector_status s =
            all_logits(f->head, f->Zv, f->valid->sp, n_valid, f->C, K, f->vlogits, err);
        if (s != LECTOR_STATUS_OK) return s;
        s = lector__valid_scores(f->vlogits, f->valid->y, f->multi ? f->valid->Y : NULL, n_valid, K,
                                 f->vprobs, f->vpred, &e->valid_accuracy, &e->valid_macro_f1,
                                 &e->valid_loss, err);
        if (s != LECTOR_STATUS_OK) return s;
    }
    if (n_valid <= 0) {
        e->is_best = 1;
    } else {
        const double f1 = e->valid_macro_f1, d = (double)f->p->min_delta;
        if (f1 > f->max_f1) f->max_f1 = f1;
        e->is_best = f->best_f1 < 0.0 || f1 > f->best_f1 + d ||
                     (f1 >= f->best_f1 - d && f1 >= f->max_f1 - d && e->valid_loss < f->best_loss);
    }
    if (e->is_best) {
        f->best_f1 = e->valid_macro_f1;
        f->best_loss = e->valid_loss;
        f->best_acc = e->valid_accuracy;
        f->best_epoch = e->epoch;
        f->since_best = 0;
        memcpy(f->best, lector_head_params(f->head), (size_t)f->n_params * sizeof *f->best);
    } else {
        f->since_best++;
    }
    json_t *je = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", (json_int_t)e->epoch,
                           "train_loss", e->train_loss, "valid_loss", e->valid_loss,
                           "valid_accuracy", e->valid_accuracy, "valid_macro_f1",
                           e->valid_macro_f1, "lr", e->lr);
    if (je) json_array_append_new(f->hist, je);
    return LECTOR_STATUS_OK;
}

// out->head: a new head with the best parameters, the standardisation folded into the layer
// that reads x: W' = W / sd, b' = b - W' mu (W1 and b1 for an MLP).
static enum lector_status fold_standardisation(const struct fit *f, struct lector_train_result *out,
                                               struct lector_error *err) {
    const struct lector_train_params *p = f->p;
    const int64_t C = f->C;
    enum lector_status s =
        lector_head_new(&(struct lector_head_shape){C, p->n_hidden, f->S, f->K}, p->seed, &out->head, err);
    if (s != LECTOR_STATUS_OK) return s;
    float *q = lector_head_params(out->head);
    memcpy(q, f->best, (size_t)f->n_params * sizeof *q);
    const bool mlp = p->n_hidden > 0;
    const int64_t rows = mlp ? p->n_hidden : f->K;
    float *Wx = q + (mlp ? f->lay.W1 : f->lay.W), *bx = q + (mlp ? f->lay.b1 : f->lay.b);
    for (int64_t k = 0; k < rows; k++) {
        double bk = (double)bx[k];
        for (int64_t c = 0; c < C; c++) {
            Wx[k * C + c] = Wx[k * C + c] / f->sd[c];
            bk -= (double)Wx[k * C + c] * (double)f->mu[c];
        }
        bx[k] = (float)bk;
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector_train_head(const struct lector_train_set *train,
                                     const struct lector_train_set *valid, int64_t C, int64_t K,
                                     const struct lector_train_params *p,
                                     struct lector_train_result *out, struct lector_error *err) {
    memset(out, 0, sizeof *out);
    enum lector_status s = check_args(train, valid, C, K, p, err);
    if (s != LECTOR_STATUS_OK) return s;
    const int64_t n = train->n, n_valid = valid ? valid->n : 0;
    struct fit f = {.train = train,
                    .valid = valid,
                    .p = p,
                    .n = n,
                    .n_valid = n_valid,
                    .C = C,
                    .S = train->sp ? train->sp->n_cols : 0,
                    .K = K,
                    .Bmax = p->batch_size,
                    .multi = train->Y != NULL,
                    .hist = json_array(),
                    .best_f1 = -1.0,
                    .best_acc = -1.0,
                    .best_loss = HUGE_VAL,
                    .max_f1 = -1.0};
    if (!fit_alloc(&f)) {
        s = nomem(&f, err);
        goto fail;
    }
    standardise(&f);
    // class weights: scikit-learn's "balanced" when asked for (single-label)
    const bool weighted = p->class_weight_balanced && !f.multi;
    if (weighted) lector__class_weights_balanced(train->y, n, K, f.cw);
    f.lp = (struct lector_loss_params){weighted ? f.cw : NULL, p->label_smoothing, p->dropout, 0,
                                       f.multi ? f.Yb : NULL};
    s = head_new(&f, err);
    if (s != LECTOR_STATUS_OK) goto fail;

    const int64_t steps_per_epoch = (n + f.Bmax - 1) / f.Bmax;
    f.n_steps = steps_per_epoch * p->n_epochs;
    f.n_warmup = (int64_t)((double)p->warmup * (double)f.n_steps);
    uint64_t rng = p->seed ^ 0x6c6563746f72ULL;
    lector_head_zero_grad(f.head);
    for (int64_t i = 0; i < n; i++) f.idx[i] = i;
    f.lr = (double)p->adamw.lr;
    int64_t epoch;
    for (epoch = 1; epoch <= p->n_epochs; epoch++) {
        struct lector_epoch_info e = {epoch, 0.0, -1.0, -1.0, -1.0, 0.0, 0};
        s = train_epoch(&f, epoch, &rng, &e.train_loss, err);
        if (s != LECTOR_STATUS_OK) goto fail;
        e.lr = f.lr;
        s = judge_epoch(&f, &e, err);
        if (s != LECTOR_STATUS_OK) goto fail;
        if ((p->on_epoch && p->on_epoch(p->user, &e)) || (p->patience > 0 && f.since_best >= p->patience)) {
            epoch++;
            break;
        }
    }
    out->n_epochs_run = epoch - 1;

    s = fold_standardisation(&f, out, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    out->best_epoch = f.best_epoch;
    out->valid_accuracy = f.best_acc;
    out->valid_macro_f1 = f.best_f1;
    out->temperature = 1.0f;
    if (n_valid > 0 && (p->calibrate || f.multi)) {
        // The returned head's logits on the raw validation features: its temperature, or
        // (multi-label) its per-label thresholds.
        s = all_logits(out->head, valid->X, valid->sp, n_valid, C, K, f.vlogits, err);
        if (s != LECTOR_STATUS_OK) goto done;
        if (!f.multi) out->temperature = lector_fit_temperature(f.vlogits, valid->y, n_valid, K);
    }
    if (f.multi) {
        out->thresholds = lector__malloc((size_t)K * sizeof *out->thresholds);
        if (!out->thresholds) {
            s = nomem(&f, err);
            goto fail;
        }
        for (int64_t k = 0; k < K; k++) out->thresholds[k] = 0.5f;
        if (n_valid > 0) {
            lector__sigmoid(f.vlogits, n_valid * K, f.vprobs);
            lector__tune_thresholds(valid->Y, f.vprobs, n_valid, K, out->thresholds);
        }
    }
    out->history = json_dumps(f.hist, JSON_COMPACT | JSON_REAL_PRECISION(6));
    goto done;
fail:
    lector_train_result_free(out);
done:
    fit_free(&f);
    return s;
}

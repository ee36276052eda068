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

enum lector_status lector_train_head(const struct lector_train_set *train,
                                     const struct lector_train_set *valid, int64_t C, int64_t K,
                                     const struct lector_train_params *p,
                                     struct lector_train_result *out, struct lector_error *err) {
    memset(out, 0, sizeof *out);
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

    // Refused before any allocation: 20k labels over a million n-gram buckets would otherwise
    // ask for hundreds of GB before anything is said.
    const uint64_t need = lector_train_head_memory(C, S, K, p);
    if (p->max_memory > 0 && need > p->max_memory)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "the head (K=%lld labels, C=%lld dense inputs, H=%lld hidden units, S=%lld "
                             "n-gram features) and its optimiser state need %.1f MB, over the memory budget "
                             "of %.1f MB",
                             (long long)K, (long long)C, (long long)p->n_hidden, (long long)S,
                             (double)need / 1e6, (double)p->max_memory / 1e6);
    enum lector_status s = LECTOR_STATUS_OK;
    const int64_t Bmax = p->batch_size;
    float *mu = NULL, *sd = NULL, *Z = NULL, *Zv = NULL, *xb = NULL, *vlogits = NULL, *best = NULL;
    float *cw = NULL;
    int32_t *yb = NULL, *vpred = NULL;
    uint8_t *Yb = NULL;
    float *vprobs = NULL;
    int64_t *idx = NULL;
    struct lector_head *head = NULL;
    struct lector_adamw *opt = NULL, *opt_sp = NULL;
    struct lector_sparse_rows spb = {0};
    size_t spb_cap = 0;
    // n-gram rows (of V) the current batch touched, in first-seen order, and the step that
    // last listed each row: the sparse group's step, zeroing and clipping visit only these.
    int64_t *touched = NULL, *stamp = NULL, n_touched = 0;
    size_t touched_cap = 0;
    json_t *hist = json_array();

    size_t nc = 0, nvc = 0;
    if (!lector__mul_size((size_t)n, (size_t)(C > 0 ? C : 1), &nc) ||
        !lector__mul_size((size_t)(n_valid > 0 ? n_valid : 1), (size_t)(C > 0 ? C : 1), &nvc))
        goto nomem;
    mu = lector__calloc((size_t)(C > 0 ? C : 1), sizeof *mu);
    sd = lector__calloc((size_t)(C > 0 ? C : 1), sizeof *sd);
    Z = C > 0 ? lector__malloc(nc * sizeof *Z) : NULL;
    Zv = C > 0 && n_valid > 0 ? lector__malloc(nvc * sizeof *Zv) : NULL;
    xb = lector__malloc((size_t)Bmax * (size_t)(C > 0 ? C : 1) * sizeof *xb);
    yb = lector__malloc((size_t)Bmax * sizeof *yb);
    vlogits = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * (size_t)K * sizeof *vlogits);
    vpred = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * sizeof *vpred);
    vprobs = lector__malloc((size_t)(n_valid > 0 ? n_valid : 1) * (size_t)K * sizeof *vprobs);
    Yb = multi ? lector__malloc((size_t)Bmax * (size_t)K) : NULL;
    idx = lector__malloc((size_t)n * sizeof *idx);
    cw = lector__malloc((size_t)K * sizeof *cw);
    spb.offsets = S > 0 ? lector__malloc((size_t)(Bmax + 1) * sizeof *spb.offsets) : NULL;
    stamp = S > 0 ? lector__malloc((size_t)S * sizeof *stamp) : NULL;
    for (int64_t j = 0; j < S && stamp; j++) stamp[j] = -1;
    if ((S > 0 && !stamp) || !mu || !sd || (C > 0 && !Z) || (C > 0 && n_valid > 0 && !Zv) || !xb || !yb ||
        !vlogits || !vpred || !vprobs || (multi && !Yb) || !idx || !cw || (S > 0 && !spb.offsets) ||
        !hist)
        goto nomem;

    // Standardise each dense feature on the training set: frozen encoder features have very
    // different scales per dimension, and AdamW converges far faster on z-scores. The
    // scaling is folded back into W and b at the end, so the saved head takes raw features.
    // The sparse TF-IDF rows are already unit-normalised and are used as they are.
    for (int64_t c = 0; c < C; c++) {
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < n; i++) m += (double)train->X[i * C + c];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)train->X[i * C + c] - m;
            v += d * d;
        }
        v /= (double)n;
        mu[c] = (float)m;
        sd[c] = (float)(v > 1e-12 ? sqrt(v) : 1.0);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++) Z[i * C + c] = (train->X[i * C + c] - mu[c]) / sd[c];
    for (int64_t i = 0; i < n_valid && C > 0; i++)
        for (int64_t c = 0; c < C; c++) Zv[i * C + c] = (valid->X[i * C + c] - mu[c]) / sd[c];

    // Class weights: scikit-learn's "balanced", n / (K n_k); a class absent from training
    // gets weight 1 (it never occurs as a target anyway).
    for (int64_t k = 0; k < K; k++) cw[k] = 1.0f;
    if (p->class_weight_balanced && !multi) {
        for (int64_t k = 0; k < K; k++) {
            int64_t nk = 0;
            for (int64_t i = 0; i < n; i++) nk += train->y[i] == k;
            if (nk > 0) cw[k] = (float)((double)n / ((double)K * (double)nk));
        }
    }
    struct lector_loss_params lp = {p->class_weight_balanced && !multi ? cw : NULL,
                                    p->label_smoothing, p->dropout, 0, multi ? Yb : NULL};

    s = lector_head_new(&(struct lector_head_shape){C, p->n_hidden, S, K}, p->seed, &head, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    const int64_t n_params = lector_head_n_params(head);
    const struct lector_head_layout lay = lector_head_get_layout(head);
    // Two parameter groups over the one parameter array: [W | b | W1 | b1] and V.
    const int64_t n_dense = lay.V;
    s = lector_adamw_new(n_dense, &p->adamw, &opt, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    if (S > 0) {
        s = lector_adamw_new(n_params - n_dense, &p->adamw_sparse, &opt_sp, err);
        if (s != LECTOR_STATUS_OK) goto fail;
    }
    best = lector__malloc((size_t)n_params * sizeof *best);
    if (!best) goto nomem;
    memcpy(best, lector_head_params(head), (size_t)n_params * sizeof *best);
    double best_f1 = -1.0, best_acc = -1.0, best_loss = HUGE_VAL, max_f1 = -1.0;
    int64_t best_epoch = 0, since_best = 0;

    const int64_t steps_per_epoch = (n + Bmax - 1) / Bmax;
    const int64_t n_steps = steps_per_epoch * p->n_epochs;
    const int64_t n_warmup = (int64_t)((double)p->warmup * (double)n_steps);
    int64_t step = 0;
    uint64_t rng = p->seed ^ 0x6c6563746f72ULL;
    float *grads = lector_head_grads(head), *params = lector_head_params(head);
    const uint8_t *mask = lector_head_decay_mask(head);
    lector_head_zero_grad(head);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    int64_t epoch;
    double lr = (double)p->adamw.lr;
    for (epoch = 1; epoch <= p->n_epochs; epoch++) {
        shuffle(idx, n, &rng);
        double loss_sum = 0.0;
        int64_t n_batches = 0;
        for (int64_t start = 0; start < n; start += Bmax) {
            if (p->cancel && *p->cancel) {
                s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "training interrupted in epoch %lld",
                                  (long long)epoch);
                goto fail;
            }
            int64_t B = n - start < Bmax ? n - start : Bmax;
            for (int64_t b = 0; b < B; b++) {
                if (C > 0) memcpy(xb + b * C, Z + idx[start + b] * C, (size_t)C * sizeof *xb);
                if (multi)
                    memcpy(Yb + b * K, train->Y + idx[start + b] * K, (size_t)K);
                else
                    yb[b] = train->y[idx[start + b]];
            }
            if (S > 0) {
                if (!lector__gather_sparse(train->sp, idx + start, B, &spb, &spb_cap)) goto nomem;
                if (!lector__list_touched(&spb, step, stamp, &touched, &touched_cap, &n_touched))
                    goto nomem;
            }
            float loss = 0.0f;
            lp.dropout_seed = p->seed ^ ((uint64_t)step * UINT64_C(0x9e3779b97f4a7c15));
            // grads are zero here: all of them at the start, then the dense part and the
            // touched rows after each step (the only ones a step writes)
            lector_head_loss_backward(head, C > 0 ? xb : NULL, S > 0 ? &spb : NULL, yb, B, &lp,
                                         &loss, NULL);
            if (!isfinite(loss)) {
                s = lector__error(err, LECTOR_STATUS_RANGE,
                                  "training diverged: loss is %s in epoch %lld; try a smaller --lr",
                                  isnan(loss) ? "NaN" : "infinite", (long long)epoch);
                goto fail;
            }
            if (p->clip_norm > 0.0f) {
                // Global L2 norm over the dense part and the touched rows (the other grads
                // are zero), summed in a fixed order in double: deterministic.
                double g2 = 0.0;
                for (int64_t i = 0; i < n_dense; i++) g2 += (double)grads[i] * (double)grads[i];
                for (int64_t j = 0; j < n_touched; j++) {
                    const float *g = grads + n_dense + touched[j] * K;
                    for (int64_t k = 0; k < K; k++) g2 += (double)g[k] * (double)g[k];
                }
                double gn = sqrt(g2);
                if (gn > (double)p->clip_norm) {
                    float scale = (float)((double)p->clip_norm / (gn + 1e-6));
                    for (int64_t i = 0; i < n_dense; i++) grads[i] *= scale;
                    for (int64_t j = 0; j < n_touched; j++) {
                        float *g = grads + n_dense + touched[j] * K;
                        for (int64_t k = 0; k < K; k++) g[k] *= scale;
                    }
                }
            }
            const double f = lector_schedule_factor(p->schedule, step, n_steps, n_warmup);
            lr = (double)p->adamw.lr * f;
            lector_adamw_set_lr(opt, (float)lr);
            lector_adamw_step(opt, params, grads, mask);
            memset(grads, 0, (size_t)n_dense * sizeof *grads);
            if (opt_sp) {
                lector_adamw_set_lr(opt_sp, (float)((double)p->adamw_sparse.lr * f));
                s = lector_adamw_step_rows(opt_sp, params + n_dense, grads + n_dense,
                                           mask + n_dense, touched, n_touched, K, err);
                if (s != LECTOR_STATUS_OK) goto fail;
                for (int64_t j = 0; j < n_touched; j++)
                    memset(grads + n_dense + touched[j] * K, 0, (size_t)K * sizeof *grads);
            }
            step++;
            loss_sum += (double)loss;
            n_batches++;
            if (p->on_step) p->on_step(p->user, epoch, step, n_steps, (double)loss);
        }
        // the n-gram rows not touched lately still owe their weight decay
        if (opt_sp) lector_adamw_sync_rows(opt_sp, params + n_dense, mask + n_dense);
        struct lector_epoch_info e = {epoch, loss_sum / (double)n_batches, -1.0, -1.0, -1.0, lr, 0};
        if (n_valid > 0) {
            if ((s = all_logits(head, Zv, valid->sp, n_valid, C, K, vlogits, err)) != LECTOR_STATUS_OK) goto done;
            s = lector__valid_scores(vlogits, valid->y, multi ? valid->Y : NULL, n_valid, K, vprobs, vpred,
                                     &e.valid_accuracy, &e.valid_macro_f1, &e.valid_loss, err);
            if (s != LECTOR_STATUS_OK) goto fail;
        }
        if (n_valid <= 0) {
            e.is_best = 1;
        } else {
            const double f1 = e.valid_macro_f1, d = (double)p->min_delta;
            if (f1 > max_f1) max_f1 = f1;
            e.is_best = best_f1 < 0.0 || f1 > best_f1 + d ||
                        (f1 >= best_f1 - d && f1 >= max_f1 - d && e.valid_loss < best_loss);
        }
        if (e.is_best) {
            best_f1 = e.valid_macro_f1;
            best_loss = e.valid_loss;
            best_acc = e.valid_accuracy;
            best_epoch = epoch;
            since_best = 0;
            memcpy(best, params, (size_t)n_params * sizeof *best);
        } else {
            since_best++;
        }
        json_t *je = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", (json_int_t)epoch,
                               "train_loss", e.train_loss, "valid_loss", e.valid_loss,
                               "valid_accuracy", e.valid_accuracy, "valid_macro_f1",
                               e.valid_macro_f1, "lr", e.lr);
        if (je) json_array_append_new(hist, je);
        if (p->on_epoch && p->on_epoch(p->user, &e)) {
            epoch++;
            break;
        }
        if (p->patience > 0 && since_best >= p->patience) {
            epoch++;
            break;
        }
    }
    out->n_epochs_run = epoch - 1;

    // Fold the standardisation into the best parameters of the layer that reads x:
    // W' = W / sd, b' = b - W' mu (W1 and b1 for an MLP).
    {
        s = lector_head_new(&(struct lector_head_shape){C, p->n_hidden, S, K}, p->seed, &out->head, err);
        if (s != LECTOR_STATUS_OK) goto fail;
        float *q = lector_head_params(out->head);
        memcpy(q, best, (size_t)n_params * sizeof *q);
        const int64_t rows = p->n_hidden > 0 ? p->n_hidden : K;
        float *Wx = q + (p->n_hidden > 0 ? lay.W1 : lay.W), *bx = q + (p->n_hidden > 0 ? lay.b1 : lay.b);
        for (int64_t k = 0; k < rows; k++) {
            double bk = (double)bx[k];
            for (int64_t c = 0; c < C; c++) {
                Wx[k * C + c] = Wx[k * C + c] / sd[c];
                bk -= (double)Wx[k * C + c] * (double)mu[c];
            }
            bx[k] = (float)bk;
        }
    }
    out->best_epoch = best_epoch;
    out->valid_accuracy = best_acc;
    out->valid_macro_f1 = best_f1;
    out->temperature = 1.0f;
    if (n_valid > 0 && (p->calibrate || multi)) {
        // The returned head's logits on the raw validation features: its temperature, or
        // (multi-label) its per-label thresholds.
        if ((s = all_logits(out->head, valid->X, valid->sp, n_valid, C, K, vlogits, err)) != LECTOR_STATUS_OK)
            goto done;
        if (!multi) out->temperature = lector_fit_temperature(vlogits, valid->y, n_valid, K);
    }
    if (multi) {
        out->thresholds = lector__malloc((size_t)K * sizeof *out->thresholds);
        if (!out->thresholds) goto nomem;
        for (int64_t k = 0; k < K; k++) out->thresholds[k] = 0.5f;
        if (n_valid > 0) {
            lector__sigmoid(vlogits, n_valid * K, vprobs);
            lector__tune_thresholds(valid->Y, vprobs, n_valid, K, out->thresholds);
        }
    }
    out->history = json_dumps(hist, JSON_COMPACT | JSON_REAL_PRECISION(6));
    goto done;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory training on %lld x (%lld + %lld) features",
                      (long long)n, (long long)C, (long long)S);
fail:
    lector_train_result_free(out);
done:
    json_decref(hist);
    lector_sparse_rows_free(&spb);
    lector_free(touched);
    lector_free(stamp);
    lector_adamw_free(opt_sp);
    lector_adamw_free(opt);
    lector_head_free(head);
    lector_free(best);
    lector_free(cw);
    lector_free(idx);
    lector_free(vpred);
    lector_free(vprobs);
    lector_free(Yb);
    lector_free(vlogits);
    lector_free(yb);
    lector_free(xb);
    lector_free(Zv);
    lector_free(Z);
    lector_free(sd);
    lector_free(mu);
    return s;
}

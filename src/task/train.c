// Training a linear head on frozen features: shuffled mini-batches, AdamW, best-epoch selection.
#include "lector/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"

struct lector_train_params lector_train_default_params(void) {
    struct lector_train_params p;
    memset(&p, 0, sizeof p);
    p.n_epochs = 10;
    p.batch_size = 32;
    p.seed = 42;
    p.adamw = lector_adamw_default_params();
    return p;
}

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

// Accuracy of head on standardised features Z (n, C).
static double accuracy(const struct lector_head *head, const float *Z, const int32_t *y,
                       int64_t n, int64_t C, int64_t K, float *logits, int64_t chunk) {
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t m = n - i < chunk ? n - i : chunk;
        lector_head_forward(head, Z + i * C, m, logits);
        for (int64_t r = 0; r < m; r++) correct += argmax(logits + r * K, K) == y[i + r];
    }
    return n ? (double)correct / (double)n : 0.0;
}

enum lector_status lector_train_head(const float *X, const int32_t *y, int64_t n,
                                     const float *X_valid, const int32_t *y_valid,
                                     int64_t n_valid, int64_t C, int64_t K,
                                     const struct lector_train_params *p,
                                     struct lector_head **out, double *valid_accuracy,
                                     char **history, struct lector_error *err) {
    *out = NULL;
    if (history) *history = NULL;
    if (n <= 0 || C <= 0 || K < 2)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "training needs examples and at least 2 classes (got %lld examples, "
                             "%lld classes)", (long long)n, (long long)K);
    if (p->n_epochs <= 0 || p->batch_size <= 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "epochs and batch size must be positive");
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG, "label %d of row %lld outside [0, %lld)",
                                 y[i], (long long)i, (long long)K);

    enum lector_status s = LECTOR_STATUS_OK;
    const int64_t chunk = 256;
    float *mu = NULL, *sd = NULL, *Z = NULL, *Zv = NULL, *xb = NULL, *logits = NULL, *best = NULL;
    int32_t *yb = NULL;
    int64_t *idx = NULL;
    struct lector_head *head = NULL;
    struct lector_adamw *opt = NULL;
    json_t *hist = json_array();

    size_t nc, nvc;
    if (!lector__mul_size((size_t)n, (size_t)C, &nc) ||
        !lector__mul_size((size_t)(n_valid > 0 ? n_valid : 1), (size_t)C, &nvc))
        goto nomem;
    mu = lector__calloc((size_t)C, sizeof *mu);
    sd = lector__calloc((size_t)C, sizeof *sd);
    Z = lector__malloc(nc * sizeof *Z);
    Zv = n_valid > 0 ? lector__malloc(nvc * sizeof *Zv) : NULL;
    xb = lector__malloc((size_t)p->batch_size * (size_t)C * sizeof *xb);
    yb = lector__malloc((size_t)p->batch_size * sizeof *yb);
    logits = lector__malloc((size_t)chunk * (size_t)K * sizeof *logits);
    idx = lector__malloc((size_t)n * sizeof *idx);
    if (!mu || !sd || !Z || (n_valid > 0 && !Zv) || !xb || !yb || !logits || !idx || !hist)
        goto nomem;

    // Standardise each feature on the training set: frozen encoder features have very
    // different scales per dimension, and AdamW converges far faster on z-scores. The
    // scaling is folded back into W and b at the end, so the saved head takes raw features.
    for (int64_t c = 0; c < C; c++) {
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < n; i++) m += (double)X[i * C + c];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)X[i * C + c] - m;
            v += d * d;
        }
        v /= (double)n;
        mu[c] = (float)m;
        sd[c] = (float)(v > 1e-12 ? sqrt(v) : 1.0);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++) Z[i * C + c] = (X[i * C + c] - mu[c]) / sd[c];
    for (int64_t i = 0; i < n_valid; i++)
        for (int64_t c = 0; c < C; c++) Zv[i * C + c] = (X_valid[i * C + c] - mu[c]) / sd[c];

    s = lector_head_init(C, K, p->seed, &head, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    const int64_t n_params = lector_head_n_params(head);
    s = lector_adamw_init(n_params, &p->adamw, &opt, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    best = lector__malloc((size_t)n_params * sizeof *best);
    if (!best) goto nomem;
    memcpy(best, lector_head_params(head), (size_t)n_params * sizeof *best);
    double best_acc = -1.0;

    uint64_t rng = p->seed ^ 0x6c6563746f72ULL;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t epoch = 1; epoch <= p->n_epochs; epoch++) {
        shuffle(idx, n, &rng);
        double loss_sum = 0.0;
        int64_t n_batches = 0;
        for (int64_t start = 0; start < n; start += p->batch_size) {
            if (p->cancel && *p->cancel) {
                s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "training interrupted in epoch %lld",
                                  (long long)epoch);
                goto finish;
            }
            int64_t B = n - start < p->batch_size ? n - start : p->batch_size;
            for (int64_t b = 0; b < B; b++) {
                memcpy(xb + b * C, Z + idx[start + b] * C, (size_t)C * sizeof *xb);
                yb[b] = y[idx[start + b]];
            }
            float loss = 0.0f;
            lector_head_zero_grad(head);
            lector_head_loss_backward(head, xb, yb, B, &loss);
            if (!isfinite(loss)) {
                s = lector__error(err, LECTOR_STATUS_RANGE,
                                  "training diverged: loss is %s in epoch %lld; try a smaller --lr",
                                  isnan(loss) ? "NaN" : "infinite", (long long)epoch);
                goto fail;
            }
            lector_adamw_step(opt, lector_head_params(head), lector_head_grads(head),
                              lector_head_decay_mask(head));
            loss_sum += (double)loss;
            n_batches++;
        }
        double train_loss = loss_sum / (double)n_batches;
        double acc = n_valid > 0 ? accuracy(head, Zv, y_valid, n_valid, C, K, logits, chunk) : -1.0;
        int is_best = n_valid <= 0 || acc > best_acc;
        if (is_best) {
            best_acc = acc;
            memcpy(best, lector_head_params(head), (size_t)n_params * sizeof *best);
        }
        json_t *e = json_pack("{s:I, s:f, s:f}", "epoch", (json_int_t)epoch, "train_loss",
                              train_loss, "valid_accuracy", acc);
        if (e) json_array_append_new(hist, e);
        if (p->on_epoch && p->on_epoch(p->user, epoch, train_loss, acc, is_best)) break;
    }
finish:;
    // Fold the standardisation into the best parameters: W' = W / sd, b' = b - W' mu.
    {
        float *W = lector__malloc((size_t)K * (size_t)C * sizeof *W);
        float *bias = lector__malloc((size_t)K * sizeof *bias);
        if (!W || !bias) {
            free(W);
            free(bias);
            goto nomem;
        }
        for (int64_t k = 0; k < K; k++) {
            double bk = (double)best[K * C + k];
            for (int64_t c = 0; c < C; c++) {
                W[k * C + c] = best[k * C + c] / sd[c];
                bk -= (double)W[k * C + c] * (double)mu[c];
            }
            bias[k] = (float)bk;
        }
        enum lector_status s2 = lector_head_init_from(C, K, W, bias, out, err);
        free(W);
        free(bias);
        if (s2 != LECTOR_STATUS_OK) {
            s = s2;
            goto fail;
        }
    }
    if (valid_accuracy) *valid_accuracy = best_acc;
    if (history) *history = json_dumps(hist, JSON_COMPACT | JSON_REAL_PRECISION(6));
    goto done;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory training on %lld x %lld features",
                      (long long)n, (long long)C);
fail:
done:
    json_decref(hist);
    lector_adamw_free(opt);
    lector_head_free(head);
    free(best);
    free(idx);
    free(logits);
    free(yb);
    free(xb);
    free(Zv);
    free(Z);
    free(sd);
    free(mu);
    return s;
}

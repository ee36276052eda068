// The linear softmax classification head: logits = x W^T + b (+ s V for sparse inputs s),
// cross-entropy loss (optionally class-weighted and label-smoothed) and its gradient.
// Parameters, gradients and the decay mask are each one contiguous array laid out as
// [W (K, C) | b (K) | V (S, K)], so the optimiser sees a single vector.
#include "lector/head.h"

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

struct lector_head {
    int64_t n_in;       // C
    int64_t n_sparse;   // S
    int64_t n_classes;  // K
    int64_t n_params;   // K*C + K + S*K
    float *params;      // W (K, C) row-major, then b (K), then V (S, K) row-major
    float *grads;       // (n_params), same layout
    uint8_t *decay;     // (n_params): 1 for W and V, 0 for b
    double *probs;      // (K) scratch for loss_backward
};

// ----------------------------------------------------------------------------
// deterministic random numbers

// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose output depends only on the
// seed and the integer arithmetic, so weights are bit-identical on every platform.
static uint64_t splitmix64_next(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits: exactly representable as a float.
static float uniform01(uint64_t *state) {
    return (float)(splitmix64_next(state) >> 40) * 0x1p-24f;
}

// ----------------------------------------------------------------------------
// construction

static enum lector_status head_alloc(int64_t n_in, int64_t n_sparse, int64_t n_classes,
                                     struct lector_head **out, struct lector_error *err) {
    struct lector_head *h = NULL;
    int64_t n_w = 0, n_v = 0, n_params = 0;
    size_t n_bytes = 0;
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: out is NULL");
    *out = NULL;
    if (n_in < 0 || n_sparse < 0 || n_in + n_sparse < 1 || n_classes < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head: expected at least 1 input and 1 class, got C=%lld, S=%lld, K=%lld",
                             (long long)n_in, (long long)n_sparse, (long long)n_classes);
    if (!lector__mul_i64(n_in, n_classes, &n_w) || !lector__mul_i64(n_sparse, n_classes, &n_v) ||
        __builtin_add_overflow(n_w, n_classes, &n_params) ||
        __builtin_add_overflow(n_params, n_v, &n_params) ||
        !lector__mul_size((size_t)n_params, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "head: C=%lld, S=%lld, K=%lld parameters overflow the address space",
                             (long long)n_in, (long long)n_sparse, (long long)n_classes);

    h = lector__calloc(1, sizeof *h);
    if (!h) goto fail;
    h->n_in = n_in;
    h->n_sparse = n_sparse;
    h->n_classes = n_classes;
    h->n_params = n_params;
    h->params = lector__calloc((size_t)n_params, sizeof(float));
    h->grads = lector__calloc((size_t)n_params, sizeof(float));
    h->decay = lector__malloc((size_t)n_params);
    h->probs = lector__calloc((size_t)n_classes, sizeof(double));
    if (!h->params || !h->grads || !h->decay || !h->probs) goto fail;
    // No weight decay on the bias, as is usual for AdamW fine-tuning.
    memset(h->decay, 1, (size_t)n_params);
    memset(h->decay + n_w, 0, (size_t)n_classes);
    *out = h;
    return LECTOR_STATUS_OK;

fail:
    lector_head_free(h);
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "head: cannot allocate %zu bytes for C=%lld, S=%lld, K=%lld", n_bytes,
                         (long long)n_in, (long long)n_sparse, (long long)n_classes);
}

enum lector_status lector_head_init_wide(int64_t n_in, int64_t n_sparse, int64_t n_classes,
                                         uint64_t seed, struct lector_head **out,
                                         struct lector_error *err) {
    enum lector_status st = head_alloc(n_in, n_sparse, n_classes, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector_head *h = *out;
    if (n_in == 0) return LECTOR_STATUS_OK;
    // torch's nn.Linear bound: U(-1/sqrt(C), 1/sqrt(C)). sqrt and the division are correctly
    // rounded, so the bound is the same float everywhere.
    float bound = (float)(1.0 / sqrt((double)n_in));
    uint64_t state = seed;
    int64_t n_w = n_in * n_classes;
    for (int64_t i = 0; i < n_w; i++) h->params[i] = (2.0f * uniform01(&state) - 1.0f) * bound;
    // b and V stay 0 (calloc): the sparse part starts from "no opinion".
    return LECTOR_STATUS_OK;
}

enum lector_status lector_head_init(int64_t n_in, int64_t n_classes, uint64_t seed,
                                    struct lector_head **out, struct lector_error *err) {
    if (n_in < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head: expected at least 1 input and 1 class, got C=%lld, K=%lld",
                             (long long)n_in, (long long)n_classes);
    return lector_head_init_wide(n_in, 0, n_classes, seed, out, err);
}

enum lector_status lector_head_init_wide_from(int64_t n_in, int64_t n_sparse, int64_t n_classes,
                                              const float *W, const float *b, const float *V,
                                              struct lector_head **out, struct lector_error *err) {
    if ((n_in > 0 && !W) || (n_sparse > 0 && !V))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: W or V is NULL");
    enum lector_status st = head_alloc(n_in, n_sparse, n_classes, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector_head *h = *out;
    int64_t n_w = n_in * n_classes;
    if (n_w) memcpy(h->params, W, (size_t)n_w * sizeof(float));
    if (b) memcpy(h->params + n_w, b, (size_t)n_classes * sizeof(float));
    if (n_sparse)
        memcpy(h->params + n_w + n_classes, V, (size_t)(n_sparse * n_classes) * sizeof(float));
    return LECTOR_STATUS_OK;
}

enum lector_status lector_head_init_from(int64_t n_in, int64_t n_classes, const float *W,
                                         const float *b, struct lector_head **out,
                                         struct lector_error *err) {
    if (!W) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: W is NULL");
    if (n_in < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head: expected at least 1 input and 1 class, got C=%lld, K=%lld",
                             (long long)n_in, (long long)n_classes);
    return lector_head_init_wide_from(n_in, 0, n_classes, W, b, NULL, out, err);
}

void lector_head_free(struct lector_head *head) {
    if (!head) return;
    lector_free(head->probs);
    lector_free(head->decay);
    lector_free(head->grads);
    lector_free(head->params);
    lector_free(head);
}

// ----------------------------------------------------------------------------
// accessors

int64_t lector_head_n_in(const struct lector_head *head) { return head->n_in; }
int64_t lector_head_n_classes(const struct lector_head *head) { return head->n_classes; }
int64_t lector_head_n_sparse(const struct lector_head *head) { return head->n_sparse; }
int64_t lector_head_n_params(const struct lector_head *head) { return head->n_params; }
float *lector_head_params(struct lector_head *head) { return head->params; }
const float *lector_head_params_const(const struct lector_head *head) { return head->params; }
float *lector_head_grads(struct lector_head *head) { return head->grads; }
const uint8_t *lector_head_decay_mask(const struct lector_head *head) { return head->decay; }

// ----------------------------------------------------------------------------
// forward, softmax, loss

void lector_sparse_rows_free(struct lector_sparse_rows *sp) {
    if (!sp) return;
    lector_free(sp->vals);
    lector_free(sp->cols);
    lector_free(sp->offsets);
    memset(sp, 0, sizeof *sp);
}

// logits (K) in double for one row: b (K) + W (K, C) x (C) + sum_j vals[j] V[cols[j], :].
// Dense dot products accumulate in double in index order, sparse entries in row order, so
// results do not depend on the machine.
static void row_logits_d(const struct lector_head *h, const float *x,
                         const struct lector_sparse_rows *sp, int64_t i, double *z) {
    const int64_t C = h->n_in, K = h->n_classes;
    const float *W = h->params, *b = h->params + C * K, *V = b + K;
    for (int64_t k = 0; k < K; k++) {
        double acc = (double)b[k];
        if (C > 0) {
            const float *w = W + k * C;
            for (int64_t c = 0; c < C; c++) acc += (double)w[c] * (double)x[c];
        }
        z[k] = acc;
    }
    if (sp && h->n_sparse > 0) {
        for (int64_t j = sp->offsets[i]; j < sp->offsets[i + 1]; j++) {
            const float *v = V + (int64_t)sp->cols[j] * K;
            const double s = (double)sp->vals[j];
            for (int64_t k = 0; k < K; k++) z[k] += s * (double)v[k];
        }
    }
}

void lector_head_forward_wide(const struct lector_head *head, const float *x,
                              const struct lector_sparse_rows *sp, int64_t B, float *logits) {
    LECTOR_ASSERT(head && B >= 0 && (B == 0 || logits));
    LECTOR_ASSERT(head->n_in == 0 || B == 0 || x);
    LECTOR_ASSERT(!sp || sp->n_rows == B);
    const int64_t K = head->n_classes;
    double zbuf[64];
    double *z = K <= 64 ? zbuf : lector__malloc((size_t)K * sizeof *z);
    LECTOR_ASSERT(z);
    for (int64_t i = 0; i < B; i++) {
        row_logits_d(head, head->n_in > 0 ? x + i * head->n_in : NULL, sp, i, z);
        for (int64_t k = 0; k < K; k++) logits[i * K + k] = (float)z[k];
    }
    if (z != zbuf) lector_free(z);
}

void lector_head_probs(const struct lector_head *head, const float *x,
                       const struct lector_sparse_rows *sp, int64_t B, float temperature,
                       float *probs) {
    lector_head_forward_wide(head, x, sp, B, probs);
    const int64_t K = head->n_classes;
    if (temperature > 0.0f && temperature != 1.0f) {
        const float inv_t = 1.0f / temperature;
        for (int64_t i = 0; i < B * K; i++) probs[i] *= inv_t;
    }
    lector_softmax_rows(probs, B, K);
}

void lector_head_forward(const struct lector_head *head, const float *x, int64_t B,
                         float *logits) {
    LECTOR_ASSERT(head && (B == 0 || (x && logits)) && B >= 0);
    lector_head_forward_wide(head, x, NULL, B, logits);
}

void lector_softmax_rows(float *logits, int64_t B, int64_t K) {
    LECTOR_ASSERT(B >= 0 && K >= 1 && (B == 0 || logits));
    for (int64_t i = 0; i < B; i++) {
        float *z = logits + i * K;
        float zmax = -INFINITY;
        for (int64_t k = 0; k < K; k++)
            if (z[k] > zmax) zmax = z[k];
        if (zmax == -INFINITY) {
            // Every position masked: no probability mass anywhere, rather than 0/0 = NaN.
            for (int64_t k = 0; k < K; k++) z[k] = 0.0f;
            continue;
        }
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            z[k] = expf(z[k] - zmax);
            sum += (double)z[k];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < K; k++) z[k] *= inv;
    }
}

void lector_head_zero_grad(struct lector_head *head) {
    memset(head->grads, 0, (size_t)head->n_params * sizeof(float));
}

// With target q_i = (1 - e) onehot(y_i) + e / K and weight w_i = class_weights[y_i]:
// loss = sum_i w_i [logsumexp(z_i) - q_i . z_i] / sum_i w_i,
// dL/dz_i = w_i (softmax(z_i) - q_i) / sum_i w_i,
// dL/dW[k, :] += dz_i[k] x_i,  dL/db[k] += dz_i[k],  dL/dV[c, k] += dz_i[k] s_i[c].
void lector_head_loss_backward_ex(struct lector_head *head, const float *x,
                                  const struct lector_sparse_rows *sp, const int32_t *labels,
                                  int64_t B, const struct lector_loss_params *lp, float *loss) {
    LECTOR_ASSERT(head && B >= 1 && labels);
    LECTOR_ASSERT(head->n_in == 0 || x);
    LECTOR_ASSERT(!sp || sp->n_rows == B);
    const int64_t C = head->n_in, K = head->n_classes;
    float *dW = head->grads, *db = head->grads + K * C, *dV = db + K;
    double *p = head->probs;
    const float *cw = lp ? lp->class_weights : NULL;
    const double eps = lp ? (double)lp->label_smoothing : 0.0;
    LECTOR_ASSERT(eps >= 0.0 && eps < 1.0);
    double w_sum = 0.0;
    for (int64_t i = 0; i < B; i++) {
        LECTOR_ASSERT(labels[i] >= 0 && labels[i] < K);
        w_sum += cw ? (double)cw[labels[i]] : 1.0;
    }
    const double inv_w = w_sum > 0.0 ? 1.0 / w_sum : 0.0;
    const double q_off = eps / (double)K, q_on = 1.0 - eps + eps / (double)K;
    double total = 0.0;

    for (int64_t i = 0; i < B; i++) {
        const float *xi = C > 0 ? x + i * C : NULL;
        const int32_t y = labels[i];
        const double wi = cw ? (double)cw[y] : 1.0;
        // Logits in double: the loss and the gradient then come from the same numbers.
        row_logits_d(head, xi, sp, i, p);
        double zmax = -HUGE_VAL;
        for (int64_t k = 0; k < K; k++)
            if (p[k] > zmax) zmax = p[k];
        double sum = 0.0, qz = 0.0;
        for (int64_t k = 0; k < K; k++) {
            qz += (k == y ? q_on : q_off) * (p[k] - zmax);
            p[k] = exp(p[k] - zmax);
            sum += p[k];
        }
        // -q . log softmax(z) = log(sum) - q . (z - zmax) since q sums to 1; finite even when
        // exp(z[y] - zmax) underflows.
        total += wi * (log(sum) - qz);
        const double scale = wi * inv_w;
        for (int64_t k = 0; k < K; k++) {
            double dz = (p[k] / sum - (k == y ? q_on : q_off)) * scale;
            float dzf = (float)dz;
            if (C > 0) {
                float *dw = dW + k * C;
                for (int64_t c = 0; c < C; c++) dw[c] += dzf * xi[c];
            }
            db[k] += dzf;
            p[k] = dz; // keep dz for the sparse part below
        }
        if (sp && head->n_sparse > 0) {
            for (int64_t j = sp->offsets[i]; j < sp->offsets[i + 1]; j++) {
                float *dv = dV + (int64_t)sp->cols[j] * K;
                const float s = sp->vals[j];
                for (int64_t k = 0; k < K; k++) dv[k] += (float)p[k] * s;
            }
        }
    }
    if (loss) *loss = (float)(total * inv_w);
}

void lector_head_loss_backward(struct lector_head *head, const float *x, const int32_t *labels,
                               int64_t B, float *loss) {
    LECTOR_ASSERT(head && B >= 1 && x && labels);
    lector_head_loss_backward_ex(head, x, NULL, labels, B, NULL, loss);
}

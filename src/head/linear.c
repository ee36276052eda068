// The linear softmax classification head: logits = x W^T + b (+ s V for sparse inputs s),
// cross-entropy loss (optionally class-weighted and label-smoothed) and its gradient.
// With a hidden layer (the MLP head), a = GELU(W1 x + b1) feeds W instead of x, and dropout
// may be applied to a during training. Parameters, gradients and the decay mask are each one
// contiguous array laid out as [W (K, D) | b (K) | W1 (H, C) | b1 (H) | V (S, K)] with D = H
// for an MLP and D = C otherwise, so the optimiser sees a single vector (and V, last, can
// have an optimiser of its own).
#include "lector/head.h"

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

struct lector_head {
    int64_t n_in;       // C
    int64_t n_hidden;   // H (0: linear)
    int64_t n_sparse;   // S
    int64_t n_classes;  // K
    int64_t n_params;   // K*D + K + H*C + H + S*K
    struct lector_head_layout lay;
    float *params;      // see the layout above
    float *grads;       // (n_params), same layout
    uint8_t *decay;     // (n_params): 1 for W, W1 and V, 0 for b and b1
    double *probs;      // (K) scratch for loss_backward
    double *hid;        // (3 H) scratch for loss_backward: pre-activation, activation, dA
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

static enum lector_status head_alloc(int64_t n_in, int64_t n_hidden, int64_t n_sparse,
                                     int64_t n_classes, struct lector_head **out,
                                     struct lector_error *err) {
    struct lector_head *h = NULL;
    int64_t n_w = 0, n_w1 = 0, n_v = 0, n_params = 0;
    size_t n_bytes = 0;
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: out is NULL");
    *out = NULL;
    if (n_in < 0 || n_hidden < 0 || n_sparse < 0 || n_in + n_sparse < 1 || n_classes < 1 ||
        (n_hidden > 0 && n_in < 1))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head: expected at least 1 input and 1 class (and dense inputs for a "
                             "hidden layer), got C=%lld, H=%lld, S=%lld, K=%lld",
                             (long long)n_in, (long long)n_hidden, (long long)n_sparse,
                             (long long)n_classes);
    const int64_t D = n_hidden > 0 ? n_hidden : n_in;
    if (!lector__mul_i64(D, n_classes, &n_w) || !lector__mul_i64(n_sparse, n_classes, &n_v) ||
        !lector__mul_i64(n_hidden, n_in, &n_w1) ||
        __builtin_add_overflow(n_w, n_classes, &n_params) ||
        __builtin_add_overflow(n_params, n_w1, &n_params) ||
        __builtin_add_overflow(n_params, n_hidden, &n_params) ||
        __builtin_add_overflow(n_params, n_v, &n_params) ||
        !lector__mul_size((size_t)n_params, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "head: C=%lld, H=%lld, S=%lld, K=%lld parameters overflow the address space",
                             (long long)n_in, (long long)n_hidden, (long long)n_sparse,
                             (long long)n_classes);

    h = lector__calloc(1, sizeof *h);
    if (!h) goto fail;
    h->n_in = n_in;
    h->n_hidden = n_hidden;
    h->n_sparse = n_sparse;
    h->n_classes = n_classes;
    h->n_params = n_params;
    h->lay.D = D;
    h->lay.W = 0;
    h->lay.b = n_w;
    h->lay.W1 = n_w + n_classes;
    h->lay.b1 = h->lay.W1 + n_w1;
    h->lay.V = h->lay.b1 + n_hidden;
    h->params = lector__calloc((size_t)n_params, sizeof(float));
    h->grads = lector__calloc((size_t)n_params, sizeof(float));
    h->decay = lector__malloc((size_t)n_params);
    h->probs = lector__calloc((size_t)n_classes, sizeof(double));
    h->hid = lector__calloc((size_t)(3 * n_hidden + 1), sizeof(double));
    if (!h->params || !h->grads || !h->decay || !h->probs || !h->hid) goto fail;
    // No weight decay on the biases, as is usual for AdamW fine-tuning.
    memset(h->decay, 1, (size_t)n_params);
    memset(h->decay + h->lay.b, 0, (size_t)n_classes);
    memset(h->decay + h->lay.b1, 0, (size_t)n_hidden);
    *out = h;
    return LECTOR_STATUS_OK;

fail:
    lector_head_free(h);
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "head: cannot allocate %zu bytes for C=%lld, H=%lld, S=%lld, K=%lld", n_bytes,
                         (long long)n_in, (long long)n_hidden, (long long)n_sparse, (long long)n_classes);
}

// torch's nn.Linear bound: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). sqrt and the division are
// correctly rounded, so the bound is the same float everywhere.
static void init_uniform(float *w, int64_t n, int64_t fan_in, uint64_t *state) {
    float bound = (float)(1.0 / sqrt((double)fan_in));
    for (int64_t i = 0; i < n; i++) w[i] = (2.0f * uniform01(state) - 1.0f) * bound;
}

enum lector_status lector_head_new(const struct lector_head_shape *shape, uint64_t seed,
                                   struct lector_head **out, struct lector_error *err) {
    const int64_t n_in = shape->n_in, n_hidden = shape->n_hidden, n_classes = shape->n_classes;
    enum lector_status st = head_alloc(n_in, n_hidden, shape->n_sparse, n_classes, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector_head *h = *out;
    if (n_in == 0) return LECTOR_STATUS_OK;
    uint64_t state = seed;
    // W first, so a linear head draws exactly the numbers it always drew.
    init_uniform(h->params + h->lay.W, h->lay.D * n_classes, h->lay.D, &state);
    if (n_hidden > 0) init_uniform(h->params + h->lay.W1, n_hidden * n_in, n_in, &state);
    // The biases and V stay 0 (calloc): the sparse part starts from "no opinion".
    return LECTOR_STATUS_OK;
}

void lector_head_free(struct lector_head *head) {
    if (!head) return;
    lector_free(head->hid);
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
int64_t lector_head_n_hidden(const struct lector_head *head) { return head->n_hidden; }
struct lector_head_layout lector_head_get_layout(const struct lector_head *head) { return head->lay; }
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

// GELU with the exact erf form (what BERT's hidden_act "gelu" and torch's default use).
static double gelu(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440)); }
static double gelu_grad(double x) {
    return 0.5 * (1.0 + erf(x * 0.70710678118654752440)) +
           x * 0.39894228040143267794 * exp(-0.5 * x * x);
}

// The hidden layer for one row: pre (H) = W1 x + b1, act (H) = GELU(pre).
static void row_hidden(const struct lector_head *h, const float *x, double *pre, double *act) {
    const int64_t C = h->n_in, H = h->n_hidden;
    const float *W1 = h->params + h->lay.W1, *b1 = h->params + h->lay.b1;
    for (int64_t j = 0; j < H; j++) {
        const float *w = W1 + j * C;
        double acc = (double)b1[j];
        for (int64_t c = 0; c < C; c++) acc += (double)w[c] * (double)x[c];
        pre[j] = acc;
        act[j] = gelu(acc);
    }
}

// logits (K) in double for one row: b (K) + W (K, D) u (D) + sum_j vals[j] V[cols[j], :], where
// u is x (C), or for an MLP the hidden activations act (H). Dense dot products accumulate in
// double in index order, sparse entries in row order, so results do not depend on the machine.
static void row_logits_d(const struct lector_head *h, const float *x, const double *act,
                         const struct lector_sparse_rows *sp, int64_t i, double *z) {
    const int64_t D = h->lay.D, K = h->n_classes;
    const float *W = h->params + h->lay.W, *b = h->params + h->lay.b, *V = h->params + h->lay.V;
    for (int64_t k = 0; k < K; k++) {
        double acc = (double)b[k];
        const float *w = W + k * D;
        if (act)
            for (int64_t c = 0; c < D; c++) acc += (double)w[c] * act[c];
        else if (D > 0)
            for (int64_t c = 0; c < D; c++) acc += (double)w[c] * (double)x[c];
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

enum lector_status lector_head_forward(const struct lector_head *head, const float *x,
                                       const struct lector_sparse_rows *sp, int64_t B, float *logits,
                                       struct lector_error *err) {
    LECTOR_ASSERT(head && B >= 0 && (B == 0 || logits));
    LECTOR_ASSERT(head->n_in == 0 || B == 0 || x);
    LECTOR_ASSERT(!sp || sp->n_rows == B);
    const int64_t K = head->n_classes, H = head->n_hidden;
    // Scratch per call (not in the head), so that several threads may call this at once; on
    // the stack when it is small.
    double small[256], *z = small;
    if (K + 2 * H > 256 && !(z = lector__malloc((size_t)(K + 2 * H) * sizeof *z)))
        return lector__error(err, LECTOR_STATUS_NOMEM, "head: out of memory for %lld classes",
                             (long long)K);
    double *pre = z + K, *act = pre + H;
    for (int64_t i = 0; i < B; i++) {
        const float *xi = head->n_in > 0 ? x + i * head->n_in : NULL;
        if (H > 0) row_hidden(head, xi, pre, act);
        row_logits_d(head, xi, H > 0 ? act : NULL, sp, i, z);
        for (int64_t k = 0; k < K; k++) logits[i * K + k] = (float)z[k];
    }
    if (z != small) lector_free(z);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_head_probs(const struct lector_head *head, const float *x,
                                     const struct lector_sparse_rows *sp, int64_t B, float temperature,
                                     float *probs, struct lector_error *err) {
    enum lector_status s = lector_head_forward(head, x, sp, B, probs, err);
    if (s != LECTOR_STATUS_OK) return s;
    const int64_t K = head->n_classes;
    if (temperature > 0.0f && temperature != 1.0f) {
        const float inv_t = 1.0f / temperature;
        for (int64_t i = 0; i < B * K; i++) probs[i] *= inv_t;
    }
    lector_softmax_rows(probs, B, K);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_head_probs_multi(const struct lector_head *head, const float *x,
                                           const struct lector_sparse_rows *sp, int64_t B, float *probs,
                                           struct lector_error *err) {
    enum lector_status s = lector_head_forward(head, x, sp, B, probs, err);
    if (s != LECTOR_STATUS_OK) return s;
    for (int64_t i = 0; i < B * head->n_classes; i++) {
        const float z = probs[i];
        probs[i] = z >= 0.0f ? 1.0f / (1.0f + expf(-z)) : expf(z) / (1.0f + expf(z));
    }
    return LECTOR_STATUS_OK;
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

// splitmix64 of a counter: the dropout mask of (step seed, row, unit) without any state.
static double keep_draw(uint64_t seed, int64_t i, int64_t j) {
    uint64_t s = seed ^ ((uint64_t)i * UINT64_C(0x9E3779B97F4A7C15)) ^
                 ((uint64_t)j * UINT64_C(0xD1B54A32D192ED03));
    return (double)(splitmix64_next(&s) >> 11) * 0x1p-53;
}

// Binary cross-entropy per label of the row's logits p (K) against the targets t (K, in
// {0, 1}, smoothed by eps towards 1/2), weighted by cw (per label, or NULL): softplus(z) -
// t z, in a form that never overflows, added to *total; p <- dL/dz = w_k (sigmoid(z) - t)
// inv_w.
static void row_bce(double *p, const uint8_t *t01, int64_t K, const float *cw, double eps,
                    double inv_w, double *total) {
    for (int64_t k = 0; k < K; k++) {
        const double z = p[k], t = (double)t01[k] * (1.0 - eps) + eps / 2.0;
        const double wk = cw ? (double)cw[k] : 1.0;
        const double sp_z = (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z)));
        *total += wk * (sp_z - t * z);
        const double sig = z >= 0.0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        p[k] = wk * (sig - t) * inv_w;
    }
}

// Cross-entropy of the row's logits p (K) against label y smoothed to q_on / q_off, weighted
// by wi, added to *total; p <- dL/dz = wi (softmax(z) - q) inv_w.
static void row_softmax_ce(double *p, int64_t K, int32_t y, double q_on, double q_off, double wi,
                           double inv_w, double *total) {
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
    *total += wi * (log(sum) - qz);
    const double scale = wi * inv_w;
    for (int64_t k = 0; k < K; k++) p[k] = (p[k] / sum - (k == y ? q_on : q_off)) * scale;
}

// Row i's gradients from p = dL/dz (K): into the head's grads, and into dxi (C, or NULL) the
// input's. xi (C, or NULL), sp's row i, and for an MLP pre and act (H, act after dropout p
// drop with seed) are the row's forward values; dact (H) is scratch.
static void row_backward(struct lector_head *head, int64_t i, const float *xi,
                         const struct lector_sparse_rows *sp, const double *p, const double *pre,
                         const double *act, double *dact, double drop, uint64_t seed, float *dxi) {
    const int64_t C = head->n_in, K = head->n_classes, H = head->n_hidden, D = head->lay.D;
    float *dW = head->grads + head->lay.W, *db = head->grads + head->lay.b;
    float *dW1 = head->grads + head->lay.W1, *db1 = head->grads + head->lay.b1;
    float *dV = head->grads + head->lay.V;
    const float *W = head->params + head->lay.W;
    if (H > 0)
        for (int64_t j = 0; j < H; j++) dact[j] = 0.0;
    if (dxi && H == 0)
        for (int64_t c = 0; c < C; c++) {
            // dL/dx = W^T dz, summed in class order in double
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) s += p[k] * (double)W[k * D + c];
            dxi[c] = (float)s;
        }
    if (dxi && H > 0)
        for (int64_t c = 0; c < C; c++) dxi[c] = 0.0f;
    for (int64_t k = 0; k < K; k++) {
        double dz = p[k];
        float dzf = (float)dz;
        float *dw = dW + k * D;
        if (H > 0) {
            const float *w = W + k * D;
            for (int64_t j = 0; j < H; j++) {
                dw[j] += dzf * (float)act[j];
                dact[j] += dz * (double)w[j];
            }
        } else if (C > 0) {
            for (int64_t c = 0; c < C; c++) dw[c] += dzf * xi[c];
        }
        db[k] += dzf;
    }
    if (H > 0) {
        const double scale_keep = drop > 0.0 ? 1.0 / (1.0 - drop) : 1.0;
        for (int64_t j = 0; j < H; j++) {
            double m = drop > 0.0 && keep_draw(seed, i, j) < drop ? 0.0 : scale_keep;
            float dpre = (float)(dact[j] * m * gelu_grad(pre[j]));
            if (dpre == 0.0f) continue;
            if (dxi) {
                const float *w1 = head->params + head->lay.W1 + j * C;
                for (int64_t c = 0; c < C; c++) dxi[c] += dpre * w1[c];
            }
            float *dw1 = dW1 + j * C;
            for (int64_t c = 0; c < C; c++) dw1[c] += dpre * xi[c];
            db1[j] += dpre;
        }
    }
    if (sp && head->n_sparse > 0) {
        for (int64_t j = sp->offsets[i]; j < sp->offsets[i + 1]; j++) {
            float *dv = dV + (int64_t)sp->cols[j] * K;
            const float s = sp->vals[j];
            for (int64_t k = 0; k < K; k++) dv[k] += (float)p[k] * s;
        }
    }
}

// With target q_i = (1 - e) onehot(y_i) + e / K and weight w_i = class_weights[y_i]:
// loss = sum_i w_i [logsumexp(z_i) - q_i . z_i] / sum_i w_i,
// dL/dz_i = w_i (softmax(z_i) - q_i) / sum_i w_i,
// dL/dW[k, :] += dz_i[k] u_i,  dL/db[k] += dz_i[k],  dL/dV[c, k] += dz_i[k] s_i[c],
// and for an MLP (u = dropout(GELU(pre)), pre = W1 x + b1):
// dL/du = W^T dz, dL/dpre = dL/du * mask / (1 - p) * GELU'(pre), dL/dW1 += dL/dpre x^T.
// With targets (multi-label), the binary cross-entropy per label (row_bce), over B K.
void lector_head_loss_backward(struct lector_head *head, const float *x,
                               const struct lector_sparse_rows *sp, const int32_t *labels,
                               int64_t B, const struct lector_loss_params *lp, float *loss,
                               float *dx) {
    LECTOR_ASSERT(head && B >= 1 && (labels || (lp && lp->targets)));
    LECTOR_ASSERT(head->n_in == 0 || x);
    LECTOR_ASSERT(!sp || sp->n_rows == B);
    const int64_t C = head->n_in, K = head->n_classes, H = head->n_hidden;
    double *p = head->probs, *pre = head->hid, *act = pre + H, *dact = act + H;
    const float *cw = lp ? lp->class_weights : NULL;
    const double eps = lp ? (double)lp->label_smoothing : 0.0;
    const double drop = lp && H > 0 ? (double)lp->dropout : 0.0;
    const uint64_t seed = lp ? lp->dropout_seed : 0;
    LECTOR_ASSERT(eps >= 0.0 && eps < 1.0 && drop >= 0.0 && drop < 1.0);
    const uint8_t *tg = lp ? lp->targets : NULL;
    double w_sum = 0.0;
    for (int64_t i = 0; i < B && !tg; i++) {
        LECTOR_ASSERT(labels[i] >= 0 && labels[i] < K);
        w_sum += cw ? (double)cw[labels[i]] : 1.0;
    }
    const double inv_w = tg ? 1.0 / (double)(B * K) : w_sum > 0.0 ? 1.0 / w_sum : 0.0;
    const double q_off = eps / (double)K, q_on = 1.0 - eps + eps / (double)K;
    double total = 0.0;

    for (int64_t i = 0; i < B; i++) {
        const float *xi = C > 0 ? x + i * C : NULL;
        if (H > 0) {
            row_hidden(head, xi, pre, act);
            if (drop > 0.0) {
                const double scale = 1.0 / (1.0 - drop);
                for (int64_t j = 0; j < H; j++)
                    act[j] = keep_draw(seed, i, j) < drop ? 0.0 : act[j] * scale;
            }
        }
        // Logits in double: the loss and the gradient then come from the same numbers.
        row_logits_d(head, xi, H > 0 ? act : NULL, sp, i, p);
        if (tg) {
            row_bce(p, tg + i * K, K, cw, eps, inv_w, &total);
        } else {
            const int32_t y = labels[i];
            row_softmax_ce(p, K, y, q_on, q_off, cw ? (double)cw[y] : 1.0, inv_w, &total);
        }
        // p holds dL/dz for this row now.
        row_backward(head, i, xi, sp, p, pre, act, dact, drop, seed,
                     dx && C > 0 ? dx + i * C : NULL);
    }
    if (loss) *loss = (float)(total * inv_w);
}

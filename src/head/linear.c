// The linear softmax classification head: logits = x W^T + b, mean cross-entropy loss and
// its gradient. Parameters, gradients and the decay mask are each one contiguous array laid
// out as [W (K, C) | b (K)], so the optimiser sees a single vector.
#include "lector/head.h"

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

struct lector_head {
    int64_t n_in;       // C
    int64_t n_classes;  // K
    int64_t n_params;   // K*C + K
    float *params;      // (K*C + K): W (K, C) row-major, then b (K)
    float *grads;       // (K*C + K), same layout
    uint8_t *decay;     // (K*C + K): 1 for W, 0 for b
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

static enum lector_status head_alloc(int64_t n_in, int64_t n_classes, struct lector_head **out,
                                     struct lector_error *err) {
    struct lector_head *h = NULL;
    int64_t n_w = 0, n_params = 0;
    size_t n_bytes = 0;
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: out is NULL");
    *out = NULL;
    if (n_in < 1 || n_classes < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head: expected at least 1 input and 1 class, got C=%lld, K=%lld",
                             (long long)n_in, (long long)n_classes);
    if (!lector__mul_i64(n_in, n_classes, &n_w) || __builtin_add_overflow(n_w, n_classes, &n_params) ||
        !lector__mul_size((size_t)n_params, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "head: C=%lld x K=%lld parameters overflow the address space",
                             (long long)n_in, (long long)n_classes);

    h = lector__calloc(1, sizeof *h);
    if (!h) goto fail;
    h->n_in = n_in;
    h->n_classes = n_classes;
    h->n_params = n_params;
    h->params = lector__calloc((size_t)n_params, sizeof(float));
    h->grads = lector__calloc((size_t)n_params, sizeof(float));
    h->decay = lector__malloc((size_t)n_params);
    h->probs = lector__calloc((size_t)n_classes, sizeof(double));
    if (!h->params || !h->grads || !h->decay || !h->probs) goto fail;
    // No weight decay on the bias, as is usual for AdamW fine-tuning.
    memset(h->decay, 1, (size_t)n_w);
    memset(h->decay + n_w, 0, (size_t)n_classes);
    *out = h;
    return LECTOR_STATUS_OK;

fail:
    lector_head_free(h);
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "head: cannot allocate %zu bytes for C=%lld, K=%lld", n_bytes,
                         (long long)n_in, (long long)n_classes);
}

enum lector_status lector_head_init(int64_t n_in, int64_t n_classes, uint64_t seed,
                                    struct lector_head **out, struct lector_error *err) {
    enum lector_status st = head_alloc(n_in, n_classes, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector_head *h = *out;
    // torch's nn.Linear bound: U(-1/sqrt(C), 1/sqrt(C)). sqrt and the division are correctly
    // rounded, so the bound is the same float everywhere.
    float bound = (float)(1.0 / sqrt((double)n_in));
    uint64_t state = seed;
    int64_t n_w = n_in * n_classes;
    for (int64_t i = 0; i < n_w; i++) h->params[i] = (2.0f * uniform01(&state) - 1.0f) * bound;
    // b stays 0 (calloc).
    return LECTOR_STATUS_OK;
}

enum lector_status lector_head_init_from(int64_t n_in, int64_t n_classes, const float *W,
                                         const float *b, struct lector_head **out,
                                         struct lector_error *err) {
    if (!W) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head: W is NULL");
    enum lector_status st = head_alloc(n_in, n_classes, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector_head *h = *out;
    int64_t n_w = n_in * n_classes;
    memcpy(h->params, W, (size_t)n_w * sizeof(float));
    if (b) memcpy(h->params + n_w, b, (size_t)n_classes * sizeof(float));
    return LECTOR_STATUS_OK;
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
int64_t lector_head_n_params(const struct lector_head *head) { return head->n_params; }
float *lector_head_params(struct lector_head *head) { return head->params; }
const float *lector_head_params_const(const struct lector_head *head) { return head->params; }
float *lector_head_grads(struct lector_head *head) { return head->grads; }
const uint8_t *lector_head_decay_mask(const struct lector_head *head) { return head->decay; }

// ----------------------------------------------------------------------------
// forward, softmax, loss

// logits (K) = W (K, C) x (C) + b (K) for one row; double accumulation in index order.
static void row_logits(const struct lector_head *h, const float *x, float *logits) {
    const int64_t C = h->n_in, K = h->n_classes;
    const float *W = h->params, *b = h->params + C * K;
    for (int64_t k = 0; k < K; k++) {
        const float *w = W + k * C;
        double acc = (double)b[k];
        for (int64_t c = 0; c < C; c++) acc += (double)w[c] * (double)x[c];
        logits[k] = (float)acc;
    }
}

void lector_head_forward(const struct lector_head *head, const float *x, int64_t B,
                         float *logits) {
    LECTOR_ASSERT(head && (B == 0 || (x && logits)) && B >= 0);
    for (int64_t i = 0; i < B; i++)
        row_logits(head, x + i * head->n_in, logits + i * head->n_classes);
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

// loss = mean_i [logsumexp(z_i) - z_i[y_i]],  dL/dz_i = (softmax(z_i) - onehot(y_i)) / B,
// dL/dW[k, :] += dz_i[k] x_i,  dL/db[k] += dz_i[k].
void lector_head_loss_backward(struct lector_head *head, const float *x, const int32_t *labels,
                               int64_t B, float *loss) {
    LECTOR_ASSERT(head && B >= 1 && x && labels);
    const int64_t C = head->n_in, K = head->n_classes;
    float *dW = head->grads, *db = head->grads + K * C;
    double *p = head->probs;
    const double inv_B = 1.0 / (double)B;
    double total = 0.0;
    const float *W = head->params, *b = head->params + K * C;

    for (int64_t i = 0; i < B; i++) {
        const float *xi = x + i * C;
        int32_t y = labels[i];
        LECTOR_ASSERT(y >= 0 && y < K);
        // Logits in double: the loss and the gradient then come from the same numbers.
        double zmax = -HUGE_VAL, zy = 0.0;
        for (int64_t k = 0; k < K; k++) {
            const float *w = W + k * C;
            double acc = (double)b[k];
            for (int64_t c = 0; c < C; c++) acc += (double)w[c] * (double)xi[c];
            p[k] = acc;
            if (k == y) zy = acc;
            if (acc > zmax) zmax = acc;
        }
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            p[k] = exp(p[k] - zmax);
            sum += p[k];
        }
        // -log softmax(z)[y] = log(sum) - (z[y] - zmax), finite even when exp(z[y] - zmax)
        // underflows.
        total += log(sum) - (zy - zmax);
        for (int64_t k = 0; k < K; k++) {
            double dz = (p[k] / sum - (k == y ? 1.0 : 0.0)) * inv_B;
            float dzf = (float)dz;
            float *dw = dW + k * C;
            for (int64_t c = 0; c < C; c++) dw[c] += dzf * xi[c];
            db[k] += dzf;
        }
    }
    if (loss) *loss = (float)(total * inv_B);
}

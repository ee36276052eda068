// Token rows -> pooled features: length-sorted batching with a token budget, order restored.
#include "lector/classifier.h"

#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "task/task_impl.h"

struct row_order {
    int64_t n;
    int64_t index;
};

static int cmp_len(const void *a, const void *b) {
    const struct row_order *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    // Stable on the original index so batches never depend on qsort's internals.
    return x->index < y->index ? -1 : (x->index > y->index);
}

enum lector_status lector_embed_rows(const struct lector_encoder *enc,
                                     struct lector_encoder_state *st,
                                     const struct lector_token_row *rows, int64_t n,
                                     enum lector_pooling pooling, int64_t batch_size,
                                     int64_t n_tokens_max, float *out, struct lector_error *err) {
    if (n <= 0) return LECTOR_STATUS_OK;
    if (batch_size <= 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "batch size must be positive");
    if (pooling == LECTOR_POOLING_NONE)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "pooling 'none' gives hidden states, not one vector per text");
    const struct lector_encoder_config *cfg = lector_encoder_get_config(enc);
    const int64_t C = cfg->n_embd;
    enum lector_status s = LECTOR_STATUS_OK;
    struct row_order *order = NULL;
    int32_t *ids = NULL, *mask = NULL;
    float *hidden = NULL, *pooled = NULL;

    int64_t T_max = 0;
    s = lector__token_rows_check(cfg, rows, n, &T_max, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    order = lector__malloc((size_t)n * sizeof *order);
    if (!order) goto nomem;
    for (int64_t i = 0; i < n; i++) {
        order[i].n = rows[i].n;
        order[i].index = i;
    }
    qsort(order, (size_t)n, sizeof *order, cmp_len);

    // A batch holds at most batch_size rows of T_max tokens, and with a token budget at most
    // the budget (or one row, when a row alone exceeds it).
    size_t cap_bt, cap_btc;
    if (!lector__mul_size((size_t)batch_size, (size_t)T_max, &cap_bt)) goto nomem;
    if (n_tokens_max > 0) {
        const size_t budget = (size_t)(n_tokens_max > T_max ? n_tokens_max : T_max);
        if (budget < cap_bt) cap_bt = budget;
    }
    if (!lector__mul_size(cap_bt, (size_t)C, &cap_btc)) goto nomem;
    const int64_t rows_max = batch_size < (int64_t)cap_bt ? batch_size : (int64_t)cap_bt;
    ids = lector__malloc(cap_bt * sizeof *ids);
    mask = lector__malloc(cap_bt * sizeof *mask);
    hidden = lector__malloc(cap_btc * sizeof *hidden);
    pooled = lector__malloc((size_t)rows_max * (size_t)C * sizeof *pooled);
    if (!ids || !mask || !hidden || !pooled) goto nomem;

    for (int64_t start = 0; start < n;) {
        // Rows are sorted by length, so the last row of a batch sets its T. Grow the batch
        // while it stays within both the row count and the padded-token budget.
        int64_t end = start + 1;
        while (end < n && end - start < batch_size &&
               (n_tokens_max <= 0 || (end - start + 1) * order[end].n <= n_tokens_max))
            end++;
        const int64_t B = end - start, T = order[end - 1].n;
        for (int64_t b = 0; b < B; b++) {
            const struct lector_token_row *r = &rows[order[start + b].index];
            for (int64_t t = 0; t < T; t++) {
                ids[b * T + t] = t < r->n ? r->ids[t] : cfg->pad_token_id;
                mask[b * T + t] = t < r->n;
            }
        }
        s = lector_encoder_forward(enc, st, ids, NULL, mask, B, T, hidden, err);
        if (s != LECTOR_STATUS_OK) goto fail;
        s = lector_encoder_pool(enc, hidden, mask, B, T, pooling, pooled, err);
        if (s != LECTOR_STATUS_OK) goto fail;
        for (int64_t b = 0; b < B; b++)
            memcpy(out + order[start + b].index * C, pooled + b * C, (size_t)C * sizeof *out);
        start = end;
    }
    goto done;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory embedding %lld rows", (long long)n);
fail:
done:
    free(pooled);
    free(hidden);
    free(mask);
    free(ids);
    free(order);
    return s;
}

enum lector_status lector__token_rows_check(const struct lector_encoder_config *cfg,
                                            const struct lector_token_row *rows, int64_t n,
                                            int64_t *T_max, struct lector_error *err) {
    *T_max = 0;
    for (int64_t i = 0; i < n; i++) {
        if (rows[i].n <= 0 || rows[i].n > cfg->n_tokens_max)
            return lector__error(err, LECTOR_STATUS_RANGE,
                                 "row %lld has %lld tokens; the encoder takes 1 to %lld",
                                 (long long)i, (long long)rows[i].n,
                                 (long long)cfg->n_tokens_max);
        if (rows[i].n > *T_max) *T_max = rows[i].n;
    }
    return LECTOR_STATUS_OK;
}

// Fine-tuning the top layers with the head: boundary states computed once, AdamW
// parameter groups, the epoch loop and best-epoch selection (finetune.h).
#define _POSIX_C_SOURCE 200809L
#include "task/finetune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "task/task_impl.h"

struct lector__finetune_params lector__finetune_default_params(void) {
    struct lector__finetune_params p;
    memset(&p, 0, sizeof p);
    p.n_unfreeze = 1;
    p.n_epochs = 3;
    p.batch_size = 16;
    p.seed = 42;
    p.lr_head = 1e-3f;
    p.lr_encoder = 1e-4f;
    p.layer_lr_decay = 1.0f;
    p.weight_decay = 0.01f;
    p.warmup = 0.06f;
    p.schedule = LECTOR_SCHEDULE_LINEAR;
    p.clip_norm = 1.0f;
    p.encoder_dropout = 0.1f;
    p.pooled_dropout = 0.1f;
    p.hidden_dropout = 0.1f;
    p.pooling = LECTOR_POOLING_MEAN;
    p.min_delta = 0.005f;
    p.memory_budget = (size_t)1 << 30;
    p.adamw_sparse = lector_adamw_default_params();
    p.adamw_sparse.lr = 0.03f;
    return p;
}

// ----------------------------------------------------------------------------
// boundary states: the hidden states entering the first trainable layer, per text

struct boundary {
    void *data;    // (sum of row lengths, C): floats, or bf16 bits when bf16
    int64_t *off;  // (n + 1) row starts, in tokens
    size_t bytes;
    int mapped;    // data is a mapping of an unlinked temporary file
    int bf16;      // stored rounded to bf16 (round to nearest even), read back as floats
};

static size_t boundary_elem(const struct boundary *b) { return b->bf16 ? sizeof(uint16_t) : sizeof(float); }

// Row i's n = off[i + 1] - off[i] states (n, C) stored from floats src.
static void boundary_put(struct boundary *b, int64_t i, int64_t C, const float *src) {
    int64_t n = (b->off[i + 1] - b->off[i]) * C;
    if (!b->bf16) {
        memcpy((float *)b->data + b->off[i] * C, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *dst = (uint16_t *)b->data + b->off[i] * C;
    for (int64_t k = 0; k < n; k++) dst[k] = lector_f32_to_bf16(src[k]);
}

// Row i's states as floats into dst.
static void boundary_get(const struct boundary *b, int64_t i, int64_t C, float *dst) {
    int64_t n = (b->off[i + 1] - b->off[i]) * C;
    if (!b->bf16) {
        memcpy(dst, (const float *)b->data + b->off[i] * C, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t *src = (const uint16_t *)b->data + b->off[i] * C;
    for (int64_t k = 0; k < n; k++) dst[k] = lector_bf16_to_f32(src[k]);
}

static void boundary_free(struct boundary *b) {
    if (b->mapped) munmap(b->data, b->bytes);
    else lector_free(b->data);
    lector_free(b->off);
    int bf16 = b->bf16;
    memset(b, 0, sizeof *b);
    b->bf16 = bf16;
}

// Room for the states: malloc within the budget, else a mapping of a temporary file in
// $TMPDIR (or /tmp), unlinked at once so it goes away with the process.
static enum lector_status boundary_alloc(struct boundary *b, size_t bytes, size_t budget,
                                         struct lector_error *err) {
    b->bytes = bytes ? bytes : 1;
    if (b->bytes <= budget) {
        b->data = lector__malloc(b->bytes);
        if (!b->data)
            return lector__error(err, LECTOR_STATUS_NOMEM,
                                 "cannot allocate %zu bytes of boundary states", b->bytes);
        return LECTOR_STATUS_OK;
    }
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/lector-boundary-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return lector__error(err, LECTOR_STATUS_IO, "%s: cannot create: %s", path,
                             strerror(errno));
    unlink(path);
    if (ftruncate(fd, (off_t)b->bytes) != 0) {
        int e = errno;
        close(fd);
        return lector__error(err, LECTOR_STATUS_IO,
                             "cannot size a %zu-byte file for the boundary states: %s",
                             b->bytes, strerror(e));
    }
    void *m = mmap(NULL, b->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return lector__error(err, LECTOR_STATUS_IO, "cannot map %zu bytes of boundary states: %s",
                             b->bytes, strerror(e));
    b->data = m;
    b->mapped = 1;
    return LECTOR_STATUS_OK;
}

struct row_len {
    int64_t n, index;
};

static int cmp_row_len(const void *a, const void *b) {
    const struct row_len *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

// Row offsets and room for the states of rows (checked against the encoder); *T_max gets
// the longest row.
static enum lector_status boundary_layout(const struct lector_encoder *enc,
                                          const struct lector_token_row *rows, int64_t n,
                                          size_t budget, struct boundary *b, int64_t *T_max,
                                          struct lector_error *err) {
    int64_t C = enc->cfg.n_embd, total = 0;
    enum lector_status s = lector__token_rows_check(&enc->cfg, rows, n, T_max, err);
    if (s != LECTOR_STATUS_OK) return s;
    b->off = lector__malloc((size_t)(n + 1) * sizeof *b->off);
    if (!b->off) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for boundary states");
    for (int64_t i = 0; i < n; i++) {
        b->off[i] = total;
        total += rows[i].n;
    }
    b->off[n] = total;
    s = boundary_alloc(b, (size_t)total * (size_t)C * boundary_elem(b), budget, err);
    if (s != LECTOR_STATUS_OK) boundary_free(b);
    return s;
}

// The frozen layers over the rows, in length-sorted batches of at most 32 rows and 4096
// padded tokens; each row's first n states are kept (as bf16 when b->bf16 is set). With
// have (may be NULL), the batches whose rows all have their states already are skipped;
// the others are those of a run without have, so a row's states do not depend on which
// rows were at hand. cancel (may be NULL) is polled between batches.
static enum lector_status boundary_fill(const struct lector_encoder *enc, int64_t n_run,
                                        const struct lector_token_row *rows, int64_t n,
                                        int64_t T_max, const uint8_t *have,
                                        const volatile int *cancel, struct boundary *b,
                                        struct lector_error *err) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t C = cfg->n_embd;
    enum lector_status s = LECTOR_STATUS_OK;
    struct row_len *order = lector__malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    const int64_t rows_max = 32, tokens_max = 4096;
    int64_t cap = rows_max * (T_max > 0 ? T_max : 1);
    int32_t *ids = lector__malloc((size_t)cap * sizeof *ids);
    int32_t *mask = lector__malloc((size_t)cap * sizeof *mask);
    float *hidden = lector__malloc((size_t)cap * (size_t)C * sizeof *hidden);
    struct lector_encoder_state *st = NULL;
    if (!order || !ids || !mask || !hidden) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory computing boundary states");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) order[i] = (struct row_len){rows[i].n, i};
    qsort(order, (size_t)n, sizeof *order, cmp_row_len);
    for (int64_t start = 0; start < n;) {
        if (cancel && *cancel) {
            s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "interrupted");
            goto done;
        }
        int64_t end = start + 1;
        while (end < n && end - start < rows_max && (end - start + 1) * order[end].n <= tokens_max)
            end++;
        int64_t B = end - start, T = order[end - 1].n;
        bool needed = !have;
        for (int64_t r = 0; r < B && !needed; r++) needed = !have[order[start + r].index];
        if (!needed) {
            start = end;
            continue;
        }
        if (!st && (s = lector_encoder_state_new(enc, &st, err)) != LECTOR_STATUS_OK) goto done;
        for (int64_t r = 0; r < B; r++) {
            const struct lector_token_row *row = &rows[order[start + r].index];
            for (int64_t t = 0; t < T; t++) {
                ids[r * T + t] = t < row->n ? row->ids[t] : cfg->pad_token_id;
                mask[r * T + t] = t < row->n;
            }
        }
        s = lector__encoder_forward_layers(enc, st, ids, NULL, mask, B, T, n_run, hidden, err);
        if (s != LECTOR_STATUS_OK) goto done;
        for (int64_t r = 0; r < B; r++) {
            int64_t i = order[start + r].index;
            if (!have || !have[i]) boundary_put(b, i, C, hidden + r * T * C);
        }
        start = end;
    }
done:
    lector_encoder_state_free(st);
    lector_free(hidden);
    lector_free(mask);
    lector_free(ids);
    lector_free(order);
    return s;
}

// The states of every row, computed (cancel as boundary_fill's).
static enum lector_status boundary_compute(const struct lector_encoder *enc, int64_t n_run,
                                           const struct lector_token_row *rows, int64_t n,
                                           size_t budget, const volatile int *cancel,
                                           struct boundary *b, struct lector_error *err) {
    int64_t T_max = 1;
    enum lector_status s = boundary_layout(enc, rows, n, budget, b, &T_max, err);
    if (s == LECTOR_STATUS_OK) s = boundary_fill(enc, n_run, rows, n, T_max, NULL, cancel, b, err);
    if (s != LECTOR_STATUS_OK) boundary_free(b);
    return s;
}

// The key of the boundary states in the feature cache: what they depend on besides the
// token ids (the records' keys): the encoder's weights and variant, its precision, the
// frozen layers run, the kernels (their bits may differ between AVX2 and AVX-512) and how
// the states are kept.
static void boundary_cache_key(const struct lector_encoder *enc, int64_t n_run, int bf16,
                               char *key, size_t cap) {
    const char *tuned = lector__encoder_substitution_id(enc);
    snprintf(key, cap, "lector-states-v1 encoder=%s%s%s precision=%s layers=%lld kernels=%s states=%s",
             lector_encoder_checksum(enc), tuned ? " tuned=" : "", tuned ? tuned : "",
             lector_precision_name(lector_encoder_precision(enc)), (long long)n_run,
             lector__kernels()->name, bf16 ? "bf16" : "fp32");
}

static void cache_warning(struct lector__finetune_result *r, const struct lector_error *e) {
    _Static_assert(sizeof r->cache_warning == sizeof e->msg, "a message fits");
    memcpy(r->cache_warning, e->msg, sizeof r->cache_warning);
    r->cache_warning[sizeof r->cache_warning - 1] = '\0';
}

// The states of the training rows (b[0]) and the validation rows (b[1], n[1] may be 0):
// read from the feature cache in p->cache_dir where it has them, the rest computed (and
// stored there). What the cache did goes to r; a cache that cannot be used only costs time
// (r->cache_warning says why).
static enum lector_status boundary_prepare(const struct lector_encoder *enc, int64_t n_run,
                                           const struct lector__finetune_params *p,
                                           const struct lector_token_row *const rows[2],
                                           const int64_t n[2], struct boundary *const bp[2],
                                           struct lector__finetune_result *r,
                                           struct lector_error *err) {
    int64_t T_max[2] = {1, 1};
    uint8_t *have[2] = {NULL, NULL};
    struct lector__states_set sets[2];
    struct lector__states_set *set_ptrs[2] = {&sets[0], &sets[1]};
    const int n_sets = n[1] > 0 ? 2 : 1;
    struct lector__states_cache cache;
    bool cached = false;
    enum lector_status s = LECTOR_STATUS_OK;
    bp[0]->bf16 = bp[1]->bf16 = p->boundary_precision == LECTOR_PRECISION_BF16;
    for (int k = 0; k < 2 && s == LECTOR_STATUS_OK; k++) {
        size_t used = k ? bp[0]->bytes : 0;
        if (k == 0 || n[1] > 0)
            s = boundary_layout(enc, rows[k], n[k], p->memory_budget > used ? p->memory_budget - used : 0,
                                bp[k], &T_max[k], err);
    }
    if (s != LECTOR_STATUS_OK) goto done;
    if (p->cache_dir) {
        char key[512];
        struct lector_error cerr;
        boundary_cache_key(enc, n_run, bp[0]->bf16, key, sizeof key);
        cached = lector__states_cache_open(&cache, p->cache_dir, key, enc->cfg.n_embd,
                                           (int)boundary_elem(bp[0]), &cerr) == LECTOR_STATUS_OK;
        if (!cached) cache_warning(r, &cerr);
        for (int k = 0; cached && k < 2; k++) {
            have[k] = lector__calloc((size_t)(n[k] > 0 ? n[k] : 1), 1);
            if (!have[k]) {
                s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
                goto done;
            }
            sets[k] = (struct lector__states_set){rows[k], n[k], bp[k]->off, bp[k]->data, have[k], 0};
        }
        if (cached) {
            if (lector__states_cache_read(&cache, set_ptrs, n_sets, &cerr) != LECTOR_STATUS_OK)
                cache_warning(r, &cerr);
            r->n_cached = sets[0].n_read + (n_sets > 1 ? sets[1].n_read : 0);
            r->cache_path = lector__strdup(cache.path);
            r->n_cache_damaged = cache.n_damaged;
        }
    }
    for (int k = 0; k < 2 && s == LECTOR_STATUS_OK; k++)
        if (n[k] > 0)
            s = boundary_fill(enc, n_run, rows[k], n[k], T_max[k], have[k], p->cancel, bp[k], err);
    if (s == LECTOR_STATUS_OK && cached) {
        struct lector_error cerr;
        if (lector__states_cache_write(&cache, set_ptrs, n_sets, p->cache_max_size, &cerr) !=
            LECTOR_STATUS_OK)
            cache_warning(r, &cerr);
    }
done:
    if (cached) lector__states_cache_close(&cache);
    lector_free(have[0]);
    lector_free(have[1]);
    if (s != LECTOR_STATUS_OK) {
        boundary_free(bp[0]);
        boundary_free(bp[1]);
    }
    return s;
}

// x (B, T, C) and mask (B, T) of rows idx[0..B), T their longest; padding zero.
static int64_t boundary_gather(const struct boundary *b, const int64_t *idx, int64_t B,
                               int64_t C, float *x, int32_t *mask) {
    int64_t T = 1;
    for (int64_t r = 0; r < B; r++) {
        int64_t len = b->off[idx[r] + 1] - b->off[idx[r]];
        T = len > T ? len : T;
    }
    for (int64_t r = 0; r < B; r++) {
        int64_t len = b->off[idx[r] + 1] - b->off[idx[r]];
        boundary_get(b, idx[r], C, x + r * T * C);
        memset(x + (r * T + len) * C, 0, (size_t)((T - len) * C) * sizeof(float));
        for (int64_t t = 0; t < T; t++) mask[r * T + t] = t < len;
    }
    return T;
}

// ----------------------------------------------------------------------------
// AdamW parameter groups

struct pgroup {
    float *params;
    float *grads;
    const uint8_t *decay;
    int64_t n;
    float lr; // peak learning rate
    struct lector_adamw *opt;
    // row_len > 0: lazy steps (the n-gram weights): only rows[0, n_rows) of row_len floats
    // have gradients this step (lector_adamw_step_rows)
    const int64_t *rows;
    int64_t n_rows, row_len;
};

struct pgroups {
    struct pgroup g[66];
    int n;
};

static enum lector_status pgroup_add(struct pgroups *gs, float *params, float *grads,
                                     const uint8_t *decay, int64_t n, float lr, float wd,
                                     struct lector_error *err) {
    LECTOR_ASSERT(gs->n < (int)(sizeof gs->g / sizeof gs->g[0]));
    struct lector_adamw_params ap = lector_adamw_default_params();
    ap.lr = lr;
    ap.weight_decay = wd;
    struct pgroup *g = &gs->g[gs->n];
    *g = (struct pgroup){params, grads, decay, n, lr, NULL, NULL, 0, 0};
    enum lector_status s = lector_adamw_new(n, &ap, &g->opt, err);
    if (s == LECTOR_STATUS_OK) gs->n++;
    return s;
}

static void pgroups_free(struct pgroups *gs) {
    for (int i = 0; i < gs->n; i++) lector_adamw_free(gs->g[i].opt);
    gs->n = 0;
}

// The j-th stretch of group g's gradients that hold this step's values (*len floats): the
// whole array (j 0) or, for a lazy group, its listed rows; NULL past the last.
static float *pgroup_span(const struct pgroup *g, int64_t j, int64_t *len) {
    *len = g->row_len > 0 ? g->row_len : g->n;
    if (g->row_len > 0) return j < g->n_rows ? g->grads + g->rows[j] * g->row_len : NULL;
    return j == 0 ? g->grads : NULL;
}

// One step of every group at factor times its peak rate, after clipping the global norm of
// all their gradients (summed in double, in group order) to clip (0: no clipping).
static enum lector_status pgroups_step(struct pgroups *gs, double factor, float clip,
                                       struct lector_error *err) {
    float *v;
    int64_t len;
    if (clip > 0.0f) {
        double ss = 0.0;
        for (int i = 0; i < gs->n; i++)
            for (int64_t j = 0; (v = pgroup_span(&gs->g[i], j, &len)); j++)
                for (int64_t k = 0; k < len; k++) ss += (double)v[k] * (double)v[k];
        double norm = sqrt(ss);
        if (norm > (double)clip) {
            float scale = (float)((double)clip / norm);
            for (int i = 0; i < gs->n; i++)
                for (int64_t j = 0; (v = pgroup_span(&gs->g[i], j, &len)); j++)
                    for (int64_t k = 0; k < len; k++) v[k] *= scale;
        }
    }
    for (int i = 0; i < gs->n; i++) {
        struct pgroup *g = &gs->g[i];
        lector_adamw_set_lr(g->opt, (float)((double)g->lr * factor));
        if (g->row_len == 0) {
            lector_adamw_step(g->opt, g->params, g->grads, g->decay);
            continue;
        }
        enum lector_status s = lector_adamw_step_rows(g->opt, g->params, g->grads, g->decay,
                                                      g->rows, g->n_rows, g->row_len, err);
        if (s != LECTOR_STATUS_OK) return s;
    }
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// training

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

// Batches of similar lengths, so that little of a batch is padding: order[0, n) is cut into
// chunks of `chunk` rows (a multiple of the batch size), each chunk sorted by row length
// (ties: the earlier place first), so its batches are runs of similar lengths. start
// receives each batch's first place in order (steps_per_epoch of them), in the order the
// batches run: shuffled from rng when it is non-NULL, else in order. work: (n) row_len.
static void length_batches(int64_t *order, const int64_t *off, int64_t n, int64_t batch,
                           int64_t chunk, struct row_len *work, int64_t *start, uint64_t *rng) {
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
        int64_t m = n - c0 < chunk ? n - c0 : chunk;
        for (int64_t i = 0; i < m; i++) {
            int64_t row = order[c0 + i];
            work[i] = (struct row_len){off[row + 1] - off[row], c0 + i};
        }
        qsort(work, (size_t)m, sizeof *work, cmp_row_len);
        for (int64_t i = 0; i < m; i++) work[i].n = order[work[i].index];
        for (int64_t i = 0; i < m; i++) order[c0 + i] = work[i].n;
    }
    int64_t n_batch = (n + batch - 1) / batch;
    for (int64_t k = 0; k < n_batch; k++) start[k] = k * batch;
    if (!rng) return;
    for (int64_t k = n_batch - 1; k > 0; k--) {
        int64_t j = (int64_t)(next_u64(rng) % (uint64_t)(k + 1)), t = start[k];
        start[k] = start[j];
        start[j] = t;
    }
}

// The n-gram rows of a batch, gathered from those of every text (all NULL: no n-grams).
struct sparse_batch {
    const struct lector_sparse_rows *all;
    struct lector_sparse_rows b; // offsets: room for a batch + 1
    size_t cap;
};

static enum lector_status sparse_batch_init(struct sparse_batch *sb,
                                            const struct lector_sparse_rows *all, int64_t batch,
                                            struct lector_error *err) {
    memset(sb, 0, sizeof *sb);
    sb->all = all;
    if (all && !(sb->b.offsets = lector__malloc((size_t)(batch + 1) * sizeof *sb->b.offsets)))
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for n-gram rows");
    return LECTOR_STATUS_OK;
}

// sb's rows idx[0, B), or NULL without n-grams (*s NOMEM when they cannot be gathered).
static const struct lector_sparse_rows *sparse_batch_gather(struct sparse_batch *sb,
                                                            const int64_t *idx, int64_t B,
                                                            enum lector_status *s,
                                                            struct lector_error *err) {
    if (!sb->all) return NULL;
    if (lector__gather_sparse(sb->all, idx, B, &sb->b, &sb->cap)) return &sb->b;
    *s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for n-gram rows");
    return NULL;
}

// Logits (n, K) of the stored rows (and their n-gram rows, sp) through the trainable layers
// (no dropout) and the head, in batches of similar lengths (a row's logits do not depend on
// its batch). order: (n) scratch, batch_start: ((n + batch - 1) / batch), work: (n).
static enum lector_status logits_of(struct lector__enc_train *tr, const struct lector_head *head,
                                    const struct boundary *b, struct sparse_batch *sp, int64_t n,
                                    int64_t C, int64_t K, int64_t batch, float *x, int32_t *mask,
                                    float *pooled, int64_t *order, int64_t *batch_start,
                                    struct row_len *work, float *logits, float *blogits,
                                    struct lector_error *err) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    length_batches(order, b->off, n, batch, n, work, batch_start, NULL);
    for (int64_t k = 0; k * batch < n; k++) {
        int64_t start = batch_start[k], B = n - start < batch ? n - start : batch;
        const int64_t *idx = order + start;
        int64_t T = boundary_gather(b, idx, B, C, x, mask);
        enum lector_status s = lector__enc_train_forward(tr, x, mask, B, T, NULL, pooled, err);
        if (s != LECTOR_STATUS_OK) return s;
        const struct lector_sparse_rows *spb = sparse_batch_gather(sp, idx, B, &s, err);
        if (s != LECTOR_STATUS_OK) return s;
        s = lector_head_forward(head, pooled, spb, B, blogits, err);
        if (s != LECTOR_STATUS_OK) return s;
        for (int64_t r = 0; r < B; r++)
            memcpy(logits + idx[r] * K, blogits + r * K, (size_t)K * sizeof *logits);
    }
    return LECTOR_STATUS_OK;
}

void lector__finetune_result_free(struct lector__finetune_result *r) {
    if (!r) return;
    lector_head_free(r->head);
    lector__enc_train_free(r->tr);
    lector_free(r->cache_path);
    memset(r, 0, sizeof *r);
}

// ----------------------------------------------------------------------------
// one run: its checks, buffers, parameter groups, steps, epochs and the best epoch

// The arguments of lector__finetune (finetune.h), checked before anything is allocated.
static enum lector_status check_args(const struct lector_encoder *enc,
                                     const struct lector_token_row *train, const int32_t *y,
                                     int64_t n, const int32_t *y_valid, int64_t n_valid, int64_t K,
                                     const struct lector__finetune_params *p,
                                     struct lector_error *err) {
    const uint8_t *Y = p ? p->Y_train : NULL;
    const struct lector_sparse_rows *sp = p ? p->sp_train : NULL;
    if (!enc || !train || (!y && !Y) || n <= 0 || K < (Y ? 1 : 2) || !p || p->batch_size <= 0 ||
        p->n_epochs <= 0 || (n_valid > 0 && (Y ? !p->Y_valid : !y_valid)) ||
        (sp && (sp->n_rows != n || (n_valid > 0 && (!p->sp_valid ||
                                                    p->sp_valid->n_rows != n_valid ||
                                                    p->sp_valid->n_cols != sp->n_cols)))))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "lector__finetune: bad arguments");
    if (p->n_hidden < 0 || !(p->hidden_dropout >= 0.0f && p->hidden_dropout < 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__finetune: %lld hidden units with dropout %g: want >= 0 units "
                             "and a dropout in [0, 1)", (long long)p->n_hidden,
                             (double)p->hidden_dropout);
    if (!(p->label_smoothing >= 0.0f && p->label_smoothing < 1.0f) || p->patience < 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__finetune: label smoothing %g is outside [0, 1) or patience "
                             "%lld is negative", (double)p->label_smoothing, (long long)p->patience);
    for (int64_t k = 0; k < K && p->class_weights && !Y; k++)
        if (!(p->class_weights[k] >= 0.0f && isfinite(p->class_weights[k])))
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "lector__finetune: the weight of class %lld is %g, not a finite "
                                 "number >= 0", (long long)k, (double)p->class_weights[k]);
    for (int64_t i = 0; i < n && !Y; i++)
        if (y[i] < 0 || y[i] >= K)
            return lector__error(err, LECTOR_STATUS_RANGE, "label %d of row %lld outside [0, %lld)",
                                 (int)y[i], (long long)i, (long long)K);
    return LECTOR_STATUS_OK;
}

// What one run holds. n training and n_valid validation rows, K classes, C the hidden size,
// S n-gram columns (0: none), Bm the batch size, T_max the longest row.
struct run {
    const struct lector__finetune_params *p;
    const int32_t *y, *y_valid;  // (n), (n_valid) labels, or NULL with Y
    const uint8_t *Y, *Y_valid;  // (n, K), (n_valid, K) multi-label targets, or NULL
    int64_t n, n_valid, K, C, S, Bm;
    struct lector__enc_train *tr; // the result's
    struct lector_head *head;     // the result's
    struct boundary bt, bv;       // the training and validation rows' states
    struct sparse_batch sbt, sbv; // their n-gram rows
    struct pgroups gs;
    struct pgroup *gv;            // the n-gram weights' group, or NULL
    int64_t n_dense;              // the head's parameters before its n-gram weights
    // a batch: x (Bm, T_max, C), mask (Bm, T_max), pooled and dpooled (Bm, C), yb (Bm) or
    // Yb (Bm, K), blogits (Bm, K), idx (Bm) its rows
    float *x, *pooled, *dpooled, *blogits;
    int32_t *mask, *yb;
    uint8_t *Yb;
    int64_t *idx;
    // the rows' order (n), each batch's start in it and length_batches' room (the larger split)
    int64_t *order, *batch_start;
    struct row_len *work;
    // validation: vorder (n_valid), vlogits and vprobs (n_valid, K), vpred (n_valid)
    int64_t *vorder;
    float *vlogits, *vprobs;
    int32_t *vpred;
    float *best_enc, *best_head;  // the best epoch's parameters
    // the n-gram columns: the step that last listed each (S), and those of this step
    int64_t *stamp, *touched;
    size_t touched_cap;
    // the schedule and the random stream (shuffles, dropout seeds)
    int64_t step, n_steps, n_warmup, steps_per_epoch;
    uint64_t rng;
};

static int64_t longest_row(const struct lector_token_row *rows, int64_t n, int64_t T) {
    for (int64_t i = 0; i < n; i++) T = rows[i].n > T ? rows[i].n : T;
    return T;
}

// u's batch, validation and best-epoch buffers, and its n-gram batches.
static enum lector_status run_alloc(struct run *u, int64_t T_max, struct lector_error *err) {
    const int64_t Bm = u->Bm, C = u->C, K = u->K, n_v = u->n_valid > 0 ? u->n_valid : 1;
    const int64_t n_most = u->n > u->n_valid ? u->n : u->n_valid;
    u->x = lector__malloc((size_t)(Bm * T_max * C) * sizeof *u->x);
    u->mask = lector__malloc((size_t)(Bm * T_max) * sizeof *u->mask);
    u->pooled = lector__malloc((size_t)(Bm * C) * sizeof *u->pooled);
    u->dpooled = lector__malloc((size_t)(Bm * C) * sizeof *u->dpooled);
    u->yb = lector__malloc((size_t)Bm * sizeof *u->yb);
    u->order = lector__malloc((size_t)u->n * sizeof *u->order);
    u->idx = lector__malloc((size_t)Bm * sizeof *u->idx);
    u->vorder = lector__malloc((size_t)n_v * sizeof *u->vorder);
    u->batch_start = lector__malloc((size_t)((n_most + Bm - 1) / Bm) * sizeof *u->batch_start);
    u->work = lector__malloc((size_t)n_most * sizeof *u->work);
    u->blogits = lector__malloc((size_t)(Bm * K) * sizeof *u->blogits);
    u->vlogits = lector__malloc((size_t)(n_v * K) * sizeof *u->vlogits);
    u->best_enc = lector__malloc((size_t)lector__enc_train_n_params(u->tr) * sizeof *u->best_enc);
    u->best_head = lector__malloc((size_t)lector_head_n_params(u->head) * sizeof *u->best_head);
    u->vprobs = lector__malloc((size_t)(n_v * K) * sizeof *u->vprobs);
    u->vpred = lector__malloc((size_t)n_v * sizeof *u->vpred);
    u->Yb = u->Y ? lector__malloc((size_t)(Bm * K)) : NULL;
    u->stamp = u->S > 0 ? lector__malloc((size_t)u->S * sizeof *u->stamp) : NULL;
    if (!u->x || !u->mask || !u->pooled || !u->dpooled || !u->yb || !u->order || !u->idx ||
        !u->vorder || !u->batch_start || !u->work || !u->blogits || !u->vlogits || !u->best_enc ||
        !u->best_head || !u->vprobs || !u->vpred || (u->Y && !u->Yb) || (u->S > 0 && !u->stamp))
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for fine-tuning buffers");
    for (int64_t j = 0; j < u->S; j++) u->stamp[j] = -1;
    enum lector_status s = sparse_batch_init(&u->sbt, u->p->sp_train, Bm, err);
    if (s == LECTOR_STATUS_OK)
        s = sparse_batch_init(&u->sbv, u->n_valid > 0 ? u->p->sp_valid : NULL, Bm, err);
    return s;
}

static void run_free(struct run *u) {
    pgroups_free(&u->gs);
    boundary_free(&u->bt);
    boundary_free(&u->bv);
    lector_free(u->x);
    lector_free(u->mask);
    lector_free(u->pooled);
    lector_free(u->dpooled);
    lector_free(u->yb);
    lector_free(u->order);
    lector_free(u->idx);
    lector_free(u->vorder);
    lector_free(u->batch_start);
    lector_free(u->work);
    lector_free(u->blogits);
    lector_free(u->vlogits);
    lector_free(u->best_enc);
    lector_free(u->best_head);
    lector_free(u->vprobs);
    lector_free(u->vpred);
    lector_free(u->Yb);
    lector_free(u->stamp);
    lector_free(u->touched);
    lector_sparse_rows_free(&u->sbt.b);
    lector_sparse_rows_free(&u->sbv.b);
}

// The AdamW parameter groups: the head (its dense part, then the n-gram weights V at their own
// rate and decay, stepped lazily), then each trainable layer from the top down at lr_encoder
// times layer_lr_decay^(its depth below the top), the pooler with the top layer.
static enum lector_status groups_init(struct run *u, struct lector_error *err) {
    const struct lector__finetune_params *p = u->p;
    const int64_t n_unf = lector__enc_train_n_unfreeze(u->tr);
    float *head_params = lector_head_params(u->head), *head_grads = lector_head_grads(u->head);
    const uint8_t *head_decay = lector_head_decay_mask(u->head);
    u->n_dense = u->S > 0 ? lector_head_get_layout(u->head).V : lector_head_n_params(u->head);
    enum lector_status s = pgroup_add(&u->gs, head_params, head_grads, head_decay, u->n_dense,
                                      p->lr_head, p->weight_decay, err);
    if (s == LECTOR_STATUS_OK && u->S > 0) {
        s = pgroup_add(&u->gs, head_params + u->n_dense, head_grads + u->n_dense,
                       head_decay + u->n_dense, u->S * u->K, p->adamw_sparse.lr,
                       p->adamw_sparse.weight_decay, err);
        u->gv = &u->gs.g[u->gs.n - 1];
        u->gv->row_len = u->K;
    }
    for (int64_t g = n_unf; s == LECTOR_STATUS_OK && g >= 0; g--) {
        int64_t off, cnt;
        lector__enc_train_group_range(u->tr, g, &off, &cnt);
        if (cnt == 0) continue;
        int64_t depth = g == n_unf ? 0 : n_unf - 1 - g; // the pooler goes with the top layer
        float lr = (float)((double)p->lr_encoder * pow((double)p->layer_lr_decay, (double)depth));
        s = pgroup_add(&u->gs, lector__enc_train_params(u->tr) + off,
                       lector__enc_train_grads(u->tr) + off,
                       lector__enc_train_decay_mask(u->tr) + off, cnt, lr, p->weight_decay, err);
    }
    return s;
}

// One optimiser step on the batch at place start of the order: the tuned layers forward, the
// pooled vector's dropout, the head's loss and its backward, back through the dropout and the
// layers, then every group's step. Adds the batch's loss times its rows to *loss_sum.
static enum lector_status train_step(struct run *u, int64_t start, double *loss_sum,
                                     struct lector_error *err) {
    const struct lector__finetune_params *p = u->p;
    const int64_t C = u->C, K = u->K, B = u->n - start < u->Bm ? u->n - start : u->Bm;
    float *head_grads = lector_head_grads(u->head);
    enum lector_status s = LECTOR_STATUS_OK;
    for (int64_t r = 0; r < B; r++) {
        u->idx[r] = u->order[start + r];
        if (u->Y)
            memcpy(u->Yb + r * K, u->Y + u->idx[r] * K, (size_t)K);
        else
            u->yb[r] = u->y[u->idx[r]];
    }
    int64_t T = boundary_gather(&u->bt, u->idx, B, C, u->x, u->mask);
    const struct lector_sparse_rows *spb = sparse_batch_gather(&u->sbt, u->idx, B, &s, err);
    if (s != LECTOR_STATUS_OK) return s;
    struct pgroup *gv = u->gv;
    if (gv && !lector__list_touched(spb, u->step, u->stamp, &u->touched, &u->touched_cap,
                                    &gv->n_rows))
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for n-gram rows");
    if (gv) gv->rows = u->touched;
    struct lector__enc_dropout drop = {p->encoder_dropout, p->encoder_dropout, next_u64(&u->rng)};
    uint64_t pooled_seed = next_u64(&u->rng);
    // the head's grads are zero here but for its dense part (all of them at the start, then
    // the touched n-gram rows after each step)
    memset(head_grads, 0, (size_t)u->n_dense * sizeof *head_grads);
    lector__enc_train_zero_grad(u->tr);
    s = lector__enc_train_forward(u->tr, u->x, u->mask, B, T, &drop, u->pooled, err);
    if (s != LECTOR_STATUS_OK) return s;
    lector_dropout_forward(u->pooled, B * C, p->pooled_dropout, pooled_seed);
    float loss;
    // an MLP head's hidden dropout: a mask of its own, from the pooled vector's seed
    const struct lector_loss_params lp = {.class_weights = u->Y ? NULL : p->class_weights,
                                          .label_smoothing = p->label_smoothing,
                                          .dropout = p->hidden_dropout,
                                          .dropout_seed = pooled_seed ^ UINT64_C(0x68696464656e),
                                          .targets = u->Yb};
    lector_head_loss_backward(u->head, u->pooled, spb, u->Y ? NULL : u->yb, B, &lp, &loss, u->x);
    // x (no longer needed) holds d(loss)/d(dropped pooled); back through the dropout
    memset(u->dpooled, 0, (size_t)(B * C) * sizeof *u->dpooled);
    lector_dropout_backward(u->dpooled, u->x, B * C, p->pooled_dropout, pooled_seed);
    lector__enc_train_backward(u->tr, u->dpooled);
    s = pgroups_step(&u->gs, lector_schedule_factor(p->schedule, u->step, u->n_steps, u->n_warmup),
                     p->clip_norm, err);
    if (s != LECTOR_STATUS_OK) return s;
    for (int64_t j = 0; gv && j < gv->n_rows; j++)
        memset(gv->grads + u->touched[j] * K, 0, (size_t)K * sizeof *head_grads);
    *loss_sum += (double)loss * (double)B;
    u->step++;
    return LECTOR_STATUS_OK;
}

// One pass over the training rows: shuffled from the seed, cut into batches of similar lengths
// (within chunks of 50 batches) that run in a shuffled order; *loss gets the mean loss.
static enum lector_status train_epoch(struct run *u, double *loss, struct lector_error *err) {
    const int64_t n = u->n;
    for (int64_t i = n - 1; i > 0; i--) { // Fisher-Yates from the seed
        int64_t j = (int64_t)(next_u64(&u->rng) % (uint64_t)(i + 1));
        int64_t t = u->order[i];
        u->order[i] = u->order[j];
        u->order[j] = t;
    }
    length_batches(u->order, u->bt.off, n, u->Bm, 50 * u->Bm, u->work, u->batch_start, &u->rng);
    double sum = 0.0;
    for (int64_t k = 0; k < u->steps_per_epoch; k++) {
        if (u->p->cancel && *u->p->cancel)
            return lector__error(err, LECTOR_STATUS_INTERRUPTED, "interrupted");
        enum lector_status s = train_step(u, u->batch_start[k], &sum, err);
        if (s != LECTOR_STATUS_OK) return s;
    }
    *loss = sum / (double)n;
    // the n-gram rows not touched lately still owe their weight decay
    if (u->gv) lector_adamw_sync_rows(u->gv->opt, u->gv->params, u->gv->decay);
    return LECTOR_STATUS_OK;
}

// The validation figures of the current weights (accuracy and macro-F1 -1 and loss 0 without
// validation rows).
static enum lector_status validate(struct run *u, double *acc, double *f1, double *loss,
                                   struct lector_error *err) {
    *acc = *f1 = -1.0;
    *loss = 0.0;
    if (u->n_valid <= 0) return LECTOR_STATUS_OK;
    enum lector_status s = logits_of(u->tr, u->head, &u->bv, &u->sbv, u->n_valid, u->C, u->K,
                                     u->Bm, u->x, u->mask, u->pooled, u->vorder, u->batch_start,
                                     u->work, u->vlogits, u->blogits, err);
    if (s != LECTOR_STATUS_OK) return s;
    return lector__valid_scores(u->vlogits, u->y_valid, u->Y_valid, u->n_valid, u->K, u->vprobs,
                                u->vpred, acc, f1, loss, err);
}

// The best epoch so far: its macro-F1 (the highest of those taken), its validation loss and
// the epochs since.
struct best {
    double f1, loss;
    int64_t since;
};

// Whether an epoch with validation macro-F1 f1 and loss is better than the best (finetune.h's
// rule; every epoch is without validation rows): if so it becomes the best.
static bool best_take(struct best *b, bool no_valid, double f1, double loss, double min_delta) {
    if (!(no_valid || f1 > b->f1 + min_delta || (f1 >= b->f1 - min_delta && loss < b->loss))) {
        b->since++;
        return false;
    }
    if (f1 > b->f1) b->f1 = f1;
    b->loss = loss;
    b->since = 0;
    return true;
}

// The trainable layers' and the head's parameters into the best epoch's copy (to_best), or
// back from it.
static void copy_best(struct run *u, bool to_best) {
    float *enc = lector__enc_train_params(u->tr), *head = lector_head_params(u->head);
    const size_t n_enc = (size_t)lector__enc_train_n_params(u->tr) * sizeof *enc;
    const size_t n_head = (size_t)lector_head_n_params(u->head) * sizeof *head;
    memcpy(to_best ? u->best_enc : enc, to_best ? enc : u->best_enc, n_enc);
    memcpy(to_best ? u->best_head : head, to_best ? head : u->best_head, n_head);
}

// The epochs, each scored on validation and reported, until the last or patience runs out;
// the weights are then the best epoch's.
static enum lector_status train_epochs(struct run *u, struct lector__finetune_result *r,
                                       struct lector_error *err) {
    const struct lector__finetune_params *p = u->p;
    struct best b = {-1.0, HUGE_VAL, 0};
    for (int64_t i = 0; i < u->n; i++) u->order[i] = i;
    lector_head_zero_grad(u->head);
    for (int64_t epoch = 1; epoch <= p->n_epochs; epoch++) {
        double te = lector_now(), train_loss = 0.0, acc = -1.0, f1 = -1.0, vloss = 0.0;
        enum lector_status s = train_epoch(u, &train_loss, err);
        if (s == LECTOR_STATUS_OK) s = validate(u, &acc, &f1, &vloss, err);
        if (s != LECTOR_STATUS_OK) return s;
        double secs = lector_now() - te;
        r->seconds_epochs += secs;
        r->n_epochs_run = epoch;
        if (p->on_epoch) p->on_epoch(p->user, epoch, secs, acc, f1, train_loss, vloss);
        if (best_take(&b, u->n_valid == 0, f1, vloss, (double)p->min_delta)) {
            r->best_epoch = epoch;
            r->valid_accuracy = acc;
            r->valid_macro_f1 = f1;
            copy_best(u, true);
        } else if (p->patience > 0 && b.since >= p->patience) {
            break;
        }
    }
    copy_best(u, false);
    return LECTOR_STATUS_OK;
}

enum lector_status lector__finetune(const struct lector_encoder *enc,
                                    const struct lector_token_row *train, const int32_t *y,
                                    int64_t n, const struct lector_token_row *valid,
                                    const int32_t *y_valid, int64_t n_valid, int64_t K,
                                    const struct lector__finetune_params *p,
                                    struct lector__finetune_result *r, struct lector_error *err) {
    memset(r, 0, sizeof *r);
    enum lector_status s = check_args(enc, train, y, n, y_valid, n_valid, K, p, err);
    if (s != LECTOR_STATUS_OK) return s;
    r->enc = enc;
    struct run u = {.p = p, .y = y, .y_valid = y_valid, .Y = p->Y_train, .Y_valid = p->Y_valid,
                    .n = n, .n_valid = n_valid, .K = K, .C = enc->cfg.n_embd,
                    .S = p->sp_train ? p->sp_train->n_cols : 0, .Bm = p->batch_size};
    s = lector__enc_train_init(enc, p->n_unfreeze, p->pooling, &r->tr, err);
    if (s == LECTOR_STATUS_OK)
        s = lector_head_new(&(struct lector_head_shape){u.C, p->n_hidden, u.S, K}, p->seed,
                            &r->head, err);
    if (s != LECTOR_STATUS_OK) goto done;
    u.tr = r->tr;
    u.head = r->head;

    double t0 = lector_now();
    s = boundary_prepare(enc, lector__enc_train_first_layer(u.tr), p,
                         (const struct lector_token_row *const[2]){train, valid},
                         (const int64_t[2]){n, n_valid}, (struct boundary *const[2]){&u.bt, &u.bv},
                         r, err);
    if (s != LECTOR_STATUS_OK) goto done;
    r->seconds_frozen = lector_now() - t0;
    r->boundary_bytes = u.bt.bytes + u.bv.bytes;
    r->boundary_mapped = u.bt.mapped || u.bv.mapped;
    if (p->on_start) p->on_start(p->user);

    s = run_alloc(&u, longest_row(valid, n_valid, longest_row(train, n, 1)), err);
    if (s == LECTOR_STATUS_OK) s = groups_init(&u, err);
    if (s != LECTOR_STATUS_OK) goto done;
    u.steps_per_epoch = (n + u.Bm - 1) / u.Bm;
    u.n_steps = u.steps_per_epoch * p->n_epochs;
    u.n_warmup = (int64_t)((double)p->warmup * (double)u.n_steps);
    u.rng = p->seed ^ UINT64_C(0x5DEECE66D);
    s = train_epochs(&u, r, err);
done:
    if (s != LECTOR_STATUS_OK) lector__finetune_result_free(r);
    run_free(&u);
    return s;
}

enum lector_status lector__finetune_predict(const struct lector__finetune_result *r,
                                            const struct lector_token_row *rows, int64_t n,
                                            float *logits, struct lector_error *err) {
    if (!r || !r->tr || !r->head || !rows || !logits)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__finetune_predict: bad arguments");
    if (lector_head_n_sparse(r->head) > 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__finetune_predict: the head has n-gram weights, and no n-gram "
                             "rows are given");
    if (n <= 0) return LECTOR_STATUS_OK;
    int64_t C = r->enc->cfg.n_embd, K = lector_head_n_classes(r->head), Bm = 32, T_max = 1;
    for (int64_t i = 0; i < n; i++) T_max = rows[i].n > T_max ? rows[i].n : T_max;
    struct boundary b = {0};
    enum lector_status s = boundary_compute(r->enc, lector__enc_train_first_layer(r->tr), rows,
                                            n, (size_t)1 << 30, NULL, &b, err);
    if (s != LECTOR_STATUS_OK) return s;
    float *x = lector__malloc((size_t)(Bm * T_max * C) * sizeof *x);
    float *pooled = lector__malloc((size_t)(Bm * C) * sizeof *pooled);
    int32_t *mask = lector__malloc((size_t)(Bm * T_max) * sizeof *mask);
    int64_t *order = lector__malloc((size_t)n * sizeof *order);
    int64_t *batch_start = lector__malloc((size_t)((n + Bm - 1) / Bm) * sizeof *batch_start);
    struct row_len *work = lector__malloc((size_t)n * sizeof *work);
    float *blogits = lector__malloc((size_t)(Bm * K) * sizeof *blogits);
    if (!x || !pooled || !mask || !order || !batch_start || !work || !blogits)
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory predicting");
    else
        s = logits_of(r->tr, r->head, &b, &(struct sparse_batch){0}, n, C, K, Bm, x, mask, pooled,
                      order, batch_start, work, logits, blogits, err);
    lector_free(x);
    lector_free(pooled);
    lector_free(mask);
    lector_free(order);
    lector_free(batch_start);
    lector_free(work);
    lector_free(blogits);
    boundary_free(&b);
    return s;
}

// Pooled features of whole documents: a text longer than max_len tokens is split into
// overlapping windows, each window is encoded with the family's special tokens around it, and
// the windows' pooled vectors are pooled again (mean or max) into one vector per text.
#include "lector/classifier.h"

#include <string.h>

#include "base/base_impl.h"
#include "task/task_impl.h"

int lector_doc_pooling_parse(const char *name) {
    if (!strcmp(name, "truncate")) return LECTOR_DOC_TRUNCATE;
    if (!strcmp(name, "mean")) return LECTOR_DOC_MEAN;
    if (!strcmp(name, "max")) return LECTOR_DOC_MAX;
    return -1;
}

const char *lector_doc_pooling_name(enum lector_doc_pooling p) {
    switch (p) {
    case LECTOR_DOC_MEAN: return "mean";
    case LECTOR_DOC_MAX: return "max";
    default: return "truncate";
    }
}

// A growable int32 array.
struct ibuf {
    int32_t *v;
    size_t n, cap;
};
static bool ibuf_reserve(struct ibuf *b, size_t more) {
    if (b->n + more <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more) cap *= 2;
    int32_t *v = lector__realloc(b->v, cap * sizeof *v);
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}

// The encoder rows of a batch of texts: their token ids one after another in ids, row r
// being the len[r] ids from off[r].
struct rows {
    struct ibuf ids;
    int64_t *off, *len, n, cap;
};

// Room for one more row in r's (offset, length) arrays.
static bool rows_reserve(struct rows *r) {
    if (r->n < r->cap) return true;
    const int64_t c = r->cap ? 2 * r->cap : 1024;
    int64_t *o = lector__realloc(r->off, (size_t)c * sizeof *o);
    if (!o) return false;
    r->off = o;
    int64_t *l = lector__realloc(r->len, (size_t)c * sizeof *l);
    if (!l) return false;
    r->len = l;
    r->cap = c;
    return true;
}

// A new row of r: the na ids of a, the nb of b and the nc of c, in that order; false out
// of memory.
static bool rows_add(struct rows *r, const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                     const int32_t *c, int64_t nc) {
    const int64_t m = na + nb + nc;
    if (!rows_reserve(r)) return false;
    if (!ibuf_reserve(&r->ids, (size_t)m)) return false;
    int32_t *d = r->ids.v + r->ids.n;
    if (na) memcpy(d, a, (size_t)na * sizeof *d);
    if (nb) memcpy(d + na, b, (size_t)nb * sizeof *d);
    if (nc) memcpy(d + na + nb, c, (size_t)nc * sizeof *d);
    r->off[r->n] = (int64_t)r->ids.n;
    r->ids.n += (size_t)m;
    r->len[r->n++] = m;
    return true;
}

static void rows_free(struct rows *r) {
    lector_free(r->len);
    lector_free(r->off);
    lector_free(r->ids.v);
}

// The windows of a text that did not fit in one: its pieces (tokenized again whole into
// *pieces) in windows of W pieces, stride apart, each between the specials of head (the text's
// ids as first tokenized: n_added specials around its first W pieces), added to r. Out of
// memory: *nomem set and no message (the caller writes it).
static enum lector_status add_windows(struct rows *r, const struct lector_tokenizer *tok,
                                      const struct lector_window_params *wp, const char *text,
                                      size_t len, const int32_t *head, int64_t W, int64_t n_added,
                                      int32_t **pieces, bool *nomem, struct lector_error *err) {
    int64_t np = 0;
    lector_free(*pieces);
    *pieces = NULL;
    enum lector_status s = lector_tokenizer_encode_pieces(tok, text, len, pieces, &np, err);
    if (s != LECTOR_STATUS_OK) return s;
    // Where the pieces start inside head: the prefix specials come first.
    int64_t pre = 0;
    while (pre < n_added && memcmp(head + pre, *pieces, (size_t)W * sizeof *head) != 0) pre++;
    if (pre == n_added) pre = 0; // cannot happen for a consistent tokenizer
    const int64_t step = W - wp->stride;
    int64_t n_win = np <= W ? 1 : 1 + (np - W + step - 1) / step;
    if (wp->max_windows > 0 && n_win > wp->max_windows) {
        n_win = wp->max_windows;
        if (wp->n_cut) ++*wp->n_cut;
    }
    for (int64_t w = 0; w < n_win; w++) {
        const int64_t a = w * step, n_w = np - a < W ? np - a : W;
        if (!rows_add(r, head, pre, *pieces + a, n_w, head + pre + W, n_added - pre)) {
            *nomem = true;
            return LECTOR_STATUS_NOMEM;
        }
    }
    return LECTOR_STATUS_OK;
}

// out (n, C) <- the vectors feats (C each) of each text's rows doc_first[i] .. doc_first[i + 1]
// pooled (mean, summed in window order in double, or max); zero for a text with none.
static void pool_windows(float *out, const float *feats, const int64_t *doc_first, int64_t n,
                         int64_t C, enum lector_doc_pooling doc_pooling) {
    for (int64_t i = 0; i < n; i++) {
        float *o = out + i * C;
        const int64_t a = doc_first[i], b = doc_first[i + 1];
        if (b == a) {
            memset(o, 0, (size_t)C * sizeof *o);
            continue;
        }
        memcpy(o, feats + a * C, (size_t)C * sizeof *o);
        if (doc_pooling == LECTOR_DOC_MAX) {
            for (int64_t r = a + 1; r < b; r++)
                for (int64_t c = 0; c < C; c++)
                    if (feats[r * C + c] > o[c]) o[c] = feats[r * C + c];
        } else if (b - a > 1) {
            for (int64_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (int64_t r = a; r < b; r++) acc += (double)feats[r * C + c];
                o[c] = (float)(acc / (double)(b - a));
            }
        }
    }
}

#define TOKEN_BUDGET 1024 // padded tokens per encoder batch (at least one full window)

enum lector_status lector__embed_tokenized(const struct lector_encoder *enc,
                                           struct lector_encoder_state *st,
                                           const struct lector_tokenizer *tok,
                                           enum lector_pooling pooling,
                                           const struct lector_window_params *wp,
                                           const char *const *texts, const size_t *lens,
                                           const struct lector__tokenized *tk, int64_t n,
                                           float *out, int64_t *n_windows,
                                           struct lector_error *err) {
    const int64_t C = lector_encoder_get_config(enc)->n_embd, T = wp->max_len;
    const int64_t n_added = lector_tokenizer_n_added(tok);
    const int64_t W = T - n_added; // pieces per window
    const bool split = wp->doc_pooling != LECTOR_DOC_TRUNCATE;
    if (T < n_added + 1 || wp->stride < 0 || (split && wp->stride >= W))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "windows: max length %lld leaves %lld tokens per window; the stride "
                             "(%lld) must be smaller", (long long)T, (long long)W,
                             (long long)wp->stride);
    enum lector_status s = LECTOR_STATUS_OK;
    struct rows r = {0};
    int64_t *doc_first = NULL;
    int32_t *pieces = NULL;
    struct lector_token_row *rows = NULL;
    float *feats = NULL;
    bool nomem = false;
    doc_first = lector__malloc((size_t)(n + 1) * sizeof *doc_first);
    if (!doc_first) goto nomem;

    for (int64_t i = 0; i < n; i++) {
        doc_first[i] = r.n;
        if (tk->status && tk->status[i] != LECTOR_STATUS_OK) continue;
        const int32_t *head = tk->ids + tk->row[i] * T;
        if (tk->truncated[tk->row[i]] && split) {
            s = add_windows(&r, tok, wp, texts[i], lens[i], head, W, n_added, &pieces, &nomem, err);
            if (nomem) goto nomem;
            if (s != LECTOR_STATUS_OK) goto done;
        } else if (!rows_add(&r, head, tk->n_ids[tk->row[i]], NULL, 0, NULL, 0)) {
            goto nomem;
        }
    }
    doc_first[n] = r.n;
    if (n_windows) *n_windows = r.n;

    // Row views are made only now: r.ids.v may have moved while it grew.
    rows = lector__malloc((size_t)(r.n ? r.n : 1) * sizeof *rows);
    feats = lector__malloc((size_t)(r.n ? r.n : 1) * (size_t)C * sizeof *feats);
    if (!rows || !feats) goto nomem;
    for (int64_t k = 0; k < r.n; k++) rows[k] = (struct lector_token_row){r.ids.v + r.off[k], r.len[k]};
    // Rows are sorted by length into batches of at most batch_size rows and a budget of
    // padded tokens: enough rows for the products to run at speed, few enough that a
    // layer's activations stay in cache (measured: 1,024 tokens beat 4,096 by 7% on long
    // texts; batches of hundreds of short rows were 20% slower than 32).
    const int64_t B = wp->batch_size > 0 ? wp->batch_size : 32;
    const int64_t at_least = TOKEN_BUDGET > T ? TOKEN_BUDGET : T; // one full window fits
    const int64_t budget = B * T < at_least ? B * T : at_least;
    s = lector_embed_rows(enc, st, rows, r.n, pooling, B, budget, feats, err);
    if (s != LECTOR_STATUS_OK) goto done;
    pool_windows(out, feats, doc_first, n, C, wp->doc_pooling);
    goto done;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory encoding %lld texts", (long long)n);
done:
    lector_free(feats);
    lector_free(rows);
    lector_free(pieces);
    lector_free(doc_first);
    rows_free(&r);
    return s;
}

enum lector_status lector_embed_texts(const struct lector_encoder *enc,
                                      struct lector_encoder_state *st,
                                      const struct lector_tokenizer *tok,
                                      enum lector_pooling pooling,
                                      const struct lector_window_params *wp,
                                      const char *const *texts, const size_t *lens, int64_t n,
                                      float *out, enum lector_status *bad, int64_t *n_windows,
                                      struct lector_error *err) {
    const int64_t T = wp->max_len;
    if (T < 1) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "windows: max length %lld", (long long)T);
    struct lector__tokenized tk = {0};
    enum lector_status s = LECTOR_STATUS_OK;
    int32_t *ids = lector__malloc((size_t)(n ? n : 1) * (size_t)T * sizeof *ids);
    tk.ids = ids;
    tk.n_ids = lector__malloc((size_t)(n ? n : 1) * sizeof *tk.n_ids);
    tk.truncated = lector__malloc((size_t)(n ? n : 1));
    tk.row = lector__malloc((size_t)(n ? n : 1) * sizeof *tk.row);
    tk.status = bad;
    if (!ids || !tk.n_ids || !tk.truncated || !tk.row) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory encoding %lld texts", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        struct lector_encode_info info;
        struct lector_error e;
        tk.row[i] = i;
        enum lector_status ts = lector_tokenizer_encode(tok, texts[i], lens[i], T, ids + i * T, &tk.n_ids[i],
                                                        &info, &e);
        tk.truncated[i] = info.truncated != 0;
        if (bad) bad[i] = ts;
        if (ts != LECTOR_STATUS_OK && !bad) {
            if (err) *err = e;
            s = ts;
            goto done;
        }
    }
    s = lector__embed_tokenized(enc, st, tok, pooling, wp, texts, lens, &tk, n, out, n_windows, err);
done:
    lector_free(tk.row);
    lector_free(tk.truncated);
    lector_free(tk.n_ids);
    lector_free(ids);
    return s;
}

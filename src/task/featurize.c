// A corpus's texts -> token ids (each text tokenized once) -> pooled vectors, from the feature
// cache where it has them, the rest encoded in chunks; and n-gram rows.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "lector/train.h"
#include "task/task_impl.h"
#include "text/text_impl.h"

struct lector_featurizer {
    struct lector_encoder *enc;
    struct lector_tokenizer *tok;
    bool owned; // enc and tok are closed with the featurizer
    struct lector_encoder_state *st;
    struct lector_feature_cache *cache;
    struct lector_featurizer_options o; // resolved max_len and stride; cache_dir not kept
};

static void emit(const struct lector_featurizer *fz, const struct lector_event *e) {
    if (fz->o.on_event) fz->o.on_event(fz->o.user, e);
}

void lector_featurizer_close(struct lector_featurizer *fz) {
    if (!fz) return;
    lector_feature_cache_close(fz->cache);
    lector_encoder_state_free(fz->st);
    if (fz->owned) {
        lector_tokenizer_close(fz->tok);
        lector_encoder_close(fz->enc);
    }
    free(fz);
}

const struct lector_encoder *lector_featurizer_encoder(const struct lector_featurizer *fz) { return fz->enc; }
const struct lector_tokenizer *lector_featurizer_tokenizer(const struct lector_featurizer *fz) { return fz->tok; }
const struct lector_featurizer_options *lector_featurizer_get_options(const struct lector_featurizer *fz) {
    return &fz->o;
}

struct lector_encoder_state *lector_featurizer_state(struct lector_featurizer *fz) { return fz->st; }
struct lector_feature_cache *lector_featurizer_cache(struct lector_featurizer *fz) { return fz->cache; }

void lector_featurizer_options_init(struct lector_featurizer_options *o) {
    *o = (struct lector_featurizer_options){LECTOR_POOLING_MEAN, 0, LECTOR_DOC_MEAN, -1, 128, NULL,
                                            LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT, NULL, NULL, NULL};
}

void lector__featurizer_release(struct lector_featurizer *fz, struct lector_encoder **enc,
                                struct lector_tokenizer **tok) {
    *enc = fz->enc;
    *tok = fz->tok;
    fz->owned = false;
}

// The cache for this encoder, tokenizer, pooling, max length and windows (a cache that
// cannot be opened is reported and left out: it only saves time).
static void open_cache(struct lector_featurizer *fz, const char *dir, uint64_t max_size) {
    struct lector_error err;
    char key[512];
    // a fine-tuned model's layers make other vectors: its variant is part of the key
    const char *tuned = lector__encoder_substitution_id(fz->enc);
    int kn = snprintf(key, sizeof key, "lector-features-v1 encoder=%s%s%s tokenizer=%s pooling=%s max_len=%lld",
                      lector_encoder_checksum(fz->enc), tuned ? " tuned=" : "", tuned ? tuned : "",
                      lector_tokenizer_hash(fz->tok), lector_pooling_name(fz->o.pooling),
                      (long long)fz->o.max_len);
    if (fz->o.doc_pooling != LECTOR_DOC_TRUNCATE && kn > 0 && (size_t)kn < sizeof key)
        snprintf(key + kn, sizeof key - (size_t)kn, " doc_pooling=%s stride=%lld max_windows=%lld",
                 lector_doc_pooling_name(fz->o.doc_pooling), (long long)fz->o.stride, (long long)fz->o.max_windows);
    if (lector_feature_cache_open(dir, key, lector_encoder_get_config(fz->enc)->n_embd, &fz->cache, &err) !=
        LECTOR_STATUS_OK) {
        fz->cache = NULL;
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_FAILED, .message = err.msg});
        return;
    }
    lector_feature_cache_set_max_size(fz->cache, max_size);
    const char *note = lector_feature_cache_note(fz->cache);
    if (note) emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_NOTE, .message = note});
}

// Resolve max_len and stride against the encoder and tokenizer.
static enum lector_status resolve(struct lector_featurizer *fz, bool max_len_given, struct lector_error *err) {
    const int64_t n_pos = lector_encoder_get_config(fz->enc)->n_pos;
    if (max_len_given && fz->o.max_len > n_pos)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "max_len: %lld exceeds the encoder's %lld positions",
                             (long long)fz->o.max_len, (long long)n_pos);
    if (!max_len_given) fz->o.max_len = 128 < n_pos ? 128 : n_pos;
    if (fz->o.max_len < 2)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "max_len: %lld is below 2", (long long)fz->o.max_len);
    const int64_t window = fz->o.max_len - lector_tokenizer_n_added(fz->tok);
    if (fz->o.stride < 0) fz->o.stride = window / 4 < 32 ? window / 4 : 32;
    if (fz->o.doc_pooling != LECTOR_DOC_TRUNCATE && fz->o.stride >= window)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "stride: %lld must be smaller than the %lld tokens of a window",
                             (long long)fz->o.stride, (long long)window);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_featurizer_open(const char *dir, const struct lector_featurizer_options *o,
                                          struct lector_featurizer **out, struct lector_error *err) {
    *out = NULL;
    struct lector_featurizer *fz = lector__calloc(1, sizeof *fz);
    if (!fz) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
    fz->owned = true;
    fz->o = *o;
    fz->o.cache_dir = NULL;
    if (!dir) {
        // n-grams alone: no encoder, no tokenizer; texts are only checked to be UTF-8
        fz->o.max_len = 0;
        fz->o.doc_pooling = LECTOR_DOC_TRUNCATE; // no windows either
        fz->o.stride = 0;
        *out = fz;
        return LECTOR_STATUS_OK;
    }
    enum lector_status s = lector_encoder_open(dir, &fz->enc, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    if (o->max_len > 0 && o->max_len > lector_encoder_get_config(fz->enc)->n_pos) {
        s = resolve(fz, true, err); // the positions error, before the tokenizer is read
        goto fail;
    }
    if (o->pooling == LECTOR_POOLING_POOLER && !lector_encoder_has_pooler(fz->enc)) {
        s = lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: this checkpoint has no pooler; pooling must be cls, "
                          "mean or max", dir);
        goto fail;
    }
    if ((s = lector_tokenizer_open(dir, &fz->tok, err)) != LECTOR_STATUS_OK ||
        (s = lector_encoder_check_n_vocab(fz->enc, lector_tokenizer_n_vocab(fz->tok), dir,
                                          lector_tokenizer_source(fz->tok), err)) != LECTOR_STATUS_OK ||
        (s = lector_encoder_state_new(fz->enc, &fz->st, err)) != LECTOR_STATUS_OK ||
        (s = resolve(fz, o->max_len > 0, err)) != LECTOR_STATUS_OK)
        goto fail;
    if (o->cache_dir) open_cache(fz, o->cache_dir, o->cache_max_size);
    *out = fz;
    return LECTOR_STATUS_OK;
fail:
    lector_featurizer_close(fz);
    return s;
}

enum lector_status lector_featurizer_for_classifier(const struct lector_classifier *clf,
                                                    const struct lector_featurizer_options *o,
                                                    struct lector_featurizer **out, struct lector_error *err) {
    *out = NULL;
    struct lector_featurizer *fz = lector__calloc(1, sizeof *fz);
    if (!fz) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    fz->enc = (struct lector_encoder *)lector_classifier_encoder(clf); // not written to: borrowed
    fz->tok = (struct lector_tokenizer *)lector_classifier_tokenizer(clf);
    fz->o = (struct lector_featurizer_options){info->pooling, info->max_len, info->doc_pooling, info->stride,
                                               o->max_windows, NULL, o->cache_max_size, o->on_event, o->user,
                                               o->cancel};
    enum lector_status s = fz->enc ? lector_encoder_state_new(fz->enc, &fz->st, err) : LECTOR_STATUS_OK;
    if (s != LECTOR_STATUS_OK) {
        lector_featurizer_close(fz);
        return s;
    }
    if (o->cache_dir && !info->no_encoder && lector_encoder_precision(fz->enc) == LECTOR_PRECISION_FP32)
        open_cache(fz, o->cache_dir, o->cache_max_size);
    *out = fz;
    return LECTOR_STATUS_OK;
}

void lector_features_free(struct lector_features *f) {
    if (!f) return;
    lector_free(f->X);
    lector_free(f->ids);
    lector_free(f->n_ids);
    lector_sparse_rows_free(&f->sp);
    memset(f, 0, sizeof *f);
}

// Encode rows miss[0..n_miss) of texts in chunks of 512 texts, each chunk added to the cache
// and, when X is given, to its rows. f, when given, holds the rows' token ids (and truncated
// their truncation flags); without it the texts are tokenized here. path names the texts in
// events and messages; *n_windows gets the encoder windows used.
static enum lector_status encode_missing(struct lector_featurizer *fz, const char *path, const char *const *texts_in,
                                         const size_t *lens_in, const struct lector_features *f,
                                         const uint8_t *truncated, const int64_t *miss, int64_t n_miss, float *X,
                                         int64_t *n_windows_out, struct lector_error *err) {
    const int64_t chunk = 512, C = lector_encoder_get_config(fz->enc)->n_embd;
    int64_t n_cut = 0;
    const struct lector_window_params wp = {fz->o.max_len, fz->o.stride, fz->o.doc_pooling, fz->o.max_windows, 0,
                                            &n_cut};
    float *buf = lector__malloc((size_t)chunk * (size_t)C * sizeof *buf);
    const char **texts = lector__malloc((size_t)chunk * sizeof *texts);
    size_t *lens = lector__malloc((size_t)chunk * sizeof *lens);
    enum lector_status s = LECTOR_STATUS_OK;
    if (!buf || !texts || !lens) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const double t0 = lector_now();
    int64_t n_windows = 0;
    for (int64_t i = 0; i < n_miss; i += chunk) {
        if (fz->o.cancel && *fz->o.cancel) {
            s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "interrupted while encoding %s", path);
            goto done;
        }
        const int64_t m = n_miss - i < chunk ? n_miss - i : chunk;
        for (int64_t j = 0; j < m; j++) {
            texts[j] = texts_in[miss[i + j]];
            lens[j] = lens_in[miss[i + j]];
        }
        const struct lector__tokenized tk = {f ? f->ids : NULL, f ? f->n_ids : NULL, (uint8_t *)truncated,
                                             (int64_t *)(miss + i), NULL};
        int64_t n_win = 0;
        s = f ? lector__embed_tokenized(fz->enc, fz->st, fz->tok, fz->o.pooling, &wp, texts, lens, &tk, m, buf,
                                        &n_win, err)
              : lector_embed_texts(fz->enc, fz->st, fz->tok, fz->o.pooling, &wp, texts, lens, m, buf, NULL, &n_win,
                                   err);
        if (s != LECTOR_STATUS_OK) goto done;
        n_windows += n_win;
        for (int64_t j = 0; j < m; j++) {
            const int64_t r = miss[i + j];
            if (X) memcpy(X + r * C, buf + j * C, (size_t)C * sizeof *buf);
            if (fz->cache &&
                (s = lector_feature_cache_put(fz->cache, texts[j], lens[j], buf + j * C, err)) != LECTOR_STATUS_OK)
                goto done;
        }
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_ENCODING, .path = path, .count = i + m,
                                        .total = n_miss, .seconds = lector_now() - t0});
    }
    if (n_cut > 0)
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CUT, .path = path, .count = n_cut,
                                        .windows = fz->o.max_windows});
    if (n_miss > 0)
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_ENCODED, .path = path, .count = n_miss,
                                        .total = n_miss, .windows = n_windows, .seconds = lector_now() - t0});
    if (n_windows_out) *n_windows_out = n_windows;
done:
    lector_free(lens);
    lector_free(texts);
    lector_free(buf);
    return s;
}

// Save the cache (if any) and report what it repaired or evicted. A cache that cannot be saved
// is reported as an event; with err it is also the status returned.
static enum lector_status save_cache(struct lector_featurizer *fz, struct lector_error *err) {
    struct lector_error ce;
    if (!fz->cache) return LECTOR_STATUS_OK;
    const enum lector_status s = lector_feature_cache_save(fz->cache, &ce);
    if (s != LECTOR_STATUS_OK) {
        if (err) return lector__error(err, s, "%s", ce.msg);
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_FAILED, .message = ce.msg});
    } else if (lector_feature_cache_note(fz->cache)) {
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_NOTE, .message = lector_feature_cache_note(fz->cache)});
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector_featurize(struct lector_featurizer *fz, const struct lector_corpus *c, int encode,
                                    struct lector_features *f, struct lector_error *err) {
    memset(f, 0, sizeof *f);
    const int64_t n = c->n, T = fz->o.max_len;
    const int64_t C = encode ? lector_encoder_get_config(fz->enc)->n_embd : 0;
    enum lector_status s = LECTOR_STATUS_OK;
    uint8_t *truncated = NULL;
    int64_t *miss = NULL;
    f->n = n;
    f->C = C;
    f->max_len = T;
    if (encode && !fz->enc)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: encoder features without an encoder", c->path);
    if (fz->tok) {
        f->ids = lector__malloc((size_t)(n ? n : 1) * (size_t)T * sizeof *f->ids);
        f->n_ids = lector__malloc((size_t)(n ? n : 1) * sizeof *f->n_ids);
    }
    truncated = lector__malloc((size_t)(n ? n : 1));
    miss = lector__malloc((size_t)(n ? n : 1) * sizeof *miss);
    if (encode) f->X = lector__malloc((size_t)(n ? n : 1) * (size_t)C * sizeof *f->X);
    if ((fz->tok && (!f->ids || !f->n_ids)) || !truncated || !miss || (encode && !f->X)) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory for %lld rows", c->path, (long long)n);
        goto done;
    }
    // Token ids of every text, once (also the UTF-8 check when the encoder is not run; with
    // no tokenizer, that check alone).
    int64_t n_long = 0;
    for (int64_t i = 0; i < n; i++) {
        struct lector_encode_info tr = {0, 0};
        s = fz->tok ? lector_tokenizer_encode(fz->tok, c->texts[i], c->lens[i], T, f->ids + i * T, &f->n_ids[i],
                                              &tr, err)
                    : lector__utf8_check(c->texts[i], c->lens[i], err);
        if (s != LECTOR_STATUS_OK) {
            // The text's line in the file; the byte offset stays the one in the text.
            char msg[LECTOR_ERROR_MSG_LEN];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            const int64_t at = err ? err->offset : -1;
            s = lector__error_line(err, s, c->path, c->lines[i], -1, "%s:%lld: %s", c->path, (long long)c->lines[i], msg);
            if (err) err->offset = at;
            goto done;
        }
        truncated[i] = tr.truncated != 0;
        n_long += tr.truncated != 0;
    }
    if (!encode) goto done;
    if (n_long)
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_LONG_TEXTS, .path = c->path, .count = n_long,
                                        .total = n, .doc_pooling = fz->o.doc_pooling, .max_len = T,
                                        .stride = fz->o.stride});
    // Rows the cache does not hold; without a cache, all of them.
    int64_t n_miss = 0;
    for (int64_t i = 0; i < n; i++)
        if (!fz->cache || !lector_feature_cache_get(fz->cache, c->texts[i], c->lens[i], f->X + i * C))
            miss[n_miss++] = i;
    if (fz->cache)
        emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_HITS, .path = c->path, .count = n - n_miss,
                                        .total = n});
    s = encode_missing(fz, c->path, c->texts, c->lens, f, truncated, miss, n_miss, f->X, NULL, err);
    // Keep what was encoded, also when interrupted: the next run starts from there.
    save_cache(fz, NULL);
done:
    lector_free(miss);
    lector_free(truncated);
    if (s != LECTOR_STATUS_OK) lector_features_free(f);
    return s;
}

enum lector_status lector_features_subset(const struct lector_features *in, const int64_t *idx, int64_t n,
                                          struct lector_features *out, struct lector_error *err) {
    memset(out, 0, sizeof *out);
    const int64_t C = in->C, T = in->max_len;
    const size_t m = (size_t)(n ? n : 1);
    out->n = n;
    out->C = C;
    out->max_len = T;
    if (in->X) out->X = lector__malloc(m * (size_t)C * sizeof *out->X);
    if (in->ids) out->ids = lector__malloc(m * (size_t)T * sizeof *out->ids);
    if (in->n_ids) out->n_ids = lector__malloc(m * sizeof *out->n_ids);
    if ((in->X && !out->X) || (in->ids && !out->ids) || (in->n_ids && !out->n_ids)) {
        lector_features_free(out);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory splitting %lld rows", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = idx[i];
        if (in->X) memcpy(out->X + i * C, in->X + r * C, (size_t)C * sizeof *out->X);
        if (in->ids) memcpy(out->ids + i * T, in->ids + r * T, (size_t)T * sizeof *out->ids);
        if (in->n_ids) out->n_ids[i] = in->n_ids[r];
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector_features_add_ngrams(struct lector_features *f, const struct lector_corpus *c,
                                              const struct lector_ngrams *ng, struct lector_error *err) {
    lector_sparse_rows_free(&f->sp);
    return lector_ngrams_transform(ng, c->texts, c->lens, c->n, &f->sp, err);
}

enum lector_status lector_featurize_shard(struct lector_featurizer *fz, const char *path, const char *text_column,
                                          int64_t shard_i, int64_t shard_n, struct lector_shard_counts *counts,
                                          struct lector_error *err) {
    struct lector_shard_counts k = {0};
    if (counts) *counts = k;
    if (!fz->cache)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: no feature cache to fill", path);
    if (shard_n < 1 || shard_i < 0 || shard_i >= shard_n)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "shard %lld of %lld: needs 0 <= i < n",
                             (long long)shard_i, (long long)shard_n);
    struct lector_dataset *ds = NULL;
    enum lector_status s = lector_dataset_read_csv(path, text_column, NULL, &ds, err);
    if (s != LECTOR_STATUS_OK) return s;
    const int64_t C = lector_encoder_get_config(fz->enc)->n_embd;
    const int64_t n_shard = ds->n_rows > shard_i ? (ds->n_rows - shard_i + shard_n - 1) / shard_n : 0;
    int64_t *miss = lector__malloc((size_t)(n_shard ? n_shard : 1) * sizeof *miss);
    float *v = lector__malloc((size_t)C * sizeof *v);
    if (!miss || !v) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    // The shard's rows the cache lacks, then those encoded in chunks (each chunk cached).
    for (int64_t i = shard_i; i < ds->n_rows; i += shard_n) {
        k.rows++;
        if (lector_feature_cache_get(fz->cache, ds->texts[i], ds->text_lens[i], v))
            k.cached++;
        else
            miss[k.encoded++] = i;
    }
    emit(fz, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_HITS, .path = path, .count = k.cached,
                                    .total = k.rows});
    const double t0 = lector_now();
    s = encode_missing(fz, path, (const char *const *)ds->texts, ds->text_lens, NULL, NULL, miss, k.encoded, NULL,
                       &k.windows, err);
    k.seconds = lector_now() - t0;
    if (s != LECTOR_STATUS_OK) { // interrupted or failed: count the rows that did reach the cache
        int64_t done = 0;
        for (int64_t j = 0; j < k.encoded; j++)
            done += lector_feature_cache_get(fz->cache, ds->texts[miss[j]], ds->text_lens[miss[j]], v) ? 1 : 0;
        k.encoded = done;
    }
    // Keep what was encoded, also when interrupted.
    struct lector_error se;
    const enum lector_status ss = save_cache(fz, &se);
    if (ss != LECTOR_STATUS_OK && s == LECTOR_STATUS_OK) {
        s = ss;
        if (err) *err = se;
    }
done:
    if (counts) *counts = k;
    lector_free(v);
    lector_free(miss);
    lector_dataset_free(ds);
    return s;
}

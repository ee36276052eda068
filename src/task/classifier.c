// The classifier: encoder + tokenizer + linear head + labels, and its model file.
#define _XOPEN_SOURCE 700
#include "lector/classifier.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "lector/checkpoint.h"

#define CLASSIFIER_FORMAT "lector-classifier"
#define CLASSIFIER_FORMAT_VERSION 1

struct lector_classifier {
    struct lector_encoder *enc;
    struct lector_tokenizer *tok;
    struct lector_head *head;
    char **labels;
    int64_t n_labels;
    struct lector_classifier_info info;
    char *history;
};

void lector_classifier_free(struct lector_classifier *clf) {
    if (!clf) return;
    for (int64_t i = 0; i < clf->n_labels; i++) free(clf->labels[i]);
    free(clf->labels);
    free(clf->history);
    lector_head_free(clf->head);
    lector_tokenizer_free(clf->tok);
    lector_encoder_close(clf->enc);
    free(clf);
}

const struct lector_encoder *lector_classifier_encoder(const struct lector_classifier *clf) {
    return clf->enc;
}
const struct lector_tokenizer *lector_classifier_tokenizer(const struct lector_classifier *clf) {
    return clf->tok;
}
const struct lector_classifier_info *lector_classifier_get_info(const struct lector_classifier *clf) {
    return &clf->info;
}
const struct lector_head *lector_classifier_head(const struct lector_classifier *clf) {
    return clf->head;
}
int64_t lector_classifier_n_labels(const struct lector_classifier *clf) { return clf->n_labels; }
const char *lector_classifier_label(const struct lector_classifier *clf, int64_t k) {
    return k >= 0 && k < clf->n_labels ? clf->labels[k] : NULL;
}

// ---------------------------------------------------------------------------------------
// save

enum lector_status lector_classifier_save(const char *path, const struct lector_encoder *enc,
                                          const struct lector_tokenizer *tok,
                                          const struct lector_head *head,
                                          const char *const *labels, int64_t n_labels,
                                          const struct lector_classifier_info *info,
                                          struct lector_error *err) {
    const int64_t K = lector_head_n_classes(head), C = lector_head_n_in(head);
    if (K != n_labels)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: head has %lld classes but %lld labels",
                             path, (long long)K, (long long)n_labels);
    const float *params = lector_head_params_const(head);
    struct lector_tensor t[2];
    memset(t, 0, sizeof t);
    t[0] = (struct lector_tensor){LECTOR_DTYPE_F32, 2, {K, C, 1, 1}, {C, 1, 1, 1},
                                  (void *)params, "head.weight"};
    t[1] = (struct lector_tensor){LECTOR_DTYPE_F32, 1, {K, 1, 1, 1}, {1, 1, 1, 1},
                                  (void *)(params + K * C), "head.bias"};

    json_t *jl = json_array();
    for (int64_t i = 0; i < n_labels; i++) json_array_append_new(jl, json_string(labels[i]));
    char *labels_json = json_dumps(jl, JSON_COMPACT);
    json_decref(jl);
    if (!labels_json)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: labels are not valid UTF-8", path);

    // Record the encoder directory as an absolute path so the model works from any cwd.
    char *abs_dir = realpath(lector_encoder_dir(enc), NULL);
    char fv[16], max_len[32], n_train[32], vacc[32];
    snprintf(fv, sizeof fv, "%d", CLASSIFIER_FORMAT_VERSION);
    snprintf(max_len, sizeof max_len, "%lld", (long long)info->max_len);
    snprintf(n_train, sizeof n_train, "%lld", (long long)info->n_train);
    snprintf(vacc, sizeof vacc, "%.6f", info->valid_accuracy);
    const char *keys[] = {"format", "format_version", "lector_version", "labels", "pooling",
                          "max_len", "encoder_dir", "encoder_sha256", "tokenizer_sha256",
                          "n_train", "valid_accuracy", "history"};
    const char *values[] = {CLASSIFIER_FORMAT, fv, lector_version(), labels_json,
                            lector_pooling_name(info->pooling), max_len,
                            abs_dir ? abs_dir : lector_encoder_dir(enc),
                            lector_encoder_checksum(enc), lector_tokenizer_hash(tok), n_train,
                            vacc, info->history_json ? info->history_json : "[]"};
    enum lector_status s = lector_safetensors_write(path, t, 2, keys, values,
                                                    (int64_t)(sizeof keys / sizeof keys[0]), err);
    free(abs_dir);
    free(labels_json);
    return s;
}

// ---------------------------------------------------------------------------------------
// load

static const char *need_meta(const struct lector_checkpoint *ck, const char *path, const char *key,
                             struct lector_error *err) {
    const char *v = lector_checkpoint_metadata(ck, key);
    if (!v)
        lector__error(err, LECTOR_STATUS_FORMAT, "%s: not a lector model: metadata '%s' is missing",
                      path, key);
    return v;
}

static bool parse_i64(const char *s, int64_t *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end) return false;
    *out = v;
    return true;
}

enum lector_status lector_classifier_load(const char *path, const char *encoder_dir,
                                          struct lector_classifier **out,
                                          struct lector_error *err) {
    *out = NULL;
    enum lector_status s;
    struct lector_checkpoint *ck = NULL;
    json_t *jl = NULL;
    struct lector_classifier *clf = lector__calloc(1, sizeof *clf);
    if (!clf) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);

    if (lector__dir_exists(path)) {
        s = lector__error(err, LECTOR_STATUS_INVALID_ARG,
                          "%s: is a directory; --model takes a model file written by 'lector train'",
                          path);
        goto fail;
    }
    s = lector_checkpoint_open(path, &ck, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    const char *v;
    s = LECTOR_STATUS_FORMAT;
    if (!(v = need_meta(ck, path, "format", err))) goto fail;
    if (strcmp(v, CLASSIFIER_FORMAT) != 0) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: not a lector model (format '%s')", path, v);
        goto fail;
    }
    int64_t version;
    if (!(v = need_meta(ck, path, "format_version", err))) goto fail;
    if (!parse_i64(v, &version) || version < 1) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad format_version '%s'", path, v);
        goto fail;
    }
    if (version > CLASSIFIER_FORMAT_VERSION) {
        s = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                          "%s: model format version %lld is newer than this lector supports (%d); "
                          "hint: upgrade lector", path, (long long)version, CLASSIFIER_FORMAT_VERSION);
        goto fail;
    }
    const char *labels_s, *pooling_s, *max_len_s, *enc_dir, *enc_sha, *tok_sha;
    if (!(labels_s = need_meta(ck, path, "labels", err)) ||
        !(pooling_s = need_meta(ck, path, "pooling", err)) ||
        !(max_len_s = need_meta(ck, path, "max_len", err)) ||
        !(enc_dir = need_meta(ck, path, "encoder_dir", err)) ||
        !(enc_sha = need_meta(ck, path, "encoder_sha256", err)) ||
        !(tok_sha = need_meta(ck, path, "tokenizer_sha256", err)))
        goto fail;

    int pooling = lector_pooling_parse(pooling_s);
    if (pooling < 0 || pooling == LECTOR_POOLING_NONE) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: unknown pooling '%s'", path, pooling_s);
        goto fail;
    }
    clf->info.pooling = (enum lector_pooling)pooling;
    if (!parse_i64(max_len_s, &clf->info.max_len) || clf->info.max_len < 2) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad max_len '%s'", path, max_len_s);
        goto fail;
    }
    if ((v = lector_checkpoint_metadata(ck, "n_train"))) parse_i64(v, &clf->info.n_train);
    clf->info.valid_accuracy = -1.0;
    if ((v = lector_checkpoint_metadata(ck, "valid_accuracy"))) clf->info.valid_accuracy = atof(v);
    if ((v = lector_checkpoint_metadata(ck, "history"))) {
        clf->history = lector__strdup(v);
        clf->info.history_json = clf->history;
    }

    json_error_t jerr;
    jl = json_loads(labels_s, 0, &jerr);
    if (!json_is_array(jl) || json_array_size(jl) < 2) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: metadata 'labels' is not a list of 2 or more labels",
                          path);
        goto fail;
    }
    clf->n_labels = (int64_t)json_array_size(jl);
    clf->labels = lector__calloc((size_t)clf->n_labels, sizeof *clf->labels);
    if (!clf->labels) goto nomem;
    for (int64_t i = 0; i < clf->n_labels; i++) {
        const char *l = json_string_value(json_array_get(jl, (size_t)i));
        if (!l) {
            s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: label %lld is not a string", path,
                              (long long)i);
            goto fail;
        }
        if (!(clf->labels[i] = lector__strdup(l))) goto nomem;
    }

    const struct lector_tensor *W = lector_checkpoint_find(ck, "head.weight");
    const struct lector_tensor *b = lector_checkpoint_find(ck, "head.bias");
    if (!W || !b || W->dtype != LECTOR_DTYPE_F32 || b->dtype != LECTOR_DTYPE_F32 || W->n_dims != 2 ||
        b->n_dims != 1 || W->shape[0] != clf->n_labels || b->shape[0] != clf->n_labels) {
        s = lector__error(err, LECTOR_STATUS_FORMAT,
                          "%s: expected F32 tensors head.weight [%lld, C] and head.bias [%lld]", path,
                          (long long)clf->n_labels, (long long)clf->n_labels);
        goto fail;
    }

    const char *dir = encoder_dir ? encoder_dir : enc_dir;
    s = lector_encoder_open(dir, &clf->enc, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    if (strcmp(lector_encoder_checksum(clf->enc), enc_sha) != 0) {
        s = lector__error(err, LECTOR_STATUS_MISMATCH,
                          "%s: trained for an encoder with checksum %.12s..., but %s has %.12s...; "
                          "retrain the head or point --encoder at the original encoder",
                          path, enc_sha, dir, lector_encoder_checksum(clf->enc));
        goto fail;
    }
    const int64_t C = lector_encoder_get_config(clf->enc)->n_embd;
    if (W->shape[1] != C) {
        s = lector__error(err, LECTOR_STATUS_MISMATCH, "%s: head.weight has %lld inputs, encoder has C=%lld",
                          path, (long long)W->shape[1], (long long)C);
        goto fail;
    }
    if (clf->info.max_len > lector_encoder_get_config(clf->enc)->n_pos) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: max_len %lld exceeds the encoder's %lld positions",
                          path, (long long)clf->info.max_len,
                          (long long)lector_encoder_get_config(clf->enc)->n_pos);
        goto fail;
    }
    s = lector_tokenizer_open(dir, &clf->tok, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    if (strcmp(lector_tokenizer_hash(clf->tok), tok_sha) != 0) {
        s = lector__error(err, LECTOR_STATUS_MISMATCH,
                          "%s: trained with a different tokenizer than the one in %s", path, dir);
        goto fail;
    }
    s = lector_head_init_from(C, clf->n_labels, (const float *)W->data, (const float *)b->data,
                              &clf->head, err);
    if (s != LECTOR_STATUS_OK) goto fail;

    json_decref(jl);
    lector_checkpoint_close(ck);
    *out = clf;
    return LECTOR_STATUS_OK;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
fail:
    json_decref(jl);
    lector_checkpoint_close(ck);
    lector_classifier_free(clf);
    return s;
}

// ---------------------------------------------------------------------------------------
// predict

enum lector_status lector_classifier_predict(const struct lector_classifier *clf,
                                             struct lector_encoder_state *st,
                                             const char *const *texts, const size_t *lens,
                                             int64_t n, float *probs, enum lector_status *bad,
                                             struct lector_error *err) {
    const int64_t K = clf->n_labels, C = lector_encoder_get_config(clf->enc)->n_embd;
    const int64_t T = clf->info.max_len;
    enum lector_status s = LECTOR_STATUS_OK;
    int32_t *ids = NULL;
    struct lector_token_row *rows = NULL;
    int64_t *good = NULL;
    float *feats = NULL;
    if (n <= 0) return LECTOR_STATUS_OK;
    ids = lector__malloc((size_t)n * (size_t)T * sizeof *ids);
    rows = lector__malloc((size_t)n * sizeof *rows);
    good = lector__malloc((size_t)n * sizeof *good);
    feats = lector__malloc((size_t)n * (size_t)C * sizeof *feats);
    if (!ids || !rows || !good || !feats) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory classifying %lld texts", (long long)n);
        goto done;
    }
    int64_t n_good = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t n_ids = 0;
        struct lector_error e;
        enum lector_status ts = lector_tokenizer_encode(clf->tok, texts[i], lens[i], T, ids + i * T,
                                                        &n_ids, NULL, &e);
        if (bad) bad[i] = ts;
        memset(probs + i * K, 0, (size_t)K * sizeof *probs);
        if (ts != LECTOR_STATUS_OK) continue;
        rows[n_good] = (struct lector_token_row){ids + i * T, n_ids};
        good[n_good++] = i;
    }
    s = lector_embed_rows(clf->enc, st, rows, n_good, clf->info.pooling, 32, 32 * 128, feats, err);
    if (s != LECTOR_STATUS_OK) goto done;
    for (int64_t j = 0; j < n_good; j++) {
        float *row = probs + good[j] * K;
        lector_head_forward(clf->head, feats + j * C, 1, row);
        lector_softmax_rows(row, 1, K);
    }
done:
    free(feats);
    free(good);
    free(rows);
    free(ids);
    return s;
}

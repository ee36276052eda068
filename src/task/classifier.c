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
#include "encoder/encoder_impl.h"
#include "task/task_impl.h"
#include "text/text_impl.h"
#include "lector/checkpoint.h"

#define CLASSIFIER_FORMAT "lector-classifier"
// version 3: the tensors of tuned encoder layers (encoder.layer.<i>.*, pooler.dense.*), which a
// reader of version 2 would ignore and so run the base encoder's instead
#define CLASSIFIER_FORMAT_VERSION 3
// encoder_sha256 and tokenizer_sha256 of a model of n-gram features with no encoder
#define NO_ENCODER "none"

struct lector_classifier {
    struct lector_encoder *enc;
    struct lector_tokenizer *tok;
    struct lector_head *head;
    char **labels;
    int64_t n_labels;
    struct lector_classifier_info info;
    char *history;
    char *autotune;
    struct lector_ngrams *ng;
    float *thresholds;
    int64_t max_windows;       // 0: no limit
    _Atomic int64_t n_cut;     // texts cut at max_windows so far (predict may run on threads)
};

void lector_classifier_close(struct lector_classifier *clf) {
    if (!clf) return;
    for (int64_t i = 0; i < clf->n_labels; i++) free(clf->labels[i]);
    free(clf->labels);
    free(clf->history);
    free(clf->autotune);
    lector_ngrams_free(clf->ng);
    free(clf->thresholds);
    lector_head_free(clf->head);
    lector_tokenizer_close(clf->tok);
    lector_encoder_close(clf->enc);
    free(clf);
}

const struct lector_encoder *lector_classifier_encoder(const struct lector_classifier *clf) {
    return clf->enc;
}
enum lector_status lector_classifier_set_precision(struct lector_classifier *clf,
                                                   enum lector_precision p,
                                                   struct lector_error *err) {
    if (!clf || !clf->enc) return LECTOR_STATUS_OK;
    return lector_encoder_set_precision(clf->enc, p, err);
}
void lector_classifier_set_max_windows(struct lector_classifier *clf, int64_t n) {
    if (clf) clf->max_windows = n > 0 ? n : 0;
}
int64_t lector_classifier_n_cut(const struct lector_classifier *clf) { return clf ? clf->n_cut : 0; }
const struct lector_tokenizer *lector_classifier_tokenizer(const struct lector_classifier *clf) {
    return clf->tok;
}
const struct lector_classifier_info *lector_classifier_get_info(const struct lector_classifier *clf) {
    return &clf->info;
}
const struct lector_head *lector_classifier_head(const struct lector_classifier *clf) {
    return clf->head;
}
const struct lector_ngrams *lector_classifier_ngrams(const struct lector_classifier *clf) {
    return clf->ng;
}
int64_t lector_classifier_n_labels(const struct lector_classifier *clf) { return clf->n_labels; }
const char *lector_classifier_label(const struct lector_classifier *clf, int64_t k) {
    return k >= 0 && k < clf->n_labels ? clf->labels[k] : NULL;
}

// ---------------------------------------------------------------------------------------
// labels and values a model may hold

static int cmp_label(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum lector_status lector_classifier_check_labels(const char *const *labels, int64_t n_labels,
                                                  const char *what, struct lector_error *err) {
    char esc[96];
    for (int64_t k = 0; k < n_labels; k++) {
        int64_t at = lector__find_control(labels[k]);
        if (at >= 0)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: label '%s' holds a control character (byte 0x%02x at offset "
                                 "%lld): labels are printed one per field of a line, so TAB, "
                                 "newline, ESC and other control characters are refused",
                                 what, lector__escape(labels[k], esc, sizeof esc),
                                 (unsigned)(unsigned char)labels[k][at], (long long)at);
    }
    if (n_labels < 2) return LECTOR_STATUS_OK;
    const char **sorted = lector__malloc((size_t)n_labels * sizeof *sorted);
    if (!sorted) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", what);
    memcpy(sorted, labels, (size_t)n_labels * sizeof *sorted);
    qsort(sorted, (size_t)n_labels, sizeof *sorted, cmp_label);
    enum lector_status st = LECTOR_STATUS_OK;
    for (int64_t k = 1; k < n_labels && st == LECTOR_STATUS_OK; k++)
        if (!strcmp(sorted[k - 1], sorted[k]))
            st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: label '%s' appears twice", what,
                               lector__escape(sorted[k], esc, sizeof esc));
    lector_free(sorted);
    return st;
}

// A NaN or an infinity in a head makes every prediction a silent wrong answer.
static enum lector_status check_finite(const struct lector_tensor *t, const char *path,
                                       struct lector_error *err) {
    if (t->dtype != LECTOR_DTYPE_F32) return LECTOR_STATUS_OK;
    const float *v = t->data;
    const int64_t n = lector_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%s' holds a non-finite value (%s) at element %lld",
                                 path, t->name, isnan(v[i]) ? "nan" : "inf", (long long)i);
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------
// save

// The path of the directory abs_dir relative to the folder of the model file path (both
// with symbolic links resolved), or NULL when that folder cannot be resolved. malloc'd.
static char *relative_to_model(const char *path, const char *abs_dir) {
    size_t n_path = strlen(path);
    char *folder = malloc(n_path + 2);
    if (!folder) return NULL;
    memcpy(folder, path, n_path + 1);
    char *slash = strrchr(folder, '/');
    if (!slash) snprintf(folder, n_path + 2, ".");
    else if (slash == folder) slash[1] = '\0';
    else *slash = '\0';
    char *from = realpath(folder, NULL);
    free(folder);
    if (!from) return NULL;
    // The longest common run of whole components.
    size_t common = 0;
    for (size_t i = 0;; i++) {
        char a = from[i], b = abs_dir[i];
        if ((a == '\0' || a == '/') && (b == '\0' || b == '/')) {
            common = i;
            if (a == '\0' || b == '\0') break;
        }
        if (a != b || a == '\0') break;
    }
    size_t n_up = 0;
    for (const char *q = from + common; *q; q++)
        if (*q != '/' && (q == from + common || q[-1] == '/')) n_up++;
    const char *rest = abs_dir + common;
    while (*rest == '/') rest++;
    char *out = malloc(n_up * 3 + strlen(rest) + 2);
    if (out) {
        size_t k = 0;
        for (size_t u = 0; u < n_up; u++) k += (size_t)sprintf(out + k, "../");
        if (*rest) k += (size_t)sprintf(out + k, "%s", rest);
        else if (k) out[--k] = '\0';  // "../.." rather than "../../"
        if (!k) sprintf(out, ".");
    }
    free(from);
    return out;
}

// {"layers": [the tuned layers' indices], "pooler": true|false} of an encoder with tuned
// layers (metadata 'tuned_layers', for lector info), or NULL without (or out of memory).
static char *tuned_layers_json(const struct lector_encoder *enc) {
    if (!lector__encoder_n_substituted(enc)) return NULL;
    json_t *a = json_array();
    const int64_t L = lector_encoder_get_config(enc)->n_layer * lector_encoder_get_config(enc)->n_group_layer;
    for (int64_t i = 0; a && i < L; i++)
        if (lector__encoder_layer_substituted(enc, i)) json_array_append_new(a, json_integer(i));
    bool pooler = false;
    for (int64_t i = 0; i < lector__encoder_n_substituted(enc); i++)
        pooler |= !strncmp(lector__encoder_substituted(enc, i)->name, "pooler.", 7);
    json_t *o = a ? json_pack("{s:o, s:b, s:I}", "layers", a, "pooler", pooler, "of", (json_int_t)L) : NULL;
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return js;
}

// The head's tensors in t (room for 7): views of its parameters and of ng's buckets and idf.
static int64_t head_views(const struct lector_head *head, const struct lector_ngrams *ng,
                            struct lector_tensor *t) {
    const int64_t K = lector_head_n_classes(head), C = lector_head_n_in(head);
    const int64_t S = lector_head_n_sparse(head), H = lector_head_n_hidden(head);
    const float *params = lector_head_params_const(head);
    const struct lector_head_layout lay = lector_head_get_layout(head);
    const int64_t D = lay.D;
    int64_t n_t = 0;
    if (C > 0)
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 2, {K, D, 1, 1}, {D, 1, 1, 1},
                                          (void *)(params + lay.W), "head.weight"};
    t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 1, {K, 1, 1, 1}, {1, 1, 1, 1},
                                      (void *)(params + lay.b), "head.bias"};
    if (H > 0) {
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 2, {H, C, 1, 1}, {C, 1, 1, 1},
                                          (void *)(params + lay.W1), "head.hidden.weight"};
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 1, {H, 1, 1, 1}, {1, 1, 1, 1},
                                          (void *)(params + lay.b1), "head.hidden.bias"};
    }
    if (S > 0) {
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 2, {S, K, 1, 1}, {K, 1, 1, 1},
                                          (void *)(params + lay.V), "head.ngram_weight"};
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_I32, 1, {S, 1, 1, 1}, {1, 1, 1, 1},
                                          (void *)lector_ngrams_buckets(ng), "ngram.buckets"};
        t[n_t++] = (struct lector_tensor){LECTOR_DTYPE_F32, 1, {S, 1, 1, 1}, {1, 1, 1, 1},
                                          (void *)lector_ngrams_idf(ng), "ngram.idf"};
    }
    return n_t;
}

// The labels as a JSON array (metadata 'labels'), or NULL when one is not valid UTF-8.
static char *labels_json(const char *const *labels, int64_t n_labels) {
    json_t *jl = json_array();
    for (int64_t i = 0; i < n_labels; i++) json_array_append_new(jl, json_string(labels[i]));
    char *js = json_dumps(jl, JSON_COMPACT);
    json_decref(jl);
    return js;
}

// ng's settings (metadata 'ngram_params'), or NULL out of memory.
static char *ngram_params_json(const struct lector_ngrams *ng) {
    const struct lector_ngram_params *np = lector_ngrams_get_params(ng);
    json_t *o = json_pack("{s:I, s:i, s:i, s:i, s:i, s:I}", "buckets", (json_int_t)np->n_buckets,
                          "word_order", (int)np->word_order, "char_min", (int)np->char_min,
                          "char_max", (int)np->char_max, "sublinear_tf", (int)np->sublinear_tf,
                          "min_df", (json_int_t)np->min_df);
    // written only when set, so models without it read the same in older versions
    if (o && np->boundaries && json_object_set_new(o, "boundaries", json_true()) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o && np->weighting != LECTOR_NGRAM_IDF &&
        json_object_set_new(o, "weighting", json_string(lector_ngram_weighting_name(np->weighting))) != 0) {
        json_decref(o);
        o = NULL;
    }
    char *js = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return js;
}

// The K per-label thresholds of a multi-label model (metadata 'thresholds'; 0.5 where info
// has none), or NULL out of memory.
static char *thresholds_json(const struct lector_classifier_info *info, int64_t K) {
    json_t *a = json_array();
    for (int64_t k = 0; k < K; k++)
        json_array_append_new(a, json_real(info->thresholds ? (double)info->thresholds[k] : 0.5));
    char *js = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(a);
    return js;
}

// The metadata write_model writes: keys[i] = values[i] for i < n, and the text of the numbers.
struct out_meta {
    const char *keys[32], *values[32];
    int64_t n;
    char fv[16], max_len[32], n_train[32], vacc[32], temp[32], vf1[32], stride[32];
};

static void meta_add(struct out_meta *m, const char *key, const char *value) {
    m->keys[m->n] = key;
    m->values[m->n++] = value;
}

// The JSON texts of a model's metadata that write_model builds (owned by it).
struct out_json {
    const char *labels, *ngrams, *thresholds, *tuned; // NULL: not written
};

// m <- the metadata of a model of enc (or none) and tok, a head of C dense inputs and H
// hidden units, n_sub tuned encoder tensors, the fields of info and the JSON texts j.
// abs_dir and rel_dir: the encoder directory as an absolute path and relative to the
// model's folder (or NULL).
static void fill_meta(struct out_meta *m, const struct lector_encoder *enc,
                      const struct lector_tokenizer *tok, int64_t C, int64_t H, int64_t n_sub,
                      const struct lector_classifier_info *info, const struct out_json *j,
                      const char *abs_dir, const char *rel_dir) {
    const struct lector_ngrams *ng = info->ngrams;
    // A model of n-gram features alone may have no encoder: it records "none".
    const char *enc_dir = enc ? lector_encoder_dir(enc) : "";
    // Version 1 readers can load an encoder-only head (they ignore the temperature).
    const bool windows = info->doc_pooling != LECTOR_DOC_TRUNCATE;
    // Windows need no new reader: an older lector would truncate long texts instead.
    snprintf(m->fv, sizeof m->fv, "%d",
             n_sub ? CLASSIFIER_FORMAT_VERSION : ng || C == 0 || H > 0 || info->multi_label ? 2 : 1);
    snprintf(m->max_len, sizeof m->max_len, "%lld", (long long)info->max_len);
    snprintf(m->n_train, sizeof m->n_train, "%lld", (long long)info->n_train);
    snprintf(m->vacc, sizeof m->vacc, "%.6f", info->valid_accuracy);
    snprintf(m->temp, sizeof m->temp, "%.9g", info->temperature > 0.0f ? (double)info->temperature : 1.0);
    snprintf(m->vf1, sizeof m->vf1, "%.6f", info->valid_macro_f1 != 0.0 ? info->valid_macro_f1 : -1.0);
    m->n = 0;
    meta_add(m, "format", CLASSIFIER_FORMAT);
    meta_add(m, "format_version", m->fv);
    meta_add(m, "lector_version", lector_version());
    meta_add(m, "labels", j->labels);
    meta_add(m, "pooling", lector_pooling_name(info->pooling));
    meta_add(m, "max_len", m->max_len);
    meta_add(m, "encoder_dir", abs_dir ? abs_dir : enc_dir);
    meta_add(m, "encoder_sha256", enc ? lector_encoder_checksum(enc) : NO_ENCODER);
    meta_add(m, "tokenizer_sha256", tok ? lector_tokenizer_hash(tok) : NO_ENCODER);
    meta_add(m, "n_train", m->n_train);
    meta_add(m, "valid_accuracy", m->vacc);
    meta_add(m, "history", info->history_json ? info->history_json : "[]");
    meta_add(m, "temperature", m->temp);
    meta_add(m, "valid_macro_f1", m->vf1);
    meta_add(m, "features", C == 0 ? "ngrams" : ng ? "both" : "encoder");
    if (enc) meta_add(m, "encoder_dir_given", enc_dir);
    if (rel_dir) meta_add(m, "encoder_dir_relative", rel_dir);
    if (ng) meta_add(m, "ngram_params", j->ngrams);
    if (info->multi_label) {
        meta_add(m, "multi_label", "1");
        meta_add(m, "thresholds", j->thresholds ? j->thresholds : "[]");
    }
    if (info->autotune_json) meta_add(m, "autotune", info->autotune_json);
    if (n_sub) meta_add(m, "tuned_layers", j->tuned);
    if (windows) {
        snprintf(m->stride, sizeof m->stride, "%lld", (long long)info->stride);
        meta_add(m, "doc_pooling", lector_doc_pooling_name(info->doc_pooling));
        meta_add(m, "stride", m->stride);
    }
}

// The model file of a head with its labels, encoder, tokenizer and the fields of info.
static enum lector_status write_model(const char *path, const struct lector_encoder *enc,
                                      const struct lector_tokenizer *tok,
                                      const struct lector_head *head, const char *const *labels,
                                      int64_t n_labels, const struct lector_classifier_info *info,
                                      struct lector_error *err) {
    const int64_t K = lector_head_n_classes(head), C = lector_head_n_in(head);
    const int64_t S = lector_head_n_sparse(head);
    const struct lector_ngrams *ng = info->ngrams;
    if (K != n_labels)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: head has %lld classes but %lld labels",
                             path, (long long)K, (long long)n_labels);
    enum lector_status cs = lector_classifier_check_labels(labels, n_labels, path, err);
    if (cs != LECTOR_STATUS_OK) return cs;
    if ((S > 0) != (ng != NULL) || (ng && lector_ngrams_n_features(ng) != S) ||
        (info->no_encoder != 0) != (C == 0) || (!enc && !info->no_encoder))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: head inputs (C=%lld, S=%lld) do not match the features", path,
                             (long long)C, (long long)S);
    // the head's tensors, then the tuned layers' (views the encoder owns)
    const int64_t n_sub = lector__encoder_n_substituted(enc);
    struct lector_tensor *t = lector__calloc((size_t)(7 + n_sub), sizeof *t);
    if (!t) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    int64_t n_t = head_views(head, ng, t);

    char *tuned_json = tuned_layers_json(enc);
    for (int64_t i = 0; i < n_sub; i++) t[n_t++] = *lector__encoder_substituted(enc, i);
    for (int64_t i = 0; i < n_t; i++)
        if ((cs = check_finite(&t[i], path, err)) != LECTOR_STATUS_OK || (n_sub && !tuned_json)) {
            free(tuned_json);
            lector_free(t);
            return cs != LECTOR_STATUS_OK ? cs : lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        }

    char *lab_json = labels_json(labels, n_labels);
    if (!lab_json) {
        free(tuned_json);
        lector_free(t);
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: labels are not valid UTF-8", path);
    }
    char *ngram_json = NULL;
    if (ng) {
        ngram_json = ngram_params_json(ng);
        if (!ngram_json) {
            free(tuned_json);
            lector_free(t);
            free(lab_json);
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        }
    }
    // Record the encoder directory as an absolute path so the model works from any cwd, as
    // given, and relative to the model file's folder (found again when both move together).
    char *abs_dir = enc ? realpath(lector_encoder_dir(enc), NULL) : NULL;
    char *rel_dir = abs_dir ? relative_to_model(path, abs_dir) : NULL;
    char *thr_json = info->multi_label ? thresholds_json(info, K) : NULL;
    const struct out_json j = {lab_json, ngram_json, thr_json, tuned_json};
    struct out_meta m = {0};
    fill_meta(&m, enc, tok, C, lector_head_n_hidden(head), n_sub, info, &j, abs_dir, rel_dir);
    enum lector_status s = lector_safetensors_write(path, t, n_t, m.keys, m.values, m.n, err);
    lector_free(t);
    free(tuned_json);
    free(thr_json);
    free(ngram_json);
    free(rel_dir);
    free(abs_dir);
    free(lab_json);
    return s;
}

enum lector_status lector_classifier_save(const struct lector_classifier *clf, const char *path,
                                          struct lector_error *err) {
    return write_model(path, clf->enc, clf->tok, clf->head, (const char *const *)clf->labels, clf->n_labels,
                       &clf->info, err);
}

enum lector_status lector__classifier_new(struct lector_encoder *enc, struct lector_tokenizer *tok,
                                          struct lector_head *head, const char *const *labels,
                                          int64_t n_labels, const struct lector_classifier_info *info,
                                          struct lector_ngrams *ng, struct lector_classifier **out,
                                          struct lector_error *err) {
    *out = NULL;
    struct lector_classifier *clf = lector__calloc(1, sizeof *clf);
    if (!clf) goto nomem;
    clf->enc = enc;
    clf->tok = tok;
    clf->head = head;
    clf->ng = ng;
    clf->info = *info;
    clf->info.ngrams = ng;
    clf->info.history_json = NULL;
    clf->info.thresholds = NULL;
    clf->info.autotune_json = NULL;
    if (info->history_json && !(clf->history = lector__strdup(info->history_json))) goto nomem_clf;
    if (info->autotune_json && !(clf->autotune = lector__strdup(info->autotune_json))) goto nomem_clf;
    clf->info.autotune_json = clf->autotune;
    clf->info.history_json = clf->history;
    if (info->thresholds) {
        clf->thresholds = lector__malloc((size_t)n_labels * sizeof *clf->thresholds);
        if (!clf->thresholds) goto nomem_clf;
        memcpy(clf->thresholds, info->thresholds, (size_t)n_labels * sizeof *clf->thresholds);
        clf->info.thresholds = clf->thresholds;
    }
    clf->labels = lector__calloc((size_t)(n_labels ? n_labels : 1), sizeof *clf->labels);
    if (!clf->labels) goto nomem_clf;
    for (int64_t k = 0; k < n_labels; k++) {
        if (!(clf->labels[k] = lector__strdup(labels[k]))) goto nomem_clf;
        clf->n_labels = k + 1;
    }
    clf->n_labels = n_labels;
    *out = clf;
    return LECTOR_STATUS_OK;
nomem_clf:
    lector_classifier_close(clf); // frees what it was given too
    return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory building the classifier");
nomem:
    lector_ngrams_free(ng);
    lector_head_free(head);
    lector_tokenizer_close(tok);
    lector_encoder_close(enc);
    return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory building the classifier");
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

// A model file is safetensors: an 8-byte little-endian header length, then '{'. A file that
// starts with text instead (a CSV or text file given as the model) is named as such.
static enum lector_status sniff_text(const char *path, struct lector_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return LECTOR_STATUS_OK;  // the reader reports it
    unsigned char head[64];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n < 9 || head[8] == '{') return LECTOR_STATUS_OK;
    for (size_t i = 0; i < n; i++)
        if (head[i] < 0x20 && head[i] != '\t' && head[i] != '\n' && head[i] != '\r') return LECTOR_STATUS_OK;
    return lector__error(err, LECTOR_STATUS_FORMAT,
                         "%s: this looks like a CSV/text file, not a lector model (a model is the "
                         "file 'lector train --output' writes)",
                         path);
}

// Append "what (why)" to a ", "-separated list in buf.
static void note_tried(char *buf, size_t n, const char *what, const char *why) {
    size_t used = strlen(buf);
    if (used + 1 < n && snprintf(buf + used, n - used, "%s%s (%s)", used ? ", " : "", what, why) < 0)
        buf[used] = '\0';
}

// The encoder of a model: encoder_dir when given (it must match), else the first of
// encoder_hint, the recorded absolute path, the path as given at training and the path
// relative to the model file whose checksum matches the recorded one.
static enum lector_status find_encoder(const char *path, const struct lector_checkpoint *ck,
                                       const char *recorded, const char *sha,
                                       const char *encoder_dir, const char *encoder_hint,
                                       struct lector_encoder **out, struct lector_error *err) {
    enum lector_status s;
    if (encoder_dir) {
        s = lector_encoder_open(encoder_dir, out, err);
        if (s != LECTOR_STATUS_OK) return s;
        if (strcmp(lector_encoder_checksum(*out), sha) != 0) {
            s = lector__error(err, LECTOR_STATUS_MISMATCH,
                              "%s: trained for an encoder with checksum %.12s..., but %s has %.12s...; "
                              "retrain the head or point --encoder at the original encoder",
                              path, sha, encoder_dir, lector_encoder_checksum(*out));
            lector_encoder_close(*out);
            *out = NULL;
        }
        return s;
    }
    const char *given = lector_checkpoint_metadata(ck, "encoder_dir_given");
    const char *rel = lector_checkpoint_metadata(ck, "encoder_dir_relative");
    char *beside = NULL;
    if (rel) {
        const char *slash = strrchr(path, '/');
        int n_folder = slash ? (int)(slash - path) : 1;
        size_t n = (size_t)n_folder + strlen(rel) + 2;
        beside = malloc(n);
        if (beside) snprintf(beside, n, "%.*s/%s", n_folder, slash ? path : ".", rel);
    }
    const char *cands[4] = {encoder_hint, recorded, given, beside};
    static const char *const labels[4] = {"$LECTOR_ENCODER", "recorded", "as given at training",
                                          "relative to the model"};
    char tried[LECTOR_ERROR_MSG_LEN] = "";
    s = LECTOR_STATUS_NOT_FOUND;
    for (int k = 0; k < 4 && s != LECTOR_STATUS_OK; k++) {
        const char *c = cands[k];
        if (!c || !*c) continue;
        bool seen = false;
        for (int j = 0; j < k; j++) seen |= cands[j] && strcmp(cands[j], c) == 0;
        if (seen) continue;
        char what[LECTOR_ERROR_MSG_LEN];
        if (snprintf(what, sizeof what, "%s %s", labels[k], c) < 0) what[0] = '\0';
        if (!lector__dir_exists(c)) {
            note_tried(tried, sizeof tried, what, "no such directory");
            continue;
        }
        struct lector_error e = {0};
        if (lector_encoder_open(c, out, &e) != LECTOR_STATUS_OK) {
            note_tried(tried, sizeof tried, what, "cannot open");
            continue;
        }
        if (strcmp(lector_encoder_checksum(*out), sha) != 0) {
            note_tried(tried, sizeof tried, what, "a different encoder");
            lector_encoder_close(*out);
            *out = NULL;
            continue;
        }
        s = LECTOR_STATUS_OK;
    }
    free(beside);
    if (s != LECTOR_STATUS_OK)
        lector__error(err, LECTOR_STATUS_NOT_FOUND,
                      "%s: its encoder (sha256 %.12s...) was not found; tried %s; give --encoder DIR "
                      "(or set LECTOR_ENCODER) with the encoder it was trained with",
                      path, sha, tried);
    return s;
}

// The encoder and tokenizer of a model that records them: found, checked against the head
// (n_in inputs, when use_enc) and the recorded checksums. *C: the encoder's width when use_enc.
static enum lector_status open_encoder(struct lector_classifier *clf, const char *path,
                                       const struct lector_checkpoint *ck, const char *enc_dir,
                                       const char *enc_sha, const char *tok_sha, const char *encoder_dir,
                                       const char *encoder_hint, bool use_enc, int64_t n_in, int64_t *C,
                                       struct lector_error *err) {
    if (clf->info.max_len < 2)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad max_len '%lld'", path, (long long)clf->info.max_len);
    enum lector_status s = find_encoder(path, ck, enc_dir, enc_sha, encoder_dir, encoder_hint, &clf->enc, err);
    if (s != LECTOR_STATUS_OK) return s;
    const char *dir = lector_encoder_dir(clf->enc);
    const struct lector_encoder_config *cfg = lector_encoder_get_config(clf->enc);
    *C = use_enc ? cfg->n_embd : 0;
    if (use_enc && n_in != *C)
        return lector__error(err, LECTOR_STATUS_MISMATCH, "%s: the head has %lld inputs, encoder has C=%lld", path,
                             (long long)n_in, (long long)*C);
    if (clf->info.max_len > cfg->n_pos)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: max_len %lld exceeds the encoder's %lld positions",
                             path, (long long)clf->info.max_len, (long long)cfg->n_pos);
    if ((s = lector_tokenizer_open(dir, &clf->tok, err)) != LECTOR_STATUS_OK) return s;
    s = lector_encoder_check_n_vocab(clf->enc, lector_tokenizer_n_vocab(clf->tok), dir,
                                     lector_tokenizer_source(clf->tok), err);
    if (s != LECTOR_STATUS_OK) return s;
    if (strcmp(lector_tokenizer_hash(clf->tok), tok_sha) != 0)
        return lector__error(err, LECTOR_STATUS_MISMATCH, "%s: trained with a different tokenizer than the one in %s",
                             path, dir);
    return LECTOR_STATUS_OK;
}

// The tuned layers a model stores (encoder.layer.<i>.*, pooler.dense.*) in place of enc's.
static enum lector_status load_tuned(const char *path, const struct lector_checkpoint *ck,
                                     struct lector_encoder *enc, struct lector_error *err) {
    const int64_t n = lector_checkpoint_n_tensors(ck);
    struct lector_tensor *t = lector__calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    if (!t) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const struct lector_tensor *v = lector_checkpoint_tensor(ck, i);
        if (!strncmp(v->name, "encoder.", 8) || !strncmp(v->name, "pooler.", 7)) t[m++] = *v;
    }
    const bool recorded = lector_checkpoint_metadata(ck, "tuned_layers") != NULL;
    struct lector_error e = {0};
    enum lector_status s = LECTOR_STATUS_OK;
    if (recorded != (m > 0))
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: %s", path,
                          m ? "holds encoder tensors but no metadata 'tuned_layers'"
                            : "metadata 'tuned_layers' names tuned layers, but their tensors are missing");
    else if (m > 0 && (s = lector__encoder_substitute(enc, t, m, &e)) != LECTOR_STATUS_OK)
        lector__error(err, s, "%s: %s", path, e.msg);
    lector_free(t);
    return s;
}

// format and format_version: a lector model this version reads.
static enum lector_status check_format(const char *path, const struct lector_checkpoint *ck,
                                       struct lector_error *err) {
    const char *v;
    if (!(v = need_meta(ck, path, "format", err))) return LECTOR_STATUS_FORMAT;
    if (strcmp(v, CLASSIFIER_FORMAT) != 0)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: not a lector model (format '%s')", path, v);
    int64_t version;
    if (!(v = need_meta(ck, path, "format_version", err))) return LECTOR_STATUS_FORMAT;
    if (!parse_i64(v, &version) || version < 1)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad format_version '%s'", path, v);
    if (version > CLASSIFIER_FORMAT_VERSION)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model format version %lld is newer than this lector supports (%d); "
                             "hint: upgrade lector", path, (long long)version, CLASSIFIER_FORMAT_VERSION);
    return LECTOR_STATUS_OK;
}

// The metadata every model has.
struct model_meta {
    const char *labels, *pooling, *max_len, *enc_dir, *enc_sha, *tok_sha;
};

static enum lector_status read_meta(const char *path, const struct lector_checkpoint *ck, struct model_meta *m,
                                    struct lector_error *err) {
    if (!(m->labels = need_meta(ck, path, "labels", err)) || !(m->pooling = need_meta(ck, path, "pooling", err)) ||
        !(m->max_len = need_meta(ck, path, "max_len", err)) ||
        !(m->enc_dir = need_meta(ck, path, "encoder_dir", err)) ||
        !(m->enc_sha = need_meta(ck, path, "encoder_sha256", err)) ||
        !(m->tok_sha = need_meta(ck, path, "tokenizer_sha256", err)))
        return LECTOR_STATUS_FORMAT;
    return LECTOR_STATUS_OK;
}

// clf->info: pooling, max length, training size, validation accuracy and history.
static enum lector_status read_info(struct lector_classifier *clf, const char *path,
                                    const struct lector_checkpoint *ck, const struct model_meta *m,
                                    struct lector_error *err) {
    int pooling = lector_pooling_parse(m->pooling);
    if (pooling < 0 || pooling == LECTOR_POOLING_NONE)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: unknown pooling '%s'", path, m->pooling);
    clf->info.pooling = (enum lector_pooling)pooling;
    if (!parse_i64(m->max_len, &clf->info.max_len) || clf->info.max_len < 0)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad max_len '%s'", path, m->max_len);
    const char *v;
    if ((v = lector_checkpoint_metadata(ck, "n_train"))) parse_i64(v, &clf->info.n_train);
    clf->info.valid_accuracy = -1.0;
    if ((v = lector_checkpoint_metadata(ck, "valid_accuracy"))) clf->info.valid_accuracy = atof(v);
    if ((v = lector_checkpoint_metadata(ck, "history"))) {
        clf->history = lector__strdup(v);
        clf->info.history_json = clf->history;
    }
    return LECTOR_STATUS_OK;
}

// clf->labels from the metadata's JSON list (2 or more distinct strings).
static enum lector_status read_labels(struct lector_classifier *clf, const char *path, const char *labels,
                                      struct lector_error *err) {
    json_error_t jerr;
    json_t *jl = json_loads(labels, 0, &jerr);
    enum lector_status s = LECTOR_STATUS_OK;
    if (!json_is_array(jl) || json_array_size(jl) < 2) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: metadata 'labels' is not a list of 2 or more labels", path);
        goto done;
    }
    clf->n_labels = (int64_t)json_array_size(jl);
    if (!(clf->labels = lector__calloc((size_t)clf->n_labels, sizeof *clf->labels))) goto nomem;
    for (int64_t i = 0; i < clf->n_labels; i++) {
        const char *l = json_string_value(json_array_get(jl, (size_t)i));
        if (!l) {
            s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: label %lld is not a string", path, (long long)i);
            goto done;
        }
        if (!(clf->labels[i] = lector__strdup(l))) goto nomem;
    }
    s = lector_classifier_check_labels((const char *const *)clf->labels, clf->n_labels, path, err);
    goto done;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
done:
    json_decref(jl);
    return s;
}

// The rest of clf->info: temperature, windows, validation macro-F1, the autotune record.
static enum lector_status read_extra(struct lector_classifier *clf, const char *path,
                                     const struct lector_checkpoint *ck, struct lector_error *err) {
    const char *v;
    clf->info.temperature = 1.0f;
    if ((v = lector_checkpoint_metadata(ck, "temperature"))) {
        double tv = atof(v);
        if (!(tv > 0.0) || !isfinite(tv))
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad temperature '%s'", path, v);
        clf->info.temperature = (float)tv;
    }
    clf->info.valid_macro_f1 = -1.0;
    if ((v = lector_checkpoint_metadata(ck, "doc_pooling"))) {
        int dp = lector_doc_pooling_parse(v);
        const char *sv = lector_checkpoint_metadata(ck, "stride");
        if (dp < 0 || !sv || !parse_i64(sv, &clf->info.stride) || clf->info.stride < 0)
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad doc_pooling '%s' or stride", path, v);
        clf->info.doc_pooling = (enum lector_doc_pooling)dp;
    }
    if ((v = lector_checkpoint_metadata(ck, "valid_macro_f1"))) clf->info.valid_macro_f1 = atof(v);
    if ((v = lector_checkpoint_metadata(ck, "autotune"))) {
        if (!(clf->autotune = lector__strdup(v)))
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        clf->info.autotune_json = clf->autotune;
    }
    return LECTOR_STATUS_OK;
}

// A multi-label model's per-label thresholds (K numbers in (0, 1)); nothing for the others.
static enum lector_status read_thresholds(struct lector_classifier *clf, const char *path,
                                          const struct lector_checkpoint *ck, struct lector_error *err) {
    const char *v = lector_checkpoint_metadata(ck, "multi_label");
    if (!v || strcmp(v, "1")) return LECTOR_STATUS_OK;
    const int64_t K = clf->n_labels;
    const char *ts = lector_checkpoint_metadata(ck, "thresholds");
    json_error_t jerr;
    json_t *ja = ts ? json_loads(ts, 0, &jerr) : NULL;
    clf->thresholds = lector__malloc((size_t)K * sizeof *clf->thresholds);
    bool ok = ja && json_is_array(ja) && json_array_size(ja) == (size_t)K && clf->thresholds;
    for (int64_t k = 0; ok && k < K; k++) {
        json_t *e = json_array_get(ja, (size_t)k);
        ok = json_is_number(e) && json_number_value(e) > 0.0 && json_number_value(e) < 1.0;
        if (ok) clf->thresholds[k] = (float)json_number_value(e);
    }
    json_decref(ja);
    if (!ok)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: a multi-label model needs 'thresholds', %lld numbers in (0, 1)", path, (long long)K);
    clf->info.multi_label = 1;
    clf->info.thresholds = clf->thresholds;
    return LECTOR_STATUS_OK;
}

// The head's tensors in the file, checked against each other and the K labels.
struct head_tensors {
    const struct lector_tensor *W, *b;   // (K, C or H), (K)
    const struct lector_tensor *W1, *b1; // (H, C), (H): an MLP head, else NULL
    const struct lector_tensor *V;       // (S, K): n-gram weights, else NULL
    int64_t H;                           // hidden units, 0: a linear head
};

static enum lector_status find_head(const char *path, const struct lector_checkpoint *ck, int64_t K, bool use_enc,
                                    struct head_tensors *h, struct lector_error *err) {
    const struct lector_tensor *W = use_enc ? lector_checkpoint_find(ck, "head.weight") : NULL;
    const struct lector_tensor *b = lector_checkpoint_find(ck, "head.bias");
    if ((use_enc && (!W || W->dtype != LECTOR_DTYPE_F32 || W->n_dims != 2 || W->shape[0] != K)) ||
        !b || b->dtype != LECTOR_DTYPE_F32 || b->n_dims != 1 || b->shape[0] != K)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected F32 tensors head.weight [%lld, C] and head.bias [%lld]", path,
                             (long long)K, (long long)K);
    const struct lector_tensor *W1 = use_enc ? lector_checkpoint_find(ck, "head.hidden.weight") : NULL;
    const struct lector_tensor *b1 = use_enc ? lector_checkpoint_find(ck, "head.hidden.bias") : NULL;
    const int64_t H = W1 ? W1->shape[0] : 0;
    if (W1 && (W1->dtype != LECTOR_DTYPE_F32 || W1->n_dims != 2 || !b1 || b1->dtype != LECTOR_DTYPE_F32 ||
               b1->n_dims != 1 || b1->shape[0] != H || W->shape[1] != H || H < 1))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected F32 tensors head.hidden.weight [H, C], head.hidden.bias [H] and "
                             "head.weight [%lld, H]", path, (long long)K);
    *h = (struct head_tensors){W, b, W1, b1, NULL, H};
    return LECTOR_STATUS_OK;
}

// The n-gram part: head.ngram_weight (in h->V), the vocabulary (ngram.buckets, ngram.idf)
// and its ngram_params, into clf->ng.
static enum lector_status read_ngrams(struct lector_classifier *clf, const char *path,
                                      const struct lector_checkpoint *ck, struct head_tensors *h,
                                      struct lector_error *err) {
    const int64_t K = clf->n_labels;
    const struct lector_tensor *V = lector_checkpoint_find(ck, "head.ngram_weight");
    const struct lector_tensor *nb = lector_checkpoint_find(ck, "ngram.buckets");
    const struct lector_tensor *ni = lector_checkpoint_find(ck, "ngram.idf");
    const char *np_s = lector_checkpoint_metadata(ck, "ngram_params");
    if (!V || !nb || !ni || !np_s || V->dtype != LECTOR_DTYPE_F32 || V->n_dims != 2 || V->shape[1] != K ||
        nb->dtype != LECTOR_DTYPE_I32 || nb->n_dims != 1 || nb->shape[0] != V->shape[0] ||
        ni->dtype != LECTOR_DTYPE_F32 || ni->n_dims != 1 || ni->shape[0] != V->shape[0])
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected head.ngram_weight [S, %lld], ngram.buckets [S] (I32), "
                             "ngram.idf [S] and metadata ngram_params", path, (long long)K);
    // What a model file without the key means (the format's defaults, not options).
    struct lector_ngram_params np = {.n_buckets = INT64_C(1) << 20, .word_order = 2, .sublinear_tf = 1,
                                      .min_df = 1, .weighting = LECTOR_NGRAM_IDF};
    json_error_t jerr;
    json_t *jp = json_loads(np_s, 0, &jerr);
    json_int_t jb = 0, jmd = 1;
    int wo = 0, cmin = 0, cmax = 0, sub = 0, bnd = 0;
    const char *wname = "idf";
    int bad_np = !jp || json_unpack(jp, "{s:I, s:i, s:i, s:i, s:i, s?I, s?b, s?s}", "buckets", &jb, "word_order",
                                    &wo, "char_min", &cmin, "char_max", &cmax, "sublinear_tf", &sub, "min_df", &jmd,
                                    "boundaries", &bnd, "weighting", &wname) != 0;
    int wt = bad_np ? -1 : lector_ngram_weighting_parse(wname);
    json_decref(jp);
    if (bad_np || wt < 0) return lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad ngram_params '%.80s'", path, np_s);
    np.n_buckets = (int64_t)jb;
    np.word_order = wo;
    np.char_min = cmin;
    np.char_max = cmax;
    np.sublinear_tf = sub;
    np.min_df = (int64_t)jmd;
    np.boundaries = bnd;
    np.weighting = wt;
    enum lector_status s =
        lector_ngrams_new(&np, (const int32_t *)nb->data, (const float *)ni->data, nb->shape[0], &clf->ng, err);
    if (s != LECTOR_STATUS_OK) return s;
    clf->info.ngrams = clf->ng;
    h->V = V;
    return LECTOR_STATUS_OK;
}

// The head (C encoder inputs) with the file's weights.
static enum lector_status build_head(struct lector_classifier *clf, const struct head_tensors *h, int64_t C,
                                     struct lector_error *err) {
    const int64_t K = clf->n_labels, H = h->H;
    enum lector_status s =
        lector_head_new(&(struct lector_head_shape){C, H, h->V ? h->V->shape[0] : 0, K}, 0, &clf->head, err);
    if (s != LECTOR_STATUS_OK) return s;
    float *q = lector_head_params(clf->head);
    const struct lector_head_layout lay = lector_head_get_layout(clf->head);
    if (h->W) memcpy(q + lay.W, h->W->data, (size_t)(K * lay.D) * sizeof *q);
    memcpy(q + lay.b, h->b->data, (size_t)K * sizeof *q);
    if (H > 0) {
        memcpy(q + lay.W1, h->W1->data, (size_t)(H * C) * sizeof *q);
        memcpy(q + lay.b1, h->b1->data, (size_t)H * sizeof *q);
    }
    if (h->V) memcpy(q + lay.V, h->V->data, (size_t)(h->V->shape[0] * K) * sizeof *q);
    return LECTOR_STATUS_OK;
}

// The features a model was trained on: encoder, ngrams or both.
static enum lector_status read_features(const char *path, const struct lector_checkpoint *ck, bool *use_enc,
                                        bool *use_ng, struct lector_error *err) {
    const char *features = lector_checkpoint_metadata(ck, "features");
    if (!features) features = "encoder";
    *use_enc = !strcmp(features, "encoder") || !strcmp(features, "both");
    *use_ng = !strcmp(features, "ngrams") || !strcmp(features, "both");
    if (!*use_enc && !*use_ng)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: unknown features '%s'", path, features);
    return LECTOR_STATUS_OK;
}

// Everything of the model file but its encoder: format, metadata, labels, head tensors and
// n-grams (every tensor is checked to be finite, also those this version does not read).
static enum lector_status read_model(struct lector_classifier *clf, const char *path,
                                     const struct lector_checkpoint *ck, struct model_meta *m, bool *use_enc,
                                     struct head_tensors *h, struct lector_error *err) {
    enum lector_status s;
    bool use_ng;
    if ((s = check_format(path, ck, err)) != LECTOR_STATUS_OK || (s = read_meta(path, ck, m, err)) != LECTOR_STATUS_OK ||
        (s = read_info(clf, path, ck, m, err)) != LECTOR_STATUS_OK ||
        (s = read_labels(clf, path, m->labels, err)) != LECTOR_STATUS_OK)
        return s;
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++)
        if ((s = check_finite(lector_checkpoint_tensor(ck, i), path, err)) != LECTOR_STATUS_OK) return s;
    if ((s = read_features(path, ck, use_enc, &use_ng, err)) != LECTOR_STATUS_OK) return s;
    clf->info.no_encoder = !*use_enc;
    if ((s = read_extra(clf, path, ck, err)) != LECTOR_STATUS_OK ||
        (s = read_thresholds(clf, path, ck, err)) != LECTOR_STATUS_OK ||
        (s = find_head(path, ck, clf->n_labels, *use_enc, h, err)) != LECTOR_STATUS_OK)
        return s;
    return use_ng ? read_ngrams(clf, path, ck, h, err) : LECTOR_STATUS_OK;
}

enum lector_status lector_classifier_open(const char *path, const char *encoder_dir,
                                          const char *encoder_hint, struct lector_classifier **out,
                                          struct lector_error *err) {
    *out = NULL;
    enum lector_status s;
    struct lector_checkpoint *ck = NULL;
    struct lector_classifier *clf = lector__calloc(1, sizeof *clf);
    if (!clf) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    if (lector__dir_exists(path)) {
        s = lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: is a directory, not a model file", path);
        goto fail;
    }
    if ((s = sniff_text(path, err)) != LECTOR_STATUS_OK || (s = lector_checkpoint_open(path, &ck, err)) != LECTOR_STATUS_OK)
        goto fail;
    struct model_meta m = {0};
    struct head_tensors h = {0};
    bool use_enc = false;
    if ((s = read_model(clf, path, ck, &m, &use_enc, &h, err)) != LECTOR_STATUS_OK) goto fail;
    // n-grams alone and no encoder recorded: nothing to find (an --encoder given is not used).
    int64_t C = 0;
    if (!use_enc && !strcmp(m.enc_sha, NO_ENCODER)) {
        if (strcmp(m.tok_sha, NO_ENCODER) != 0) {
            s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: a model without an encoder names a tokenizer", path);
            goto fail;
        }
        clf->info.max_len = 0;
    } else {
        const int64_t n_in = use_enc ? (h.W1 ? h.W1->shape[1] : h.W->shape[1]) : 0;
        s = open_encoder(clf, path, ck, m.enc_dir, m.enc_sha, m.tok_sha, encoder_dir, encoder_hint, use_enc, n_in, &C,
                         err);
        if (s != LECTOR_STATUS_OK || (s = load_tuned(path, ck, clf->enc, err)) != LECTOR_STATUS_OK) goto fail;
    }
    if ((s = build_head(clf, &h, C, err)) != LECTOR_STATUS_OK) goto fail;
    *out = clf;
    clf = NULL; // the cleanup below then has no classifier to close
fail:
    lector_checkpoint_close(ck);
    lector_classifier_close(clf);
    return s;
}

// ---------------------------------------------------------------------------------------
// predict

enum lector_status lector_classifier_check_text(const struct lector_classifier *clf, const char *text, size_t len,
                                                struct lector_error *err) {
    if (!clf->tok) return lector__utf8_check(text, len, err);
    int32_t ids[2];
    int64_t n_ids = 0;
    struct lector_error e;
    return lector_tokenizer_encode(clf->tok, text, len, 2, ids, &n_ids, NULL, err ? err : &e);
}

enum lector_status lector_classifier_probs(const struct lector_classifier *clf, const float *X,
                                           const struct lector_sparse_rows *sp, int64_t n, float *probs,
                                           struct lector_error *err) {
    if (clf->info.multi_label)
        return lector_head_probs_multi(clf->head, clf->info.no_encoder ? NULL : X, clf->ng ? sp : NULL, n,
                                       probs, err);
    return lector_head_probs(clf->head, clf->info.no_encoder ? NULL : X, clf->ng ? sp : NULL, n,
                             clf->info.temperature, probs, err);
}

enum lector_status lector_classifier_predict(const struct lector_classifier *clf,
                                             struct lector_encoder_state *st,
                                             const char *const *texts, const size_t *lens,
                                             int64_t n, float *probs, enum lector_status *bad,
                                             struct lector_error *err) {
    const int64_t K = clf->n_labels, C = clf->enc ? lector_encoder_get_config(clf->enc)->n_embd : 0;
    const int64_t T = clf->info.max_len > 0 ? clf->info.max_len : 1;
    enum lector_status s = LECTOR_STATUS_OK;
    int32_t *ids = NULL;
    int64_t *good = NULL;
    float *feats = NULL, *gfeats = NULL, *gprobs = NULL;
    const char **gtexts = NULL;
    size_t *glens = NULL;
    enum lector_status *st_all = NULL;
    struct lector_sparse_rows sp = {0};
    if (n <= 0) return LECTOR_STATUS_OK;
    ids = lector__malloc((size_t)T * sizeof *ids);
    good = lector__malloc((size_t)n * sizeof *good);
    feats = lector__malloc((size_t)n * (size_t)C * sizeof *feats);
    gfeats = lector__malloc((size_t)n * (size_t)C * sizeof *gfeats);
    gprobs = lector__malloc((size_t)n * (size_t)K * sizeof *gprobs);
    gtexts = lector__malloc((size_t)n * sizeof *gtexts);
    glens = lector__malloc((size_t)n * sizeof *glens);
    st_all = lector__malloc((size_t)n * sizeof *st_all);
    if (!ids || !good || !feats || !gfeats || !gprobs || !gtexts || !glens || !st_all) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory classifying %lld texts", (long long)n);
        goto done;
    }
    if (!clf->info.no_encoder) {
        int64_t n_cut = 0;
        const struct lector_window_params wp = {T, clf->info.stride, clf->info.doc_pooling,
                                                clf->max_windows, 0, &n_cut};
        s = lector_embed_texts(clf->enc, st, clf->tok, clf->info.pooling, &wp, texts, lens, n, feats,
                               st_all, NULL, err);
        ((struct lector_classifier *)clf)->n_cut += n_cut; // atomic: the counter alone changes
        if (s != LECTOR_STATUS_OK) goto done;
    } else {
        // The tokenizer also validates the UTF-8, so n-gram-only models reject the same lines
        // (a model with no encoder checks the UTF-8 alone).
        for (int64_t i = 0; i < n; i++)
            st_all[i] = lector_classifier_check_text(clf, texts[i], lens[i], NULL);
    }
    int64_t n_good = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bad) bad[i] = st_all[i];
        memset(probs + i * K, 0, (size_t)K * sizeof *probs);
        if (st_all[i] != LECTOR_STATUS_OK) continue;
        if (!clf->info.no_encoder) memcpy(gfeats + n_good * C, feats + i * C, (size_t)C * sizeof *feats);
        gtexts[n_good] = texts[i];
        glens[n_good] = lens[i];
        good[n_good++] = i;
    }
    if (clf->ng) {
        s = lector_ngrams_transform(clf->ng, gtexts, glens, n_good, &sp, err);
        if (s != LECTOR_STATUS_OK) goto done;
    }
    s = lector_classifier_probs(clf, gfeats, clf->ng ? &sp : NULL, n_good, gprobs, err);
    if (s != LECTOR_STATUS_OK) goto done;
    for (int64_t j = 0; j < n_good; j++)
        memcpy(probs + good[j] * K, gprobs + j * K, (size_t)K * sizeof *probs);
done:
    lector_sparse_rows_free(&sp);
    free(st_all);
    free(glens);
    free(gtexts);
    free(gprobs);
    free(gfeats);
    free(feats);
    free(good);
    free(ids);
    return s;
}

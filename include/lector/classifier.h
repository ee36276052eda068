/*
 * lector/classifier.h: text -> pooled features -> head -> label, and the classifier model file.
 * (Featurisation: lector/embed.h, lector/ngrams.h; training: lector/train.h.)
 *
 * Usage (classify):
 *     struct lector_classifier *clf = NULL;
 *     lector_classifier_open("sentiment.lector", NULL, NULL, &clf, &err);   // opens its encoder too
 *     struct lector_encoder_state *st = NULL;
 *     lector_encoder_state_new(lector_classifier_encoder(clf), &st, &err);
 *     float probs[n * K];
 *     lector_classifier_predict(clf, st, texts, lens, n, probs, bad, &err);
 *     ... lector_classifier_label(clf, argmax) ...
 *     lector_encoder_state_free(st); lector_classifier_close(clf);
 *
 * Model file: a safetensors file (see docs/formats.md) with tensors "head.weight" (K, C) and
 * "head.bias" (K), and __metadata__ keys:
 *   format "lector-classifier", format_version "1", lector_version, labels (JSON array of
 *   strings, index = class id), pooling, max_len, encoder_dir, encoder_sha256 (SHA-256 of
 *   config.json + weight files), tokenizer_sha256, n_train, valid_accuracy, history (JSON),
 *   and optionally temperature (softmax temperature, default 1), valid_macro_f1, features,
 *   encoder_dir_given (the encoder path as given at training), encoder_dir_relative (its
 *   path relative to the model file's folder) and autotune (JSON: the search that chose the
 *   settings, see lector/train.h).
 * Format version 2 (written only when the head has an n-gram part) adds features ("ngrams"
 * or "both"), ngram_params (JSON: buckets, word_order, char_min, char_max, sublinear_tf,
 * min_df, and when set boundaries and weighting ("nb" or "idf-nb")) and the tensors
 * "head.ngram_weight" (S, K), "ngram.buckets" (S, I32) and "ngram.idf" (S: each column's
 * weight, whatever the weighting); with features "ngrams" there is no "head.weight".
 * A file with a newer format_version is refused with a hint to upgrade lector; a model whose
 * recorded encoder checksum differs from the encoder found is refused (LECTOR_STATUS_MISMATCH).
 *
 * Thread safety: a loaded classifier is immutable; predict may run on several threads at
 * once with one encoder state per thread.
 */
#ifndef LECTOR_CLASSIFIER_H
#define LECTOR_CLASSIFIER_H

#include <stdbool.h>

#include "lector/base.h"
#include "lector/embed.h"
#include "lector/encoder.h"
#include "lector/head.h"
#include "lector/ngrams.h"
#include "lector/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the classifier --------------------------------------------------------------------- */

struct lector_classifier;

/* What a model records besides its weights and labels. From no_encoder on, all zero (or a
 * NULL pointer) means an encoder-only head with temperature 1. */
struct lector_classifier_info {
    enum lector_pooling pooling;
    int64_t max_len;     /* tokens per text including specials */
    int64_t n_train;     /* training examples (0 if unknown) */
    double valid_accuracy; /* -1 if unknown */
    const char *history_json; /* per-epoch figures as JSON, or NULL */
    int no_encoder;      /* 1: the head ignores the encoder (n-gram features only) */
    const struct lector_ngrams *ngrams; /* n-gram featuriser of the wide part, or NULL */
    float temperature;   /* softmax temperature; 0 is read as 1 */
    double valid_macro_f1; /* -1 or 0 if unknown */
    enum lector_doc_pooling doc_pooling; /* long texts: LECTOR_DOC_TRUNCATE (0) or windows */
    int64_t stride;        /* window overlap in tokens (with windows) */
    int multi_label;       /* 1: a sigmoid per label; a label applies when its probability
                              reaches its threshold */
    const float *thresholds; /* (K) with multi_label, else NULL */
    const char *autotune_json; /* the autotune search that chose the settings (JSON: settings,
                                  trial, trials, valid_macro_f1, valid_log_loss, ended), or NULL */
};

/* Load a model file and open its encoder, checking the encoder checksum: encoder_dir when not
 * NULL (its checksum must match: else LECTOR_STATUS_MISMATCH); else the first folder whose
 * checksum matches the recorded one among encoder_hint (may be NULL; the command line passes
 * $LECTOR_ENCODER), the absolute path recorded at training, the path as it was given at
 * training, and the recorded path relative to the model file's folder (so a model and its
 * encoder moved together are found). None: LECTOR_STATUS_NOT_FOUND, the message naming the
 * model and each path tried. The classifier owns the encoder, tokenizer and head. */
LECTOR_API enum lector_status lector_classifier_open(const char *path, const char *encoder_dir,
                                                     const char *encoder_hint,
                                                     struct lector_classifier **out,
                                                     struct lector_error *err);
LECTOR_API void lector_classifier_close(struct lector_classifier *clf);

/* Write the classifier's model file atomically (see the format above). */
LECTOR_API enum lector_status lector_classifier_save(const struct lector_classifier *clf,
                                                     const char *path, struct lector_error *err);

/* The model's encoder and tokenizer; NULL for a model of n-gram features with no encoder. */
LECTOR_API const struct lector_encoder *lector_classifier_encoder(const struct lector_classifier *clf);
/* lector_encoder_set_precision on the classifier's encoder (same rules: after load, before
 * the classifier is shared between threads); a no-op for a model without an encoder. */
LECTOR_API enum lector_status lector_classifier_set_precision(struct lector_classifier *clf,
                                                              enum lector_precision p,
                                                              struct lector_error *err);
LECTOR_API const struct lector_tokenizer *lector_classifier_tokenizer(const struct lector_classifier *clf);
/* The loaded model's recorded fields (ngrams, thresholds and the JSON strings point into the
 * classifier). */
LECTOR_API const struct lector_classifier_info *lector_classifier_get_info(const struct lector_classifier *clf);
LECTOR_API const struct lector_head *lector_classifier_head(const struct lector_classifier *clf);
/* The n-gram featuriser of a wide-and-deep model, or NULL. */
LECTOR_API const struct lector_ngrams *lector_classifier_ngrams(const struct lector_classifier *clf);
/* Labels a model may carry: none holds a control character (TAB, newline, ESC, any byte below
 * 0x20, DEL or a C1 control, which would forge fields or lines of the output or drive a
 * terminal) and none appears twice. what names the source in the message (a file). Saving and
 * loading a model run this check; a trainer calls it before spending time on training.
 * Returns LECTOR_STATUS_FORMAT with err filled on the first bad label. Thread-safe. */
LECTOR_API enum lector_status lector_classifier_check_labels(const char *const *labels,
                                                             int64_t n_labels, const char *what,
                                                             struct lector_error *err);
LECTOR_API int64_t lector_classifier_n_labels(const struct lector_classifier *clf);
/* Long texts read as windows: at most n windows per text (0: no limit, the default of a loaded
 * model). Set before predicting; not thread-safe against a running predict. */
LECTOR_API void lector_classifier_set_max_windows(struct lector_classifier *clf, int64_t n);
/* How many texts predict has cut at max_windows since load (thread-safe). */
LECTOR_API int64_t lector_classifier_n_cut(const struct lector_classifier *clf);
LECTOR_API const char *lector_classifier_label(const struct lector_classifier *clf, int64_t k);

/*
 * Probabilities (n, K) from precomputed inputs: pooled features X (n, C) (NULL when the model
 * uses no encoder) and n-gram rows sp (n rows, NULL when the model has no n-gram part), with
 * the model's temperature applied; for a multi-label model, one sigmoid per label.
 */
LECTOR_API enum lector_status lector_classifier_probs(const struct lector_classifier *clf,
                                                      const float *X,
                                                      const struct lector_sparse_rows *sp,
                                                      int64_t n, float *probs,
                                                      struct lector_error *err);

/*
 * Classify n texts: probs (n, K). Texts that fail to tokenize (invalid UTF-8) get their status
 * in bad[i] (may be NULL; LECTOR_STATUS_OK for good rows) and a row of zeros; the call itself
 * fails only for errors that affect every text.
 */
LECTOR_API enum lector_status lector_classifier_predict(const struct lector_classifier *clf,
                                                        struct lector_encoder_state *st,
                                                        const char *const *texts,
                                                        const size_t *lens, int64_t n,
                                                        float *probs, enum lector_status *bad,
                                                        struct lector_error *err);
/* The check predict makes of one text (its tokenizer, or the UTF-8 alone for a model with no
 * encoder): LECTOR_STATUS_OK, or the status with the message (naming the byte offset) in err. */
LECTOR_API enum lector_status lector_classifier_check_text(const struct lector_classifier *clf,
                                                           const char *text, size_t len,
                                                           struct lector_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_CLASSIFIER_H */

/*
 * lector/classifier.h: text -> pooled features -> head -> label, and the classifier model file.
 *
 * Usage (classify):
 *     struct lector_classifier *clf = NULL;
 *     lector_classifier_load("sentiment.lector", NULL, &clf, &err);   // opens its encoder too
 *     struct lector_encoder_state *st = NULL;
 *     lector_encoder_state_init(lector_classifier_encoder(clf), &st, &err);
 *     float probs[n * K];
 *     lector_classifier_predict(clf, st, texts, lens, n, probs, bad, &err);
 *     ... lector_classifier_label(clf, argmax) ...
 *     lector_encoder_state_free(st); lector_classifier_free(clf);
 *
 * Model file: a safetensors file (see docs/formats.md) with tensors "head.weight" (K, C) and
 * "head.bias" (K), and __metadata__ keys:
 *   format "lector-classifier", format_version "1", lector_version, labels (JSON array of
 *   strings, index = class id), pooling, max_len, encoder_dir, encoder_sha256 (SHA-256 of
 *   config.json + weight files), tokenizer_sha256, n_train, valid_accuracy, history (JSON).
 * A file with a newer format_version is refused with a hint to upgrade lector; a model whose
 * recorded encoder checksum differs from the encoder found is refused (LECTOR_STATUS_MISMATCH).
 *
 * Thread safety: a loaded classifier is immutable; predict may run on several threads at
 * once with one encoder state per thread.
 */
#ifndef LECTOR_CLASSIFIER_H
#define LECTOR_CLASSIFIER_H

#include "lector/base.h"
#include "lector/encoder.h"
#include "lector/head.h"
#include "lector/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- feature extraction: token rows -> pooled vectors ---------------------------------- */

/* One tokenized text: ids including the special tokens. */
struct lector_token_row {
    const int32_t *ids;
    int64_t n;
};

/*
 * Pool n rows of ids through the encoder into out (n, C). Rows are sorted by length and
 * grouped into batches of at most batch_size rows and at most n_tokens_max padded tokens per
 * batch (0 = no token budget), so little padding is computed; results come back in input
 * order. Padding uses the config's pad_token_id with mask 0; token types are 0.
 */
LECTOR_API enum lector_status lector_embed_rows(const struct lector_encoder *enc,
                                                struct lector_encoder_state *st,
                                                const struct lector_token_row *rows, int64_t n,
                                                enum lector_pooling pooling, int64_t batch_size,
                                                int64_t n_tokens_max, float *out,
                                                struct lector_error *err);

/* ---- the classifier --------------------------------------------------------------------- */

struct lector_classifier;

struct lector_classifier_info {
    enum lector_pooling pooling;
    int64_t max_len;     /* tokens per text including specials */
    int64_t n_train;     /* training examples (0 if unknown) */
    double valid_accuracy; /* -1 if unknown */
    const char *history_json; /* per-epoch figures as JSON, or NULL */
};

/* Load a model file and open the encoder it names (or encoder_dir when not NULL), checking
 * the encoder checksum. The classifier owns the encoder, tokenizer and head. */
LECTOR_API enum lector_status lector_classifier_load(const char *path, const char *encoder_dir,
                                                     struct lector_classifier **out,
                                                     struct lector_error *err);
LECTOR_API void lector_classifier_free(struct lector_classifier *clf);

/* Save head + labels + info for an encoder/tokenizer pair, atomically. */
LECTOR_API enum lector_status lector_classifier_save(const char *path,
                                                     const struct lector_encoder *enc,
                                                     const struct lector_tokenizer *tok,
                                                     const struct lector_head *head,
                                                     const char *const *labels, int64_t n_labels,
                                                     const struct lector_classifier_info *info,
                                                     struct lector_error *err);

LECTOR_API const struct lector_encoder *lector_classifier_encoder(const struct lector_classifier *clf);
LECTOR_API const struct lector_tokenizer *lector_classifier_tokenizer(const struct lector_classifier *clf);
LECTOR_API const struct lector_classifier_info *lector_classifier_get_info(const struct lector_classifier *clf);
LECTOR_API const struct lector_head *lector_classifier_head(const struct lector_classifier *clf);
LECTOR_API int64_t lector_classifier_n_labels(const struct lector_classifier *clf);
LECTOR_API const char *lector_classifier_label(const struct lector_classifier *clf, int64_t k);

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

/* ---- training ------------------------------------------------------------------------- */

struct lector_train_params {
    int64_t n_epochs;        /* 10 */
    int64_t batch_size;      /* 32 */
    uint64_t seed;           /* 42 */
    struct lector_adamw_params adamw;
    /* Called after each epoch (may be NULL); a non-zero return stops training. */
    int (*on_epoch)(void *user, int64_t epoch, double train_loss, double valid_accuracy,
                    int is_best);
    void *user;
    /* Polled between steps; when it becomes non-zero training stops with
     * LECTOR_STATUS_INTERRUPTED (the best head so far is kept). */
    const volatile int *cancel;
};
LECTOR_API struct lector_train_params lector_train_default_params(void);

/*
 * Train a linear softmax head on features X (n, C) with labels y (n) in [0, K). If n_valid >
 * 0, the head with the best validation accuracy is returned (ties: earliest epoch); else the
 * last. Features are standardised internally and the scaling is folded back into the head,
 * so the result applies to raw features. history (may be NULL) receives a JSON string
 * (lector_free) with per-epoch loss and validation accuracy.
 */
LECTOR_API enum lector_status lector_train_head(const float *X, const int32_t *y, int64_t n,
                                                const float *X_valid, const int32_t *y_valid,
                                                int64_t n_valid, int64_t C, int64_t K,
                                                const struct lector_train_params *p,
                                                struct lector_head **out, double *valid_accuracy,
                                                char **history, struct lector_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_CLASSIFIER_H */

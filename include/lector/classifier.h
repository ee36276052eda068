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
 *   config.json + weight files), tokenizer_sha256, n_train, valid_accuracy, history (JSON),
 *   and optionally temperature (softmax temperature, default 1), valid_macro_f1, features,
 *   encoder_dir_given (the encoder path as given at training) and encoder_dir_relative (its
 *   path relative to the model file's folder).
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

/* ---- long documents: overlapping windows ------------------------------------------------ */

/* How a text longer than max_len tokens becomes one vector: truncated (the old behaviour), or
 * split into windows of max_len tokens (specials included) that overlap by `stride` tokens,
 * each window pooled by the encoder's pooling, then the windows pooled by mean or max. */
enum lector_doc_pooling {
    LECTOR_DOC_TRUNCATE = 0,
    LECTOR_DOC_MEAN,
    LECTOR_DOC_MAX,
};
LECTOR_API int lector_doc_pooling_parse(const char *name); /* "truncate", "mean", "max"; -1 */
LECTOR_API const char *lector_doc_pooling_name(enum lector_doc_pooling p);
struct lector_window_params {
    int64_t max_len;      /* tokens per window including the special tokens */
    int64_t stride;       /* tokens shared by neighbouring windows, < max_len - specials [32] */
    enum lector_doc_pooling doc_pooling;
    int64_t max_windows;  /* at most this many windows per text; 0 = no limit */
    int64_t batch_size;   /* encoder rows per batch (windows are sorted by length; a batch
                             also holds at most max(max_len, min(batch_size x max_len,
                             1024)) padded tokens); 0 = 32 */
    int64_t *n_cut;       /* may be NULL: incremented once for each text whose windows were
                             cut at max_windows (the rest of that text is not read) */
};
/*
 * Tokenize and encode n texts into out (n, C), windows as wp says. A text that fails to
 * tokenize gets its status in bad[i] and a row of zeros; with bad NULL the first such text
 * fails the call instead. *n_windows (may be NULL) receives the number of encoder rows run.
 */
LECTOR_API enum lector_status lector_embed_texts(const struct lector_encoder *enc,
                                                 struct lector_encoder_state *st,
                                                 const struct lector_tokenizer *tok,
                                                 enum lector_pooling pooling,
                                                 const struct lector_window_params *wp,
                                                 const char *const *texts, const size_t *lens,
                                                 int64_t n, float *out, enum lector_status *bad,
                                                 int64_t *n_windows, struct lector_error *err);

/* ---- the classifier --------------------------------------------------------------------- */

struct lector_classifier;
struct lector_ngrams;

struct lector_classifier_info {
    enum lector_pooling pooling;
    int64_t max_len;     /* tokens per text including specials */
    int64_t n_train;     /* training examples (0 if unknown) */
    double valid_accuracy; /* -1 if unknown */
    const char *history_json; /* per-epoch figures as JSON, or NULL */
};

/* What a model adds to lector_classifier_info since the wide-and-deep head; all zero (or a
 * NULL pointer) means an encoder-only head with temperature 1. */
struct lector_classifier_extra {
    int no_encoder;      /* 1: the head ignores the encoder (--features ngrams) */
    const struct lector_ngrams *ngrams; /* n-gram featuriser of the wide part, or NULL */
    float temperature;   /* softmax temperature; 0 is read as 1 */
    double valid_macro_f1; /* -1 or 0 if unknown */
    enum lector_doc_pooling doc_pooling; /* long texts: LECTOR_DOC_TRUNCATE (0) or windows */
    int64_t stride;        /* window overlap in tokens (with windows) */
    int multi_label;       /* 1: a sigmoid per label; a label applies when its probability
                              reaches its threshold */
    const float *thresholds; /* (K) with multi_label, else NULL */
};

/* Load a model file and open the encoder it names (or encoder_dir when not NULL), checking
 * the encoder checksum. The classifier owns the encoder, tokenizer and head. Without
 * encoder_dir this is lector_classifier_load_search with no hint. */
LECTOR_API enum lector_status lector_classifier_load(const char *path, const char *encoder_dir,
                                                     struct lector_classifier **out,
                                                     struct lector_error *err);
/* The same, finding the encoder: encoder_dir when not NULL (its checksum must match: else
 * LECTOR_STATUS_MISMATCH); else the first folder whose checksum matches the recorded one
 * among encoder_hint (may be NULL; the command line passes $LECTOR_ENCODER), the absolute path
 * recorded at training, the path as it was given at training, and the recorded path relative
 * to the model file's folder (so a model and its encoder moved together are found). None:
 * LECTOR_STATUS_NOT_FOUND, the message naming the model and each path tried. */
LECTOR_API enum lector_status lector_classifier_load_search(const char *path, const char *encoder_dir,
                                                            const char *encoder_hint,
                                                            struct lector_classifier **out,
                                                            struct lector_error *err);
LECTOR_API void lector_classifier_free(struct lector_classifier *clf);

/* Write the classifier's model file atomically (see the format above). */
LECTOR_API enum lector_status lector_classifier_save(const struct lector_classifier *clf,
                                                     const char *path, struct lector_error *err);

LECTOR_API const struct lector_encoder *lector_classifier_encoder(const struct lector_classifier *clf);
/* lector_encoder_set_precision on the classifier's encoder (same rules: after load, before
 * the classifier is shared between threads); a no-op for a model without an encoder. */
LECTOR_API enum lector_status lector_classifier_set_precision(struct lector_classifier *clf,
                                                              enum lector_precision p,
                                                              struct lector_error *err);
LECTOR_API const struct lector_tokenizer *lector_classifier_tokenizer(const struct lector_classifier *clf);
LECTOR_API const struct lector_classifier_info *lector_classifier_get_info(const struct lector_classifier *clf);
LECTOR_API const struct lector_head *lector_classifier_head(const struct lector_classifier *clf);
/* The loaded model's extra fields (ngrams points into the classifier). */
LECTOR_API const struct lector_classifier_extra *lector_classifier_get_extra(const struct lector_classifier *clf);
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
LECTOR_API void lector_classifier_probs(const struct lector_classifier *clf, const float *X,
                                        const struct lector_sparse_rows *sp, int64_t n,
                                        float *probs);

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

/* ---- n-gram features ---------------------------------------------------------------- */

/* Hashed TF-IDF word (and optional character) n-grams; see src/task/ngrams.c for the word
 * rules. Thread safety: a fitted struct lector_ngrams is immutable; transform may run on
 * several threads at once. */
struct lector_ngram_params {
    int64_t n_buckets;   /* hash buckets [2^20] */
    int32_t word_order;  /* word n-grams of order 1..word_order [2] (0: none) */
    int32_t char_min;    /* character n-grams of lengths char_min..char_max [0 0: none] */
    int32_t char_max;
    int32_t sublinear_tf; /* 1 + ln(tf) instead of tf [1] */
    int64_t min_df;      /* keep buckets seen in at least min_df training texts [1] */
    int32_t boundaries;  /* 1: word n-grams of order >= 2 include a start and an end word [0] */
    int32_t weighting;   /* column weights: enum lector_ngram_weighting [LECTOR_NGRAM_IDF] */
};
/* How a column (n-gram bucket) is weighted: by its idf alone; by its naive Bayes log-count
 * ratio (max over classes of |r|, one class against the rest; NBSVM's r for two classes);
 * or by both multiplied. The last two are learnt from labels: lector_ngrams_fit_labeled. */
enum lector_ngram_weighting { LECTOR_NGRAM_IDF = 0, LECTOR_NGRAM_NB = 1, LECTOR_NGRAM_IDF_NB = 2 };
/* "idf", "nb", "idf-nb" (the CLI's and the model file's names); parse gives -1 for others. */
LECTOR_API const char *lector_ngram_weighting_name(int32_t w);
LECTOR_API int32_t lector_ngram_weighting_parse(const char *s);
LECTOR_API struct lector_ngram_params lector_ngram_default_params(void);
struct lector_ngrams;
/* Learn the feature columns (buckets seen in training) and their idf from n texts
 * (p->weighting must be LECTOR_NGRAM_IDF: the others need labels, see below). */
LECTOR_API enum lector_status lector_ngrams_fit(const struct lector_ngram_params *p,
                                                const char *const *texts, const size_t *lens,
                                                int64_t n, struct lector_ngrams **out,
                                                struct lector_error *err);
/* The same, with the column weights p->weighting asks for, learnt from the training labels:
 * single-label y (n, values in [0, n_classes)) or multi-label Y (n, n_classes) 0/1 targets
 * (Y wins when both are given). With LECTOR_NGRAM_IDF the labels are not read. */
LECTOR_API enum lector_status lector_ngrams_fit_labeled(const struct lector_ngram_params *p,
                                                        const char *const *texts,
                                                        const size_t *lens, int64_t n,
                                                        const int32_t *y, const uint8_t *Y,
                                                        int64_t n_classes,
                                                        struct lector_ngrams **out,
                                                        struct lector_error *err);
/* Rebuild from stored columns: buckets (S, strictly ascending) and column weights (S: the
 * idf, or what p->weighting made of it), copied. */
LECTOR_API enum lector_status lector_ngrams_init_from(const struct lector_ngram_params *p,
                                                      const int32_t *buckets, const float *idf,
                                                      int64_t n_features,
                                                      struct lector_ngrams **out,
                                                      struct lector_error *err);
LECTOR_API void lector_ngrams_free(struct lector_ngrams *ng); /* NULL is a no-op */
LECTOR_API int64_t lector_ngrams_n_features(const struct lector_ngrams *ng); /* S */
LECTOR_API const int32_t *lector_ngrams_buckets(const struct lector_ngrams *ng);
LECTOR_API const float *lector_ngrams_idf(const struct lector_ngrams *ng); /* column weights */
LECTOR_API const struct lector_ngram_params *lector_ngrams_get_params(const struct lector_ngrams *ng);
/* n texts -> unit-L2 TF-IDF rows with S columns in *out (free with lector_sparse_rows_free).
 * A text with no known n-gram gives an empty row. */
LECTOR_API enum lector_status lector_ngrams_transform(const struct lector_ngrams *ng,
                                                      const char *const *texts,
                                                      const size_t *lens, int64_t n,
                                                      struct lector_sparse_rows *out,
                                                      struct lector_error *err);

/* ---- feature cache -------------------------------------------------------------------- */

/* Pooled vectors on disk, keyed by the SHA-256 of each text's bytes, one file per `key` (a
 * string naming everything the vectors depend on: encoder checksum, tokenizer hash, pooling,
 * max length, ...). The directory is created if needed (mode 0700). Every record carries a
 * checksum over the key, the text digest and the vector: a record that fails it, or holds a
 * non-finite value, is dropped and counted (lector_feature_cache_n_discarded), so its text is
 * computed again. The file is opened without following symbolic links or blocking, and must
 * be a regular file owned by the user and not writable by group or others; otherwise open
 * fails with LECTOR_STATUS_IO and a message (the caller can go on without a cache). An
 * older format is not read (a note says so) and is replaced at the next save. The format
 * is in docs/formats.md. One handle per thread; several processes may share a directory. */
struct lector_feature_cache;
/* Default cap on the bytes of all cache files in a directory (4 GiB). */
#define LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT ((uint64_t)4 << 30)
LECTOR_API enum lector_status lector_feature_cache_open(const char *dir, const char *key,
                                                        int64_t C,
                                                        struct lector_feature_cache **out,
                                                        struct lector_error *err);
/* Open one existing cache file read-only, taking its key and width from its header (for
 * merging; it may belong to another user, its records are verified all the same): a file
 * that is not a regular format-2 cache file is an error. */
LECTOR_API enum lector_status lector_feature_cache_open_file(const char *path,
                                                             struct lector_feature_cache **out,
                                                             struct lector_error *err);
LECTOR_API void lector_feature_cache_free(struct lector_feature_cache *c); /* NULL: no-op */
/* True and the vector (C floats) in out when the text is cached. */
LECTOR_API bool lector_feature_cache_get(const struct lector_feature_cache *c, const char *text,
                                         size_t len, float *out);
/* Add a vector (a non-finite one is not stored). */
LECTOR_API enum lector_status lector_feature_cache_put(struct lector_feature_cache *c,
                                                       const char *text, size_t len,
                                                       const float *v, struct lector_error *err);
/* Add the records of src (same key and width, else LECTOR_STATUS_MISMATCH) that dst lacks;
 * their number in *n_added (may be NULL). */
LECTOR_API enum lector_status lector_feature_cache_merge(struct lector_feature_cache *dst,
                                                         const struct lector_feature_cache *src,
                                                         int64_t *n_added,
                                                         struct lector_error *err);
/* Append the new records to the file under an exclusive lock, after reading what other
 * processes appended meanwhile (a damaged or old-format file is rewritten whole instead),
 * then keep the directory under the size cap: other keys' files are removed least recently
 * used first, then this file keeps only the records used through this handle. */
LECTOR_API enum lector_status lector_feature_cache_save(struct lector_feature_cache *c,
                                                        struct lector_error *err);
/* Cap on the bytes of all cache files in the directory, 0 for none. */
LECTOR_API void lector_feature_cache_set_max_size(struct lector_feature_cache *c,
                                                  uint64_t n_bytes);
LECTOR_API const char *lector_feature_cache_path(const struct lector_feature_cache *c);
LECTOR_API const char *lector_feature_cache_key(const struct lector_feature_cache *c);
LECTOR_API int64_t lector_feature_cache_n_dims(const struct lector_feature_cache *c);
LECTOR_API int64_t lector_feature_cache_n_records(const struct lector_feature_cache *c);
/* Records of the file dropped by their checksum or for non-finite values since open. */
LECTOR_API int64_t lector_feature_cache_n_discarded(const struct lector_feature_cache *c);
/* One line for the user about what open or the last save found or did (damaged records,
 * an older format, evictions), or NULL. Valid until the next call on c. */
LECTOR_API const char *lector_feature_cache_note(const struct lector_feature_cache *c);

/* ---- training ------------------------------------------------------------------------- */

/* Learning-rate schedule after the linear warm-up: constant, linear decay to 0, or cosine
 * decay to 0, over all steps of all epochs. */
enum lector_schedule {
    LECTOR_SCHEDULE_CONSTANT = 0,
    LECTOR_SCHEDULE_LINEAR,
    LECTOR_SCHEDULE_COSINE,
};
/* "constant", "linear", "cosine"; -1 for anything else. */
LECTOR_API int lector_schedule_parse(const char *name);
/* lr factor in [0, 1] at step t of n_steps (t from 0) with n_warmup warm-up steps. */
LECTOR_API double lector_schedule_factor(enum lector_schedule s, int64_t t, int64_t n_steps,
                                         int64_t n_warmup);

/* What the training loop reports after each epoch. valid_* are -1 without validation data. */
struct lector_epoch_info {
    int64_t epoch;          /* from 1 */
    double train_loss;      /* mean batch loss of the epoch */
    double valid_loss;      /* mean cross-entropy on validation (unweighted, unsmoothed) */
    double valid_accuracy;
    double valid_macro_f1;  /* the selection criterion */
    double lr;              /* learning rate of the epoch's last step */
    int is_best;
};

struct lector_train_params {
    int64_t n_epochs;        /* 10 */
    int64_t batch_size;      /* 32 */
    uint64_t seed;           /* 42 */
    struct lector_adamw_params adamw;        /* W and b (the dense part) [lr 0.003] */
    struct lector_adamw_params adamw_sparse; /* V, the n-gram weights: its own optimiser, as
                                                sparse TF-IDF inputs want a larger step
                                                [lr 0.03, weight decay 0.01] */
    enum lector_schedule schedule; /* LECTOR_SCHEDULE_LINEAR */
    float warmup;            /* fraction of all steps spent in linear warm-up [0.06] */
    float clip_norm;         /* clip the global gradient L2 norm to this; 0 = off [1.0] */
    int class_weight_balanced; /* weight class k by n / (K n_k) [0] */
    float label_smoothing;   /* [0] */
    int64_t patience;        /* stop after this many epochs without a better valid macro-F1;
                                0 = never [0] */
    float min_delta;         /* macro-F1 differences up to this are noise: see lector_train
                                [0.005] */
    int calibrate;           /* fit a softmax temperature on the validation set [1] */
    int64_t n_hidden;        /* H > 0: an MLP head with one GELU hidden layer on the dense
                                features [0: linear] */
    float dropout;           /* dropout on the hidden units while training (MLP only) [0] */
    /* Called after each epoch (may be NULL); a non-zero return stops training. */
    int (*on_epoch)(void *user, const struct lector_epoch_info *e);
    /* Called after each optimiser step (may be NULL), for progress: step counts from 1 over
     * the whole run, of n_steps; loss is the step's batch loss. */
    void (*on_step)(void *user, int64_t epoch, int64_t step, int64_t n_steps, double loss);
    void *user;
    /* Polled between steps; when it becomes non-zero training stops with
     * LECTOR_STATUS_INTERRUPTED and no head. */
    const volatile int *cancel;
    /* Refuse (LECTOR_STATUS_NOMEM, before allocating) a head whose parameters and optimiser
     * state, as lector_train_head_memory estimates them, exceed this many bytes; 0 = no
     * limit [0] */
    uint64_t max_memory;
};
LECTOR_API struct lector_train_params lector_train_default_params(void);
/* Bytes lector_train_head allocates for a head of C dense and S sparse inputs and K classes
 * (with p->n_hidden hidden units): the parameters, their gradients, the best epoch's copy,
 * the weight-decay mask and AdamW's moments (and running maxima with amsgrad), plus the
 * per-row bookkeeping of the sparse part. Saturates at UINT64_MAX; never overflows. */
LECTOR_API uint64_t lector_train_head_memory(int64_t C, int64_t S, int64_t K,
                                             const struct lector_train_params *p);

/* One split of the training data: dense X (n, C) (NULL when C = 0), sparse rows sp (n rows,
 * may be NULL when S = 0) and labels y (n) in [0, K). */
struct lector_train_set {
    const float *X;
    const struct lector_sparse_rows *sp;
    const int32_t *y;
    int64_t n;
    const uint8_t *Y; /* multi-label: (n, K) targets in {0, 1} instead of y (y may be NULL) */
};

struct lector_train_result {
    struct lector_head *head;  /* owned; applies to raw (unstandardised) features */
    int64_t best_epoch;
    int64_t n_epochs_run;
    double valid_accuracy;     /* of the best epoch; -1 without validation */
    double valid_macro_f1;     /* of the best epoch; -1 without validation */
    float temperature;         /* softmax temperature fitted on validation; 1 if none (and
                                  for multi-label) */
    float *thresholds;         /* multi-label: (K) per-label decision thresholds tuned for F1
                                  on validation (0.5 without); NULL for single-label */
    char *history;             /* per-epoch JSON (lector_free), or NULL */
};
/* Frees head and history and zeroes *r. NULL is a no-op. */
LECTOR_API void lector_train_result_free(struct lector_train_result *r);

/*
 * Train a (wide) linear or MLP softmax head on C dense and S sparse inputs (S = train->sp ?
 * train->sp->n_cols : 0). With validation rows (valid may be NULL), the head of the epoch with
 * the best validation macro-F1 is returned and training stops after `patience` epochs
 * without improvement; without, the last. On a small validation set a few examples move the
 * macro-F1 from epoch to epoch, so an epoch becomes the best when its macro-F1 beats the
 * best one by more than min_delta, or when it is within min_delta of both the best one and
 * the highest seen so far and has a lower validation loss (min_delta 0: a higher macro-F1,
 * or the same with a lower loss). Dense features are standardised
 * internally and the scaling is folded back into the head. Everything is single-threaded and
 * in a fixed order, so the same seed gives a bit-identical head on any machine and thread
 * count. A non-finite loss stops training with LECTOR_STATUS_RANGE and no head.
 * With train->Y (multi-label) the head is trained with a sigmoid per label, selected on the
 * validation macro-F1 at threshold 0.5, and each label's threshold is then tuned on validation.
 */
LECTOR_API enum lector_status lector_train_head(const struct lector_train_set *train,
                                                const struct lector_train_set *valid, int64_t C,
                                                int64_t K, const struct lector_train_params *p,
                                                struct lector_train_result *out,
                                                struct lector_error *err);

/* A stratified split: for each class, a seeded shuffle of its rows sends round(fraction *
 * n_k) of them (at least 1 when n_k >= 2, never all) to validation. idx_train and idx_valid
 * (n entries of room each) receive ascending row numbers. */
LECTOR_API enum lector_status lector_split_stratified(const int32_t *y, int64_t n, int64_t K,
                                                      double fraction, uint64_t seed,
                                                      int64_t *idx_train, int64_t *n_train,
                                                      int64_t *idx_valid, int64_t *n_valid,
                                                      struct lector_error *err);

/* The temperature T > 0 minimising the mean cross-entropy of softmax(logits / T) over n rows
 * (golden-section search on ln T in [ln 0.05, ln 20]). Returns 1 for n = 0. */
LECTOR_API float lector_fit_temperature(const float *logits, const int32_t *y, int64_t n,
                                        int64_t K);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_CLASSIFIER_H */

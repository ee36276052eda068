/*
 * lector/train.h: from a labelled CSV file to a trained classifier, as `lector train` does it.
 *
 * Usage (the whole pipeline):
 *     struct lector_train_options o;
 *     lector_train_options_init(&o);                  // every default lives here
 *     o.encoder_dir = "models/mini-mlm-uncased";
 *     o.train_path = "train.csv";                     // o.valid_path: a held-out CSV, or NULL
 *     struct lector_classifier *clf = NULL;
 *     struct lector_eval_report rep;                  // the validation report (may be NULL)
 *     if (lector_train(&o, &clf, &rep, &err) == LECTOR_STATUS_OK)
 *         lector_classifier_save(clf, "model.lector", &err);
 *
 * The steps, each also callable alone: lector_corpus_read_csv (lector/dataset.h) reads the
 * label space and the texts; lector_featurizer_open + lector_featurize tokenize every text
 * once, reuse cached vectors and encode the rest in chunks; lector_split_stratified holds out
 * a validation share when there is no validation file; the n-gram columns are fitted on the
 * training rows (lector_ngrams_fit); lector_train_head trains the head; the result is a
 * classifier in memory (it owns the encoder and tokenizer) that predicts and saves.
 *
 * Progress: nothing is printed. Each step reports through o->on_event (may be NULL); events
 * carry figures, not advice, so a program words them as it likes.
 *
 * Thread safety: a featurizer is used by one thread at a time; lector_train is reentrant.
 */
#ifndef LECTOR_TRAIN_H
#define LECTOR_TRAIN_H

#include "lector/cache.h"
#include "lector/classifier.h"
#include "lector/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which inputs the head reads: the encoder's pooled vectors, hashed TF-IDF n-grams, or both
 * (wide-and-deep). */
struct lector_eval_report; /* lector/eval.h */
struct lector_autotune_trial;

enum lector_feature_set {
    LECTOR_FEATURES_ENCODER = 1,
    LECTOR_FEATURES_NGRAMS = 2,
    LECTOR_FEATURES_BOTH = 3,
};
/* "encoder", "ngrams", "both"; -1 for anything else. */
LECTOR_API int lector_features_parse(const char *name);

/* What a step reports. Fields not listed for a kind are 0 or NULL. */
enum lector_event_kind {
    LECTOR_EVENT_LONG_TEXTS,    /* path: count of total texts are longer than max_len tokens
                                   (truncated, or split into windows: see doc_pooling) */
    LECTOR_EVENT_CACHE_HITS,    /* path: count of total texts found in the feature cache */
    LECTOR_EVENT_ENCODING,      /* path: count of total texts encoded so far, in seconds */
    LECTOR_EVENT_ENCODED,       /* path: count texts (windows encoder rows) in seconds */
    LECTOR_EVENT_CACHE_FAILED,  /* message: the cache could not be opened or saved; the run
                                   goes on without it */
    LECTOR_EVENT_CACHE_NOTE,    /* message: what the cache repaired or evicted */
    LECTOR_EVENT_CUT,           /* path: count texts cut at `windows` windows (max_windows):
                                   the rest of each is not read */
    LECTOR_EVENT_HELD_OUT,      /* path: count of total rows held out for validation */
    LECTOR_EVENT_NGRAMS,        /* count n-gram columns fitted on total texts in seconds */
    LECTOR_EVENT_STEP,          /* step: an optimiser step (epoch, step of total, loss) */
    LECTOR_EVENT_EPOCH,         /* epoch: an epoch's figures */
    LECTOR_EVENT_TRAINED,       /* the head: seconds, epoch = the best epoch's figures */
    LECTOR_EVENT_TRIAL,         /* autotune: trial (its settings, validation figures, seconds) */
    LECTOR_EVENT_AUTOTUNED,     /* autotune: count trials in seconds, trial = the chosen one,
                                   message = why the search stopped, total = the rows the
                                   trials were scored on (trial->folds says how) */
    LECTOR_EVENT_FROZEN,        /* unfreeze: the frozen layers' states of count texts
                                   computed once, in seconds; total = their bytes, windows
                                   = 1 when they went to a file-backed mapping */
};
struct lector_event {
    enum lector_event_kind kind;
    const char *path;
    int64_t count, total, windows;
    double seconds;
    const char *message;
    enum lector_doc_pooling doc_pooling; /* LONG_TEXTS */
    int64_t max_len, stride;             /* LONG_TEXTS */
    const struct lector_epoch_info *epoch; /* EPOCH */
    int64_t step_epoch;                  /* STEP */
    double loss;                         /* STEP */
    const struct lector_train_result *result; /* TRAINED */
    const struct lector_autotune_trial *trial; /* TRIAL, AUTOTUNED */
};
typedef void (*lector_event_fn)(void *user, const struct lector_event *e);

/* ---- training a head on features ------------------------------------------------------ */

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

/* The head's training settings; the defaults in brackets are set by
 * lector_train_options_init (its `head` member). */
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
    float dropout;           /* dropout on the hidden units while training (MLP only) [0.1] */
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
     * limit [three quarters of the physical memory, 4 GB when unknown] */
    uint64_t max_memory;
};
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

/* Stratified folds for cross-validation: for each class in turn, a seeded shuffle of its rows
 * is dealt to the folds in rotation, the rotation continuing from class to class, so every
 * fold gets its share of each class (within one row) and the folds' sizes differ by at most
 * one. fold_of (n entries) receives each row's fold in [0, folds). Needs 2 <= folds <= n
 * (INVALID_ARG otherwise). */
LECTOR_API enum lector_status lector_split_folds(const int32_t *y, int64_t n, int64_t K, int64_t folds,
                                                 uint64_t seed, int32_t *fold_of, struct lector_error *err);

/* The temperature T > 0 minimising the mean cross-entropy of softmax(logits / T) over n rows
 * (golden-section search on ln T in [ln 0.05, ln 20]). Returns 1 for n = 0. */
LECTOR_API float lector_fit_temperature(const float *logits, const int32_t *y, int64_t n,
                                        int64_t K);

/* ---- featurisation ---------------------------------------------------------------------- */

struct lector_featurizer_options {
    enum lector_pooling pooling;         /* [LECTOR_POOLING_MEAN] */
    int64_t max_len;                     /* tokens per text including the special tokens;
                                            0: 128, or the encoder's positions when fewer
                                            [0]; more than the positions is an error */
    enum lector_doc_pooling doc_pooling; /* longer texts: windows pooled by mean or max, or
                                            truncated [LECTOR_DOC_MEAN] */
    int64_t stride;                      /* window overlap in tokens; -1: 32, or a quarter of
                                            a smaller window [-1] */
    int64_t max_windows;                 /* read at most this many windows of a long text
                                            (0: no limit) [128] */
    const char *cache_dir;               /* feature cache directory; NULL: none [NULL] */
    uint64_t cache_max_size;             /* cap on the cache directory's bytes (0: none)
                                            [LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT] */
    lector_event_fn on_event;            /* progress, from the cache's opening on (may be
                                            NULL) [NULL] */
    void *user;
    const volatile int *cancel;          /* polled between encoder chunks (may be NULL) */
};
/* The defaults above. */
LECTOR_API void lector_featurizer_options_init(struct lector_featurizer_options *o);

struct lector_featurizer;
/* Open dir's encoder and tokenizer (and the cache, when the options name one). dir NULL: a
 * featurizer for n-gram features alone, which only checks that each text is UTF-8. */
LECTOR_API enum lector_status lector_featurizer_open(const char *encoder_dir,
                                                     const struct lector_featurizer_options *o,
                                                     struct lector_featurizer **out,
                                                     struct lector_error *err);
/* A featurizer that borrows clf's encoder and tokenizer and uses its pooling, max length and
 * windows (close it before clf); of o only max_windows and the cache fields are read. The
 * cache is used only at fp32 precision (it holds fp32 vectors). */
LECTOR_API enum lector_status lector_featurizer_for_classifier(const struct lector_classifier *clf,
                                                               const struct lector_featurizer_options *o,
                                                               struct lector_featurizer **out,
                                                               struct lector_error *err);
LECTOR_API void lector_featurizer_close(struct lector_featurizer *fz); /* NULL: no-op */
LECTOR_API const struct lector_encoder *lector_featurizer_encoder(const struct lector_featurizer *fz);
LECTOR_API const struct lector_tokenizer *lector_featurizer_tokenizer(const struct lector_featurizer *fz);
/* The options in force (max length and stride resolved). */
LECTOR_API const struct lector_featurizer_options *lector_featurizer_get_options(const struct lector_featurizer *fz);
/* The featurizer's encoder state and feature cache (NULL without one), for a program that
 * encodes texts itself (lector_embed_texts) and keeps them in the same cache. */
LECTOR_API struct lector_encoder_state *lector_featurizer_state(struct lector_featurizer *fz);
LECTOR_API struct lector_feature_cache *lector_featurizer_cache(struct lector_featurizer *fz);
/* The inputs of a head for n texts. Released by lector_features_free. */
struct lector_features {
    int64_t n;
    int64_t C;                    /* encoder width, 0 without encoder features */
    float *X;                     /* (n, C) pooled vectors, or NULL */
    struct lector_sparse_rows sp; /* n-gram rows (lector_features_add_ngrams), else empty */
    int64_t max_len;              /* T */
    int32_t *ids;                 /* (n, T) token ids of each text's first max_len tokens */
    int64_t *n_ids;               /* (n) ids used in each row */
};
/*
 * Tokenize every text of c once (an invalid text is an error naming its line) and, with
 * encode, fill X: vectors from the cache where it has them, the rest encoded in chunks of
 * 512 texts (each chunk added to the cache). Returns LECTOR_STATUS_INTERRUPTED when the
 * cancel flag is raised (what was encoded stays cached).
 */
LECTOR_API enum lector_status lector_featurize(struct lector_featurizer *fz,
                                               const struct lector_corpus *c, int encode,
                                               struct lector_features *out,
                                               struct lector_error *err);
/* What lector_featurize_shard did with its shard. */
struct lector_shard_counts {
    int64_t rows;     /* rows of the shard */
    int64_t cached;   /* of which the cache held before */
    int64_t encoded;  /* of which encoded and added to the cache */
    int64_t windows;  /* encoder windows those took */
    double seconds;   /* spent encoding */
};
/*
 * Fill fz's cache (required) with the vectors of the rows shard_i, shard_i + shard_n, ... of
 * text_column in the CSV file at path (0 <= shard_i < shard_n; 0 of 1: every row) that it
 * lacks: no labels are read, nothing is kept in memory beyond a chunk of 512 texts. Caches
 * filled by the shards of one corpus on several machines merge into the cache a single run
 * would fill (lector_feature_cache_merge). The cache is saved at the end, also when the
 * cancel flag stops the run (LECTOR_STATUS_INTERRUPTED). counts may be NULL.
 */
LECTOR_API enum lector_status lector_featurize_shard(struct lector_featurizer *fz, const char *path,
                                                     const char *text_column, int64_t shard_i,
                                                     int64_t shard_n,
                                                     struct lector_shard_counts *counts,
                                                     struct lector_error *err);
/* The rows idx[0..n) of in as a new set (n-gram rows are not copied). */
LECTOR_API enum lector_status lector_features_subset(const struct lector_features *in,
                                                     const int64_t *idx, int64_t n,
                                                     struct lector_features *out,
                                                     struct lector_error *err);
/* Fill f->sp with ng's rows of c's texts (c the corpus f was made from). */
LECTOR_API enum lector_status lector_features_add_ngrams(struct lector_features *f,
                                                         const struct lector_corpus *c,
                                                         const struct lector_ngrams *ng,
                                                         struct lector_error *err);
LECTOR_API void lector_features_free(struct lector_features *f); /* zeroes *f */

/* ---- autotune: the head's settings searched on the validation rows ----------------------- */

/*
 * The settings the search varies; everything else (batch size, schedule, seed, ...) stays as
 * the options give it. The features are computed once (the encoder runs once, or not at all
 * with a full feature cache); the n-gram columns are fitted again only when an n-gram setting
 * changes; so each trial costs one head training.
 *
 * The search is a coordinate search in a fixed order, starting from the options as given:
 * features (within those the options allow: both allows encoder and ngrams too), n-gram
 * weighting (idf-nb, nb, idf), n-gram learning rate (0.01, 0.03, 0.1, 0.3), n-gram boundaries
 * (off, on), epochs (5, 10, 20), dense learning rate (0.0003, 0.001, 0.003, 0.01), n-gram
 * weight decay (0, 0.01, 0.1), word n-gram order (1, 2, 3), character n-grams (none, 2-4),
 * dense weight decay (0, 0.01, 0.1) and hidden units (0, 256); settings that do not apply
 * to the current features are skipped. Each value is tried with the others at the best so far,
 * and kept when it is better on validation by the rule that picks epochs (macro-F1 higher by
 * more than head.min_delta, or within it and a lower validation log-loss). The passes repeat
 * until one changes nothing (at most 3); no setting is trained twice. Trials are trained with
 * head.seed, so a search that ends by itself or at max_trials chooses the same settings and
 * gives the same model on any machine; one cut by the time budget depends on the machine's
 * speed (the AUTOTUNED event says which ended it).
 *
 * How a trial is scored (folds): on the validation rows (one split), or by K-fold
 * cross-validation over the training and validation rows together: they are dealt into K
 * folds stratified by class (seeded by head.seed; multi-label rows by a plain seeded
 * shuffle), and a trial trains K heads, each on K-1 folds (its n-gram columns fitted on those
 * rows) with the remaining fold as its validation, and scores the mean of the K folds'
 * figures weighted by their rows. A small validation set decides between neighbouring
 * settings by a few rows; cross-validation scores every labelled row, at K times the cost
 * of a trial. After a cross-validated search the chosen settings are trained once more on
 * the training rows with the validation rows, as a plain lector_train with them would be, and
 * that head is the model.
 */
struct lector_autotune_settings {
    enum lector_feature_set features;
    int64_t n_epochs;
    float lr, weight_decay;               /* head.adamw (the dense part) */
    float lr_ngrams, weight_decay_ngrams; /* head.adamw_sparse */
    int64_t n_hidden;                     /* head.n_hidden */
    int32_t word_order, char_min, char_max, boundaries, weighting; /* ngrams */
};
struct lector_autotune_options {
    int enabled;          /* search instead of training once with the options as given [0] */
    double budget;        /* seconds: no trial starts when the time spent plus the mean trial
                             time would exceed it; the first trial always runs [300] */
    int64_t max_trials;   /* stop after this many trials; 0: no limit [0] */
    int64_t folds;        /* how trials are scored: 1 = on the validation rows; 2 to 20 =
                             that many folds of cross-validation (above); 0 = automatic:
                             5 when there are fewer than LECTOR_AUTOTUNE_CV_BELOW validation
                             rows (and at least 10 rows in all), else 1 [0]. K-fold needs at
                             least K rows (INVALID_ARG naming the count) */
};
#define LECTOR_AUTOTUNE_CV_BELOW 500
#define LECTOR_AUTOTUNE_MAX_FOLDS 20
struct lector_autotune_trial {
    int64_t index;                     /* from 1, in the order trained */
    struct lector_autotune_settings settings;
    double valid_macro_f1, valid_accuracy, valid_log_loss; /* -1: failed (message says why);
                                          with folds, the folds' weighted means */
    double seconds;                    /* n-gram fit (when redone) and head training */
    int64_t folds;                     /* 1: scored on the validation rows; K: K-fold */
    int is_best;                       /* the best so far */
    const char *message;               /* a failed trial's error, else NULL */
};
/*
 * The settings that apply to their features as one line of name=value pairs, e.g.
 * "features=ngrams epochs=20 lr_ngrams=0.1 weight_decay_ngrams=0.01 ngram_order=2
 * char_ngrams=none ngram_boundaries=1 ngram_weighting=nb" (the dense ones, lr, weight_decay
 * and hidden, appear with encoder features; the n-gram ones with n-grams). This is the form
 * a model records (metadata "autotune"). Returns the length it needs (snprintf's rule).
 */
LECTOR_API int lector_autotune_settings_format(const struct lector_autotune_settings *s, char *buf,
                                               size_t cap);

/* ---- the training pipeline -------------------------------------------------------------- */

#define LECTOR_UNFREEZE_ALL (-1)

/*
 * Fine-tuning the top layers (lector_train_options.unfreeze != 0): the layers below run once
 * per text, the top ones train with the head on the pooled vector (the pooler too with
 * pooling LECTOR_POOLING_POOLER), texts truncated to max_len. From the head's options come
 * the weight decay (head.adamw.weight_decay, on weight matrices only, never on biases or
 * LayerNorm), the warm-up and schedule (one for every parameter group), clip_norm (the
 * global norm over every trainable tensor), dropout (on the pooled vector, and on the hidden
 * units of an MLP head), n_hidden, class_weight_balanced, label_smoothing and patience (as
 * for a frozen head: the same loss, and patience counts epochs the best-epoch rule does not
 * pick), seed, min_delta and calibrate. With LECTOR_FEATURES_BOTH the n-gram weights train jointly (head.adamw_sparse:
 * their rate and weight decay, as for a frozen encoder); with corpus.multi_label the head is a
 * sigmoid per label (binary cross-entropy) and each label's threshold is tuned on validation.
 * The model keeps the trained layers' tensors (lector_classifier_save).
 * With featurizer.cache_dir, the frozen layers' output states are kept in that feature
 * cache too (a ".lbs" file per encoder, layer count and boundary precision, records keyed
 * by each text's token ids, under the same size cap), so another run on the same texts
 * reads them instead of running the frozen layers (LECTOR_EVENT_CACHE_HITS says how many).
 */
struct lector_finetune_options {
    float lr_encoder;       /* peak learning rate of the top trained layer [1e-4] */
    float lr_head;          /* the head's, in place of head.adamw.lr [1e-3] */
    float layer_lr_decay;   /* each layer below the top gets this times the rate of the one
                               above (discriminative fine-tuning) [1] */
    float encoder_dropout;  /* hidden and attention dropout in the trained layers, as
                               Hugging Face's hidden_dropout_prob [0.1] */
    int64_t batch_size;     /* in place of head.batch_size [16] */
    int64_t n_epochs;       /* in place of head.n_epochs [3] */
    uint64_t memory_budget; /* bytes of the frozen layers' output states kept in memory;
                               past it they go to a file-backed mapping [1 GiB] */
    enum lector_precision boundary_precision; /* how those states are kept: FP32, or BF16
                               (rounded to nearest even, half the memory, read back as fp32
                               per batch); INT8 is INVALID_ARG [FP32] */
};

struct lector_train_options {
    const char *encoder_dir;      /* required for encoder features; NULL with
                                     LECTOR_FEATURES_NGRAMS: a model with no encoder */
    const char *train_path;       /* training CSV, required */
    const char *valid_path;       /* validation CSV; NULL: hold out valid_fraction [NULL] */
    float valid_fraction;         /* stratified share of train held out when there is no
                                     valid_path; 0 trains on all and keeps the last epoch [0.1] */
    struct lector_corpus_options corpus;         /* columns, multi-label, label names */
    enum lector_feature_set features;               /* [LECTOR_FEATURES_BOTH] */
    struct lector_featurizer_options featurizer; /* pooling, max_len, windows, cache */
    struct lector_ngram_params ngrams;           /* [word 1-2 grams, 2^20 buckets, idf-nb] */
    struct lector_train_params head;             /* the head and its optimiser [dropout 0.1;
                                                    see lector_train_params] */
    int64_t unfreeze;             /* top encoder layers trained with the head: 0 = a frozen
                                     encoder, LECTOR_UNFREEZE_ALL = every layer; more than the
                                     encoder has is INVALID_ARG naming its count [0] */
    struct lector_finetune_options finetune; /* the recipe when unfreeze != 0 */
    struct lector_autotune_options autotune; /* search the head's settings on validation
                                     [off; 300 s; no trial limit]; not with unfreeze */
    lector_event_fn on_event;     /* progress (may be NULL) */
    void *user;
    const volatile int *cancel;   /* polled; non-zero stops with LECTOR_STATUS_INTERRUPTED */
};
/* Every default of the pipeline (the values in brackets above and in the nested structs). */
LECTOR_API void lector_train_options_init(struct lector_train_options *o);

/*
 * Read, featurise, split, fit the n-grams and train, as described at the top. *out receives
 * the trained classifier (save it with lector_classifier_save). valid_report (may be NULL)
 * receives the validation report, the same figures lector_evaluate gives on the validation
 * rows (n = 0 without validation). With autotune enabled, the head of the best trial is kept
 * (the model records its settings and the search's figures as metadata "autotune") and the
 * report is that trial's; the search needs validation rows. Errors: INVALID_ARG for option
 * values (err->msg names the field, e.g. "max_len"), FORMAT for the data (a single class: at least 2 are needed),
 * INTERRUPTED when cancelled (no classifier), and those of each step.
 */
LECTOR_API enum lector_status lector_train(const struct lector_train_options *o,
                                           struct lector_classifier **out,
                                           struct lector_eval_report *valid_report,
                                           struct lector_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_TRAIN_H */

/*
 * task_impl.h: what the task files share among themselves (internal).
 */
#ifndef LECTOR_TASK_IMPL_H
#define LECTOR_TASK_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "lector/classifier.h"
#include "lector/encoder.h"

/* Every row has 1 .. cfg->n_tokens_max tokens (RANGE naming the first that has not);
 * *T_max gets the longest (0 for no rows). */
enum lector_status lector__token_rows_check(const struct lector_encoder_config *cfg,
                                            const struct lector_token_row *rows, int64_t n,
                                            int64_t *T_max, struct lector_error *err);


/* Fine-tuning's boundary states in the feature cache directory (cache.c): one file per key
 * (everything the states depend on besides the token ids), "<dir>/<40 hex digits of
 * sha256(key)>.lbs", one record per text keyed by the SHA-256 of its token ids, each with
 * a check over the key, the ids' digest and the values (docs/formats.md). */
struct lector__states_cache {
    char *dir, *path, *key;
    uint8_t key_digest[32];
    int64_t C;
    int elem;          /* bytes per value: 4 (fp32) or 2 (bf16) */
    bool rewrite;      /* damaged or another key's file: the next write replaces it */
    int64_t n_damaged; /* records that failed their check, since open */
};
/* The states of n rows: row i's (rows[i].n, C) values at data + off[i] C elem bytes. */
struct lector__states_set {
    const struct lector_token_row *rows;
    int64_t n;
    const int64_t *off; /* (n + 1) */
    void *data;
    uint8_t *have;      /* (n): set by read for the rows it filled; write skips them */
    int64_t n_read;     /* rows filled by the last read */
};
enum lector_status lector__states_cache_open(struct lector__states_cache *c, const char *dir,
                                             const char *key, int64_t C, int elem,
                                             struct lector_error *err);
void lector__states_cache_close(struct lector__states_cache *c);
/* Fill the rows of the sets that the file has (a missing file has none; on an error,
 * none). */
enum lector_status lector__states_cache_read(struct lector__states_cache *c,
                                             struct lector__states_set *const *sets, int n_sets,
                                             struct lector_error *err);
/* Store the rows of the sets that read did not fill (every row, in a new file, when the
 * file was damaged), first removing other cache files of the directory, least recently used
 * first, to stay under max_size (0: no cap); IO naming the cap when they cannot fit. */
enum lector_status lector__states_cache_write(struct lector__states_cache *c,
                                              struct lector__states_set *const *sets,
                                              int n_sets, uint64_t max_size,
                                              struct lector_error *err);

// Texts already tokenized to their first max_len tokens: text i is row row[i] of ids (rows of
// max_len ids), n_ids[row[i]] of them used, truncated[row[i]] when the text is longer. With
// status (may be NULL), texts whose status is not OK are skipped (a row of zeros).
struct lector__tokenized {
    const int32_t *ids;
    int64_t *n_ids;
    uint8_t *truncated;
    int64_t *row;
    enum lector_status *status;
};

// lector_embed_texts on texts already tokenized (a window split tokenizes a long text again,
// whole).
enum lector_status lector__embed_tokenized(const struct lector_encoder *enc,
                                           struct lector_encoder_state *st,
                                           const struct lector_tokenizer *tok,
                                           enum lector_pooling pooling,
                                           const struct lector_window_params *wp,
                                           const char *const *texts, const size_t *lens,
                                           const struct lector__tokenized *tk, int64_t n,
                                           float *out, int64_t *n_windows,
                                           struct lector_error *err);

// A classifier in memory that takes ownership of enc, tok, head and ng (also on failure);
// labels and info's history, thresholds and autotune record are copied (info's ngrams is ng).
enum lector_status lector__classifier_new(struct lector_encoder *enc, struct lector_tokenizer *tok,
                                          struct lector_head *head, const char *const *labels,
                                          int64_t n_labels, const struct lector_classifier_info *info,
                                          struct lector_ngrams *ng, struct lector_classifier **out,
                                          struct lector_error *err);

struct lector_featurizer;
// Hand the featurizer's encoder and tokenizer to the caller (the featurizer then only borrows
// them: free it first).
void lector__featurizer_release(struct lector_featurizer *fz, struct lector_encoder **enc,
                                struct lector_tokenizer **tok);

// Autotune's search (autotune.c): the settings of the options and back, the next trial in
// the fixed order (false when the search is over), the result of a trial (true when it is the
// best so far; f1 < 0: failed) and the record a model keeps (JSON, free()).
struct lector_train_options;
struct lector_autotune_settings;
struct lector_autotune_trial;
struct lector__autotune;
void lector__autotune_settings_get(const struct lector_train_options *o, struct lector_autotune_settings *s);
void lector__autotune_settings_apply(const struct lector_autotune_settings *s, struct lector_train_options *o);
struct lector__autotune *lector__autotune_new(const struct lector_train_options *o);
void lector__autotune_free(struct lector__autotune *a);
bool lector__autotune_next(struct lector__autotune *a, struct lector_autotune_settings *out);
bool lector__autotune_report(struct lector__autotune *a, const struct lector_autotune_settings *s, double f1,
                             double log_loss);
char *lector__autotune_json(const struct lector_autotune_trial *best, int64_t n_trials, int64_t folds,
                            const char *ended);
struct lector_corpus;
struct lector_features;
struct lector_train_result;
// lector_train's checks of unfreeze and the fine-tuning options (train_unfreeze.c).
enum lector_status lector__unfreeze_check(const struct lector_train_options *o, struct lector_error *err);
// lector_train's fine-tuning path: the top layers of fz's encoder trained with a linear head on
// tr's token ids (f_tr; f_va's for validation) and, with features both, their n-gram rows (sp),
// then substituted in that encoder; f_va is then encoded through it (its X filled, its n-gram
// rows kept) and res gets the head, the validation figures, the temperature (multi-label: the
// thresholds) and the history.
enum lector_status lector__train_unfrozen(const struct lector_train_options *o, struct lector_featurizer *fz,
                                          const struct lector_corpus *tr, const struct lector_features *f_tr,
                                          const struct lector_corpus *va, struct lector_features *f_va,
                                          struct lector_train_result *res, struct lector_error *err);

// ---- train.c's pieces the fine-tuning loop (finetune.c) shares -----------------------------
struct lector_sparse_rows;
// Copy rows idx[0..B) of sp into the batch matrix out (its offsets have room for B + 1; cols
// and vals grow as needed, *cap their capacity). false when out of memory.
bool lector__gather_sparse(const struct lector_sparse_rows *sp, const int64_t *idx, int64_t B,
                           struct lector_sparse_rows *out, size_t *cap);
// The distinct columns of the batch sb, in first-seen order, into *touched (grown as needed,
// *cap its capacity); stamp (S) marks each column with the step that last listed it. false
// when out of memory.
bool lector__list_touched(const struct lector_sparse_rows *sb, int64_t step, int64_t *stamp,
                          int64_t **touched, size_t *cap, int64_t *n_touched);
// p = 1 / (1 + exp(-z)) for n values.
void lector__sigmoid(const float *z, int64_t n, float *p);
// Per label, the threshold in {0.05, 0.10, ..., 0.95} with the best F1 on validation (ties:
// the one nearest 0.5), so rare labels get a lower bar than the default 0.5. Y, probs (n, K).
void lector__tune_thresholds(const uint8_t *Y, const float *probs, int64_t n, int64_t K, float *thr);
// Class weights w (K): scikit-learn's "balanced", n / (K n_k) for the labels y (n) in [0, K);
// a class absent from y gets 1 (it never occurs as a target anyway).
void lector__class_weights_balanced(const int32_t *y, int64_t n, int64_t K, float *cw);
// Validation figures of logits (n, K): accuracy and macro-F1 of the arg-max against y, or
// with Y (multi-label targets (n, K)) of the sigmoids at 0.5 against Y; loss is the mean
// cross-entropy (binary, per label, with Y). probs (n K) and pred (n) are scratch.
enum lector_status lector__valid_scores(const float *logits, const int32_t *y, const uint8_t *Y, int64_t n,
                                        int64_t K, float *probs, int32_t *pred, double *acc, double *f1,
                                        double *loss, struct lector_error *err);

#endif /* LECTOR_TASK_IMPL_H */

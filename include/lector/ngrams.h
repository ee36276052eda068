/*
 * lector/ngrams.h: hashed TF-IDF word and character n-grams, the wide part of a wide-and-deep head.
 */
#ifndef LECTOR_NGRAMS_H
#define LECTOR_NGRAMS_H

#include "lector/head.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_ngrams;

/* Hashed TF-IDF word (and optional character) n-grams; see src/task/ngrams.c for the word
 * rules. Thread safety: a fitted struct lector_ngrams is immutable; transform may run on
 * several threads at once. */
struct lector_ngram_params {
    int64_t n_buckets;   /* hash buckets [2^20] (defaults: lector_train_options_init) */
    int32_t word_order;  /* word n-grams of order 1..word_order [2] (0: none) */
    int32_t char_min;    /* character n-grams of lengths char_min..char_max [0 0: none] */
    int32_t char_max;
    int32_t sublinear_tf; /* 1 + ln(tf) instead of tf [1] */
    int64_t min_df;      /* keep buckets seen in at least min_df training texts [1] */
    int32_t boundaries;  /* 1: word n-grams of order >= 2 include a start and an end word [0] */
    int32_t weighting;   /* column weights: enum lector_ngram_weighting [LECTOR_NGRAM_IDF_NB] */
};
/* How a column (n-gram bucket) is weighted: by its idf alone; by its naive Bayes log-count
 * ratio (max over classes of |r|, one class against the rest; NBSVM's r for two classes);
 * or by both multiplied. The last two are learnt from labels: lector_ngrams_fit. */
enum lector_ngram_weighting { LECTOR_NGRAM_IDF = 0, LECTOR_NGRAM_NB = 1, LECTOR_NGRAM_IDF_NB = 2 };
/* "idf", "nb", "idf-nb" (the CLI's and the model file's names); parse gives -1 for others. */
LECTOR_API const char *lector_ngram_weighting_name(int32_t w);
LECTOR_API int32_t lector_ngram_weighting_parse(const char *s);
/* Learn the feature columns (buckets seen in training), their idf and, for the naive Bayes
 * weightings, the column weights from the training labels: single-label y (n, values in
 * [0, n_classes)) or multi-label Y (n, n_classes) 0/1 targets (Y wins when both are given).
 * With LECTOR_NGRAM_IDF the labels are not read and may be NULL; the others need them
 * (INVALID_ARG). */
LECTOR_API enum lector_status lector_ngrams_fit(const struct lector_ngram_params *p,
                                                const char *const *texts, const size_t *lens,
                                                int64_t n, const int32_t *y, const uint8_t *Y,
                                                int64_t n_classes, struct lector_ngrams **out,
                                                struct lector_error *err);
/* Rebuild from stored columns: buckets (S, strictly ascending) and column weights (S: the
 * idf, or what p->weighting made of it), copied. */
LECTOR_API enum lector_status lector_ngrams_new(const struct lector_ngram_params *p,
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

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_NGRAMS_H */

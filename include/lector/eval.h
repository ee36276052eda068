/*
 * lector/eval.h: a classifier scored on a labelled CSV file, as `lector eval` does it.
 *
 * Usage:
 *     struct lector_eval_options o;
 *     lector_eval_options_init(&o);
 *     struct lector_eval_report r;
 *     if (lector_evaluate(clf, "test.csv", &o, &r, &err) == LECTOR_STATUS_OK)
 *         printf("accuracy %.4f\n", r.metrics.accuracy);
 *     lector_eval_report_free(&r);
 *
 * The report holds the metrics (lector/data.h) and what a chart needs (probabilities and
 * true classes); formatting it as text, JSON or HTML is the program's business.
 */
#ifndef LECTOR_EVAL_H
#define LECTOR_EVAL_H

#include "lector/classifier.h"
#include "lector/data.h"
#include "lector/dataset.h"
#include "lector/train.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_event;

struct lector_eval_options {
    struct lector_corpus_options corpus; /* columns and label names; multi_label is the
                                            model's and is not read */
    struct lector_featurizer_options featurizer; /* of which max_windows, cache_dir and
                                            cache_max_size are read [128, NULL, 4 GiB] */
    void (*on_event)(void *user, const struct lector_event *e); /* progress (may be NULL) */
    void *user;
    const volatile int *cancel;          /* polled between encoder chunks (may be NULL) */
};
LECTOR_API void lector_eval_options_init(struct lector_eval_options *o);

/* Everything is owned by the report and released by lector_eval_report_free. */
struct lector_eval_report {
    struct lector_metrics metrics;
    int64_t n;            /* rows scored */
    int64_t n_labels;     /* K */
    char **labels;        /* (K) class names */
    int multi_label;
    float *probs;         /* (n, K) probabilities (per-label sigmoids for multi-label) */
    int32_t *y;           /* (n) true class ids; NULL for multi-label */
    char *history_json;   /* the model's per-epoch training figures (JSON), or NULL */
};

/* Classify every row of the CSV file at path with clf and compute the metrics (the label
 * space is the model's: a label it does not know is an error naming the line). */
LECTOR_API enum lector_status lector_evaluate(const struct lector_classifier *clf,
                                              const char *path,
                                              const struct lector_eval_options *o,
                                              struct lector_eval_report *out,
                                              struct lector_error *err);
/* Zeroes *r. NULL is a no-op. */
LECTOR_API void lector_eval_report_free(struct lector_eval_report *r);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_EVAL_H */

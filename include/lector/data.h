/*
 * lector/data.h: labelled text rows from CSV files, and classification metrics.
 *
 * CSV dialect (RFC 4180 via libcsv): the first row is a header naming the columns; fields are
 * separated by commas and may be quoted with '"' (a doubled '"' inside quotes is one quote;
 * quoted fields may hold commas and line breaks); lines end with LF or CRLF; a UTF-8 BOM at
 * the start is skipped. A row with a different number of fields than the header, or an
 * unterminated quote, is LECTOR_STATUS_FORMAT with err->line = the line where the row starts.
 * A column name that is not in the header is LECTOR_STATUS_NOT_FOUND listing the columns.
 *
 * Usage:
 *     struct lector_dataset *ds = NULL;
 *     lector_dataset_read_csv("train.csv", "text", "label", &ds, &err);
 *     for (int64_t i = 0; i < ds->n_rows; i++) use(ds->texts[i], ds->labels[i]);
 *     lector_dataset_free(ds);
 */
#ifndef LECTOR_DATA_H
#define LECTOR_DATA_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_dataset {
    int64_t n_rows;
    char **texts;      /* n_rows NUL-terminated UTF-8 strings */
    size_t *text_lens; /* n_rows byte lengths */
    char **labels;     /* n_rows label strings, as written in the file */
    int64_t *lines;    /* n_rows 1-based line numbers where each row starts */
};

/* label_column may be NULL to read texts only (labels then NULL). */
LECTOR_API enum lector_status lector_dataset_read_csv(const char *path, const char *text_column,
                                                      const char *label_column,
                                                      struct lector_dataset **out,
                                                      struct lector_error *err);
LECTOR_API void lector_dataset_free(struct lector_dataset *ds);

/* Metrics for single-label classification with K classes. */
struct lector_metrics {
    int64_t n_classes;   /* K */
    int64_t n;           /* examples */
    double accuracy;
    double macro_f1;
    double *precision;   /* (K) */
    double *recall;      /* (K) */
    double *f1;          /* (K) */
    int64_t *support;    /* (K) true count per class */
    int64_t *confusion;  /* (K, K) row = true class, column = predicted class */
};

/* y_true, y_pred: (n) class ids in [0, K). A class with no predictions has precision 0;
 * with no support, recall 0 (as scikit-learn with zero_division=0). macro_f1 averages over
 * all K classes. */
LECTOR_API enum lector_status lector_metrics_compute(const int32_t *y_true, const int32_t *y_pred,
                                                     int64_t n, int64_t K,
                                                     struct lector_metrics *out,
                                                     struct lector_error *err);
LECTOR_API void lector_metrics_free(struct lector_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_DATA_H */

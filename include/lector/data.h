/*
 * lector/data.h: labelled text rows from CSV files, and classification metrics.
 *
 * Usage:
 *     struct lector_error err = {0};
 *     struct lector_dataset *ds = NULL;
 *     if (lector_dataset_read_csv("train.csv", "text", "label", &ds, &err) != LECTOR_STATUS_OK)
 *         fprintf(stderr, "lector: error: %s\n", err.msg);   // "train.csv:42: expected 2 ..."
 *     for (int64_t i = 0; i < ds->n_rows; i++) use(ds->texts[i], ds->labels[i]);
 *     lector_dataset_free(ds);
 *
 * CSV dialect (RFC 4180, parsed by libcsv in strict mode):
 *   - The first row is a header naming the columns. Columns are selected by name, in any
 *     order; other columns are read and dropped.
 *   - Fields are separated by commas. A field may be quoted with '"'; inside quotes a doubled
 *     '"' is one quote, and commas, CR and LF are data. A '"' inside an unquoted field, or
 *     anything but a comma or line break after a closing quote, is an error.
 *   - Lines end with LF, CRLF or CR; the last line may lack one. Blank lines are skipped.
 *     Spaces around fields are kept (they are part of the field, as RFC 4180 says).
 *   - A UTF-8 byte order mark (EF BB BF) at the start is skipped, also before a quoted
 *     header. A UTF-16 one (FF FE or FE FF) is refused with advice to convert to UTF-8.
 *     Bytes are passed through as they are; UTF-8 validation is the tokenizer's job.
 *   - Empty cells are kept as empty strings; whether they are acceptable is the caller's call.
 *   - A single field is at most 64 MiB.
 *   - Line numbers are 1-based and count the line breaks inside quoted fields, so they match
 *     what an editor shows.
 * The file is streamed in 64 KiB chunks: memory holds the selected columns, not the file.
 *
 * Errors (err->line set where a line is known):
 *   LECTOR_STATUS_FORMAT     "train.csv:42: expected 2 columns, got 3" (err->line = line
 *                            where the row starts); an unterminated quote names the line
 *                            where the quoted field starts; a stray quote also gives
 *                            err->column (1-based byte column); an empty file; a UTF-16 BOM;
 *                            a field over 64 MiB; a requested column named twice in the header.
 *   LECTOR_STATUS_NOT_FOUND  "train.csv: no column 'label' (columns: text, sentiment)", or
 *                            the file does not exist.
 *   LECTOR_STATUS_IO         the file cannot be opened or read (with strerror).
 *   LECTOR_STATUS_NOMEM      out of memory.
 *
 * Thread safety: all functions are reentrant; a dataset is read-only after loading.
 */
#ifndef LECTOR_DATA_H
#define LECTOR_DATA_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything is owned by the dataset and released by lector_dataset_free. */
struct lector_dataset {
    int64_t n_rows;
    char **texts;      /* (n_rows) NUL-terminated strings, as written in the file */
    size_t *text_lens; /* (n_rows) byte lengths (a text may hold a NUL byte) */
    char **labels;     /* (n_rows) label strings, as written in the file; NULL without labels */
    int64_t *lines;    /* (n_rows) 1-based line numbers where each row starts */
};

/* Read the columns text_column and label_column of the CSV file at path into a new dataset
 * (*out; NULL on failure). label_column may be NULL to read texts only (labels then NULL),
 * and may equal text_column. A header with no data rows gives n_rows = 0. */
LECTOR_API enum lector_status lector_dataset_read_csv(const char *path, const char *text_column,
                                                      const char *label_column,
                                                      struct lector_dataset **out,
                                                      struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_dataset_free(struct lector_dataset *ds);

/* Metrics for single-label classification with K classes. */
struct lector_metrics {
    int64_t n_classes;   /* K */
    int64_t n;           /* examples */
    double accuracy;
    double macro_f1;
    double micro_f1;     /* pooled over classes; equals accuracy for single-label */
    double ece;          /* expected calibration error (top label, 15 equal bins); -1 unless
                            computed from probabilities */
    double log_loss;     /* mean -ln p(true class); -1 unless computed from probabilities */
    double *precision;   /* (K) */
    double *recall;      /* (K) */
    double *f1;          /* (K) */
    int64_t *support;    /* (K) true count per class */
    int64_t *confusion;  /* (K, K) row = true class, column = predicted class */
};

/* y_true, y_pred: (n) class ids in [0, K). A class with no predictions has precision 0;
 * with no support, recall 0 (as scikit-learn with zero_division=0), and F1 is 0 whenever
 * precision and recall are both 0. macro_f1 averages over all K classes, present or not.
 * n = 0 gives accuracy 0. The arrays in *out are allocated here; release them with
 * lector_metrics_free (the struct itself is the caller's). Returns LECTOR_STATUS_RANGE for a
 * class id out of range (err->index = its index), INVALID_ARG for K < 1 or n < 0. */
LECTOR_API enum lector_status lector_metrics_compute(const int32_t *y_true, const int32_t *y_pred,
                                                     int64_t n, int64_t K,
                                                     struct lector_metrics *out,
                                                     struct lector_error *err);
/* The same from probabilities probs (n, K): the prediction is the first most probable class,
 * and ece and log_loss are filled in too. ECE = sum over 15 equal-width confidence bins
 * (lo, hi] of |bin accuracy - mean confidence| weighted by the bin's share of examples. */
LECTOR_API enum lector_status lector_metrics_compute_probs(const int32_t *y_true,
                                                           const float *probs, int64_t n,
                                                           int64_t K, struct lector_metrics *out,
                                                           struct lector_error *err);
/* Multi-label metrics from targets Y (n, K) in {0, 1} and per-label probabilities probs (n, K),
 * label k predicted when probs >= thresholds[k] (thresholds NULL: 0.5). Per-label precision,
 * recall, F1 and support (positives); macro_f1 over labels; micro_f1 pooled over all (row,
 * label) decisions; accuracy = exact-match ratio; ece over all n K binary decisions (confidence
 * max(p, 1 - p)); log_loss = mean binary cross-entropy; confusion is NULL. */
LECTOR_API enum lector_status lector_metrics_compute_multi(const uint8_t *Y, const float *probs,
                                                           const float *thresholds, int64_t n,
                                                           int64_t K, struct lector_metrics *out,
                                                           struct lector_error *err);
/* Frees the arrays and zeroes *m. NULL is a no-op. */
LECTOR_API void lector_metrics_free(struct lector_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_DATA_H */

/*
 * A self-contained HTML report of a classifier's evaluation: confusion-matrix heat map,
 * per-class precision/recall/F1 bars, a reliability (calibration) diagram and the training
 * and validation curves per epoch. Inline SVG only: no scripts, no fonts or styles from the
 * network, so the file opens anywhere and can be archived as it is.
 */
#ifndef LECTOR_CLI_REPORT_H
#define LECTOR_CLI_REPORT_H

#include <stdint.h>

#include "lector/base.h"
#include "lector/data.h"
#include "lector/eval.h"

struct cli_report {
    const char *title;          /* e.g. "sentiment.lector on test.csv" */
    const char *const *labels;  /* (K) */
    const struct lector_metrics *metrics;
    const float *confidence;    /* (n) probability of the predicted class, or NULL */
    const int32_t *y_true;      /* (n) */
    const int32_t *y_pred;      /* (n) */
    int64_t n;
    const char *history_json;   /* [{"epoch":..,"train_loss":..,"valid_accuracy":..},...] or NULL */
};

/* Write the report of an evaluation (a reliability diagram for single-label models): the
 * predictions and confidences are the argmax of each row and its probability. Returns a CLI
 * exit code (the error printed). */
int cli_report_write_eval(const char *path, const char *title, const struct lector_eval_report *rep);

/* Write the report to path atomically; on failure err says why. */
enum lector_status cli_report_write(const char *path, const struct cli_report *r, struct lector_error *err);

#endif

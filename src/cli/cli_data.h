/*
 * What 'lector train' and 'lector eval' share: progress of the library's steps on stderr, the
 * default feature-cache folder, and the evaluation report as text or JSON.
 */
#ifndef LECTOR_CLI_DATA_H
#define LECTOR_CLI_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"
#include "lector/data.h"
#include "lector/train.h"

/* The default --max-windows: 128 windows of 512 tokens is a text of some 50,000 words; one
 * 50 MB line is then read in seconds, not hours. */
#define CLI_MAX_WINDOWS 128
/* Say that n_cut texts of where were cut at max_windows windows (nothing when n_cut is 0). */
void cli_note_cut(const char *where, int64_t n_cut, int64_t max_windows);

/* $XDG_CACHE_HOME/lector/features or $HOME/.cache/lector/features in buf; NULL if neither. */
const char *cli_default_cache_dir(char *buf, size_t cap);

/* The featurizer's option fields and the options that set them (cli_option_advice). */
extern const struct cli_option_name cli_featurizer_options[];

/* State of cli_on_event (user pointer; may be NULL for eval). */
struct cli_events {
    int64_t n_epochs;
    double valid_fraction;
    double t0, last;
};
/* Print a library event as 'lector train' and 'lector eval' word it (lector_event_fn). */
void cli_on_event(void *user, const struct lector_event *e);

/* The evaluation report shared by 'lector eval' (stdout) and the end of 'lector train'
 * (stderr): accuracy, macro/micro-F1, ECE, log loss, per-class precision/recall/F1/support
 * and the confusion matrix, as text or as one JSON line. */
void cli_print_report(const struct lector_metrics *m, char *const *labels, bool json, bool to_stderr);

#endif

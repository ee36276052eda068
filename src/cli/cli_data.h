/*
 * Command-line data plumbing shared by train and eval: open an encoder + tokenizer, and turn
 * a labelled CSV file into pooled feature vectors and class ids, with progress and clear
 * file:line errors.
 */
#ifndef LECTOR_CLI_DATA_H
#define LECTOR_CLI_DATA_H

#include <stdbool.h>

#include "lector/classifier.h"

struct cli_model_inputs {
    struct lector_encoder *enc;
    struct lector_tokenizer *tok;
    struct lector_encoder_state *st;
    enum lector_pooling pooling;
    int64_t max_len;
    bool owned; /* enc and tok are closed by cli_model_inputs_close */
};

/* Open dir's encoder and tokenizer; prints the error and returns CLI_ERROR/CLI_USAGE. */
int cli_model_inputs_open(const char *dir, const char *cmd, enum lector_pooling pooling,
                          int64_t max_len, bool max_len_given, struct cli_model_inputs *mi);
void cli_model_inputs_close(struct cli_model_inputs *mi);

struct cli_featurized {
    int64_t n;
    float *X;      /* (n, C) */
    int32_t *y;    /* (n) */
    char **labels; /* (n_labels) class names; class id = index */
    int64_t n_labels;
};

/* Read path's text and label columns, encode every text. With label_space NULL the classes
 * are the distinct labels found (sorted numerically when all are integers, else bytewise);
 * otherwise labels must be among label_space's (an unseen one is an error naming the line). */
int cli_featurize_csv(const struct cli_model_inputs *mi, const char *path, const char *text_col,
                      const char *label_col, const struct cli_featurized *label_space,
                      struct cli_featurized *out);
void cli_featurized_free(struct cli_featurized *f);

double cli_now(void);

#endif

/*
 * Command-line data plumbing shared by train and eval: open an encoder + tokenizer, and turn
 * a labelled CSV file into pooled feature vectors and class ids, with progress and clear
 * file:line errors.
 */
#ifndef LECTOR_CLI_DATA_H
#define LECTOR_CLI_DATA_H

#include <stdbool.h>

#include "lector/classifier.h"
#include "lector/data.h"

struct cli_model_inputs {
    struct lector_encoder *enc;
    struct lector_tokenizer *tok;
    struct lector_encoder_state *st;
    enum lector_pooling pooling;
    int64_t max_len;
    bool owned; /* enc and tok are closed by cli_model_inputs_close */
    struct lector_feature_cache *cache; /* NULL: no cache; closed by cli_model_inputs_close */
    enum lector_doc_pooling doc_pooling; /* long texts: truncate, or windows pooled by mean/max */
    int64_t stride;                      /* window overlap in tokens */
    uint64_t cache_max_size;             /* cap on the cache directory's bytes, 0: none */
    int64_t max_windows;                 /* windows per text at most (0: no limit) */
};

/* The default --max-windows: 128 windows of 512 tokens is a text of some 50,000 words; one
 * 50 MB line is then read in seconds, not hours. */
#define CLI_MAX_WINDOWS 128
/* Parse --max-windows for cmd into *out; false (usage printed) on a bad value. */
bool cli_parse_max_windows(const char *cmd, const char *s, int64_t *out);
/* Say that n_cut texts of where were cut at max_windows windows (nothing when n_cut is 0). */
void cli_note_cut(const char *where, int64_t n_cut, int64_t max_windows);

/* Open dir's encoder and tokenizer; prints the error and returns CLI_ERROR/CLI_USAGE. */
int cli_model_inputs_open(const char *dir, const char *cmd, enum lector_pooling pooling,
                          int64_t max_len, bool max_len_given, struct cli_model_inputs *mi);
void cli_model_inputs_close(struct cli_model_inputs *mi);
/* Use the feature cache in dir for mi's encoder, tokenizer, pooling and max length, capped at
 * mi->cache_max_size (a cache that cannot be opened is a warning, not an error; so are
 * damaged records, which are encoded again). */
int cli_model_inputs_open_cache(struct cli_model_inputs *mi, const char *dir);
/* $XDG_CACHE_HOME/lector/features or $HOME/.cache/lector/features in buf; NULL if neither. */
const char *cli_default_cache_dir(char *buf, size_t cap);

struct cli_featurized {
    int64_t n;
    float *X;      /* (n, C), or NULL when the encoder was not run */
    int32_t *y;    /* (n) */
    char **labels; /* (n_labels) class names; class id = index */
    int64_t n_labels;
    const char **texts; /* (n) the texts, views into ds (or into the parent's ds for a subset) */
    size_t *lens;       /* (n) */
    struct lector_dataset *ds;    /* owned; NULL for a subset */
    struct lector_sparse_rows sp; /* n-gram rows after cli_featurized_ngrams, else empty */
    uint8_t *Y;    /* multi-label: (n, n_labels) targets; y is then all 0 */
};

/* Read path's text and label columns and, when encode is true, encode every text. With multi,
 * a label cell holds any number of labels separated by '|' (an empty cell: none), and Y is
 * filled. With
 * label_space NULL the classes are the distinct labels found (sorted numerically when all are
 * integers, else bytewise); otherwise labels must be among label_space's (an unseen one is an
 * error naming the line). */
int cli_featurize_csv(const struct cli_model_inputs *mi, const char *path, const char *text_col,
                      const char *label_col, const struct cli_featurized *label_space, bool encode,
                      bool multi, struct cli_featurized *out);
/* Rows idx[0..n) of in (C floats per row of X) as a new set whose texts stay views into in's
 * dataset: free the subset before in. */
int cli_featurized_subset(const struct cli_featurized *in, const int64_t *idx, int64_t n, int64_t C,
                          struct cli_featurized *out);
/* Fill f->sp with ng's TF-IDF rows of f's texts. */
int cli_featurized_ngrams(struct cli_featurized *f, const struct lector_ngrams *ng);
void cli_featurized_free(struct cli_featurized *f);

/* The evaluation report shared by 'lector eval' (stdout) and the end of 'lector train'
 * (stderr): accuracy, macro/micro-F1, ECE, log loss, per-class precision/recall/F1/support
 * and the confusion matrix, as text or as one JSON line. */
void cli_print_report(const struct lector_metrics *m, char *const *labels, bool json, bool to_stderr);

double cli_now(void);

#endif

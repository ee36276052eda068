/*
 * lector/dataset.h: a labelled corpus read from a CSV file: texts, the label space (class
 * names, class id = index), single-label class ids or multi-label 0/1 targets.
 *
 * Usage:
 *     struct lector_corpus_options o;
 *     lector_corpus_options_init(&o);                 // columns "text" and "label"
 *     struct lector_corpus *c = NULL;
 *     if (lector_corpus_read_csv("train.csv", &o, NULL, 0, &c, &err) != LECTOR_STATUS_OK) ...
 *     for (int64_t i = 0; i < c->n; i++) use(c->texts[i], c->labels[c->y[i]]);
 *     lector_corpus_free(c);
 *
 * Labels:
 *   - Single-label: each label cell names one class; an empty cell is an error naming its line.
 *   - Multi-label (multi_label = 1): a cell holds any number of labels separated by '|' (an
 *     empty cell: none), or label_column is "a,b,c" and each of those columns holds 0/1
 *     (1, true or yes in any case mark the label), the label names then being the column names.
 *   - Label space: with no given space, the distinct labels found, sorted numerically when
 *     all are integers, else bytewise. With a given space (e.g. a model's labels), every label
 *     must be in it: an unseen one is an error naming the line.
 *   - Label names: integer labels k are replaced by line k (from 0) of a names file, one name
 *     per line: label_names when set, else `labels.txt` in the CSV's folder when it exists and
 *     names every integer label found (otherwise it is ignored). label_names = "" disables both.
 *     A label_names file that cannot be opened is LECTOR_STATUS_NOT_FOUND, an empty line in it
 *     LECTOR_STATUS_FORMAT, and one that leaves a label of the data unnamed
 *     LECTOR_STATUS_INVALID_ARG.
 *     With a given label space, a label that is not in it under its name is looked up as it
 *     is written (so a model trained without names still evaluates).
 *
 * Thread safety: a corpus is read-only after reading.
 */
#ifndef LECTOR_DATASET_H
#define LECTOR_DATASET_H

#include <stdbool.h>

#include "lector/data.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_corpus_options {
    const char *text_column;  /* column holding the text ["text"] */
    const char *label_column; /* column holding the label ["label"]; with multi_label, a
                                 comma-separated list names one 0/1 column per label */
    int multi_label;          /* any number of labels per text [0] */
    const char *label_names;  /* names file for integer labels; NULL: labels.txt beside the
                                 CSV if it fits; "": none [NULL] */
};
LECTOR_API void lector_corpus_options_init(struct lector_corpus_options *o);
/* The names file a corpus read from csv_path uses when label_names is NULL: labels.txt in
 * the CSV's folder, whether or not it exists. Release with lector_free; NULL: out of memory. */
LECTOR_API char *lector_corpus_default_label_names(const char *csv_path);

/* Everything is owned by the corpus and released by lector_corpus_free. */
struct lector_corpus {
    int64_t n;                /* rows */
    const char **texts;       /* (n) NUL-terminated texts as written in the file */
    size_t *lens;             /* (n) byte lengths */
    int64_t *lines;           /* (n) 1-based line where each row starts */
    int64_t n_labels;         /* K */
    char **labels;            /* (K) class names; class id = index */
    int32_t *y;               /* (n) class ids in [0, K); all 0 for multi-label */
    uint8_t *Y;               /* multi-label: (n, K) targets in {0, 1}; NULL otherwise */
    int multi_label;
    char *path;               /* the file read (for messages) */
    struct lector_dataset *ds; /* owns the texts; NULL for a subset, whose texts are views
                                  into its parent's (free the subset first) */
};

/*
 * Read path's text and label columns into a new corpus (*out, NULL on failure). labels and
 * n_labels give the label space (labels NULL: the labels found, see above). Errors: those of
 * lector_dataset_read_csv; LECTOR_STATUS_FORMAT for no data rows, an empty single label, a
 * label not in the given space or label columns that do not match it ("path:line: ..."), a
 * names file that does not name an integer label.
 */
LECTOR_API enum lector_status lector_corpus_read_csv(const char *path,
                                                     const struct lector_corpus_options *o,
                                                     const char *const *labels, int64_t n_labels,
                                                     struct lector_corpus **out,
                                                     struct lector_error *err);
/* Rows idx[0..n) of c as a new corpus with the same label space; its texts stay views into
 * c's. */
LECTOR_API enum lector_status lector_corpus_subset(const struct lector_corpus *c,
                                                   const int64_t *idx, int64_t n,
                                                   struct lector_corpus **out,
                                                   struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_corpus_free(struct lector_corpus *c);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_DATASET_H */

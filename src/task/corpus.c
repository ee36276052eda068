// A labelled corpus from a CSV file: the label space, multi-label cells and label columns,
// and names for integer labels.
#define _GNU_SOURCE
#include "lector/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base_impl.h"

void lector_corpus_options_init(struct lector_corpus_options *o) {
    o->text_column = "text";
    o->label_column = "label";
    o->multi_label = 0;
    o->label_names = NULL;
}

void lector_corpus_free(struct lector_corpus *c) {
    if (!c) return;
    for (int64_t k = 0; k < c->n_labels; k++) free(c->labels[k]);
    free(c->labels);
    free(c->texts);
    free(c->lens);
    free(c->lines);
    free(c->y);
    free(c->Y);
    free(c->path);
    lector_dataset_free(c->ds);
    free(c);
}

static enum lector_status nomem(struct lector_error *err, const char *path) {
    return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
}

static bool is_integer(const char *s) {
    if (*s == '-' || *s == '+') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

static int cmp_labels(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (is_integer(x) && is_integer(y)) {
        long long u = strtoll(x, NULL, 10), v = strtoll(y, NULL, 10);
        if (u != v) return u < v ? -1 : 1;
    }
    return strcmp(x, y);
}

static int64_t find_label(char *const *labels, int64_t n, const char *l) {
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(labels[i], l)) return i;
    return -1;
}

// ---------------------------------------------------------------------------------------
// names for integer labels

struct names {
    char **v;
    int64_t n;
    char *file;
    bool given; // named by the caller: a label it cannot name is an error
};

static void names_free(struct names *nm) {
    for (int64_t i = 0; i < nm->n; i++) free(nm->v[i]);
    free(nm->v);
    free(nm->file);
    memset(nm, 0, sizeof *nm);
}

char *lector_corpus_default_label_names(const char *csv_path) {
    const char *slash = strrchr(csv_path, '/');
    char *path = NULL;
    if (asprintf(&path, "%.*slabels.txt", slash ? (int)(slash - csv_path + 1) : 0, csv_path) < 0) return NULL;
    return path;
}

// One name per line (LF or CRLF; a last line without a newline counts; blank lines are
// names too, and refused). A missing file that was not given reads as no names.
static enum lector_status names_read(const char *csv_path, const char *given, struct names *nm,
                                     struct lector_error *err) {
    memset(nm, 0, sizeof *nm);
    if (given && !*given) return LECTOR_STATUS_OK;
    if (given) {
        nm->file = strdup(given);
    } else {
        nm->file = lector_corpus_default_label_names(csv_path);
    }
    if (!nm->file) return nomem(err, csv_path);
    nm->given = given != NULL;
    FILE *f = fopen(nm->file, "rb");
    if (!f) {
        if (!given) {
            names_free(nm);
            return LECTOR_STATUS_OK;
        }
        enum lector_status s = lector__error(err, LECTOR_STATUS_NOT_FOUND, "%s: cannot open the label names: %s",
                                             nm->file, strerror(errno));
        names_free(nm);
        return s;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n_cap = 0;
    enum lector_status s = LECTOR_STATUS_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || memchr(line, '\0', (size_t)len)) {
            s = lector__error_line(err, LECTOR_STATUS_FORMAT, nm->file, nm->n + 1, -1, "%s:%lld: empty label name",
                                 nm->file, (long long)(nm->n + 1));
            break;
        }
        if (nm->n == n_cap) {
            n_cap = n_cap ? 2 * n_cap : 16;
            char **v = realloc(nm->v, (size_t)n_cap * sizeof *v);
            if (!v) {
                s = nomem(err, nm->file);
                break;
            }
            nm->v = v;
        }
        if (!(nm->v[nm->n] = strdup(line))) {
            s = nomem(err, nm->file);
            break;
        }
        nm->n++;
    }
    free(line);
    fclose(f);
    if (s != LECTOR_STATUS_OK) names_free(nm);
    return s;
}

// The name of label l: line l of the names file when l is an integer it covers, else NULL.
static const char *names_get(const struct names *nm, const char *l) {
    if (!nm->n || !is_integer(l)) return NULL;
    long long v = strtoll(l, NULL, 10);
    return v >= 0 && v < nm->n ? nm->v[v] : NULL;
}

// ---------------------------------------------------------------------------------------
// reading

// Labels from one column per label (a cell of 1, true or yes, any case, marks the label): the
// label names are the column names, in the order given (or the given space's, which must match).
static enum lector_status per_column_labels(const char *path, const char *text_col, const char *cols,
                                            const char *const *space, int64_t n_space,
                                            struct lector_corpus *c, struct lector_error *err) {
    const int64_t n = c->n;
    int64_t K = 1;
    for (const char *a = cols; *a; a++) K += *a == ',';
    c->labels = calloc((size_t)K, sizeof *c->labels);
    c->Y = calloc((size_t)(n ? n : 1) * (size_t)K, 1);
    if (!c->labels || !c->Y) return nomem(err, path);
    const char *a = cols;
    for (int64_t k = 0; k < K; k++) {
        size_t len = strcspn(a, ",");
        if (!(c->labels[k] = strndup(a, len))) return nomem(err, path);
        c->n_labels = k + 1;
        a += len + (a[len] == ',');
        if (space && (n_space != K || strcmp(space[k], c->labels[k])))
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: label columns '%s' do not match the model's labels",
                                 path, cols);
        struct lector_dataset *d = NULL;
        enum lector_status s = lector_dataset_read_csv(path, text_col, c->labels[k], &d, err);
        if (s != LECTOR_STATUS_OK) return s;
        for (int64_t i = 0; i < n && i < d->n_rows; i++) {
            const char *v = d->labels[i];
            c->Y[i * K + k] = !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes");
        }
        lector_dataset_free(d);
    }
    return LECTOR_STATUS_OK;
}

// Call fn on each label of cell l ('|'-separated parts for multi-label, the whole cell else);
// stops at the first non-OK status.
typedef enum lector_status (*label_fn)(void *ctx, int64_t row, const char *label);
static enum lector_status each_label(const char *l, bool multi, int64_t row, label_fn fn, void *ctx) {
    if (!multi) return fn(ctx, row, l);
    for (const char *a = l; *a;) {
        size_t len = strcspn(a, "|");
        if (len) {
            char *one = strndup(a, len);
            if (!one) return LECTOR_STATUS_NOMEM;
            enum lector_status s = fn(ctx, row, one);
            free(one);
            if (s != LECTOR_STATUS_OK) return s;
        }
        a += len;
        if (*a == '|') a++;
    }
    return LECTOR_STATUS_OK;
}

struct label_ctx {
    struct lector_corpus *c;
    const struct names *nm;
    size_t cap;   // room in c->labels while the space is discovered
    bool fixed;   // the space was given
    struct lector_error *err;
};

// Discovery: add a raw label to the space.
static enum lector_status add_label(void *p, int64_t row, const char *l) {
    (void)row;
    struct label_ctx *x = p;
    struct lector_corpus *c = x->c;
    if (find_label(c->labels, c->n_labels, l) >= 0) return LECTOR_STATUS_OK;
    if ((size_t)c->n_labels == x->cap) {
        char **nl = realloc(c->labels, 2 * x->cap * sizeof *nl);
        if (!nl) return nomem(x->err, c->path);
        c->labels = nl;
        x->cap *= 2;
    }
    if (!(c->labels[c->n_labels] = strdup(l))) return nomem(x->err, c->path);
    c->n_labels++;
    return LECTOR_STATUS_OK;
}

// The class id of label l: a given space is searched by name, then as written.
static int64_t class_of(const struct label_ctx *x, const char *l) {
    const struct lector_corpus *c = x->c;
    if (!x->fixed) return find_label(c->labels, c->n_labels, l);
    const char *name = names_get(x->nm, l);
    int64_t k = name ? find_label(c->labels, c->n_labels, name) : -1;
    return k >= 0 ? k : find_label(c->labels, c->n_labels, l);
}

static enum lector_status mark_label(void *p, int64_t row, const char *l) {
    struct label_ctx *x = p;
    struct lector_corpus *c = x->c;
    const int64_t k = class_of(x, l);
    if (k < 0)
        return lector__error_line(x->err, LECTOR_STATUS_FORMAT, c->path, c->lines[row], -1,
                                "%s:%lld: label '%s' was not seen in training (%lld known labels)", c->path,
                                (long long)c->lines[row], l, (long long)c->n_labels);
    if (c->Y)
        c->Y[row * c->n_labels + k] = 1;
    else
        c->y[row] = (int32_t)k;
    return LECTOR_STATUS_OK;
}

// Replace discovered integer labels by their names when the names file names them all (or
// was given, when a label it cannot name is an error).
static enum lector_status apply_names(struct lector_corpus *c, const struct names *nm, struct lector_error *err) {
    if (!nm->n) return LECTOR_STATUS_OK;
    for (int64_t k = 0; k < c->n_labels; k++) {
        if (names_get(nm, c->labels[k])) continue;
        if (!nm->given) return LECTOR_STATUS_OK;
        // The names file the caller gave does not fit this data: an argument error.
        return lector__error_line(err, LECTOR_STATUS_INVALID_ARG, nm->file, -1, -1,
                                  "%s: label '%s' has no name in %s (%lld names, line k naming label k)", c->path,
                                  c->labels[k], nm->file, (long long)nm->n);
    }
    for (int64_t k = 0; k < c->n_labels; k++) {
        char *name = strdup(names_get(nm, c->labels[k]));
        if (!name) return nomem(err, c->path);
        free(c->labels[k]);
        c->labels[k] = name;
    }
    return LECTOR_STATUS_OK;
}

static enum lector_status cell_labels(struct lector_corpus *c, const char *label_col, const char *const *space,
                                      int64_t n_space, const struct names *nm, struct lector_error *err) {
    const int64_t n = c->n;
    const bool multi = c->multi_label != 0;
    struct label_ctx x = {c, nm, space ? (size_t)n_space : (size_t)n + 1, space != NULL, err};
    c->labels = calloc(x.cap ? x.cap : 1, sizeof *c->labels);
    c->y = calloc((size_t)n, sizeof *c->y);
    if (!c->labels || !c->y) return nomem(err, c->path);
    for (int64_t i = 0; i < n; i++)
        if (!multi && !*c->ds->labels[i])
            return lector__error_line(err, LECTOR_STATUS_FORMAT, c->path, c->lines[i], -1, "%s:%lld: empty label in column '%s'",
                                    c->path, (long long)c->lines[i], label_col);
    enum lector_status s = LECTOR_STATUS_OK;
    if (space) {
        for (int64_t k = 0; k < n_space; k++)
            if (!(c->labels[k] = strdup(space[k]))) return nomem(err, c->path);
        c->n_labels = n_space;
    } else {
        for (int64_t i = 0; i < n && s == LECTOR_STATUS_OK; i++)
            s = each_label(c->ds->labels[i], multi, i, add_label, &x);
        if (s != LECTOR_STATUS_OK) return s == LECTOR_STATUS_NOMEM ? nomem(err, c->path) : s;
        qsort(c->labels, (size_t)c->n_labels, sizeof *c->labels, cmp_labels);
    }
    if (multi && !(c->Y = calloc((size_t)n * (size_t)(c->n_labels ? c->n_labels : 1), 1))) return nomem(err, c->path);
    for (int64_t i = 0; i < n && s == LECTOR_STATUS_OK; i++)
        s = each_label(c->ds->labels[i], multi, i, mark_label, &x);
    if (s != LECTOR_STATUS_OK) return s == LECTOR_STATUS_NOMEM ? nomem(err, c->path) : s;
    return space ? LECTOR_STATUS_OK : apply_names(c, nm, err);
}

enum lector_status lector_corpus_read_csv(const char *path, const struct lector_corpus_options *o,
                                          const char *const *labels, int64_t n_labels,
                                          struct lector_corpus **out, struct lector_error *err) {
    *out = NULL;
    struct lector_corpus_options def;
    if (!o) {
        lector_corpus_options_init(&def);
        o = &def;
    }
    const bool multi = o->multi_label != 0;
    // Multi-label with one 0/1 column per label: label_column "a,b,c".
    const bool per_column = multi && strchr(o->label_column, ',');
    struct lector_corpus *c = calloc(1, sizeof *c);
    char *first_col = per_column ? strndup(o->label_column, strcspn(o->label_column, ",")) : NULL;
    if (!c || !(c->path = strdup(path)) || (per_column && !first_col)) {
        free(first_col);
        lector_corpus_free(c);
        return nomem(err, path);
    }
    c->multi_label = multi;
    struct names nm = {0};
    enum lector_status s = lector_dataset_read_csv(path, o->text_column, per_column ? first_col : o->label_column,
                                                   &c->ds, err);
    free(first_col);
    if (s != LECTOR_STATUS_OK) goto out;
    const int64_t n = c->n = c->ds->n_rows;
    if (n == 0) {
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: no data rows after the header", path);
        goto out;
    }
    c->texts = malloc((size_t)n * sizeof *c->texts);
    c->lens = malloc((size_t)n * sizeof *c->lens);
    c->lines = malloc((size_t)n * sizeof *c->lines);
    if (!c->texts || !c->lens || !c->lines) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory for %lld rows", path, (long long)n);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        c->texts[i] = c->ds->texts[i];
        c->lens[i] = c->ds->text_lens[i];
        c->lines[i] = c->ds->lines[i];
    }
    if (per_column) {
        if (!(c->y = calloc((size_t)n, sizeof *c->y))) {
            s = nomem(err, path);
            goto out;
        }
        s = per_column_labels(path, o->text_column, o->label_column, labels, n_labels, c, err);
        goto out;
    }
    if ((s = names_read(path, o->label_names, &nm, err)) != LECTOR_STATUS_OK) goto out;
    s = cell_labels(c, o->label_column, labels, n_labels, &nm, err);
out:
    names_free(&nm);
    if (s != LECTOR_STATUS_OK) {
        lector_corpus_free(c);
        return s;
    }
    *out = c;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_corpus_subset(const struct lector_corpus *in, const int64_t *idx, int64_t n,
                                        struct lector_corpus **out, struct lector_error *err) {
    *out = NULL;
    const int64_t K = in->n_labels;
    const size_t m = (size_t)(n ? n : 1);
    struct lector_corpus *c = calloc(1, sizeof *c);
    if (!c) return nomem(err, in->path);
    c->n = n;
    c->multi_label = in->multi_label;
    c->path = strdup(in->path);
    c->y = malloc(m * sizeof *c->y);
    c->texts = malloc(m * sizeof *c->texts);
    c->lens = malloc(m * sizeof *c->lens);
    c->lines = malloc(m * sizeof *c->lines);
    c->labels = calloc((size_t)(K ? K : 1), sizeof *c->labels);
    if (in->Y) c->Y = malloc(m * (size_t)K);
    if (!c->path || !c->y || !c->texts || !c->lens || !c->lines || !c->labels || (in->Y && !c->Y)) {
        lector_corpus_free(c);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory splitting %lld rows", (long long)n);
    }
    for (int64_t k = 0; k < K; k++) {
        if (!(c->labels[k] = strdup(in->labels[k]))) {
            lector_corpus_free(c);
            return nomem(err, in->path);
        }
        c->n_labels = k + 1;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = idx[i];
        c->y[i] = in->y[r];
        c->texts[i] = in->texts[r];
        c->lens[i] = in->lens[r];
        c->lines[i] = in->lines[r];
        if (in->Y) memcpy(c->Y + i * K, in->Y + r * K, (size_t)K);
    }
    *out = c;
    return LECTOR_STATUS_OK;
}

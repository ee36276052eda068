// CSV -> features for train and eval.
#define _POSIX_C_SOURCE 200809L
#include "cli/cli_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "lector/data.h"

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_model_inputs_open(const char *dir, const char *cmd, enum lector_pooling pooling,
                          int64_t max_len, bool max_len_given, struct cli_model_inputs *mi) {
    struct lector_error err;
    memset(mi, 0, sizeof *mi);
    mi->owned = true;
    mi->pooling = pooling;
    if (lector_encoder_open(dir, &mi->enc, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    const struct lector_encoder_config *cfg = lector_encoder_get_config(mi->enc);
    if (max_len > cfg->n_pos) {
        if (max_len_given) {
            cli_usage(cmd, "--max-len %lld exceeds the encoder's %lld positions", (long long)max_len,
                      (long long)cfg->n_pos);
            cli_model_inputs_close(mi);
            return CLI_USAGE;
        }
        max_len = cfg->n_pos;
    }
    mi->max_len = max_len;
    if (pooling == LECTOR_POOLING_POOLER && !lector_encoder_has_pooler(mi->enc)) {
        cli_model_inputs_close(mi);
        return cli_error("%s: this checkpoint has no pooler; use --pooling cls, mean or max", dir);
    }
    if (lector_tokenizer_open(dir, &mi->tok, &err) != LECTOR_STATUS_OK ||
        lector_encoder_state_init(mi->enc, &mi->st, &err) != LECTOR_STATUS_OK) {
        cli_model_inputs_close(mi);
        return cli_lib_error(&err);
    }
    return CLI_OK;
}

void cli_model_inputs_close(struct cli_model_inputs *mi) {
    lector_encoder_state_free(mi->st);
    if (mi->owned) {
        lector_tokenizer_free(mi->tok);
        lector_encoder_close(mi->enc);
    }
    memset(mi, 0, sizeof *mi);
}

void cli_featurized_free(struct cli_featurized *f) {
    for (int64_t i = 0; i < f->n_labels; i++) free(f->labels[i]);
    free(f->labels);
    free(f->X);
    free(f->y);
    memset(f, 0, sizeof *f);
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

int cli_featurize_csv(const struct cli_model_inputs *mi, const char *path, const char *text_col,
                      const char *label_col, const struct cli_featurized *label_space,
                      struct cli_featurized *out) {
    struct lector_error err;
    struct lector_dataset *ds = NULL;
    int rc = CLI_ERROR;
    int32_t *ids = NULL;
    struct lector_token_row *rows = NULL;
    memset(out, 0, sizeof *out);
    if (lector_dataset_read_csv(path, text_col, label_col, &ds, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    const int64_t n = ds->n_rows, T = mi->max_len;
    const int64_t C = lector_encoder_get_config(mi->enc)->n_embd;
    if (n == 0) {
        rc = cli_error("%s: no data rows after the header", path);
        goto out;
    }

    // Class ids.
    out->y = malloc((size_t)n * sizeof *out->y);
    if (label_space) {
        out->n_labels = label_space->n_labels;
        out->labels = calloc((size_t)out->n_labels, sizeof *out->labels);
        for (int64_t k = 0; k < out->n_labels; k++) out->labels[k] = strdup(label_space->labels[k]);
    } else {
        out->labels = calloc((size_t)n, sizeof *out->labels);
    }
    for (int64_t i = 0; i < n; i++) {
        const char *l = ds->labels[i];
        if (!*l) {
            rc = cli_error("%s:%lld: empty label in column '%s'", path, (long long)ds->lines[i], label_col);
            goto out;
        }
        int64_t k = find_label(out->labels, out->n_labels, l);
        if (k < 0 && label_space) {
            rc = cli_error("%s:%lld: label '%s' was not seen in training (%lld known labels)", path,
                           (long long)ds->lines[i], l, (long long)out->n_labels);
            goto out;
        }
        if (k < 0) out->labels[out->n_labels++] = strdup(l);
    }
    if (!label_space) qsort(out->labels, (size_t)out->n_labels, sizeof *out->labels, cmp_labels);
    for (int64_t i = 0; i < n; i++) out->y[i] = (int32_t)find_label(out->labels, out->n_labels, ds->labels[i]);

    // Token ids for every text.
    ids = malloc((size_t)n * (size_t)T * sizeof *ids);
    rows = malloc((size_t)n * sizeof *rows);
    out->X = malloc((size_t)n * (size_t)C * sizeof *out->X);
    if (!ids || !rows || !out->X || !out->y) {
        rc = cli_error("%s: out of memory for %lld rows", path, (long long)n);
        goto out;
    }
    int64_t n_truncated = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t m = 0;
        int truncated = 0;
        if (lector_tokenizer_encode(mi->tok, ds->texts[i], ds->text_lens[i], T, ids + i * T, &m,
                                    &truncated, &err) != LECTOR_STATUS_OK) {
            rc = cli_error("%s:%lld: %s", path, (long long)ds->lines[i], err.msg);
            goto out;
        }
        n_truncated += truncated != 0;
        rows[i] = (struct lector_token_row){ids + i * T, m};
    }
    if (n_truncated)
        cli_info("%s: %lld of %lld texts truncated to %lld tokens (--max-len)", path,
                 (long long)n_truncated, (long long)n, (long long)T);

    // Encode in chunks so progress and Ctrl-C are responsive.
    const int64_t chunk = 512;
    double t0 = cli_now();
    for (int64_t i = 0; i < n; i += chunk) {
        if (cli_interrupted) {
            rc = cli_error("interrupted while encoding %s", path);
            rc = CLI_INTERRUPTED;
            goto out;
        }
        int64_t m = n - i < chunk ? n - i : chunk;
        if (lector_embed_rows(mi->enc, mi->st, rows + i, m, mi->pooling, 32, 32 * 128,
                              out->X + i * C, &err) != LECTOR_STATUS_OK) {
            rc = cli_lib_error(&err);
            goto out;
        }
        double dt = cli_now() - t0, rate = (double)(i + m) / (dt > 0 ? dt : 1e-9);
        cli_progress_line("encoding %s: %lld/%lld texts, %.0f/s, ETA %.0f s", path, (long long)(i + m),
                          (long long)n, rate, (double)(n - i - m) / rate);
    }
    cli_progress_done();
    cli_info("encoded %lld texts from %s in %.1f s", (long long)n, path, cli_now() - t0);
    out->n = n;
    rc = CLI_OK;
out:
    free(rows);
    free(ids);
    lector_dataset_free(ds);
    if (rc != CLI_OK) cli_featurized_free(out);
    return rc;
}

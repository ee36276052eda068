// CSV -> features for train and eval.
#define _GNU_SOURCE
#include "cli/cli_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

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
    mi->max_windows = CLI_MAX_WINDOWS;
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
        lector_encoder_check_n_vocab(mi->enc, lector_tokenizer_n_vocab(mi->tok), dir,
                                     lector_tokenizer_source(mi->tok), &err) != LECTOR_STATUS_OK ||
        lector_encoder_state_init(mi->enc, &mi->st, &err) != LECTOR_STATUS_OK) {
        cli_model_inputs_close(mi);
        return cli_lib_error(&err);
    }
    return CLI_OK;
}

int cli_model_inputs_open_cache(struct cli_model_inputs *mi, const char *dir) {
    struct lector_error err;
    char key[512];
    int kn = snprintf(key, sizeof key, "lector-features-v1 encoder=%s tokenizer=%s pooling=%s max_len=%lld",
                      lector_encoder_checksum(mi->enc), lector_tokenizer_hash(mi->tok),
                      lector_pooling_name(mi->pooling), (long long)mi->max_len);
    if (mi->doc_pooling != LECTOR_DOC_TRUNCATE && kn > 0 && (size_t)kn < sizeof key)
        snprintf(key + kn, sizeof key - (size_t)kn, " doc_pooling=%s stride=%lld max_windows=%lld",
                 lector_doc_pooling_name(mi->doc_pooling), (long long)mi->stride, (long long)mi->max_windows);
    if (lector_feature_cache_open(dir, key, lector_encoder_get_config(mi->enc)->n_embd, &mi->cache, &err) !=
        LECTOR_STATUS_OK) {
        // The cache only saves time: go on without it.
        cli_warn("feature cache disabled: %s", err.msg);
        mi->cache = NULL;
        return CLI_OK;
    }
    lector_feature_cache_set_max_size(mi->cache, mi->cache_max_size);
    const char *note = lector_feature_cache_note(mi->cache);
    if (note) cli_warn("feature cache %s", note);
    return CLI_OK;
}

const char *cli_default_cache_dir(char *buf, size_t cap) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && *x == '/')
        snprintf(buf, cap, "%s/lector/features", x);
    else if (h && *h)
        snprintf(buf, cap, "%s/.cache/lector/features", h);
    else
        return NULL;
    return buf;
}

bool cli_parse_max_windows(const char *cmd, const char *s, int64_t *out) {
    return cli_parse_i64(cmd, "--max-windows", s, 0, INT32_MAX, out);
}

void cli_note_cut(const char *where, int64_t n_cut, int64_t max_windows) {
    if (n_cut > 0)
        cli_warn("%s: %lld text%s longer than %lld windows cut there (--max-windows); the rest %s not read",
                 where, (long long)n_cut, n_cut == 1 ? "" : "s", (long long)max_windows,
                 n_cut == 1 ? "is" : "are");
}

void cli_model_inputs_close(struct cli_model_inputs *mi) {
    lector_feature_cache_free(mi->cache);
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
    free(f->texts);
    free(f->lens);
    free(f->Y);
    lector_sparse_rows_free(&f->sp);
    lector_dataset_free(f->ds);
    memset(f, 0, sizeof *f);
}

int cli_featurized_subset(const struct cli_featurized *in, const int64_t *idx, int64_t n, int64_t C,
                          struct cli_featurized *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->y = malloc((size_t)(n ? n : 1) * sizeof *out->y);
    out->texts = malloc((size_t)(n ? n : 1) * sizeof *out->texts);
    out->lens = malloc((size_t)(n ? n : 1) * sizeof *out->lens);
    out->labels = calloc((size_t)in->n_labels, sizeof *out->labels);
    if (in->X) out->X = malloc((size_t)(n ? n : 1) * (size_t)C * sizeof *out->X);
    if (in->Y) out->Y = malloc((size_t)(n ? n : 1) * (size_t)in->n_labels);
    if (!out->y || !out->texts || !out->lens || !out->labels || (in->X && !out->X) || (in->Y && !out->Y)) {
        cli_featurized_free(out);
        return cli_error("out of memory splitting %lld rows", (long long)n);
    }
    out->n_labels = in->n_labels;
    for (int64_t k = 0; k < in->n_labels; k++) out->labels[k] = strdup(in->labels[k]);
    for (int64_t i = 0; i < n; i++) {
        out->y[i] = in->y[idx[i]];
        out->texts[i] = in->texts[idx[i]];
        out->lens[i] = in->lens[idx[i]];
        if (in->X) memcpy(out->X + i * C, in->X + idx[i] * C, (size_t)C * sizeof *out->X);
        if (in->Y) memcpy(out->Y + i * in->n_labels, in->Y + idx[i] * in->n_labels, (size_t)in->n_labels);
    }
    return CLI_OK;
}

int cli_featurized_ngrams(struct cli_featurized *f, const struct lector_ngrams *ng) {
    struct lector_error err;
    lector_sparse_rows_free(&f->sp);
    if (lector_ngrams_transform(ng, f->texts, f->lens, f->n, &f->sp, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    return CLI_OK;
}

// ---------------------------------------------------------------------------------------
// the report

static void report_text(FILE *o, const struct lector_metrics *m, char *const *labels) {
    fprintf(o, "examples   %lld\n", (long long)m->n);
    fprintf(o, "%s   %.4f\n", m->confusion ? "accuracy" : "accuracy (exact match)", m->accuracy);
    fprintf(o, "macro-F1   %.4f\n", m->macro_f1);
    fprintf(o, "micro-F1   %.4f\n", m->micro_f1);
    if (m->ece >= 0) fprintf(o, "ECE        %.4f\n", m->ece);
    if (m->log_loss >= 0) fprintf(o, "log-loss   %.4f\n", m->log_loss);
    fputc('\n', o);
    int w = 5;
    for (int64_t k = 0; k < m->n_classes; k++)
        if ((int)strlen(labels[k]) > w) w = (int)strlen(labels[k]);
    fprintf(o, "%-*s  precision  recall     f1  support\n", w, "label");
    for (int64_t k = 0; k < m->n_classes; k++)
        fprintf(o, "%-*s  %9.4f  %6.4f  %5.4f  %7lld\n", w, labels[k], m->precision[k], m->recall[k],
                m->f1[k], (long long)m->support[k]);
    if (!m->confusion) return; // multi-label: no confusion matrix
    fprintf(o, "\nconfusion matrix (rows: true label, columns: predicted)\n%-*s", w, "");
    for (int64_t k = 0; k < m->n_classes; k++) fprintf(o, "  %8s", labels[k]);
    fputc('\n', o);
    for (int64_t i = 0; i < m->n_classes; i++) {
        fprintf(o, "%-*s", w, labels[i]);
        for (int64_t j = 0; j < m->n_classes; j++)
            fprintf(o, "  %8lld", (long long)m->confusion[i * m->n_classes + j]);
        fputc('\n', o);
    }
}

static void report_json(FILE *o, const struct lector_metrics *m, char *const *labels) {
    json_t *r = json_object(), *pc = json_object(), *cm = json_array(), *jl = json_array();
    json_object_set_new(r, "n", json_integer(m->n));
    json_object_set_new(r, "accuracy", json_real(m->accuracy));
    json_object_set_new(r, "macro_f1", json_real(m->macro_f1));
    json_object_set_new(r, "micro_f1", json_real(m->micro_f1));
    json_object_set_new(r, "ece", m->ece >= 0 ? json_real(m->ece) : json_null());
    json_object_set_new(r, "log_loss", m->log_loss >= 0 ? json_real(m->log_loss) : json_null());
    for (int64_t k = 0; k < m->n_classes; k++) {
        json_array_append_new(jl, json_string(labels[k]));
        json_object_set_new(pc, labels[k],
                            json_pack("{s:f, s:f, s:f, s:I}", "precision", m->precision[k], "recall",
                                      m->recall[k], "f1", m->f1[k], "support", (json_int_t)m->support[k]));
        if (!m->confusion) continue;
        json_t *row = json_array();
        for (int64_t j = 0; j < m->n_classes; j++)
            json_array_append_new(row, json_integer(m->confusion[k * m->n_classes + j]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(r, "labels", jl);
    json_object_set_new(r, "per_class", pc);
    if (m->confusion)
        json_object_set_new(r, "confusion", cm);
    else
        json_decref(cm);
    char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fprintf(o, "%s\n", s ? s : "{}");
    free(s);
    json_decref(r);
}

void cli_print_report(const struct lector_metrics *m, char *const *labels, bool json, bool to_stderr) {
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o) return;
    if (json)
        report_json(o, m, labels);
    else
        report_text(o, m, labels);
    fclose(o);
    if (to_stderr)
        fwrite(buf, 1, len, stderr);
    else
        cli_out(buf, len);
    free(buf);
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

// Labels from one column per label (a cell of 1, true or yes, any case, marks the label): the
// label names are the column names, in the order given (or label_space's, which must match).
static int per_column_labels(const char *path, const char *text_col, const char *cols,
                             const struct cli_featurized *label_space, int64_t n,
                             struct cli_featurized *out) {
    struct lector_error err;
    int64_t K = 1;
    for (const char *c = cols; *c; c++) K += *c == ',';
    out->y = calloc((size_t)n, sizeof *out->y);
    out->labels = calloc((size_t)K, sizeof *out->labels);
    out->Y = calloc((size_t)n * (size_t)K, 1);
    if (!out->y || !out->labels || !out->Y) return cli_error("%s: out of memory", path);
    const char *a = cols;
    for (int64_t k = 0; k < K; k++) {
        size_t len = strcspn(a, ",");
        out->labels[k] = strndup(a, len);
        out->n_labels = k + 1;
        a += len + (a[len] == ',');
        if (label_space && (label_space->n_labels != K || strcmp(label_space->labels[k], out->labels[k])))
            return cli_error("%s: label columns '%s' do not match the model's labels", path, cols);
        struct lector_dataset *d = NULL;
        if (lector_dataset_read_csv(path, text_col, out->labels[k], &d, &err) != LECTOR_STATUS_OK)
            return cli_lib_error(&err);
        for (int64_t i = 0; i < n && i < d->n_rows; i++) {
            const char *v = d->labels[i];
            out->Y[i * K + k] = !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes");
        }
        lector_dataset_free(d);
    }
    return CLI_OK;
}

int cli_featurize_csv(const struct cli_model_inputs *mi, const char *path, const char *text_col,
                      const char *label_col, const struct cli_featurized *label_space, bool encode,
                      bool multi, struct cli_featurized *out) {
    struct lector_error err;
    struct lector_dataset *ds = NULL;
    int rc = CLI_ERROR;
    int32_t *ids = NULL;
    struct lector_token_row *rows = NULL, *mrows = NULL;
    int64_t *miss = NULL;
    float *mbuf = NULL;
    const char **mtexts = NULL;
    size_t *mlens = NULL;
    memset(out, 0, sizeof *out);
    // Multi-label with one 0/1 column per label: --label-column a,b,c.
    const bool per_column = multi && strchr(label_col, ',');
    char *first_col = per_column ? strndup(label_col, strcspn(label_col, ",")) : NULL;
    enum lector_status rs = lector_dataset_read_csv(path, text_col, per_column ? first_col : label_col, &ds, &err);
    free(first_col);
    if (rs != LECTOR_STATUS_OK) return cli_lib_error(&err);
    const int64_t n = ds->n_rows, T = mi->max_len;
    const int64_t C = lector_encoder_get_config(mi->enc)->n_embd;
    if (n == 0) {
        rc = cli_error("%s: no data rows after the header", path);
        goto out;
    }
    if (per_column) {
        rc = per_column_labels(path, text_col, label_col, label_space, n, out);
        if (rc != CLI_OK) goto out;
        goto labels_done;
    }

    // Class ids.
    out->y = malloc((size_t)n * sizeof *out->y);
    if (label_space) {
        out->n_labels = label_space->n_labels;
        out->labels = calloc((size_t)out->n_labels, sizeof *out->labels);
        for (int64_t k = 0; k < out->n_labels; k++) out->labels[k] = strdup(label_space->labels[k]);
    } else {
        out->labels = calloc((size_t)n + 1, sizeof *out->labels);
    }
    size_t labels_cap = label_space ? (size_t)out->n_labels : (size_t)n + 1;
    for (int64_t i = 0; i < n; i++) {
        const char *l = ds->labels[i];
        if (!*l && !multi) {
            rc = cli_error("%s:%lld: empty label in column '%s'", path, (long long)ds->lines[i], label_col);
            goto out;
        }
        // Multi-label: every '|'-separated part is a label.
        for (const char *a = l; *a || (!multi && a == l);) {
            size_t len = multi ? strcspn(a, "|") : strlen(a);
            char *one = strndup(a, len);
            int64_t k = len ? find_label(out->labels, out->n_labels, one) : 0;
            if (len && k < 0 && label_space) {
                rc = cli_error("%s:%lld: label '%s' was not seen in training (%lld known labels)", path,
                               (long long)ds->lines[i], one, (long long)out->n_labels);
                free(one);
                goto out;
            }
            if (len && k < 0) {
                if ((size_t)out->n_labels == labels_cap) {
                    char **nl = realloc(out->labels, 2 * labels_cap * sizeof *nl);
                    if (!nl) {
                        free(one);
                        rc = cli_error("out of memory");
                        goto out;
                    }
                    out->labels = nl;
                    labels_cap *= 2;
                }
                out->labels[out->n_labels++] = one;
                one = NULL;
            }
            free(one);
            a += len;
            if (*a == '|') a++;
            if (!multi) break;
        }
    }
    if (!label_space) qsort(out->labels, (size_t)out->n_labels, sizeof *out->labels, cmp_labels);
    if (multi) {
        out->Y = calloc((size_t)n * (size_t)(out->n_labels ? out->n_labels : 1), 1);
        if (!out->Y) {
            rc = cli_error("%s: out of memory", path);
            goto out;
        }
        for (int64_t i = 0; i < n; i++) {
            out->y[i] = 0;
            for (const char *a = ds->labels[i]; *a;) {
                size_t len = strcspn(a, "|");
                char *one = strndup(a, len);
                int64_t k = len ? find_label(out->labels, out->n_labels, one) : -1;
                if (k >= 0) out->Y[i * out->n_labels + k] = 1;
                free(one);
                a += len;
                if (*a == '|') a++;
            }
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            out->y[i] = (int32_t)find_label(out->labels, out->n_labels, ds->labels[i]);
    }

labels_done:
    out->texts = malloc((size_t)n * sizeof *out->texts);
    out->lens = malloc((size_t)n * sizeof *out->lens);
    if (!out->texts || !out->lens) {
        rc = cli_error("%s: out of memory for %lld rows", path, (long long)n);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        out->texts[i] = ds->texts[i];
        out->lens[i] = ds->text_lens[i];
    }

    // Token ids for every text (also the UTF-8 check when the encoder is not run).
    ids = malloc((size_t)n * (size_t)T * sizeof *ids);
    rows = malloc((size_t)n * sizeof *rows);
    out->X = encode ? malloc((size_t)n * (size_t)C * sizeof *out->X) : NULL;
    if (!ids || !rows || (encode && !out->X) || !out->y) {
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
    if (n_truncated && encode && mi->doc_pooling == LECTOR_DOC_TRUNCATE)
        cli_info("%s: %lld of %lld texts truncated to %lld tokens (--max-len)", path,
                 (long long)n_truncated, (long long)n, (long long)T);
    else if (n_truncated && encode)
        cli_info("%s: %lld of %lld texts longer than %lld tokens are split into windows (--stride %lld, "
                 "--doc-pooling %s)", path, (long long)n_truncated, (long long)n, (long long)T,
                 (long long)mi->stride, lector_doc_pooling_name(mi->doc_pooling));

    // Rows the cache does not hold; without a cache, all of them.
    miss = malloc((size_t)n * sizeof *miss);
    mrows = malloc((size_t)n * sizeof *mrows);
    if (!miss || !mrows) {
        rc = cli_error("%s: out of memory for %lld rows", path, (long long)n);
        goto out;
    }
    int64_t n_miss = 0;
    for (int64_t i = 0; encode && i < n; i++) {
        if (mi->cache && lector_feature_cache_get(mi->cache, ds->texts[i], ds->text_lens[i], out->X + i * C))
            continue;
        mrows[n_miss] = rows[i];
        miss[n_miss++] = i;
    }
    if (encode && mi->cache)
        cli_info("feature cache: %lld of %lld texts of %s cached", (long long)(n - n_miss), (long long)n, path);
    // Encode in chunks so progress and Ctrl-C are responsive.
    const int64_t chunk = 512;
    double t0 = cli_now();
    int64_t n_windows = 0;
    if (n_miss > 0 && (!(mbuf = malloc((size_t)chunk * (size_t)C * sizeof *mbuf)) ||
                       !(mtexts = malloc((size_t)chunk * sizeof *mtexts)) ||
                       !(mlens = malloc((size_t)chunk * sizeof *mlens)))) {
        rc = cli_error("%s: out of memory", path);
        goto out;
    }
    for (int64_t i = 0; encode && i < n_miss; i += chunk) {
        if (cli_interrupted) {
            rc = cli_error("interrupted while encoding %s", path);
            rc = cli_interrupted_status();
            goto out;
        }
        int64_t m = n_miss - i < chunk ? n_miss - i : chunk;
        int64_t n_cut = 0;
        const struct lector_window_params wp = {T, mi->stride, mi->doc_pooling, mi->max_windows, 0, &n_cut};
        for (int64_t j = 0; j < m; j++) {
            mtexts[j] = ds->texts[miss[i + j]];
            mlens[j] = ds->text_lens[miss[i + j]];
        }
        int64_t n_win = 0;
        if (lector_embed_texts(mi->enc, mi->st, mi->tok, mi->pooling, &wp, mtexts, mlens, m, mbuf, NULL,
                               &n_win, &err) != LECTOR_STATUS_OK) {
            rc = cli_lib_error(&err);
            goto out;
        }
        n_windows += n_win;
        cli_note_cut(path, n_cut, mi->max_windows);
        for (int64_t j = 0; j < m; j++) {
            int64_t r = miss[i + j];
            memcpy(out->X + r * C, mbuf + j * C, (size_t)C * sizeof *mbuf);
            if (mi->cache && lector_feature_cache_put(mi->cache, ds->texts[r], ds->text_lens[r], mbuf + j * C,
                                                      &err) != LECTOR_STATUS_OK) {
                rc = cli_lib_error(&err);
                goto out;
            }
        }
        double dt = cli_now() - t0, rate = (double)(i + m) / (dt > 0 ? dt : 1e-9);
        cli_progress_line("encoding %s: %lld/%lld texts, %.0f/s, ETA %.0f s", path, (long long)(i + m),
                          (long long)n_miss, rate, (double)(n_miss - i - m) / rate);
    }
    if (encode) {
        cli_progress_done();
        if (n_miss > 0)
            cli_info("encoded %lld texts (%lld windows) from %s in %.1f s", (long long)n_miss,
                     (long long)n_windows, path, cli_now() - t0);
    }
    out->n = n;
    out->ds = ds;
    ds = NULL;
    rc = CLI_OK;
out:
    // Keep what was encoded, also when interrupted: the next run starts from there.
    if (mi->cache && lector_feature_cache_save(mi->cache, &err) != LECTOR_STATUS_OK)
        cli_warn("feature cache not saved: %s", err.msg);
    else if (mi->cache && lector_feature_cache_note(mi->cache))
        cli_info("feature cache %s", lector_feature_cache_note(mi->cache));
    free(mlens);
    free(mtexts);
    free(mbuf);
    free(mrows);
    free(miss);
    free(rows);
    free(ids);
    lector_dataset_free(ds);
    if (rc != CLI_OK) cli_featurized_free(out);
    return rc;
}

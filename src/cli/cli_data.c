// What train and eval share: progress events, the default cache folder and the report as
// text or JSON.
#define _GNU_SOURCE
#include "cli/cli_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cli/cli.h"
#include "lector/data.h"
#include "lector/train.h"

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

const struct cli_option_name cli_featurizer_options[] = {
    {"max_len", "--max-len"}, {"stride", "--stride"}, {NULL, NULL}};

void cli_note_cut(const char *where, int64_t n_cut, int64_t max_windows) {
    if (n_cut > 0)
        cli_warn("%s: %lld text%s longer than %lld windows cut there (--max-windows); the rest %s not read",
                 where, (long long)n_cut, n_cut == 1 ? "" : "s", (long long)max_windows,
                 n_cut == 1 ? "is" : "are");
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

// Progress within the run: epoch, step, loss and the time left, at most five times a second.
static void on_step(struct cli_events *ev, const struct lector_event *e) {
    double now = lector_now();
    if (!ev || (e->count < e->total && now - ev->last < 0.2)) return;
    if (ev->t0 == 0.0) ev->t0 = now;
    ev->last = now;
    double eta = (now - ev->t0) / (double)e->count * (double)(e->total - e->count);
    cli_progress_line("epoch %lld/%lld, step %lld/%lld, loss %.4f, ETA %.0f s", (long long)e->step_epoch,
                      (long long)ev->n_epochs, (long long)e->count, (long long)e->total, e->loss, eta);
}

static void on_epoch(const struct cli_events *ev, const struct lector_epoch_info *ep) {
    const long long n_epochs = ev ? (long long)ev->n_epochs : 0;
    if (ep->valid_accuracy >= 0 && ep->valid_loss < 0) // tuned layers: no validation loss
        cli_info("epoch %lld/%lld: train loss %.4f, valid accuracy %.4f, macro-F1 %.4f",
                 (long long)ep->epoch, n_epochs, ep->train_loss, ep->valid_accuracy, ep->valid_macro_f1);
    else if (ep->valid_accuracy >= 0)
        cli_info("epoch %lld/%lld: train loss %.4f, valid loss %.4f, accuracy %.4f, macro-F1 %.4f%s",
                 (long long)ep->epoch, n_epochs, ep->train_loss, ep->valid_loss, ep->valid_accuracy,
                 ep->valid_macro_f1, ep->is_best ? " (best)" : "");
    else
        cli_info("epoch %lld/%lld: train loss %.4f", (long long)ep->epoch, n_epochs, ep->train_loss);
}

static void on_trial(const struct lector_autotune_trial *t) {
    char settings[512];
    lector_autotune_settings_format(&t->settings, settings, sizeof settings);
    if (t->message)
        cli_info("trial %lld: %s: failed in %.1f s: %s", (long long)t->index, settings, t->seconds, t->message);
    else
        cli_info("trial %lld: %s: valid macro-F1 %.4f, accuracy %.4f, log-loss %.4f in %.1f s%s",
                 (long long)t->index, settings, t->valid_macro_f1, t->valid_accuracy, t->valid_log_loss,
                 t->seconds, t->is_best ? " (best)" : "");
}

// flags (size bytes) <- the settings st as options of lector train.
static void autotune_flags(const struct lector_autotune_settings *st, char *flags, size_t size) {
    int n = snprintf(flags, size, "--features %s --epochs %lld",
                     st->features == LECTOR_FEATURES_NGRAMS    ? "ngrams"
                     : st->features == LECTOR_FEATURES_ENCODER ? "encoder"
                                                               : "both",
                     (long long)st->n_epochs);
    if (st->features & LECTOR_FEATURES_ENCODER)
        n += snprintf(flags + n, size - (size_t)n, " --lr %g --weight-decay %g --hidden %lld",
                      (double)st->lr, (double)st->weight_decay, (long long)st->n_hidden);
    if (st->features & LECTOR_FEATURES_NGRAMS) {
        n += snprintf(flags + n, size - (size_t)n, " --lr-ngrams %g --weight-decay-ngrams %g --ngram-order %d",
                      (double)st->lr_ngrams, (double)st->weight_decay_ngrams, (int)st->word_order);
        if (st->char_min > 0)
            n += snprintf(flags + n, size - (size_t)n, " --char-ngrams %d-%d", (int)st->char_min,
                          (int)st->char_max);
        if (st->boundaries) n += snprintf(flags + n, size - (size_t)n, " --ngram-boundaries");
        snprintf(flags + n, size - (size_t)n, " --ngram-weighting %s",
                 lector_ngram_weighting_name(st->weighting));
    }
}

static void on_autotuned(const struct lector_event *e) {
    const struct lector_autotune_trial *t = e->trial;
    char settings[512], flags[512];
    lector_autotune_settings_format(&t->settings, settings, sizeof settings);
    autotune_flags(&t->settings, flags, sizeof flags);
    char how[96] = "";
    if (t->folds > 1)
        snprintf(how, sizeof how, ", scored by %lld-fold cross-validation over %lld rows", (long long)t->folds,
                 (long long)e->total);
    cli_info("autotune: %lld trials in %.1f s (%s%s); chosen: trial %lld, valid macro-F1 %.4f: %s",
             (long long)e->count, e->seconds, e->message, how, (long long)t->index, t->valid_macro_f1, settings);
    cli_info("autotune: the same as training with %s", flags);
}

// Progress of the library's steps, worded for the command line (with the options to change).
void cli_on_event(void *user, const struct lector_event *e) {
    struct cli_events *ev = user;
    switch (e->kind) {
    case LECTOR_EVENT_LONG_TEXTS:
        if (e->doc_pooling == LECTOR_DOC_TRUNCATE)
            cli_info("%s: %lld of %lld texts truncated to %lld tokens (--max-len)", e->path, (long long)e->count,
                     (long long)e->total, (long long)e->max_len);
        else
            cli_info("%s: %lld of %lld texts longer than %lld tokens are split into windows (--stride %lld, "
                     "--doc-pooling %s)", e->path, (long long)e->count, (long long)e->total, (long long)e->max_len,
                     (long long)e->stride, lector_doc_pooling_name(e->doc_pooling));
        break;
    case LECTOR_EVENT_CACHE_HITS:
        cli_info("feature cache: %lld of %lld texts of %s cached", (long long)e->count, (long long)e->total, e->path);
        break;
    case LECTOR_EVENT_ENCODING: {
        double rate = (double)e->count / (e->seconds > 0 ? e->seconds : 1e-9);
        cli_progress_line("encoding %s: %lld/%lld texts, %.0f/s, ETA %.0f s", e->path, (long long)e->count,
                          (long long)e->total, rate, (double)(e->total - e->count) / rate);
        break;
    }
    case LECTOR_EVENT_ENCODED:
        cli_progress_done();
        cli_info("encoded %lld texts (%lld windows) from %s in %.1f s", (long long)e->count, (long long)e->windows,
                 e->path, e->seconds);
        break;
    case LECTOR_EVENT_CACHE_FAILED: cli_warn("feature cache disabled: %s", e->message); break;
    case LECTOR_EVENT_CACHE_NOTE: cli_warn("feature cache %s", e->message); break;
    case LECTOR_EVENT_CUT: cli_note_cut(e->path, e->count, e->windows); break;
    case LECTOR_EVENT_HELD_OUT:
        cli_info("holding out %lld of %lld rows (stratified, --valid-fraction %g) for validation",
                 (long long)e->count, (long long)e->total, ev ? ev->valid_fraction : 0.0);
        break;
    case LECTOR_EVENT_NGRAMS:
        cli_info("n-grams: %lld features from %lld texts in %.2f s", (long long)e->count, (long long)e->total,
                 e->seconds);
        break;
    case LECTOR_EVENT_STEP: on_step(ev, e); break;
    case LECTOR_EVENT_EPOCH: on_epoch(ev, e->epoch); break;
    case LECTOR_EVENT_FROZEN:
        cli_info("frozen layers: their output for %lld texts computed once in %.1f s (%.1f MB%s)",
                 (long long)e->count, e->seconds, (double)e->total / 1e6,
                 e->windows ? ", in a file-backed mapping" : " in memory");
        break;
    case LECTOR_EVENT_TRAINED:
        cli_info("trained head in %.2f s (%lld epochs; best epoch %lld; temperature %.3f)", e->seconds,
                 (long long)e->result->n_epochs_run, (long long)e->result->best_epoch,
                 (double)e->result->temperature);
        break;
    case LECTOR_EVENT_TRIAL: on_trial(e->trial); break;
    case LECTOR_EVENT_AUTOTUNED: on_autotuned(e); break;
    }
}

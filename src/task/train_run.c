// The training pipeline: CSV -> corpus -> features (encoder and/or n-grams) -> split -> head
// -> classifier in memory, with the validation report.
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "lector/eval.h"
#include "lector/train.h"
#include "task/task_impl.h"

int lector_features_parse(const char *name) {
    if (!strcmp(name, "encoder")) return LECTOR_FEATURES_ENCODER;
    if (!strcmp(name, "ngrams")) return LECTOR_FEATURES_NGRAMS;
    if (!strcmp(name, "both")) return LECTOR_FEATURES_BOTH;
    return -1;
}

void lector_train_options_init(struct lector_train_options *o) {
    memset(o, 0, sizeof *o);
    o->valid_fraction = 0.1f;
    lector_corpus_options_init(&o->corpus);
    o->features = LECTOR_FEATURES_BOTH;
    lector_featurizer_options_init(&o->featurizer);
    o->ngrams = (struct lector_ngram_params){
        .n_buckets = INT64_C(1) << 20, .word_order = 2, .char_min = 0, .char_max = 0,
        .sublinear_tf = 1, .min_df = 1, .boundaries = 0, .weighting = LECTOR_NGRAM_IDF_NB,
    };
    struct lector_train_params *p = &o->head;
    p->n_epochs = 10;
    p->batch_size = 32;
    p->seed = 42;
    // Peak learning rates measured on the shared corpora (docs/accuracy.md): frozen features
    // on a linear head take larger steps than fine-tuning does.
    p->adamw = lector_adamw_default_params();
    p->adamw.lr = 3e-3f;
    p->adamw_sparse = lector_adamw_default_params();
    p->adamw_sparse.lr = 0.03f;
    p->schedule = LECTOR_SCHEDULE_LINEAR;
    p->warmup = 0.06f;
    p->clip_norm = 1.0f;
    p->calibrate = 1;
    p->min_delta = 0.005f;
    p->dropout = 0.1f;
    // Three quarters of the physical memory (4 GB when unknown).
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    o->finetune = (struct lector_finetune_options){1e-4f, 1e-3f, 1.0f, 0.1f, 16, 3, (uint64_t)1 << 30,
                                                    LECTOR_PRECISION_FP32};
    p->max_memory = pages > 0 && size > 0 ? (uint64_t)pages / 4 * 3 * (uint64_t)size : (uint64_t)4 << 30;
    o->autotune.budget = 300.0;
}

struct run {
    const struct lector_train_options *o;
    struct lector_featurizer *fz;
    struct lector_corpus *all, *tr, *va;
    struct lector_features f_all, f_tr, f_va;
    struct lector_ngrams *ng;
    struct lector_ngram_params fitted; // the settings ng was fitted with (autotune), when have_fit
    bool have_fit;
    struct lector_train_result res;
    int64_t *idx;
};

static void emit(const struct lector_train_options *o, const struct lector_event *e) {
    if (o->on_event) o->on_event(o->user, e);
}

static void on_step(void *user, int64_t epoch, int64_t step, int64_t n_steps, double loss) {
    const struct lector_train_options *o = user;
    emit(o, &(struct lector_event){.kind = LECTOR_EVENT_STEP, .step_epoch = epoch, .count = step,
                                   .total = n_steps, .loss = loss});
    if (o->head.on_step) o->head.on_step(o->head.user, epoch, step, n_steps, loss);
}

static int on_epoch(void *user, const struct lector_epoch_info *e) {
    const struct lector_train_options *o = user;
    emit(o, &(struct lector_event){.kind = LECTOR_EVENT_EPOCH, .epoch = e});
    return o->head.on_epoch ? o->head.on_epoch(o->head.user, e) : 0;
}

static enum lector_status check_options(const struct lector_train_options *o, struct lector_error *err) {
    if (!o->encoder_dir && (o->features & LECTOR_FEATURES_ENCODER))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "encoder_dir: no encoder directory (n-gram features alone need none)");
    if (!o->train_path) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "train_path: no training file");
    if (!(o->features & LECTOR_FEATURES_BOTH) || (o->features & ~LECTOR_FEATURES_BOTH))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "features: %d is not encoder, ngrams or both",
                             (int)o->features);
    if (o->head.n_hidden > 0 && !(o->features & LECTOR_FEATURES_ENCODER))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "head.n_hidden: an MLP head needs encoder features (encoder or both)");
    if (!(o->valid_fraction >= 0.0f && o->valid_fraction <= 0.9f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "valid_fraction: %g is outside [0, 0.9]",
                             (double)o->valid_fraction);
    if (o->unfreeze != 0 && o->autotune.enabled)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "autotune: the search covers a frozen encoder's head only (unfreeze must be 0: "
                             "docs/training.md gives the trial costs)");
    if (o->autotune.enabled) {
        if (!(o->autotune.budget > 0.0 && o->autotune.budget <= 1e9))
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "autotune.budget: %g is not a number of seconds above 0", o->autotune.budget);
        if (o->autotune.max_trials < 0)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG, "autotune.max_trials: %lld is below 0",
                                 (long long)o->autotune.max_trials);
        if (o->autotune.folds < 0 || o->autotune.folds > LECTOR_AUTOTUNE_MAX_FOLDS)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "autotune.folds: %lld is not 0 (automatic), 1 (the validation rows) or a number of "
                                 "folds from 2 to %d",
                                 (long long)o->autotune.folds, LECTOR_AUTOTUNE_MAX_FOLDS);
        if (!o->valid_path && o->valid_fraction <= 0.0f)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "autotune: the search needs validation rows (a validation file, or a held-out "
                                 "share of the training file)");
    }
    return lector__unfreeze_check(o, err);
}

// The labels and texts of the training and validation files, before anything is encoded.
static enum lector_status read_data(struct run *r, struct lector_error *err) {
    const struct lector_train_options *o = r->o;
    const bool multi = o->corpus.multi_label != 0;
    enum lector_status s = lector_corpus_read_csv(o->train_path, &o->corpus, NULL, 0, &r->all, err);
    if (s != LECTOR_STATUS_OK) return s;
    if (r->all->n_labels < (multi ? 1 : 2))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: column '%s' has only one distinct label ('%s'); a classifier needs at least 2",
                             o->train_path, o->corpus.label_column, r->all->n_labels ? r->all->labels[0] : "");
    s = lector_classifier_check_labels((const char *const *)r->all->labels, r->all->n_labels, o->train_path, err);
    if (s != LECTOR_STATUS_OK || !o->valid_path) return s;
    return lector_corpus_read_csv(o->valid_path, &o->corpus, (const char *const *)r->all->labels,
                                  r->all->n_labels, &r->va, err);
}

// Training and validation rows: the validation file, a stratified share of the training
// file, or none.
static enum lector_status split(struct run *r, struct lector_error *err) {
    const struct lector_train_options *o = r->o;
    struct lector_corpus *all = r->all;
    if (o->valid_path || o->valid_fraction <= 0.0f) {
        r->tr = all;
        r->f_tr = r->f_all;
        r->all = NULL;
        memset(&r->f_all, 0, sizeof r->f_all);
        return LECTOR_STATUS_OK;
    }
    r->idx = lector__malloc(2 * (size_t)all->n * sizeof *r->idx);
    if (!r->idx) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    int64_t n_tr = 0, n_va = 0;
    // Multi-label rows all carry class id 0 in y: the split is then a plain seeded one.
    enum lector_status s = lector_split_stratified(all->y, all->n, all->n_labels, (double)o->valid_fraction,
                                                   o->head.seed, r->idx, &n_tr, r->idx + all->n, &n_va, err);
    if (s == LECTOR_STATUS_OK) s = lector_corpus_subset(all, r->idx, n_tr, &r->tr, err);
    if (s == LECTOR_STATUS_OK) s = lector_corpus_subset(all, r->idx + all->n, n_va, &r->va, err);
    if (s == LECTOR_STATUS_OK) s = lector_features_subset(&r->f_all, r->idx, n_tr, &r->f_tr, err);
    if (s == LECTOR_STATUS_OK) s = lector_features_subset(&r->f_all, r->idx + all->n, n_va, &r->f_va, err);
    if (s == LECTOR_STATUS_OK)
        emit(o, &(struct lector_event){.kind = LECTOR_EVENT_HELD_OUT, .path = o->train_path, .count = n_va,
                                       .total = all->n});
    return s;
}

// The head and its optimiser state estimated before anything is allocated (S = 0: before the
// n-gram fit, whose own time grows with the labels).
static enum lector_status check_memory(const struct run *r, int64_t S, struct lector_error *err) {
    const struct lector_train_params *p = &r->o->head;
    const int64_t K = r->tr->n_labels, C = (r->o->features & LECTOR_FEATURES_ENCODER) ? r->f_tr.C : 0;
    const uint64_t need = lector_train_head_memory(C, S, K, p);
    if (p->max_memory == 0 || need <= p->max_memory) return LECTOR_STATUS_OK;
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "head.max_memory: %s: the head for %lld labels (C=%lld dense inputs, H=%lld hidden units, "
                         "S=%lld n-gram features) and its optimiser state need %.1f MB, over the budget of %.1f MB",
                         r->o->train_path, (long long)K, (long long)C, (long long)p->n_hidden, (long long)S,
                         (double)need / 1e6, (double)p->max_memory / 1e6);
}

static enum lector_status fit_ngrams(struct run *r, struct lector_error *err) {
    const double t0 = lector_now();
    const struct lector_corpus *tr = r->tr;
    enum lector_status s = lector_ngrams_fit(&r->o->ngrams, tr->texts, tr->lens, tr->n, tr->y,
                                                     tr->multi_label ? tr->Y : NULL, tr->n_labels, &r->ng, err);
    if (s == LECTOR_STATUS_OK) s = lector_features_add_ngrams(&r->f_tr, tr, r->ng, err);
    if (s == LECTOR_STATUS_OK && r->va && r->va->n > 0) s = lector_features_add_ngrams(&r->f_va, r->va, r->ng, err);
    if (s == LECTOR_STATUS_OK)
        emit(r->o, &(struct lector_event){.kind = LECTOR_EVENT_NGRAMS, .count = lector_ngrams_n_features(r->ng),
                                          .total = tr->n, .seconds = lector_now() - t0});
    return s;
}

// The validation report of the trained head (the figures lector_evaluate gives).
static enum lector_status valid_report(const struct run *r, struct lector_eval_report *rep, struct lector_error *err) {
    const struct lector_corpus *va = r->va;
    const struct lector_features *f = &r->f_va;
    const bool use_ng = r->ng && (r->o->features & LECTOR_FEATURES_NGRAMS), multi = va->multi_label != 0;
    const float *X = (r->o->features & LECTOR_FEATURES_ENCODER) ? f->X : NULL;
    const int64_t K = r->tr->n_labels;
    rep->n = va->n;
    rep->n_labels = K;
    rep->multi_label = multi;
    rep->probs = lector__malloc((size_t)va->n * (size_t)K * sizeof *rep->probs);
    rep->labels = lector__calloc((size_t)K, sizeof *rep->labels);
    if (!multi) rep->y = lector__malloc((size_t)va->n * sizeof *rep->y);
    if (r->res.history) rep->history_json = lector__strdup(r->res.history);
    if (!rep->probs || !rep->labels || (!multi && !rep->y) || (r->res.history && !rep->history_json))
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    for (int64_t k = 0; k < K; k++)
        if (!(rep->labels[k] = lector__strdup(r->tr->labels[k])))
            return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    if (multi) {
        enum lector_status s = lector_head_probs_multi(r->res.head, X, use_ng ? &f->sp : NULL, va->n, rep->probs, err);
        if (s != LECTOR_STATUS_OK) return s;
        return lector_metrics_compute_multi(va->Y, rep->probs, r->res.thresholds, va->n, K, &rep->metrics, err);
    }
    memcpy(rep->y, va->y, (size_t)va->n * sizeof *rep->y);
    enum lector_status s =
        lector_head_probs(r->res.head, X, use_ng ? &f->sp : NULL, va->n, r->res.temperature, rep->probs, err);
    if (s != LECTOR_STATUS_OK) return s;
    return lector_metrics_compute_probs(va->y, rep->probs, va->n, K, &rep->metrics, err);
}

static enum lector_status train_head(struct run *r, struct lector_error *err) {
    const struct lector_train_options *o = r->o;
    const bool use_ng = r->ng && (o->features & LECTOR_FEATURES_NGRAMS);
    const bool use_enc = o->features & LECTOR_FEATURES_ENCODER;
    struct lector_train_params tp = o->head;
    tp.on_step = on_step;
    tp.on_epoch = on_epoch;
    tp.user = (void *)o;
    if (!tp.cancel) tp.cancel = o->cancel;
    const struct lector_train_set ts = {use_enc ? r->f_tr.X : NULL, use_ng ? &r->f_tr.sp : NULL, r->tr->y, r->tr->n,
                                        r->tr->multi_label ? r->tr->Y : NULL};
    const int64_t n_va = r->va ? r->va->n : 0;
    const struct lector_train_set vs = {use_enc ? r->f_va.X : NULL, use_ng ? &r->f_va.sp : NULL, n_va ? r->va->y : NULL, n_va,
                                        n_va && r->va->multi_label ? r->va->Y : NULL};
    const double t0 = lector_now();
    enum lector_status s =
        lector_train_head(&ts, n_va > 0 ? &vs : NULL, use_enc ? r->f_tr.C : 0, r->tr->n_labels, &tp, &r->res, err);
    if (s == LECTOR_STATUS_OK && o->cancel && *o->cancel) {
        lector_train_result_free(&r->res);
        s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "interrupted");
    }
    if (s == LECTOR_STATUS_OK)
        emit(o, &(struct lector_event){.kind = LECTOR_EVENT_TRAINED, .seconds = lector_now() - t0,
                                       .result = &r->res});
    return s;
}

// ---- autotune ---------------------------------------------------------------------------------

static bool same_ngrams(const struct lector_ngram_params *a, const struct lector_ngram_params *b) {
    return a->word_order == b->word_order && a->char_min == b->char_min && a->char_max == b->char_max &&
           a->boundaries == b->boundaries && a->weighting == b->weighting;
}

// Everything the search keeps of its best trial.
struct tuned {
    struct lector_train_options o;  // the trial's options
    struct lector_train_result res; // its head
    struct lector_ngrams *ng;       // its n-gram columns (may be r->ng), or NULL
    struct lector_eval_report rep;  // its validation report
    struct lector_autotune_trial trial;
    char *record;                   // what the model records (JSON)
};

// One trial: the n-gram columns fitted again when a setting of theirs changed (r->fitted),
// the head trained and scored on validation. r->ng is not freed when it is keep (the best
// trial's). A head that diverges or does not fit in memory is a failed trial (t->message),
// not an error.
static enum lector_status run_trial(struct run *r, const struct lector_ngrams *keep, struct lector_autotune_trial *t,
                                    struct lector_eval_report *rep, struct lector_error *err) {
    const bool use_ng = r->o->features & LECTOR_FEATURES_NGRAMS;
    enum lector_status s = LECTOR_STATUS_OK;
    if (use_ng && !(r->have_fit && same_ngrams(&r->fitted, &r->o->ngrams))) {
        if (r->ng != keep) lector_ngrams_free(r->ng);
        r->ng = NULL;
        r->have_fit = false;
        if ((s = fit_ngrams(r, err)) != LECTOR_STATUS_OK) return s;
        r->fitted = r->o->ngrams;
        r->have_fit = true;
    }
    s = check_memory(r, use_ng ? lector_ngrams_n_features(r->ng) : 0, err);
    if (s == LECTOR_STATUS_OK) s = train_head(r, err);
    if (s == LECTOR_STATUS_OK) s = valid_report(r, rep, err);
    if (s == LECTOR_STATUS_OK) {
        t->valid_macro_f1 = rep->metrics.macro_f1;
        t->valid_accuracy = rep->metrics.accuracy;
        t->valid_log_loss = rep->metrics.log_loss;
    } else if (s == LECTOR_STATUS_RANGE || s == LECTOR_STATUS_NOMEM) {
        t->message = err->msg;
        s = LECTOR_STATUS_OK;
    }
    return s;
}

// ---- cross-validated trials (autotune.folds > 1) ----

struct cv {
    int64_t k;
    struct lector_corpus *pool;     // the training rows, then the validation rows (views)
    struct lector_features f_pool;
    struct run *fold;               // (k) each fold's training rows and validation fold
};

static void cv_free(struct cv *cv) {
    for (int64_t f = 0; cv->fold && f < cv->k; f++) {
        struct run *fr = &cv->fold[f];
        lector_ngrams_free(fr->ng);
        lector_features_free(&fr->f_tr);
        lector_features_free(&fr->f_va);
        lector_corpus_free(fr->tr);
        lector_corpus_free(fr->va);
    }
    free(cv->fold);
    lector_features_free(&cv->f_pool);
    lector_corpus_free(cv->pool);
    memset(cv, 0, sizeof *cv);
}

// r's training and validation rows as one set: the training rows' subset with the validation
// rows written over the placeholders after them.
static enum lector_status cv_pool(const struct run *r, struct cv *cv, struct lector_error *err) {
    const struct lector_corpus *tr = r->tr, *va = r->va;
    const int64_t na = tr->n, n = na + va->n, K = tr->n_labels, C = r->f_tr.C, T = r->f_tr.max_len;
    int64_t *idx = lector__calloc((size_t)n, sizeof *idx);
    if (!idx) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    for (int64_t i = 0; i < na; i++) idx[i] = i;
    enum lector_status s = lector_corpus_subset(tr, idx, n, &cv->pool, err);
    if (s == LECTOR_STATUS_OK) s = lector_features_subset(&r->f_tr, idx, n, &cv->f_pool, err);
    lector_free(idx);
    if (s != LECTOR_STATUS_OK) return s;
    struct lector_corpus *c = cv->pool;
    struct lector_features *f = &cv->f_pool;
    for (int64_t i = 0, j = na; i < va->n; i++, j++) {
        c->y[j] = va->y[i];
        c->texts[j] = va->texts[i];
        c->lens[j] = va->lens[i];
        c->lines[j] = va->lines[i];
        if (c->Y) memcpy(c->Y + j * K, va->Y + i * K, (size_t)K);
        if (f->X) memcpy(f->X + j * C, r->f_va.X + i * C, (size_t)C * sizeof *f->X);
        if (f->ids) memcpy(f->ids + j * T, r->f_va.ids + i * T, (size_t)T * sizeof *f->ids);
        if (f->n_ids) f->n_ids[j] = r->f_va.n_ids[i];
    }
    return LECTOR_STATUS_OK;
}

// The pool of r's rows dealt into k stratified folds (lector_split_folds), and for each fold
// a run whose training rows are the other folds and whose validation rows are the fold.
static enum lector_status cv_open(const struct run *r, int64_t k, struct cv *cv, struct lector_error *err) {
    cv->k = k;
    enum lector_status s = cv_pool(r, cv, err);
    if (s != LECTOR_STATUS_OK) return s;
    const int64_t n = cv->pool->n;
    int32_t *fold_of = lector__malloc((size_t)n * sizeof *fold_of);
    int64_t *idx = lector__malloc(2 * (size_t)n * sizeof *idx);
    cv->fold = lector__calloc((size_t)k, sizeof *cv->fold);
    if (!fold_of || !idx || !cv->fold) s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    if (s == LECTOR_STATUS_OK)
        s = lector_split_folds(cv->pool->y, n, cv->pool->n_labels, k, r->o->head.seed, fold_of, err);
    for (int64_t f = 0; s == LECTOR_STATUS_OK && f < k; f++) {
        int64_t n_tr = 0, n_va = 0;
        for (int64_t i = 0; i < n; i++) {
            if (fold_of[i] == f)
                idx[n + n_va++] = i;
            else
                idx[n_tr++] = i;
        }
        struct run *fr = &cv->fold[f];
        s = lector_corpus_subset(cv->pool, idx, n_tr, &fr->tr, err);
        if (s == LECTOR_STATUS_OK) s = lector_corpus_subset(cv->pool, idx + n, n_va, &fr->va, err);
        if (s == LECTOR_STATUS_OK) s = lector_features_subset(&cv->f_pool, idx, n_tr, &fr->f_tr, err);
        if (s == LECTOR_STATUS_OK) s = lector_features_subset(&cv->f_pool, idx + n, n_va, &fr->f_va, err);
    }
    lector_free(fold_of);
    lector_free(idx);
    return s;
}

// One trial scored by cross-validation: a head per fold (run_trial on the fold's run), the
// figures the folds' means weighted by their validation rows. A fold that fails fails the trial.
static enum lector_status cv_trial(struct cv *cv, const struct lector_train_options *to, struct lector_autotune_trial *t,
                                   struct lector_error *err) {
    double f1 = 0.0, acc = 0.0, loss = 0.0;
    int64_t n = 0;
    enum lector_status s = LECTOR_STATUS_OK;
    for (int64_t f = 0; f < cv->k && s == LECTOR_STATUS_OK; f++) {
        struct run *fr = &cv->fold[f];
        struct lector_autotune_trial ft = {.valid_macro_f1 = -1};
        struct lector_eval_report rep = {0};
        fr->o = to;
        s = run_trial(fr, NULL, &ft, &rep, err);
        lector_train_result_free(&fr->res);
        lector_eval_report_free(&rep);
        if (s != LECTOR_STATUS_OK) break;
        if (ft.message) {
            t->message = ft.message;
            return LECTOR_STATUS_OK;
        }
        const double w = (double)fr->va->n;
        f1 += w * ft.valid_macro_f1;
        acc += w * ft.valid_accuracy;
        loss += w * ft.valid_log_loss;
        n += fr->va->n;
    }
    if (s == LECTOR_STATUS_OK) {
        t->valid_macro_f1 = f1 / (double)n;
        t->valid_accuracy = acc / (double)n;
        t->valid_log_loss = loss / (double)n;
    }
    return s;
}

// The folds autotune scores with: autotune.folds, or its automatic choice (lector/train.h).
static int64_t cv_folds(const struct run *r) {
    const int64_t k = r->o->autotune.folds;
    if (k > 0) return k;
    return r->va->n < LECTOR_AUTOTUNE_CV_BELOW && r->tr->n + r->va->n >= 10 ? 5 : 1;
}

// After a cross-validated search: the chosen settings trained on r's training rows and
// validated on its validation rows, as lector_train with them alone trains them; best
// receives the head, its columns and its validation report.
static enum lector_status train_chosen(struct run *r, struct tuned *best, struct lector_error *err) {
    const struct lector_train_options *o = r->o;
    r->o = &best->o;
    enum lector_status s = LECTOR_STATUS_OK;
    if (best->o.features & LECTOR_FEATURES_NGRAMS) s = fit_ngrams(r, err);
    if (s == LECTOR_STATUS_OK) s = check_memory(r, r->ng ? lector_ngrams_n_features(r->ng) : 0, err);
    if (s == LECTOR_STATUS_OK) s = train_head(r, err);
    if (s == LECTOR_STATUS_OK) s = valid_report(r, &best->rep, err);
    r->o = o;
    if (s != LECTOR_STATUS_OK) return s;
    best->res = r->res;
    memset(&r->res, 0, sizeof r->res);
    best->ng = r->ng;
    return LECTOR_STATUS_OK;
}

// The search (see lector/train.h) over r's features; r->res and r->ng receive the best
// trial's head and columns.
static enum lector_status autotune(struct run *r, struct tuned *best, struct lector_error *err) {
    const struct lector_train_options *o = r->o;
    const int64_t k = cv_folds(r), n_rows = r->tr->n + r->va->n;
    if (k > n_rows)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "autotune.folds: %lld folds need at least as many rows; there are %lld (training and "
                             "validation)",
                             (long long)k, (long long)n_rows);
    struct lector__autotune *a = lector__autotune_new(o);
    if (!a) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    struct lector_train_options to = *o;
    to.on_event = NULL; // a trial's epochs and n-gram fits are not reported, the trial is
    const char *ended = "every setting tried";
    struct cv cv = {0};
    enum lector_status s = k > 1 ? cv_open(r, k, &cv, err) : LECTOR_STATUS_OK;
    struct lector_autotune_settings cand;
    struct lector_error te = {0}; // a trial's: a failed trial is not the search's error
    char last[sizeof te.msg] = "";
    int64_t n = 0;
    const double t0 = lector_now();
    while (s == LECTOR_STATUS_OK && lector__autotune_next(a, &cand)) {
        const double spent = lector_now() - t0;
        if (n > 0 && o->autotune.max_trials > 0 && n >= o->autotune.max_trials) {
            ended = "trial limit";
            break;
        }
        if (n > 0 && spent + spent / (double)n > o->autotune.budget) {
            ended = "time budget";
            break;
        }
        lector__autotune_settings_apply(&cand, &to);
        r->o = &to;
        struct lector_autotune_trial t = {.index = ++n, .settings = cand, .valid_macro_f1 = -1,
                                          .valid_accuracy = -1, .valid_log_loss = -1, .folds = k};
        struct lector_eval_report rep = {0};
        const double t1 = lector_now();
        s = k > 1 ? cv_trial(&cv, &to, &t, &te) : run_trial(r, best->ng, &t, &rep, &te);
        r->o = o;
        if (s != LECTOR_STATUS_OK) {
            if (err) *err = te;
            lector_eval_report_free(&rep);
            break;
        }
        if (t.message) snprintf(last, sizeof last, "%s", t.message);
        t.seconds = lector_now() - t1;
        t.is_best = lector__autotune_report(a, &cand, t.valid_macro_f1, t.valid_log_loss);
        emit(o, &(struct lector_event){.kind = LECTOR_EVENT_TRIAL, .trial = &t, .count = n,
                                       .seconds = lector_now() - t0});
        if (!t.is_best) {
            lector_train_result_free(&r->res);
            lector_eval_report_free(&rep);
            continue;
        }
        best->o = to;
        best->trial = t;
        best->trial.message = NULL;
        if (k > 1) continue; // the choice is trained on r after the search
        lector_train_result_free(&best->res);
        best->res = r->res;
        memset(&r->res, 0, sizeof r->res);
        lector_eval_report_free(&best->rep);
        best->rep = rep;
        if (best->ng != r->ng) lector_ngrams_free(best->ng);
        best->ng = (to.features & LECTOR_FEATURES_NGRAMS) ? r->ng : NULL;
    }
    lector__autotune_free(a);
    cv_free(&cv);
    if (s == LECTOR_STATUS_OK && best->trial.index == 0)
        s = lector__error(err, LECTOR_STATUS_RANGE, "autotune: every trial failed (the last: %s)", last);
    if (s == LECTOR_STATUS_OK && k > 1) s = train_chosen(r, best, err);
    if (s == LECTOR_STATUS_OK && !(best->record = lector__autotune_json(&best->trial, n, k, ended)))
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    if (s == LECTOR_STATUS_OK)
        emit(o, &(struct lector_event){.kind = LECTOR_EVENT_AUTOTUNED, .trial = &best->trial, .count = n,
                                       .total = k > 1 ? n_rows : r->va->n, .seconds = lector_now() - t0,
                                       .message = ended});
    // r keeps the best trial's head and columns
    if (r->ng != best->ng) lector_ngrams_free(r->ng);
    r->ng = best->ng;
    best->ng = NULL;
    lector_train_result_free(&r->res);
    r->res = best->res;
    memset(&best->res, 0, sizeof best->res);
    return s;
}

// ---- the pipeline ----------------------------------------------------------------------------

enum lector_status lector_train(const struct lector_train_options *o, struct lector_classifier **out,
                                struct lector_eval_report *rep, struct lector_error *err) {
    *out = NULL;
    if (rep) memset(rep, 0, sizeof *rep);
    enum lector_status s = check_options(o, err);
    if (s != LECTOR_STATUS_OK) return s;
    const bool use_enc = o->features & LECTOR_FEATURES_ENCODER;
    struct run r = {.o = o};
    struct tuned best = {0};
    struct lector_featurizer_options fo = o->featurizer;
    if (!use_enc) fo.cache_dir = NULL; // n-grams alone never read the cache
    if (o->unfreeze != 0) { // tuned layers: texts truncated, vectors of the base encoder unused
        fo.cache_dir = NULL;
        fo.doc_pooling = LECTOR_DOC_TRUNCATE;
    }
    const bool encode = use_enc && o->unfreeze == 0;
    fo.on_event = o->on_event;
    fo.user = o->user;
    fo.cancel = o->cancel;
    if ((s = lector_featurizer_open(o->encoder_dir, &fo, &r.fz, err)) != LECTOR_STATUS_OK) goto out;
    if ((s = read_data(&r, err)) != LECTOR_STATUS_OK ||
        (s = lector_featurize(r.fz, r.all, encode, &r.f_all, err)) != LECTOR_STATUS_OK ||
        (r.va && (s = lector_featurize(r.fz, r.va, encode, &r.f_va, err)) != LECTOR_STATUS_OK) ||
        (s = split(&r, err)) != LECTOR_STATUS_OK || (s = check_memory(&r, 0, err)) != LECTOR_STATUS_OK)
        goto out;
    if (o->autotune.enabled) {
        if ((s = autotune(&r, &best, err)) != LECTOR_STATUS_OK) goto out;
        r.o = &best.o;
        if (rep) {
            *rep = best.rep;
            memset(&best.rep, 0, sizeof best.rep);
        }
    } else {
        if (((o->features & LECTOR_FEATURES_NGRAMS) && (s = fit_ngrams(&r, err)) != LECTOR_STATUS_OK) ||
            (r.ng && (s = check_memory(&r, lector_ngrams_n_features(r.ng), err)) != LECTOR_STATUS_OK) ||
            (o->unfreeze ? (s = lector__train_unfrozen(o, r.fz, r.tr, &r.f_tr, r.va, &r.f_va, &r.res, err))
                         : (s = train_head(&r, err))) != LECTOR_STATUS_OK)
            goto out;
        if (rep && r.va && r.va->n > 0 && (s = valid_report(&r, rep, err)) != LECTOR_STATUS_OK) goto out;
    }

    const struct lector_featurizer_options *fr = lector_featurizer_get_options(r.fz);
    const struct lector_classifier_info info = {fr->pooling, fr->max_len, r.tr->n, r.res.valid_accuracy,
                                                r.res.history, !(r.o->features & LECTOR_FEATURES_ENCODER), r.ng,
                                                r.res.temperature, r.res.valid_macro_f1, fr->doc_pooling,
                                                fr->stride, o->corpus.multi_label != 0, r.res.thresholds,
                                                best.record};
    struct lector_encoder *enc = NULL;
    struct lector_tokenizer *tok = NULL;
    lector__featurizer_release(r.fz, &enc, &tok);
    s = lector__classifier_new(enc, tok, r.res.head, (const char *const *)r.tr->labels, r.tr->n_labels, &info,
                               r.ng, out, err);
    r.res.head = NULL; // owned by the classifier now, as are enc, tok and ng
    r.ng = NULL;
out:
    if (s != LECTOR_STATUS_OK && rep) lector_eval_report_free(rep);
    lector_free(r.idx);
    free(best.record);
    lector_eval_report_free(&best.rep);
    lector_ngrams_free(best.ng);
    lector_train_result_free(&best.res);
    lector_ngrams_free(r.ng);
    lector_train_result_free(&r.res);
    lector_features_free(&r.f_va);
    lector_features_free(&r.f_tr);
    lector_features_free(&r.f_all);
    lector_corpus_free(r.va);
    lector_corpus_free(r.tr);
    lector_corpus_free(r.all);
    lector_featurizer_close(r.fz);
    return s;
}

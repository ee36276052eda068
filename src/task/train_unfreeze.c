// lector_train with unfreeze: the top layers trained with the head (finetune.c), then put in
// place of the encoder's, so the classifier runs, saves and reports as a frozen one does.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "lector/train.h"
#include "task/finetune.h"
#include "task/task_impl.h"

enum lector_status lector__unfreeze_check(const struct lector_train_options *o, struct lector_error *err) {
    const struct lector_finetune_options *f = &o->finetune;
    if (o->unfreeze < LECTOR_UNFREEZE_ALL)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "unfreeze: %lld is not a layer count (0 .. the encoder's layers, or all)",
                             (long long)o->unfreeze);
    if (o->unfreeze == 0) return LECTOR_STATUS_OK;
    if (!(o->features & LECTOR_FEATURES_ENCODER))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "unfreeze: features ngrams have no encoder layers to tune (features encoder)");
    if (!(o->head.label_smoothing >= 0.0f && o->head.label_smoothing < 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head.label_smoothing: %g is outside [0, 1)",
                             (double)o->head.label_smoothing);
    if (o->head.patience < 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "head.patience: %lld is negative",
                             (long long)o->head.patience);
    if (!(f->lr_encoder > 0.0f && f->lr_encoder <= 10.0f) || !(f->lr_head > 0.0f && f->lr_head <= 10.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "finetune.%s: %g is outside (0, 10]",
                             f->lr_encoder > 0.0f && f->lr_encoder <= 10.0f ? "lr_head" : "lr_encoder",
                             (double)(f->lr_encoder > 0.0f && f->lr_encoder <= 10.0f ? f->lr_head : f->lr_encoder));
    if (!(f->layer_lr_decay > 0.0f && f->layer_lr_decay <= 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "finetune.layer_lr_decay: %g is outside (0, 1]",
                             (double)f->layer_lr_decay);
    if (!(f->encoder_dropout >= 0.0f && f->encoder_dropout < 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "finetune.encoder_dropout: %g is outside [0, 1)",
                             (double)f->encoder_dropout);
    if (f->boundary_precision != LECTOR_PRECISION_FP32 && f->boundary_precision != LECTOR_PRECISION_BF16)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "finetune.boundary_precision: the frozen layers' states are kept as fp32 or bf16");
    if (f->batch_size < 1 || f->n_epochs < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "finetune.%s: must be at least 1",
                             f->batch_size < 1 ? "batch_size" : "n_epochs");
    return LECTOR_STATUS_OK;
}

// Token rows of f's texts (f->n_ids[i] of row i's max_len ids). malloc'd.
static struct lector_token_row *rows_of(const struct lector_features *f) {
    struct lector_token_row *r = lector__malloc((size_t)(f->n > 0 ? f->n : 1) * sizeof *r);
    for (int64_t i = 0; r && i < f->n; i++) r[i] = (struct lector_token_row){f->ids + i * f->max_len, f->n_ids[i]};
    return r;
}

struct progress {
    const struct lector_train_options *o;
    const struct lector__finetune_result *fr;
    int64_t n_train, n_rows; // training texts; training and validation texts
    double t0;
    json_t *hist;
};

static void emit(const struct lector_train_options *o, const struct lector_event *e) {
    if (o->on_event) o->on_event(o->user, e);
}

static void on_start(void *user) {
    struct progress *p = user;
    const struct lector__finetune_result *fr = p->fr;
    if (fr->cache_warning[0]) emit(p->o, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_FAILED, .message = fr->cache_warning});
    if (fr->n_cache_damaged) {
        char note[400];
        snprintf(note, sizeof note, "%s: %lld records failed their checksum: discarded, their texts' states are "
                 "computed again and the file is rewritten", fr->cache_path, (long long)fr->n_cache_damaged);
        emit(p->o, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_NOTE, .message = note});
    }
    if (fr->cache_path)
        emit(p->o, &(struct lector_event){.kind = LECTOR_EVENT_CACHE_HITS, .path = fr->cache_path,
                                          .count = fr->n_cached, .total = p->n_rows});
    emit(p->o, &(struct lector_event){.kind = LECTOR_EVENT_FROZEN, .count = p->n_train,
                                      .seconds = lector_now() - p->t0, .total = (int64_t)p->fr->boundary_bytes,
                                      .windows = p->fr->boundary_mapped});
}

static void on_epoch(void *user, int64_t epoch, double seconds, double acc, double f1, double loss,
                     double valid_loss) {
    struct progress *p = user;
    // the best epoch is chosen at the end (finetune.c: macro-F1, then loss)
    const struct lector_epoch_info e = {epoch, loss, -1.0, acc, f1, 0.0, 0};
    emit(p->o, &(struct lector_event){.kind = LECTOR_EVENT_EPOCH, .epoch = &e});
    (void)seconds, (void)valid_loss; // not in the model: the same seed gives the same bytes
    json_array_append_new(p->hist, json_pack("{s:I, s:f, s:f, s:f}", "epoch", (json_int_t)epoch, "train_loss",
                                             loss, "valid_accuracy", acc, "valid_macro_f1", f1));
}

// The trained layers' tensors in place of the encoder's.
static enum lector_status substitute(struct lector_encoder *enc, const struct lector__finetune_result *fr,
                                     struct lector_error *err) {
    const int64_t n = lector__enc_train_n_tensors(fr->tr);
    struct lector_tensor *t = lector__calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    if (!t) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    const float *params = lector__enc_train_params_const(fr->tr);
    for (int64_t i = 0; i < n; i++) {
        const struct lector__train_tensor *v = lector__enc_train_tensor(fr->tr, i);
        t[i] = (struct lector_tensor){LECTOR_DTYPE_F32, v->n_dims, {v->shape[0], v->n_dims > 1 ? v->shape[1] : 1, 1, 1},
                                      {v->n_dims > 1 ? v->shape[1] : 1, 1, 1, 1}, (void *)(params + v->offset),
                                      v->name};
    }
    enum lector_status s = lector__encoder_substitute(enc, t, n, err);
    lector_free(t);
    return s;
}

// The fine-tuning settings of o (with L the encoder's layers, fz's pooling) for the
// training corpus tr and its features f_tr, and the validation corpus va (or NULL) and f_va;
// use_ng: the n-gram weights train with the rest (features both); multi: sigmoid targets.
static struct lector__finetune_params finetune_params(const struct lector_train_options *o,
                                                     const struct lector_featurizer *fz, int64_t L,
                                                     const struct lector_corpus *tr,
                                                     const struct lector_features *f_tr,
                                                     const struct lector_corpus *va,
                                                     const struct lector_features *f_va,
                                                     bool use_ng, bool multi) {
    struct lector__finetune_params p = lector__finetune_default_params();
    p.n_unfreeze = o->unfreeze == LECTOR_UNFREEZE_ALL ? L : o->unfreeze;
    p.n_epochs = o->finetune.n_epochs;
    p.batch_size = o->finetune.batch_size;
    p.seed = o->head.seed;
    p.lr_head = o->finetune.lr_head;
    p.lr_encoder = o->finetune.lr_encoder;
    p.layer_lr_decay = o->finetune.layer_lr_decay;
    p.weight_decay = o->head.adamw.weight_decay;
    p.warmup = o->head.warmup;
    p.schedule = o->head.schedule;
    p.clip_norm = o->head.clip_norm;
    p.encoder_dropout = o->finetune.encoder_dropout;
    p.pooled_dropout = o->head.dropout;
    // an MLP head: its hidden units dropped at the same rate, as Hugging Face's classification
    // head drops its input and its hidden layer alike
    p.n_hidden = o->head.n_hidden;
    p.hidden_dropout = o->head.dropout;
    p.pooling = lector_featurizer_get_options(fz)->pooling;
    p.min_delta = o->head.min_delta;
    p.patience = o->head.patience;
    p.label_smoothing = o->head.label_smoothing;
    p.memory_budget = (size_t)o->finetune.memory_budget;
    const int64_t n_va = va ? va->n : 0;
    p.sp_train = use_ng ? &f_tr->sp : NULL;
    p.sp_valid = use_ng && n_va ? &f_va->sp : NULL;
    p.adamw_sparse = o->head.adamw_sparse;
    p.Y_train = multi ? tr->Y : NULL;
    p.Y_valid = multi && n_va ? va->Y : NULL;
    p.boundary_precision = o->finetune.boundary_precision;
    p.cache_dir = o->featurizer.cache_dir;
    p.cache_max_size = o->featurizer.cache_max_size;
    return p;
}

// The validation vectors of va (K labels, multi-label or not) through the encoder as the
// classifier runs it (the tuned layers substituted), beside the same n-gram rows of f_va
// (whose dense part is computed again): the temperature (the thresholds for multi-label) of
// res are those of the saved model, as the report is.
static enum lector_status valid_scores(const struct lector_train_options *o,
                                       struct lector_featurizer *fz, const struct lector_corpus *va,
                                       struct lector_features *f_va, int64_t K, bool multi,
                                       bool use_ng, struct lector_train_result *res,
                                       struct lector_error *err) {
    const int64_t n_va = va->n;
    const struct lector_sparse_rows sp = f_va->sp;
    memset(&f_va->sp, 0, sizeof f_va->sp);
    lector_features_free(f_va);
    enum lector_status s = lector_featurize(fz, va, 1, f_va, err);
    f_va->sp = sp;
    if (s != LECTOR_STATUS_OK) return s;
    float *logits = lector__malloc((size_t)(n_va * K) * sizeof *logits);
    float *probs = multi ? lector__malloc((size_t)(n_va * K) * sizeof *probs) : NULL;
    if (!logits || (multi && !probs)) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
        goto out;
    }
    s = lector_head_forward(res->head, f_va->X, use_ng ? &f_va->sp : NULL, n_va, logits, err);
    if (s != LECTOR_STATUS_OK) goto out;
    if (multi) {
        lector__sigmoid(logits, n_va * K, probs);
        lector__tune_thresholds(va->Y, probs, n_va, K, res->thresholds);
    } else if (o->head.calibrate) {
        res->temperature = lector_fit_temperature(logits, va->y, n_va, K);
    }
out:
    lector_free(logits);
    lector_free(probs);
    return s;
}

enum lector_status lector__train_unfrozen(const struct lector_train_options *o, struct lector_featurizer *fz,
                                          const struct lector_corpus *tr, const struct lector_features *f_tr,
                                          const struct lector_corpus *va, struct lector_features *f_va,
                                          struct lector_train_result *res, struct lector_error *err) {
    memset(res, 0, sizeof *res);
    struct lector_encoder *enc = (struct lector_encoder *)lector_featurizer_encoder(fz); // ours to change
    const int64_t L = enc->n_layer_run, K = tr->n_labels, n_va = va ? va->n : 0;
    if (o->unfreeze > L)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "unfreeze: %lld layers, but the encoder has %lld",
                             (long long)o->unfreeze, (long long)L);
    const bool use_ng = (o->features & LECTOR_FEATURES_NGRAMS) != 0, multi = tr->multi_label != 0;
    struct lector__finetune_params p = finetune_params(o, fz, L, tr, f_tr, va, f_va, use_ng, multi);
    struct lector__finetune_result fr = {0};
    struct progress pr = {o, &fr, tr->n, tr->n + n_va, lector_now(), json_array()};
    p.on_start = on_start;
    p.on_epoch = on_epoch;
    p.user = &pr;
    p.cancel = o->cancel;

    struct lector_token_row *rows = rows_of(f_tr), *vrows = n_va ? rows_of(f_va) : NULL;
    // class weights as the frozen head's (single-label only)
    const bool weighted = o->head.class_weight_balanced && !multi;
    float *cw = weighted ? lector__malloc((size_t)K * sizeof *cw) : NULL;
    enum lector_status s;
    if (!pr.hist || !rows || (n_va && !vrows) || (weighted && !cw)) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
        goto out;
    }
    if (weighted) lector__class_weights_balanced(tr->y, tr->n, K, cw);
    p.class_weights = cw;
    const double t0 = lector_now();
    s = lector__finetune(enc, rows, tr->y, tr->n, vrows, n_va ? va->y : NULL, n_va, K, &p, &fr, err);
    if (s != LECTOR_STATUS_OK) goto out;
    if (o->cancel && *o->cancel) {
        s = lector__error(err, LECTOR_STATUS_INTERRUPTED, "interrupted");
        goto out;
    }
    if ((s = substitute(enc, &fr, err)) != LECTOR_STATUS_OK) goto out;
    res->head = fr.head;
    fr.head = NULL;
    res->best_epoch = fr.best_epoch;
    res->n_epochs_run = fr.n_epochs_run;
    res->temperature = 1.0f;
    res->valid_accuracy = res->valid_macro_f1 = -1.0;
    if (multi && !(res->thresholds = lector__malloc((size_t)K * sizeof *res->thresholds))) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
        goto out;
    }
    for (int64_t k = 0; multi && k < K; k++) res->thresholds[k] = 0.5f;
    if (n_va > 0) {
        s = valid_scores(o, fz, va, f_va, K, multi, use_ng, res, err);
        if (s != LECTOR_STATUS_OK) goto out;
        res->valid_accuracy = fr.valid_accuracy;
        res->valid_macro_f1 = fr.valid_macro_f1;
    }
    res->history = json_dumps(pr.hist, JSON_COMPACT | JSON_REAL_PRECISION(6));
    emit(o, &(struct lector_event){.kind = LECTOR_EVENT_TRAINED, .seconds = lector_now() - t0, .result = res});
out:
    if (s != LECTOR_STATUS_OK) lector_train_result_free(res);
    lector__finetune_result_free(&fr);
    json_decref(pr.hist);
    lector_free(cw);
    lector_free(vrows);
    lector_free(rows);
    return s;
}

// Autotune's search over the head's settings: which trial comes next, which is best, and the
// settings' text form. lector_train (train_run.c) trains the trials.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "lector/train.h"
#include "task/task_impl.h"

// ---- the settings ---------------------------------------------------------------------------

enum knob {
    KNOB_FEATURES,
    KNOB_WEIGHTING,
    KNOB_BOUNDARIES,
    KNOB_LR_NGRAMS,
    KNOB_EPOCHS,
    KNOB_LR,
    KNOB_WORD_ORDER,
    KNOB_CHARS, // char_min * 10 + char_max
    KNOB_HIDDEN,
    KNOB_WD_NGRAMS,
    KNOB_WD,
};

// The search order (documented in lector/train.h): the settings that moved validation most in
// the accuracy grids first, the costly ones (an MLP trains for many times longer) last, so a
// short budget still covers what matters most.
static const struct stage {
    enum knob knob;
    int needs; // features the setting applies to (0: any)
    int n;
    double v[4];
} stages[] = {
    {KNOB_FEATURES, 0, 3, {LECTOR_FEATURES_NGRAMS, LECTOR_FEATURES_BOTH, LECTOR_FEATURES_ENCODER}},
    {KNOB_WEIGHTING, LECTOR_FEATURES_NGRAMS, 3, {LECTOR_NGRAM_IDF_NB, LECTOR_NGRAM_NB, LECTOR_NGRAM_IDF}},
    {KNOB_LR_NGRAMS, LECTOR_FEATURES_NGRAMS, 4, {0.01, 0.03, 0.1, 0.3}},
    {KNOB_BOUNDARIES, LECTOR_FEATURES_NGRAMS, 2, {0, 1}},
    {KNOB_EPOCHS, 0, 3, {5, 10, 20}},
    {KNOB_LR, LECTOR_FEATURES_ENCODER, 4, {0.0003, 0.001, 0.003, 0.01}},
    {KNOB_WD_NGRAMS, LECTOR_FEATURES_NGRAMS, 3, {0, 0.01, 0.1}},
    {KNOB_WORD_ORDER, LECTOR_FEATURES_NGRAMS, 3, {1, 2, 3}},
    {KNOB_CHARS, LECTOR_FEATURES_NGRAMS, 2, {0, 24}},
    {KNOB_WD, LECTOR_FEATURES_ENCODER, 3, {0, 0.01, 0.1}},
    {KNOB_HIDDEN, LECTOR_FEATURES_ENCODER, 2, {0, 256}},
};
#define N_STAGES ((int)(sizeof stages / sizeof stages[0]))
#define MAX_PASSES 3

static void set_knob(struct lector_autotune_settings *s, enum knob k, double v) {
    switch (k) {
    case KNOB_FEATURES:
        s->features = (enum lector_feature_set)(int)v;
        if (!(s->features & LECTOR_FEATURES_ENCODER)) s->n_hidden = 0; // an MLP needs the encoder
        break;
    case KNOB_WEIGHTING: s->weighting = (int32_t)v; break;
    case KNOB_BOUNDARIES: s->boundaries = (int32_t)v; break;
    case KNOB_LR_NGRAMS: s->lr_ngrams = (float)v; break;
    case KNOB_EPOCHS: s->n_epochs = (int64_t)v; break;
    case KNOB_LR: s->lr = (float)v; break;
    case KNOB_WORD_ORDER: s->word_order = (int32_t)v; break;
    case KNOB_CHARS:
        s->char_min = (int32_t)v / 10;
        s->char_max = (int32_t)v % 10;
        break;
    case KNOB_HIDDEN: s->n_hidden = (int64_t)v; break;
    case KNOB_WD_NGRAMS: s->weight_decay_ngrams = (float)v; break;
    case KNOB_WD: s->weight_decay = (float)v; break;
    }
}

int lector_autotune_settings_format(const struct lector_autotune_settings *s, char *buf, size_t cap) {
    const char *f = s->features == LECTOR_FEATURES_NGRAMS ? "ngrams" : s->features == LECTOR_FEATURES_ENCODER
                                                                           ? "encoder" : "both";
    char dense[160] = "", ngrams[256] = "", chars[32] = "none";
    if (s->features & LECTOR_FEATURES_ENCODER)
        snprintf(dense, sizeof dense, " lr=%g weight_decay=%g hidden=%lld", (double)s->lr, (double)s->weight_decay,
                 (long long)s->n_hidden);
    if (s->char_min > 0) snprintf(chars, sizeof chars, "%d-%d", (int)s->char_min, (int)s->char_max);
    if (s->features & LECTOR_FEATURES_NGRAMS) {
        const char *w = lector_ngram_weighting_name(s->weighting);
        snprintf(ngrams, sizeof ngrams,
                 " lr_ngrams=%g weight_decay_ngrams=%g ngram_order=%d char_ngrams=%s ngram_boundaries=%d "
                 "ngram_weighting=%s",
                 (double)s->lr_ngrams, (double)s->weight_decay_ngrams, (int)s->word_order, chars, (int)s->boundaries,
                 w ? w : "?");
    }
    return snprintf(buf, cap, "features=%s epochs=%lld%s%s", f, (long long)s->n_epochs, dense, ngrams);
}

void lector__autotune_settings_get(const struct lector_train_options *o, struct lector_autotune_settings *s) {
    *s = (struct lector_autotune_settings){
        .features = o->features,
        .n_epochs = o->head.n_epochs,
        .lr = o->head.adamw.lr,
        .weight_decay = o->head.adamw.weight_decay,
        .lr_ngrams = o->head.adamw_sparse.lr,
        .weight_decay_ngrams = o->head.adamw_sparse.weight_decay,
        .n_hidden = o->head.n_hidden,
        .word_order = o->ngrams.word_order,
        .char_min = o->ngrams.char_min,
        .char_max = o->ngrams.char_max,
        .boundaries = o->ngrams.boundaries,
        .weighting = o->ngrams.weighting,
    };
}

void lector__autotune_settings_apply(const struct lector_autotune_settings *s, struct lector_train_options *o) {
    o->features = s->features;
    o->head.n_epochs = s->n_epochs;
    o->head.adamw.lr = s->lr;
    o->head.adamw.weight_decay = s->weight_decay;
    o->head.adamw_sparse.lr = s->lr_ngrams;
    o->head.adamw_sparse.weight_decay = s->weight_decay_ngrams;
    o->head.n_hidden = s->n_hidden;
    o->ngrams.word_order = s->word_order;
    o->ngrams.char_min = s->char_min;
    o->ngrams.char_max = s->char_max;
    o->ngrams.boundaries = s->boundaries;
    o->ngrams.weighting = s->weighting;
}

// ---- the search -----------------------------------------------------------------------------

struct tried {
    char key[512]; // the settings' text form: settings that do not apply do not count
};

struct lector__autotune {
    struct lector_autotune_settings best;
    double best_f1, best_loss, top_f1;
    float min_delta;
    int allowed;   // the features the options allow
    int stage, value, pass, changed, started, have_best;
    struct tried *tried;
    int64_t n_tried, cap;
};

struct lector__autotune *lector__autotune_new(const struct lector_train_options *o) {
    struct lector__autotune *a = lector__calloc(1, sizeof *a);
    if (!a) return NULL;
    lector__autotune_settings_get(o, &a->best);
    a->allowed = o->features;
    a->min_delta = o->head.min_delta;
    a->best_f1 = a->top_f1 = -1.0;
    return a;
}

void lector__autotune_free(struct lector__autotune *a) {
    if (!a) return;
    free(a->tried);
    free(a);
}

static bool was_tried(const struct lector__autotune *a, const char *key) {
    for (int64_t i = 0; i < a->n_tried; i++)
        if (!strcmp(a->tried[i].key, key)) return true;
    return false;
}

bool lector__autotune_next(struct lector__autotune *a, struct lector_autotune_settings *out) {
    if (!a->started) {
        a->started = 1;
        *out = a->best;
        return true;
    }
    for (;;) {
        if (a->stage == N_STAGES) {
            if (!a->changed || a->pass + 1 >= MAX_PASSES) return false;
            a->pass++;
            a->stage = a->value = a->changed = 0;
        }
        const struct stage *st = &stages[a->stage];
        if ((st->needs && !(a->best.features & st->needs)) || a->value >= st->n) {
            a->stage++;
            a->value = 0;
            continue;
        }
        const double v = st->v[a->value++];
        if (st->knob == KNOB_FEATURES && ((int)v & ~a->allowed)) continue;
        struct lector_autotune_settings c = a->best;
        set_knob(&c, st->knob, v);
        char key[sizeof a->tried[0].key];
        lector_autotune_settings_format(&c, key, sizeof key);
        if (was_tried(a, key)) continue;
        *out = c;
        return true;
    }
}

// The rule lector_train_head applies to epochs: better by more than min_delta, or within
// min_delta of both the best and the highest seen and a lower log-loss (when there is one).
bool lector__autotune_report(struct lector__autotune *a, const struct lector_autotune_settings *s, double f1,
                             double log_loss) {
    if (a->n_tried == a->cap) {
        const int64_t cap = a->cap ? 2 * a->cap : 32;
        struct tried *t = realloc(a->tried, (size_t)cap * sizeof *t);
        if (!t) return false; // only memoisation is lost: a setting may be tried again
        a->tried = t;
        a->cap = cap;
    }
    lector_autotune_settings_format(s, a->tried[a->n_tried++].key, sizeof a->tried[0].key);
    if (f1 < 0) return false; // failed
    if (f1 > a->top_f1) a->top_f1 = f1;
    const double d = (double)a->min_delta;
    const bool better = !a->have_best || f1 > a->best_f1 + d ||
                        (f1 >= a->best_f1 - d && f1 >= a->top_f1 - d && log_loss >= 0 && log_loss < a->best_loss);
    if (!better) return false;
    if (a->have_best) a->changed = 1;
    a->have_best = 1;
    a->best = *s;
    a->best_f1 = f1;
    a->best_loss = log_loss;
    return true;
}

char *lector__autotune_json(const struct lector_autotune_trial *best, int64_t n_trials, int64_t folds,
                            const char *ended) {
    char settings[512];
    lector_autotune_settings_format(&best->settings, settings, sizeof settings);
    // No times: the same search gives the same model file.
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:s}", "settings", settings, "trial", (json_int_t)best->index,
                          "trials", (json_int_t)n_trials, "valid_macro_f1", best->valid_macro_f1, "valid_log_loss",
                          best->valid_log_loss, "ended", ended);
    // Cross-validated figures say so; one split's record is as before.
    if (o && folds > 1 && json_object_set_new(o, "folds", json_integer((json_int_t)folds))) {
        json_decref(o);
        o = NULL;
    }
    char *js = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    return js;
}

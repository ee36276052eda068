// A classifier scored on a labelled CSV file: corpus in the model's label space, features,
// probabilities, metrics.
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "lector/eval.h"
#include "lector/train.h"

void lector_eval_options_init(struct lector_eval_options *o) {
    memset(o, 0, sizeof *o);
    lector_corpus_options_init(&o->corpus);
    lector_featurizer_options_init(&o->featurizer);
}

void lector_eval_report_free(struct lector_eval_report *r) {
    if (!r) return;
    lector_metrics_free(&r->metrics);
    for (int64_t k = 0; k < r->n_labels && r->labels; k++) lector_free(r->labels[k]);
    lector_free(r->labels);
    lector_free(r->probs);
    lector_free(r->y);
    lector_free(r->history_json);
    memset(r, 0, sizeof *r);
}

enum lector_status lector_evaluate(const struct lector_classifier *clf, const char *path,
                                   const struct lector_eval_options *o, struct lector_eval_report *rep,
                                   struct lector_error *err) {
    memset(rep, 0, sizeof *rep);
    struct lector_eval_options def;
    if (!o) {
        lector_eval_options_init(&def);
        o = &def;
    }
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    const int64_t K = lector_classifier_n_labels(clf);
    struct lector_featurizer *fz = NULL;
    struct lector_corpus *c = NULL;
    struct lector_features f = {0};
    const char **space = lector__malloc((size_t)K * sizeof *space);
    if (!space) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    for (int64_t k = 0; k < K; k++) space[k] = lector_classifier_label(clf, k);
    struct lector_corpus_options co = o->corpus;
    co.multi_label = info->multi_label;
    struct lector_featurizer_options fo = o->featurizer;
    fo.on_event = o->on_event;
    fo.user = o->user;
    fo.cancel = o->cancel;
    enum lector_status s = lector_featurizer_for_classifier(clf, &fo, &fz, err);
    if (s != LECTOR_STATUS_OK) goto out;
    if ((s = lector_corpus_read_csv(path, &co, space, K, &c, err)) != LECTOR_STATUS_OK ||
        (s = lector_featurize(fz, c, !info->no_encoder, &f, err)) != LECTOR_STATUS_OK ||
        (lector_classifier_ngrams(clf) &&
         (s = lector_features_add_ngrams(&f, c, lector_classifier_ngrams(clf), err)) != LECTOR_STATUS_OK))
        goto out;
    rep->n = c->n;
    rep->n_labels = K;
    rep->multi_label = info->multi_label;
    rep->labels = lector__calloc((size_t)K, sizeof *rep->labels);
    rep->probs = lector__malloc((size_t)(c->n ? c->n : 1) * (size_t)K * sizeof *rep->probs);
    if (!info->multi_label) rep->y = lector__malloc((size_t)c->n * sizeof *rep->y);
    const char *hist = info->history_json;
    if (hist) rep->history_json = lector__strdup(hist);
    bool ok = rep->labels && rep->probs && (info->multi_label || rep->y) && (!hist || rep->history_json);
    for (int64_t k = 0; ok && k < K; k++) ok = (rep->labels[k] = lector__strdup(space[k])) != NULL;
    if (!ok) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((s = lector_classifier_probs(clf, f.X, &f.sp, f.n, rep->probs, err)) != LECTOR_STATUS_OK) goto out;
    if (info->multi_label) {
        s = lector_metrics_compute_multi(c->Y, rep->probs, info->thresholds, c->n, K, &rep->metrics, err);
    } else {
        memcpy(rep->y, c->y, (size_t)c->n * sizeof *rep->y);
        s = lector_metrics_compute_probs(c->y, rep->probs, c->n, K, &rep->metrics, err);
    }
out:
    if (s != LECTOR_STATUS_OK) lector_eval_report_free(rep);
    lector_features_free(&f);
    lector_corpus_free(c);
    lector_featurizer_close(fz);
    lector_free(space);
    return s;
}

// lector_train with autotune: the search picks by validation (one split, or cross-validation
// over stratified, disjoint folds), the model records the chosen trial's settings and equals
// a plain training with them, the search is reproducible, and bad autotune options are
// refused; on a tiny random encoder (no timed assertions: the searches here are bounded by
// their trial count).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/eval.h"
#include "lector/train.h"
#include "testutil.h"
#include "tinyenc.h"

// Two classes told apart by their words alone (the tiny encoder's vectors are noise).
static char *write_corpus(const char *dir, const char *name, int n, int offset) {
    size_t cap = 64 + (size_t)n * 64, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s, cap, "text,label\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s %s item %d,%s\n", i % 2 ? "splendid" : "dreadful",
                                i % 2 ? "lovely" : "awful", i + offset, i % 2 ? "pos" : "neg");
    char *path = test_write_file(dir, name, s, len);
    free(s);
    return path;
}

#define MAX_SEEN 64
struct seen {
    int n_trials, n_autotuned, n_epochs;
    struct lector_autotune_trial trials[MAX_SEEN];
    struct lector_autotune_trial chosen;
    char ended[64];
};
static void on_event(void *user, const struct lector_event *e) {
    struct seen *s = user;
    if (e->kind == LECTOR_EVENT_EPOCH) s->n_epochs++;
    if (e->kind == LECTOR_EVENT_TRIAL && s->n_trials < MAX_SEEN) {
        s->trials[s->n_trials] = *e->trial;
        s->trials[s->n_trials++].message = NULL;
    }
    if (e->kind == LECTOR_EVENT_AUTOTUNED) {
        s->n_autotuned++;
        s->chosen = *e->trial;
        snprintf(s->ended, sizeof s->ended, "%s", e->message);
    }
}

static void options(struct lector_train_options *o, const char *dir, const char *train, const char *valid) {
    lector_train_options_init(o);
    o->encoder_dir = dir;
    o->train_path = train;
    o->valid_path = valid;
    o->head.n_epochs = 3;
}

// The probabilities clf gives on the CSV at path.
static float *probs_of(const struct lector_classifier *clf, const char *path, int64_t *n) {
    struct lector_eval_report r;
    struct lector_error err;
    assert_int_equal(lector_evaluate(clf, path, NULL, &r, &err), LECTOR_STATUS_OK);
    float *p = malloc((size_t)(r.n * r.n_labels) * sizeof *p);
    memcpy(p, r.probs, (size_t)(r.n * r.n_labels) * sizeof *p);
    *n = r.n * r.n_labels;
    lector_eval_report_free(&r);
    return p;
}

// The settings of a trial as the options of a plain training.
static void apply_settings(struct lector_train_options *p, const struct lector_autotune_settings *s) {
    p->features = s->features;
    p->head.n_epochs = s->n_epochs;
    p->head.adamw.lr = s->lr;
    p->head.adamw.weight_decay = s->weight_decay;
    p->head.adamw_sparse.lr = s->lr_ngrams;
    p->head.adamw_sparse.weight_decay = s->weight_decay_ngrams;
    p->head.n_hidden = s->n_hidden;
    p->ngrams.word_order = s->word_order;
    p->ngrams.char_min = s->char_min;
    p->ngrams.char_max = s->char_max;
    p->ngrams.boundaries = s->boundaries;
    p->ngrams.weighting = s->weighting;
}

// A plain training with p (no search) gives clf's probabilities on the CSV at valid.
static void same_as_plain(const struct lector_classifier *clf, const struct lector_train_options *p,
                          const char *valid) {
    struct lector_classifier *plain = NULL;
    struct lector_error err;
    assert_int_equal(lector_train(p, &plain, NULL, &err), LECTOR_STATUS_OK);
    assert_null(lector_classifier_get_info(plain)->autotune_json);
    int64_t na = 0, nb = 0;
    float *pa = probs_of(clf, valid, &na), *pb = probs_of(plain, valid, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, (size_t)na * sizeof *pa);
    free(pa);
    free(pb);
    lector_classifier_close(plain);
}

// The search of o run again gives the trials of seen and the record rec.
static void search_again(struct lector_train_options *o, const struct seen *seen, const char *rec) {
    struct seen again = {0};
    void *user = o->user;
    o->user = &again;
    struct lector_classifier *clf = NULL;
    struct lector_error err;
    assert_int_equal(lector_train(o, &clf, NULL, &err), LECTOR_STATUS_OK);
    o->user = user;
    assert_int_equal(again.n_trials, seen->n_trials);
    for (int i = 0; i < seen->n_trials; i++) {
        assert_memory_equal(&again.trials[i].settings, &seen->trials[i].settings, sizeof seen->trials[i].settings);
        assert_true(again.trials[i].valid_macro_f1 == seen->trials[i].valid_macro_f1);
        assert_true(again.trials[i].valid_log_loss == seen->trials[i].valid_log_loss);
    }
    assert_string_equal(lector_classifier_get_info(clf)->autotune_json, rec);
    lector_classifier_close(clf);
}

// A search of 9 trials (o, reported to seen) in a new folder (returned) with a tiny encoder
// of the seed enc_seed and corpora of n_train and n_valid rows (*train, *valid). Its start's
// weights cannot move: every trial until the n-gram learning rate changes is near chance, and
// one with a usable rate separates the words.
static char *search_setup(struct lector_train_options *o, struct seen *seen, int enc_seed,
                          int n_train, int n_valid, char **train, char **valid) {
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, enc_seed), 0);
    *train = write_corpus(dir, "train.csv", n_train, 0);
    *valid = write_corpus(dir, "valid.csv", n_valid, 500);
    options(o, dir, *train, *valid);
    o->head.adamw_sparse.lr = 1e-7f;
    o->head.adamw.lr = 1e-7f;
    o->autotune.enabled = 1;
    o->autotune.max_trials = 9;
    o->on_event = on_event;
    o->user = seen;
    return dir;
}

static void test_autotune_picks_by_validation(void **state) {
    (void)state;
    struct lector_error err;
    struct lector_train_options o;
    struct seen seen = {0};
    char *train, *valid, *dir = search_setup(&o, &seen, 7, 80, 40, &train, &valid);
    o.autotune.budget = 1e6;
    o.autotune.folds = 1; // scored on the validation rows
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    assert_int_equal(lector_train(&o, &clf, &rep, &err), LECTOR_STATUS_OK);
    assert_int_equal(seen.n_trials, 9);
    assert_int_equal(seen.n_autotuned, 1);
    assert_int_equal(seen.n_epochs, 0); // a trial's epochs are not reported
    assert_string_equal(seen.ended, "trial limit");
    // the first trial is the start; the order is the documented one
    assert_true(seen.trials[0].settings.lr_ngrams == 1e-7f);
    assert_int_equal(seen.trials[0].settings.features, LECTOR_FEATURES_BOTH);
    assert_int_equal(seen.trials[1].settings.features, LECTOR_FEATURES_NGRAMS);
    assert_true(seen.trials[0].valid_macro_f1 < 0.8);
    // the chosen trial is the best on validation, and it is one with a usable n-gram rate
    const struct lector_autotune_trial *c = &seen.chosen;
    assert_true(c->index >= 1 && c->index <= 9);
    assert_true(c->settings.lr_ngrams >= 0.01f);
    assert_true(c->valid_macro_f1 > 0.95);
    for (int i = 0; i < seen.n_trials; i++) {
        assert_true(seen.trials[i].valid_macro_f1 <= c->valid_macro_f1 + (double)o.head.min_delta);
        assert_int_equal(seen.trials[i].folds, 1);
    }
    assert_memory_equal(&seen.trials[c->index - 1].settings, &c->settings, sizeof c->settings);
    // the validation report is the chosen trial's
    assert_true(rep.metrics.macro_f1 == c->valid_macro_f1);
    lector_eval_report_free(&rep);

    // the model records the chosen settings, in the text form the trials were printed in
    char want[512], key[600];
    lector_autotune_settings_format(&c->settings, want, sizeof want);
    snprintf(key, sizeof key, "\"settings\":\"%s\"", want);
    const char *rec = lector_classifier_get_info(clf)->autotune_json;
    assert_non_null(rec);
    assert_non_null(strstr(rec, key));
    assert_non_null(strstr(rec, "\"trials\":9"));
    assert_null(strstr(rec, "folds")); // one split's record is as it was
    char model[4200];
    snprintf(model, sizeof model, "%s/m.lector", dir);
    assert_int_equal(lector_classifier_save(clf, model, &err), LECTOR_STATUS_OK);
    struct lector_classifier *loaded = NULL;
    assert_int_equal(lector_classifier_open(model, NULL, NULL, &loaded, &err), LECTOR_STATUS_OK);
    assert_string_equal(lector_classifier_get_info(loaded)->autotune_json, rec);
    lector_classifier_close(loaded);

    // trained plainly with those settings, the head is the same: the same probabilities
    struct lector_train_options p;
    options(&p, dir, train, valid);
    p.head.adamw_sparse.lr = 1e-7f;
    p.head.adamw.lr = 1e-7f;
    apply_settings(&p, &c->settings);
    same_as_plain(clf, &p, valid);

    // the same search again: the same trials, choice and record
    search_again(&o, &seen, rec);
    lector_classifier_close(clf);
    free(train);
    free(valid);
    test_rmtree(dir);
    free(dir);
}

static void test_autotune_search_space(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 8), 0);
    char *train = write_corpus(dir, "train.csv", 40, 0);
    struct lector_error err;
    struct lector_train_options o;
    options(&o, dir, train, NULL);
    // n-grams alone allow no other features and no dense settings; a held-out share validates
    o.features = LECTOR_FEATURES_NGRAMS;
    o.autotune.enabled = 1;
    o.autotune.max_trials = 12;
    struct seen seen = {0};
    o.on_event = on_event;
    o.user = &seen;
    struct lector_classifier *clf = NULL;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_OK);
    assert_int_equal(seen.n_trials, 12);
    char text[512];
    for (int i = 0; i < seen.n_trials; i++) {
        assert_int_equal(seen.trials[i].settings.features, LECTOR_FEATURES_NGRAMS);
        lector_autotune_settings_format(&seen.trials[i].settings, text, sizeof text);
        assert_null(strstr(text, " lr="));
        assert_null(strstr(text, "hidden="));
        assert_non_null(strstr(text, "ngram_weighting="));
        for (int j = 0; j < i; j++) { // no setting is trained twice
            char other[512];
            lector_autotune_settings_format(&seen.trials[j].settings, other, sizeof other);
            assert_string_not_equal(text, other);
        }
    }
    // the second trial is the first of the documented order that applies: nb weights
    assert_int_equal(seen.trials[1].settings.weighting, LECTOR_NGRAM_NB);
    lector_classifier_close(clf);

    // the text form of the settings
    const struct lector_autotune_settings st = {.features = LECTOR_FEATURES_BOTH, .n_epochs = 20, .lr = 0.001f,
                                                .weight_decay = 0.01f, .lr_ngrams = 0.1f,
                                                .weight_decay_ngrams = 0.0f, .n_hidden = 0, .word_order = 2,
                                                .char_min = 2, .char_max = 4, .boundaries = 1,
                                                .weighting = LECTOR_NGRAM_NB};
    const char *want = "features=both epochs=20 lr=0.001 weight_decay=0.01 hidden=0 lr_ngrams=0.1 "
                       "weight_decay_ngrams=0 ngram_order=2 char_ngrams=2-4 ngram_boundaries=1 ngram_weighting=nb";
    assert_int_equal(lector_autotune_settings_format(&st, text, sizeof text), (int)strlen(want));
    assert_string_equal(text, want);
    free(train);
    test_rmtree(dir);
    free(dir);
}

static void test_autotune_bad_options(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 9), 0);
    char *train = write_corpus(dir, "train.csv", 20, 0);
    struct lector_error err;
    struct lector_train_options o;
    options(&o, dir, train, NULL);
    // the defaults: off, five minutes, no trial limit
    assert_int_equal(o.autotune.enabled, 0);
    assert_true(o.autotune.budget == 300.0);
    assert_int_equal(o.autotune.max_trials, 0);
    assert_int_equal(o.autotune.folds, 0); // automatic
    o.autotune.enabled = 1;
    struct lector_classifier *clf = NULL;
    const double budgets[] = {0.0, -5.0, 0.0 / 0.0, 1e300};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        o.autotune.budget = budgets[i];
        assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
        assert_non_null(strstr(err.msg, "autotune.budget:"));
        assert_null(clf);
    }
    o.autotune.budget = 10.0;
    o.autotune.max_trials = -1;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "autotune.max_trials:"));
    o.autotune.max_trials = 0;
    const int64_t folds[] = {-1, LECTOR_AUTOTUNE_MAX_FOLDS + 1};
    for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++) {
        o.autotune.folds = folds[i];
        assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
        assert_non_null(strstr(err.msg, "autotune.folds:"));
        assert_null(clf);
    }
    o.autotune.folds = 0;
    // no validation rows to search on
    o.autotune.max_trials = 0;
    o.valid_fraction = 0.0f;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "autotune: the search needs validation rows"));
    assert_null(clf);
    free(train);
    test_rmtree(dir);
    free(dir);
}

// Folds: every row in exactly one fold, each class spread over the folds within one row, the
// folds' sizes within one, the same folds for the same seed; bad arguments refused.
static void test_split_folds(void **state) {
    (void)state;
    // 10 rows of class 0, 7 of class 1, 5 of class 2, interleaved
    int32_t y[22];
    const int64_t n = 22, K = 3, folds = 4, per_class[3] = {10, 7, 5};
    for (int64_t i = 0, c0 = 0, c1 = 0; i < n; i++) {
        if (c0 < 10 && (i % 2 == 0 || c1 >= 7 + 5)) y[i] = 0, c0++;
        else y[i] = (int32_t)(c1++ < 7 ? 1 : 2);
    }
    int64_t have[3] = {0};
    for (int64_t i = 0; i < n; i++) have[y[i]]++;
    for (int k = 0; k < 3; k++) assert_int_equal(have[k], per_class[k]);
    int32_t f[22], g[22], h[22];
    for (int64_t i = 0; i < n; i++) f[i] = g[i] = h[i] = -1;
    struct lector_error err;
    assert_int_equal(lector_split_folds(y, n, K, folds, 5, f, &err), LECTOR_STATUS_OK);
    int64_t size[4] = {0}, count[4][3] = {{0}};
    for (int64_t i = 0; i < n; i++) {
        assert_true(f[i] >= 0 && f[i] < folds); // each row in one fold: disjoint, and they cover all
        size[f[i]]++;
        count[f[i]][y[i]]++;
    }
    // 22 rows in 4 folds: 5 or 6 each; class k's rows: floor or ceil of per_class[k] / 4
    const int64_t lo[3] = {2, 1, 1}, hi[3] = {3, 2, 2};
    for (int64_t j = 0; j < folds; j++) {
        assert_true(size[j] == 5 || size[j] == 6);
        for (int k = 0; k < 3; k++) assert_true(count[j][k] >= lo[k] && count[j][k] <= hi[k]);
    }
    // the same seed deals the same folds; another seed others
    assert_int_equal(lector_split_folds(y, n, K, folds, 5, g, &err), LECTOR_STATUS_OK);
    assert_memory_equal(f, g, sizeof f);
    assert_int_equal(lector_split_folds(y, n, K, folds, 6, h, &err), LECTOR_STATUS_OK);
    assert_memory_not_equal(f, h, sizeof f);
    // as many folds as rows: one row each
    assert_int_equal(lector_split_folds(y, n, K, n, 5, g, &err), LECTOR_STATUS_OK);
    int64_t one[22] = {0};
    for (int64_t i = 0; i < n; i++) one[g[i]]++;
    for (int64_t j = 0; j < n; j++) assert_int_equal(one[j], 1);
    // bad arguments
    assert_int_equal(lector_split_folds(y, n, K, 1, 5, g, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "folds: 1 folds of 22 rows"));
    assert_int_equal(lector_split_folds(y, n, K, n + 1, 5, g, &err), LECTOR_STATUS_INVALID_ARG);
    y[3] = 3;
    assert_int_equal(lector_split_folds(y, n, K, folds, 5, g, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "row 3 has class 3, outside [0, 3)"));
}

// Cross-validated trials: chosen by the folds' mean, then trained on the training rows with
// the validation rows, as a plain training with the chosen settings is; reproducible; the
// automatic choice of folds follows the validation rows' count.
static void test_autotune_cross_validation(void **state) {
    (void)state;
    struct lector_error err;
    struct lector_train_options o;
    struct seen seen = {0};
    char *train, *valid, *dir = search_setup(&o, &seen, 10, 60, 20, &train, &valid);
    o.autotune.folds = 4;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    assert_int_equal(lector_train(&o, &clf, &rep, &err), LECTOR_STATUS_OK);
    assert_int_equal(seen.n_trials, 9);
    for (int i = 0; i < seen.n_trials; i++) assert_int_equal(seen.trials[i].folds, 4);
    const struct lector_autotune_trial *c = &seen.chosen;
    assert_int_equal(c->folds, 4);
    assert_true(c->settings.lr_ngrams >= 0.01f);
    assert_true(c->valid_macro_f1 > 0.95);
    // the report is the final head's on the 20 validation rows
    assert_int_equal(rep.n, 20);
    lector_eval_report_free(&rep);
    const char *rec = lector_classifier_get_info(clf)->autotune_json;
    assert_non_null(strstr(rec, "\"folds\":4"));
    assert_int_equal(lector_classifier_get_info(clf)->n_train, 60);

    // the same head as a plain training with the chosen settings
    struct lector_train_options p;
    options(&p, dir, train, valid);
    apply_settings(&p, &c->settings);
    same_as_plain(clf, &p, valid);

    // the same search again: the same trials and record
    search_again(&o, &seen, rec);
    lector_classifier_close(clf);
    struct seen again = {0};

    // automatic: 20 validation rows are fewer than 500, so 5 folds
    o.autotune.folds = 0;
    o.autotune.max_trials = 1;
    o.user = &again;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_OK);
    assert_int_equal(again.chosen.folds, 5);
    lector_classifier_close(clf);
    // more folds than rows
    o.autotune.folds = 20;
    char *tiny = write_corpus(dir, "tiny.csv", 12, 0);
    o.train_path = tiny;
    o.valid_path = NULL; // 12 rows: 11 to train on, 1 held out
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "autotune.folds: 20 folds need at least as many rows; there are 12"));
    assert_null(clf);
    free(tiny);
    free(train);
    free(valid);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autotune_picks_by_validation),
        cmocka_unit_test(test_autotune_search_space),
        cmocka_unit_test(test_autotune_bad_options),
        cmocka_unit_test(test_split_folds),
        cmocka_unit_test(test_autotune_cross_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

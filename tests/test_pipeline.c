// The training and evaluation API: labelled corpora (label space, multi-label, label columns,
// names files), featurisation, the pipeline and evaluation, on a tiny random encoder.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/eval.h"
#include "lector/train.h"
#include "testutil.h"
#include "tinyenc.h"

static struct lector_corpus *read_text(const char *dir, const char *csv, const struct lector_corpus_options *o,
                                       const char *const *space, int64_t K, enum lector_status want,
                                       struct lector_error *err) {
    char *path = test_write_file(dir, "data.csv", csv, strlen(csv));
    struct lector_corpus *c = NULL;
    assert_int_equal(lector_corpus_read_csv(path, o, space, K, &c, err), want);
    free(path);
    return c;
}

static void test_corpus_labels(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct lector_error err;
    struct lector_corpus_options o;
    lector_corpus_options_init(&o);
    // integers sort numerically, ids follow
    struct lector_corpus *c = read_text(dir, "text,label\na,10\nb,9\nc,10\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->n, 3);
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(c->labels[0], "9");
    assert_string_equal(c->labels[1], "10");
    assert_int_equal(c->y[0], 1);
    assert_int_equal(c->y[1], 0);
    assert_int_equal(c->lines[2], 4);
    assert_null(c->Y);
    // a subset keeps the label space and views the texts
    const int64_t idx[] = {2, 1};
    struct lector_corpus *sub = NULL;
    assert_int_equal(lector_corpus_subset(c, idx, 2, &sub, &err), LECTOR_STATUS_OK);
    assert_int_equal(sub->n_labels, 2);
    assert_string_equal(sub->texts[0], "c");
    assert_int_equal(sub->y[1], 0);
    lector_corpus_free(sub);
    lector_corpus_free(c);
    // a given label space: an unseen label names its line
    const char *space[] = {"neg", "pos"};
    c = read_text(dir, "text,label\na,pos\nb,happy\n", &o, space, 2, LECTOR_STATUS_FORMAT, &err);
    assert_null(c);
    assert_non_null(strstr(err.msg, "data.csv:3: label 'happy' was not seen in training"));
    assert_non_null(strstr(err.path, "data.csv"));
    assert_int_equal(err.line, 3);
    assert_int_equal(err.offset, -1);
    // an empty single label
    c = read_text(dir, "text,label\na,\n", &o, NULL, 0, LECTOR_STATUS_FORMAT, &err);
    assert_non_null(strstr(err.msg, "data.csv:2: empty label"));
    // no rows
    c = read_text(dir, "text,label\n", &o, NULL, 0, LECTOR_STATUS_FORMAT, &err);
    assert_non_null(strstr(err.msg, "no data rows"));
    // multi-label cells
    o.multi_label = 1;
    c = read_text(dir, "text,label\na,x|y\nb,\nc,y||z\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->n_labels, 3);
    static const uint8_t want[] = {1, 1, 0, 0, 0, 0, 0, 1, 1};
    assert_memory_equal(c->Y, want, sizeof want);
    lector_corpus_free(c);
    // one 0/1 column per label, and a space that does not match them
    o.label_column = "p,q";
    c = read_text(dir, "text,p,q\na,1,0\nb,yes,TRUE\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(c->labels[1], "q");
    static const uint8_t want2[] = {1, 0, 1, 1};
    assert_memory_equal(c->Y, want2, sizeof want2);
    lector_corpus_free(c);
    c = read_text(dir, "text,p,q\na,1,0\n", &o, space, 2, LECTOR_STATUS_FORMAT, &err);
    assert_non_null(strstr(err.msg, "do not match"));
    test_rmtree(dir);
    free(dir);
}

static void test_corpus_label_names(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct lector_error err;
    struct lector_corpus_options o;
    lector_corpus_options_init(&o);
    // labels.txt beside the CSV names integer class k by its line k (CRLF too)
    free(test_write_file(dir, "labels.txt", "negative\r\npositive\r\n", 20));
    struct lector_corpus *c = read_text(dir, "text,label\na,1\nb,0\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(c->labels[0], "negative");
    assert_string_equal(c->labels[1], "positive");
    assert_int_equal(c->y[0], 1);
    lector_corpus_free(c);
    // the order is the integers', not the names'
    free(test_write_file(dir, "labels.txt", "z\na\n", 4));
    c = read_text(dir, "text,label\na,1\nb,0\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_string_equal(c->labels[0], "z");
    assert_int_equal(c->y[1], 0);
    lector_corpus_free(c);
    // a label it does not name: labels.txt is ignored
    c = read_text(dir, "text,label\na,1\nb,2\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_string_equal(c->labels[1], "2");
    lector_corpus_free(c);
    // "" turns names off
    o.label_names = "";
    c = read_text(dir, "text,label\na,1\nb,0\n", &o, NULL, 0, LECTOR_STATUS_OK, &err);
    assert_string_equal(c->labels[1], "1");
    lector_corpus_free(c);
    // a given names file must name every label (an argument error: the file does not fit)
    char *names = test_write_file(dir, "names.txt", "n\np\n", 4);
    o.label_names = names;
    c = read_text(dir, "text,label\na,1\nb,2\n", &o, NULL, 0, LECTOR_STATUS_INVALID_ARG, &err);
    assert_non_null(strstr(err.msg, "label '2' has no name"));
    assert_string_equal(err.path, names);
    // a blank name, a missing file
    free(test_write_file(dir, "names.txt", "n\n\np\n", 5));
    c = read_text(dir, "text,label\na,1\n", &o, NULL, 0, LECTOR_STATUS_FORMAT, &err);
    assert_non_null(strstr(err.msg, "names.txt:2: empty label name"));
    assert_int_equal(err.line, 2);
    o.label_names = "no-such-names.txt";
    c = read_text(dir, "text,label\na,1\n", &o, NULL, 0, LECTOR_STATUS_NOT_FOUND, &err);
    // evaluation: a model's named space finds integer labels by name, or as written
    o.label_names = names;
    free(test_write_file(dir, "names.txt", "n\np\n", 4));
    const char *named[] = {"n", "p"}, *plain[] = {"0", "1"};
    c = read_text(dir, "text,label\na,1\n", &o, named, 2, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->y[0], 1);
    lector_corpus_free(c);
    c = read_text(dir, "text,label\na,1\n", &o, plain, 2, LECTOR_STATUS_OK, &err);
    assert_int_equal(c->y[0], 1);
    lector_corpus_free(c);
    free(names);
    test_rmtree(dir);
    free(dir);
}

// A small two-class corpus whose classes differ in their words.
static char *write_corpus(const char *dir, const char *name, int n, int offset) {
    size_t cap = 64 + (size_t)n * 64, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s, cap, "text,label\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s %s number %d,%d\n", i % 2 ? "good" : "bad",
                                i % 2 ? "fine nice" : "awful poor", i + offset, i % 2);
    char *path = test_write_file(dir, name, s, len);
    free(s);
    return path;
}

struct events {
    int n_epochs, n_encoded, n_held_out;
};
static void count_events(void *user, const struct lector_event *e) {
    struct events *ev = user;
    ev->n_epochs += e->kind == LECTOR_EVENT_EPOCH;
    ev->n_encoded += e->kind == LECTOR_EVENT_ENCODED;
    ev->n_held_out += e->kind == LECTOR_EVENT_HELD_OUT;
}

static void test_train_and_evaluate(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 3), 0);
    char *train = write_corpus(dir, "train.csv", 60, 0), *test = write_corpus(dir, "test.csv", 20, 1000);
    struct lector_error err;
    struct lector_train_options o;
    lector_train_options_init(&o);
    // the defaults the command line documents
    assert_int_equal(o.features, LECTOR_FEATURES_BOTH);
    assert_true(o.head.dropout == 0.1f);
    assert_int_equal(o.ngrams.weighting, LECTOR_NGRAM_IDF_NB);
    assert_true(o.valid_fraction == 0.1f);
    assert_int_equal(o.head.n_epochs, 10);
    o.encoder_dir = dir;
    o.train_path = train;
    o.head.n_epochs = 3;
    struct events ev = {0};
    o.on_event = count_events;
    o.user = &ev;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    assert_int_equal(lector_train(&o, &clf, &rep, &err), LECTOR_STATUS_OK);
    assert_int_equal(ev.n_epochs, 3);
    assert_int_equal(ev.n_encoded, 1);
    assert_int_equal(ev.n_held_out, 1);
    assert_int_equal(rep.n, 6); // 10% of 60, stratified
    assert_int_equal(rep.n_labels, 2);
    assert_int_equal(lector_classifier_n_labels(clf), 2);
    assert_int_equal(lector_classifier_get_info(clf)->n_train, 54);
    assert_non_null(lector_classifier_ngrams(clf));
    lector_eval_report_free(&rep);

    // saved and loaded, it scores the same as in memory
    char model[4200];
    snprintf(model, sizeof model, "%s/m.lector", dir);
    assert_int_equal(lector_classifier_save(clf, model, &err), LECTOR_STATUS_OK);
    struct lector_classifier *loaded = NULL;
    assert_int_equal(lector_classifier_open(model, NULL, NULL, &loaded, &err), LECTOR_STATUS_OK);
    struct lector_eval_report a, b;
    assert_int_equal(lector_evaluate(clf, test, NULL, &a, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_evaluate(loaded, test, NULL, &b, &err), LECTOR_STATUS_OK);
    assert_int_equal(a.n, 20);
    assert_memory_equal(a.probs, b.probs, sizeof(float) * 40);
    assert_true(a.metrics.accuracy == b.metrics.accuracy);
    assert_non_null(a.history_json);
    lector_eval_report_free(&a);
    lector_eval_report_free(&b);
    lector_classifier_close(loaded);
    lector_classifier_close(clf);

    // options the library refuses, naming the field
    lector_train_options_init(&o);
    o.encoder_dir = dir;
    o.train_path = train;
    o.featurizer.max_len = 100000;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "max_len:"));
    assert_null(clf);
    o.featurizer.max_len = 16;
    o.featurizer.stride = 20;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stride:"));
    o.featurizer.stride = -1;
    o.features = LECTOR_FEATURES_NGRAMS;
    o.head.n_hidden = 4;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "head.n_hidden:"));
    o.head.n_hidden = 0;
    o.unfreeze = 1; // n-grams alone: no encoder layers to tune
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "unfreeze: features ngrams"));
    o.features = LECTOR_FEATURES_BOTH;
    o.autotune.enabled = 1; // the search covers a frozen encoder's head only
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "autotune:"));
    o.autotune.enabled = 0;
    o.features = LECTOR_FEATURES_ENCODER;
    o.unfreeze = -2;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "unfreeze: -2"));
    o.unfreeze = 1;
    o.finetune.layer_lr_decay = 0.0f;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "finetune.layer_lr_decay"));
    o.finetune.layer_lr_decay = 1.0f;
    assert_null(clf);
    o.unfreeze = 0;
    // one class is refused before anything is encoded
    char *one = test_write_file(dir, "one.csv", "text,label\na,x\nb,x\n", 19);
    o.train_path = one;
    o.features = LECTOR_FEATURES_ENCODER;
    ev = (struct events){0};
    o.on_event = count_events;
    o.user = &ev;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "only one distinct label"));
    assert_int_equal(ev.n_encoded, 0);
    // so is a validation label the training file lacks
    char *bad = test_write_file(dir, "bad.csv", "text,label\na,7\n", 15);
    o.train_path = train;
    o.valid_path = bad;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "bad.csv:2: label '7'"));
    assert_int_equal(ev.n_encoded, 0);
    // invalid UTF-8 names its line in the file and its byte offset in the text
    char *utf = test_write_file(dir, "utf.csv", "text,label\nfine,0\nab\xff,1\n", 23);
    o.train_path = utf;
    o.valid_path = NULL;
    assert_int_equal(lector_train(&o, &clf, NULL, &err), LECTOR_STATUS_INVALID_UTF8);
    assert_non_null(strstr(err.msg, "utf.csv:3:"));
    assert_string_equal(err.path, utf);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.offset, 2);
    free(utf);
    free(bad);
    free(one);
    free(train);
    free(test);
    test_rmtree(dir);
    free(dir);
}

// Sets the cancel flag it is given at the first encoded chunk.
static void cancel_after_first_chunk(void *user, const struct lector_event *e) {
    if (e->kind == LECTOR_EVENT_ENCODING) *(volatile int *)user = 1;
}

// A new folder (returned) with a tiny encoder and a corpus of n rows, name, whose path goes to
// *corpus; cache_dir gets the path of a cache folder in it (not made).
static char *shard_folder(const char *name, int n, char **corpus, char cache_dir[4200]) {
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 4), 0);
    *corpus = write_corpus(dir, name, n, 0);
    snprintf(cache_dir, 4200, "%s/cache", dir);
    return dir;
}

// A shard interrupted after its first chunk of 512 texts counts the texts that reached the
// cache, and the next run starts from them.
static void test_featurize_shard_interrupted(void **state) {
    (void)state;
    char *big, cache_dir[4200];
    char *dir = shard_folder("big.csv", 600, &big, cache_dir);
    volatile int cancel = 0;
    struct lector_error err;
    struct lector_featurizer_options fo;
    lector_featurizer_options_init(&fo);
    fo.cache_dir = cache_dir;
    fo.on_event = cancel_after_first_chunk;
    fo.user = (void *)&cancel;
    fo.cancel = &cancel;
    struct lector_featurizer *fz = NULL;
    assert_int_equal(lector_featurizer_open(dir, &fo, &fz, &err), LECTOR_STATUS_OK);
    struct lector_shard_counts k;
    assert_int_equal(lector_featurize_shard(fz, big, "text", 0, 1, &k, &err), LECTOR_STATUS_INTERRUPTED);
    assert_int_equal(k.rows, 600);
    assert_int_equal(k.cached, 0);
    assert_int_equal(k.encoded, 512);
    lector_featurizer_close(fz);
    fo.on_event = NULL;
    cancel = 0;
    assert_int_equal(lector_featurizer_open(dir, &fo, &fz, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_featurize_shard(fz, big, "text", 0, 1, &k, &err), LECTOR_STATUS_OK);
    assert_int_equal(k.rows, 600);
    assert_int_equal(k.cached, 512);
    assert_int_equal(k.encoded, 88);
    lector_featurizer_close(fz);
    free(big);
    test_rmtree(dir);
    free(dir);
}

// A corpus featurised in shards fills the cache with the vectors a whole run computes.
static void test_featurize_shard(void **state) {
    (void)state;
    char *train, cache_dir[4200];
    char *dir = shard_folder("train.csv", 31, &train, cache_dir);
    struct lector_error err;
    struct lector_featurizer_options fo;
    lector_featurizer_options_init(&fo);
    struct lector_featurizer *plain = NULL, *fz = NULL;
    assert_int_equal(lector_featurizer_open(dir, &fo, &plain, &err), LECTOR_STATUS_OK);
    struct lector_shard_counts k;
    // no cache: nothing to fill
    assert_int_equal(lector_featurize_shard(plain, train, "text", 0, 1, &k, &err), LECTOR_STATUS_INVALID_ARG);
    fo.cache_dir = cache_dir;
    assert_int_equal(lector_featurizer_open(dir, &fo, &fz, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_featurize_shard(fz, train, "text", 2, 2, &k, &err), LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_featurize_shard(fz, train, "text", -1, 2, &k, &err), LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_featurize_shard(fz, train, "nope", 0, 2, &k, &err), LECTOR_STATUS_NOT_FOUND);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.csv", dir);
    assert_int_equal(lector_featurize_shard(fz, missing, "text", 0, 2, &k, &err), LECTOR_STATUS_NOT_FOUND);
    // rows 0, 2, ..., 30 then 1, 3, ..., 29; then the whole file is cached
    assert_int_equal(lector_featurize_shard(fz, train, "text", 0, 2, &k, &err), LECTOR_STATUS_OK);
    assert_int_equal(k.rows, 16);
    assert_int_equal(k.cached, 0);
    assert_int_equal(k.encoded, 16);
    assert_int_equal(k.windows, 16);
    assert_int_equal(lector_featurize_shard(fz, train, "text", 1, 2, &k, &err), LECTOR_STATUS_OK);
    assert_int_equal(k.rows, 15);
    assert_int_equal(k.encoded, 15);
    assert_int_equal(lector_featurize_shard(fz, train, "text", 0, 1, &k, &err), LECTOR_STATUS_OK);
    assert_int_equal(k.rows, 31);
    assert_int_equal(k.cached, 31);
    assert_int_equal(k.encoded, 0);
    // the cached vectors are those a featurizer without cache computes, bit for bit
    struct lector_corpus_options co;
    lector_corpus_options_init(&co);
    struct lector_corpus *c = NULL;
    assert_int_equal(lector_corpus_read_csv(train, &co, NULL, 0, &c, &err), LECTOR_STATUS_OK);
    struct lector_features f;
    assert_int_equal(lector_featurize(plain, c, 1, &f, &err), LECTOR_STATUS_OK);
    float v[32];
    assert_int_equal(f.C, 32);
    struct lector_feature_cache *cache = lector_featurizer_cache(fz);
    for (int64_t i = 0; i < c->n; i++) {
        assert_true(lector_feature_cache_get(cache, c->texts[i], c->lens[i], v));
        assert_memory_equal(v, f.X + i * f.C, sizeof v);
    }
    lector_features_free(&f);
    lector_corpus_free(c);
    lector_featurizer_close(fz);
    lector_featurizer_close(plain);
    free(train);
    test_rmtree(dir);
    free(dir);
}

static volatile int cancel_flag;
// ---- fine-tuning with n-grams and multi-label ------------------------------------------------

// The best epoch's validation accuracy as training computed it (from the frozen states).
static void keep_trained(void *user, const struct lector_event *e) {
    if (e->kind == LECTOR_EVENT_TRAINED) *(double *)user = e->result->valid_accuracy;
}

// Train with a tuned layer (features both), save, load: eval of the validation file gives the
// training run's report and the accuracy its best epoch had; the training set is learnt.
static void train_tuned(const char *dir, const char *train, const char *valid, int multi_label,
                        const char *model) {
    struct lector_error err;
    struct lector_train_options o;
    lector_train_options_init(&o);
    o.encoder_dir = dir;
    o.train_path = train;
    o.valid_path = valid;
    o.corpus.multi_label = multi_label;
    o.unfreeze = 1;
    o.features = LECTOR_FEATURES_BOTH;
    o.finetune.n_epochs = 4;
    o.finetune.lr_head = 3e-3f;
    double trained_acc = -1.0;
    o.on_event = keep_trained;
    o.user = &trained_acc;
    struct lector_classifier *clf = NULL, *loaded = NULL;
    struct lector_eval_report rep, ev, tr;
    if (lector_train(&o, &clf, &rep, &err) != LECTOR_STATUS_OK) fail_msg("train: %s", err.msg);
    assert_non_null(lector_classifier_ngrams(clf));
    assert_int_equal(lector_classifier_save(clf, model, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_classifier_open(model, NULL, NULL, &loaded, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_evaluate(loaded, valid, NULL, &ev, &err), LECTOR_STATUS_OK);
    assert_int_equal(ev.n, rep.n);
    assert_int_equal(ev.multi_label, multi_label);
    assert_memory_equal(ev.probs, rep.probs, (size_t)(ev.n * ev.n_labels) * sizeof *ev.probs);
    assert_true(ev.metrics.accuracy == rep.metrics.accuracy);
    assert_true(ev.metrics.macro_f1 == rep.metrics.macro_f1);
    printf("  %s: valid accuracy %.4f (training's best epoch %.4f), macro-F1 %.4f\n",
           multi_label ? "multi-label" : "single-label", ev.metrics.accuracy, trained_acc,
           ev.metrics.macro_f1);
    if (!multi_label) assert_true(fabs(ev.metrics.accuracy - trained_acc) < 1e-12);
    assert_int_equal(lector_evaluate(loaded, train, NULL, &tr, &err), LECTOR_STATUS_OK);
    printf("  training-set accuracy %.4f\n", tr.metrics.accuracy);
    assert_true(tr.metrics.accuracy >= 0.9);
    lector_eval_report_free(&tr);
    lector_eval_report_free(&ev);
    lector_eval_report_free(&rep);
    lector_classifier_close(loaded);
    lector_classifier_close(clf);
}

static void test_train_tuned_joint(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 3), 0);
    char *train = write_corpus(dir, "train.csv", 80, 0), *valid = write_corpus(dir, "valid.csv", 30, 500);
    char model[4200];
    snprintf(model, sizeof model, "%s/m.lector", dir);
    train_tuned(dir, train, valid, 0, model);
    // multi-label: label a with the words "good fine", label b with "three": both, a, b or none
    for (int f = 0; f < 2; f++) {
        char *text = malloc(64 * 1024);
        size_t len = (size_t)snprintf(text, 64, "text,label\n");
        for (int i = 0; i < (f ? 40 : 120); i++) {
            const int a = i % 2, b = (i / 2) % 2;
            len += (size_t)snprintf(text + len, 256, "%s %s number %d,%s\n", a ? "good fine" : "plain",
                                    b ? "three" : "words", i + 1000 * f, a && b ? "a|b" : a ? "a" : b ? "b" : "");
        }
        free(test_write_file(dir, f ? "mvalid.csv" : "mtrain.csv", text, len));
        free(text);
    }
    char mtrain[4200], mvalid[4200];
    snprintf(mtrain, sizeof mtrain, "%s/mtrain.csv", dir);
    snprintf(mvalid, sizeof mvalid, "%s/mvalid.csv", dir);
    train_tuned(dir, mtrain, mvalid, 1, model);
    free(train);
    free(valid);
    test_rmtree(dir);
    free(dir);
}

static void cancel_on_encode(void *user, const struct lector_event *e) {
    (void)user;
    if (e->kind == LECTOR_EVENT_EPOCH) cancel_flag = 1;
}

static void test_train_cancel(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 5), 0);
    char *train = write_corpus(dir, "train.csv", 40, 0);
    struct lector_train_options o;
    lector_train_options_init(&o);
    o.encoder_dir = dir;
    o.train_path = train;
    o.on_event = cancel_on_encode;
    o.cancel = &cancel_flag;
    cancel_flag = 0;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    struct lector_error err;
    assert_int_equal(lector_train(&o, &clf, &rep, &err), LECTOR_STATUS_INTERRUPTED);
    assert_null(clf);
    assert_int_equal(rep.n, 0);
    free(train);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_labels),
        cmocka_unit_test(test_corpus_label_names),
        cmocka_unit_test(test_train_and_evaluate),
        cmocka_unit_test(test_train_cancel),
        cmocka_unit_test(test_train_tuned_joint),
        cmocka_unit_test(test_featurize_shard),
        cmocka_unit_test(test_featurize_shard_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

// Tests for src/task/ngrams.c: hashed TF-IDF n-gram rows.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "lector/classifier.h"
#include "testutil.h"

static const char *const train[] = {"a good film", "a bad film", "Good, GOOD acting!", "dull"};
static size_t lens_of(const char *s) { return strlen(s); }

static double row_norm(const struct lector_sparse_rows *sp, int64_t i) {
    double s = 0.0;
    for (int64_t j = sp->offsets[i]; j < sp->offsets[i + 1]; j++)
        s += (double)sp->vals[j] * (double)sp->vals[j];
    return sqrt(s);
}

static void test_ngrams_fit_transform(void **state) {
    (void)state;
    size_t lens[4];
    for (int i = 0; i < 4; i++) lens[i] = lens_of(train[i]);
    struct lector_ngram_params p = test_ngram_params();
    struct lector_ngrams *ng = NULL;
    struct lector_error err;
    assert_int_equal(lector_ngrams_fit(&p, train, lens, 4, NULL, NULL, 0, &ng, &err), LECTOR_STATUS_OK);
    // Unigrams: a good film bad , acting ! dull = 8; bigrams: "a good" "good film" "a bad"
    // "bad film" "good ," ", good" "good acting" "acting !" = 8 (no collisions expected among
    // 16 keys in 2^20 buckets).
    assert_int_equal(lector_ngrams_n_features(ng), 16);
    const char *const q[] = {"A GOOD film", "a good film", "zebra crossing", ""};
    size_t ql[4];
    for (int i = 0; i < 4; i++) ql[i] = lens_of(q[i]);
    struct lector_sparse_rows sp;
    assert_int_equal(lector_ngrams_transform(ng, q, ql, 4, &sp, &err), LECTOR_STATUS_OK);
    assert_int_equal(sp.n_rows, 4);
    assert_int_equal(sp.n_cols, 16);
    // Case does not matter; 3 unigrams + 2 bigrams; unit norm; unseen words give nothing.
    assert_int_equal(sp.offsets[1] - sp.offsets[0], 5);
    assert_int_equal(sp.offsets[2] - sp.offsets[1], 5);
    assert_memory_equal(sp.cols, sp.cols + 5, 5 * sizeof *sp.cols);
    assert_memory_equal(sp.vals, sp.vals + 5, 5 * sizeof *sp.vals);
    assert_true(fabs(row_norm(&sp, 0) - 1.0) < 1e-6);
    assert_int_equal(sp.offsets[3] - sp.offsets[2], 0);
    assert_int_equal(sp.offsets[4] - sp.offsets[3], 0);
    for (int64_t j = sp.offsets[0] + 1; j < sp.offsets[1]; j++) assert_true(sp.cols[j] > sp.cols[j - 1]);

    // A model rebuilt from its stored columns gives the same rows.
    struct lector_ngrams *ng2 = NULL;
    assert_int_equal(lector_ngrams_new(lector_ngrams_get_params(ng), lector_ngrams_buckets(ng),
                                             lector_ngrams_idf(ng), lector_ngrams_n_features(ng), &ng2,
                                             &err),
                     LECTOR_STATUS_OK);
    struct lector_sparse_rows sp2;
    assert_int_equal(lector_ngrams_transform(ng2, q, ql, 4, &sp2, &err), LECTOR_STATUS_OK);
    assert_memory_equal(sp.offsets, sp2.offsets, 5 * sizeof *sp.offsets);
    assert_memory_equal(sp.vals, sp2.vals, (size_t)sp.offsets[4] * sizeof *sp.vals);
    lector_sparse_rows_free(&sp2);
    lector_sparse_rows_free(&sp);
    lector_sparse_rows_free(&sp);
    lector_ngrams_free(ng2);
    lector_ngrams_free(ng);
}

static void test_ngrams_idf_and_tf(void **state) {
    (void)state;
    // "x" occurs in both texts (idf 1), "y" in one (idf ln(3/2) + 1); sublinear tf 1 + ln 2.
    const char *const t[] = {"x y y", "x"};
    size_t l[2] = {5, 1};
    struct lector_ngram_params p = test_ngram_params();
    p.word_order = 1;
    struct lector_ngrams *ng = NULL;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 2, NULL, NULL, 0, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 2);
    struct lector_sparse_rows sp;
    assert_int_equal(lector_ngrams_transform(ng, t, l, 1, &sp, NULL), LECTOR_STATUS_OK);
    double wx = 1.0, wy = (1.0 + log(2.0)) * (log(1.5) + 1.0), nrm = sqrt(wx * wx + wy * wy);
    double got_min = fmin((double)sp.vals[0], (double)sp.vals[1]), got_max = fmax((double)sp.vals[0], (double)sp.vals[1]);
    assert_true(fabs(got_min - wx / nrm) < 1e-6);
    assert_true(fabs(got_max - wy / nrm) < 1e-6);
    lector_sparse_rows_free(&sp);
    lector_ngrams_free(ng);
}

static void test_ngrams_chars_and_errors(void **state) {
    (void)state;
    const char *const t[] = {"caf\xc3\xa9 ok"};
    size_t l[1] = {8};
    struct lector_ngram_params p = test_ngram_params();
    p.word_order = 0;
    p.char_min = 3;
    p.char_max = 3;
    struct lector_ngrams *ng = NULL;
    // "<café>" has 6 characters -> 4 trigrams; "<ok>" -> 2. UTF-8 is not split.
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, NULL, NULL, 0, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 6);
    lector_ngrams_free(ng);
    struct lector_error err;
    p.char_max = 0;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, NULL, NULL, 0, &ng, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(ng);
    p = test_ngram_params();
    p.min_df = 5;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, NULL, NULL, 0, &ng, &err), LECTOR_STATUS_INVALID_ARG);
    const int32_t buckets[2] = {5, 3};
    const float idf[2] = {1, 1};
    assert_int_equal(lector_ngrams_new(&p, buckets, idf, 2, &ng, &err), LECTOR_STATUS_FORMAT);
}

// Boundaries add the start and end words to orders >= 2 only: "a good film" gets 3
// unigrams, 2 inner bigrams and "<s> a", "film </s>"; a one-word text gets both boundary
// bigrams; an empty text nothing. Without them the same texts give 3 + 2 and 1.
static void test_ngrams_boundaries(void **state) {
    (void)state;
    const char *const t[] = {"a good film", "dull", ""};
    size_t l[3] = {11, 4, 0};
    struct lector_ngram_params p = test_ngram_params();
    struct lector_ngrams *ng = NULL;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, NULL, NULL, 0, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 6);
    lector_ngrams_free(ng);
    p.boundaries = 1;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, NULL, NULL, 0, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 10); // + <s> a, film </s>, <s> dull, dull </s>
    struct lector_sparse_rows sp;
    assert_int_equal(lector_ngrams_transform(ng, t, l, 3, &sp, NULL), LECTOR_STATUS_OK);
    assert_int_equal(sp.offsets[1] - sp.offsets[0], 7);
    assert_int_equal(sp.offsets[2] - sp.offsets[1], 3);
    assert_int_equal(sp.offsets[3] - sp.offsets[2], 0);
    lector_sparse_rows_free(&sp);
    // unigrams only: boundaries change nothing
    p.word_order = 1;
    lector_ngrams_free(ng);
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, NULL, NULL, 0, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 4);
    lector_ngrams_free(ng);
    struct lector_error err;
    p.boundaries = 2;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, NULL, NULL, 0, &ng, &err), LECTOR_STATUS_INVALID_ARG);
}

// The column that transform gives the one-word text w.
static int32_t col_of_word(const struct lector_ngrams *ng, const char *w) {
    size_t l = strlen(w);
    struct lector_sparse_rows sp;
    assert_int_equal(lector_ngrams_transform(ng, &w, &l, 1, &sp, NULL), LECTOR_STATUS_OK);
    assert_int_equal(sp.offsets[1], 1);
    int32_t c = sp.cols[0];
    lector_sparse_rows_free(&sp);
    return c;
}

// Naive Bayes column weights, against log-count ratios worked out by hand for a corpus small
// enough to count: alpha 1, S columns, each class's presence counts normalised over columns.
static void test_ngrams_nb_weights(void **state) {
    (void)state;
    const char *const t[] = {"good movie", "good film", "bad movie", "bad plot"};
    const int32_t y[] = {1, 1, 0, 0};
    size_t l[4];
    for (int i = 0; i < 4; i++) l[i] = strlen(t[i]);
    struct lector_ngram_params p = test_ngram_params();
    p.word_order = 1;
    struct lector_ngrams *ng = NULL;
    struct lector_error err;
    // Without labels a supervised weighting is refused.
    p.weighting = LECTOR_NGRAM_NB;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 4, NULL, NULL, 0, &ng, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(ng);
    assert_int_equal(lector_ngrams_fit(&p, t, l, 4, NULL, NULL, 2, &ng, &err),
                     LECTOR_STATUS_INVALID_ARG);
    const int32_t bad_y[] = {1, 1, 2, 0};
    assert_int_equal(lector_ngrams_fit(&p, t, l, 4, bad_y, NULL, 2, &ng, &err),
                     LECTOR_STATUS_INVALID_ARG);
    p.weighting = 7;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 4, y, NULL, 2, &ng, &err),
                     LECTOR_STATUS_INVALID_ARG);

    // Columns good movie film bad plot (S = 5); each class holds 4 presences, so both
    // normalisers are 5 + 4 = 9. good: ln((1+2)/9) - ln((1+0)/9) = ln 3 (bad likewise);
    // film, plot: ln 2; movie: one text in each class, 0.
    const char *const w[] = {"good", "movie", "film", "bad", "plot"};
    const double nb[] = {log(3.0), 0.0, log(2.0), log(3.0), log(2.0)};
    const double df[] = {2, 2, 1, 2, 1};
    for (int mode = LECTOR_NGRAM_IDF; mode <= LECTOR_NGRAM_IDF_NB; mode++) {
        p.weighting = mode;
        assert_int_equal(lector_ngrams_fit(&p, t, l, 4, y, NULL, 2, &ng, &err), LECTOR_STATUS_OK);
        assert_int_equal(lector_ngrams_n_features(ng), 5);
        assert_int_equal(lector_ngrams_get_params(ng)->weighting, mode);
        const float *cw = lector_ngrams_idf(ng);
        for (int k = 0; k < 5; k++) {
            double idf = log(5.0 / (1.0 + df[k])) + 1.0;
            double want = mode == LECTOR_NGRAM_IDF ? idf : mode == LECTOR_NGRAM_NB ? nb[k] : idf * nb[k];
            assert_true(fabs((double)cw[col_of_word(ng, w[k])] - want) < 1e-6);
        }
        lector_ngrams_free(ng);
    }

    // Three classes, one against the rest, the largest |r| kept. a: texts 0, 1 (class 0), b:
    // texts 1, 2 (classes 0, 1), c: text 3 (class 2), d: texts 2, 3 (classes 1, 2).
    const char *const t3[] = {"a", "a b", "b d", "c d"};
    const int32_t y3[] = {0, 0, 1, 2};
    for (int i = 0; i < 4; i++) l[i] = strlen(t3[i]);
    p.weighting = LECTOR_NGRAM_NB;
    assert_int_equal(lector_ngrams_fit(&p, t3, l, 4, y3, NULL, 3, &ng, &err), LECTOR_STATUS_OK);
    // Presences per class: class 0 {a:2, b:1} (3), class 1 {b:1, d:1} (2), class 2 {c:1, d:1} (2);
    // all: a 2, b 2, c 1, d 2 (7). S = 4.
    const char *const w3[] = {"a", "b", "c", "d"};
    const double cnt[3][4] = {{2, 1, 0, 0}, {0, 1, 0, 1}, {0, 0, 1, 1}};
    const double tot[4] = {2, 2, 1, 2}, cs[3] = {3, 2, 2};
    for (int k = 0; k < 4; k++) {
        double best = 0.0;
        for (int c = 0; c < 3; c++) {
            double r = log((1.0 + cnt[c][k]) / (4.0 + cs[c])) - log((1.0 + tot[k] - cnt[c][k]) / (4.0 + 7.0 - cs[c]));
            if (fabs(r) > best) best = fabs(r);
        }
        assert_true(fabs((double)lector_ngrams_idf(ng)[col_of_word(ng, w3[k])] - best) < 1e-6);
    }
    lector_ngrams_free(ng);

    // Multi-label targets Y, the same classes as one-hot rows, give the same weights; y is
    // then ignored.
    const uint8_t Y3[] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    struct lector_ngrams *ng2 = NULL;
    assert_int_equal(lector_ngrams_fit(&p, t3, l, 4, y3, NULL, 3, &ng, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_fit(&p, t3, l, 4, NULL, Y3, 3, &ng2, &err), LECTOR_STATUS_OK);
    assert_memory_equal(lector_ngrams_idf(ng), lector_ngrams_idf(ng2), 4 * sizeof(float));
    lector_ngrams_free(ng);
    lector_ngrams_free(ng2);

    assert_string_equal(lector_ngram_weighting_name(LECTOR_NGRAM_IDF_NB), "idf-nb");
    assert_int_equal(lector_ngram_weighting_parse("nb"), LECTOR_NGRAM_NB);
    assert_int_equal(lector_ngram_weighting_parse("tfidf"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ngrams_fit_transform),
        cmocka_unit_test(test_ngrams_idf_and_tf),
        cmocka_unit_test(test_ngrams_chars_and_errors),
        cmocka_unit_test(test_ngrams_boundaries),
        cmocka_unit_test(test_ngrams_nb_weights),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

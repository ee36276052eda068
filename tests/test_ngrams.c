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
    struct lector_ngram_params p = lector_ngram_default_params();
    struct lector_ngrams *ng = NULL;
    struct lector_error err;
    assert_int_equal(lector_ngrams_fit(&p, train, lens, 4, &ng, &err), LECTOR_STATUS_OK);
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
    assert_int_equal(lector_ngrams_init_from(lector_ngrams_get_params(ng), lector_ngrams_buckets(ng),
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
    struct lector_ngram_params p = lector_ngram_default_params();
    p.word_order = 1;
    struct lector_ngrams *ng = NULL;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 2, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 2);
    struct lector_sparse_rows sp;
    assert_int_equal(lector_ngrams_transform(ng, t, l, 1, &sp, NULL), LECTOR_STATUS_OK);
    double wx = 1.0, wy = (1.0 + log(2.0)) * (log(1.5) + 1.0), nrm = sqrt(wx * wx + wy * wy);
    double got_min = fmin(sp.vals[0], sp.vals[1]), got_max = fmax(sp.vals[0], sp.vals[1]);
    assert_true(fabs(got_min - wx / nrm) < 1e-6);
    assert_true(fabs(got_max - wy / nrm) < 1e-6);
    lector_sparse_rows_free(&sp);
    lector_ngrams_free(ng);
}

static void test_ngrams_chars_and_errors(void **state) {
    (void)state;
    const char *const t[] = {"caf\xc3\xa9 ok"};
    size_t l[1] = {8};
    struct lector_ngram_params p = lector_ngram_default_params();
    p.word_order = 0;
    p.char_min = 3;
    p.char_max = 3;
    struct lector_ngrams *ng = NULL;
    // "<café>" has 6 characters -> 4 trigrams; "<ok>" -> 2. UTF-8 is not split.
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 6);
    lector_ngrams_free(ng);
    struct lector_error err;
    p.char_max = 0;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, &ng, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(ng);
    p = lector_ngram_default_params();
    p.min_df = 5;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 1, &ng, &err), LECTOR_STATUS_INVALID_ARG);
    const int32_t buckets[2] = {5, 3};
    const float idf[2] = {1, 1};
    assert_int_equal(lector_ngrams_init_from(&p, buckets, idf, 2, &ng, &err), LECTOR_STATUS_FORMAT);
}

// Boundaries add the start and end words to orders >= 2 only: "a good film" gets 3
// unigrams, 2 inner bigrams and "<s> a", "film </s>"; a one-word text gets both boundary
// bigrams; an empty text nothing. Without them the same texts give 3 + 2 and 1.
static void test_ngrams_boundaries(void **state) {
    (void)state;
    const char *const t[] = {"a good film", "dull", ""};
    size_t l[3] = {11, 4, 0};
    struct lector_ngram_params p = lector_ngram_default_params();
    struct lector_ngrams *ng = NULL;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 6);
    lector_ngrams_free(ng);
    p.boundaries = 1;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, &ng, NULL), LECTOR_STATUS_OK);
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
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, &ng, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_ngrams_n_features(ng), 4);
    lector_ngrams_free(ng);
    struct lector_error err;
    p.boundaries = 2;
    assert_int_equal(lector_ngrams_fit(&p, t, l, 3, &ng, &err), LECTOR_STATUS_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ngrams_fit_transform),
        cmocka_unit_test(test_ngrams_idf_and_tf),
        cmocka_unit_test(test_ngrams_chars_and_errors),
        cmocka_unit_test(test_ngrams_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

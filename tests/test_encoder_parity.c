// Parity of the fp32 encoder with the PyTorch goldens in shared/fixtures/encoders/<name>
// (every family: BERT, RoBERTa, XLM-R, DistilBERT, ALBERT, ELECTRA):
// every case's last_hidden_state (all positions, padded ones included), pooled_cls,
// pooled_mean, pooled_max and pooler_output (where the golden has it), within the atol of
// the fixture's golden.json (1e-4), and within lector's own bound, OUR_ATOL (1e-5), which
// is tighter. Prints the max |diff| of every fixture, case and tensor.
//
// Why 1e-5: the fixtures' 1e-4 is an upper bound for any implementation; lector's fp32 path
// achieves 1e-6 to 2.2e-6 on every fixture, and a plausible bug can hide under 1e-4 (a
// LayerNorm using eps 1e-12 instead of the config's 1e-5 moves RoBERTa/XLM-R to 2e-5; the
// fixtures with a large eps, bert-odd-cased 1e-7 and the RoBERTa/XLM-R ones 1e-5, exist to
// make such mistakes visible). 1e-5 keeps a 4x margin over the worst fixture.
// Needs shared/: without it the test reports itself skipped (exit 77).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lector/checkpoint.h"
#include "lector/encoder.h"
#include "testutil.h"

#define OUR_ATOL 1e-5

static const struct lector_tensor *golden_find(const struct lector_checkpoint *g, int k,
                                               const char *what) {
    char name[96];
    snprintf(name, sizeof name, "case_%d_%s", k, what);
    return lector_checkpoint_find(g, name);
}

// Max |got - want| over the golden tensor, after checking its dtype and element count.
static double compare(const char *model, int k, const char *what, const float *got, int64_t n,
                      const struct lector_tensor *want, double atol, double *worst) {
    assert_non_null(want);
    assert_int_equal(want->dtype, LECTOR_DTYPE_F32);
    assert_int_equal(lector_tensor_numel(want), n);
    double m = (double)test_max_abs_diff(got, want->data, n);
    printf("  %-18s case %d %-18s max|diff| %.3g\n", model, k, what, m);
    if (!(m <= atol))
        fail_msg("%s case %d %s: max |diff| %g > atol %g", model, k, what, m, atol);
    if (m > *worst) *worst = m;
    return m;
}

static void run_fixture(const char *model) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/encoders/%s", model);
    char dir[4096], golden_json[4200], golden_st[4200];
    snprintf(dir, sizeof dir, "%s", test_shared_path(rel));
    snprintf(golden_json, sizeof golden_json, "%s/golden.json", dir);
    snprintf(golden_st, sizeof golden_st, "%s/golden.safetensors", dir);

    struct lector_error err = {0};
    struct lector_encoder *enc = NULL;
    enum lector_status st = lector_encoder_open(dir, &enc, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("%s: open failed (%d): %s", model, (int)st, err.msg);
    struct lector_encoder_state *state = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &state, &err), LECTOR_STATUS_OK);
    int64_t C = lector_encoder_n_embd(enc);

    json_error_t jerr;
    json_t *gj = json_load_file(golden_json, 0, &jerr);
    if (!gj) fail_msg("%s: %s", golden_json, jerr.text);
    double atol = json_number_value(json_object_get(json_object_get(gj, "tolerance"), "atol"));
    assert_true(atol > 0);
    if (atol > OUR_ATOL) atol = OUR_ATOL;
    json_int_t n_params = json_integer_value(json_object_get(gj, "n_params_encoder"));
    if (n_params > 0) assert_int_equal(lector_encoder_n_params(enc), n_params);
    // What `lector info` shows: family, prefix, and exactly the head tensors ignored.
    assert_string_equal(lector_encoder_family(enc),
                        json_string_value(json_object_get(gj, "model_type")));
    json_t *weights = json_object_get(gj, "weights");
    assert_string_equal(lector_encoder_prefix(enc),
                        json_string_value(json_object_get(weights, "tensor_name_prefix")));
    json_t *extra = json_object_get(weights, "extra_tensors_to_ignore");
    assert_int_equal(lector_encoder_n_ignored(enc), (int64_t)json_array_size(extra));
    for (size_t i = 0; i < json_array_size(extra); i++) {
        const char *want = json_string_value(json_array_get(extra, i));
        bool found = false;
        for (int64_t j = 0; j < lector_encoder_n_ignored(enc); j++)
            found = found || strcmp(lector_encoder_ignored(enc, j), want) == 0;
        if (!found) fail_msg("%s: '%s' is not in the ignored list", model, want);
    }
    const char *dtype = json_string_value(json_object_get(weights, "dtype"));
    assert_true(strncmp(lector_encoder_dtype(enc), dtype, strlen(lector_encoder_dtype(enc))) == 0);
    printf("  %-18s family %s, format %s, dtype %s, prefix '%s', %lld ignored\n", model,
           lector_encoder_family(enc), lector_encoder_format(enc), lector_encoder_dtype(enc),
           lector_encoder_prefix(enc), (long long)lector_encoder_n_ignored(enc));

    struct lector_checkpoint *g = NULL;
    st = lector_checkpoint_open(golden_st, &g, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("%s: %s", golden_st, err.msg);

    double worst = 0;
    json_t *cases = json_object_get(gj, "cases");
    assert_true(json_array_size(cases) > 0);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        int k = (int)json_integer_value(json_object_get(c, "k"));
        int64_t B = json_integer_value(json_object_get(c, "B"));
        int64_t T = json_integer_value(json_object_get(c, "T"));
        const struct lector_tensor *ids = golden_find(g, k, "input_ids");
        const struct lector_tensor *mask = golden_find(g, k, "attention_mask");
        const struct lector_tensor *types = golden_find(g, k, "token_type_ids");
        assert_non_null(ids);
        assert_non_null(mask);
        assert_int_equal(ids->dtype, LECTOR_DTYPE_I32);
        assert_int_equal(mask->dtype, LECTOR_DTYPE_I32);
        assert_int_equal(lector_tensor_numel(ids), B * T);
        if (types) assert_int_equal(types->dtype, LECTOR_DTYPE_I32);

        float *hidden = malloc((size_t)(B * T * C) * sizeof *hidden);
        float *pooled = malloc((size_t)(B * C) * sizeof *pooled);
        assert_non_null(hidden);
        assert_non_null(pooled);
        st = lector_encoder_forward(enc, state, ids->data, types ? types->data : NULL,
                                    mask->data, B, T, hidden, &err);
        if (st != LECTOR_STATUS_OK) fail_msg("%s case %d: forward: %s", model, k, err.msg);
        compare(model, k, "last_hidden_state", hidden, B * T * C,
                golden_find(g, k, "last_hidden_state"), atol, &worst);

        static const struct {
            const char *name;
            enum lector_pooling pooling;
        } pools[] = {{"pooled_cls", LECTOR_POOLING_CLS},
                     {"pooled_mean", LECTOR_POOLING_MEAN},
                     {"pooled_max", LECTOR_POOLING_MAX},
                     {"pooler_output", LECTOR_POOLING_POOLER}};
        for (size_t p = 0; p < sizeof pools / sizeof pools[0]; p++) {
            const struct lector_tensor *want = golden_find(g, k, pools[p].name);
            if (!want) continue; // no pooler in this checkpoint
            st = lector_encoder_pool(enc, hidden, mask->data, B, T, pools[p].pooling, pooled,
                                     &err);
            if (st != LECTOR_STATUS_OK)
                fail_msg("%s case %d: pool %s: %s", model, k, pools[p].name, err.msg);
            compare(model, k, pools[p].name, pooled, B * C, want, atol, &worst);
        }
        free(hidden);
        free(pooled);
    }
    printf("  %-18s worst max|diff| %.3g (atol %g)\n", model, worst, atol);

    lector_checkpoint_close(g);
    json_decref(gj);
    lector_encoder_state_free(state);
    lector_encoder_close(enc);
}

static void test_parity(void **state) { run_fixture((const char *)*state); }

// bert-odd-cased ships only pytorch_model.bin (a zip checkpoint read without executing it);
// a checkpoint that does not open fails the test like any other fixture.
static void test_parity_odd_cased(void **state) {
    (void)state;
    run_fixture("bert-odd-cased");
}

// Masked keys carry no weight: changing the ids at masked positions (the first position of
// a row included, and one in the middle) leaves every unmasked position's hidden state
// bit for bit the same. bert-tiny-uncased has 64-wide heads, so the SIMD attention runs.
static void test_masked_positions_do_not_matter(void **state) {
    (void)state;
    const char *dir = test_shared_path("fixtures/encoders/bert-tiny-uncased");
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK) fail_msg("%s", err.msg);
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, &err), LECTOR_STATUS_OK);
    enum { B = 2, T = 10 };
    const int64_t C = lector_encoder_n_embd(enc);
    int32_t ids[B * T], mask[B * T];
    const int32_t m[B * T] = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < B * T; i++) ids[i] = 1000 + 37 * i, mask[i] = m[i];
    float *h1 = malloc((size_t)(B * T * C) * sizeof *h1), *h2 = malloc((size_t)(B * T * C) * sizeof *h2);
    assert_non_null(h1), assert_non_null(h2);
    assert_int_equal(lector_encoder_forward(enc, st, ids, NULL, mask, B, T, h1, &err), LECTOR_STATUS_OK);
    for (int i = 0; i < B * T; i++)
        if (!mask[i]) ids[i] = 2000 + 11 * i;
    assert_int_equal(lector_encoder_forward(enc, st, ids, NULL, mask, B, T, h2, &err), LECTOR_STATUS_OK);
    for (int i = 0; i < B * T; i++)
        if (mask[i] && memcmp(h1 + i * C, h2 + i * C, (size_t)C * sizeof *h1) != 0)
            fail_msg("row %d position %d: the hidden state depends on a masked token (max diff %g)",
                     i / T, i % T, (double)test_max_abs_diff(h1 + i * C, h2 + i * C, C));
    free(h1), free(h2);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
}

// models/mini-mlm-uncased has trained weights but no golden: check that it loads with the
// documented parameter count and gives finite, padding-invariant outputs.
static void test_mini_mlm_smoke(void **state) {
    (void)state;
    const char *dir = test_shared_path("models/mini-mlm-uncased");
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK)
        fail_msg("mini-mlm-uncased: %s", err.msg);
    assert_int_equal(lector_encoder_n_params(enc), 11072256);
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, &err), LECTOR_STATUS_OK);
    enum { B = 2, T = 8 };
    // [CLS] the movie was great [SEP] / [CLS] bad [SEP] + padding
    const int32_t ids[B * T] = {101, 1996, 3185, 2001, 2307, 102, 0, 0,
                                101, 2919, 102, 0, 0, 0, 0, 0};
    const int32_t mask[B * T] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    float hidden[B * T * 256], alone[3 * 256];
    assert_int_equal(lector_encoder_forward(enc, st, ids, NULL, mask, B, T, hidden, &err),
                     LECTOR_STATUS_OK);
    for (int i = 0; i < B * T * 256; i++) assert_true(isfinite(hidden[i]));
    assert_int_equal(lector_encoder_forward(enc, st, ids + T, NULL, NULL, 1, 3, alone, &err),
                     LECTOR_STATUS_OK);
    double d = (double)test_max_abs_diff(alone, hidden + T * 256, 3 * 256);
    printf("  mini-mlm-uncased   no golden; padded vs alone max|diff| %.3g\n", d);
    assert_true(d <= 1e-5);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
}

int main(void) {
    if (!test_shared_dir()) {
        printf("skipped: shared/ not found\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_parity, "bert-tiny-uncased"),
        cmocka_unit_test_prestate(test_parity, "bert-f16"),
        cmocka_unit_test_prestate(test_parity, "bert-bf16"),
        cmocka_unit_test_prestate(test_parity, "bert-sharded"),
        cmocka_unit_test_prestate(test_parity, "bert-gelu-new"),
        cmocka_unit_test(test_parity_odd_cased),
        cmocka_unit_test_prestate(test_parity, "roberta-tiny"),
        cmocka_unit_test_prestate(test_parity, "xlmr-tiny"),
        cmocka_unit_test_prestate(test_parity, "distilbert-tiny"),
        cmocka_unit_test_prestate(test_parity, "albert-tiny"),
        cmocka_unit_test_prestate(test_parity, "electra-tiny"),
        cmocka_unit_test(test_mini_mlm_smoke),
        cmocka_unit_test(test_masked_positions_do_not_matter),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

// Reduced precision (lector_encoder_set_precision): bf16 and int8 products against fp32.
//   - a tiny random BERT (tests/tinyenc.c): bf16 and int8 outputs are the same bits for a
//     row alone and inside a padded batch, with 1 and 2 threads; switching back to fp32
//     gives the fp32 bits again, and switching between bf16 and int8 gives each one's bits;
//     cosine with fp32 >= 0.999 (bf16) / 0.99 (int8) for every token row, and for the
//     pooler output.
//   - shared/fixtures/encoders/{bert-tiny-uncased,bert-bf16} (skipped without shared/):
//     every real token row's cosine with the fp32 output >= 0.999, and max |bf16 - golden|
//     over last_hidden_state <= half_precision_atol (the fixture's golden.json, else
//     bert-bf16's, 0.15). int8 on those and the other families' fixtures (ALBERT's
//     embedding projection, ELECTRA, DistilBERT, RoBERTa, gelu_new): cosine >= 0.99 per
//     real token row.
// Without AVX-512 BF16 set_precision must refuse bf16 with LECTOR_STATUS_UNSUPPORTED, and
// int8 exactly where there is no int8 product (neither AVX2 nor AVX-512 VNNI, or
// LECTOR_KERNELS=ref: test_precision_ref checks the refusal); the other checks are then
// skipped with a note.
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

#include "kernels/kernels.h"
#include "lector/checkpoint.h"
#include "lector/encoder.h"
#include "testutil.h"
#include "tinyenc.h"

static struct lector_encoder *open_ok(const char *dir) {
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_encoder_open(dir, &enc, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("open %s failed (%d): %s", dir, (int)st, err.msg);
    return enc;
}

// true: p set; false: refused as unsupported (a note printed)
static bool set_lowp(struct lector_encoder *enc, enum lector_precision p) {
    struct lector_error err = {0};
    enum lector_precision before = lector_encoder_precision(enc);
    enum lector_status st = lector_encoder_set_precision(enc, p, &err);
    if (st == LECTOR_STATUS_UNSUPPORTED) {
        if (p == LECTOR_PRECISION_INT8 && lector_matmul_int8_packed_size(8, 8) > 0)
            fail_msg("int8 refused though this CPU has an int8 product: %s", err.msg);
        printf("note: %s refused on this CPU: %s\n", lector_precision_name(p), err.msg);
        assert_int_equal(lector_encoder_precision(enc), before);
        return false;
    }
    if (st != LECTOR_STATUS_OK)
        fail_msg("set_precision %s (%d): %s", lector_precision_name(p), (int)st, err.msg);
    assert_int_equal(lector_encoder_precision(enc), p);
    return true;
}

static void set_fp32(struct lector_encoder *enc) {
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_set_precision(enc, LECTOR_PRECISION_FP32, &err),
                     LECTOR_STATUS_OK);
}

static void forward(const struct lector_encoder *enc, const int32_t *ids, const int32_t *types,
                    const int32_t *mask, int64_t B, int64_t T, float *out) {
    struct lector_error err = {0};
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, &err), LECTOR_STATUS_OK);
    enum lector_status s = lector_encoder_forward(enc, st, ids, types, mask, B, T, out, &err);
    if (s != LECTOR_STATUS_OK) fail_msg("forward (%d): %s", (int)s, err.msg);
    lector_encoder_state_free(st);
}

static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) {
        ab += (double)a[i] * (double)b[i];
        aa += (double)a[i] * (double)a[i];
        bb += (double)b[i] * (double)b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

// min over the real token rows of cosine(a row, b row)
static double min_cosine(const float *a, const float *b, const int32_t *mask, int64_t B,
                         int64_t T, int64_t C) {
    double m = 1.0;
    for (int64_t i = 0; i < B * T; i++) {
        if (mask && !mask[i]) continue;
        double c = cosine(a + i * C, b + i * C, C);
        if (c < m) m = c;
    }
    return m;
}

static void test_set_precision_arguments(void **state) {
    (void)state;
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_set_precision(NULL, LECTOR_PRECISION_BF16, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_precision_parse("fp32"), LECTOR_PRECISION_FP32);
    assert_int_equal(lector_precision_parse("bf16"), LECTOR_PRECISION_BF16);
    assert_int_equal(lector_precision_parse("int8"), LECTOR_PRECISION_INT8);
    assert_string_equal(lector_precision_name(LECTOR_PRECISION_INT8), "int8");
    assert_int_equal(lector_precision_parse("fp16"), -1);
    assert_int_equal(lector_precision_parse(NULL), -1);
    assert_string_equal(lector_precision_name(LECTOR_PRECISION_BF16), "bf16");
}

// The tiny encoder in precision p: deterministic, fp32 restored bit for bit, cosine with
// fp32 >= min_cos per token row and for the pooler output.
static void check_tiny(enum lector_precision p, double min_cos) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    assert_int_equal(test_make_tiny_encoder(dir, 7), 0);
    struct lector_encoder *enc = open_ok(dir);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_set_precision(enc, (enum lector_precision)9, &err),
                     LECTOR_STATUS_INVALID_ARG);
    const int64_t B = 5, T = 11, C = lector_encoder_n_embd(enc);
    int32_t ids[5 * 11], mask[5 * 11];
    const int64_t lens[5] = {11, 3, 7, 1, 9};
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            ids[b * T + t] = t < lens[b] ? (int32_t)(2 + (b * 7 + t * 3) % 20) : 0;
            mask[b * T + t] = t < lens[b];
        }
    size_t n = (size_t)(B * T * C);
    float *f32 = malloc(n * sizeof *f32), *f32b = malloc(n * sizeof *f32b);
    float *lp = malloc(n * sizeof *lp), *lp2 = malloc(n * sizeof *lp2);
    float *one = malloc((size_t)(T * C) * sizeof *one);
    float *pool32 = malloc((size_t)(B * C) * sizeof *pool32);
    float *pool = malloc((size_t)(B * C) * sizeof *pool);
    assert_true(f32 && f32b && lp && lp2 && one && pool32 && pool);
    lector_set_n_threads(1);
    forward(enc, ids, NULL, mask, B, T, f32);
    assert_int_equal(lector_encoder_pool(enc, f32, mask, B, T, LECTOR_POOLING_POOLER, pool32, &err),
                     LECTOR_STATUS_OK);
    bool ok = set_lowp(enc, p);
    if (ok) {
        forward(enc, ids, NULL, mask, B, T, lp);
        assert_true(memcmp(lp, f32, n * sizeof *lp) != 0); // the products did change
        lector_set_n_threads(2);
        forward(enc, ids, NULL, mask, B, T, lp2);
        assert_memory_equal(lp, lp2, n * sizeof *lp);
        for (int64_t b = 0; b < B; b++) { // each row alone, at its own length
            forward(enc, ids + b * T, NULL, mask + b * T, 1, lens[b], one);
            assert_memory_equal(one, lp + b * T * C, (size_t)(lens[b] * C) * sizeof *one);
        }
        double mc = min_cosine(f32, lp, mask, B, T, C);
        assert_int_equal(
            lector_encoder_pool(enc, lp, mask, B, T, LECTOR_POOLING_POOLER, pool, &err),
            LECTOR_STATUS_OK);
        double mcp = min_cosine(pool32, pool, NULL, B, 1, C);
        printf("tiny encoder: min cosine %s vs fp32 over real tokens 1 - %.2e, pooler 1 - "
               "%.2e\n",
               lector_precision_name(p), 1.0 - mc, 1.0 - mcp);
        assert_true(mc >= min_cos);
        assert_true(mcp >= min_cos);
        set_fp32(enc);
        forward(enc, ids, NULL, mask, B, T, f32b);
        assert_memory_equal(f32, f32b, n * sizeof *f32); // fp32 bit for bit as before
        assert_true(set_lowp(enc, p)); // and back again
        forward(enc, ids, NULL, mask, B, T, lp2);
        assert_memory_equal(lp, lp2, n * sizeof *lp);
        // straight to the other reduced precision and back: p's bits again
        enum lector_precision other =
            p == LECTOR_PRECISION_INT8 ? LECTOR_PRECISION_BF16 : LECTOR_PRECISION_INT8;
        if (set_lowp(enc, other)) {
            assert_true(set_lowp(enc, p));
            forward(enc, ids, NULL, mask, B, T, lp2);
            assert_memory_equal(lp, lp2, n * sizeof *lp);
        }
    }
    lector_set_n_threads(0);
    lector_encoder_close(enc);
    test_rmtree(dir);
    free(dir), free(f32), free(f32b), free(lp), free(lp2), free(one), free(pool32), free(pool);
    if (!ok) test_skip();
}

static void test_tiny_bf16_deterministic(void **state) {
    (void)state;
    check_tiny(LECTOR_PRECISION_BF16, 0.999);
}

static void test_tiny_int8_deterministic(void **state) {
    (void)state;
    check_tiny(LECTOR_PRECISION_INT8, 0.99);
}

static double read_half_atol(const char *golden_json) {
    json_error_t jerr;
    json_t *gj = json_load_file(golden_json, 0, &jerr);
    if (!gj) return 0;
    double v = json_number_value(
        json_object_get(json_object_get(gj, "tolerance"), "half_precision_atol"));
    json_decref(gj);
    return v;
}

// Every golden case of the fixture in precision p: cosine with fp32 >= min_cos per real
// token row; with check_atol, also max |p - golden| <= half_precision_atol.
static void run_fixture(const char *model, enum lector_precision p, double min_cos,
                        bool check_atol) {
    char rel[256], dir[4096], golden_json[4200], golden_st[4200];
    snprintf(rel, sizeof rel, "fixtures/encoders/%s", model);
    snprintf(dir, sizeof dir, "%s", test_shared_path(rel));
    snprintf(golden_json, sizeof golden_json, "%s/golden.json", dir);
    snprintf(golden_st, sizeof golden_st, "%s/golden.safetensors", dir);
    double atol = read_half_atol(golden_json);
    if (!(atol > 0)) {
        snprintf(golden_json, sizeof golden_json, "%s/golden.json",
                 test_shared_path("fixtures/encoders/bert-bf16"));
        atol = read_half_atol(golden_json);
    }
    if (check_atol && !(atol > 0)) fail_msg("%s: no half_precision_atol found", model);

    struct lector_encoder *enc = open_ok(dir);
    int64_t C = lector_encoder_n_embd(enc);
    struct lector_checkpoint *g = NULL;
    struct lector_error err = {0};
    if (lector_checkpoint_open(golden_st, &g, &err) != LECTOR_STATUS_OK)
        fail_msg("%s: %s", golden_st, err.msg);
    for (int k = 0;; k++) {
        char name[96];
        snprintf(name, sizeof name, "case_%d_input_ids", k);
        const struct lector_tensor *ids = lector_checkpoint_find(g, name);
        if (!ids) {
            assert_true(k > 0);
            break;
        }
        snprintf(name, sizeof name, "case_%d_attention_mask", k);
        const struct lector_tensor *mask = lector_checkpoint_find(g, name);
        snprintf(name, sizeof name, "case_%d_token_type_ids", k);
        const struct lector_tensor *types = lector_checkpoint_find(g, name);
        snprintf(name, sizeof name, "case_%d_last_hidden_state", k);
        const struct lector_tensor *want = lector_checkpoint_find(g, name);
        assert_non_null(mask);
        assert_non_null(want);
        assert_int_equal(ids->n_dims, 2);
        int64_t B = ids->shape[0], T = ids->shape[1];
        size_t n = (size_t)(B * T * C);
        float *f32 = malloc(n * sizeof *f32), *bf = malloc(n * sizeof *bf);
        assert_non_null(f32), assert_non_null(bf);
        set_fp32(enc);
        forward(enc, ids->data, types ? types->data : NULL, mask->data, B, T, f32);
        assert_true(set_lowp(enc, p));
        forward(enc, ids->data, types ? types->data : NULL, mask->data, B, T, bf);
        double mc = min_cosine(f32, bf, mask->data, B, T, C);
        double d = (double)test_max_abs_diff(bf, want->data, (int64_t)n);
        printf("  %-18s case %d: min cosine %s vs fp32 1 - %.2e, max|%s - golden| %.3g "
               "(atol %.3g)\n",
               model, k, lector_precision_name(p), 1.0 - mc, lector_precision_name(p), d, atol);
        if (!(mc >= min_cos)) fail_msg("%s case %d: cosine %.6f < %g", model, k, mc, min_cos);
        if (check_atol && !(d <= atol)) fail_msg("%s case %d: max |diff| %g > %g", model, k, d, atol);
        free(f32), free(bf);
    }
    lector_checkpoint_close(g);
    lector_encoder_close(enc);
}

// Whether shared/ is there and p runs on this CPU (a note otherwise).
static bool fixtures_usable(enum lector_precision p) {
    if (!test_shared_dir()) {
        printf("note: shared/ not found: fixture checks skipped\n");
        return false;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_shared_path("fixtures/encoders/bert-tiny-uncased"));
    struct lector_encoder *enc = open_ok(dir);
    bool ok = set_lowp(enc, p);
    lector_encoder_close(enc);
    return ok;
}

static void test_fixtures_bf16(void **state) {
    (void)state;
    if (!fixtures_usable(LECTOR_PRECISION_BF16)) test_skip();
    run_fixture("bert-tiny-uncased", LECTOR_PRECISION_BF16, 0.999, true);
    run_fixture("bert-bf16", LECTOR_PRECISION_BF16, 0.999, true);
}

static void test_fixtures_int8(void **state) {
    (void)state;
    if (!fixtures_usable(LECTOR_PRECISION_INT8)) test_skip();
    const char *models[] = {"bert-tiny-uncased", "bert-bf16",     "albert-tiny",
                            "electra-tiny",      "distilbert-tiny", "roberta-tiny",
                            "bert-gelu-new"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        run_fixture(models[i], LECTOR_PRECISION_INT8, 0.99, false);
}

// With LECTOR_KERNELS=ref there is no int8 product: int8 is refused with a message that
// says what it needs, the encoder stays fp32.
static void test_int8_refused_without_kernels(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    assert_int_equal(test_make_tiny_encoder(dir, 7), 0);
    struct lector_encoder *enc = open_ok(dir);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_set_precision(enc, LECTOR_PRECISION_INT8, &err),
                     LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "AVX2"));
    assert_int_equal(lector_encoder_precision(enc), LECTOR_PRECISION_FP32);
    lector_encoder_close(enc);
    test_rmtree(dir);
    free(dir);
}

// Three ctest entries: test_precision (the arguments on any CPU, and int8, which runs
// wherever the AVX2 or the VNNI product does: Skipped elsewhere), test_precision_avx512
// (argument "avx512": bf16, Skipped where the CPU has no AVX-512 BF16) and
// test_precision_ref (argument "ref", run with LECTOR_KERNELS=ref: int8 refused).
int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_precision_arguments),
        cmocka_unit_test(test_tiny_int8_deterministic),
        cmocka_unit_test(test_fixtures_int8),
    };
    const struct CMUnitTest avx512_tests[] = {
        cmocka_unit_test(test_tiny_bf16_deterministic),
        cmocka_unit_test(test_fixtures_bf16),
    };
    const struct CMUnitTest ref_tests[] = {
        cmocka_unit_test(test_int8_refused_without_kernels),
    };
    if (argc > 1 && strcmp(argv[1], "avx512") == 0)
        return test_status(cmocka_run_group_tests(avx512_tests, NULL, NULL));
    if (argc > 1 && strcmp(argv[1], "ref") == 0)
        return test_status(cmocka_run_group_tests(ref_tests, NULL, NULL));
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

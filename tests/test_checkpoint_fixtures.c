// Tests for src/checkpoint and config.json parsing against the shared fixtures: every
// fixture encoder (safetensors, sharded, F16/BF16 and pytorch_model.bin), each
// golden.safetensors, and the mini model.
// Skipped (exit 77) when shared/ is absent.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lector/checkpoint.h"
#include "lector/encoder.h"
#include "testutil.h"

static const char *const encoders[] = {
    "bert-tiny-uncased", "bert-f16",       "bert-bf16",    "bert-sharded",
    "bert-gelu-new",     "roberta-tiny",   "xlmr-tiny",    "distilbert-tiny",
    "albert-tiny",       "electra-tiny",   "bert-odd-cased",
};
#define N_ENCODERS (sizeof encoders / sizeof encoders[0])

// ----------------------------------------------------------------------------
// helpers

static json_t *load_json(const char *path) {
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) fprintf(stderr, "%s: %s\n", path, jerr.text);
    assert_non_null(j);
    return j;
}

static int64_t jint(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

static void expect_shape(const struct lector_checkpoint *ck, const char *prefix,
                         const char *name, int64_t d0, int64_t d1) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const struct lector_tensor *t = lector_checkpoint_find(ck, full);
    if (!t) fprintf(stderr, "missing tensor %s\n", full);
    assert_non_null(t);
    assert_int_equal(t->n_dims, d1 ? 2 : 1);
    assert_int_equal(t->shape[0], d0);
    if (d1) assert_int_equal(t->shape[1], d1);
}

// The tensors a BERT checkpoint must have, with the shapes its config implies.
static void check_bert_shapes(const struct lector_checkpoint *ck, const char *prefix,
                              const struct lector_encoder_config *c) {
    int64_t C = c->n_embd, F = c->n_ff;
    expect_shape(ck, prefix, "embeddings.word_embeddings.weight", c->n_vocab, C);
    expect_shape(ck, prefix, "embeddings.position_embeddings.weight", c->n_pos, C);
    expect_shape(ck, prefix, "embeddings.token_type_embeddings.weight", c->n_type, C);
    expect_shape(ck, prefix, "embeddings.LayerNorm.weight", C, 0);
    expect_shape(ck, prefix, "embeddings.LayerNorm.bias", C, 0);
    for (int64_t l = 0; l < c->n_layer; l++) {
        char p[128];
        struct {
            const char *name;
            int64_t d0, d1;
        } want[] = {
            {"attention.self.query.weight", C, C}, {"attention.self.query.bias", C, 0},
            {"attention.self.key.weight", C, C},   {"attention.self.key.bias", C, 0},
            {"attention.self.value.weight", C, C}, {"attention.self.value.bias", C, 0},
            {"attention.output.dense.weight", C, C}, {"attention.output.dense.bias", C, 0},
            {"attention.output.LayerNorm.weight", C, 0},
            {"attention.output.LayerNorm.bias", C, 0},
            {"intermediate.dense.weight", F, C},   {"intermediate.dense.bias", F, 0},
            {"output.dense.weight", C, F},         {"output.dense.bias", C, 0},
            {"output.LayerNorm.weight", C, 0},     {"output.LayerNorm.bias", C, 0},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            snprintf(p, sizeof p, "encoder.layer.%lld.%s", (long long)l, want[i].name);
            expect_shape(ck, prefix, p, want[i].d0, want[i].d1);
        }
    }
}

// Every float the reader hands out is F32, 64-byte aligned and finite (the fixtures are
// random-init weights). For half-precision files each value must also be exactly
// representable in the stored format, which checks that nothing rounded on the way.
static void check_values(const struct lector_checkpoint *ck, const char *stored) {
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++) {
        const struct lector_tensor *t = lector_checkpoint_tensor(ck, i);
        assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
        assert_string_equal(lector_dtype_name(lector_checkpoint_stored_dtype(ck, i)), stored);
        assert_int_equal((uintptr_t)t->data % 64, 0);
        const float *f = t->data;
        uint32_t low_mask = strcmp(stored, "BF16") == 0 ? 0xffffu
                            : strcmp(stored, "F16") == 0 ? 0x1fffu
                                                         : 0u;
        for (int64_t k = 0; k < lector_tensor_numel(t); k++) {
            assert_true(isfinite(f[k]));
            uint32_t bits;
            memcpy(&bits, &f[k], 4);
            // binary16 normals keep 10 mantissa bits; its subnormals (< 2^-14) fewer still.
            if (low_mask == 0x1fffu && fabsf(f[k]) < 0x1p-14f) continue;
            assert_int_equal(bits & low_mask, 0);
        }
    }
}

// ----------------------------------------------------------------------------
// tests

static void test_fixture_encoders_open(void **state) {
    (void)state;
    for (size_t m = 0; m < N_ENCODERS; m++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/encoders/%s", encoders[m]);
        const char *dir = test_shared_path(rel);
        snprintf(rel, sizeof rel, "fixtures/encoders/%s/golden.json", encoders[m]);
        json_t *golden = load_json(test_shared_path(rel));
        const json_t *weights = json_object_get(golden, "weights");

        struct lector_checkpoint *ck = NULL;
        struct lector_error err = {0};
        enum lector_status st = lector_checkpoint_open(dir, &ck, &err);
        if (st) fprintf(stderr, "%s: %s\n", encoders[m], err.msg);
        assert_int_equal(st, LECTOR_STATUS_OK);

        // The weight files used are the safetensors files golden.json lists.
        int64_t n_files = 0;
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(weights, "files"), i, f) {
            if (!strstr(json_string_value(f), ".index.json")) {
                assert_non_null(strstr(lector_checkpoint_file(ck, n_files), json_string_value(f)));
                n_files++;
            }
        }
        assert_int_equal(lector_checkpoint_n_files(ck), n_files);

        // Parameter count of the base model = golden's, once head tensors are left out.
        const json_t *ignore = json_object_get(weights, "extra_tensors_to_ignore");
        int64_t n_params = 0;
        for (int64_t t = 0; t < lector_checkpoint_n_tensors(ck); t++) {
            const struct lector_tensor *tt = lector_checkpoint_tensor(ck, t);
            bool skip = false;
            json_array_foreach(ignore, i, f) skip |= strcmp(json_string_value(f), tt->name) == 0;
            if (!skip) n_params += lector_tensor_numel(tt);
        }
        assert_int_equal(n_params, jint(golden, "n_params_encoder"));
        // "F16", or "F32 (torch.save zip)": the first word is the stored dtype.
        char stored[16];
        snprintf(stored, sizeof stored, "%s", json_string_value(json_object_get(weights, "dtype")));
        stored[strcspn(stored, " ")] = '\0';
        check_values(ck, stored);

        // config.json: every family parses and matches the golden geometry; BERT's tensors
        // are also checked against the shapes the config implies.
        snprintf(rel, sizeof rel, "fixtures/encoders/%s/config.json", encoders[m]);
        struct lector_encoder_config cfg;
        st = lector_encoder_config_read(test_shared_path(rel), &cfg, &err);
        const char *model_type = json_string_value(json_object_get(golden, "model_type"));
        assert_int_equal(st, LECTOR_STATUS_OK);
        assert_string_equal(cfg.model_type, model_type);
        const json_t *g = json_object_get(golden, "geometry");
        assert_int_equal(cfg.n_layer, jint(g, "L"));
        assert_int_equal(cfg.n_embd, jint(g, "C"));
        assert_int_equal(cfg.n_head, jint(g, "H"));
        assert_int_equal(cfg.n_ff, jint(g, "F"));
        assert_int_equal(cfg.n_vocab, jint(g, "V"));
        assert_int_equal(cfg.n_pos, jint(g, "max_position_embeddings"));
        assert_true(cfg.ln_eps == (float)json_real_value(json_object_get(g, "layer_norm_eps")));
        const char *act = json_string_value(json_object_get(g, "hidden_act"));
        assert_int_equal(cfg.act, strcmp(act, "gelu") == 0 ? LECTOR_ACT_GELU : LECTOR_ACT_GELU_NEW);
        if (strcmp(model_type, "bert") == 0) {
            assert_int_equal(cfg.n_type, jint(g, "type_vocab_size"));
            check_bert_shapes(
                ck, json_string_value(json_object_get(weights, "tensor_name_prefix")), &cfg);
        }
        lector_checkpoint_close(ck);
        json_decref(golden);
    }
}

static void test_fixture_goldens_open(void **state) {
    (void)state;
    const char *const *all = encoders;
    for (size_t m = 0; m < N_ENCODERS; m++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/encoders/%s/golden.json", all[m]);
        json_t *golden = load_json(test_shared_path(rel));
        snprintf(rel, sizeof rel, "fixtures/encoders/%s/golden.safetensors", all[m]);
        struct lector_checkpoint *ck = NULL;
        struct lector_error err = {0};
        enum lector_status st = lector_checkpoint_open(test_shared_path(rel), &ck, &err);
        if (st) fprintf(stderr, "%s: %s\n", all[m], err.msg);
        assert_int_equal(st, LECTOR_STATUS_OK);
        int64_t V = jint(json_object_get(golden, "geometry"), "V");
        int64_t n_expected = 0;
        size_t i, j;
        const json_t *c, *name;
        json_array_foreach(json_object_get(golden, "cases"), i, c) {
            int64_t B = jint(c, "B"), T = jint(c, "T"), C = jint(c, "C");
            json_array_foreach(json_object_get(c, "tensors"), j, name) {
                const struct lector_tensor *t = lector_checkpoint_find(ck, json_string_value(name));
                assert_non_null(t);
                n_expected++;
                assert_int_equal(t->shape[0], B);
                if (strstr(t->name, "_ids") || strstr(t->name, "_mask")) {
                    assert_int_equal(t->dtype, LECTOR_DTYPE_I32);
                    assert_int_equal(t->n_dims, 2);
                    assert_int_equal(t->shape[1], T);
                    for (int64_t k = 0; k < B * T; k++) {
                        int32_t v;
                        memcpy(&v, (const char *)t->data + 4 * k, 4);
                        assert_true(v >= 0 && v < V);
                    }
                } else if (strstr(t->name, "last_hidden_state")) {
                    assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
                    assert_int_equal(t->n_dims, 3);
                    assert_int_equal(t->shape[1], T);
                    assert_int_equal(t->shape[2], C);
                    assert_int_equal(t->stride[0], T * C);
                } else {
                    assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
                    assert_int_equal(t->n_dims, 2);
                    assert_int_equal(t->shape[1], C);
                }
            }
        }
        assert_int_equal(lector_checkpoint_n_tensors(ck), n_expected);
        lector_checkpoint_close(ck);
        json_decref(golden);
    }
}

static void test_mini_model(void **state) {
    (void)state;
    struct lector_checkpoint *ck = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_checkpoint_open(test_shared_path("models/mini-mlm-uncased"), &ck, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 71);
    struct lector_encoder_config cfg;
    assert_int_equal(lector_encoder_config_read(
                         test_shared_path("models/mini-mlm-uncased/config.json"), &cfg, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(cfg.n_layer, 4);
    assert_int_equal(cfg.n_embd, 256);
    check_bert_shapes(ck, "", &cfg);
    expect_shape(ck, "", "pooler.dense.weight", 256, 256);
    int64_t n_params = 0;
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++)
        n_params += lector_tensor_numel(lector_checkpoint_tensor(ck, i));
    assert_int_equal(n_params, 11072256);
    check_values(ck, "F32");
    assert_string_equal(lector_checkpoint_metadata(ck, "format"), "pt");
    lector_checkpoint_close(ck);
}

int main(void) {
    if (!test_shared_dir()) {
        printf("skipped: shared/ not found\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_encoders_open),
        cmocka_unit_test(test_fixture_goldens_open),
        cmocka_unit_test(test_mini_model),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

// Tests for src/encoder/config.c: config.json parsing (hand-made files) and pooling names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/encoder.h"
#include "testutil.h"

static const char *good_config =
    "{\n"
    "  \"architectures\": [\"BertModel\"],\n"
    "  \"model_type\": \"bert\",\n"
    "  \"vocab_size\": 30522,\n"
    "  \"hidden_size\": 768,\n"
    "  \"num_hidden_layers\": 12,\n"
    "  \"num_attention_heads\": 12,\n"
    "  \"intermediate_size\": 3072,\n"
    "  \"hidden_act\": \"gelu_new\",\n"
    "  \"max_position_embeddings\": 512,\n"
    "  \"type_vocab_size\": 3,\n"
    "  \"layer_norm_eps\": 1e-7,\n"
    "  \"pad_token_id\": 5,\n"
    "  \"classifier_dropout\": null\n"
    "}\n";

// Write text as dir/config.json and load it.
static enum lector_status load_text(const char *text, struct lector_encoder_config *cfg,
                                    struct lector_error *err) {
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "config.json", text, strlen(text));
    enum lector_status st = lector_encoder_config_load(path, cfg, err);
    free(path);
    test_rmtree(dir);
    free(dir);
    return st;
}

// good_config with the line containing `key` replaced by `line` (or removed if line is "").
static char *edit_config(const char *key, const char *line) {
    size_t cap = strlen(good_config) + strlen(line) + 1;
    char *out = malloc(cap);
    out[0] = '\0';
    const char *p = good_config;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p) + 1;
        char buf[256];
        memcpy(buf, p, len);
        buf[len] = '\0';
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", key);
        if (strstr(buf, quoted))
            strcat(out, line);
        else
            strcat(out, buf);
        p += len;
    }
    return out;
}

static void expect_refusal(const char *text, enum lector_status code, const char *want) {
    struct lector_encoder_config cfg;
    struct lector_error err = {0};
    enum lector_status st = load_text(text, &cfg, &err);
    if (st != code || !strstr(err.msg, want))
        fprintf(stderr, "got %d: %s\nwanted %d: %s\n", st, err.msg, code, want);
    assert_int_equal(st, code);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "config.json"));
}

static void test_config_good(void **state) {
    (void)state;
    struct lector_encoder_config cfg;
    struct lector_error err = {0};
    assert_int_equal(load_text(good_config, &cfg, &err), LECTOR_STATUS_OK);
    assert_string_equal(cfg.model_type, "bert");
    assert_int_equal(cfg.n_vocab, 30522);
    assert_int_equal(cfg.n_embd, 768);
    assert_int_equal(cfg.n_layer, 12);
    assert_int_equal(cfg.n_head, 12);
    assert_int_equal(cfg.n_ff, 3072);
    assert_int_equal(cfg.n_pos, 512);
    assert_int_equal(cfg.n_type, 3);
    assert_true(cfg.ln_eps == 1e-7f);
    assert_int_equal(cfg.act, LECTOR_ACT_GELU_NEW);
    assert_int_equal(cfg.pad_token_id, 5);
}

static void test_config_defaults(void **state) {
    (void)state;
    char *a = edit_config("type_vocab_size", "");
    char *b = edit_config("layer_norm_eps", "");
    char *c = edit_config("pad_token_id", "  \"pad_token_id\": null,\n");
    char *d = edit_config("hidden_act", "  \"hidden_act\": \"gelu_pytorch_tanh\",\n");
    char *e = edit_config("hidden_act", "  \"hidden_act\": \"relu\",\n");
    char *f = edit_config("hidden_act", "");
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(load_text(a, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.n_type, 2);
    assert_int_equal(load_text(b, &cfg, &err), LECTOR_STATUS_OK);
    assert_true(cfg.ln_eps == 1e-12f);
    assert_int_equal(load_text(c, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.pad_token_id, 0);
    assert_int_equal(load_text(d, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.act, LECTOR_ACT_GELU_NEW);
    assert_int_equal(load_text(e, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.act, LECTOR_ACT_RELU);
    assert_int_equal(load_text(f, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.act, LECTOR_ACT_GELU);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(f);
}

static void test_config_missing_key(void **state) {
    (void)state;
    const char *keys[] = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                          "intermediate_size", "max_position_embeddings", "model_type"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *text = edit_config(keys[i], "");
        char want[64];
        snprintf(want, sizeof want, "missing key '%s'", keys[i]);
        expect_refusal(text, LECTOR_STATUS_FORMAT, want);
        free(text);
    }
}

static void test_config_bad_values_name_the_key(void **state) {
    (void)state;
    char *t = edit_config("hidden_size", "  \"hidden_size\": \"768\",\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'hidden_size' must be an integer, got a string");
    free(t);
    t = edit_config("hidden_size", "  \"hidden_size\": 0,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'hidden_size' is 0, must be in [1, 1048576]");
    free(t);
    t = edit_config("intermediate_size", "  \"intermediate_size\": 3072.5,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'intermediate_size' must be an integer");
    free(t);
    t = edit_config("vocab_size", "  \"vocab_size\": 16777217,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'vocab_size' is 16777217");
    free(t);
    t = edit_config("num_hidden_layers", "  \"num_hidden_layers\": -3,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'num_hidden_layers' is -3");
    free(t);
    t = edit_config("pad_token_id", "  \"pad_token_id\": 30522,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'pad_token_id' is 30522");
    free(t);
    t = edit_config("layer_norm_eps", "  \"layer_norm_eps\": 0,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'layer_norm_eps'");
    free(t);
    t = edit_config("layer_norm_eps", "  \"layer_norm_eps\": \"small\",\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'layer_norm_eps' must be a number");
    free(t);
}

static void test_config_bad_hidden_act(void **state) {
    (void)state;
    char *t = edit_config("hidden_act", "  \"hidden_act\": \"swish\",\n");
    expect_refusal(t, LECTOR_STATUS_UNSUPPORTED, "hidden_act 'swish' is not supported");
    free(t);
    t = edit_config("hidden_act", "  \"hidden_act\": 3,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT, "key 'hidden_act' must be a string");
    free(t);
}

static void test_config_unknown_model_type(void **state) {
    (void)state;
    char *t = edit_config("model_type", "  \"model_type\": \"gpt2\",\n");
    expect_refusal(t, LECTOR_STATUS_UNSUPPORTED,
                   "config.json: model_type 'gpt2' is not supported (supported: bert)");
    free(t);
}

static void test_config_heads_not_dividing_hidden(void **state) {
    (void)state;
    char *t = edit_config("num_attention_heads", "  \"num_attention_heads\": 5,\n");
    expect_refusal(t, LECTOR_STATUS_FORMAT,
                   "hidden_size 768 is not divisible by num_attention_heads 5");
    free(t);
}

static void test_config_not_json(void **state) {
    (void)state;
    expect_refusal("{\"model_type\": \"bert\",\n  oops}", LECTOR_STATUS_FORMAT, "invalid JSON");
    expect_refusal("[1, 2]", LECTOR_STATUS_FORMAT, "expected a JSON object");
    expect_refusal("{\"model_type\": \"bert\", \"model_type\": \"bert\"}", LECTOR_STATUS_FORMAT,
                   "duplicate");
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(lector_encoder_config_load("/nonexistent-dir/config.json", &cfg, &err),
                     LECTOR_STATUS_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/config.json"));
}

static void test_pooling_names(void **state) {
    (void)state;
    const char *names[] = {"cls", "mean", "max", "pooler", "none"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lector_pooling_parse(names[i]), i);
        assert_string_equal(lector_pooling_name((enum lector_pooling)i), names[i]);
    }
    assert_int_equal(lector_pooling_parse("MEAN"), -1);
    assert_int_equal(lector_pooling_parse(""), -1);
    assert_int_equal(lector_pooling_parse(NULL), -1);
    assert_int_equal(lector_pooling_parse("avg"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_good),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_missing_key),
        cmocka_unit_test(test_config_bad_values_name_the_key),
        cmocka_unit_test(test_config_bad_hidden_act),
        cmocka_unit_test(test_config_unknown_model_type),
        cmocka_unit_test(test_config_heads_not_dividing_hidden),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_pooling_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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
    enum lector_status st = lector_encoder_config_read(path, cfg, err);
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
                   "config.json: model_type 'gpt2' is not supported (supported: bert, roberta, "
                   "xlm-roberta, camembert, distilbert, albert, electra)");
    free(t);
}

// Models that call themselves BERT-like but are another architecture are refused by name.
static void test_config_lookalikes_named(void **state) {
    (void)state;
    static const struct {
        const char *model_type, *want;
    } cases[] = {
        {"nomic_bert", "model_type 'nomic_bert' is Nomic BERT"},
        {"jina_bert", "model_type 'jina_bert' is Jina BERT (ALiBi"},
        {"modernbert", "model_type 'modernbert' is ModernBERT"},
        {"new", "model_type 'new' is GTE v1.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[96];
        snprintf(line, sizeof line, "  \"model_type\": \"%s\",\n", cases[i].model_type);
        char *t = edit_config("model_type", line);
        expect_refusal(t, LECTOR_STATUS_UNSUPPORTED, cases[i].want);
        expect_refusal(t, LECTOR_STATUS_UNSUPPORTED, "not a BERT-family encoder");
        free(t);
    }
}

// Jina BERT v2 says model_type bert with ALiBi; GTE v1.5 uses rope; relative_key adds a
// distance embedding. Only "absolute" (or no key) is run.
static void test_config_position_embedding_type(void **state) {
    (void)state;
    static const struct {
        const char *type, *want;
    } cases[] = {
        {"alibi", "position_embedding_type 'alibi' (ALiBi attention biases, as Jina BERT uses) "
                  "is not supported"},
        {"rope", "position_embedding_type 'rope' (rotary position embeddings"},
        {"relative_key", "position_embedding_type 'relative_key' is not supported"},
        {"relative_key_query", "position_embedding_type 'relative_key_query' is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[96];
        snprintf(line, sizeof line, "  \"position_embedding_type\": \"%s\",\n", cases[i].type);
        char *t = edit_config("classifier_dropout", line); // replaces that line
        size_t n = strlen(t);
        // the replaced line was the last one: drop the comma before the closing brace
        char *comma = strrchr(t, ',');
        assert_true(comma && comma > t + n - 6);
        *comma = ' ';
        expect_refusal(t, LECTOR_STATUS_UNSUPPORTED, cases[i].want);
        free(t);
    }
    char *t = edit_config("classifier_dropout", "  \"position_embedding_type\": \"absolute\"\n");
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(load_text(t, &cfg, &err), LECTOR_STATUS_OK);
    free(t);
}

static void test_config_roberta_positions(void **state) {
    (void)state;
    const char *text = "{\"model_type\": \"xlm-roberta\", \"vocab_size\": 250002,\n"
                       " \"hidden_size\": 768, \"num_hidden_layers\": 12,\n"
                       " \"num_attention_heads\": 12, \"intermediate_size\": 3072,\n"
                       " \"max_position_embeddings\": 514, \"type_vocab_size\": 1,\n"
                       " \"layer_norm_eps\": 1e-05, \"pad_token_id\": 1}\n";
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(load_text(text, &cfg, &err), LECTOR_STATUS_OK);
    assert_string_equal(cfg.model_type, "xlm-roberta");
    assert_int_equal(cfg.pos_first, 2);
    assert_int_equal(cfg.n_tokens_max, 512);
    assert_int_equal(cfg.n_type, 1);
    assert_int_equal(cfg.n_emb, 768);
    assert_int_equal(cfg.n_group, 12);
    assert_int_equal(cfg.n_group_layer, 1);
    assert_true(cfg.ln_eps == 1e-5f);

    // BERT numbers positions from 0 whatever its pad id.
    assert_int_equal(load_text(good_config, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.pos_first, 0);
    assert_int_equal(cfg.n_tokens_max, 512);

    // pad_token_id 513 leaves no position for a real token in a 514-row table
    const char *bad = "{\"model_type\": \"roberta\", \"vocab_size\": 1000,\n"
                      " \"hidden_size\": 8, \"num_hidden_layers\": 1,\n"
                      " \"num_attention_heads\": 2, \"intermediate_size\": 16,\n"
                      " \"max_position_embeddings\": 514, \"pad_token_id\": 513}\n";
    expect_refusal(bad, LECTOR_STATUS_FORMAT, "leaves no position after pad_token_id 513");
}

static void test_config_distilbert_keys(void **state) {
    (void)state;
    const char *text = "{\"model_type\": \"distilbert\", \"vocab_size\": 30522,\n"
                       " \"dim\": 768, \"n_layers\": 6, \"n_heads\": 12,\n"
                       " \"hidden_dim\": 3072, \"activation\": \"relu\",\n"
                       " \"max_position_embeddings\": 512, \"pad_token_id\": 0,\n"
                       " \"layer_norm_eps\": 0.5, \"sinusoidal_pos_embds\": false}\n";
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(load_text(text, &cfg, &err), LECTOR_STATUS_OK);
    assert_string_equal(cfg.model_type, "distilbert");
    assert_int_equal(cfg.n_embd, 768);
    assert_int_equal(cfg.n_layer, 6);
    assert_int_equal(cfg.n_head, 12);
    assert_int_equal(cfg.n_ff, 3072);
    assert_int_equal(cfg.n_type, 0);
    assert_int_equal(cfg.act, LECTOR_ACT_RELU);
    assert_true(cfg.ln_eps == 1e-12f); // DistilBERT's LayerNorm eps is fixed
    assert_int_equal(cfg.pos_first, 0);

    // its own key names in the messages
    char *t = malloc(strlen(text) + 16);
    strcpy(t, text);
    memcpy(strstr(t, "\"relu\""), "\"swsh\"", 6);
    expect_refusal(t, LECTOR_STATUS_UNSUPPORTED, "activation 'swsh' is not supported");
    strcpy(t, text);
    memcpy(strstr(t, "\"dim\""), "\"dum\"", 5);
    expect_refusal(t, LECTOR_STATUS_FORMAT, "missing key 'dim'");
    free(t);
}

static void test_config_albert_electra_widths(void **state) {
    (void)state;
    const char *albert = "{\"model_type\": \"albert\", \"vocab_size\": 30000,\n"
                         " \"embedding_size\": 128, \"hidden_size\": 768,\n"
                         " \"num_hidden_layers\": 12, \"num_attention_heads\": 12,\n"
                         " \"intermediate_size\": 3072, \"max_position_embeddings\": 512}\n";
    struct lector_encoder_config cfg;
    struct lector_error err;
    assert_int_equal(load_text(albert, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.n_emb, 128);
    assert_int_equal(cfg.n_group, 1); // HF defaults: one group of one layer
    assert_int_equal(cfg.n_group_layer, 1);
    assert_int_equal(cfg.act, LECTOR_ACT_GELU_NEW); // ALBERT's default hidden_act
    assert_int_equal(cfg.n_type, 2);

    const char *groups = "{\"model_type\": \"albert\", \"vocab_size\": 100,\n"
                         " \"hidden_size\": 8, \"num_hidden_layers\": 6,\n"
                         " \"num_attention_heads\": 2, \"intermediate_size\": 16,\n"
                         " \"max_position_embeddings\": 16, \"num_hidden_groups\": 4}\n";
    expect_refusal(groups, LECTOR_STATUS_UNSUPPORTED,
                   "num_hidden_layers 6 is not a multiple of num_hidden_groups 4");

    const char *electra = "{\"model_type\": \"electra\", \"vocab_size\": 30522,\n"
                          " \"embedding_size\": 128, \"hidden_size\": 256,\n"
                          " \"num_hidden_layers\": 12, \"num_attention_heads\": 4,\n"
                          " \"intermediate_size\": 1024, \"max_position_embeddings\": 512}\n";
    assert_int_equal(load_text(electra, &cfg, &err), LECTOR_STATUS_OK);
    assert_string_equal(cfg.model_type, "electra");
    assert_int_equal(cfg.n_emb, 128);
    assert_int_equal(cfg.n_embd, 256);
    assert_int_equal(cfg.act, LECTOR_ACT_GELU);

    // BERT ignores embedding_size: its embeddings are C wide
    assert_int_equal(load_text(good_config, &cfg, &err), LECTOR_STATUS_OK);
    assert_int_equal(cfg.n_emb, 768);
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
    assert_int_equal(lector_encoder_config_read("/nonexistent-dir/config.json", &cfg, &err),
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
        cmocka_unit_test(test_config_lookalikes_named),
        cmocka_unit_test(test_config_position_embedding_type),
        cmocka_unit_test(test_config_roberta_positions),
        cmocka_unit_test(test_config_distilbert_keys),
        cmocka_unit_test(test_config_albert_electra_widths),
        cmocka_unit_test(test_config_heads_not_dividing_hidden),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_pooling_names),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

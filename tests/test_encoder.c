// Tests for src/encoder on a tiny random BERT written into a temporary directory: tensor
// checks at open, padding invariance, input validation, pooling and the checksum.
// Padded rows must match the row alone within 1e-5 (the matrix products may block rows
// differently for different B*T; the attention itself is bit-identical).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "lector/checkpoint.h"
#include "lector/encoder.h"
#include "testutil.h"

// ----------------------------------------------------------------------------
// a tiny BERT: V 50, C 12, H 3 (D 4), F 20, L 2, 16 positions, 2 token types

enum { V = 50, C = 12, H = 3, F = 20, L = 2, NPOS = 16, NTYPE = 2 };

static const char config_json[] =
    "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 12,\n"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 20,\n"
    " \"max_position_embeddings\": 16, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12,\n"
    " \"hidden_act\": \"gelu\", \"pad_token_id\": 0}\n";

struct tensor {
    char name[96];
    int n_dims;
    int64_t shape[2];
    float *data;
};

struct model {
    struct tensor t[64];
    int n;
};

static uint64_t rng = 0x2545F4914F6CDD1Du;
static float urand(void) { // [-1, 1)
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int64_t numel(const struct tensor *t) {
    return t->n_dims == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

// center + spread * U(-1, 1) per element
static void add(struct model *m, const char *prefix, const char *name, int n_dims, int64_t d0,
                int64_t d1, float center, float spread) {
    assert_true(m->n < 64);
    struct tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s%s", prefix, name);
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = d1;
    int64_t n = numel(t);
    t->data = malloc((size_t)n * sizeof *t->data);
    for (int64_t i = 0; i < n; i++) t->data[i] = center + spread * urand();
}

static void build_model(struct model *m, const char *prefix, int with_pooler) {
    memset(m, 0, sizeof *m);
    add(m, prefix, "embeddings.word_embeddings.weight", 2, V, C, 0, 0.5f);
    add(m, prefix, "embeddings.position_embeddings.weight", 2, NPOS, C, 0, 0.5f);
    add(m, prefix, "embeddings.token_type_embeddings.weight", 2, NTYPE, C, 0, 0.5f);
    add(m, prefix, "embeddings.LayerNorm.weight", 1, C, 0, 1, 0.2f);
    add(m, prefix, "embeddings.LayerNorm.bias", 1, C, 0, 0, 0.1f);
    for (int l = 0; l < L; l++) {
        char n[128];
#define LAYER(s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, s), n)
        add(m, prefix, LAYER("attention.self.query.weight"), 2, C, C, 0, 0.5f);
        add(m, prefix, LAYER("attention.self.query.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("attention.self.key.weight"), 2, C, C, 0, 0.5f);
        add(m, prefix, LAYER("attention.self.key.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("attention.self.value.weight"), 2, C, C, 0, 0.5f);
        add(m, prefix, LAYER("attention.self.value.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("attention.output.dense.weight"), 2, C, C, 0, 0.3f);
        add(m, prefix, LAYER("attention.output.dense.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("attention.output.LayerNorm.weight"), 1, C, 0, 1, 0.2f);
        add(m, prefix, LAYER("attention.output.LayerNorm.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("intermediate.dense.weight"), 2, F, C, 0, 0.3f);
        add(m, prefix, LAYER("intermediate.dense.bias"), 1, F, 0, 0, 0.1f);
        add(m, prefix, LAYER("output.dense.weight"), 2, C, F, 0, 0.3f);
        add(m, prefix, LAYER("output.dense.bias"), 1, C, 0, 0, 0.1f);
        add(m, prefix, LAYER("output.LayerNorm.weight"), 1, C, 0, 1, 0.2f);
        add(m, prefix, LAYER("output.LayerNorm.bias"), 1, C, 0, 0, 0.1f);
#undef LAYER
    }
    if (with_pooler) {
        add(m, prefix, "pooler.dense.weight", 2, C, C, 0, 0.3f);
        add(m, prefix, "pooler.dense.bias", 1, C, 0, 0, 0.1f);
    }
}

static void free_model(struct model *m) {
    for (int i = 0; i < m->n; i++) free(m->t[i].data);
    m->n = 0;
}

static struct tensor *find(struct model *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    fail_msg("test model has no tensor %s", name);
    return NULL;
}

static void drop(struct model *m, const char *name) {
    struct tensor *t = find(m, name);
    free(t->data);
    *t = m->t[--m->n];
}

static void reshape(struct model *m, const char *name, int n_dims, int64_t d0, int64_t d1) {
    struct tensor *t = find(m, name);
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = d1;
    free(t->data);
    t->data = calloc((size_t)numel(t), sizeof *t->data);
}

/* Write dir/config.json and dir/model.safetensors by hand: u64 little-endian header length,
 * the JSON header padded with spaces to a multiple of 8, then the F32 data in order. */
static void write_model(const char *dir, const struct model *m) {
    free(test_write_file(dir, "config.json", config_json, strlen(config_json)));
    size_t cap = 16384, n = 0, off = 0;
    char *hdr = malloc(cap);
    n += (size_t)snprintf(hdr + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < m->n; i++) {
        const struct tensor *t = &m->t[i];
        size_t bytes = (size_t)numel(t) * sizeof(float);
        if (t->n_dims == 1)
            n += (size_t)snprintf(hdr + n, cap - n, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],",
                                  t->name, (long long)t->shape[0]);
        else
            n += (size_t)snprintf(hdr + n, cap - n,
                                  ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],", t->name,
                                  (long long)t->shape[0], (long long)t->shape[1]);
        n += (size_t)snprintf(hdr + n, cap - n, "\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
        assert_true(n < cap - 64);
    }
    hdr[n++] = '}';
    while (n % 8) hdr[n++] = ' ';
    size_t total = 8 + n + off;
    unsigned char *buf = malloc(total);
    lector__write_u64_le(buf, n);
    memcpy(buf + 8, hdr, n);
    size_t pos = 8 + n;
    for (int i = 0; i < m->n; i++) {
        size_t bytes = (size_t)numel(&m->t[i]) * sizeof(float);
        memcpy(buf + pos, m->t[i].data, bytes);
        pos += bytes;
    }
    free(test_write_file(dir, "model.safetensors", buf, total));
    free(buf);
    free(hdr);
}

// A directory holding the model; removed by the caller with test_rmtree.
static char *make_dir(const struct model *m) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    write_model(dir, m);
    return dir;
}

static struct lector_encoder *open_ok(const char *dir) {
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_encoder_open(dir, &enc, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("open failed (%d): %s", (int)st, err.msg);
    return enc;
}

// ----------------------------------------------------------------------------
// open

static void test_open_reads_config_and_counts_params(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    char *dir = make_dir(&m);
    struct lector_encoder *enc = open_ok(dir);
    const struct lector_encoder_config *cfg = lector_encoder_get_config(enc);
    assert_int_equal(cfg->n_embd, C);
    assert_int_equal(cfg->n_layer, L);
    assert_int_equal(lector_encoder_n_embd(enc), C);
    assert_true(lector_encoder_has_pooler(enc));
    assert_string_equal(lector_encoder_dir(enc), dir);
    int64_t n = 0;
    for (int i = 0; i < m.n; i++) n += numel(&m.t[i]);
    assert_int_equal(lector_encoder_n_params(enc), n);

    // checksum = SHA-256 of config.json bytes followed by model.safetensors bytes
    struct lector__sha256 s;
    lector__sha256_init(&s);
    char *path = lector__path_join(dir, "config.json");
    assert_int_equal(lector__sha256_file(&s, path, NULL), LECTOR_STATUS_OK);
    lector_free(path);
    path = lector__path_join(dir, "model.safetensors");
    assert_int_equal(lector__sha256_file(&s, path, NULL), LECTOR_STATUS_OK);
    lector_free(path);
    uint8_t d[32];
    char hex[65];
    lector__sha256_final(&s, d);
    lector__sha256_hex(d, hex);
    assert_string_equal(lector_encoder_checksum(enc), hex);

    lector_encoder_close(enc);
    lector_encoder_close(NULL);
    test_rmtree(dir);
    free(dir);
    free_model(&m);
}

static void test_open_missing_tensor_is_named(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    drop(&m, "encoder.layer.1.output.dense.bias");
    char *dir = make_dir(&m);
    struct lector_encoder *enc = (struct lector_encoder *)&m; // must be reset to NULL
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_open(dir, &enc, &err), LECTOR_STATUS_NOT_FOUND);
    assert_null(enc);
    assert_int_equal(err.code, LECTOR_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "'encoder.layer.1.output.dense.bias' is missing"));
    test_rmtree(dir);
    free(dir);
    free_model(&m);
}

static void test_open_wrong_shapes_listed_together(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    reshape(&m, "encoder.layer.0.attention.self.key.weight", 2, C, 10);
    reshape(&m, "encoder.layer.1.intermediate.dense.bias", 1, F + 1, 0);
    drop(&m, "embeddings.LayerNorm.bias");
    char *dir = make_dir(&m);
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_open(dir, &enc, &err), LECTOR_STATUS_MISMATCH);
    assert_null(enc);
    assert_non_null(strstr(err.msg, "3 tensor(s)"));
    assert_non_null(strstr(err.msg, "'encoder.layer.0.attention.self.key.weight' has shape "
                                    "[12, 10], expected [12, 12]"));
    assert_non_null(
        strstr(err.msg, "'encoder.layer.1.intermediate.dense.bias' has shape [21], expected [20]"));
    assert_non_null(strstr(err.msg, "'embeddings.LayerNorm.bias' is missing"));
    test_rmtree(dir);
    free(dir);
    free_model(&m);
}

static void test_open_strips_prefix_and_ignores_extras(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "bert.", 0);
    add(&m, "", "classifier.weight", 2, 3, C, 0, 0.1f);
    add(&m, "", "classifier.bias", 1, 3, 0, 0, 0.1f);
    add(&m, "bert.", "embeddings.position_ids", 2, 1, NPOS, 0, 0);
    char *dir = make_dir(&m);
    struct lector_encoder *enc = open_ok(dir);
    assert_false(lector_encoder_has_pooler(enc));

    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_init(enc, &st, NULL), LECTOR_STATUS_OK);
    int32_t ids[4] = {2, 7, 9, 3};
    float h[4 * C], pooled[C];
    assert_int_equal(lector_encoder_forward(enc, st, ids, NULL, NULL, 1, 4, h, NULL),
                     LECTOR_STATUS_OK);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_pool(enc, h, NULL, 1, 4, LECTOR_POOLING_POOLER, pooled, &err),
                     LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "pooler"));
    assert_int_equal(lector_encoder_pool(enc, h, NULL, 1, 4, LECTOR_POOLING_NONE, pooled, &err),
                     LECTOR_STATUS_INVALID_ARG);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
    test_rmtree(dir);
    free(dir);
    free_model(&m);
}

// ----------------------------------------------------------------------------
// forward

struct fixture {
    struct model m;
    char *dir;
    struct lector_encoder *enc;
    struct lector_encoder_state *st;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    build_model(&f->m, "", 1);
    f->dir = make_dir(&f->m);
    if (lector_encoder_open(f->dir, &f->enc, NULL) != LECTOR_STATUS_OK) return -1;
    if (lector_encoder_state_init(f->enc, &f->st, NULL) != LECTOR_STATUS_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    lector_encoder_state_free(f->st);
    lector_encoder_close(f->enc);
    test_rmtree(f->dir);
    free(f->dir);
    free_model(&f->m);
    free(f);
    return 0;
}

static void test_forward_padded_rows_match_rows_alone(void **state) {
    struct fixture *f = *state;
    enum { B = 3, T = 9 };
    const int lens[B] = {5, 9, 2};
    int32_t ids[B * T], types[B * T], mask[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int real = t < lens[b];
            ids[b * T + t] = real ? 1 + (b * 7 + t * 13) % (V - 1) : 0;
            types[b * T + t] = real && b == 1 && t >= 4; // row 1 is a sentence pair
            mask[b * T + t] = real;
        }
    float hidden[B * T * C];
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, types, mask, B, T, hidden, NULL),
                     LECTOR_STATUS_OK);
    for (int i = 0; i < B * T * C; i++) assert_true(isfinite(hidden[i]));

    enum lector_pooling pools[] = {LECTOR_POOLING_CLS, LECTOR_POOLING_MEAN, LECTOR_POOLING_MAX,
                                   LECTOR_POOLING_POOLER};
    float pooled[4][B * C];
    for (int p = 0; p < 4; p++)
        assert_int_equal(
            lector_encoder_pool(f->enc, hidden, mask, B, T, pools[p], pooled[p], NULL),
            LECTOR_STATUS_OK);

    for (int b = 0; b < B; b++) {
        float alone[T * C];
        // a fresh state too, so growth from small to large is exercised
        struct lector_encoder_state *st1 = NULL;
        assert_int_equal(lector_encoder_state_init(f->enc, &st1, NULL), LECTOR_STATUS_OK);
        assert_int_equal(lector_encoder_forward(f->enc, st1, ids + b * T, types + b * T, NULL, 1,
                                                lens[b], alone, NULL),
                         LECTOR_STATUS_OK);
        float diff = test_max_abs_diff(alone, hidden + b * T * C, lens[b] * C);
        if (diff > 1e-5f) fail_msg("row %d: padded vs alone max diff %g", b, (double)diff);
        for (int p = 0; p < 4; p++) {
            float one[C];
            assert_int_equal(lector_encoder_pool(f->enc, alone, NULL, 1, lens[b], pools[p], one,
                                                 NULL),
                             LECTOR_STATUS_OK);
            diff = test_max_abs_diff(one, pooled[p] + b * C, C);
            if (diff > 1e-5f)
                fail_msg("row %d pooling %s: padded vs alone max diff %g", b,
                         lector_pooling_name(pools[p]), (double)diff);
        }
        lector_encoder_state_free(st1);
    }

    // The shared state, now sized for 27 tokens, gives the same result for a smaller call.
    float again[T * C];
    assert_int_equal(
        lector_encoder_forward(f->enc, f->st, ids + T, types + T, NULL, 1, T, again, NULL),
        LECTOR_STATUS_OK);
    assert_true(test_max_abs_diff(again, hidden + T * C, T * C) <= 1e-5f);
}

static void test_forward_rejects_out_of_range_inputs(void **state) {
    struct fixture *f = *state;
    int32_t ids[2 * 4] = {1, 2, 3, 4, 5, 6, V, 8};
    float hidden[NPOS * 2 * C];
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, NULL, NULL, 2, 4, hidden, &err),
                     LECTOR_STATUS_RANGE);
    assert_non_null(strstr(err.msg, "row 1, position 2"));
    assert_non_null(strstr(err.msg, "50"));
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 2);

    ids[6] = -1;
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, NULL, NULL, 2, 4, hidden, &err),
                     LECTOR_STATUS_RANGE);
    ids[6] = 7;

    int32_t types[2 * 4] = {0, 0, 0, 2, 0, 0, 0, 0};
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, types, NULL, 2, 4, hidden, &err),
                     LECTOR_STATUS_RANGE);
    assert_non_null(strstr(err.msg, "token type id 2 at row 0, position 3"));

    int32_t mask[2 * 4] = {1, 1, 1, 1, 1, 1, 2, 0};
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, NULL, mask, 2, 4, hidden, &err),
                     LECTOR_STATUS_RANGE);

    // T beyond max_position_embeddings
    int32_t long_ids[NPOS + 1] = {0};
    assert_int_equal(
        lector_encoder_forward(f->enc, f->st, long_ids, NULL, NULL, 1, NPOS + 1, hidden, &err),
        LECTOR_STATUS_RANGE);
    assert_non_null(strstr(err.msg, "17 tokens"));
    assert_int_equal(
        lector_encoder_forward(f->enc, f->st, long_ids, NULL, NULL, 1, NPOS, hidden, &err),
        LECTOR_STATUS_OK);
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, NULL, NULL, 0, 4, hidden, &err),
                     LECTOR_STATUS_INVALID_ARG);
}

static void test_forward_fully_masked_row_is_finite(void **state) {
    struct fixture *f = *state;
    int32_t ids[2 * 3] = {1, 2, 3, 0, 0, 0};
    int32_t mask[2 * 3] = {1, 1, 1, 0, 0, 0};
    float hidden[2 * 3 * C], pooled[2 * C];
    assert_int_equal(lector_encoder_forward(f->enc, f->st, ids, NULL, mask, 2, 3, hidden, NULL),
                     LECTOR_STATUS_OK);
    for (int i = 0; i < 2 * 3 * C; i++) assert_true(isfinite(hidden[i]));
    assert_int_equal(
        lector_encoder_pool(f->enc, hidden, mask, 2, 3, LECTOR_POOLING_MEAN, pooled, NULL),
        LECTOR_STATUS_OK);
    for (int c = 0; c < C; c++) assert_true(pooled[C + c] == 0.0f);
}

int main(void) {
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open_reads_config_and_counts_params),
        cmocka_unit_test(test_open_missing_tensor_is_named),
        cmocka_unit_test(test_open_wrong_shapes_listed_together),
        cmocka_unit_test(test_open_strips_prefix_and_ignores_extras),
    };
    const struct CMUnitTest forward_tests[] = {
        cmocka_unit_test(test_forward_padded_rows_match_rows_alone),
        cmocka_unit_test(test_forward_rejects_out_of_range_inputs),
        cmocka_unit_test(test_forward_fully_masked_row_is_finite),
    };
    int failed = cmocka_run_group_tests(open_tests, NULL, NULL);
    failed += cmocka_run_group_tests(forward_tests, setup, teardown);
    return failed;
}

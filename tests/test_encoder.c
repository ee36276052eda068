// Tests for src/encoder on a tiny random BERT written into a temporary directory: tensor
// checks at open, padding invariance, input validation, pooling and the checksum.
// Padded rows must match the row alone within 1e-5 on every kernel set, and bit for bit
// where our own sgemm runs (AVX-512): its sums do not depend on the rows around a row or
// on the thread count (test_forward_bit_identical_batch_and_threads, on a model wide
// enough for several 64-column panels, D = 64 heads and threaded LayerNorm).
// An encoder's first forward (layers not yet packed, lector_matmul_rows) gives the bytes of
// a packed one (test_forward_first_lazy_matches_packed).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/kernels.h"
#include "lector/checkpoint.h"
#include "lector/classifier.h"
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
static void write_model_cfg(const char *dir, const struct model *m, const char *cfg) {
    free(test_write_file(dir, "config.json", cfg, strlen(cfg)));
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

static void write_model(const char *dir, const struct model *m) {
    write_model_cfg(dir, m, config_json);
}

// A directory holding the model; removed by the caller with test_rmtree.
static char *make_dir(const struct model *m) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    write_model(dir, m);
    return dir;
}

static char *make_dir_cfg(const struct model *m, const char *cfg) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    write_model_cfg(dir, m, cfg);
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
    assert_int_equal(lector_encoder_state_new(enc, &st, NULL), LECTOR_STATUS_OK);
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
// families: each family's names on hand-made checkpoints, checked against BERT with the
// same weights

static void clone_model(struct model *dst, const struct model *src) {
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < src->n; i++) {
        dst->t[i] = src->t[i];
        size_t bytes = (size_t)numel(&src->t[i]) * sizeof(float);
        dst->t[i].data = malloc(bytes);
        memcpy(dst->t[i].data, src->t[i].data, bytes);
    }
    dst->n = src->n;
}

// Replace the first occurrence of from in s (a tensor name buffer of 96 bytes).
static void replace_in(char *s, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p) return;
    char rest[96];
    snprintf(rest, sizeof rest, "%s", p + strlen(from));
    snprintf(p, 96 - (size_t)(p - s), "%s%s", to, rest);
}

// Rename every tensor: the pairs of map in order (each at most once), then the prefix.
static void rename_all(struct model *m, const char *const map[][2], size_t n_map,
                       const char *prefix) {
    for (int i = 0; i < m->n; i++) {
        for (size_t k = 0; k < n_map; k++) replace_in(m->t[i].name, map[k][0], map[k][1]);
        char full[96];
        snprintf(full, sizeof full, "%s%s", prefix, m->t[i].name);
        snprintf(m->t[i].name, sizeof m->t[i].name, "%s", full);
    }
}

// Fill a tensor with new random values of a new shape.
static void refill(struct model *m, const char *name, int64_t d0, int64_t d1, float spread) {
    struct tensor *t = find(m, name);
    t->shape[0] = d0;
    t->shape[1] = d1;
    free(t->data);
    t->data = malloc((size_t)numel(t) * sizeof *t->data);
    for (int64_t i = 0; i < numel(t); i++) t->data[i] = spread * urand();
}

static void forward_dir(const char *dir, const int32_t *ids, const int32_t *types,
                        const int32_t *mask, int64_t B, int64_t T, float *out) {
    struct lector_encoder *enc = open_ok(dir);
    struct lector_encoder_state *st = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_state_new(enc, &st, &err), LECTOR_STATUS_OK);
    if (lector_encoder_forward(enc, st, ids, types, mask, B, T, out, &err) != LECTOR_STATUS_OK)
        fail_msg("forward: %s", err.msg);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
}

static void remove_dir(char *dir) {
    test_rmtree(dir);
    free(dir);
}

// BERT with one token type, so that RoBERTa's and DistilBERT's inputs mean the same.
static const char bert_one_type_json[] =
    "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 12,\n"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 20,\n"
    " \"max_position_embeddings\": 16, \"type_vocab_size\": 1, \"pad_token_id\": 0}\n";

// RoBERTa numbers real tokens pad+1, pad+2, ... (pad = 1 here), and padding takes row pad.
static const char roberta_json[] =
    "{\"model_type\": \"roberta\", \"vocab_size\": 50, \"hidden_size\": 12,\n"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 20,\n"
    " \"max_position_embeddings\": 18, \"type_vocab_size\": 1, \"layer_norm_eps\": 1e-12,\n"
    " \"pad_token_id\": 1, \"position_embedding_type\": \"absolute\"}\n";

static void test_family_roberta_positions(void **state) {
    (void)state;
    struct model r, b;
    build_model(&r, "", 1);
    refill(&r, "embeddings.position_embeddings.weight", NPOS + 2, C, 0.5f);
    refill(&r, "embeddings.token_type_embeddings.weight", 1, C, 0.5f);
    // BERT's table is RoBERTa's from row pad + 1 = 2 on.
    clone_model(&b, &r);
    struct tensor *bp = find(&b, "embeddings.position_embeddings.weight");
    bp->shape[0] = NPOS;
    memmove(bp->data, bp->data + 2 * C, (size_t)(NPOS * C) * sizeof(float));
    rename_all(&r, NULL, 0, "roberta.");
    add(&r, "", "classifier.dense.weight", 2, C, C, 0, 0.1f);
    add(&r, "", "lm_head.bias", 1, V, 0, 0, 0.1f);
    char *rdir = make_dir_cfg(&r, roberta_json), *bdir = make_dir_cfg(&b, bert_one_type_json);

    struct lector_encoder *enc = open_ok(rdir);
    assert_string_equal(lector_encoder_family(enc), "roberta");
    assert_string_equal(lector_encoder_prefix(enc), "roberta.");
    assert_int_equal(lector_encoder_n_tokens_max(enc), NPOS);
    assert_int_equal(lector_encoder_get_config(enc)->pos_first, 2);
    assert_int_equal(lector_encoder_n_ignored(enc), 2);
    assert_string_equal(lector_encoder_ignored(enc, 0), "classifier.dense.weight");
    assert_string_equal(lector_encoder_ignored(enc, 1), "lm_head.bias");
    assert_true(lector_encoder_has_pooler(enc));
    // 16 real tokens fit, 17 do not (the table has 18 rows, the first two are not for them)
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, NULL), LECTOR_STATUS_OK);
    int32_t many[NPOS + 1];
    for (int t = 0; t < NPOS + 1; t++) many[t] = 3 + t;
    float *big = malloc((size_t)(NPOS + 1) * C * sizeof *big);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_forward(enc, st, many, NULL, NULL, 1, NPOS + 1, big, &err),
                     LECTOR_STATUS_RANGE);
    assert_non_null(strstr(err.msg, "17 tokens per row exceed the model's 16 positions"));
    assert_int_equal(lector_encoder_forward(enc, st, many, NULL, NULL, 1, NPOS, big, &err),
                     LECTOR_STATUS_OK);
    free(big);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);

    // a row without pad ids: RoBERTa == BERT on the shifted table
    enum { T = 6 };
    const int32_t row[T] = {0, 5, 9, 13, 22, 2};
    float hr[T * C], hb[T * C];
    forward_dir(rdir, row, NULL, NULL, 1, T, hr);
    forward_dir(bdir, row, NULL, NULL, 1, T, hb);
    float d = test_max_abs_diff(hr, hb, T * C);
    if (d > 1e-6f) fail_msg("roberta vs shifted bert: max diff %g", (double)d);

    // padded rows (pad id 1, mask 0): real positions as the rows alone
    const int32_t ids[2 * T] = {0, 5, 9, 13, 2, 1, 0, 7, 2, 1, 1, 1};
    const int32_t mask[2 * T] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0};
    const int lens[2] = {5, 3};
    float hp[2 * T * C];
    forward_dir(rdir, ids, NULL, mask, 2, T, hp);
    for (int bi = 0; bi < 2; bi++) {
        float alone[T * C];
        forward_dir(rdir, ids + bi * T, NULL, NULL, 1, lens[bi], alone);
        d = test_max_abs_diff(alone, hp + bi * T * C, lens[bi] * C);
        if (d > 1e-5f) fail_msg("row %d: padded vs alone max diff %g", bi, (double)d);
    }
    remove_dir(rdir);

    // Padding sits at row pad (1): changing row 1 moves only the padded positions, and
    // row 0 is never used.
    for (int row_changed = 0; row_changed < 2; row_changed++) {
        struct model r2;
        clone_model(&r2, &r);
        float *wpe = find(&r2, "roberta.embeddings.position_embeddings.weight")->data;
        // not a constant shift, which the embedding LayerNorm would take out again
        for (int c = 0; c < C; c++) wpe[row_changed * C + c] += c % 2 ? 0.8f : -0.5f;
        rdir = make_dir_cfg(&r2, roberta_json);
        float h2[2 * T * C];
        forward_dir(rdir, ids, NULL, mask, 2, T, h2);
        for (int i = 0; i < 2 * T; i++) {
            float di = test_max_abs_diff(h2 + i * C, hp + i * C, C);
            if (row_changed == 0 || mask[i]) {
                if (di > 1e-6f) fail_msg("row %d changed, token %d moved by %g", row_changed, i,
                                         (double)di);
            } else if (di < 1e-3f) {
                fail_msg("row 1 changed, padded token %d did not move", i);
            }
        }
        remove_dir(rdir);
        free_model(&r2);
    }
    remove_dir(bdir);
    free_model(&r);
    free_model(&b);
}

static const char distilbert_json[] =
    "{\"model_type\": \"distilbert\", \"vocab_size\": 50, \"dim\": 12, \"n_layers\": 2,\n"
    " \"n_heads\": 3, \"hidden_dim\": 20, \"activation\": \"gelu\",\n"
    " \"max_position_embeddings\": 16, \"pad_token_id\": 0, \"sinusoidal_pos_embds\": false}\n";

static void test_family_distilbert_names(void **state) {
    (void)state;
    struct model b, d;
    build_model(&b, "", 0);
    // BERT with a zero token-type row computes what DistilBERT (no token types) computes
    refill(&b, "embeddings.token_type_embeddings.weight", 1, C, 0.0f);
    clone_model(&d, &b);
    drop(&d, "embeddings.token_type_embeddings.weight");
    static const char *const map[][2] = {
        {"encoder.layer.", "transformer.layer."},
        {"attention.self.query", "attention.q_lin"},
        {"attention.self.key", "attention.k_lin"},
        {"attention.self.value", "attention.v_lin"},
        {"attention.output.dense", "attention.out_lin"},
        {"attention.output.LayerNorm", "sa_layer_norm"},
        {"intermediate.dense", "ffn.lin1"},
        {"output.dense", "ffn.lin2"},
        {"output.LayerNorm", "output_layer_norm"},
    };
    rename_all(&d, map, sizeof map / sizeof map[0], "distilbert.");
    add(&d, "", "pre_classifier.weight", 2, C, C, 0, 0.1f);
    add(&d, "", "pre_classifier.bias", 1, C, 0, 0, 0.1f);
    add(&d, "", "classifier.weight", 2, 2, C, 0, 0.1f);
    add(&d, "", "classifier.bias", 1, 2, 0, 0, 0.1f);
    char *ddir = make_dir_cfg(&d, distilbert_json), *bdir = make_dir_cfg(&b, bert_one_type_json);

    struct lector_encoder *enc = open_ok(ddir);
    assert_string_equal(lector_encoder_family(enc), "distilbert");
    assert_string_equal(lector_encoder_prefix(enc), "distilbert.");
    assert_string_equal(lector_encoder_format(enc), "safetensors");
    assert_string_equal(lector_encoder_dtype(enc), "F32");
    assert_int_equal(lector_encoder_n_files(enc), 1);
    assert_non_null(strstr(lector_encoder_file(enc, 0), "model.safetensors"));
    assert_null(lector_encoder_file(enc, 1));
    assert_false(lector_encoder_has_pooler(enc));
    assert_int_equal(lector_encoder_n_ignored(enc), 4);
    assert_null(lector_encoder_ignored(enc, 4));
    int64_t n = 0;
    for (int i = 0; i < d.n; i++)
        if (strncmp(d.t[i].name, "distilbert.", 11) == 0) n += numel(&d.t[i]);
    assert_int_equal(lector_encoder_n_params(enc), n);
    // no token types: only type 0 (or NULL) is accepted
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, NULL), LECTOR_STATUS_OK);
    const int32_t ids3[3] = {2, 7, 3}, types3[3] = {0, 1, 0};
    float h3[3 * C];
    assert_int_equal(lector_encoder_forward(enc, st, ids3, types3, NULL, 1, 3, h3, NULL),
                     LECTOR_STATUS_RANGE);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);

    enum { B = 2, T = 7 };
    const int32_t ids[B * T] = {2, 8, 11, 4, 17, 9, 3, 2, 30, 3, 0, 0, 0, 0};
    const int32_t mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    float hd[B * T * C], hb[B * T * C];
    forward_dir(ddir, ids, NULL, mask, B, T, hd);
    forward_dir(bdir, ids, NULL, mask, B, T, hb);
    float diff = test_max_abs_diff(hd, hb, B * T * C);
    if (diff > 1e-6f) fail_msg("distilbert vs bert: max diff %g", (double)diff);

    // a missing DistilBERT tensor is named by its own name
    drop(&d, "distilbert.transformer.layer.1.ffn.lin2.bias");
    write_model_cfg(ddir, &d, distilbert_json);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_open(ddir, &enc, &err), LECTOR_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "'distilbert.transformer.layer.1.ffn.lin2.bias' is missing"));
    remove_dir(ddir);
    remove_dir(bdir);
    free_model(&b);
    free_model(&d);
}

static const char albert_json[] =
    "{\"model_type\": \"albert\", \"vocab_size\": 50, \"embedding_size\": 12,\n"
    " \"hidden_size\": 12, \"num_hidden_layers\": 2, \"num_attention_heads\": 3,\n"
    " \"intermediate_size\": 20, \"max_position_embeddings\": 16, \"type_vocab_size\": 2,\n"
    " \"num_hidden_groups\": 1, \"inner_group_num\": 1, \"hidden_act\": \"gelu\"}\n";

// ALBERT with an identity embedding projection and one shared layer == BERT whose two
// layers are equal.
static void test_family_albert_shared_layer(void **state) {
    (void)state;
    struct model b, a;
    build_model(&b, "", 1);
    for (int i = 0; i < b.n; i++) {
        if (strncmp(b.t[i].name, "encoder.layer.1.", 16) != 0) continue;
        char name0[96];
        snprintf(name0, sizeof name0, "encoder.layer.0.%s", b.t[i].name + 16);
        memcpy(b.t[i].data, find(&b, name0)->data, (size_t)numel(&b.t[i]) * sizeof(float));
    }
    clone_model(&a, &b);
    for (int i = a.n - 1; i >= 0; i--)
        if (strncmp(a.t[i].name, "encoder.layer.1.", 16) == 0) drop(&a, a.t[i].name);
    static const char *const map[][2] = {
        {"encoder.layer.0.", "encoder.albert_layer_groups.0.albert_layers.0."},
        {"attention.self.query", "attention.query"},
        {"attention.self.key", "attention.key"},
        {"attention.self.value", "attention.value"},
        {"attention.output.dense", "attention.dense"},
        {"attention.output.LayerNorm", "attention.LayerNorm"},
        {"intermediate.dense", "ffn"},
        {"output.dense", "ffn_output"},
        {"output.LayerNorm", "full_layer_layer_norm"},
        {"pooler.dense", "pooler"},
    };
    rename_all(&a, map, sizeof map / sizeof map[0], "albert.");
    add(&a, "albert.", "encoder.embedding_hidden_mapping_in.weight", 2, C, C, 0, 0);
    add(&a, "albert.", "encoder.embedding_hidden_mapping_in.bias", 1, C, 0, 0, 0);
    float *eye = find(&a, "albert.encoder.embedding_hidden_mapping_in.weight")->data;
    for (int c = 0; c < C; c++) eye[c * C + c] = 1.0f;
    char *adir = make_dir_cfg(&a, albert_json), *bdir = make_dir(&b);

    struct lector_encoder *enc = open_ok(adir);
    assert_string_equal(lector_encoder_family(enc), "albert");
    assert_int_equal(lector_encoder_n_ignored(enc), 0);
    assert_true(lector_encoder_has_pooler(enc));
    int64_t n = 0;
    for (int i = 0; i < a.n; i++) n += numel(&a.t[i]);
    assert_int_equal(lector_encoder_n_params(enc), n); // the shared layer counted once
    lector_encoder_close(enc);

    enum { B = 2, T = 5 };
    const int32_t ids[B * T] = {2, 8, 11, 4, 3, 2, 30, 3, 0, 0};
    const int32_t types[B * T] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    const int32_t mask[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    float ha[B * T * C], hb[B * T * C];
    forward_dir(adir, ids, types, mask, B, T, ha);
    forward_dir(bdir, ids, types, mask, B, T, hb);
    float diff = test_max_abs_diff(ha, hb, B * T * C);
    if (diff > 1e-6f) fail_msg("albert vs bert: max diff %g", (double)diff);
    remove_dir(adir);
    remove_dir(bdir);
    free_model(&a);
    free_model(&b);
}

// ----------------------------------------------------------------------------
// refusals at open

static void expect_open_refusal(const struct model *m, const char *cfg, enum lector_status code,
                                const char *want) {
    char *dir = make_dir_cfg(m, cfg);
    struct lector_encoder *enc = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_encoder_open(dir, &enc, &err);
    if (st != code || !strstr(err.msg, want))
        fail_msg("got %d: %s\nwanted %d: %s", (int)st, err.msg, (int)code, want);
    assert_null(enc);
    remove_dir(dir);
}

static void test_open_refusals_name_the_cause(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    char cfg[1024];
#define CFG(extra)                                                                             \
    (snprintf(cfg, sizeof cfg,                                                                 \
              "{\"vocab_size\": 50, \"hidden_size\": 12, \"num_hidden_layers\": 2,\n"          \
              " \"num_attention_heads\": 3, \"intermediate_size\": 20,\n"                       \
              " \"max_position_embeddings\": 16, %s}\n",                                       \
              extra),                                                                          \
     cfg)
    expect_open_refusal(&m, CFG("\"model_type\": \"gpt2\""), LECTOR_STATUS_UNSUPPORTED,
                        "model_type 'gpt2' is not supported (supported: bert, roberta");
    expect_open_refusal(&m, CFG("\"model_type\": \"nomic_bert\""), LECTOR_STATUS_UNSUPPORTED,
                        "model_type 'nomic_bert' is Nomic BERT");
    expect_open_refusal(&m, CFG("\"model_type\": \"modernbert\""), LECTOR_STATUS_UNSUPPORTED,
                        "model_type 'modernbert' is ModernBERT");
    expect_open_refusal(&m, CFG("\"model_type\": \"new\""), LECTOR_STATUS_UNSUPPORTED,
                        "model_type 'new' is GTE v1.5");
    expect_open_refusal(&m,
                        CFG("\"model_type\": \"bert\", \"position_embedding_type\": \"alibi\""),
                        LECTOR_STATUS_UNSUPPORTED, "position_embedding_type 'alibi'");
    expect_open_refusal(&m, CFG("\"model_type\": \"bert\", \"hidden_act\": \"silu\""),
                        LECTOR_STATUS_UNSUPPORTED, "hidden_act 'silu' is not supported");
    // config.json says one layer, the checkpoint has two: the second layer's tensors listed
    char one[1024];
    snprintf(one, sizeof one, "%s", CFG("\"model_type\": \"bert\""));
    char *two = strstr(one, "\"num_hidden_layers\": 2");
    two[strlen("\"num_hidden_layers\": ")] = '1';
    expect_open_refusal(&m, one, LECTOR_STATUS_MISMATCH,
                        "'encoder.layer.1.attention.self.query.weight' is not used by a 1-layer "
                        "bert as config.json describes it");
    // a family whose names are absent: RoBERTa config over ALBERT-style names
    expect_open_refusal(&m, CFG("\"model_type\": \"albert\", \"embedding_size\": 12"),
                        LECTOR_STATUS_MISMATCH,
                        "'encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight' "
                        "is missing");
#undef CFG
    free_model(&m);
}

// ----------------------------------------------------------------------------
// sentence-transformers folders

static void write_st(const char *dir, const char *pooling_cfg, bool normalize) {
    char modules[512];
    snprintf(modules, sizeof modules,
             "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": "
             "\"sentence_transformers.models.Transformer\"},\n"
             " {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": "
             "\"sentence_transformers.models.Pooling\"}%s]\n",
             normalize ? ",\n {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", "
                         "\"type\": \"sentence_transformers.models.Normalize\"}"
                       : "");
    free(test_write_file(dir, "modules.json", modules, strlen(modules)));
    char *sub = lector__path_join(dir, "1_Pooling");
    assert_int_equal(mkdir(sub, 0700) == 0 || errno == EEXIST, 1);
    free(test_write_file(sub, "config.json", pooling_cfg, strlen(pooling_cfg)));
    lector_free(sub);
}

static void test_default_pooling_from_modules(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    char *dir = make_dir(&m);
    struct lector_encoder *enc = open_ok(dir);
    assert_int_equal(lector_encoder_default_pooling(enc), LECTOR_POOLING_MEAN);
    assert_false(lector_encoder_default_normalize(enc));
    assert_null(lector_encoder_pooling_note(enc));
    lector_encoder_close(enc);
    assert_int_equal(lector_encoder_default_pooling(NULL), LECTOR_POOLING_MEAN);

    static const struct {
        const char *key;
        enum lector_pooling want;
    } modes[] = {{"pooling_mode_cls_token", LECTOR_POOLING_CLS},
                 {"pooling_mode_mean_tokens", LECTOR_POOLING_MEAN},
                 {"pooling_mode_max_tokens", LECTOR_POOLING_MAX}};
    for (size_t i = 0; i < 3; i++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "{\"word_embedding_dimension\": 12, \"pooling_mode_cls_token\": %s,\n"
                 " \"pooling_mode_mean_tokens\": %s, \"pooling_mode_max_tokens\": %s,\n"
                 " \"pooling_mode_mean_sqrt_len_tokens\": false}\n",
                 i == 0 ? "true" : "false", i == 1 ? "true" : "false",
                 i == 2 ? "true" : "false");
        write_st(dir, cfg, i == 0);
        enc = open_ok(dir);
        if (lector_encoder_default_pooling(enc) != modes[i].want)
            fail_msg("%s: got pooling %s", modes[i].key,
                     lector_pooling_name(lector_encoder_default_pooling(enc)));
        assert_int_equal(lector_encoder_default_normalize(enc), i == 0);
        assert_null(lector_encoder_pooling_note(enc));
        lector_encoder_close(enc);
    }

    // a mode lector lacks: mean, with a note naming it
    write_st(dir, "{\"pooling_mode_mean_sqrt_len_tokens\": true}", false);
    enc = open_ok(dir);
    assert_int_equal(lector_encoder_default_pooling(enc), LECTOR_POOLING_MEAN);
    assert_non_null(lector_encoder_pooling_note(enc));
    assert_non_null(strstr(lector_encoder_pooling_note(enc), "mean_sqrt_len_tokens"));
    lector_encoder_close(enc);

    // the Pooling module must agree with the encoder's width
    write_st(dir, "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": true}", false);
    struct lector_error err = {0};
    assert_int_equal(lector_encoder_open(dir, &enc, &err), LECTOR_STATUS_MISMATCH);
    assert_non_null(strstr(err.msg, "word_embedding_dimension is 384"));

    // a module path may not leave the folder
    const char *evil = "[{\"type\": \"sentence_transformers.models.Pooling\", \"path\": "
                       "\"../elsewhere\"}]";
    free(test_write_file(dir, "modules.json", evil, strlen(evil)));
    assert_int_equal(lector_encoder_open(dir, &enc, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "leaves the model folder"));
    remove_dir(dir);
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
    if (lector_encoder_state_new(f->enc, &f->st, NULL) != LECTOR_STATUS_OK) return -1;
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
        assert_int_equal(lector_encoder_state_new(f->enc, &st1, NULL), LECTOR_STATUS_OK);
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

// lector_embed_rows sorts rows by length into batches (here of at most 2 rows and 12 padded
// tokens) and returns them in input order: each row's vector is the one it gets alone.
static void test_embed_rows_match_rows_alone(void **state) {
    struct fixture *f = *state;
    enum { NR = 5 };
    static const int32_t r0[] = {2, 7, 9, 3}, r1[] = {2, 3}, r2[] = {2, 11, 12, 13, 14, 15, 3},
                         r3[] = {2, 40, 3}, r4[] = {2, 5, 6, 7, 8, 9, 10, 11, 12, 3};
    const struct lector_token_row rows[NR] = {{r0, 4}, {r1, 2}, {r2, 7}, {r3, 3}, {r4, 10}};
    float out[NR * C];
    struct lector_error err = {0};
    assert_int_equal(lector_embed_rows(f->enc, f->st, rows, NR, LECTOR_POOLING_MEAN, 2, 12, out, &err),
                     LECTOR_STATUS_OK);
    for (int r = 0; r < NR; r++) {
        float hidden[10 * C], one[C];
        assert_int_equal(lector_encoder_forward(f->enc, f->st, rows[r].ids, NULL, NULL, 1, rows[r].n,
                                                hidden, &err),
                         LECTOR_STATUS_OK);
        assert_int_equal(lector_encoder_pool(f->enc, hidden, NULL, 1, rows[r].n, LECTOR_POOLING_MEAN, one,
                                             &err),
                         LECTOR_STATUS_OK);
        float d = test_max_abs_diff(one, out + r * C, C);
        if (d > 1e-5f) fail_msg("row %d: batched vs alone max diff %g", r, (double)d);
    }
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
    assert_int_equal(err.index, 6); // row 1, position 2 of 4
    assert_int_equal(err.line, -1);

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


// A wider model than the fixture's: C 256, H 4 (D 64), F 320 (five 64-column panels, the
// last one ragged), 2 layers, 64 positions.
enum { WC = 256, WH = 4, WF = 320, WPOS = 64 };

static const char wide_config_json[] =
    "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 256,\n"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 320,\n"
    " \"max_position_embeddings\": 64, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12,\n"
    " \"hidden_act\": \"gelu\", \"pad_token_id\": 0}\n";

static void build_wide_model(struct model *m) {
    memset(m, 0, sizeof *m);
    add(m, "", "embeddings.word_embeddings.weight", 2, V, WC, 0, 0.5f);
    add(m, "", "embeddings.position_embeddings.weight", 2, WPOS, WC, 0, 0.5f);
    add(m, "", "embeddings.token_type_embeddings.weight", 2, NTYPE, WC, 0, 0.5f);
    add(m, "", "embeddings.LayerNorm.weight", 1, WC, 0, 1, 0.2f);
    add(m, "", "embeddings.LayerNorm.bias", 1, WC, 0, 0, 0.1f);
    for (int l = 0; l < L; l++) {
        char n[128];
#define LAYER(s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, s), n)
        const char *lin[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                             "attention.output.dense"};
        for (int i = 0; i < 4; i++) {
            char w[96], b[96];
            snprintf(w, sizeof w, "%s.weight", lin[i]);
            snprintf(b, sizeof b, "%s.bias", lin[i]);
            add(m, "", LAYER(w), 2, WC, WC, 0, 0.1f);
            add(m, "", LAYER(b), 1, WC, 0, 0, 0.1f);
        }
        add(m, "", LAYER("attention.output.LayerNorm.weight"), 1, WC, 0, 1, 0.2f);
        add(m, "", LAYER("attention.output.LayerNorm.bias"), 1, WC, 0, 0, 0.1f);
        add(m, "", LAYER("intermediate.dense.weight"), 2, WF, WC, 0, 0.1f);
        add(m, "", LAYER("intermediate.dense.bias"), 1, WF, 0, 0, 0.1f);
        add(m, "", LAYER("output.dense.weight"), 2, WC, WF, 0, 0.1f);
        add(m, "", LAYER("output.dense.bias"), 1, WC, 0, 0, 0.1f);
        add(m, "", LAYER("output.LayerNorm.weight"), 1, WC, 0, 1, 0.2f);
        add(m, "", LAYER("output.LayerNorm.bias"), 1, WC, 0, 0, 0.1f);
#undef LAYER
    }
}

// A row alone, the same row inside a padded batch of 5 (longer and shorter neighbours), with
// 1 and with 2 threads: the hidden states at its real positions are the same bytes (our
// sgemm) or within 1e-5 (OpenBLAS, whose blocking may depend on the row count).
static void test_forward_bit_identical_batch_and_threads(void **state) {
    (void)state;
    enum { B = 5, T = 61 };
    const int lens[B] = {61, 37, 5, 50, 1};
    struct model m;
    build_wide_model(&m);
    char *dir = make_dir_cfg(&m, wide_config_json);
    struct lector_encoder *enc = open_ok(dir);
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(enc, &st, NULL), LECTOR_STATUS_OK);
    bool exact = lector_matmul_packed_size(WC, WC) > 0;

    int32_t *ids = calloc(B * T, sizeof *ids), *mask = calloc(B * T, sizeof *mask);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lens[b]; t++) {
            ids[b * T + t] = 1 + (b * 11 + t * 7) % (V - 1);
            mask[b * T + t] = 1;
        }
    float *batch[2], *alone[2];
    for (int n = 0; n < 2; n++) {
        lector_set_n_threads(n + 1);
        batch[n] = malloc((size_t)(B * T * WC) * sizeof(float));
        alone[n] = malloc((size_t)(B * T * WC) * sizeof(float));
        assert_int_equal(lector_encoder_forward(enc, st, ids, NULL, mask, B, T, batch[n], NULL),
                         LECTOR_STATUS_OK);
        for (int b = 0; b < B; b++)
            assert_int_equal(lector_encoder_forward(enc, st, ids + b * T, NULL, NULL, 1, lens[b],
                                                    alone[n] + b * T * WC, NULL),
                             LECTOR_STATUS_OK);
    }
    lector_set_n_threads(0);
    for (int b = 0; b < B; b++) {
        size_t off = (size_t)b * T * WC, n_real = (size_t)lens[b] * WC;
        for (int n = 0; n < 2; n++) {
            float diff = test_max_abs_diff(alone[n] + off, batch[0] + off, (int64_t)n_real);
            if (diff > 1e-5f)
                fail_msg("row %d, %d thread(s): alone vs batch max diff %g", b, n + 1,
                         (double)diff);
            if (!exact) continue;
            if (memcmp(alone[n] + off, batch[0] + off, n_real * sizeof(float)) != 0)
                fail_msg("row %d, %d thread(s): alone differs from the batch (1 thread) in bits "
                         "(max diff %g)",
                         b, n + 1, (double)diff);
            if (memcmp(batch[n] + off, batch[0] + off, n_real * sizeof(float)) != 0)
                fail_msg("row %d: batch with %d threads differs from 1 thread in bits", b, n + 1);
        }
    }
    for (int n = 0; n < 2; n++) free(batch[n]), free(alone[n]);
    free(ids), free(mask);
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
    test_rmtree(dir);
    free(dir);
    free_model(&m);
}

// Lazy packing: an encoder's first forward runs its layers' products on the checkpoint's
// plain matrices (lector_matmul_rows), a later one packs them first; both give the same
// bytes, and the same as an encoder packed before its first forward (fine-tuning and the
// reduced precisions pack it so). A first forward of many rows packs first. Models: the tiny one (C 12, F 20: QKV's three pieces
// and every matrix off the 16- and 64-column panel grids) and the wide one; 1 and 2
// threads; int8 set on an encoder that has never run a forward gives the bytes of int8
// set after the layers were packed.
static void check_first_forward_lazy(const char *cfg_json, struct model *m, int64_t width) {
    enum { B = 3, T = 9 };
    char *dir = make_dir_cfg(m, cfg_json);
    int32_t ids[B * T], mask[B * T];
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (i * 7) % (V - 1);
        mask[i] = i % T < T - 2 * (i / T) ? 1 : 0;
    }
    size_t n_out = (size_t)(B * T * width);
    float *first = malloc(n_out * sizeof(float)), *later = malloc(n_out * sizeof(float));
    float *packed = malloc(n_out * sizeof(float));
    bool lazy = lector_matmul_rows_available();
    for (int n = 1; n <= 2; n++) {
        lector_set_n_threads(n);
        struct lector_encoder *a = open_ok(dir), *b = open_ok(dir);
        struct lector_encoder_state *sa = NULL, *sb = NULL;
        assert_int_equal(lector_encoder_state_new(a, &sa, NULL), LECTOR_STATUS_OK);
        assert_int_equal(lector_encoder_state_new(b, &sb, NULL), LECTOR_STATUS_OK);
        assert_true((a->lazy != NULL) == lazy);
        assert_int_equal(lector_encoder_forward(a, sa, ids, NULL, mask, B, T, first, NULL),
                         LECTOR_STATUS_OK);
        if (lazy) assert_null(a->layers[0].qkv_wp); // still the plain matrices
        assert_int_equal(lector_encoder_forward(a, sa, ids, NULL, mask, B, T, later, NULL),
                         LECTOR_STATUS_OK);
        if (lazy) assert_non_null(a->layers[0].qkv_wp); // packed by the second forward
        lector__encoder_pack_layers(b);
        assert_true(lector_matmul_packed_size(8, 8) == 0 || b->layers[0].qkv_wp != NULL);
        assert_int_equal(lector_encoder_forward(b, sb, ids, NULL, mask, B, T, packed, NULL),
                         LECTOR_STATUS_OK);
        if (memcmp(first, later, n_out * sizeof(float)) != 0)
            fail_msg("C %lld, %d thread(s): the first forward differs from the second",
                     (long long)width, n);
        if (memcmp(first, packed, n_out * sizeof(float)) != 0)
            fail_msg("C %lld, %d thread(s): the first forward differs from a packed encoder's",
                     (long long)width, n);
        if (lector_matmul_int8_packed_size(8, 8) > 0) {
            struct lector_encoder *c = open_ok(dir);
            struct lector_encoder_state *sc = NULL;
            assert_int_equal(lector_encoder_state_new(c, &sc, NULL), LECTOR_STATUS_OK);
            assert_int_equal(lector_encoder_set_precision(c, LECTOR_PRECISION_INT8, NULL),
                             LECTOR_STATUS_OK);
            assert_int_equal(lector_encoder_set_precision(a, LECTOR_PRECISION_INT8, NULL),
                             LECTOR_STATUS_OK);
            assert_int_equal(lector_encoder_forward(c, sc, ids, NULL, mask, B, T, first, NULL),
                             LECTOR_STATUS_OK);
            assert_int_equal(lector_encoder_forward(a, sa, ids, NULL, mask, B, T, later, NULL),
                             LECTOR_STATUS_OK);
            assert_memory_equal(first, later, n_out * sizeof(float));
            lector_encoder_state_free(sc);
            lector_encoder_close(c);
        }
        lector_encoder_state_free(sa);
        lector_encoder_state_free(sb);
        lector_encoder_close(a);
        lector_encoder_close(b);
    }
    // a large first forward (13 x 16 = 208 rows, past one row block) packs first
    enum { BL = 13, TL = 16 };
    int32_t ids_l[BL * TL];
    for (int i = 0; i < BL * TL; i++) ids_l[i] = 1 + (i * 5) % (V - 1);
    float *big = malloc((size_t)(BL * TL * width) * sizeof(float));
    struct lector_encoder *d = open_ok(dir);
    struct lector_encoder_state *sd = NULL;
    assert_int_equal(lector_encoder_state_new(d, &sd, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_encoder_forward(d, sd, ids_l, NULL, NULL, BL, TL, big, NULL),
                     LECTOR_STATUS_OK);
    assert_true(lector_matmul_packed_size(8, 8) == 0 || d->layers[0].qkv_wp != NULL);
    lector_encoder_state_free(sd);
    lector_encoder_close(d);
    free(big);
    lector_set_n_threads(0);
    free(first), free(later), free(packed);
    test_rmtree(dir);
    free(dir);
}

static void test_forward_first_lazy_matches_packed(void **state) {
    (void)state;
    struct model m;
    build_model(&m, "", 1);
    check_first_forward_lazy(config_json, &m, C);
    free_model(&m);
    build_wide_model(&m);
    check_first_forward_lazy(wide_config_json, &m, WC);
    free_model(&m);
}

int main(void) {
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open_reads_config_and_counts_params),
        cmocka_unit_test(test_open_missing_tensor_is_named),
        cmocka_unit_test(test_open_wrong_shapes_listed_together),
        cmocka_unit_test(test_open_strips_prefix_and_ignores_extras),
        cmocka_unit_test(test_open_refusals_name_the_cause),
        cmocka_unit_test(test_family_roberta_positions),
        cmocka_unit_test(test_family_distilbert_names),
        cmocka_unit_test(test_family_albert_shared_layer),
        cmocka_unit_test(test_default_pooling_from_modules),
        cmocka_unit_test(test_forward_bit_identical_batch_and_threads),
        cmocka_unit_test(test_forward_first_lazy_matches_packed),
    };
    const struct CMUnitTest forward_tests[] = {
        cmocka_unit_test(test_forward_padded_rows_match_rows_alone),
        cmocka_unit_test(test_embed_rows_match_rows_alone),
        cmocka_unit_test(test_forward_rejects_out_of_range_inputs),
        cmocka_unit_test(test_forward_fully_masked_row_is_finite),
    };
    int failed = cmocka_run_group_tests(open_tests, NULL, NULL);
    failed += cmocka_run_group_tests(forward_tests, setup, teardown);
    return test_status(failed);
}

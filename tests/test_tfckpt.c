// Tests for src/checkpoint/tfckpt.c, tfckpt_index.c and crc32c.c and src/encoder/tf_names.c:
// the committed tiny TensorFlow checkpoint (tests/data/tfckpt/tiny, written by
// scripts/dev/random_encoder.py --format tf: 2 shards, several table blocks, an optimizer
// slot pair, global_step and a cls/ head), copies of it damaged on purpose, and bundles built
// here byte by byte for the cases the script cannot make.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "checkpoint/checkpoint_impl.h"
#include "encoder/tf_names.h"
#include "lector/checkpoint.h"
#include "testutil.h"

#define TINY LECTOR_TEST_DATA "/tfckpt/tiny"
#define INDEX "bert_model.ckpt.index"
#define SHARD0 "bert_model.ckpt.data-00000-of-00002"
#define SHARD1 "bert_model.ckpt.data-00001-of-00002"

// ----------------------------------------------------------------------------
// helpers

static char *path2(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// A copy of the tiny checkpoint in a fresh temporary directory.
static char *copy_tiny(void) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    const char *files[] = {INDEX, SHARD0, SHARD1, "bert_config.json", "vocab.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *src = path2(TINY, files[i]);
        size_t n = 0;
        char *data = test_read_file(src, &n);
        assert_non_null(data);
        free(test_write_file(dir, files[i], data, n));
        free(data);
        free(src);
    }
    return dir;
}

// Open dir and expect failure with code, the message holding each of the given strings.
static void expect_refused(const char *dir, enum lector_status code, const char *want1,
                           const char *want2) {
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    enum lector_status st = lector_checkpoint_open(dir, &ck, &err);
    if (st != code || (want1 && !strstr(err.msg, want1)) || (want2 && !strstr(err.msg, want2)))
        fail_msg("expected %s with '%s' and '%s', got %s: %s", lector_status_str(code),
                 want1 ? want1 : "", want2 ? want2 : "", lector_status_str(st), err.msg);
    assert_null(ck);
    assert_null(strchr(err.msg, '\n'));
}

static uint8_t *read_all(const char *dir, const char *name, size_t *n) {
    char *p = path2(dir, name);
    uint8_t *d = (uint8_t *)test_read_file(p, n);
    assert_non_null(d);
    free(p);
    return d;
}

static void write_all(const char *dir, const char *name, const void *d, size_t n) {
    free(test_write_file(dir, name, d, n));
}

static uint64_t get_varint(const uint8_t *p, size_t *pos) {
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
}

static uint32_t masked_crc(const void *d, size_t n) {
    struct lector__crc32c c;
    lector__crc32c_init(&c);
    return lector__crc32c_mask(lector__crc32c_update(&c, 0, d, n));
}

// ----------------------------------------------------------------------------
// a bundle built here: one data block (every entry a restart point), empty metaindex,
// one-entry index block, footer

struct buf {
    uint8_t b[8192];
    size_t n;
};

static void put(struct buf *b, const void *d, size_t n) {
    assert_true(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, d, n);
    b->n += n;
}
static void put_u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put_varint(struct buf *b, uint64_t v) {
    do {
        put_u8(b, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
    } while (v);
}
static void put_u32(struct buf *b, uint32_t v) {
    for (int i = 0; i < 4; i++) put_u8(b, (uint8_t)(v >> (8 * i)));
}

struct fake_tensor {
    const char *name;
    uint64_t dtype;
    int n_dims;
    uint64_t shape[2];
    uint64_t shard, offset, size;
    uint32_t crc; // masked
};

static void put_entry(struct buf *v, const struct fake_tensor *t) {
    struct buf shape = {.n = 0}, dim = {.n = 0};
    for (int d = 0; d < t->n_dims; d++) {
        dim.n = 0;
        put_u8(&dim, 0x08);
        put_varint(&dim, t->shape[d]);
        put_u8(&shape, 0x12);
        put_varint(&shape, dim.n);
        put(&shape, dim.b, dim.n);
    }
    put_u8(v, 0x08);
    put_varint(v, t->dtype);
    put_u8(v, 0x12);
    put_varint(v, shape.n);
    put(v, shape.b, shape.n);
    put_u8(v, 0x18);
    put_varint(v, t->shard);
    put_u8(v, 0x20);
    put_varint(v, t->offset);
    put_u8(v, 0x28);
    put_varint(v, t->size);
    put_u8(v, 0x35);
    put_u32(v, t->crc);
}

static void put_block_entry(struct buf *blk, const char *key, const uint8_t *val, size_t n) {
    put_varint(blk, 0);
    put_varint(blk, strlen(key));
    put_varint(blk, n);
    put(blk, key, strlen(key));
    put(blk, val, n);
}

// Append contents with its trailer to out; the handle goes to h.
static void put_block(struct buf *out, const struct buf *contents, uint8_t type, struct buf *h) {
    put_varint(h, out->n);
    put_varint(h, contents->n);
    put(out, contents->b, contents->n);
    uint8_t tmp[8192];
    memcpy(tmp, contents->b, contents->n);
    tmp[contents->n] = type;
    put_u8(out, type);
    put_u32(out, masked_crc(tmp, contents->n + 1));
}

// Write dir/bert_model.ckpt.index holding the header and the tensors (sorted by the caller).
static void write_bundle(const char *dir, uint64_t n_shards, const struct fake_tensor *t,
                         int n, uint8_t block_type) {
    struct buf blk = {.n = 0}, val = {.n = 0}, out = {.n = 0}, h = {.n = 0}, meta = {.n = 0},
               ix = {.n = 0}, ih = {.n = 0}, mh = {.n = 0};
    uint32_t restarts[16];
    put_u8(&val, 0x08);
    put_varint(&val, n_shards);
    restarts[0] = 0;
    put_block_entry(&blk, "", val.b, val.n);
    for (int i = 0; i < n; i++) {
        val.n = 0;
        put_entry(&val, &t[i]);
        restarts[i + 1] = (uint32_t)blk.n;
        put_block_entry(&blk, t[i].name, val.b, val.n);
    }
    for (int i = 0; i <= n; i++) put_u32(&blk, restarts[i]);
    put_u32(&blk, (uint32_t)n + 1);
    put_block(&out, &blk, block_type, &h);
    put_u32(&meta, 0);
    put_u32(&meta, 1);
    put_block(&out, &meta, 0, &mh);
    put_block_entry(&ix, "~", h.b, h.n); // sorts after every name used here
    put_u32(&ix, 0);
    put_u32(&ix, 1);
    put_block(&out, &ix, 0, &ih);
    struct buf foot = {.n = 0};
    put(&foot, mh.b, mh.n);
    put(&foot, ih.b, ih.n);
    while (foot.n < 40) put_u8(&foot, 0);
    put_u32(&foot, 0x8b80fb57u);
    put_u32(&foot, 0xdb477524u);
    put(&out, foot.b, foot.n);
    write_all(dir, INDEX, out.b, out.n);
    write_all(dir, "bert_config.json", "{}", 2);
}

// One float tensor of 4 values in shard 0 (file written) with the given changes.
static char *one_tensor_dir(uint64_t dtype, uint64_t n_shards, uint64_t shard, uint64_t offset,
                            uint8_t block_type) {
    char *dir = test_mkdtemp();
    assert_non_null(dir);
    float data[4] = {1, 2, 3, 4};
    struct fake_tensor t = {"bert/pooler/dense/bias", dtype, 1, {4, 0}, shard, offset,
                            sizeof data, masked_crc(data, sizeof data)};
    write_bundle(dir, n_shards, &t, 1, block_type);
    char name[64];
    snprintf(name, sizeof name, "bert_model.ckpt.data-00000-of-%05d", (int)n_shards);
    write_all(dir, name, data, sizeof data);
    return dir;
}

// ----------------------------------------------------------------------------
// reading the committed checkpoint

static void test_crc32c_known_values(void **state) {
    (void)state;
    struct lector__crc32c c;
    lector__crc32c_init(&c);
    assert_int_equal(lector__crc32c_update(&c, 0, "123456789", 9), 0xe3069283u);
    assert_int_equal(lector__crc32c_update(&c, 0, "", 0), 0);
    // Continuing over a split buffer gives the same value, at every split.
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    uint32_t whole = lector__crc32c_update(&c, 0, s, strlen(s));
    for (size_t k = 0; k <= strlen(s); k++)
        assert_int_equal(lector__crc32c_update(&c, lector__crc32c_update(&c, 0, s, k), s + k,
                                               strlen(s) - k),
                         whole);
    assert_int_equal(lector__crc32c_mask(0), 0xa282ead8u);
}

static void test_tfckpt_name_map(void **state) {
    (void)state;
    static const struct {
        const char *tf, *hf;
        bool transpose;
    } cases[] = {
        {"bert/embeddings/word_embeddings", "embeddings.word_embeddings.weight", false},
        {"bert/embeddings/token_type_embeddings", "embeddings.token_type_embeddings.weight",
         false},
        {"bert/embeddings/LayerNorm/gamma", "embeddings.LayerNorm.weight", false},
        {"bert/embeddings/LayerNorm/beta", "embeddings.LayerNorm.bias", false},
        {"bert/encoder/layer_11/attention/self/query/kernel",
         "encoder.layer.11.attention.self.query.weight", true},
        {"bert/encoder/layer_0/attention/output/dense/bias",
         "encoder.layer.0.attention.output.dense.bias", false},
        {"bert/encoder/layer_3/output/LayerNorm/beta", "encoder.layer.3.output.LayerNorm.bias",
         false},
        {"bert/pooler/dense/kernel", "pooler.dense.weight", true},
        {"bert/encoder/layer_x/output/dense/bias", "encoder.layer_x.output.dense.bias", false},
        {"output_weights", "output_weights", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        bool tr = !cases[i].transpose;
        assert_true(lector__tf_map_name(cases[i].tf, out, sizeof out, &tr));
        assert_string_equal(out, cases[i].hf);
        assert_int_equal(tr, cases[i].transpose);
    }
    static const char *const ignored[] = {
        "global_step", "cls/predictions/output_bias", "bert/pooler/dense/kernel/adam_m",
        "bert/pooler/dense/kernel/adam_v", "bert/pooler/dense/kernel/Adam_1", "beta1_power"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        char out[512];
        bool tr;
        assert_false(lector__tf_map_name(ignored[i], out, sizeof out, &tr));
    }
}

static void test_tfckpt_open_names_and_shapes(void **state) {
    (void)state;
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector_checkpoint_open(TINY, &ck, &err) != LECTOR_STATUS_OK) fail_msg("%s", err.msg);
    // 5 embedding tensors, 16 per layer, the pooler's 2; no optimizer slots, step or head.
    assert_int_equal(lector_checkpoint_n_tensors(ck), 5 + 2 * 16 + 2);
    // The index (for the checksum), then the two data shards.
    assert_int_equal(lector_checkpoint_n_files(ck), 3);
    assert_non_null(strstr(lector_checkpoint_file(ck, 0), INDEX));
    assert_non_null(strstr(lector_checkpoint_file(ck, 1), SHARD0));
    assert_non_null(strstr(lector_checkpoint_file(ck, 2), SHARD1));
    static const struct {
        const char *name;
        int32_t n_dims;
        int64_t d0, d1;
    } want[] = {
        {"embeddings.word_embeddings.weight", 2, 303, 32},
        {"embeddings.position_embeddings.weight", 2, 64, 32},
        {"embeddings.token_type_embeddings.weight", 2, 2, 32},
        {"embeddings.LayerNorm.weight", 1, 32, 1},
        {"embeddings.LayerNorm.bias", 1, 32, 1},
        {"encoder.layer.0.attention.self.query.weight", 2, 32, 32},
        {"encoder.layer.1.attention.self.value.bias", 1, 32, 1},
        {"encoder.layer.1.intermediate.dense.weight", 2, 64, 32}, // TF kernel (32, 64)
        {"encoder.layer.1.output.dense.weight", 2, 32, 64},       // TF kernel (64, 32)
        {"encoder.layer.0.output.LayerNorm.weight", 1, 32, 1},
        {"pooler.dense.weight", 2, 32, 32},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct lector_tensor *t = lector_checkpoint_find(ck, want[i].name);
        if (!t) fail_msg("'%s' is missing", want[i].name);
        assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
        assert_int_equal(t->n_dims, want[i].n_dims);
        assert_int_equal(t->shape[0], want[i].d0);
        assert_int_equal(t->shape[1], want[i].d1);
        assert_int_equal(t->stride[0], want[i].n_dims == 2 ? want[i].d1 : 1);
        assert_int_equal((uintptr_t)t->data % 64, 0);
    }
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++) {
        const char *name = lector_checkpoint_tensor(ck, i)->name;
        assert_null(strchr(name, '/'));
        assert_null(strstr(name, "adam"));
        assert_null(strstr(name, "global_step"));
    }
    lector_checkpoint_close(ck);
}

// Every kernel comes out transposed and every other tensor as stored: compared with the
// bytes the index points at in the data shards.
static void test_tfckpt_values_against_raw_bytes(void **state) {
    (void)state;
    size_t n_ix = 0, n0 = 0, n1 = 0;
    uint8_t *ix_bytes = read_all(TINY, INDEX, &n_ix);
    uint8_t *shard[2] = {read_all(TINY, SHARD0, &n0), read_all(TINY, SHARD1, &n1)};
    struct lector__tf_index ix;
    struct lector_error err;
    if (lector__tf_index_parse(ix_bytes, n_ix, INDEX, &ix, &err) != LECTOR_STATUS_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(ix.n_shards, 2);
    struct lector_checkpoint *ck = NULL;
    assert_int_equal(lector_checkpoint_open(TINY, &ck, &err), LECTOR_STATUS_OK);
    int n_kernels = 0, n_checked = 0, n_ignored = 0;
    for (int64_t i = 0; i < ix.n_entries; i++) {
        const struct lector__tf_entry *e = &ix.entries[i];
        char hf[512];
        bool tr;
        if (!lector__tf_map_name(e->name, hf, sizeof hf, &tr)) {
            n_ignored++;
            continue;
        }
        const struct lector_tensor *t = lector_checkpoint_find(ck, hf);
        if (!t) fail_msg("'%s' (from '%s') is missing", hf, e->name);
        assert_int_equal(e->dtype, 1);
        const float *raw = (const float *)(shard[e->shard_id] + e->offset);
        const float *got = t->data;
        if (tr) {
            assert_int_equal(e->n_dims, 2);
            int64_t R = e->shape[0], C = e->shape[1];
            assert_int_equal(t->shape[0], C);
            assert_int_equal(t->shape[1], R);
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++) {
                    float a, b;
                    memcpy(&a, raw + r * C + c, sizeof a);
                    b = got[c * R + r];
                    assert_memory_equal(&a, &b, sizeof a);
                }
            n_kernels++;
        } else {
            assert_memory_equal(got, raw, (size_t)e->size);
        }
        n_checked++;
    }
    assert_int_equal(n_checked, 39);
    assert_int_equal(n_kernels, 2 * 6 + 1);
    // adam_m and adam_v of one variable, global_step, cls/predictions/output_bias
    assert_int_equal(n_ignored, 4);
    lector_checkpoint_close(ck);
    lector__tf_index_free(&ix);
    free(ix_bytes);
    free(shard[0]);
    free(shard[1]);
}

// The prefix and the .index file name the same checkpoint as the directory.
static void test_tfckpt_open_by_prefix_and_index(void **state) {
    (void)state;
    const char *paths[] = {TINY "/bert_model.ckpt", TINY "/" INDEX};
    for (size_t i = 0; i < 2; i++) {
        struct lector_checkpoint *ck = NULL;
        struct lector_error err;
        if (lector_checkpoint_open(paths[i], &ck, &err) != LECTOR_STATUS_OK)
            fail_msg("%s: %s", paths[i], err.msg);
        assert_int_equal(lector_checkpoint_n_tensors(ck), 39);
        lector_checkpoint_close(ck);
    }
}

// ----------------------------------------------------------------------------
// refusals

static void test_tfckpt_refuses_bad_magic(void **state) {
    (void)state;
    char *dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, INDEX, &n);
    d[n - 1] ^= 0x01;
    write_all(dir, INDEX, d, n);
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "magic");
    free(d);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_truncated_index(void **state) {
    (void)state;
    char *dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, INDEX, &n);
    write_all(dir, INDEX, d, n - 100); // the footer is gone: the magic is wrong
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "truncated");
    write_all(dir, INDEX, d, 30); // shorter than a footer
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "shorter than the 48-byte table footer");
    write_all(dir, INDEX, d, 0);
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "truncated");
    // A footer pointing past the end: keep only the footer.
    write_all(dir, INDEX, d + n - 48, 48);
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "past the table's end");
    free(d);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_block_crc_mismatch(void **state) {
    (void)state;
    char *dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, INDEX, &n);
    d[20] ^= 0x40; // inside the first data block
    write_all(dir, INDEX, d, n);
    expect_refused(dir, LECTOR_STATUS_FORMAT, INDEX, "data block at byte 0: CRC-32C mismatch");
    free(d);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_tensor_crc_mismatch(void **state) {
    (void)state;
    char *dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, SHARD0, &n);
    d[0] ^= 0x01; // the first tensor of shard 0 (the script writes model variables first)
    write_all(dir, SHARD0, d, n);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "tensor 'bert/embeddings/LayerNorm/beta'",
                   "CRC-32C mismatch at byte 0");
    // Corruption in an ignored tensor is not read: shard 0 ends with global_step.
    d[0] ^= 0x01;
    d[n - 1] ^= 0x01;
    write_all(dir, SHARD0, d, n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector_checkpoint_open(dir, &ck, &err) != LECTOR_STATUS_OK) fail_msg("%s", err.msg);
    lector_checkpoint_close(ck);
    free(d);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_data_past_the_file(void **state) {
    (void)state;
    char *dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, SHARD0, &n);
    write_all(dir, SHARD0, d, n / 2);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "lie past the end of", SHARD0);
    free(d);
    test_rmtree(dir);
    free(dir);
    // Built by hand: an offset beyond the 16-byte data file.
    dir = one_tensor_dir(1, 1, 0, 1000, 0);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "'bert/pooler/dense/bias'", "[1000, 1016)");
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_snappy_block(void **state) {
    (void)state;
    char *dir = one_tensor_dir(1, 1, 0, 0, 1);
    expect_refused(dir, LECTOR_STATUS_UNSUPPORTED, INDEX, "snappy-compressed");
    test_rmtree(dir);
    free(dir);
    // And in the committed checkpoint: retype its first data block, fix the CRC.
    dir = copy_tiny();
    size_t n;
    uint8_t *d = read_all(dir, INDEX, &n);
    size_t pos = n - 48;
    get_varint(d, &pos);
    get_varint(d, &pos);
    uint64_t ix_off = get_varint(d, &pos);
    pos = (size_t)ix_off; // the first index entry: shared 0, key length, value length
    get_varint(d, &pos);
    uint64_t klen = get_varint(d, &pos);
    get_varint(d, &pos);
    pos += (size_t)klen;
    uint64_t off = get_varint(d, &pos), size = get_varint(d, &pos);
    assert_int_equal(off, 0);
    d[size] = 1;
    uint32_t crc = masked_crc(d, (size_t)size + 1);
    for (int i = 0; i < 4; i++) d[size + 1 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    write_all(dir, INDEX, d, n);
    expect_refused(dir, LECTOR_STATUS_UNSUPPORTED, INDEX, "snappy-compressed");
    free(d);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_unknown_dtype(void **state) {
    (void)state;
    char *dir = one_tensor_dir(7, 1, 0, 0, 0); // DT_STRING
    expect_refused(dir, LECTOR_STATUS_UNSUPPORTED, "'bert/pooler/dense/bias'", "DT_STRING");
    test_rmtree(dir);
    free(dir);
    dir = one_tensor_dir(12345, 1, 0, 0, 0);
    expect_refused(dir, LECTOR_STATUS_UNSUPPORTED, "dtype 12345", "does not read");
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_missing_shard(void **state) {
    (void)state;
    char *dir = copy_tiny();
    char *p = path2(dir, SHARD1);
    assert_int_equal(unlink(p), 0);
    free(p);
    expect_refused(dir, LECTOR_STATUS_NOT_FOUND, SHARD1, "is missing");
    test_rmtree(dir);
    free(dir);
    // A tensor in shard 1 of 2, only shard 0 written.
    dir = one_tensor_dir(1, 2, 1, 0, 0);
    expect_refused(dir, LECTOR_STATUS_NOT_FOUND, "data-00001-of-00002 is missing",
                   "shard 1 of 2");
    test_rmtree(dir);
    free(dir);
    // shard_id not below num_shards
    dir = one_tensor_dir(1, 1, 3, 0, 0);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "shard_id 3", "num_shards 1");
    test_rmtree(dir);
    free(dir);
}

// The hand-built bundle itself is good, so the refusals above are about one change each.
static void test_tfckpt_hand_built_bundle_opens(void **state) {
    (void)state;
    char *dir = one_tensor_dir(1, 1, 0, 0, 0);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector_checkpoint_open(dir, &ck, &err) != LECTOR_STATUS_OK) fail_msg("%s", err.msg);
    const struct lector_tensor *t = lector_checkpoint_find(ck, "pooler.dense.bias");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 4);
    assert_true(((const float *)t->data)[3] == 4.0f);
    lector_checkpoint_close(ck);
    test_rmtree(dir);
    free(dir);
}

static void test_tfckpt_refuses_bad_size_and_entry(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    float data[4] = {1, 2, 3, 4};
    // size disagrees with 4 x F32
    struct fake_tensor t = {"bert/pooler/dense/bias", 1, 1, {4, 0}, 0, 0, 12,
                            masked_crc(data, 12)};
    write_bundle(dir, 1, &t, 1, 0);
    write_all(dir, "bert_model.ckpt.data-00000-of-00001", data, sizeof data);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "size 12 bytes", "4 x F32");
    // keys out of order
    struct fake_tensor two[2] = {t, t};
    two[0].name = "bert/pooler/dense/kernel";
    two[0].size = two[1].size = 16;
    two[0].crc = two[1].crc = masked_crc(data, 16);
    write_bundle(dir, 1, two, 2, 0);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "out of order", INDEX);
    // no bundle header: a header of 0 shards is refused as well
    write_bundle(dir, 0, &two[1], 1, 0);
    expect_refused(dir, LECTOR_STATUS_FORMAT, "num_shards", INDEX);
    test_rmtree(dir);
    free(dir);
}

// Every prefix of the index and every single-byte change is refused or read, never a crash
// (the fuzz target covers this more widely; this runs under the sanitizers in ctest).
static void test_tfckpt_index_mutations(void **state) {
    (void)state;
    size_t n;
    uint8_t *d = read_all(TINY, INDEX, &n);
    struct lector__tf_index ix;
    struct lector_error err;
    for (size_t k = 0; k < n; k++) {
        assert_int_not_equal(lector__tf_index_parse(d, k, INDEX, &ix, &err), LECTOR_STATUS_OK);
        lector__tf_index_free(&ix);
    }
    for (size_t k = 0; k < n; k += 3) {
        uint8_t save = d[k];
        d[k] ^= (uint8_t)(1u << (k % 8));
        (void)lector__tf_index_parse(d, n, INDEX, &ix, &err);
        lector__tf_index_free(&ix);
        d[k] = save;
    }
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_values),
        cmocka_unit_test(test_tfckpt_name_map),
        cmocka_unit_test(test_tfckpt_open_names_and_shapes),
        cmocka_unit_test(test_tfckpt_values_against_raw_bytes),
        cmocka_unit_test(test_tfckpt_open_by_prefix_and_index),
        cmocka_unit_test(test_tfckpt_hand_built_bundle_opens),
        cmocka_unit_test(test_tfckpt_refuses_bad_magic),
        cmocka_unit_test(test_tfckpt_refuses_truncated_index),
        cmocka_unit_test(test_tfckpt_refuses_block_crc_mismatch),
        cmocka_unit_test(test_tfckpt_refuses_tensor_crc_mismatch),
        cmocka_unit_test(test_tfckpt_refuses_data_past_the_file),
        cmocka_unit_test(test_tfckpt_refuses_snappy_block),
        cmocka_unit_test(test_tfckpt_refuses_unknown_dtype),
        cmocka_unit_test(test_tfckpt_refuses_missing_shard),
        cmocka_unit_test(test_tfckpt_refuses_bad_size_and_entry),
        cmocka_unit_test(test_tfckpt_index_mutations),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

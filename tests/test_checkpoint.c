// Tests for src/checkpoint: safetensors validation (hand-made files), half-precision
// conversion, the writer, and sharded directories. Needs nothing outside the tree.
#define _POSIX_C_SOURCE 200809L
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
#include "checkpoint/checkpoint_impl.h"
#include "lector/checkpoint.h"
#include "testutil.h"

// ----------------------------------------------------------------------------
// helpers: safetensors files built byte by byte

// u64 LE header length (claimed), the header text, then n_data bytes of data.
static uint8_t *st_bytes_claim(uint64_t claimed, const char *json, const void *data,
                               size_t n_data, size_t *n_out) {
    size_t nj = strlen(json);
    uint8_t *b = malloc(8 + nj + n_data + 1);
    lector__write_u64_le(b, claimed);
    memcpy(b + 8, json, nj);
    if (n_data) memcpy(b + 8 + nj, data, n_data);
    *n_out = 8 + nj + n_data;
    return b;
}

static uint8_t *st_bytes(const char *json, const void *data, size_t n_data, size_t *n_out) {
    return st_bytes_claim(strlen(json), json, data, n_data, n_out);
}

// Write the bytes to dir/name and open the file; returns the status, *ck on success.
static enum lector_status open_bytes(const char *dir, const char *name, const uint8_t *b,
                                     size_t n, struct lector_checkpoint **ck,
                                     struct lector_error *err) {
    char *path = test_write_file(dir, name, b, n);
    assert_non_null(path);
    enum lector_status st = lector_checkpoint_open(path, ck, err);
    free(path);
    return st;
}

// Open a hand-made file that must be refused with code and a message containing want.
static void expect_refusal(const char *json, const void *data, size_t n_data,
                           enum lector_status code, const char *want) {
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes(json, data, n_data, &n);
    struct lector_checkpoint *ck = (struct lector_checkpoint *)1;
    struct lector_error err = {0};
    enum lector_status st = open_bytes(dir, "bad.safetensors", b, n, &ck, &err);
    if (st != code || !strstr(err.msg, want))
        fprintf(stderr, "got status %d, message: %s\nwanted %d and: %s\n", st, err.msg, code,
                want);
    assert_int_equal(st, code);
    assert_null(ck);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "bad.safetensors"));
    assert_null(strchr(err.msg, '\n'));
    // The in-memory entry point gives the same verdict.
    assert_int_equal(lector__checkpoint_open_memory(b, n, "mem", &ck, &err), code);
    assert_null(ck);
    free(b);
    test_rmtree(dir);
    free(dir);
}

static const float data24[6] = {1, 2, 3, 4, 5, 6};

// ----------------------------------------------------------------------------
// refusals

static void test_safetensors_header_length_past_eof(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes_claim(1000, "{}", NULL, 0, &n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(open_bytes(dir, "m.safetensors", b, n, &ck, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "header length 1000 runs past the end of the file (10 bytes)"));
    free(b);
    test_rmtree(dir);
    free(dir);
}

static void test_safetensors_header_over_100mb(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes_claim(200u * 1000 * 1000, "{}", NULL, 0, &n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(open_bytes(dir, "m.safetensors", b, n, &ck, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "over the limit"));
    free(b);
    // A u64 with the top bit set must not wrap anything either.
    b = st_bytes_claim(UINT64_MAX, "{}", NULL, 0, &n);
    assert_int_equal(open_bytes(dir, "m.safetensors", b, n, &ck, &err), LECTOR_STATUS_FORMAT);
    free(b);
    test_rmtree(dir);
    free(dir);
}

static void test_safetensors_short_and_empty_files(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(open_bytes(dir, "e.safetensors", (const uint8_t *)"", 0, &ck, &err),
                     LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    assert_int_equal(open_bytes(dir, "s.safetensors", (const uint8_t *)"abc", 3, &ck, &err),
                     LECTOR_STATUS_FORMAT);
    test_rmtree(dir);
    free(dir);
}

static void test_safetensors_non_json_header(void **state) {
    (void)state;
    expect_refusal("{\"x\": nope}", NULL, 0, LECTOR_STATUS_FORMAT, "not valid JSON");
    expect_refusal("[]", NULL, 0, LECTOR_STATUS_FORMAT, "must be a JSON object");
    expect_refusal("", NULL, 0, LECTOR_STATUS_FORMAT, "not valid JSON");
}

static void test_safetensors_non_utf8_header(void **state) {
    (void)state;
    expect_refusal("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", NULL, 0,
                   LECTOR_STATUS_FORMAT, "not valid UTF-8 (byte 0xff at file offset 10)");
    // An overlong encoding of '/' and a lone surrogate are invalid too.
    expect_refusal("{\"\xc0\xaf\":1}", NULL, 0, LECTOR_STATUS_FORMAT, "UTF-8");
    expect_refusal("{\"\xed\xa0\x80\":1}", NULL, 0, LECTOR_STATUS_FORMAT, "UTF-8");
}

static void test_safetensors_duplicate_names(void **state) {
    (void)state;
    expect_refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   data24, 8, LECTOR_STATUS_FORMAT, "duplicate");
}

static void test_safetensors_overlapping_offsets(void **state) {
    (void)state;
    expect_refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   data24, 12, LECTOR_STATUS_FORMAT,
                   "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
}

static void test_safetensors_gap_between_tensors(void **state) {
    (void)state;
    expect_refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                   data24, 20, LECTOR_STATUS_FORMAT,
                   "tensor 'b': data_offsets [12, 20] leave a gap of 4 bytes after tensor 'a'");
    // A gap at the start of the data section.
    expect_refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data24, 8,
                   LECTOR_STATUS_FORMAT, "gap of 4 bytes after the header");
    // Trailing bytes after the last tensor.
    expect_refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data24, 8,
                   LECTOR_STATUS_FORMAT, "4 trailing bytes");
}

static void test_safetensors_span_mismatch(void **state) {
    (void)state;
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", data24,
                   12, LECTOR_STATUS_FORMAT,
                   "bad.safetensors: tensor 'x': data_offsets [0, 12] span 12 bytes, shape "
                   "[2, 3] x F32 needs 24");
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", data24, 8,
                   LECTOR_STATUS_FORMAT, "end before they begin");
    // A span longer than the shape needs is refused too, not read short.
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", data24, 8,
                   LECTOR_STATUS_FORMAT,
                   "tensor 'x': data_offsets [0, 8] span 8 bytes, shape [1] x F32 needs 4");
}

static void test_safetensors_overflowing_dimensions(void **state) {
    (void)state;
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
                   "\"data_offsets\":[0,4]}}",
                   data24, 4, LECTOR_STATUS_FORMAT, "overflows");
    // Fits in int64 elements, not in bytes.
    expect_refusal("{\"x\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                   "\"data_offsets\":[0,4]}}",
                   data24, 4, LECTOR_STATUS_FORMAT, "overflows");
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data24, 4,
                   LECTOR_STATUS_FORMAT, "non-negative");
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", data24, 4,
                   LECTOR_STATUS_FORMAT, "non-negative integer");
}

static void test_safetensors_truncated_data(void **state) {
    (void)state;
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data24, 8,
                   LECTOR_STATUS_FORMAT, "tensor 'x': data_offsets [0, 16] end past the data section (8 bytes");
}

static void test_safetensors_unknown_dtype(void **state) {
    (void)state;
    expect_refusal("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", data24,
                   4, LECTOR_STATUS_UNSUPPORTED, "tensor 'w': dtype 'F8_E4M3' is not supported");
    expect_refusal("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", data24, 4,
                   LECTOR_STATUS_FORMAT, "dtype must be a string");
}

static void test_safetensors_five_dims(void **state) {
    (void)state;
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
                   data24, 4, LECTOR_STATUS_UNSUPPORTED, "tensor 'x': shape has 5 dimensions");
}

static void test_safetensors_bad_entries_and_metadata(void **state) {
    (void)state;
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", data24, 4, LECTOR_STATUS_FORMAT,
                   "tensor 'x': missing 'data_offsets'");
    expect_refusal("{\"x\":[1]}", NULL, 0, LECTOR_STATUS_FORMAT, "expected an object");
    expect_refusal("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", data24, 4,
                   LECTOR_STATUS_FORMAT, "two non-negative integers");
    expect_refusal("{\"__metadata__\":{\"k\":1}}", NULL, 0, LECTOR_STATUS_FORMAT,
                   "__metadata__ key 'k': expected a string");
    expect_refusal("{\"__metadata__\":[]}", NULL, 0, LECTOR_STATUS_FORMAT,
                   "__metadata__ must be an object");
}

// ----------------------------------------------------------------------------
// accepted files

static void test_safetensors_reads_values_in_file_order(void **state) {
    (void)state;
    // Keys listed out of offset order; tensors come back sorted by offset. The header length
    // (not a multiple of 8 or 64) leaves the F32 data unaligned, so it is copied.
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[32,36]},"
                       "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[36,36]}}";
    uint8_t data[36];
    memcpy(data, data24, 24);
    int32_t ints[2] = {-7, 123456};
    memcpy(data + 24, ints, 8);
    float scalar = 0.5f;
    memcpy(data + 32, &scalar, 4);
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes(json, data, sizeof data, &n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err = {0};
    assert_int_equal(open_bytes(dir, "ok.safetensors", b, n, &ck, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 4);
    const struct lector_tensor *a = lector_checkpoint_tensor(ck, 0);
    assert_string_equal(a->name, "a");
    assert_int_equal(a->dtype, LECTOR_DTYPE_F32);
    assert_int_equal(a->n_dims, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 3);
    assert_int_equal(a->shape[2], 1);
    assert_int_equal(a->stride[0], 3);
    assert_int_equal(a->stride[1], 1);
    assert_int_equal((uintptr_t)a->data % 64, 0);
    assert_memory_equal(a->data, data24, 24);
    const struct lector_tensor *bt = lector_checkpoint_find(ck, "b");
    assert_ptr_equal(bt, lector_checkpoint_tensor(ck, 1));
    assert_int_equal(bt->dtype, LECTOR_DTYPE_I32);
    int32_t got[2];
    memcpy(got, bt->data, sizeof got); // integer data may be unaligned
    assert_int_equal(got[0], -7);
    assert_int_equal(got[1], 123456);
    const struct lector_tensor *s = lector_checkpoint_find(ck, "s");
    assert_int_equal(s->n_dims, 0);
    assert_int_equal(lector_tensor_numel(s), 1);
    assert_true(*(const float *)s->data == 0.5f);
    const struct lector_tensor *z = lector_checkpoint_find(ck, "z");
    assert_int_equal(lector_tensor_numel(z), 0);
    assert_null(lector_checkpoint_find(ck, "missing"));
    assert_null(lector_checkpoint_tensor(ck, 4));
    assert_string_equal(lector_checkpoint_metadata(ck, "format"), "pt");
    assert_null(lector_checkpoint_metadata(ck, "nope"));
    assert_int_equal(lector_checkpoint_n_files(ck), 1);
    assert_non_null(strstr(lector_checkpoint_file(ck, 0), "ok.safetensors"));
    lector_checkpoint_close(ck);
    lector_checkpoint_close(NULL);
    free(b);
    test_rmtree(dir);
    free(dir);
}

static void test_safetensors_aligned_f32_used_in_place(void **state) {
    (void)state;
    // Pad the header so the data starts at file offset 64: the mapping is page aligned, so
    // the tensor is 64-byte aligned in place and must not be copied.
    char json[57];
    const char *core = "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}";
    size_t nc = strlen(core);
    assert_true(nc <= 56);
    memset(json, ' ', 56);
    memcpy(json, core, nc);
    json[56] = '\0';
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes(json, data24, 24, &n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(open_bytes(dir, "al.safetensors", b, n, &ck, &err), LECTOR_STATUS_OK);
    const struct lector_tensor *a = lector_checkpoint_find(ck, "a");
    assert_memory_equal(a->data, data24, 24);
    assert_null(ck->files[0].arena); // nothing needed copying
    assert_ptr_equal(a->data, (const uint8_t *)ck->files[0].base + 64);
    lector_checkpoint_close(ck);
    free(b);
    test_rmtree(dir);
    free(dir);
}

static void test_safetensors_in_place_keeps_float_aligned_f32(void **state) {
    (void)state;
    // Data from file offset 196: "a" is aligned for a float there but not to 64 bytes; "c"
    // follows one byte of U8 and is not even aligned for a float.
    char json[189];
    const char *core = "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
                       "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[24,25]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[25,33]}}";
    size_t nc = strlen(core);
    assert_true(nc <= 188);
    memset(json, ' ', 188);
    memcpy(json, core, nc);
    json[188] = '\0';
    uint8_t data[33];
    memcpy(data, data24, 24);
    data[24] = 7;
    memcpy(data + 25, data24 + 4, 8);
    char *dir = test_mkdtemp();
    size_t n;
    uint8_t *b = st_bytes(json, data, sizeof data, &n);
    char *path = test_write_file(dir, "in.safetensors", b, n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(lector__checkpoint_open_in_place(path, &ck, &err), LECTOR_STATUS_OK);
    const struct lector_tensor *a = lector_checkpoint_find(ck, "a");
    assert_ptr_equal(a->data, (const uint8_t *)ck->files[0].base + 196); // not copied
    assert_memory_equal(a->data, data24, 24);
    const struct lector_tensor *c = lector_checkpoint_find(ck, "c");
    assert_int_equal(c->dtype, LECTOR_DTYPE_F32);
    assert_int_equal((uintptr_t)c->data % 64, 0); // copied
    assert_true(((const float *)c->data)[0] == 5.0f && ((const float *)c->data)[1] == 6.0f);
    // Released after use, as the encoder does once it has packed a matrix: the pointer is
    // forgotten, the other tensors stay.
    lector_checkpoint_release(ck, a->data);
    assert_null(lector_checkpoint_find(ck, "a")->data);
    assert_true(((const float *)c->data)[1] == 6.0f);
    lector_checkpoint_close(ck);
    // The public open copies "a" to 64-byte aligned memory.
    assert_int_equal(lector_checkpoint_open(path, &ck, &err), LECTOR_STATUS_OK);
    a = lector_checkpoint_find(ck, "a");
    assert_int_equal((uintptr_t)a->data % 64, 0);
    assert_memory_equal(a->data, data24, 24);
    lector_checkpoint_close(ck);
    free(path);
    free(b);
    test_rmtree(dir);
    free(dir);
}

// ----------------------------------------------------------------------------
// half precision

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_f16_known_bit_patterns(void **state) {
    (void)state;
    assert_true(lector__f16_to_f32(0x3c00) == 1.0f);
    assert_true(lector__f16_to_f32(0xc000) == -2.0f);
    assert_true(lector__f16_to_f32(0x7bff) == 65504.0f);
    assert_true(lector__f16_to_f32(0x3555) == 0x1.554p-2f); // 0.333251953125
    assert_true(lector__f16_to_f32(0x0400) == 0x1p-14f);    // smallest normal
    assert_true(lector__f16_to_f32(0x0001) == 0x1p-24f);    // smallest subnormal
    assert_true(lector__f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    assert_true(lector__f16_to_f32(0x8001) == -0x1p-24f);
    assert_int_equal(f32_bits(lector__f16_to_f32(0x0000)), 0x00000000u);
    assert_int_equal(f32_bits(lector__f16_to_f32(0x8000)), 0x80000000u);
    assert_true(isinf(lector__f16_to_f32(0x7c00)) && lector__f16_to_f32(0x7c00) > 0);
    assert_true(isinf(lector__f16_to_f32(0xfc00)) && lector__f16_to_f32(0xfc00) < 0);
    assert_true(isnan(lector__f16_to_f32(0x7e00)));
    assert_true(isnan(lector__f16_to_f32(0x7c01))); // signalling payload stays a NaN
    assert_int_equal(f32_bits(lector__f16_to_f32(0x7e00)), 0x7fc00000u);
}

static void test_bf16_known_bit_patterns(void **state) {
    (void)state;
    assert_true(lector__bf16_to_f32(0x3f80) == 1.0f);
    assert_true(lector__bf16_to_f32(0xc000) == -2.0f);
    assert_true(lector__bf16_to_f32(0x4780) == 65536.0f);
    assert_true(lector__bf16_to_f32(0x7f7f) == 0x1.fep127f); // largest finite
    assert_true(lector__bf16_to_f32(0x0001) == 0x1p-133f);   // smallest subnormal
    assert_int_equal(f32_bits(lector__bf16_to_f32(0x8000)), 0x80000000u);
    assert_true(isinf(lector__bf16_to_f32(0x7f80)) && lector__bf16_to_f32(0x7f80) > 0);
    assert_true(isinf(lector__bf16_to_f32(0xff80)) && lector__bf16_to_f32(0xff80) < 0);
    assert_true(isnan(lector__bf16_to_f32(0x7fc0)));
}

static void test_safetensors_f16_bf16_converted_at_open(void **state) {
    (void)state;
    const uint16_t h[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00};
    const uint16_t bf[3] = {0x3f80, 0xc000, 0x0001};
    uint8_t data[18];
    memcpy(data, h, 12);
    memcpy(data + 12, bf, 6);
    const char *json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                       "\"bf\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}";
    size_t n;
    uint8_t *b = st_bytes(json, data, sizeof data, &n);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(lector__checkpoint_open_memory(b, n, "mem", &ck, &err), LECTOR_STATUS_OK);
    const struct lector_tensor *t = lector_checkpoint_tensor(ck, 0);
    assert_string_equal(t->name, "h");
    assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
    assert_int_equal(lector_checkpoint_stored_dtype(ck, 0), LECTOR_DTYPE_F16);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    const float *f = t->data;
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f && f[3] == 0x1p-24f);
    assert_true(isinf(f[4]) && isnan(f[5]));
    t = lector_checkpoint_tensor(ck, 1);
    assert_int_equal(lector_checkpoint_stored_dtype(ck, 1), LECTOR_DTYPE_BF16);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    f = t->data;
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0x1p-133f);
    lector_checkpoint_close(ck);
    free(b);
}

// ----------------------------------------------------------------------------
// writer

static void test_writer_round_trip_with_metadata(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = lector__path_join(dir, "head.safetensors");
    float w[6] = {0.25f, -1.5f, 3.0f, 1e-30f, -0.0f, 7.0f};
    int32_t ids[4] = {1, -2, 3, 2147483647};
    uint16_t half[3] = {0x3c00, 0xc000, 0x0001};
    float scalar = 42.0f;
    struct lector_tensor ts[4] = {
        {.dtype = LECTOR_DTYPE_F32, .n_dims = 2, .shape = {2, 3}, .stride = {3, 1}, .data = w,
         .name = "head.weight"},
        {.dtype = LECTOR_DTYPE_I32, .n_dims = 1, .shape = {4}, .stride = {1}, .data = ids,
         .name = "labels"},
        {.dtype = LECTOR_DTYPE_F16, .n_dims = 1, .shape = {3}, .stride = {1}, .data = half,
         .name = "half"},
        {.dtype = LECTOR_DTYPE_F32, .n_dims = 0, .data = &scalar, .name = "temperature"},
    };
    const char *keys[2] = {"labels", "version"};
    const char *vals[2] = {"[\"neg\", \"pos\"]", "1"};
    struct lector_error err = {0};
    assert_int_equal(lector_safetensors_write(path, ts, 4, keys, vals, 2, &err), LECTOR_STATUS_OK);

    // The header: padded to a multiple of 8, __metadata__ first, tensors in the given order.
    size_t n;
    char *raw = test_read_file(path, &n);
    uint64_t nh = lector__read_u64_le((const uint8_t *)raw);
    assert_int_equal(nh % 8, 0);
    assert_memory_equal(raw + 8, "{\"__metadata__\":", 16);
    char *hdr = strndup(raw + 8, (size_t)nh);
    char *p1 = strstr(hdr, "\"head.weight\""), *p2 = strstr(hdr, "\"labels\":{"),
         *p3 = strstr(hdr, "\"half\""), *p4 = strstr(hdr, "\"temperature\"");
    assert_true(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
    assert_int_equal(n, 8 + nh + 24 + 16 + 6 + 4);
    free(hdr);
    free(raw);

    struct lector_checkpoint *ck = NULL;
    assert_int_equal(lector_checkpoint_open(path, &ck, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 4);
    const struct lector_tensor *t = lector_checkpoint_tensor(ck, 0);
    assert_string_equal(t->name, "head.weight");
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_memory_equal(t->data, w, sizeof w);
    t = lector_checkpoint_tensor(ck, 1);
    assert_string_equal(t->name, "labels");
    assert_memory_equal(t->data, ids, sizeof ids);
    t = lector_checkpoint_tensor(ck, 2);
    assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
    assert_true(((const float *)t->data)[2] == 0x1p-24f);
    t = lector_checkpoint_tensor(ck, 3);
    assert_int_equal(t->n_dims, 0);
    assert_true(*(const float *)t->data == 42.0f);
    assert_string_equal(lector_checkpoint_metadata(ck, "labels"), "[\"neg\", \"pos\"]");
    assert_string_equal(lector_checkpoint_metadata(ck, "version"), "1");
    lector_checkpoint_close(ck);

    // Without metadata there is no __metadata__ key.
    assert_int_equal(lector_safetensors_write(path, ts, 1, NULL, NULL, 0, &err), LECTOR_STATUS_OK);
    raw = test_read_file(path, &n);
    assert_memory_equal(raw + 8, "{\"head.weight\":", 15);
    free(raw);
    lector_free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_writer_refuses_bad_input_and_keeps_old_file(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "m.safetensors", "old", 3);
    float w[6] = {0};
    struct lector_tensor ts[2] = {
        {.dtype = LECTOR_DTYPE_F32, .n_dims = 1, .shape = {6}, .stride = {1}, .data = w, .name = "a"},
        {.dtype = LECTOR_DTYPE_F32, .n_dims = 1, .shape = {6}, .stride = {1}, .data = w, .name = "a"},
    };
    struct lector_error err;
    assert_int_equal(lector_safetensors_write(path, ts, 2, NULL, NULL, 0, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "'a' given twice"));
    ts[1].name = "b";
    ts[1].n_dims = 2;
    ts[1].shape[0] = 2;
    ts[1].shape[1] = 3;
    ts[1].stride[0] = 1; // transposed view: not contiguous
    ts[1].stride[1] = 2;
    assert_int_equal(lector_safetensors_write(path, ts, 2, NULL, NULL, 0, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "not contiguous"));
    ts[1].name = "__metadata__";
    assert_int_equal(lector_safetensors_write(path, ts, 2, NULL, NULL, 0, &err),
                     LECTOR_STATUS_INVALID_ARG);
    size_t n;
    char *got = test_read_file(path, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(got, "old", 3);
    free(got);
    free(path);
    test_rmtree(dir);
    free(dir);
}

// ----------------------------------------------------------------------------
// directories and shards

static void write_shard(const char *dir, const char *name, const char *json, const void *data,
                        size_t n_data) {
    size_t n;
    uint8_t *b = st_bytes(json, data, n_data, &n);
    free(test_write_file(dir, name, b, n));
    free(b);
}

static const char *shard1 = "{\"__metadata__\":{\"format\":\"pt\"},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
static const char *shard2 = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";

static void write_index(const char *dir, const char *json) {
    free(test_write_file(dir, "model.safetensors.index.json", json, strlen(json)));
}

static void test_dir_sharded_merges_shards(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    write_shard(dir, "model-00001-of-00002.safetensors", shard1, data24, 8);
    write_shard(dir, "model-00002-of-00002.safetensors", shard2, data24, 8);
    write_index(dir, "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                     "\"c\":\"model-00002-of-00002.safetensors\","
                     "\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00002-of-00002.safetensors\"}}");
    struct lector_checkpoint *ck = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_checkpoint_open(dir, &ck, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 3);
    assert_string_equal(lector_checkpoint_tensor(ck, 0)->name, "a");
    assert_string_equal(lector_checkpoint_tensor(ck, 1)->name, "b");
    assert_string_equal(lector_checkpoint_tensor(ck, 2)->name, "c");
    assert_int_equal(lector_checkpoint_n_files(ck), 2);
    assert_non_null(strstr(lector_checkpoint_file(ck, 0), "model-00001-of-00002.safetensors"));
    assert_non_null(strstr(lector_checkpoint_file(ck, 1), "model-00002-of-00002.safetensors"));
    assert_true(((const float *)lector_checkpoint_find(ck, "c")->data)[0] == 2.0f);
    assert_string_equal(lector_checkpoint_metadata(ck, "format"), "pt");
    lector_checkpoint_close(ck);
    test_rmtree(dir);
    free(dir);
}

static void expect_dir_refusal(const char *dir, enum lector_status code, const char *want) {
    struct lector_checkpoint *ck = (struct lector_checkpoint *)1;
    struct lector_error err = {0};
    enum lector_status st = lector_checkpoint_open(dir, &ck, &err);
    if (st != code || !strstr(err.msg, want))
        fprintf(stderr, "got %d: %s\nwanted %d: %s\n", st, err.msg, code, want);
    assert_int_equal(st, code);
    assert_null(ck);
    assert_non_null(strstr(err.msg, want));
}

static void test_dir_sharded_refusals(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    write_shard(dir, "model-00001-of-00002.safetensors", shard1, data24, 8);
    // A shard the index names is missing: the message names the index and the file.
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_NOT_FOUND,
                       "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors' is "
                       "missing");
    // Shard names that leave the directory.
    write_index(dir, "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "plain file name");
    write_index(dir, "{\"weight_map\":{\"a\":\"sub/model.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "plain file name");
    // A tensor present in two shards.
    write_shard(dir, "model-00002-of-00002.safetensors", shard1, data24, 8);
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"x\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "tensor 'a' appears in two shards");
    // The index promises a tensor its shard does not have.
    write_shard(dir, "model-00002-of-00002.safetensors", shard2, data24, 8);
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"zz\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "weight_map puts tensor 'zz'");
    write_index(dir, "{\"weight_map\":{\"b\":\"model-00001-of-00002.safetensors\","
                     "\"a\":\"model-00001-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "weight_map puts tensor 'b'");
    write_index(dir, "{\"weight_map\":{}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "non-empty \"weight_map\"");
    write_index(dir, "{\"weight_map\":");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "invalid JSON");
    // A bad shard is reported with its own name.
    write_shard(dir, "model-00002-of-00002.safetensors",
                "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}", data24, 4);
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "model-00002-of-00002.safetensors: tensor 'b'");
    test_rmtree(dir);
    free(dir);
}

static void test_dir_without_weights(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    expect_dir_refusal(dir, LECTOR_STATUS_NOT_FOUND, "no model.safetensors");
    // pytorch_model.bin is the last resort (its reader is tested in test_torchzip.c).
    free(test_write_file(dir, "pytorch_model.bin", "PK", 2));
    expect_dir_refusal(dir, LECTOR_STATUS_FORMAT, "pytorch_model.bin: not a zip archive");
    // model.safetensors wins over the others.
    write_shard(dir, "model.safetensors", shard2, data24, 8);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    assert_int_equal(lector_checkpoint_open(dir, &ck, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 2);
    lector_checkpoint_close(ck);
    char *missing = lector__path_join(dir, "nope.safetensors");
    expect_dir_refusal(missing, LECTOR_STATUS_NOT_FOUND, "nope.safetensors");
    lector_free(missing);
    test_rmtree(dir);
    free(dir);
}

static void test_dtype_names_and_sizes(void **state) {
    (void)state;
    assert_string_equal(lector_dtype_name(LECTOR_DTYPE_BF16), "BF16");
    assert_int_equal(lector_dtype_size(LECTOR_DTYPE_F64), 8);
    assert_int_equal(lector_dtype_size(LECTOR_DTYPE_BOOL), 1);
    enum lector_dtype d;
    assert_true(lector__dtype_parse("I16", &d));
    assert_int_equal(d, LECTOR_DTYPE_I16);
    assert_false(lector__dtype_parse("f32", &d));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_header_length_past_eof),
        cmocka_unit_test(test_safetensors_header_over_100mb),
        cmocka_unit_test(test_safetensors_short_and_empty_files),
        cmocka_unit_test(test_safetensors_non_json_header),
        cmocka_unit_test(test_safetensors_non_utf8_header),
        cmocka_unit_test(test_safetensors_duplicate_names),
        cmocka_unit_test(test_safetensors_overlapping_offsets),
        cmocka_unit_test(test_safetensors_gap_between_tensors),
        cmocka_unit_test(test_safetensors_span_mismatch),
        cmocka_unit_test(test_safetensors_overflowing_dimensions),
        cmocka_unit_test(test_safetensors_truncated_data),
        cmocka_unit_test(test_safetensors_unknown_dtype),
        cmocka_unit_test(test_safetensors_five_dims),
        cmocka_unit_test(test_safetensors_bad_entries_and_metadata),
        cmocka_unit_test(test_safetensors_reads_values_in_file_order),
        cmocka_unit_test(test_safetensors_aligned_f32_used_in_place),
        cmocka_unit_test(test_f16_known_bit_patterns),
        cmocka_unit_test(test_bf16_known_bit_patterns),
        cmocka_unit_test(test_safetensors_f16_bf16_converted_at_open),
        cmocka_unit_test(test_writer_round_trip_with_metadata),
        cmocka_unit_test(test_writer_refuses_bad_input_and_keeps_old_file),
        cmocka_unit_test(test_dir_sharded_merges_shards),
        cmocka_unit_test(test_dir_sharded_refusals),
        cmocka_unit_test(test_dir_without_weights),
        cmocka_unit_test(test_safetensors_in_place_keeps_float_aligned_f32),
        cmocka_unit_test(test_dtype_names_and_sizes),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

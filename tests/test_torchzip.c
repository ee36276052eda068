// Tests for src/checkpoint/pickle.c and torchzip.c: hand-made state dict pickles (good and
// hostile), hand-made zip archives, and the bert-odd-cased fixture when shared/ is present.
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

#include <zip.h>

#include "base/base_impl.h"
#include "checkpoint/checkpoint_impl.h"
#include "lector/checkpoint.h"
#include "testutil.h"

// ----------------------------------------------------------------------------
// pickle builder: opcodes written byte by byte

struct pk {
    uint8_t b[1024];
    size_t n;
};

static void op(struct pk *p, uint8_t c) { p->b[p->n++] = c; }
static void raw(struct pk *p, const void *d, size_t n) {
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void ustr(struct pk *p, const char *s) { // BINUNICODE
    uint32_t n = (uint32_t)strlen(s);
    op(p, 'X');
    for (int i = 0; i < 4; i++) op(p, (uint8_t)(n >> (8 * i)));
    raw(p, s, n);
}
static void global(struct pk *p, const char *mod, const char *name) { // GLOBAL
    op(p, 'c');
    raw(p, mod, strlen(mod));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}
static void int1(struct pk *p, uint8_t v) {
    op(p, 'K');
    op(p, v);
}

// The parts of a state dict entry around its size and stride tuples.
static void entry_head(struct pk *p, const char *name, const char *storage_type, const char *key,
                       uint8_t numel, uint8_t offset) {
    ustr(p, name);
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '('); // MARK args
    op(p, '('); // MARK pid
    ustr(p, "storage");
    global(p, "torch", storage_type);
    ustr(p, key);
    ustr(p, "cpu");
    int1(p, numel);
    op(p, 't');
    op(p, 'Q'); // BINPERSID
    int1(p, offset);
}
static void entry_tail(struct pk *p) {
    op(p, 0x89); // NEWFALSE
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');
    op(p, 't');
    op(p, 'R');
}

// One entry `name: _rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`
// pushed as key, value (to be closed by SETITEMS). size/stride are 2-D.
static void tensor_entry(struct pk *p, const char *name, const char *storage_type,
                         const char *key, uint8_t numel, uint8_t offset, uint8_t d0, uint8_t d1,
                         uint8_t s0, uint8_t s1) {
    entry_head(p, name, storage_type, key, numel, offset);
    int1(p, d0);
    int1(p, d1);
    op(p, 0x86); // TUPLE2
    int1(p, s0);
    int1(p, s1);
    op(p, 0x86);
    entry_tail(p);
}

// {"w": [2, 3] F32 view of storage "0" (6 elements)} with memo entries like torch's.
static void good_pickle(struct pk *p) {
    p->n = 0;
    op(p, 0x80);
    op(p, 2);
    op(p, '}');
    op(p, 'q');
    op(p, 0);
    op(p, '(');
    tensor_entry(p, "w", "FloatStorage", "0", 6, 0, 2, 3, 3, 1);
    op(p, 'u');
    op(p, '.');
}

static enum lector_status parse(const struct pk *p, struct lector__pkl_state *ps,
                                struct lector_error *err) {
    return lector__pickle_state_dict(p->b, p->n, "data.pkl", ps, err);
}

static void expect_pickle_refusal(const struct pk *p, enum lector_status code, const char *want,
                                  int64_t at) {
    struct lector__pkl_state ps;
    struct lector_error err = {0};
    enum lector_status st = parse(p, &ps, &err);
    if (st != code || !strstr(err.msg, want) || (at >= 0 && err.offset != at))
        fprintf(stderr, "got %d (col %lld): %s\nwanted %d (col %lld): %s\n", st,
                (long long)err.offset, err.msg, code, (long long)at, want);
    assert_int_equal(st, code);
    assert_non_null(strstr(err.msg, want));
    if (at >= 0) assert_int_equal(err.offset, at);
    assert_int_equal(ps.n_tensors, 0);
    lector__pkl_state_free(&ps);
}

// ----------------------------------------------------------------------------
// pickles

static void test_pickle_good_state_dict(void **state) {
    (void)state;
    struct pk p;
    good_pickle(&p);
    struct lector__pkl_state ps;
    struct lector_error err = {0};
    assert_int_equal(parse(&p, &ps, &err), LECTOR_STATUS_OK);
    assert_int_equal(ps.n_tensors, 1);
    assert_string_equal(ps.tensors[0].name, "w");
    assert_string_equal(ps.tensors[0].storage_key, "0");
    assert_int_equal(ps.tensors[0].dtype, LECTOR_DTYPE_F32);
    assert_int_equal(ps.tensors[0].storage_numel, 6);
    assert_int_equal(ps.tensors[0].n_dims, 2);
    assert_int_equal(ps.tensors[0].shape[0], 2);
    assert_int_equal(ps.tensors[0].shape[1], 3);
    lector__pkl_state_free(&ps);
}

static void test_pickle_parameter_memo_and_build(void **state) {
    (void)state;
    // Two tensors sharing one storage, the second wrapped in _rebuild_parameter and built
    // from memoized globals; an OrderedDict top level with BUILD state (_metadata), as
    // torch.save(model.state_dict()) writes it.
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    global(&p, "collections", "OrderedDict");
    op(&p, 'q');
    op(&p, 0);
    op(&p, ')');
    op(&p, 'R');
    op(&p, 'q');
    op(&p, 1);
    op(&p, '(');
    tensor_entry(&p, "a", "HalfStorage", "7", 8, 0, 2, 2, 2, 1);
    ustr(&p, "b");
    global(&p, "torch._utils", "_rebuild_parameter");
    // b = the second half of storage 7, offset 4, shape [4, 1] (stride on the size-1 dim ignored)
    global(&p, "torch._utils", "_rebuild_tensor_v2");
    op(&p, '(');
    op(&p, '(');
    ustr(&p, "storage");
    global(&p, "torch", "HalfStorage");
    ustr(&p, "7");
    ustr(&p, "cpu");
    int1(&p, 8);
    op(&p, 't');
    op(&p, 'Q');
    int1(&p, 4);
    int1(&p, 4);
    int1(&p, 1);
    op(&p, 0x86);
    int1(&p, 1);
    int1(&p, 9);
    op(&p, 0x86);
    op(&p, 0x89);
    op(&p, 'h'); // BINGET 0: OrderedDict
    op(&p, 0);
    op(&p, ')');
    op(&p, 'R');
    op(&p, 't');
    op(&p, 'R');
    op(&p, 0x88); // requires_grad True
    op(&p, 'h');
    op(&p, 0);
    op(&p, ')');
    op(&p, 'R');
    op(&p, 0x87); // TUPLE3
    op(&p, 'R');
    op(&p, 'u');
    // BUILD with {"_metadata": {"": {"version": 1}}}
    op(&p, '}');
    ustr(&p, "_metadata");
    op(&p, '}');
    ustr(&p, "");
    op(&p, '}');
    ustr(&p, "version");
    op(&p, 0x8a); // LONG1 1 byte
    op(&p, 1);
    op(&p, 1);
    op(&p, 's');
    op(&p, 's');
    op(&p, 's');
    op(&p, 'b');
    op(&p, '.');
    struct lector__pkl_state ps;
    struct lector_error err = {0};
    enum lector_status st = parse(&p, &ps, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, LECTOR_STATUS_OK);
    assert_int_equal(ps.n_tensors, 2);
    assert_string_equal(ps.tensors[1].name, "b");
    assert_int_equal(ps.tensors[1].dtype, LECTOR_DTYPE_F16);
    assert_int_equal(ps.tensors[1].offset, 4);
    assert_int_equal(ps.tensors[1].shape[0], 4);
    lector__pkl_state_free(&ps);
}

static void test_pickle_forbidden_global(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    global(&p, "posix", "system");
    ustr(&p, "echo pwned");
    op(&p, 0x85);
    op(&p, 'R');
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "byte 2: global 'posix.system' is not allowed", 2);
    // The same through STACK_GLOBAL.
    p.n = 0;
    op(&p, 0x80);
    op(&p, 4);
    op(&p, 0x8c); // SHORT_BINUNICODE
    op(&p, 8);
    raw(&p, "builtins", 8);
    op(&p, 0x8c);
    op(&p, 4);
    raw(&p, "eval", 4);
    op(&p, 0x93);
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "global 'builtins.eval' is not allowed", 18);
    // A torch name that is not a storage type.
    p.n = 0;
    op(&p, 0x80);
    op(&p, 2);
    global(&p, "torch", "load");
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "global 'torch.load'", 2);
    // Allowed names from other modules: the module is checked as well as the name.
    const char *const impostors[][2] = {{"os", "_rebuild_tensor_v2"},
                                        {"builtins", "_rebuild_parameter"},
                                        {"subprocess", "OrderedDict"},
                                        {"posix", "FloatStorage"}};
    for (size_t i = 0; i < sizeof impostors / sizeof impostors[0]; i++) {
        p.n = 0;
        op(&p, 0x80);
        op(&p, 2);
        global(&p, impostors[i][0], impostors[i][1]);
        char want[128];
        snprintf(want, sizeof want, "global '%s.%s' is not allowed", impostors[i][0],
                 impostors[i][1]);
        expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, want, 2);
    }
}

static void test_pickle_unknown_opcode(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    op(&p, '}');
    op(&p, 'I'); // INT (text protocol 0): not in the allowed set
    raw(&p, "1\n", 2);
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "byte 3: opcode 0x49 ('I') is not allowed", 3);
    p.n = 0;
    op(&p, 0xff);
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "opcode 0xff is not allowed", 0);
    p.n = 0;
    op(&p, 0x80);
    op(&p, 6);
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "pickle protocol 6", 0);
}

static void test_pickle_bad_memo_index(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    op(&p, '}');
    op(&p, 'q');
    op(&p, 0);
    op(&p, 'h');
    op(&p, 5);
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "byte 5: memo index 5 was never stored", 5);
    p.n = 0;
    op(&p, '}');
    op(&p, 'r'); // LONG_BINPUT far ahead
    raw(&p, "\xff\xff\xff\x7f", 4);
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "memo index 2147483647 skips past 0", 1);
}

static void test_pickle_stack_underflow(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    op(&p, 0x86); // TUPLE2 on an empty stack
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "byte 2: TUPLE2 pops an empty stack", 2);
    p.n = 0;
    op(&p, 'R');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "pops an empty stack", 0);
    p.n = 0;
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "pops an empty stack", 0);
    // Values below a MARK are not poppable until the mark is closed.
    p.n = 0;
    op(&p, '}');
    op(&p, '(');
    op(&p, 's');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "pops an empty stack", 2);
    p.n = 0;
    op(&p, 't');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "without a MARK", 0);
}

static void test_pickle_malformed(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    op(&p, 'X');
    raw(&p, "\x64\x00\x00\x00", 4);
    raw(&p, "abc", 3);
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "runs past the end", 2);
    p.n = 0;
    op(&p, '}');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "ends without STOP", 1);
    p.n = 0;
    op(&p, ']');
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "holds a list, not a state dict", -1);
    p.n = 0;
    op(&p, '}');
    ustr(&p, "x");
    int1(&p, 3);
    op(&p, 's');
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "entry 'x' is a int, not a tensor", -1);
    p.n = 0;
    op(&p, 0x80);
    op(&p, 2);
    op(&p, 'c');
    raw(&p, "torch", 5); // no newline
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT, "GLOBAL without a newline", 2);
}

static void test_pickle_views_checked_against_storage(void **state) {
    (void)state;
    struct pk p = {0};
    op(&p, 0x80);
    op(&p, 2);
    op(&p, '}');
    op(&p, '(');
    // [2, 3] at offset 2 of a 6-element storage: elements 2..7, past the end.
    tensor_entry(&p, "w", "FloatStorage", "0", 6, 2, 2, 3, 3, 1);
    op(&p, 'u');
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT,
                          "tensor view [offset 2, 6 elements] runs past storage '0' (6 elements)",
                          -1);
    p.n = 3;
    op(&p, '(');
    tensor_entry(&p, "w", "FloatStorage", "0", 6, 0, 2, 3, 1, 2); // transposed
    op(&p, 'u');
    op(&p, '.');
    expect_pickle_refusal(&p, LECTOR_STATUS_UNSUPPORTED, "not contiguous", -1);
}

// LONG1 of 8 bytes.
static void long8(struct pk *p, int64_t v) {
    op(p, 0x8a);
    op(p, 8);
    for (int i = 0; i < 8; i++) op(p, (uint8_t)((uint64_t)v >> (8 * i)));
}

// {"w": good [2, 3], "empty": an extra view of size (2^40, 2^40, 0), stride (0, 0, 1)}: the
// running product of the sizes is 0 before the overflow could be seen.
static void empty_overflow_pickle(struct pk *p) {
    p->n = 0;
    op(p, 0x80);
    op(p, 2);
    op(p, '}');
    op(p, '(');
    tensor_entry(p, "w", "FloatStorage", "0", 6, 0, 2, 3, 3, 1);
    entry_head(p, "empty", "FloatStorage", "0", 6, 0);
    long8(p, (int64_t)1 << 40);
    long8(p, (int64_t)1 << 40);
    int1(p, 0);
    op(p, 0x87); // TUPLE3
    int1(p, 0);
    int1(p, 0);
    int1(p, 1);
    op(p, 0x87);
    entry_tail(p);
    op(p, 'u');
    op(p, '.');
}

static void test_pickle_empty_view_sizes_overflow(void **state) {
    (void)state;
    struct pk p;
    empty_overflow_pickle(&p);
    expect_pickle_refusal(&p, LECTOR_STATUS_FORMAT,
                          "tensor 'empty': size (1099511627776, 1099511627776, 0) overflows", -1);
}

// ----------------------------------------------------------------------------
// zip archives

// Write a torch-style archive: <prefix>/data.pkl, data/<key> entries, version.
static char *write_zip(const char *dir, const char *name, const struct pk *p,
                       const char *const *keys, const void *const *datas, const size_t *sizes,
                       int n, bool deflate) {
    char *path = lector__path_join(dir, name);
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    zip_source_t *s = zip_source_buffer(za, p->b, p->n, 0);
    zip_int64_t i = zip_file_add(za, "archive/data.pkl", s, ZIP_FL_OVERWRITE);
    assert_true(i >= 0);
    zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    for (int k = 0; k < n; k++) {
        char entry[64];
        snprintf(entry, sizeof entry, "archive/data/%s", keys[k]);
        s = zip_source_buffer(za, datas[k], sizes[k], 0);
        i = zip_file_add(za, entry, s, ZIP_FL_OVERWRITE);
        assert_true(i >= 0);
        zip_set_file_compression(za, (zip_uint64_t)i, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    s = zip_source_buffer(za, "3\n", 2, 0);
    i = zip_file_add(za, "archive/version", s, ZIP_FL_OVERWRITE);
    zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    assert_int_equal(zip_close(za), 0);
    return path;
}

static const float six[6] = {1.5f, -2, 3, 4, 5, 6.25f};

static void test_torchzip_reads_archive(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct pk p;
    good_pickle(&p);
    const char *keys[1] = {"0"};
    const void *datas[1] = {six};
    size_t sizes[1] = {sizeof six};
    char *path = write_zip(dir, "pytorch_model.bin", &p, keys, datas, sizes, 1, false);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err = {0};
    // Both the file and its directory open.
    for (int k = 0; k < 2; k++) {
        enum lector_status st = lector_checkpoint_open(k ? dir : path, &ck, &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, LECTOR_STATUS_OK);
        assert_int_equal(lector_checkpoint_n_tensors(ck), 1);
        const struct lector_tensor *t = lector_checkpoint_find(ck, "w");
        assert_non_null(t);
        assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
        assert_int_equal(t->shape[0], 2);
        assert_int_equal(t->shape[1], 3);
        assert_int_equal(t->stride[0], 3);
        assert_int_equal((uintptr_t)t->data % 64, 0);
        assert_memory_equal(t->data, six, sizeof six);
        assert_int_equal(lector_checkpoint_n_files(ck), 1);
        assert_non_null(strstr(lector_checkpoint_file(ck, 0), "pytorch_model.bin"));
        lector_checkpoint_close(ck);
    }
    lector_free(path);
    test_rmtree(dir);
    free(dir);
}

static void expect_open_refusal(const char *path, enum lector_status code, const char *want) {
    struct lector_checkpoint *ck = (struct lector_checkpoint *)1;
    struct lector_error err = {0};
    enum lector_status st = lector_checkpoint_open(path, &ck, &err);
    if (st != code || !strstr(err.msg, want))
        fprintf(stderr, "got %d: %s\nwanted %d: %s\n", st, err.msg, code, want);
    assert_int_equal(st, code);
    assert_null(ck);
    assert_non_null(strstr(err.msg, want));
}

static void test_torchzip_refusals(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct pk p;
    good_pickle(&p);
    const char *keys[1] = {"0"};
    const void *datas[1] = {six};
    size_t sizes[1] = {20}; // one float short of 6
    char *path = write_zip(dir, "a.bin", &p, keys, datas, sizes, 1, false);
    expect_open_refusal(path, LECTOR_STATUS_FORMAT, "storage '0' has 20 bytes, 6 x F32 needs 24");
    lector_free(path);
    path = write_zip(dir, "b.bin", &p, keys, datas, sizes, 0, false);
    expect_open_refusal(path, LECTOR_STATUS_FORMAT, "archive entry 'archive/data/0' is missing");
    lector_free(path);
    sizes[0] = sizeof six;
    path = write_zip(dir, "c.bin", &p, keys, datas, sizes, 1, true);
    expect_open_refusal(path, LECTOR_STATUS_UNSUPPORTED, "is compressed");
    lector_free(path);
    // A hostile pickle inside a real archive: the message names the file and the byte.
    struct pk bad = {0};
    op(&bad, 0x80);
    op(&bad, 2);
    global(&bad, "os", "system");
    path = write_zip(dir, "d.bin", &bad, keys, datas, sizes, 1, false);
    expect_open_refusal(path, LECTOR_STATUS_UNSUPPORTED,
                        "d.bin: archive/data.pkl: byte 2: global 'os.system' is not allowed");
    lector_free(path);
    // Legacy torch.save files start with a pickle, not a zip header.
    const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
    char *lp = test_write_file(dir, "legacy.bin", legacy, sizeof legacy);
    expect_open_refusal(lp, LECTOR_STATUS_UNSUPPORTED, "legacy (non-zip) torch.save format");
    free(lp);
    // An extra empty tensor whose sizes overflow: refused by name, not loaded.
    empty_overflow_pickle(&p);
    path = write_zip(dir, "e.bin", &p, keys, datas, sizes, 1, false);
    expect_open_refusal(path, LECTOR_STATUS_FORMAT, "e.bin: archive/data.pkl: byte ");
    expect_open_refusal(path, LECTOR_STATUS_FORMAT, "tensor 'empty': size (");
    lector_free(path);
    lp = test_write_file(dir, "junk.bin", "hello", 5);
    expect_open_refusal(lp, LECTOR_STATUS_FORMAT, "not a zip archive");
    free(lp);
    lp = test_write_file(dir, "trunc.bin", "PK\x03\x04\x14\x00", 6);
    expect_open_refusal(lp, LECTOR_STATUS_FORMAT, "bad zip archive");
    free(lp);
    test_rmtree(dir);
    free(dir);
}

// ----------------------------------------------------------------------------
// the fixture

static void test_torchzip_bert_odd_cased(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_checkpoint *ck = NULL;
    struct lector_error err = {0};
    enum lector_status st =
        lector_checkpoint_open(test_shared_path("fixtures/encoders/bert-odd-cased"), &ck, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, LECTOR_STATUS_OK);
    assert_int_equal(lector_checkpoint_n_tensors(ck), 57);
    const struct lector_tensor *w = lector_checkpoint_find(ck, "bert.embeddings.word_embeddings.weight");
    assert_non_null(w);
    assert_int_equal(w->shape[0], 28996);
    assert_int_equal(w->shape[1], 96);
    // Row 0 ([PAD]) of the word embedding is zero in the fixture; row 1 is not.
    const float *f = w->data;
    for (int i = 0; i < 96; i++) assert_true(f[i] == 0.0f);
    bool nonzero = false;
    for (int i = 96; i < 192; i++) nonzero |= f[i] != 0.0f;
    assert_true(nonzero);
    const struct lector_tensor *q =
        lector_checkpoint_find(ck, "bert.encoder.layer.2.intermediate.dense.weight");
    assert_non_null(q);
    assert_int_equal(q->shape[0], 200);
    assert_int_equal(q->shape[1], 96);
    int64_t n_params = 0;
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++) {
        const struct lector_tensor *t = lector_checkpoint_tensor(ck, i);
        assert_int_equal(t->dtype, LECTOR_DTYPE_F32);
        const float *v = t->data;
        for (int64_t k = 0; k < lector_tensor_numel(t); k++) assert_true(isfinite(v[k]));
        if (strncmp(t->name, "classifier.", 11) != 0) n_params += lector_tensor_numel(t);
    }
    assert_int_equal(n_params, 3034584); // golden.json n_params_encoder
    lector_checkpoint_close(ck);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pickle_good_state_dict),
        cmocka_unit_test(test_pickle_parameter_memo_and_build),
        cmocka_unit_test(test_pickle_forbidden_global),
        cmocka_unit_test(test_pickle_unknown_opcode),
        cmocka_unit_test(test_pickle_bad_memo_index),
        cmocka_unit_test(test_pickle_stack_underflow),
        cmocka_unit_test(test_pickle_malformed),
        cmocka_unit_test(test_pickle_views_checked_against_storage),
        cmocka_unit_test(test_pickle_empty_view_sizes_overflow),
        cmocka_unit_test(test_torchzip_reads_archive),
        cmocka_unit_test(test_torchzip_refusals),
        cmocka_unit_test(test_torchzip_bert_odd_cased),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

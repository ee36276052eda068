// Tests for src/task/cache.c: the on-disk feature cache.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lector/cache.h"
#include "testutil.h"

enum { C = 5 };

static void vec(float *v, float base) {
    for (int k = 0; k < C; k++) v[k] = base + 0.25f * (float)k;
}

static void test_cache_round_trip_and_keys(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char sub[512];
    snprintf(sub, sizeof sub, "%s/a/b", dir); // created on demand
    struct lector_feature_cache *c = NULL;
    struct lector_error err;
    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    float v[C], got[C];
    vec(v, 1.0f);
    assert_false(lector_feature_cache_get(c, "hello", 5, got));
    assert_int_equal(lector_feature_cache_put(c, "hello", 5, v, &err), LECTOR_STATUS_OK);
    vec(v, 2.0f);
    assert_int_equal(lector_feature_cache_put(c, "hello\0x", 7, v, &err), LECTOR_STATUS_OK);
    // Many records, to make the table grow.
    for (int i = 0; i < 3000; i++) {
        char t[32];
        int n = snprintf(t, sizeof t, "text %d", i);
        vec(v, (float)i);
        assert_int_equal(lector_feature_cache_put(c, t, (size_t)n, v, &err), LECTOR_STATUS_OK);
    }
    assert_int_equal(lector_feature_cache_save(c, &err), LECTOR_STATUS_OK);
    char *path = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);

    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 3002);
    assert_true(lector_feature_cache_get(c, "hello", 5, got));
    vec(v, 1.0f);
    assert_memory_equal(got, v, sizeof v);
    assert_true(lector_feature_cache_get(c, "hello\0x", 7, got)); // the whole byte string counts
    vec(v, 2.0f);
    assert_memory_equal(got, v, sizeof v);
    assert_true(lector_feature_cache_get(c, "text 2999", 9, got));
    vec(v, 2999.0f);
    assert_memory_equal(got, v, sizeof v);
    assert_false(lector_feature_cache_get(c, "hell", 4, got));
    lector_feature_cache_close(c);

    // Another key (other encoder or settings) sees nothing.
    assert_int_equal(lector_feature_cache_open(sub, "key two", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    assert_false(lector_feature_cache_get(c, "hello", 5, got));
    lector_feature_cache_close(c);

    // A file cut in the middle of a record keeps the whole records before the cut.
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 7), 0);
    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 3001);
    lector_feature_cache_close(c);
    // Garbage reads as empty.
    FILE *fp = fopen(path, "wb");
    fputs("not a cache", fp);
    fclose(fp);
    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    lector_feature_cache_close(c);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_concurrent_handles_merge(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct lector_feature_cache *a = NULL, *b = NULL;
    float v[C], got[C];
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &b, NULL), LECTOR_STATUS_OK);
    vec(v, 1.0f);
    assert_int_equal(lector_feature_cache_put(a, "from a", 6, v, NULL), LECTOR_STATUS_OK);
    vec(v, 2.0f);
    assert_int_equal(lector_feature_cache_put(b, "from b", 6, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(b, NULL), LECTOR_STATUS_OK); // merges a's record
    lector_feature_cache_close(a);
    lector_feature_cache_close(b);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &a, NULL), LECTOR_STATUS_OK);
    assert_true(lector_feature_cache_get(a, "from a", 6, got));
    assert_true(lector_feature_cache_get(a, "from b", 6, got));
    lector_feature_cache_close(a);
    // Bad arguments.
    struct lector_error err;
    assert_int_equal(lector_feature_cache_open(dir, "k", 0, &a, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(a);
    test_rmtree(dir);
    free(dir);
}


// ---- integrity -------------------------------------------------------------------------

// Header and record sizes of format 2 (docs/formats.md), for tests that edit the file.
static long header_bytes(const char *key) { return 20 + (long)strlen(key); }
static long record_bytes(void) { return 64 + 4 * C; }

// A cache in dir with key holding texts "t0".."t<n-1>" with vectors vec(i); its file path.
static char *make_cache(const char *dir, const char *key, int n) {
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, key, C, &c, NULL), LECTOR_STATUS_OK);
    float v[C];
    for (int i = 0; i < n; i++) {
        char t[16];
        int len = snprintf(t, sizeof t, "t%d", i);
        vec(v, (float)i);
        assert_int_equal(lector_feature_cache_put(c, t, (size_t)len, v, NULL), LECTOR_STATUS_OK);
    }
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    char *path = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);
    return path;
}

static void file_rw(const char *path, long at, void *buf, size_t n, bool write) {
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    assert_int_equal(write ? fwrite(buf, 1, n, fp) : fread(buf, 1, n, fp), n);
    fclose(fp);
}

// Count of texts t0..t<n-1> found with their own vector; *n_bad those found with another.
static int n_correct(const struct lector_feature_cache *c, int n, int *n_bad) {
    int ok = 0;
    *n_bad = 0;
    for (int i = 0; i < n; i++) {
        char t[16];
        int len = snprintf(t, sizeof t, "t%d", i);
        float v[C], got[C];
        vec(v, (float)i);
        if (!lector_feature_cache_get(c, t, (size_t)len, got)) continue;
        if (memcmp(got, v, sizeof v)) (*n_bad)++;
        else ok++;
    }
    return ok;
}

static void test_cache_swapped_vectors_detected_and_repaired(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = make_cache(dir, "k", 10);
    // Swap the vectors (not the digests or checks) of records 2 and 7.
    long r2 = header_bytes("k") + 2 * record_bytes() + 32, r7 = r2 + 5 * record_bytes();
    uint8_t a[4 * C], b[4 * C];
    file_rw(path, r2, a, sizeof a, false);
    file_rw(path, r7, b, sizeof b, false);
    file_rw(path, r2, b, sizeof b, true);
    file_rw(path, r7, a, sizeof a, true);
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    int bad;
    assert_int_equal(n_correct(c, 10, &bad), 8);
    assert_int_equal(bad, 0); // never a wrong vector
    assert_int_equal(lector_feature_cache_n_discarded(c), 2);
    const char *note = lector_feature_cache_note(c);
    assert_non_null(note);
    assert_non_null(strstr(note, "2 of 10 records failed their checksum"));
    // The run computes them again; saving repairs the file.
    float v[C];
    vec(v, 2.0f);
    assert_int_equal(lector_feature_cache_put(c, "t2", 2, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_close(c);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_discarded(c), 0);
    assert_null(lector_feature_cache_note(c));
    assert_int_equal(n_correct(c, 10, &bad), 9);
    assert_int_equal(bad, 0);
    lector_feature_cache_close(c);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_flipped_bit_and_non_finite(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = make_cache(dir, "k", 4);
    // A flipped bit in record 1's vector, and record 3's first value a NaN.
    long r1 = header_bytes("k") + record_bytes() + 32 + 5, r3 = header_bytes("k") + 3 * record_bytes() + 32;
    uint8_t byte;
    file_rw(path, r1, &byte, 1, false);
    byte ^= 0x10;
    file_rw(path, r1, &byte, 1, true);
    float nan = NAN;
    file_rw(path, r3, &nan, 4, true);
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    int bad;
    assert_int_equal(n_correct(c, 4, &bad), 2);
    assert_int_equal(bad, 0);
    assert_int_equal(lector_feature_cache_n_discarded(c), 2);
    // A non-finite vector is not stored at all.
    float v[C];
    vec(v, 0.0f);
    v[2] = INFINITY;
    assert_int_equal(lector_feature_cache_put(c, "inf", 3, v, NULL), LECTOR_STATUS_OK);
    assert_false(lector_feature_cache_get(c, "inf", 3, v));
    lector_feature_cache_close(c);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_record_from_another_key_rejected(void **state) {
    (void)state;
    // Another key's file holds the same texts with other vectors (another encoder, or a
    // user who can write there): its records cannot pass as this key's.
    char *dir = test_mkdtemp();
    char *pa = make_cache(dir, "key a", 3);
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "key b", C, &c, NULL), LECTOR_STATUS_OK);
    float v[C];
    vec(v, 100.0f);
    assert_int_equal(lector_feature_cache_put(c, "t1", 2, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    char *pb = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);
    // Graft key b's record of "t1" (digest, vector and check) over key a's record 1.
    size_t n = (size_t)record_bytes();
    uint8_t *rec = malloc(n);
    file_rw(pb, header_bytes("key b"), rec, n, false);
    file_rw(pa, header_bytes("key a") + record_bytes(), rec, n, true);
    assert_int_equal(lector_feature_cache_open(dir, "key a", C, &c, NULL), LECTOR_STATUS_OK);
    float got[C];
    assert_false(lector_feature_cache_get(c, "t1", 2, got));
    assert_int_equal(lector_feature_cache_n_discarded(c), 1);
    lector_feature_cache_close(c);
    free(rec);
    free(pa);
    free(pb);
    test_rmtree(dir);
    free(dir);
}

// ---- opening ---------------------------------------------------------------------------

static char *cache_path_for(const char *dir, const char *key) {
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, key, C, &c, NULL), LECTOR_STATUS_OK);
    char *path = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);
    return path;
}

static void test_cache_refuses_fifo_symlink_and_untrusted(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = cache_path_for(dir, "k");
    struct lector_feature_cache *c = NULL;
    struct lector_error err;
    // A FIFO at the cache path: refused at once (it used to block forever).
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, &err), LECTOR_STATUS_IO);
    assert_null(c);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(path);
    // A symbolic link to a valid cache file elsewhere: not followed.
    char other[512];
    snprintf(other, sizeof other, "%s/elsewhere", dir);
    char *real = make_cache(other, "k", 2);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, &err), LECTOR_STATUS_IO);
    assert_non_null(strstr(err.msg, "symbolic link"));
    unlink(path);
    // A file others can write: not trusted.
    free(make_cache(dir, "k", 2));
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, &err), LECTOR_STATUS_IO);
    assert_non_null(strstr(err.msg, "writable by group or others"));
    assert_int_equal(chmod(path, 0644), 0);
    // A file of another user: not trusted (only testable as root).
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 12345, 12345), 0);
        assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, &err), LECTOR_STATUS_IO);
        assert_non_null(strstr(err.msg, "owned by uid 12345"));
        assert_int_equal(chown(path, 0, 0), 0);
    }
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 2);
    lector_feature_cache_close(c);
    // A FIFO as a file to merge: refused too.
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/f.lfc", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(lector_feature_cache_open_file(fifo, &c, &err), LECTOR_STATUS_IO);
    assert_null(c);
    free(real);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_old_format_not_read_and_replaced(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = cache_path_for(dir, "k");
    // A format-1 file: header, key, then records of digest + vector without a check.
    uint8_t buf[20 + 1 + 32 + 4 * C] = "LECTORFC";
    buf[8] = 1;
    buf[12] = C;
    buf[16] = 1;
    buf[20] = 'k';
    free(test_write_file(dir, strrchr(path, '/') + 1, buf, sizeof buf));
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    assert_non_null(strstr(lector_feature_cache_note(c), "older format"));
    float v[C];
    vec(v, 1.0f);
    assert_int_equal(lector_feature_cache_put(c, "a", 1, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_close(c);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, header_bytes("k") + record_bytes());
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    assert_null(lector_feature_cache_note(c));
    assert_int_equal(lector_feature_cache_n_records(c), 1);
    lector_feature_cache_close(c);
    // Merging refuses it with a message.
    struct lector_error err;
    free(test_write_file(dir, "old.lfc", buf, sizeof buf));
    char old[512];
    snprintf(old, sizeof old, "%s/old.lfc", dir);
    assert_int_equal(lector_feature_cache_open_file(old, &c, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "older feature cache format"));
    free(path);
    test_rmtree(dir);
    free(dir);
}

// ---- layout ----------------------------------------------------------------------------

static void test_cache_appends_only_what_it_adds(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = make_cache(dir, "k", 50);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(before.st_size, header_bytes("k") + 50 * record_bytes());
    size_t n0;
    char *bytes0 = test_read_file(path, &n0);
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    float v[C];
    vec(v, 7.0f);
    assert_int_equal(lector_feature_cache_put(c, "new", 3, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_put(c, "t3", 2, v, NULL), LECTOR_STATUS_OK); // held
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_close(c);
    // Same file (inode), one record longer, the old bytes untouched.
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_size, before.st_size + record_bytes());
    size_t n1;
    char *bytes1 = test_read_file(path, &n1);
    assert_memory_equal(bytes0, bytes1, n0);
    // A crashed writer's partial record at the end is cut by the next writer.
    FILE *fp = fopen(path, "ab");
    fputs("partial", fp);
    fclose(fp);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 51);
    assert_int_equal(lector_feature_cache_put(c, "newer", 5, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_close(c);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, header_bytes("k") + 52 * record_bytes());
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 52);
    assert_int_equal(lector_feature_cache_n_discarded(c), 0);
    lector_feature_cache_close(c);
    free(bytes0);
    free(bytes1);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_concurrent_same_text_stored_once(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    struct lector_feature_cache *a = NULL, *b = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &b, NULL), LECTOR_STATUS_OK);
    float v[C];
    vec(v, 1.0f);
    assert_int_equal(lector_feature_cache_put(a, "same", 4, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_put(b, "same", 4, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_put(b, "only b", 6, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(a, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(b, NULL), LECTOR_STATUS_OK);
    struct stat st;
    assert_int_equal(stat(lector_feature_cache_path(a), &st), 0);
    assert_int_equal(st.st_size, header_bytes("k") + 2 * record_bytes());
    lector_feature_cache_close(a);
    lector_feature_cache_close(b);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_size_cap_evicts(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *old = make_cache(dir, "old key", 20);
    struct timespec t[2] = {{1000000, 0}, {1000000, 0}}; // long unused
    assert_int_equal(utimensat(AT_FDCWD, old, t, 0), 0);
    char *mid = make_cache(dir, "mid key", 20);
    // 20 records of this key plus the other files exceed the cap: "old key" goes first.
    long one = header_bytes("mid key") + 20 * record_bytes();
    struct lector_feature_cache *c = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "new key", C, &c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_set_max_size(c, (uint64_t)(one + header_bytes("new key") + 20 * record_bytes()));
    float v[C];
    for (int i = 0; i < 20; i++) {
        char s[16];
        int len = snprintf(s, sizeof s, "n%d", i);
        vec(v, (float)i);
        assert_int_equal(lector_feature_cache_put(c, s, (size_t)len, v, NULL), LECTOR_STATUS_OK);
    }
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    assert_non_null(strstr(lector_feature_cache_note(c), "removed 1 older cache files"));
    char *path = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);
    struct stat st;
    assert_int_not_equal(stat(old, &st), 0);
    assert_int_equal(stat(mid, &st), 0);
    // A cap below this key's own file: it keeps the records this run used, as many as fit.
    assert_int_equal(lector_feature_cache_open(dir, "new key", C, &c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_set_max_size(c, (uint64_t)(header_bytes("new key") + 3 * record_bytes()));
    assert_true(lector_feature_cache_get(c, "n4", 2, v));
    assert_true(lector_feature_cache_get(c, "n9", 2, v));
    vec(v, 50.0f);
    assert_int_equal(lector_feature_cache_put(c, "fresh", 5, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    lector_feature_cache_close(c);
    assert_int_not_equal(stat(mid, &st), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, header_bytes("new key") + 3 * record_bytes());
    assert_int_equal(lector_feature_cache_open(dir, "new key", C, &c, NULL), LECTOR_STATUS_OK);
    assert_true(lector_feature_cache_get(c, "n4", 2, v));
    assert_true(lector_feature_cache_get(c, "n9", 2, v));
    assert_true(lector_feature_cache_get(c, "fresh", 5, v));
    assert_false(lector_feature_cache_get(c, "n5", 2, v));
    lector_feature_cache_close(c);
    free(path);
    free(old);
    free(mid);
    test_rmtree(dir);
    free(dir);
}

// ---- merging ---------------------------------------------------------------------------

static void test_cache_merge(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char w1[512], w2[512], out[512];
    snprintf(w1, sizeof w1, "%s/w1", dir);
    snprintf(w2, sizeof w2, "%s/w2", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    char *p1 = make_cache(w1, "k", 6); // t0..t5
    char *p2 = make_cache(w2, "k", 9); // t0..t8
    char *p3 = make_cache(w2, "other", 2);
    struct lector_feature_cache *dst = NULL, *src = NULL;
    struct lector_error err;
    assert_int_equal(lector_feature_cache_open(out, "k", C, &dst, NULL), LECTOR_STATUS_OK);
    int64_t n_added = -1;
    assert_int_equal(lector_feature_cache_open_file(p1, &src, &err), LECTOR_STATUS_OK);
    assert_string_equal(lector_feature_cache_key(src), "k");
    assert_int_equal(lector_feature_cache_n_dims(src), C);
    assert_int_equal(lector_feature_cache_merge(dst, src, &n_added, &err), LECTOR_STATUS_OK);
    assert_int_equal(n_added, 6);
    // A read-only handle is not saved.
    assert_int_equal(lector_feature_cache_save(src, &err), LECTOR_STATUS_INVALID_ARG);
    lector_feature_cache_close(src);
    assert_int_equal(lector_feature_cache_open_file(p2, &src, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_merge(dst, src, &n_added, &err), LECTOR_STATUS_OK);
    assert_int_equal(n_added, 3);
    lector_feature_cache_close(src);
    assert_int_equal(lector_feature_cache_open_file(p3, &src, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_merge(dst, src, &n_added, &err), LECTOR_STATUS_MISMATCH);
    lector_feature_cache_close(src);
    assert_int_equal(lector_feature_cache_save(dst, &err), LECTOR_STATUS_OK);
    lector_feature_cache_close(dst);
    assert_int_equal(lector_feature_cache_open(out, "k", C, &dst, NULL), LECTOR_STATUS_OK);
    int bad;
    assert_int_equal(n_correct(dst, 9, &bad), 9);
    assert_int_equal(bad, 0);
    lector_feature_cache_close(dst);
    // Damaged records of an input are dropped, not merged.
    uint8_t byte = 0xff;
    file_rw(p2, header_bytes("k") + 40, &byte, 1, true);
    assert_int_equal(lector_feature_cache_open_file(p2, &src, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_discarded(src), 1);
    assert_int_equal(lector_feature_cache_n_records(src), 8);
    lector_feature_cache_close(src);
    // Not a cache file; a missing one.
    char *junk = test_write_file(dir, "junk.lfc", "LECTORFC\2", 9);
    assert_int_equal(lector_feature_cache_open_file(junk, &src, &err), LECTOR_STATUS_FORMAT);
    assert_null(src);
    char *empty = test_write_file(dir, "empty.lfc", "", 0);
    assert_int_equal(lector_feature_cache_open_file(empty, &src, &err), LECTOR_STATUS_FORMAT);
    snprintf(out, sizeof out, "%s/missing.lfc", dir);
    assert_int_equal(lector_feature_cache_open_file(out, &src, &err), LECTOR_STATUS_IO);
    free(junk);
    free(empty);
    free(p1);
    free(p2);
    free(p3);
    test_rmtree(dir);
    free(dir);
}

static void test_cache_widest_vectors(void **state) {
    (void)state;
    // The widest vectors allowed (2^20 floats): a cache of them opens, merges and saves
    // without asking for gigabytes up front.
    char *dir = test_mkdtemp();
    const int64_t W = 1 << 20;
    float *v = calloc((size_t)W, sizeof *v), *got = calloc((size_t)W, sizeof *got);
    v[W - 1] = 3.0f;
    struct lector_feature_cache *c = NULL, *f = NULL;
    assert_int_equal(lector_feature_cache_open(dir, "wide", W, &c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_put(c, "a", 1, v, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_save(c, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_open_file(lector_feature_cache_path(c), &f, NULL), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_dims(f), W);
    assert_true(lector_feature_cache_get(f, "a", 1, got));
    assert_memory_equal(got, v, (size_t)W * sizeof *v);
    lector_feature_cache_close(f);
    lector_feature_cache_close(c);
    free(v);
    free(got);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_round_trip_and_keys),
        cmocka_unit_test(test_cache_concurrent_handles_merge),
        cmocka_unit_test(test_cache_swapped_vectors_detected_and_repaired),
        cmocka_unit_test(test_cache_flipped_bit_and_non_finite),
        cmocka_unit_test(test_cache_record_from_another_key_rejected),
        cmocka_unit_test(test_cache_refuses_fifo_symlink_and_untrusted),
        cmocka_unit_test(test_cache_old_format_not_read_and_replaced),
        cmocka_unit_test(test_cache_appends_only_what_it_adds),
        cmocka_unit_test(test_cache_concurrent_same_text_stored_once),
        cmocka_unit_test(test_cache_size_cap_evicts),
        cmocka_unit_test(test_cache_merge),
        cmocka_unit_test(test_cache_widest_vectors),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

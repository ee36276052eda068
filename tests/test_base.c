// Tests for src/base: SHA-256 against FIPS 180-4 examples, atomic writes, checked math.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "testutil.h"

static void hash_hex(const char *msg, size_t n, char out[65]) {
    struct lector__sha256 s;
    uint8_t d[32];
    lector__sha256_init(&s);
    lector__sha256_update(&s, msg, n);
    lector__sha256_final(&s, d);
    lector__sha256_hex(d, out);
}

static void test_sha256_known_vectors(void **state) {
    (void)state;
    char hex[65];
    // FIPS 180-4 / NIST CSRC example values.
    hash_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_incremental_matches_oneshot(void **state) {
    (void)state;
    char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (char)(i * 7 + 3);
    char one[65], inc[65];
    hash_hex(buf, sizeof buf, one);
    struct lector__sha256 s;
    uint8_t d[32];
    lector__sha256_init(&s);
    for (size_t off = 0; off < sizeof buf;) {
        size_t step = (off % 13) + 1;
        if (off + step > sizeof buf) step = sizeof buf - off;
        lector__sha256_update(&s, buf + off, step);
        off += step;
    }
    lector__sha256_final(&s, d);
    lector__sha256_hex(d, inc);
    assert_string_equal(one, inc);
}

static void test_afile_commit_replaces_file(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "model.bin", "old", 3);
    struct lector__afile af;
    struct lector_error err;
    assert_int_equal(lector__afile_open(&af, path, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector__afile_write(&af, "new contents", 12, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector__afile_commit(&af, &err), LECTOR_STATUS_OK);
    size_t n;
    char *got = test_read_file(path, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(got, "new contents", 12);
    free(got);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_afile_abort_keeps_old_file(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "model.bin", "old", 3);
    struct lector__afile af;
    struct lector_error err;
    assert_int_equal(lector__afile_open(&af, path, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector__afile_write(&af, "partial", 7, &err), LECTOR_STATUS_OK);
    lector__afile_abort(&af);
    size_t n;
    char *got = test_read_file(path, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(got, "old", 3);
    free(got);
    // No temporary file is left behind.
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_afile_missing_directory_fails(void **state) {
    (void)state;
    struct lector__afile af;
    struct lector_error err;
    assert_int_equal(lector__afile_open(&af, "/nonexistent-dir-xyz/model.bin", &err),
                     LECTOR_STATUS_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir-xyz/model.bin"));
}

// The rename would replace whatever is at the path: a FIFO, a link or a directory must stay.
static void test_afile_refuses_non_regular(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *target = test_write_file(dir, "target.bin", "old", 3);
    char fifo[4200], link[4200], sub[4200];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    const char *paths[3] = {fifo, link, sub};
    const char *kinds[3] = {"a FIFO", "a symbolic link", "a directory"};
    for (int i = 0; i < 3; i++) {
        struct lector__afile af;
        struct lector_error err;
        assert_int_equal(lector__afile_open(&af, paths[i], &err), LECTOR_STATUS_IO);
        assert_non_null(strstr(err.msg, "is not a regular file"));
        assert_non_null(strstr(err.msg, kinds[i]));
    }
    struct stat sb;
    assert_int_equal(lstat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    size_t n;
    char *got = test_read_file(target, &n);
    assert_int_equal(n, 3);
    free(got);
    free(target);
    test_rmtree(dir);
    free(dir);
}

// Leftovers of killed writers of the same file are removed; anything that may still be in use,
// or is not ours to remove, stays.
static void touch_old(const char *dir, const char *name, long age) {
    char *p = test_write_file(dir, name, "x", 1);
    struct timespec ts[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

static bool exists_in(const char *dir, const char *name) {
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &sb) == 0;
}

static void test_afile_removes_stale_temp_files(void **state) {
    (void)state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char *dir = test_mkdtemp();
    char dead_old[64], dead_new[64], live_old[64], other[64], link_name[64], target[4200], link_path[4200];
    snprintf(dead_old, sizeof dead_old, "model.bin.tmp.%ld", (long)child);
    snprintf(dead_new, sizeof dead_new, "model.bin.tmp.%ld", (long)child + 1000000);
    snprintf(live_old, sizeof live_old, "model.bin.tmp.%ld", (long)getppid());
    snprintf(other, sizeof other, "other.bin.tmp.%ld", (long)child);
    touch_old(dir, dead_old, 3600);
    touch_old(dir, dead_new, 10);     // too recent: may be a writer on another host
    touch_old(dir, live_old, 3600);   // its process runs
    touch_old(dir, other, 3600);      // another file's leftover
    touch_old(dir, "model.bin.tmp.12ab", 3600);
    snprintf(target, sizeof target, "%s/keep", dir);
    touch_old(dir, "keep", 3600);
    snprintf(link_name, sizeof link_name, "model.bin.tmp.%ld", (long)child + 2000000);
    snprintf(link_path, sizeof link_path, "%s/%s", dir, link_name);
    assert_int_equal(symlink(target, link_path), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    struct lector__afile af;
    struct lector_error err;
    assert_int_equal(lector__afile_open(&af, path, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector__afile_write(&af, "new", 3, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector__afile_commit(&af, &err), LECTOR_STATUS_OK);
    assert_false(exists_in(dir, dead_old));
    assert_true(exists_in(dir, dead_new));
    assert_true(exists_in(dir, live_old));
    assert_true(exists_in(dir, other));
    assert_true(exists_in(dir, "model.bin.tmp.12ab"));
    assert_true(exists_in(dir, link_name));
    assert_true(exists_in(dir, "keep"));
    assert_true(exists_in(dir, "model.bin"));
    test_rmtree(dir);
    free(dir);
}

static void test_checked_mul_detects_overflow(void **state) {
    (void)state;
    size_t r;
    assert_true(lector__mul_size(1000, 1000, &r));
    assert_int_equal(r, 1000000);
    assert_false(lector__mul_size(SIZE_MAX / 2 + 1, 2, &r));
    int64_t q;
    assert_false(lector__mul_i64(INT64_MAX / 3 + 1, 3, &q));
}

// Element counts are checked whatever the order of the sizes: a zero dimension does not hide
// an overflow of the others.
static void test_shape_numel_any_order(void **state) {
    (void)state;
    const int64_t big = (int64_t)1 << 40;
    int64_t n = -1;
    const int64_t a[3] = {big, big, 0}, b[3] = {0, big, big}, c[2] = {0, 5}, d[2] = {3, 4},
                  e[2] = {4, -1};
    assert_false(lector__shape_numel(a, 3, &n));
    assert_false(lector__shape_numel(b, 3, &n));
    assert_true(lector__shape_numel(c, 2, &n));
    assert_int_equal(n, 0);
    assert_true(lector__shape_numel(d, 2, &n));
    assert_int_equal(n, 12);
    assert_false(lector__shape_numel(e, 2, &n));
    assert_true(lector__shape_numel(d, 0, &n));
    assert_int_equal(n, 1);
}

static void test_status_str_names_every_code(void **state) {
    (void)state;
    for (int c = LECTOR_STATUS_INTERNAL; c <= 0; c++)
        assert_string_not_equal(lector_status_str((enum lector_status)c), "unknown status");
}

// The one whole-file reader: the bytes and their count, a NUL after them; the limit in
// bytes, with the size and the offset where it was passed; FIFOs and folders refused at once
// (a FIFO with no writer would block a blocking open); messages name the path, not an option.
static void test_read_file_reads_whole_file(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "t.txt", "abc\0def", 7);
    char *data = NULL;
    size_t n = 0;
    struct lector_error err;
    assert_int_equal(lector__read_file(path, 0, &data, &n, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(data, "abc\0def", 8);
    lector_free(data);
    assert_int_equal(lector__read_file(path, 7, &data, &n, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 7);
    lector_free(data);
    char *empty = test_write_file(dir, "empty.txt", "", 0);
    assert_int_equal(lector__read_file(empty, 7, &data, &n, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(data[0], '\0');
    lector_free(data);
    free(empty);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_read_file_refuses_over_limit(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *path = test_write_file(dir, "big.txt", "0123456789", 10);
    char *data = (char *)1;
    size_t n = 0;
    struct lector_error err;
    assert_int_equal(lector__read_file(path, 9, &data, &n, &err), LECTOR_STATUS_RANGE);
    assert_null(data);
    assert_int_equal(n, 10);
    assert_int_equal(err.offset, 9);
    assert_string_equal(err.path, path);
    assert_non_null(strstr(err.msg, "big.txt: 10 bytes, over the limit of 9 bytes"));
    assert_null(strstr(err.msg, "--"));
    // A file whose size says 0 and that holds more, as /proc files do: read to its end, and
    // past the limit it is refused with no size (it grew while read, as far as the reader knows).
    if (access("/proc/self/status", R_OK) == 0) {
        assert_int_equal(lector__read_file("/proc/self/status", 0, &data, &n, &err), LECTOR_STATUS_OK);
        assert_true(n > 100);
        assert_non_null(strstr(data, "Name:"));
        lector_free(data);
        assert_int_equal(lector__read_file("/proc/self/status", 100, &data, &n, &err), LECTOR_STATUS_RANGE);
        assert_null(data);
        assert_int_equal(n, 0);
        assert_int_equal(err.offset, 100);
        assert_non_null(strstr(err.msg, "grew past the limit of 100 bytes while read"));
    }
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_read_file_refuses_non_regular(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *paths[2] = {fifo, dir};
    for (int i = 0; i < 2; i++) {
        char *data = NULL;
        size_t n = 0;
        struct lector_error err;
        assert_int_equal(lector__read_file(paths[i], 100, &data, &n, &err), LECTOR_STATUS_IO);
        assert_null(data);
        assert_non_null(strstr(err.msg, "not a regular file"));
        assert_non_null(strstr(err.msg, paths[i]));
    }
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.txt", dir);
    char *data = NULL;
    size_t n = 0;
    struct lector_error err;
    assert_int_equal(lector__read_file(missing, 100, &data, &n, &err), LECTOR_STATUS_IO);
    assert_non_null(strstr(err.msg, "missing.txt: cannot open: No such file or directory"));
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_sha256_incremental_matches_oneshot),
        cmocka_unit_test(test_afile_commit_replaces_file),
        cmocka_unit_test(test_afile_abort_keeps_old_file),
        cmocka_unit_test(test_afile_missing_directory_fails),
        cmocka_unit_test(test_afile_refuses_non_regular),
        cmocka_unit_test(test_afile_removes_stale_temp_files),
        cmocka_unit_test(test_checked_mul_detects_overflow),
        cmocka_unit_test(test_shape_numel_any_order),
        cmocka_unit_test(test_status_str_names_every_code),
        cmocka_unit_test(test_read_file_reads_whole_file),
        cmocka_unit_test(test_read_file_refuses_over_limit),
        cmocka_unit_test(test_read_file_refuses_non_regular),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

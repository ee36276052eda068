// Tests for the checksum cache (src/base/checksum_cache.c): hits, misses after a touch or an
// in-place change, forced re-hashing, damaged entries, a cache that cannot be written, and
// files too fresh to be trusted. Expected digests are FIPS 180-4 / hashlib values of the
// concatenated contents, never the code's own output.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "testutil.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_XYC "ad6b60c1ac2e3d95828b88673e6d22c311c921f9606f08bc2967bfbd117a9a43"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"
#define SHA_ABCD "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"

// Two files "ab" and "c" (their concatenation is "abc") and a cache folder in a temp dir.
struct fixture {
    char *dir, *cache;
    char *files[2];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_mkdtemp();
    f->files[0] = test_write_file(f->dir, "config.json", "ab", 2);
    f->files[1] = test_write_file(f->dir, "model.safetensors", "c", 1);
    f->cache = lector__path_join(f->dir, "cache/lector/checksums");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    test_rmtree(f->dir);
    free(f->dir);
    lector_free(f->cache);
    free(f->files[0]);
    free(f->files[1]);
    free(f);
    return 0;
}

// Hash through the cache with no settling time (tests run right after writing the files).
static enum lector_status sum(struct fixture *f, const char *cache, bool verify, char out[65],
                              bool *hit) {
    return lector__sha256_files_cached((const char *const *)f->files, 2, cache, verify, 0, out,
                                       hit, NULL);
}

// One checked call: the digest and whether it came from the cache.
static void expect(struct fixture *f, const char *cache, bool verify, const char *want,
                   bool want_hit) {
    char hex[65];
    bool hit = !want_hit;
    assert_int_equal(sum(f, cache, verify, hex, &hit), LECTOR_STATUS_OK);
    assert_string_equal(hex, want);
    assert_int_equal(hit, want_hit);
}

// The one entry in the cache folder (malloc'd path), or NULL when there is none.
static char *only_entry(const char *cache) {
    DIR *d = opendir(cache);
    if (!d) return NULL;
    char *path = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        n++;
        free(path);
        path = malloc(strlen(cache) + strlen(e->d_name) + 2);
        sprintf(path, "%s/%s", cache, e->d_name);
    }
    closedir(d);
    assert_true(n <= 1);
    return path;
}

static void set_mtime(const char *path, time_t sec, long nsec) {
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_miss_then_hit(void **state) {
    struct fixture *f = *state;
    expect(f, f->cache, false, SHA_ABC, false);
    char *entry = only_entry(f->cache);
    assert_non_null(entry);
    expect(f, f->cache, false, SHA_ABC, true);
    // Without a cache folder the files are always hashed.
    expect(f, NULL, false, SHA_ABC, false);
    free(entry);
}

// A hit returns what the entry says without reading the files: an entry whose digest was
// replaced is believed, until a forced re-hash puts the true digest back.
static void test_hit_trusts_entry_until_verified(void **state) {
    struct fixture *f = *state;
    expect(f, f->cache, false, SHA_ABC, false);
    char *entry = only_entry(f->cache);
    size_t n = 0;
    char *text = test_read_file(entry, &n);
    assert_true(n > 72);
    assert_memory_equal(text + n - 72, "sha256 " SHA_ABC "\n", 72);
    memset(text + n - 65, '0', 64);
    free(test_write_file(f->cache, strrchr(entry, '/') + 1, text, n));
    expect(f, f->cache, false, ZEROS, true);
    expect(f, f->cache, true, SHA_ABC, false);
    expect(f, f->cache, false, SHA_ABC, true);
    free(text);
    free(entry);
}

static void test_touch_is_a_miss(void **state) {
    struct fixture *f = *state;
    expect(f, f->cache, false, SHA_ABC, false);
    set_mtime(f->files[1], 1000000000, 123);
    expect(f, f->cache, false, SHA_ABC, false);
    expect(f, f->cache, false, SHA_ABC, true);
}

// Same size, modification time put back: the status-change time still tells.
static void test_modify_in_place_is_a_miss(void **state) {
    struct fixture *f = *state;
    set_mtime(f->files[0], 1000000000, 0);
    expect(f, f->cache, false, SHA_ABC, false);
    struct stat before, after;
    assert_int_equal(stat(f->files[0], &before), 0);
    int fd = open(f->files[0], O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "xy", 2, 0), 2);
    close(fd);
    // The kernel's clock may not have ticked since the entry was written: set the time
    // again until the status-change time moves, as it does for any later write.
    do {
        set_mtime(f->files[0], 1000000000, 0);
        assert_int_equal(stat(f->files[0], &after), 0);
        if (after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
            after.st_ctim.tv_nsec == before.st_ctim.tv_nsec)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    } while (after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
             after.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_size, before.st_size);
    expect(f, f->cache, false, SHA_XYC, false);
}

static void test_growth_is_a_miss(void **state) {
    struct fixture *f = *state;
    expect(f, f->cache, false, SHA_ABC, false);
    free(f->files[1]);
    f->files[1] = test_write_file(f->dir, "model.safetensors", "cd", 2);
    expect(f, f->cache, false, SHA_ABCD, false);
}

// Damaged entries (cut short, one byte more, not hex, another key, writable by others) are
// misses, and the entry is written again; a symbolic link at its name is a miss too.
static void test_corrupt_entry_is_rewritten(void **state) {
    struct fixture *f = *state;
    expect(f, f->cache, false, SHA_ABC, false);
    char *entry = only_entry(f->cache);
    size_t n = 0;
    char *good = test_read_file(entry, &n);
    const char *name = strrchr(entry, '/') + 1;
    char *bad = malloc(n + 2);
    for (int k = 0; k < 5; k++) {
        memcpy(bad, good, n);
        size_t m = n;
        switch (k) {
        case 0: m = n - 1; break;                 // cut short
        case 1: bad[n] = '\n'; m = n + 1; break;  // one byte more
        case 2: bad[n - 10] = 'g'; break;         // not hex
        case 3: bad[n - 10] = 'A'; break;         // upper case is not what is written
        case 4: bad[5] = bad[5] == '0' ? '1' : '0'; break; // a key line that differs
        }
        free(test_write_file(f->cache, name, bad, m));
        expect(f, f->cache, false, SHA_ABC, false);
        size_t n2 = 0;
        char *again = test_read_file(entry, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(again, good, n);
        free(again);
    }
    // An empty file at the entry's name too.
    free(test_write_file(f->cache, name, "", 0));
    expect(f, f->cache, false, SHA_ABC, false);
    // A good entry that others may write, or reached through a symbolic link, is not read.
    assert_int_equal(chmod(entry, 0666), 0);
    expect(f, f->cache, false, SHA_ABC, false);
    expect(f, f->cache, false, SHA_ABC, true);
    char *copy = test_write_file(f->dir, "copy", good, n);
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(symlink(copy, entry), 0);
    // (atomic writes never replace a symbolic link: the entry stays unused)
    expect(f, f->cache, false, SHA_ABC, false);
    expect(f, f->cache, false, SHA_ABC, false);
    free(copy);
    free(bad);
    free(good);
    free(entry);
}

// A cache folder that cannot be made (its parent is a file; root ignores permission bits)
// only costs the hashing.
static void test_unwritable_cache_hashes(void **state) {
    struct fixture *f = *state;
    char *blocker = test_write_file(f->dir, "blocker", "x", 1);
    char *cache = lector__path_join(blocker, "lector/checksums");
    for (int i = 0; i < 2; i++) expect(f, cache, false, SHA_ABC, false);
    lector_free(cache);
    free(blocker);
}

// Files changed within the settling time are hashed but not remembered.
static void test_fresh_files_are_not_cached(void **state) {
    struct fixture *f = *state;
    char hex[65];
    bool hit;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(lector__sha256_files_cached((const char *const *)f->files, 2, f->cache,
                                                     false, LECTOR__CHECKSUM_SETTLE_NS, hex, &hit,
                                                     NULL),
                         LECTOR_STATUS_OK);
        assert_false(hit);
        assert_string_equal(hex, SHA_ABC);
    }
    assert_null(only_entry(f->cache));
}

static void test_missing_file_is_an_error(void **state) {
    struct fixture *f = *state;
    char hex[65];
    bool hit = true;
    struct lector_error err;
    assert_int_equal(unlink(f->files[1]), 0);
    assert_int_equal(lector__sha256_files_cached((const char *const *)f->files, 2, f->cache,
                                                 false, 0, hex, &hit, &err),
                     LECTOR_STATUS_IO);
    assert_false(hit);
    assert_non_null(strstr(err.msg, "model.safetensors"));
}

static void test_default_dir_follows_xdg(void **state) {
    (void)state;
    char buf[256];
    const char *old = getenv("XDG_CACHE_HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("XDG_CACHE_HOME", "/somewhere/cache", 1);
    assert_string_equal(lector__checksum_cache_dir(buf, sizeof buf),
                        "/somewhere/cache/lector/checksums");
    assert_null(lector__checksum_cache_dir(buf, 8)); // too small: no cache rather than a cut path
    if (saved) setenv("XDG_CACHE_HOME", saved, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(saved);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_then_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_trusts_entry_until_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modify_in_place_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_entry_is_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_cache_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_files_are_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_is_an_error, setup, teardown),
        cmocka_unit_test(test_default_dir_follows_xdg),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

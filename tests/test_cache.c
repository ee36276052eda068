// Tests for src/task/cache.c: the on-disk feature cache.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lector/classifier.h"
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
    lector_feature_cache_free(c);

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
    lector_feature_cache_free(c);

    // Another key (other encoder or settings) sees nothing.
    assert_int_equal(lector_feature_cache_open(sub, "key two", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    assert_false(lector_feature_cache_get(c, "hello", 5, got));
    lector_feature_cache_free(c);

    // A file cut in the middle of a record keeps the whole records before the cut.
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 7), 0);
    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 3001);
    lector_feature_cache_free(c);
    // Garbage reads as empty.
    FILE *fp = fopen(path, "wb");
    fputs("not a cache", fp);
    fclose(fp);
    assert_int_equal(lector_feature_cache_open(sub, "key one", C, &c, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_feature_cache_n_records(c), 0);
    lector_feature_cache_free(c);
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
    lector_feature_cache_free(a);
    lector_feature_cache_free(b);
    assert_int_equal(lector_feature_cache_open(dir, "k", C, &a, NULL), LECTOR_STATUS_OK);
    assert_true(lector_feature_cache_get(a, "from a", 6, got));
    assert_true(lector_feature_cache_get(a, "from b", 6, got));
    lector_feature_cache_free(a);
    // Bad arguments.
    struct lector_error err;
    assert_int_equal(lector_feature_cache_open(dir, "k", 0, &a, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(a);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_round_trip_and_keys),
        cmocka_unit_test(test_cache_concurrent_handles_merge),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}

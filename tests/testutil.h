/*
 * Helpers shared by the cmocka tests: locating ../shared, temporary directories, reading
 * fixture files. Include after <cmocka.h>.
 */
#ifndef LECTOR_TESTUTIL_H
#define LECTOR_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shared/ folder ($LECTOR_SHARED, else the configured default), or NULL when it is
 * absent. Tests that need it call test_skip() when this returns NULL. */
const char *test_shared_dir(void);
/* shared/<rel> as a static buffer path, or NULL when shared/ is absent. */
const char *test_shared_path(const char *rel);
/* A fresh empty temporary directory (removed recursively by test_rmtree). */
char *test_mkdtemp(void);
void test_rmtree(const char *dir);
/* Write bytes to dir/name; returns the malloc'd path. */
char *test_write_file(const char *dir, const char *name, const void *data, size_t n);
/* Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *test_read_file(const char *path, size_t *n);
/* Deterministic xorshift draws in [-1, 1) from *state (tests must not depend on the C
 * library's rand()); an array of n of them (malloc'd). */
float test_rand_uniform(uint64_t *state);
float *test_rand_array(uint64_t *state, int64_t n);
/* Max |a - b| over n floats. */
float test_max_abs_diff(const float *a, const float *b, int64_t n);

/* Skips the current test and counts it, so that test_status() reports the binary as
 * skipped: a test that could not run (no shared/, no CPU feature) is never Passed. */
extern int test_n_skipped;
#define test_skip()        \
    do {                   \
        test_n_skipped++;  \
        skip();            \
    } while (0)
/* A test binary's exit status from its failed-test count: the failures when there are
 * any, else 77 (ctest's SKIP_RETURN_CODE) when a test called test_skip(), else 0. */
int test_status(int n_failed);

struct lector_head;
struct lector_error;
struct lector_ngram_params;
struct lector_train_params;
/* A linear head with C inputs and K classes holding the weights W (K, C) and b (K; NULL:
 * zeros). Returns lector_head_new's status. */
int test_head_from(int64_t C, int64_t K, const float *W, const float *b, struct lector_head **out,
                   struct lector_error *err);
/* lector_train_options_init's n-gram settings with the unsupervised idf weighting. */
struct lector_ngram_params test_ngram_params(void);
/* lector_train_options_init's head settings with dropout 0. */
struct lector_train_params test_train_params(void);

#endif

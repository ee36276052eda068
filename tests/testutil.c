#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "lector/head.h"
#include "lector/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LECTOR_TEST_DATA
#define LECTOR_TEST_DATA "."
#endif

static char shared_buf[4096];

const char *test_shared_dir(void) {
    const char *d = getenv("LECTOR_SHARED");
    if (!d || !*d) d = getenv("LECTOR_SHARED_DEFAULT");
    if (!d || !*d) return NULL;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/fixtures", d);
    struct stat st;
    if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    snprintf(shared_buf, sizeof shared_buf, "%s", d);
    return shared_buf;
}

const char *test_shared_path(const char *rel) {
    static char buf[8][4096];
    static int slot;
    const char *d = test_shared_dir();
    if (!d) return NULL;
    char *b = buf[slot++ % 8];
    snprintf(b, 4096, "%s/%s", d, rel);
    return b;
}

char *test_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/lector-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void test_rmtree(const char *dir) {
    if (!dir) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

char *test_write_file(const char *dir, const char *name, const void *data, size_t n) {
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    if (!fp) {
        free(p);
        return NULL;
    }
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
    return p;
}

char *test_read_file(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    size_t got = fread(b, 1, (size_t)sz, fp);
    fclose(fp);
    b[got] = '\0';
    if (n) *n = got;
    return b;
}

float test_max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

int test_n_skipped;

int test_status(int n_failed) {
    if (n_failed) return n_failed;
    if (test_n_skipped) {
        printf("%d test(s) skipped: reporting the run as skipped\n", test_n_skipped);
        return 77;
    }
    return 0;
}

float test_rand_uniform(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (float)((double)(*state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

float *test_rand_array(uint64_t *state, int64_t n) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    if (!x) abort();
    for (int64_t i = 0; i < n; i++) x[i] = test_rand_uniform(state);
    return x;
}

int test_head_from(int64_t C, int64_t K, const float *W, const float *b, struct lector_head **out,
                   struct lector_error *err) {
    enum lector_status s = lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 0, out, err);
    if (s != LECTOR_STATUS_OK) return s;
    float *p = lector_head_params(*out);
    const struct lector_head_layout lay = lector_head_get_layout(*out);
    memcpy(p + lay.W, W, (size_t)(C * K) * sizeof *p);
    if (b)
        memcpy(p + lay.b, b, (size_t)K * sizeof *p);
    else
        memset(p + lay.b, 0, (size_t)K * sizeof *p);
    return s;
}

struct lector_ngram_params test_ngram_params(void) {
    struct lector_train_options o;
    lector_train_options_init(&o);
    o.ngrams.weighting = LECTOR_NGRAM_IDF;
    return o.ngrams;
}

struct lector_train_params test_train_params(void) {
    struct lector_train_options o;
    lector_train_options_init(&o);
    o.head.dropout = 0.0f;
    return o.head;
}

// Fuzz target: arbitrary bytes as a feature cache file (docs/formats.md), read both as the
// cache of key "k" with C = 4 (the path train uses) and as a file given to merge. Then a
// record is added and saved over whatever was there; the file read back must be clean: no
// damaged record, no note, and the added record present. Any crash or sanitizer report is a
// bug.
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lector/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { C = 4 };

static char dir[4096];
static char *path; // the cache file of key "k" in dir

static void cleanup(void) {
    if (path) unlink(path);
    rmdir(dir);
    free(path);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lector-fuzz-cache-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(dir)) __builtin_trap();
    struct lector_feature_cache *c = NULL;
    if (lector_feature_cache_open(dir, "k", C, &c, NULL) != LECTOR_STATUS_OK) __builtin_trap();
    path = strdup(lector_feature_cache_path(c));
    lector_feature_cache_close(c);
    atexit(cleanup);
}

static void write_file(const uint8_t *data, size_t size) {
    unlink(path);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size) __builtin_trap();
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0; // longer inputs only slow the search down
    if (!path) setup();
    write_file(data, size);
    float v[C] = {1.0f, -2.0f, 0.5f, 3.0f}, got[C];

    // As a file to merge: its own key and width.
    struct lector_feature_cache *f = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_feature_cache_open_file(path, &f, &err);
    if (st != LECTOR_STATUS_OK) {
        if (f || err.code != st || !strstr(err.msg, path)) __builtin_trap();
    } else {
        if (lector_feature_cache_n_records(f) < 0 || lector_feature_cache_n_dims(f) < 1 ||
            lector_feature_cache_n_discarded(f) < 0 || !lector_feature_cache_key(f))
            __builtin_trap();
    }

    // As the cache of key "k".
    struct lector_feature_cache *c = NULL;
    if (lector_feature_cache_open(dir, "k", C, &c, &err) != LECTOR_STATUS_OK) __builtin_trap();
    if (f) {
        int64_t n_added = 0;
        st = lector_feature_cache_merge(c, f, &n_added, &err);
        if (st != LECTOR_STATUS_OK && st != LECTOR_STATUS_MISMATCH) __builtin_trap();
        lector_feature_cache_close(f);
    }
    if (lector_feature_cache_put(c, "added", 5, v, &err) != LECTOR_STATUS_OK ||
        lector_feature_cache_save(c, &err) != LECTOR_STATUS_OK)
        __builtin_trap();
    int64_t n = lector_feature_cache_n_records(c);
    lector_feature_cache_close(c);

    // Read back: clean, complete.
    if (lector_feature_cache_open(dir, "k", C, &c, &err) != LECTOR_STATUS_OK) __builtin_trap();
    if (lector_feature_cache_note(c) || lector_feature_cache_n_discarded(c) != 0 ||
        lector_feature_cache_n_records(c) != n || !lector_feature_cache_get(c, "added", 5, got) ||
        memcmp(got, v, sizeof v))
        __builtin_trap();
    lector_feature_cache_close(c);
    return 0;
}

// Fuzz target: arbitrary bytes as fine-tuning's boundary-state file (".lbs", docs/formats.md)
// of key "k", C = 3, read for a fixed set of rows, as the file of 2-byte (bf16) values when
// the header's value-size field says 2, else of 4-byte (fp32) ones. Rows that read fills
// must be rows whose token ids and length the file names; then the rows it did not fill are
// written (appended, or the file replaced when it was damaged or another file), and a second
// read must fill every row with exactly the values held in memory, with no damaged record.
// Any crash or sanitizer report is a bug.
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "task/task_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { C = 3, N_ROWS = 4 };

static char dir[4096];
static char *paths[2]; // the states file of key "k" for 4- and 2-byte values

static void cleanup(void) {
    for (int k = 0; k < 2; k++) {
        if (paths[k]) unlink(paths[k]);
        free(paths[k]);
    }
    rmdir(dir);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lector-fuzz-states-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(dir)) __builtin_trap();
    for (int k = 0; k < 2; k++) {
        struct lector__states_cache c;
        if (lector__states_cache_open(&c, dir, "k", C, k ? 2 : 4, NULL) != LECTOR_STATUS_OK)
            __builtin_trap();
        paths[k] = strdup(c.path);
        lector__states_cache_close(&c);
    }
    atexit(cleanup);
}

// Rows 0 and 2 have the same ids (one record serves both); row 3 differs from row 1 only in
// its length.
static const int32_t ids0[] = {101, 7, 102}, ids1[] = {101, 8, 9, 102}, ids3[] = {101, 8, 9};
static const struct lector_token_row rows[N_ROWS] = {
    {.ids = ids0, .n = 3}, {.ids = ids1, .n = 4}, {.ids = ids0, .n = 3}, {.ids = ids3, .n = 3}};

// Values of each row; rows with the same token ids get the same values, as states do.
static void fill(uint8_t *values, const int64_t *off, size_t row_bytes) {
    for (int i = 0; i < N_ROWS; i++)
        for (size_t b = 0; b < (size_t)rows[i].n * row_bytes; b++)
            values[(size_t)off[i] * row_bytes + b] = (uint8_t)(b * 37u + (size_t)rows[i].n * 11u +
                                                               (size_t)rows[i].ids[1]);
}

static void read_set(struct lector__states_cache *c, struct lector__states_set *set) {
    struct lector_error err = {0};
    struct lector__states_set *sets[1] = {set};
    enum lector_status s = lector__states_cache_read(c, sets, 1, &err);
    if (s != LECTOR_STATUS_OK && s != LECTOR_STATUS_IO) __builtin_trap();
    int64_t n_have = 0;
    for (int64_t i = 0; i < set->n; i++) {
        if (set->have[i] > 1) __builtin_trap();
        n_have += set->have[i];
    }
    if (n_have != set->n_read) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0; // longer inputs only slow the search down
    if (!paths[0]) setup();
    const int elem = size > 16 && data[16] == 2 ? 2 : 4;
    const char *path = paths[elem == 2];
    unlink(paths[0]);
    unlink(paths[1]);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size) __builtin_trap();
    fclose(fp);

    int64_t off[N_ROWS + 1] = {0};
    for (int i = 0; i < N_ROWS; i++) off[i + 1] = off[i] + rows[i].n;
    const size_t n_bytes = (size_t)off[N_ROWS] * C * (size_t)elem;
    uint8_t *want = malloc(n_bytes), *got = malloc(n_bytes), have[N_ROWS];
    if (!want || !got) __builtin_trap();
    fill(want, off, C * (size_t)elem);

    // Read what the file has: rows it fills keep its values, the others get ours; write.
    struct lector__states_cache c;
    if (lector__states_cache_open(&c, dir, "k", C, elem, NULL) != LECTOR_STATUS_OK)
        __builtin_trap();
    memcpy(got, want, n_bytes);
    struct lector__states_set set = {
        .rows = rows, .n = N_ROWS, .off = off, .data = got, .have = have};
    read_set(&c, &set);
    for (int i = 0; i < N_ROWS; i++) { // what read did not fill keeps its bytes
        const size_t at = (size_t)off[i] * C * (size_t)elem;
        const size_t len = (size_t)rows[i].n * C * (size_t)elem;
        if (!have[i]) memcpy(got + at, want + at, len);
    }
    memcpy(want, got, n_bytes); // the values to find again: the file's where it had them
    struct lector_error err = {0};
    struct lector__states_set *sets[1] = {&set};
    if (lector__states_cache_write(&c, sets, 1, 0, &err) != LECTOR_STATUS_OK) __builtin_trap();
    lector__states_cache_close(&c);

    // Read back: every row, the same bytes, nothing damaged.
    if (lector__states_cache_open(&c, dir, "k", C, elem, NULL) != LECTOR_STATUS_OK)
        __builtin_trap();
    memset(got, 0, n_bytes);
    read_set(&c, &set);
    if (set.n_read != N_ROWS || c.n_damaged != 0 || memcmp(got, want, n_bytes)) __builtin_trap();
    lector__states_cache_close(&c);
    free(want);
    free(got);
    return 0;
}

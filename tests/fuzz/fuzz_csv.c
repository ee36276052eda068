// Fuzz target: arbitrary bytes as a CSV file, read from memory with columns "text" and
// "label", once with the default field bound and once with a small one. Checks the
// invariants of a successful read; any crash or sanitizer report is a bug.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lector/data.h"

// Internal entry point of src/task/csv.c (see tests/test_csv.c).
enum lector_status lector__dataset_parse_csv_buffer(const char *name, const void *data, size_t n,
                                                    const char *text_column,
                                                    const char *label_column,
                                                    size_t n_field_max,
                                                    struct lector_dataset **out,
                                                    struct lector_error *err);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, size_t n_field_max) {
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector__dataset_parse_csv_buffer("fuzz.csv", data, size, "text",
                                                             "label", n_field_max, &ds, &err);
    if (st != LECTOR_STATUS_OK) {
        // Failures leave no dataset and always explain themselves, naming the file.
        if (ds || err.code != st || strncmp(err.msg, "fuzz.csv", 8) != 0) __builtin_trap();
        return;
    }
    if (!ds || ds->n_rows < 0 || (ds->n_rows > 0 && !ds->labels)) __builtin_trap();
    int64_t prev = 1;  // the header is on line 1 or later; rows come after it
    for (int64_t i = 0; i < ds->n_rows; i++) {
        if (ds->lines[i] <= prev) __builtin_trap();
        prev = ds->lines[i];
        if (ds->text_lens[i] > size || ds->texts[i][ds->text_lens[i]] != '\0') __builtin_trap();
        if (n_field_max && ds->text_lens[i] > n_field_max) __builtin_trap();
        if (!ds->labels[i]) __builtin_trap();
    }
    lector_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;  // longer inputs only slow the search down
    check(data, size, 0);
    check(data, size, 64);
    return 0;
}

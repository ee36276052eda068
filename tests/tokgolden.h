/*
 * Golden tokenizer cases for the cmocka tests: a JSON-lines file of {"src","text","ids"}
 * objects run through a tokenizer. Include after <cmocka.h> and <jansson.h>, in the test
 * files that use it.
 */
#ifndef LECTOR_TOKGOLDEN_H
#define LECTOR_TOKGOLDEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "lector/tokenizer.h"
#include "testutil.h"

// Print at most this many disagreements per file.
#define GOLDEN_N_REPORT_MAX 5

static void golden_print_ids(const char *label, const struct lector_tokenizer *tok, const int32_t *ids, int64_t n) {
    fprintf(stderr, "    %s:", label);
    for (int64_t i = 0; i < n; i++) {
        const char *t = lector_tokenizer_token(tok, ids[i]);
        fprintf(stderr, " %s", t ? t : "<?>");
    }
    fprintf(stderr, "\n");
}

// Run every case of the file at path (name: for messages); pieces: raw SentencePiece pieces
// (no special tokens, special text left as text) instead of the full encoding, which is
// run without truncation. Returns the number identical.
static int golden_run(const char *path, const char *name, const struct lector_tokenizer *tok, bool pieces,
                      int *n_cases) {
    size_t n = 0;
    char *data = test_read_file(path, &n);
    if (!data) fail_msg("cannot read %s", path);
    int n_same = 0, n_bad = 0;
    *n_cases = 0;
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *jids = json_object_get(c, "ids");
        assert_non_null(text);
        size_t n_want = json_array_size(jids);
        int32_t *want = calloc(n_want + 1, sizeof *want);
        for (size_t i = 0; i < n_want; i++) want[i] = (int32_t)json_integer_value(json_array_get(jids, i));
        struct lector_error err = {0};
        enum lector_status st;
        int32_t *got = NULL;
        int64_t n_got = 0;
        struct lector_encode_info info = {0, 0};
        if (pieces) {
            st = lector_tokenizer_encode_pieces(tok, text, strlen(text), &got, &n_got, &err);
        } else {
            // One more than the golden length: a longer result shows as a mismatch.
            got = lector__calloc(n_want + 1, sizeof *got);
            st = lector_tokenizer_encode(tok, text, strlen(text), (int64_t)n_want + 1, got, &n_got,
                                         &info, &err);
        }
        bool same = st == LECTOR_STATUS_OK && !info.truncated && n_got == (int64_t)n_want &&
                    (n_want == 0 || memcmp(got, want, n_want * sizeof *want) == 0);
        if (same) {
            n_same++;
        } else if (n_bad++ < GOLDEN_N_REPORT_MAX) {
            fprintf(stderr, "  %s %s: status %s (%s)\n", name, json_string_value(json_object_get(c, "src")),
                    lector_status_str(st), err.msg);
            golden_print_ids("want", tok, want, (int64_t)n_want);
            golden_print_ids("got ", tok, got, n_got);
        }
        (*n_cases)++;
        lector_free(got);
        free(want);
        json_decref(c);
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return n_same;
}

#endif

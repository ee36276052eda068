// Fuzz target: arbitrary bytes as vocab.txt. Opening may fail (no [UNK], not UTF-8) but must
// never crash; when it succeeds, every token must round-trip through find and encode must work.
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lector/tokenizer.h"

#define INPUT_BYTES_MAX (64 * 1024)

static char dir[512];
static char path[600];

static void cleanup(void) {
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_BYTES_MAX) return 0;
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lector-fuzz-vocab-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        snprintf(path, sizeof path, "%s/vocab.txt", dir);
        atexit(cleanup);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();

    struct lector_tokenizer *tok = NULL;
    struct lector_error err;
    int st = lector_tokenizer_open_wordpiece(path, 1, -1, 1, &tok, &err);
    if (st != 0) {
        if (tok) abort();
        return 0;
    }
    int64_t n = lector_tokenizer_n_vocab(tok);
    for (int64_t i = 0; i < n; i++) {
        const char *t = lector_tokenizer_token(tok, (int32_t)i);
        if (!t) abort();
        // A repeated token maps to another line with the same string; a token holding a NUL
        // byte may not be found through its shortened C string at all.
        int32_t id = lector_tokenizer_find(tok, t);
        if (id >= n || (id >= 0 && strcmp(lector_tokenizer_token(tok, id), t) != 0)) abort();
    }
    // Encode the vocabulary itself as text.
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    st = lector_tokenizer_encode_pieces(tok, (const char *)data, size, &ids, &n_ids, &err);
    for (int64_t i = 0; st == 0 && i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= n) abort();
    lector_free(ids);
    lector_tokenizer_close(tok);
    return 0;
}

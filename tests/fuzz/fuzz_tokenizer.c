// Fuzz target: encode arbitrary bytes with a small uncased WordPiece vocabulary, through both
// entry points, and check the invariants that hold for any input.
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lector/tokenizer.h"

// Inputs are capped, as utf8proc's fuzzer does, so one run stays fast.
#define INPUT_BYTES_MAX (64 * 1024)

static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n##ing\na\n##b\n,\n.\n!\n"
    "cafe\nstraße\n中\n国\ni\n##\xcc\x87\nx\n##x\n\xe2\x80\x9c\n";

// Built once per process; the tokenizer is immutable, so later runs only read it.
static struct lector_tokenizer *tokenizer(int lower) {
    static struct lector_tokenizer *toks[2];
    static int ready;
    if (!ready) {
        ready = 1;
        const char *tmp = getenv("TMPDIR");
        char dir[512];
        snprintf(dir, sizeof dir, "%s/lector-fuzz-tok-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        char path[600];
        snprintf(path, sizeof path, "%s/vocab.txt", dir);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(VOCAB, 1, sizeof VOCAB - 1, fp) != sizeof VOCAB - 1 || fclose(fp) != 0)
            abort();
        for (int k = 0; k < 2; k++)
            if (lector_tokenizer_open_wordpiece(path, k, k ? -1 : 0, 1, &toks[k], NULL) != 0)
                abort();
        unlink(path);
        rmdir(dir);
    }
    return toks[lower];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_BYTES_MAX) return 0;
    for (int lower = 0; lower < 2; lower++) {
        const struct lector_tokenizer *tok = tokenizer(lower);
        int64_t n_vocab = lector_tokenizer_n_vocab(tok);
        struct lector_error err;
        int32_t *pieces = NULL;
        int64_t n_pieces = 0;
        int st = lector_tokenizer_encode_pieces(tok, (const char *)data, size, &pieces, &n_pieces,
                                                &err);
        if (st != 0 && (st != LECTOR_STATUS_INVALID_UTF8 || err.offset < 0 || (size_t)err.offset >= size))
            abort();
        for (int64_t i = 0; i < n_pieces; i++)
            if (pieces[i] < 0 || pieces[i] >= n_vocab) abort();

        // The truncated form must be a prefix of the full one, closed by [SEP].
        int32_t ids[16];
        int64_t n_ids = 0;
        struct lector_encode_info info = {0, 0};
        int st2 = lector_tokenizer_encode(tok, (const char *)data, size, 16, ids, &n_ids,
                                          &info, &err);
        if (st2 != st) abort();
        if (st == 0) {
            if (n_ids < 2 || n_ids > 16) abort();
            if (ids[0] != lector_tokenizer_cls_id(tok) || ids[n_ids - 1] != lector_tokenizer_sep_id(tok))
                abort();
            if (info.truncated != (n_pieces > 14)) abort();
            if (memcmp(ids + 1, pieces, (size_t)(n_ids - 2) * sizeof *ids) != 0) abort();
        }
        lector_free(pieces);
    }
    return 0;
}

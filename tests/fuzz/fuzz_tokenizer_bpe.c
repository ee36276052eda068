// Fuzz target: byte-level BPE. The input is (1) encoded as text by a small RoBERTa-style
// tokenizer, with and without add_prefix_space, checking the invariants that hold for any
// text, and (2) parsed as merges.txt against that vocabulary, which may fail but never crash.
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lector/tokenizer.h"

#define INPUT_BYTES_MAX (64 * 1024)

static char dir[512], vocab_path[600], merges_path[600], fuzz_merges[600];

static void cleanup(void) {
    unlink(vocab_path);
    unlink(merges_path);
    unlink(fuzz_merges);
    rmdir(dir);
}

static void write_file(const char *p, const void *data, size_t size) {
    FILE *fp = fopen(p, "wb");
    if (!fp) abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();
}

static void put_utf8(char **p, unsigned cp) {
    if (cp < 0x80) {
        *(*p)++ = (char)cp;
    } else {
        *(*p)++ = (char)(0xC0 | (cp >> 6));
        *(*p)++ = (char)(0x80 | (cp & 0x3F));
    }
}

// vocab.json: <s> <pad> </s> <unk>, every byte's stand-in, a few merges' results, <mask>.
static void write_vocab(void) {
    static char buf[16384];
    char *p = buf;
    int id = 0;
    p += sprintf(p, "{\"<s>\": %d, \"<pad>\": %d, \"</s>\": %d, \"<unk>\": %d", id, id + 1, id + 2, id + 3);
    id += 4;
    unsigned extra = 0;
    for (unsigned b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        unsigned cp = printable ? b : 256 + extra++;
        p += sprintf(p, ", \"");
        if (cp == '"' || cp == '\\') *p++ = '\\';
        put_utf8(&p, cp);
        p += sprintf(p, "\": %d", id++);
    }
    // U+0120 is the space's stand-in.
    p += sprintf(p, ", \"he\": %d, \"\xc4\xa0t\": %d, \"\xc4\xa0the\": %d, \"ll\": %d, \"<mask>\": %d}",
                 id, id + 1, id + 2, id + 3, id + 4);
    write_file(vocab_path, buf, strlen(buf));
    const char *merges = "#version: 0.2\nh e\n\xc4\xa0 t\n\xc4\xa0t he\nl l\n";
    write_file(merges_path, merges, strlen(merges));
}

static struct lector_tokenizer *tokenizer(int prefix_space) {
    static struct lector_tokenizer *toks[2];
    static int ready;
    if (!ready) {
        ready = 1;
        write_vocab();
        struct lector_error err;
        for (int k = 0; k < 2; k++)
            if (lector_tokenizer_open_bpe(vocab_path, merges_path, k, &toks[k], &err) != 0) {
                fprintf(stderr, "fuzz_tokenizer_bpe: %s\n", err.msg);
                abort();
            }
        lector_tokenizer_set_invalid_utf8(toks[1], LECTOR_UTF8_REPLACE);
    }
    return toks[prefix_space];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_BYTES_MAX) return 0;
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lector-fuzz-bpe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
        snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
        snprintf(fuzz_merges, sizeof fuzz_merges, "%s/fuzz-merges.txt", dir);
        atexit(cleanup);
    }
    for (int k = 0; k < 2; k++) {
        const struct lector_tokenizer *tok = tokenizer(k);
        int64_t n_vocab = lector_tokenizer_n_vocab(tok);
        struct lector_error err;
        int32_t *pieces = NULL;
        int64_t n_pieces = 0;
        int st = lector_tokenizer_encode_pieces(tok, (const char *)data, size, &pieces, &n_pieces, &err);
        // Replacement mode (k = 1) never fails on bad UTF-8.
        if (st != 0 && (k == 1 || st != LECTOR_STATUS_INVALID_UTF8 || err.offset < 0 || (size_t)err.offset >= size))
            abort();
        // Byte-level BPE loses nothing: valid text gives at least one piece per pre-token.
        if (st == 0 && size > 0 && n_pieces == 0) abort();
        for (int64_t i = 0; i < n_pieces; i++)
            if (pieces[i] < 0 || pieces[i] >= n_vocab) abort();
        int32_t ids[16];
        int64_t n_ids = 0;
        struct lector_encode_info info;
        int st2 = lector_tokenizer_encode(tok, (const char *)data, size, 16, ids, &n_ids, &info, &err);
        if (st2 != st) abort();
        if (st == 0) {
            if (ids[0] != lector_tokenizer_cls_id(tok) || ids[n_ids - 1] != lector_tokenizer_sep_id(tok))
                abort();
            if (info.truncated != (n_pieces > 14)) abort();
            if (memcmp(ids + 1, pieces, (size_t)(n_ids - 2) * sizeof *ids) != 0) abort();
        }
        lector_free(pieces);
    }
    write_file(fuzz_merges, data, size);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err;
    int st = lector_tokenizer_open_bpe(vocab_path, fuzz_merges, 0, &tok, &err);
    if (st != 0) {
        if (tok || err.code != st) abort();
        return 0;
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (lector_tokenizer_encode_pieces(tok, "hello the world", 15, &ids, &n, &err) != 0) abort();
    lector_free(ids);
    lector_tokenizer_close(tok);
    return 0;
}

// Fuzz target: arbitrary bytes as tokenizer.json. Opening may fail (malformed, unsupported
// component) but must never crash; when it succeeds, encoding must give ids inside the
// vocabulary. The input is also encoded as text with a fixed Unigram + Metaspace pipeline
// and a fixed Sequence-normaliser BPE one.
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

static void write_file(const void *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();
}

static void check_encode(const struct lector_tokenizer *tok, const char *text, size_t len) {
    int64_t n_vocab = lector_tokenizer_n_vocab(tok);
    struct lector_error err;
    int32_t *ids = NULL;
    int64_t n = 0;
    int st = lector_tokenizer_encode_pieces(tok, text, len, &ids, &n, &err);
    if (st != 0 && st != LECTOR_STATUS_INVALID_UTF8) abort();
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) abort();
    lector_free(ids);
    int32_t out[8];
    int64_t n_out = 0;
    int64_t n_added = lector_tokenizer_n_added(tok);
    if (n_added <= 8) {
        st = lector_tokenizer_encode(tok, text, len, 8, out, &n_out, NULL, &err);
        if (st == 0 && (n_out < n_added || n_out > 8)) abort();
    }
}

static const char UNIGRAM[] =
    "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"},"
    " {\"type\": \"Replace\", \"pattern\": {\"String\": \"``\"}, \"content\": \"\\\"\"},"
    " {\"type\": \"Lowercase\"}, {\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true}]},"
    " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\"},"
    " \"added_tokens\": [{\"id\": 1, \"content\": \"[CLS]\"}, {\"id\": 2, \"content\": \"[SEP]\"}],"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}},"
    " {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"[SEP]\"}}], \"special_tokens\":"
    " {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [1], \"tokens\": [\"[CLS]\"]},"
    "  \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [2], \"tokens\": [\"[SEP]\"]}}},"
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"[CLS]\", 0],"
    " [\"[SEP]\", 0], [\"\\u2581\", -2], [\"\\u2581the\", -3], [\"a\", -4], [\"b\", -4], [\"ab\", -5],"
    " [\"\\u2581a\", -5], [\"e\", -4], [\"t\", -4], [\"h\", -4]]}}";

static const char BPE[] =
    "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFD\"}, {\"type\": \"StripAccents\"},"
    " {\"type\": \"Prepend\", \"prepend\": \"_\"}]},"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"},"
    " {\"type\": \"Whitespace\"}]},"
    " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true,"
    " \"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"_\": 4, \"_a\": 5},"
    " \"merges\": [\"a b\", [\"_\", \"a\"]]}}";

static struct lector_tokenizer *fixed(int k) {
    static struct lector_tokenizer *toks[2];
    static int ready;
    if (!ready) {
        ready = 1;
        for (int j = 0; j < 2; j++) {
            const char *s = j ? BPE : UNIGRAM;
            write_file(s, strlen(s));
            struct lector_error err;
            if (lector_tokenizer_open_json(path, &toks[j], &err) != 0) {
                fprintf(stderr, "fuzz_tokenizer_json: %s\n", err.msg);
                abort();
            }
        }
    }
    return toks[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_BYTES_MAX) return 0;
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lector-fuzz-tokjson-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        atexit(cleanup);
    }
    for (int k = 0; k < 2; k++) check_encode(fixed(k), (const char *)data, size);

    write_file(data, size);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err;
    int st = lector_tokenizer_open_json(path, &tok, &err);
    if (st != 0) {
        if (tok || err.code != st) abort();
        return 0;
    }
    check_encode(tok, "Hello, world! caf\xc3\xa9 [CLS] <s> ab\xe4\xb8\xad", 33);
    check_encode(tok, (const char *)data, size);
    lector_tokenizer_close(tok);
    return 0;
}

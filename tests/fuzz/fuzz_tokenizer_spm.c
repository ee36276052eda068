// Fuzz target: SentencePiece. The input is (1) loaded as a model file, which may fail but must
// never crash or throw into C, and (2) when shared/ has the xlnet model ($LECTOR_SHARED or the
// test default), encoded as text through lector_tokenizer with its specials.
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/spm.h"
#include "lector/tokenizer.h"

#define INPUT_BYTES_MAX (64 * 1024)

static struct lector_tokenizer *xlnet(void) {
    static struct lector_tokenizer *tok;
    static int ready;
    if (!ready) {
        ready = 1;
        const char *d = getenv("LECTOR_SHARED");
        if (!d || !*d) d = getenv("LECTOR_SHARED_DEFAULT");
        if (!d || !*d) return NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/vocab/xlnet-base-cased/spiece.model", d);
        FILE *fp = fopen(path, "rb");
        if (!fp) return NULL;
        fclose(fp);
        struct lector_error err;
        if (lector_tokenizer_open_spm(path, LECTOR_SPM_FAMILY_XLNET, &tok, &err) != 0) abort();
    }
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_BYTES_MAX) return 0;
    struct lector_spm *spm = NULL;
    struct lector_error err;
    int st = lector_spm_open_memory(data, size, "fuzz input", &spm, &err);
    if (st != 0) {
        if (spm || err.code != st) abort();
    } else {
        int32_t *ids = NULL;
        int64_t n = 0;
        if (lector_spm_encode(spm, "hello world", 11, &ids, &n, &err) == 0) {
            for (int64_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= lector_spm_n_pieces(spm)) abort();
        }
        lector_free(ids);
        lector_spm_close(spm);
    }
    const struct lector_tokenizer *tok = xlnet();
    if (!tok) return 0;
    int32_t *pieces = NULL;
    int64_t n_pieces = 0;
    st = lector_tokenizer_encode_pieces(tok, (const char *)data, size, &pieces, &n_pieces, &err);
    if (st != 0 && st != LECTOR_STATUS_INVALID_UTF8) abort();
    for (int64_t i = 0; i < n_pieces; i++)
        if (pieces[i] < 0 || pieces[i] >= lector_tokenizer_n_vocab(tok)) abort();
    int32_t ids[16];
    int64_t n_ids = 0;
    struct lector_encode_info info = {0, 0};
    if (lector_tokenizer_encode(tok, (const char *)data, size, 16, ids, &n_ids, &info, &err) != st) abort();
    if (st == 0 && (ids[n_ids - 1] != lector_tokenizer_cls_id(tok) || ids[n_ids - 2] != lector_tokenizer_sep_id(tok)))
        abort();
    lector_free(pieces);
    return 0;
}

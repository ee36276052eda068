// Fuzz target: the ALBERT / XLNet text preparation (remove_space, quotes, keep_accents,
// lowercase). The first byte picks the switches, the rest is the text; invalid UTF-8 is
// skipped (the tokenizer validates before preparing). The output must be valid UTF-8, and
// with remove_space and keep_accents it has no leading, trailing or doubled ASCII spaces
// (dropping combining marks after the collapse can expose spaces, as it does in Python).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "text/text_impl.h"

#define INPUT_BYTES_MAX (64 * 1024)

static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += (size_t)k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > INPUT_BYTES_MAX) return 0;
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    if (!valid_utf8(text, len)) return 0;
    struct lector__spm_prep p = {.on = true,
                                 .remove_space = (data[0] & 1) != 0,
                                 .keep_accents = (data[0] & 2) != 0,
                                 .lowercase = (data[0] & 4) != 0};
    char *out = NULL;
    size_t n = 0;
    struct lector_error err;
    if (lector__spm_prep_run(&p, (const char *)text, len, &out, &n, &err) != LECTOR_STATUS_OK) {
        if (out) abort();
        return 0;
    }
    if (!out || !valid_utf8((const uint8_t *)out, n)) abort();
    if (p.remove_space && p.keep_accents && n > 0) {
        if (out[0] == ' ' || out[n - 1] == ' ') abort();
        for (size_t i = 1; i < n; i++)
            if (out[i] == ' ' && out[i - 1] == ' ') abort();
    }
    lector_free(out);
    return 0;
}

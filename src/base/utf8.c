// UTF-8: decoding and encoding one code point, and validating a buffer (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
#include "base/base_impl.h"

int lector__utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp, const char **why) {
    uint8_t b0 = s[i];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int len;
    uint32_t c;
    // The second byte's range is narrowed for E0/ED/F0/F4 so that overlong forms,
    // surrogates and values above U+10FFFF fail on the byte that makes them so.
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 < 0xC0) {
        *why = "unexpected continuation byte";
        return 0;
    } else if (b0 < 0xC2) {
        *why = "overlong encoding";
        return 0;
    } else if (b0 < 0xE0) {
        len = 2;
        c = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        len = 3;
        c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 < 0xF5) {
        len = 4;
        c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        *why = "byte 0xF5-0xFF never appears in UTF-8";
        return 0;
    }
    for (int k = 1; k < len; k++) {
        if (i + (size_t)k >= n) {
            *why = "truncated sequence";
            return 0;
        }
        uint8_t b = s[i + (size_t)k];
        if (k == 1 && (b < lo || b > hi) && b >= 0x80 && b <= 0xBF) {
            *why = b0 == 0xED ? "surrogate code point"
                   : b0 == 0xF4 ? "code point above U+10FFFF"
                                : "overlong encoding";
            return 0;
        }
        if (b < 0x80 || b > 0xBF) {
            *why = "truncated sequence";
            return 0;
        }
        c = (c << 6) | (b & 0x3F);
    }
    *cp = c;
    return len;
}

int lector__utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

enum lector_status lector__utf8_check(const char *text, size_t len, struct lector_error *err) {
    const uint8_t *s = (const uint8_t *)text;
    const size_t i = lector__utf8_invalid_at(s, len);
    if (i == len) return LECTOR_STATUS_OK;
    uint32_t cp;
    const char *why = NULL;
    lector__utf8_decode(s, len, i, &cp, &why); // fails at i: only for its reason
    return lector__error_offset(err, LECTOR_STATUS_INVALID_UTF8, NULL, (int64_t)i,
                                "text: expected UTF-8, found byte 0x%02X at byte offset %zu (%s)", (unsigned)s[i], i,
                                why);
}

size_t lector__utf8_invalid_at(const uint8_t *buf, size_t n) {
    uint32_t cp;
    const char *why = NULL;
    for (size_t i = 0; i < n;) {
        int k = buf[i] < 0x80 ? 1 : lector__utf8_decode(buf, n, i, &cp, &why);
        if (k == 0) return i;
        i += (size_t)k;
    }
    return n;
}

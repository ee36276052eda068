// The per-character part of BERT normalisation (clean text, CJK isolation, strip accents,
// lowercase), built on utf8proc's character database.
#include "text/text_impl.h"

#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------
// character classes

#define D LECTOR__CHAR_DROP
#define S LECTOR__CHAR_SPACE
#define P LECTOR__CHAR_PUNCT
#define W LECTOR__CHAR_WORD
// BERT treats every ASCII symbol as punctuation ($ + < = > ^ ` | ~ included, though Unicode
// files them under S*), tab/LF/CR as whitespace, and the other C0 controls and DEL as noise.
const uint8_t lector__ascii_class[128] = {
    D, D, D, D, D, D, D, D, D, S, S, D, D, S, D, D,  // 0x00
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,  // 0x10
    S, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,  // 0x20  !"#$%&'()*+,-./
    W, W, W, W, W, W, W, W, W, W, P, P, P, P, P, P,  // 0x30  0-9 :;<=>?
    P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x40  @ A-O
    W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, P,  // 0x50  P-Z [\]^_
    P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,  // 0x60  ` a-o
    W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, D,  // 0x70  p-z {|}~ DEL
};
#undef D
#undef S
#undef P
#undef W

bool lector__is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Class of a character after normalisation, as BertPreTokenizer sees it: whitespace is
// Rust's char::is_whitespace (controls are gone by now, leaving Zs, U+2028, U+2029), and
// punctuation is any P* category (ASCII symbols are handled by the table).
static uint8_t class_of(uint32_t cp) {
    if (cp < 0x80) return lector__ascii_class[cp];
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: return LECTOR__CHAR_SPACE;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return LECTOR__CHAR_PUNCT;
    default: return LECTOR__CHAR_WORD;
    }
}

// Lowercase with Rust's char::to_lowercase (the full, unconditional mapping): only U+0130
// differs from the simple mapping utf8proc gives, and it becomes two code points.
static int lower_into(uint32_t cp, uint32_t *out) {
    if (cp == 0x130) {
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

int lector__normalize_char(const struct lector__norm *nm, uint32_t cp, uint32_t out[32],
                           uint8_t cls[32], uint8_t ccc[32]) {
    // clean_text: NUL, U+FFFD and "other" characters go; HF's test for the latter is
    // Cc, Cf or Co (tab, LF and CR are whitespace instead).
    if (cp == 0 || cp == 0xFFFD) return 0;
    if (cp < 0x80 && lector__ascii_class[cp] == LECTOR__CHAR_DROP) return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
        cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
        return 0;
    if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
        cat == UTF8PROC_CATEGORY_ZP) {
        out[0] = ' ';
        cls[0] = LECTOR__CHAR_SPACE;
        ccc[0] = 0;
        return 1;
    }
    bool cjk = nm->isolate_cjk && lector__is_cjk(cp);

    uint32_t dec[32];
    int n_dec = 1;
    dec[0] = cp;
    if (nm->strip_accents) {
        int boundclass = 0;
        utf8proc_ssize_t r = utf8proc_decompose_char((utf8proc_int32_t)cp, (utf8proc_int32_t *)dec,
                                                     32, UTF8PROC_DECOMPOSE, &boundclass);
        // A canonical decomposition is at most 4 code points; anything odd keeps cp as is.
        if (r >= 1 && r <= 32) n_dec = (int)r;
    }
    int n = 0;
    for (int k = 0; k < n_dec; k++) {
        uint32_t c = dec[k];
        const utf8proc_property_t *prop = utf8proc_get_property((utf8proc_int32_t)c);
        if (nm->strip_accents && prop->category == UTF8PROC_CATEGORY_MN) {
            // A dropped starter still ends a run of combining marks for canonical ordering.
            if (prop->combining_class == 0) {
                out[n] = 0;
                cls[n] = LECTOR__CHAR_DROP;
                ccc[n] = 0;
                n++;
            }
            continue;
        }
        uint32_t low[2];
        int n_low = 1;
        low[0] = c;
        if (nm->lowercase) n_low = lower_into(c, low);
        for (int j = 0; j < n_low && n < 32; j++) {
            out[n] = low[j];
            cls[n] = cjk ? LECTOR__CHAR_PUNCT : class_of(low[j]);
            // Lowercasing runs after NFD, so its own output is never reordered.
            ccc[n] = n_low == 1 ? (uint8_t)prop->combining_class : 0;
            n++;
        }
    }
    return n;
}

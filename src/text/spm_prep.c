// The text preparation that Hugging Face's slow SentencePiece tokenizers (AlbertTokenizer,
// XLNetTokenizer) do before the model sees the text, with Python's string semantics:
//   remove_space:  " ".join(text.strip().split())   (str.isspace whitespace)
//   always:        "``" and "''" become '"'
//   !keep_accents: NFKD, then drop every character whose canonical combining class is not 0
//                  (unicodedata.combining)
//   do_lower_case: str.lower() (simple lowercase, U+0130 -> "i" U+0307, final sigma)
// Built on utf8proc's character database.
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "text/text_impl.h"

// ---------------------------------------------------------------------------------------------
// helpers

struct obuf {
    char *p;
    size_t n, cap;
};

static bool obuf_add(struct obuf *b, const void *s, size_t n) {
    if (n == 0) return true;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        char *p = lector__realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return true;
}

static bool obuf_add_cp(struct obuf *b, uint32_t cp) {
    char u[4];
    int k = lector__utf8_encode(cp, u);
    return obuf_add(b, u, (size_t)k);
}

// Decode the code point at s[*i] of valid UTF-8 and step over it.
static uint32_t next_cp(const char *s, size_t n, size_t *i) {
    uint32_t cp = (uint8_t)s[*i];
    if (cp < 0x80) {
        (*i)++;
        return cp;
    }
    const char *why = NULL;
    int k = lector__utf8_decode((const uint8_t *)s, n, *i, &cp, &why);
    if (k <= 0) {
        cp = 0xFFFD;
        k = 1;
    }
    *i += (size_t)k;
    return cp;
}

// Python's str.isspace: Unicode White_Space plus the information separators U+001C..U+001F,
// which Python counts as whitespace (bidirectional class B or S).
static bool py_isspace(uint32_t cp) {
    return (cp >= 0x1C && cp <= 0x1F) || lector__is_white_space(cp);
}

// Python's notion of "cased" and "case-ignorable" for the final-sigma rule, approximated by
// general category (the Other_Lowercase / Other_Uppercase letters are rare in practice).
static bool is_cased(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

static bool is_case_ignorable(uint32_t cp) {
    if (cp == '\'' || cp == '.' || cp == ':' || cp == '^' || cp == '`' || cp == 0xB7 ||
        cp == 0x2019 || cp == 0x2018 || cp == 0x2024 || cp == 0xAD)
        return true;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK: return true;
    default: return false;
    }
}

// Whether the capital sigma at cps[i] ends a word: a cased letter before it and none after
// it, skipping case-ignorable characters on both sides.
static bool final_sigma(const uint32_t *cps, size_t n, size_t i) {
    size_t j = i;
    bool before = false;
    while (j > 0) {
        uint32_t c = cps[--j];
        if (is_case_ignorable(c)) continue;
        before = is_cased(c);
        break;
    }
    if (!before) return false;
    for (j = i + 1; j < n; j++) {
        if (is_case_ignorable(cps[j])) continue;
        return !is_cased(cps[j]);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// the steps

// remove_space: strip, then collapse every whitespace run into one ' '.
static bool collapse_space(const char *s, size_t n, struct obuf *out) {
    bool pending = false;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp = next_cp(s, n, &i);
        if (py_isspace(cp)) {
            pending = out->n > 0;
            continue;
        }
        if (pending && !obuf_add(out, " ", 1)) return false;
        pending = false;
        if (!obuf_add(out, s + at, i - at)) return false;
    }
    return true;
}

// "``" and "''" become '"', scanning left to right as str.replace does (first "``" then "''").
static bool replace_quotes(const char *s, size_t n, char q, struct obuf *out) {
    for (size_t i = 0; i < n;) {
        if (s[i] == q && i + 1 < n && s[i + 1] == q) {
            if (!obuf_add(out, "\"", 1)) return false;
            i += 2;
            continue;
        }
        if (!obuf_add(out, s + i, 1)) return false;
        i++;
    }
    return true;
}

// NFKD, then drop what unicodedata.combining() calls combining (canonical class != 0).
static enum lector_status strip_accents(const char *s, size_t n, struct obuf *out,
                                        struct lector_error *err) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                     (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT));
    if (r < 0) {
        free(dst);  // utf8proc allocates with malloc
        return lector__error(err, r == UTF8PROC_ERROR_NOMEM ? LECTOR_STATUS_NOMEM : LECTOR_STATUS_INTERNAL,
                             "SentencePiece preprocessing: NFKD failed: %s", utf8proc_errmsg(r));
    }
    bool ok = true;
    const char *d = (const char *)dst;
    for (size_t i = 0; i < (size_t)r && ok;) {
        size_t at = i;
        uint32_t cp = next_cp(d, (size_t)r, &i);
        if (cp >= 0x80 && utf8proc_get_property((utf8proc_int32_t)cp)->combining_class != 0)
            continue;
        ok = obuf_add(out, d + at, i - at);
    }
    free(dst);
    if (!ok) return lector__error(err, LECTOR_STATUS_NOMEM, "SentencePiece preprocessing: out of memory");
    return LECTOR_STATUS_OK;
}

// str.lower(): the final-sigma rule needs the neighbours, so decode to code points first.
static enum lector_status lower(const char *s, size_t n, struct obuf *out,
                                struct lector_error *err) {
    uint32_t *cps = lector__malloc((n ? n : 1) * sizeof *cps);
    if (!cps) return lector__error(err, LECTOR_STATUS_NOMEM, "SentencePiece preprocessing: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n;) cps[m++] = next_cp(s, n, &i);
    bool ok = true;
    for (size_t k = 0; k < m && ok; k++) {
        uint32_t cp = cps[k];
        if (cp < 0x80) {
            char c = (char)cp;
            if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
            ok = obuf_add(out, &c, 1);
        } else if (cp == 0x130) {
            ok = obuf_add_cp(out, 'i') && obuf_add_cp(out, 0x307);
        } else if (cp == 0x3A3) {
            ok = obuf_add_cp(out, final_sigma(cps, m, k) ? 0x3C2 : 0x3C3);
        } else {
            ok = obuf_add_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
    }
    lector_free(cps);
    if (!ok) return lector__error(err, LECTOR_STATUS_NOMEM, "SentencePiece preprocessing: out of memory");
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// entry point

enum lector_status lector__spm_prep_run(const struct lector__spm_prep *p, const char *text,
                                        size_t len, char **out, size_t *n_out,
                                        struct lector_error *err) {
    *out = NULL;
    *n_out = 0;
    struct obuf a = {0}, b = {0};
    enum lector_status st = LECTOR_STATUS_OK;
    bool ok = true;
    // Every step reads one buffer and writes the other; a holds the current text.
    if (p->remove_space) ok = collapse_space(text, len, &a);
    else ok = obuf_add(&a, text, len);
    ok = ok && replace_quotes(a.p, a.n, '`', &b);
    a.n = 0;
    ok = ok && replace_quotes(b.p, b.n, '\'', &a);
    if (!ok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "SentencePiece preprocessing: out of memory");
        goto fail;
    }
    if (!p->keep_accents) {
        b.n = 0;
        if ((st = strip_accents(a.p, a.n, &b, err)) != LECTOR_STATUS_OK) goto fail;
        struct obuf t = a;
        a = b;
        b = t;
    }
    if (p->lowercase) {
        b.n = 0;
        if ((st = lower(a.p, a.n, &b, err)) != LECTOR_STATUS_OK) goto fail;
        struct obuf t = a;
        a = b;
        b = t;
    }
    lector_free(b.p);
    if (!a.p && !(a.p = lector__malloc(1))) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "SentencePiece preprocessing: out of memory");
        goto fail;
    }
    *out = a.p;
    *n_out = a.n;
    return LECTOR_STATUS_OK;
fail:
    lector_free(b.p);
    lector_free(a.p);
    return st;
}

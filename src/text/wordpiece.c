// One pass over the text: BERT normalisation, whitespace/punctuation splitting and greedy
// longest-match WordPiece, with no allocation except for a growing output array.
#include "text/text_impl.h"

#include <string.h>

// ---------------------------------------------------------------------------------------------
// output

enum lector_status lector__sink_push(struct lector__sink *s, int32_t id, struct lector_error *err) {
    if (s->n == s->cap) {
        if (!s->grow) {
            s->full = true;
            return LECTOR_STATUS_OK;
        }
        int64_t cap = s->cap < 16 ? 32 : s->cap * 2;
        int32_t *ids = lector__realloc(s->ids, (size_t)cap * sizeof *ids);
        if (!ids)
            return lector__error(err, LECTOR_STATUS_NOMEM, "tokenizer: out of memory for %lld ids",
                                 (long long)cap);
        s->ids = ids;
        s->cap = cap;
    }
    s->ids[s->n++] = id;
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// the current word

/*
 * The normalised word being built. Two bytes stay free in front of it so that a "##"
 * continuation key can be formed in place. Characters past n_word_chars_max are counted
 * but not stored: the word is [UNK] anyway.
 */
struct word {
    char mem[2 + 4 * LECTOR__WORD_CHARS_LIMIT + 8];
    char *buf;      // mem + 2
    size_t len;     // bytes in buf
    int64_t n_chars;
    // Trailing run of kept characters with a non-zero canonical combining class, for NFD's
    // canonical ordering (only with strip_accents).
    uint32_t run_cp[8];
    uint8_t run_ccc[8];
    unsigned n_run;
    size_t run_start;
};

static void word_append_cp(struct word *w, int32_t n_max, uint32_t cp, uint8_t ccc, bool order) {
    w->n_chars++;
    if (w->n_chars > n_max) return;
    if (!order || ccc == 0) {
        w->n_run = 0;
        w->len += (size_t)lector__utf8_encode(cp, w->buf + w->len);
        return;
    }
    if (w->n_run == 0) w->run_start = w->len;
    if (w->n_run >= 8) {
        // Eight reorderable marks in a row is not text; keep them as they come.
        w->len += (size_t)lector__utf8_encode(cp, w->buf + w->len);
        return;
    }
    // Stable insertion by combining class, then re-encode the run.
    unsigned k = w->n_run;
    while (k > 0 && w->run_ccc[k - 1] > ccc) {
        w->run_cp[k] = w->run_cp[k - 1];
        w->run_ccc[k] = w->run_ccc[k - 1];
        k--;
    }
    w->run_cp[k] = cp;
    w->run_ccc[k] = ccc;
    w->n_run++;
    w->len = w->run_start;
    for (unsigned j = 0; j < w->n_run; j++)
        w->len += (size_t)lector__utf8_encode(w->run_cp[j], w->buf + w->len);
}

// Greedy longest-match-first WordPiece on the finished word; a word with any unmatched
// remainder, or longer than the limit, is one [UNK].
static enum lector_status word_flush(const struct lector_tokenizer *tok, struct word *w,
                                     struct lector__sink *out, struct lector_error *err) {
    if (w->n_chars == 0) return LECTOR_STATUS_OK;
    const struct lector__vocab *v = &tok->vocab;
    int64_t n_chars = w->n_chars;
    size_t len = w->len;
    w->n_chars = 0;
    w->len = 0;
    w->n_run = 0;
    if (n_chars > tok->n_word_chars_max) return lector__sink_push(out, tok->id_unk, err);

    int32_t pieces[LECTOR__WORD_CHARS_LIMIT];
    int n_pieces = 0;
    uint64_t hashes[LECTOR__WORD_CHARS_LIMIT + 1];
    size_t ends[LECTOR__WORD_CHARS_LIMIT + 1];
    char *s = w->buf;
    size_t start = 0;
    while (start < len) {
        size_t n_prefix = start > 0 ? 2 : 0;
        uint64_t h = start > 0 ? tok->hash_cont : LECTOR__FNV_OFFSET;
        // No token is longer than len_token_max bytes, so longer candidates are skipped
        // without hashing them.
        size_t limit = len;
        if (v->len_token_max < n_prefix) break;
        if (limit - start > v->len_token_max - n_prefix) limit = start + v->len_token_max - n_prefix;
        // Hash every candidate [start, end) that ends on a character boundary, in one pass.
        int n_cand = 0;
        for (size_t i = start; i < limit; i++) {
            h = lector__fnv_step(h, (uint8_t)s[i]);
            if (i + 1 == len || ((uint8_t)s[i + 1] & 0xC0) != 0x80) {
                hashes[n_cand] = h;
                ends[n_cand] = i + 1;
                n_cand++;
            }
        }
        int32_t id = -1;
        size_t end = 0;
        char save0 = 0, save1 = 0;
        // The "##" prefix is written over the two bytes before start: buf has two bytes of
        // headroom (mem + 2), so p may point before buf when start is 1.
        char *p = start > 0 ? w->mem + start : NULL;
        if (p) {
            save0 = p[0];
            save1 = p[1];
            p[0] = '#';
            p[1] = '#';
        }
        for (int k = n_cand - 1; k >= 0 && id < 0; k--) {
            id = lector__vocab_find_hashed(v, w->mem + 2 + start - n_prefix, ends[k] - start + n_prefix,
                                           hashes[k]);
            end = ends[k];
        }
        if (p) {
            p[0] = save0;
            p[1] = save1;
        }
        if (id < 0) break;
        pieces[n_pieces++] = id;
        start = end;
    }
    if (start < len) return lector__sink_push(out, tok->id_unk, err);
    for (int k = 0; k < n_pieces; k++) {
        enum lector_status st = lector__sink_push(out, pieces[k], err);
        if (st != LECTOR_STATUS_OK) return st;
    }
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// the pass over the text

static enum lector_status bad_utf8(const uint8_t *s, size_t i, const char *why,
                                   struct lector_error *err) {
    return lector__error_offset(err, LECTOR_STATUS_INVALID_UTF8, NULL, (int64_t)i,
                            "text: expected UTF-8, found byte 0x%02X at byte offset %zu (%s)",
                            (unsigned)s[i], i, why);
}

static enum lector_status validate_rest(const uint8_t *s, size_t n, size_t i,
                                        struct lector_error *err) {
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        const char *why = NULL;
        int k = lector__utf8_decode(s, n, i, &cp, &why);
        if (k == 0) return bad_utf8(s, i, why, err);
        i += (size_t)k;
    }
    return LECTOR_STATUS_OK;
}

// The longest special token that starts at s, or NULL.
static const struct lector__special *match_special(const struct lector_tokenizer *tok,
                                                   const uint8_t *s, size_t n) {
    for (int k = 0; k < tok->n_specials; k++) {
        const struct lector__special *sp = &tok->specials[k];
        if (sp->len <= n && memcmp(s, sp->text, sp->len) == 0) return sp;
    }
    return NULL;
}

enum lector_status lector__wordpiece_run(const struct lector_tokenizer *tok, const char *text,
                                         size_t len, struct lector__sink *out,
                                         struct lector_error *err) {
    const uint8_t *s = (const uint8_t *)text;
    const bool lower = tok->norm.lowercase;
    const bool order = tok->norm.strip_accents;
    const int32_t n_max = tok->n_word_chars_max;
    struct word w;
    w.buf = w.mem + 2;
    w.len = 0;
    w.n_chars = 0;
    w.n_run = 0;
    w.run_start = 0;
    enum lector_status st = LECTOR_STATUS_OK;
    size_t i = 0;
    while (i < len) {
        if (out->full) return validate_rest(s, len, i, err);
        uint8_t b = s[i];
        uint8_t cls = tok->byte_class[b];
        if (cls == LECTOR__CHAR_WORD) {
            // ASCII fast path: no table lookups in utf8proc, no decoding.
            do {
                if (lower && b >= 'A' && b <= 'Z') b = (uint8_t)(b + 32);
                w.n_chars++;
                if (w.n_chars <= n_max) w.buf[w.len++] = (char)b;
                i++;
                if (i == len) break;
                b = s[i];
            } while (tok->byte_class[b] == LECTOR__CHAR_WORD);
            w.n_run = 0;
            continue;
        }
        if (cls & LECTOR__CHAR_SPECIAL) {
            const struct lector__special *sp = match_special(tok, s + i, len - i);
            if (sp) {
                st = word_flush(tok, &w, out, err);
                if (st == LECTOR_STATUS_OK) st = lector__sink_push(out, sp->id, err);
                if (st != LECTOR_STATUS_OK) return st;
                i += sp->len;
                continue;
            }
            cls &= (uint8_t)~LECTOR__CHAR_SPECIAL;
            if (cls == LECTOR__CHAR_WORD) {
                if (lower && b >= 'A' && b <= 'Z') b = (uint8_t)(b + 32);
                w.n_chars++;
                if (w.n_chars <= n_max) w.buf[w.len++] = (char)b;
                w.n_run = 0;
                i++;
                continue;
            }
        }
        if (cls != LECTOR__CHAR_UTF8) {
            i++;
            if (cls == LECTOR__CHAR_DROP) continue;
            st = word_flush(tok, &w, out, err);
            if (st != LECTOR_STATUS_OK) return st;
            if (cls == LECTOR__CHAR_PUNCT) {
                st = lector__sink_push(out, tok->id_ascii[b], err);
                if (st != LECTOR_STATUS_OK) return st;
            }
            continue;
        }
        uint32_t cp;
        const char *why = NULL;
        int k = lector__utf8_decode(s, len, i, &cp, &why);
        if (k == 0) return bad_utf8(s, i, why, err);
        i += (size_t)k;
        uint32_t norm[32];
        uint8_t norm_cls[32], ccc[32];
        int n_norm = lector__normalize_char(&tok->norm, cp, norm, norm_cls, ccc);
        for (int j = 0; j < n_norm; j++) {
            switch (norm_cls[j]) {
            case LECTOR__CHAR_WORD: word_append_cp(&w, n_max, norm[j], ccc[j], order); break;
            case LECTOR__CHAR_DROP: w.n_run = 0; break;
            case LECTOR__CHAR_SPACE: st = word_flush(tok, &w, out, err); break;
            default: {
                // Punctuation or an isolated CJK ideograph: a word of its own.
                st = word_flush(tok, &w, out, err);
                if (st != LECTOR_STATUS_OK) return st;
                word_append_cp(&w, n_max, norm[j], 0, false);
                st = word_flush(tok, &w, out, err);
                break;
            }
            }
            if (st != LECTOR_STATUS_OK) return st;
        }
    }
    return word_flush(tok, &w, out, err);
}

// The tokenizer.json pipeline for BPE and Unigram models: string normalisers, pre-tokenisers
// (ByteLevel, Metaspace, Whitespace, WhitespaceSplit, in sequence) and the model applied to
// each pre-token. BERT's own pipeline is the one-pass code of wordpiece.c instead.
#include "text/text_impl.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------
// growable strings and piece lists

struct buf {
    char *s;
    size_t n, cap;
};

static bool buf_reserve(struct buf *b, size_t more) {
    size_t need;
    if (!lector__add_size(b->n, more, &need)) return false;
    if (need <= b->cap) return true;
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) cap *= 2;
    char *s = lector__realloc(b->s, cap);
    if (!s) return false;
    b->s = s;
    b->cap = cap;
    return true;
}

static bool buf_add(struct buf *b, const void *data, size_t n) {
    if (!buf_reserve(b, n)) return false;
    if (n) memcpy(b->s + b->n, data, n);
    b->n += n;
    return true;
}

static bool buf_add_cp(struct buf *b, uint32_t cp) {
    char tmp[4];
    return buf_add(b, tmp, (size_t)lector__utf8_encode(cp, tmp));
}

// Pre-tokens: byte ranges of one buffer.
struct pieces {
    struct buf text;
    size_t *off, *len;
    size_t n, cap;
};

static bool pieces_add(struct pieces *p, const char *s, size_t n) {
    if (p->n == p->cap) {
        size_t cap = p->cap < 16 ? 16 : p->cap * 2;
        size_t *off = lector__realloc(p->off, cap * sizeof *off);
        if (!off) return false;
        p->off = off;
        size_t *len = lector__realloc(p->len, cap * sizeof *len);
        if (!len) return false;
        p->len = len;
        p->cap = cap;
    }
    p->off[p->n] = p->text.n;
    p->len[p->n] = n;
    if (!buf_add(&p->text, s, n)) return false;
    p->n++;
    return true;
}

static void pieces_free(struct pieces *p) {
    lector_free(p->text.s);
    lector_free(p->off);
    lector_free(p->len);
    memset(p, 0, sizeof *p);
}

// ---------------------------------------------------------------------------------------------
// normalisers (each maps valid UTF-8 to valid UTF-8)

static bool is_ws(uint32_t cp) { return lector__is_white_space(cp); }

static uint32_t next_cp(const char *s, size_t n, size_t *i) {
    uint32_t cp = 0xFFFD;
    const char *why = NULL;
    int k = lector__utf8_decode((const uint8_t *)s, n, *i, &cp, &why);
    *i += k > 0 ? (size_t)k : 1;
    return cp;
}

static enum lector_status apply_norm(const struct lector__norm_op *op, const char *s, size_t n,
                                     struct buf *out, struct lector_error *err) {
    bool ok = true;
    switch (op->type) {
    case LECTOR__NORM_LOWERCASE:
        for (size_t i = 0; i < n && ok;) {
            if ((uint8_t)s[i] < 0x80) {
                char c = s[i++];
                if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
                ok = buf_add(out, &c, 1);
                continue;
            }
            uint32_t cp = next_cp(s, n, &i);
            // Rust's char::to_lowercase: U+0130 is the one two-character mapping.
            if (cp == 0x130) ok = buf_add_cp(out, 'i') && buf_add_cp(out, 0x307);
            else ok = buf_add_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
        break;
    case LECTOR__NORM_NFC:
    case LECTOR__NORM_NFD:
    case LECTOR__NORM_NFKC:
    case LECTOR__NORM_NFKD: {
        int opts = UTF8PROC_STABLE;
        if (op->type == LECTOR__NORM_NFC || op->type == LECTOR__NORM_NFKC) opts |= UTF8PROC_COMPOSE;
        else opts |= UTF8PROC_DECOMPOSE;
        if (op->type == LECTOR__NORM_NFKC || op->type == LECTOR__NORM_NFKD) opts |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                          (utf8proc_option_t)opts);
        if (r < 0) {
            free(dst);
            return lector__error(err, r == UTF8PROC_ERROR_NOMEM ? LECTOR_STATUS_NOMEM : LECTOR_STATUS_INTERNAL,
                                 "normalizer: Unicode normalisation failed: %s",
                                 utf8proc_errmsg(r));
        }
        ok = buf_add(out, dst, (size_t)r);
        free(dst);  // utf8proc allocates with malloc
        break;
    }
    case LECTOR__NORM_STRIP: {
        size_t a = 0, b = n;
        if (op->left)
            while (a < b) {
                size_t j = a;
                if (!is_ws(next_cp(s, b, &j))) break;
                a = j;
            }
        if (op->right)
            while (b > a) {
                size_t j = b - 1;
                while (j > a && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
                size_t k = j;
                if (!is_ws(next_cp(s, b, &k))) break;
                b = j;
            }
        ok = buf_add(out, s + a, b - a);
        break;
    }
    case LECTOR__NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < n && ok;) {
            size_t start = i;
            uint32_t cp = next_cp(s, n, &i);
            if (cp >= 0x80 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN)
                continue;
            ok = buf_add(out, s + start, i - start);
        }
        break;
    case LECTOR__NORM_REPLACE:
        for (size_t i = 0; i < n && ok;) {
            if (op->n_from > 0 && n - i >= op->n_from && memcmp(s + i, op->from, op->n_from) == 0) {
                ok = buf_add(out, op->to, op->n_to);
                i += op->n_from;
            } else {
                ok = buf_add(out, s + i, 1);
                i++;
            }
        }
        break;
    case LECTOR__NORM_PREPEND:
        if (n > 0) ok = buf_add(out, op->to, op->n_to);
        if (ok) ok = buf_add(out, s, n);
        break;
    }
    if (!ok) return lector__error(err, LECTOR_STATUS_NOMEM, "normalizer: out of memory for %zu bytes", n);
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// pre-tokenisers

// \w as regex engines define it for Unicode: letters, marks, decimal digits, connectors.
static bool is_word_char(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC: return true;
    default: return false;
    }
}

// Apply one pre-tokeniser to piece s[0..n), appending the resulting pieces to out.
static bool apply_pre(const struct lector__pre_op *op, const char *s, size_t n, bool first,
                      struct pieces *out, struct buf *tmp) {
    switch (op->type) {
    case LECTOR__PRE_BYTE_LEVEL: {
        const char *t = s;
        size_t m = n;
        if (op->add_prefix_space && (n == 0 || s[0] != ' ')) {
            tmp->n = 0;
            if (!buf_add(tmp, " ", 1) || !buf_add(tmp, s, n)) return false;
            t = tmp->s;
            m = tmp->n;
        }
        if (!op->use_regex) return m == 0 || pieces_add(out, t, m);
        for (size_t i = 0; i < m;) {
            size_t j = lector__gpt2_next((const uint8_t *)t, m, i);
            if (!pieces_add(out, t + i, j - i)) return false;
            i = j;
        }
        return true;
    }
    case LECTOR__PRE_METASPACE: {
        tmp->n = 0;
        bool prepend = op->prepend == LECTOR__PREPEND_ALWAYS ||
                       (op->prepend == LECTOR__PREPEND_FIRST && first);
        if (prepend && !(n >= op->n_repl && memcmp(s, op->repl, op->n_repl) == 0) &&
            !buf_add(tmp, op->repl, op->n_repl))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!(s[i] == ' ' ? buf_add(tmp, op->repl, op->n_repl) : buf_add(tmp, s + i, 1)))
                return false;
        if (!op->split) return tmp->n == 0 || pieces_add(out, tmp->s, tmp->n);
        // Split before every replacement character: it starts the next piece.
        size_t start = 0;
        for (size_t i = 0; i < tmp->n; i++) {
            if (i > start && tmp->n - i >= op->n_repl &&
                memcmp(tmp->s + i, op->repl, op->n_repl) == 0) {
                if (!pieces_add(out, tmp->s + start, i - start)) return false;
                start = i;
            }
        }
        return start == tmp->n || pieces_add(out, tmp->s + start, tmp->n - start);
    }
    case LECTOR__PRE_WHITESPACE_SPLIT:
    case LECTOR__PRE_WHITESPACE: {
        // WhitespaceSplit: runs of non-whitespace. Whitespace: runs of \w, and runs of
        // characters that are neither \w nor whitespace.
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            uint32_t cp = next_cp(s, n, &j);
            if (is_ws(cp)) {
                i = j;
                continue;
            }
            bool w = is_word_char(cp);
            size_t end = j;
            while (end < n) {
                size_t k = end;
                uint32_t c = next_cp(s, n, &k);
                if (is_ws(c)) break;
                if (op->type == LECTOR__PRE_WHITESPACE && is_word_char(c) != w) break;
                end = k;
            }
            if (!pieces_add(out, s + i, end - i)) return false;
            i = end;
        }
        return true;
    }
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// running the pipeline on one segment

static enum lector_status model_word(const struct lector_tokenizer *tok, const char *s, size_t n,
                                     struct lector__sink *out, struct lector_error *err) {
    if (tok->kind == LECTOR__KIND_UNIGRAM) return lector__unigram_word(tok, s, n, out, err);
    return lector__bpe_word(&tok->bpe, &tok->vocab, (const uint8_t *)s, n, out, err);
}

enum lector_status lector__pipeline_run(const struct lector_tokenizer *tok, const char *text,
                                        size_t len, bool first, struct lector__sink *out,
                                        struct lector_error *err) {
    const struct lector__pipeline *p = &tok->pipe;
    enum lector_status st = LECTOR_STATUS_OK;
    // The common case (RoBERTa, GPT-2): no normaliser and a lone ByteLevel pre-tokeniser
    // without a prefix space: split and merge straight from the input.
    if (p->n_norm == 0 && p->n_pre == 1 && p->pre[0].type == LECTOR__PRE_BYTE_LEVEL &&
        !p->pre[0].add_prefix_space && p->pre[0].use_regex) {
        const uint8_t *s = (const uint8_t *)text;
        for (size_t i = 0; i < len && st == LECTOR_STATUS_OK && !out->full;) {
            size_t j = lector__gpt2_next(s, len, i);
            st = model_word(tok, text + i, j - i, out, err);
            i = j;
        }
        return st;
    }

    struct buf a = {0}, b = {0}, tmp = {0};
    struct pieces cur = {0}, next = {0};
    const char *s = text;
    size_t n = len;
    for (int k = 0; k < p->n_norm; k++) {
        b.n = 0;
        st = apply_norm(&p->norm[k], s, n, &b, err);
        if (st != LECTOR_STATUS_OK) goto done;
        struct buf t = a;
        a = b;
        b = t;
        s = a.s ? a.s : "";
        n = a.n;
    }
    if (!pieces_add(&cur, s, n)) goto nomem;
    for (int k = 0; k < p->n_pre; k++) {
        next.text.n = 0;
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++)
            if (!apply_pre(&p->pre[k], cur.text.s + cur.off[i], cur.len[i], first && i == 0, &next,
                           &tmp))
                goto nomem;
        struct pieces t = cur;
        cur = next;
        next = t;
    }
    for (size_t i = 0; i < cur.n && st == LECTOR_STATUS_OK && !out->full; i++)
        if (cur.len[i] > 0) st = model_word(tok, cur.text.s + cur.off[i], cur.len[i], out, err);
    goto done;
nomem:
    st = lector__error(err, LECTOR_STATUS_NOMEM, "pre-tokenizer: out of memory for %zu bytes", len);
done:
    pieces_free(&cur);
    pieces_free(&next);
    lector_free(tmp.s);
    lector_free(b.s);
    lector_free(a.s);
    return st;
}

void lector__pipeline_free(struct lector__pipeline *p) {
    if (!p) return;
    lector_free(p->mem);
    memset(p, 0, sizeof *p);
}

// ---------------------------------------------------------------------------------------------
// Unigram

// Viterbi: the segmentation of s[0..len) with the highest total log-probability; a character
// no piece covers becomes <unk> (score: the lowest piece score minus 10), and consecutive
// <unk>s fuse into one.
enum lector_status lector__unigram_word(const struct lector_tokenizer *tok, const char *s,
                                        size_t len, struct lector__sink *out,
                                        struct lector_error *err) {
    if (len == 0) return LECTOR_STATUS_OK;
    const struct lector__vocab *v = &tok->vocab;
    // best[i]: score of the best segmentation of s[0..i); from[i]: where its last piece starts.
    double *best = lector__malloc((len + 1) * sizeof *best);
    size_t *from = lector__malloc((len + 1) * sizeof *from);
    int32_t *id_at = lector__malloc((len + 1) * sizeof *id_at);
    enum lector_status st = LECTOR_STATUS_OK;
    if (!best || !from || !id_at) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "Unigram: out of memory for a %zu-byte word", len);
        goto done;
    }
    for (size_t i = 0; i <= len; i++) {
        best[i] = -1e300;
        from[i] = 0;
        id_at[i] = -1;
    }
    best[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) continue;
        if (best[i] <= -1e300) continue;
        size_t first_end = i;
        next_cp(s, len, &first_end);
        bool single = false;
        uint64_t h = LECTOR__FNV_OFFSET;
        for (size_t j = i; j < len && j - i < v->len_token_max; j++) {
            h = lector__fnv_step(h, (uint8_t)s[j]);
            if (j + 1 < len && ((uint8_t)s[j + 1] & 0xC0) == 0x80) continue;
            int32_t id = lector__vocab_find_hashed(v, s + i, j + 1 - i, h);
            if (id < 0 || id == tok->uni.id_unk) continue;
            if (j + 1 == first_end) single = true;
            double sc = best[i] + (double)tok->uni.scores[id];
            if (sc > best[j + 1]) {
                best[j + 1] = sc;
                from[j + 1] = i;
                id_at[j + 1] = id;
            }
        }
        if (!single) {
            double sc = best[i] + (double)tok->uni.score_unk;
            if (sc > best[first_end]) {
                best[first_end] = sc;
                from[first_end] = i;
                id_at[first_end] = tok->uni.id_unk;
            }
        }
    }
    // Walk back, then emit in order (fusing <unk> runs).
    size_t n_pieces = 0;
    for (size_t i = len; i > 0; i = from[i]) n_pieces++;
    int32_t *ids = lector__malloc(n_pieces * sizeof *ids);
    if (!ids) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "Unigram: out of memory");
        goto done;
    }
    size_t k = n_pieces;
    for (size_t i = len; i > 0; i = from[i]) ids[--k] = id_at[i];
    for (size_t j = 0; j < n_pieces && st == LECTOR_STATUS_OK; j++) {
        if (ids[j] < 0) continue;
        if (ids[j] == tok->uni.id_unk && j > 0 && ids[j - 1] == tok->uni.id_unk) continue;
        st = lector__sink_push(out, ids[j], err);
    }
    lector_free(ids);
done:
    lector_free(id_at);
    lector_free(from);
    lector_free(best);
    return st;
}

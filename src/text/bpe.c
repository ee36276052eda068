// Byte-pair encoding: the merge table, merges.txt, GPT-2's pre-tokenisation pattern (matched
// by hand over Unicode categories) and the merge loop of one word.
#include "text/text_impl.h"

#include <string.h>

#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------
// the byte-level alphabet

// GPT-2 gives every byte a printable stand-in so that a vocabulary of strings can cover
// arbitrary bytes: the printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
// stand for themselves, and the other 68 bytes, in increasing order, take U+0100 onwards.
uint32_t lector__byte_char(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) n++;
    return 0x100 + n;
}

// ---------------------------------------------------------------------------------------------
// merge table: (left id, right id) -> (rank, merged id)

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t pair_slot(uint64_t key, size_t mask) {
    // splitmix64's finaliser: the ids are small and dense, so spread them before masking.
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & mask;
}

enum lector_status lector__bpe_init(struct lector__bpe *b, int64_t n_merges_max,
                                    struct lector_error *err) {
    memset(b, 0, sizeof *b);
    size_t n_slots = 16;
    while (n_slots < (size_t)n_merges_max * 2) n_slots *= 2;
    b->slots = lector__malloc(n_slots * sizeof *b->slots);
    if (!b->slots)
        return lector__error(err, LECTOR_STATUS_NOMEM, "BPE: out of memory for %lld merges",
                             (long long)n_merges_max);
    for (size_t i = 0; i < n_slots; i++) b->slots[i].rank = -1;
    b->mask = n_slots - 1;
    b->n_merges_max = n_merges_max;
    b->id_unk = -1;
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    return LECTOR_STATUS_OK;
}

void lector__bpe_free(struct lector__bpe *b) {
    if (!b) return;
    lector_free(b->slots);
    memset(b, 0, sizeof *b);
}

static bool merge_find(const struct lector__bpe *b, int32_t left, int32_t right, int32_t *rank,
                       int32_t *id) {
    uint64_t key = pair_key(left, right);
    size_t i = pair_slot(key, b->mask);
    for (;;) {
        const struct lector__merge_slot *s = &b->slots[i];
        if (s->rank < 0) return false;
        if (s->key == key) {
            *rank = s->rank;
            *id = s->id;
            return true;
        }
        i = (i + 1) & b->mask;
    }
}

enum lector_status lector__bpe_add_merge(struct lector__bpe *b, const struct lector__vocab *v,
                                         const char *left, size_t n_left, const char *right,
                                         size_t n_right, const char *origin, int64_t line,
                                         struct lector_error *err) {
    if (b->n_merges >= b->n_merges_max)
        return lector__error(err, LECTOR_STATUS_INTERNAL, "%s: more merges than counted", origin);
    int32_t a = lector__vocab_find(v, left, n_left);
    int32_t c = lector__vocab_find(v, right, n_right);
    char buf[512];
    int32_t m = -1;
    if (a >= 0 && c >= 0 && n_left + n_right <= sizeof buf) {
        memcpy(buf, left, n_left);
        memcpy(buf + n_left, right, n_right);
        m = lector__vocab_find(v, buf, n_left + n_right);
    }
    if (a < 0 || c < 0 || m < 0)
        return lector__error_line(err, LECTOR_STATUS_FORMAT, origin, line, -1,
                                "%s:%lld: merge \"%.*s %.*s\": expected both parts and their "
                                "concatenation in the vocabulary, '%.*s' is not",
                                origin, (long long)line, (int)n_left, left, (int)n_right, right,
                                a < 0   ? (int)n_left
                                : c < 0 ? (int)n_right
                                        : (int)(n_left + n_right),
                                a < 0 ? left : c < 0 ? right : buf);
    uint64_t key = pair_key(a, c);
    size_t i = pair_slot(key, b->mask);
    for (;;) {
        struct lector__merge_slot *s = &b->slots[i];
        if (s->rank < 0) {
            s->key = key;
            s->rank = (int32_t)b->n_merges;
            s->id = m;
            break;
        }
        // A repeated merge keeps its first (best) rank, as a rank lookup by pair does.
        if (s->key == key) break;
        i = (i + 1) & b->mask;
    }
    b->n_merges++;
    return LECTOR_STATUS_OK;
}

enum lector_status lector__bpe_parse_merges_txt(struct lector__bpe *b,
                                                const struct lector__vocab *v, const char *data,
                                                size_t n, const char *path,
                                                struct lector_error *err) {
    int64_t n_lines = 0;
    for (size_t i = 0; i < n; i++)
        if (data[i] == '\n') n_lines++;
    enum lector_status st = lector__bpe_init(b, n_lines + 1, err);
    if (st != LECTOR_STATUS_OK) return st;
    size_t pos = 0, len;
    const char *s;
    for (int64_t line = 1; lector__next_line(data, n, &pos, &s, &len); line++) {
        // The header line "#version: 0.2" and empty lines carry no merge.
        if (len == 0 || (line == 1 && len >= 8 && memcmp(s, "#version", 8) == 0)) continue;
        const char *sp = memchr(s, ' ', len);
        if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
            lector__bpe_free(b);
            return lector__error_line(err, LECTOR_STATUS_FORMAT, path, line, -1,
                                    "%s:%lld: expected \"left right\" (two tokens and one space), "
                                    "found \"%.*s\"",
                                    path, (long long)line, (int)(len > 80 ? 80 : len), s);
        }
        st = lector__bpe_add_merge(b, v, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp + 1 - s),
                                   path, line, err);
        if (st != LECTOR_STATUS_OK) {
            lector__bpe_free(b);
            return st;
        }
    }
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// GPT-2 pre-tokenisation

// The pattern (tokenizers' ByteLevel with use_regex, GPT-2's encoder):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched alternative by alternative at each position, as a backtracking engine does.
enum { CL_L = 0, CL_N = 1, CL_S = 2, CL_O = 3 };

static const uint8_t ascii_cl[128] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3,  // \t \n \v \f \r are \s
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  // space
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3,  // digits
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
};

// \s is Unicode's White_Space property.
bool lector__is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Class and byte length of the character at s[i] (valid UTF-8 is a precondition).
static int char_cl(const uint8_t *s, size_t n, size_t i, size_t *len) {
    if (s[i] < 0x80) {
        *len = 1;
        return ascii_cl[s[i]];
    }
    uint32_t cp = 0xFFFD;
    const char *why = NULL;
    int k = lector__utf8_decode(s, n, i, &cp, &why);
    *len = k > 0 ? (size_t)k : 1;
    if (lector__is_white_space(cp)) return CL_S;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return CL_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return CL_N;
    default: return CL_O;
    }
}

// End of the run of characters from i on whose class is (or, for CL_O, is not) cl.
static size_t run_end(const uint8_t *s, size_t n, size_t i, int cl) {
    while (i < n) {
        size_t len;
        if (char_cl(s, n, i, &len) != cl) break;
        i += len;
    }
    return i;
}

size_t lector__gpt2_next(const uint8_t *s, size_t n, size_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        uint8_t c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 2;
        if (i + 2 < n) {
            uint8_t d = s[i + 2];
            if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l'))
                return i + 3;
        }
    }
    size_t len;
    int cl = char_cl(s, n, i, &len);
    size_t start = i;
    if (s[i] == ' ' && i + 1 < n) {
        size_t len1;
        int cl1 = char_cl(s, n, i + 1, &len1);
        if (cl1 != CL_S) {
            start = i + 1;
            cl = cl1;
        }
    }
    if (cl != CL_S) return run_end(s, n, start, cl);
    // Whitespace: all of it at the end of the text, else all but the last character, which
    // then starts the next piece (" ?\p{L}+" takes a space; anything else stands alone).
    size_t end = i, last = i;
    int n_chars = 0;
    while (end < n) {
        size_t l;
        if (char_cl(s, n, end, &l) != CL_S) break;
        last = end;
        end += l;
        n_chars++;
    }
    if (end == n || n_chars == 1) return end;
    return last;
}

// ---------------------------------------------------------------------------------------------
// merging one word

// A symbol of the word being merged: a vocabulary id in a doubly linked list.
struct sym {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
};

// Beyond this many symbols the quadratic scan gives way to a heap.
#define SCAN_SYMS_MAX 64

struct heap_item {
    int32_t rank;
    int32_t pos;
    int32_t left, right;  // the pair's ids when pushed, to recognise stale entries
};

static bool item_less(const struct heap_item *a, const struct heap_item *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct heap_item *h, size_t *n, struct heap_item it) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!item_less(&it, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

static struct heap_item heap_pop(struct heap_item *h, size_t *n) {
    struct heap_item top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && item_less(&h[c + 1], &h[c])) c++;
        if (!item_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

// Merge symbol j into its left neighbour i as id m.
static void merge_at(struct sym *w, int32_t i, int32_t m) {
    int32_t j = w[i].next;
    w[i].id = m;
    w[i].next = w[j].next;
    if (w[j].next >= 0) w[w[j].next].prev = i;
    w[j].id = -1;
}

// Apply merges lowest rank first, leftmost first among equal ranks, until none applies.
static enum lector_status merge_word(const struct lector__bpe *b, struct sym *w, int32_t n,
                                     struct lector_error *err) {
    if (n <= SCAN_SYMS_MAX) {
        int32_t rank_at[SCAN_SYMS_MAX], id_at[SCAN_SYMS_MAX];
        for (int32_t i = 0; i < n; i++) {
            rank_at[i] = INT32_MAX;
            if (i + 1 < n) merge_find(b, w[i].id, w[i + 1].id, &rank_at[i], &id_at[i]);
        }
        for (;;) {
            int32_t best = -1, best_rank = INT32_MAX;
            for (int32_t i = 0; i >= 0; i = w[i].next)
                if (rank_at[i] < best_rank) {
                    best_rank = rank_at[i];
                    best = i;
                }
            if (best < 0) break;
            merge_at(w, best, id_at[best]);
            int32_t nx = w[best].next, pv = w[best].prev;
            rank_at[best] = INT32_MAX;
            if (nx >= 0) merge_find(b, w[best].id, w[nx].id, &rank_at[best], &id_at[best]);
            if (pv >= 0) {
                rank_at[pv] = INT32_MAX;
                merge_find(b, w[pv].id, w[best].id, &rank_at[pv], &id_at[pv]);
            }
        }
        return LECTOR_STATUS_OK;
    }
    struct heap_item *h = lector__malloc((size_t)n * 3 * sizeof *h);
    if (!h) return lector__error(err, LECTOR_STATUS_NOMEM, "BPE: out of memory for a %d-symbol word", (int)n);
    size_t n_h = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        int32_t r, m;
        if (merge_find(b, w[i].id, w[i + 1].id, &r, &m))
            heap_push(h, &n_h, (struct heap_item){r, i, w[i].id, w[i + 1].id});
    }
    while (n_h > 0) {
        struct heap_item it = heap_pop(h, &n_h);
        int32_t i = it.pos;
        if (w[i].id != it.left || w[i].next < 0 || w[w[i].next].id != it.right) continue;
        int32_t r, m;
        merge_find(b, it.left, it.right, &r, &m);
        merge_at(w, i, m);
        // n - 1 initial pairs, and each of at most n - 1 merges pushes two: 3n entries suffice.
        if (w[i].prev >= 0 && merge_find(b, w[w[i].prev].id, w[i].id, &r, &m))
            heap_push(h, &n_h, (struct heap_item){r, w[i].prev, w[w[i].prev].id, w[i].id});
        if (w[i].next >= 0 && merge_find(b, w[i].id, w[w[i].next].id, &r, &m))
            heap_push(h, &n_h, (struct heap_item){r, i, w[i].id, w[w[i].next].id});
    }
    lector_free(h);
    return LECTOR_STATUS_OK;
}

enum lector_status lector__bpe_word(const struct lector__bpe *b, const struct lector__vocab *v,
                                    const uint8_t *s, size_t len, struct lector__sink *out,
                                    struct lector_error *err) {
    if (len == 0) return LECTOR_STATUS_OK;
    struct sym stack_syms[SCAN_SYMS_MAX];
    struct sym *w = stack_syms;
    if (len > SCAN_SYMS_MAX) {
        if (len > INT32_MAX / 2)
            return lector__error(err, LECTOR_STATUS_RANGE, "BPE: a %zu-byte word is too long", len);
        w = lector__malloc(len * sizeof *w);
        if (!w) return lector__error(err, LECTOR_STATUS_NOMEM, "BPE: out of memory for a %zu-byte word", len);
    }
    // Initial symbols: one per byte (byte-level) or one per character. A symbol missing from
    // the vocabulary is <unk> (consecutive ones fused when asked), or dropped without <unk>.
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        size_t k = 1;
        if (b->byte_level) {
            id = b->byte_id[s[i]];
        } else {
            uint32_t cp;
            const char *why = NULL;
            int kk = lector__utf8_decode(s, len, i, &cp, &why);
            k = kk > 0 ? (size_t)kk : 1;
            id = lector__vocab_find(v, (const char *)s + i, k);
        }
        i += k;
        if (id < 0) {
            if (b->id_unk < 0) continue;
            if (b->fuse_unk && n > 0 && w[n - 1].id == b->id_unk) continue;
            id = b->id_unk;
        }
        w[n] = (struct sym){.id = id, .prev = n - 1, .next = -1};
        if (n > 0) w[n - 1].next = n;
        n++;
    }
    enum lector_status st = n > 1 ? merge_word(b, w, n, err) : LECTOR_STATUS_OK;
    for (int32_t i = n > 0 ? 0 : -1; i >= 0 && st == LECTOR_STATUS_OK; i = w[i].next)
        st = lector__sink_push(out, w[i].id, err);
    if (w != stack_syms) lector_free(w);
    return st;
}

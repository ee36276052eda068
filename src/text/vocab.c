// The WordPiece vocabulary: token strings by id and an open-addressing string -> id table.
#include "text/text_impl.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// hash table

static uint32_t slot_hash(uint64_t h) { return (uint32_t)(h >> 32); }

// Insert or overwrite key -> id. A repeated token takes the later id, because Hugging Face
// builds its map by inserting every line in order (a later line replaces an earlier one);
// the earlier id keeps its string for lector_tokenizer_token.
static void table_put(struct lector__vocab *v, const char *key, uint32_t len, int32_t id) {
    uint64_t h = lector__fnv(LECTOR__FNV_OFFSET, key, len);
    size_t i = (size_t)h & v->mask;
    for (;;) {
        struct lector__vocab_slot *s = &v->slots[i];
        if (s->id < 0) {
            s->hash = slot_hash(h);
            s->len = len;
            s->id = id;
            return;
        }
        if (s->hash == slot_hash(h) && s->len == len &&
            memcmp(v->strings + v->offsets[s->id], key, len) == 0) {
            s->id = id;
            return;
        }
        i = (i + 1) & v->mask;
    }
}

int32_t lector__vocab_find_hashed(const struct lector__vocab *v, const char *key, size_t n,
                                  uint64_t h) {
    if (n > v->len_token_max) return -1;
    size_t i = (size_t)h & v->mask;
    uint32_t hh = slot_hash(h);
    for (;;) {
        const struct lector__vocab_slot *s = &v->slots[i];
        if (s->id < 0) return -1;
        if (s->hash == hh && s->len == n && memcmp(v->strings + v->offsets[s->id], key, n) == 0)
            return s->id;
        i = (i + 1) & v->mask;
    }
}

// Allocate the per-id arrays and an empty table for n_vocab tokens of n_bytes in total.
static enum lector_status vocab_alloc(struct lector__vocab *v, int64_t n_vocab, size_t n_bytes,
                                      const char *origin, struct lector_error *err) {
    memset(v, 0, sizeof *v);
    size_t n_slots = 16;
    while (n_slots < (size_t)n_vocab * 2) n_slots *= 2;
    size_t n_str;
    // Offsets are 32-bit: a vocabulary is a few MB, so anything near 4 GiB is not one.
    if (!lector__add_size(n_bytes, (size_t)n_vocab + 1, &n_str) || n_str > UINT32_MAX ||
        n_vocab > INT32_MAX)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "%s: vocabulary too large (%lld tokens, %zu bytes), expected < 4 GiB",
                             origin, (long long)n_vocab, n_bytes);
    v->strings = lector__malloc(n_str);
    v->offsets = lector__calloc((size_t)n_vocab + 1, sizeof *v->offsets);
    v->lens = lector__calloc((size_t)n_vocab + 1, sizeof *v->lens);
    v->slots = lector__malloc(n_slots * sizeof *v->slots);
    if (!v->strings || !v->offsets || !v->lens || !v->slots) {
        lector__vocab_free(v);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory for %lld tokens",
                             origin, (long long)n_vocab);
    }
    for (size_t i = 0; i < n_slots; i++) v->slots[i].id = -1;
    v->mask = n_slots - 1;
    v->n_vocab = n_vocab;
    return LECTOR_STATUS_OK;
}

// Append token id's string (ids are appended in id order by both builders).
static void vocab_set(struct lector__vocab *v, int64_t id, const char *s, size_t len) {
    v->offsets[id] = (uint32_t)v->n_strings;
    v->lens[id] = (uint32_t)len;
    memcpy(v->strings + v->n_strings, s, len);
    v->strings[v->n_strings + len] = '\0';
    v->n_strings += len + 1;
    if (len > v->len_token_max) v->len_token_max = len;
}

// ---------------------------------------------------------------------------------------------
// vocab.txt

enum lector_status lector__vocab_parse_txt(struct lector__vocab *v, const char *data, size_t n,
                                           const char *path, struct lector_error *err) {
    int64_t n_lines = 0;
    for (size_t i = 0; i < n; i++)
        if (data[i] == '\n') n_lines++;
    if (n > 0 && data[n - 1] != '\n') n_lines++;

    enum lector_status st = vocab_alloc(v, n_lines, n, path, err);
    if (st != LECTOR_STATUS_OK) return st;

    size_t pos = 0, len;
    const char *s;
    for (int64_t id = 0; lector__next_line(data, n, &pos, &s, &len); id++) {
        // Hugging Face reads vocab.txt as UTF-8 text and fails on anything else; a token
        // that is not UTF-8 could never match normalised text anyway.
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            const char *why = NULL;
            int k = lector__utf8_decode((const uint8_t *)s, len, i, &cp, &why);
            if (k == 0) {
                lector__vocab_free(v);
                return lector__error_line(err, LECTOR_STATUS_FORMAT, path, id + 1, (int64_t)i + 1,
                                        "%s:%lld: expected UTF-8 text, found invalid byte 0x%02X "
                                        "at byte %zu of the line (%s)",
                                        path, (long long)(id + 1), (unsigned)(uint8_t)s[i],
                                        i, why);
            }
            i += (size_t)k;
        }
        vocab_set(v, id, s, len);
        table_put(v, s, (uint32_t)len, (int32_t)id);
    }
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// (token, id) pairs, as tokenizer.json lists them

enum lector_status lector__vocab_from_pairs(struct lector__vocab *v, const char *const *tokens,
                                            const int64_t *ids, int64_t n, const char *origin,
                                            struct lector_error *err) {
    // order[id] = index of the pair with that id; every id must occur exactly once.
    int64_t *order = lector__malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!order) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", origin);
    for (int64_t i = 0; i < n; i++) order[i] = -1;
    size_t n_bytes = 0;
    enum lector_status st = LECTOR_STATUS_OK;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: token '%s' has id %lld, expected an id in [0, %lld)", origin,
                               tokens[i], (long long)ids[i], (long long)n);
            goto fail;
        }
        if (order[ids[i]] >= 0) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: id %lld is used by both '%s' and '%s', expected unique ids",
                               origin, (long long)ids[i], tokens[order[ids[i]]], tokens[i]);
            goto fail;
        }
        order[ids[i]] = i;
        n_bytes += strlen(tokens[i]);
    }
    st = vocab_alloc(v, n, n_bytes, origin, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    for (int64_t id = 0; id < n; id++) {
        const char *t = tokens[order[id]];
        size_t len = strlen(t);
        vocab_set(v, id, t, len);
        table_put(v, t, (uint32_t)len, (int32_t)id);
    }
    lector_free(order);
    return LECTOR_STATUS_OK;
fail:
    lector_free(order);
    return st;
}

void lector__vocab_free(struct lector__vocab *v) {
    if (!v) return;
    lector_free(v->strings);
    lector_free(v->offsets);
    lector_free(v->lens);
    lector_free(v->slots);
    memset(v, 0, sizeof *v);
}

void lector__vocab_prefer(struct lector__vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_vocab) return;
    table_put(v, v->strings + v->offsets[id], v->lens[id], id);
}

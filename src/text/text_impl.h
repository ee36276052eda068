/*
 * Internal interface of the WordPiece tokenizer (src/text/): the vocabulary hash table,
 * UTF-8 decoding and the BERT normaliser's character classes. Not part of the public API.
 *
 * vocab.txt format (what lector__vocab_parse_txt accepts): UTF-8 text, one token per line,
 * the id of a token is its 0-based line index. Lines end in "\n"; a "\r" before it is
 * dropped, so CRLF files read the same. A missing final newline is fine. An empty line is
 * an (unmatchable) empty token that still takes an id, so later ids do not shift.
 */
#ifndef LECTOR_TEXT_IMPL_H
#define LECTOR_TEXT_IMPL_H

#include "lector/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_impl.h"

// ---------------------------------------------------------------------------------------------
// vocabulary (vocab.c)

/* One open-addressing slot: hash bits for a cheap reject, then the id (-1 = empty). */
struct lector__vocab_slot {
    uint32_t hash;
    uint32_t len;
    int32_t id;
};

/*
 * Token strings by id plus a string -> id table. All strings live in one buffer; token i is
 * strings + offsets[i], lens[i] bytes long and NUL-terminated. Immutable once built.
 */
struct lector__vocab {
    char *strings;
    size_t n_strings;                  // bytes used in strings
    uint32_t *offsets;                 // (V)
    uint32_t *lens;                    // (V)
    int64_t n_vocab;                   // V
    struct lector__vocab_slot *slots;  // (mask + 1)
    size_t mask;
    size_t len_token_max;              // longest token in bytes: bounds the WordPiece search
};

/* FNV-1a over bytes. The state is prefix-incremental, which WordPiece uses to hash every
 * candidate piece of a word in one left-to-right pass. */
#define LECTOR__FNV_OFFSET 0xcbf29ce484222325ULL
#define LECTOR__FNV_PRIME 0x100000001b3ULL
static inline uint64_t lector__fnv_step(uint64_t h, uint8_t byte) {
    return (h ^ byte) * LECTOR__FNV_PRIME;
}
static inline uint64_t lector__fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = lector__fnv_step(h, (uint8_t)s[i]);
    return h;
}

/* Parse vocab.txt contents (data[0..n)); path is only used in messages. */
enum lector_status lector__vocab_parse_txt(struct lector__vocab *v, const char *data, size_t n,
                                           const char *path, struct lector_error *err);
/* Build from (token, id) pairs whose ids are exactly 0..n-1 in some order (tokenizer.json).
 * tokens[i] has id ids[i]; origin names the source in messages. */
enum lector_status lector__vocab_from_pairs(struct lector__vocab *v, const char *const *tokens,
                                            const int64_t *ids, int64_t n, const char *origin,
                                            struct lector_error *err);
void lector__vocab_free(struct lector__vocab *v);
/* The id of key[0..n) given its FNV-1a hash h, or -1. */
int32_t lector__vocab_find_hashed(const struct lector__vocab *v, const char *key, size_t n,
                                  uint64_t h);
static inline int32_t lector__vocab_find(const struct lector__vocab *v, const char *key,
                                         size_t n) {
    return lector__vocab_find_hashed(v, key, n, lector__fnv(LECTOR__FNV_OFFSET, key, n));
}

// ---------------------------------------------------------------------------------------------
// UTF-8 and character classes (normalize.c)

/*
 * Decode one code point at s[i] (i < n). Returns the byte length (1-4) and sets *cp, or 0
 * for an invalid sequence (overlong, stray continuation byte, truncated, surrogate, above
 * U+10FFFF), with *why set to a static description.
 */
int lector__utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp, const char **why);
/* Encode cp into out (4 bytes room); returns the length. */
int lector__utf8_encode(uint32_t cp, char *out);

/* What the BERT pipeline does with a normalised character. */
enum lector__char_class {
    LECTOR__CHAR_WORD = 0,   // part of a word
    LECTOR__CHAR_SPACE = 1,  // ends a word
    LECTOR__CHAR_PUNCT = 2,  // a word of its own (punctuation, or a CJK ideograph when isolated)
    LECTOR__CHAR_DROP = 3,   // removed by clean_text
    LECTOR__CHAR_UTF8 = 4,   // (byte table only) lead or continuation byte of a multi-byte char
    LECTOR__CHAR_SPECIAL = 8 // (byte table only, or-ed in) a special token may start here
};

/* The BERT CJK ideograph ranges (the CJK Unified Ideographs blocks and extensions A-E plus
 * the compatibility ideographs), nothing else: kana and hangul are not isolated. */
bool lector__is_cjk(uint32_t cp);

/* Flags of the BERT normaliser. */
struct lector__norm {
    bool lowercase;
    bool strip_accents;
    bool isolate_cjk;
};

/*
 * Normalise one input code point (non-ASCII) the way BertNormalizer does: clean_text, CJK
 * isolation, NFD with category Mn dropped (strip_accents), full lowercase mapping. Writes
 * up to 32 output code points to out with their classes and canonical combining classes
 * (ccc, only meaningful when strip_accents: NFD's canonical ordering is applied by the
 * caller), and returns how many. 0 means the character vanished.
 */
int lector__normalize_char(const struct lector__norm *nm, uint32_t cp, uint32_t out[32],
                           uint8_t cls[32], uint8_t ccc[32]);

/* Classes of the 128 ASCII bytes (clean_text, whitespace, BERT punctuation). */
extern const uint8_t lector__ascii_class[128];

// ---------------------------------------------------------------------------------------------
// the tokenizer (tokenizer.c) and its WordPiece core (wordpiece.c)

/* Longest word WordPiece will split; longer words (in code points) become [UNK]. Hugging
 * Face's default is 100; tokenizer.json may ask for another value up to this bound. */
#define LECTOR__WORD_CHARS_LIMIT 512

/* At most this many special tokens are matched in raw text. */
#define LECTOR__SPECIALS_MAX 16

/* A special ("added") token matched verbatim in the raw text before normalisation, as
 * Hugging Face does with added tokens that are not normalized: "[CLS]" in the input is
 * the [CLS] id, never "[", "cls", "]". */
struct lector__special {
    const char *text;  // a string of the vocabulary (or of the tokenizer's own storage)
    size_t len;
    int32_t id;
};

struct lector_tokenizer {
    struct lector__vocab vocab;
    struct lector__norm norm;
    int32_t n_word_chars_max;  // words longer than this (code points) become [UNK]
    int32_t id_cls, id_sep, id_pad, id_unk, id_mask;  // -1 when absent ([PAD], [MASK])
    int32_t id_ascii[128];  // id of the one-character word of each ASCII byte, or [UNK]
    uint8_t byte_class[256];  // lector__ascii_class, UTF8 for bytes >= 0x80, | SPECIAL
    struct lector__special specials[LECTOR__SPECIALS_MAX];  // longest first
    int n_specials;
    char *specials_mem;  // owns the special strings that do not come from the vocabulary
    uint64_t hash_cont;     // FNV-1a state after the continuation prefix "##"
    char hash_hex[65];
};

/* Where WordPiece ids go: a caller's fixed buffer (cap, full set when a piece did not fit)
 * or a growable lector__malloc'd one. */
struct lector__sink {
    int32_t *ids;
    int64_t n, cap;
    bool grow;
    bool full;
};

/* Normalise, pre-tokenise and WordPiece text[0..len) into sink. Once a fixed sink is full
 * the rest is only checked for valid UTF-8. */
enum lector_status lector__wordpiece_run(const struct lector_tokenizer *tok, const char *text,
                                         size_t len, struct lector__sink *sink,
                                         struct lector_error *err);

#endif /* LECTOR_TEXT_IMPL_H */

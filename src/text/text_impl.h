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
/* Make token id's string map to id even when a later id has the same string (XLM-R's
 * fairseq specials win over the model's pieces of the same name). */
void lector__vocab_prefer(struct lector__vocab *v, int32_t id);
/* The id of key[0..n) given its FNV-1a hash h, or -1. */
int32_t lector__vocab_find_hashed(const struct lector__vocab *v, const char *key, size_t n,
                                  uint64_t h);
static inline int32_t lector__vocab_find(const struct lector__vocab *v, const char *key,
                                         size_t n) {
    return lector__vocab_find_hashed(v, key, n, lector__fnv(LECTOR__FNV_OFFSET, key, n));
}

// ---------------------------------------------------------------------------------------------
// character classes (normalize.c)

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

/* Where ids go: a caller's fixed buffer (cap, full set when a piece did not fit) or a
 * growable lector__malloc'd one. */
struct lector__sink {
    int32_t *ids;
    int64_t n, cap;
    bool grow;
    bool full;
};
enum lector_status lector__sink_push(struct lector__sink *s, int32_t id, struct lector_error *err);

/* At most this many special tokens are matched in raw text. */
#define LECTOR__SPECIALS_MAX 64

/* A special ("added") token matched verbatim in the raw text before normalisation, as
 * Hugging Face does with added tokens that are not normalized: "[CLS]" in the input is
 * the [CLS] id, never "[", "cls", "]". */
struct lector__special {
    const char *text;  // a string of the vocabulary (or of the tokenizer's own storage)
    size_t len;
    int32_t id;
    bool lstrip, rstrip;  // also swallow the whitespace before / after it (RoBERTa's <mask>)
};

/* Which model turns pre-tokenised text into ids. */
enum lector__kind {
    LECTOR__KIND_WORDPIECE = 0,  // the one-pass BERT pipeline of wordpiece.c
    LECTOR__KIND_BPE = 1,        // bpe.c, with the pipeline of pipeline.c
    LECTOR__KIND_SPM = 2,        // a SentencePiece model through lector/spm.h
    LECTOR__KIND_UNIGRAM = 3     // tokenizer.json Unigram (unigram.c)
};

// ---------------------------------------------------------------------------------------------
// BPE (bpe.c)

struct lector__merge_slot {
    uint64_t key;  // left id << 32 | right id
    int32_t rank;  // -1 = empty slot
    int32_t id;    // the merged token
};

struct lector__bpe {
    struct lector__merge_slot *slots;  // (mask + 1), open addressing
    size_t mask;
    int64_t n_merges, n_merges_max;
    int32_t byte_id[256];  // byte-level: the id of each byte's stand-in character, or -1
    int32_t id_unk;        // -1: symbols missing from the vocabulary are dropped
    bool byte_level;       // initial symbols are bytes (GPT-2) rather than characters
    bool fuse_unk;
};

/* GPT-2's printable stand-in code point for a byte. */
uint32_t lector__byte_char(uint8_t b);
/* Unicode White_Space (what \s means in the GPT-2 pattern). */
bool lector__is_white_space(uint32_t cp);
enum lector_status lector__bpe_init(struct lector__bpe *b, int64_t n_merges_max,
                                    struct lector_error *err);
void lector__bpe_free(struct lector__bpe *b);
/* Add the next merge (rank = merges so far); the parts and their concatenation must be
 * tokens of v. line is the 1-based line or list index for messages. */
enum lector_status lector__bpe_add_merge(struct lector__bpe *b, const struct lector__vocab *v,
                                         const char *left, size_t n_left, const char *right,
                                         size_t n_right, const char *origin, int64_t line,
                                         struct lector_error *err);
/* merges.txt: an optional "#version" first line, then "left right" per line, best first. */
enum lector_status lector__bpe_parse_merges_txt(struct lector__bpe *b,
                                                const struct lector__vocab *v, const char *data,
                                                size_t n, const char *path,
                                                struct lector_error *err);
/* The end of the GPT-2 pre-token that starts at s[i] (i < n, s valid UTF-8). */
size_t lector__gpt2_next(const uint8_t *s, size_t n, size_t i);
/* BPE one pre-token s[0..len) into out (bytes are raw: the byte-level mapping is b's). */
enum lector_status lector__bpe_word(const struct lector__bpe *b, const struct lector__vocab *v,
                                    const uint8_t *s, size_t len, struct lector__sink *out,
                                    struct lector_error *err);

// ---------------------------------------------------------------------------------------------
// tokenizer.json pipelines (pipeline.c): string normalisers and pre-tokenisers

enum lector__norm_type {
    LECTOR__NORM_LOWERCASE,
    LECTOR__NORM_NFC,
    LECTOR__NORM_NFD,
    LECTOR__NORM_NFKC,
    LECTOR__NORM_NFKD,
    LECTOR__NORM_STRIP,          // left / right
    LECTOR__NORM_STRIP_ACCENTS,  // drop category Mn (after an NFD/NFKD step)
    LECTOR__NORM_REPLACE,        // every occurrence of the string from -> to
    LECTOR__NORM_PREPEND         // to in front of non-empty text
};

struct lector__norm_op {
    enum lector__norm_type type;
    bool left, right;
    const char *from, *to;  // in the pipeline's mem
    size_t n_from, n_to;
};

enum lector__pre_type {
    LECTOR__PRE_BYTE_LEVEL,        // add_prefix_space, then the GPT-2 pattern when use_regex
    LECTOR__PRE_METASPACE,         // ' ' -> replacement, prepend it, split before each one
    LECTOR__PRE_WHITESPACE_SPLIT,  // split on whitespace, which is dropped
    LECTOR__PRE_WHITESPACE         // \w+|[^\w\s]+
};

enum lector__prepend { LECTOR__PREPEND_ALWAYS, LECTOR__PREPEND_FIRST, LECTOR__PREPEND_NEVER };

struct lector__pre_op {
    enum lector__pre_type type;
    bool add_prefix_space, use_regex, split;
    enum lector__prepend prepend;
    char repl[8];  // Metaspace replacement, UTF-8
    size_t n_repl;
};

#define LECTOR__OPS_MAX 16

struct lector__pipeline {
    struct lector__norm_op norm[LECTOR__OPS_MAX];
    int n_norm;
    struct lector__pre_op pre[LECTOR__OPS_MAX];
    int n_pre;
    char *mem;  // owns the Replace / Prepend strings
};

// ---------------------------------------------------------------------------------------------
// Unigram (unigram.c)

struct lector__unigram {
    float *scores;  // (V)
    float score_unk;
    int32_t id_unk;
};

// ---------------------------------------------------------------------------------------------
// SentencePiece text preparation (spm_prep.c)

/* What Hugging Face's slow AlbertTokenizer / XLNetTokenizer do to the text before the
 * SentencePiece model sees it (tokenizer_config.json: remove_space, keep_accents,
 * do_lower_case). */
struct lector__spm_prep {
    bool on;            // false: the raw text goes to the model
    bool remove_space;  // strip, and collapse whitespace runs (Python str.split) to one ' '
    bool keep_accents;  // false: NFKD, then drop characters of combining class != 0
    bool lowercase;     // Python str.lower()
};

/* Apply p (which must be on) to valid UTF-8 text[0..len): ``/'' become '"' as well. *out
 * (lector_free, never NULL on success) receives *n_out bytes. */
enum lector_status lector__spm_prep_run(const struct lector__spm_prep *p, const char *text,
                                        size_t len, char **out, size_t *n_out,
                                        struct lector_error *err);

// ---------------------------------------------------------------------------------------------
// the tokenizer

struct lector_spm;

struct lector_tokenizer {
    enum lector__kind kind;
    struct lector__vocab vocab;
    struct lector__norm norm;
    int32_t n_word_chars_max;  // words longer than this (code points) become [UNK]
    int32_t id_cls, id_sep, id_pad, id_unk, id_mask;  // -1 when absent
    int32_t id_ascii[128];  // id of the one-character word of each ASCII byte, or [UNK]
    uint8_t byte_class[256];  // lector__ascii_class, UTF8 for bytes >= 0x80, | SPECIAL
    struct lector__special specials[LECTOR__SPECIALS_MAX];  // longest first
    int n_specials;
    char *specials_mem;  // owns the special strings that do not come from the vocabulary
    uint64_t hash_cont;     // FNV-1a state after the continuation prefix "##"
    char hash_hex[65];
    // What encode puts around the pieces: [CLS] x [SEP], <s> x </s>, x <sep> <cls> ...
    int32_t prefix[4], suffix[4];
    int n_prefix, n_suffix;
    int utf8_mode;        // enum lector_utf8_mode
    bool split_specials;  // special-token text in the input is ordinary text
    // Non-WordPiece models.
    struct lector__pipeline pipe;
    struct lector__bpe bpe;
    struct lector__unigram uni;
    struct lector_spm *spm;
    int32_t spm_offset;   // fairseq ids: XLM-R 1, CamemBERT 4; else 0
    int32_t spm_unk;      // the model's own <unk> id (mapped to id_unk)
    struct lector__spm_prep spm_prep;
    // Which file(s) the tokenizer came from ("spiece.model"), and why tokenizer.json was
    // passed over when it was ("" otherwise).
    char source[128];
    char source_note[640];
};


/* Pre-tokenise and encode one segment (no special tokens in it) with a non-WordPiece
 * model; first tells whether it starts the text (Metaspace prepend_scheme "first"). */
enum lector_status lector__pipeline_run(const struct lector_tokenizer *tok, const char *text,
                                        size_t len, bool first, struct lector__sink *sink,
                                        struct lector_error *err);
void lector__pipeline_free(struct lector__pipeline *p);
/* Viterbi segmentation of one pre-token with a Unigram model. */
enum lector_status lector__unigram_word(const struct lector_tokenizer *tok, const char *s,
                                        size_t len, struct lector__sink *out,
                                        struct lector_error *err);

/* Normalise, pre-tokenise and WordPiece text[0..len) into sink. Once a fixed sink is full
 * the rest is only checked for valid UTF-8. */
enum lector_status lector__wordpiece_run(const struct lector_tokenizer *tok, const char *text,
                                         size_t len, struct lector__sink *sink,
                                         struct lector_error *err);

#endif /* LECTOR_TEXT_IMPL_H */

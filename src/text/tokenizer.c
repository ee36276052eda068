// The tokenizer object: building it (specials, family ids, the settings hash), encode with
// the family's special tokens, truncation and the UTF-8 policy, and its accessors.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

// ---------------------------------------------------------------------------------------------
// building the tokenizer

// Record which file(s) a tokenizer came from (their base names).
const char *lector__tok_base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void lector__tok_set_source(struct lector_tokenizer *tok, const char *path, const char *path2) {
    if (path2) snprintf(tok->source, sizeof tok->source, "%s + %s", lector__tok_base_name(path), lector__tok_base_name(path2));
    else snprintf(tok->source, sizeof tok->source, "%s", lector__tok_base_name(path));
}

// Add a special token (text must outlive tok), keeping the list longest first so that the
// first match is the longest; an empty or repeated string is ignored.
void lector__tok_add_special_strip(struct lector_tokenizer *tok, const char *text, size_t len,
                                   int32_t id, bool lstrip, bool rstrip) {
    if (len == 0 || tok->n_specials == LECTOR__SPECIALS_MAX) return;
    for (int k = 0; k < tok->n_specials; k++)
        if (tok->specials[k].len == len && memcmp(tok->specials[k].text, text, len) == 0) return;
    int k = tok->n_specials++;
    while (k > 0 && tok->specials[k - 1].len < len) {
        tok->specials[k] = tok->specials[k - 1];
        k--;
    }
    tok->specials[k] =
        (struct lector__special){.text = text, .len = len, .id = id, .lstrip = lstrip, .rstrip = rstrip};
}

static void add_special(struct lector_tokenizer *tok, const char *text, size_t len, int32_t id) {
    lector__tok_add_special_strip(tok, text, len, id, false, false);
}

enum lector_status lector__tok_finish(struct lector_tokenizer *tok, const struct settings *s,
                                      const char *origin, struct lector_error *err) {
    tok->kind = LECTOR__KIND_WORDPIECE;
    tok->norm.lowercase = s->lowercase;
    tok->norm.strip_accents = s->strip_accents < 0 ? s->lowercase : s->strip_accents != 0;
    tok->norm.isolate_cjk = s->isolate_cjk;
    tok->n_word_chars_max = s->n_word_chars_max;
    tok->hash_cont = lector__fnv(LECTOR__FNV_OFFSET, "##", 2);

    const char *names[3] = {s->unk, s->cls, s->sep};
    int32_t *ids[3] = {&tok->id_unk, &tok->id_cls, &tok->id_sep};
    for (int k = 0; k < 3; k++) {
        *ids[k] = lector__vocab_find(&tok->vocab, names[k], strlen(names[k]));
        if (*ids[k] < 0)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: expected the special token %s in the vocabulary, not found "
                                 "among %lld tokens",
                                 origin, names[k], (long long)tok->vocab.n_vocab);
    }
    tok->id_pad = lector__vocab_find(&tok->vocab, s->pad, strlen(s->pad));
    tok->id_mask = lector__vocab_find(&tok->vocab, s->mask, strlen(s->mask));
    if (tok->n_prefix == 0 && tok->n_suffix == 0) {
        tok->prefix[tok->n_prefix++] = tok->id_cls;
        tok->suffix[tok->n_suffix++] = tok->id_sep;
    }
    for (int b = 0; b < 128; b++) {
        char c = (char)b;
        int32_t id = lector__vocab_find(&tok->vocab, &c, 1);
        tok->id_ascii[b] = id >= 0 ? id : tok->id_unk;
    }

    // Special tokens matched in raw text: the ones tokenizer.json listed, else the five
    // BERT specials that the vocabulary has (what transformers registers as added tokens).
    if (tok->n_specials == 0) {
        const char *all[5] = {s->unk, s->cls, s->sep, s->pad, s->mask};
        for (int k = 0; k < 5; k++) {
            int32_t id = lector__vocab_find(&tok->vocab, all[k], strlen(all[k]));
            if (id >= 0) add_special(tok, tok->vocab.strings + tok->vocab.offsets[id],
                                     tok->vocab.lens[id], id);
        }
    }
    for (int k = 0; k < tok->n_specials; k++)
        if (tok->specials[k].id >= tok->vocab.n_vocab)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: added token \"%s\" has id %d, expected an id below the "
                                 "vocabulary size %lld",
                                 origin, tok->specials[k].text, (int)tok->specials[k].id,
                                 (long long)tok->vocab.n_vocab);
    for (int b = 0; b < 256; b++)
        tok->byte_class[b] = b < 128 ? lector__ascii_class[b] : LECTOR__CHAR_UTF8;
    for (int k = 0; k < tok->n_specials; k++)
        tok->byte_class[(uint8_t)tok->specials[k].text[0]] |= LECTOR__CHAR_SPECIAL;

    // The hash identifies what encode does: format version, settings, special names and
    // every token in id order (NUL-separated, so no two vocabularies collide by splitting).
    struct lector__sha256 sh;
    lector__sha256_init(&sh);
    char head[512];
    int n_head = snprintf(head, sizeof head,
                          "lector-wordpiece-1\nlowercase=%d strip_accents=%d cjk=%d "
                          "word_chars_max=%d prefix=##\nunk=%s cls=%s sep=%s\nn_vocab=%lld\n",
                          tok->norm.lowercase, tok->norm.strip_accents, tok->norm.isolate_cjk,
                          tok->n_word_chars_max, s->unk, s->cls, s->sep,
                          (long long)tok->vocab.n_vocab);
    lector__sha256_update(&sh, head, (size_t)n_head);
    for (int k = 0; k < tok->n_specials; k++) {
        n_head = snprintf(head, sizeof head, "special %d ", (int)tok->specials[k].id);
        lector__sha256_update(&sh, head, (size_t)n_head);
        lector__sha256_update(&sh, tok->specials[k].text, tok->specials[k].len + 1);
    }
    lector__sha256_update(&sh, "\n", 1);
    for (int64_t i = 0; i < tok->vocab.n_vocab; i++)
        lector__sha256_update(&sh, tok->vocab.strings + tok->vocab.offsets[i],
                              (size_t)tok->vocab.lens[i] + 1);
    uint8_t digest[32];
    lector__sha256_final(&sh, digest);
    lector__sha256_hex(digest, tok->hash_hex);
    return LECTOR_STATUS_OK;
}

// The ids of the model's specials, by name, when the post-processor did not give them.
void lector__tok_find_family_ids(struct lector_tokenizer *tok) {
    static const char *const cls_names[] = {"[CLS]", "<s>", "<cls>"};
    static const char *const sep_names[] = {"[SEP]", "</s>", "<sep>"};
    static const char *const pad_names[] = {"[PAD]", "<pad>"};
    static const char *const unk_names[] = {"[UNK]", "<unk>"};
    static const char *const mask_names[] = {"[MASK]", "<mask>"};
    const struct lector__vocab *v = &tok->vocab;
    if (tok->id_cls < 0) {
        if (tok->n_prefix > 0) tok->id_cls = tok->prefix[0];
        for (int k = 0; k < 3 && tok->id_cls < 0; k++)
            tok->id_cls = lector__vocab_find(v, cls_names[k], strlen(cls_names[k]));
    }
    if (tok->id_sep < 0) {
        if (tok->n_suffix > 0) tok->id_sep = tok->suffix[tok->n_suffix - 1];
        for (int k = 0; k < 3 && tok->id_sep < 0; k++)
            tok->id_sep = lector__vocab_find(v, sep_names[k], strlen(sep_names[k]));
    }
    for (int k = 0; k < 2 && tok->id_pad < 0; k++)
        tok->id_pad = lector__vocab_find(v, pad_names[k], strlen(pad_names[k]));
    for (int k = 0; k < 2 && tok->id_unk < 0; k++)
        tok->id_unk = lector__vocab_find(v, unk_names[k], strlen(unk_names[k]));
    for (int k = 0; k < 2 && tok->id_mask < 0; k++)
        tok->id_mask = lector__vocab_find(v, mask_names[k], strlen(mask_names[k]));
}

// The settings hash of a non-WordPiece tokenizer: a tag, the source file(s) and the specials.
void lector__tok_hash_files(struct lector_tokenizer *tok, const char *tag, const char *const *data,
                            const size_t *n, int n_files) {
    struct lector__sha256 sh;
    lector__sha256_init(&sh);
    char head[256];
    int n_head = snprintf(head, sizeof head, "lector-%s-1\nprefix=%d suffix=%d split_specials=%d\n",
                          tag, tok->n_prefix, tok->n_suffix, 0);
    lector__sha256_update(&sh, head, (size_t)n_head);
    for (int k = 0; k < tok->n_prefix; k++) {
        n_head = snprintf(head, sizeof head, "prefix %d\n", (int)tok->prefix[k]);
        lector__sha256_update(&sh, head, (size_t)n_head);
    }
    for (int k = 0; k < tok->n_suffix; k++) {
        n_head = snprintf(head, sizeof head, "suffix %d\n", (int)tok->suffix[k]);
        lector__sha256_update(&sh, head, (size_t)n_head);
    }
    for (int f = 0; f < n_files; f++) {
        n_head = snprintf(head, sizeof head, "file %zu\n", n[f]);
        lector__sha256_update(&sh, head, (size_t)n_head);
        lector__sha256_update(&sh, data[f], n[f]);
    }
    uint8_t digest[32];
    lector__sha256_final(&sh, digest);
    lector__sha256_hex(digest, tok->hash_hex);
}

enum lector_status lector__tok_new(const char *path, struct lector_tokenizer **out,
                                   struct lector_error *err) {
    struct lector_tokenizer *tok = *out = lector__calloc(1, sizeof *tok);
    if (!tok) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    tok->id_cls = tok->id_sep = tok->id_pad = tok->id_unk = tok->id_mask = -1;
    tok->bpe.id_unk = -1;
    tok->uni.id_unk = -1;
    return LECTOR_STATUS_OK;
}

// ---------------------------------------------------------------------------------------------
// encoding

// The byte length of the maximal invalid subsequence at s[i] (Unicode's "maximal subpart"
// practice, which Python's errors="replace" follows): the lead byte plus the continuation
// bytes that could still have completed it.
static size_t invalid_len(const uint8_t *s, size_t n, size_t i) {
    uint8_t b0 = s[i];
    int len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 < 0xE0) len = 2;
    else if (b0 >= 0xE0 && b0 < 0xF0) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 < 0xF5) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    size_t k = 1;
    while ((int)k < len && i + k < n) {
        uint8_t b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        k++;
    }
    return k;
}

// A copy of text with every invalid sequence replaced by U+FFFD.
static enum lector_status replace_invalid(const char *text, size_t len, char **out, size_t *n_out,
                                          int64_t *n_replaced, struct lector_error *err) {
    const uint8_t *s = (const uint8_t *)text;
    size_t cap;
    if (!lector__mul_size(len, 3, &cap) || !lector__add_size(cap, 1, &cap))
        return lector__error(err, LECTOR_STATUS_NOMEM, "text: %zu bytes is too long", len);
    char *d = lector__malloc(cap);
    if (!d) return lector__error(err, LECTOR_STATUS_NOMEM, "text: out of memory for %zu bytes", len);
    size_t o = 0;
    int64_t n_rep = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const char *why = NULL;
        int k = s[i] < 0x80 ? 1 : lector__utf8_decode(s, len, i, &cp, &why);
        if (k > 0) {
            memcpy(d + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
            continue;
        }
        memcpy(d + o, "\xEF\xBF\xBD", 3);
        o += 3;
        n_rep++;
        i += invalid_len(s, len, i);
    }
    *out = d;
    *n_out = o;
    *n_replaced = n_rep;
    return LECTOR_STATUS_OK;
}

static bool space_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    const char *why = NULL;
    int k = lector__utf8_decode((const uint8_t *)s, n, i, &cp, &why);
    *len = k > 0 ? (size_t)k : 1;
    return k > 0 && lector__is_white_space(cp);
}

// Encode one segment with no special tokens in it.
static enum lector_status run_segment(const struct lector_tokenizer *tok, const char *s, size_t n,
                                      bool first, struct lector__sink *out,
                                      struct lector_error *err) {
    if (n == 0 || out->full) return LECTOR_STATUS_OK;
    if (tok->kind != LECTOR__KIND_SPM) return lector__pipeline_run(tok, s, n, first, out, err);
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    char *prepared = NULL;
    enum lector_status st = LECTOR_STATUS_OK;
    if (tok->spm_prep.on) {
        // Hugging Face prepares each piece of text between special tokens on its own.
        st = lector__spm_prep_run(&tok->spm_prep, s, n, &prepared, &n, err);
        if (st != LECTOR_STATUS_OK) return st;
        s = prepared;
    }
    if (n > 0) st = lector_spm_encode(tok->spm, s, n, &ids, &n_ids, err);
    lector_free(prepared);
    for (int64_t i = 0; i < n_ids && st == LECTOR_STATUS_OK; i++) {
        int32_t id = ids[i];
        if (tok->spm_offset) id = id == tok->spm_unk ? tok->id_unk : id + tok->spm_offset;
        st = lector__sink_push(out, id, err);
    }
    lector_free(ids);
    return st;
}

// The text split at special tokens (unless split_specials), each part encoded on its own.
static enum lector_status run_generic(const struct lector_tokenizer *tok, const char *text,
                                      size_t len, struct lector__sink *out,
                                      struct lector_error *err) {
    size_t seg = 0, i = 0;
    bool first = true;
    enum lector_status st = LECTOR_STATUS_OK;
    while (i < len && !tok->split_specials && tok->n_specials > 0) {
        const struct lector__special *sp = NULL;
        if (tok->byte_class[(uint8_t)text[i]] & LECTOR__CHAR_SPECIAL)
            for (int k = 0; k < tok->n_specials; k++)
                if (tok->specials[k].len <= len - i &&
                    memcmp(text + i, tok->specials[k].text, tok->specials[k].len) == 0) {
                    sp = &tok->specials[k];
                    break;
                }
        if (!sp) {
            i++;
            continue;
        }
        size_t end = i;
        if (sp->lstrip) {
            // Back over whitespace characters (UTF-8 aware) within the current segment.
            while (end > seg) {
                size_t j = end - 1, l;
                while (j > seg && ((uint8_t)text[j] & 0xC0) == 0x80) j--;
                if (!space_at(text, len, j, &l)) break;
                end = j;
            }
        }
        st = run_segment(tok, text + seg, end - seg, first, out, err);
        if (st == LECTOR_STATUS_OK) st = lector__sink_push(out, sp->id, err);
        if (st != LECTOR_STATUS_OK) return st;
        first = false;
        i += sp->len;
        if (sp->rstrip) {
            size_t l;
            while (i < len && space_at(text, len, i, &l)) i += l;
        }
        seg = i;
    }
    return run_segment(tok, text + seg, len - seg, first, out, err);
}

// Encode text into sink under the tokenizer's UTF-8 policy.
static enum lector_status run(const struct lector_tokenizer *tok, const char *text, size_t len,
                              struct lector__sink *sink, int64_t *n_replaced,
                              struct lector_error *err) {
    *n_replaced = 0;
    enum lector_status st;
    if (tok->kind == LECTOR__KIND_WORDPIECE) {
        st = lector__wordpiece_run(tok, text, len, sink, err);
        if (st != LECTOR_STATUS_INVALID_UTF8 || tok->utf8_mode != LECTOR_UTF8_REPLACE) return st;
    } else {
        st = lector__utf8_check(text, len, err);
        if (st == LECTOR_STATUS_OK) return run_generic(tok, text, len, sink, err);
        if (tok->utf8_mode != LECTOR_UTF8_REPLACE) return st;
    }
    // Invalid UTF-8 with replacement asked for: start over on a repaired copy.
    lector__error_clear(err);
    char *fixed = NULL;
    size_t n_fixed = 0;
    st = replace_invalid(text, len, &fixed, &n_fixed, n_replaced, err);
    if (st != LECTOR_STATUS_OK) return st;
    sink->n = 0;
    sink->full = false;
    st = tok->kind == LECTOR__KIND_WORDPIECE ? lector__wordpiece_run(tok, fixed, n_fixed, sink, err)
                                             : run_generic(tok, fixed, n_fixed, sink, err);
    lector_free(fixed);
    return st;
}

void lector_tokenizer_close(struct lector_tokenizer *tok) {
    if (!tok) return;
    lector__vocab_free(&tok->vocab);
    lector__bpe_free(&tok->bpe);
    lector__pipeline_free(&tok->pipe);
    lector_free(tok->uni.scores);
    lector_spm_close(tok->spm);
    lector_free(tok->specials_mem);
    lector_free(tok);
}

void lector_tokenizer_set_invalid_utf8(struct lector_tokenizer *tok, enum lector_utf8_mode mode) {
    if (tok) tok->utf8_mode = mode == LECTOR_UTF8_REPLACE ? LECTOR_UTF8_REPLACE : LECTOR_UTF8_ERROR;
}

void lector_tokenizer_set_split_specials(struct lector_tokenizer *tok, int split) {
    if (!tok) return;
    tok->split_specials = split != 0;
    // The WordPiece pass looks for specials through the byte classes.
    for (int b = 0; b < 256; b++) tok->byte_class[b] &= (uint8_t)~LECTOR__CHAR_SPECIAL;
    if (!tok->split_specials)
        for (int k = 0; k < tok->n_specials; k++)
            tok->byte_class[(uint8_t)tok->specials[k].text[0]] |= LECTOR__CHAR_SPECIAL;
}

enum lector_tokenizer_kind lector_tokenizer_kind(const struct lector_tokenizer *tok) {
    if (!tok) return LECTOR_TOKENIZER_WORDPIECE;
    switch (tok->kind) {
    case LECTOR__KIND_BPE: return LECTOR_TOKENIZER_BPE;
    case LECTOR__KIND_SPM: return LECTOR_TOKENIZER_SENTENCEPIECE;
    case LECTOR__KIND_UNIGRAM: return LECTOR_TOKENIZER_UNIGRAM;
    default: return LECTOR_TOKENIZER_WORDPIECE;
    }
}

int64_t lector_tokenizer_n_added(const struct lector_tokenizer *tok) {
    return tok ? tok->n_prefix + tok->n_suffix : 0;
}

enum lector_status lector_tokenizer_encode(const struct lector_tokenizer *tok, const char *text,
                                           size_t len, int64_t n_max, int32_t *ids, int64_t *n_ids,
                                           struct lector_encode_info *info, struct lector_error *err) {
    if (n_ids) *n_ids = 0;
    if (info) *info = (struct lector_encode_info){0, 0};
    if (!tok || (!text && len > 0) || !ids || !n_ids)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: tok, text, ids and n_ids must not be NULL");
    int64_t n_added = tok->n_prefix + tok->n_suffix;
    if (n_max < n_added || n_max < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: n_max is %lld, expected >= %lld (the special "
                             "tokens) and >= 1",
                             (long long)n_max, (long long)(n_added > 1 ? n_added : 1));
    struct lector__sink sink = {.ids = ids + tok->n_prefix, .n = 0, .cap = n_max - n_added, .grow = false};
    int64_t n_replaced = 0;
    enum lector_status st = run(tok, text ? text : "", len, &sink, &n_replaced, err);
    if (st != LECTOR_STATUS_OK) return st;
    for (int k = 0; k < tok->n_prefix; k++) ids[k] = tok->prefix[k];
    for (int k = 0; k < tok->n_suffix; k++) ids[tok->n_prefix + sink.n + k] = tok->suffix[k];
    *n_ids = sink.n + n_added;
    if (info) {
        info->truncated = sink.full;
        info->n_replaced = n_replaced;
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector_tokenizer_encode_pieces(const struct lector_tokenizer *tok,
                                                  const char *text, size_t len, int32_t **ids,
                                                  int64_t *n_ids, struct lector_error *err) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!tok || (!text && len > 0) || !ids || !n_ids)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode_pieces: tok, text, ids and n_ids must not "
                             "be NULL");
    // About one piece per 4 bytes of English; the array doubles when that is too few.
    int64_t cap = (int64_t)(len / 4) + 16;
    struct lector__sink sink = {.ids = lector__malloc((size_t)cap * sizeof(int32_t)),
                                .n = 0,
                                .cap = cap,
                                .grow = true};
    if (!sink.ids)
        return lector__error(err, LECTOR_STATUS_NOMEM, "tokenizer: out of memory for %lld ids",
                             (long long)cap);
    int64_t n_replaced = 0;
    enum lector_status st = run(tok, text ? text : "", len, &sink, &n_replaced, err);
    if (st != LECTOR_STATUS_OK) {
        lector_free(sink.ids);
        return st;
    }
    *ids = sink.ids;
    *n_ids = sink.n;
    return LECTOR_STATUS_OK;
}

int64_t lector_tokenizer_n_vocab(const struct lector_tokenizer *tok) {
    return tok ? tok->vocab.n_vocab : 0;
}

const char *lector_tokenizer_token(const struct lector_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->vocab.n_vocab) return NULL;
    return tok->vocab.strings + tok->vocab.offsets[id];
}

int32_t lector_tokenizer_find(const struct lector_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return lector__vocab_find(&tok->vocab, token, strlen(token));
}

int32_t lector_tokenizer_cls_id(const struct lector_tokenizer *tok) { return tok ? tok->id_cls : -1; }
int32_t lector_tokenizer_sep_id(const struct lector_tokenizer *tok) { return tok ? tok->id_sep : -1; }
int32_t lector_tokenizer_pad_id(const struct lector_tokenizer *tok) { return tok ? tok->id_pad : -1; }
int32_t lector_tokenizer_unk_id(const struct lector_tokenizer *tok) { return tok ? tok->id_unk : -1; }

const char *lector_tokenizer_hash(const struct lector_tokenizer *tok) {
    return tok ? tok->hash_hex : NULL;
}

const char *lector_tokenizer_source(const struct lector_tokenizer *tok) {
    return tok ? tok->source : NULL;
}

const char *lector_tokenizer_source_note(const struct lector_tokenizer *tok) {
    return tok ? tok->source_note : NULL;
}

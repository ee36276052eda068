/*
 * lector/tokenizer.h: text to token ids, with Hugging Face parity.
 *
 * Usage:
 *     struct lector_tokenizer *tok = NULL;
 *     if (lector_tokenizer_open("models/bert", &tok, &err) != LECTOR_STATUS_OK) ...;
 *     int32_t ids[128]; int64_t n = 0;
 *     lector_tokenizer_encode(tok, text, strlen(text), 128, ids, &n, &err);
 *     // ids = [CLS] ... [SEP], n <= 128
 *     lector_tokenizer_free(tok);
 *
 * lector_tokenizer_open(dir) reads, from an encoder directory, vocab.txt (WordPiece, one token
 * per line, id = line index, CRLF accepted) and tokenizer_config.json when present
 * (do_lower_case, default true; strip_accents, default: follow do_lower_case;
 * tokenize_chinese_chars, default true; *_token names of the special tokens). Without
 * vocab.txt it reads tokenizer.json instead (a WordPiece model with a BertNormalizer: the
 * vocabulary, normaliser flags and added tokens all come from that file). A token listed twice
 * in vocab.txt is found under its later id, as in Hugging Face's loaders.
 *
 * WordPiece pipeline (Hugging Face BertTokenizer / BertNormalizer + BertPreTokenizer):
 * clean text (drop NUL, U+FFFD and control characters, map whitespace to ' '), isolate CJK
 * ideographs, lowercase (Python str.lower semantics, not case folding), NFD + drop category
 * Mn when stripping accents, split on whitespace and punctuation, then greedy longest-match
 * WordPiece with "##" continuations; words over 100 characters become [UNK].
 * Special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) are looked up by name in the vocab.
 * As with Hugging Face's added tokens, a special token written in the text ("[SEP]") is
 * matched verbatim before normalisation and encodes to its own id.
 *
 * Thread safety: a tokenizer is immutable after open; encode may be called from several
 * threads at once.
 */
#ifndef LECTOR_TOKENIZER_H
#define LECTOR_TOKENIZER_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_tokenizer;

/* Open the tokenizer files of an encoder directory. On failure *out is NULL: NOT_FOUND when
 * the directory has neither vocab.txt nor tokenizer.json, FORMAT for a malformed file or a
 * vocabulary without [UNK], [CLS] or [SEP], UNSUPPORTED for a tokenizer.json that is not
 * WordPiece + BertNormalizer. Free with lector_tokenizer_free. */
LECTOR_API enum lector_status lector_tokenizer_open(const char *dir, struct lector_tokenizer **out,
                                                    struct lector_error *err);
/* Open a WordPiece tokenizer from a vocab.txt path with explicit settings.
 * strip_accents: -1 = follow do_lower_case, 0 = no, 1 = yes. */
LECTOR_API enum lector_status lector_tokenizer_open_wordpiece(const char *vocab_path,
                                                              int do_lower_case, int strip_accents,
                                                              int tokenize_chinese_chars,
                                                              struct lector_tokenizer **out,
                                                              struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_tokenizer_free(struct lector_tokenizer *tok);

/*
 * Encode one text (len bytes, need not be NUL-terminated; may contain NUL bytes, which are
 * dropped like other control characters) as [CLS] pieces [SEP].
 * n_max: the maximum number of ids including the special tokens (>= 2); longer inputs are
 * truncated to n_max - 2 pieces, keeping the final [SEP]. *truncated (may be NULL) tells
 * whether that happened. ids must hold n_max entries.
 * Invalid UTF-8 returns LECTOR_STATUS_INVALID_UTF8 with err->col = the byte offset.
 */
LECTOR_API enum lector_status lector_tokenizer_encode(const struct lector_tokenizer *tok,
                                                      const char *text, size_t len, int64_t n_max,
                                                      int32_t *ids, int64_t *n_ids, int *truncated,
                                                      struct lector_error *err);

/*
 * Encode without special tokens and without truncation into a growable array:
 * *ids (lector_free) receives *n_ids pieces.
 */
LECTOR_API enum lector_status lector_tokenizer_encode_pieces(const struct lector_tokenizer *tok,
                                                             const char *text, size_t len,
                                                             int32_t **ids, int64_t *n_ids,
                                                             struct lector_error *err);

LECTOR_API int64_t lector_tokenizer_n_vocab(const struct lector_tokenizer *tok);
/* The token string of an id, or NULL when out of range. Valid until free. */
LECTOR_API const char *lector_tokenizer_token(const struct lector_tokenizer *tok, int32_t id);
/* The id of a token string, or -1. */
LECTOR_API int32_t lector_tokenizer_find(const struct lector_tokenizer *tok, const char *token);

LECTOR_API int32_t lector_tokenizer_cls_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_sep_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_pad_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_unk_id(const struct lector_tokenizer *tok);

/* SHA-256 (hex, 64 chars + NUL) over the vocabulary and settings: identifies the tokenizer
 * in model files. */
LECTOR_API const char *lector_tokenizer_hash(const struct lector_tokenizer *tok);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_TOKENIZER_H */

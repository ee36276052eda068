/*
 * lector/tokenizer.h: text to token ids, with Hugging Face parity.
 *
 * Usage:
 *     struct lector_tokenizer *tok = NULL;
 *     if (lector_tokenizer_open("models/bert", &tok, &err) != LECTOR_STATUS_OK) ...;
 *     int32_t ids[128]; int64_t n = 0;
 *     lector_tokenizer_encode(tok, text, strlen(text), 128, ids, &n, NULL, &err);
 *     // ids = [CLS] ... [SEP] (or <s> ... </s>, ... <sep> <cls>: the family's specials)
 *     lector_tokenizer_close(tok);
 *
 * Four kinds of tokenizer (lector_tokenizer_kind):
 *   - WordPiece (BERT): vocab.txt + tokenizer_config.json, or tokenizer.json with a
 *     BertNormalizer and BertPreTokenizer.
 *   - Byte-level BPE (RoBERTa, GPT-2): vocab.json + merges.txt, or tokenizer.json with a BPE
 *     model (ByteLevel pre-tokenizer, or Metaspace / Whitespace ones).
 *   - SentencePiece (ALBERT, XLNet, T5, XLM-R): a .model file through lector/spm.h.
 *   - Unigram from tokenizer.json (a SentencePiece-style vocabulary with scores).
 *
 * lector_tokenizer_open(dir) looks in an encoder directory for, in this order:
 * tokenizer.json; vocab.txt; spiece.model or sentencepiece.bpe.model; vocab.json + merges.txt.
 * Hub folders of ALBERT, XLNet, T5, XLM-R and CamemBERT ship both a tokenizer.json (whose
 * "Precompiled" normaliser lector does not implement) and the SentencePiece model: when
 * tokenizer.json needs an unsupported component and spiece.model or sentencepiece.bpe.model
 * is in the directory, that model is used instead (it carries the same normaliser), with
 * the family and special tokens of tokenizer_config.json. lector_tokenizer_source names the
 * file used and lector_tokenizer_source_note says why tokenizer.json was passed over.
 * tokenizer_config.json (and config.json's model_type), when present, supply the settings a
 * file leaves out: do_lower_case (default true), strip_accents (default: follow
 * do_lower_case), tokenize_chinese_chars (default true), the *_token names, add_prefix_space
 * (BPE, default false) and tokenizer_class (which SentencePiece family).
 *
 * WordPiece pipeline (Hugging Face BertTokenizer / BertNormalizer + BertPreTokenizer):
 * clean text (drop NUL, U+FFFD and control characters, map whitespace to ' '), isolate CJK
 * ideographs, lowercase (Python str.lower semantics, not case folding), NFD + drop category
 * Mn when stripping accents, split on whitespace and punctuation, then greedy longest-match
 * WordPiece with "##" continuations; words over 100 characters become [UNK].
 *
 * Byte-level BPE: the GPT-2 pre-tokenisation pattern ('s 't 're 've 'm 'll 'd, letters,
 * numbers, other symbols, each with an optional leading space, and whitespace runs), bytes
 * mapped to GPT-2's printable alphabet, then merges by rank; <s> ... </s> for RoBERTa.
 *
 * SentencePiece: the raw text goes to the model, which carries its own normaliser (no
 * Unicode normalisation happens before it). Specials per family, as Hugging Face adds them:
 * ALBERT [CLS] x [SEP]; XLM-R <s> x </s> with fairseq ids (<s>=0, <pad>=1, </s>=2,
 * <unk>=3, model ids + 1, <mask> last); CamemBERT <s> x </s> with its fairseq ids
 * (<s>NOTUSED=0, <pad>=1, </s>NOTUSED=2, <unk>=3, model ids + 4, <mask> last); XLNet
 * x <sep> <cls>; T5 x </s>. tokenizer_config.json's cls_token, sep_token (T5: eos_token),
 * pad_token, unk_token and mask_token rename them.
 * When a directory's tokenizer_config.json (tokenizer_class) or config.json (model_type)
 * names an ALBERT or XLNet tokenizer, the text is first prepared as Hugging Face's
 * AlbertTokenizer / XLNetTokenizer do, in each stretch between special tokens:
 * remove_space (default true: strip, collapse whitespace runs to one ' '); `` and '' become
 * "; keep_accents (default false: NFKD, drop combining characters); do_lower_case (default
 * true for ALBERT, false for XLNet; Python's str.lower). lector_tokenizer_open_spm and
 * lector_tokenizer_open_path on a .model file without such a config give the raw model.
 * Not reproduced: the slow tokenizers' re-split of pieces ending in a digit and ','.
 *
 * Special ("added") tokens written in the text ("[SEP]", "<mask>") are matched verbatim
 * before normalisation and encode to their own id, as Hugging Face does; RoBERTa's <mask>
 * also swallows the whitespace before it (lstrip). lector_tokenizer_set_split_specials
 * turns this off.
 *
 * Invalid UTF-8 is an error (LECTOR_STATUS_INVALID_UTF8, err->offset = byte offset) unless
 * lector_tokenizer_set_invalid_utf8(tok, LECTOR_UTF8_REPLACE) was called: then each maximal
 * invalid subsequence becomes U+FFFD (as Python's errors="replace" does) and
 * lector_tokenizer_encode reports how many were replaced in its info.
 *
 * Thread safety: after open and the set_* calls, a tokenizer is immutable; encode may be
 * called from several threads at once. The set_* calls must not race with encode.
 */
#ifndef LECTOR_TOKENIZER_H
#define LECTOR_TOKENIZER_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_tokenizer;

enum lector_tokenizer_kind {
    LECTOR_TOKENIZER_WORDPIECE = 0,
    LECTOR_TOKENIZER_BPE = 1,
    LECTOR_TOKENIZER_SENTENCEPIECE = 2,
    LECTOR_TOKENIZER_UNIGRAM = 3
};

/* What to do with text that is not valid UTF-8. */
enum lector_utf8_mode {
    LECTOR_UTF8_ERROR = 0,   /* LECTOR_STATUS_INVALID_UTF8 naming the byte offset (default) */
    LECTOR_UTF8_REPLACE = 1  /* each maximal invalid subsequence becomes U+FFFD */
};

/* The SentencePiece families (which special tokens encode adds, and XLM-R's id offset). */
enum lector_spm_family {
    LECTOR_SPM_FAMILY_AUTO = 0,  /* guess from the pieces: [CLS] ALBERT, <cls> XLNet, else T5 */
    LECTOR_SPM_FAMILY_ALBERT = 1,
    LECTOR_SPM_FAMILY_XLNET = 2,
    LECTOR_SPM_FAMILY_XLMR = 3,
    LECTOR_SPM_FAMILY_T5 = 4,
    LECTOR_SPM_FAMILY_CAMEMBERT = 5
};

/* Per-call results of lector_tokenizer_encode. */
struct lector_encode_info {
    int truncated;       /* 1 when pieces were dropped to fit n_max */
    int64_t n_replaced;  /* invalid UTF-8 sequences replaced by U+FFFD (LECTOR_UTF8_REPLACE) */
};

/* Open the tokenizer files of an encoder directory (see the search order above). On
 * failure *out is NULL: NOT_FOUND when the directory has no tokenizer file, FORMAT for a
 * malformed file or a vocabulary without its [UNK]/[CLS]/[SEP] (<unk>, <s>, </s>), and
 * UNSUPPORTED for a tokenizer.json component lector does not implement, named in the
 * message ("tokenizer.json: normalizer 'Precompiled' is not supported").
 * Free with lector_tokenizer_close. */
LECTOR_API enum lector_status lector_tokenizer_open(const char *dir, struct lector_tokenizer **out,
                                                    struct lector_error *err);
/* Open a WordPiece tokenizer from a vocab.txt path with explicit settings.
 * strip_accents: -1 = follow do_lower_case, 0 = no, 1 = yes. */
LECTOR_API enum lector_status lector_tokenizer_open_wordpiece(const char *vocab_path,
                                                              int do_lower_case, int strip_accents,
                                                              int tokenize_chinese_chars,
                                                              struct lector_tokenizer **out,
                                                              struct lector_error *err);
/* Open a directory (as lector_tokenizer_open) or one file: tokenizer.json (any name ending
 * in .json), vocab.txt (WordPiece, with the tokenizer_config.json beside it), a
 * SentencePiece .model, or vocab.json (with merges.txt beside it). */
LECTOR_API enum lector_status lector_tokenizer_open_path(const char *path,
                                                         struct lector_tokenizer **out,
                                                         struct lector_error *err);
/* Byte-level BPE from vocab.json + merges.txt with RoBERTa's specials (<s> x </s>, <pad>,
 * <unk>, <mask>); add_prefix_space: put a space before text that does not start with one. */
LECTOR_API enum lector_status lector_tokenizer_open_bpe(const char *vocab_json,
                                                        const char *merges_txt,
                                                        int add_prefix_space,
                                                        struct lector_tokenizer **out,
                                                        struct lector_error *err);
/* A SentencePiece model file with the special tokens of a family. */
LECTOR_API enum lector_status lector_tokenizer_open_spm(const char *model_path,
                                                        enum lector_spm_family family,
                                                        struct lector_tokenizer **out,
                                                        struct lector_error *err);
/* A tokenizer.json file. */
LECTOR_API enum lector_status lector_tokenizer_open_json(const char *path,
                                                         struct lector_tokenizer **out,
                                                         struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_tokenizer_close(struct lector_tokenizer *tok);

/* Settings; call before the tokenizer is shared between threads. */
LECTOR_API void lector_tokenizer_set_invalid_utf8(struct lector_tokenizer *tok,
                                                  enum lector_utf8_mode mode);
/* split != 0: special-token text in the input ("[SEP]", "<s>") is ordinary text, as with
 * Hugging Face's split_special_tokens=True. Default 0. */
LECTOR_API void lector_tokenizer_set_split_specials(struct lector_tokenizer *tok, int split);

LECTOR_API enum lector_tokenizer_kind lector_tokenizer_kind(const struct lector_tokenizer *tok);
/* How many special tokens encode adds around the pieces (2 for [CLS] x [SEP], 1 for T5). */
LECTOR_API int64_t lector_tokenizer_n_added(const struct lector_tokenizer *tok);

/*
 * Encode one text (len bytes, need not be NUL-terminated; may contain NUL bytes) as the
 * family's specials around the pieces: [CLS] pieces [SEP] for BERT.
 * n_max: the maximum number of ids including the special tokens (>= n_added, and >= 1);
 * longer inputs are truncated to n_max - n_added pieces, keeping the final special
 * token(s). ids must hold n_max entries. info (may be NULL) receives the per-call results:
 * whether pieces were dropped to fit n_max, and how many invalid UTF-8 sequences were
 * replaced; it is all zero on failure. Invalid UTF-8 returns LECTOR_STATUS_INVALID_UTF8 with
 * err->offset = the byte offset (unless LECTOR_UTF8_REPLACE is set).
 */
LECTOR_API enum lector_status lector_tokenizer_encode(const struct lector_tokenizer *tok,
                                                      const char *text, size_t len, int64_t n_max,
                                                      int32_t *ids, int64_t *n_ids,
                                                      struct lector_encode_info *info,
                                                      struct lector_error *err);

/*
 * Encode without the family's special tokens and without truncation into a growable array:
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

/* The special ids ([CLS]/<s>/<cls>, [SEP]/</s>/<sep>, [PAD]/<pad>, [UNK]/<unk>), or -1 when
 * the tokenizer has none (T5 has no CLS). */
LECTOR_API int32_t lector_tokenizer_cls_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_sep_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_pad_id(const struct lector_tokenizer *tok);
LECTOR_API int32_t lector_tokenizer_unk_id(const struct lector_tokenizer *tok);

/* The base name of the file the tokenizer was read from ("tokenizer.json", "vocab.txt",
 * "spiece.model", "vocab.json + merges.txt"), for `lector info`. Never NULL for a tokenizer
 * (NULL for NULL); valid until free. */
LECTOR_API const char *lector_tokenizer_source(const struct lector_tokenizer *tok);
/* Why lector_tokenizer_open passed over tokenizer.json for a SentencePiece model
 * ("DIR/tokenizer.json: normalizer 'Precompiled' is not supported; used spiece.model
 * instead"), or "" when it did not. Valid until free. */
LECTOR_API const char *lector_tokenizer_source_note(const struct lector_tokenizer *tok);

/* SHA-256 (hex, 64 chars + NUL) over the vocabulary and settings: identifies the tokenizer
 * in model files. */
LECTOR_API const char *lector_tokenizer_hash(const struct lector_tokenizer *tok);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_TOKENIZER_H */

/*
 * lector/spm.h: a plain C interface to a SentencePiece model (libsentencepiece).
 *
 * Usage:
 *     struct lector_spm *spm = NULL;
 *     struct lector_error err;
 *     if (lector_spm_open("spiece.model", &spm, &err) != LECTOR_STATUS_OK) ...;
 *     int32_t *ids = NULL; int64_t n = 0;
 *     if (lector_spm_encode(spm, text, strlen(text), &ids, &n, &err) == LECTOR_STATUS_OK) {
 *         ... ids[0..n) are the model's own piece ids, no special tokens ...
 *         lector_free(ids);
 *     }
 *     lector_spm_close(spm);
 *
 * This is the raw model: the text goes through the model's own normaliser (its
 * NormalizerSpec, e.g. nmt_nfkc with the precompiled character map) and nothing else. The
 * special tokens a Hugging Face family adds ([CLS], <s>, <sep> ...) and the fairseq id
 * offset of XLM-R belong to lector/tokenizer.h, which builds on this.
 *
 * The model file is a serialised sentencepiece.ModelProto (protobuf). A corrupt or
 * truncated file is reported as LECTOR_STATUS_FORMAT with SentencePiece's own message; no
 * exception or abort crosses this interface (every entry point catches everything and
 * returns LECTOR_STATUS_INTERNAL for anything unexpected).
 *
 * Thread safety: a model is immutable after open; encode and the getters may be called
 * from several threads at once.
 */
#ifndef LECTOR_SPM_H
#define LECTOR_SPM_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_spm;

/* What a piece is, as the model's ModelProto marks it. */
enum lector_spm_piece_type {
    LECTOR_SPM_PIECE_NORMAL = 0,
    LECTOR_SPM_PIECE_UNKNOWN = 1,  /* the <unk> piece */
    LECTOR_SPM_PIECE_CONTROL = 2,  /* <s>, </s>, <cls> ...: never produced by encode */
    LECTOR_SPM_PIECE_UNUSED = 3,
    LECTOR_SPM_PIECE_BYTE = 4,     /* <0xAB> byte-fallback pieces */
    LECTOR_SPM_PIECE_INVALID = -1  /* id out of range */
};

/* Load a model file. On failure *out is NULL: NOT_FOUND / IO when the file cannot be read,
 * FORMAT when it is not a valid model. Free with lector_spm_close. */
LECTOR_API enum lector_status lector_spm_open(const char *path, struct lector_spm **out,
                                              struct lector_error *err);
/* Load a model from the bytes of a model file (data[0..n) is copied as needed and may be
 * freed after the call). origin names the data in messages (e.g. its path). */
LECTOR_API enum lector_status lector_spm_open_memory(const void *data, size_t n,
                                                     const char *origin,
                                                     struct lector_spm **out,
                                                     struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_spm_close(struct lector_spm *spm);

/*
 * Encode text[0..len) (UTF-8; need not be NUL-terminated) into piece ids. *ids (free with
 * lector_free) receives *n_ids ids; for empty text *ids may be NULL with *n_ids = 0.
 * Text that is not valid UTF-8 is handled the way SentencePiece does (it substitutes
 * U+FFFD); validate first if that matters (lector_tokenizer does).
 */
LECTOR_API enum lector_status lector_spm_encode(const struct lector_spm *spm, const char *text,
                                                size_t len, int32_t **ids, int64_t *n_ids,
                                                struct lector_error *err);

/* The number of pieces (V), or 0 for NULL. */
LECTOR_API int64_t lector_spm_n_pieces(const struct lector_spm *spm);
/* The piece string of an id (NUL-terminated, valid until lector_spm_close), or NULL when
 * out of range. */
LECTOR_API const char *lector_spm_piece(const struct lector_spm *spm, int32_t id);
/* The id of a piece string, or -1 when the model has no such piece. */
LECTOR_API int32_t lector_spm_find(const struct lector_spm *spm, const char *piece, size_t len);
LECTOR_API enum lector_spm_piece_type lector_spm_piece_type(const struct lector_spm *spm,
                                                            int32_t id);
/* The model's <unk>, <s>, </s>, <pad> ids from its TrainerSpec, or -1 when disabled. */
LECTOR_API int32_t lector_spm_unk_id(const struct lector_spm *spm);
LECTOR_API int32_t lector_spm_bos_id(const struct lector_spm *spm);
LECTOR_API int32_t lector_spm_eos_id(const struct lector_spm *spm);
LECTOR_API int32_t lector_spm_pad_id(const struct lector_spm *spm);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_SPM_H */

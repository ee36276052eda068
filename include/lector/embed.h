/*
 * lector/embed.h: texts or token rows -> pooled vectors through the encoder: length-sorted batches,
 * and long documents as overlapping windows pooled again.
 *
 * Thread safety: reentrant; one encoder state per thread.
 */
#ifndef LECTOR_EMBED_H
#define LECTOR_EMBED_H

#include "lector/encoder.h"
#include "lector/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tokenized text: ids including the special tokens. */
struct lector_token_row {
    const int32_t *ids;
    int64_t n;
};

/*
 * Pool n rows of ids through the encoder into out (n, C). Rows are sorted by length and
 * grouped into batches of at most batch_size rows and at most n_tokens_max padded tokens per
 * batch (0 = no token budget), so little padding is computed; results come back in input
 * order. Padding uses the config's pad_token_id with mask 0; token types are 0.
 */
LECTOR_API enum lector_status lector_embed_rows(const struct lector_encoder *enc,
                                                struct lector_encoder_state *st,
                                                const struct lector_token_row *rows, int64_t n,
                                                enum lector_pooling pooling, int64_t batch_size,
                                                int64_t n_tokens_max, float *out,
                                                struct lector_error *err);

/* Long documents: overlapping windows. */

/* How a text longer than max_len tokens becomes one vector: truncated (the old behaviour), or
 * split into windows of max_len tokens (specials included) that overlap by `stride` tokens,
 * each window pooled by the encoder's pooling, then the windows pooled by mean or max. */
enum lector_doc_pooling {
    LECTOR_DOC_TRUNCATE = 0,
    LECTOR_DOC_MEAN,
    LECTOR_DOC_MAX,
};
LECTOR_API int lector_doc_pooling_parse(const char *name); /* "truncate", "mean", "max"; -1 */
LECTOR_API const char *lector_doc_pooling_name(enum lector_doc_pooling p);
struct lector_window_params {
    int64_t max_len;      /* tokens per window including the special tokens */
    int64_t stride;       /* tokens shared by neighbouring windows, < max_len - specials [32] */
    enum lector_doc_pooling doc_pooling;
    int64_t max_windows;  /* at most this many windows per text; 0 = no limit */
    int64_t batch_size;   /* encoder rows per batch (windows are sorted by length; a batch
                             also holds at most max(max_len, min(batch_size x max_len,
                             1024)) padded tokens); 0 = 32 */
    int64_t *n_cut;       /* may be NULL: incremented once for each text whose windows were
                             cut at max_windows (the rest of that text is not read) */
};
/*
 * Tokenize and encode n texts into out (n, C), windows as wp says. A text that fails to
 * tokenize gets its status in bad[i] and a row of zeros; with bad NULL the first such text
 * fails the call instead. *n_windows (may be NULL) receives the number of encoder rows run.
 */
LECTOR_API enum lector_status lector_embed_texts(const struct lector_encoder *enc,
                                                 struct lector_encoder_state *st,
                                                 const struct lector_tokenizer *tok,
                                                 enum lector_pooling pooling,
                                                 const struct lector_window_params *wp,
                                                 const char *const *texts, const size_t *lens,
                                                 int64_t n, float *out, enum lector_status *bad,
                                                 int64_t *n_windows, struct lector_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_EMBED_H */

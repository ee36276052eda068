/*
 * lector/encoder.h: a frozen BERT-style encoder loaded from a Hugging Face directory.
 *
 * Usage:
 *     struct lector_encoder *enc = NULL;
 *     struct lector_encoder_state *st = NULL;
 *     lector_encoder_open("models/bert", &enc, &err);      // config.json + weights
 *     lector_encoder_state_init(enc, &st, &err);
 *     float *h = malloc(B * T * C * sizeof *h);
 *     lector_encoder_forward(enc, st, ids, type_ids, mask, B, T, h, &err);   // (B, T, C)
 *     lector_encoder_pool(enc, h, mask, B, T, LECTOR_POOLING_MEAN, pooled, &err); // (B, C)
 *     lector_encoder_state_free(st); lector_encoder_close(enc);
 *
 * Letters: B batch, T tokens, C hidden, H heads, D head size (C/H), F FFN width, V vocab,
 * L layers.
 *
 * Thread safety: an encoder is immutable after open and may be shared by threads; a state
 * belongs to one thread at a time (one state per thread).
 */
#ifndef LECTOR_ENCODER_H
#define LECTOR_ENCODER_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lector_activation {
    LECTOR_ACT_GELU = 0, /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    LECTOR_ACT_GELU_NEW, /* tanh approximation (gelu_new, gelu_pytorch_tanh) */
    LECTOR_ACT_RELU
};

enum lector_pooling {
    LECTOR_POOLING_CLS = 0, /* h[b, 0, :] */
    LECTOR_POOLING_MEAN,    /* mask-aware mean over positions with mask 1 */
    LECTOR_POOLING_MAX,     /* mask-aware max over positions with mask 1 */
    LECTOR_POOLING_POOLER,  /* tanh(W h[b, 0, :] + b) with the checkpoint's pooler */
    LECTOR_POOLING_NONE     /* no pooling: the (B, T, C) hidden states */
};

/* "cls", "mean", "max", "pooler", "none"; parse returns -1 for an unknown name. */
LECTOR_API const char *lector_pooling_name(enum lector_pooling p);
LECTOR_API int lector_pooling_parse(const char *name);

/* What config.json says, in lector's letters. */
struct lector_encoder_config {
    char model_type[32];  /* "bert" */
    int64_t n_vocab;      /* V  vocab_size */
    int64_t n_embd;       /* C  hidden_size */
    int64_t n_layer;      /* L  num_hidden_layers */
    int64_t n_head;       /* H  num_attention_heads */
    int64_t n_ff;         /* F  intermediate_size */
    int64_t n_pos;        /* max_position_embeddings */
    int64_t n_type;       /* type_vocab_size (0 when the family has none) */
    float ln_eps;         /* layer_norm_eps */
    enum lector_activation act; /* hidden_act */
    int32_t pad_token_id; /* pad_token_id (default 0) */
};

/* Parse a config.json file. Unknown model_type or hidden_act is LECTOR_STATUS_UNSUPPORTED
 * naming the value; a missing or non-positive size is LECTOR_STATUS_FORMAT naming the key. */
LECTOR_API enum lector_status lector_encoder_config_load(const char *path,
                                                         struct lector_encoder_config *cfg,
                                                         struct lector_error *err);

struct lector_encoder;
struct lector_encoder_state;

/* Open dir/config.json and the weights in dir (see lector/checkpoint.h), checking that every
 * tensor the family needs is present with the shape the config implies. Names may carry a
 * known prefix ("bert."); tensors the encoder does not use (classifier.*, cls.*,
 * position_ids) are ignored, and the pooler is optional. Every problem is listed in one
 * message, each naming the tensor, the expected and the found shape: only missing tensors
 * give LECTOR_STATUS_NOT_FOUND, any shape or dtype disagreement LECTOR_STATUS_MISMATCH.
 * A model_type other than "bert" is LECTOR_STATUS_UNSUPPORTED for now. On failure *out is
 * NULL. The encoder keeps the checkpoint open (mapped) until lector_encoder_close. */
LECTOR_API enum lector_status lector_encoder_open(const char *dir, struct lector_encoder **out,
                                                  struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_encoder_close(struct lector_encoder *enc);

LECTOR_API const struct lector_encoder_config *lector_encoder_get_config(
    const struct lector_encoder *enc);
/* Whether the checkpoint has a pooler (LECTOR_POOLING_POOLER is available). */
LECTOR_API int lector_encoder_has_pooler(const struct lector_encoder *enc);
/* SHA-256 hex (64 chars) of config.json followed by every weight file, computed at open. */
LECTOR_API const char *lector_encoder_checksum(const struct lector_encoder *enc);
/* The directory the encoder was opened from. */
LECTOR_API const char *lector_encoder_dir(const struct lector_encoder *enc);
/* Total parameter count of the tensors used (pooler included when present). */
LECTOR_API int64_t lector_encoder_n_params(const struct lector_encoder *enc);
/* C, the width of every hidden state and pooled vector. */
LECTOR_API int64_t lector_encoder_n_embd(const struct lector_encoder *enc);

/* Per-thread scratch memory for the activations, sized from (B, T) and the config and
 * grown only when a call needs more tokens (B*T) than any before. The state must be used
 * with the encoder it was made for, and freed before that encoder is closed. */
LECTOR_API enum lector_status lector_encoder_state_init(const struct lector_encoder *enc,
                                                        struct lector_encoder_state **out,
                                                        struct lector_error *err);
LECTOR_API void lector_encoder_state_free(struct lector_encoder_state *st);

/*
 * Run the encoder.
 *   ids:      (B, T) token ids, each in [0, V)
 *   type_ids: (B, T) token type ids in [0, n_type), or NULL for all zeros
 *   mask:     (B, T) 1 = real token, 0 = padding; NULL = all real
 *   hidden:   (B, T, C) output, last_hidden_state (padded positions included)
 * T must be at most n_pos (else LECTOR_STATUS_RANGE). A padded row gives the same values at
 * its real positions as the same row alone: padding only masks keys. An id outside [0, V),
 * a type id outside [0, n_type) or a mask value other than 0/1 is LECTOR_STATUS_RANGE naming
 * the row and position (also in err->line and err->col, both 0-based); nothing is computed
 * then. hidden may be uninitialised; it is the only output.
 */
LECTOR_API enum lector_status lector_encoder_forward(const struct lector_encoder *enc,
                                                     struct lector_encoder_state *st,
                                                     const int32_t *ids, const int32_t *type_ids,
                                                     const int32_t *mask, int64_t B, int64_t T,
                                                     float *hidden, struct lector_error *err);

/*
 * Pool hidden states (B, T, C) into out (B, C) using mask (B, T) (NULL = all real).
 * LECTOR_POOLING_NONE is not valid here (LECTOR_STATUS_INVALID_ARG). Mean and max use only
 * positions with mask 1 and give zeros for a row without any. LECTOR_POOLING_POOLER on a
 * checkpoint without a pooler is LECTOR_STATUS_UNSUPPORTED.
 */
LECTOR_API enum lector_status lector_encoder_pool(const struct lector_encoder *enc,
                                                  const float *hidden, const int32_t *mask,
                                                  int64_t B, int64_t T, enum lector_pooling pooling,
                                                  float *out, struct lector_error *err);

/* Threads used by the matrix products (OpenBLAS); set once, before any forward. <= 0 = all. */
LECTOR_API void lector_set_n_threads(int n_threads);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_ENCODER_H */

/*
 * encoder_train.h: training the top layers of an encoder (internal, for task/ and tests).
 *
 * Usage (one step on a batch whose states entering layer k are already known):
 *     struct lector__enc_train *tr = NULL;
 *     lector__enc_train_init(enc, n_unfreeze, pooling, &tr, &err);
 *     k = lector__enc_train_first_layer(tr);             // L - n_unfreeze
 *     lector__encoder_forward_layers(enc, st, ids, types, mask, B, T, k, x, &err);  // once
 *     lector__enc_train_zero_grad(tr);
 *     lector__enc_train_forward(tr, x, mask, B, T, &drop, pooled, &err);   // (B, C)
 *     ... the head's loss and its gradient dpooled (B, C) ...
 *     lector__enc_train_backward(tr, dpooled);           // adds into lector__enc_train_grads
 *     ... an optimiser step on lector__enc_train_params ...
 *
 * The trainable parameters are a copy of the top n_unfreeze layers (and of the pooler with
 * pooling 'pooler'), in one array, each layer's tensors contiguous, so the encoder itself
 * stays read-only and shared. ALBERT's shared layer is untied: each unfrozen depth gets its
 * own copy (its inner groups must have one layer each). The tensors are named as BERT's
 * checkpoint names them without prefix, whatever the family
 * (encoder.layer.<i>.attention.self.query.weight, pooler.dense.weight, ...).
 *
 * The forward keeps what the backward needs: each layer's input, QKV, the attention output
 * and its per-row logsumexp (no (T, T) matrix), the LayerNorm inputs and statistics, the
 * FFN pre-activation and activation. Dropout masks are pure functions of (seed, site,
 * index) and are regenerated in the backward, never stored.
 *
 * Thread safety: one training state per thread; the encoder may be shared.
 */
#ifndef LECTOR_ENCODER_TRAIN_H
#define LECTOR_ENCODER_TRAIN_H

#include "lector/encoder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lector__enc_train;

/* One trainable tensor: a view of n floats at offset in the parameter (and gradient) array. */
struct lector__train_tensor {
    char name[96];
    int64_t offset, numel;
    int32_t n_dims;
    int64_t shape[2];
    bool decay; // a weight matrix (weight decay applies); false for biases and LayerNorm
    int64_t group; // 0 = the lowest trainable layer, ..., n_unfreeze - 1 the top one;
                   // n_unfreeze for the pooler
};

/* Dropout in the trainable layers: hidden (after each projection back to C, before the
 * residual, as Hugging Face's hidden_dropout_prob) and attention (on the probabilities,
 * attention_probs_dropout_prob); all 0 for evaluation. seed picks the masks of one step. */
struct lector__enc_dropout {
    float hidden, attention;
    uint64_t seed;
};

/* A training state for the top n_unfreeze (0 .. the number of layers) layers, plus the
 * pooler when pooling is LECTOR_POOLING_POOLER. INVALID_ARG for a count out of range or
 * pooling NONE; UNSUPPORTED for pooling 'pooler' without a pooler in the checkpoint, for
 * ALBERT groups of several inner layers, and for a reduced-precision encoder. */
enum lector_status lector__enc_train_init(const struct lector_encoder *enc, int64_t n_unfreeze,
                                          enum lector_pooling pooling,
                                          struct lector__enc_train **out,
                                          struct lector_error *err);
void lector__enc_train_free(struct lector__enc_train *tr);

/* The first trainable layer (its index in the run order): the layers below it are frozen. */
int64_t lector__enc_train_first_layer(const struct lector__enc_train *tr);
int64_t lector__enc_train_n_unfreeze(const struct lector__enc_train *tr);
int64_t lector__enc_train_n_params(const struct lector__enc_train *tr);
float *lector__enc_train_params(struct lector__enc_train *tr);
const float *lector__enc_train_params_const(const struct lector__enc_train *tr);
float *lector__enc_train_grads(struct lector__enc_train *tr);
/* 1 where weight decay applies (n_params entries). */
const uint8_t *lector__enc_train_decay_mask(const struct lector__enc_train *tr);
int64_t lector__enc_train_n_tensors(const struct lector__enc_train *tr);
const struct lector__train_tensor *lector__enc_train_tensor(const struct lector__enc_train *tr,
                                                            int64_t i);
/* The tensor of this name, or NULL. */
const struct lector__train_tensor *lector__enc_train_find(const struct lector__enc_train *tr,
                                                          const char *name);
/* [offset, offset + n) of group g's parameters (struct lector__train_tensor.group). */
void lector__enc_train_group_range(const struct lector__enc_train *tr, int64_t g,
                                   int64_t *offset, int64_t *n);
void lector__enc_train_zero_grad(struct lector__enc_train *tr);

/* From x (B, T, C), the states entering the first trainable layer, through the trainable
 * layers and the pooling: pooled (B, C). drop may be NULL (no dropout). Keeps what the
 * backward needs until the next forward. NOMEM if the activations cannot be allocated. */
enum lector_status lector__enc_train_forward(struct lector__enc_train *tr, const float *x,
                                             const int32_t *mask, int64_t B, int64_t T,
                                             const struct lector__enc_dropout *drop,
                                             float *pooled, struct lector_error *err);
/* The last forward's hidden states after the top layer (B, T, C), valid until the next
 * forward. */
const float *lector__enc_train_hidden(const struct lector__enc_train *tr);
/* Add d(loss)/d(params) to the grads, from dpooled (B, C) = d(loss)/d(pooled) of the last
 * forward. */
void lector__enc_train_backward(struct lector__enc_train *tr, const float *dpooled);

#endif /* LECTOR_ENCODER_TRAIN_H */

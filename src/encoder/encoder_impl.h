/*
 * Internals of the encoder module: the one weight layout every family is mapped onto at
 * load, and the activation layout of a forward pass. Not a public API.
 *
 * Every family's checkpoint (BERT today; RoBERTa, DistilBERT, ALBERT, ELECTRA later) is
 * translated by lector_encoder_open into struct lector__layer pointers, so the forward pass
 * never branches on the family. Differences that are data, not names (the position offset
 * of RoBERTa, a missing token-type table), are fields here. Shapes are outermost first, as
 * in PyTorch; weights use nn.Linear's (out, in) layout.
 */
#ifndef LECTOR_ENCODER_IMPL_H
#define LECTOR_ENCODER_IMPL_H

#include "lector/checkpoint.h"
#include "lector/encoder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------
// weights

/* One transformer layer (post-LayerNorm, as BERT). Pointers into the checkpoint, except
 * qkv_w / qkv_b, which point into lector_encoder.packed. */
struct lector__layer {
    const float *qkv_w;      // (3C, C) rows: query, then key, then value
    const float *qkv_b;      // (3C)
    const float *attn_out_w; // (C, C)
    const float *attn_out_b; // (C)
    const float *ln1_g;      // (C) LayerNorm after attention + residual
    const float *ln1_b;      // (C)
    const float *ff_in_w;    // (F, C)
    const float *ff_in_b;    // (F)
    const float *ff_out_w;   // (C, F)
    const float *ff_out_b;   // (C)
    const float *ln2_g;      // (C) LayerNorm after FFN + residual
    const float *ln2_b;      // (C)
};

struct lector_encoder {
    struct lector_encoder_config cfg;
    struct lector_checkpoint *ck; // owns every tensor below except packed
    char *dir;
    char checksum[65];
    int64_t n_params;

    // embeddings
    const float *wte;    // (V, C) word
    const float *wpe;    // (n_pos, C) position
    const float *wtt;    // (n_type, C) token type, NULL when the family has none
    int64_t pos_offset;  // first position id (0 for BERT; RoBERTa will use pad_token_id + 1)
    const float *emb_ln_g; // (C)
    const float *emb_ln_b; // (C)

    struct lector__layer *layers; // (L)
    float *packed;                // (L, 3C, C) then (L, 3C): the packed QKV weights and biases

    const float *pooler_w; // (C, C) or NULL when the checkpoint has no pooler
    const float *pooler_b; // (C) or NULL

    void (*act)(float *x, int64_t n); // the FFN activation, chosen from cfg.act at open
};

// ----------------------------------------------------------------------------
// activations

/*
 * The scratch of one forward pass over a (B, T) batch, carved from the state's buffer.
 * The residual stream x (B, T, C) is the caller's output buffer, so it needs no room here.
 * Inference reuses this one set for every layer and lets the FFN hidden share memory with
 * qkv (they are never live together). A backward pass would need a set per layer without
 * that sharing; lector__acts_size is where such a layout would be sized.
 */
struct lector__acts {
    float *qkv;     // (B, T, 3C) the QKV projection
    float *ff;      // (B, T, F) the FFN hidden; shares memory with qkv
    float *atty;    // (B, T, C) attention output, heads side by side
    float *tmp;     // (B, T, C) a projection's output plus the residual, before LayerNorm
    float *scratch; // (lector_attention_scratch_size(T, C, H)) attention running state
};

/* Floats needed for the activations of a (B, T) batch (each region rounded up to 64
 * bytes); false if the size (in floats or in bytes) overflows. */
bool lector__acts_size(const struct lector_encoder_config *cfg, int64_t B, int64_t T,
                       size_t *n_floats);
/* Point acts into mem, which holds at least lector__acts_size floats, 64-byte aligned. */
void lector__acts_point(struct lector__acts *acts, float *mem,
                        const struct lector_encoder_config *cfg, int64_t B, int64_t T);

#endif /* LECTOR_ENCODER_IMPL_H */

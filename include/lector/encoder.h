/*
 * lector/encoder.h: a frozen BERT-family encoder loaded from a Hugging Face directory.
 *
 * Usage:
 *     struct lector_encoder *enc = NULL;
 *     struct lector_encoder_state *st = NULL;
 *     lector_encoder_open("models/bert", &enc, &err);      // config.json + weights
 *     lector_encoder_state_new(enc, &st, &err);
 *     float *h = malloc(B * T * C * sizeof *h);
 *     lector_encoder_forward(enc, st, ids, type_ids, mask, B, T, h, &err);   // (B, T, C)
 *     enum lector_pooling p = lector_encoder_default_pooling(enc);
 *     lector_encoder_pool(enc, h, mask, B, T, p, pooled, &err);              // (B, C)
 *     lector_encoder_state_free(st); lector_encoder_close(enc);
 *
 * Families (config.json model_type), each read from its own Hugging Face tensor names with
 * no conversion step and mapped onto one internal layout at open:
 *   bert         BERT and BERT-layout embedding models (MiniLM, E5, BGE, GTE base)
 *   roberta, xlm-roberta, camembert
 *                BERT layers; position ids count from pad_token_id + 1 over the tokens
 *                whose id is not pad_token_id, and padding takes position pad_token_id
 *                (Hugging Face's create_position_ids_from_input_ids)
 *   distilbert   no token types; keys dim, n_layers, n_heads, hidden_dim, activation;
 *                LayerNorm eps 1e-12; no pooler
 *   albert       embeddings of width E (embedding_size) projected to C; the layers of
 *                num_hidden_groups groups of inner_group_num layers, shared across depth;
 *                pooler named pooler.weight/bias
 *   electra      (discriminator) embeddings of width E, projected to C when E != C; no pooler
 * Tensor names may carry one prefix (bert., roberta., distilbert., albert., electra.);
 * tensors outside the encoder (classifier.*, pre_classifier.*, cls.*, lm_head.*, a pooler
 * the family does not use, position_ids, ...) are ignored and listed by
 * lector_encoder_ignored. Look-alikes that are not this architecture are refused by name:
 * model_type nomic_bert, jina_bert, modernbert, new (GTE v1.5), and any
 * position_embedding_type other than "absolute" (alibi, rope, relative_key, ...).
 *
 * Letters: B batch, T tokens, C hidden, H heads, D head size (C/H), F FFN width, V vocab,
 * L layers, E embedding width.
 *
 * Thread safety: an encoder is immutable after open (and lector_encoder_set_precision) and
 * may be shared by threads (its layers' weights are laid out for the matrix products at its
 * second forward, under a lock, which changes no output); a state
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

/* What config.json says, in lector's letters. Keys are BERT's; DistilBERT's own names are
 * given after a slash. */
struct lector_encoder_config {
    char model_type[32];  /* the family: "bert", "roberta", "xlm-roberta", "camembert",
                             "distilbert", "albert" or "electra" */
    int64_t n_vocab;      /* V  vocab_size */
    int64_t n_embd;       /* C  hidden_size / dim */
    int64_t n_layer;      /* L  num_hidden_layers / n_layers */
    int64_t n_head;       /* H  num_attention_heads / n_heads */
    int64_t n_ff;         /* F  intermediate_size / hidden_dim */
    int64_t n_pos;        /* max_position_embeddings (rows of the position table) */
    int64_t n_type;       /* type_vocab_size (0 when the family has none: DistilBERT) */
    float ln_eps;         /* layer_norm_eps (DistilBERT: 1e-12) */
    enum lector_activation act; /* hidden_act / activation */
    int32_t pad_token_id; /* pad_token_id (default 0; RoBERTa-style defaults 1) */
    int64_t n_emb;        /* E  embedding_size (ALBERT, ELECTRA); C for the other families */
    int64_t n_group;      /* ALBERT num_hidden_groups: distinct layer groups, group g serving
                             steps [g L/n_group, (g+1) L/n_group); L for the other families */
    int64_t n_group_layer; /* ALBERT inner_group_num: layers run in order at each of the L
                             steps; 1 for the other families */
    int64_t pos_first;    /* position id of the first real token: 0, or pad_token_id + 1 for
                             the RoBERTa-style families (positions then depend on the ids) */
    int64_t n_tokens_max; /* the longest row: n_pos - pos_first */
};

/* Parse a config.json file. An unknown model_type, a look-alike (nomic_bert, jina_bert,
 * modernbert, new), a position_embedding_type other than "absolute" or an unknown
 * hidden_act is LECTOR_STATUS_UNSUPPORTED naming the value; a missing or non-positive size
 * is LECTOR_STATUS_FORMAT naming the key. */
LECTOR_API enum lector_status lector_encoder_config_read(const char *path,
                                                         struct lector_encoder_config *cfg,
                                                         struct lector_error *err);

struct lector_encoder;
struct lector_encoder_state;

/* Open dir/config.json and the weights in dir (see lector/checkpoint.h), checking that every
 * tensor the family needs is present with the shape the config implies. Names may carry a
 * known prefix ("bert.", "roberta.", ...); tensors outside the encoder (classifier.*,
 * cls.*, lm_head.*, position_ids, ...) are ignored, and the pooler is optional. Every
 * problem is listed in one message, each naming the tensor, the expected and the found
 * shape: only missing tensors give LECTOR_STATUS_NOT_FOUND; any shape or dtype disagreement,
 * or an encoder tensor config.json leaves unused (a layer beyond num_hidden_layers, say),
 * LECTOR_STATUS_MISMATCH. A model_type outside the families above is
 * LECTOR_STATUS_UNSUPPORTED naming it. When dir is a sentence-transformers folder
 * (modules.json), its Pooling module sets lector_encoder_default_pooling. On failure *out is
 * NULL. The encoder keeps the checkpoint open (mapped) until lector_encoder_close. */
LECTOR_API enum lector_status lector_encoder_open(const char *dir, struct lector_encoder **out,
                                                  struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_encoder_close(struct lector_encoder *enc);

/* Arithmetic of the encoder's matrix products (QKV, output projection, FFN, embedding
 * projection, pooler). Attention, LayerNorm, softmax, GELU, residuals and every sum
 * outside the products stay fp32 whatever the precision.
 *   LECTOR_PRECISION_FP32: fp32 weights and activations (the default).
 *   LECTOR_PRECISION_BF16: weights and the products' inputs rounded to bf16 (round to
 *     nearest even), products summed in fp32 (AVX-512 BF16). Encoder outputs stay within
 *     cosine 0.999 of fp32 on the checked models (docs/performance.md, "Reduced
 *     precision").
 *   LECTOR_PRECISION_INT8: dynamic quantisation, as ONNX Runtime's dynamic int8 mode:
 *     weights int8, symmetric, one scale per output column (quantised once); each input
 *     row quantised per call to uint8 with a zero point from its min and max; integer
 *     products (AVX-512 VNNI, or AVX2), dequantised to fp32 before the bias: the same
 *     bits on either. Encoder outputs stay within cosine 0.99 per token row of fp32 on
 *     the checked models (docs/performance.md, "Reduced precision"). */
enum lector_precision {
    LECTOR_PRECISION_FP32 = 0,
    LECTOR_PRECISION_BF16 = 1,
    LECTOR_PRECISION_INT8 = 2,
};
/* "fp32", "bf16", "int8"; "?" for anything else. */
LECTOR_API const char *lector_precision_name(enum lector_precision p);
/* The precision named ("fp32", "bf16", "int8"), or -1. */
LECTOR_API int lector_precision_parse(const char *name);
/* Switch enc's products to precision p (from either one to the other, any number of
 * times). Call after open and before enc is shared between threads or used by a forward
 * on another thread: it repacks the weights (bf16: a second, half-size copy, built from
 * the fp32 one, which is kept; int8: a second, quarter-size copy, likewise; switching back
 * to fp32 frees it). LECTOR_STATUS_UNSUPPORTED, enc unchanged, when the CPU lacks what p
 * needs (bf16: AVX-512 with AVX-512 BF16, and LECTOR_KERNELS=ref or avx2 refuses it;
 * int8: AVX2 or AVX-512 VNNI, and LECTOR_KERNELS=ref refuses it);
 * LECTOR_STATUS_INVALID_ARG for an unknown p; LECTOR_STATUS_NOMEM. Outputs in bf16 and int8 are deterministic too: the same bits
 * whatever the batch and the thread count. */
LECTOR_API enum lector_status lector_encoder_set_precision(struct lector_encoder *enc,
                                                           enum lector_precision p,
                                                           struct lector_error *err);
LECTOR_API enum lector_precision lector_encoder_precision(const struct lector_encoder *enc);

LECTOR_API const struct lector_encoder_config *lector_encoder_get_config(
    const struct lector_encoder *enc);
/* Whether the checkpoint has a pooler (LECTOR_POOLING_POOLER is available). */
LECTOR_API int lector_encoder_has_pooler(const struct lector_encoder *enc);
/* SHA-256 hex (64 chars) of config.json followed by every weight file, computed at open. */
LECTOR_API const char *lector_encoder_checksum(const struct lector_encoder *enc);
/* The directory the encoder was opened from. */
LECTOR_API const char *lector_encoder_dir(const struct lector_encoder *enc);
/* A tokenizer of n_tokens entries read from the file DIR/FILE (for the message) can emit ids
 * up to n_tokens - 1: refused (LECTOR_STATUS_MISMATCH) when that is past the encoder's
 * vocab_size, at load rather than on every text. */
LECTOR_API enum lector_status lector_encoder_check_n_vocab(const struct lector_encoder *enc,
                                                           int64_t n_tokens, const char *dir,
                                                           const char *file,
                                                           struct lector_error *err);
/* Total parameter count of the tensors used (pooler included when present). */
LECTOR_API int64_t lector_encoder_n_params(const struct lector_encoder *enc);
/* C, the width of every hidden state and pooled vector. */
LECTOR_API int64_t lector_encoder_n_embd(const struct lector_encoder *enc);

/*
 * Description, for `lector info`. Every string is owned by the encoder and valid until
 * lector_encoder_close; NULL enc gives NULL (or 0).
 */
/* The family, config.json's model_type: "bert", "roberta", "xlm-roberta", "camembert",
 * "distilbert", "albert" or "electra". */
LECTOR_API const char *lector_encoder_family(const struct lector_encoder *enc);
/* The weight file format: "safetensors" (one file or shards) or "pytorch" (a torch.save
 * zip, pytorch_model.bin). */
LECTOR_API const char *lector_encoder_format(const struct lector_encoder *enc);
/* The weight files read, in order (one, or one per shard), as paths the checkpoint reader
 * opened (the directory joined with the file name); i in [0, n_files), else NULL. */
LECTOR_API int64_t lector_encoder_n_files(const struct lector_encoder *enc);
LECTOR_API const char *lector_encoder_file(const struct lector_encoder *enc, int64_t i);
/* The dtypes the encoder's tensors are stored in, by the safetensors spelling: "F32",
 * "F16", "BF16", or several joined by "+" ("F16+F32") when they differ. Computation is F32
 * whatever the stored dtype (half precision is upcast exactly at open). */
LECTOR_API const char *lector_encoder_dtype(const struct lector_encoder *enc);
/* The longest row forward accepts: max_position_embeddings, less pad_token_id + 1 for the
 * RoBERTa-style families (514 positions give 512 tokens). */
LECTOR_API int64_t lector_encoder_n_tokens_max(const struct lector_encoder *enc);
/* Tensors present in the checkpoint but not used by the encoder (heads, a pooler the family
 * does not have, position_ids, ...), by their full stored name, in checkpoint order;
 * i in [0, n_ignored). */
LECTOR_API int64_t lector_encoder_n_ignored(const struct lector_encoder *enc);
LECTOR_API const char *lector_encoder_ignored(const struct lector_encoder *enc, int64_t i);
/* The tensor-name prefix stripped ("" when none, else e.g. "roberta."). */
LECTOR_API const char *lector_encoder_prefix(const struct lector_encoder *enc);

/*
 * The pooling the model was made for. A sentence-transformers folder (modules.json naming a
 * sentence_transformers.models.Pooling module, whose config.json sets one of
 * pooling_mode_cls_token, pooling_mode_mean_tokens, pooling_mode_max_tokens) gives cls,
 * mean or max; without one (or NULL enc) the default is LECTOR_POOLING_MEAN.
 */
LECTOR_API enum lector_pooling lector_encoder_default_pooling(const struct lector_encoder *enc);
/* Whether modules.json lists a sentence_transformers.models.Normalize module (the model's
 * embeddings are meant to be L2-normalised after pooling; lector_encoder_pool does not). */
LECTOR_API int lector_encoder_default_normalize(const struct lector_encoder *enc);
/* NULL, or one line ("; "-separated) on what of the sentence-transformers folder lector
 * does not follow: a pooling mode it lacks (mean_sqrt_len_tokens, weightedmean_tokens,
 * lasttoken) or several modes at once, which fall back to mean; a module other than
 * Transformer, Pooling and Normalize (Dense, ...), which is not applied. */
LECTOR_API const char *lector_encoder_pooling_note(const struct lector_encoder *enc);

/* Per-thread scratch memory for the activations, sized from (B, T) and the config and
 * grown only when a call needs more tokens (B*T) than any before. The state must be used
 * with the encoder it was made for, and freed before that encoder is closed. */
LECTOR_API enum lector_status lector_encoder_state_new(const struct lector_encoder *enc,
                                                        struct lector_encoder_state **out,
                                                        struct lector_error *err);
LECTOR_API void lector_encoder_state_free(struct lector_encoder_state *st);

/*
 * Run the encoder.
 *   ids:      (B, T) token ids, each in [0, V)
 *   type_ids: (B, T) token type ids in [0, n_type), or NULL for all zeros
 *   mask:     (B, T) 1 = real token, 0 = padding; NULL = all real
 *   hidden:   (B, T, C) output, last_hidden_state (padded positions included)
 * T must be at most lector_encoder_n_tokens_max (else LECTOR_STATUS_RANGE). A padded row
 * gives the same values at its real positions as the same row alone: padding only masks
 * keys (for the RoBERTa-style families, padding must use pad_token_id, as their position
 * ids count the ids that are not pad_token_id). An id outside [0, V),
 * a type id outside [0, n_type) or a mask value other than 0/1 is LECTOR_STATUS_RANGE naming
 * the row and position (also err->index = row x T + position); nothing is computed
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

/* Threads used by the matrix products and attention (ours, and OpenBLAS's where it is used);
 * set once, before any forward. <= 0 = all. Results do not depend on it. */
LECTOR_API void lector_set_n_threads(int n_threads);

/* lector_encoder_open checks an encoder by the SHA-256 of config.json and its weight files
 * (lector_encoder_checksum). The digest is cached per set of files in
 * $XDG_CACHE_HOME/lector/checksums (else $HOME/.cache/lector/checksums), keyed by each
 * file's device, inode, size, modification and status-change times, so an unchanged encoder
 * is not read again; docs/formats.md says what the cache trusts. With verify nonzero (or
 * LECTOR_VERIFY_CHECKSUM=1 in the environment) every open hashes the files in full and
 * rewrites the entry. Set before opening encoders; not thread-safe against a concurrent open. */
LECTOR_API void lector_set_verify_checksum(int verify);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_ENCODER_H */

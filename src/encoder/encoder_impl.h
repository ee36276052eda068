/*
 * Internals of the encoder module: the one weight layout every family is mapped onto at
 * load, and the activation layout of a forward pass. Not a public API.
 *
 * Every family's checkpoint (BERT, RoBERTa, XLM-R, CamemBERT, DistilBERT, ALBERT, ELECTRA)
 * is translated at open (families.c) into struct lector__layer pointers, so the layers of
 * the forward pass never branch on the family. Differences that are data, not names, are
 * fields here: RoBERTa's position ids, a missing token-type table, an embedding width E
 * projected to C, layers shared across depth (ALBERT: several entries of layers[] point at
 * the same weights). Shapes are outermost first, as in PyTorch; weights use nn.Linear's
 * (out, in) layout.
 */
#ifndef LECTOR_ENCODER_IMPL_H
#define LECTOR_ENCODER_IMPL_H

#include "lector/checkpoint.h"
#include "lector/encoder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/kernels.h"

// ----------------------------------------------------------------------------
// weights

/* One transformer layer (post-LayerNorm, as BERT). Pointers into the checkpoint, except
 * qkv_w / qkv_b and the *_wp, which point into lector_encoder.packed.
 *
 * Where the kernels have a packed sgemm (AVX-512, AVX2), every matrix is packed once at open
 * into its panel layout (*_wp) and the forward reads only those; qkv_w is then NULL and the
 * checkpoint's matrices are released as soon as they are packed (their mapped pages
 * dropped). Elsewhere (LECTOR_KERNELS=ref) the *_wp are NULL and the plain matrices go to
 * lector_matmul.
 *
 * Packed lazily (pack.c, where the kernels have lector_matmul_rows and every layer runs
 * once per forward): at open the layers' panels are only laid out, the *_wp are NULL, the
 * plain matrices stay set (QKV as the checkpoint's three, qkv_rows) and the first forward
 * runs its products on them with lector_matmul_rows, the same bits as from the panels, when
 * it is small; the panels are filled (and the checkpoint's matrices released) at the next
 * forward, or a large first one, or when something else needs them (a precision,
 * fine-tuning). The checkpoint is opened in place (lector__checkpoint_open_in_place): its
 * F32 tensors point into the file mapping, aligned for a float but not necessarily to 64
 * bytes, so the forward reads the vectors (biases, LayerNorm, embeddings) with unaligned
 * loads and the model is not copied before it is packed. */
struct lector__layer {
    const float *qkv_w;      // (3C, C) rows: query, then key, then value; NULL when packed
                             // or not yet packed
    const float *qkv_rows[3]; // not yet packed: the checkpoint's (C, C) query, key and value
                              // matrices; else NULL
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
    const float *qkv_wp;      // lector_matmul_packed_size(C, 3C) floats, or NULL
    const float *attn_out_wp; // lector_matmul_packed_size(C, C) floats, or NULL
    const float *ff_in_wp;    // lector_matmul_packed_size(C, F) floats, or NULL
    const float *ff_out_wp;   // lector_matmul_packed_size(F, C) floats, or NULL
    // reduced-precision panels (bf16: lector_matmul_bf16_packed_size uint16; int8:
    // lector_matmul_int8_packed_size bytes), into lector_encoder.packed_lowp; NULL unless
    // the precision is bf16 or int8, and then the forward reads these instead of the *_wp
    const void *qkv_wl, *attn_out_wl, *ff_in_wl, *ff_out_wl;
};

/* A layer's Q, K and V as the checkpoint stores them, before packing. */
struct lector__raw_qkv {
    const float *q_w, *k_w, *v_w; // (C, C) each
    const float *q_b, *k_b, *v_b; // (C) each
};

struct lector_encoder {
    struct lector_encoder_config cfg;
    struct lector_checkpoint *ck; // owns every tensor below except packed
    char *dir;
    char checksum[65];
    int64_t n_params;

    // description (lector info)
    const char *prefix;        // static: "" or the stripped prefix ("roberta.")
    const char *format;        // static: "safetensors" or "pytorch"
    char dtype[48];            // stored dtypes of the used tensors, "F32" or "F16+F32"
    const char **ignored;      // (n_ignored) names owned by ck
    int64_t n_ignored;
    enum lector_pooling pooling_default;
    bool normalize_default;
    char *pooling_note;        // NULL or one sentence

    // embeddings
    const float *wte;        // (V, E) word
    const float *wpe;        // (n_pos, E) position
    const float *wtt;        // (n_type, E) token type, NULL when the family has none
    const float *emb_ln_g;   // (E)
    const float *emb_ln_b;   // (E)
    const float *emb_proj_w; // (C, E) ALBERT's embedding_hidden_mapping_in, ELECTRA's
                             // embeddings_project; NULL when the embeddings are C wide
    const float *emb_proj_b; // (C) or NULL
    int32_t pos_pad;         // -1: token t has position t; else RoBERTa's padding_idx:
                             // position pad + (number of non-pad ids up to t), pad for pad ids

    // A backward pass would keep one gradient per distinct layer (uniq) and let every run
    // of a shared layer add into it; step i, inner layer j runs
    // uniq[(i / (L / n_group)) * n_group_layer + j].
    struct lector__layer *uniq;   // (n_group * n_group_layer) the distinct layers
    struct lector__layer *layers; // (n_layer_run) in the order they run; copies of uniq
    int64_t n_layer_run;          // L * n_group_layer
    float *packed;                // QKV biases (n_uniq, 3C), then either the QKV matrices
                                  // (n_uniq, 3C, C) or every packed matrix (64-byte aligned)
    size_t n_packed;              // floats at packed

    const float *pooler_w; // (C, C) or NULL when the checkpoint has no pooler
    const float *pooler_b; // (C) or NULL
    const float *emb_proj_wp; // packed emb_proj_w, or NULL
    const float *pooler_wp;   // packed pooler_w, or NULL
    const void *emb_proj_wl, *pooler_wl; // reduced-precision panels, or NULL

    struct lector__lazy_pack *lazy; // layers not yet packed (pack.c), or NULL

    enum lector_precision precision; // LECTOR_PRECISION_FP32 unless set
    void *packed_lowp;               // every bf16 or int8 panel (64-byte aligned), or NULL

    enum lector__act act; // the FFN activation, chosen from cfg.act at open

    // Layers a fine-tuned model puts in place of the checkpoint's (substitute.c): their
    // weights replace uniq's in layers[] (order_layers), the pooler's replace pooler_*.
    struct lector__layer *sub_layers; // (n_layer_run) qkv_b NULL where not substituted
    float *sub_mem;                   // plain copies (what a model file stores)
    float *sub_packed;                // their packed panels, or NULL
    struct lector_tensor *sub_tensors; // (n_sub_tensors) views of sub_mem, model-file names
    char *sub_names;
    int64_t n_sub_tensors;
    char sub_id[65];                  // SHA-256 of the substituted tensors; "" without
};

/* Distinct layers stored: n_group * n_group_layer (L for every family but ALBERT). */
static inline int64_t lector__n_uniq(const struct lector_encoder_config *cfg) {
    return cfg->n_group * cfg->n_group_layer;
}

/* Every packed matrix and activation region starts on a 64-byte boundary (16 floats). */
#define LECTOR__ALIGN_FLOATS 16

/* The next n floats of *mem, which then moves past them to the next 64-byte boundary. */
static inline float *lector__take_floats(float **mem, size_t n) {
    float *p = *mem;
    *mem += (n + LECTOR__ALIGN_FLOATS - 1) / LECTOR__ALIGN_FLOATS * LECTOR__ALIGN_FLOATS;
    return p;
}

/* Room for n floats at the next 64-byte boundary: *total grows by n rounded up; false when
 * that overflows. */
static inline bool lector__add_floats(size_t *total, size_t n) {
    size_t padded;
    if (!lector__add_size(n, LECTOR__ALIGN_FLOATS - 1, &padded)) return false;
    padded -= padded % LECTOR__ALIGN_FLOATS;
    return lector__add_size(*total, padded, total);
}

/* Whether the embeddings are E wide and projected to C: ALBERT always, ELECTRA when E != C. */
static inline bool lector__has_emb_proj(const struct lector_encoder_config *cfg) {
    return cfg->n_emb != cfg->n_embd || strcmp(cfg->model_type, "albert") == 0;
}

/*
 * Map the checkpoint's tensors (enc->ck) onto enc's layout by the family in enc->cfg:
 * embeddings, enc->uniq (allocated by the caller), raw (n_uniq, the unpacked Q/K/V), the
 * pooler, prefix, n_params, ignored and dtype. Every missing or misshapen tensor is listed
 * in one message (NOT_FOUND when all are missing, else MISMATCH).
 */
enum lector_status lector__encoder_map(struct lector_encoder *enc, struct lector__raw_qkv *raw,
                                       struct lector_error *err);

/* Lay out every distinct layer's weights for the forward pass in enc->packed (pack.c): the
 * QKV biases side by side, and the sgemm panels of each matrix where the kernels have a
 * packed path (the checkpoint's matrices are then released), else one (3C, C) QKV copy. */
enum lector_status lector__encoder_pack_weights(struct lector_encoder *enc,
                                                const struct lector__raw_qkv *raw,
                                                struct lector_error *err);

/* Lazy packing (pack.c). A forward of n_rows rows (B T) brackets its reads of enc->layers
 * with acquire and release: the first forward after open, when it has few rows (a text or
 * a few), runs on the plain matrices (acquire returns true: the layers are held, so no
 * other thread packs them meanwhile); any later one, or a first one of many rows, first
 * packs every layer (waiting for a first forward still running) and returns false. Without
 * lazy packing, or once packed, acquire returns false at the cost of one atomic load. */
bool lector__encoder_weights_acquire(const struct lector_encoder *enc, int64_t n_rows);
void lector__encoder_weights_release(const struct lector_encoder *enc, bool held);
/* Pack every layer now if it is not yet (for the reduced precisions and fine-tuning, which
 * read the fp32 panels). Safe to call from several threads; the encoder stays logically
 * const (the same outputs before and after). */
void lector__encoder_pack_layers(const struct lector_encoder *enc);
void lector__encoder_lazy_free(struct lector_encoder *enc);

/* Read dir/modules.json (sentence-transformers), if present, into enc's pooling_default,
 * normalize_default and pooling_note. A missing modules.json is fine (mean); a malformed
 * one is LECTOR_STATUS_FORMAT naming the file. */
enum lector_status lector__encoder_read_modules(struct lector_encoder *enc, const char *dir,
                                               struct lector_error *err);

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
    float *emb;     // (B, T, E) the embeddings before their projection to C (NULL without)
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

// ----------------------------------------------------------------------------
// forward through the first layers only

/* lector_encoder_forward stopped after the first n_run of the n_layer_run layers (0: the
 * embeddings only): hidden (B, T, C) gets the states entering layer n_run, the boundary a
 * fine-tuning run starts its trainable layers from. */
enum lector_status lector__encoder_forward_layers(const struct lector_encoder *enc,
                                                  struct lector_encoder_state *st,
                                                  const int32_t *ids, const int32_t *type_ids,
                                                  const int32_t *mask, int64_t B, int64_t T,
                                                  int64_t n_run, float *hidden,
                                                  struct lector_error *err);

// ----------------------------------------------------------------------------
// substituted layers (fine-tuned models)

/* layers[] from uniq[] in run order, then the substituted layers over them. */
void lector__encoder_order_layers(struct lector_encoder *enc);

/*
 * Put the tensors t[0..n) in place of the checkpoint's: named as BERT names them without
 * prefix, whatever the family, encoder.layer.<i>.* (all 16 tensors of layer i, i its index
 * in the run order, so each depth of ALBERT's shared layer is its own) and pooler.dense.*
 * (both). The encoder copies them (packed like its own weights where the kernels pack), so
 * the caller may free t. Once per encoder, at fp32 precision (reduced-precision panels are
 * built from the checkpoint's weights). FORMAT for an unknown name, a tensor given twice or
 * a layer given in part; MISMATCH for a shape or dtype other than the encoder's, or a
 * pooler the encoder does not have. The checksum stays the base encoder's;
 * lector__encoder_substitution_id tells the variant apart (feature caches key on both).
 */
enum lector_status lector__encoder_substitute(struct lector_encoder *enc,
                                              const struct lector_tensor *t, int64_t n,
                                              struct lector_error *err);
void lector__encoder_substitute_free(struct lector_encoder *enc);
int64_t lector__encoder_n_substituted(const struct lector_encoder *enc); /* tensors */
/* The i-th substituted tensor (plain, row-major F32), layers from the lowest, then the
 * pooler; NULL out of range. */
const struct lector_tensor *lector__encoder_substituted(const struct lector_encoder *enc,
                                                        int64_t i);
/* The SHA-256 (hex) of the substituted tensors' names and values, or NULL without. */
const char *lector__encoder_substitution_id(const struct lector_encoder *enc);
bool lector__encoder_layer_substituted(const struct lector_encoder *enc, int64_t i);

#endif /* LECTOR_ENCODER_IMPL_H */

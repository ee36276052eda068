// Layers of a fine-tuned model put in place of the checkpoint's (lector__encoder_substitute):
// the encoder keeps a plain copy of each substituted tensor (what a model file stores) and,
// where the kernels have a packed path, packs the matrices as it packs its own.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/kernels.h"

#define ALIGN_FLOATS 16

// One layer's tensors in the order they are copied: QKV weight (3C, C) as three (C, C)
// pieces, QKV bias as three (C), then the rest.
enum { S_Q_W, S_K_W, S_V_W, S_Q_B, S_K_B, S_V_B, S_AO_W, S_AO_B, S_LN1_G, S_LN1_B, S_FI_W,
       S_FI_B, S_FO_W, S_FO_B, S_LN2_G, S_LN2_B, S_COUNT };

static const struct {
    const char *suffix;
    char rows, cols; // 'C' or 'F'; cols 0: a vector
} slots[S_COUNT] = {
    {"attention.self.query.weight", 'C', 'C'}, {"attention.self.key.weight", 'C', 'C'},
    {"attention.self.value.weight", 'C', 'C'}, {"attention.self.query.bias", 'C', 0},
    {"attention.self.key.bias", 'C', 0},       {"attention.self.value.bias", 'C', 0},
    {"attention.output.dense.weight", 'C', 'C'}, {"attention.output.dense.bias", 'C', 0},
    {"attention.output.LayerNorm.weight", 'C', 0}, {"attention.output.LayerNorm.bias", 'C', 0},
    {"intermediate.dense.weight", 'F', 'C'},   {"intermediate.dense.bias", 'F', 0},
    {"output.dense.weight", 'C', 'F'},         {"output.dense.bias", 'C', 0},
    {"output.LayerNorm.weight", 'C', 0},       {"output.LayerNorm.bias", 'C', 0},
};

static int64_t dim_of(char d, int64_t C, int64_t F) { return d == 'F' ? F : d == 'C' ? C : 0; }

static int64_t slot_numel(int k, int64_t C, int64_t F) {
    int64_t cols = dim_of(slots[k].cols, C, F);
    return dim_of(slots[k].rows, C, F) * (cols ? cols : 1);
}

// Which tensor a name is: layer *layer's slot *slot, or the pooler (*layer = -1, slot 0 the
// weight, 1 the bias). false for any other name.
static bool parse_name(const char *name, int64_t n_layers, int64_t *layer, int *slot) {
    if (!strcmp(name, "pooler.dense.weight") || !strcmp(name, "pooler.dense.bias")) {
        *layer = -1;
        *slot = name[13] == 'b';
        return true;
    }
    const char *p = "encoder.layer.";
    if (strncmp(name, p, strlen(p)) != 0) return false;
    const char *q = name + strlen(p);
    if (*q < '0' || *q > '9' || (*q == '0' && q[1] != '.')) return false;
    char *end;
    long long i = strtoll(q, &end, 10);
    if (*end != '.' || i < 0 || i >= n_layers) return false;
    for (int k = 0; k < S_COUNT; k++)
        if (!strcmp(end + 1, slots[k].suffix)) {
            *layer = i;
            *slot = k;
            return true;
        }
    return false;
}

void lector__encoder_substitute_free(struct lector_encoder *enc) {
    lector__aligned_free(enc->sub_mem);
    lector__aligned_free(enc->sub_packed);
    lector_free(enc->sub_layers);
    lector_free(enc->sub_tensors);
    lector_free(enc->sub_names);
    enc->sub_mem = enc->sub_packed = NULL;
    enc->sub_layers = NULL;
    enc->sub_tensors = NULL;
    enc->sub_names = NULL;
    enc->n_sub_tensors = 0;
    enc->sub_id[0] = '\0';
}

// at[l * S_COUNT + k] <- the tensor of t (n) for slot k of layer l (l = L: the pooler's
// weight and bias), each checked against this encoder's names and shapes, then every layer
// checked to be given whole or not at all; *n_layers <- the layers given (the pooler aside).
static enum lector_status index_tensors(const struct lector_encoder *enc,
                                        const struct lector_tensor *t, int64_t n,
                                        const struct lector_tensor **at, int64_t *n_layers,
                                        struct lector_error *err) {
    const int64_t L = enc->n_layer_run, C = enc->cfg.n_embd, F = enc->cfg.n_ff;
    enum lector_status s = LECTOR_STATUS_OK;
    for (int64_t i = 0; i < n && s == LECTOR_STATUS_OK; i++) {
        int64_t layer;
        int slot;
        if (!t[i].name || !parse_name(t[i].name, L, &layer, &slot)) {
            s = lector__error(err, LECTOR_STATUS_FORMAT,
                              "tensor '%s' is not a layer of this encoder (encoder.layer.<i>.* "
                              "with i below %lld, or pooler.dense.*)",
                              t[i].name ? t[i].name : "", (long long)L);
            break;
        }
        int64_t rows = layer >= 0 ? dim_of(slots[slot].rows, C, F) : C;
        int64_t cols = layer >= 0 ? dim_of(slots[slot].cols, C, F) : slot == 0 ? C : 0;
        const struct lector_tensor **p = &at[(layer >= 0 ? layer : L) * S_COUNT + slot];
        if (*p)
            s = lector__error(err, LECTOR_STATUS_FORMAT, "tensor '%s' is given twice", t[i].name);
        else if (t[i].dtype != LECTOR_DTYPE_F32 || t[i].n_dims != (cols ? 2 : 1) ||
                 t[i].shape[0] != rows || (cols && t[i].shape[1] != cols) || !t[i].data) {
            char shape[64];
            if (cols) snprintf(shape, sizeof shape, "%lld, %lld", (long long)rows, (long long)cols);
            else snprintf(shape, sizeof shape, "%lld", (long long)rows);
            s = lector__error(err, LECTOR_STATUS_MISMATCH,
                              "tensor '%s' must be F32 of shape [%s], as this encoder's layers are",
                              t[i].name, shape);
        }
        else if (layer < 0 && !enc->pooler_w)
            s = lector__error(err, LECTOR_STATUS_MISMATCH,
                              "tensor '%s': the encoder %s has no pooler", t[i].name, enc->dir);
        *p = *p ? *p : &t[i];
    }
    // every tensor of a layer, or none
    *n_layers = 0;
    for (int64_t l = 0; l <= L && s == LECTOR_STATUS_OK; l++) {
        int n_slots = l < L ? S_COUNT : 2, given = 0;
        for (int k = 0; k < n_slots; k++) given += at[l * S_COUNT + k] != NULL;
        for (int k = 0; given && given < n_slots && s == LECTOR_STATUS_OK; k++)
            if (!at[l * S_COUNT + k]) {
                char name[128];
                if (l < L) snprintf(name, sizeof name, "encoder.layer.%lld.%s", (long long)l, slots[k].suffix);
                else snprintf(name, sizeof name, "pooler.dense.%s", k ? "bias" : "weight");
                s = lector__error(err, LECTOR_STATUS_FORMAT, "tensor '%s' is missing", name);
            }
        *n_layers += l < L && given > 0;
    }
    return s;
}

// The n_slots tensors src copied one after another to *mem (advanced past them), each with
// a view in enc's tensor list (named as the model file names them, *n_t advanced) and its
// name and data hashed into h.
static void copy_tensors(struct lector_encoder *enc, const struct lector_tensor *const *src,
                         int n_slots, float **mem, int64_t *n_t, struct lector__sha256 *h) {
    for (int k = 0; k < n_slots; k++) {
        const int64_t numel = lector_tensor_numel(src[k]);
        memcpy(*mem, src[k]->data, (size_t)numel * sizeof **mem);
        char *name = enc->sub_names + *n_t * 96;
        snprintf(name, 96, "%s", src[k]->name);
        struct lector_tensor *v = &enc->sub_tensors[(*n_t)++];
        *v = *src[k];
        v->data = *mem;
        v->name = name;
        lector__sha256_update(h, name, strlen(name) + 1);
        lector__sha256_update(h, *mem, (size_t)numel * sizeof **mem);
        *mem += numel;
    }
}

// w <- the views of a tuned layer whose tensors lie one after another at base, its QKV
// biases copied side by side to qb (3C); with packed, its four products' weights packed at
// *pk (advanced past them, per_layer[k] floats each, aligned), which the forward then reads.
static void set_layer(struct lector__layer *w, float *base, float *qb, bool packed, float **pk,
                      const size_t per_layer[4], int64_t C, int64_t F) {
    float *p[S_COUNT];
    for (int k = 0, off = 0; k < S_COUNT; off += (int)slot_numel(k, C, F), k++) p[k] = base + off;
    memcpy(qb, p[S_Q_B], (size_t)C * sizeof *qb);
    memcpy(qb + C, p[S_K_B], (size_t)C * sizeof *qb);
    memcpy(qb + 2 * C, p[S_V_B], (size_t)C * sizeof *qb);
    *w = (struct lector__layer){.qkv_w = p[S_Q_W], // Q, K and V are contiguous: (3C, C)
                                .qkv_b = qb,
                                .attn_out_w = p[S_AO_W],
                                .attn_out_b = p[S_AO_B],
                                .ln1_g = p[S_LN1_G],
                                .ln1_b = p[S_LN1_B],
                                .ff_in_w = p[S_FI_W],
                                .ff_in_b = p[S_FI_B],
                                .ff_out_w = p[S_FO_W],
                                .ff_out_b = p[S_FO_B],
                                .ln2_g = p[S_LN2_G],
                                .ln2_b = p[S_LN2_B]};
    if (!packed) return;
    const float **wp[4] = {&w->qkv_wp, &w->attn_out_wp, &w->ff_in_wp, &w->ff_out_wp};
    const float *src[4] = {p[S_Q_W], p[S_AO_W], p[S_FI_W], p[S_FO_W]};
    const int64_t IC[4] = {C, C, C, F}, OC[4] = {3 * C, C, F, C};
    for (int k = 0; k < 4; k++) {
        lector_matmul_pack_rows(*pk, src[k], IC[k], OC[k], 0, OC[k]);
        *wp[k] = *pk;
        *pk += (per_layer[k] + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }
    w->qkv_w = w->attn_out_w = w->ff_in_w = w->ff_out_w = NULL; // the forward reads the panels
}

enum lector_status lector__encoder_substitute(struct lector_encoder *enc,
                                              const struct lector_tensor *t, int64_t n,
                                              struct lector_error *err) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    const int64_t L = enc->n_layer_run, C = cfg->n_embd, F = cfg->n_ff;
    if (enc->sub_layers || enc->sub_id[0])
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: the encoder's layers are already substituted", enc->dir);
    if (enc->precision != LECTOR_PRECISION_FP32)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: tuned layers run at fp32 precision only", enc->dir);
    if (n <= 0) return LECTOR_STATUS_OK;
    // which tensors are given, checked one by one
    const struct lector_tensor **at = lector__calloc((size_t)(L + 1) * S_COUNT, sizeof *at);
    if (!at) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    int64_t n_layers = 0;
    enum lector_status s = index_tensors(enc, t, n, at, &n_layers, err);
    if (s != LECTOR_STATUS_OK) {
        lector_free(at);
        return s;
    }
    const bool pooler = at[L * S_COUNT] != NULL;
    int64_t layer_size = 0;
    for (int k = 0; k < S_COUNT; k++) layer_size += slot_numel(k, C, F);
    const int64_t n_floats = n_layers * layer_size + (pooler ? C * C + C : 0);
    const size_t s_qkv = lector_matmul_packed_size(C, 3 * C);
    const bool packed = s_qkv > 0;
    size_t per_layer[4] = {s_qkv, lector_matmul_packed_size(C, C), lector_matmul_packed_size(C, F),
                           lector_matmul_packed_size(F, C)};
    size_t n_packed = 0;
    for (int k = 0; packed && k < 4; k++)
        n_packed += (size_t)n_layers * ((per_layer[k] + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS);
    if (packed && pooler) n_packed += per_layer[1];
    enc->sub_mem = lector__aligned_alloc((size_t)(n_floats + 3 * C * n_layers) * sizeof(float));
    enc->sub_packed = packed ? lector__aligned_alloc((n_packed ? n_packed : 1) * sizeof(float)) : NULL;
    enc->sub_layers = lector__calloc((size_t)L, sizeof *enc->sub_layers);
    enc->sub_tensors = lector__calloc((size_t)n, sizeof *enc->sub_tensors);
    enc->sub_names = lector__calloc((size_t)n, 96);
    if (!enc->sub_mem || (packed && !enc->sub_packed) || !enc->sub_layers || !enc->sub_tensors ||
        !enc->sub_names) {
        lector_free(at);
        lector__encoder_substitute_free(enc);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for the tuned layers");
    }
    if (packed) memset(enc->sub_packed, 0, n_packed * sizeof(float));
    struct lector__sha256 h;
    s = lector__sha256_init(&h);
    if (s != LECTOR_STATUS_OK) {
        lector_free(at);
        lector__encoder_substitute_free(enc);
        return lector__error(err, s, "cannot hash the tuned layers");
    }
    // plain copies, layer by layer from the lowest, then the pooler; the tensor views in
    // the same order, named as the model file names them
    float *mem = enc->sub_mem, *pk = enc->sub_packed;
    float *qkv_b_mem = enc->sub_mem + n_floats; // (n_layers, 3C) the QKV biases side by side
    int64_t j = 0, n_t = 0;
    for (int64_t l = 0; l <= L; l++) {
        if (!at[l * S_COUNT]) continue;
        float *base = mem;
        copy_tensors(enc, at + l * S_COUNT, l < L ? S_COUNT : 2, &mem, &n_t, &h);
        if (l == L) {
            enc->pooler_w = base;
            enc->pooler_b = base + C * C;
            if (packed) {
                lector_matmul_pack_rows(pk, base, C, C, 0, C);
                enc->pooler_wp = pk;
            }
            continue;
        }
        set_layer(&enc->sub_layers[l], base, qkv_b_mem + j * 3 * C, packed, &pk, per_layer, C, F);
        j++;
    }
    enc->n_sub_tensors = n_t;
    lector_free(at);
    uint8_t digest[32];
    s = lector__sha256_final(&h, digest);
    if (s != LECTOR_STATUS_OK) {
        lector__encoder_substitute_free(enc);
        return lector__error(err, s, "cannot hash the tuned layers");
    }
    lector__sha256_hex(digest, enc->sub_id);
    lector__encoder_order_layers(enc);
    return LECTOR_STATUS_OK;
}

int64_t lector__encoder_n_substituted(const struct lector_encoder *enc) {
    return enc ? enc->n_sub_tensors : 0;
}

const struct lector_tensor *lector__encoder_substituted(const struct lector_encoder *enc, int64_t i) {
    return enc && i >= 0 && i < enc->n_sub_tensors ? &enc->sub_tensors[i] : NULL;
}

const char *lector__encoder_substitution_id(const struct lector_encoder *enc) {
    return enc && enc->sub_id[0] ? enc->sub_id : NULL;
}

bool lector__encoder_layer_substituted(const struct lector_encoder *enc, int64_t i) {
    return enc && enc->sub_layers && i >= 0 && i < enc->n_layer_run &&
           (enc->sub_layers[i].qkv_b != NULL);
}

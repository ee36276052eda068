// Training the top layers of an encoder: a trainable copy of their weights, a forward that
// keeps what the backward needs, and the backward into parameter gradients.
#include "encoder/encoder_train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"

#define ALIGN_FLOATS 16

// ----------------------------------------------------------------------------
// parameters

// One layer's tensors, as offsets into its block of the parameter array.
enum {
    P_QKV_W, P_QKV_B, P_AO_W, P_AO_B, P_LN1_G, P_LN1_B, P_FI_W, P_FI_B, P_FO_W, P_FO_B,
    P_LN2_G, P_LN2_B, P_COUNT
};

struct layer_view {
    float *t[P_COUNT];
};

struct lector__enc_train {
    const struct lector_encoder *enc;
    int64_t L0, n_unf, C, F, H;
    enum lector_pooling pooling;
    enum lector__act act;
    float eps;
    int64_t n_params, layer_size;
    float *params, *grads; // (n_params) each, 64-byte aligned
    uint8_t *decay;        // (n_params)
    struct lector__train_tensor *tensors;
    int64_t n_tensors;
    float *pooler_w, *pooler_b, *dpooler_w, *dpooler_b; // (C, C), (C) or NULL

    // activations of the last forward, for (B, T)
    float *mem;
    size_t n_mem;
    int64_t B, T;
    const int32_t *mask;
    struct lector__enc_dropout drop;
    float **h; // (n_unf + 1) each (N, C): h[0] the input copy, h[l + 1] layer l's output
    float **qkv, **atty, **lse, **y1, **mean1, **rstd1, **h1, **ffpre, **ffact, **y2,
        **mean2, **rstd2; // per layer
    float *pooled, *h0; // (B, C) each
    // backward scratch
    float *dh, *dx, *dy, *dqkv, *datty, *dff, *dffact, *dproj, *dpool_scratch;
};

static struct layer_view layer_of(float *base, int64_t C, int64_t F) {
    struct layer_view v;
    int64_t sizes[P_COUNT] = {3 * C * C, 3 * C, C * C, C, C, C, F * C, F, C * F, C, C, C};
    float *p = base;
    for (int i = 0; i < P_COUNT; i++) {
        v.t[i] = p;
        p += sizes[i];
    }
    return v;
}

// weight[o][k] from the packed panels of our sgemms (kernels/gemm_panels.c: panel p is
// (IC, nr), element [k][j] = weight[nr p + j][k]), for encoders whose plain matrices were
// released after packing. The panel width nr is the packed size of a 1 x 1 weight.
static void unpack_panels(float *dst, const float *packed, int64_t IC, int64_t OC) {
    int64_t nr = (int64_t)lector_matmul_packed_size(1, 1);
    LECTOR_ASSERT(nr > 0);
    for (int64_t o = 0; o < OC; o++)
        for (int64_t k = 0; k < IC; k++)
            dst[o * IC + k] = packed[(o / nr) * IC * nr + k * nr + o % nr];
}

static void copy_matrix(float *dst, const float *plain, const float *packed, int64_t IC,
                        int64_t OC) {
    if (plain) memcpy(dst, plain, (size_t)(IC * OC) * sizeof *dst);
    else unpack_panels(dst, packed, IC, OC);
}

static void add_tensor(struct lector__enc_train *tr, const char *name, int64_t offset,
                       int64_t rows, int64_t cols, int64_t group) {
    struct lector__train_tensor *t = &tr->tensors[tr->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = offset;
    t->numel = rows * (cols > 0 ? cols : 1);
    t->n_dims = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 0;
    t->decay = cols > 0;
    t->group = group;
    memset(tr->decay + offset, t->decay, (size_t)t->numel);
}

// The BERT names of layer i's tensors, in the checkpoint's order.
static void name_layer(struct lector__enc_train *tr, int64_t j, int64_t i) {
    int64_t C = tr->C, F = tr->F, base = j * tr->layer_size;
    struct layer_view v = layer_of(tr->params + base, C, F);
    int64_t off[P_COUNT];
    for (int k = 0; k < P_COUNT; k++) off[k] = (int64_t)(v.t[k] - tr->params);
    static const char *qkv[3] = {"query", "key", "value"};
    char name[96];
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "encoder.layer.%lld.attention.self.%s.weight", (long long)i, qkv[k]);
        add_tensor(tr, name, off[P_QKV_W] + k * C * C, C, C, j);
        snprintf(name, sizeof name, "encoder.layer.%lld.attention.self.%s.bias", (long long)i, qkv[k]);
        add_tensor(tr, name, off[P_QKV_B] + k * C, C, 0, j);
    }
    static const struct {
        const char *suffix;
        int idx;
        int rows_f, cols; // rows F instead of C; cols: 0 none, 1 C, 2 F
    } rest[] = {{"attention.output.dense.weight", P_AO_W, 0, 1},
                {"attention.output.dense.bias", P_AO_B, 0, 0},
                {"attention.output.LayerNorm.weight", P_LN1_G, 0, 0},
                {"attention.output.LayerNorm.bias", P_LN1_B, 0, 0},
                {"intermediate.dense.weight", P_FI_W, 1, 1},
                {"intermediate.dense.bias", P_FI_B, 1, 0},
                {"output.dense.weight", P_FO_W, 0, 2},
                {"output.dense.bias", P_FO_B, 0, 0},
                {"output.LayerNorm.weight", P_LN2_G, 0, 0},
                {"output.LayerNorm.bias", P_LN2_B, 0, 0}};
    for (size_t k = 0; k < sizeof rest / sizeof rest[0]; k++) {
        snprintf(name, sizeof name, "encoder.layer.%lld.%s", (long long)i, rest[k].suffix);
        int64_t cols = rest[k].cols == 0 ? 0 : rest[k].cols == 1 ? C : F;
        add_tensor(tr, name, off[rest[k].idx], rest[k].rows_f ? F : C, cols, j);
    }
}

enum lector_status lector__enc_train_init(const struct lector_encoder *enc, int64_t n_unfreeze,
                                          enum lector_pooling pooling,
                                          struct lector__enc_train **out,
                                          struct lector_error *err) {
    if (out) *out = NULL;
    if (!enc || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__enc_train_init: enc and out must not be NULL");
    const struct lector_encoder_config *cfg = &enc->cfg;
    if (cfg->n_group_layer != 1)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: fine-tuning needs one layer per ALBERT layer group "
                             "(inner_group_num is %lld): an untied copy of a group of several "
                             "layers is not implemented",
                             enc->dir, (long long)cfg->n_group_layer);
    if (n_unfreeze < 0 || n_unfreeze > enc->n_layer_run)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "cannot unfreeze %lld layers: the encoder has %lld",
                             (long long)n_unfreeze, (long long)enc->n_layer_run);
    if (pooling == LECTOR_POOLING_NONE || (int)pooling < 0 || pooling > LECTOR_POOLING_NONE)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "fine-tuning needs a pooling (cls, mean, max or pooler)");
    bool with_pooler = pooling == LECTOR_POOLING_POOLER;
    if (with_pooler && !enc->pooler_w)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: pooling 'pooler' needs the checkpoint's pooler, which this %s "
                             "checkpoint does not have (use cls, mean or max)",
                             enc->dir, cfg->model_type);
    int64_t C = cfg->n_embd, F = cfg->n_ff;
    struct lector__enc_train *tr = lector__calloc(1, sizeof *tr);
    if (!tr) goto nomem;
    tr->enc = enc;
    tr->n_unf = n_unfreeze;
    tr->L0 = enc->n_layer_run - n_unfreeze;
    tr->C = C;
    tr->F = F;
    tr->H = cfg->n_head;
    tr->pooling = pooling;
    tr->act = enc->act;
    tr->eps = cfg->ln_eps;
    tr->layer_size = 4 * C * C + 2 * C * F + 9 * C + F;
    tr->n_params = n_unfreeze * tr->layer_size + (with_pooler ? C * C + C : 0);
    size_t bytes = (size_t)(tr->n_params > 0 ? tr->n_params : 1) * sizeof(float);
    tr->params = lector__aligned_alloc(bytes);
    tr->grads = lector__aligned_alloc(bytes);
    tr->decay = lector__calloc((size_t)(tr->n_params > 0 ? tr->n_params : 1), 1);
    tr->tensors = lector__calloc((size_t)(16 * n_unfreeze + 2), sizeof *tr->tensors);
    tr->h = lector__calloc((size_t)(13 * (n_unfreeze + 1)), sizeof *tr->h);
    // n_unfreeze 0: the frozen encoder's output goes straight to the pooling (and the pooler,
    // trainable with pooling 'pooler')
    if (!tr->params || !tr->grads || !tr->decay || !tr->tensors || !tr->h) goto nomem;
    memset(tr->grads, 0, bytes);
    float **slots = tr->h + n_unfreeze + 1;
    float ***per_layer[] = {&tr->qkv, &tr->atty, &tr->lse, &tr->y1, &tr->mean1, &tr->rstd1,
                            &tr->h1, &tr->ffpre, &tr->ffact, &tr->y2, &tr->mean2, &tr->rstd2};
    for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++)
        *per_layer[k] = slots + k * (size_t)n_unfreeze;

    lector__encoder_pack_layers(enc); // the copies below read the packed panels
    for (int64_t j = 0; j < n_unfreeze; j++) {
        const struct lector__layer *w = &enc->layers[tr->L0 + j];
        struct layer_view v = layer_of(tr->params + j * tr->layer_size, C, F);
        copy_matrix(v.t[P_QKV_W], w->qkv_w, w->qkv_wp, C, 3 * C);
        memcpy(v.t[P_QKV_B], w->qkv_b, (size_t)(3 * C) * sizeof(float));
        copy_matrix(v.t[P_AO_W], w->attn_out_w, w->attn_out_wp, C, C);
        copy_matrix(v.t[P_FI_W], w->ff_in_w, w->ff_in_wp, C, F);
        copy_matrix(v.t[P_FO_W], w->ff_out_w, w->ff_out_wp, F, C);
        const float *vecs[] = {w->attn_out_b, w->ln1_g, w->ln1_b, w->ff_in_b,
                               w->ff_out_b,   w->ln2_g, w->ln2_b};
        int idx[] = {P_AO_B, P_LN1_G, P_LN1_B, P_FI_B, P_FO_B, P_LN2_G, P_LN2_B};
        for (int k = 0; k < 7; k++)
            memcpy(v.t[idx[k]], vecs[k], (size_t)(idx[k] == P_FI_B ? F : C) * sizeof(float));
        name_layer(tr, j, tr->L0 + j);
    }
    if (with_pooler) {
        int64_t off = n_unfreeze * tr->layer_size;
        tr->pooler_w = tr->params + off;
        tr->pooler_b = tr->pooler_w + C * C;
        tr->dpooler_w = tr->grads + off;
        tr->dpooler_b = tr->dpooler_w + C * C;
        // the pooler's plain matrix stays set when packed (it says the model has one), but
        // its data may have been released: read the packed copy then
        copy_matrix(tr->pooler_w, enc->pooler_wp ? NULL : enc->pooler_w, enc->pooler_wp, C, C);
        memcpy(tr->pooler_b, enc->pooler_b, (size_t)C * sizeof(float));
        add_tensor(tr, "pooler.dense.weight", off, C, C, n_unfreeze);
        add_tensor(tr, "pooler.dense.bias", off + C * C, C, 0, n_unfreeze);
    }
    *out = tr;
    return LECTOR_STATUS_OK;
nomem:
    lector__enc_train_free(tr);
    return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for the trainable layers");
}

void lector__enc_train_free(struct lector__enc_train *tr) {
    if (!tr) return;
    lector__aligned_free(tr->params);
    lector__aligned_free(tr->grads);
    lector__aligned_free(tr->mem);
    lector_free(tr->decay);
    lector_free(tr->tensors);
    lector_free(tr->h);
    lector_free(tr);
}

int64_t lector__enc_train_first_layer(const struct lector__enc_train *tr) { return tr->L0; }
int64_t lector__enc_train_n_unfreeze(const struct lector__enc_train *tr) { return tr->n_unf; }
int64_t lector__enc_train_n_params(const struct lector__enc_train *tr) { return tr->n_params; }
float *lector__enc_train_params(struct lector__enc_train *tr) { return tr->params; }
const float *lector__enc_train_params_const(const struct lector__enc_train *tr) {
    return tr->params;
}
float *lector__enc_train_grads(struct lector__enc_train *tr) { return tr->grads; }
const uint8_t *lector__enc_train_decay_mask(const struct lector__enc_train *tr) {
    return tr->decay;
}
int64_t lector__enc_train_n_tensors(const struct lector__enc_train *tr) { return tr->n_tensors; }
const struct lector__train_tensor *lector__enc_train_tensor(const struct lector__enc_train *tr,
                                                            int64_t i) {
    return i >= 0 && i < tr->n_tensors ? &tr->tensors[i] : NULL;
}
const struct lector__train_tensor *lector__enc_train_find(const struct lector__enc_train *tr,
                                                          const char *name) {
    for (int64_t i = 0; i < tr->n_tensors; i++)
        if (strcmp(tr->tensors[i].name, name) == 0) return &tr->tensors[i];
    return NULL;
}

void lector__enc_train_group_range(const struct lector__enc_train *tr, int64_t g,
                                   int64_t *offset, int64_t *n) {
    if (g < tr->n_unf) {
        *offset = g * tr->layer_size;
        *n = tr->layer_size;
    } else {
        *offset = tr->n_unf * tr->layer_size;
        *n = tr->n_params - *offset;
    }
}

void lector__enc_train_zero_grad(struct lector__enc_train *tr) {
    memset(tr->grads, 0, (size_t)tr->n_params * sizeof(float));
}

const float *lector__enc_train_hidden(const struct lector__enc_train *tr) {
    return tr->h[tr->n_unf];
}

// ----------------------------------------------------------------------------
// activations

// The next n floats of the block (NULL mem: only count), at 64-byte boundaries.
static float *carve(float *mem, size_t *used, size_t n) {
    float *p = mem ? mem + *used : NULL;
    *used += (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    return p;
}

static size_t layout(struct lector__enc_train *tr, float *mem, int64_t B, int64_t T) {
    size_t N = (size_t)(B * T), C = (size_t)tr->C, F = (size_t)tr->F, used = 0;
    size_t BH = (size_t)(B * tr->H * T);
    for (int64_t l = 0; l <= tr->n_unf; l++) {
        float *p = carve(mem, &used, N * C);
        if (mem) tr->h[l] = p;
    }
    for (int64_t l = 0; l < tr->n_unf; l++) {
        float *p[12];
        size_t n[12] = {N * 3 * C, N * C, BH, N * C, N, N, N * C, N * F, N * F, N * C, N, N};
        for (int k = 0; k < 12; k++) p[k] = carve(mem, &used, n[k]);
        if (!mem) continue;
        tr->qkv[l] = p[0];
        tr->atty[l] = p[1];
        tr->lse[l] = p[2];
        tr->y1[l] = p[3];
        tr->mean1[l] = p[4];
        tr->rstd1[l] = p[5];
        tr->h1[l] = p[6];
        tr->ffpre[l] = p[7];
        tr->ffact[l] = p[8];
        tr->y2[l] = p[9];
        tr->mean2[l] = p[10];
        tr->rstd2[l] = p[11];
    }
    float *q[11];
    size_t n[11] = {(size_t)B * C, (size_t)B * C, N * C, N * C, N * C, N * 3 * C, N * C,
                    N * F,         N * F,         N * C, 2 * (size_t)B * C};
    for (int k = 0; k < 11; k++) q[k] = carve(mem, &used, n[k]);
    if (mem) {
        tr->pooled = q[0];
        tr->h0 = q[1];
        tr->dh = q[2];
        tr->dx = q[3];
        tr->dy = q[4];
        tr->dqkv = q[5];
        tr->datty = q[6];
        tr->dff = q[7];
        tr->dffact = q[8];
        tr->dproj = q[9];
        tr->dpool_scratch = q[10];
    }
    return used;
}

static enum lector_status reserve(struct lector__enc_train *tr, int64_t B, int64_t T,
                                  struct lector_error *err) {
    size_t n = layout(tr, NULL, B, T);
    if (n > tr->n_mem) {
        float *mem = lector__aligned_alloc(n * sizeof(float));
        if (!mem)
            return lector__error(err, LECTOR_STATUS_NOMEM,
                                 "cannot allocate %zu bytes of training activations for B=%lld "
                                 "x T=%lld",
                                 n * sizeof(float), (long long)B, (long long)T);
        lector__aligned_free(tr->mem);
        tr->mem = mem;
        tr->n_mem = n;
    }
    layout(tr, tr->mem, B, T);
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// forward

// The seed of one dropout site (layer j, site 0 attention, 1 and 2 the projections).
static uint64_t site_seed(uint64_t seed, int64_t j, int site) {
    uint64_t z = seed ^ ((uint64_t)(j * 3 + site + 1) * UINT64_C(0xD1B54A32D192ED03));
    return z * UINT64_C(0x9E3779B97F4A7C15);
}

// x (N, F) in place; rows go to the kernel threads
static void act_forward(enum lector__act act, float *x, int64_t N, int64_t F) {
    if (act != LECTOR__ACT_NONE) lector_bias_act(x, NULL, N, F, act);
}

static void act_backward(enum lector__act act, float *dinp, const float *dout, const float *inp,
                         int64_t n) {
    switch (act) {
    case LECTOR__ACT_GELU: lector_gelu_backward(dinp, dout, inp, n); return;
    case LECTOR__ACT_GELU_NEW: lector_gelu_new_backward(dinp, dout, inp, n); return;
    case LECTOR__ACT_RELU: lector_relu_backward(dinp, dout, inp, n); return;
    case LECTOR__ACT_NONE: lector_residual_backward(dinp, NULL, dout, n); return;
    }
}

static void layer_forward(struct lector__enc_train *tr, int64_t j) {
    int64_t B = tr->B, T = tr->T, N = B * T, C = tr->C, F = tr->F;
    struct layer_view v = layer_of(tr->params + j * tr->layer_size, C, F);
    const struct lector__enc_dropout *d = &tr->drop;
    const float *x = tr->h[j];
    float *tmp = tr->dproj; // free during the forward
    lector_matmul(tr->qkv[j], x, v.t[P_QKV_W], v.t[P_QKV_B], N, C, 3 * C);
    lector_attention_lse(tr->atty[j], tr->lse[j], tr->qkv[j], tr->mask, B, T, C, tr->H,
                         d->attention, site_seed(d->seed, j, 0));
    lector_matmul(tmp, tr->atty[j], v.t[P_AO_W], v.t[P_AO_B], N, C, C);
    lector_dropout_forward(tmp, N * C, d->hidden, site_seed(d->seed, j, 1));
    memcpy(tr->y1[j], x, (size_t)(N * C) * sizeof(float));
    lector_residual_add(tr->y1[j], tmp, N * C);
    lector_layernorm_stats(tr->h1[j], tr->mean1[j], tr->rstd1[j], tr->y1[j], v.t[P_LN1_G],
                           v.t[P_LN1_B], N, C, tr->eps);
    lector_matmul(tr->ffpre[j], tr->h1[j], v.t[P_FI_W], v.t[P_FI_B], N, C, F);
    memcpy(tr->ffact[j], tr->ffpre[j], (size_t)(N * F) * sizeof(float));
    act_forward(tr->act, tr->ffact[j], N, F);
    lector_matmul(tmp, tr->ffact[j], v.t[P_FO_W], v.t[P_FO_B], N, F, C);
    lector_dropout_forward(tmp, N * C, d->hidden, site_seed(d->seed, j, 2));
    memcpy(tr->y2[j], tr->h1[j], (size_t)(N * C) * sizeof(float));
    lector_residual_add(tr->y2[j], tmp, N * C);
    lector_layernorm_stats(tr->h[j + 1], tr->mean2[j], tr->rstd2[j], tr->y2[j], v.t[P_LN2_G],
                           v.t[P_LN2_B], N, C, tr->eps);
}

enum lector_status lector__enc_train_forward(struct lector__enc_train *tr, const float *x,
                                             const int32_t *mask, int64_t B, int64_t T,
                                             const struct lector__enc_dropout *drop,
                                             float *pooled, struct lector_error *err) {
    if (!tr || !x || !pooled || B <= 0 || T <= 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector__enc_train_forward: bad arguments");
    enum lector_status s = reserve(tr, B, T, err);
    if (s != LECTOR_STATUS_OK) return s;
    tr->B = B;
    tr->T = T;
    tr->mask = mask;
    tr->drop = drop ? *drop : (struct lector__enc_dropout){0};
    int64_t C = tr->C;
    memcpy(tr->h[0], x, (size_t)(B * T * C) * sizeof(float));
    for (int64_t j = 0; j < tr->n_unf; j++) layer_forward(tr, j);
    const float *top = tr->h[tr->n_unf];
    switch (tr->pooling) {
    case LECTOR_POOLING_CLS: lector_pool_cls_ref(tr->pooled, top, B, T, C); break;
    case LECTOR_POOLING_MEAN: lector_pool_mean_ref(tr->pooled, top, mask, B, T, C); break;
    case LECTOR_POOLING_MAX: lector_pool_max_ref(tr->pooled, top, mask, B, T, C); break;
    case LECTOR_POOLING_POOLER:
        lector_pool_cls_ref(tr->h0, top, B, T, C);
        lector_matmul(tr->pooled, tr->h0, tr->pooler_w, tr->pooler_b, B, C, C);
        lector_tanh_ref(tr->pooled, B * C);
        break;
    case LECTOR_POOLING_NONE: break;
    }
    memcpy(pooled, tr->pooled, (size_t)(B * C) * sizeof(float));
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// backward

static void zero(float *x, int64_t n) { memset(x, 0, (size_t)n * sizeof *x); }

// dh (N, C) holds d(loss)/d(layer j's output); on return, dh holds d(loss)/d(its input)
// (not computed for the lowest trainable layer, whose input is frozen).
static void layer_backward(struct lector__enc_train *tr, int64_t j) {
    int64_t B = tr->B, T = tr->T, N = B * T, C = tr->C, F = tr->F;
    struct layer_view v = layer_of(tr->params + j * tr->layer_size, C, F);
    struct layer_view g = layer_of(tr->grads + j * tr->layer_size, C, F);
    const struct lector__enc_dropout *d = &tr->drop;
    float *dy = tr->dy, *dh1 = tr->dx, *dproj = tr->dproj;
    // output LayerNorm: dy2
    zero(dy, N * C);
    lector_layernorm_backward(dy, g.t[P_LN2_G], g.t[P_LN2_B], tr->dh, tr->y2[j], tr->mean2[j],
                              tr->rstd2[j], v.t[P_LN2_G], N, C);
    // y2 = h1 + dropout(ffact Wfo^T + bfo)
    memcpy(dh1, dy, (size_t)(N * C) * sizeof(float));
    zero(dproj, N * C);
    lector_dropout_backward(dproj, dy, N * C, d->hidden, site_seed(d->seed, j, 2));
    zero(tr->dffact, N * F);
    lector_linear_backward(tr->dffact, g.t[P_FO_W], g.t[P_FO_B], dproj, tr->ffact[j],
                           v.t[P_FO_W], N, F, C);
    zero(tr->dff, N * F);
    act_backward(tr->act, tr->dff, tr->dffact, tr->ffpre[j], N * F);
    lector_linear_backward(dh1, g.t[P_FI_W], g.t[P_FI_B], tr->dff, tr->h1[j], v.t[P_FI_W], N, C,
                           F);
    // attention LayerNorm: dy1
    zero(dy, N * C);
    lector_layernorm_backward(dy, g.t[P_LN1_G], g.t[P_LN1_B], dh1, tr->y1[j], tr->mean1[j],
                              tr->rstd1[j], v.t[P_LN1_G], N, C);
    // y1 = x + dropout(atty Wao^T + bao)
    bool need_dx = j > 0;
    if (need_dx) memcpy(tr->dh, dy, (size_t)(N * C) * sizeof(float));
    zero(dproj, N * C);
    lector_dropout_backward(dproj, dy, N * C, d->hidden, site_seed(d->seed, j, 1));
    zero(tr->datty, N * C);
    lector_linear_backward(tr->datty, g.t[P_AO_W], g.t[P_AO_B], dproj, tr->atty[j], v.t[P_AO_W],
                           N, C, C);
    zero(tr->dqkv, N * 3 * C);
    lector_attention_backward(tr->dqkv, tr->datty, tr->qkv[j], tr->atty[j], tr->lse[j], tr->mask,
                              B, T, C, tr->H, d->attention, site_seed(d->seed, j, 0));
    lector_linear_backward(need_dx ? tr->dh : NULL, g.t[P_QKV_W], g.t[P_QKV_B], tr->dqkv,
                           tr->h[j], v.t[P_QKV_W], N, C, 3 * C);
}

void lector__enc_train_backward(struct lector__enc_train *tr, const float *dpooled) {
    int64_t B = tr->B, T = tr->T, C = tr->C;
    const float *top = tr->h[tr->n_unf];
    zero(tr->dh, B * T * C);
    switch (tr->pooling) {
    case LECTOR_POOLING_CLS: lector_pool_cls_backward(tr->dh, dpooled, B, T, C); break;
    case LECTOR_POOLING_MEAN: lector_pool_mean_backward(tr->dh, dpooled, tr->mask, B, T, C); break;
    case LECTOR_POOLING_MAX:
        lector_pool_max_backward(tr->dh, dpooled, top, tr->mask, B, T, C);
        break;
    case LECTOR_POOLING_POOLER:
        lector_pool_pooler_backward(tr->dh, tr->dpooler_w, tr->dpooler_b, dpooled, tr->pooled,
                                    top, tr->pooler_w, tr->dpool_scratch, B, T, C);
        break;
    case LECTOR_POOLING_NONE: break;
    }
    for (int64_t j = tr->n_unf - 1; j >= 0; j--) layer_backward(tr, j);
}

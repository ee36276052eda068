// The encoder's weight panels per precision: the fp32 panels packed at open or, lazily,
// after the first forward, and the bf16 or int8 panels lector_encoder_set_precision builds
// from them.
#define _POSIX_C_SOURCE 200809L
#include "lector/encoder.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/kernels.h"
#include "lector/checkpoint.h"

// ----------------------------------------------------------------------------
// fp32 panels

// Layers laid out but not yet packed. The first forward reads their plain matrices under
// the read lock; packing takes the write lock, so it never runs beside that forward.
struct lector__lazy_pack {
    pthread_rwlock_t lock;
    atomic_bool done;   // every layer packed (then nothing here changes any more)
    atomic_int n_uses;  // forwards started
    float *(*dst)[4];   // (n_uniq) where each layer's QKV, output, FFN in, FFN out panels go
};

// Pack rows [o0, o0 + n) of an (OC, IC) checkpoint matrix into w, then let the checkpoint
// drop the matrix: the packed copy replaces it.
static void pack_release(struct lector_encoder *enc, float *w, const float *rows, int64_t IC,
                         int64_t OC, int64_t o0, int64_t n) {
    lector_matmul_pack_rows(w, rows, IC, OC, o0, n);
    lector_checkpoint_release(enc->ck, rows);
}

// Pack layer l's four matrices into dst (QKV, attention output, FFN in, FFN out), from the
// checkpoint's Q, K and V in qkv and its other plain matrices.
static void pack_layer(struct lector_encoder *enc, struct lector__layer *l, float *const dst[4],
                       const float *const qkv[3]) {
    int64_t C = enc->cfg.n_embd, F = enc->cfg.n_ff;
    size_t s_qkv = lector_matmul_packed_size(C, 3 * C);
    // the other matrices are packed whole, which writes their padding columns; QKV, packed
    // from three pieces, is zeroed first when it has padding
    if (s_qkv != 3 * (size_t)C * (size_t)C) memset(dst[0], 0, s_qkv * sizeof(float));
    for (int k = 0; k < 3; k++) pack_release(enc, dst[0], qkv[k], C, 3 * C, k * C, C);
    pack_release(enc, dst[1], l->attn_out_w, C, C, 0, C);
    pack_release(enc, dst[2], l->ff_in_w, C, F, 0, F);
    pack_release(enc, dst[3], l->ff_out_w, F, C, 0, C);
    l->qkv_wp = dst[0];
    l->attn_out_wp = dst[1];
    l->ff_in_wp = dst[2];
    l->ff_out_wp = dst[3];
    l->qkv_w = l->attn_out_w = l->ff_in_w = l->ff_out_w = NULL;
    l->qkv_rows[0] = l->qkv_rows[1] = l->qkv_rows[2] = NULL;
}

/*
 * Lay out every distinct layer's weights for the products of the forward pass, in one
 * 64-byte aligned block (enc->packed): first the QKV biases (n_uniq, 3C), then either
 *   - the packed sgemm panels of QKV (from the three checkpoint matrices), the attention
 *     output, both FFN matrices, and the embedding projection and pooler when present,
 *     where the kernels have a packed path: the forward never repacks a weight, and the
 *     packed copy replaces the checkpoint's matrices (which are no longer read). The
 *     layers' panels are filled lazily (encoder_impl.h) where the kernels have
 *     lector_matmul_rows and no layer runs twice in a forward (ALBERT's shared layers do);
 *     the embedding projection and the pooler are packed now;
 *   - or the QKV matrices copied into one (3C, C) each, so a layer runs one QKV product,
 *     and the checkpoint's other matrices are used as they are.
 */
enum lector_status lector__encoder_pack_weights(struct lector_encoder *enc,
                                                const struct lector__raw_qkv *raw,
                                                struct lector_error *err) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t C = cfg->n_embd, F = cfg->n_ff, E = cfg->n_emb;
    size_t U = (size_t)lector__n_uniq(cfg);
    size_t s_qkv = lector_matmul_packed_size(C, 3 * C);
    bool packed = s_qkv > 0;
    bool lazy = packed && lector_matmul_rows_available() && (int64_t)U == enc->n_layer_run;
    size_t s_out = packed ? lector_matmul_packed_size(C, C) : 0;
    size_t s_in = packed ? lector_matmul_packed_size(C, F) : 0;
    size_t s_ffo = packed ? lector_matmul_packed_size(F, C) : 0;
    size_t n_w, total = 0, n_bytes;
    bool ok = lector__mul_size(3 * (size_t)C, (size_t)C, &n_w);
    for (size_t i = 0; ok && i < U; i++) {
        ok = lector__add_floats(&total, 3 * (size_t)C);
        if (ok && packed)
            ok = lector__add_floats(&total, s_qkv) && lector__add_floats(&total, s_out) &&
                 lector__add_floats(&total, s_in) && lector__add_floats(&total, s_ffo);
        else if (ok)
            ok = lector__add_floats(&total, n_w);
    }
    if (ok && packed && enc->emb_proj_w) ok = lector__add_floats(&total, lector_matmul_packed_size(E, C));
    if (ok && packed && enc->pooler_w) ok = lector__add_floats(&total, lector_matmul_packed_size(C, C));
    if (!ok || !lector__mul_size(total, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: packed weight size overflows",
                             enc->dir);
    enc->packed = lector__aligned_alloc(n_bytes);
    struct lector__lazy_pack *z = NULL;
    if (enc->packed && lazy) {
        z = lector__calloc(1, sizeof *z);
        if (z) z->dst = lector__calloc(U ? U : 1, sizeof *z->dst);
        if (z && (!z->dst || pthread_rwlock_init(&z->lock, NULL) != 0)) {
            lector_free(z->dst);
            lector_free(z);
            z = NULL;
        }
        if (z) {
            atomic_init(&z->done, false);
            atomic_init(&z->n_uses, 0);
            enc->lazy = z;
        }
        lazy = z != NULL; // no memory for the bookkeeping: pack now
    }
    if (!enc->packed)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "%s: cannot allocate %zu bytes for the packed weights", enc->dir,
                             n_bytes);
    enc->n_packed = total;
    // Not zeroed as a whole (pack_layer writes every padding column). Each checkpoint
    // matrix is released as soon as it is packed (its mapped pages dropped, or its copy),
    // so the model is resident about once during the packing too, not twice.
    float *mem = enc->packed;
    for (size_t i = 0; i < U; i++) {
        struct lector__layer *l = &enc->uniq[i];
        float *bi = lector__take_floats(&mem, 3 * (size_t)C);
        memcpy(bi, raw[i].q_b, (size_t)C * sizeof *bi);
        memcpy(bi + C, raw[i].k_b, (size_t)C * sizeof *bi);
        memcpy(bi + 2 * C, raw[i].v_b, (size_t)C * sizeof *bi);
        l->qkv_b = bi;
        if (packed) {
            float *dst[4] = {lector__take_floats(&mem, s_qkv), lector__take_floats(&mem, s_out),
                             lector__take_floats(&mem, s_in), lector__take_floats(&mem, s_ffo)};
            const float *qkv[3] = {raw[i].q_w, raw[i].k_w, raw[i].v_w};
            l->qkv_w = NULL;
            if (lazy) {
                memcpy(z->dst[i], dst, sizeof dst);
                memcpy(l->qkv_rows, qkv, sizeof qkv);
            } else {
                pack_layer(enc, l, dst, qkv);
            }
        } else {
            float *wi = lector__take_floats(&mem, n_w);
            size_t cc = (size_t)C * (size_t)C;
            memcpy(wi, raw[i].q_w, cc * sizeof *wi);
            memcpy(wi + cc, raw[i].k_w, cc * sizeof *wi);
            memcpy(wi + 2 * cc, raw[i].v_w, cc * sizeof *wi);
            l->qkv_w = wi;
        }
    }
    // emb_proj_w and pooler_w stay set: they also say whether the model has one.
    if (packed && enc->emb_proj_w) {
        float *w = lector__take_floats(&mem, lector_matmul_packed_size(E, C));
        pack_release(enc, w, enc->emb_proj_w, E, C, 0, C);
        enc->emb_proj_wp = w;
    }
    if (packed && enc->pooler_w) {
        float *w = lector__take_floats(&mem, lector_matmul_packed_size(C, C));
        pack_release(enc, w, enc->pooler_w, C, C, 0, C);
        enc->pooler_wp = w;
    }
    LECTOR_ASSERT((size_t)(mem - enc->packed) == total);
    return LECTOR_STATUS_OK;
}

void lector__encoder_pack_layers(const struct lector_encoder *cenc) {
    struct lector__lazy_pack *z = cenc ? cenc->lazy : NULL;
    if (!z || atomic_load_explicit(&z->done, memory_order_acquire)) return;
    // The encoder object is never itself const (lector_encoder_open allocates it); packing
    // changes how its layers are stored, not what they compute.
    struct lector_encoder *enc = (struct lector_encoder *)cenc;
    pthread_rwlock_wrlock(&z->lock);
    if (!atomic_load_explicit(&z->done, memory_order_relaxed)) {
        for (int64_t i = 0; i < lector__n_uniq(&enc->cfg); i++) {
            struct lector__layer *l = &enc->uniq[i];
            const float *qkv[3] = {l->qkv_rows[0], l->qkv_rows[1], l->qkv_rows[2]};
            pack_layer(enc, l, z->dst[i], qkv);
        }
        lector__encoder_order_layers(enc); // layers[] are copies of uniq[]
        atomic_store_explicit(&z->done, true, memory_order_release);
    }
    pthread_rwlock_unlock(&z->lock);
}

// The most rows a first forward runs on the plain matrices: one row block of the AVX2
// sgemm (gemm_avx2.c's MC). lector_matmul_rows runs each panel over all the rows at once,
// so past one row block it would read the input once per panel, and a batch that large
// is rarely the only one: pack first.
#define LAZY_ROWS_MAX 192

bool lector__encoder_weights_acquire(const struct lector_encoder *enc, int64_t n_rows) {
    struct lector__lazy_pack *z = enc->lazy;
    if (!z || atomic_load_explicit(&z->done, memory_order_acquire)) return false;
    if (atomic_fetch_add(&z->n_uses, 1) > 0 || n_rows > LAZY_ROWS_MAX) { // pack first
        lector__encoder_pack_layers(enc);
        return false;
    }
    pthread_rwlock_rdlock(&z->lock);
    return true;
}

void lector__encoder_weights_release(const struct lector_encoder *enc, bool held) {
    if (held) pthread_rwlock_unlock(&enc->lazy->lock);
}

void lector__encoder_lazy_free(struct lector_encoder *enc) {
    if (!enc || !enc->lazy) return;
    pthread_rwlock_destroy(&enc->lazy->lock);
    lector_free(enc->lazy->dst);
    lector_free(enc->lazy);
    enc->lazy = NULL;
}

// ----------------------------------------------------------------------------
// precision

const char *lector_precision_name(enum lector_precision p) {
    switch (p) {
    case LECTOR_PRECISION_FP32: return "fp32";
    case LECTOR_PRECISION_BF16: return "bf16";
    case LECTOR_PRECISION_INT8: return "int8";
    }
    return "?";
}

int lector_precision_parse(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "fp32") == 0) return LECTOR_PRECISION_FP32;
    if (strcmp(name, "bf16") == 0) return LECTOR_PRECISION_BF16;
    if (strcmp(name, "int8") == 0) return LECTOR_PRECISION_INT8;
    return -1;
}

enum lector_precision lector_encoder_precision(const struct lector_encoder *enc) {
    return enc ? enc->precision : LECTOR_PRECISION_FP32;
}

// Bytes of the reduced-precision (bf16 or int8) panels of an (OC, IC) weight; 0 when this
// CPU has no such product.
static size_t lowp_size(enum lector_precision p, int64_t IC, int64_t OC) {
    if (p == LECTOR_PRECISION_BF16) return lector_matmul_bf16_packed_size(IC, OC) * sizeof(uint16_t);
    return lector_matmul_int8_packed_size(IC, OC);
}

// Fill the panels at dst from the fp32 packed ones (the plain matrices are released).
static void lowp_pack(enum lector_precision p, void *dst, const float *wp, int64_t IC,
                      int64_t OC) {
    if (p == LECTOR_PRECISION_BF16) lector_matmul_bf16_pack_from_packed(dst, wp, IC, OC);
    else lector_matmul_int8_pack_from_packed(dst, wp, IC, OC);
}

// Lay out (base NULL: only count) and fill the precision-p panels of every packed matrix,
// each at a 64-byte aligned offset; returns the bytes used.
static size_t lowp_layout(struct lector_encoder *enc, enum lector_precision p,
                          unsigned char *base) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t C = cfg->n_embd, F = cfg->n_ff, E = cfg->n_emb;
    size_t used = 0;
    struct matrix {
        const float *wp;
        const void **wl;
        int64_t IC, OC;
    };
    for (int64_t i = 0; i < lector__n_uniq(cfg) + 1; i++) {
        struct matrix m[4] = {{0}};
        if (i < lector__n_uniq(cfg)) {
            struct lector__layer *l = &enc->uniq[i];
            m[0] = (struct matrix){l->qkv_wp, &l->qkv_wl, C, 3 * C};
            m[1] = (struct matrix){l->attn_out_wp, &l->attn_out_wl, C, C};
            m[2] = (struct matrix){l->ff_in_wp, &l->ff_in_wl, C, F};
            m[3] = (struct matrix){l->ff_out_wp, &l->ff_out_wl, F, C};
        } else { // the matrices outside the layers, when the checkpoint has them
            m[0] = (struct matrix){enc->emb_proj_wp, &enc->emb_proj_wl, E, C};
            m[1] = (struct matrix){enc->pooler_wp, &enc->pooler_wl, C, C};
        }
        for (int j = 0; j < 4; j++) {
            if (!m[j].wp) continue;
            size_t n = lowp_size(p, m[j].IC, m[j].OC);
            if (base) {
                lowp_pack(p, base + used, m[j].wp, m[j].IC, m[j].OC);
                *m[j].wl = base + used;
            }
            used += (n + 63) / 64 * 64;
        }
    }
    return used;
}

// Back to the fp32 panels: drop every reduced-precision one.
static void lowp_release(struct lector_encoder *enc) {
    for (int64_t i = 0; i < lector__n_uniq(&enc->cfg); i++) {
        struct lector__layer *l = &enc->uniq[i];
        l->qkv_wl = l->attn_out_wl = l->ff_in_wl = l->ff_out_wl = NULL;
    }
    enc->emb_proj_wl = enc->pooler_wl = NULL;
    lector__aligned_free(enc->packed_lowp);
    enc->packed_lowp = NULL;
}

enum lector_status lector_encoder_set_precision(struct lector_encoder *enc,
                                                enum lector_precision p,
                                                struct lector_error *err) {
    if (!enc)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_set_precision: enc must not be NULL");
    if (p != LECTOR_PRECISION_FP32 && p != LECTOR_PRECISION_BF16 && p != LECTOR_PRECISION_INT8)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_set_precision: unknown precision %d", (int)p);
    if (p == enc->precision) return LECTOR_STATUS_OK;
    if (enc->sub_id[0])
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "precision %s: a model with tuned layers runs at fp32 only",
                             lector_precision_name(p));
    unsigned char *mem = NULL;
    size_t n = 0;
    if (p != LECTOR_PRECISION_FP32) {
        // the reduced-precision panels are built from the fp32 ones (the plain matrices
        // are released)
        lector__encoder_pack_layers(enc);
        bool packed = lector__n_uniq(&enc->cfg) == 0 || enc->uniq[0].qkv_wp != NULL;
        if (lowp_size(p, 8, 8) == 0 || !packed)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "precision %s needs a CPU with %s; this one has not (or "
                                 "LECTOR_KERNELS restricts the kernels)",
                                 lector_precision_name(p),
                                 p == LECTOR_PRECISION_BF16
                                     ? "AVX-512 BF16 (avx512_bf16) and the AVX-512 kernels"
                                     : "AVX2 or AVX-512 VNNI (avx512_vnni)");
        const struct lector_encoder_config *cfg = &enc->cfg;
        if (p == LECTOR_PRECISION_INT8 && (cfg->n_ff > LECTOR_INT8_IC_MAX ||
                                           cfg->n_embd > LECTOR_INT8_IC_MAX ||
                                           cfg->n_emb > LECTOR_INT8_IC_MAX))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: precision int8 takes products at most %d deep, this "
                                 "model's FFN is %lld",
                                 enc->dir, LECTOR_INT8_IC_MAX, (long long)cfg->n_ff);
        n = lowp_layout(enc, p, NULL);
        mem = lector__aligned_alloc(n ? n : 1);
        if (!mem)
            return lector__error(err, LECTOR_STATUS_NOMEM,
                                 "%s: cannot allocate %zu bytes for the %s weights", enc->dir,
                                 n, lector_precision_name(p));
    }
    lowp_release(enc);
    if (mem) {
        enc->packed_lowp = mem;
        size_t used = lowp_layout(enc, p, mem);
        LECTOR_ASSERT(used == n);
    }
    lector__encoder_order_layers(enc); // layers[] are copies of uniq[]
    enc->precision = p;
    return LECTOR_STATUS_OK;
}

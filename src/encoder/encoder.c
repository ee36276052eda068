// The encoder: load a checkpoint onto one internal layout, then the forward pass and pooling.
#include "lector/encoder.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "checkpoint/checkpoint_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/kernels.h"
#include "lector/checkpoint.h"

// ----------------------------------------------------------------------------
// open / close

static bool verify_checksum_always;

void lector_set_verify_checksum(int verify) { verify_checksum_always = verify != 0; }

// LECTOR_VERIFY_CHECKSUM set to anything but "" or "0" forces a full hash as well.
static bool verify_checksum(void) {
    const char *v = getenv("LECTOR_VERIFY_CHECKSUM");
    return verify_checksum_always || (v && *v && strcmp(v, "0") != 0);
}

// SHA-256 of config.json followed by every weight file, through the checksum cache.
static enum lector_status compute_checksum(struct lector_encoder *enc, const char *config_path,
                                           struct lector_error *err) {
    int64_t n_files = lector_checkpoint_n_files(enc->ck) + 1;
    const char **files = lector__calloc((size_t)n_files, sizeof *files);
    if (!files)
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", config_path);
    files[0] = config_path;
    for (int64_t i = 1; i < n_files; i++) files[i] = lector_checkpoint_file(enc->ck, i - 1);
    char buf[4096];
    enum lector_status st = lector__sha256_files_cached(
        files, n_files, lector__checksum_cache_dir(buf, sizeof buf), verify_checksum(),
        LECTOR__CHECKSUM_SETTLE_NS, enc->checksum, NULL, err);
    lector_free(files);
    return st;
}

// The layers in the order they run: step i of L uses group i / (L / n_group), whose
// n_group_layer layers run in turn (ALBERT's sharing; one distinct layer per step otherwise).
// Layers a fine-tuned model substitutes (substitute.c) then take their place.
void lector__encoder_order_layers(struct lector_encoder *enc) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t per_group = cfg->n_layer / cfg->n_group, k = 0;
    for (int64_t i = 0; i < cfg->n_layer; i++)
        for (int64_t j = 0; j < cfg->n_group_layer; j++)
            enc->layers[k++] = enc->uniq[(i / per_group) * cfg->n_group_layer + j];
    LECTOR_ASSERT(k == enc->n_layer_run);
    for (int64_t i = 0; enc->sub_layers && i < enc->n_layer_run; i++)
        if (enc->sub_layers[i].qkv_b) enc->layers[i] = enc->sub_layers[i];
}

// "tensorflow" for a TF checkpoint (.index + .data-* shards), "pytorch" when any weight
// file is a torch.save zip (.bin, .pt, .pth), else "safetensors".
static const char *weight_format(const struct lector_checkpoint *ck) {
    for (int64_t i = 0; i < lector_checkpoint_n_files(ck); i++) {
        const char *f = lector_checkpoint_file(ck, i);
        size_t n = strlen(f);
        if (strstr(f, ".ckpt.") || (n >= 6 && strcmp(f + n - 6, ".index") == 0)) return "tensorflow";
        if (n < 12 || strcmp(f + n - 12, ".safetensors") != 0) return "pytorch";
    }
    return "safetensors";
}

// The kernels' activation for cfg->act; false for a value the kernels do not know.
static bool activation_kind(enum lector_activation act, enum lector__act *out) {
    switch (act) {
    case LECTOR_ACT_GELU: *out = LECTOR__ACT_GELU; return true;
    case LECTOR_ACT_GELU_NEW: *out = LECTOR__ACT_GELU_NEW; return true;
    case LECTOR_ACT_RELU: *out = LECTOR__ACT_RELU; return true;
    }
    return false;
}

enum lector_status lector_encoder_open(const char *dir, struct lector_encoder **out,
                                       struct lector_error *err) {
    if (out) *out = NULL;
    if (!dir || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_open: dir and out must not be NULL");
    enum lector_status st = LECTOR_STATUS_OK;
    char *config_path = NULL;
    struct lector__raw_qkv *raw = NULL;
    struct lector_encoder *enc = lector__calloc(1, sizeof *enc);
    if (!enc) goto nomem;
    enc->dir = lector__strdup(dir);
    config_path = lector__path_join(dir, "config.json");
    if (!enc->dir || !config_path) goto nomem;
    if (!lector__file_exists(config_path)) {
        // The original Google release ships bert_config.json beside bert_model.ckpt.*: read
        // and checksum that file instead.
        char *alt = lector__path_join(dir, "bert_config.json");
        if (!alt) goto nomem;
        if (lector__file_exists(alt)) {
            lector_free(config_path);
            config_path = alt;
        } else {
            lector_free(alt);
        }
    }
    enc->pooling_default = LECTOR_POOLING_MEAN;

    st = lector_encoder_config_read(config_path, &enc->cfg, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    const struct lector_encoder_config *cfg = &enc->cfg;
    if (cfg->n_head <= 0 || cfg->n_embd % cfg->n_head != 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                           config_path, (long long)cfg->n_embd, (long long)cfg->n_head);
        goto fail;
    }
    // cblas_sgemm takes int dimensions.
    if (cfg->n_embd > INT32_MAX / 4 || cfg->n_ff > INT32_MAX || cfg->n_emb > INT32_MAX) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: hidden_size %lld too large",
                           config_path, (long long)cfg->n_embd);
        goto fail;
    }
    if (!activation_kind(cfg->act, &enc->act)) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: unknown activation %d",
                           config_path, (int)cfg->act);
        goto fail;
    }

    st = lector__checkpoint_open_in_place(dir, &enc->ck, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    enc->format = weight_format(enc->ck);

    int64_t n_uniq = lector__n_uniq(cfg);
    enc->n_layer_run = cfg->n_layer * cfg->n_group_layer; // bounded by the config parser
    enc->uniq = lector__calloc((size_t)n_uniq, sizeof *enc->uniq);
    enc->layers = lector__calloc((size_t)enc->n_layer_run, sizeof *enc->layers);
    raw = lector__calloc((size_t)n_uniq, sizeof *raw);
    if (!enc->uniq || !enc->layers || !raw) goto nomem;

    st = lector__encoder_map(enc, raw, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = lector__encoder_pack_weights(enc, raw, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    lector__encoder_order_layers(enc);
    st = lector__encoder_read_modules(enc, dir, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = compute_checksum(enc, config_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    *out = enc;
    enc = NULL; // the cleanup below then has no encoder to close

fail:
    lector_free(raw);
    lector_free(config_path);
    lector_encoder_close(enc);
    return st;
nomem:
    st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory opening the encoder", dir);
    goto fail;
}

void lector_encoder_close(struct lector_encoder *enc) {
    if (!enc) return;
    lector__aligned_free(enc->packed);
    lector__aligned_free(enc->packed_lowp);
    lector__encoder_lazy_free(enc);
    lector__encoder_substitute_free(enc);
    lector_free(enc->layers);
    lector_free(enc->uniq);
    lector_free(enc->ignored);
    lector_free(enc->pooling_note);
    lector_checkpoint_close(enc->ck);
    lector_free(enc->dir);
    lector_free(enc);
}

const struct lector_encoder_config *lector_encoder_get_config(const struct lector_encoder *enc) {
    return enc ? &enc->cfg : NULL;
}

int lector_encoder_has_pooler(const struct lector_encoder *enc) {
    return enc && enc->pooler_w != NULL;
}

const char *lector_encoder_checksum(const struct lector_encoder *enc) {
    return enc ? enc->checksum : NULL;
}

const char *lector_encoder_dir(const struct lector_encoder *enc) { return enc ? enc->dir : NULL; }

enum lector_status lector_encoder_check_n_vocab(const struct lector_encoder *enc, int64_t n_tokens,
                                                const char *dir, const char *file,
                                                struct lector_error *err) {
    const int64_t V = enc->cfg.n_vocab;
    if (n_tokens <= V) return LECTOR_STATUS_OK;
    return lector__error(err, LECTOR_STATUS_MISMATCH,
                         "%s/%s: %lld tokens, but the encoder's vocab_size is %lld (%s/config.json): "
                         "ids from %lld on would have no embedding",
                         dir, file, (long long)n_tokens, (long long)V, enc->dir, (long long)V);
}

int64_t lector_encoder_n_params(const struct lector_encoder *enc) {
    return enc ? enc->n_params : 0;
}

int64_t lector_encoder_n_embd(const struct lector_encoder *enc) {
    return enc ? enc->cfg.n_embd : 0;
}

const char *lector_encoder_family(const struct lector_encoder *enc) {
    return enc ? enc->cfg.model_type : NULL;
}

const char *lector_encoder_format(const struct lector_encoder *enc) {
    return enc ? enc->format : NULL;
}

int64_t lector_encoder_n_files(const struct lector_encoder *enc) {
    return enc ? lector_checkpoint_n_files(enc->ck) : 0;
}

const char *lector_encoder_file(const struct lector_encoder *enc, int64_t i) {
    if (!enc || i < 0 || i >= lector_checkpoint_n_files(enc->ck)) return NULL;
    return lector_checkpoint_file(enc->ck, i);
}

const char *lector_encoder_dtype(const struct lector_encoder *enc) {
    return enc ? enc->dtype : NULL;
}

int64_t lector_encoder_n_tokens_max(const struct lector_encoder *enc) {
    return enc ? enc->cfg.n_tokens_max : 0;
}

int64_t lector_encoder_n_ignored(const struct lector_encoder *enc) {
    return enc ? enc->n_ignored : 0;
}

const char *lector_encoder_ignored(const struct lector_encoder *enc, int64_t i) {
    if (!enc || i < 0 || i >= enc->n_ignored) return NULL;
    return enc->ignored[i];
}

const char *lector_encoder_prefix(const struct lector_encoder *enc) {
    return enc ? enc->prefix : NULL;
}

enum lector_pooling lector_encoder_default_pooling(const struct lector_encoder *enc) {
    return enc ? enc->pooling_default : LECTOR_POOLING_MEAN;
}

int lector_encoder_default_normalize(const struct lector_encoder *enc) {
    return enc && enc->normalize_default;
}

const char *lector_encoder_pooling_note(const struct lector_encoder *enc) {
    return enc ? enc->pooling_note : NULL;
}

void lector_set_n_threads(int n_threads) { lector__blas_set_n_threads(n_threads); }

// ----------------------------------------------------------------------------
// activations and state

bool lector__acts_size(const struct lector_encoder_config *cfg, int64_t B, int64_t T,
                       size_t *n_floats) {
    size_t n, C = (size_t)cfg->n_embd, F = (size_t)cfg->n_ff;
    size_t wide = 3 * C > F ? 3 * C : F; // qkv and ff share this region
    size_t n_qkv, n_c, n_e = 0, total = 0;
    if (!lector__mul_size((size_t)B, (size_t)T, &n)) return false;
    if (!lector__mul_size(n, wide, &n_qkv) || !lector__mul_size(n, C, &n_c)) return false;
    if (lector__has_emb_proj(cfg) && !lector__mul_size(n, (size_t)cfg->n_emb, &n_e)) return false;
    if (!lector__add_floats(&total, n_e) || !lector__add_floats(&total, n_qkv) || !lector__add_floats(&total, n_c) ||
        !lector__add_floats(&total, n_c) ||
        !lector__add_floats(&total, lector_attention_scratch_size(T, cfg->n_embd, cfg->n_head)))
        return false;
    // the byte count must fit too
    size_t bytes;
    if (!lector__mul_size(total, sizeof(float), &bytes)) return false;
    *n_floats = total;
    return true;
}


void lector__acts_point(struct lector__acts *acts, float *mem,
                        const struct lector_encoder_config *cfg, int64_t B, int64_t T) {
    size_t n = (size_t)(B * T), C = (size_t)cfg->n_embd, F = (size_t)cfg->n_ff;
    size_t wide = 3 * C > F ? 3 * C : F;
    acts->emb = lector__has_emb_proj(cfg) ? lector__take_floats(&mem, n * (size_t)cfg->n_emb) : NULL;
    acts->qkv = lector__take_floats(&mem, n * wide);
    acts->ff = acts->qkv;
    acts->atty = lector__take_floats(&mem, n * C);
    acts->tmp = lector__take_floats(&mem, n * C);
    acts->scratch = lector__take_floats(&mem, lector_attention_scratch_size(T, cfg->n_embd, cfg->n_head));
}

struct lector_encoder_state {
    const struct lector_encoder *enc;
    float *mem;   // 64-byte aligned, n_mem floats
    size_t n_mem;
};

enum lector_status lector_encoder_state_new(const struct lector_encoder *enc,
                                             struct lector_encoder_state **out,
                                             struct lector_error *err) {
    if (out) *out = NULL;
    if (!enc || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_state_new: enc and out must not be NULL");
    struct lector_encoder_state *st = lector__calloc(1, sizeof *st);
    if (!st) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory for encoder state");
    st->enc = enc;
    *out = st;
    return LECTOR_STATUS_OK;
}

void lector_encoder_state_free(struct lector_encoder_state *st) {
    if (!st) return;
    lector__aligned_free(st->mem);
    lector_free(st);
}

// Make room for a (B, T) batch; grows only, so a long-lived state settles at its largest.
static enum lector_status state_reserve(struct lector_encoder_state *st, int64_t B, int64_t T,
                                        struct lector_error *err) {
    size_t n_floats;
    if (!lector__acts_size(&st->enc->cfg, B, T, &n_floats))
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "encoder activations for B=%lld x T=%lld overflow size_t",
                             (long long)B, (long long)T);
    if (n_floats <= st->n_mem) return LECTOR_STATUS_OK;
    float *mem = lector__aligned_alloc(n_floats * sizeof(float));
    if (!mem)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "cannot allocate %zu bytes of encoder activations for B=%lld x "
                             "T=%lld (had %zu bytes)",
                             n_floats * sizeof(float), (long long)B, (long long)T,
                             st->n_mem * sizeof(float));
    lector__aligned_free(st->mem);
    st->mem = mem;
    st->n_mem = n_floats;
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// forward

static enum lector_status check_inputs(const struct lector_encoder *enc, const int32_t *ids,
                                       const int32_t *type_ids, const int32_t *mask, int64_t B,
                                       int64_t T, struct lector_error *err) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t n_type = enc->wtt ? cfg->n_type : 1; // no table: only type 0 makes sense
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            if (ids[i] < 0 || ids[i] >= cfg->n_vocab)
                return lector__error_index(err, LECTOR_STATUS_RANGE, b * T + t,
                                        "token id %d at row %lld, position %lld is out of range "
                                        "[0, %lld)",
                                        (int)ids[i], (long long)b, (long long)t,
                                        (long long)cfg->n_vocab);
            if (type_ids && (type_ids[i] < 0 || type_ids[i] >= n_type))
                return lector__error_index(err, LECTOR_STATUS_RANGE, b * T + t,
                                        "token type id %d at row %lld, position %lld is out of "
                                        "range [0, %lld)",
                                        (int)type_ids[i], (long long)b, (long long)t,
                                        (long long)n_type);
            if (mask && mask[i] != 0 && mask[i] != 1)
                return lector__error_index(err, LECTOR_STATUS_RANGE, b * T + t,
                                        "attention mask value %d at row %lld, position %lld is "
                                        "not 0 or 1",
                                        (int)mask[i], (long long)b, (long long)t);
        }
    }
    return LECTOR_STATUS_OK;
}

// out (N, OC) = act(inp (N, IC) w (OC, IC)^T + b): from the packed panels wp when the
// encoder has them, else, for a layer not yet packed, lector_matmul_rows on the plain
// matrix (w: its pieces of n_piece_rows rows, QKV's three), else lector_matmul on the
// plain matrix and the activation after it (the same bits every way).
// Reduced-precision panels wl, when set (lector_encoder_set_precision), come first.
// false: no memory for lector_matmul_rows's buffers.
static bool linear(const struct lector_encoder *enc, float *out, const float *inp,
                   const float *const *w, int64_t n_piece_rows, const float *wp,
                   const void *wl, const float *b, int64_t N, int64_t IC, int64_t OC,
                   enum lector__act act) {
    if (wl && enc->precision == LECTOR_PRECISION_BF16) {
        lector_matmul_bf16_packed(out, inp, wl, b, N, IC, OC, act);
        return true;
    }
    if (wl && enc->precision == LECTOR_PRECISION_INT8) {
        lector_matmul_int8_packed(out, inp, wl, b, N, IC, OC, act);
        return true;
    }
    if (wp) {
        lector_matmul_packed(out, inp, wp, b, N, IC, OC, act);
        return true;
    }
    if (lector_matmul_rows_available())
        return lector_matmul_rows(out, inp, w, n_piece_rows, b, N, IC, OC, act);
    LECTOR_ASSERT(n_piece_rows == OC);
    lector_matmul(out, inp, w[0], b, N, IC, OC);
    if (act != LECTOR__ACT_NONE) lector_bias_act(out, NULL, N, OC, act);
    return true;
}

// x[b, t, :] = wte[ids[b, t]] + wpe[pos[b, t]] + wtt[type_ids[b, t]], E wide, where pos is
// t, or for RoBERTa (pos_pad = padding_idx) padding_idx + the number of non-pad ids in
// row b up to and including t, and padding_idx itself for a pad id.
static void embed(const struct lector_encoder *enc, float *x, const int32_t *ids,
                  const int32_t *type_ids, int64_t B, int64_t T) {
    int64_t E = enc->cfg.n_emb;
    for (int64_t b = 0; b < B; b++) {
        int64_t n_real = 0;
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t, pos = t;
            if (enc->pos_pad >= 0)
                pos = ids[i] == enc->pos_pad ? enc->pos_pad : enc->pos_pad + ++n_real;
            float *o = x + i * E;
            const float *w = enc->wte + (int64_t)ids[i] * E;
            const float *p = enc->wpe + pos * E;
            for (int64_t c = 0; c < E; c++) o[c] = w[c] + p[c];
            if (enc->wtt) {
                const float *y = enc->wtt + (int64_t)(type_ids ? type_ids[i] : 0) * E;
                for (int64_t c = 0; c < E; c++) o[c] += y[c];
            }
        }
    }
}

enum lector_status lector_encoder_forward(const struct lector_encoder *enc,
                                          struct lector_encoder_state *st, const int32_t *ids,
                                          const int32_t *type_ids, const int32_t *mask,
                                          int64_t B, int64_t T, float *hidden,
                                          struct lector_error *err) {
    return lector__encoder_forward_layers(enc, st, ids, type_ids, mask, B, T,
                                          enc ? enc->n_layer_run : 0, hidden, err);
}

enum lector_status lector__encoder_forward_layers(const struct lector_encoder *enc,
                                                  struct lector_encoder_state *st,
                                                  const int32_t *ids, const int32_t *type_ids,
                                                  const int32_t *mask, int64_t B, int64_t T,
                                                  int64_t n_run, float *hidden,
                                                  struct lector_error *err) {
    if (!enc || !st || !ids || !hidden)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_forward: enc, st, ids and hidden must not be NULL");
    if (st->enc != enc)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_forward: the state belongs to another encoder");
    const struct lector_encoder_config *cfg = &enc->cfg;
    if (B <= 0 || T <= 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_forward: B and T must be positive, got B=%lld T=%lld",
                             (long long)B, (long long)T);
    if (T > cfg->n_tokens_max)
        return lector__error(err, LECTOR_STATUS_RANGE,
                             "%lld tokens per row exceed the model's %lld positions "
                             "(max_position_embeddings)",
                             (long long)T, (long long)cfg->n_tokens_max);
    int64_t N;
    if (!lector__mul_i64(B, T, &N))
        return lector__error(err, LECTOR_STATUS_RANGE, "B=%lld x T=%lld overflows",
                             (long long)B, (long long)T);
    // cblas_sgemm takes int row counts
    if (N > INT32_MAX)
        return lector__error(err, LECTOR_STATUS_RANGE, "B*T = %lld tokens is too many per call",
                             (long long)N);
    enum lector_status s = check_inputs(enc, ids, type_ids, mask, B, T, err);
    if (s != LECTOR_STATUS_OK) return s;
    s = state_reserve(st, B, T, err);
    if (s != LECTOR_STATUS_OK) return s;

    int64_t C = cfg->n_embd, F = cfg->n_ff, H = cfg->n_head;
    float eps = cfg->ln_eps;
    struct lector__acts a;
    lector__acts_point(&a, st->mem, cfg, B, T);
    float *x = hidden; // (B, T, C) the residual stream, in the caller's buffer
    bool ok = true;

    if (enc->emb_proj_w) {
        // E-wide embeddings, LayerNorm over E, then the projection to C (ALBERT, ELECTRA)
        embed(enc, a.emb, ids, type_ids, B, T);
        lector_layernorm(a.emb, a.emb, enc->emb_ln_g, enc->emb_ln_b, N, cfg->n_emb, eps);
        ok = linear(enc, x, a.emb, &enc->emb_proj_w, C, enc->emb_proj_wp, enc->emb_proj_wl,
                    enc->emb_proj_b, N, cfg->n_emb, C, LECTOR__ACT_NONE);
    } else {
        embed(enc, x, ids, type_ids, B, T);
        lector_layernorm(x, x, enc->emb_ln_g, enc->emb_ln_b, N, C, eps);
    }

    LECTOR_ASSERT(n_run >= 0 && n_run <= enc->n_layer_run);
    // a small first forward runs on the plain matrices of layers not yet packed, a later
    // one packs them first (pack.c)
    bool held = lector__encoder_weights_acquire(enc, N);
    for (int64_t l = 0; ok && l < n_run; l++) {
        const struct lector__layer *w = &enc->layers[l];
        // QKV as one (3C, C) matrix, or the checkpoint's three while not yet packed
        const float *const *qkv = w->qkv_rows[0] ? w->qkv_rows : &w->qkv_w;
        // attention block: x = LN(x + (attention(x Wqkv^T + bqkv) Wo^T + bo))
        ok = linear(enc, a.qkv, x, qkv, w->qkv_rows[0] ? C : 3 * C, w->qkv_wp, w->qkv_wl,
                    w->qkv_b, N, C, 3 * C, LECTOR__ACT_NONE);
        if (!ok) break;
        lector_attention(a.atty, a.qkv, mask, a.scratch, B, T, C, H);
        ok = linear(enc, a.tmp, a.atty, &w->attn_out_w, C, w->attn_out_wp, w->attn_out_wl,
                    w->attn_out_b, N, C, C, LECTOR__ACT_NONE);
        if (!ok) break;
        lector_residual_layernorm(x, a.tmp, NULL, x, w->ln1_g, w->ln1_b, N, C, eps);
        // feed-forward block: x = LN(x + act(x W1^T + b1) W2^T + b2), the activation
        // applied as each product element is finished
        ok = linear(enc, a.ff, x, &w->ff_in_w, F, w->ff_in_wp, w->ff_in_wl, w->ff_in_b, N, C,
                    F, enc->act) &&
             linear(enc, a.tmp, a.ff, &w->ff_out_w, C, w->ff_out_wp, w->ff_out_wl,
                    w->ff_out_b, N, F, C, LECTOR__ACT_NONE);
        if (!ok) break;
        lector_residual_layernorm(x, a.tmp, NULL, x, w->ln2_g, w->ln2_b, N, C, eps);
    }
    lector__encoder_weights_release(enc, held);
    if (!ok)
        return lector__error(err, LECTOR_STATUS_NOMEM,
                             "%s: no memory for the products of a %lld x %lld batch", enc->dir,
                             (long long)B, (long long)T);
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// pooling

enum lector_status lector_encoder_pool(const struct lector_encoder *enc, const float *hidden,
                                       const int32_t *mask, int64_t B, int64_t T,
                                       enum lector_pooling pooling, float *out,
                                       struct lector_error *err) {
    if (!enc || !hidden || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_pool: enc, hidden and out must not be NULL");
    if (B <= 0 || T <= 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_pool: B and T must be positive, got B=%lld T=%lld",
                             (long long)B, (long long)T);
    int64_t C = enc->cfg.n_embd;
    switch (pooling) {
    case LECTOR_POOLING_CLS: lector_pool_cls_ref(out, hidden, B, T, C); return LECTOR_STATUS_OK;
    case LECTOR_POOLING_MEAN:
        lector_pool_mean_ref(out, hidden, mask, B, T, C);
        return LECTOR_STATUS_OK;
    case LECTOR_POOLING_MAX:
        lector_pool_max_ref(out, hidden, mask, B, T, C);
        return LECTOR_STATUS_OK;
    case LECTOR_POOLING_POOLER:
        if (!enc->pooler_w)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: pooling 'pooler' needs the checkpoint's pooler, which "
                                 "this %s checkpoint does not have (use cls, mean or max)",
                                 enc->dir, enc->cfg.model_type);
        // out[b] = tanh(W h[b, 0, :] + bias), one row at a time (row b starts at b*T*C)
        for (int64_t b = 0; b < B; b++)
            if (!linear(enc, out + b * C, hidden + b * T * C, &enc->pooler_w, C,
                        enc->pooler_wp, enc->pooler_wl, enc->pooler_b, 1, C, C,
                        LECTOR__ACT_NONE))
                return lector__error(err, LECTOR_STATUS_NOMEM, "%s: no memory for the pooler",
                                     enc->dir);
        lector_tanh_ref(out, B * C);
        return LECTOR_STATUS_OK;
    case LECTOR_POOLING_NONE: break;
    }
    return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                         "lector_encoder_pool: pooling %d is not cls, mean, max or pooler",
                         (int)pooling);
}

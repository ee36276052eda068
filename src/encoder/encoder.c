// The encoder: load a checkpoint onto one internal layout, then the forward pass and pooling.
#include "lector/encoder.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/base_impl.h"
#include "encoder/encoder_impl.h"
#include "kernels/kernels.h"
#include "lector/checkpoint.h"

// Every activation region starts on a 64-byte boundary (16 floats).
#define ALIGN_FLOATS 16

// ----------------------------------------------------------------------------
// tensor lookup with one error list

/*
 * Collects every problem with the checkpoint's tensors (missing ones, wrong shapes, wrong
 * dtypes) so that open reports them all at once, not one per run.
 */
struct loader {
    const struct lector_checkpoint *ck;
    const char *prefix; // "" or the prefix the checkpoint's names carry ("bert.")
    char list[4096];    // "; "-separated problems
    size_t n_list;
    int64_t n_problems;
    int64_t n_listed;
    int64_t n_missing;
    int64_t n_params;
};

LECTOR_PRINTF(2, 3)
static void add_problem(struct loader *ld, const char *fmt, ...) {
    ld->n_problems++;
    char item[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    size_t n_item = strlen(item), n_sep = ld->n_list ? 2 : 0;
    if (ld->n_list + n_sep + n_item + 1 > sizeof ld->list) return; // counted, not listed
    if (n_sep) memcpy(ld->list + ld->n_list, "; ", 2);
    memcpy(ld->list + ld->n_list + n_sep, item, n_item + 1);
    ld->n_list += n_sep + n_item;
    ld->n_listed++;
}

static void format_shape(char *buf, size_t n, int32_t n_dims, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int32_t i = 0; i < n_dims && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static const struct lector_tensor *find_prefixed(const struct loader *ld, const char *name,
                                                 char *full, size_t n_full) {
    snprintf(full, n_full, "%s%s", ld->prefix, name);
    return lector_checkpoint_find(ld->ck, full);
}

/*
 * The float data of tensor prefix+name with shape (d0) when n_dims is 1 or (d0, d1) when it
 * is 2, or NULL after recording why not. Checkpoints converted from the original TensorFlow
 * BERT name LayerNorm parameters gamma/beta instead of weight/bias; both are accepted.
 */
static const float *need(struct loader *ld, const char *name, int32_t n_dims, int64_t d0,
                         int64_t d1) {
    char full[256];
    const struct lector_tensor *t = find_prefixed(ld, name, full, sizeof full);
    if (!t) {
        static const char *const alias[][2] = {{"LayerNorm.weight", "LayerNorm.gamma"},
                                               {"LayerNorm.bias", "LayerNorm.beta"}};
        size_t n = strlen(name);
        for (size_t i = 0; i < sizeof alias / sizeof alias[0] && !t; i++) {
            size_t na = strlen(alias[i][0]);
            if (n < na || strcmp(name + n - na, alias[i][0]) != 0) continue;
            char alt[256], alt_full[256];
            snprintf(alt, sizeof alt, "%.*s%s", (int)(n - na), name, alias[i][1]);
            t = find_prefixed(ld, alt, alt_full, sizeof alt_full);
            if (t) snprintf(full, sizeof full, "%s", alt_full);
        }
    }
    if (!t) {
        add_problem(ld, "'%s' is missing", full);
        ld->n_missing++;
        return NULL;
    }
    int64_t want[2] = {d0, d1};
    bool ok = t->n_dims == n_dims;
    for (int32_t i = 0; ok && i < n_dims; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got_s[96], want_s[96];
        format_shape(got_s, sizeof got_s, t->n_dims, t->shape);
        format_shape(want_s, sizeof want_s, n_dims, want);
        add_problem(ld, "'%s' has shape %s, expected %s", full, got_s, want_s);
        return NULL;
    }
    if (t->dtype != LECTOR_DTYPE_F32) {
        add_problem(ld, "'%s' has dtype %s, expected a float type", full,
                    lector_dtype_name(t->dtype));
        return NULL;
    }
    // Kernels take contiguous row-major data.
    LECTOR_ASSERT(n_dims == 1 || t->stride[0] == d1);
    ld->n_params += lector_tensor_numel(t);
    return (const float *)t->data;
}

// ----------------------------------------------------------------------------
// the BERT family's names

// Prefixes that *ForSequenceClassification and friends put before the base model's names.
static const char *const bert_prefixes[] = {"", "bert."};

// The raw per-layer tensors before Q, K and V are packed.
struct raw_layer {
    const float *q_w, *k_w, *v_w; // (C, C) each
    const float *q_b, *k_b, *v_b; // (C) each
};

static void map_bert_layer(struct loader *ld, const struct lector_encoder_config *cfg,
                           int64_t i, struct lector__layer *l, struct raw_layer *raw) {
    int64_t C = cfg->n_embd, F = cfg->n_ff;
    char n[128];
#define LAYER(suffix) (snprintf(n, sizeof n, "encoder.layer.%lld.%s", (long long)i, suffix), n)
    raw->q_w = need(ld, LAYER("attention.self.query.weight"), 2, C, C);
    raw->q_b = need(ld, LAYER("attention.self.query.bias"), 1, C, 0);
    raw->k_w = need(ld, LAYER("attention.self.key.weight"), 2, C, C);
    raw->k_b = need(ld, LAYER("attention.self.key.bias"), 1, C, 0);
    raw->v_w = need(ld, LAYER("attention.self.value.weight"), 2, C, C);
    raw->v_b = need(ld, LAYER("attention.self.value.bias"), 1, C, 0);
    l->attn_out_w = need(ld, LAYER("attention.output.dense.weight"), 2, C, C);
    l->attn_out_b = need(ld, LAYER("attention.output.dense.bias"), 1, C, 0);
    l->ln1_g = need(ld, LAYER("attention.output.LayerNorm.weight"), 1, C, 0);
    l->ln1_b = need(ld, LAYER("attention.output.LayerNorm.bias"), 1, C, 0);
    l->ff_in_w = need(ld, LAYER("intermediate.dense.weight"), 2, F, C);
    l->ff_in_b = need(ld, LAYER("intermediate.dense.bias"), 1, F, 0);
    l->ff_out_w = need(ld, LAYER("output.dense.weight"), 2, C, F);
    l->ff_out_b = need(ld, LAYER("output.dense.bias"), 1, C, 0);
    l->ln2_g = need(ld, LAYER("output.LayerNorm.weight"), 1, C, 0);
    l->ln2_b = need(ld, LAYER("output.LayerNorm.bias"), 1, C, 0);
#undef LAYER
}

static void map_bert(struct loader *ld, struct lector_encoder *enc, struct raw_layer *raw) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t C = cfg->n_embd;
    enc->wte = need(ld, "embeddings.word_embeddings.weight", 2, cfg->n_vocab, C);
    enc->wpe = need(ld, "embeddings.position_embeddings.weight", 2, cfg->n_pos, C);
    enc->wtt = cfg->n_type > 0
                   ? need(ld, "embeddings.token_type_embeddings.weight", 2, cfg->n_type, C)
                   : NULL;
    enc->emb_ln_g = need(ld, "embeddings.LayerNorm.weight", 1, C, 0);
    enc->emb_ln_b = need(ld, "embeddings.LayerNorm.bias", 1, C, 0);
    enc->pos_offset = 0;
    for (int64_t i = 0; i < cfg->n_layer; i++) map_bert_layer(ld, cfg, i, &enc->layers[i], &raw[i]);

    // The pooler is optional (sentence-transformers and some heads drop it), but if either
    // of its tensors is there, both must be right.
    char full[256];
    if (find_prefixed(ld, "pooler.dense.weight", full, sizeof full) ||
        find_prefixed(ld, "pooler.dense.bias", full, sizeof full)) {
        enc->pooler_w = need(ld, "pooler.dense.weight", 2, C, C);
        enc->pooler_b = need(ld, "pooler.dense.bias", 1, C, 0);
    }
}

// ----------------------------------------------------------------------------
// open / close

static enum lector_status compute_checksum(struct lector_encoder *enc, const char *config_path,
                                           struct lector_error *err) {
    struct lector__sha256 s;
    lector__sha256_init(&s);
    enum lector_status st = lector__sha256_file(&s, config_path, err);
    for (int64_t i = 0; st == LECTOR_STATUS_OK && i < lector_checkpoint_n_files(enc->ck); i++)
        st = lector__sha256_file(&s, lector_checkpoint_file(enc->ck, i), err);
    if (st != LECTOR_STATUS_OK) return st;
    uint8_t digest[32];
    lector__sha256_final(&s, digest);
    lector__sha256_hex(digest, enc->checksum);
    return LECTOR_STATUS_OK;
}

// Copy Q, K and V of every layer into one (3C, C) matrix and one (3C) bias per layer, so
// that a layer runs a single QKV product.
static enum lector_status pack_qkv(struct lector_encoder *enc, const struct raw_layer *raw,
                                   struct lector_error *err) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    size_t C = (size_t)cfg->n_embd, L = (size_t)cfg->n_layer;
    size_t n_w, n_all, n_bytes;
    if (!lector__mul_size(3 * C, C, &n_w) || !lector__add_size(n_w, 3 * C, &n_all) ||
        !lector__mul_size(n_all, L, &n_all) || !lector__mul_size(n_all, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: packed QKV size overflows",
                             enc->dir);
    enc->packed = lector__aligned_alloc(n_bytes);
    if (!enc->packed)
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes for QKV",
                             enc->dir, n_bytes);
    float *w = enc->packed, *b = enc->packed + L * n_w;
    for (size_t i = 0; i < L; i++) {
        float *wi = w + i * n_w, *bi = b + i * 3 * C;
        memcpy(wi, raw[i].q_w, C * C * sizeof *wi);
        memcpy(wi + C * C, raw[i].k_w, C * C * sizeof *wi);
        memcpy(wi + 2 * C * C, raw[i].v_w, C * C * sizeof *wi);
        memcpy(bi, raw[i].q_b, C * sizeof *bi);
        memcpy(bi + C, raw[i].k_b, C * sizeof *bi);
        memcpy(bi + 2 * C, raw[i].v_b, C * sizeof *bi);
        enc->layers[i].qkv_w = wi;
        enc->layers[i].qkv_b = bi;
    }
    return LECTOR_STATUS_OK;
}

static void (*activation_fn(enum lector_activation act))(float *, int64_t) {
    switch (act) {
    case LECTOR_ACT_GELU: return lector_gelu;
    case LECTOR_ACT_GELU_NEW: return lector_gelu_new;
    case LECTOR_ACT_RELU: return lector_relu;
    }
    return NULL;
}

enum lector_status lector_encoder_open(const char *dir, struct lector_encoder **out,
                                       struct lector_error *err) {
    if (out) *out = NULL;
    if (!dir || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_open: dir and out must not be NULL");
    enum lector_status st = LECTOR_STATUS_OK;
    char *config_path = NULL;
    struct raw_layer *raw = NULL;
    struct lector_encoder *enc = lector__calloc(1, sizeof *enc);
    if (!enc) goto nomem;
    enc->dir = lector__strdup(dir);
    config_path = lector__path_join(dir, "config.json");
    if (!enc->dir || !config_path) goto nomem;

    st = lector_encoder_config_load(config_path, &enc->cfg, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    const struct lector_encoder_config *cfg = &enc->cfg;
    if (strcmp(cfg->model_type, "bert") != 0) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                           "%s: model_type '%s' is not supported by the encoder yet (bert)",
                           config_path, cfg->model_type);
        goto fail;
    }
    if (cfg->n_head <= 0 || cfg->n_embd % cfg->n_head != 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                           config_path, (long long)cfg->n_embd, (long long)cfg->n_head);
        goto fail;
    }
    // cblas_sgemm takes int dimensions.
    if (cfg->n_embd > INT32_MAX / 4 || cfg->n_ff > INT32_MAX) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: hidden_size %lld too large",
                           config_path, (long long)cfg->n_embd);
        goto fail;
    }
    enc->act = activation_fn(cfg->act);
    if (!enc->act) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: unknown activation %d",
                           config_path, (int)cfg->act);
        goto fail;
    }

    st = lector_checkpoint_open(dir, &enc->ck, err);
    if (st != LECTOR_STATUS_OK) goto fail;

    enc->layers = lector__calloc((size_t)cfg->n_layer, sizeof *enc->layers);
    raw = lector__calloc((size_t)cfg->n_layer, sizeof *raw);
    if (!enc->layers || !raw) goto nomem;

    // Pick the prefix under which the word embeddings appear; with none, report the names
    // without a prefix.
    struct loader ld = {.ck = enc->ck, .prefix = ""};
    for (size_t i = 0; i < sizeof bert_prefixes / sizeof bert_prefixes[0]; i++) {
        char full[256];
        ld.prefix = bert_prefixes[i];
        if (find_prefixed(&ld, "embeddings.word_embeddings.weight", full, sizeof full)) break;
        ld.prefix = "";
    }
    map_bert(&ld, enc, raw);
    if (ld.n_problems > 0) {
        // Only missing tensors: NOT_FOUND; any shape or dtype disagreement: MISMATCH.
        enum lector_status code =
            ld.n_missing == ld.n_problems ? LECTOR_STATUS_NOT_FOUND : LECTOR_STATUS_MISMATCH;
        char more[48] = "";
        if (ld.n_listed < ld.n_problems)
            snprintf(more, sizeof more, "; and %lld more", (long long)(ld.n_problems - ld.n_listed));
        st = lector__error(err, code, "%s: %lld tensor(s) disagree with config.json: %s%s", dir,
                           (long long)ld.n_problems, ld.list, more);
        // The message is cut at LECTOR_ERROR_MSG_LEN; say so rather than end mid-word.
        if (err && strlen(err->msg) + 1 >= sizeof err->msg) {
            const char tail[] = " ...";
            memcpy(err->msg + sizeof err->msg - sizeof tail, tail, sizeof tail);
        }
        goto fail;
    }
    enc->n_params = ld.n_params;

    st = pack_qkv(enc, raw, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = compute_checksum(enc, config_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;

    lector_free(raw);
    lector_free(config_path);
    *out = enc;
    return LECTOR_STATUS_OK;

nomem:
    st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory opening the encoder", dir);
fail:
    lector_free(raw);
    lector_free(config_path);
    lector_encoder_close(enc);
    return st;
}

void lector_encoder_close(struct lector_encoder *enc) {
    if (!enc) return;
    lector__aligned_free(enc->packed);
    lector_free(enc->layers);
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

int64_t lector_encoder_n_params(const struct lector_encoder *enc) {
    return enc ? enc->n_params : 0;
}

int64_t lector_encoder_n_embd(const struct lector_encoder *enc) {
    return enc ? enc->cfg.n_embd : 0;
}

void lector_set_n_threads(int n_threads) { lector__blas_set_n_threads(n_threads); }

// ----------------------------------------------------------------------------
// activations and state

static bool add_region(size_t *total, size_t n) {
    size_t padded;
    if (!lector__add_size(n, ALIGN_FLOATS - 1, &padded)) return false;
    padded -= padded % ALIGN_FLOATS;
    return lector__add_size(*total, padded, total);
}

bool lector__acts_size(const struct lector_encoder_config *cfg, int64_t B, int64_t T,
                       size_t *n_floats) {
    size_t n, C = (size_t)cfg->n_embd, F = (size_t)cfg->n_ff;
    size_t wide = 3 * C > F ? 3 * C : F; // qkv and ff share this region
    size_t n_qkv, n_c, total = 0;
    if (!lector__mul_size((size_t)B, (size_t)T, &n)) return false;
    if (!lector__mul_size(n, wide, &n_qkv) || !lector__mul_size(n, C, &n_c)) return false;
    if (!add_region(&total, n_qkv) || !add_region(&total, n_c) || !add_region(&total, n_c) ||
        !add_region(&total, lector_attention_scratch_size(T, cfg->n_embd, cfg->n_head)))
        return false;
    // the byte count must fit too
    size_t bytes;
    if (!lector__mul_size(total, sizeof(float), &bytes)) return false;
    *n_floats = total;
    return true;
}

static float *take(float **mem, size_t n) {
    float *p = *mem;
    *mem += (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    return p;
}

void lector__acts_point(struct lector__acts *acts, float *mem,
                        const struct lector_encoder_config *cfg, int64_t B, int64_t T) {
    size_t n = (size_t)(B * T), C = (size_t)cfg->n_embd, F = (size_t)cfg->n_ff;
    size_t wide = 3 * C > F ? 3 * C : F;
    acts->qkv = take(&mem, n * wide);
    acts->ff = acts->qkv;
    acts->atty = take(&mem, n * C);
    acts->tmp = take(&mem, n * C);
    acts->scratch = take(&mem, lector_attention_scratch_size(T, cfg->n_embd, cfg->n_head));
}

struct lector_encoder_state {
    const struct lector_encoder *enc;
    float *mem;   // 64-byte aligned, n_mem floats
    size_t n_mem;
};

enum lector_status lector_encoder_state_init(const struct lector_encoder *enc,
                                             struct lector_encoder_state **out,
                                             struct lector_error *err) {
    if (out) *out = NULL;
    if (!enc || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_state_init: enc and out must not be NULL");
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
                return lector__error_at(err, LECTOR_STATUS_RANGE, b, t,
                                        "token id %d at row %lld, position %lld is out of range "
                                        "[0, %lld)",
                                        (int)ids[i], (long long)b, (long long)t,
                                        (long long)cfg->n_vocab);
            if (type_ids && (type_ids[i] < 0 || type_ids[i] >= n_type))
                return lector__error_at(err, LECTOR_STATUS_RANGE, b, t,
                                        "token type id %d at row %lld, position %lld is out of "
                                        "range [0, %lld)",
                                        (int)type_ids[i], (long long)b, (long long)t,
                                        (long long)n_type);
            if (mask && mask[i] != 0 && mask[i] != 1)
                return lector__error_at(err, LECTOR_STATUS_RANGE, b, t,
                                        "attention mask value %d at row %lld, position %lld is "
                                        "not 0 or 1",
                                        (int)mask[i], (long long)b, (long long)t);
        }
    }
    return LECTOR_STATUS_OK;
}

// x[b, t, :] = wte[ids[b, t]] + wpe[pos_offset + t] + wtt[type_ids[b, t]]
static void embed(const struct lector_encoder *enc, float *x, const int32_t *ids,
                  const int32_t *type_ids, int64_t B, int64_t T) {
    int64_t C = enc->cfg.n_embd;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            float *o = x + i * C;
            const float *w = enc->wte + (int64_t)ids[i] * C;
            const float *p = enc->wpe + (enc->pos_offset + t) * C;
            for (int64_t c = 0; c < C; c++) o[c] = w[c] + p[c];
            if (enc->wtt) {
                const float *y = enc->wtt + (int64_t)(type_ids ? type_ids[i] : 0) * C;
                for (int64_t c = 0; c < C; c++) o[c] += y[c];
            }
        }
    }
}

enum lector_status lector_encoder_forward(const struct lector_encoder *enc,
                                          struct lector_encoder_state *st, const int32_t *ids,
                                          const int32_t *type_ids, const int32_t *mask,
                                          int64_t B, int64_t T, float *hidden,
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
    if (T > cfg->n_pos - enc->pos_offset)
        return lector__error(err, LECTOR_STATUS_RANGE,
                             "%lld tokens per row exceed the model's %lld positions "
                             "(max_position_embeddings)",
                             (long long)T, (long long)(cfg->n_pos - enc->pos_offset));
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

    embed(enc, x, ids, type_ids, B, T);
    lector_layernorm(x, x, enc->emb_ln_g, enc->emb_ln_b, N, C, eps);

    for (int64_t l = 0; l < cfg->n_layer; l++) {
        const struct lector__layer *w = &enc->layers[l];
        // attention block: x = LN(x + (attention(x Wqkv^T + bqkv) Wo^T + bo))
        lector_matmul(a.qkv, x, w->qkv_w, w->qkv_b, N, C, 3 * C);
        lector_attention(a.atty, a.qkv, mask, a.scratch, B, T, C, H);
        lector_matmul(a.tmp, a.atty, w->attn_out_w, w->attn_out_b, N, C, C);
        lector_residual_add(a.tmp, x, N * C);
        lector_layernorm(x, a.tmp, w->ln1_g, w->ln1_b, N, C, eps);
        // feed-forward block: x = LN(x + act(x W1^T + b1) W2^T + b2)
        lector_matmul(a.ff, x, w->ff_in_w, w->ff_in_b, N, C, F);
        enc->act(a.ff, N * F);
        lector_matmul(a.tmp, a.ff, w->ff_out_w, w->ff_out_b, N, F, C);
        lector_residual_add(a.tmp, x, N * C);
        lector_layernorm(x, a.tmp, w->ln2_g, w->ln2_b, N, C, eps);
    }
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
                                 "%s: pooling 'pooler' needs pooler.dense.weight/bias, which "
                                 "the checkpoint does not have (use cls, mean or max)",
                                 enc->dir);
        // out[b] = tanh(W h[b, 0, :] + bias), one row at a time (row b starts at b*T*C)
        for (int64_t b = 0; b < B; b++)
            lector_matmul(out + b * C, hidden + b * T * C, enc->pooler_w, enc->pooler_b, 1, C, C);
        lector_tanh_ref(out, B * C);
        return LECTOR_STATUS_OK;
    case LECTOR_POOLING_NONE: break;
    }
    return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                         "lector_encoder_pool: pooling %d is not cls, mean, max or pooler",
                         (int)pooling);
}

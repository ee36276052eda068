// Each family's tensor names, mapped onto the one internal layout of encoder_impl.h.
#include "encoder/encoder_impl.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "lector/checkpoint.h"

// ----------------------------------------------------------------------------
// tensor lookup with one error list

/*
 * Collects every problem with the checkpoint's tensors (missing ones, wrong shapes, wrong
 * dtypes, encoder tensors the config leaves unused) so that open reports them all at once,
 * not one per run. Also records which tensors were used, for the ignored list.
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
    const struct lector_tensor **used; // (n_used) every tensor a need() returned
    int64_t n_used, n_used_cap;
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
    // Marked used even when misshapen, so it is not also reported as unused.
    if (ld->n_used < ld->n_used_cap) ld->used[ld->n_used++] = t;
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

// A Linear layer: weight (out, in) and bias (out), named base + ".weight" / ".bias".
static void need_linear(struct loader *ld, const char *base, int64_t out, int64_t in,
                        const float **w, const float **b) {
    char n[256];
    snprintf(n, sizeof n, "%s.weight", base);
    *w = need(ld, n, 2, out, in);
    snprintf(n, sizeof n, "%s.bias", base);
    *b = need(ld, n, 1, out, 0);
}

// A LayerNorm: weight (C) and bias (C), named base + ".weight" / ".bias".
static void need_norm(struct loader *ld, const char *base, int64_t C, const float **g,
                      const float **b) {
    char n[256];
    snprintf(n, sizeof n, "%s.weight", base);
    *g = need(ld, n, 1, C, 0);
    snprintf(n, sizeof n, "%s.bias", base);
    *b = need(ld, n, 1, C, 0);
}

// ----------------------------------------------------------------------------
// the families' names

// The BERT embeddings (BERT, RoBERTa, ALBERT, ELECTRA): word, position, token type (when
// the family has token types) and LayerNorm, all E wide.
static void map_bert_embeddings(struct loader *ld, struct lector_encoder *enc) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    int64_t E = cfg->n_emb;
    enc->wte = need(ld, "embeddings.word_embeddings.weight", 2, cfg->n_vocab, E);
    enc->wpe = need(ld, "embeddings.position_embeddings.weight", 2, cfg->n_pos, E);
    if (cfg->n_type > 0)
        enc->wtt = need(ld, "embeddings.token_type_embeddings.weight", 2, cfg->n_type, E);
    enc->emb_ln_g = need(ld, "embeddings.LayerNorm.weight", 1, E, 0);
    enc->emb_ln_b = need(ld, "embeddings.LayerNorm.bias", 1, E, 0);
}

// A family's names of one layer's modules, after the layer's own name.
struct layer_names {
    const char *q, *k, *v, *attn_out, *ln1, *ff_in, *ff_out, *ln2;
};

// One layer whose modules are named base + "." + the family's names.
static void map_layer(struct loader *ld, const struct lector_encoder_config *cfg,
                      const char *base, const struct layer_names *nm, struct lector__layer *l,
                      struct lector__raw_qkv *raw) {
    int64_t C = cfg->n_embd, F = cfg->n_ff;
    char n[256];
#define NAME(module) (snprintf(n, sizeof n, "%s.%s", base, module), n)
    need_linear(ld, NAME(nm->q), C, C, &raw->q_w, &raw->q_b);
    need_linear(ld, NAME(nm->k), C, C, &raw->k_w, &raw->k_b);
    need_linear(ld, NAME(nm->v), C, C, &raw->v_w, &raw->v_b);
    need_linear(ld, NAME(nm->attn_out), C, C, &l->attn_out_w, &l->attn_out_b);
    need_norm(ld, NAME(nm->ln1), C, &l->ln1_g, &l->ln1_b);
    need_linear(ld, NAME(nm->ff_in), F, C, &l->ff_in_w, &l->ff_in_b);
    need_linear(ld, NAME(nm->ff_out), C, F, &l->ff_out_w, &l->ff_out_b);
    need_norm(ld, NAME(nm->ln2), C, &l->ln2_g, &l->ln2_b);
#undef NAME
}

// BertLayer (also RoBERTa's, XLM-R's, CamemBERT's and ELECTRA's): encoder.layer.N.*
static void map_bert_layer(struct loader *ld, const struct lector_encoder_config *cfg,
                           int64_t i, struct lector__layer *l, struct lector__raw_qkv *raw) {
    static const struct layer_names names = {
        "attention.self.query",   "attention.self.key",         "attention.self.value",
        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
        "output.dense",           "output.LayerNorm"};
    char base[64];
    snprintf(base, sizeof base, "encoder.layer.%lld", (long long)i);
    map_layer(ld, cfg, base, &names, l, raw);
}

// The pooler is optional (sentence-transformers and some heads drop it), but if either of
// its tensors is there, both must be right.
static void map_pooler(struct loader *ld, struct lector_encoder *enc, const char *base) {
    char full[256], w[128], b[128];
    snprintf(w, sizeof w, "%s.weight", base);
    snprintf(b, sizeof b, "%s.bias", base);
    if (find_prefixed(ld, w, full, sizeof full) || find_prefixed(ld, b, full, sizeof full))
        need_linear(ld, base, enc->cfg.n_embd, enc->cfg.n_embd, &enc->pooler_w, &enc->pooler_b);
}

// BERT and the RoBERTa family (whose position ids are data: pos_pad, set by the caller).
static void map_bert(struct loader *ld, struct lector_encoder *enc, struct lector__raw_qkv *raw) {
    map_bert_embeddings(ld, enc);
    for (int64_t i = 0; i < enc->cfg.n_layer; i++)
        map_bert_layer(ld, &enc->cfg, i, &enc->uniq[i], &raw[i]);
    map_pooler(ld, enc, "pooler.dense");
}

// ELECTRA (discriminator): BERT layers after E-wide embeddings and, when E != C,
// embeddings_project; no pooler.
static void map_electra(struct loader *ld, struct lector_encoder *enc,
                        struct lector__raw_qkv *raw) {
    map_bert_embeddings(ld, enc);
    if (enc->cfg.n_emb != enc->cfg.n_embd)
        need_linear(ld, "embeddings_project", enc->cfg.n_embd, enc->cfg.n_emb, &enc->emb_proj_w,
                    &enc->emb_proj_b);
    for (int64_t i = 0; i < enc->cfg.n_layer; i++)
        map_bert_layer(ld, &enc->cfg, i, &enc->uniq[i], &raw[i]);
}

// DistilBERT: no token types; transformer.layer.N with its own names.
static void map_distilbert(struct loader *ld, struct lector_encoder *enc,
                           struct lector__raw_qkv *raw) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    map_bert_embeddings(ld, enc); // n_type is 0: no token-type table
    static const struct layer_names names = {
        "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
        "sa_layer_norm",   "ffn.lin1",        "ffn.lin2",        "output_layer_norm"};
    for (int64_t i = 0; i < cfg->n_layer; i++) {
        char base[64];
        snprintf(base, sizeof base, "transformer.layer.%lld", (long long)i);
        map_layer(ld, cfg, base, &names, &enc->uniq[i], &raw[i]);
    }
}

// ALBERT: E-wide embeddings, encoder.embedding_hidden_mapping_in (E -> C), then
// n_group groups of n_group_layer layers each (uniq[g * n_group_layer + j]); pooler.*.
static void map_albert(struct loader *ld, struct lector_encoder *enc,
                       struct lector__raw_qkv *raw) {
    const struct lector_encoder_config *cfg = &enc->cfg;
    map_bert_embeddings(ld, enc);
    need_linear(ld, "encoder.embedding_hidden_mapping_in", cfg->n_embd, cfg->n_emb, &enc->emb_proj_w,
                &enc->emb_proj_b);
    static const struct layer_names names = {
        "attention.query",     "attention.key", "attention.value", "attention.dense",
        "attention.LayerNorm", "ffn",           "ffn_output",      "full_layer_layer_norm"};
    for (int64_t g = 0; g < cfg->n_group; g++) {
        for (int64_t j = 0; j < cfg->n_group_layer; j++) {
            int64_t u = g * cfg->n_group_layer + j;
            char base[96];
            snprintf(base, sizeof base, "encoder.albert_layer_groups.%lld.albert_layers.%lld",
                     (long long)g, (long long)j);
            map_layer(ld, cfg, base, &names, &enc->uniq[u], &raw[u]);
        }
    }
    map_pooler(ld, enc, "pooler");
}

struct family_map {
    const char *model_type;
    void (*map)(struct loader *, struct lector_encoder *, struct lector__raw_qkv *);
    bool pos_from_pad; // RoBERTa's position ids
};
static const struct family_map family_maps[] = {
    {"bert", map_bert, false},       {"roberta", map_bert, true},
    {"xlm-roberta", map_bert, true}, {"camembert", map_bert, true},
    {"distilbert", map_distilbert, false}, {"albert", map_albert, false},
    {"electra", map_electra, false},
};

// Prefixes that *ForSequenceClassification and friends put before the base model's names
// (XLM-R and CamemBERT heads use "roberta.").
static const char *const prefixes[] = {"",           "bert.",   "roberta.", "distilbert.",
                                       "albert.",    "electra.", "model."};

// Names, after the prefix, that belong to the encoder itself: such a tensor left unused
// means config.json disagrees with the checkpoint (more layers than num_hidden_layers, an
// ALBERT group beyond num_hidden_groups, ...), not a head to skip.
static bool is_encoder_name(const char *name) {
    static const char *const roots[] = {"embeddings.", "encoder.", "transformer.",
                                        "embeddings_project."};
    size_t n = strlen(name), k = strlen("position_ids");
    if (n >= k && strcmp(name + n - k, "position_ids") == 0) return false; // a buffer
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (strncmp(name, roots[i], strlen(roots[i])) == 0) return true;
    return false;
}

static int cmp_ptr(const void *a, const void *b) {
    const void *x = *(const void *const *)a, *y = *(const void *const *)b;
    return x < y ? -1 : x > y;
}

// ----------------------------------------------------------------------------
// entry point

enum lector_status lector__encoder_map(struct lector_encoder *enc, struct lector__raw_qkv *raw,
                                       struct lector_error *err) {
    const struct family_map *fm = NULL;
    for (size_t i = 0; i < sizeof family_maps / sizeof family_maps[0]; i++)
        if (strcmp(enc->cfg.model_type, family_maps[i].model_type) == 0) fm = &family_maps[i];
    if (!fm)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: no tensor map for model_type '%s'", enc->dir,
                             enc->cfg.model_type);

    int64_t n_tensors = lector_checkpoint_n_tensors(enc->ck);
    struct loader ld = {.ck = enc->ck, .prefix = ""};
    ld.n_used_cap = n_tensors;
    ld.used = lector__calloc(n_tensors > 0 ? (size_t)n_tensors : 1, sizeof *ld.used);
    if (!ld.used) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", enc->dir);

    // The prefix is the one under which the word embeddings appear; with none, report the
    // names without a prefix.
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char full[256];
        ld.prefix = prefixes[i];
        if (find_prefixed(&ld, "embeddings.word_embeddings.weight", full, sizeof full)) break;
        ld.prefix = "";
    }
    enc->prefix = ld.prefix;
    enc->pos_pad = fm->pos_from_pad ? enc->cfg.pad_token_id : -1;
    fm->map(&ld, enc, raw);

    // Every tensor not used: an encoder tensor is a disagreement, anything else is ignored.
    enum lector_status st = LECTOR_STATUS_OK;
    qsort(ld.used, (size_t)ld.n_used, sizeof *ld.used, cmp_ptr);
    enc->ignored = lector__calloc(n_tensors > 0 ? (size_t)n_tensors : 1, sizeof *enc->ignored);
    if (!enc->ignored) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", enc->dir);
        goto done;
    }
    bool dtype_seen[LECTOR_DTYPE_BOOL + 1] = {false};
    size_t n_prefix = strlen(ld.prefix);
    for (int64_t i = 0; i < n_tensors; i++) {
        const struct lector_tensor *t = lector_checkpoint_tensor(enc->ck, i);
        if (bsearch(&t, ld.used, (size_t)ld.n_used, sizeof *ld.used, cmp_ptr)) {
            enum lector_dtype d = lector_checkpoint_stored_dtype(enc->ck, i);
            if ((int)d >= 0 && d <= LECTOR_DTYPE_BOOL) dtype_seen[d] = true;
            continue;
        }
        if (strncmp(t->name, ld.prefix, n_prefix) == 0 && is_encoder_name(t->name + n_prefix))
            add_problem(&ld, "'%s' is not used by a %lld-layer %s as config.json describes it",
                        t->name, (long long)enc->cfg.n_layer, enc->cfg.model_type);
        else
            enc->ignored[enc->n_ignored++] = t->name;
    }
    // "F32", or the stored dtypes joined by '+' in the enum's order
    size_t k = 0;
    for (int d = 0; d <= LECTOR_DTYPE_BOOL; d++)
        if (dtype_seen[d])
            k += (size_t)snprintf(enc->dtype + k, sizeof enc->dtype - k, "%s%s", k ? "+" : "",
                                  lector_dtype_name((enum lector_dtype)d));

    if (ld.n_problems > 0) {
        // Only missing tensors: NOT_FOUND; any shape, dtype or use disagreement: MISMATCH.
        enum lector_status code =
            ld.n_missing == ld.n_problems ? LECTOR_STATUS_NOT_FOUND : LECTOR_STATUS_MISMATCH;
        char more[48] = "";
        if (ld.n_listed < ld.n_problems)
            snprintf(more, sizeof more, "; and %lld more",
                     (long long)(ld.n_problems - ld.n_listed));
        st = lector__error(err, code, "%s: %lld tensor(s) disagree with config.json (%s): %s%s",
                           enc->dir, (long long)ld.n_problems, enc->cfg.model_type, ld.list,
                           more);
        // The message is cut at LECTOR_ERROR_MSG_LEN; say so rather than end mid-word.
        if (err && strlen(err->msg) + 1 >= sizeof err->msg) {
            const char tail[] = " ...";
            memcpy(err->msg + sizeof err->msg - sizeof tail, tail, sizeof tail);
        }
        goto done;
    }
    enc->n_params = ld.n_params;
done:
    lector_free(ld.used);
    return st;
}

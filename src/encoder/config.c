// config.json parsing (Hugging Face model configs) and pooling names.
#include "lector/encoder.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "base/json_impl.h"

// ----------------------------------------------------------------------------
// pooling names

static const char *const pooling_names[] = {
    [LECTOR_POOLING_CLS] = "cls",       [LECTOR_POOLING_MEAN] = "mean",
    [LECTOR_POOLING_MAX] = "max",       [LECTOR_POOLING_POOLER] = "pooler",
    [LECTOR_POOLING_NONE] = "none",
};
#define N_POOLING ((int)(sizeof pooling_names / sizeof pooling_names[0]))

const char *lector_pooling_name(enum lector_pooling p) {
    if ((int)p < 0 || (int)p >= N_POOLING) return "unknown";
    return pooling_names[p];
}

int lector_pooling_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_POOLING; i++)
        if (strcmp(name, pooling_names[i]) == 0) return i;
    return -1;
}

// ----------------------------------------------------------------------------
// model families and activations

// The families lector can run, as config.json names them, with the keys and defaults each
// uses. A new family adds a row here and its tensor map in families.c; everything else in
// config.json is read the same way for every family.
struct family {
    const char *model_type;
    const char *key_embd, *key_layer, *key_head, *key_ff, *key_act; // sizes and activation
    int64_t n_type_default; // type_vocab_size when absent; 0: the family has no token types
    const char *act_default;
    int64_t pad_default;    // pad_token_id when absent
    bool has_emb;           // reads embedding_size (E) (default 128, as Hugging Face's)
    bool has_groups;        // reads num_hidden_groups / inner_group_num (ALBERT)
    bool pos_from_pad;      // position ids count from pad_token_id + 1 (RoBERTa)
    bool has_eps;           // reads layer_norm_eps; else 1e-12 (DistilBERT's fixed value)
};
#define BERT_KEYS "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"
static const struct family families[] = {
    {"bert", BERT_KEYS, "hidden_act", 2, "gelu", 0, false, false, false, true},
    {"roberta", BERT_KEYS, "hidden_act", 2, "gelu", 1, false, false, true, true},
    {"xlm-roberta", BERT_KEYS, "hidden_act", 2, "gelu", 1, false, false, true, true},
    {"camembert", BERT_KEYS, "hidden_act", 2, "gelu", 1, false, false, true, true},
    {"distilbert", "dim", "n_layers", "n_heads", "hidden_dim", "activation", 0, "gelu", 0, false,
     false, false, false},
    {"albert", BERT_KEYS, "hidden_act", 2, "gelu_new", 0, true, true, false, true},
    {"electra", BERT_KEYS, "hidden_act", 2, "gelu", 0, true, false, false, true},
};
#undef BERT_KEYS
#define N_FAMILIES (sizeof families / sizeof families[0])

// model_types that look like BERT (and often say "bert" in their name) but compute
// something else; refused by name rather than as merely unknown.
static const struct {
    const char *model_type;
    const char *what;
} lookalikes[] = {
    {"nomic_bert", "Nomic BERT (rotary position embeddings, SwiGLU feed-forward)"},
    {"jina_bert", "Jina BERT (ALiBi attention biases instead of position embeddings)"},
    {"modernbert", "ModernBERT (rotary position embeddings, gated GELU, local attention)"},
    {"new", "GTE v1.5 'NewModel' (rotary position embeddings)"},
    {"deberta", "DeBERTa (disentangled relative attention)"},
    {"deberta-v2", "DeBERTa-v2 (disentangled relative attention)"},
    {"mpnet", "MPNet (relative position buckets)"},
};
#define N_LOOKALIKES (sizeof lookalikes / sizeof lookalikes[0])

struct activation {
    const char *name;
    enum lector_activation act;
};
static const struct activation activations[] = {
    {"gelu", LECTOR_ACT_GELU},
    {"gelu_new", LECTOR_ACT_GELU_NEW},
    {"gelu_pytorch_tanh", LECTOR_ACT_GELU_NEW},
    {"relu", LECTOR_ACT_RELU},
};
#define N_ACTIVATIONS (sizeof activations / sizeof activations[0])

// Bounds on sizes: far above any real BERT, low enough that products of two sizes fit
// comfortably in int64 and that a corrupt config cannot ask for absurd allocations.
#define SIZE_MAX_DIM ((int64_t)1 << 20)
#define SIZE_MAX_VOCAB ((int64_t)1 << 24)

// ----------------------------------------------------------------------------
// helpers

// Read an integer key in [lo, hi]. Absent (or null) keys take def when has_def, else fail.
static enum lector_status get_int(const json_t *root, const char *name, const char *key,
                                  bool has_def, int64_t def, int64_t lo, int64_t hi,
                                  int64_t *out, struct lector_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (!has_def)
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: missing key '%s'", name, key);
        *out = def;
        return LECTOR_STATUS_OK;
    }
    if (!json_is_integer(v))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: key '%s' must be an integer, got %s", name, key, lector__json_kind(v));
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: key '%s' is %lld, must be in [%lld, %lld]", name, key,
                             (long long)x, (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return LECTOR_STATUS_OK;
}

static enum lector_status get_string(const json_t *root, const char *name, const char *key,
                                     const char *def, const char **out,
                                     struct lector_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (!def)
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: missing key '%s'", name, key);
        *out = def;
        return LECTOR_STATUS_OK;
    }
    if (!json_is_string(v))
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: key '%s' must be a string, got %s",
                             name, key, lector__json_kind(v));
    *out = json_string_value(v);
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// parsing

// *fam <- the family of root's model_type (model_type_default when absent; NULL: it is
// required), its name copied to cfg.
static enum lector_status parse_family(const json_t *root, const char *name,
                                       const char *model_type_default,
                                       struct lector_encoder_config *cfg,
                                       const struct family **out, struct lector_error *err) {
    enum lector_status st;
    const char *model_type = NULL;
    if ((st = get_string(root, name, "model_type", model_type_default, &model_type, err)))
        return st;
    const struct family *fam = NULL;
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(model_type, families[i].model_type) == 0) fam = &families[i];
    char list[160] = "";
    for (size_t i = 0; i < N_FAMILIES; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", families[i].model_type);
    }
    for (size_t i = 0; !fam && i < N_LOOKALIKES; i++)
        if (strcmp(model_type, lookalikes[i].model_type) == 0)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: model_type '%s' is %s, not a BERT-family encoder lector "
                                 "can run (supported: %s)",
                                 name, model_type, lookalikes[i].what, list);
    if (!fam)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model_type '%.64s' is not supported (supported: %s)", name,
                             model_type, list);
    LECTOR_ASSERT(strlen(fam->model_type) < sizeof cfg->model_type);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", fam->model_type);
    *out = fam;
    return LECTOR_STATUS_OK;
}

// Position embeddings: only learned absolute ones. Jina BERT says "alibi" under model_type
// bert, GTE v1.5 "rope"; relative_key(_query) adds a distance embedding.
static enum lector_status check_position_type(const json_t *root, const char *name,
                                              struct lector_error *err) {
    enum lector_status st;
    const char *pos_type = NULL;
    if ((st = get_string(root, name, "position_embedding_type", "absolute", &pos_type, err)))
        return st;
    if (strcmp(pos_type, "absolute") != 0) {
        const char *why = strcmp(pos_type, "alibi") == 0  ? " (ALiBi attention biases, as Jina "
                                                            "BERT uses)"
                          : strcmp(pos_type, "rope") == 0 ? " (rotary position embeddings, as "
                                                            "GTE v1.5 uses)"
                                                          : "";
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: position_embedding_type '%.32s'%s is not supported; lector "
                             "runs learned absolute position embeddings only",
                             name, pos_type, why);
    }
    return LECTOR_STATUS_OK;
}

// cfg's sizes: vocabulary, widths, layers, heads, positions, token types, the factorised
// embedding's width and ALBERT's layer groups.
static enum lector_status parse_sizes(const json_t *root, const char *name,
                                      const struct family *fam,
                                      struct lector_encoder_config *cfg,
                                      struct lector_error *err) {
    enum lector_status st;
    if ((st = get_int(root, name, "vocab_size", false, 0, 1, SIZE_MAX_VOCAB, &cfg->n_vocab, err)))
        return st;
    if ((st = get_int(root, name, fam->key_embd, false, 0, 1, SIZE_MAX_DIM, &cfg->n_embd, err)))
        return st;
    if ((st = get_int(root, name, fam->key_layer, false, 0, 1, SIZE_MAX_DIM, &cfg->n_layer, err)))
        return st;
    if ((st = get_int(root, name, fam->key_head, false, 0, 1, SIZE_MAX_DIM, &cfg->n_head, err)))
        return st;
    if ((st = get_int(root, name, fam->key_ff, false, 0, 1, SIZE_MAX_DIM, &cfg->n_ff, err)))
        return st;
    if ((st = get_int(root, name, "max_position_embeddings", false, 0, 1, SIZE_MAX_DIM,
                      &cfg->n_pos, err)))
        return st;
    if (fam->n_type_default > 0) {
        if ((st = get_int(root, name, "type_vocab_size", true, fam->n_type_default, 1,
                          SIZE_MAX_DIM, &cfg->n_type, err)))
            return st;
    } else {
        cfg->n_type = 0;
    }
    if (cfg->n_embd % cfg->n_head != 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: %s %lld is not divisible by %s %lld", name, fam->key_embd,
                             (long long)cfg->n_embd, fam->key_head, (long long)cfg->n_head);

    cfg->n_emb = cfg->n_embd;
    if (fam->has_emb &&
        (st = get_int(root, name, "embedding_size", true, 128, 1, SIZE_MAX_DIM, &cfg->n_emb, err)))
        return st;

    cfg->n_group = cfg->n_layer;
    cfg->n_group_layer = 1;
    if (fam->has_groups) {
        if ((st = get_int(root, name, "num_hidden_groups", true, 1, 1, cfg->n_layer,
                          &cfg->n_group, err)))
            return st;
        if ((st = get_int(root, name, "inner_group_num", true, 1, 1, SIZE_MAX_DIM,
                          &cfg->n_group_layer, err)))
            return st;
        // Hugging Face gives group i / (L / G) to step i; with L not a multiple of G that
        // formula can name a group that does not exist.
        if (cfg->n_layer % cfg->n_group != 0)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: num_hidden_layers %lld is not a multiple of "
                                 "num_hidden_groups %lld",
                                 name, (long long)cfg->n_layer, (long long)cfg->n_group);
        int64_t n_run;
        if (!lector__mul_i64(cfg->n_layer, cfg->n_group_layer, &n_run) || n_run > SIZE_MAX_DIM)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: num_hidden_layers x inner_group_num is too large", name);
    }
    return LECTOR_STATUS_OK;
}

// cfg->ln_eps: layer_norm_eps where the family reads it, else 1e-12.
static enum lector_status parse_eps(const json_t *root, const char *name,
                                    const struct family *fam, struct lector_encoder_config *cfg,
                                    struct lector_error *err) {
    const json_t *eps = fam->has_eps ? json_object_get(root, "layer_norm_eps") : NULL;
    if (!eps || json_is_null(eps)) {
        cfg->ln_eps = 1e-12f;
        return LECTOR_STATUS_OK;
    }
    if (!json_is_number(eps))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: key 'layer_norm_eps' must be a number, got %s", name,
                             lector__json_kind(eps));
    double e = json_number_value(eps);
    // Zero would divide by zero on a constant row; >= 1 is certainly a typo.
    if (!(e > 0.0 && e < 1.0))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: key 'layer_norm_eps' is %g, must be in (0, 1)", name, e);
    cfg->ln_eps = (float)e;
    if (!(cfg->ln_eps > 0.0f))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: key 'layer_norm_eps' is %g, below the float range", name, e);
    return LECTOR_STATUS_OK;
}

// cfg->act: the family's activation key.
static enum lector_status parse_act(const json_t *root, const char *name,
                                    const struct family *fam, struct lector_encoder_config *cfg,
                                    struct lector_error *err) {
    enum lector_status st;
    const char *act = NULL;
    if ((st = get_string(root, name, fam->key_act, fam->act_default, &act, err))) return st;
    bool found = false;
    for (size_t i = 0; i < N_ACTIVATIONS; i++) {
        if (strcmp(act, activations[i].name) == 0) {
            cfg->act = activations[i].act;
            found = true;
        }
    }
    if (!found)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: %s '%.64s' is not supported (supported: gelu, "
                             "gelu_new, gelu_pytorch_tanh, relu)",
                             name, fam->key_act, act);
    return LECTOR_STATUS_OK;
}

// cfg's padding token and the positions the tokens use after it.
static enum lector_status parse_positions(const json_t *root, const char *name,
                                          const struct family *fam,
                                          struct lector_encoder_config *cfg,
                                          struct lector_error *err) {
    enum lector_status st;
    int64_t pad = 0;
    if ((st = get_int(root, name, "pad_token_id", true, fam->pad_default, 0, cfg->n_vocab - 1,
                      &pad, err)))
        return st;
    cfg->pad_token_id = (int32_t)pad;

    // RoBERTa numbers real tokens from padding_idx + 1 (padding itself takes row
    // padding_idx), so the table must hold at least one position past it.
    cfg->pos_first = fam->pos_from_pad ? pad + 1 : 0;
    if (cfg->pos_first >= cfg->n_pos)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: max_position_embeddings %lld leaves no position after "
                             "pad_token_id %lld (positions start at pad_token_id + 1)",
                             name, (long long)cfg->n_pos, (long long)pad);
    cfg->n_tokens_max = cfg->n_pos - cfg->pos_first;
    return LECTOR_STATUS_OK;
}

// model_type_default: what an absent model_type means (NULL: it is required).
static enum lector_status parse_root(const json_t *root, const char *name,
                                     const char *model_type_default,
                                     struct lector_encoder_config *cfg,
                                     struct lector_error *err) {
    if (!json_is_object(root))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected a JSON object at the top level, got %s", name,
                             lector__json_kind(root));
    const struct family *fam = NULL;
    enum lector_status st;
    if ((st = parse_family(root, name, model_type_default, cfg, &fam, err)) ||
        (st = check_position_type(root, name, err)) ||
        (st = parse_sizes(root, name, fam, cfg, err)) ||
        (st = parse_eps(root, name, fam, cfg, err)) || (st = parse_act(root, name, fam, cfg, err)))
        return st;
    return parse_positions(root, name, fam, cfg, err);
}

// Parse config.json contents from memory; name is used in messages. Used by the fuzz target.
enum lector_status lector__encoder_config_parse(const char *data, size_t n, const char *name,
                                                struct lector_encoder_config *cfg,
                                                struct lector_error *err);

static enum lector_status config_parse(const char *data, size_t n, const char *name,
                                       const char *model_type_default,
                                       struct lector_encoder_config *cfg,
                                       struct lector_error *err) {
    memset(cfg, 0, sizeof *cfg);
    json_t *root = NULL;
    enum lector_status st = lector__json_parse(data, n, name, -1, &root, err);
    if (st != LECTOR_STATUS_OK) return st;
    st = parse_root(root, name, model_type_default, cfg, err);
    json_decref(root);
    if (st != LECTOR_STATUS_OK) memset(cfg, 0, sizeof *cfg);
    return st;
}

enum lector_status lector__encoder_config_parse(const char *data, size_t n, const char *name,
                                                struct lector_encoder_config *cfg,
                                                struct lector_error *err) {
    return config_parse(data, n, name, NULL, cfg, err);
}

// The original Google BERT release ships bert_config.json beside bert_model.ckpt.*: the
// same keys as Hugging Face's config.json for everything lector reads, without model_type.
// A path ending in config.json that does not exist falls back to its bert_config.json.
static char *bert_config_fallback(const char *path) {
    size_t n = strlen(path), k = strlen("config.json");
    if (n < k || strcmp(path + n - k, "config.json") != 0) return NULL;
    if (n > k && path[n - k - 1] != '/') return NULL; // xyz_config.json: not the fallback
    if (lector__file_exists(path)) return NULL;
    char *alt = lector__malloc(n + 6);
    if (!alt) return NULL;
    memcpy(alt, path, n - k);
    memcpy(alt + n - k, "bert_config.json", sizeof "bert_config.json");
    if (!lector__file_exists(alt)) {
        lector_free(alt);
        return NULL;
    }
    return alt;
}

enum lector_status lector_encoder_config_read(const char *path, struct lector_encoder_config *cfg,
                                              struct lector_error *err) {
    if (!path || !cfg)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_config_read: path and cfg must not be NULL");
    char *data = NULL;
    size_t n = 0;
    char *alt = bert_config_fallback(path);
    const char *read = alt ? alt : path;
    // A real config.json is a few KB; 16 MB bounds what a hostile file can make us read.
    enum lector_status st = lector__read_file(read, (size_t)16 << 20, &data, &n, err);
    // bert_config.json, read directly or as the fallback, names no model_type: it is BERT.
    size_t rn = strlen(read), bk = strlen("bert_config.json");
    bool is_bert_config = rn >= bk && strcmp(read + rn - bk, "bert_config.json") == 0 &&
                          (rn == bk || read[rn - bk - 1] == '/');
    if (st == LECTOR_STATUS_OK)
        st = config_parse(data, n, read, is_bert_config ? "bert" : NULL, cfg, err);
    else
        memset(cfg, 0, sizeof *cfg);
    lector_free(data);
    lector_free(alt);
    return st;
}

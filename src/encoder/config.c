// config.json parsing (Hugging Face model configs) and pooling names.
#include "lector/encoder.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"

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

// The families lector can run. A new family adds a row here (and its tensor map in the
// encoder); everything else in config.json is read the same way for every family.
struct family {
    const char *model_type;
    int64_t n_type_default; // type_vocab_size when absent
};
static const struct family families[] = {
    {"bert", 2},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

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

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

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
                             "%s: key '%s' must be an integer, got %s", name, key, json_kind(v));
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
                             name, key, json_kind(v));
    *out = json_string_value(v);
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// parsing

static enum lector_status parse_root(const json_t *root, const char *name,
                                     struct lector_encoder_config *cfg,
                                     struct lector_error *err) {
    enum lector_status st;
    if (!json_is_object(root))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected a JSON object at the top level, got %s", name,
                             json_kind(root));

    const char *model_type = NULL;
    if ((st = get_string(root, name, "model_type", NULL, &model_type, err))) return st;
    const struct family *fam = NULL;
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(model_type, families[i].model_type) == 0) fam = &families[i];
    if (!fam) {
        char list[128] = "";
        for (size_t i = 0; i < N_FAMILIES; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                     families[i].model_type);
        }
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model_type '%.64s' is not supported (supported: %s)", name,
                             model_type, list);
    }
    LECTOR_ASSERT(strlen(fam->model_type) < sizeof cfg->model_type);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", fam->model_type);

    if ((st = get_int(root, name, "vocab_size", false, 0, 1, SIZE_MAX_VOCAB, &cfg->n_vocab, err)))
        return st;
    if ((st = get_int(root, name, "hidden_size", false, 0, 1, SIZE_MAX_DIM, &cfg->n_embd, err)))
        return st;
    if ((st = get_int(root, name, "num_hidden_layers", false, 0, 1, SIZE_MAX_DIM, &cfg->n_layer,
                      err)))
        return st;
    if ((st = get_int(root, name, "num_attention_heads", false, 0, 1, SIZE_MAX_DIM,
                      &cfg->n_head, err)))
        return st;
    if ((st = get_int(root, name, "intermediate_size", false, 0, 1, SIZE_MAX_DIM, &cfg->n_ff,
                      err)))
        return st;
    if ((st = get_int(root, name, "max_position_embeddings", false, 0, 1, SIZE_MAX_DIM,
                      &cfg->n_pos, err)))
        return st;
    if ((st = get_int(root, name, "type_vocab_size", true, fam->n_type_default, 1, SIZE_MAX_DIM,
                      &cfg->n_type, err)))
        return st;
    if (cfg->n_embd % cfg->n_head != 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: hidden_size %lld is not divisible by num_attention_heads %lld",
                             name, (long long)cfg->n_embd, (long long)cfg->n_head);

    const json_t *eps = json_object_get(root, "layer_norm_eps");
    if (!eps || json_is_null(eps)) {
        cfg->ln_eps = 1e-12f;
    } else {
        if (!json_is_number(eps))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: key 'layer_norm_eps' must be a number, got %s", name,
                                 json_kind(eps));
        double e = json_number_value(eps);
        // Zero would divide by zero on a constant row; >= 1 is certainly a typo.
        if (!(e > 0.0 && e < 1.0))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: key 'layer_norm_eps' is %g, must be in (0, 1)", name, e);
        cfg->ln_eps = (float)e;
        if (!(cfg->ln_eps > 0.0f))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: key 'layer_norm_eps' is %g, below the float range", name,
                                 e);
    }

    const char *act = NULL;
    if ((st = get_string(root, name, "hidden_act", "gelu", &act, err))) return st;
    bool found = false;
    for (size_t i = 0; i < N_ACTIVATIONS; i++) {
        if (strcmp(act, activations[i].name) == 0) {
            cfg->act = activations[i].act;
            found = true;
        }
    }
    if (!found)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: hidden_act '%.64s' is not supported (supported: gelu, "
                             "gelu_new, gelu_pytorch_tanh, relu)",
                             name, act);

    int64_t pad = 0;
    if ((st = get_int(root, name, "pad_token_id", true, 0, 0, cfg->n_vocab - 1, &pad, err)))
        return st;
    cfg->pad_token_id = (int32_t)pad;
    return LECTOR_STATUS_OK;
}

// Parse config.json contents from memory; name is used in messages. Used by the fuzz target.
enum lector_status lector__encoder_config_parse(const char *data, size_t n, const char *name,
                                                struct lector_encoder_config *cfg,
                                                struct lector_error *err);

enum lector_status lector__encoder_config_parse(const char *data, size_t n, const char *name,
                                                struct lector_encoder_config *cfg,
                                                struct lector_error *err) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t jerr;
    json_t *root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return lector__error_at(err, LECTOR_STATUS_FORMAT, jerr.line, jerr.column,
                                "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column,
                                jerr.text);
    enum lector_status st = parse_root(root, name, cfg, err);
    json_decref(root);
    if (st != LECTOR_STATUS_OK) memset(cfg, 0, sizeof *cfg);
    return st;
}

enum lector_status lector_encoder_config_load(const char *path, struct lector_encoder_config *cfg,
                                              struct lector_error *err) {
    if (!path || !cfg)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_encoder_config_load: path and cfg must not be NULL");
    char *data = NULL;
    size_t n = 0;
    // A real config.json is a few KB; 16 MB bounds what a hostile file can make us read.
    enum lector_status st = lector__read_file(path, (size_t)16 << 20, &data, &n, err);
    if (st != LECTOR_STATUS_OK) {
        memset(cfg, 0, sizeof *cfg);
        return st;
    }
    st = lector__encoder_config_parse(data, n, path, cfg, err);
    lector_free(data);
    return st;
}

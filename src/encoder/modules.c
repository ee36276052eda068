// sentence-transformers folders: modules.json and the Pooling module's config.json set the
// default pooling of an encoder.
//
// modules.json is a JSON array of modules run in order, each
//   {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}
// and the Pooling module's folder (usually "1_Pooling") holds a config.json of
//   {"word_embedding_dimension": C, "pooling_mode_cls_token": bool,
//    "pooling_mode_mean_tokens": bool, "pooling_mode_max_tokens": bool,
//    "pooling_mode_mean_sqrt_len_tokens": bool, "pooling_mode_weightedmean_tokens": bool,
//    "pooling_mode_lasttoken": bool, ...}
// sentence-transformers concatenates the outputs of every mode set; lector pools one way.
#include "encoder/encoder_impl.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "base/json_impl.h"

#define MODULE_PREFIX "sentence_transformers.models."

// Append one sentence to enc->pooling_note ("; "-separated).
static bool add_note(struct lector_encoder *enc, const char *note) {
    size_t n_old = enc->pooling_note ? strlen(enc->pooling_note) : 0, n = strlen(note);
    char *p = lector__realloc(enc->pooling_note, n_old + 2 + n + 1);
    if (!p) return false;
    if (n_old) memcpy(p + n_old, "; ", 2), n_old += 2;
    memcpy(p + n_old, note, n + 1);
    enc->pooling_note = p;
    return true;
}

// A module path must stay inside the model folder: relative, no "..", no backslash.
static bool path_ok(const char *path) {
    if (path[0] == '/' || strchr(path, '\\')) return false;
    for (const char *p = path; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n + (slash ? 1 : 0);
    }
    return true;
}

static enum lector_status read_pooling(struct lector_encoder *enc, const char *dir,
                                       const char *path, struct lector_error *err) {
    enum lector_status st = LECTOR_STATUS_OK;
    char *sub = lector__path_join(dir, path);
    char *cfg_path = sub ? lector__path_join(sub, "config.json") : NULL;
    json_t *root = NULL;
    if (!cfg_path) goto nomem;
    st = lector__json_read(cfg_path, (size_t)1 << 20, JSON_OBJECT, &root, err);
    if (st != LECTOR_STATUS_OK) goto done;
    const json_t *dim = json_object_get(root, "word_embedding_dimension");
    if (json_is_integer(dim) && json_integer_value(dim) != enc->cfg.n_embd) {
        st = lector__error(err, LECTOR_STATUS_MISMATCH,
                           "%s: word_embedding_dimension is %lld, but the encoder's hidden size "
                           "is %lld",
                           cfg_path, (long long)json_integer_value(dim),
                           (long long)enc->cfg.n_embd);
        goto done;
    }
    static const struct {
        const char *key;
        int pooling; // -1: a mode lector does not implement
    } modes[] = {
        {"pooling_mode_cls_token", LECTOR_POOLING_CLS},
        {"pooling_mode_mean_tokens", LECTOR_POOLING_MEAN},
        {"pooling_mode_max_tokens", LECTOR_POOLING_MAX},
        {"pooling_mode_mean_sqrt_len_tokens", -1},
        {"pooling_mode_weightedmean_tokens", -1},
        {"pooling_mode_lasttoken", -1},
    };
    int n_set = 0, chosen = -1;
    char set[256] = "";
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (!json_is_true(json_object_get(root, modes[i].key))) continue;
        n_set++;
        chosen = modes[i].pooling;
        size_t k = strlen(set);
        snprintf(set + k, sizeof set - k, "%s%s", k ? ", " : "",
                 modes[i].key + strlen("pooling_mode_"));
    }
    if (n_set == 1 && chosen >= 0) {
        enc->pooling_default = (enum lector_pooling)chosen;
    } else if (n_set > 0) {
        char note[512];
        snprintf(note, sizeof note,
                 "%s asks for pooling %s, which lector does not implement; the default is mean",
                 cfg_path, set);
        if (!add_note(enc, note)) goto nomem;
    }
    goto done;
nomem:
    st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
done:
    json_decref(root);
    lector_free(cfg_path);
    lector_free(sub);
    return st;
}

enum lector_status lector__encoder_read_modules(struct lector_encoder *enc, const char *dir,
                                               struct lector_error *err) {
    enc->pooling_default = LECTOR_POOLING_MEAN;
    char *path = lector__path_join(dir, "modules.json");
    if (!path) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
    if (!lector__file_exists(path)) {
        lector_free(path);
        return LECTOR_STATUS_OK;
    }
    enum lector_status st = LECTOR_STATUS_OK;
    json_t *root = NULL;
    st = lector__json_read(path, (size_t)1 << 20, JSON_ARRAY, &root, err);
    if (st != LECTOR_STATUS_OK) goto done;
    bool pooled = false;
    for (size_t i = 0; i < json_array_size(root); i++) {
        const json_t *m = json_array_get(root, i);
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *mpath = json_string_value(json_object_get(m, "path"));
        if (!json_is_object(m) || !type || !mpath) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: module %zu needs string keys 'type' and 'path'", path, i);
            goto done;
        }
        const char *kind = strncmp(type, MODULE_PREFIX, strlen(MODULE_PREFIX)) == 0
                               ? type + strlen(MODULE_PREFIX)
                               : type;
        if (strcmp(kind, "Pooling") == 0 && !pooled) {
            if (!path_ok(mpath)) {
                st = lector__error(err, LECTOR_STATUS_FORMAT,
                                   "%s: module path '%.200s' leaves the model folder", path,
                                   mpath);
                goto done;
            }
            st = read_pooling(enc, dir, mpath, err);
            if (st != LECTOR_STATUS_OK) goto done;
            pooled = true;
        } else if (strcmp(kind, "Normalize") == 0) {
            enc->normalize_default = true;
        } else if (strcmp(kind, "Transformer") != 0) {
            char note[320];
            snprintf(note, sizeof note, "%s: module '%.200s' is not applied", path, type);
            if (!add_note(enc, note)) {
                st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
                goto done;
            }
        }
    }
done:
    json_decref(root);
    lector_free(path);
    return st;
}

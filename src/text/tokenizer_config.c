// The settings of a tokenizer folder: tokenizer_config.json (transformers' tokenizer
// arguments and special-token names) and config.json's model_type.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

void lector__tok_settings_default(struct settings *s) {
    s->lowercase = true;
    s->strip_accents = -1;
    s->isolate_cjk = true;
    s->n_word_chars_max = 100;
    snprintf(s->unk, sizeof s->unk, "[UNK]");
    snprintf(s->cls, sizeof s->cls, "[CLS]");
    snprintf(s->sep, sizeof s->sep, "[SEP]");
    snprintf(s->pad, sizeof s->pad, "[PAD]");
    snprintf(s->mask, sizeof s->mask, "[MASK]");
    s->names_given = false;
    s->names_set = 0;
    snprintf(s->eos, sizeof s->eos, "</s>");
    s->spm_lower = s->remove_space = s->keep_accents = -1;
    s->add_prefix_space = -1;
    s->basic_tokenize = -1;
    s->tokenizer_class[0] = '\0';
    s->model_type[0] = '\0';
}

// obj[key] as a boolean: absent keeps *out; null gives null_value, or is an error when
// null_value is -2.
enum lector_status lector__tok_json_flag(const json_t *obj, const char *key, int null_value, int *out,
                                         const char *path, struct lector_error *err) {
    json_t *j = json_object_get(obj, key);
    if (!j) return LECTOR_STATUS_OK;
    if (json_is_boolean(j)) {
        *out = json_is_true(j);
        return LECTOR_STATUS_OK;
    }
    if (json_is_null(j) && null_value != -2) {
        *out = null_value;
        return LECTOR_STATUS_OK;
    }
    return lector__error(err, LECTOR_STATUS_FORMAT, "%s: \"%s\": expected true or false%s, found %s",
                         path, key, null_value != -2 ? " or null" : "", lector__json_kind(j));
}

// A special-token name: a string, or an object with "content" (AddedToken form). Returns
// whether one was found.
bool lector__tok_json_token_name(const json_t *obj, const char *key, char *out, size_t n) {
    json_t *j = json_object_get(obj, key);
    if (json_is_object(j)) j = json_object_get(j, "content");
    if (json_is_string(j) && json_string_length(j) > 0 && json_string_length(j) < n) {
        snprintf(out, n, "%s", json_string_value(j));
        return true;
    }
    return false;
}

static void json_string_into(const json_t *obj, const char *key, char *out, size_t n) {
    json_t *j = json_object_get(obj, key);
    if (json_is_string(j) && json_string_length(j) < n) snprintf(out, n, "%s", json_string_value(j));
}

// tokenizer_config.json (transformers' BertTokenizer arguments).
enum lector_status lector__tok_read_config(const char *path, struct settings *s,
                                           struct lector_error *err) {
    json_t *root = NULL;
    enum lector_status st = lector__json_read(path, CONFIG_BYTES_MAX, JSON_OBJECT, &root, err);
    if (st != LECTOR_STATUS_OK) return st;
    int lower = s->lowercase, cjk = s->isolate_cjk;
    if ((st = lector__tok_json_flag(root, "do_lower_case", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
        (st = lector__tok_json_flag(root, "strip_accents", -1, &s->strip_accents, path, err)) != LECTOR_STATUS_OK ||
        (st = lector__tok_json_flag(root, "tokenize_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    if ((st = lector__tok_json_flag(root, "do_basic_tokenize", -1, &s->basic_tokenize, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    int prefix_space = s->add_prefix_space;
    if ((st = lector__tok_json_flag(root, "add_prefix_space", -1, &prefix_space, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    s->add_prefix_space = prefix_space;
    if (json_is_boolean(json_object_get(root, "do_lower_case"))) s->spm_lower = lower;
    if ((st = lector__tok_json_flag(root, "remove_space", -1, &s->remove_space, path, err)) != LECTOR_STATUS_OK ||
        (st = lector__tok_json_flag(root, "keep_accents", -1, &s->keep_accents, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    s->lowercase = lower;
    s->isolate_cjk = cjk;
    unsigned set = 0;
    set |= lector__tok_json_token_name(root, "unk_token", s->unk, sizeof s->unk) ? NAME_UNK : 0u;
    set |= lector__tok_json_token_name(root, "cls_token", s->cls, sizeof s->cls) ? NAME_CLS : 0u;
    set |= lector__tok_json_token_name(root, "sep_token", s->sep, sizeof s->sep) ? NAME_SEP : 0u;
    set |= lector__tok_json_token_name(root, "pad_token", s->pad, sizeof s->pad) ? NAME_PAD : 0u;
    set |= lector__tok_json_token_name(root, "mask_token", s->mask, sizeof s->mask) ? NAME_MASK : 0u;
    s->names_given = set != 0;
    set |= lector__tok_json_token_name(root, "eos_token", s->eos, sizeof s->eos) ? NAME_EOS : 0u;
    s->names_set = set;
    json_string_into(root, "tokenizer_class", s->tokenizer_class, sizeof s->tokenizer_class);
fail:
    json_decref(root);
    return st;
}

void lector__tok_read_model_type(const char *dir, struct settings *s) {
    char *path = lector__path_join(dir, "config.json");
    json_t *root = NULL;
    if (path && lector__file_exists(path) && lector__json_read(path, CONFIG_BYTES_MAX, JSON_OBJECT, &root, NULL) == LECTOR_STATUS_OK) {
        json_string_into(root, "model_type", s->model_type, sizeof s->model_type);
        json_decref(root);
    }
    lector_free(path);
}

// Opening a Hugging Face tokenizer.json: added tokens, post-processor, normaliser and
// pre-tokeniser, and the WordPiece, BPE and Unigram models.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

// ---------------------------------------------------------------------------------------------
// tokenizer.json pieces shared by every model

// tokenizer.json "added_tokens": [{"id", "content", "normalized", "lstrip", "rstrip", ...}].
// Hugging Face matches tokens marked normalized against the normalised text; lector matches
// raw text, which is the same thing only when there is no normaliser (allow_normalized).
static enum lector_status read_added_tokens(const json_t *added, struct lector_tokenizer *tok,
                                            bool allow_normalized, const char *path,
                                            struct lector_error *err) {
    if (!added || json_is_null(added)) return LECTOR_STATUS_OK;
    if (!json_is_array(added))
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: added_tokens: expected an array, found %s",
                             path, lector__json_kind(added));
    size_t n_bytes = 0, i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *content = json_object_get(a, "content");
        json_t *id = json_object_get(a, "id");
        if (!json_is_string(content) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) > INT32_MAX)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: added_tokens[%zu]: expected {\"id\": integer >= 0, "
                                 "\"content\": string}, found something else",
                                 path, i);
        if (!allow_normalized && json_is_true(json_object_get(a, "normalized")))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: added_tokens[%zu] (\"%s\"): expected \"normalized\": false",
                                 path, i, json_string_value(content));
        if (json_is_true(json_object_get(a, "single_word")))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: added_tokens[%zu] (\"%s\"): \"single_word\": true is not "
                                 "supported: lector matches an added token anywhere in the text, "
                                 "also inside a word, so the ids would differ",
                                 path, i, json_string_value(content));
        n_bytes += json_string_length(content) + 1;
    }
    if (json_array_size(added) > LECTOR__SPECIALS_MAX)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: added_tokens: %zu tokens, expected at most %d", path,
                             json_array_size(added), LECTOR__SPECIALS_MAX);
    tok->specials_mem = lector__malloc(n_bytes ? n_bytes : 1);
    if (!tok->specials_mem) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    char *p = tok->specials_mem;
    json_array_foreach(added, i, a) {
        json_t *content = json_object_get(a, "content");
        size_t len = json_string_length(content);
        memcpy(p, json_string_value(content), len + 1);
        lector__tok_add_special_strip(tok, p, len, (int32_t)json_integer_value(json_object_get(a, "id")),
                          json_is_true(json_object_get(a, "lstrip")),
                          json_is_true(json_object_get(a, "rstrip")));
        p += len + 1;
    }
    return LECTOR_STATUS_OK;
}

static enum lector_status unsupported(const char *path, const char *what, const json_t *type,
                                      struct lector_error *err) {
    return lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: %s '%s' is not supported", path, what,
                         json_is_string(type) ? json_string_value(type) : "(no type)");
}

static const char *type_of(const json_t *j) {
    json_t *t = json_object_get(j, "type");
    return json_is_string(t) ? json_string_value(t) : "";
}

// Resolve a special token given by name (and maybe id) to an id of the vocabulary.
static enum lector_status special_id(const struct lector_tokenizer *tok, const char *name,
                                     const json_t *id, int32_t *out, const char *path,
                                     struct lector_error *err) {
    int32_t found = lector__vocab_find(&tok->vocab, name, strlen(name));
    if (found < 0 && json_is_integer(id) && json_integer_value(id) >= 0 &&
        json_integer_value(id) < tok->vocab.n_vocab)
        found = (int32_t)json_integer_value(id);
    if (found < 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: post_processor: special token '%s' is not in the vocabulary", path,
                             name);
    *out = found;
    return LECTOR_STATUS_OK;
}

// post_processor: which ids go before and after the pieces of a single sequence.
static enum lector_status read_post(const json_t *pp, struct lector_tokenizer *tok,
                                    const char *path, struct lector_error *err) {
    if (!pp || json_is_null(pp)) return LECTOR_STATUS_OK;
    const char *t = type_of(pp);
    enum lector_status st;
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(pp, "processors"), i, x) {
            if ((st = read_post(x, tok, path, err)) != LECTOR_STATUS_OK) return st;
        }
        return LECTOR_STATUS_OK;
    }
    if (strcmp(t, "ByteLevel") == 0) return LECTOR_STATUS_OK;  // offsets only, ids unchanged
    if (strcmp(t, "BertProcessing") == 0 || strcmp(t, "RobertaProcessing") == 0) {
        json_t *cls = json_object_get(pp, "cls"), *sep = json_object_get(pp, "sep");
        if (!json_is_string(json_array_get(cls, 0)) || !json_is_string(json_array_get(sep, 0)))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: post_processor %s: expected \"cls\" and \"sep\" as [token, id]",
                                 path, t);
        tok->n_prefix = tok->n_suffix = 0;
        if ((st = special_id(tok, json_string_value(json_array_get(cls, 0)), json_array_get(cls, 1),
                             &tok->prefix[0], path, err)) != LECTOR_STATUS_OK ||
            (st = special_id(tok, json_string_value(json_array_get(sep, 0)), json_array_get(sep, 1),
                             &tok->suffix[0], path, err)) != LECTOR_STATUS_OK)
            return st;
        tok->n_prefix = tok->n_suffix = 1;
        return LECTOR_STATUS_OK;
    }
    if (strcmp(t, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(pp, "single");
        json_t *specials = json_object_get(pp, "special_tokens");
        if (!json_is_array(single))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: post_processor TemplateProcessing: expected \"single\" as an array",
                                 path);
        tok->n_prefix = tok->n_suffix = 0;
        bool seen_a = false;
        size_t i;
        json_t *x;
        json_array_foreach(single, i, x) {
            json_t *sp = json_object_get(x, "SpecialToken");
            if (json_object_get(x, "Sequence")) {
                if (seen_a)
                    return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                         "%s: post_processor TemplateProcessing: a single template "
                                         "with two sequences is not supported",
                                         path);
                seen_a = true;
                continue;
            }
            const char *name = json_string_value(json_object_get(sp, "id"));
            if (!name)
                return lector__error(err, LECTOR_STATUS_FORMAT,
                                     "%s: post_processor TemplateProcessing: single[%zu]: expected "
                                     "{\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}",
                                     path, i);
            json_t *ids = json_object_get(json_object_get(specials, name), "ids");
            size_t n_ids = json_array_size(ids);
            if (n_ids == 0) n_ids = 1;
            for (size_t k = 0; k < n_ids; k++) {
                int32_t id;
                json_t *jid = json_array_get(ids, k);
                const char *tname = json_string_value(
                    json_array_get(json_object_get(json_object_get(specials, name), "tokens"), k));
                if ((st = special_id(tok, tname ? tname : name, jid, &id, path, err)) != LECTOR_STATUS_OK)
                    return st;
                int32_t *list = seen_a ? tok->suffix : tok->prefix;
                int *n = seen_a ? &tok->n_suffix : &tok->n_prefix;
                if (*n == 4)
                    return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                         "%s: post_processor TemplateProcessing: more than 4 special "
                                         "tokens on one side",
                                         path);
                list[(*n)++] = id;
            }
        }
        return LECTOR_STATUS_OK;
    }
    return unsupported(path, "post_processor", json_object_get(pp, "type"), err);
}

// Copy a JSON string into the pipeline's storage.
static const char *pipe_str(struct lector__pipeline *p, size_t *used, size_t cap, const char *s,
                            size_t n) {
    if (*used + n + 1 > cap) return NULL;
    char *d = p->mem + *used;
    memcpy(d, s, n);
    d[n] = '\0';
    *used += n + 1;
    return d;
}

// Byte size of every string in a JSON tree: the pipeline's storage bound.
static size_t json_strings_size(const json_t *j) {
    size_t n = 0, i;
    const char *k;
    json_t *x;
    if (json_is_string(j)) return json_string_length(j) + 1;
    if (json_is_array(j)) json_array_foreach(j, i, x) n += json_strings_size(x);
    if (json_is_object(j)) json_object_foreach((json_t *)j, k, x) n += json_strings_size(x);
    return n;
}

static enum lector_status read_normalizer(const json_t *j, struct lector__pipeline *p, size_t *used,
                                          size_t cap, const char *path, struct lector_error *err) {
    if (!j || json_is_null(j)) return LECTOR_STATUS_OK;
    const char *t = type_of(j);
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(j, "normalizers"), i, x) {
            enum lector_status st = read_normalizer(x, p, used, cap, path, err);
            if (st != LECTOR_STATUS_OK) return st;
        }
        return LECTOR_STATUS_OK;
    }
    if (p->n_norm == LECTOR__OPS_MAX)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: more than %d normalizers", path,
                             LECTOR__OPS_MAX);
    struct lector__norm_op *op = &p->norm[p->n_norm];
    memset(op, 0, sizeof *op);
    if (strcmp(t, "Lowercase") == 0) op->type = LECTOR__NORM_LOWERCASE;
    else if (strcmp(t, "NFC") == 0) op->type = LECTOR__NORM_NFC;
    else if (strcmp(t, "NFD") == 0) op->type = LECTOR__NORM_NFD;
    else if (strcmp(t, "NFKC") == 0) op->type = LECTOR__NORM_NFKC;
    else if (strcmp(t, "NFKD") == 0) op->type = LECTOR__NORM_NFKD;
    else if (strcmp(t, "StripAccents") == 0) op->type = LECTOR__NORM_STRIP_ACCENTS;
    else if (strcmp(t, "Strip") == 0) {
        op->type = LECTOR__NORM_STRIP;
        op->left = !json_is_false(json_object_get(j, "strip_left"));
        op->right = !json_is_false(json_object_get(j, "strip_right"));
    } else if (strcmp(t, "Replace") == 0 || strcmp(t, "Prepend") == 0) {
        bool replace = t[0] == 'R';
        json_t *pat = json_object_get(json_object_get(j, "pattern"), "String");
        json_t *content = json_object_get(j, replace ? "content" : "prepend");
        if (replace && !json_is_string(pat))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: normalizer 'Replace' with a Regex pattern is not supported", path);
        if (!json_is_string(content))
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: normalizer '%s': expected a \"%s\" string",
                                 path, t, replace ? "content" : "prepend");
        op->type = replace ? LECTOR__NORM_REPLACE : LECTOR__NORM_PREPEND;
        if (replace) {
            op->n_from = json_string_length(pat);
            op->from = pipe_str(p, used, cap, json_string_value(pat), op->n_from);
        }
        op->n_to = json_string_length(content);
        op->to = pipe_str(p, used, cap, json_string_value(content), op->n_to);
        if ((replace && !op->from) || !op->to)
            return lector__error(err, LECTOR_STATUS_INTERNAL, "%s: normalizer strings overflow", path);
    } else {
        return unsupported(path, "normalizer", json_object_get(j, "type"), err);
    }
    p->n_norm++;
    return LECTOR_STATUS_OK;
}

static enum lector_status read_pre_tokenizer(const json_t *j, struct lector__pipeline *p,
                                             const char *path, struct lector_error *err) {
    if (!j || json_is_null(j)) return LECTOR_STATUS_OK;
    const char *t = type_of(j);
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(j, "pretokenizers"), i, x) {
            enum lector_status st = read_pre_tokenizer(x, p, path, err);
            if (st != LECTOR_STATUS_OK) return st;
        }
        return LECTOR_STATUS_OK;
    }
    if (p->n_pre == LECTOR__OPS_MAX)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: more than %d pre-tokenizers", path,
                             LECTOR__OPS_MAX);
    struct lector__pre_op *op = &p->pre[p->n_pre];
    memset(op, 0, sizeof *op);
    if (strcmp(t, "ByteLevel") == 0) {
        op->type = LECTOR__PRE_BYTE_LEVEL;
        op->add_prefix_space = json_is_true(json_object_get(j, "add_prefix_space"));
        op->use_regex = !json_is_false(json_object_get(j, "use_regex"));
    } else if (strcmp(t, "Metaspace") == 0) {
        op->type = LECTOR__PRE_METASPACE;
        json_t *r = json_object_get(j, "replacement");
        const char *repl = json_is_string(r) ? json_string_value(r) : "\xe2\x96\x81";
        op->n_repl = strlen(repl);
        if (op->n_repl == 0 || op->n_repl >= sizeof op->repl)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: pre_tokenizer Metaspace: expected one replacement character",
                                 path);
        memcpy(op->repl, repl, op->n_repl);
        op->split = !json_is_false(json_object_get(j, "split"));
        json_t *scheme = json_object_get(j, "prepend_scheme");
        const char *sc = json_string_value(scheme);
        if (sc) {
            if (strcmp(sc, "always") == 0) op->prepend = LECTOR__PREPEND_ALWAYS;
            else if (strcmp(sc, "first") == 0) op->prepend = LECTOR__PREPEND_FIRST;
            else if (strcmp(sc, "never") == 0) op->prepend = LECTOR__PREPEND_NEVER;
            else
                return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                     "%s: pre_tokenizer Metaspace: prepend_scheme '%s' is not supported",
                                     path, sc);
        } else {
            // Older files: add_prefix_space true (the default) means "always".
            op->prepend = json_is_false(json_object_get(j, "add_prefix_space"))
                              ? LECTOR__PREPEND_NEVER
                              : LECTOR__PREPEND_ALWAYS;
        }
    } else if (strcmp(t, "WhitespaceSplit") == 0) {
        op->type = LECTOR__PRE_WHITESPACE_SPLIT;
    } else if (strcmp(t, "Whitespace") == 0) {
        op->type = LECTOR__PRE_WHITESPACE;
    } else {
        return unsupported(path, "pre_tokenizer", json_object_get(j, "type"), err);
    }
    p->n_pre++;
    return LECTOR_STATUS_OK;
}

// The vocabulary of a tokenizer.json BPE / WordPiece model: {"token": id, ...}.
enum lector_status lector__tok_vocab_from_object(const json_t *vocab, struct lector__vocab *v,
                                                 const char *path, const char *what,
                                                 struct lector_error *err) {
    if (!json_is_object(vocab))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: %s: expected an object of token: id, found %s", path, what,
                             vocab ? lector__json_kind(vocab) : "nothing");
    int64_t n = (int64_t)json_object_size(vocab);
    const char **tokens = lector__calloc((size_t)n + 1, sizeof *tokens);
    int64_t *ids = lector__calloc((size_t)n + 1, sizeof *ids);
    enum lector_status st = LECTOR_STATUS_OK;
    if (!tokens || !ids) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int64_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val)) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: %s[\"%s\"]: expected an integer id, found %s", path, what, key,
                               lector__json_kind(val));
            goto done;
        }
        tokens[i] = key;
        ids[i] = (int64_t)json_integer_value(val);
        i++;
    }
    char origin[600];
    snprintf(origin, sizeof origin, "%s: %s", path, what);
    st = lector__vocab_from_pairs(v, tokens, ids, n, origin, err);
done:
    lector_free(ids);
    lector_free(tokens);
    return st;
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json

static enum lector_status json_wordpiece(const char *path, json_t *root, struct settings *s,
                                         struct lector_tokenizer *tok, struct lector_error *err) {
    json_t *model = json_object_get(root, "model");
    enum lector_status st;
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    if (prefix && !(json_is_string(prefix) && strcmp(json_string_value(prefix), "##") == 0))
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model.continuing_subword_prefix: expected \"##\", found %s", path,
                             json_is_string(prefix) ? json_string_value(prefix) : lector__json_kind(prefix));
    json_t *chars_max = json_object_get(model, "max_input_chars_per_word");
    if (chars_max) {
        json_int_t m = json_is_integer(chars_max) ? json_integer_value(chars_max) : -1;
        if (m < 1 || m > LECTOR__WORD_CHARS_LIMIT)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: model.max_input_chars_per_word: expected 1..%d, found %lld",
                                 path, LECTOR__WORD_CHARS_LIMIT, (long long)m);
        s->n_word_chars_max = (int32_t)m;
    }
    lector__tok_json_token_name(model, "unk_token", s->unk, sizeof s->unk);

    // The one-pass BERT pipeline: BertNormalizer (or none) + BertPreTokenizer (or none).
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        if (strcmp(type_of(norm), "BertNormalizer") != 0)
            return unsupported(path, "normalizer (with a WordPiece model)", json_object_get(norm, "type"), err);
        int lower = s->lowercase, cjk = s->isolate_cjk, clean = 1;
        if ((st = lector__tok_json_flag(norm, "lowercase", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
            (st = lector__tok_json_flag(norm, "strip_accents", -1, &s->strip_accents, path, err)) != LECTOR_STATUS_OK ||
            (st = lector__tok_json_flag(norm, "handle_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK ||
            (st = lector__tok_json_flag(norm, "clean_text", -2, &clean, path, err)) != LECTOR_STATUS_OK)
            return st;
        if (!clean)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: normalizer.clean_text: false is not supported: lector's "
                                 "BERT normaliser always drops control characters and turns other "
                                 "whitespace into spaces, so the ids would differ",
                                 path);
        s->lowercase = lower;
        s->isolate_cjk = cjk;
    } else {
        // No normaliser: the text is used as it is.
        s->lowercase = false;
        s->strip_accents = 0;
        s->isolate_cjk = false;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (pre && !json_is_null(pre) && strcmp(type_of(pre), "BertPreTokenizer") != 0)
        return unsupported(path, "pre_tokenizer (with a WordPiece model)", json_object_get(pre, "type"), err);

    if ((st = read_added_tokens(json_object_get(root, "added_tokens"), tok, false, path, err)) !=
            LECTOR_STATUS_OK ||
        (st = lector__tok_vocab_from_object(json_object_get(model, "vocab"), &tok->vocab, path, "model.vocab",
                                err)) != LECTOR_STATUS_OK ||
        (st = read_post(json_object_get(root, "post_processor"), tok, path, err)) != LECTOR_STATUS_OK)
        return st;
    return lector__tok_finish(tok, s, path, err);
}

static enum lector_status json_bpe(const char *path, json_t *root, struct lector_tokenizer *tok,
                                   struct lector_error *err) {
    json_t *model = json_object_get(root, "model");
    enum lector_status st;
    tok->kind = LECTOR__KIND_BPE;
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout))
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: model BPE: dropout is not supported", path);
    static const char *const empty_keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        json_t *x = json_object_get(model, empty_keys[k]);
        if (x && !json_is_null(x) && !(json_is_string(x) && json_string_length(x) == 0))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED, "%s: model BPE: %s is not supported",
                                 path, empty_keys[k]);
    }
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model BPE: byte_fallback is not supported: lector has no <0xNN> "
                             "byte pieces, so the ids would differ for unknown characters",
                             path);
    if ((st = lector__tok_vocab_from_object(json_object_get(model, "vocab"), &tok->vocab, path, "model.vocab",
                                err)) != LECTOR_STATUS_OK)
        return st;
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges))
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: model.merges: expected an array, found %s",
                             path, merges ? lector__json_kind(merges) : "nothing");
    if ((st = lector__bpe_init(&tok->bpe, (int64_t)json_array_size(merges), err)) != LECTOR_STATUS_OK)
        return st;
    size_t i;
    json_t *m;
    char origin[600];
    snprintf(origin, sizeof origin, "%s: model.merges", path);
    json_array_foreach(merges, i, m) {
        // "left right" (older files) or ["left", "right"].
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (sp) {
                a = s;
                na = (size_t)(sp - s);
                b = sp + 1;
                nb = strlen(b);
            }
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            na = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            nb = json_string_length(json_array_get(m, 1));
        }
        if (!a || na == 0 || nb == 0)
            return lector__error_index(err, LECTOR_STATUS_FORMAT, (int64_t)i,
                                    "%s[%zu]: expected \"left right\" or [\"left\", \"right\"]", origin, i);
        if ((st = lector__bpe_add_merge(&tok->bpe, &tok->vocab, a, na, b, nb, origin, (int64_t)i,
                                        err)) != LECTOR_STATUS_OK)
            return st;
    }
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) {
        tok->bpe.id_unk = lector__vocab_find(&tok->vocab, json_string_value(unk), json_string_length(unk));
        if (tok->bpe.id_unk < 0)
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary",
                                 path, json_string_value(unk));
        tok->id_unk = tok->bpe.id_unk;
    }
    tok->bpe.fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    return LECTOR_STATUS_OK;
}

static enum lector_status json_unigram(const char *path, json_t *root, struct lector_tokenizer *tok,
                                       struct lector_error *err) {
    json_t *model = json_object_get(root, "model");
    tok->kind = LECTOR__KIND_UNIGRAM;
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: model Unigram: byte_fallback is not supported: lector has no "
                             "<0xNN> byte pieces, so the ids would differ for unknown characters",
                             path);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: model.vocab: expected an array of [piece, score], found %s", path,
                             vocab ? lector__json_kind(vocab) : "nothing");
    int64_t n = (int64_t)json_array_size(vocab);
    const char **tokens = lector__calloc((size_t)n + 1, sizeof *tokens);
    int64_t *ids = lector__calloc((size_t)n + 1, sizeof *ids);
    tok->uni.scores = lector__calloc((size_t)n + 1, sizeof *tok->uni.scores);
    enum lector_status st = LECTOR_STATUS_OK;
    if (!tokens || !ids || !tok->uni.scores) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    float score_min = 0;
    for (int64_t i = 0; i < n; i++) {
        json_t *e = json_array_get(vocab, (size_t)i);
        json_t *piece = json_array_get(e, 0), *score = json_array_get(e, 1);
        if (!json_is_string(piece) || !json_is_number(score)) {
            st = lector__error_index(err, LECTOR_STATUS_FORMAT, i,
                                  "%s: model.vocab[%lld]: expected [piece, score]", path, (long long)i);
            goto done;
        }
        tokens[i] = json_string_value(piece);
        ids[i] = i;
        tok->uni.scores[i] = (float)json_number_value(score);
        if (tok->uni.scores[i] < score_min) score_min = tok->uni.scores[i];
    }
    tok->uni.score_unk = score_min - 10.0f;
    char origin[600];
    snprintf(origin, sizeof origin, "%s: model.vocab", path);
    if ((st = lector__vocab_from_pairs(&tok->vocab, tokens, ids, n, origin, err)) != LECTOR_STATUS_OK)
        goto done;
    json_t *unk = json_object_get(model, "unk_id");
    if (json_is_integer(unk)) {
        if (json_integer_value(unk) < 0 || json_integer_value(unk) >= n) {
            st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: model.unk_id %lld is out of range", path,
                               (long long)json_integer_value(unk));
            goto done;
        }
        tok->uni.id_unk = tok->id_unk = (int32_t)json_integer_value(unk);
    }
done:
    lector_free(ids);
    lector_free(tokens);
    return st;
}

enum lector_status lector__tok_open_json(const char *path, struct settings *s,
                                         struct lector_tokenizer **out,
                                         struct lector_error *err) {
    json_t *root = NULL;
    char *data = NULL;
    size_t n_data = 0;
    struct lector_tokenizer *tok = NULL;
    enum lector_status st = lector__read_file(path, CONFIG_BYTES_MAX, &data, &n_data, err);
    if (st != LECTOR_STATUS_OK) return st;
    if ((st = lector__json_parse(data, n_data, path, JSON_OBJECT, &root, err)) != LECTOR_STATUS_OK) goto fail;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: expected \"model\": {...}, not found", path);
        goto fail;
    }
    const char *mt = type_of(model);
    // Files written by older versions of tokenizers leave out model.type.
    if (!*mt) {
        if (json_is_object(json_object_get(model, "vocab")) && json_object_get(model, "merges")) mt = "BPE";
        else if (json_is_array(json_object_get(model, "vocab"))) mt = "Unigram";
        else if (json_is_object(json_object_get(model, "vocab"))) mt = "WordPiece";
    }
    if ((st = lector__tok_new(path, &tok, err)) != LECTOR_STATUS_OK) goto fail;
    json_t *trunc = json_object_get(root, "truncation");
    (void)trunc;  // truncation is the caller's n_max; padding is the encoder's business
    if (strcmp(mt, "WordPiece") == 0) {
        st = json_wordpiece(path, root, s, tok, err);
        if (st != LECTOR_STATUS_OK) goto fail;
    } else if (strcmp(mt, "BPE") == 0 || strcmp(mt, "Unigram") == 0) {
        st = mt[0] == 'B' ? json_bpe(path, root, tok, err) : json_unigram(path, root, tok, err);
        if (st != LECTOR_STATUS_OK) goto fail;
        json_t *norm = json_object_get(root, "normalizer");
        json_t *pre = json_object_get(root, "pre_tokenizer");
        size_t cap = json_strings_size(norm) + 1;
        tok->pipe.mem = lector__malloc(cap);
        if (!tok->pipe.mem) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        size_t used = 0;
        if ((st = read_normalizer(norm, &tok->pipe, &used, cap, path, err)) != LECTOR_STATUS_OK ||
            (st = read_pre_tokenizer(pre, &tok->pipe, path, err)) != LECTOR_STATUS_OK)
            goto fail;
        for (int k = 0; k < tok->pipe.n_pre; k++)
            if (tok->pipe.pre[k].type == LECTOR__PRE_BYTE_LEVEL) tok->bpe.byte_level = true;
        if (tok->bpe.byte_level) {
            if (tok->kind != LECTOR__KIND_BPE) {
                st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                   "%s: pre_tokenizer 'ByteLevel' with a Unigram model is not supported",
                                   path);
                goto fail;
            }
            for (int b = 0; b < 256; b++) {
                char c[4];
                int k = lector__utf8_encode(lector__byte_char((uint8_t)b), c);
                tok->bpe.byte_id[b] = lector__vocab_find(&tok->vocab, c, (size_t)k);
            }
        }
        if ((st = read_added_tokens(json_object_get(root, "added_tokens"), tok, tok->pipe.n_norm == 0,
                                    path, err)) != LECTOR_STATUS_OK ||
            (st = read_post(json_object_get(root, "post_processor"), tok, path, err)) != LECTOR_STATUS_OK)
            goto fail;
        for (int k = 0; k < tok->n_specials; k++)
            if (tok->specials[k].id < 0 || tok->specials[k].id >= tok->vocab.n_vocab) {
                st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                   "%s: added token \"%s\" has id %d, expected an id below the "
                                   "vocabulary size %lld",
                                   path, tok->specials[k].text, (int)tok->specials[k].id,
                                   (long long)tok->vocab.n_vocab);
                goto fail;
            }
        lector__tok_find_family_ids(tok);
        lector_tokenizer_set_split_specials(tok, 0);
        const char *files[1] = {data};
        size_t sizes[1] = {n_data};
        lector__tok_hash_files(tok, mt[0] == 'B' ? "bpe-json" : "unigram-json", files, sizes, 1);
    } else {
        st = unsupported(path, "model", json_object_get(model, "type"), err);
        goto fail;
    }
    lector__tok_set_source(tok, path, NULL);
    *out = tok;
    tok = NULL; // the cleanup below then has no tokenizer to close
fail:
    lector_tokenizer_close(tok);
    lector_free(data);
    json_decref(root);
    return st;
}

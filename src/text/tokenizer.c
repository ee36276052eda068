// Public tokenizer API: opening vocab.txt / tokenizer_config.json / tokenizer.json, the
// settings hash, and encode with [CLS] ... [SEP] and truncation.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "text/text_impl.h"

// A vocabulary file is a few MB; refusing anything huge keeps a stray path from eating memory.
#define VOCAB_BYTES_MAX ((size_t)256 << 20)
#define CONFIG_BYTES_MAX ((size_t)64 << 20)

// ---------------------------------------------------------------------------------------------
// settings

struct settings {
    bool lowercase;
    int strip_accents;  // -1 = follow lowercase
    bool isolate_cjk;
    int32_t n_word_chars_max;
    // Special token names; tokenizer_config.json may rename them.
    char unk[64], cls[64], sep[64], pad[64], mask[64];
};

static void settings_default(struct settings *s) {
    s->lowercase = true;
    s->strip_accents = -1;
    s->isolate_cjk = true;
    s->n_word_chars_max = 100;
    snprintf(s->unk, sizeof s->unk, "[UNK]");
    snprintf(s->cls, sizeof s->cls, "[CLS]");
    snprintf(s->sep, sizeof s->sep, "[SEP]");
    snprintf(s->pad, sizeof s->pad, "[PAD]");
    snprintf(s->mask, sizeof s->mask, "[MASK]");
}

static const char *json_type_name(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "?";
}

// obj[key] as a boolean: absent keeps *out; null gives null_value, or is an error when
// null_value is -2.
static enum lector_status json_flag(const json_t *obj, const char *key, int null_value, int *out,
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
                         path, key, null_value != -2 ? " or null" : "", json_type_name(j));
}

// A special-token name: a string, or an object with "content" (AddedToken form).
static void json_token_name(const json_t *obj, const char *key, char *out, size_t n) {
    json_t *j = json_object_get(obj, key);
    if (json_is_object(j)) j = json_object_get(j, "content");
    if (json_is_string(j) && json_string_length(j) > 0 && json_string_length(j) < n)
        snprintf(out, n, "%s", json_string_value(j));
}

static enum lector_status load_json(const char *path, json_t **out, struct lector_error *err) {
    *out = NULL;
    char *data = NULL;
    size_t n = 0;
    enum lector_status st = lector__read_file(path, CONFIG_BYTES_MAX, &data, &n, err);
    if (st != LECTOR_STATUS_OK) return st;
    json_error_t je;
    json_t *root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je);
    lector_free(data);
    if (!root)
        return lector__error_at(err, LECTOR_STATUS_FORMAT, je.line, je.column,
                                "%s:%d:%d: expected JSON, %s", path, je.line, je.column, je.text);
    if (!json_is_object(root)) {
        st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: expected a JSON object, found %s",
                           path, json_type_name(root));
        json_decref(root);
        return st;
    }
    *out = root;
    return LECTOR_STATUS_OK;
}

// tokenizer_config.json (transformers' BertTokenizer arguments).
static enum lector_status read_config(const char *path, struct settings *s,
                                      struct lector_error *err) {
    json_t *root = NULL;
    enum lector_status st = load_json(path, &root, err);
    if (st != LECTOR_STATUS_OK) return st;
    int lower = s->lowercase, cjk = s->isolate_cjk;
    if ((st = json_flag(root, "do_lower_case", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
        (st = json_flag(root, "strip_accents", -1, &s->strip_accents, path, err)) != LECTOR_STATUS_OK ||
        (st = json_flag(root, "tokenize_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    s->lowercase = lower;
    s->isolate_cjk = cjk;
    json_token_name(root, "unk_token", s->unk, sizeof s->unk);
    json_token_name(root, "cls_token", s->cls, sizeof s->cls);
    json_token_name(root, "sep_token", s->sep, sizeof s->sep);
    json_token_name(root, "pad_token", s->pad, sizeof s->pad);
    json_token_name(root, "mask_token", s->mask, sizeof s->mask);
fail:
    json_decref(root);
    return st;
}

// ---------------------------------------------------------------------------------------------
// building the tokenizer

// Add a special token (text must outlive tok), keeping the list longest first so that the
// first match is the longest; an empty or repeated string is ignored.
static void add_special(struct lector_tokenizer *tok, const char *text, size_t len, int32_t id) {
    if (len == 0 || tok->n_specials == LECTOR__SPECIALS_MAX) return;
    for (int k = 0; k < tok->n_specials; k++)
        if (tok->specials[k].len == len && memcmp(tok->specials[k].text, text, len) == 0) return;
    int k = tok->n_specials++;
    while (k > 0 && tok->specials[k - 1].len < len) {
        tok->specials[k] = tok->specials[k - 1];
        k--;
    }
    tok->specials[k] = (struct lector__special){.text = text, .len = len, .id = id};
}

static enum lector_status finish(struct lector_tokenizer *tok, const struct settings *s,
                                 const char *origin, struct lector_error *err) {
    tok->norm.lowercase = s->lowercase;
    tok->norm.strip_accents = s->strip_accents < 0 ? s->lowercase : s->strip_accents != 0;
    tok->norm.isolate_cjk = s->isolate_cjk;
    tok->n_word_chars_max = s->n_word_chars_max;
    tok->hash_cont = lector__fnv(LECTOR__FNV_OFFSET, "##", 2);

    const char *names[3] = {s->unk, s->cls, s->sep};
    int32_t *ids[3] = {&tok->id_unk, &tok->id_cls, &tok->id_sep};
    for (int k = 0; k < 3; k++) {
        *ids[k] = lector__vocab_find(&tok->vocab, names[k], strlen(names[k]));
        if (*ids[k] < 0)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: expected the special token %s in the vocabulary, not found "
                                 "among %lld tokens",
                                 origin, names[k], (long long)tok->vocab.n_vocab);
    }
    tok->id_pad = lector__vocab_find(&tok->vocab, s->pad, strlen(s->pad));
    tok->id_mask = lector__vocab_find(&tok->vocab, s->mask, strlen(s->mask));
    for (int b = 0; b < 128; b++) {
        char c = (char)b;
        int32_t id = lector__vocab_find(&tok->vocab, &c, 1);
        tok->id_ascii[b] = id >= 0 ? id : tok->id_unk;
    }

    // Special tokens matched in raw text: the ones tokenizer.json listed, else the five
    // BERT specials that the vocabulary has (what transformers registers as added tokens).
    if (tok->n_specials == 0) {
        const char *all[5] = {s->unk, s->cls, s->sep, s->pad, s->mask};
        for (int k = 0; k < 5; k++) {
            int32_t id = lector__vocab_find(&tok->vocab, all[k], strlen(all[k]));
            if (id >= 0) add_special(tok, tok->vocab.strings + tok->vocab.offsets[id],
                                     tok->vocab.lens[id], id);
        }
    }
    for (int k = 0; k < tok->n_specials; k++)
        if (tok->specials[k].id >= tok->vocab.n_vocab)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: added token \"%s\" has id %d, expected an id below the "
                                 "vocabulary size %lld",
                                 origin, tok->specials[k].text, (int)tok->specials[k].id,
                                 (long long)tok->vocab.n_vocab);
    for (int b = 0; b < 256; b++)
        tok->byte_class[b] = b < 128 ? lector__ascii_class[b] : LECTOR__CHAR_UTF8;
    for (int k = 0; k < tok->n_specials; k++)
        tok->byte_class[(uint8_t)tok->specials[k].text[0]] |= LECTOR__CHAR_SPECIAL;

    // The hash identifies what encode does: format version, settings, special names and
    // every token in id order (NUL-separated, so no two vocabularies collide by splitting).
    struct lector__sha256 sh;
    lector__sha256_init(&sh);
    char head[512];
    int n_head = snprintf(head, sizeof head,
                          "lector-wordpiece-1\nlowercase=%d strip_accents=%d cjk=%d "
                          "word_chars_max=%d prefix=##\nunk=%s cls=%s sep=%s\nn_vocab=%lld\n",
                          tok->norm.lowercase, tok->norm.strip_accents, tok->norm.isolate_cjk,
                          tok->n_word_chars_max, s->unk, s->cls, s->sep,
                          (long long)tok->vocab.n_vocab);
    lector__sha256_update(&sh, head, (size_t)n_head);
    for (int k = 0; k < tok->n_specials; k++) {
        n_head = snprintf(head, sizeof head, "special %d ", (int)tok->specials[k].id);
        lector__sha256_update(&sh, head, (size_t)n_head);
        lector__sha256_update(&sh, tok->specials[k].text, tok->specials[k].len + 1);
    }
    lector__sha256_update(&sh, "\n", 1);
    for (int64_t i = 0; i < tok->vocab.n_vocab; i++)
        lector__sha256_update(&sh, tok->vocab.strings + tok->vocab.offsets[i],
                              (size_t)tok->vocab.lens[i] + 1);
    uint8_t digest[32];
    lector__sha256_final(&sh, digest);
    lector__sha256_hex(digest, tok->hash_hex);
    return LECTOR_STATUS_OK;
}

static enum lector_status open_vocab_txt(const char *vocab_path, const struct settings *s,
                                         struct lector_tokenizer **out, struct lector_error *err) {
    char *data = NULL;
    size_t n = 0;
    struct lector_tokenizer *tok = NULL;
    enum lector_status st = lector__read_file(vocab_path, VOCAB_BYTES_MAX, &data, &n, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    tok = lector__calloc(1, sizeof *tok);
    if (!tok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", vocab_path);
        goto fail;
    }
    st = lector__vocab_parse_txt(&tok->vocab, data, n, vocab_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = finish(tok, s, vocab_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    lector_free(data);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_free(tok);
    lector_free(data);
    return st;
}

// tokenizer.json "added_tokens": [{"id", "content", "normalized", ...}]. Tokens marked
// normalized are matched after normalisation by Hugging Face, which lector does not do.
static enum lector_status read_added_tokens(const json_t *added, struct lector_tokenizer *tok,
                                            const char *path, struct lector_error *err) {
    if (!added) return LECTOR_STATUS_OK;
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
        if (json_is_true(json_object_get(a, "normalized")))
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: added_tokens[%zu] (\"%s\"): expected \"normalized\": false",
                                 path, i, json_string_value(content));
        n_bytes += json_string_length(content) + 1;
    }
    tok->specials_mem = lector__malloc(n_bytes);
    if (!tok->specials_mem) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    char *p = tok->specials_mem;
    json_array_foreach(added, i, a) {
        json_t *content = json_object_get(a, "content");
        size_t len = json_string_length(content);
        memcpy(p, json_string_value(content), len + 1);
        add_special(tok, p, len, (int32_t)json_integer_value(json_object_get(a, "id")));
        p += len + 1;
    }
    return LECTOR_STATUS_OK;
}

// tokenizer.json with a WordPiece model and a BertNormalizer (the "fast" tokenizer file).
static enum lector_status open_tokenizer_json(const char *path, struct settings *s,
                                              struct lector_tokenizer **out,
                                              struct lector_error *err) {
    json_t *root = NULL;
    const char **tokens = NULL;
    int64_t *ids = NULL;
    struct lector_tokenizer *tok = NULL;
    enum lector_status st = load_json(path, &root, err);
    if (st != LECTOR_STATUS_OK) return st;

    json_t *model = json_object_get(root, "model");
    json_t *type = json_object_get(model, "type");
    if (!json_is_object(model) || !json_is_string(type)) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected \"model\": {\"type\": ...}, not found", path);
        goto fail;
    }
    if (strcmp(json_string_value(type), "WordPiece") != 0) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                           "%s: model.type is \"%s\", expected \"WordPiece\"", path,
                           json_string_value(type));
        goto fail;
    }
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    if (prefix && !(json_is_string(prefix) && strcmp(json_string_value(prefix), "##") == 0)) {
        st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                           "%s: model.continuing_subword_prefix: expected \"##\", found %s", path,
                           json_is_string(prefix) ? json_string_value(prefix) : json_type_name(prefix));
        goto fail;
    }
    json_t *chars_max = json_object_get(model, "max_input_chars_per_word");
    if (chars_max) {
        json_int_t m = json_is_integer(chars_max) ? json_integer_value(chars_max) : -1;
        if (m < 1 || m > LECTOR__WORD_CHARS_LIMIT) {
            st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                               "%s: model.max_input_chars_per_word: expected 1..%d, found %lld",
                               path, LECTOR__WORD_CHARS_LIMIT, (long long)m);
            goto fail;
        }
        s->n_word_chars_max = (int32_t)m;
    }
    json_token_name(model, "unk_token", s->unk, sizeof s->unk);

    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        json_t *nt = json_object_get(norm, "type");
        if (!json_is_string(nt) || strcmp(json_string_value(nt), "BertNormalizer") != 0) {
            st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                               "%s: normalizer.type: expected \"BertNormalizer\", found %s", path,
                               json_is_string(nt) ? json_string_value(nt) : "none");
            goto fail;
        }
        int lower = s->lowercase, cjk = s->isolate_cjk, clean = 1;
        if ((st = json_flag(norm, "lowercase", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
            (st = json_flag(norm, "strip_accents", -1, &s->strip_accents, path, err)) !=
                LECTOR_STATUS_OK ||
            (st = json_flag(norm, "handle_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK ||
            (st = json_flag(norm, "clean_text", -2, &clean, path, err)) != LECTOR_STATUS_OK)
            goto fail;
        if (!clean) {
            st = lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                               "%s: normalizer.clean_text: expected true, found false", path);
            goto fail;
        }
        s->lowercase = lower;
        s->isolate_cjk = cjk;
    }

    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: model.vocab: expected an object of token: id, found %s", path,
                           vocab ? json_type_name(vocab) : "nothing");
        goto fail;
    }
    int64_t n = (int64_t)json_object_size(vocab);
    tokens = lector__calloc((size_t)n, sizeof *tokens);
    ids = lector__calloc((size_t)n, sizeof *ids);
    if (!tokens || !ids) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int64_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val)) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: model.vocab[\"%s\"]: expected an integer id, found %s", path,
                               key, json_type_name(val));
            goto fail;
        }
        tokens[i] = key;
        ids[i] = (int64_t)json_integer_value(val);
        i++;
    }
    tok = lector__calloc(1, sizeof *tok);
    if (!tok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    st = read_added_tokens(json_object_get(root, "added_tokens"), tok, path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    char origin[600];
    snprintf(origin, sizeof origin, "%s: model.vocab", path);
    st = lector__vocab_from_pairs(&tok->vocab, tokens, ids, n, origin, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = finish(tok, s, path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    lector_free(ids);
    lector_free(tokens);
    json_decref(root);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_free(tok);
    lector_free(ids);
    lector_free(tokens);
    json_decref(root);
    return st;
}

// ---------------------------------------------------------------------------------------------
// public API

enum lector_status lector_tokenizer_open_wordpiece(const char *vocab_path, int do_lower_case,
                                                   int strip_accents, int tokenize_chinese_chars,
                                                   struct lector_tokenizer **out,
                                                   struct lector_error *err) {
    if (out) *out = NULL;
    if (!vocab_path || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_wordpiece: vocab_path and out must not be NULL");
    struct settings s;
    settings_default(&s);
    s.lowercase = do_lower_case != 0;
    s.strip_accents = strip_accents < 0 ? -1 : strip_accents != 0;
    s.isolate_cjk = tokenize_chinese_chars != 0;
    return open_vocab_txt(vocab_path, &s, out, err);
}

enum lector_status lector_tokenizer_open(const char *dir, struct lector_tokenizer **out,
                                         struct lector_error *err) {
    if (out) *out = NULL;
    if (!dir || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open: dir and out must not be NULL");
    char *vocab_path = lector__path_join(dir, "vocab.txt");
    char *config_path = lector__path_join(dir, "tokenizer_config.json");
    char *json_path = lector__path_join(dir, "tokenizer.json");
    enum lector_status st;
    if (!vocab_path || !config_path || !json_path) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    struct settings s;
    settings_default(&s);
    bool have_config = lector__file_exists(config_path);
    if (have_config) {
        st = read_config(config_path, &s, err);
        if (st != LECTOR_STATUS_OK) goto done;
    }
    if (lector__file_exists(vocab_path)) {
        st = open_vocab_txt(vocab_path, &s, out, err);
    } else if (lector__file_exists(json_path)) {
        // tokenizer.json carries its own normaliser flags, which win over the config's.
        st = open_tokenizer_json(json_path, &s, out, err);
    } else {
        st = lector__error(err, LECTOR_STATUS_NOT_FOUND,
                           "%s: expected a WordPiece tokenizer (vocab.txt or tokenizer.json), "
                           "found neither",
                           dir);
    }
done:
    lector_free(json_path);
    lector_free(config_path);
    lector_free(vocab_path);
    return st;
}

void lector_tokenizer_free(struct lector_tokenizer *tok) {
    if (!tok) return;
    lector__vocab_free(&tok->vocab);
    lector_free(tok->specials_mem);
    lector_free(tok);
}

enum lector_status lector_tokenizer_encode(const struct lector_tokenizer *tok, const char *text,
                                           size_t len, int64_t n_max, int32_t *ids, int64_t *n_ids,
                                           int *truncated, struct lector_error *err) {
    if (n_ids) *n_ids = 0;
    if (truncated) *truncated = 0;
    if (!tok || (!text && len > 0) || !ids || !n_ids)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: tok, text, ids and n_ids must not be NULL");
    if (n_max < 2)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: n_max is %lld, expected >= 2 ([CLS] and "
                             "[SEP])",
                             (long long)n_max);
    struct lector__sink sink = {.ids = ids + 1, .n = 0, .cap = n_max - 2, .grow = false};
    enum lector_status st = lector__wordpiece_run(tok, text ? text : "", len, &sink, err);
    if (st != LECTOR_STATUS_OK) return st;
    ids[0] = tok->id_cls;
    ids[1 + sink.n] = tok->id_sep;
    *n_ids = sink.n + 2;
    if (truncated) *truncated = sink.full;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_tokenizer_encode_pieces(const struct lector_tokenizer *tok,
                                                  const char *text, size_t len, int32_t **ids,
                                                  int64_t *n_ids, struct lector_error *err) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!tok || (!text && len > 0) || !ids || !n_ids)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode_pieces: tok, text, ids and n_ids must not "
                             "be NULL");
    // About one piece per 4 bytes of English; the array doubles when that is too few.
    int64_t cap = (int64_t)(len / 4) + 16;
    struct lector__sink sink = {.ids = lector__malloc((size_t)cap * sizeof(int32_t)),
                                .n = 0,
                                .cap = cap,
                                .grow = true};
    if (!sink.ids)
        return lector__error(err, LECTOR_STATUS_NOMEM, "tokenizer: out of memory for %lld ids",
                             (long long)cap);
    enum lector_status st = lector__wordpiece_run(tok, text ? text : "", len, &sink, err);
    if (st != LECTOR_STATUS_OK) {
        lector_free(sink.ids);
        return st;
    }
    *ids = sink.ids;
    *n_ids = sink.n;
    return LECTOR_STATUS_OK;
}

int64_t lector_tokenizer_n_vocab(const struct lector_tokenizer *tok) {
    return tok ? tok->vocab.n_vocab : 0;
}

const char *lector_tokenizer_token(const struct lector_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->vocab.n_vocab) return NULL;
    return tok->vocab.strings + tok->vocab.offsets[id];
}

int32_t lector_tokenizer_find(const struct lector_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return lector__vocab_find(&tok->vocab, token, strlen(token));
}

int32_t lector_tokenizer_cls_id(const struct lector_tokenizer *tok) { return tok ? tok->id_cls : -1; }
int32_t lector_tokenizer_sep_id(const struct lector_tokenizer *tok) { return tok ? tok->id_sep : -1; }
int32_t lector_tokenizer_pad_id(const struct lector_tokenizer *tok) { return tok ? tok->id_pad : -1; }
int32_t lector_tokenizer_unk_id(const struct lector_tokenizer *tok) { return tok ? tok->id_unk : -1; }

const char *lector_tokenizer_hash(const struct lector_tokenizer *tok) {
    return tok ? tok->hash_hex : NULL;
}

// Public tokenizer API: finding and opening the tokenizer files (vocab.txt,
// tokenizer_config.json, tokenizer.json, vocab.json + merges.txt, SentencePiece models), the
// settings hash, and encode with the family's special tokens, truncation and the UTF-8 policy.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "lector/spm.h"
#include "text/text_impl.h"

// A vocabulary file is a few MB; refusing anything huge keeps a stray path from eating memory.
#define VOCAB_BYTES_MAX ((size_t)256 << 20)
#define CONFIG_BYTES_MAX ((size_t)64 << 20)

// ---------------------------------------------------------------------------------------------
// settings

enum { NAME_UNK = 1, NAME_CLS = 2, NAME_SEP = 4, NAME_PAD = 8, NAME_MASK = 16, NAME_EOS = 32 };

struct settings {
    bool lowercase;
    int strip_accents;  // -1 = follow lowercase
    bool isolate_cjk;
    int32_t n_word_chars_max;
    // Special token names; tokenizer_config.json may rename them.
    char unk[64], cls[64], sep[64], pad[64], mask[64];
    bool names_given;  // tokenizer_config.json named at least one of them
    unsigned names_set;  // which of them it named: NAME_UNK << k ...
    char eos[64];        // eos_token (T5's suffix)
    // SentencePiece preparation (AlbertTokenizer / XLNetTokenizer): -1 = the class default.
    int spm_lower, remove_space, keep_accents;
    int add_prefix_space;  // BPE: -1 unset
    int basic_tokenize;    // BertTokenizer's do_basic_tokenize: -1 unset
    char tokenizer_class[64];
    char model_type[64];  // config.json
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
                         path, key, null_value != -2 ? " or null" : "", lector__json_kind(j));
}

// A special-token name: a string, or an object with "content" (AddedToken form). Returns
// whether one was found.
static bool json_token_name(const json_t *obj, const char *key, char *out, size_t n) {
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
static enum lector_status read_config(const char *path, struct settings *s,
                                      struct lector_error *err) {
    json_t *root = NULL;
    enum lector_status st = lector__json_read(path, CONFIG_BYTES_MAX, JSON_OBJECT, &root, err);
    if (st != LECTOR_STATUS_OK) return st;
    int lower = s->lowercase, cjk = s->isolate_cjk;
    if ((st = json_flag(root, "do_lower_case", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
        (st = json_flag(root, "strip_accents", -1, &s->strip_accents, path, err)) != LECTOR_STATUS_OK ||
        (st = json_flag(root, "tokenize_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    if ((st = json_flag(root, "do_basic_tokenize", -1, &s->basic_tokenize, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    int prefix_space = s->add_prefix_space;
    if ((st = json_flag(root, "add_prefix_space", -1, &prefix_space, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    s->add_prefix_space = prefix_space;
    if (json_is_boolean(json_object_get(root, "do_lower_case"))) s->spm_lower = lower;
    if ((st = json_flag(root, "remove_space", -1, &s->remove_space, path, err)) != LECTOR_STATUS_OK ||
        (st = json_flag(root, "keep_accents", -1, &s->keep_accents, path, err)) != LECTOR_STATUS_OK)
        goto fail;
    s->lowercase = lower;
    s->isolate_cjk = cjk;
    unsigned set = 0;
    set |= json_token_name(root, "unk_token", s->unk, sizeof s->unk) ? NAME_UNK : 0u;
    set |= json_token_name(root, "cls_token", s->cls, sizeof s->cls) ? NAME_CLS : 0u;
    set |= json_token_name(root, "sep_token", s->sep, sizeof s->sep) ? NAME_SEP : 0u;
    set |= json_token_name(root, "pad_token", s->pad, sizeof s->pad) ? NAME_PAD : 0u;
    set |= json_token_name(root, "mask_token", s->mask, sizeof s->mask) ? NAME_MASK : 0u;
    s->names_given = set != 0;
    set |= json_token_name(root, "eos_token", s->eos, sizeof s->eos) ? NAME_EOS : 0u;
    s->names_set = set;
    json_string_into(root, "tokenizer_class", s->tokenizer_class, sizeof s->tokenizer_class);
fail:
    json_decref(root);
    return st;
}

// ---------------------------------------------------------------------------------------------
// building the tokenizer

// Record which file(s) a tokenizer came from (their base names).
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void set_source(struct lector_tokenizer *tok, const char *path, const char *path2) {
    if (path2) snprintf(tok->source, sizeof tok->source, "%s + %s", base_name(path), base_name(path2));
    else snprintf(tok->source, sizeof tok->source, "%s", base_name(path));
}

// Add a special token (text must outlive tok), keeping the list longest first so that the
// first match is the longest; an empty or repeated string is ignored.
static void add_special_strip(struct lector_tokenizer *tok, const char *text, size_t len,
                              int32_t id, bool lstrip, bool rstrip) {
    if (len == 0 || tok->n_specials == LECTOR__SPECIALS_MAX) return;
    for (int k = 0; k < tok->n_specials; k++)
        if (tok->specials[k].len == len && memcmp(tok->specials[k].text, text, len) == 0) return;
    int k = tok->n_specials++;
    while (k > 0 && tok->specials[k - 1].len < len) {
        tok->specials[k] = tok->specials[k - 1];
        k--;
    }
    tok->specials[k] =
        (struct lector__special){.text = text, .len = len, .id = id, .lstrip = lstrip, .rstrip = rstrip};
}

static void add_special(struct lector_tokenizer *tok, const char *text, size_t len, int32_t id) {
    add_special_strip(tok, text, len, id, false, false);
}

static enum lector_status finish(struct lector_tokenizer *tok, const struct settings *s,
                                 const char *origin, struct lector_error *err) {
    tok->kind = LECTOR__KIND_WORDPIECE;
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
    if (tok->n_prefix == 0 && tok->n_suffix == 0) {
        tok->prefix[tok->n_prefix++] = tok->id_cls;
        tok->suffix[tok->n_suffix++] = tok->id_sep;
    }
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
    if (s->basic_tokenize == 0)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: tokenizer_config.json: do_basic_tokenize: false is not "
                             "supported: lector always runs BERT's basic tokenizer (lowercasing, "
                             "punctuation and CJK splitting) before WordPiece, so the ids would "
                             "differ",
                             vocab_path);
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
    set_source(tok, vocab_path, NULL);
    lector_free(data);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_close(tok);
    lector_free(data);
    return st;
}

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
        add_special_strip(tok, p, len, (int32_t)json_integer_value(json_object_get(a, "id")),
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
static enum lector_status vocab_from_object(const json_t *vocab, struct lector__vocab *v,
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

// The ids of the model's specials, by name, when the post-processor did not give them.
static void find_family_ids(struct lector_tokenizer *tok) {
    static const char *const cls_names[] = {"[CLS]", "<s>", "<cls>"};
    static const char *const sep_names[] = {"[SEP]", "</s>", "<sep>"};
    static const char *const pad_names[] = {"[PAD]", "<pad>"};
    static const char *const unk_names[] = {"[UNK]", "<unk>"};
    static const char *const mask_names[] = {"[MASK]", "<mask>"};
    const struct lector__vocab *v = &tok->vocab;
    if (tok->id_cls < 0) {
        if (tok->n_prefix > 0) tok->id_cls = tok->prefix[0];
        for (int k = 0; k < 3 && tok->id_cls < 0; k++)
            tok->id_cls = lector__vocab_find(v, cls_names[k], strlen(cls_names[k]));
    }
    if (tok->id_sep < 0) {
        if (tok->n_suffix > 0) tok->id_sep = tok->suffix[tok->n_suffix - 1];
        for (int k = 0; k < 3 && tok->id_sep < 0; k++)
            tok->id_sep = lector__vocab_find(v, sep_names[k], strlen(sep_names[k]));
    }
    for (int k = 0; k < 2 && tok->id_pad < 0; k++)
        tok->id_pad = lector__vocab_find(v, pad_names[k], strlen(pad_names[k]));
    for (int k = 0; k < 2 && tok->id_unk < 0; k++)
        tok->id_unk = lector__vocab_find(v, unk_names[k], strlen(unk_names[k]));
    for (int k = 0; k < 2 && tok->id_mask < 0; k++)
        tok->id_mask = lector__vocab_find(v, mask_names[k], strlen(mask_names[k]));
}

// The settings hash of a non-WordPiece tokenizer: a tag, the source file(s) and the specials.
static void hash_files(struct lector_tokenizer *tok, const char *tag, const char *const *data,
                       const size_t *n, int n_files) {
    struct lector__sha256 sh;
    lector__sha256_init(&sh);
    char head[256];
    int n_head = snprintf(head, sizeof head, "lector-%s-1\nprefix=%d suffix=%d split_specials=%d\n",
                          tag, tok->n_prefix, tok->n_suffix, 0);
    lector__sha256_update(&sh, head, (size_t)n_head);
    for (int k = 0; k < tok->n_prefix; k++) {
        n_head = snprintf(head, sizeof head, "prefix %d\n", (int)tok->prefix[k]);
        lector__sha256_update(&sh, head, (size_t)n_head);
    }
    for (int k = 0; k < tok->n_suffix; k++) {
        n_head = snprintf(head, sizeof head, "suffix %d\n", (int)tok->suffix[k]);
        lector__sha256_update(&sh, head, (size_t)n_head);
    }
    for (int f = 0; f < n_files; f++) {
        n_head = snprintf(head, sizeof head, "file %zu\n", n[f]);
        lector__sha256_update(&sh, head, (size_t)n_head);
        lector__sha256_update(&sh, data[f], n[f]);
    }
    uint8_t digest[32];
    lector__sha256_final(&sh, digest);
    lector__sha256_hex(digest, tok->hash_hex);
}

static struct lector_tokenizer *tok_new(void) {
    struct lector_tokenizer *tok = lector__calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->id_cls = tok->id_sep = tok->id_pad = tok->id_unk = tok->id_mask = -1;
    tok->bpe.id_unk = -1;
    tok->uni.id_unk = -1;
    return tok;
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
    json_token_name(model, "unk_token", s->unk, sizeof s->unk);

    // The one-pass BERT pipeline: BertNormalizer (or none) + BertPreTokenizer (or none).
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        if (strcmp(type_of(norm), "BertNormalizer") != 0)
            return unsupported(path, "normalizer (with a WordPiece model)", json_object_get(norm, "type"), err);
        int lower = s->lowercase, cjk = s->isolate_cjk, clean = 1;
        if ((st = json_flag(norm, "lowercase", -2, &lower, path, err)) != LECTOR_STATUS_OK ||
            (st = json_flag(norm, "strip_accents", -1, &s->strip_accents, path, err)) != LECTOR_STATUS_OK ||
            (st = json_flag(norm, "handle_chinese_chars", -2, &cjk, path, err)) != LECTOR_STATUS_OK ||
            (st = json_flag(norm, "clean_text", -2, &clean, path, err)) != LECTOR_STATUS_OK)
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
        (st = vocab_from_object(json_object_get(model, "vocab"), &tok->vocab, path, "model.vocab",
                                err)) != LECTOR_STATUS_OK ||
        (st = read_post(json_object_get(root, "post_processor"), tok, path, err)) != LECTOR_STATUS_OK)
        return st;
    return finish(tok, s, path, err);
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
    if ((st = vocab_from_object(json_object_get(model, "vocab"), &tok->vocab, path, "model.vocab",
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

static enum lector_status open_tokenizer_json(const char *path, struct settings *s,
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
    tok = tok_new();
    if (!tok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
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
        find_family_ids(tok);
        lector_tokenizer_set_split_specials(tok, 0);
        const char *files[1] = {data};
        size_t sizes[1] = {n_data};
        hash_files(tok, mt[0] == 'B' ? "bpe-json" : "unigram-json", files, sizes, 1);
    } else {
        st = unsupported(path, "model", json_object_get(model, "type"), err);
        goto fail;
    }
    set_source(tok, path, NULL);
    lector_free(data);
    json_decref(root);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_close(tok);
    lector_free(data);
    json_decref(root);
    return st;
}

// ---------------------------------------------------------------------------------------------
// vocab.json + merges.txt

// RoBERTa's tokens, registered as added tokens by transformers' RobertaTokenizer; <mask>
// swallows the whitespace before it.
static enum lector_status open_bpe_files(const char *vocab_path, const char *merges_path,
                                         const struct settings *s, struct lector_tokenizer **out,
                                         struct lector_error *err) {
    char *vdata = NULL, *mdata = NULL;
    size_t vn = 0, mn = 0;
    json_t *vroot = NULL;
    struct lector_tokenizer *tok = NULL;
    enum lector_status st = lector__read_file(vocab_path, VOCAB_BYTES_MAX, &vdata, &vn, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = lector__read_file(merges_path, VOCAB_BYTES_MAX, &mdata, &mn, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = lector__json_parse(vdata, vn, vocab_path, -1, &vroot, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    tok = tok_new();
    if (!tok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", vocab_path);
        goto fail;
    }
    tok->kind = LECTOR__KIND_BPE;
    if ((st = vocab_from_object(vroot, &tok->vocab, vocab_path, "vocabulary", err)) != LECTOR_STATUS_OK ||
        (st = lector__bpe_parse_merges_txt(&tok->bpe, &tok->vocab, mdata, mn, merges_path, err)) !=
            LECTOR_STATUS_OK)
        goto fail;
    tok->bpe.byte_level = true;
    for (int b = 0; b < 256; b++) {
        char c[4];
        int k = lector__utf8_encode(lector__byte_char((uint8_t)b), c);
        tok->bpe.byte_id[b] = lector__vocab_find(&tok->vocab, c, (size_t)k);
    }
    tok->pipe.n_pre = 1;
    tok->pipe.pre[0] = (struct lector__pre_op){.type = LECTOR__PRE_BYTE_LEVEL,
                                               .add_prefix_space = s->add_prefix_space > 0,
                                               .use_regex = true};
    // RoBERTa's names, each unless tokenizer_config.json gave its own (a config naming only
    // unk_token keeps <s> and </s>).
    const char *bos = (s->names_set & NAME_CLS) ? s->cls : "<s>";
    const char *eos = (s->names_set & NAME_SEP) ? s->sep : "</s>";
    const char *names[5] = {bos, eos, (s->names_set & NAME_UNK) ? s->unk : "<unk>",
                            (s->names_set & NAME_PAD) ? s->pad : "<pad>",
                            (s->names_set & NAME_MASK) ? s->mask : "<mask>"};
    for (int k = 0; k < 5; k++) {
        int32_t id = lector__vocab_find(&tok->vocab, names[k], strlen(names[k]));
        if (id >= 0)
            add_special_strip(tok, tok->vocab.strings + tok->vocab.offsets[id], tok->vocab.lens[id],
                              id, k == 4, false);
    }
    tok->id_cls = lector__vocab_find(&tok->vocab, bos, strlen(bos));
    tok->id_sep = lector__vocab_find(&tok->vocab, eos, strlen(eos));
    if (tok->id_cls < 0 || tok->id_sep < 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected the special tokens %s and %s in the vocabulary, %s not found",
                           vocab_path, bos, eos, tok->id_cls < 0 ? bos : eos);
        goto fail;
    }
    tok->prefix[tok->n_prefix++] = tok->id_cls;
    tok->suffix[tok->n_suffix++] = tok->id_sep;
    find_family_ids(tok);
    lector_tokenizer_set_split_specials(tok, 0);
    const char *files[2] = {vdata, mdata};
    size_t sizes[2] = {vn, mn};
    hash_files(tok, s->add_prefix_space > 0 ? "bpe-prefix-space" : "bpe", files, sizes, 2);
    set_source(tok, vocab_path, merges_path);
    json_decref(vroot);
    lector_free(mdata);
    lector_free(vdata);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_close(tok);
    json_decref(vroot);
    lector_free(mdata);
    lector_free(vdata);
    return st;
}

// ---------------------------------------------------------------------------------------------
// SentencePiece

static enum lector_spm_family guess_family(const struct settings *s, const char *model_path) {
    const char *tc = s->tokenizer_class, *mt = s->model_type;
    if (strstr(tc, "Camembert") || strcmp(mt, "camembert") == 0) return LECTOR_SPM_FAMILY_CAMEMBERT;
    if (strstr(tc, "XLMRoberta") || strcmp(mt, "xlm-roberta") == 0) return LECTOR_SPM_FAMILY_XLMR;
    if (strstr(tc, "Albert") || strcmp(mt, "albert") == 0) return LECTOR_SPM_FAMILY_ALBERT;
    if (strstr(tc, "XLNet") || strcmp(mt, "xlnet") == 0) return LECTOR_SPM_FAMILY_XLNET;
    if (strstr(tc, "T5") || strcmp(mt, "t5") == 0) return LECTOR_SPM_FAMILY_T5;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    if (strcmp(base, "sentencepiece.bpe.model") == 0) return LECTOR_SPM_FAMILY_XLMR;
    return LECTOR_SPM_FAMILY_AUTO;
}

// The fairseq id layout of XLM-R and CamemBERT: a few fixed tokens first, then the model's
// pieces shifted, then <mask>. XLM-R: <s>=0 <pad>=1 </s>=2 <unk>=3, model pieces from id 3
// on at +1 (the model's own <unk> <s> </s> are hidden behind the fixed ones). CamemBERT:
// <s>NOTUSED=0 <pad>=1 </s>NOTUSED=2 <unk>=3, every model piece at +4 (so <s>=5, </s>=6),
// the model's <unk> at 4 named <unk>NOTUSED.
static int64_t fairseq_layout(const struct lector_spm *spm, bool camembert, const char **tokens,
                              int64_t *ids) {
    static const char *const xlmr_head[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    static const char *const cam_head[4] = {"<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>"};
    int64_t V = lector_spm_n_pieces(spm), k = 0;
    for (int i = 0; i < 4; i++) {
        tokens[k] = camembert ? cam_head[i] : xlmr_head[i];
        ids[k] = i;
        k++;
    }
    int32_t unk = lector_spm_unk_id(spm);
    for (int64_t i = camembert ? 0 : 3; i < V; i++) {
        tokens[k] = camembert && i == unk ? "<unk>NOTUSED" : lector_spm_piece(spm, (int32_t)i);
        ids[k] = i + (camembert ? 4 : 1);
        k++;
    }
    tokens[k] = "<mask>";
    ids[k] = V + (camembert ? 4 : 1);
    return k + 1;
}

// A SentencePiece model with a family's special tokens. s (may be NULL) is the directory's
// tokenizer_config.json / config.json: its special-token names win over the family's, and
// when it names an ALBERT or XLNet tokenizer, its text preparation applies.
static enum lector_status open_spm(const char *model_path, enum lector_spm_family family,
                                   const struct settings *s, struct lector_tokenizer **out,
                                   struct lector_error *err) {
    char *data = NULL;
    size_t n = 0;
    struct lector_tokenizer *tok = NULL;
    const char **tokens = NULL;
    int64_t *ids = NULL;
    enum lector_spm_family family_given = family;
    enum lector_status st = lector__read_file(model_path, VOCAB_BYTES_MAX, &data, &n, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    tok = tok_new();
    if (!tok) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", model_path);
        goto fail;
    }
    tok->kind = LECTOR__KIND_SPM;
    st = lector_spm_open_memory(data, n, model_path, &tok->spm, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    int64_t V = lector_spm_n_pieces(tok->spm);
    if (family == LECTOR_SPM_FAMILY_AUTO) {
        if (lector_spm_find(tok->spm, "[CLS]", 5) >= 0) family = LECTOR_SPM_FAMILY_ALBERT;
        else if (lector_spm_find(tok->spm, "<cls>", 5) >= 0) family = LECTOR_SPM_FAMILY_XLNET;
        else family = LECTOR_SPM_FAMILY_T5;
    }
    // Our ids: the model's, or fairseq's for XLM-R and CamemBERT.
    bool xlmr = family == LECTOR_SPM_FAMILY_XLMR, camembert = family == LECTOR_SPM_FAMILY_CAMEMBERT;
    bool fairseq = xlmr || camembert;
    if (fairseq && V < 3) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected a %s model with <unk> <s> </s> first, found %lld pieces",
                           model_path, xlmr ? "XLM-R" : "CamemBERT", (long long)V);
        goto fail;
    }
    int64_t n_ids = fairseq ? V + 5 : V;
    tokens = lector__calloc((size_t)n_ids, sizeof *tokens);
    ids = lector__calloc((size_t)n_ids, sizeof *ids);
    if (!tokens || !ids) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", model_path);
        goto fail;
    }
    int64_t k = 0;
    if (fairseq) {
        k = fairseq_layout(tok->spm, camembert, tokens, ids);
        tok->spm_offset = camembert ? 4 : 1;
    } else {
        for (int64_t i = 0; i < V; i++) {
            tokens[k] = lector_spm_piece(tok->spm, (int32_t)i);
            ids[k] = i;
            k++;
        }
    }
    st = lector__vocab_from_pairs(&tok->vocab, tokens, ids, k, model_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    if (fairseq) {
        for (int32_t i = 0; i < 4; i++) lector__vocab_prefer(&tok->vocab, i);
        lector__vocab_prefer(&tok->vocab, (int32_t)(k - 1));
    }
    tok->spm_unk = lector_spm_unk_id(tok->spm);

    const char *cls = NULL, *sep = NULL, *pad = "<pad>", *unk = "<unk>", *mask = NULL;
    switch (family) {
    case LECTOR_SPM_FAMILY_ALBERT: cls = "[CLS]"; sep = "[SEP]"; mask = "[MASK]"; break;
    case LECTOR_SPM_FAMILY_XLNET: cls = "<cls>"; sep = "<sep>"; mask = "<mask>"; break;
    case LECTOR_SPM_FAMILY_XLMR:
    case LECTOR_SPM_FAMILY_CAMEMBERT: cls = "<s>"; sep = "</s>"; mask = "<mask>"; break;
    default: sep = "</s>"; break;
    }
    // tokenizer_config.json's names (T5 has no CLS, and its suffix is the eos_token).
    if (s) {
        if (cls && (s->names_set & NAME_CLS)) cls = s->cls;
        if (family == LECTOR_SPM_FAMILY_T5) {
            if (s->names_set & NAME_EOS) sep = s->eos;
        } else if (s->names_set & NAME_SEP) {
            sep = s->sep;
        }
        if (s->names_set & NAME_PAD) pad = s->pad;
        if (s->names_set & NAME_UNK) unk = s->unk;
        if (s->names_set & NAME_MASK) mask = s->mask;
    }
    struct lector__vocab *v = &tok->vocab;
    tok->id_cls = cls ? lector__vocab_find(v, cls, strlen(cls)) : -1;
    tok->id_sep = lector__vocab_find(v, sep, strlen(sep));
    tok->id_pad = lector__vocab_find(v, pad, strlen(pad));
    tok->id_unk = lector__vocab_find(v, unk, strlen(unk));
    tok->id_mask = mask ? lector__vocab_find(v, mask, strlen(mask)) : -1;
    if ((cls && tok->id_cls < 0) || tok->id_sep < 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected the special token %s in the SentencePiece model, not found",
                           model_path, (cls && tok->id_cls < 0) ? cls : sep);
        goto fail;
    }
    if (tok->id_unk < 0 && tok->spm_unk >= 0) tok->id_unk = tok->spm_unk + tok->spm_offset;
    switch (family) {
    case LECTOR_SPM_FAMILY_XLNET:
        tok->suffix[tok->n_suffix++] = tok->id_sep;
        tok->suffix[tok->n_suffix++] = tok->id_cls;
        break;
    case LECTOR_SPM_FAMILY_T5: tok->suffix[tok->n_suffix++] = tok->id_sep; break;
    default:
        tok->prefix[tok->n_prefix++] = tok->id_cls;
        tok->suffix[tok->n_suffix++] = tok->id_sep;
        break;
    }
    // The model's control pieces (and <mask>) are the special tokens matched in text.
    for (int64_t id = 0; id < v->n_vocab; id++) {
        bool special = (int32_t)id == tok->id_mask || (int32_t)id == tok->id_cls ||
                       (int32_t)id == tok->id_sep;
        if (fairseq) {
            special |= id < 4 || id == v->n_vocab - 1;
        } else {
            enum lector_spm_piece_type t = lector_spm_piece_type(tok->spm, (int32_t)id);
            special |= t == LECTOR_SPM_PIECE_CONTROL || t == LECTOR_SPM_PIECE_UNKNOWN;
        }
        if (special)
            add_special_strip(tok, v->strings + v->offsets[id], v->lens[id], (int32_t)id,
                              (int32_t)id == tok->id_mask, false);
    }
    lector_tokenizer_set_split_specials(tok, 0);

    // AlbertTokenizer / XLNetTokenizer prepare the text; their defaults, then the config's.
    // A folder whose model has XLNet's <cls> gets XLNet's preparation with no config naming
    // the class, as Hugging Face's XLNet tokenizers do.
    bool prep_family = family == LECTOR_SPM_FAMILY_ALBERT || family == LECTOR_SPM_FAMILY_XLNET;
    bool prep = family_given != LECTOR_SPM_FAMILY_AUTO ? prep_family : family == LECTOR_SPM_FAMILY_XLNET;
    if (s && prep) {
        tok->spm_prep.on = true;
        tok->spm_prep.lowercase = s->spm_lower >= 0 ? s->spm_lower != 0 : family == LECTOR_SPM_FAMILY_ALBERT;
        tok->spm_prep.remove_space = s->remove_space != 0;
        tok->spm_prep.keep_accents = s->keep_accents > 0;
    }
    static const char *const tags[] = {"spm-auto", "spm-albert", "spm-xlnet", "spm-xlmr", "spm-t5",
                                       "spm-camembert"};
    char tag[96];
    if (tok->spm_prep.on)
        snprintf(tag, sizeof tag, "%s-prep lower=%d remove_space=%d keep_accents=%d", tags[family],
                 tok->spm_prep.lowercase, tok->spm_prep.remove_space, tok->spm_prep.keep_accents);
    else
        snprintf(tag, sizeof tag, "%s", tags[family]);
    const char *files[1] = {data};
    size_t sizes[1] = {n};
    hash_files(tok, tag, files, sizes, 1);
    set_source(tok, model_path, NULL);
    lector_free(ids);
    lector_free(tokens);
    lector_free(data);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_close(tok);
    lector_free(ids);
    lector_free(tokens);
    lector_free(data);
    return st;
}

// ---------------------------------------------------------------------------------------------
// finding the files

static void read_model_type(const char *dir, struct settings *s) {
    char *path = lector__path_join(dir, "config.json");
    json_t *root = NULL;
    if (path && lector__file_exists(path) && lector__json_read(path, CONFIG_BYTES_MAX, JSON_OBJECT, &root, NULL) == LECTOR_STATUS_OK) {
        json_string_into(root, "model_type", s->model_type, sizeof s->model_type);
        json_decref(root);
    }
    lector_free(path);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

// Open dir's tokenizer, or the one file `file` (a path inside dir) when it is given.
static enum lector_status open_in(const char *dir, const char *file, struct lector_tokenizer **out,
                                  struct lector_error *err) {
    static const char *const names[] = {"tokenizer.json", "vocab.txt", "spiece.model",
                                        "sentencepiece.bpe.model", "vocab.json", "merges.txt",
                                        "tokenizer_config.json"};
    enum { JSON, VOCAB, SPIECE, SPBPE, VJSON, MERGES, CONFIG, N_NAMES };
    char *paths[N_NAMES] = {0};
    enum lector_status st = LECTOR_STATUS_OK;
    for (int k = 0; k < N_NAMES; k++) {
        paths[k] = lector__path_join(dir, names[k]);
        if (!paths[k]) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
            goto done;
        }
    }
    struct settings s;
    settings_default(&s);
    if (lector__file_exists(paths[CONFIG])) {
        st = read_config(paths[CONFIG], &s, err);
        if (st != LECTOR_STATUS_OK) goto done;
    }
    read_model_type(dir, &s);
    if (file) {
        if (ends_with(file, ".json") && !ends_with(file, "vocab.json")) {
            st = open_tokenizer_json(file, &s, out, err);
        } else if (ends_with(file, ".model")) {
            st = open_spm(file, guess_family(&s, file), &s, out, err);
        } else if (ends_with(file, "vocab.json") || ends_with(file, "merges.txt")) {
            st = open_bpe_files(ends_with(file, "vocab.json") ? file : paths[VJSON],
                                ends_with(file, "merges.txt") ? file : paths[MERGES], &s, out, err);
        } else {
            st = open_vocab_txt(file, &s, out, err);
        }
    } else if (lector__file_exists(paths[JSON])) {
        // tokenizer.json carries its own normaliser flags, which win over the config's. When
        // it needs a component lector lacks (ALBERT, XLNet, T5, XLM-R and CamemBERT folders
        // use the "Precompiled" normaliser) and the SentencePiece model it was converted from
        // is here, use that model: it carries the same normaliser.
        const char *m = lector__file_exists(paths[SPIECE]) ? paths[SPIECE]
                        : lector__file_exists(paths[SPBPE]) ? paths[SPBPE]
                                                            : NULL;
        struct lector_error json_err = {0};
        st = open_tokenizer_json(paths[JSON], &s, out, &json_err);
        if (st == LECTOR_STATUS_UNSUPPORTED && m) {
            st = open_spm(m, guess_family(&s, m), &s, out, err);
            if (st == LECTOR_STATUS_OK)
                snprintf((*out)->source_note, sizeof (*out)->source_note, "%s; used %s instead",
                         json_err.msg, base_name(m));
        } else if (st != LECTOR_STATUS_OK && err) {
            *err = json_err;
        }
    } else if (lector__file_exists(paths[VOCAB])) {
        st = open_vocab_txt(paths[VOCAB], &s, out, err);
    } else if (lector__file_exists(paths[SPIECE]) || lector__file_exists(paths[SPBPE])) {
        const char *m = lector__file_exists(paths[SPIECE]) ? paths[SPIECE] : paths[SPBPE];
        st = open_spm(m, guess_family(&s, m), &s, out, err);
    } else if (lector__file_exists(paths[VJSON]) && lector__file_exists(paths[MERGES])) {
        st = open_bpe_files(paths[VJSON], paths[MERGES], &s, out, err);
    } else {
        st = lector__error(err, LECTOR_STATUS_NOT_FOUND,
                           "%s: expected a tokenizer (tokenizer.json, vocab.txt, spiece.model, "
                           "sentencepiece.bpe.model or vocab.json + merges.txt), found none",
                           dir);
    }
done:
    for (int k = 0; k < N_NAMES; k++) lector_free(paths[k]);
    return st;
}

// ---------------------------------------------------------------------------------------------
// encoding

// The byte length of the maximal invalid subsequence at s[i] (Unicode's "maximal subpart"
// practice, which Python's errors="replace" follows): the lead byte plus the continuation
// bytes that could still have completed it.
static size_t invalid_len(const uint8_t *s, size_t n, size_t i) {
    uint8_t b0 = s[i];
    int len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 < 0xE0) len = 2;
    else if (b0 >= 0xE0 && b0 < 0xF0) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 < 0xF5) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    size_t k = 1;
    while ((int)k < len && i + k < n) {
        uint8_t b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        k++;
    }
    return k;
}

// A copy of text with every invalid sequence replaced by U+FFFD.
static enum lector_status replace_invalid(const char *text, size_t len, char **out, size_t *n_out,
                                          int64_t *n_replaced, struct lector_error *err) {
    const uint8_t *s = (const uint8_t *)text;
    size_t cap;
    if (!lector__mul_size(len, 3, &cap) || !lector__add_size(cap, 1, &cap))
        return lector__error(err, LECTOR_STATUS_NOMEM, "text: %zu bytes is too long", len);
    char *d = lector__malloc(cap);
    if (!d) return lector__error(err, LECTOR_STATUS_NOMEM, "text: out of memory for %zu bytes", len);
    size_t o = 0;
    int64_t n_rep = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const char *why = NULL;
        int k = s[i] < 0x80 ? 1 : lector__utf8_decode(s, len, i, &cp, &why);
        if (k > 0) {
            memcpy(d + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
            continue;
        }
        memcpy(d + o, "\xEF\xBF\xBD", 3);
        o += 3;
        n_rep++;
        i += invalid_len(s, len, i);
    }
    *out = d;
    *n_out = o;
    *n_replaced = n_rep;
    return LECTOR_STATUS_OK;
}

static bool space_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    const char *why = NULL;
    int k = lector__utf8_decode((const uint8_t *)s, n, i, &cp, &why);
    *len = k > 0 ? (size_t)k : 1;
    return k > 0 && lector__is_white_space(cp);
}

// Encode one segment with no special tokens in it.
static enum lector_status run_segment(const struct lector_tokenizer *tok, const char *s, size_t n,
                                      bool first, struct lector__sink *out,
                                      struct lector_error *err) {
    if (n == 0 || out->full) return LECTOR_STATUS_OK;
    if (tok->kind != LECTOR__KIND_SPM) return lector__pipeline_run(tok, s, n, first, out, err);
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    char *prepared = NULL;
    enum lector_status st = LECTOR_STATUS_OK;
    if (tok->spm_prep.on) {
        // Hugging Face prepares each piece of text between special tokens on its own.
        st = lector__spm_prep_run(&tok->spm_prep, s, n, &prepared, &n, err);
        if (st != LECTOR_STATUS_OK) return st;
        s = prepared;
    }
    if (n > 0) st = lector_spm_encode(tok->spm, s, n, &ids, &n_ids, err);
    lector_free(prepared);
    for (int64_t i = 0; i < n_ids && st == LECTOR_STATUS_OK; i++) {
        int32_t id = ids[i];
        if (tok->spm_offset) id = id == tok->spm_unk ? tok->id_unk : id + tok->spm_offset;
        st = lector__sink_push(out, id, err);
    }
    lector_free(ids);
    return st;
}

// The text split at special tokens (unless split_specials), each part encoded on its own.
static enum lector_status run_generic(const struct lector_tokenizer *tok, const char *text,
                                      size_t len, struct lector__sink *out,
                                      struct lector_error *err) {
    size_t seg = 0, i = 0;
    bool first = true;
    enum lector_status st = LECTOR_STATUS_OK;
    while (i < len && !tok->split_specials && tok->n_specials > 0) {
        const struct lector__special *sp = NULL;
        if (tok->byte_class[(uint8_t)text[i]] & LECTOR__CHAR_SPECIAL)
            for (int k = 0; k < tok->n_specials; k++)
                if (tok->specials[k].len <= len - i &&
                    memcmp(text + i, tok->specials[k].text, tok->specials[k].len) == 0) {
                    sp = &tok->specials[k];
                    break;
                }
        if (!sp) {
            i++;
            continue;
        }
        size_t end = i;
        if (sp->lstrip) {
            // Back over whitespace characters (UTF-8 aware) within the current segment.
            while (end > seg) {
                size_t j = end - 1, l;
                while (j > seg && ((uint8_t)text[j] & 0xC0) == 0x80) j--;
                if (!space_at(text, len, j, &l)) break;
                end = j;
            }
        }
        st = run_segment(tok, text + seg, end - seg, first, out, err);
        if (st == LECTOR_STATUS_OK) st = lector__sink_push(out, sp->id, err);
        if (st != LECTOR_STATUS_OK) return st;
        first = false;
        i += sp->len;
        if (sp->rstrip) {
            size_t l;
            while (i < len && space_at(text, len, i, &l)) i += l;
        }
        seg = i;
    }
    return run_segment(tok, text + seg, len - seg, first, out, err);
}

// Encode text into sink under the tokenizer's UTF-8 policy.
static enum lector_status run(const struct lector_tokenizer *tok, const char *text, size_t len,
                              struct lector__sink *sink, int64_t *n_replaced,
                              struct lector_error *err) {
    *n_replaced = 0;
    enum lector_status st;
    if (tok->kind == LECTOR__KIND_WORDPIECE) {
        st = lector__wordpiece_run(tok, text, len, sink, err);
        if (st != LECTOR_STATUS_INVALID_UTF8 || tok->utf8_mode != LECTOR_UTF8_REPLACE) return st;
    } else {
        st = lector__utf8_check(text, len, err);
        if (st == LECTOR_STATUS_OK) return run_generic(tok, text, len, sink, err);
        if (tok->utf8_mode != LECTOR_UTF8_REPLACE) return st;
    }
    // Invalid UTF-8 with replacement asked for: start over on a repaired copy.
    lector__error_clear(err);
    char *fixed = NULL;
    size_t n_fixed = 0;
    st = replace_invalid(text, len, &fixed, &n_fixed, n_replaced, err);
    if (st != LECTOR_STATUS_OK) return st;
    sink->n = 0;
    sink->full = false;
    st = tok->kind == LECTOR__KIND_WORDPIECE ? lector__wordpiece_run(tok, fixed, n_fixed, sink, err)
                                             : run_generic(tok, fixed, n_fixed, sink, err);
    lector_free(fixed);
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
    return open_in(dir, NULL, out, err);
}

enum lector_status lector_tokenizer_open_path(const char *path, struct lector_tokenizer **out,
                                              struct lector_error *err) {
    if (out) *out = NULL;
    if (!path || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_path: path and out must not be NULL");
    if (lector__dir_exists(path)) return open_in(path, NULL, out, err);
    if (!lector__file_exists(path))
        return lector__error(err, LECTOR_STATUS_NOT_FOUND,
                             "%s: expected a tokenizer file or directory, found nothing", path);
    // The settings files beside the given file still apply.
    const char *slash = strrchr(path, '/');
    char *dir = slash ? lector__strndup(path, (size_t)(slash - path) + (slash == path)) : lector__strdup(".");
    if (!dir) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    enum lector_status st = open_in(dir, path, out, err);
    lector_free(dir);
    return st;
}

enum lector_status lector_tokenizer_open_bpe(const char *vocab_json, const char *merges_txt,
                                             int add_prefix_space, struct lector_tokenizer **out,
                                             struct lector_error *err) {
    if (out) *out = NULL;
    if (!vocab_json || !merges_txt || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_bpe: vocab_json, merges_txt and out must not be NULL");
    struct settings s;
    settings_default(&s);
    s.add_prefix_space = add_prefix_space != 0;
    return open_bpe_files(vocab_json, merges_txt, &s, out, err);
}

enum lector_status lector_tokenizer_open_spm(const char *model_path, enum lector_spm_family family,
                                             struct lector_tokenizer **out,
                                             struct lector_error *err) {
    if (out) *out = NULL;
    if (!model_path || !out || (int)family < 0 || family > LECTOR_SPM_FAMILY_CAMEMBERT)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_spm: model_path and out must not be NULL, "
                             "family must be a lector_spm_family");
    return open_spm(model_path, family, NULL, out, err);
}

enum lector_status lector_tokenizer_open_json(const char *path, struct lector_tokenizer **out,
                                              struct lector_error *err) {
    if (out) *out = NULL;
    if (!path || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_json: path and out must not be NULL");
    struct settings s;
    settings_default(&s);
    return open_tokenizer_json(path, &s, out, err);
}

void lector_tokenizer_close(struct lector_tokenizer *tok) {
    if (!tok) return;
    lector__vocab_free(&tok->vocab);
    lector__bpe_free(&tok->bpe);
    lector__pipeline_free(&tok->pipe);
    lector_free(tok->uni.scores);
    lector_spm_close(tok->spm);
    lector_free(tok->specials_mem);
    lector_free(tok);
}

void lector_tokenizer_set_invalid_utf8(struct lector_tokenizer *tok, enum lector_utf8_mode mode) {
    if (tok) tok->utf8_mode = mode == LECTOR_UTF8_REPLACE ? LECTOR_UTF8_REPLACE : LECTOR_UTF8_ERROR;
}

void lector_tokenizer_set_split_specials(struct lector_tokenizer *tok, int split) {
    if (!tok) return;
    tok->split_specials = split != 0;
    // The WordPiece pass looks for specials through the byte classes.
    for (int b = 0; b < 256; b++) tok->byte_class[b] &= (uint8_t)~LECTOR__CHAR_SPECIAL;
    if (!tok->split_specials)
        for (int k = 0; k < tok->n_specials; k++)
            tok->byte_class[(uint8_t)tok->specials[k].text[0]] |= LECTOR__CHAR_SPECIAL;
}

enum lector_tokenizer_kind lector_tokenizer_kind(const struct lector_tokenizer *tok) {
    if (!tok) return LECTOR_TOKENIZER_WORDPIECE;
    switch (tok->kind) {
    case LECTOR__KIND_BPE: return LECTOR_TOKENIZER_BPE;
    case LECTOR__KIND_SPM: return LECTOR_TOKENIZER_SENTENCEPIECE;
    case LECTOR__KIND_UNIGRAM: return LECTOR_TOKENIZER_UNIGRAM;
    default: return LECTOR_TOKENIZER_WORDPIECE;
    }
}

int64_t lector_tokenizer_n_added(const struct lector_tokenizer *tok) {
    return tok ? tok->n_prefix + tok->n_suffix : 0;
}

enum lector_status lector_tokenizer_encode_ex(const struct lector_tokenizer *tok, const char *text,
                                              size_t len, int64_t n_max, int32_t *ids,
                                              int64_t *n_ids, struct lector_encode_info *info,
                                              struct lector_error *err) {
    if (n_ids) *n_ids = 0;
    if (info) *info = (struct lector_encode_info){0, 0};
    if (!tok || (!text && len > 0) || !ids || !n_ids)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: tok, text, ids and n_ids must not be NULL");
    int64_t n_added = tok->n_prefix + tok->n_suffix;
    if (n_max < n_added || n_max < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_encode: n_max is %lld, expected >= %lld (the special "
                             "tokens) and >= 1",
                             (long long)n_max, (long long)(n_added > 1 ? n_added : 1));
    struct lector__sink sink = {.ids = ids + tok->n_prefix, .n = 0, .cap = n_max - n_added, .grow = false};
    int64_t n_replaced = 0;
    enum lector_status st = run(tok, text ? text : "", len, &sink, &n_replaced, err);
    if (st != LECTOR_STATUS_OK) return st;
    for (int k = 0; k < tok->n_prefix; k++) ids[k] = tok->prefix[k];
    for (int k = 0; k < tok->n_suffix; k++) ids[tok->n_prefix + sink.n + k] = tok->suffix[k];
    *n_ids = sink.n + n_added;
    if (info) {
        info->truncated = sink.full;
        info->n_replaced = n_replaced;
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector_tokenizer_encode(const struct lector_tokenizer *tok, const char *text,
                                           size_t len, int64_t n_max, int32_t *ids, int64_t *n_ids,
                                           int *truncated, struct lector_error *err) {
    struct lector_encode_info info;
    enum lector_status st = lector_tokenizer_encode_ex(tok, text, len, n_max, ids, n_ids, &info, err);
    if (truncated) *truncated = st == LECTOR_STATUS_OK ? info.truncated : 0;
    return st;
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
    int64_t n_replaced = 0;
    enum lector_status st = run(tok, text ? text : "", len, &sink, &n_replaced, err);
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

const char *lector_tokenizer_source(const struct lector_tokenizer *tok) {
    return tok ? tok->source : NULL;
}

const char *lector_tokenizer_source_note(const struct lector_tokenizer *tok) {
    return tok ? tok->source_note : NULL;
}

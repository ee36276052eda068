// Finding and opening a tokenizer: which files of a folder (or which file) to read, vocab.txt,
// and the public lector_tokenizer_open* functions.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

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
    st = lector__tok_finish(tok, s, vocab_path, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    lector__tok_set_source(tok, vocab_path, NULL);
    lector_free(data);
    *out = tok;
    return LECTOR_STATUS_OK;
fail:
    lector_tokenizer_close(tok);
    lector_free(data);
    return st;
}

// ---------------------------------------------------------------------------------------------
// finding the files

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
    lector__tok_settings_default(&s);
    if (lector__file_exists(paths[CONFIG])) {
        st = lector__tok_read_config(paths[CONFIG], &s, err);
        if (st != LECTOR_STATUS_OK) goto done;
    }
    lector__tok_read_model_type(dir, &s);
    if (file) {
        if (ends_with(file, ".json") && !ends_with(file, "vocab.json")) {
            st = lector__tok_open_json(file, &s, out, err);
        } else if (ends_with(file, ".model")) {
            st = lector__tok_open_spm(file, lector__tok_spm_guess_family(&s, file), &s, out, err);
        } else if (ends_with(file, "vocab.json") || ends_with(file, "merges.txt")) {
            st = lector__tok_open_vocab_merges(ends_with(file, "vocab.json") ? file : paths[VJSON],
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
        st = lector__tok_open_json(paths[JSON], &s, out, &json_err);
        if (st == LECTOR_STATUS_UNSUPPORTED && m) {
            st = lector__tok_open_spm(m, lector__tok_spm_guess_family(&s, m), &s, out, err);
            if (st == LECTOR_STATUS_OK)
                snprintf((*out)->source_note, sizeof (*out)->source_note, "%s; used %s instead",
                         json_err.msg, lector__tok_base_name(m));
        } else if (st != LECTOR_STATUS_OK && err) {
            *err = json_err;
        }
    } else if (lector__file_exists(paths[VOCAB])) {
        st = open_vocab_txt(paths[VOCAB], &s, out, err);
    } else if (lector__file_exists(paths[SPIECE]) || lector__file_exists(paths[SPBPE])) {
        const char *m = lector__file_exists(paths[SPIECE]) ? paths[SPIECE] : paths[SPBPE];
        st = lector__tok_open_spm(m, lector__tok_spm_guess_family(&s, m), &s, out, err);
    } else if (lector__file_exists(paths[VJSON]) && lector__file_exists(paths[MERGES])) {
        st = lector__tok_open_vocab_merges(paths[VJSON], paths[MERGES], &s, out, err);
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
    lector__tok_settings_default(&s);
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
    lector__tok_settings_default(&s);
    s.add_prefix_space = add_prefix_space != 0;
    return lector__tok_open_vocab_merges(vocab_json, merges_txt, &s, out, err);
}

enum lector_status lector_tokenizer_open_spm(const char *model_path, enum lector_spm_family family,
                                             struct lector_tokenizer **out,
                                             struct lector_error *err) {
    if (out) *out = NULL;
    if (!model_path || !out || (int)family < 0 || family > LECTOR_SPM_FAMILY_CAMEMBERT)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_spm: model_path and out must not be NULL, "
                             "family must be a lector_spm_family");
    return lector__tok_open_spm(model_path, family, NULL, out, err);
}

enum lector_status lector_tokenizer_open_json(const char *path, struct lector_tokenizer **out,
                                              struct lector_error *err) {
    if (out) *out = NULL;
    if (!path || !out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_tokenizer_open_json: path and out must not be NULL");
    struct settings s;
    lector__tok_settings_default(&s);
    return lector__tok_open_json(path, &s, out, err);
}

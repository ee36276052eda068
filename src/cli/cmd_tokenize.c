// lector tokenize: stdin lines -> token ids.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "cli/options.h"
#include "lector/classifier.h"
#include "lector/encoder.h"
#include "lector/tokenizer.h"

static const char tokenize_intro[] =
    "usage: lector tokenize --encoder DIR|--vocab NAME|DIR [options] < texts.txt\n"
    "\n"
    "Tokenize each stdin line with the encoder's tokenizer and print one JSON object per line:\n"
    "{\"ids\":[...],\"tokens\":[...]} (special tokens included).\n"
    "\n"
    "The tokenizer is found in the encoder directory: tokenizer.json, else vocab.txt\n"
    "(WordPiece, with tokenizer_config.json), else spiece.model / sentencepiece.bpe.model\n"
    "(SentencePiece), else vocab.json + merges.txt (byte-level BPE).\n"
    "\n";

enum { O_TOKENIZER = 256, O_INVALID_UTF8, O_VOCAB };

static const struct cli_opt tokenize_opts[] = {
    CLI_SHARED(CLI_OPT_ENCODER),
    CLI_OWN("tokenizer", "PATH", O_TOKENIZER, "use this tokenizer file or directory instead of the encoder's"),
    CLI_OWN("vocab", "NAME|DIR", O_VOCAB, "a standard vocabulary from vocab/ (bert-base-uncased,\n"
                                          "bert-base-cased, bert-base-multilingual-cased, bert-base-chinese,\n"
                                          "roberta-base, xlnet-base-cased) or a tokenizer folder; no encoder\n"
                                          "is needed. vocab/ is $LECTOR_VOCAB_DIR, else share/lector/vocab\n"
                                          "of the installation, else the source tree's"),
    CLI_OWN("max-len", "N", 'n', "at most N ids per text, special tokens included, longer texts\n"
                                 "are truncated [128, at most the encoder's max positions]"),
    CLI_OWN("invalid-utf8", "M", O_INVALID_UTF8, "error: report a line that is not UTF-8 (line and byte offset);\n"
                                                 "replace: use U+FFFD for each bad sequence and note the count on\n"
                                                 "stderr [error]"),
    CLI_SHARED(CLI_OPT_STRICT),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_TEXT("\n"
             "With --invalid-utf8 error, a line that is not valid UTF-8 is reported on stderr and gives\n"
             "an empty output line; the exit status is then 1.\n"),
    CLI_END,
};

static const struct cli_command tokenize_command = {"tokenize", tokenize_intro, tokenize_opts, 26, false, false,
                                                    false};

// tok <- the tokenizer of tok_path (a file or folder) or of the encoder folder dir, with
// invalid UTF-8 replaced when asked; *max_len <- the --max-len given (or the default) checked
// against the encoder's positions and the tokenizer's special tokens. A CLI status.
static int open_tokenizer(const char *tok_path, const char *dir, bool replace, bool max_len_given,
                          int64_t *max_len, struct lector_tokenizer **tok) {
    struct lector_error err;
    enum lector_status ost = tok_path ? lector_tokenizer_open_path(tok_path, tok, &err)
                                      : lector_tokenizer_open(dir, tok, &err);
    if (ost != LECTOR_STATUS_OK) return cli_lib_error(&err);
    if (replace) lector_tokenizer_set_invalid_utf8(*tok, LECTOR_UTF8_REPLACE);
    int64_t n_pos = 0;
    if (dir) {
        struct lector_encoder_config cfg;
        char cfg_path[4096];
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
        if (access(cfg_path, F_OK) == 0) {
            if (lector_encoder_config_read(cfg_path, &cfg, &err) != LECTOR_STATUS_OK)
                return cli_lib_error(&err);
            n_pos = cfg.n_pos;
        }
    }
    if (!cli_resolve_max_len("tokenize", *max_len, max_len_given, n_pos, max_len)) return CLI_USAGE;
    const int64_t need = lector_tokenizer_n_added(*tok);
    if (*max_len < need || *max_len < 1)
        return cli_usage("tokenize", "--max-len %lld leaves no room for the %lld special tokens",
                         (long long)*max_len, (long long)need);
    return CLI_OK;
}

// One output line: {"ids":[...],"tokens":[...]} of the n ids (U+FFFD for a token that is
// not valid UTF-8).
static void print_tokens(const struct lector_tokenizer *tok, const int32_t *ids, int64_t n) {
    json_t *o = json_object(), *ji = json_array(), *jt = json_array();
    for (int64_t i = 0; i < n; i++) {
        json_array_append_new(ji, json_integer(ids[i]));
        const char *t = lector_tokenizer_token(tok, ids[i]);
        json_t *js = t ? json_string(t) : NULL;
        json_array_append_new(jt, js ? js : json_string("\xEF\xBF\xBD"));
    }
    json_object_set_new(o, "ids", ji);
    json_object_set_new(o, "tokens", jt);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    cli_outf("%s\n", s ? s : "{}");
    free(s);
}

// Tokenizes the stdin lines with tok (at most max_len ids each) and prints them; a line that
// fails is reported and gives an empty output line (with strict, ends the run). A CLI status.
static int tokenize_lines(const struct lector_tokenizer *tok, int64_t max_len, bool strict) {
    int32_t *ids = malloc((size_t)max_len * sizeof *ids);
    struct cli_lines in;
    cli_lines_init(&in, 0);
    int rc = CLI_OK;
    int64_t n_replaced_total = 0, n_lines_replaced = 0;
    char *line;
    size_t len;
    int got;
    struct lector_error err;
    while ((got = cli_lines_next(&in, &line, &len)) == 1) {
        int64_t n = 0;
        struct lector_encode_info info;
        if (lector_tokenizer_encode(tok, line, len, max_len, ids, &n, &info, &err) != LECTOR_STATUS_OK) {
            cli_error("stdin:%lld: %s", (long long)in.line_no, err.msg);
            rc = CLI_ERROR;
            if (strict) break;
            cli_out("\n", 1);
            continue;
        }
        if (info.n_replaced > 0) {
            n_replaced_total += info.n_replaced;
            n_lines_replaced++;
        }
        print_tokens(tok, ids, n);
        if (!cli_lines_ready(&in)) cli_flush();
    }
    if (got < 0) rc = CLI_ERROR;
    cli_flush();
    if (n_replaced_total > 0)
        cli_info("note: replaced %lld invalid UTF-8 sequence%s with U+FFFD in %lld line%s",
                (long long)n_replaced_total, n_replaced_total == 1 ? "" : "s",
                (long long)n_lines_replaced, n_lines_replaced == 1 ? "" : "s");
    cli_lines_free(&in);
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *tok_opt = NULL, *vocab_opt = NULL;
    int64_t max_len = 128;
    bool max_len_given = false, replace = false;
    struct cli_common com;
    struct cli_args a;
    cli_args_init(&a, &tokenize_command, argc, argv, &com);
    int c;
    while ((c = cli_args_next(&a)) > 0) {
        switch (c) {
        case O_TOKENIZER: tok_opt = optarg; break;
        case O_VOCAB: vocab_opt = optarg; break;
        case 'n':
            if (!cli_parse_i64("tokenize", "--max-len", optarg, 1, 1 << 20, &max_len)) return CLI_USAGE;
            max_len_given = true;
            break;
        case O_INVALID_UTF8:
            if (strcmp(optarg, "replace") == 0) replace = true;
            else if (strcmp(optarg, "error") == 0) replace = false;
            else return cli_usage("tokenize", "--invalid-utf8 must be error or replace, not '%s'", optarg);
            break;
        }
    }
    if (c < 0) return a.rc;
    const char *enc_opt = com.encoder;
    if (vocab_opt && tok_opt) return cli_usage("tokenize", "give --vocab or --tokenizer, not both");
    char vocab_dir[4096];
    if (vocab_opt) {
        int vrc = cli_vocab_resolve("tokenize", vocab_opt, vocab_dir, sizeof vocab_dir);
        if (vrc != CLI_OK) return vrc;
        tok_opt = vocab_dir;
    }
    const char *dir = (tok_opt && !enc_opt) ? NULL : cli_encoder_dir(enc_opt);
    if (!dir && !tok_opt)
        return cli_usage("tokenize", "no encoder: give --encoder DIR, --vocab NAME|DIR (e.g. "
                         "--vocab bert-base-uncased) or --tokenizer PATH, or set LECTOR_ENCODER");
    struct lector_tokenizer *tok = NULL;
    int rc = open_tokenizer(tok_opt, dir, replace, max_len_given, &max_len, &tok);
    if (rc == CLI_OK) rc = tokenize_lines(tok, max_len, com.strict);
    lector_tokenizer_close(tok);
    return rc;
}

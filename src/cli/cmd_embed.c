// lector embed: stdin lines (or token ids) -> encoder vectors.
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

static const char embed_intro[] =
    "usage: lector embed --encoder DIR [options] < texts.txt\n"
    "       lector embed --model MODEL [options] < texts.txt\n"
    "\n"
    "Print the encoder's pooled vector of each stdin line as {\"embedding\":[...]}, or with\n"
    "--pooling none every token's hidden state as {\"hidden\":[[...],...]}. Floats use %.9g.\n"
    "\n";

enum { O_IDS = 256 };

static const struct cli_opt embed_opts[] = {
    CLI_SHARED_HELP(CLI_OPT_ENCODER, "encoder directory (config.json, weights, tokenizer) [$LECTOR_ENCODER]"),
    CLI_OWN("model", "MODEL", 'm', "the encoder of a model file 'lector train' wrote, with the layers\n"
                                   "it tuned (--unfreeze) in place; its pooling, max length and\n"
                                   "windows unless given"),
    CLI_OWN("pooling", "P", 'p', "cls, mean, max, pooler or none [mean]"),
    CLI_OWN("max-len", "N", 'n', "tokens per window including special tokens; longer texts are\n"
                                 "split into windows (see --stride) unless --truncate, or cut with\n"
                                 "--pooling none [128, at most the encoder's max positions]"),
    CLI_OWN("batch-size", "N", 'b', "texts per encoder batch [32]"),
    CLI_OWN("ids", NULL, O_IDS, "each line is a JSON array of token ids (special tokens included) or\n"
                                "{\"ids\":[...],\"token_type_ids\":[...]}; no tokenizer is used"),
    CLI_SHARED(CLI_OPT_THREADS),
    CLI_SHARED(CLI_OPT_PRECISION),
    CLI_SHARED(CLI_OPT_STRICT),
    CLI_WINDOW_OPTS,
    CLI_SHARED(CLI_OPT_PROGRESS),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

static const struct cli_command embed_command = {"embed", embed_intro, embed_opts, 24, false, false, false};

// Parse a --ids line: [ids...] or {"ids":[...],"token_type_ids":[...]}.
static bool parse_ids_line(const char *line, size_t len, int32_t **ids, int32_t **types, int64_t *n,
                           char *why, size_t why_n) {
    json_error_t je;
    json_t *root = json_loadb(line, len, 0, &je);
    json_t *jids = root, *jtypes = NULL;
    *ids = NULL;
    *types = NULL;
    if (!root) {
        snprintf(why, why_n, "not JSON: %s (column %d)", je.text, je.column);
        return false;
    }
    if (json_is_object(root)) {
        jids = json_object_get(root, "ids");
        jtypes = json_object_get(root, "token_type_ids");
    }
    if (!json_is_array(jids) || json_array_size(jids) == 0 ||
        (jtypes && (!json_is_array(jtypes) || json_array_size(jtypes) != json_array_size(jids)))) {
        snprintf(why, why_n, "expected a non-empty JSON array of ids, or an object with \"ids\" "
                             "and an equally long \"token_type_ids\"");
        json_decref(root);
        return false;
    }
    *n = (int64_t)json_array_size(jids);
    *ids = calloc((size_t)*n, sizeof **ids);
    *types = calloc((size_t)*n, sizeof **types);
    for (int64_t i = 0; i < *n; i++) {
        json_t *a = json_array_get(jids, (size_t)i), *t = jtypes ? json_array_get(jtypes, (size_t)i) : NULL;
        if (!json_is_integer(a) || json_integer_value(a) < 0 || json_integer_value(a) > INT32_MAX ||
            (t && (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX))) {
            snprintf(why, why_n, "element %lld is not a non-negative 32-bit integer", (long long)i);
            free(*ids);
            free(*types);
            *ids = *types = NULL;
            json_decref(root);
            return false;
        }
        (*ids)[i] = (int32_t)json_integer_value(a);
        (*types)[i] = t ? (int32_t)json_integer_value(t) : 0;
    }
    json_decref(root);
    return true;
}

// One row through the encoder, printed as embedding or hidden states.
static int embed_one(const struct lector_encoder *enc, struct lector_encoder_state *st,
                     const int32_t *ids, const int32_t *types, int64_t T, enum lector_pooling pooling,
                     float *hidden, float *pooled, struct lector_error *err) {
    const int64_t C = lector_encoder_get_config(enc)->n_embd;
    if (lector_encoder_forward(enc, st, ids, types, NULL, 1, T, hidden, err) != LECTOR_STATUS_OK)
        return -1;
    if (pooling == LECTOR_POOLING_NONE) {
        cli_out("{\"hidden\":[", 11);
        for (int64_t t = 0; t < T; t++) {
            if (t) cli_out(",", 1);
            cli_out_floats(hidden + t * C, C);
        }
        cli_out("]}\n", 3);
        return 0;
    }
    if (lector_encoder_pool(enc, hidden, NULL, 1, T, pooling, pooled, err) != LECTOR_STATUS_OK) return -1;
    cli_out("{\"embedding\":", 13);
    cli_out_floats(pooled, C);
    cli_out("}\n", 2);
    return 0;
}

// ---------------------------------------------------------------------------------------
// options

struct embed_cli {
    struct cli_common com;
    const char *model;
    enum lector_pooling pooling;
    bool pooling_given, max_len_given, ids_mode;
    int64_t max_len, batch;
};

// One of embed's own options: CLI_OK or CLI_USAGE (printed).
static int parse_option(struct embed_cli *e, int c, const char *v) {
    switch (c) {
    case 'm': e->model = v; break;
    case 'p': {
        int p = lector_pooling_parse(v);
        if (p < 0) return cli_usage("embed", "--pooling must be cls, mean, max, pooler or none, got '%s'", v);
        e->pooling = (enum lector_pooling)p;
        e->pooling_given = true;
        break;
    }
    case 'n':
        if (!cli_parse_i64("embed", "--max-len", v, 2, 1 << 20, &e->max_len)) return CLI_USAGE;
        e->max_len_given = true;
        break;
    case 'b':
        if (!cli_parse_i64("embed", "--batch-size", v, 1, 1 << 16, &e->batch)) return CLI_USAGE;
        break;
    case O_IDS: e->ids_mode = true; break;
    }
    return CLI_OK;
}

// The command line into e; false when the command is to end with *rc (after --help, or a
// usage error).
static bool parse_args(struct embed_cli *e, int argc, char **argv, int *rc) {
    *e = (struct embed_cli){.pooling = LECTOR_POOLING_MEAN, .max_len = 128, .batch = 32};
    struct cli_args a;
    cli_args_init(&a, &embed_command, argc, argv, &e->com);
    int c;
    while ((c = cli_args_next(&a)) > 0)
        if ((*rc = parse_option(e, c, optarg)) != CLI_OK) return false;
    if (c < 0) {
        *rc = a.rc;
        return false;
    }
    if (!e->model && !cli_encoder_dir(e->com.encoder)) {
        *rc = cli_usage("embed", "no encoder: give --encoder DIR or set LECTOR_ENCODER");
        return false;
    }
    *rc = CLI_OK;
    return true;
}

// ---------------------------------------------------------------------------------------
// the encoder

struct embed_run {
    struct lector_classifier *clf; // with --model: owns enc and tok
    struct lector_encoder *enc;
    struct lector_encoder_state *st;
    struct lector_tokenizer *tok;
    const char *dir;
    int64_t C;
    int64_t n_cut; // texts cut at --max-windows
    struct lector_window_params wp;
};

// The encoder (of --model, whose pooling, max length and windows are then the defaults, or
// of --encoder): CLI_OK or the exit status (message printed).
static int open_encoder(struct embed_cli *e, struct embed_run *r) {
    struct lector_error err;
    struct cli_common *com = &e->com;
    if (!e->model) {
        r->dir = cli_encoder_dir(com->encoder);
        return lector_encoder_open(r->dir, &r->enc, &err) == LECTOR_STATUS_OK ? CLI_OK : cli_lib_error(&err);
    }
    if (lector_classifier_open(e->model, com->encoder, getenv("LECTOR_ENCODER"), &r->clf, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    const struct lector_classifier_info *info = lector_classifier_get_info(r->clf);
    r->enc = (struct lector_encoder *)lector_classifier_encoder(r->clf);
    r->dir = lector_encoder_dir(r->enc);
    if (!e->ids_mode) r->tok = (struct lector_tokenizer *)lector_classifier_tokenizer(r->clf);
    if (!e->pooling_given) e->pooling = info->pooling;
    if (!e->max_len_given) e->max_len = info->max_len;
    e->max_len_given = true;
    if (!com->doc_pooling_given && !com->truncate) {
        com->truncate = info->doc_pooling == LECTOR_DOC_TRUNCATE;
        if (!com->truncate) com->doc_pooling = info->doc_pooling;
        if (com->stride < 0 && !com->truncate) com->stride = info->stride;
    }
    return CLI_OK;
}

// Precision, pooling, max length and windows checked against the encoder; its state and
// tokenizer: CLI_OK or the exit status (message printed).
static int check_settings(struct embed_cli *e, struct embed_run *r) {
    struct lector_error err;
    const struct cli_common *com = &e->com;
    if (com->precision != LECTOR_PRECISION_FP32 &&
        lector_encoder_set_precision(r->enc, com->precision, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    if (e->pooling == LECTOR_POOLING_POOLER && !lector_encoder_has_pooler(r->enc))
        return cli_error("%s: this checkpoint has no pooler; use --pooling cls, mean or max", r->dir);
    const struct lector_encoder_config *cfg = lector_encoder_get_config(r->enc);
    if (!cli_resolve_max_len("embed", e->max_len, e->max_len_given, cfg->n_tokens_max, &e->max_len))
        return CLI_USAGE;
    if (lector_encoder_state_new(r->enc, &r->st, &err) != LECTOR_STATUS_OK ||
        (!e->ids_mode && ((!r->clf && lector_tokenizer_open(r->dir, &r->tok, &err) != LECTOR_STATUS_OK) ||
                          lector_encoder_check_n_vocab(r->enc, lector_tokenizer_n_vocab(r->tok), r->dir,
                                                       lector_tokenizer_source(r->tok), &err) != LECTOR_STATUS_OK)))
        return cli_lib_error(&err);
    r->C = cfg->n_embd;
    // Long texts: windows of max_len tokens overlapping by stride, pooled (or truncation).
    r->wp = (struct lector_window_params){e->max_len, 0, com->truncate ? LECTOR_DOC_TRUNCATE : com->doc_pooling,
                                          com->max_windows, e->batch, &r->n_cut};
    if (r->tok) {
        const int64_t window = e->max_len - lector_tokenizer_n_added(r->tok);
        int64_t stride = com->stride;
        if (stride < 0) stride = window / 4 < 32 ? window / 4 : 32;
        if (!com->truncate && stride >= window)
            return cli_usage("embed", "--stride %lld must be smaller than the %lld tokens of a window",
                             (long long)stride, (long long)window);
        r->wp.stride = stride;
    }
    return CLI_OK;
}

static void close_run(struct embed_run *r) {
    lector_encoder_state_free(r->st);
    if (r->clf) {
        lector_classifier_close(r->clf);
    } else {
        lector_tokenizer_close(r->tok);
        lector_encoder_close(r->enc);
    }
}

// ---------------------------------------------------------------------------------------
// the lines

// The lines of a chunk that take the pooled path (lector_embed_texts tokenizes, windows and
// batches them) and where each input line's output comes from.
struct embed_chunk {
    int64_t cap;           // lines per chunk
    char **texts;          // (cap) the pooled path's texts
    size_t *lens;          // (cap)
    int64_t *line_nos;     // (cap) their input line numbers
    enum lector_status *bad; // (cap)
    int64_t *row_line;     // (cap) line slot -> text index, -1: printed already
    float *feats;          // (cap, C)
    float *hidden, *pooled; // (max_len, C), (C): the row-at-a-time path
};

static bool chunk_alloc(struct embed_chunk *k, int64_t cap, int64_t C, int64_t max_len) {
    k->cap = cap;
    k->texts = calloc((size_t)cap, sizeof *k->texts);
    k->lens = calloc((size_t)cap, sizeof *k->lens);
    k->line_nos = calloc((size_t)cap, sizeof *k->line_nos);
    k->bad = calloc((size_t)cap, sizeof *k->bad);
    k->row_line = malloc((size_t)cap * sizeof *k->row_line);
    k->feats = malloc((size_t)cap * (size_t)C * sizeof *k->feats);
    k->hidden = malloc((size_t)max_len * (size_t)C * sizeof *k->hidden);
    k->pooled = malloc((size_t)C * sizeof *k->pooled);
    return k->texts && k->lens && k->line_nos && k->bad && k->row_line && k->feats && k->hidden && k->pooled;
}

static void chunk_free(struct embed_chunk *k) {
    free(k->pooled);
    free(k->hidden);
    free(k->feats);
    free(k->row_line);
    free(k->bad);
    free(k->line_nos);
    free(k->lens);
    free(k->texts);
}

// One line on the row-at-a-time path (caller-given ids with token types, or hidden states):
// printed, or reported (false) with an empty output line unless --strict.
static bool embed_line(const struct embed_cli *e, const struct embed_run *r, struct embed_chunk *k,
                       const char *line, size_t len, int64_t line_no) {
    struct lector_error err;
    int32_t *rid = NULL, *rty = NULL;
    int64_t n = 0;
    char why[LECTOR_ERROR_MSG_LEN + 64];
    bool ok;
    if (e->ids_mode) {
        ok = parse_ids_line(line, len, &rid, &rty, &n, why, sizeof why);
        if (ok && n > e->max_len) {
            snprintf(why, sizeof why, "%lld ids, more than --max-len %lld", (long long)n, (long long)e->max_len);
            ok = false;
        }
    } else {
        rid = malloc((size_t)e->max_len * sizeof *rid);
        ok = lector_tokenizer_encode(r->tok, line, len, e->max_len, rid, &n, NULL, &err) == LECTOR_STATUS_OK;
        if (!ok) snprintf(why, sizeof why, "%s", err.msg);
    }
    if (ok && embed_one(r->enc, r->st, rid, rty, n, e->pooling, k->hidden, k->pooled, &err) != 0) {
        snprintf(why, sizeof why, "%s", err.msg);
        ok = false;
    }
    free(rid);
    free(rty);
    if (!ok) {
        cli_error("stdin:%lld: %s", (long long)line_no, why);
        if (!e->com.strict) cli_out("\n", 1);
    }
    return ok;
}

// The pooled path of a chunk of n_lines input lines (n_rows of them kept in k): encoded and
// printed in input order. CLI_OK, or CLI_ERROR after a bad line (*stop with --strict) or a
// failed encoder (*stop).
static int embed_rows(const struct embed_cli *e, struct embed_run *r, struct embed_chunk *k, int64_t n_lines,
                      int64_t n_rows, bool *stop) {
    struct lector_error err;
    const int64_t cut_before = r->n_cut;
    bool failed = lector_embed_texts(r->enc, r->st, r->tok, e->pooling, &r->wp, (const char *const *)k->texts,
                                     k->lens, n_rows, k->feats, k->bad, NULL, &err) != LECTOR_STATUS_OK;
    if (n_rows > 0) {
        char where[64];
        snprintf(where, sizeof where, n_rows > 1 ? "stdin:%lld-%lld" : "stdin:%lld", (long long)k->line_nos[0],
                 (long long)k->line_nos[n_rows - 1]);
        cli_note_cut(where, r->n_cut - cut_before, e->com.max_windows);
    }
    if (failed) {
        *stop = true;
        return cli_lib_error(&err);
    }
    int rc = CLI_OK;
    for (int64_t i = 0; i < n_lines; i++) {
        int64_t j = k->row_line[i];
        if (j < 0) continue;
        if (k->bad[j] != LECTOR_STATUS_OK) {
            // Re-run the tokenizer alone for the message (it names the byte offset).
            int32_t one[2];
            int64_t m;
            lector_tokenizer_encode(r->tok, k->texts[j], k->lens[j], 2, one, &m, NULL, &err);
            cli_error("stdin:%lld: %s", (long long)k->line_nos[j], err.msg);
            rc = CLI_ERROR;
            if (e->com.strict) {
                *stop = true;
                break;
            }
            cli_out("\n", 1);
            continue;
        }
        cli_out("{\"embedding\":", 13);
        cli_out_floats(k->feats + j * r->C, r->C);
        cli_out("}\n", 2);
    }
    return rc;
}

// stdin, line by line: CLI_OK, or CLI_ERROR when a line or the input was bad.
static int embed_stdin(const struct embed_cli *e, struct embed_run *r) {
    struct embed_chunk k = {0};
    if (!chunk_alloc(&k, e->batch * 32, r->C, e->max_len)) { // lines gathered before sorting by length
        chunk_free(&k);
        return cli_error("out of memory");
    }
    struct cli_lines in;
    cli_lines_init(&in, 0);
    char *line;
    size_t len;
    int got = 1, rc = CLI_OK;
    bool stop = false;
    int64_t n_done = 0;
    const double t0 = lector_now();
    while (got == 1 && !stop) {
        // Fill a chunk while input is ready; an interactive pipe is answered at once.
        int64_t n_rows = 0, n_lines = 0;
        while (n_lines < k.cap && (got = cli_lines_next(&in, &line, &len)) == 1) {
            int64_t slot = n_lines++;
            k.row_line[slot] = -1;
            if (e->ids_mode || e->pooling == LECTOR_POOLING_NONE) {
                if (!embed_line(e, r, &k, line, len, in.line_no)) {
                    rc = CLI_ERROR;
                    if ((stop = e->com.strict)) break;
                }
                n_lines = 0;
                if (!cli_lines_ready(&in)) cli_flush();
                continue;
            }
            k.texts[n_rows] = malloc(len + 1);
            memcpy(k.texts[n_rows], line, len + 1);
            k.lens[n_rows] = len;
            k.line_nos[n_rows] = in.line_no;
            k.row_line[slot] = n_rows++;
            if (!cli_lines_ready(&in)) break;
        }
        if (n_lines == 0) continue;
        if (embed_rows(e, r, &k, n_lines, n_rows, &stop) != CLI_OK) rc = CLI_ERROR;
        for (int64_t i = 0; i < n_rows; i++) free(k.texts[i]);
        cli_flush();
        n_done += n_lines;
        double dt = lector_now() - t0;
        cli_progress_line("%lld texts, %.0f/s", (long long)n_done, dt > 0 ? (double)n_done / dt : 0.0);
    }
    cli_progress_done();
    if (got < 0) rc = CLI_ERROR;
    cli_flush();
    cli_lines_free(&in);
    chunk_free(&k);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    struct embed_cli e;
    int rc;
    if (!parse_args(&e, argc, argv, &rc)) return rc;
    struct embed_run r = {0};
    rc = open_encoder(&e, &r);
    if (rc == CLI_OK) rc = check_settings(&e, &r);
    if (rc == CLI_OK) rc = embed_stdin(&e, &r);
    close_run(&r);
    return rc;
}

// lector embed: stdin lines (or token ids) -> encoder vectors.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "lector/classifier.h"
#include "lector/encoder.h"
#include "lector/tokenizer.h"

static const char embed_help[] =
    "usage: lector embed --encoder DIR [options] < texts.txt\n"
    "       lector embed --model MODEL [options] < texts.txt\n"
    "\n"
    "Print the encoder's pooled vector of each stdin line as {\"embedding\":[...]}, or with\n"
    "--pooling none every token's hidden state as {\"hidden\":[[...],...]}. Floats use %.9g.\n"
    "\n"
    "  -e, --encoder DIR     encoder directory (config.json, weights, tokenizer) [$LECTOR_ENCODER]\n"
    "  -m, --model MODEL     the encoder of a model file 'lector train' wrote, with the layers\n"
    "                        it tuned (--unfreeze) in place; its pooling, max length and\n"
    "                        windows unless given\n"
    "  -p, --pooling P       cls, mean, max, pooler or none [mean]\n"
    "  -n, --max-len N       tokens per window including special tokens; longer texts are\n"
    "                        split into windows (see --stride) unless --truncate, or cut with\n"
    "                        --pooling none [128, at most the encoder's max positions]\n"
    "  -b, --batch-size N    texts per encoder batch [32]\n"
    "      --ids             each line is a JSON array of token ids (special tokens included) or\n"
    "                        {\"ids\":[...],\"token_type_ids\":[...]}; no tokenizer is used\n"
    "  -t, --threads N       threads for the matrix products [all cores]\n"
    "      --precision P     fp32, bf16 or int8: arithmetic of the matrix products; bf16 needs\n"
    "                        a CPU with AVX-512 BF16, int8 one with AVX-512 VNNI; both change\n"
    "                        the outputs slightly [fp32]\n"
    "      --strict          stop at the first bad line instead of reporting and going on\n"
    "      --stride N        texts longer than --max-len are split into windows that overlap\n"
    "                        by N tokens, and the windows' vectors pooled [a quarter of the\n"
    "                        window's text tokens, at most 32: 31 at --max-len 128 with 2\n"
    "                        special tokens]\n"
    "      --max-windows N   read at most N windows of a long text; a text cut there is\n"
    "                        reported on stderr (0: no limit) [128]\n"
    "      --doc-pooling P   pool the windows by mean or max [mean]\n"
    "      --truncate        keep only the first --max-len tokens of a text instead\n"
    "      --progress        show texts/s on stderr\n"
    "      --verify-checksum hash the encoder's files in full, not trusting the checksum\n"
    "                        cache (also LECTOR_VERIFY_CHECKSUM=1)\n"
    "  -q, --quiet           print only errors on stderr\n"
    "  -h, --help            show this help\n";

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

int cmd_embed(int argc, char **argv) {
    static const struct option opts[] = {{"encoder", required_argument, 0, 'e'},
                                         {"model", required_argument, 0, 'm'},
                                         {"pooling", required_argument, 0, 'p'},
                                         {"max-len", required_argument, 0, 'n'},
                                         {"batch-size", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"precision", required_argument, 0, 'R'},
                                         {"verify-checksum", no_argument, 0, 'V'},
                                         {"ids", no_argument, 0, 'I'},
                                         {"strict", no_argument, 0, 'S'},
                                         {"progress", no_argument, 0, 'P'},
                                         {"stride", required_argument, 0, 'W'},
                                         {"max-windows", required_argument, 0, 400},
                                         {"doc-pooling", required_argument, 0, 'D'},
                                         {"truncate", no_argument, 0, 'T'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *enc_opt = NULL, *model = NULL;
    bool pooling_given = false, doc_given = false;
    int64_t max_len = 128, batch = 32, threads = 0;
    int64_t stride = -1; // 32, or a quarter of the window when that is smaller
    int64_t max_windows = CLI_MAX_WINDOWS, n_cut = 0;
    enum lector_doc_pooling doc_pooling = LECTOR_DOC_MEAN;
    bool truncate_docs = false;
    cli_progress = false;
    bool max_len_given = false, ids_mode = false, strict = false;
    enum lector_pooling pooling = LECTOR_POOLING_MEAN;
    enum lector_precision precision = LECTOR_PRECISION_FP32;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":e:m:p:n:b:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'e': enc_opt = optarg; break;
        case 'm': model = optarg; break;
        case 'p': {
            int p = lector_pooling_parse(optarg);
            if (p < 0) return cli_usage("embed", "--pooling must be cls, mean, max, pooler or none, got '%s'", optarg);
            pooling = (enum lector_pooling)p;
            pooling_given = true;
            break;
        }
        case 'n':
            if (!cli_parse_i64("embed", "--max-len", optarg, 2, 1 << 20, &max_len)) return CLI_USAGE;
            max_len_given = true;
            break;
        case 'b':
            if (!cli_parse_i64("embed", "--batch-size", optarg, 1, 1 << 16, &batch)) return CLI_USAGE;
            break;
        case 't':
            if (!cli_parse_i64("embed", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case 'R':
            if (!cli_parse_precision("embed", optarg, &precision)) return CLI_USAGE;
            break;
        case 'I': ids_mode = true; break;
        case 'S': strict = true; break;
        case 'P': cli_progress = true; break;
        case 400:
            if (!cli_parse_max_windows("embed", optarg, &max_windows)) return CLI_USAGE;
            break;
        case 'W':
            if (!cli_parse_i64("embed", "--stride", optarg, 0, 1 << 20, &stride)) return CLI_USAGE;
            break;
        case 'D': {
            int d = lector_doc_pooling_parse(optarg);
            if (d != LECTOR_DOC_MEAN && d != LECTOR_DOC_MAX)
                return cli_usage("embed", "--doc-pooling must be mean or max, got '%s'", optarg);
            doc_pooling = (enum lector_doc_pooling)d;
            doc_given = true;
            break;
        }
        case 'T':
            truncate_docs = true;
            doc_given = true;
            break;
        case 'V': lector_set_verify_checksum(1); break;
        case 'q': cli_quiet = true; break;
        case 'h': fputs(embed_help, stdout); return CLI_OK;
        case ':': return cli_usage("embed", "option %s needs a value", argv[optind - 1]);
        default: return cli_unknown_option("embed", argv[optind - 1], opts);
        }
    }
    if (optind < argc) return cli_usage("embed", "unexpected argument '%s'", argv[optind]);
    const char *dir = model ? enc_opt : cli_encoder_dir(enc_opt);
    if (!dir && !model) return cli_usage("embed", "no encoder: give --encoder DIR or set LECTOR_ENCODER");
    if (threads > 0) lector_set_n_threads((int)threads);

    struct lector_error err;
    struct lector_encoder *enc = NULL;
    struct lector_encoder_state *st = NULL;
    struct lector_tokenizer *tok = NULL;
    struct lector_classifier *clf = NULL; // with --model: owns enc and tok
    if (model) {
        if (lector_classifier_open(model, enc_opt, getenv("LECTOR_ENCODER"), &clf, &err) != LECTOR_STATUS_OK)
            return cli_lib_error(&err);
        const struct lector_classifier_info *info = lector_classifier_get_info(clf);
        enc = (struct lector_encoder *)lector_classifier_encoder(clf);
        dir = lector_encoder_dir(enc);
        if (!ids_mode) tok = (struct lector_tokenizer *)lector_classifier_tokenizer(clf);
        if (!pooling_given) pooling = info->pooling;
        if (!max_len_given) max_len = info->max_len;
        max_len_given = true;
        if (!doc_given) {
            truncate_docs = info->doc_pooling == LECTOR_DOC_TRUNCATE;
            if (!truncate_docs) doc_pooling = info->doc_pooling;
            if (stride < 0 && !truncate_docs) stride = info->stride;
        }
    } else if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK) {
        return cli_lib_error(&err);
    }
    const struct lector_encoder_config *cfg = lector_encoder_get_config(enc);
    int rc = CLI_OK;
    if (precision != LECTOR_PRECISION_FP32 &&
        lector_encoder_set_precision(enc, precision, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    if (pooling == LECTOR_POOLING_POOLER && !lector_encoder_has_pooler(enc)) {
        rc = cli_error("%s: this checkpoint has no pooler; use --pooling cls, mean or max", dir);
        goto out;
    }
    if (!cli_resolve_max_len("embed", max_len, max_len_given, cfg->n_tokens_max, &max_len)) {
        rc = CLI_USAGE;
        goto out;
    }
    if (lector_encoder_state_new(enc, &st, &err) != LECTOR_STATUS_OK ||
        (!ids_mode && ((!clf && lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) ||
                       lector_encoder_check_n_vocab(enc, lector_tokenizer_n_vocab(tok), dir,
                                                    lector_tokenizer_source(tok), &err) != LECTOR_STATUS_OK))) {
        rc = cli_lib_error(&err);
        goto out;
    }

    const int64_t C = cfg->n_embd;
    // Long texts: windows of max_len tokens overlapping by stride, pooled (or truncation).
    struct lector_window_params wp = {max_len, 0, truncate_docs ? LECTOR_DOC_TRUNCATE : doc_pooling, max_windows,
                                      batch, &n_cut};
    if (tok) {
        const int64_t window = max_len - lector_tokenizer_n_added(tok);
        if (stride < 0) stride = window / 4 < 32 ? window / 4 : 32;
        if (!truncate_docs && stride >= window) {
            rc = cli_usage("embed", "--stride %lld must be smaller than the %lld tokens of a window",
                           (long long)stride, (long long)window);
            goto out;
        }
        wp.stride = stride;
    }
    const int64_t chunk = batch * 32; // lines gathered before sorting into length buckets
    char **texts = calloc((size_t)chunk, sizeof *texts);
    size_t *lens = calloc((size_t)chunk, sizeof *lens);
    int64_t *line_nos = calloc((size_t)chunk, sizeof *line_nos);
    enum lector_status *bad = calloc((size_t)chunk, sizeof *bad);
    int64_t *row_line = malloc((size_t)chunk * sizeof *row_line); // line slot -> text index
    float *feats = malloc((size_t)chunk * (size_t)C * sizeof *feats);
    float *hidden = malloc((size_t)max_len * (size_t)C * sizeof *hidden);
    float *pooled = malloc((size_t)C * sizeof *pooled);
    struct cli_lines in;
    cli_lines_init(&in, 0);
    char *line;
    size_t len;
    int got = 1;
    int64_t n_done = 0;
    const double t0 = lector_now();
    while (got == 1 && !(strict && rc != CLI_OK)) {
        // Fill a chunk while input is ready; an interactive pipe is answered at once.
        int64_t n_rows = 0, n_lines = 0;
        while (n_lines < chunk && (got = cli_lines_next(&in, &line, &len)) == 1) {
            int64_t slot = n_lines++;
            row_line[slot] = -1;
            if (ids_mode || pooling == LECTOR_POOLING_NONE) {
                // Row-at-a-time paths: hidden states, or caller-given ids with token types.
                int32_t *rid = NULL, *rty = NULL;
                int64_t n = 0;
                char why[LECTOR_ERROR_MSG_LEN + 64];
                bool ok;
                if (ids_mode) {
                    ok = parse_ids_line(line, len, &rid, &rty, &n, why, sizeof why);
                    if (ok && n > max_len) {
                        snprintf(why, sizeof why, "%lld ids, more than --max-len %lld", (long long)n,
                                 (long long)max_len);
                        ok = false;
                    }
                } else {
                    rid = malloc((size_t)max_len * sizeof *rid);
                    ok = lector_tokenizer_encode(tok, line, len, max_len, rid, &n, NULL, &err) == LECTOR_STATUS_OK;
                    if (!ok) snprintf(why, sizeof why, "%s", err.msg);
                }
                if (ok && embed_one(enc, st, rid, rty, n, pooling, hidden, pooled, &err) != 0) {
                    snprintf(why, sizeof why, "%s", err.msg);
                    ok = false;
                }
                free(rid);
                free(rty);
                if (!ok) {
                    cli_error("stdin:%lld: %s", (long long)in.line_no, why);
                    rc = CLI_ERROR;
                    if (strict) break;
                    cli_out("\n", 1);
                }
                n_lines = 0;
                if (!cli_lines_ready(&in)) cli_flush();
                continue;
            }
            // Pooled path: keep the text; lector_embed_texts tokenizes, windows and batches.
            texts[n_rows] = malloc(len + 1);
            memcpy(texts[n_rows], line, len + 1);
            lens[n_rows] = len;
            line_nos[n_rows] = in.line_no;
            row_line[slot] = n_rows++;
            if (!cli_lines_ready(&in)) break;
        }
        if (n_lines == 0) continue;
        const int64_t cut_before = n_cut;
        bool failed = lector_embed_texts(enc, st, tok, pooling, &wp, (const char *const *)texts, lens, n_rows,
                                         feats, bad, NULL, &err) != LECTOR_STATUS_OK;
        if (n_rows > 0) {
            char where[64];
            snprintf(where, sizeof where, n_rows > 1 ? "stdin:%lld-%lld" : "stdin:%lld", (long long)line_nos[0],
                     (long long)line_nos[n_rows - 1]);
            cli_note_cut(where, n_cut - cut_before, max_windows);
        }
        if (failed) {
            rc = cli_lib_error(&err);
            got = 0;
        }
        for (int64_t i = 0; i < n_lines && !failed; i++) {
            int64_t r = row_line[i];
            if (bad[r] != LECTOR_STATUS_OK) {
                // Re-run the tokenizer alone for the message (it names the byte offset).
                int32_t one[2];
                int64_t m;
                lector_tokenizer_encode(tok, texts[r], lens[r], 2, one, &m, NULL, &err);
                cli_error("stdin:%lld: %s", (long long)line_nos[r], err.msg);
                rc = CLI_ERROR;
                if (strict) break;
                cli_out("\n", 1);
                continue;
            }
            cli_out("{\"embedding\":", 13);
            cli_out_floats(feats + r * C, C);
            cli_out("}\n", 2);
        }
        for (int64_t i = 0; i < n_rows; i++) free(texts[i]);
        cli_flush();
        n_done += n_lines;
        double dt = lector_now() - t0;
        cli_progress_line("%lld texts, %.0f/s", (long long)n_done, dt > 0 ? (double)n_done / dt : 0.0);
    }
    cli_progress_done();
    if (got < 0) rc = CLI_ERROR;
    cli_flush();
    cli_lines_free(&in);
    free(pooled);
    free(hidden);
    free(feats);
    free(row_line);
    free(bad);
    free(line_nos);
    free(lens);
    free(texts);
out:
    lector_encoder_state_free(st);
    if (clf) {
        lector_classifier_close(clf);
    } else {
        lector_tokenizer_close(tok);
        lector_encoder_close(enc);
    }
    return rc;
}

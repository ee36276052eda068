// lector info: describe an encoder directory, or a model file (a model card).
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "lector/checkpoint.h"
#include "lector/classifier.h"
#include "lector/encoder.h"
#include "lector/tokenizer.h"

// A name from outside (a path, a tensor name from a checkpoint) for the text output: control
// characters as \xNN, so no ESC sequence reaches the terminal. Four buffers in turn: up to four
// such names in one printf.
static const char *esc(const char *s) {
    static char bufs[4][4 * 4096 + 8];
    static int next;
    char *b = bufs[next++ & 3];
    return lector__escape(s ? s : "", b, sizeof bufs[0]);
}

static const char info_intro[] =
    "usage: lector info [--format text|json] [--verify-checksum] DIR|MODEL\n"
    "\n"
    "For an encoder directory: family, weight format and dtype, parameter count, layers,\n"
    "hidden size, heads, FFN width, max positions, vocabulary and tokenizer kind, default\n"
    "pooling, and any tensors present but ignored. For a model file written by 'lector train':\n"
    "a model card with the labels, the encoder it records (path and checksum) and where it\n"
    "was found (--encoder is not taken: $LECTOR_ENCODER, the recorded path, the path as given\n"
    "at training, the path relative to the model file), pooling, max length, training data\n"
    "size and validation figures, followed by the encoder's description. When the encoder is\n"
    "not found, the recorded encoder is printed and the exit status is 1.\n"
    "\n";

static const struct cli_opt info_opts[] = {
    CLI_OWN("format", "F", 'f', "text or json [text]"),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

static const struct cli_command info_command = {"info", info_intro, info_opts, 22, true, false, false};

static const char *tokenizer_kind_name(const struct lector_tokenizer *tok) {
    if (!tok) return "none";
    switch (lector_tokenizer_kind(tok)) {
    case LECTOR_TOKENIZER_WORDPIECE: return "wordpiece";
    case LECTOR_TOKENIZER_BPE: return "byte-level-bpe";
    case LECTOR_TOKENIZER_SENTENCEPIECE: return "sentencepiece";
    case LECTOR_TOKENIZER_UNIGRAM: return "unigram";
    }
    return "unknown";
}

static const char *act_name(enum lector_activation a) {
    switch (a) {
    case LECTOR_ACT_GELU: return "gelu";
    case LECTOR_ACT_GELU_NEW: return "gelu_new";
    case LECTOR_ACT_RELU: return "relu";
    }
    return "?";
}

static json_t *encoder_json(const struct lector_encoder *enc, const struct lector_tokenizer *tok,
                            const char *tok_error) {
    const struct lector_encoder_config *c = lector_encoder_get_config(enc);
    json_t *o = json_object();
    json_object_set_new(o, "dir", json_string(lector_encoder_dir(enc)));
    json_object_set_new(o, "family", json_string(lector_encoder_family(enc)));
    json_object_set_new(o, "format", json_string(lector_encoder_format(enc)));
    json_t *files = json_array();
    for (int64_t i = 0; i < lector_encoder_n_files(enc); i++)
        json_array_append_new(files, json_string(lector_encoder_file(enc, i)));
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "dtype", json_string(lector_encoder_dtype(enc)));
    json_object_set_new(o, "n_params", json_integer(lector_encoder_n_params(enc)));
    json_object_set_new(o, "layers", json_integer(c->n_layer));
    json_object_set_new(o, "hidden", json_integer(c->n_embd));
    json_object_set_new(o, "heads", json_integer(c->n_head));
    json_object_set_new(o, "ffn", json_integer(c->n_ff));
    json_object_set_new(o, "activation", json_string(act_name(c->act)));
    json_object_set_new(o, "max_positions", json_integer(c->n_pos));
    json_object_set_new(o, "max_tokens", json_integer(c->n_tokens_max));
    json_object_set_new(o, "vocab_size", json_integer(c->n_vocab));
    json_object_set_new(o, "tokenizer", json_string(tokenizer_kind_name(tok)));
    if (tok) json_object_set_new(o, "tokenizer_source", json_string(lector_tokenizer_source(tok)));
    if (tok && *lector_tokenizer_source_note(tok))
        json_object_set_new(o, "tokenizer_note", json_string(lector_tokenizer_source_note(tok)));
    if (tok_error) json_object_set_new(o, "tokenizer_error", json_string(tok_error));
    char vname[256];
    if (cli_vocab_match(lector_encoder_dir(enc), vname, sizeof vname))
        json_object_set_new(o, "vocab_same_as", json_string(vname));
    json_object_set_new(o, "pooler", json_boolean(lector_encoder_has_pooler(enc)));
    json_object_set_new(o, "default_pooling", json_string(lector_pooling_name(lector_encoder_default_pooling(enc))));
    json_object_set_new(o, "sha256", json_string(lector_encoder_checksum(enc)));
    json_t *ign = json_array();
    for (int64_t i = 0; i < lector_encoder_n_ignored(enc); i++)
        json_array_append_new(ign, json_string(lector_encoder_ignored(enc, i)));
    json_object_set_new(o, "ignored_tensors", ign);
    return o;
}

static void print_encoder_text(const struct lector_encoder *enc, const struct lector_tokenizer *tok,
                               const char *tok_error) {
    const struct lector_encoder_config *c = lector_encoder_get_config(enc);
    cli_outf("encoder          %s\n", esc(lector_encoder_dir(enc)));
    cli_outf("family           %s\n", lector_encoder_family(enc));
    cli_outf("format           %s (", lector_encoder_format(enc));
    for (int64_t i = 0; i < lector_encoder_n_files(enc); i++)
        cli_outf("%s%s", i ? ", " : "", esc(lector_encoder_file(enc, i)));
    cli_outf(")\n");
    cli_outf("dtype            %s (computed in F32)\n", lector_encoder_dtype(enc));
    cli_outf("parameters       %lld\n", (long long)lector_encoder_n_params(enc));
    cli_outf("geometry         %lld layers, hidden %lld, %lld heads, FFN %lld, %s\n", (long long)c->n_layer,
             (long long)c->n_embd, (long long)c->n_head, (long long)c->n_ff, act_name(c->act));
    cli_outf("max positions    %lld (%lld tokens per text)\n", (long long)c->n_pos, (long long)c->n_tokens_max);
    cli_outf("vocabulary       %lld, tokenizer %s%s%s%s%s\n", (long long)c->n_vocab, tokenizer_kind_name(tok),
             tok ? " from " : "", tok ? esc(lector_tokenizer_source(tok)) : "", tok_error ? ": " : "",
             tok_error ? esc(tok_error) : "");
    if (tok && *lector_tokenizer_source_note(tok)) cli_outf("                 %s\n", esc(lector_tokenizer_source_note(tok)));
    char vname[256];
    if (cli_vocab_match(lector_encoder_dir(enc), vname, sizeof vname))
        cli_outf("                 byte-identical to vocab/%s (lector tokenize --vocab %s)\n", vname, vname);
    cli_outf("pooling          default %s%s\n", lector_pooling_name(lector_encoder_default_pooling(enc)),
             lector_encoder_has_pooler(enc) ? "; pooler available" : "");
    if (lector_encoder_pooling_note(enc)) cli_outf("                 %s\n", lector_encoder_pooling_note(enc));
    cli_outf("sha256           %s\n", lector_encoder_checksum(enc));
    int64_t n_ign = lector_encoder_n_ignored(enc);
    cli_outf("ignored tensors  %lld%s", (long long)n_ign, n_ign ? ":" : "\n");
    for (int64_t i = 0; i < n_ign; i++) cli_outf("%s%s", i ? ", " : " ", esc(lector_encoder_ignored(enc, i)));
    if (n_ign) cli_out("\n", 1);
}

static int info_encoder(const char *dir, bool json) {
    struct lector_error err;
    struct lector_encoder *enc = NULL;
    struct lector_tokenizer *tok = NULL;
    if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    const char *tok_error = NULL;
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) tok_error = err.msg;
    if (json) {
        json_t *o = encoder_json(enc, tok, tok_error);
        char *s = json_dumps(o, JSON_COMPACT);
        cli_outf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        print_encoder_text(enc, tok, tok_error);
    }
    lector_tokenizer_close(tok);
    lector_encoder_close(enc);
    return CLI_OK;
}

// The encoder a model file records, read from its metadata alone (so that it can be shown
// when the encoder is not found).
struct recorded_encoder {
    char dir[4096], given[4096], sha[80];
    bool ok;
    json_t *tuned; // metadata 'tuned_layers' ({"layers": [...], "pooler": bool, "of": L}), or NULL
    long long size; // the model file's bytes
};

static void read_recorded(const char *path, struct recorded_encoder *r) {
    memset(r, 0, sizeof *r);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector_checkpoint_open(path, &ck, &err) != LECTOR_STATUS_OK) return;
    const char *d = lector_checkpoint_metadata(ck, "encoder_dir");
    const char *g = lector_checkpoint_metadata(ck, "encoder_dir_given");
    const char *h = lector_checkpoint_metadata(ck, "encoder_sha256");
    if (d && h) {
        snprintf(r->dir, sizeof r->dir, "%s", d);
        snprintf(r->given, sizeof r->given, "%s", g ? g : "");
        snprintf(r->sha, sizeof r->sha, "%s", h);
        r->ok = true;
    }
    const char *tl = lector_checkpoint_metadata(ck, "tuned_layers");
    r->tuned = tl ? json_loads(tl, 0, NULL) : NULL;
    struct stat sb;
    r->size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    lector_checkpoint_close(ck);
}

static void print_recorded(const struct recorded_encoder *r, const char *found) {
    cli_outf("encoder recorded %s", esc(r->dir));
    if (r->given[0] && strcmp(r->given, r->dir) != 0) cli_outf(" (given as %s)", esc(r->given));
    cli_outf(", sha256 %.12s...\n", r->sha);
    if (found) cli_outf("encoder found    %s\n", esc(found));
    else cli_outf("encoder found    no: give --encoder DIR or set LECTOR_ENCODER to it\n");
}

// Which encoder layers the model tuned (it stores them), and the file's size.
static void print_tuned(const struct recorded_encoder *r) {
    json_t *layers = json_object_get(r->tuned, "layers");
    if (json_is_array(layers) && json_array_size(layers) > 0) {
        cli_outf("tuned layers     %zu of %lld:", json_array_size(layers),
                 (long long)json_integer_value(json_object_get(r->tuned, "of")));
        size_t i;
        json_t *v;
        json_array_foreach(layers, i, v) cli_outf("%s %lld", i ? "," : "", (long long)json_integer_value(v));
        cli_outf("%s (stored in the model; the others are the encoder's)\n",
                 json_is_true(json_object_get(r->tuned, "pooler")) ? ", and the pooler" : "");
    } else {
        cli_outf("tuned layers     none (the encoder is used as it is)\n");
    }
    if (r->size >= 0) cli_outf("file size        %lld bytes (%.2f MB)\n", r->size, (double)r->size / 1e6);
}

// What a model whose encoder is not found records of it (text or JSON).
static void print_unfound(const char *path, const struct recorded_encoder *rec, bool json) {
    if (json) {
        json_t *o = json_pack("{s:s, s:{s:s, s:s, s:s, s:b}}", "model", path, "encoder", "dir",
                              rec->dir, "given", rec->given, "sha256", rec->sha, "found", 0);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        cli_outf("%s\n", js ? js : "{}");
        free(js);
        json_decref(o);
    } else {
        cli_outf("model            %s\n", esc(path));
        print_recorded(rec, NULL);
    }
    cli_flush();
}

// The model clf of path as one JSON line: hist and tuned are its history and autotune
// records (or NULL), rec what the file records of its encoder.
static void print_model_json(const struct lector_classifier *clf, const char *path,
                             const struct recorded_encoder *rec, json_t *hist, json_t *tuned) {
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    const struct lector_encoder *enc = lector_classifier_encoder(clf);
    const int64_t K = lector_classifier_n_labels(clf);
    json_t *o = json_object(), *labels = json_array();
    json_object_set_new(o, "model", json_string(path));
    for (int64_t k = 0; k < K; k++) json_array_append_new(labels, json_string(lector_classifier_label(clf, k)));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "pooling", json_string(lector_pooling_name(info->pooling)));
    json_object_set_new(o, "max_len", json_integer(info->max_len));
    json_object_set_new(o, "n_train", json_integer(info->n_train));
    if (info->valid_accuracy >= 0) json_object_set_new(o, "valid_accuracy", json_real(info->valid_accuracy));
    if (hist) json_object_set(o, "history", hist);
    if (tuned) json_object_set(o, "autotune", tuned);
    if (enc) {
        json_t *ej = encoder_json(enc, lector_classifier_tokenizer(clf), NULL);
        json_object_set_new(ej, "recorded", json_string(rec->dir));
        json_object_set_new(ej, "given", json_string(rec->given));
        json_object_set_new(ej, "found", json_true());
        json_object_set_new(o, "encoder", ej);
    } else {
        json_object_set_new(o, "encoder", json_null()); // n-grams alone: none recorded, none needed
    }
    json_object_set_new(o, "file_bytes", json_integer(rec->size));
    json_object_set(o, "tuned_layers", rec->tuned ? rec->tuned : json_null());
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    cli_outf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

// The model clf of path as text, with the same records as print_model_json.
static void print_model_text(const struct lector_classifier *clf, const char *path,
                             const struct recorded_encoder *rec, json_t *hist, json_t *tuned) {
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    const struct lector_encoder *enc = lector_classifier_encoder(clf);
    const int64_t K = lector_classifier_n_labels(clf);
    cli_outf("model            %s\n", esc(path));
    cli_outf("labels           %lld:", (long long)K);
    for (int64_t k = 0; k < K; k++) cli_outf(" %s", lector_classifier_label(clf, k));
    if (enc)
        cli_outf("\npooling          %s, max length %lld tokens\n", lector_pooling_name(info->pooling),
                 (long long)info->max_len);
    else
        cli_outf("\nfeatures         word n-grams alone\n");
    cli_outf("training data    %lld examples\n", (long long)info->n_train);
    if (info->valid_accuracy >= 0) cli_outf("valid accuracy   %.4f (best epoch)\n", info->valid_accuracy);
    if (json_is_array(hist) && json_array_size(hist) > 0) {
        cli_outf("epochs           %zu:", json_array_size(hist));
        size_t i;
        json_t *e;
        json_array_foreach(hist, i, e) {
            json_t *acc = json_object_get(e, "valid_accuracy");
            json_t *loss = json_object_get(e, "train_loss");
            cli_outf(" %s%.3f", i ? "| " : "", json_number_value(loss));
            if (json_is_number(acc) && json_number_value(acc) >= 0) cli_outf("/%.3f", json_number_value(acc));
        }
        cli_outf("  (train loss/valid accuracy)\n");
    }
    if (json_is_object(tuned))
        cli_outf("autotune         trial %lld of %lld: %s\n",
                 (long long)json_integer_value(json_object_get(tuned, "trial")),
                 (long long)json_integer_value(json_object_get(tuned, "trials")),
                 esc(json_string_value(json_object_get(tuned, "settings"))));
    if (!enc) {
        cli_outf("encoder          none: this model needs no encoder (trained with --features ngrams)\n");
    } else {
        if (rec->ok) print_recorded(rec, lector_encoder_dir(enc));
        print_tuned(rec);
        cli_out("\n", 1);
        print_encoder_text(enc, lector_classifier_tokenizer(clf), NULL);
    }
}

static int info_model(const char *path, bool json) {
    struct lector_error err;
    struct lector_classifier *clf = NULL;
    struct recorded_encoder rec;
    read_recorded(path, &rec);
    if (lector_classifier_open(path, NULL, getenv("LECTOR_ENCODER"), &clf, &err) != LECTOR_STATUS_OK) {
        // The model is readable but its encoder is not found: say what it records.
        if (err.code == LECTOR_STATUS_NOT_FOUND && rec.ok) print_unfound(path, &rec, json);
        json_decref(rec.tuned);
        return cli_lib_error(&err);
    }
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    json_t *hist = info->history_json ? json_loads(info->history_json, 0, NULL) : NULL;
    json_t *tuned = info->autotune_json ? json_loads(info->autotune_json, 0, NULL) : NULL;
    if (json) print_model_json(clf, path, &rec, hist, tuned);
    else print_model_text(clf, path, &rec, hist, tuned);
    json_decref(hist);
    json_decref(tuned);
    json_decref(rec.tuned);
    lector_classifier_close(clf);
    return CLI_OK;
}

int cmd_info(int argc, char **argv) {
    bool json = false;
    struct cli_common com;
    struct cli_args a;
    cli_args_init(&a, &info_command, argc, argv, &com);
    int c;
    while ((c = cli_args_next(&a)) > 0) {
        if (c != 'f') continue;
        if (strcmp(optarg, "json") && strcmp(optarg, "text"))
            return cli_usage("info", "--format must be text or json, got '%s'", optarg);
        json = !strcmp(optarg, "json");
    }
    if (c < 0) return a.rc;
    if (argc - optind != 1) return cli_usage("info", "expected one encoder directory or model file");
    const char *path = argv[optind];
    struct stat sb;
    if (stat(path, &sb) != 0) return cli_error("%s: no such file or directory", path);
    int rc = S_ISDIR(sb.st_mode) ? info_encoder(path, json) : info_model(path, json);
    cli_flush();
    return rc;
}

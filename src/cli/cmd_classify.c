// lector classify: a trained model applied to files, folders or stdin lines.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>

#include "cli/cli.h"
#include "base/base_impl.h"
#include "cli/cli_data.h"
#include "cli/options.h"
#include "lector/classifier.h"

static const char classify_intro[] =
    "usage: lector classify --model MODEL [options] [FILE|DIR...]\n"
    "\n"
    "With files, each file is one document and a line FILE<TAB>LABEL<TAB>PROBABILITY is printed\n"
    "per file. With no file or '-', each stdin line is one text and LABEL<TAB>PROBABILITY is\n"
    "printed per line, in input order, flushed as soon as a batch is done (so interactive pipes\n"
    "answer at once), in bounded memory however long the input. A bad line (invalid UTF-8) is\n"
    "reported on stderr and gives an empty output line; the exit status is then 1. In tsv and\n"
    "csv, a file name or id holding a control character (TAB, newline, ESC, ...) is reported\n"
    "and skipped: use --format jsonl, which escapes it (a name that is not UTF-8 gets U+FFFD\n"
    "and its bytes in hex under file_hex or id_hex). Only regular files are read.\n"
    "An empty or blank text (line or file) gets no label: its output line keeps its place\n"
    "with the label field empty (\"label\":null in jsonl), and the first one is reported on\n"
    "stderr. A binary file (a NUL byte in its first 8 KiB) is skipped and counted on stderr;\n"
    "with --strict it is an error. Reading a terminal, classify says so on stderr.\n"
    "\n";

enum { O_ALL = 256, O_LABEL_ONLY, O_ID, O_FILES_FROM, O_MAX_FILE };

static const struct cli_opt classify_opts[] = {
    CLI_OWN("model", "MODEL", 'm', "model file written by 'lector train'"),
    CLI_SHARED_HELP(CLI_OPT_ENCODER, "the encoder to use (its checksum must match the model's); else\n"
                                     "$LECTOR_ENCODER if its checksum matches, else the path the\n"
                                     "model records, as given at training, or relative to the model"),
    CLI_OWN("format", "F", 'f', "tsv, jsonl or csv [tsv]"),
    CLI_OWN("top-k", "K", 'k', "print the K most probable labels with their probabilities [1]"),
    CLI_OWN("all-scores", NULL, O_ALL, "print every label's probability (most probable first)"),
    CLI_OWN("label-only", NULL, O_LABEL_ONLY, "print the label alone, without probabilities"),
    CLI_OWN("id-column", NULL, O_ID, "stdin lines are ID<TAB>TEXT; the ID is echoed first"),
    CLI_OWN("recursive", NULL, 'r', "classify the files inside folders given as arguments"),
    CLI_OWN("files-from", "LIST", O_FILES_FROM, "read file names from LIST, one per line ('-' for stdin)"),
    CLI_SHARED_HELP(CLI_OPT_SHARD, "handle only items I, I+N, I+2N, ... (0 <= I < N; items are stdin\n"
                                   "lines or files, counted from 0), e.g. for Slurm array jobs"),
    CLI_OWN("batch-size", "N", 'b', "lines per batch; up to 32 batches of ready input are sorted by\n"
                                    "length together [32]"),
    CLI_SHARED(CLI_OPT_THREADS),
    CLI_SHARED(CLI_OPT_PRECISION),
    CLI_SHARED(CLI_OPT_STRICT),
    CLI_OWN("max-file-size", "N", O_MAX_FILE, "refuse a file larger than N bytes (suffix K, M or G) [64M]"),
    CLI_SHARED(CLI_OPT_MAX_WINDOWS),
    CLI_SHARED(CLI_OPT_PROGRESS),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

static const struct cli_command classify_command = {"classify", classify_intro, classify_opts, 25, true, false,
                                                    false};

enum out_format { FMT_TSV, FMT_JSONL, FMT_CSV };

// The default --max-file-size: a document far larger than any text worth one label.
#define CLASSIFY_MAX_FILE_SIZE ((int64_t)64 << 20)

struct classify_opts {
    enum out_format format;
    int64_t top_k; /* labels printed; K for --all-scores */
    bool label_only;
    bool id_column;
    bool recursive;
    bool strict;
    int64_t shard_i, shard_n;
    int64_t batch;
    int64_t max_file_size; /* bytes */
    int64_t max_windows;   /* windows per text at most, 0: no limit */
};

struct classify_ctx {
    const struct lector_classifier *clf;
    struct lector_encoder_state *st;
    const struct classify_opts *o;
    int64_t K;
    int64_t *order; /* (K) scratch for sorting labels by probability */
    int64_t n_done;
    double t0;
    int rc;
    bool warned_empty;        /* the empty-text warning was given */
    int64_t n_binary_skipped; /* binary files skipped (not with --strict) */
};

// ---------------------------------------------------------------------------------------
// output

static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        cli_out(s, strlen(s));
        return;
    }
    cli_out("\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') cli_out("\"", 1);
        cli_out(p, 1);
    }
    cli_out("\"", 1);
}

// The file name or id of a result in jsonl. jansson takes UTF-8 only: a name that is not is
// written with U+FFFD for each bad byte, and its exact bytes as hex under "<name>_hex"
// (e.g. "file_hex"), so the key is never silently dropped.
static void set_key(json_t *obj, const char *name, const char *key) {
    json_t *v = json_string(key);
    if (v) {
        json_object_set_new(obj, name, v);
        return;
    }
    size_t n = strlen(key);
    char *lossy = malloc(3 * n + 1), *hex = malloc(2 * n + 1);
    if (!lossy || !hex) {
        free(lossy);
        free(hex);
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)key + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k > 0) {
            memcpy(lossy + m, key + i, (size_t)k);
            m += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(lossy + m, "\xEF\xBF\xBD", 3);
            m += 3;
            i++;
        }
    }
    lossy[m] = '\0';
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[(unsigned char)key[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)key[i] & 15];
    }
    hex[2 * n] = '\0';
    char hex_name[16];
    snprintf(hex_name, sizeof hex_name, "%s_hex", name);
    json_object_set_new(obj, name, json_string(lossy));
    json_object_set_new(obj, hex_name, json_string(hex));
    free(lossy);
    free(hex);
}

// TSV and CSV put a result on one line of fields: a file name or id holding a control
// character (TAB, newline, ESC, ...) would forge fields or lines, or drive a terminal. It is
// refused there (jsonl escapes it). what: "FILE" or "stdin:LINE", already safe to print.
static bool key_fits(const struct classify_opts *o, const char *what, const char *key) {
    if (o->format == FMT_JSONL || !key || lector__find_control(key) < 0) return true;
    cli_error("%s: the %s holds a control character, which %s output cannot carry on one line; "
              "use --format jsonl",
              what, o->id_column ? "id" : "file name", o->format == FMT_CSV ? "CSV" : "TSV");
    return false;
}

// Labels sorted by descending probability (stable: ties keep model order).
static void sort_labels(struct classify_ctx *c, const float *p) {
    for (int64_t k = 0; k < c->K; k++) c->order[k] = k;
    for (int64_t i = 1; i < c->K; i++) {
        int64_t v = c->order[i], j = i;
        while (j > 0 && p[c->order[j - 1]] < p[v]) {
            c->order[j] = c->order[j - 1];
            j--;
        }
        c->order[j] = v;
    }
}

// One result. key is the file name or the echoed id (NULL for plain stdin lines).
static void print_result(struct classify_ctx *c, const char *key, const float *p) {
    const struct classify_opts *o = c->o;
    sort_labels(c, p);
    int64_t n = o->top_k < c->K ? o->top_k : c->K;
    // A multi-label model prints every label that reaches its threshold (most probable first),
    // possibly none; --all-scores still prints them all.
    const struct lector_classifier_info *info = lector_classifier_get_info(c->clf);
    const bool multi = info->multi_label && info->thresholds;
    // Multi-label without --all-scores: the labels to print are those at or above their own
    // threshold, which need not be the n most probable (thresholds differ between labels).
    const bool thresholded = multi && n < c->K;
    if (thresholded) {
        n = 0;
        for (int64_t i = 0; i < c->K; i++) n += p[i] >= info->thresholds[i];
    }
    if (multi && o->format == FMT_JSONL) {
        json_t *obj = json_object(), *labels = json_array(), *scores = json_object();
        if (key) set_key(obj, c->o->id_column ? "id" : "file", key);
        for (int64_t i = 0; i < c->K; i++) {
            int64_t k = c->order[i];
            const bool reached = p[k] >= info->thresholds[k];
            if (reached) json_array_append_new(labels, json_string(lector_classifier_label(c->clf, k)));
            if ((thresholded ? reached : i < n) && !o->label_only)
                json_object_set_new(scores, lector_classifier_label(c->clf, k), json_real((double)p[k]));
        }
        json_object_set_new(obj, "labels", labels);
        if (!o->label_only) json_object_set_new(obj, "scores", scores);
        else json_decref(scores);
        char *js = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(obj);
        cli_outf("%s\n", js ? js : "{}");
        free(js);
        return;
    }
    if (o->format == FMT_JSONL) {
        json_t *obj = json_object();
        if (key) set_key(obj, c->o->id_column ? "id" : "file", key);
        json_object_set_new(obj, "label", json_string(lector_classifier_label(c->clf, c->order[0])));
        if (!o->label_only) {
            json_object_set_new(obj, "prob", json_real((double)p[c->order[0]]));
            if (n > 1) {
                json_t *scores = json_object();
                for (int64_t i = 0; i < n; i++)
                    json_object_set_new(scores, lector_classifier_label(c->clf, c->order[i]),
                                        json_real((double)p[c->order[i]]));
                json_object_set_new(obj, "scores", scores);
            }
        }
        char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(obj);
        cli_outf("%s\n", s ? s : "{}");
        free(s);
        return;
    }
    const char sep = o->format == FMT_CSV ? ',' : '\t';
    if (key) {
        if (o->format == FMT_CSV)
            csv_field(key);
        else
            cli_outf("%s", key);
        cli_out(&sep, 1);
    }
    for (int64_t i = 0, printed = 0; i < (thresholded ? c->K : o->label_only && !multi ? 1 : n); i++) {
        if (thresholded && !(p[c->order[i]] >= info->thresholds[c->order[i]])) continue;
        if (printed++) cli_out(&sep, 1);
        const char *l = lector_classifier_label(c->clf, c->order[i]);
        if (o->format == FMT_CSV)
            csv_field(l);
        else
            cli_outf("%s", l);
        if (!o->label_only) cli_outf("%c%.6f", sep, (double)p[c->order[i]]);
    }
    cli_out("\n", 1);
}

// An item that produced no result keeps its place with an empty line (or key only).
static void print_empty(struct classify_ctx *c, const char *key) {
    if (c->o->format == FMT_JSONL) {
        json_t *obj = json_object();
        if (key) set_key(obj, c->o->id_column ? "id" : "file", key);
        json_object_set_new(obj, "label", json_null());
        char *s = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        cli_outf("%s\n", s ? s : "{}");
        free(s);
        return;
    }
    if (key) cli_outf("%s", key);
    cli_out("\n", 1);
}

// An empty (or all-whitespace) text gets no label: its output line keeps its place with the
// label field empty (an empty line on stdin, KEY<TAB> with a file name or an id), and the
// first one is reported once on stderr.
static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\v\f", s[i])) return false;
    return true;
}

static void print_blank(struct classify_ctx *c, const char *where, int64_t line_no, const char *key) {
    if (!c->warned_empty) {
        if (line_no > 0) cli_warn("%s:%lld: empty text: no label (the output line is left empty; "
                                  "later empty texts are not reported)", where, (long long)line_no);
        else cli_warn("%s: empty text: no label (the output line has no label; later empty texts "
                      "are not reported)", where);
        c->warned_empty = true;
    }
    if (!key || c->o->format == FMT_JSONL) {
        print_empty(c, key);
        return;
    }
    // KEY<TAB> (or KEY,): the key, then an empty label field.
    if (c->o->format == FMT_CSV) csv_field(key);
    else cli_outf("%s", key);
    cli_out(c->o->format == FMT_CSV ? ",\n" : "\t\n", 2);
}

static void progress(struct classify_ctx *c) {
    double dt = lector_now() - c->t0;
    cli_progress_line("%lld items, %.0f/s", (long long)c->n_done, dt > 0 ? (double)c->n_done / dt : 0.0);
}

// ---------------------------------------------------------------------------------------
// stdin

// A batch of stdin lines: n texts (with their keys under --id-column, else NULL), their line
// numbers, whether each was already reported as bad, and room for their results.
struct stdin_batch {
    char **texts, **keys;
    size_t *lens;
    int64_t *line_nos;
    float *probs;              // (n, K)
    enum lector_status *bad;   // (n)
    bool *skip;                // lines already reported as bad
    int64_t n;
};

// b <- this shard's next lines of in while input is ready, at most B (item: the index of the
// last line read, over all shards); *stop when --strict meets a line without its key. Returns
// the last cli_lines_next status (1: a line was read).
static int read_batch(struct classify_ctx *c, struct cli_lines *in, struct stdin_batch *b,
                      int64_t B, int64_t *item, bool *stop) {
    const struct classify_opts *o = c->o;
    char *line;
    size_t len;
    int got = 1;
    b->n = 0;
    // Never wait for more lines while holding some.
    while (b->n < B && (got = cli_lines_next(in, &line, &len)) == 1) {
        const int64_t n = b->n;
        ++*item;
        if (o->shard_n > 1 && *item % o->shard_n != o->shard_i) {
            if (!cli_lines_ready(in)) break;
            continue;
        }
        b->keys[n] = NULL;
        if (o->id_column) {
            char *tab = memchr(line, '\t', len);
            size_t klen = tab ? (size_t)(tab - line) : len;
            b->keys[n] = malloc(klen + 1);
            memcpy(b->keys[n], line, klen);
            b->keys[n][klen] = '\0';
            line = tab ? tab + 1 : line + len;
            len = tab ? len - klen - 1 : 0;
            char where[32];
            snprintf(where, sizeof where, "stdin:%lld", (long long)in->line_no);
            bool no_tab = !tab || !key_fits(o, where, b->keys[n]);
            if (!tab)
                cli_error("%s: --id-column expects ID<TAB>TEXT, but the line has no TAB", where);
            if (no_tab) {
                // Reported: the line keeps its place with an empty output line.
                free(b->keys[n]);
                c->rc = CLI_ERROR;
                if (o->strict) {
                    *stop = true;
                    break;
                }
                b->keys[n] = NULL;
                b->texts[n] = calloc(1, 1); // classified as empty text, printed as an empty line
                b->lens[n] = 0;
                b->line_nos[n] = in->line_no;
                b->skip[b->n++] = true;
                if (!cli_lines_ready(in)) break;
                continue;
            }
        }
        b->skip[n] = false;
        b->texts[n] = malloc(len + 1);
        memcpy(b->texts[n], line, len);
        b->texts[n][len] = '\0';
        b->lens[n] = len;
        b->line_nos[n] = in->line_no;
        b->n++;
        if (!cli_lines_ready(in)) break;
    }
    return got;
}

// Classifies the batch b and prints a line per text (empty for a bad one); *stop at a
// library error, or at the first bad text under --strict.
static void classify_batch(struct classify_ctx *c, struct stdin_batch *b, bool *stop) {
    const struct classify_opts *o = c->o;
    const int64_t n = b->n, K = c->K;
    struct lector_error err;
    const int64_t cut_before = lector_classifier_n_cut(c->clf);
    if (lector_classifier_predict(c->clf, c->st, (const char *const *)b->texts, b->lens, n,
                                  b->probs, b->bad, &err) != LECTOR_STATUS_OK) {
        c->rc = cli_lib_error(&err);
        *stop = true;
        return;
    }
    char where[64];
    snprintf(where, sizeof where, n > 1 ? "stdin:%lld-%lld" : "stdin:%lld", (long long)b->line_nos[0],
             (long long)b->line_nos[n - 1]);
    cli_note_cut(where, lector_classifier_n_cut(c->clf) - cut_before, o->max_windows);
    for (int64_t i = 0; i < n; i++) {
        if (b->skip[i]) {
            print_empty(c, NULL);
            continue;
        }
        if (b->bad[i] != LECTOR_STATUS_OK) {
            // Re-run the check alone for the message (it names the byte offset).
            lector_classifier_check_text(c->clf, b->texts[i], b->lens[i], &err);
            cli_error("stdin:%lld: %s", (long long)b->line_nos[i], err.msg);
            c->rc = CLI_ERROR;
            if (o->strict) {
                *stop = true;
                return;
            }
            print_empty(c, b->keys[i]);
            continue;
        }
        if (is_blank(b->texts[i], b->lens[i])) {
            print_blank(c, "stdin", b->line_nos[i], b->keys[i]);
            continue;
        }
        print_result(c, b->keys[i], b->probs + i * K);
    }
}

static int classify_stdin(struct classify_ctx *c) {
    // Up to 32 batches of lines are gathered while input is ready, so the encoder can sort
    // them by length into batches with little padding (1,024 lines of sst2: 12% more
    // texts/s than 256); an interactive pipe is still answered as soon as it pauses.
    const int64_t B = c->o->batch * 32, K = c->K;
    struct stdin_batch b = {
        .texts = calloc((size_t)B, sizeof *b.texts),
        .keys = calloc((size_t)B, sizeof *b.keys),
        .lens = calloc((size_t)B, sizeof *b.lens),
        .line_nos = calloc((size_t)B, sizeof *b.line_nos),
        .probs = malloc((size_t)B * (size_t)K * sizeof *b.probs),
        .bad = malloc((size_t)B * sizeof *b.bad),
        .skip = calloc((size_t)B, sizeof *b.skip),
    };
    struct cli_lines in;
    cli_lines_init(&in, 0);
    int got = 1;
    bool stop = false;
    int64_t item = -1;
    while (got == 1 && !stop) {
        got = read_batch(c, &in, &b, B, &item, &stop);
        if (b.n == 0) continue;
        classify_batch(c, &b, &stop);
        for (int64_t i = 0; i < b.n; i++) {
            free(b.texts[i]);
            free(b.keys[i]);
        }
        c->n_done += b.n;
        cli_flush();
        progress(c);
        if (cli_interrupted) {
            c->rc = cli_interrupted_status();
            stop = true;
        }
    }
    if (got < 0 && c->rc == CLI_OK) c->rc = CLI_ERROR;
    cli_lines_free(&in);
    free(b.skip);
    free(b.bad);
    free(b.probs);
    free(b.line_nos);
    free(b.lens);
    free(b.keys);
    free(b.texts);
    return c->rc;
}

// ---------------------------------------------------------------------------------------
// files

struct file_list {
    char **paths;
    int64_t n, cap;
};

static void list_add(struct file_list *l, const char *p) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->paths = realloc(l->paths, (size_t)l->cap * sizeof *l->paths);
    }
    l->paths[l->n++] = strdup(p);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Add the regular files below dir, in sorted order at every level, so runs are repeatable.
static int walk_dir(const char *dir, struct file_list *out) {
    DIR *d = opendir(dir);
    if (!d) return cli_error("%s: cannot open folder: %s", dir, strerror(errno));
    struct file_list names = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        list_add(&names, e->d_name);
    }
    closedir(d);
    qsort(names.paths, (size_t)names.n, sizeof *names.paths, cmp_str);
    int rc = CLI_OK;
    for (int64_t i = 0; i < names.n; i++) {
        size_t len = strlen(dir) + strlen(names.paths[i]) + 2;
        char *p = malloc(len);
        snprintf(p, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names.paths[i]);
        struct stat sb;
        if (lstat(p, &sb) != 0) {
            // Every path that cannot be looked at is reported (one longer than PATH_MAX too).
            rc = cli_error("%s: cannot read: %s", p, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            if (walk_dir(p, out) != CLI_OK) rc = CLI_ERROR;
        } else if (S_ISREG(sb.st_mode)) {
            list_add(out, p);
        }
        free(p);
        free(names.paths[i]);
    }
    free(names.paths);
    return rc;
}

// A file given to classify: a regular file of at most max_size bytes, read whole (a FIFO,
// a device such as /dev/zero or a huge file is refused before a byte is read).
static int read_document(const char *path, int64_t max_size, char **data, size_t *n) {
    struct lector_error err;
    enum lector_status s = lector__read_file(path, (size_t)max_size, data, n, &err);
    if (s == LECTOR_STATUS_OK) return CLI_OK;
    if (s != LECTOR_STATUS_RANGE) return cli_lib_error(&err);
    if (*n == 0)
        return cli_error("%s: grew past the --max-file-size limit of %lld bytes while read", path, (long long)max_size);
    return cli_error("%s: %zu bytes, over the --max-file-size limit of %lld bytes", path, *n, (long long)max_size);
}

static int classify_one_file(struct classify_ctx *c, const char *path, float *probs) {
    struct lector_error err;
    char *data;
    size_t n;
    if (!key_fits(c->o, path, path)) return CLI_ERROR;
    if (read_document(path, c->o->max_file_size, &data, &n) != CLI_OK) return CLI_ERROR;
    const char *text = data;
    if (n >= 2 && ((unsigned char)data[0] == 0xFF || (unsigned char)data[0] == 0xFE) &&
        (unsigned char)data[1] == ((unsigned char)data[0] ^ 0x01)) {
        lector_free(data);
        return cli_error("%s: UTF-16 text; convert it to UTF-8 first (e.g. iconv -f UTF-16 -t UTF-8)", path);
    }
    if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, n -= 3;
    // A NUL byte in the first 8 KiB marks a binary file: skip it rather than label noise.
    if (memchr(text, '\0', n < 8192 ? n : 8192)) {
        lector_free(data);
        if (c->o->strict) return cli_error("%s: binary file (a NUL byte in its first 8 KiB)", path);
        cli_warn("%s: binary file skipped", path);
        c->n_binary_skipped++;
        return CLI_OK;
    }
    if (is_blank(text, n)) {
        print_blank(c, path, 0, path);
        lector_free(data);
        return CLI_OK;
    }
    enum lector_status bad;
    int rc = CLI_OK;
    const int64_t cut_before = lector_classifier_n_cut(c->clf);
    if (lector_classifier_predict(c->clf, c->st, &text, &n, 1, probs, &bad, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
    } else if (bad != LECTOR_STATUS_OK) {
        lector_classifier_check_text(c->clf, text, n, &err);
        rc = cli_error("%s: %s", path, err.msg);
    } else {
        cli_note_cut(path, lector_classifier_n_cut(c->clf) - cut_before, c->o->max_windows);
        print_result(c, path, probs);
    }
    lector_free(data);
    return rc;
}

static int classify_files(struct classify_ctx *c, struct file_list *files) {
    float *probs = malloc((size_t)c->K * sizeof *probs);
    for (int64_t i = 0; i < files->n; i++) {
        if (c->o->shard_n > 1 && i % c->o->shard_n != c->o->shard_i) continue;
        if (classify_one_file(c, files->paths[i], probs) != CLI_OK) {
            c->rc = CLI_ERROR;
            if (c->o->strict) break;
        }
        c->n_done++;
        progress(c);
        if (cli_interrupted) {
            c->rc = cli_interrupted_status();
            break;
        }
    }
    cli_flush();
    free(probs);
    if (c->n_binary_skipped > 0)
        cli_warn("%lld binary file%s skipped, with no output line (--strict makes this an error)",
                 (long long)c->n_binary_skipped, c->n_binary_skipped == 1 ? "" : "s");
    return c->rc;
}

// ---------------------------------------------------------------------------------------

// What the command line sets.
struct classify_cli {
    struct classify_opts o;
    struct cli_common com;
    const char *model, *files_from;
    bool all_scores;
};

// One of classify's own options: CLI_OK or CLI_USAGE (printed).
static int parse_option(struct classify_cli *k, int c, const char *v) {
    struct classify_opts *o = &k->o;
    switch (c) {
    case 'm': k->model = v; break;
    case 'f':
        if (!strcmp(v, "tsv"))
            o->format = FMT_TSV;
        else if (!strcmp(v, "jsonl"))
            o->format = FMT_JSONL;
        else if (!strcmp(v, "csv"))
            o->format = FMT_CSV;
        else
            return cli_usage("classify", "--format must be tsv, jsonl or csv, got '%s'", v);
        break;
    case 'k':
        if (!cli_parse_i64("classify", "--top-k", v, 1, 1 << 20, &o->top_k)) return CLI_USAGE;
        break;
    case O_ALL: k->all_scores = true; break;
    case O_LABEL_ONLY: o->label_only = true; break;
    case O_ID: o->id_column = true; break;
    case 'r': o->recursive = true; break;
    case O_FILES_FROM: k->files_from = v; break;
    case 'b':
        if (!cli_parse_i64("classify", "--batch-size", v, 1, 1 << 16, &o->batch)) return CLI_USAGE;
        break;
    case O_MAX_FILE: {
        uint64_t n;
        if (!cli_parse_size("classify", "--max-file-size", v, &n)) return CLI_USAGE;
        if (n < 1 || n > (uint64_t)INT64_MAX)
            return cli_usage("classify", "--max-file-size must be at least 1 byte, got '%s'", v);
        o->max_file_size = (int64_t)n;
        break;
    }
    }
    return CLI_OK;
}

// The command line into k; false when the command is to end with *rc (after --help, or a
// usage error).
static bool parse_args(struct classify_cli *k, int argc, char **argv, int *rc) {
    *k = (struct classify_cli){.o = {FMT_TSV, 1, false, false, false, false, 0, 1, 32, CLASSIFY_MAX_FILE_SIZE,
                                     CLI_MAX_WINDOWS}};
    struct cli_args a;
    cli_args_init(&a, &classify_command, argc, argv, &k->com);
    int c;
    while ((c = cli_args_next(&a)) > 0)
        if ((*rc = parse_option(k, c, optarg)) != CLI_OK) return false;
    *rc = a.rc;
    if (c < 0) return false;
    k->o.strict = k->com.strict;
    k->o.shard_i = k->com.shard_i;
    k->o.shard_n = k->com.shard_n;
    k->o.max_windows = k->com.max_windows;
    if (!k->model) *rc = cli_usage("classify", "--model MODEL is required");
    else if (k->o.label_only && (k->all_scores || k->o.top_k > 1))
        *rc = cli_usage("classify", "--label-only cannot be combined with --top-k or --all-scores");
    return *rc == CLI_OK;
}

// The files named by the arguments (folders walked with -r) and by --files-from: CLI_OK, or
// CLI_ERROR when one could not be looked at (reported; the others are kept).
static int collect_files(const struct classify_cli *k, int argc, char **argv, struct file_list *files) {
    int rc = CLI_OK;
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (!k->o.recursive) {
                rc = cli_error("%s: is a directory (use -r to classify the files inside)", argv[i]);
                continue;
            }
            if (walk_dir(argv[i], files) != CLI_OK) rc = CLI_ERROR;
        } else {
            list_add(files, argv[i]);
        }
    }
    if (!k->files_from) return rc;
    int fd = strcmp(k->files_from, "-") ? open(k->files_from, O_RDONLY) : 0;
    if (fd < 0) return cli_error("%s: cannot open: %s", k->files_from, strerror(errno));
    struct cli_lines in;
    cli_lines_init(&in, fd);
    if (fd) in.name = k->files_from;
    char *line;
    size_t len;
    int got;
    while ((got = cli_lines_next(&in, &line, &len)) == 1)
        if (len) list_add(files, line);
    if (got < 0) rc = CLI_ERROR;
    cli_lines_free(&in);
    if (fd) close(fd);
    return rc;
}

// The model, its windows and precision, and an encoder state when it has an encoder: CLI_OK
// or the exit status (message printed; nothing left open).
static int open_model(const struct classify_cli *k, struct lector_classifier **clf, struct lector_encoder_state **st) {
    struct lector_error err;
    if (lector_classifier_open(k->model, k->com.encoder, getenv("LECTOR_ENCODER"), clf, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    lector_classifier_set_max_windows(*clf, k->o.max_windows);
    if ((k->com.precision != LECTOR_PRECISION_FP32 &&
         lector_classifier_set_precision(*clf, k->com.precision, &err) != LECTOR_STATUS_OK) ||
        (lector_classifier_encoder(*clf) &&
         lector_encoder_state_new(lector_classifier_encoder(*clf), st, &err) != LECTOR_STATUS_OK)) {
        lector_classifier_close(*clf);
        *clf = NULL;
        return cli_lib_error(&err);
    }
    return CLI_OK;
}

int cmd_classify(int argc, char **argv) {
    struct classify_cli k;
    int rc;
    if (!parse_args(&k, argc, argv, &rc)) return rc;
    const bool use_stdin =
        !k.files_from && (optind >= argc || (argc - optind == 1 && !strcmp(argv[optind], "-")));
    if (k.o.id_column && !use_stdin) return cli_usage("classify", "--id-column applies to stdin lines only");
    // Collect the files first, so a bad argument fails before the model is loaded.
    struct file_list files = {0};
    if (!use_stdin) rc = collect_files(&k, argc, argv, &files);
    struct lector_classifier *clf = NULL;
    struct lector_encoder_state *st = NULL;
    if (!(rc != CLI_OK && k.o.strict)) {
        int orc = open_model(&k, &clf, &st);
        if (orc != CLI_OK) rc = orc;
    }
    if (clf) {
        const int64_t K = lector_classifier_n_labels(clf);
        if (k.all_scores) k.o.top_k = K;
        cli_install_signal_handlers();
        struct classify_ctx ctx = {clf, st, &k.o, K, malloc((size_t)K * sizeof(int64_t)), 0, lector_now(), rc, false, 0};
        if (use_stdin && isatty(STDIN_FILENO))
            cli_info("reading texts from the terminal, one per line; end with Ctrl-D (or give "
                     "files to label)");
        rc = use_stdin ? classify_stdin(&ctx) : classify_files(&ctx, &files);
        cli_progress_done();
        free(ctx.order);
        lector_encoder_state_free(st);
        lector_classifier_close(clf);
    }
    for (int64_t i = 0; i < files.n; i++) free(files.paths[i]);
    free(files.paths);
    return rc;
}

// lector classify / lector eval: a trained model applied to files, stdin lines or a CSV.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "lector/classifier.h"
#include "lector/data.h"

static const char classify_help[] =
    "usage: lector classify --model MODEL [options] [FILE...]\n"
    "\n"
    "With files, each file is one document and a line FILE<TAB>LABEL<TAB>PROBABILITY is printed\n"
    "per file. With no file or '-', each stdin line is one text and LABEL<TAB>PROBABILITY is\n"
    "printed per line, in input order, flushed as soon as a batch is done (so interactive pipes\n"
    "answer at once). A bad line (invalid UTF-8) is reported on stderr and gives an empty output\n"
    "line; the exit status is then 1.\n"
    "\n"
    "  -m, --model MODEL     model file written by 'lector train'\n"
    "  -e, --encoder DIR     use this encoder directory instead of the one the model names\n"
    "                        (its checksum must match)\n"
    "  -b, --batch-size N    texts per encoder batch [32]\n"
    "  -t, --threads N       threads for the matrix products [all cores]\n"
    "      --strict          stop at the first bad line or file\n"
    "  -q, --quiet           print only errors on stderr\n"
    "  -h, --help            show this help\n";

static int64_t argmax(const float *v, int64_t K) {
    int64_t b = 0;
    for (int64_t k = 1; k < K; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

// Print one result line; file may be NULL (stdin mode).
static void print_result(const struct lector_classifier *clf, const char *file, const float *p) {
    int64_t k = argmax(p, lector_classifier_n_labels(clf));
    if (file) cli_outf("%s\t", file);
    cli_outf("%s\t%.6f\n", lector_classifier_label(clf, k), (double)p[k]);
}

static int classify_stdin(const struct lector_classifier *clf, struct lector_encoder_state *st,
                          int64_t batch, bool strict) {
    const int64_t K = lector_classifier_n_labels(clf);
    char **texts = calloc((size_t)batch, sizeof *texts);
    size_t *lens = calloc((size_t)batch, sizeof *lens);
    int64_t *line_nos = calloc((size_t)batch, sizeof *line_nos);
    float *probs = malloc((size_t)batch * (size_t)K * sizeof *probs);
    enum lector_status *bad = malloc((size_t)batch * sizeof *bad);
    struct cli_lines in;
    cli_lines_init(&in, 0);
    int rc = CLI_OK, got = 1;
    struct lector_error err;
    char *line;
    size_t len;
    while (got == 1) {
        int64_t n = 0;
        // Gather a batch while input is ready: never wait for more lines while holding some.
        while (n < batch && (got = cli_lines_next(&in, &line, &len)) == 1) {
            texts[n] = malloc(len + 1);
            memcpy(texts[n], line, len + 1);
            lens[n] = len;
            line_nos[n] = in.line_no;
            n++;
            if (!cli_lines_ready(&in)) break;
        }
        if (n == 0) break;
        if (lector_classifier_predict(clf, st, (const char *const *)texts, lens, n, probs, bad, &err) !=
            LECTOR_STATUS_OK) {
            rc = cli_lib_error(&err);
            got = 0;
        } else {
            for (int64_t i = 0; i < n; i++) {
                if (bad[i] != LECTOR_STATUS_OK) {
                    // Re-run the tokenizer alone for the message (it names the byte offset).
                    int32_t one[2];
                    int64_t m;
                    lector_tokenizer_encode(lector_classifier_tokenizer(clf), texts[i], lens[i], 2, one, &m,
                                            NULL, &err);
                    cli_error("stdin:%lld: %s", (long long)line_nos[i], err.msg);
                    rc = CLI_ERROR;
                    if (strict) {
                        got = 0;
                        break;
                    }
                    cli_out("\n", 1);
                    continue;
                }
                print_result(clf, NULL, probs + i * K);
            }
        }
        for (int64_t i = 0; i < n; i++) free(texts[i]);
        cli_flush();
    }
    if (got < 0) rc = CLI_ERROR;
    cli_lines_free(&in);
    free(bad);
    free(probs);
    free(line_nos);
    free(lens);
    free(texts);
    return rc;
}

static int classify_files(const struct lector_classifier *clf, struct lector_encoder_state *st,
                          char **files, int n_files, bool strict) {
    const int64_t K = lector_classifier_n_labels(clf);
    float *probs = malloc((size_t)K * sizeof *probs);
    int rc = CLI_OK;
    struct lector_error err;
    for (int i = 0; i < n_files; i++) {
        const char *path = files[i];
        struct stat sb;
        if (stat(path, &sb) != 0) {
            rc = cli_error("%s: cannot open: %s", path, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            rc = cli_error("%s: is a directory", path);
        } else {
            FILE *fp = fopen(path, "rb");
            char *data = NULL;
            size_t n = 0, cap = 0;
            if (!fp) {
                rc = cli_error("%s: cannot open: %s", path, strerror(errno));
            } else {
                char buf[1 << 16];
                size_t got;
                while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
                    if (n + got + 1 > cap) {
                        cap = (n + got + 1) * 2;
                        data = realloc(data, cap);
                    }
                    memcpy(data + n, buf, got);
                    n += got;
                }
                bool read_err = ferror(fp);
                fclose(fp);
                if (read_err) {
                    rc = cli_error("%s: read failed", path);
                } else {
                    if (!data) data = calloc(1, 1);
                    data[n] = '\0';
                    const char *text = data;
                    size_t tlen = n;
                    if (tlen >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, tlen -= 3;
                    enum lector_status bad;
                    if (lector_classifier_predict(clf, st, &text, &tlen, 1, probs, &bad, &err) != LECTOR_STATUS_OK) {
                        rc = cli_lib_error(&err);
                    } else if (bad != LECTOR_STATUS_OK) {
                        int32_t one[2];
                        int64_t m;
                        lector_tokenizer_encode(lector_classifier_tokenizer(clf), text, tlen, 2, one, &m, NULL,
                                                &err);
                        rc = cli_error("%s: %s", path, err.msg);
                    } else {
                        print_result(clf, path, probs);
                    }
                }
            }
            free(data);
        }
        if (rc != CLI_OK && strict) break;
    }
    cli_flush();
    free(probs);
    return rc;
}

int cmd_classify(int argc, char **argv) {
    enum { O_STRICT = 256 };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"encoder", required_argument, 0, 'e'},
                                         {"batch-size", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"strict", no_argument, 0, O_STRICT},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *enc_dir = NULL;
    int64_t batch = 32, threads = 0;
    bool strict = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:e:b:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'e': enc_dir = optarg; break;
        case 'b':
            if (!cli_parse_i64("classify", "--batch-size", optarg, 1, 1 << 16, &batch)) return CLI_USAGE;
            break;
        case 't':
            if (!cli_parse_i64("classify", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case O_STRICT: strict = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': fputs(classify_help, stdout); return CLI_OK;
        case ':': return cli_usage("classify", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage("classify", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!model) return cli_usage("classify", "--model MODEL is required");
    if (threads > 0) lector_set_n_threads((int)threads);
    struct lector_error err;
    struct lector_classifier *clf = NULL;
    struct lector_encoder_state *st = NULL;
    if (lector_classifier_load(model, enc_dir, &clf, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    if (lector_encoder_state_init(lector_classifier_encoder(clf), &st, &err) != LECTOR_STATUS_OK) {
        lector_classifier_free(clf);
        return cli_lib_error(&err);
    }
    int rc;
    bool use_stdin = optind >= argc || (argc - optind == 1 && !strcmp(argv[optind], "-"));
    if (use_stdin)
        rc = classify_stdin(clf, st, batch, strict);
    else
        rc = classify_files(clf, st, argv + optind, argc - optind, strict);
    lector_encoder_state_free(st);
    lector_classifier_free(clf);
    return rc;
}


// lector eval: a trained model scored on a labelled CSV file.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "cli/report.h"
#include "lector/classifier.h"
#include "lector/data.h"
#include "lector/eval.h"

static const char eval_help[] =
    "usage: lector eval --model MODEL --data FILE.csv [options]\n"
    "\n"
    "Classify every row of a labelled CSV file and report accuracy, macro- and micro-F1, the\n"
    "expected calibration error (15 equal-width confidence bins), log loss, per-class\n"
    "precision/recall/F1/support and the confusion matrix (rows: true, columns: predicted).\n"
    "\n"
    "  -m, --model MODEL         model file written by 'lector train'\n"
    "  -d, --data FILE           CSV file with a header row\n"
    "      --text-column NAME    column holding the text [text]\n"
    "      --label-column NAME   column holding the label [label]\n"
    "      --label-names FILE    names of integer labels, line k naming label k, for a model\n"
    "                            trained with names [labels.txt beside --data; none]\n"
    "  -e, --encoder DIR         the encoder to use (its checksum must match the model's);\n"
    "                            else $LECTOR_ENCODER if it matches, else the model's recorded\n"
    "                            path, as given at training, or relative to the model file\n"
    "      --cache DIR           feature cache, as for 'lector train'\n"
    "                            [$XDG_CACHE_HOME/lector/features or ~/.cache/lector/features]\n"
    "      --no-cache            neither read nor write the feature cache\n"
    "      --cache-max-size SIZE bytes of all files in the cache directory (K, M, G suffixes;\n"
    "                            0: no cap); least recently used files go first [4G]\n"
    "  -f, --format F            text or json [text]\n"
    "      --max-windows N       read at most N windows of a long text (models trained with\n"
    "                            windows); a text cut there is reported (0: no limit) [128]\n"
    "      --report FILE         also write a self-contained HTML report: confusion-matrix heat\n"
    "                            map, per-class bars, reliability diagram, training curves\n"
    "  -t, --threads N           threads for the matrix products [all cores]\n"
    "      --precision P         fp32, bf16 or int8: arithmetic of the encoder's matrix\n"
    "                            products, as for 'lector classify'; bf16 and int8 compute\n"
    "                            every feature afresh (the cache holds fp32 features) [fp32]\n"
    "      --progress            show progress on stderr even when it is not a terminal\n"
    "      --verify-checksum     hash the encoder's files in full, not trusting the checksum\n"
    "                            cache (also LECTOR_VERIFY_CHECKSUM=1)\n"
    "  -q, --quiet               print only errors on stderr\n"
    "  -h, --help                show this help\n";

int cmd_eval(int argc, char **argv) {
    enum { O_TEXT = 256, O_LABEL, O_NAMES, O_PROGRESS, O_CACHE, O_NOCACHE, O_CACHEMAX, O_MAXWIN, O_REPORT, O_PRECISION };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"data", required_argument, 0, 'd'},
                                         {"text-column", required_argument, 0, O_TEXT},
                                         {"label-column", required_argument, 0, O_LABEL},
                                         {"label-names", required_argument, 0, O_NAMES},
                                         {"encoder", required_argument, 0, 'e'},
                                         {"format", required_argument, 0, 'f'},
                                         {"threads", required_argument, 0, 't'},
                                         {"progress", no_argument, 0, O_PROGRESS},
                                         {"cache", required_argument, 0, O_CACHE},
                                         {"no-cache", no_argument, 0, O_NOCACHE},
                                         {"cache-max-size", required_argument, 0, O_CACHEMAX},
                                         {"report", required_argument, 0, O_REPORT},
                                         {"max-windows", required_argument, 0, O_MAXWIN},
                                         {"precision", required_argument, 0, O_PRECISION},
                                         {"verify-checksum", no_argument, 0, 'V'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *enc_dir = NULL, *text_col = "text", *label_col = "label";
    bool json = false, no_cache = false;
    const char *cache_dir = NULL, *report = NULL, *label_names = NULL;
    char cache_buf[4096];
    int64_t threads = 0, max_windows = CLI_MAX_WINDOWS;
    uint64_t cache_max_size = LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT;
    enum lector_precision precision = LECTOR_PRECISION_FP32;
    cli_progress = isatty(2);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:d:e:f:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case O_TEXT: text_col = optarg; break;
        case O_LABEL: label_col = optarg; break;
        case O_NAMES:
            if (!*optarg) return cli_usage("eval", "--label-names needs a file (or none to keep integer labels)");
            label_names = strcmp(optarg, "none") ? optarg : "";
            break;
        case 'e': enc_dir = optarg; break;
        case 'f':
            if (!strcmp(optarg, "json"))
                json = true;
            else if (strcmp(optarg, "text"))
                return cli_usage("eval", "--format must be text or json, got '%s'", optarg);
            break;
        case 't':
            if (!cli_parse_i64("eval", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case O_PROGRESS: cli_progress = true; break;
        case O_CACHE: cache_dir = optarg; break;
        case O_NOCACHE: no_cache = true; break;
        case O_CACHEMAX:
            if (!cli_parse_size("eval", "--cache-max-size", optarg, &cache_max_size)) return CLI_USAGE;
            break;
        case O_MAXWIN:
            if (!cli_parse_max_windows("eval", optarg, &max_windows)) return CLI_USAGE;
            break;
        case O_REPORT: report = optarg; break;
        case O_PRECISION:
            if (!cli_parse_precision("eval", optarg, &precision)) return CLI_USAGE;
            break;
        case 'V': lector_set_verify_checksum(1); break;
        case 'q': cli_quiet = true; break;
        case 'h': fputs(eval_help, stdout); return CLI_OK;
        case ':': return cli_usage("eval", "option %s needs a value", argv[optind - 1]);
        default: return cli_unknown_option("eval", argv[optind - 1], opts);
        }
    }
    if (optind < argc) return cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_usage("eval", "--model MODEL is required");
    if (!data) return cli_usage("eval", "--data FILE is required");
    if (threads > 0) lector_set_n_threads((int)threads);
    cli_install_signal_handlers();

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    if (lector_classifier_open(model, enc_dir, getenv("LECTOR_ENCODER"), &clf, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    if (precision != LECTOR_PRECISION_FP32 &&
        lector_classifier_set_precision(clf, precision, &err) != LECTOR_STATUS_OK) {
        lector_classifier_close(clf);
        return cli_lib_error(&err);
    }
    if (precision != LECTOR_PRECISION_FP32) no_cache = true; // cached features are fp32 ones
    if (!cache_dir && !no_cache) cache_dir = cli_default_cache_dir(cache_buf, sizeof cache_buf);
    const struct cli_io io = {"eval",
                              {{"--report", report}},
                              {{"--model", model}, {"--data", data},
                               {"--label-names", label_names && *label_names ? label_names : NULL}},
                              {{"--encoder", lector_classifier_encoder(clf) ? lector_encoder_dir(lector_classifier_encoder(clf)) : NULL},
                               {"--cache", no_cache ? NULL : cache_dir}},
                              1, 3, 2};
    if (cli_check_outputs(&io) != CLI_OK) {
        lector_classifier_close(clf);
        return CLI_USAGE;
    }
    struct lector_eval_options o;
    lector_eval_options_init(&o);
    o.corpus.text_column = text_col;
    o.corpus.label_column = label_col;
    o.corpus.label_names = label_names;
    o.featurizer.cache_dir = no_cache ? NULL : cache_dir;
    o.featurizer.cache_max_size = cache_max_size;
    o.featurizer.max_windows = max_windows;
    o.on_event = cli_on_event;
    o.cancel = &cli_interrupted;
    struct lector_eval_report rep;
    int rc = CLI_OK;
    enum lector_status s = lector_evaluate(clf, data, &o, &rep, &err);
    if (s == LECTOR_STATUS_INTERRUPTED || cli_interrupted) {
        rc = cli_interrupted_status();
    } else if (s != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
    } else {
        // With the HTML report on stdout, the figures go to stderr.
        cli_print_report(&rep.metrics, rep.labels, json, report && !strcmp(report, "-"));
        cli_flush();
        if (report) {
            char title[1024];
            snprintf(title, sizeof title, "%s on %s", model, data);
            rc = cli_report_write_eval(report, title, &rep);
        }
    }
    lector_eval_report_free(&rep);
    lector_classifier_close(clf);
    return rc;
}

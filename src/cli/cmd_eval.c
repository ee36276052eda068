// lector eval: a trained model scored on a labelled CSV file.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "cli/options.h"
#include "cli/report.h"
#include "lector/classifier.h"
#include "lector/data.h"
#include "lector/eval.h"

static const char eval_intro[] =
    "usage: lector eval --model MODEL --data FILE.csv [options]\n"
    "\n"
    "Classify every row of a labelled CSV file and report accuracy, macro- and micro-F1, the\n"
    "expected calibration error (15 equal-width confidence bins), log loss, per-class\n"
    "precision/recall/F1/support and the confusion matrix (rows: true, columns: predicted).\n"
    "\n";

enum { O_REPORT = 256 };

static const struct cli_opt eval_opts[] = {
    CLI_OWN("model", "MODEL", 'm', "model file written by 'lector train'"),
    CLI_OWN("data", "FILE", 'd', "CSV file with a header row"),
    CLI_SHARED(CLI_OPT_TEXT_COLUMN),
    CLI_SHARED(CLI_OPT_LABEL_COLUMN),
    CLI_SHARED_HELP(CLI_OPT_LABEL_NAMES, "names of integer labels, line k naming label k, for a model\n"
                                         "trained with names [labels.txt beside --data; none]"),
    CLI_SHARED_HELP(CLI_OPT_ENCODER, "the encoder to use (its checksum must match the model's);\n"
                                     "else $LECTOR_ENCODER if it matches, else the model's recorded\n"
                                     "path, as given at training, or relative to the model file"),
    CLI_SHARED(CLI_OPT_CACHE),
    CLI_SHARED(CLI_OPT_NO_CACHE),
    CLI_SHARED(CLI_OPT_CACHE_MAX_SIZE),
    CLI_OWN("format", "F", 'f', "text or json [text]"),
    CLI_SHARED(CLI_OPT_MAX_WINDOWS),
    CLI_OWN("report", "FILE", O_REPORT, "also write a self-contained HTML report: confusion-matrix heat\n"
                                        "map, per-class bars, reliability diagram, training curves"),
    CLI_SHARED(CLI_OPT_THREADS),
    CLI_SHARED_HELP(CLI_OPT_PRECISION, "fp32, bf16 or int8: arithmetic of the encoder's matrix\n"
                                       "products, as for 'lector classify'; bf16 and int8 compute\n"
                                       "every feature afresh (the cache holds fp32 features) [fp32]"),
    CLI_SHARED(CLI_OPT_PROGRESS),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

static const struct cli_command eval_command = {"eval", eval_intro, eval_opts, 28, false, true, false};

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *report = NULL;
    bool json = false;
    char cache_buf[4096];
    struct cli_common com;
    struct cli_args a;
    cli_args_init(&a, &eval_command, argc, argv, &com);
    int c;
    while ((c = cli_args_next(&a)) > 0) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'f':
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                return cli_usage("eval", "--format must be text or json, got '%s'", optarg);
            json = !strcmp(optarg, "json");
            break;
        case O_REPORT: report = optarg; break;
        }
    }
    if (c < 0) return a.rc;
    if (!model) return cli_usage("eval", "--model MODEL is required");
    if (!data) return cli_usage("eval", "--data FILE is required");
    cli_install_signal_handlers();

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    if (lector_classifier_open(model, com.encoder, getenv("LECTOR_ENCODER"), &clf, &err) != LECTOR_STATUS_OK)
        return cli_lib_error(&err);
    if (com.precision != LECTOR_PRECISION_FP32 &&
        lector_classifier_set_precision(clf, com.precision, &err) != LECTOR_STATUS_OK) {
        lector_classifier_close(clf);
        return cli_lib_error(&err);
    }
    if (com.precision != LECTOR_PRECISION_FP32) com.no_cache = true; // cached features are fp32 ones
    const char *cache_dir = cli_common_cache_dir(&com, cache_buf, sizeof cache_buf);
    const struct lector_encoder *enc = lector_classifier_encoder(clf);
    const struct cli_io io = {"eval",
                              {{"--report", report}},
                              {{"--model", model}, {"--data", data},
                               {"--label-names", com.label_names && *com.label_names ? com.label_names : NULL}},
                              {{"--encoder", enc ? lector_encoder_dir(enc) : NULL}, {"--cache", cache_dir}},
                              1, 3, 2};
    if (cli_check_outputs(&io) != CLI_OK) {
        lector_classifier_close(clf);
        return CLI_USAGE;
    }
    struct lector_eval_options o;
    lector_eval_options_init(&o);
    o.corpus.text_column = com.text_column ? com.text_column : "text";
    o.corpus.label_column = com.label_column ? com.label_column : "label";
    o.corpus.label_names = com.label_names;
    o.featurizer.cache_dir = cache_dir;
    o.featurizer.cache_max_size = com.cache_max_size;
    o.featurizer.max_windows = com.max_windows;
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

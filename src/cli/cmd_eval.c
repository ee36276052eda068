// lector eval: a trained model scored on a labelled CSV file.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "lector/classifier.h"
#include "lector/data.h"

static const char eval_help[] =
    "usage: lector eval --model MODEL --data FILE.csv [options]\n"
    "\n"
    "Classify every row of a labelled CSV file and report accuracy, macro-F1, per-class\n"
    "precision/recall/F1/support and the confusion matrix (rows: true, columns: predicted).\n"
    "\n"
    "  -m, --model MODEL         model file written by 'lector train'\n"
    "  -d, --data FILE           CSV file with a header row\n"
    "      --text-column NAME    column holding the text [text]\n"
    "      --label-column NAME   column holding the label [label]\n"
    "  -e, --encoder DIR         use this encoder directory instead of the model's\n"
    "  -f, --format F            text or json [text]\n"
    "  -t, --threads N           threads for the matrix products [all cores]\n"
    "      --progress            show progress on stderr even when it is not a terminal\n"
    "  -q, --quiet               print only errors on stderr\n"
    "  -h, --help                show this help\n";

static int64_t argmax(const float *v, int64_t K) {
    int64_t b = 0;
    for (int64_t k = 1; k < K; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

static void print_report_text(const struct lector_metrics *m, char *const *labels) {
    cli_outf("examples   %lld\n", (long long)m->n);
    cli_outf("accuracy   %.4f\n", m->accuracy);
    cli_outf("macro-F1   %.4f\n\n", m->macro_f1);
    int w = 5;
    for (int64_t k = 0; k < m->n_classes; k++)
        if ((int)strlen(labels[k]) > w) w = (int)strlen(labels[k]);
    cli_outf("%-*s  precision  recall     f1  support\n", w, "label");
    for (int64_t k = 0; k < m->n_classes; k++)
        cli_outf("%-*s  %9.4f  %6.4f  %5.4f  %7lld\n", w, labels[k], m->precision[k], m->recall[k], m->f1[k],
                 (long long)m->support[k]);
    cli_outf("\nconfusion matrix (rows: true label, columns: predicted)\n%-*s", w, "");
    for (int64_t k = 0; k < m->n_classes; k++) cli_outf("  %8s", labels[k]);
    cli_out("\n", 1);
    for (int64_t i = 0; i < m->n_classes; i++) {
        cli_outf("%-*s", w, labels[i]);
        for (int64_t j = 0; j < m->n_classes; j++)
            cli_outf("  %8lld", (long long)m->confusion[i * m->n_classes + j]);
        cli_out("\n", 1);
    }
}

static void print_report_json(const struct lector_metrics *m, char *const *labels) {
    json_t *o = json_object(), *pc = json_object(), *cm = json_array(), *jl = json_array();
    json_object_set_new(o, "n", json_integer(m->n));
    json_object_set_new(o, "accuracy", json_real(m->accuracy));
    json_object_set_new(o, "macro_f1", json_real(m->macro_f1));
    for (int64_t k = 0; k < m->n_classes; k++) {
        json_array_append_new(jl, json_string(labels[k]));
        json_object_set_new(pc, labels[k],
                            json_pack("{s:f, s:f, s:f, s:I}", "precision", m->precision[k], "recall",
                                      m->recall[k], "f1", m->f1[k], "support", (json_int_t)m->support[k]));
        json_t *row = json_array();
        for (int64_t j = 0; j < m->n_classes; j++)
            json_array_append_new(row, json_integer(m->confusion[k * m->n_classes + j]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(o, "labels", jl);
    json_object_set_new(o, "per_class", pc);
    json_object_set_new(o, "confusion", cm);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    cli_outf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

int cmd_eval(int argc, char **argv) {
    enum { O_TEXT = 256, O_LABEL, O_PROGRESS };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"data", required_argument, 0, 'd'},
                                         {"text-column", required_argument, 0, O_TEXT},
                                         {"label-column", required_argument, 0, O_LABEL},
                                         {"encoder", required_argument, 0, 'e'},
                                         {"format", required_argument, 0, 'f'},
                                         {"threads", required_argument, 0, 't'},
                                         {"progress", no_argument, 0, O_PROGRESS},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *enc_dir = NULL, *text_col = "text", *label_col = "label";
    bool json = false;
    int64_t threads = 0;
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
        case 'q': cli_quiet = true; break;
        case 'h': fputs(eval_help, stdout); return CLI_OK;
        case ':': return cli_usage("eval", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage("eval", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_usage("eval", "--model MODEL is required");
    if (!data) return cli_usage("eval", "--data FILE is required");
    if (threads > 0) lector_set_n_threads((int)threads);
    cli_install_signal_handlers();

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    if (lector_classifier_load(model, enc_dir, &clf, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    const struct lector_classifier_info *info = lector_classifier_get_info(clf);
    struct cli_model_inputs mi = {(struct lector_encoder *)lector_classifier_encoder(clf),
                                  (struct lector_tokenizer *)lector_classifier_tokenizer(clf),
                                  NULL, info->pooling, info->max_len, false};
    struct cli_featurized space = {0}, f = {0};
    struct lector_metrics m;
    memset(&m, 0, sizeof m);
    int32_t *pred = NULL;
    float *logits = NULL;
    int rc = CLI_ERROR;
    const int64_t K = lector_classifier_n_labels(clf);
    if (lector_encoder_state_init(mi.enc, &mi.st, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    space.n_labels = K;
    space.labels = calloc((size_t)K, sizeof *space.labels);
    for (int64_t k = 0; k < K; k++) space.labels[k] = strdup(lector_classifier_label(clf, k));
    rc = cli_featurize_csv(&mi, data, text_col, label_col, &space, &f);
    if (rc != CLI_OK) goto out;
    const int64_t C = lector_encoder_get_config(mi.enc)->n_embd;
    pred = malloc((size_t)f.n * sizeof *pred);
    logits = malloc((size_t)K * sizeof *logits);
    for (int64_t i = 0; i < f.n; i++) {
        lector_head_forward(lector_classifier_head(clf), f.X + i * C, 1, logits);
        pred[i] = (int32_t)argmax(logits, K);
    }
    if (lector_metrics_compute(f.y, pred, f.n, K, &m, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    if (json)
        print_report_json(&m, f.labels);
    else
        print_report_text(&m, f.labels);
    cli_flush();
    rc = CLI_OK;
out:
    lector_metrics_free(&m);
    free(logits);
    free(pred);
    cli_featurized_free(&f);
    cli_featurized_free(&space);
    cli_model_inputs_close(&mi);
    lector_classifier_free(clf);
    return rc;
}

// lector train: CSV -> frozen encoder features -> linear head -> model file.
#define _GNU_SOURCE
#include <getopt.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "lector/classifier.h"
#include "lector/data.h"

static const char train_help[] =
    "usage: lector train --encoder DIR --train FILE.csv --output MODEL [options]\n"
    "\n"
    "Train a linear softmax head on the frozen encoder's pooled features of a CSV corpus and\n"
    "save it as MODEL (written atomically: an interrupted run leaves any old MODEL intact).\n"
    "\n"
    "  -e, --encoder DIR         encoder directory [$LECTOR_ENCODER]\n"
    "      --train FILE          training CSV with a header row\n"
    "      --valid FILE          validation CSV; the epoch with the best accuracy is kept [none]\n"
    "      --text-column NAME    column holding the text [text]\n"
    "      --label-column NAME   column holding the label [label]\n"
    "  -o, --output MODEL        model file to write\n"
    "  -p, --pooling P           cls, mean, max or pooler [mean]\n"
    "  -n, --max-len N           tokens per text including special tokens [128]\n"
    "      --epochs N            passes over the training set [10]\n"
    "      --lr X                AdamW learning rate [0.001]\n"
    "      --weight-decay X      AdamW decoupled weight decay (not on biases) [0.01]\n"
    "  -b, --batch-size N        examples per optimiser step [32]\n"
    "      --seed N              initialisation and shuffling seed [42]\n"
    "  -t, --threads N           threads for the encoder's matrix products [all cores]\n"
    "      --progress            show progress on stderr even when it is not a terminal\n"
    "  -q, --quiet               print only errors on stderr\n"
    "  -h, --help                show this help\n";

struct epoch_ctx {
    int64_t n_epochs;
};

static int on_epoch(void *user, int64_t epoch, double loss, double acc, int is_best) {
    struct epoch_ctx *ctx = user;
    if (acc >= 0)
        cli_info("epoch %lld/%lld: train loss %.4f, valid accuracy %.4f%s", (long long)epoch,
                 (long long)ctx->n_epochs, loss, acc, is_best ? " (best)" : "");
    else
        cli_info("epoch %lld/%lld: train loss %.4f", (long long)epoch, (long long)ctx->n_epochs, loss);
    return 0;
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cmd_train(int argc, char **argv) {
    enum { O_TRAIN = 256, O_VALID, O_TEXT, O_LABEL, O_EPOCHS, O_LR, O_WD, O_SEED, O_PROGRESS };
    static const struct option opts[] = {{"encoder", required_argument, 0, 'e'},
                                         {"train", required_argument, 0, O_TRAIN},
                                         {"valid", required_argument, 0, O_VALID},
                                         {"text-column", required_argument, 0, O_TEXT},
                                         {"label-column", required_argument, 0, O_LABEL},
                                         {"output", required_argument, 0, 'o'},
                                         {"pooling", required_argument, 0, 'p'},
                                         {"max-len", required_argument, 0, 'n'},
                                         {"epochs", required_argument, 0, O_EPOCHS},
                                         {"lr", required_argument, 0, O_LR},
                                         {"weight-decay", required_argument, 0, O_WD},
                                         {"batch-size", required_argument, 0, 'b'},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"threads", required_argument, 0, 't'},
                                         {"progress", no_argument, 0, O_PROGRESS},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *enc_opt = NULL, *train_path = NULL, *valid_path = NULL, *out_path = NULL;
    const char *text_col = "text", *label_col = "label";
    int64_t max_len = 128, threads = 0, seed = 42;
    bool max_len_given = false;
    enum lector_pooling pooling = LECTOR_POOLING_MEAN;
    struct lector_train_params tp = lector_train_default_params();
    cli_progress = isatty(2);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":e:o:p:n:b:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'e': enc_opt = optarg; break;
        case O_TRAIN: train_path = optarg; break;
        case O_VALID: valid_path = optarg; break;
        case O_TEXT: text_col = optarg; break;
        case O_LABEL: label_col = optarg; break;
        case 'o': out_path = optarg; break;
        case 'p': {
            int p = lector_pooling_parse(optarg);
            if (p < 0 || p == LECTOR_POOLING_NONE)
                return cli_usage("train", "--pooling must be cls, mean, max or pooler, got '%s'", optarg);
            pooling = (enum lector_pooling)p;
            break;
        }
        case 'n':
            if (!cli_parse_i64("train", "--max-len", optarg, 2, 1 << 20, &max_len)) return CLI_USAGE;
            max_len_given = true;
            break;
        case O_EPOCHS:
            if (!cli_parse_i64("train", "--epochs", optarg, 1, 100000, &tp.n_epochs)) return CLI_USAGE;
            break;
        case O_LR:
            if (!cli_parse_f32("train", "--lr", optarg, 1e-12, 10.0, &tp.adamw.lr)) return CLI_USAGE;
            break;
        case O_WD:
            if (!cli_parse_f32("train", "--weight-decay", optarg, 0.0, 10.0, &tp.adamw.weight_decay))
                return CLI_USAGE;
            break;
        case 'b':
            if (!cli_parse_i64("train", "--batch-size", optarg, 1, 1 << 20, &tp.batch_size)) return CLI_USAGE;
            break;
        case O_SEED:
            if (!cli_parse_i64("train", "--seed", optarg, 0, INT64_MAX, &seed)) return CLI_USAGE;
            break;
        case 't':
            if (!cli_parse_i64("train", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case O_PROGRESS: cli_progress = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': fputs(train_help, stdout); return CLI_OK;
        case ':': return cli_usage("train", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage("train", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("train", "unexpected argument '%s'", argv[optind]);
    if (!train_path) return cli_usage("train", "--train FILE is required");
    if (!out_path) return cli_usage("train", "--output MODEL is required");
    const char *dir = cli_encoder_dir(enc_opt);
    if (!dir) return cli_usage("train", "no encoder: give --encoder DIR or set LECTOR_ENCODER");
    if (same_file(out_path, train_path) || (valid_path && same_file(out_path, valid_path)))
        return cli_usage("train", "--output %s is one of the input files", out_path);
    tp.seed = (uint64_t)seed;
    if (threads > 0) lector_set_n_threads((int)threads);
    cli_install_signal_handlers();
    tp.cancel = &cli_interrupted;

    int rc = CLI_ERROR;
    struct lector_error err;
    struct cli_model_inputs mi;
    struct cli_featurized tr = {0}, va = {0};
    struct lector_head *head = NULL;
    char *history = NULL;
    rc = cli_model_inputs_open(dir, "train", pooling, max_len, max_len_given, &mi);
    if (rc != CLI_OK) return rc;
    rc = cli_featurize_csv(&mi, train_path, text_col, label_col, NULL, &tr);
    if (rc != CLI_OK) goto out;
    if (tr.n_labels < 2) {
        rc = cli_error("%s: column '%s' has only one distinct label ('%s'); a classifier needs at least 2",
                       train_path, label_col, tr.n_labels ? tr.labels[0] : "");
        goto out;
    }
    if (valid_path) {
        rc = cli_featurize_csv(&mi, valid_path, text_col, label_col, &tr, &va);
        if (rc != CLI_OK) goto out;
    }
    const int64_t C = lector_encoder_get_config(mi.enc)->n_embd;
    struct epoch_ctx ctx = {tp.n_epochs};
    tp.on_epoch = on_epoch;
    tp.user = &ctx;
    double vacc = -1.0;
    double t0 = cli_now();
    enum lector_status s = lector_train_head(tr.X, tr.y, tr.n, va.X, va.y, va.n, C, tr.n_labels, &tp,
                                             &head, &vacc, &history, &err);
    if (s == LECTOR_STATUS_INTERRUPTED || cli_interrupted) {
        cli_error("interrupted: %s was not written", out_path);
        rc = CLI_INTERRUPTED;
        goto out;
    }
    if (s != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    cli_info("trained head in %.2f s", cli_now() - t0);
    struct lector_classifier_info info = {pooling, mi.max_len, tr.n, vacc, history};
    if (lector_classifier_save(out_path, mi.enc, mi.tok, head, (const char *const *)tr.labels,
                               tr.n_labels, &info, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    cli_info("saved %s (%lld labels, %lld training examples)", out_path, (long long)tr.n_labels,
             (long long)tr.n);
    rc = CLI_OK;
out:
    free(history);
    lector_head_free(head);
    cli_featurized_free(&va);
    cli_featurized_free(&tr);
    cli_model_inputs_close(&mi);
    return rc;
}

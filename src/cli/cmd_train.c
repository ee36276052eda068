// lector train: CSV -> frozen encoder features and/or n-grams -> linear head -> model file.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "cli/options.h"
#include "cli/report.h"
#include "lector/classifier.h"
#include "lector/data.h"
#include "lector/eval.h"
#include "lector/train.h"

static const char train_intro[] =
    "usage: lector train --encoder DIR --train FILE.csv --output MODEL [options]\n"
    "\n"
    "Train a classification head (linear, or an MLP with --hidden) on the frozen encoder's\n"
    "pooled features and/or hashed TF-IDF n-grams of a CSV corpus and save it as MODEL\n"
    "(written atomically: an interrupted run leaves any old MODEL intact). The epoch with the\n"
    "best validation macro-F1 is kept, a softmax temperature is fitted on the validation set,\n"
    "and the validation report is printed on stderr at the end (the same report as\n"
    "'lector eval').\n"
    "\n";

enum {
    O_TRAIN = 256, O_VALID, O_VFRAC, O_MULTI, O_FEATURES, O_MAXMEM, O_ORDER, O_CHARS, O_BOUNDARIES,
    O_BUCKETS, O_MINDF, O_WEIGHTING, O_HIDDEN, O_DROPOUT, O_EPOCHS, O_LR, O_WD, O_LRNG, O_WDNG, O_SCHEDULE,
    O_WARMUP, O_CLIP, O_CW, O_LS, O_PATIENCE, O_MINDELTA, O_CALIB, O_AUTOTUNE, O_AT_BUDGET, O_AT_TRIALS, O_AT_FOLDS,
    O_REPORT, O_HTML, O_SEED, O_UNFREEZE, O_LRENC, O_LLRD, O_ENCDROP, O_BPREC
};

static const struct cli_opt train_opts[] = {
    CLI_SHARED_HELP(CLI_OPT_ENCODER, "encoder directory [$LECTOR_ENCODER]; --features ngrams needs\nnone (the model then records no encoder)"),
    CLI_OWN("train", "FILE", O_TRAIN, "training CSV with a header row"),
    CLI_OWN("valid", "FILE", O_VALID, "validation CSV [a stratified --valid-fraction of --train]"),
    CLI_OWN("valid-fraction", "F", O_VFRAC, "share of --train held out for validation when there is no\n--valid; 0 trains on everything and keeps the last epoch [0.1]"),
    CLI_SHARED(CLI_OPT_TEXT_COLUMN),
    CLI_SHARED(CLI_OPT_LABEL_COLUMN),
    CLI_SHARED_HELP(CLI_OPT_LABEL_NAMES, "names of integer labels, line k naming label k, stored in the\nmodel [labels.txt beside --train when it names every label;\nnone: keep the integers]"),
    CLI_OWN("multi-label", NULL, O_MULTI, "any number of labels per text, separated by '|' in the label\ncell, or one 0/1 column per label with --label-column a,b,c;\na sigmoid per label with a threshold tuned on validation"),
    CLI_OWN("output", "MODEL", 'o', "model file to write"),
    CLI_OWN("features", "F", O_FEATURES, "encoder, ngrams or both (wide-and-deep) [both]"),
    CLI_OWN("pooling", "P", 'p', "cls, mean, max or pooler [mean]"),
    CLI_OWN("max-len", "N", 'n', "tokens per window including special tokens; longer texts\nare split into windows (see --stride) unless --truncate [128]"),
    CLI_WINDOW_OPTS,
    CLI_SHARED(CLI_OPT_CACHE),
    CLI_SHARED(CLI_OPT_NO_CACHE),
    CLI_OWN("max-memory", "SIZE", O_MAXMEM, "refuse a head whose parameters and optimiser state would need\nmore (K, M, G suffixes) [3/4 of the physical memory]"),
    CLI_SHARED(CLI_OPT_CACHE_MAX_SIZE),
    CLI_OWN("ngram-order", "N", O_ORDER, "word n-grams of order 1..N [2]"),
    CLI_OWN("char-ngrams", "A-B", O_CHARS, "also character n-grams of A to B characters [none]"),
    CLI_OWN("ngram-boundaries", NULL, O_BOUNDARIES, "word n-grams of order >= 2 also span a start and an end\nword (\"<s> how\", \"great </s>\")"),
    CLI_OWN("ngram-buckets", "N", O_BUCKETS, "hash buckets for n-grams [1048576]"),
    CLI_OWN("min-df", "N", O_MINDF, "keep n-grams seen in at least N training texts [1]"),
    CLI_OWN("ngram-weighting", "W", O_WEIGHTING, "n-gram column weights: idf; nb, how strongly an n-gram\nmarks a class in training (naive Bayes log-count ratio,\none class against the rest); or idf-nb, both [idf-nb]"),
    CLI_OWN("hidden", "N", O_HIDDEN, "an MLP head: one hidden layer of N GELU units on the encoder\nfeatures (the n-gram part stays linear) [0: linear]"),
    CLI_OWN("dropout", "P", O_DROPOUT, "dropout on the hidden units while training [0.1]"),
    CLI_OWN("epochs", "N", O_EPOCHS, "passes over the training set [10]"),
    CLI_OWN("lr", "X", O_LR, "AdamW peak learning rate [0.003]"),
    CLI_OWN("weight-decay", "X", O_WD, "AdamW decoupled weight decay (not on biases) [0.01]"),
    CLI_OWN("lr-ngrams", "X", O_LRNG, "peak learning rate of the n-gram weights [0.03]"),
    CLI_OWN("weight-decay-ngrams", "X", O_WDNG, "weight decay of the n-gram weights [0.01]"),
    CLI_OWN("schedule", "S", O_SCHEDULE, "constant, linear or cosine decay after warm-up [linear]"),
    CLI_OWN("warmup", "F", O_WARMUP, "share of all steps spent in linear warm-up [0.06]"),
    CLI_OWN("clip-norm", "X", O_CLIP, "clip the gradient's global L2 norm; 0 = off [1]"),
    CLI_OWN("class-weight", "W", O_CW, "balanced or none [none]"),
    CLI_OWN("label-smoothing", "X", O_LS, "[0]"),
    CLI_OWN("patience", "N", O_PATIENCE, "stop after N epochs without a better valid macro-F1; 0 = off [0]"),
    CLI_OWN("min-delta", "F", O_MINDELTA, "macro-F1 differences up to F count as ties, which the lower\nvalidation loss breaks [0.005]"),
    CLI_OWN("calibrate", "C", O_CALIB, "temperature or none [temperature]"),
    CLI_OWN("autotune", NULL, O_AUTOTUNE, "search the head's settings (features, learning rates, epochs,\nn-gram options, hidden units, weight decay) on the validation\nset, starting from the options given; each trial is printed\nand the model records the chosen settings (docs/accuracy.md)"),
    CLI_OWN("autotune-budget", "S", O_AT_BUDGET, "seconds the search may take; no trial starts that would go\npast it [300]"),
    CLI_OWN("autotune-trials", "N", O_AT_TRIALS, "stop after N trials: the same choice on any machine [no limit]"),
    CLI_OWN("autotune-folds", "K", O_AT_FOLDS, "score each trial by K-fold cross-validation over the training\nand validation rows (2-20), or on the validation rows (1);\nauto: 5 with fewer than 500 validation rows, else 1 [auto]"),
    CLI_OWN("report-format", "F", O_REPORT, "the validation report on stderr: text or json [text]"),
    CLI_OWN("report", "FILE", O_HTML, "also write a self-contained HTML report of the validation set\n(confusion matrix, per-class bars, reliability, training curves)"),
    CLI_OWN("batch-size", "N", 'b', "examples per optimiser step [32]"),
    CLI_OWN("seed", "N", O_SEED, "initialisation, split and shuffling seed [42]"),
    CLI_SHARED(CLI_OPT_THREADS),
    CLI_SHARED(CLI_OPT_PROGRESS),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_TEXT("\n"),
    CLI_TEXT("Fine-tuning (the top layers trained with the head on the pooled vector):\n"),
    CLI_OWN("unfreeze", "N|all", O_UNFREEZE, "train the top N transformer layers (and the pooler with\n--pooling pooler) with the head; the layers below run once\nper text; texts are truncated to --max-len; the model keeps\nthe tuned layers, and --features defaults to encoder [0:\nthe encoder stays frozen]"),
    CLI_OWN("lr-encoder", "X", O_LRENC, "peak learning rate of the top tuned layer [0.0001]"),
    CLI_OWN("layer-lr-decay", "F", O_LLRD, "each layer below the top gets F times the rate of the one\nabove [1]"),
    CLI_OWN("encoder-dropout", "P", O_ENCDROP, "dropout inside the tuned layers (attention probabilities and\nafter each projection) [0.1]"),
    CLI_OWN("boundary-precision", "P", O_BPREC, "fp32 or bf16: how the frozen layers' output states are kept\n(bf16: half their memory and cache space) [fp32]"),
    CLI_TEXT("  With --unfreeze, --lr is the head's rate [0.001], --epochs [3] and --batch-size [16];\n"),
    CLI_TEXT("  --dropout applies to the pooled vector (and to the hidden units with --hidden);\n"),
    CLI_TEXT("  --hidden, --class-weight, --label-smoothing and --patience work as for a frozen head;\n"),
    CLI_TEXT("  weight decay spares biases and LayerNorm, and one warm-up/decay schedule and the\n"),
    CLI_TEXT("  --clip-norm cover every trained tensor. With --features both the n-gram weights train\n"),
    CLI_TEXT("  with them (--lr-ngrams, --weight-decay-ngrams).\n"),
    CLI_END,
};

static const struct cli_command train_command = {"train", train_intro, train_opts, 28, false, true, false};

// The options of the library's option fields, for its messages.
static const struct cli_option_name train_advice[] = {
    {"max_len", "--max-len"},          {"stride", "--stride"},
    {"head.n_hidden", "--hidden"},     {"valid_fraction", "--valid-fraction"},
    {"features", "--features"},        {"head.max_memory", "--max-memory"},
    {"autotune.budget", "--autotune-budget"}, {"autotune.max_trials", "--autotune-trials"},
    {"autotune.folds", "--autotune-folds"},
    {"autotune", "--autotune"},
    {"unfreeze", "--unfreeze"},        {"finetune.lr_encoder", "--lr-encoder"},
    {"finetune.lr_head", "--lr"},      {"finetune.layer_lr_decay", "--layer-lr-decay"},
    {"finetune.encoder_dropout", "--encoder-dropout"}, {"finetune.batch_size", "--batch-size"},
    {"finetune.boundary_precision", "--boundary-precision"},
    {"finetune.n_epochs", "--epochs"}, {"head.n_hidden", "--hidden"},
    {"head.class_weight_balanced", "--class-weight"}, {"head.label_smoothing", "--label-smoothing"},
    {"head.patience", "--patience"},
    {NULL, NULL},
};

// ---------------------------------------------------------------------------------------
// options

// What the command line sets: the library's options, and what the command does with them.
struct train_cli {
    struct lector_train_options o;
    struct cli_common com;
    const char *out_path, *html_report;
    const char *autotune_opt; // an --autotune-* option given, for the message when --autotune is not
    int64_t seed;
    bool report_json, features_given, epochs_given, lr_given, batch_given;
    char cache_buf[4096];
};

// The options whose value is a number in a range: CLI_OK, CLI_USAGE (printed), or -1 when c
// is not one of them.
static int parse_number(struct train_cli *t, int c, const char *v) {
    struct lector_train_params *tp = &t->o.head;
    struct lector_finetune_options *ft = &t->o.finetune;
    const struct {
        int c;
        const char *opt;
        double lo, hi;
        float *f;   // a float option, or
        int64_t *i; // an integer one
        bool *given;
    } nums[] = {
        {O_VFRAC, "--valid-fraction", 0.0, 0.9, &t->o.valid_fraction, NULL, NULL},
        {O_BUCKETS, "--ngram-buckets", 2, (double)(INT64_C(1) << 30), NULL, &t->o.ngrams.n_buckets, NULL},
        {O_MINDF, "--min-df", 1, (double)(INT64_C(1) << 40), NULL, &t->o.ngrams.min_df, NULL},
        {O_WARMUP, "--warmup", 0.0, 0.9, &tp->warmup, NULL, NULL},
        {O_CLIP, "--clip-norm", 0.0, 1e9, &tp->clip_norm, NULL, NULL},
        {O_LS, "--label-smoothing", 0.0, 0.99, &tp->label_smoothing, NULL, NULL},
        {O_MINDELTA, "--min-delta", 0.0, 0.5, &tp->min_delta, NULL, NULL},
        {O_PATIENCE, "--patience", 0, 1000000, NULL, &tp->patience, NULL},
        {O_AT_TRIALS, "--autotune-trials", 1, 1000000, NULL, &t->o.autotune.max_trials, NULL},
        {O_HIDDEN, "--hidden", 0, 65536, NULL, &tp->n_hidden, NULL},
        {O_DROPOUT, "--dropout", 0.0, 0.95, &tp->dropout, NULL, NULL},
        {O_LRNG, "--lr-ngrams", 1e-12, 10.0, &tp->adamw_sparse.lr, NULL, NULL},
        {O_WDNG, "--weight-decay-ngrams", 0.0, 10.0, &tp->adamw_sparse.weight_decay, NULL, NULL},
        {'n', "--max-len", 2, 1 << 20, NULL, &t->o.featurizer.max_len, NULL},
        {O_EPOCHS, "--epochs", 1, 100000, NULL, &tp->n_epochs, &t->epochs_given},
        {O_LR, "--lr", 1e-12, 10.0, &tp->adamw.lr, NULL, &t->lr_given},
        {O_LRENC, "--lr-encoder", 1e-12, 10.0, &ft->lr_encoder, NULL, NULL},
        {O_LLRD, "--layer-lr-decay", 1e-6, 1.0, &ft->layer_lr_decay, NULL, NULL},
        {O_ENCDROP, "--encoder-dropout", 0.0, 0.95, &ft->encoder_dropout, NULL, NULL},
        {O_WD, "--weight-decay", 0.0, 10.0, &tp->adamw.weight_decay, NULL, NULL},
        {'b', "--batch-size", 1, 1 << 20, NULL, &tp->batch_size, &t->batch_given},
        {O_SEED, "--seed", 0, (double)INT64_MAX, NULL, &t->seed, NULL},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        if (nums[k].c != c) continue;
        bool ok = nums[k].f ? cli_parse_f32("train", nums[k].opt, v, nums[k].lo, nums[k].hi, nums[k].f)
                            : cli_parse_i64("train", nums[k].opt, v, (int64_t)nums[k].lo,
                                            nums[k].c == O_SEED ? INT64_MAX : (int64_t)nums[k].hi, nums[k].i);
        if (ok && nums[k].given) *nums[k].given = true;
        return ok ? CLI_OK : CLI_USAGE;
    }
    return -1;
}

// The options whose value is a word from a list (or a pair of numbers): CLI_OK, CLI_USAGE
// (printed), or -1 when c is not one of them.
static int parse_choice(struct train_cli *t, int c, const char *v) {
    struct lector_train_params *tp = &t->o.head;
    struct lector_ngram_params *np = &t->o.ngrams;
    switch (c) {
    case O_FEATURES: {
        int f = lector_features_parse(v);
        if (f < 0) return cli_usage("train", "--features must be encoder, ngrams or both, got '%s'", v);
        t->o.features = (enum lector_feature_set)f;
        t->features_given = true;
        return CLI_OK;
    }
    case O_WEIGHTING:
        np->weighting = lector_ngram_weighting_parse(v);
        if (np->weighting < 0) return cli_usage("train", "--ngram-weighting must be idf, nb or idf-nb, got '%s'", v);
        return CLI_OK;
    case O_CHARS: {
        int a = 0, b = 0, used = 0;
        if (sscanf(v, "%d-%d%n", &a, &b, &used) != 2 || v[used] || a < 1 || b < a || b > 8)
            return cli_usage("train", "--char-ngrams expects MIN-MAX with 1 <= MIN <= MAX <= 8, got '%s'", v);
        np->char_min = a;
        np->char_max = b;
        return CLI_OK;
    }
    case O_SCHEDULE: {
        int sc = lector_schedule_parse(v);
        if (sc < 0) return cli_usage("train", "--schedule must be constant, linear or cosine, got '%s'", v);
        tp->schedule = (enum lector_schedule)sc;
        return CLI_OK;
    }
    case O_CW:
        if (strcmp(v, "balanced") && strcmp(v, "none"))
            return cli_usage("train", "--class-weight must be balanced or none, got '%s'", v);
        tp->class_weight_balanced = !strcmp(v, "balanced");
        return CLI_OK;
    case O_CALIB:
        if (strcmp(v, "temperature") && strcmp(v, "none"))
            return cli_usage("train", "--calibrate must be temperature or none, got '%s'", v);
        tp->calibrate = !strcmp(v, "temperature");
        return CLI_OK;
    case O_REPORT:
        if (strcmp(v, "json") && strcmp(v, "text"))
            return cli_usage("train", "--report-format must be text or json, got '%s'", v);
        t->report_json = !strcmp(v, "json");
        return CLI_OK;
    case O_BPREC:
        if (strcmp(v, "fp32") && strcmp(v, "bf16"))
            return cli_usage("train", "--boundary-precision must be fp32 or bf16, got '%s'", v);
        t->o.finetune.boundary_precision = strcmp(v, "bf16") ? LECTOR_PRECISION_FP32 : LECTOR_PRECISION_BF16;
        return CLI_OK;
    case 'p': {
        int p = lector_pooling_parse(v);
        if (p < 0 || p == LECTOR_POOLING_NONE)
            return cli_usage("train", "--pooling must be cls, mean, max or pooler, got '%s'", v);
        t->o.featurizer.pooling = (enum lector_pooling)p;
        return CLI_OK;
    }
    }
    return -1;
}

// One of train's own options: CLI_OK or CLI_USAGE (printed).
static int parse_option(struct train_cli *t, int c, char *v) {
    if (c == O_AT_TRIALS) t->autotune_opt = "--autotune-trials";
    if (c == O_AT_FOLDS) t->autotune_opt = "--autotune-folds";
    int rc = parse_number(t, c, v);
    if (rc < 0) rc = parse_choice(t, c, v);
    if (rc >= 0) return rc;
    struct lector_train_params *tp = &t->o.head;
    switch (c) {
    case O_TRAIN: t->o.train_path = v; break;
    case O_VALID: t->o.valid_path = v; break;
    case 'o': t->out_path = v; break;
    case O_MULTI: t->o.corpus.multi_label = 1; break;
    case O_BOUNDARIES: t->o.ngrams.boundaries = 1; break;
    case O_ORDER: {
        int64_t order;
        if (!cli_parse_i64("train", "--ngram-order", v, 1, 4, &order)) return CLI_USAGE;
        t->o.ngrams.word_order = (int32_t)order;
        break;
    }
    case O_AUTOTUNE: t->o.autotune.enabled = 1; break;
    case O_AT_BUDGET: {
        float b = 0.0f;
        if (!cli_parse_f32("train", "--autotune-budget", v, 0.001, 1e6, &b)) return CLI_USAGE;
        t->o.autotune.budget = (double)b;
        t->autotune_opt = "--autotune-budget";
        break;
    }
    case O_AT_FOLDS:
        if (strcmp(v, "auto") && !cli_parse_i64("train", "--autotune-folds", v, 1, LECTOR_AUTOTUNE_MAX_FOLDS,
                                                &t->o.autotune.folds))
            return CLI_USAGE;
        if (!strcmp(v, "auto")) t->o.autotune.folds = 0;
        break;
    case O_HTML: t->html_report = v; break;
    case O_UNFREEZE:
        if (!strcmp(v, "all"))
            t->o.unfreeze = LECTOR_UNFREEZE_ALL;
        else if (!cli_parse_i64("train", "--unfreeze", v, 0, 1 << 20, &t->o.unfreeze))
            return CLI_USAGE;
        break;
    case O_MAXMEM:
        if (!cli_parse_size("train", "--max-memory", v, &tp->max_memory) || tp->max_memory == 0)
            return tp->max_memory == 0 ? cli_usage("train", "--max-memory must be above 0") : CLI_USAGE;
        break;
    }
    return CLI_OK;
}

// The shared options into the library's, and the checks and defaults that depend on several
// options: CLI_OK or CLI_USAGE (printed).
static int resolve_options(struct train_cli *t) {
    struct lector_train_options *o = &t->o;
    struct lector_train_params *tp = &o->head;
    struct lector_featurizer_options *fo = &o->featurizer;
    const struct cli_common *com = &t->com;
    if (com->text_column) o->corpus.text_column = com->text_column;
    if (com->label_column) o->corpus.label_column = com->label_column;
    if (com->label_names) o->corpus.label_names = com->label_names;
    fo->stride = com->stride;
    fo->max_windows = com->max_windows;
    fo->doc_pooling = com->doc_pooling;
    fo->cache_max_size = com->cache_max_size;
    if (t->autotune_opt && !o->autotune.enabled) return cli_usage("train", "%s needs --autotune", t->autotune_opt);
    if (!o->train_path) return cli_usage("train", "--train FILE is required");
    if (!t->out_path) return cli_usage("train", "--output MODEL is required");
    // n-gram features alone need no encoder: without one, the model records none.
    if (!(o->encoder_dir = cli_encoder_dir(com->encoder)) && o->features != LECTOR_FEATURES_NGRAMS)
        return cli_usage("train", "no encoder: give --encoder DIR or set LECTOR_ENCODER (or train on word "
                                  "n-grams alone, which need none: --features ngrams)");
    if (tp->n_hidden > 0 && !(o->features & LECTOR_FEATURES_ENCODER))
        return cli_usage("train", "--hidden needs encoder features (--features encoder or both)");
    if (o->unfreeze != 0) {
        // the fine-tuning recipe's own defaults, unless the options were given
        if (!t->features_given) o->features = LECTOR_FEATURES_ENCODER;
        if (t->epochs_given) o->finetune.n_epochs = tp->n_epochs;
        if (t->lr_given) o->finetune.lr_head = tp->adamw.lr;
        if (t->batch_given) o->finetune.batch_size = tp->batch_size;
        if (o->features == LECTOR_FEATURES_NGRAMS)
            return cli_usage("train", "--unfreeze with --features ngrams: there are no encoder layers to tune");
    }
    tp->seed = (uint64_t)t->seed;
    if (com->truncate) fo->doc_pooling = LECTOR_DOC_TRUNCATE;
    if (!strcmp(t->out_path, "-")) return cli_usage("train", "--output -: a model is written to a file, not to stdout");
    fo->cache_dir = cli_common_cache_dir(com, t->cache_buf, sizeof t->cache_buf);
    return CLI_OK;
}

// The command line into t; false when the command is to end with *rc (after --help, or a
// usage error).
static bool parse_args(struct train_cli *t, int argc, char **argv, int *rc) {
    lector_train_options_init(&t->o);
    t->seed = 42;
    struct cli_args a;
    cli_args_init(&a, &train_command, argc, argv, &t->com);
    int c;
    while ((c = cli_args_next(&a)) > 0)
        if ((*rc = parse_option(t, c, optarg)) != CLI_OK) return false;
    if (c < 0) {
        *rc = a.rc;
        return false;
    }
    return (*rc = resolve_options(t)) == CLI_OK;
}

// No output may be an input (or a link, FIFO, ...): CLI_OK or CLI_USAGE (printed).
static int check_io(const struct train_cli *t) {
    const struct lector_train_options *o = &t->o;
    const char *names = o->corpus.label_names && *o->corpus.label_names ? o->corpus.label_names : NULL;
    const char *names_opt = "--label-names";
    char *beside = NULL; // the labels.txt beside --train, read when present
    if (!o->corpus.label_names && o->train_path && (beside = lector_corpus_default_label_names(o->train_path))) {
        names = beside;
        names_opt = "labels.txt beside --train:";
    }
    const struct cli_io io = {"train",
                              {{"--output", t->out_path}, {"--report", t->html_report}},
                              {{"--train", o->train_path}, {"--valid", o->valid_path}, {names_opt, names}},
                              {{"--encoder", o->encoder_dir}, {"--cache", o->featurizer.cache_dir}},
                              2, 3, 2};
    const int rc = cli_check_outputs(&io) == CLI_OK ? CLI_OK : CLI_USAGE;
    lector_free(beside);
    return rc;
}

// ---------------------------------------------------------------------------------------
// the run

// After training: the model saved, the validation report on stderr and as HTML.
static int save_and_report(const struct train_cli *t, const struct lector_classifier *clf,
                           const struct lector_eval_report *rep) {
    struct lector_error err;
    if (lector_classifier_save(clf, t->out_path, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    cli_info("saved %s (%lld labels, %lld training examples)", t->out_path, (long long)lector_classifier_n_labels(clf),
             (long long)lector_classifier_get_info(clf)->n_train);
    if (rep->n > 0 && !cli_quiet) {
        // The same figures 'lector eval' prints for this model on the validation set.
        cli_info("validation report:");
        cli_print_report(&rep->metrics, rep->labels, t->report_json, true);
    }
    if (!t->html_report) return CLI_OK;
    if (rep->n == 0) return cli_error("%s: no validation set to report on (--valid-fraction 0)", t->html_report);
    char title[1024];
    snprintf(title, sizeof title, "%s: validation set", t->out_path);
    return cli_report_write_eval(t->html_report, title, rep);
}

int cmd_train(int argc, char **argv) {
    struct train_cli t = {0};
    int rc;
    if (!parse_args(&t, argc, argv, &rc) || (rc = check_io(&t)) != CLI_OK) return rc;
    cli_install_signal_handlers();
    struct cli_events ev = {t.o.unfreeze ? t.o.finetune.n_epochs : t.o.head.n_epochs, (double)t.o.valid_fraction,
                            0.0, 0.0};
    t.o.on_event = cli_on_event;
    t.o.user = &ev;
    t.o.cancel = &cli_interrupted;

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    enum lector_status s = lector_train(&t.o, &clf, &rep, &err);
    if (s == LECTOR_STATUS_INTERRUPTED || cli_interrupted) {
        lector_classifier_close(clf);
        lector_eval_report_free(&rep);
        cli_error("interrupted: %s was not written", t.out_path);
        return cli_interrupted_status();
    }
    if (s == LECTOR_STATUS_INVALID_ARG) return cli_usage("train", "%s", cli_option_advice(&err, train_advice));
    if (s != LECTOR_STATUS_OK) return cli_error("%s", cli_option_advice(&err, train_advice));
    rc = save_and_report(&t, clf, &rep);
    lector_eval_report_free(&rep);
    lector_classifier_close(clf);
    return rc;
}

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
#include "cli/report.h"
#include "lector/classifier.h"
#include "lector/data.h"
#include "lector/eval.h"
#include "lector/train.h"

static const char train_help[] =
    "usage: lector train --encoder DIR --train FILE.csv --output MODEL [options]\n"
    "\n"
    "Train a classification head (linear, or an MLP with --hidden) on the frozen encoder's\n"
    "pooled features and/or hashed TF-IDF n-grams of a CSV corpus and save it as MODEL\n"
    "(written atomically: an interrupted run leaves any old MODEL intact). The epoch with the\n"
    "best validation macro-F1 is kept, a softmax temperature is fitted on the validation set,\n"
    "and the validation report is printed on stderr at the end (the same report as\n"
    "'lector eval').\n"
    "\n"
    "  -e, --encoder DIR         encoder directory [$LECTOR_ENCODER]; --features ngrams needs\n"
    "                            none (the model then records no encoder)\n"
    "      --train FILE          training CSV with a header row\n"
    "      --valid FILE          validation CSV [a stratified --valid-fraction of --train]\n"
    "      --valid-fraction F    share of --train held out for validation when there is no\n"
    "                            --valid; 0 trains on everything and keeps the last epoch [0.1]\n"
    "      --text-column NAME    column holding the text [text]\n"
    "      --label-column NAME   column holding the label [label]\n"
    "      --label-names FILE    names of integer labels, line k naming label k, stored in the\n"
    "                            model [labels.txt beside --train when it names every label;\n"
    "                            none: keep the integers]\n"
    "      --multi-label         any number of labels per text, separated by '|' in the label\n"
    "                            cell, or one 0/1 column per label with --label-column a,b,c;\n"
    "                            a sigmoid per label with a threshold tuned on validation\n"
    "  -o, --output MODEL        model file to write\n"
    "      --features F          encoder, ngrams or both (wide-and-deep) [both]\n"
    "  -p, --pooling P           cls, mean, max or pooler [mean]\n"
    "  -n, --max-len N           tokens per window including special tokens; longer texts\n"
    "                            are split into windows (see --stride) unless --truncate [128]\n"
    "      --stride N            texts longer than --max-len are split into windows that\n"
    "                            overlap by N tokens [a quarter of the window's text tokens,\n"
    "                            at most 32: 31 at --max-len 128 with 2 special tokens]\n"
    "      --max-windows N       read at most N windows of a long text; a text cut there is\n"
    "                            reported on stderr (0: no limit) [128]\n"
    "      --doc-pooling P       pool the windows' vectors by mean or max [mean]\n"
    "      --truncate            keep only the first --max-len tokens of a text instead\n"
    "      --cache DIR           feature cache: pooled vectors are reused across runs\n"
    "                            [$XDG_CACHE_HOME/lector/features or ~/.cache/lector/features]\n"
    "      --no-cache            neither read nor write the feature cache\n"
    "      --max-memory SIZE     refuse a head whose parameters and optimiser state would need\n"
    "                            more (K, M, G suffixes) [3/4 of the physical memory]\n"
    "      --cache-max-size SIZE bytes of all files in the cache directory (K, M, G suffixes;\n"
    "                            0: no cap); least recently used files go first [4G]\n"
    "      --ngram-order N       word n-grams of order 1..N [2]\n"
    "      --char-ngrams A-B     also character n-grams of A to B characters [none]\n"
    "      --ngram-boundaries    word n-grams of order >= 2 also span a start and an end\n"
    "                            word (\"<s> how\", \"great </s>\")\n"
    "      --ngram-buckets N     hash buckets for n-grams [1048576]\n"
    "      --min-df N            keep n-grams seen in at least N training texts [1]\n"
    "      --ngram-weighting W   n-gram column weights: idf; nb, how strongly an n-gram\n"
    "                            marks a class in training (naive Bayes log-count ratio,\n"
    "                            one class against the rest); or idf-nb, both [idf-nb]\n"
    ;
// Split in two: C11 compilers need only support string literals of 4095 characters.
static const char train_help2[] =
    "      --hidden N            an MLP head: one hidden layer of N GELU units on the encoder\n"
    "                            features (the n-gram part stays linear) [0: linear]\n"
    "      --dropout P           dropout on the hidden units while training [0.1]\n"
    "      --epochs N            passes over the training set [10]\n"
    "      --lr X                AdamW peak learning rate [0.003]\n"
    "      --weight-decay X      AdamW decoupled weight decay (not on biases) [0.01]\n"
    "      --lr-ngrams X         peak learning rate of the n-gram weights [0.03]\n"
    "      --weight-decay-ngrams X  weight decay of the n-gram weights [0.01]\n"
    "      --schedule S          constant, linear or cosine decay after warm-up [linear]\n"
    "      --warmup F            share of all steps spent in linear warm-up [0.06]\n"
    "      --clip-norm X         clip the gradient's global L2 norm; 0 = off [1]\n"
    "      --class-weight W      balanced or none [none]\n"
    "      --label-smoothing X   [0]\n"
    "      --patience N          stop after N epochs without a better valid macro-F1; 0 = off [0]\n"
    "      --min-delta F         macro-F1 differences up to F count as ties, which the lower\n"
    "                            validation loss breaks [0.005]\n"
    "      --calibrate C         temperature or none [temperature]\n"
    "      --autotune            search the head's settings (features, learning rates, epochs,\n"
    "                            n-gram options, hidden units, weight decay) on the validation\n"
    "                            set, starting from the options given; each trial is printed\n"
    "                            and the model records the chosen settings (docs/accuracy.md)\n"
    "      --autotune-budget S   seconds the search may take; no trial starts that would go\n"
    "                            past it [300]\n"
    "      --autotune-trials N   stop after N trials: the same choice on any machine [no limit]\n"
    "      --report-format F     the validation report on stderr: text or json [text]\n"
    "      --report FILE         also write a self-contained HTML report of the validation set\n"
    "                            (confusion matrix, per-class bars, reliability, training curves)\n"
    "  -b, --batch-size N        examples per optimiser step [32]\n"
    "      --seed N              initialisation, split and shuffling seed [42]\n"
    "  -t, --threads N           threads for the encoder's matrix products [all cores]\n"
    "      --progress            show progress on stderr even when it is not a terminal\n"
    "      --verify-checksum     hash the encoder's files in full, not trusting the checksum\n"
    "                            cache (also LECTOR_VERIFY_CHECKSUM=1)\n"
    "  -q, --quiet               print only errors on stderr\n"
    "  -h, --help                show this help\n";
static const char train_help3[] =
    "\n"
    "Fine-tuning (the top layers trained with a linear head on the pooled vector):\n"
    "      --unfreeze N|all      train the top N transformer layers (and the pooler with\n"
    "                            --pooling pooler) with the head; the layers below run once\n"
    "                            per text; texts are truncated to --max-len; the model keeps\n"
    "                            the tuned layers, and --features defaults to encoder [0:\n"
    "                            the encoder stays frozen]\n"
    "      --lr-encoder X        peak learning rate of the top tuned layer [0.0001]\n"
    "      --layer-lr-decay F    each layer below the top gets F times the rate of the one\n"
    "                            above [1]\n"
    "      --encoder-dropout P   dropout inside the tuned layers (attention probabilities and\n"
    "                            after each projection) [0.1]\n"
    "      --boundary-precision P\n"
    "                            fp32 or bf16: how the frozen layers' output states are kept\n"
    "                            (bf16: half their memory and cache space) [fp32]\n"
    "  With --unfreeze, --lr is the head's rate [0.001], --epochs [3] and --batch-size [16];\n"
    "  --dropout applies to the pooled vector; weight decay spares biases and LayerNorm, and\n"
    "  one warm-up/decay schedule and the --clip-norm cover every trained tensor. With\n"
    "  --features both the n-gram weights train with them (--lr-ngrams, --weight-decay-ngrams).\n";

// The options of the library's option fields, for its messages.
static const struct cli_option_name train_advice[] = {
    {"max_len", "--max-len"},          {"stride", "--stride"},
    {"head.n_hidden", "--hidden"},     {"valid_fraction", "--valid-fraction"},
    {"features", "--features"},        {"head.max_memory", "--max-memory"},
    {"autotune.budget", "--autotune-budget"}, {"autotune.max_trials", "--autotune-trials"},
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

int cmd_train(int argc, char **argv) {
    enum { O_TRAIN = 256, O_VALID, O_TEXT, O_LABEL, O_NAMES, O_EPOCHS, O_LR, O_WD, O_SEED, O_PROGRESS,
           O_VFRAC, O_FEATURES, O_ORDER, O_CHARS, O_BOUNDARIES, O_WEIGHTING, O_BUCKETS, O_MINDF, O_SCHEDULE, O_WARMUP,
           O_CLIP, O_CW, O_LS, O_PATIENCE, O_MINDELTA, O_CALIB, O_REPORT, O_CACHE, O_NOCACHE, O_CACHEMAX, O_MAXWIN, O_LRNG, O_WDNG, O_HIDDEN, O_DROPOUT, O_STRIDE, O_DOCPOOL, O_TRUNCATE, O_MULTI, O_HTML,
           O_AUTOTUNE, O_AT_BUDGET, O_AT_TRIALS,
           O_UNFREEZE, O_LRENC, O_LLRD, O_ENCDROP, O_BPREC };
    static const struct option opts[] = {{"encoder", required_argument, 0, 'e'},
                                         {"train", required_argument, 0, O_TRAIN},
                                         {"valid", required_argument, 0, O_VALID},
                                         {"valid-fraction", required_argument, 0, O_VFRAC},
                                         {"text-column", required_argument, 0, O_TEXT},
                                         {"label-column", required_argument, 0, O_LABEL},
                                         {"label-names", required_argument, 0, O_NAMES},
                                         {"output", required_argument, 0, 'o'},
                                         {"features", required_argument, 0, O_FEATURES},
                                         {"pooling", required_argument, 0, 'p'},
                                         {"max-len", required_argument, 0, 'n'},
                                         {"ngram-order", required_argument, 0, O_ORDER},
                                         {"char-ngrams", required_argument, 0, O_CHARS},
                                         {"ngram-boundaries", no_argument, 0, O_BOUNDARIES},
                                         {"ngram-weighting", required_argument, 0, O_WEIGHTING},
                                         {"ngram-buckets", required_argument, 0, O_BUCKETS},
                                         {"min-df", required_argument, 0, O_MINDF},
                                         {"epochs", required_argument, 0, O_EPOCHS},
                                         {"lr", required_argument, 0, O_LR},
                                         {"weight-decay", required_argument, 0, O_WD},
                                         {"schedule", required_argument, 0, O_SCHEDULE},
                                         {"warmup", required_argument, 0, O_WARMUP},
                                         {"clip-norm", required_argument, 0, O_CLIP},
                                         {"class-weight", required_argument, 0, O_CW},
                                         {"label-smoothing", required_argument, 0, O_LS},
                                         {"patience", required_argument, 0, O_PATIENCE},
                                         {"min-delta", required_argument, 0, O_MINDELTA},
                                         {"calibrate", required_argument, 0, O_CALIB},
                                         {"autotune", no_argument, 0, O_AUTOTUNE},
                                         {"autotune-budget", required_argument, 0, O_AT_BUDGET},
                                         {"autotune-trials", required_argument, 0, O_AT_TRIALS},
                                         {"report-format", required_argument, 0, O_REPORT},
                                         {"report", required_argument, 0, O_HTML},
                                         {"cache", required_argument, 0, O_CACHE},
                                         {"lr-ngrams", required_argument, 0, O_LRNG},
                                         {"hidden", required_argument, 0, O_HIDDEN},
                                         {"stride", required_argument, 0, O_STRIDE},
                                         {"max-memory", required_argument, 0, 401},
                                         {"verify-checksum", no_argument, 0, 'V'},
                                         {"max-windows", required_argument, 0, O_MAXWIN},
                                         {"cache-max-size", required_argument, 0, O_CACHEMAX},
                                         {"doc-pooling", required_argument, 0, O_DOCPOOL},
                                         {"truncate", no_argument, 0, O_TRUNCATE},
                                         {"multi-label", no_argument, 0, O_MULTI},
                                         {"dropout", required_argument, 0, O_DROPOUT},
                                         {"weight-decay-ngrams", required_argument, 0, O_WDNG},
                                         {"no-cache", no_argument, 0, O_NOCACHE},
                                         {"batch-size", required_argument, 0, 'b'},
                                         {"unfreeze", required_argument, 0, O_UNFREEZE},
                                         {"lr-encoder", required_argument, 0, O_LRENC},
                                         {"layer-lr-decay", required_argument, 0, O_LLRD},
                                         {"encoder-dropout", required_argument, 0, O_ENCDROP},
                                         {"boundary-precision", required_argument, 0, O_BPREC},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"threads", required_argument, 0, 't'},
                                         {"progress", no_argument, 0, O_PROGRESS},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *enc_opt = NULL, *out_path = NULL;
    int64_t threads = 0, seed = 42, i64 = 0;
    bool report_json = false, no_cache = false, truncate_docs = false, features_given = false;
    bool epochs_given = false, lr_given = false, batch_given = false;
    const char *html_report = NULL, *autotune_opt = NULL;
    char cache_buf[4096];
    struct lector_train_options o;
    lector_train_options_init(&o);
    struct lector_train_params *tp = &o.head;
    struct lector_ngram_params *np = &o.ngrams;
    struct lector_featurizer_options *fo = &o.featurizer;
    cli_progress = isatty(2);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":e:o:p:n:b:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'e': enc_opt = optarg; break;
        case O_TRAIN: o.train_path = optarg; break;
        case O_VALID: o.valid_path = optarg; break;
        case O_VFRAC:
            if (!cli_parse_f32("train", "--valid-fraction", optarg, 0.0, 0.9, &o.valid_fraction))
                return CLI_USAGE;
            break;
        case O_TEXT: o.corpus.text_column = optarg; break;
        case O_LABEL: o.corpus.label_column = optarg; break;
        case O_NAMES:
            if (!*optarg) return cli_usage("train", "--label-names needs a file (or none to keep integer labels)");
            o.corpus.label_names = strcmp(optarg, "none") ? optarg : "";
            break;
        case 'o': out_path = optarg; break;
        case O_FEATURES: {
            int f = lector_features_parse(optarg);
            if (f < 0) return cli_usage("train", "--features must be encoder, ngrams or both, got '%s'", optarg);
            o.features = (enum lector_feature_set)f;
            features_given = true;
            break;
        }
        case O_ORDER:
            if (!cli_parse_i64("train", "--ngram-order", optarg, 1, 4, &i64)) return CLI_USAGE;
            np->word_order = (int32_t)i64;
            break;
        case O_BOUNDARIES:
            np->boundaries = 1;
            break;
        case O_WEIGHTING:
            np->weighting = lector_ngram_weighting_parse(optarg);
            if (np->weighting < 0)
                return cli_usage("train", "--ngram-weighting must be idf, nb or idf-nb, got '%s'", optarg);
            break;
        case O_CHARS: {
            int a = 0, b = 0, used = 0;
            if (sscanf(optarg, "%d-%d%n", &a, &b, &used) != 2 || optarg[used] || a < 1 || b < a || b > 8)
                return cli_usage("train", "--char-ngrams expects MIN-MAX with 1 <= MIN <= MAX <= 8, got '%s'",
                                 optarg);
            np->char_min = a;
            np->char_max = b;
            break;
        }
        case O_BUCKETS:
            if (!cli_parse_i64("train", "--ngram-buckets", optarg, 2, INT64_C(1) << 30, &np->n_buckets))
                return CLI_USAGE;
            break;
        case O_MINDF:
            if (!cli_parse_i64("train", "--min-df", optarg, 1, INT64_C(1) << 40, &np->min_df)) return CLI_USAGE;
            break;
        case O_SCHEDULE: {
            int sc = lector_schedule_parse(optarg);
            if (sc < 0) return cli_usage("train", "--schedule must be constant, linear or cosine, got '%s'", optarg);
            tp->schedule = (enum lector_schedule)sc;
            break;
        }
        case O_WARMUP:
            if (!cli_parse_f32("train", "--warmup", optarg, 0.0, 0.9, &tp->warmup)) return CLI_USAGE;
            break;
        case O_CLIP:
            if (!cli_parse_f32("train", "--clip-norm", optarg, 0.0, 1e9, &tp->clip_norm)) return CLI_USAGE;
            break;
        case O_CW:
            if (!strcmp(optarg, "balanced"))
                tp->class_weight_balanced = 1;
            else if (!strcmp(optarg, "none"))
                tp->class_weight_balanced = 0;
            else
                return cli_usage("train", "--class-weight must be balanced or none, got '%s'", optarg);
            break;
        case O_LS:
            if (!cli_parse_f32("train", "--label-smoothing", optarg, 0.0, 0.99, &tp->label_smoothing))
                return CLI_USAGE;
            break;
        case O_MINDELTA:
            if (!cli_parse_f32("train", "--min-delta", optarg, 0.0, 0.5, &tp->min_delta)) return CLI_USAGE;
            break;
        case O_PATIENCE:
            if (!cli_parse_i64("train", "--patience", optarg, 0, 1000000, &tp->patience)) return CLI_USAGE;
            break;
        case O_CALIB:
            if (!strcmp(optarg, "temperature"))
                tp->calibrate = 1;
            else if (!strcmp(optarg, "none"))
                tp->calibrate = 0;
            else
                return cli_usage("train", "--calibrate must be temperature or none, got '%s'", optarg);
            break;
        case O_AUTOTUNE: o.autotune.enabled = 1; break;
        case O_AT_BUDGET: {
            float b = 0.0f;
            if (!cli_parse_f32("train", "--autotune-budget", optarg, 0.001, 1e6, &b)) return CLI_USAGE;
            o.autotune.budget = (double)b;
            autotune_opt = "--autotune-budget";
            break;
        }
        case O_AT_TRIALS:
            if (!cli_parse_i64("train", "--autotune-trials", optarg, 1, 1000000, &o.autotune.max_trials))
                return CLI_USAGE;
            autotune_opt = "--autotune-trials";
            break;
        case O_CACHE: fo->cache_dir = optarg; break;
        case O_STRIDE:
            if (!cli_parse_i64("train", "--stride", optarg, 0, 1 << 20, &fo->stride)) return CLI_USAGE;
            break;
        case O_DOCPOOL: {
            int dp = lector_doc_pooling_parse(optarg);
            if (dp != LECTOR_DOC_MEAN && dp != LECTOR_DOC_MAX)
                return cli_usage("train", "--doc-pooling must be mean or max, got '%s'", optarg);
            fo->doc_pooling = (enum lector_doc_pooling)dp;
            break;
        }
        case O_TRUNCATE: truncate_docs = true; break;
        case O_MULTI: o.corpus.multi_label = 1; break;
        case O_HIDDEN:
            if (!cli_parse_i64("train", "--hidden", optarg, 0, 65536, &tp->n_hidden)) return CLI_USAGE;
            break;
        case O_DROPOUT:
            if (!cli_parse_f32("train", "--dropout", optarg, 0.0, 0.95, &tp->dropout)) return CLI_USAGE;
            break;
        case O_LRNG:
            if (!cli_parse_f32("train", "--lr-ngrams", optarg, 1e-12, 10.0, &tp->adamw_sparse.lr)) return CLI_USAGE;
            break;
        case O_WDNG:
            if (!cli_parse_f32("train", "--weight-decay-ngrams", optarg, 0.0, 10.0, &tp->adamw_sparse.weight_decay))
                return CLI_USAGE;
            break;
        case O_NOCACHE: no_cache = true; break;
        case O_CACHEMAX:
            if (!cli_parse_size("train", "--cache-max-size", optarg, &fo->cache_max_size)) return CLI_USAGE;
            break;
        case O_MAXWIN:
            if (!cli_parse_max_windows("train", optarg, &fo->max_windows)) return CLI_USAGE;
            break;
        case O_HTML: html_report = optarg; break;
        case O_REPORT:
            if (!strcmp(optarg, "json"))
                report_json = true;
            else if (strcmp(optarg, "text"))
                return cli_usage("train", "--report-format must be text or json, got '%s'", optarg);
            break;
        case 'p': {
            int p = lector_pooling_parse(optarg);
            if (p < 0 || p == LECTOR_POOLING_NONE)
                return cli_usage("train", "--pooling must be cls, mean, max or pooler, got '%s'", optarg);
            fo->pooling = (enum lector_pooling)p;
            break;
        }
        case 'n':
            if (!cli_parse_i64("train", "--max-len", optarg, 2, 1 << 20, &fo->max_len)) return CLI_USAGE;
            break;
        case O_EPOCHS:
            if (!cli_parse_i64("train", "--epochs", optarg, 1, 100000, &tp->n_epochs)) return CLI_USAGE;
            epochs_given = true;
            break;
        case O_LR:
            if (!cli_parse_f32("train", "--lr", optarg, 1e-12, 10.0, &tp->adamw.lr)) return CLI_USAGE;
            lr_given = true;
            break;
        case O_UNFREEZE:
            if (!strcmp(optarg, "all"))
                o.unfreeze = LECTOR_UNFREEZE_ALL;
            else if (!cli_parse_i64("train", "--unfreeze", optarg, 0, 1 << 20, &o.unfreeze))
                return CLI_USAGE;
            break;
        case O_LRENC:
            if (!cli_parse_f32("train", "--lr-encoder", optarg, 1e-12, 10.0, &o.finetune.lr_encoder))
                return CLI_USAGE;
            break;
        case O_LLRD:
            if (!cli_parse_f32("train", "--layer-lr-decay", optarg, 1e-6, 1.0, &o.finetune.layer_lr_decay))
                return CLI_USAGE;
            break;
        case O_ENCDROP:
            if (!cli_parse_f32("train", "--encoder-dropout", optarg, 0.0, 0.95, &o.finetune.encoder_dropout))
                return CLI_USAGE;
            break;
        case O_BPREC:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
                return cli_usage("train", "--boundary-precision must be fp32 or bf16, got '%s'", optarg);
            o.finetune.boundary_precision = strcmp(optarg, "bf16") ? LECTOR_PRECISION_FP32 : LECTOR_PRECISION_BF16;
            break;
        case O_WD:
            if (!cli_parse_f32("train", "--weight-decay", optarg, 0.0, 10.0, &tp->adamw.weight_decay))
                return CLI_USAGE;
            break;
        case 'b':
            if (!cli_parse_i64("train", "--batch-size", optarg, 1, 1 << 20, &tp->batch_size)) return CLI_USAGE;
            batch_given = true;
            break;
        case O_SEED:
            if (!cli_parse_i64("train", "--seed", optarg, 0, INT64_MAX, &seed)) return CLI_USAGE;
            break;
        case 't':
            if (!cli_parse_i64("train", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case O_PROGRESS: cli_progress = true; break;
        case 'V': lector_set_verify_checksum(1); break;
        case 401:
            if (!cli_parse_size("train", "--max-memory", optarg, &tp->max_memory) || tp->max_memory == 0)
                return tp->max_memory == 0 ? cli_usage("train", "--max-memory must be above 0") : CLI_USAGE;
            break;
        case 'q': cli_quiet = true; break;
        case 'h':
            fputs(train_help, stdout);
            fputs(train_help2, stdout);
            fputs(train_help3, stdout);
            return CLI_OK;
        case ':': return cli_usage("train", "option %s needs a value", argv[optind - 1]);
        default: return cli_unknown_option("train", argv[optind - 1], opts);
        }
    }
    if (optind < argc) return cli_usage("train", "unexpected argument '%s'", argv[optind]);
    if (autotune_opt && !o.autotune.enabled) return cli_usage("train", "%s needs --autotune", autotune_opt);
    if (!o.train_path) return cli_usage("train", "--train FILE is required");
    if (!out_path) return cli_usage("train", "--output MODEL is required");
    // n-gram features alone need no encoder: without one, the model records none.
    if (!(o.encoder_dir = cli_encoder_dir(enc_opt)) && o.features != LECTOR_FEATURES_NGRAMS)
        return cli_usage("train", "no encoder: give --encoder DIR or set LECTOR_ENCODER (or train on word "
                                  "n-grams alone, which need none: --features ngrams)");
    if (tp->n_hidden > 0 && !(o.features & LECTOR_FEATURES_ENCODER))
        return cli_usage("train", "--hidden needs encoder features (--features encoder or both)");
    if (o.unfreeze != 0) {
        // the fine-tuning recipe's own defaults, unless the options were given
        if (!features_given) o.features = LECTOR_FEATURES_ENCODER;
        if (epochs_given) o.finetune.n_epochs = tp->n_epochs;
        if (lr_given) o.finetune.lr_head = tp->adamw.lr;
        if (batch_given) o.finetune.batch_size = tp->batch_size;
        if (o.features == LECTOR_FEATURES_NGRAMS)
            return cli_usage("train", "--unfreeze with --features ngrams: there are no encoder layers to tune");
    }
    tp->seed = (uint64_t)seed;
    if (truncate_docs) fo->doc_pooling = LECTOR_DOC_TRUNCATE;
    if (!strcmp(out_path, "-")) return cli_usage("train", "--output -: a model is written to a file, not to stdout");
    if (no_cache)
        fo->cache_dir = NULL;
    else if (!fo->cache_dir)
        fo->cache_dir = cli_default_cache_dir(cache_buf, sizeof cache_buf);
    const struct cli_io io = {"train",
                              {{"--output", out_path}, {"--report", html_report}},
                              {{"--train", o.train_path}, {"--valid", o.valid_path},
                               {"--label-names", o.corpus.label_names && *o.corpus.label_names ? o.corpus.label_names : NULL}},
                              {{"--encoder", o.encoder_dir}, {"--cache", fo->cache_dir}},
                              2, 3, 2};
    if (cli_check_outputs(&io) != CLI_OK) return CLI_USAGE;
    if (threads > 0) lector_set_n_threads((int)threads);
    cli_install_signal_handlers();
    struct cli_events ev = {o.unfreeze ? o.finetune.n_epochs : tp->n_epochs, (double)o.valid_fraction, 0.0, 0.0};
    o.on_event = cli_on_event;
    o.user = &ev;
    o.cancel = &cli_interrupted;

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report rep;
    enum lector_status s = lector_train(&o, &clf, &rep, &err);
    if (s == LECTOR_STATUS_INTERRUPTED || cli_interrupted) {
        lector_classifier_close(clf);
        lector_eval_report_free(&rep);
        cli_error("interrupted: %s was not written", out_path);
        return cli_interrupted_status();
    }
    if (s == LECTOR_STATUS_INVALID_ARG) return cli_usage("train", "%s", cli_option_advice(&err, train_advice));
    if (s != LECTOR_STATUS_OK) return cli_error("%s", cli_option_advice(&err, train_advice));
    int rc = CLI_OK;
    if (lector_classifier_save(clf, out_path, &err) != LECTOR_STATUS_OK) {
        rc = cli_lib_error(&err);
        goto out;
    }
    cli_info("saved %s (%lld labels, %lld training examples)", out_path, (long long)lector_classifier_n_labels(clf),
             (long long)lector_classifier_get_info(clf)->n_train);
    if (rep.n > 0 && !cli_quiet) {
        // The same figures 'lector eval' prints for this model on the validation set.
        cli_info("validation report:");
        cli_print_report(&rep.metrics, rep.labels, report_json, true);
    }
    if (html_report) {
        if (rep.n == 0) {
            rc = cli_error("%s: no validation set to report on (--valid-fraction 0)", html_report);
            goto out;
        }
        char title[1024];
        snprintf(title, sizeof title, "%s: validation set", out_path);
        rc = cli_report_write_eval(html_report, title, &rep);
    }
out:
    lector_eval_report_free(&rep);
    lector_classifier_close(clf);
    return rc;
}

// lector featurise: fill the feature cache with the pooled vectors of (a shard of) the texts
// of CSV files, so that a later 'lector train' or 'eval' with the same encoder settings reads
// them instead of running the encoder. Shards filled on several machines are merged with
// 'lector cache merge'.
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_data.h"
#include "lector/data.h"

static const char usage[] =
    "usage: lector featurise --encoder DIR [options] CSV...\n"
    "\n"
    "Encode the texts of the CSV files into the feature cache, as 'lector train' would with\n"
    "the same encoder options, without training. With --shard I/N only rows I, I+N, I+2N, ...\n"
    "(counted from 0) of each file are encoded, so N machines can share the work; merge their\n"
    "caches with 'lector cache merge OUT DIR...' and train with '--cache OUT'.\n"
    "\n"
    "  -e, --encoder DIR         encoder directory [$LECTOR_ENCODER]\n"
    "      --text-column NAME    column holding the text [text]\n"
    "  -p, --pooling P           cls, mean, max or pooler [mean]\n"
    "  -n, --max-len N           tokens per text including special tokens [128]\n"
    "      --stride N            window overlap for longer texts [32, or a quarter of a\n"
    "                            smaller window]\n"
    "      --max-windows N       read at most N windows of a long text; a text cut there is\n"
    "                            reported on stderr (0: no limit) [128]\n"
    "      --doc-pooling P       pool the windows' vectors by mean or max [mean]\n"
    "      --truncate            keep only the first --max-len tokens of a text instead\n"
    "      --shard I/N           only rows I, I+N, I+2N, ... of each file (0 <= I < N)\n"
    "      --cache DIR           feature cache directory\n"
    "                            [$XDG_CACHE_HOME/lector/features or ~/.cache/lector/features]\n"
    "      --cache-max-size SIZE as for 'lector train' [4G]\n"
    "  -t, --threads N           threads for the encoder's matrix products [all cores]\n"
    "      --progress            show a progress line on stderr\n"
    "      --verify-checksum     hash the encoder's files in full, not trusting the checksum\n"
    "                            cache (also LECTOR_VERIFY_CHECKSUM=1)\n"
    "  -q, --quiet               no information lines on stderr\n"
    "  -h, --help                this help\n";

// Encode the shard's rows of path that the cache lacks, and save them.
static int featurise_file(struct lector_featurizer *fz, const char *path, const char *text_col, int64_t shard_i,
                          int64_t shard_n) {
    struct lector_error err;
    struct lector_shard_counts k;
    const enum lector_status s = lector_featurize_shard(fz, path, text_col, shard_i, shard_n, &k, &err);
    if (s == LECTOR_STATUS_INTERRUPTED || cli_interrupted) return cli_interrupted_status();
    if (s != LECTOR_STATUS_OK) return cli_lib_error(&err);
    cli_info("%s: %lld texts in this shard, %lld cached before, encoded %lld (%lld windows) in %.1f s", path,
             (long long)k.rows, (long long)k.cached, (long long)k.encoded, (long long)k.windows, k.seconds);
    return CLI_OK;
}

int cmd_featurise(int argc, char **argv) {
    enum { O_TEXT = 256, O_STRIDE, O_DOCPOOL, O_TRUNCATE, O_SHARD, O_CACHE, O_CACHEMAX, O_PROGRESS };
    static const struct option opts[] = {{"encoder", required_argument, 0, 'e'},
                                         {"text-column", required_argument, 0, O_TEXT},
                                         {"pooling", required_argument, 0, 'p'},
                                         {"max-len", required_argument, 0, 'n'},
                                         {"stride", required_argument, 0, O_STRIDE},
                                         {"max-windows", required_argument, 0, 400},
                                         {"doc-pooling", required_argument, 0, O_DOCPOOL},
                                         {"truncate", no_argument, 0, O_TRUNCATE},
                                         {"shard", required_argument, 0, O_SHARD},
                                         {"cache", required_argument, 0, O_CACHE},
                                         {"cache-max-size", required_argument, 0, O_CACHEMAX},
                                         {"threads", required_argument, 0, 't'},
                                         {"progress", no_argument, 0, O_PROGRESS},
                                         {"verify-checksum", no_argument, 0, 'V'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *enc_opt = NULL, *text_col = "text", *cache_dir = NULL;
    char cache_buf[4096];
    int64_t max_len = 0, stride = -1, threads = 0, shard_i = 0, shard_n = 1, max_windows = CLI_MAX_WINDOWS;
    bool max_len_given = false, truncate_docs = false;
    enum lector_pooling pooling = LECTOR_POOLING_MEAN;
    enum lector_doc_pooling doc_pooling = LECTOR_DOC_MEAN;
    uint64_t cache_max_size = LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT;
    int opt;
    while ((opt = getopt_long(argc, argv, "e:p:n:t:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'e': enc_opt = optarg; break;
        case O_TEXT: text_col = optarg; break;
        case 'p': {
            int p = lector_pooling_parse(optarg);
            if (p < 0) return cli_usage("featurise", "--pooling must be cls, mean, max or pooler, got '%s'", optarg);
            pooling = (enum lector_pooling)p;
            break;
        }
        case 'n':
            if (!cli_parse_i64("featurise", "--max-len", optarg, 2, 1 << 20, &max_len)) return CLI_USAGE;
            max_len_given = true;
            break;
        case 400:
            if (!cli_parse_max_windows("featurise", optarg, &max_windows)) return CLI_USAGE;
            break;
        case O_STRIDE:
            if (!cli_parse_i64("featurise", "--stride", optarg, 0, 1 << 20, &stride)) return CLI_USAGE;
            break;
        case O_DOCPOOL: {
            int dp = lector_doc_pooling_parse(optarg);
            if (dp != LECTOR_DOC_MEAN && dp != LECTOR_DOC_MAX)
                return cli_usage("featurise", "--doc-pooling must be mean or max, got '%s'", optarg);
            doc_pooling = (enum lector_doc_pooling)dp;
            break;
        }
        case O_TRUNCATE: truncate_docs = true; break;
        case O_SHARD:
            if (!cli_parse_shard("featurise", optarg, &shard_i, &shard_n)) return CLI_USAGE;
            break;
        case O_CACHE: cache_dir = optarg; break;
        case O_CACHEMAX:
            if (!cli_parse_size("featurise", "--cache-max-size", optarg, &cache_max_size)) return CLI_USAGE;
            break;
        case 'V': lector_set_verify_checksum(1); break;
        case 't':
            if (!cli_parse_i64("featurise", "--threads", optarg, 1, 1024, &threads)) return CLI_USAGE;
            break;
        case O_PROGRESS: cli_progress = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return cli_unknown_option("featurise", argv[optind - 1], opts);
        }
    }
    const char *dir = cli_encoder_dir(enc_opt);
    if (!dir) return cli_usage("featurise", "--encoder DIR is required (or set LECTOR_ENCODER)");
    if (optind >= argc) return cli_usage("featurise", "expected at least one CSV file");
    if (!cache_dir) cache_dir = cli_default_cache_dir(cache_buf, sizeof cache_buf);
    if (!cache_dir) return cli_usage("featurise", "--cache DIR is required when neither XDG_CACHE_HOME nor HOME is set");
    if (threads > 0) lector_set_n_threads((int)threads);
    cli_install_signal_handlers();

    struct lector_featurizer_options fo;
    lector_featurizer_options_init(&fo);
    // The window settings make part of the cache key: resolved as 'lector train' does.
    fo.pooling = pooling;
    fo.max_len = max_len_given ? max_len : 0;
    fo.doc_pooling = truncate_docs ? LECTOR_DOC_TRUNCATE : doc_pooling;
    fo.stride = stride;
    fo.max_windows = max_windows;
    fo.cache_dir = cache_dir;
    fo.cache_max_size = cache_max_size;
    fo.on_event = cli_on_event;
    fo.cancel = &cli_interrupted;
    struct lector_featurizer *fz = NULL;
    struct lector_error err;
    enum lector_status s = lector_featurizer_open(dir, &fo, &fz, &err);
    if (s == LECTOR_STATUS_INVALID_ARG) return cli_usage("featurise", "%s", cli_option_advice(&err, cli_featurizer_options));
    if (s != LECTOR_STATUS_OK) return cli_lib_error(&err);
    int rc = CLI_OK;
    if (!lector_featurizer_cache(fz)) rc = cli_error("%s: the feature cache cannot be used, nothing to fill", cache_dir);
    for (int i = optind; rc == CLI_OK && i < argc; i++) rc = featurise_file(fz, argv[i], text_col, shard_i, shard_n);
    lector_featurizer_close(fz);
    return rc;
}

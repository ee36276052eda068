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
#include "cli/options.h"
#include "lector/data.h"

static const char featurise_intro[] =
    "usage: lector featurise --encoder DIR [options] CSV...\n"
    "\n"
    "Encode the texts of the CSV files into the feature cache, as 'lector train' would with\n"
    "the same encoder options, without training. With --shard I/N only rows I, I+N, I+2N, ...\n"
    "(counted from 0) of each file are encoded, so N machines can share the work; merge their\n"
    "caches with 'lector cache merge OUT DIR...' and train with '--cache OUT'.\n"
    "\n";

static const struct cli_opt featurise_opts[] = {
    CLI_SHARED(CLI_OPT_ENCODER),
    CLI_SHARED(CLI_OPT_TEXT_COLUMN),
    CLI_OWN("pooling", "P", 'p', "cls, mean, max or pooler [mean]"),
    CLI_OWN("max-len", "N", 'n', "tokens per text including special tokens [128]"),
    CLI_WINDOW_OPTS,
    CLI_SHARED_HELP(CLI_OPT_SHARD, "only rows I, I+N, I+2N, ... of each file (0 <= I < N)"),
    CLI_SHARED(CLI_OPT_CACHE),
    CLI_SHARED(CLI_OPT_CACHE_MAX_SIZE),
    CLI_SHARED(CLI_OPT_THREADS),
    CLI_SHARED(CLI_OPT_PROGRESS),
    CLI_SHARED(CLI_OPT_VERIFY_CHECKSUM),
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

static const struct cli_command featurise_command = {"featurise", featurise_intro, featurise_opts, 28, true, false,
                                                     false};

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
    char cache_buf[4096];
    int64_t max_len = 0;
    bool max_len_given = false;
    enum lector_pooling pooling = LECTOR_POOLING_MEAN;
    struct cli_common com;
    struct cli_args a;
    cli_args_init(&a, &featurise_command, argc, argv, &com);
    int c;
    while ((c = cli_args_next(&a)) > 0) {
        switch (c) {
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
        }
    }
    if (c < 0) return a.rc;
    const char *dir = cli_encoder_dir(com.encoder);
    if (!dir) return cli_usage("featurise", "--encoder DIR is required (or set LECTOR_ENCODER)");
    if (optind >= argc) return cli_usage("featurise", "expected at least one CSV file");
    const char *cache_dir = cli_common_cache_dir(&com, cache_buf, sizeof cache_buf);
    if (!cache_dir) return cli_usage("featurise", "--cache DIR is required when neither XDG_CACHE_HOME nor HOME is set");
    const char *text_col = com.text_column ? com.text_column : "text";
    cli_install_signal_handlers();

    struct lector_featurizer_options fo;
    lector_featurizer_options_init(&fo);
    // The window settings make part of the cache key: resolved as 'lector train' does.
    fo.pooling = pooling;
    fo.max_len = max_len_given ? max_len : 0;
    fo.doc_pooling = com.truncate ? LECTOR_DOC_TRUNCATE : com.doc_pooling;
    fo.stride = com.stride;
    fo.max_windows = com.max_windows;
    fo.cache_dir = cache_dir;
    fo.cache_max_size = com.cache_max_size;
    fo.on_event = cli_on_event;
    fo.cancel = &cli_interrupted;
    struct lector_featurizer *fz = NULL;
    struct lector_error err;
    enum lector_status s = lector_featurizer_open(dir, &fo, &fz, &err);
    if (s == LECTOR_STATUS_INVALID_ARG) return cli_usage("featurise", "%s", cli_option_advice(&err, cli_featurizer_options));
    if (s != LECTOR_STATUS_OK) return cli_lib_error(&err);
    int rc = CLI_OK;
    if (!lector_featurizer_cache(fz)) rc = cli_error("%s: the feature cache cannot be used, nothing to fill", cache_dir);
    for (int i = optind; rc == CLI_OK && i < argc; i++) rc = featurise_file(fz, argv[i], text_col, com.shard_i, com.shard_n);
    lector_featurizer_close(fz);
    return rc;
}

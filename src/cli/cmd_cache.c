// lector cache merge|check: feature cache files (docs/formats.md) on the command line.
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "lector/cache.h"

static const char cache_intro[] =
    "usage: lector cache merge OUT IN...\n"
    "       lector cache check IN...\n"
    "\n"
    "merge: add every record of the IN caches that passes its checksum to the cache of the\n"
    "same key in the directory OUT (created if needed), e.g. caches filled on several\n"
    "machines with 'lector featurise --shard I/N'; 'lector train --cache OUT' then reads them\n"
    "instead of running the encoder. check: verify every record and print, per file, its\n"
    "records, the damaged ones and its key.\n"
    "IN is a cache file or a directory (its *.lfc files). Damaged records are dropped with a\n"
    "warning; a file that is not a feature cache is an error and nothing is written. merge\n"
    "does not apply a size cap (the next 'lector train' does).\n"
    "\n";

static const struct cli_opt cache_opts[] = {
    CLI_SHARED(CLI_OPT_QUIET),
    CLI_SHARED(CLI_OPT_HELP),
    CLI_END,
};

// Options end at the subcommand, and are taken again after it.
static const struct cli_command cache_command = {"cache", cache_intro, cache_opts, 28, true, false, true};

// ---- inputs ---------------------------------------------------------------------------

struct inputs {
    char **paths;
    size_t n, cap;
};

static bool push(struct inputs *in, char *path) {
    if (!path) return false;
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 16;
        char **p = realloc(in->paths, cap * sizeof *p);
        if (!p) {
            free(path);
            return false;
        }
        in->paths = p;
        in->cap = cap;
    }
    in->paths[in->n++] = path;
    return true;
}

static int is_lfc(const struct dirent *de) {
    size_t n = strlen(de->d_name);
    return n > 4 && !strcmp(de->d_name + n - 4, ".lfc");
}

// arg itself, or the *.lfc files of the directory arg in name order.
static int add_inputs(struct inputs *in, const char *arg) {
    struct stat st;
    if (stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (!push(in, strdup(arg))) return cli_error("out of memory");
        return CLI_OK;
    }
    struct dirent **list = NULL;
    int n = scandir(arg, &list, is_lfc, alphasort);
    if (n < 0) return cli_error("%s: cannot list the directory", arg);
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        char *p = NULL;
        if (rc == CLI_OK && (asprintf(&p, "%s/%s", arg, list[i]->d_name) < 0 || !push(in, p)))
            rc = cli_error("out of memory");
        free(list[i]);
    }
    free(list);
    if (rc == CLI_OK && n == 0) cli_warn("%s: no .lfc files in this directory", arg);
    return rc;
}

static void inputs_free(struct inputs *in) {
    for (size_t i = 0; i < in->n; i++) free(in->paths[i]);
    free(in->paths);
}

// Open one input, verifying every record; damaged records are a warning.
static int open_input(const char *path, struct lector_feature_cache **out) {
    struct lector_error err;
    if (lector_feature_cache_open_file(path, out, &err) != LECTOR_STATUS_OK) return cli_lib_error(&err);
    const char *note = lector_feature_cache_note(*out);
    if (note) cli_warn("%s", note);
    return CLI_OK;
}

// ---- commands -------------------------------------------------------------------------

static int check(const struct inputs *in) {
    int rc = CLI_OK;
    for (size_t i = 0; i < in->n; i++) {
        struct lector_feature_cache *c = NULL;
        if (open_input(in->paths[i], &c) != CLI_OK) {
            rc = CLI_ERROR;
            continue;
        }
        cli_outf("%s\t%lld records\t%lld damaged\t%lld dims\t%s\n", in->paths[i],
                 (long long)lector_feature_cache_n_records(c), (long long)lector_feature_cache_n_discarded(c),
                 (long long)lector_feature_cache_n_dims(c), lector_feature_cache_key(c));
        if (lector_feature_cache_n_discarded(c)) rc = CLI_ERROR;
        lector_feature_cache_close(c);
    }
    return rc;
}

static int merge(const char *out_dir, const struct inputs *in) {
    struct lector_error err;
    struct lector_feature_cache **dst = calloc(in->n ? in->n : 1, sizeof *dst);
    size_t n_dst = 0;
    int rc = dst ? CLI_OK : cli_error("out of memory");
    for (size_t i = 0; rc == CLI_OK && i < in->n; i++) {
        struct lector_feature_cache *src = NULL;
        rc = open_input(in->paths[i], &src);
        if (rc != CLI_OK) break;
        // The output cache of this key: one per key, opened on first use.
        const char *key = lector_feature_cache_key(src);
        size_t j = 0;
        while (j < n_dst && strcmp(lector_feature_cache_key(dst[j]), key)) j++;
        if (j == n_dst) {
            if (lector_feature_cache_open(out_dir, key, lector_feature_cache_n_dims(src), &dst[j], &err) !=
                LECTOR_STATUS_OK) {
                lector_feature_cache_close(src);
                rc = cli_lib_error(&err);
                break;
            }
            n_dst++;
            lector_feature_cache_set_max_size(dst[j], 0);
            const char *note = lector_feature_cache_note(dst[j]);
            if (note) cli_warn("%s", note);
        }
        int64_t n_added = 0;
        if (lector_feature_cache_merge(dst[j], src, &n_added, &err) != LECTOR_STATUS_OK)
            rc = cli_lib_error(&err);
        else
            cli_info("%s: %lld records, %lld new", in->paths[i], (long long)lector_feature_cache_n_records(src),
                     (long long)n_added);
        lector_feature_cache_close(src);
    }
    for (size_t j = 0; j < n_dst; j++) {
        if (rc == CLI_OK) {
            if (lector_feature_cache_save(dst[j], &err) != LECTOR_STATUS_OK)
                rc = cli_lib_error(&err);
            else
                cli_info("%s: %lld records", lector_feature_cache_path(dst[j]),
                         (long long)lector_feature_cache_n_records(dst[j]));
        }
        lector_feature_cache_close(dst[j]);
    }
    free(dst);
    return rc;
}

int cmd_cache(int argc, char **argv) {
    struct cli_common com;
    struct cli_args a;
    cli_args_init(&a, &cache_command, argc, argv, &com);
    if (cli_args_next(&a) < 0) return a.rc;
    if (optind >= argc) return cli_usage("cache", "expected 'merge' or 'check'");
    const char *sub = argv[optind++];
    bool is_merge = !strcmp(sub, "merge");
    if (!is_merge && strcmp(sub, "check")) return cli_usage("cache", "unknown subcommand '%s' (merge or check)", sub);
    // Options may follow the subcommand too.
    if (cli_args_next(&a) < 0) return a.rc;
    if (argc - optind < (is_merge ? 2 : 1))
        return cli_usage("cache", is_merge ? "merge expects OUT and at least one IN" : "check expects IN...");
    const char *out_dir = is_merge ? argv[optind++] : NULL;
    struct inputs in = {0};
    int rc = CLI_OK;
    for (int i = optind; rc == CLI_OK && i < argc; i++) rc = add_inputs(&in, argv[i]);
    if (rc == CLI_OK) rc = is_merge ? merge(out_dir, &in) : check(&in);
    inputs_free(&in);
    return rc;
}

// The options the commands share, each defined once (name, value, help text, validation,
// messages), the parse of a command line into them and the command's own options, and the
// --help text built from the same tables. See options.h.
#define _GNU_SOURCE
#include "cli/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "cli/cli_data.h"
#include "lector/cache.h"

// getopt's value for a shared option without a short letter: above every command's own codes.
#define SHARED_VAL_BASE 0x4000

struct shared_def {
    const char *name;
    char letter; // the short option, 0: none
    const char *arg;
    const char *help;
};

// Indexed by enum cli_shared_opt.
static const struct shared_def shared[CLI_OPT_N_SHARED] = {
    [CLI_OPT_ENCODER] = {"encoder", 'e', "DIR", "encoder directory [$LECTOR_ENCODER]"},
    [CLI_OPT_TEXT_COLUMN] = {"text-column", 0, "NAME", "column holding the text [text]"},
    [CLI_OPT_LABEL_COLUMN] = {"label-column", 0, "NAME", "column holding the label [label]"},
    [CLI_OPT_LABEL_NAMES] = {"label-names", 0, "FILE",
                             "names of integer labels, line k naming label k [labels.txt\n"
                             "beside the CSV file; none: keep the integers]"},
    [CLI_OPT_STRIDE] = {"stride", 0, "N",
                        "texts longer than --max-len are split into windows that\n"
                        "overlap by N tokens [a quarter of the window's text tokens,\n"
                        "at most 32: 31 at --max-len 128 with 2 special tokens]"},
    [CLI_OPT_MAX_WINDOWS] = {"max-windows", 0, "N",
                             "read at most N windows of a long text; a text cut there is\n"
                             "reported on stderr (0: no limit) [128]"},
    [CLI_OPT_DOC_POOLING] = {"doc-pooling", 0, "P", "pool the windows' vectors by mean or max [mean]"},
    [CLI_OPT_TRUNCATE] = {"truncate", 0, NULL, "keep only the first --max-len tokens of a text instead"},
    [CLI_OPT_CACHE] = {"cache", 0, "DIR",
                       "feature cache: pooled vectors are reused across runs\n"
                       "[$XDG_CACHE_HOME/lector/features or ~/.cache/lector/features]"},
    [CLI_OPT_NO_CACHE] = {"no-cache", 0, NULL, "neither read nor write the feature cache"},
    [CLI_OPT_CACHE_MAX_SIZE] = {"cache-max-size", 0, "SIZE",
                                "bytes of all files in the cache directory (K, M, G suffixes;\n"
                                "0: no cap); least recently used files go first [4G]"},
    [CLI_OPT_SHARD] = {"shard", 0, "I/N", "handle only items I, I+N, I+2N, ... (0 <= I < N, counted from 0)"},
    [CLI_OPT_STRICT] = {"strict", 0, NULL, "stop at the first bad input instead of reporting it and going on"},
    [CLI_OPT_THREADS] = {"threads", 't', "N", "threads for the matrix products [all cores]"},
    [CLI_OPT_PRECISION] = {"precision", 0, "P",
                           "fp32, bf16 or int8: arithmetic of the encoder's matrix products;\n"
                           "bf16 needs a CPU with AVX-512 BF16, int8 one with AVX2;\n"
                           "both change the outputs slightly [fp32]"},
    [CLI_OPT_PROGRESS] = {"progress", 0, NULL, "show progress on stderr"},
    [CLI_OPT_VERIFY_CHECKSUM] = {"verify-checksum", 0, NULL,
                                 "hash the encoder's files in full, not trusting the checksum\n"
                                 "cache (also LECTOR_VERIFY_CHECKSUM=1)"},
    [CLI_OPT_QUIET] = {"quiet", 'q', NULL, "print only errors on stderr"},
    [CLI_OPT_HELP] = {"help", 'h', NULL, "show this help"},
};

// --progress where progress is shown on a terminal anyway.
static const char progress_on_tty_help[] = "show progress on stderr even when it is not a terminal";

static int shared_val(int id) { return shared[id].letter ? shared[id].letter : SHARED_VAL_BASE + id; }

// ---------------------------------------------------------------------------------------
// --help

// "  -e, --encoder DIR" (or "      --train FILE"), the description from column on (on the
// next line when the name reaches it), each further line of help indented to column.
static void print_option(int column, char letter, const char *name, const char *arg, const char *help) {
    char left[128];
    int n = snprintf(left, sizeof left, "  %c%c%c --%s%s%s", letter ? '-' : ' ', letter ? letter : ' ',
                     letter ? ',' : ' ', name, arg ? " " : "", arg ? arg : "");
    fputs(left, stdout);
    if (n + 1 > column) {
        fputc('\n', stdout);
        n = 0;
    }
    for (const char *line = help; line;) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        printf("%*s%.*s\n", column - n, "", len, line);
        n = 0;
        line = nl ? nl + 1 : NULL;
    }
}

void cli_help_print(const struct cli_command *cmd) {
    fputs(cmd->intro, stdout);
    for (const struct cli_opt *o = cmd->opts; o->name || o->help || o->shared; o++) {
        if (o->shared) {
            const struct shared_def *d = &shared[o->shared];
            const char *help = o->help ? o->help
                               : o->shared == CLI_OPT_PROGRESS && cmd->progress_on_tty ? progress_on_tty_help
                                                                                        : d->help;
            print_option(cmd->column, d->letter, d->name, d->arg, help);
        } else if (o->name) {
            print_option(cmd->column, o->val < 128 ? (char)o->val : 0, o->name, o->arg, o->help);
        } else {
            fputs(o->help, stdout);
        }
    }
}

// ---------------------------------------------------------------------------------------
// parsing

void cli_args_init(struct cli_args *a, const struct cli_command *cmd, int argc, char **argv,
                   struct cli_common *com) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->com = com;
    *com = (struct cli_common){.stride = -1,
                               .max_windows = CLI_MAX_WINDOWS,
                               .doc_pooling = LECTOR_DOC_MEAN,
                               .cache_max_size = LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT,
                               .shard_n = 1,
                               .precision = LECTOR_PRECISION_FP32};
    cli_progress = cmd->progress_on_tty && isatty(2);
    // The getopt tables: a leading ':' makes a missing value its own case.
    size_t n = 0, k = 0;
    if (cmd->stop_at_operand) a->shorts[k++] = '+';
    a->shorts[k++] = ':';
    for (const struct cli_opt *o = cmd->opts; o->name || o->help || o->shared; o++) {
        if (!o->name && !o->shared) continue; // a line of text
        LECTOR_ASSERT(n < CLI_OPTS_MAX);
        const char *name = o->shared ? shared[o->shared].name : o->name;
        const bool has_arg = (o->shared ? shared[o->shared].arg : o->arg) != NULL;
        const int val = o->shared ? shared_val(o->shared) : o->val;
        a->longs[n++] = (struct option){name, has_arg ? required_argument : no_argument, NULL, val};
        if (val < 128) {
            a->shorts[k++] = (char)val;
            if (has_arg) a->shorts[k++] = ':';
        }
    }
    a->longs[n] = (struct option){NULL, 0, NULL, 0};
    a->shorts[k] = '\0';
    optind = 1;
    opterr = 0;
}

// The shared option getopt returned as c, or 0 when c is the command's own.
static int shared_of(const struct cli_args *a, int c) {
    for (const struct cli_opt *o = a->cmd->opts; o->name || o->help || o->shared; o++)
        if (o->shared && shared_val(o->shared) == c) return o->shared;
    return 0;
}

// Parse the value of shared option id into a->com; false (a->rc set) when the command ends.
static bool parse_shared(struct cli_args *a, int id, char *v) {
    const char *cmd = a->cmd->name;
    struct cli_common *com = a->com;
    bool ok = true;
    switch ((enum cli_shared_opt)id) {
    case CLI_OPT_ENCODER: com->encoder = v; break;
    case CLI_OPT_TEXT_COLUMN: com->text_column = v; break;
    case CLI_OPT_LABEL_COLUMN: com->label_column = v; break;
    case CLI_OPT_LABEL_NAMES:
        if (!*v) {
            cli_usage(cmd, "--label-names needs a file (or none to keep integer labels)");
            ok = false;
        }
        com->label_names = strcmp(v, "none") ? v : "";
        break;
    case CLI_OPT_STRIDE: ok = cli_parse_i64(cmd, "--stride", v, 0, 1 << 20, &com->stride); break;
    case CLI_OPT_MAX_WINDOWS: ok = cli_parse_i64(cmd, "--max-windows", v, 0, INT32_MAX, &com->max_windows); break;
    case CLI_OPT_DOC_POOLING: {
        int d = lector_doc_pooling_parse(v);
        if (d != LECTOR_DOC_MEAN && d != LECTOR_DOC_MAX) {
            cli_usage(cmd, "--doc-pooling must be mean or max, got '%s'", v);
            ok = false;
            break;
        }
        com->doc_pooling = (enum lector_doc_pooling)d;
        com->doc_pooling_given = true;
        break;
    }
    case CLI_OPT_TRUNCATE: com->truncate = true; break;
    case CLI_OPT_CACHE: com->cache_dir = v; break;
    case CLI_OPT_NO_CACHE: com->no_cache = true; break;
    case CLI_OPT_CACHE_MAX_SIZE: ok = cli_parse_size(cmd, "--cache-max-size", v, &com->cache_max_size); break;
    case CLI_OPT_SHARD: ok = cli_parse_shard(cmd, v, &com->shard_i, &com->shard_n); break;
    case CLI_OPT_STRICT: com->strict = true; break;
    case CLI_OPT_THREADS: ok = cli_parse_i64(cmd, "--threads", v, 1, 1024, &com->threads); break;
    case CLI_OPT_PRECISION: ok = cli_parse_precision(cmd, v, &com->precision); break;
    case CLI_OPT_PROGRESS: cli_progress = true; break;
    case CLI_OPT_VERIFY_CHECKSUM: lector_set_verify_checksum(1); break;
    case CLI_OPT_QUIET: cli_quiet = true; break;
    case CLI_OPT_HELP:
        cli_help_print(a->cmd);
        a->rc = CLI_OK;
        return false;
    case CLI_OPT_N_SHARED: break;
    }
    if (!ok) a->rc = CLI_USAGE;
    return ok;
}

int cli_args_next(struct cli_args *a) {
    const char *cmd = a->cmd->name;
    for (;;) {
        int c = getopt_long(a->argc, a->argv, a->shorts, a->longs, NULL);
        if (c == -1) break;
        if (c == ':') {
            a->rc = cli_usage(cmd, "option '%s' needs a value", a->argv[optind - 1]);
            return -1;
        }
        if (c == '?') {
            a->rc = cli_unknown_option(cmd, a->argv[optind - 1], a->longs);
            return -1;
        }
        int id = shared_of(a, c);
        if (!id) return c;
        if (!parse_shared(a, id, optarg)) return -1;
    }
    if (!a->cmd->operands && optind < a->argc) {
        a->rc = cli_usage(cmd, "unexpected argument '%s'", a->argv[optind]);
        return -1;
    }
    if (a->com->threads > 0) lector_set_n_threads((int)a->com->threads);
    return 0;
}

const char *cli_common_cache_dir(const struct cli_common *com, char *buf, size_t cap) {
    if (com->no_cache) return NULL;
    if (com->cache_dir) return com->cache_dir;
    return cli_default_cache_dir(buf, cap);
}

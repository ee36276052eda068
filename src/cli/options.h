/*
 * The command line's options, each defined once. A command describes itself with a struct
 * cli_command: the text before and after its option list, and its options in the order its
 * --help lists them, each either its own (CLI_OWN: name, value, help text; the command's
 * switch handles it) or one the commands share (CLI_SHARED: threads, precision, quiet,
 * progress, verify-checksum, help, the encoder, the feature cache, the windows of long
 * texts, ...), whose name, value, help text, validation and messages live in options.c
 * alone. cli_args_next parses the shared ones into a struct cli_common and hands the
 * command its own ones, so a shared option is validated and worded the same in every
 * command that takes it.
 *
 *     struct cli_common com;
 *     struct cli_args a;
 *     cli_args_init(&a, &train_command, argc, argv, &com);
 *     int c;
 *     while ((c = cli_args_next(&a)) > 0) {
 *         switch (c) {
 *         case O_OUTPUT: out = optarg; break;   // the command's own options
 *         }
 *     }
 *     if (c < 0) return a.rc;   // --help printed (0) or a usage error (2)
 */
#ifndef LECTOR_CLI_OPTIONS_H
#define LECTOR_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "lector/embed.h"

/* The shared options (options.c defines each). */
enum cli_shared_opt {
    CLI_OPT_ENCODER = 1,     /* -e, --encoder DIR */
    CLI_OPT_TEXT_COLUMN,     /* --text-column NAME */
    CLI_OPT_LABEL_COLUMN,    /* --label-column NAME */
    CLI_OPT_LABEL_NAMES,     /* --label-names FILE|none */
    CLI_OPT_STRIDE,          /* --stride N */
    CLI_OPT_MAX_WINDOWS,     /* --max-windows N */
    CLI_OPT_DOC_POOLING,     /* --doc-pooling mean|max */
    CLI_OPT_TRUNCATE,        /* --truncate */
    CLI_OPT_CACHE,           /* --cache DIR */
    CLI_OPT_NO_CACHE,        /* --no-cache */
    CLI_OPT_CACHE_MAX_SIZE,  /* --cache-max-size SIZE */
    CLI_OPT_SHARD,           /* --shard I/N */
    CLI_OPT_STRICT,          /* --strict */
    CLI_OPT_THREADS,         /* -t, --threads N */
    CLI_OPT_PRECISION,       /* --precision fp32|bf16|int8 */
    CLI_OPT_PROGRESS,        /* --progress */
    CLI_OPT_VERIFY_CHECKSUM, /* --verify-checksum */
    CLI_OPT_QUIET,           /* -q, --quiet */
    CLI_OPT_HELP,            /* -h, --help */
    CLI_OPT_N_SHARED
};

/* One line of a command's option list. */
struct cli_opt {
    const char *name; /* own option: the long name without "--"; NULL for the others */
    const char *arg;  /* own option: the value's name in the help ("N"), NULL: takes none */
    int val;          /* own option: what cli_args_next returns for it; a letter is also
                         the short option (-x), long-only options use codes >= 256 */
    const char *help; /* lines separated by '\n'; a shared option: NULL for its own text,
                         else this command's wording of what it means here; CLI_TEXT: a
                         line printed as it is */
    int shared;       /* enum cli_shared_opt, 0: not a shared option */
};
#define CLI_OWN(name, arg, val, help) {name, arg, val, help, 0}
#define CLI_SHARED(id) {NULL, NULL, 0, NULL, id}
#define CLI_SHARED_HELP(id, help) {NULL, NULL, 0, help, id}
#define CLI_TEXT(text) {NULL, NULL, 0, text, 0}
#define CLI_END {NULL, NULL, 0, NULL, 0}
/* The four options of long texts' windows, in the order the commands that split texts
 * (embed, featurise, train) list them. */
#define CLI_WINDOW_OPTS                                                                      \
    CLI_SHARED(CLI_OPT_STRIDE), CLI_SHARED(CLI_OPT_MAX_WINDOWS), CLI_SHARED(CLI_OPT_DOC_POOLING), \
        CLI_SHARED(CLI_OPT_TRUNCATE)

/* The most options one command takes. */
#define CLI_OPTS_MAX 96

struct cli_command {
    const char *name;           /* "train": for messages ("try 'lector train --help'") */
    const char *intro;          /* --help: the usage lines and description before the options */
    const struct cli_opt *opts; /* in --help order, ended by CLI_END */
    int column;                 /* --help: the column where the descriptions start */
    bool operands;              /* takes arguments after the options (files, a subcommand) */
    bool progress_on_tty;       /* progress is shown by default when stderr is a terminal */
    bool stop_at_operand;       /* options end at the first operand (a subcommand) */
};

/* The values of the shared options (each as given, or its default). */
struct cli_common {
    const char *encoder;                 /* --encoder, NULL: not given */
    const char *text_column;             /* NULL: not given */
    const char *label_column;            /* NULL: not given */
    const char *label_names;             /* NULL: not given, "": none */
    int64_t stride;                      /* -1: not given */
    int64_t max_windows;                 /* [CLI_MAX_WINDOWS] */
    enum lector_doc_pooling doc_pooling; /* mean or max [mean] */
    bool doc_pooling_given;
    bool truncate;
    const char *cache_dir; /* NULL: not given */
    bool no_cache;
    uint64_t cache_max_size;  /* [LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT] */
    int64_t shard_i, shard_n; /* [0/1] */
    bool strict;
    int64_t threads; /* 0: not given (all cores) */
    enum lector_precision precision;
};

/* The parse of one command line. */
struct cli_args {
    const struct cli_command *cmd;
    int argc;
    char **argv;
    struct cli_common *com;
    int rc; /* the exit status once cli_args_next returned -1 */
    struct option longs[CLI_OPTS_MAX + 1];
    char shorts[2 * CLI_OPTS_MAX + 3];
};

/* Start parsing argv (argv[0] is the command's name): com gets the defaults, --progress its
 * default for the command (stderr a terminal, or off). */
void cli_args_init(struct cli_args *a, const struct cli_command *cmd, int argc, char **argv,
                   struct cli_common *com);
/* The next of the command's own options (its val, with optarg its value), every shared one
 * before it parsed into *a->com; 0 when the options end (operands from optind; --threads
 * is then in effect); -1 when the command is to end with status a->rc: after --help
 * (CLI_OK) or a usage error, printed (CLI_USAGE). */
int cli_args_next(struct cli_args *a);
/* The command's --help on stdout. */
void cli_help_print(const struct cli_command *cmd);

/* The feature cache folder: NULL with --no-cache, else --cache, else the default one (in
 * buf; NULL when neither XDG_CACHE_HOME nor HOME is set). */
const char *cli_common_cache_dir(const struct cli_common *com, char *buf, size_t cap);

#endif

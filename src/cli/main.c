// lector command line: dispatch to the subcommands; the work is done by the library.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lector/base.h"

static const char usage_text[] =
    "usage: lector <command> [options]\n"
    "\n"
    "Text classification with a frozen BERT-style encoder and a small trained head.\n"
    "\n"
    "commands:\n"
    "  tokenize   print token ids and tokens of each stdin line (JSON lines)\n"
    "  embed      print the pooled encoder vector of each stdin line (JSON lines)\n"
    "  train      train a classifier head on a CSV file and save the model\n"
    "  classify   label files, or each stdin line, with a trained model\n"
    "  eval       accuracy, macro-F1, per-class scores and confusion matrix on a CSV file\n"
    "  info       describe an encoder directory or a model file\n"
    "  featurise  fill the feature cache for (a shard of) CSV files, for a later train\n"
    "  cache      merge feature caches made on several machines, or check them\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help (lector COMMAND --help for a command's options)\n"
    "  -V, --version  print the version\n"
    "\n"
    "environment:\n"
    "  LECTOR_ENCODER  encoder directory used when --encoder is not given\n"
    "\n"
    "exit status: 0 ok, 1 data or runtime error, 2 usage error, 130 interrupted (SIGINT),\n"
    "143 terminated (SIGTERM)\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("lector %s\n", lector_version());
        return CLI_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"tokenize", cmd_tokenize}, {"embed", cmd_embed},       {"train", cmd_train},
                    {"classify", cmd_classify}, {"eval", cmd_eval},
                    {"info", cmd_info},         {"featurise", cmd_featurise},
                    {"featurize", cmd_featurise}, {"cache", cmd_cache}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    return cli_usage(NULL, "unknown command '%s'", cmd);
}

/*
 * Shared pieces of the lector command line: error reporting, option value parsing, a line
 * reader over a file descriptor, and output helpers. Exit codes: 0 ok, 1 data or runtime
 * error, 2 usage, 130 interrupted.
 */
#ifndef LECTOR_CLI_H
#define LECTOR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lector/base.h"
#include "lector/encoder.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 /* SIGTERM gives 143 */ };

/* "lector: error: <msg>" on stderr; returns CLI_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A library error: "lector: error: <err->msg>"; returns CLI_ERROR. */
int cli_lib_error(const struct lector_error *err);
/* "lector: error: <msg>" + "try 'lector CMD --help'"; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An unknown option: the usage error, with "did you mean --NAME?" when one of opts is a
 * close spelling of it; returns CLI_USAGE. */
struct option;
int cli_unknown_option(const char *cmd, const char *arg, const struct option *opts);
/* --max-len against the encoder's n_pos positions (n_pos <= 0: unknown): above them, a usage
 * error when the option was given (false), else cut to n_pos; the result in *out. */
bool cli_resolve_max_len(const char *cmd, int64_t requested, bool given, int64_t n_pos,
                         int64_t *out);

/* Parse option values; on failure print a usage error and return false. */
bool cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                   int64_t *out);
bool cli_parse_f32(const char *cmd, const char *opt, const char *s, double lo, double hi,
                   float *out);
/* A byte count: digits with an optional K, M, G or T suffix (powers of 1024). */
bool cli_parse_size(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* --shard I/N: 0 <= I < N (the string is modified). */
bool cli_parse_shard(const char *cmd, char *s, int64_t *i, int64_t *n);
bool cli_parse_precision(const char *cmd, const char *s, enum lector_precision *out);

/* A library field (as in "max_len: ..." messages) and the option that sets it. */
struct cli_option_name {
    const char *field, *option;
};
/* err->msg without a leading "field: " and with the option that sets the field after it
 * ("... (--max-len)"); the message as it is when no entry of names (ended by a NULL field)
 * matches. The result lives until the next call. */
const char *cli_option_advice(const struct lector_error *err, const struct cli_option_name *names);

/* The encoder directory: --encoder value, else $LECTOR_ENCODER, else NULL. */
const char *cli_encoder_dir(const char *opt_value);

/* The vocab/ folder of standard vocabularies ($LECTOR_VOCAB_DIR, else the installed prefix
 * beside the executable, else the configured install and source locations), or NULL; tried
 * (may be NULL) gets the places looked at. */
const char *cli_vocab_root(char *tried, size_t n_tried);
/* --vocab NAME|DIR -> a tokenizer directory in out; CLI_OK, else the exit status after
 * printing the error. */
int cli_vocab_resolve(const char *cmd, const char *value, char *out, size_t n);
/* True when every vocabulary file of some vocab/NAME is in dir byte for byte; NAME in name. */
bool cli_vocab_match(const char *dir, char *name, size_t n);

/* Progress/log settings shared by all commands. */
extern bool cli_quiet;
extern bool cli_progress;
/* Set by SIGINT/SIGTERM (the signal number), polled by long-running commands. */
extern volatile int cli_interrupted;
/* The exit status for an interruption: 128 + the signal (130 for SIGINT, 143 for SIGTERM). */
int cli_interrupted_status(void);
void cli_install_signal_handlers(void);
/* Progress line on stderr (\r-terminated on a terminal) when enabled. */
void cli_progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_progress_done(void);
/* Informational line on stderr unless --quiet. */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Line reader over a file descriptor: lines without their "\n" or "\r\n", a UTF-8 BOM at the
 * very start dropped, a last line without a newline still returned. Lines may hold NUL bytes
 * (len tells the length). Lines longer than max_line bytes are an error.
 */
struct cli_lines {
    int fd;
    const char *name; /* for messages: "stdin" unless set after init */
    char *buf;
    size_t cap, start, end;
    bool eof;
    bool first;
    int64_t line_no; /* 1-based number of the last line returned */
    size_t max_line;
};
void cli_lines_init(struct cli_lines *r, int fd);
void cli_lines_free(struct cli_lines *r);
/* 1 = a line in *line and *len (valid until the next call), 0 = end of input, -1 = error
 * (message printed). */
int cli_lines_next(struct cli_lines *r, char **line, size_t *len);
/* True when a complete line is already buffered or the fd has data ready right now: a
 * streaming command keeps filling its batch only while this holds. */
bool cli_lines_ready(struct cli_lines *r);

/* Write to stdout; on EPIPE exit quietly with status 0 (the reader went away). */
void cli_out(const char *data, size_t n);
void cli_outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_flush(void);

/* Print a float array as a JSON list with %.9g. */
void cli_out_floats(const float *v, int64_t n);

/*
 * The files a command writes and reads, checked by cli_check_outputs before anything is read
 * or written. An output that exists must be a regular file (a symbolic link, FIFO, device,
 * directory or socket there is refused: lector replaces only regular files and never writes
 * through a link); an output may not be the same file (device and inode, links followed on
 * the input side) as any input file, as any file under an input folder (the encoder, the
 * feature cache) or as another output. NULL paths are skipped. Each refusal is one line on
 * stderr naming both options and paths; the return value is then CLI_USAGE, else CLI_OK.
 */
#define CLI_IO_MAX 8
struct cli_io_path {
    const char *opt;  /* the option, for messages: "--output" */
    const char *path; /* NULL: not given */
};
struct cli_io {
    const char *cmd;
    struct cli_io_path out[CLI_IO_MAX], in[CLI_IO_MAX], dir[CLI_IO_MAX];
    int n_out, n_in, n_dir;
};
int cli_check_outputs(const struct cli_io *io);

/* Commands. */
int cmd_tokenize(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_featurise(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif

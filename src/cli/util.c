// Command-line helpers: errors, option values, the line reader, stdout handling.
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_impl.h"

bool cli_quiet = false;
bool cli_progress = false;
volatile int cli_interrupted = 0;
static bool progress_open = false;

// One message on stderr: prefix, the formatted text with every control character (a file name
// holding ESC or a newline, a label from a hostile model) written as \xNN, so a message is
// always one line and never drives the terminal.
__attribute__((format(printf, 2, 0))) static void emit(const char *prefix, const char *fmt, va_list ap) {
    char small[1024], esc[4 * sizeof small + 8];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    char *text = small, *out = esc;
    size_t cap = sizeof esc;
    if (n >= (int)sizeof small) {
        text = malloc((size_t)n + 1);
        out = malloc(4 * (size_t)n + 8);
        cap = 4 * (size_t)n + 8;
        if (!text || !out) {
            free(text);
            free(out);
            text = small, out = esc, cap = sizeof esc;
        } else {
            vsnprintf(text, (size_t)n + 1, fmt, ap);
        }
    }
    fputs(prefix, stderr);
    fputs(n < 0 ? fmt : lector__escape(text, out, cap), stderr);
    if (text != small) free(text);
    if (out != esc) free(out);
}

int cli_error(const char *fmt, ...) {
    cli_progress_done();
    va_list ap;
    va_start(ap, fmt);
    emit("lector: error: ", fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_lib_error(const struct lector_error *err) {
    return cli_error("%s", err->msg[0] ? err->msg : lector_status_str(err->code));
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    cli_progress_done();
    va_list ap;
    va_start(ap, fmt);
    emit("lector: error: ", fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\ntry 'lector %s --help'\n", cmd);
    else
        fputs("\ntry 'lector --help'\n", stderr);
    return CLI_USAGE;
}

// Edit distance between a and b (at most 64 bytes each are compared).
static size_t edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 64) n = 64;
    if (m > 64) m = 64;
    size_t row[65];
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

int cli_unknown_option(const char *cmd, const char *arg, const struct option *opts) {
    // The option's name without dashes and without "=value".
    const char *name = arg;
    while (*name == '-') name++;
    char key[65];
    size_t k = strcspn(name, "=");
    if (k > 64) k = 64;
    memcpy(key, name, k);
    key[k] = '\0';
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const struct option *o = opts; o && o->name; o++) {
        size_t d = edit_distance(key, o->name);
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    // The option itself (getopt without a leading ':' reports a missing value this way).
    if (best && best_d == 0) return cli_usage(cmd, "option '%s' needs a value", arg);
    // Close enough: at most 2 edits, and fewer than half the name's length.
    if (best && k > 1 && best_d <= 2 && best_d * 2 < strlen(best))
        return cli_usage(cmd, "unknown option '%s'; did you mean --%s?", arg, best);
    return cli_usage(cmd, "unknown option '%s'", arg);
}

void cli_warn(const char *fmt, ...) {
    cli_progress_done();
    va_list ap;
    va_start(ap, fmt);
    emit("lector: warning: ", fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_info(const char *fmt, ...) {
    if (cli_quiet) return;
    cli_progress_done();
    va_list ap;
    va_start(ap, fmt);
    emit("lector: ", fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_progress_line(const char *fmt, ...) {
    if (cli_quiet || !cli_progress) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("\rlector: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\033[K", stderr);
    va_end(ap);
    fflush(stderr);
    progress_open = true;
}

void cli_progress_done(void) {
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = false;
    }
}

bool cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                   int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE) {
        cli_usage(cmd, "%s expects an integer, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_usage(cmd, "%s must be between %lld and %lld, got %lld", opt, (long long)lo,
                  (long long)hi, v);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_shard(const char *cmd, char *s, int64_t *i, int64_t *n) {
    char *slash = strchr(s, '/');
    if (!slash) {
        cli_usage(cmd, "--shard expects I/N, got '%s'", s);
        return false;
    }
    *slash = '\0';
    return cli_parse_i64(cmd, "--shard N", slash + 1, 1, INT32_MAX, n) &&
           cli_parse_i64(cmd, "--shard I", s, 0, *n - 1, i);
}

bool cli_parse_size(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
    int shift = u ? 10 * (int)(u - units + 1) : 0;
    if (!*s || *s == '-' || errno == ERANGE || (*end && (!u || end[1])) ||
        (shift && v > (~0ull >> shift))) {
        cli_usage(cmd, "%s expects a byte count such as 500M or 4G, got '%s'", opt, s);
        return false;
    }
    *out = (uint64_t)v << shift;
    return true;
}

bool cli_parse_precision(const char *cmd, const char *s, enum lector_precision *out) {
    int p = lector_precision_parse(s);
    if (p < 0) {
        cli_usage(cmd, "--precision must be fp32, bf16 or int8, got '%s'", s);
        return false;
    }
    *out = (enum lector_precision)p;
    return true;
}

bool cli_parse_f32(const char *cmd, const char *opt, const char *s, double lo, double hi,
                   float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v)) {
        cli_usage(cmd, "%s expects a number, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_usage(cmd, "%s must be between %g and %g, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = (float)v;
    return true;
}

const char *cli_encoder_dir(const char *opt_value) {
    if (opt_value && *opt_value) return opt_value;
    const char *e = getenv("LECTOR_ENCODER");
    return e && *e ? e : NULL;
}

static void on_signal(int sig) { cli_interrupted = sig; }

int cli_interrupted_status(void) { return cli_interrupted ? 128 + cli_interrupted : CLI_INTERRUPTED; }

void cli_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

// ---------------------------------------------------------------------------------------
// line reader

void cli_lines_init(struct cli_lines *r, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->name = "stdin";
    r->first = true;
    r->max_line = (size_t)256 << 20;
}

void cli_lines_free(struct cli_lines *r) {
    free(r->buf);
    r->buf = NULL;
}

// Make room for at least one more byte after r->end (compacting or growing the buffer).
static int ensure_space(struct cli_lines *r) {
    if (r->start > 0 && r->start == r->end) r->start = r->end = 0;
    if (r->end < r->cap) return 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        return 0;
    }
    size_t cap = r->cap ? r->cap * 2 : (size_t)1 << 16;
    if (r->cap > r->max_line) {
        cli_error("%s:%lld: line longer than %zu bytes", r->name, (long long)r->line_no + 1, r->max_line);
        return -1;
    }
    char *nb = realloc(r->buf, cap);
    if (!nb) {
        cli_error("%s:%lld: out of memory reading the line", r->name, (long long)r->line_no + 1);
        return -1;
    }
    r->buf = nb;
    r->cap = cap;
    return 0;
}

static int fill(struct cli_lines *r) {
    if (ensure_space(r) < 0) return -1;
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR) {
            if (cli_interrupted) return -1;
            continue;
        }
        if (n < 0) {
            cli_error("%s: read failed: %s", r->name, strerror(errno));
            return -1;
        }
        if (n == 0) r->eof = true;
        r->end += (size_t)n;
        return 0;
    }
}

int cli_lines_next(struct cli_lines *r, char **line, size_t *len) {
    size_t scanned = 0; // bytes after r->start known to hold no newline (offsets survive compaction)
    for (;;) {
        size_t avail = r->end - r->start;
        char *s = r->buf ? r->buf + r->start : NULL;
        char *nl = avail > scanned ? memchr(s + scanned, '\n', avail - scanned) : NULL;
        size_t n;
        if (nl) {
            n = (size_t)(nl - s);
            r->start += n + 1;
        } else if (r->eof) {
            if (avail == 0) return 0;
            if (ensure_space(r) < 0) return -1; // room for the terminating NUL
            s = r->buf + r->start;
            n = avail;
            r->start = r->end;
        } else {
            scanned = avail;
            if (fill(r) < 0) return -1;
            continue;
        }
        if (n > 0 && s[n - 1] == '\r') n--;
        if (r->first) {
            r->first = false;
            if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
                s += 3;
                n -= 3;
            } else if (n >= 2 && ((s[0] == '\xFF' && s[1] == '\xFE') || (s[0] == '\xFE' && s[1] == '\xFF'))) {
                cli_error("%s: UTF-16 text (byte-order mark %02X %02X); convert it to UTF-8 first, "
                          "e.g. iconv -f UTF-16 -t UTF-8", r->name, (unsigned char)s[0], (unsigned char)s[1]);
                return -1;
            }
        }
        s[n] = '\0';
        r->line_no++;
        *line = s;
        *len = n;
        return 1;
    }
}

bool cli_lines_ready(struct cli_lines *r) {
    if (r->buf && memchr(r->buf + r->start, '\n', r->end - r->start)) return true;
    if (r->eof) return r->end > r->start;
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

// ---------------------------------------------------------------------------------------
// stdout

static void out_failed(void) {
    if (errno == EPIPE) exit(0); // the reader closed the pipe (e.g. `| head`): end quietly
    fprintf(stderr, "lector: error: cannot write output: %s\n", strerror(errno));
    exit(CLI_ERROR);
}

void cli_out(const char *data, size_t n) {
    if (n && fwrite(data, 1, n, stdout) != n) out_failed();
}

void cli_outf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(stdout, fmt, ap);
    va_end(ap);
    if (r < 0) out_failed();
}

void cli_flush(void) {
    if (fflush(stdout) != 0) out_failed();
}

void cli_out_floats(const float *v, int64_t n) {
    cli_out("[", 1);
    for (int64_t i = 0; i < n; i++) cli_outf(i ? ",%.9g" : "%.9g", (double)v[i]);
    cli_out("]", 1);
}

const char *cli_option_advice(const struct lector_error *err, const struct cli_option_name *names) {
    static char buf[LECTOR_ERROR_MSG_LEN + 64];
    for (; names->field; names++) {
        size_t n = strlen(names->field);
        if (!strncmp(err->msg, names->field, n) && err->msg[n] == ':') {
            const char *rest = err->msg + n + 1;
            while (*rest == ' ') rest++;
            snprintf(buf, sizeof buf, "%s (%s)", rest, names->option);
            return buf;
        }
    }
    return err->msg;
}

// Resolve --max-len against the encoder's positions (when its config is at hand).
bool cli_resolve_max_len(const char *cmd, int64_t requested, bool given, int64_t n_pos,
                         int64_t *out) {
    if (n_pos > 0 && requested > n_pos) {
        if (given) {
            cli_usage(cmd, "--max-len %lld exceeds the encoder's %lld positions",
                      (long long)requested, (long long)n_pos);
            return false;
        }
        requested = n_pos;
    }
    *out = requested;
    return true;
}

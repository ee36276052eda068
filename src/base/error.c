// Status strings, error formatting and assertion failure.
#include "base/base_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LECTOR_VERSION_STRING
#define LECTOR_VERSION_STRING "unknown"
#endif

const char *lector_status_str(enum lector_status status) {
    switch (status) {
    case LECTOR_STATUS_OK: return "ok";
    case LECTOR_STATUS_INVALID_ARG: return "invalid argument";
    case LECTOR_STATUS_IO: return "i/o error";
    case LECTOR_STATUS_NOMEM: return "out of memory";
    case LECTOR_STATUS_FORMAT: return "malformed file";
    case LECTOR_STATUS_UNSUPPORTED: return "unsupported";
    case LECTOR_STATUS_RANGE: return "out of range";
    case LECTOR_STATUS_INVALID_UTF8: return "invalid UTF-8";
    case LECTOR_STATUS_MISMATCH: return "mismatch";
    case LECTOR_STATUS_NOT_FOUND: return "not found";
    case LECTOR_STATUS_INTERRUPTED: return "interrupted";
    case LECTOR_STATUS_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *lector_version(void) { return LECTOR_VERSION_STRING; }

void lector_free(void *ptr) { free(ptr); }

LECTOR_PRINTF(5, 0)
static enum lector_status verror(struct lector_error *err, enum lector_status code, int64_t line,
                                 int64_t col, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        err->line = line;
        err->col = col;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

enum lector_status lector__error(struct lector_error *err, enum lector_status code,
                                 const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(err, code, -1, -1, fmt, ap);
    va_end(ap);
    return code;
}

enum lector_status lector__error_at(struct lector_error *err, enum lector_status code,
                                    int64_t line, int64_t col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(err, code, line, col, fmt, ap);
    va_end(ap);
    return code;
}

void lector__error_clear(struct lector_error *err) {
    if (!err) return;
    err->code = LECTOR_STATUS_OK;
    err->msg[0] = '\0';
    err->line = -1;
    err->col = -1;
}

_Noreturn void lector__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "lector: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

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

// The location of an error: path (NULL: none), line, column, offset, index (-1: none).
struct where {
    const char *path;
    int64_t line, column, offset, index;
};

LECTOR_PRINTF(4, 0)
static enum lector_status verror(struct lector_error *err, enum lector_status code, struct where w,
                                 const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        snprintf(err->path, sizeof err->path, "%s", w.path ? w.path : "");
        err->line = w.line;
        err->column = w.column;
        err->offset = w.offset;
        err->index = w.index;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

#define VERROR(err, code, w, fmt)                 \
    do {                                          \
        va_list ap_;                              \
        va_start(ap_, fmt);                       \
        verror(err, code, w, fmt, ap_);           \
        va_end(ap_);                              \
    } while (0)

enum lector_status lector__error(struct lector_error *err, enum lector_status code,
                                 const char *fmt, ...) {
    VERROR(err, code, ((struct where){NULL, -1, -1, -1, -1}), fmt);
    return code;
}

enum lector_status lector__error_line(struct lector_error *err, enum lector_status code,
                                      const char *path, int64_t line, int64_t column,
                                      const char *fmt, ...) {
    VERROR(err, code, ((struct where){path, line, column, -1, -1}), fmt);
    return code;
}

enum lector_status lector__error_offset(struct lector_error *err, enum lector_status code,
                                        const char *path, int64_t offset, const char *fmt, ...) {
    VERROR(err, code, ((struct where){path, -1, -1, offset, -1}), fmt);
    return code;
}

enum lector_status lector__error_index(struct lector_error *err, enum lector_status code,
                                       int64_t index, const char *fmt, ...) {
    VERROR(err, code, ((struct where){NULL, -1, -1, -1, index}), fmt);
    return code;
}

void lector__error_locate(struct lector_error *err, const char *path) {
    if (!err) return;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    err->line = err->column = err->offset = err->index = -1;
}

void lector__error_clear(struct lector_error *err) {
    if (!err) return;
    err->code = LECTOR_STATUS_OK;
    err->msg[0] = '\0';
    lector__error_locate(err, NULL);
}

// C0 controls, DEL, and C1 controls as UTF-8 (0xC2 0x80..0x9F): what a terminal or a
// line-oriented reader may act on. Returns the length of the control sequence at s, or 0.
static size_t control_len(const unsigned char *s) {
    if (s[0] < 0x20 || s[0] == 0x7f) return 1;
    if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) return 2;
    return 0;
}

int64_t lector__find_control(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (control_len(p)) return (int64_t)(p - (const unsigned char *)s);
    return -1;
}

char *lector__escape(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t k = control_len(p);
        if (n + (k ? 4 * k : 1) + 4 > cap) {
            memcpy(out + n, "...", 4);
            return out;
        }
        if (!k) {
            out[n++] = (char)*p;
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[p[j] >> 4];
            out[n++] = hex[p[j] & 15];
        }
        p += k - 1;
    }
    out[n] = '\0';
    return out;
}

_Noreturn void lector__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "lector: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

/*
 * lector/base.h: status codes, the error struct and memory ownership rules shared by
 * every lector module.
 *
 * Usage:
 *     struct lector_error err = {0};
 *     if (lector_something(..., &err) != LECTOR_STATUS_OK)
 *         fprintf(stderr, "lector: error: %s\n", err.msg);
 *
 * Conventions (all public headers):
 *   - Functions return enum lector_status: 0 on success, a negative value on failure.
 *   - Every function that can fail takes a `struct lector_error *err` last; it may be NULL.
 *     On failure err->code is the returned status and err->msg one line naming the object
 *     at fault, what was expected and what was found; err->path, line, column, offset
 *     and index locate it where that makes sense (see struct lector_error).
 *   - Memory returned by the library is released with lector_free(), never free().
 *   - Nothing in the library prints or exits.
 *
 * Thread safety: every function here is thread-safe.
 */
#ifndef LECTOR_BASE_H
#define LECTOR_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LECTOR_API __attribute__((visibility("default")))
#else
#define LECTOR_API
#endif

enum lector_status {
    LECTOR_STATUS_OK = 0,
    LECTOR_STATUS_INVALID_ARG = -1,   /* a caller passed a bad argument or option value */
    LECTOR_STATUS_IO = -2,            /* an operating-system call failed (open, read, mmap, ...) */
    LECTOR_STATUS_NOMEM = -3,         /* allocation failed or a size would overflow */
    LECTOR_STATUS_FORMAT = -4,        /* a file's contents are malformed */
    LECTOR_STATUS_UNSUPPORTED = -5,   /* well-formed, but a feature lector does not implement */
    LECTOR_STATUS_RANGE = -6,         /* a buffer is too small or a value is out of range */
    LECTOR_STATUS_INVALID_UTF8 = -7,  /* text is not valid UTF-8 (err->offset = byte offset) */
    LECTOR_STATUS_MISMATCH = -8,      /* two inputs disagree (config vs tensors, model vs encoder) */
    LECTOR_STATUS_NOT_FOUND = -9,     /* a named item (tensor, column, file) does not exist */
    LECTOR_STATUS_INTERRUPTED = -10,  /* stopped by a signal or a cancel flag */
    LECTOR_STATUS_INTERNAL = -11      /* a bug in lector */
};

#define LECTOR_ERROR_MSG_LEN 512

#define LECTOR_ERROR_PATH_LEN 512

/* Where an error is, for a program to use (msg says the same for a person). Each location
 * field is -1 (path "") when it does not apply. */
struct lector_error {
    enum lector_status code;
    char msg[LECTOR_ERROR_MSG_LEN];
    char path[LECTOR_ERROR_PATH_LEN]; /* the file at fault (cut to fit), or "" */
    int64_t line;   /* 1-based line in a text file at fault (CSV, JSON, vocab, merges,
                       label names), counting the line breaks inside quoted CSV fields */
    int64_t column; /* 1-based byte column on that line */
    int64_t offset; /* 0-based byte offset: into the binary file at fault (safetensors,
                       pickle, TensorFlow index), or, with path "", into the text given (a
                       tokenizer's INVALID_UTF8) */
    int64_t index;  /* 0-based index of the element at fault in an array argument (an
                       example of a batch, a column, a token: rows flattened) */
};

/* A static, human-readable name for a status ("invalid UTF-8", ...). Never NULL. */
LECTOR_API const char *lector_status_str(enum lector_status status);

/* Release memory that a lector function returned. NULL is a no-op. */
LECTOR_API void lector_free(void *ptr);

/* Write n bytes to path atomically: they go to a temporary file beside it that is synced and
 * renamed over path, so an interruption leaves any old file intact. */
LECTOR_API enum lector_status lector_write_file_atomic(const char *path, const void *data,
                                                       size_t n, struct lector_error *err);

/* Seconds on a monotonic clock, for measuring durations (progress, timings). */
LECTOR_API double lector_now(void);

/* The library version, e.g. "0.1.0". */
LECTOR_API const char *lector_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_BASE_H */

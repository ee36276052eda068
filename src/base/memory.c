// Allocation wrappers, whole-file reads and path helpers.
#define _POSIX_C_SOURCE 200809L
#include "base/base_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

void *lector__malloc(size_t n) { return malloc(n ? n : 1); }
void *lector__calloc(size_t n, size_t size) { return calloc(n ? n : 1, size ? size : 1); }
void *lector__realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }

char *lector__strndup(const char *s, size_t n) {
    char *d = lector__malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *lector__strdup(const char *s) { return lector__strndup(s, strlen(s)); }

void *lector__aligned_alloc(size_t n) {
    void *p = NULL;
    // Kernels may assume 64-byte alignment (one AVX-512 register, one cache line).
    if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    return p;
}

void lector__aligned_free(void *p) { free(p); }

char *lector__path_join(const char *dir, const char *name) {
    size_t nd = strlen(dir), nn = strlen(name);
    bool slash = nd > 0 && dir[nd - 1] != '/';
    char *p = lector__malloc(nd + nn + 2);
    if (!p) return NULL;
    memcpy(p, dir, nd);
    if (slash) p[nd++] = '/';
    memcpy(p + nd, name, nn + 1);
    return p;
}

bool lector__file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool lector__dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// Read fd to its end into *buf (cap bytes allocated, plus one for the NUL), growing it but
// never holding more than limit + 1 bytes: *got past limit means the file is over it.
static enum lector_status read_to_end(int fd, const char *path, size_t limit, char **buf, size_t cap, size_t *got,
                                      struct lector_error *err) {
    for (;;) {
        if (*got == cap) {
            if (cap > limit) return LECTOR_STATUS_RANGE;
            size_t next = cap > limit / 2 ? limit + 1 : 2 * cap;
            char *nb = lector__realloc(*buf, next + 1);
            if (!nb) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", path, next + 1);
            *buf = nb;
            cap = next;
        }
        ssize_t r = read(fd, *buf + *got, cap - *got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            return lector__error(err, LECTOR_STATUS_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) return LECTOR_STATUS_OK;
        *got += (size_t)r;
    }
}

enum lector_status lector__read_file(const char *path, size_t n_max, char **data, size_t *n,
                                     struct lector_error *err) {
    *data = NULL;
    *n = 0;
    // O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused below).
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lector__error(err, LECTOR_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    enum lector_status s = LECTOR_STATUS_OK;
    char *buf = NULL;
    const size_t limit = n_max ? n_max : SIZE_MAX / 4;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        s = lector__error(err, LECTOR_STATUS_IO, "%s: cannot stat: %s", path, strerror(e));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        s = lector__error(err, LECTOR_STATUS_IO, "%s: not a regular file (a FIFO, device, socket or folder)", path);
        goto fail;
    }
    if ((uintmax_t)st.st_size > (uintmax_t)limit) {
        *n = (size_t)st.st_size;
        s = lector__error_offset(err, LECTOR_STATUS_RANGE, path, (int64_t)limit,
                                 "%s: %zu bytes, over the limit of %zu bytes", path, *n, limit);
        goto fail;
    }
    // The size is only a first guess: the file is read to its end, which may come sooner or
    // later than it said, and never past the limit.
    size_t cap = (size_t)st.st_size + 1, got = 0; // one byte more: the end is seen without growing
    if (!(buf = lector__malloc(cap + 1))) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", path, cap + 1);
        goto fail;
    }
    s = read_to_end(fd, path, limit, &buf, cap, &got, err);
    if (s == LECTOR_STATUS_RANGE)
        s = lector__error_offset(err, LECTOR_STATUS_RANGE, path, (int64_t)limit,
                                 "%s: grew past the limit of %zu bytes while read", path, limit);
    if (s != LECTOR_STATUS_OK) goto fail;
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *n = got;
    return LECTOR_STATUS_OK;
fail:
    lector_free(buf);
    close(fd);
    return s;
}

double lector_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum lector_status lector__mkdir_p(const char *path, int mode, struct lector_error *err) {
    if (!*path) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "empty directory name");
    char *p = lector__strdup(path);
    if (!p) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    enum lector_status st = LECTOR_STATUS_OK;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char save = *q;
        *q = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
            int e = errno;
            st = lector__error(err, LECTOR_STATUS_IO, "cannot create directory %s: %s", p,
                               strerror(e));
            break;
        }
        *q = save;
        if (!save) break;
    }
    lector_free(p);
    return st;
}

// Allocation wrappers, whole-file reads and path helpers.
#define _POSIX_C_SOURCE 200809L
#include "base/base_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

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

enum lector_status lector__read_file(const char *path, size_t n_max, char **data, size_t *n,
                                     struct lector_error *err) {
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        return lector__error(err, LECTOR_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return lector__error(err, LECTOR_STATUS_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (n_max && size > n_max) {
        fclose(fp);
        return lector__error(err, LECTOR_STATUS_RANGE, "%s: file is %zu bytes, limit is %zu",
                             path, size, n_max);
    }
    char *buf = lector__malloc(size + 1);
    if (!buf) {
        fclose(fp);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", path,
                             size + 1);
    }
    size_t got = fread(buf, 1, size, fp);
    if (got != size || ferror(fp)) {
        int e = errno;
        free(buf);
        fclose(fp);
        return lector__error(err, LECTOR_STATUS_IO, "%s: read failed: %s", path, strerror(e));
    }
    fclose(fp);
    buf[size] = '\0';
    *data = buf;
    *n = size;
    return LECTOR_STATUS_OK;
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

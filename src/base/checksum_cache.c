// The checksum cache: the SHA-256 of an encoder's files, remembered by their identity and
// timestamps so that opening an unchanged encoder reads no weight bytes to check it.
//
// One small text file per set of files, "<cache_dir>/<sha256(key)>", holding the key
// itself followed by the digest:
//   lector-checksum-1
//   file DEV INO SIZE MTIME_S.MTIME_NS CTIME_S.CTIME_NS     (one line per file, in order)
//   sha256 HEX
// An entry is used only if it is exactly this text for the files as they are now; anything
// else (truncated, edited, another key) is a miss and is overwritten after hashing.
#define _POSIX_C_SOURCE 200809L
#include "base/base_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_TAG "lector-checksum-1\n"
#define DIGEST_LINE 72 // "sha256 " + 64 hex + "\n"

// ----------------------------------------------------------------------------
// keys

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           ns_of(a->st_mtim) == ns_of(b->st_mtim) && ns_of(a->st_ctim) == ns_of(b->st_ctim);
}

static enum lector_status stat_all(const char *const *files, int64_t n, struct stat *st,
                                   struct lector_error *err) {
    for (int64_t i = 0; i < n; i++) {
        if (stat(files[i], &st[i]) != 0) {
            int e = errno;
            return lector__error(err, LECTOR_STATUS_IO, "%s: cannot stat: %s", files[i],
                                 strerror(e));
        }
    }
    return LECTOR_STATUS_OK;
}

// The key text of the files as stat saw them (lector_free), or NULL when out of memory.
static char *key_text(const struct stat *st, int64_t n, size_t *len) {
    size_t cap = sizeof KEY_TAG + (size_t)n * 160, used = 0;
    char *k = lector__malloc(cap);
    if (!k) return NULL;
    used = (size_t)snprintf(k, cap, "%s", KEY_TAG);
    for (int64_t i = 0; i < n; i++)
        used += (size_t)snprintf(k + used, cap - used, "file %llu %llu %lld %lld.%09ld %lld.%09ld\n",
                                 (unsigned long long)st[i].st_dev, (unsigned long long)st[i].st_ino,
                                 (long long)st[i].st_size, (long long)st[i].st_mtim.tv_sec,
                                 (long)st[i].st_mtim.tv_nsec, (long long)st[i].st_ctim.tv_sec,
                                 (long)st[i].st_ctim.tv_nsec);
    *len = used;
    return k;
}

static char *entry_path(const char *cache_dir, const char *key, size_t n_key) {
    struct lector__sha256 s;
    uint8_t d[32];
    char hex[65];
    lector__sha256_init(&s);
    lector__sha256_update(&s, key, n_key);
    if (lector__sha256_final(&s, d) != LECTOR_STATUS_OK) return NULL;
    lector__sha256_hex(d, hex);
    return lector__path_join(cache_dir, hex);
}

// ----------------------------------------------------------------------------
// entries

static bool is_hex64(const char *p) {
    for (int i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return false;
    return true;
}

// True (and the digest in out) when the file at path is exactly key + a digest line, and a
// regular file of this user that nobody else may write (as for the feature cache).
static bool entry_read(const char *path, const char *key, size_t n_key, char out[65]) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
        (sb.st_mode & 022)) {
        close(fd);
        return false;
    }
    size_t want = n_key + DIGEST_LINE, got = 0;
    char *buf = lector__malloc(want + 1);
    bool ok = false;
    if (buf) {
        // One byte more than an entry holds, to see a longer file for what it is.
        while (got < want + 1) {
            ssize_t r = read(fd, buf + got, want + 1 - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        const char *line = buf + n_key;
        ok = got == want && memcmp(buf, key, n_key) == 0 && memcmp(line, "sha256 ", 7) == 0 &&
             is_hex64(line + 7) && line[71] == '\n';
        if (ok) {
            memcpy(out, line + 7, 64);
            out[64] = '\0';
        }
    }
    lector_free(buf);
    close(fd);
    return ok;
}

// Write key + digest to path atomically; failures are dropped (the cache only saves time).
static void entry_write(const char *cache_dir, const char *path, const char *key,
                        size_t n_key, const char hex[65]) {
    if (lector__mkdir_p(cache_dir, 0700, NULL) != LECTOR_STATUS_OK) return;
    char line[DIGEST_LINE + 1];
    snprintf(line, sizeof line, "sha256 %s\n", hex);
    struct lector__afile af;
    if (lector__afile_open(&af, path, NULL) != LECTOR_STATUS_OK) return;
    if (lector__afile_write(&af, key, n_key, NULL) != LECTOR_STATUS_OK ||
        lector__afile_write(&af, line, DIGEST_LINE, NULL) != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return;
    }
    lector__afile_commit(&af, NULL);
}

// ----------------------------------------------------------------------------
// entry point

const char *lector__checksum_cache_dir(char *buf, size_t cap) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int n;
    if (x && *x == '/') n = snprintf(buf, cap, "%s/lector/checksums", x);
    else if (h && *h) n = snprintf(buf, cap, "%s/.cache/lector/checksums", h);
    else return NULL;
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

enum lector_status lector__sha256_files_cached(const char *const *files, int64_t n_files,
                                               const char *cache_dir, bool verify,
                                               int64_t settle_ns, char out[65], bool *hit,
                                               struct lector_error *err) {
    if (hit) *hit = false;
    if (n_files < 1 || n_files > (1 << 20))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "checksum of %lld files",
                             (long long)n_files);
    enum lector_status st = LECTOR_STATUS_OK;
    char *key = NULL, *path = NULL;
    size_t n_key = 0;
    struct stat *before = lector__calloc((size_t)n_files * 2, sizeof *before);
    if (!before) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    struct stat *after = before + n_files;

    st = stat_all(files, n_files, before, err);
    if (st != LECTOR_STATUS_OK) goto done;
    if (cache_dir && *cache_dir) {
        key = key_text(before, n_files, &n_key);
        path = key ? entry_path(cache_dir, key, n_key) : NULL;
    }
    if (path && !verify && entry_read(path, key, n_key, out)) {
        if (hit) *hit = true;
        goto done;
    }

    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    struct lector__sha256 s;
    uint8_t digest[32];
    if (lector__sha256_init(&s) != LECTOR_STATUS_OK) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory hashing", files[0]);
        goto done;
    }
    for (int64_t i = 0; st == LECTOR_STATUS_OK && i < n_files; i++)
        st = lector__sha256_file(&s, files[i], err);
    if (lector__sha256_final(&s, digest) != LECTOR_STATUS_OK && st == LECTOR_STATUS_OK)
        st = lector__error(err, LECTOR_STATUS_INTERNAL, "%s: SHA-256 failed", files[0]);
    if (st != LECTOR_STATUS_OK) goto done;
    lector__sha256_hex(digest, out);

    if (!path || stat_all(files, n_files, after, NULL) != LECTOR_STATUS_OK) goto done;
    const int64_t settled = ns_of(t0) - settle_ns;
    for (int64_t i = 0; i < n_files; i++)
        if (!same_file(&before[i], &after[i]) || ns_of(after[i].st_mtim) >= settled ||
            ns_of(after[i].st_ctim) >= settled)
            goto done;
    entry_write(cache_dir, path, key, n_key, out);

done:
    lector_free(path);
    lector_free(key);
    lector_free(before);
    return st;
}

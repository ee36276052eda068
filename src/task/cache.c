// The feature cache: pooled encoder vectors on disk, so that training again with other
// hyperparameters does not run the encoder again.
//
// One file per key, "<dir>/<40 hex digits of sha256(key)>.lfc", where the key names
// everything the vectors depend on (encoder checksum, tokenizer hash, pooling, max length,
// ...). Format 2 (docs/formats.md), all little-endian:
//   header: magic "LECTORFC" | u32 version (2) | u32 C | u32 key length | key bytes
//   records, 64 + 4C bytes each: sha256(text) | C float32 | check
//   check = sha256(sha256(key) | sha256(text) | the C float32 as stored)
// The check ties a vector to its text and key: a flipped bit, a vector moved to another
// record or another file, a zeroed block or a non-finite value fails it, and the record is
// dropped (counted, so the caller can say so) and computed again.
//
// The file is append-only: a run appends the records it computed, under flock(2), after
// reading what other runs appended since it opened the file; a crashed writer's partial
// last record is cut off by the next writer. The file is rewritten whole (temp file +
// rename) only to repair it (damaged records, an old format) or to evict under the size
// cap. Files are opened with O_NOFOLLOW | O_NONBLOCK and must be regular files owned by the
// user and not writable by group or others: anything else is refused with a message.
#define _GNU_SOURCE
#include "lector/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_impl.h"
#include "task/task_impl.h"

#define CACHE_MAGIC "LECTORFC"
#define CACHE_VERSION 2u
#define CACHE_KEY_MAX 4096u
#define CACHE_NAME_HEX 40 // hex digits of the key digest in the file name

enum { REC_NEW = 1, REC_USED = 2 };

struct lector_feature_cache {
    char *dir, *path, *key;
    uint8_t key_digest[32];
    int64_t C;
    bool read_only;       // opened with lector_feature_cache_open_file
    // Open-addressing table of record indices (-1 = empty), keyed by the text digest.
    int64_t *slots;
    size_t n_slots;
    uint8_t *digests; // (n_records, 32)
    float *vecs;      // (n_records, C)
    uint8_t *flags;   // (n_records) REC_*
    int64_t n_records, cap;
    int64_t n_new;    // records added since open/save
    // The file as last read: its identity and the end of its last whole record.
    dev_t file_dev;
    ino_t file_ino;
    bool file_known;
    off_t n_read;
    bool rewrite;          // the next save replaces the file (damage or an old format found)
    int64_t n_discarded;   // records that failed their check, since open
    int64_t n_file_records;
    uint64_t max_size;     // bytes of *.lfc in dir; 0 = no cap
    char note[320];        // what the caller should tell the user, or ""
};

// ---- records in memory ----------------------------------------------------------------

static uint64_t digest_slot(const uint8_t *d) { return lector__read_u64_le(d); }

static void sha256_of(const void *data, size_t len, uint8_t d[32]) {
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, data, len);
    lector__sha256_final(&s, d);
}

static size_t record_size(int64_t C) { return 64 + 4 * (size_t)C; }

static size_t header_size(const struct lector_feature_cache *c) { return 20 + strlen(c->key); }

static int64_t find(const struct lector_feature_cache *c, const uint8_t *d) {
    size_t mask = c->n_slots - 1;
    for (size_t i = (size_t)digest_slot(d) & mask;; i = (i + 1) & mask) {
        int64_t r = c->slots[i];
        if (r < 0) return -1;
        if (!memcmp(c->digests + r * 32, d, 32)) return r;
    }
}

static bool grow(struct lector_feature_cache *c) {
    if (c->n_records < c->cap && (size_t)(c->n_records + 1) * 2 <= c->n_slots) return true;
    // Start small for wide vectors (C up to 2^20 floats): 16 MiB of vectors at most.
    int64_t cap = c->cap ? c->cap * 2 : c->C <= 4096 ? 1024 : 4;
    uint8_t *d = lector__realloc(c->digests, (size_t)cap * 32);
    if (!d) return false;
    c->digests = d;
    float *v = lector__realloc(c->vecs, (size_t)cap * (size_t)c->C * sizeof *v);
    if (!v) return false;
    c->vecs = v;
    uint8_t *f = lector__realloc(c->flags, (size_t)cap);
    if (!f) return false;
    c->flags = f;
    c->cap = cap;
    size_t n_slots = 1;
    while (n_slots < (size_t)cap * 2) n_slots *= 2;
    int64_t *slots = lector__malloc(n_slots * sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < n_slots; i++) slots[i] = -1;
    lector_free(c->slots);
    c->slots = slots;
    c->n_slots = n_slots;
    for (int64_t r = 0; r < c->n_records; r++) {
        size_t mask = n_slots - 1, i = (size_t)digest_slot(c->digests + r * 32) & mask;
        while (slots[i] >= 0) i = (i + 1) & mask;
        slots[i] = r;
    }
    return true;
}

// Add a record unless its digest is present; a record read from the file that we hold as
// new is no longer new (another run stored it). false only when out of memory.
static bool add(struct lector_feature_cache *c, const uint8_t *d, const float *v, uint8_t flags) {
    if (c->n_slots) {
        int64_t r = find(c, d);
        if (r >= 0) {
            if (!(flags & REC_NEW) && (c->flags[r] & REC_NEW)) {
                c->flags[r] &= (uint8_t)~REC_NEW;
                c->n_new--;
            }
            return true;
        }
    }
    if (!grow(c)) return false;
    int64_t r = c->n_records++;
    memcpy(c->digests + r * 32, d, 32);
    memcpy(c->vecs + r * c->C, v, (size_t)c->C * sizeof *v);
    c->flags[r] = flags;
    c->n_new += (flags & REC_NEW) != 0;
    size_t mask = c->n_slots - 1, i = (size_t)digest_slot(d) & mask;
    while (c->slots[i] >= 0) i = (i + 1) & mask;
    c->slots[i] = r;
    return true;
}

static bool all_finite(const float *v, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return false;
    return true;
}

// The stored form of record r: text digest, vector, check.
static void encode_record(const struct lector_feature_cache *c, int64_t r, uint8_t *out) {
    memcpy(out, c->digests + r * 32, 32);
    const float *v = c->vecs + r * c->C;
    for (int64_t k = 0; k < c->C; k++) {
        uint32_t u;
        memcpy(&u, &v[k], sizeof u);
        for (int b = 0; b < 4; b++) out[32 + 4 * k + b] = (uint8_t)(u >> (8 * b));
    }
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, c->key_digest, 32);
    lector__sha256_update(&s, out, 32 + 4 * (size_t)c->C);
    lector__sha256_final(&s, out + 32 + 4 * c->C);
}

// Check and decode one stored record into v; false if its check or its values are bad.
static bool decode_record(const struct lector_feature_cache *c, const uint8_t *in, float *v) {
    uint8_t check[32];
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, c->key_digest, 32);
    lector__sha256_update(&s, in, 32 + 4 * (size_t)c->C);
    lector__sha256_final(&s, check);
    if (memcmp(check, in + 32 + 4 * c->C, 32)) return false;
    for (int64_t k = 0; k < c->C; k++) {
        uint32_t u = lector__read_u32_le(in + 32 + 4 * k);
        memcpy(&v[k], &u, sizeof u);
    }
    return all_finite(v, c->C);
}

// ---- reading the file -----------------------------------------------------------------

enum header_kind { HEADER_OK, HEADER_EMPTY, HEADER_OLD, HEADER_OTHER };

static bool read_exact(int fd, off_t at, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, at + (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        got += (size_t)k;
    }
    return true;
}

// The header of the file at fd. With c->key NULL (opening a file to merge), the key and C
// are taken from it.
static enum header_kind read_header(struct lector_feature_cache *c, int fd) {
    uint8_t head[20];
    if (!read_exact(fd, 0, head, 1)) return HEADER_EMPTY;
    if (!read_exact(fd, 0, head, sizeof head) || memcmp(head, CACHE_MAGIC, 8)) return HEADER_OTHER;
    uint32_t version = lector__read_u32_le(head + 8);
    if (version < CACHE_VERSION) return HEADER_OLD;
    uint32_t C = lector__read_u32_le(head + 12), klen = lector__read_u32_le(head + 16);
    if (version != CACHE_VERSION || C < 1 || C > (1u << 20) || klen > CACHE_KEY_MAX)
        return HEADER_OTHER;
    char *key = lector__malloc(klen + 1);
    if (!key) return HEADER_OTHER;
    if (!read_exact(fd, 20, key, klen) || memchr(key, '\0', klen)) {
        lector_free(key);
        return HEADER_OTHER;
    }
    key[klen] = '\0';
    if (!c->key) {
        c->key = key;
        c->C = C;
        sha256_of(key, klen, c->key_digest);
        return HEADER_OK;
    }
    bool same = (int64_t)C == c->C && !strcmp(key, c->key);
    lector_free(key);
    return same ? HEADER_OK : HEADER_OTHER;
}

// Read the whole records of fd from byte `from` (0: the header first) into c. Damaged
// records are counted and set c->rewrite; the end of the last whole record is c->n_read.
static enum lector_status read_records(struct lector_feature_cache *c, int fd, off_t from,
                                       enum header_kind *kind, struct lector_error *err) {
    *kind = HEADER_OK;
    if (from == 0) {
        *kind = read_header(c, fd);
        if (*kind != HEADER_OK) {
            c->n_read = 0;
            return LECTOR_STATUS_OK;
        }
        from = (off_t)header_size(c);
    }
    // Read about 1 MiB at a time.
    const size_t rec = record_size(c->C), per = rec < (1u << 20) ? (1u << 20) / rec : 1;
    uint8_t *buf = lector__malloc(rec * per);
    float *v = lector__malloc((size_t)c->C * sizeof *v);
    enum lector_status s = LECTOR_STATUS_OK;
    if (!buf || !v) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", c->path);
        goto done;
    }
    for (;;) {
        ssize_t k = pread(fd, buf, rec * per, from);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            s = lector__error(err, LECTOR_STATUS_IO, "%s: read failed: %s", c->path, strerror(e));
            goto done;
        }
        size_t n_whole = (size_t)k / rec;
        for (size_t i = 0; i < n_whole; i++) {
            const uint8_t *in = buf + i * rec;
            c->n_file_records++;
            if (!decode_record(c, in, v)) {
                c->n_discarded++;
                c->rewrite = true;
                continue;
            }
            if (!add(c, in, v, 0)) {
                s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", c->path);
                goto done;
            }
        }
        from += (off_t)(n_whole * rec);
        if (n_whole < per) break; // the end, or a partial record left by a crashed writer
    }
    c->n_read = from;
done:
    lector_free(v);
    lector_free(buf);
    return s;
}

// Is the open file a regular file (and, with trust, one of this user that no one else can
// write)? Sets err if not.
static enum lector_status check_file(const char *path, int fd, bool trust, struct stat *st,
                                     struct lector_error *err) {
    if (fstat(fd, st) != 0) {
        int e = errno;
        return lector__error(err, LECTOR_STATUS_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode))
        return lector__error(err, LECTOR_STATUS_IO,
                             "%s: not a regular file (a FIFO, device or directory): not used",
                             path);
    if (trust && st->st_uid != geteuid())
        return lector__error(err, LECTOR_STATUS_IO,
                             "%s: owned by uid %lu, not by this user (uid %lu): not trusted",
                             path, (unsigned long)st->st_uid, (unsigned long)geteuid());
    if (trust && (st->st_mode & (S_IWGRP | S_IWOTH)))
        return lector__error(err, LECTOR_STATUS_IO,
                             "%s: writable by group or others (mode %03o): not trusted", path,
                             (unsigned)(st->st_mode & 0777));
    return LECTOR_STATUS_OK;
}

// open(2) a cache file without following a symbolic link or blocking on a FIFO; -1 and err
// set on failure (ENOENT is left to the caller when missing_ok). A file given explicitly to
// read (trust false) may belong to anyone: its records are verified all the same.
static int open_file(const char *path, int flags, bool missing_ok, bool trust, struct stat *st,
                     struct lector_error *err) {
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && missing_ok) {
            errno = ENOENT;
            return -1;
        }
        if (e == ELOOP)
            lector__error(err, LECTOR_STATUS_IO, "%s: a symbolic link: not followed", path);
        else if (e == ENXIO)
            lector__error(err, LECTOR_STATUS_IO, "%s: a FIFO or socket: not used", path);
        else
            lector__error(err, LECTOR_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    if (check_file(path, fd, trust, st, err) != LECTOR_STATUS_OK) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

static void set_note(struct lector_feature_cache *c, enum header_kind kind) {
    c->note[0] = '\0';
    if (kind == HEADER_OLD)
        snprintf(c->note, sizeof c->note,
                 "%s: an older format without checksums, not read: its texts are encoded "
                 "again and the file is rewritten", c->path);
    else if (kind == HEADER_OTHER)
        snprintf(c->note, sizeof c->note,
                 "%s: not a feature cache of this key, not read: it will be replaced", c->path);
    else if (c->n_discarded)
        snprintf(c->note, sizeof c->note,
                 "%s: %lld of %lld records failed their checksum or hold non-finite values: "
                 "discarded, their texts are encoded again", c->path, (long long)c->n_discarded,
                 (long long)c->n_file_records);
}

// Read the file at c->path into c (a missing file reads as empty).
static enum lector_status load(struct lector_feature_cache *c, struct lector_error *err) {
    struct stat st;
    int fd = open_file(c->path, O_RDONLY, !c->read_only, !c->read_only, &st, err);
    if (fd < 0) return errno == ENOENT && !c->read_only ? LECTOR_STATUS_OK : LECTOR_STATUS_IO;
    enum header_kind kind;
    enum lector_status s = read_records(c, fd, 0, &kind, err);
    if (s == LECTOR_STATUS_OK && c->read_only && kind != HEADER_OK)
        s = lector__error(err, LECTOR_STATUS_FORMAT, "%s: %s", c->path,
                          kind == HEADER_OLD ? "an older feature cache format without "
                                               "checksums: not read"
                          : kind == HEADER_EMPTY ? "an empty file, not a feature cache"
                                                 : "not a feature cache file");
    if (s == LECTOR_STATUS_OK) {
        c->file_dev = st.st_dev;
        c->file_ino = st.st_ino;
        c->file_known = true;
        if (kind == HEADER_OLD || kind == HEADER_OTHER) c->rewrite = true;
        set_note(c, kind);
        if (!c->read_only) (void)futimens(fd, NULL); // recently used: evicted last
    }
    close(fd);
    return s;
}

// mkdir -p for the cache directory (new directories are private to the user).
static enum lector_status make_dirs(const char *dir, struct lector_error *err) {
    char *p = lector__strdup(dir);
    if (!p) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char save = *q;
            *q = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                int e = errno;
                enum lector_status s = lector__error(err, LECTOR_STATUS_IO,
                                                     "cannot create cache directory %s: %s", p,
                                                     strerror(e));
                lector_free(p);
                return s;
            }
            *q = save;
            if (!save) break;
        }
    }
    lector_free(p);
    return LECTOR_STATUS_OK;
}

// A cache file's name: feature vectors (.lfc) or fine-tuning's boundary states (.lbs), which
// share the directory's size cap.
static bool cache_file_name(const char *name) {
    size_t n = strlen(name);
    if (n != CACHE_NAME_HEX + 4 ||
        (strcmp(name + CACHE_NAME_HEX, ".lfc") && strcmp(name + CACHE_NAME_HEX, ".lbs")))
        return false;
    for (size_t i = 0; i < CACHE_NAME_HEX; i++)
        if (!strchr("0123456789abcdef", name[i])) return false;
    return true;
}

static struct lector_feature_cache *cache_new(const char *path) {
    struct lector_feature_cache *c = lector__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->path = lector__strdup(path);
    const char *slash = strrchr(path, '/');
    c->dir = slash ? lector__strndup(path, (size_t)(slash - path + (slash == path))) : lector__strdup(".");
    c->max_size = LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT;
    if (!c->path || !c->dir) {
        lector_feature_cache_close(c);
        return NULL;
    }
    return c;
}

enum lector_status lector_feature_cache_open(const char *dir, const char *key, int64_t C,
                                             struct lector_feature_cache **out,
                                             struct lector_error *err) {
    *out = NULL;
    if (!dir || !*dir || !key || strlen(key) > CACHE_KEY_MAX || C < 1 || C > (1 << 20))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "feature cache: expected a directory, a key of at most %u bytes "
                             "and 1 <= C <= 2^20", CACHE_KEY_MAX);
    enum lector_status s = make_dirs(dir, err);
    if (s != LECTOR_STATUS_OK) return s;
    uint8_t d[32];
    char hex[65], name[80];
    sha256_of(key, strlen(key), d);
    lector__sha256_hex(d, hex);
    snprintf(name, sizeof name, "%.*s.lfc", CACHE_NAME_HEX, hex);
    char *path = lector__path_join(dir, name);
    struct lector_feature_cache *c = path ? cache_new(path) : NULL;
    lector_free(path);
    if (c) {
        c->C = C;
        c->key = lector__strdup(key);
        memcpy(c->key_digest, d, 32);
    }
    if (!c || !c->key || !grow(c)) {
        lector_feature_cache_close(c);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    }
    s = load(c, err);
    if (s != LECTOR_STATUS_OK) {
        lector_feature_cache_close(c);
        return s;
    }
    *out = c;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_feature_cache_open_file(const char *path,
                                                  struct lector_feature_cache **out,
                                                  struct lector_error *err) {
    *out = NULL;
    struct lector_feature_cache *c = cache_new(path);
    if (!c) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    c->read_only = true; // the key and the width C come from the header
    enum lector_status s = load(c, err);
    if (s == LECTOR_STATUS_OK && !c->n_slots && !grow(c))
        s = lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    if (s != LECTOR_STATUS_OK) {
        lector_feature_cache_close(c);
        return s;
    }
    *out = c;
    return LECTOR_STATUS_OK;
}

void lector_feature_cache_close(struct lector_feature_cache *c) {
    if (!c) return;
    lector_free(c->vecs);
    lector_free(c->digests);
    lector_free(c->flags);
    lector_free(c->slots);
    lector_free(c->path);
    lector_free(c->dir);
    lector_free(c->key);
    lector_free(c);
}

const char *lector_feature_cache_path(const struct lector_feature_cache *c) { return c->path; }
const char *lector_feature_cache_key(const struct lector_feature_cache *c) { return c->key; }
int64_t lector_feature_cache_n_dims(const struct lector_feature_cache *c) { return c->C; }
int64_t lector_feature_cache_n_records(const struct lector_feature_cache *c) { return c->n_records; }
int64_t lector_feature_cache_n_discarded(const struct lector_feature_cache *c) {
    return c->n_discarded;
}
const char *lector_feature_cache_note(const struct lector_feature_cache *c) {
    return c->note[0] ? c->note : NULL;
}
void lector_feature_cache_set_max_size(struct lector_feature_cache *c, uint64_t n_bytes) {
    c->max_size = n_bytes;
}

bool lector_feature_cache_get(const struct lector_feature_cache *c, const char *text, size_t len,
                              float *out) {
    uint8_t d[32];
    sha256_of(text, len, d);
    int64_t r = find(c, d);
    if (r < 0) return false;
    memcpy(out, c->vecs + r * c->C, (size_t)c->C * sizeof *out);
    c->flags[r] |= REC_USED; // flags are bookkeeping for eviction, not the cached data
    return true;
}

enum lector_status lector_feature_cache_put(struct lector_feature_cache *c, const char *text,
                                            size_t len, const float *v,
                                            struct lector_error *err) {
    if (!all_finite(v, c->C)) return LECTOR_STATUS_OK; // never stored: it would read as damaged
    uint8_t d[32];
    sha256_of(text, len, d);
    if (!add(c, d, v, REC_NEW | REC_USED))
        return lector__error(err, LECTOR_STATUS_NOMEM, "feature cache: out of memory");
    return LECTOR_STATUS_OK;
}

enum lector_status lector_feature_cache_merge(struct lector_feature_cache *dst,
                                              const struct lector_feature_cache *src,
                                              int64_t *n_added, struct lector_error *err) {
    if (n_added) *n_added = 0;
    if (dst->read_only)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: opened read-only", dst->path);
    if (dst->C != src->C || strcmp(dst->key, src->key))
        return lector__error(err, LECTOR_STATUS_MISMATCH,
                             "%s and %s: caches of different keys cannot be merged", dst->path,
                             src->path);
    int64_t before = dst->n_new;
    for (int64_t r = 0; r < src->n_records; r++)
        if (!add(dst, src->digests + r * 32, src->vecs + r * src->C, REC_NEW | REC_USED))
            return lector__error(err, LECTOR_STATUS_NOMEM, "feature cache: out of memory");
    if (n_added) *n_added = dst->n_new - before;
    return LECTOR_STATUS_OK;
}

// ---- writing --------------------------------------------------------------------------

static enum lector_status write_all(const char *path, int fd, const void *data, size_t n,
                                    struct lector_error *err) {
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            return lector__error(err, LECTOR_STATUS_IO, "%s: write failed: %s", path,
                                 strerror(e));
        }
        p += k;
        n -= (size_t)k;
    }
    return LECTOR_STATUS_OK;
}

static void header_bytes(const struct lector_feature_cache *c, uint8_t head[20]) {
    memcpy(head, CACHE_MAGIC, 8);
    const uint32_t words[3] = {CACHE_VERSION, (uint32_t)c->C, (uint32_t)strlen(c->key)};
    for (int w = 0; w < 3; w++)
        for (int b = 0; b < 4; b++) head[8 + 4 * w + b] = (uint8_t)(words[w] >> (8 * b));
}

// Append the records flagged `flag` (all when 0), at most n_max of them, to fd (or af).
static enum lector_status write_records(const struct lector_feature_cache *c, int fd,
                                        struct lector__afile *af, uint8_t flag, int64_t n_max,
                                        struct lector_error *err) {
    const size_t rec = record_size(c->C), per = rec < (1u << 20) ? (1u << 20) / rec : 1;
    uint8_t *buf = lector__malloc(rec * per);
    if (!buf) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    enum lector_status s = LECTOR_STATUS_OK;
    size_t n_buf = 0;
    int64_t n_done = 0;
    for (int64_t r = 0; s == LECTOR_STATUS_OK && r <= c->n_records; r++) {
        bool take = r < c->n_records && n_done < n_max && (!flag || (c->flags[r] & flag));
        if (take) {
            encode_record(c, r, buf + n_buf * rec);
            n_buf++;
            n_done++;
        }
        if (n_buf == per || (r == c->n_records && n_buf)) {
            s = af ? lector__afile_write(af, buf, n_buf * rec, err)
                   : write_all(c->path, fd, buf, n_buf * rec, err);
            n_buf = 0;
        }
    }
    lector_free(buf);
    return s;
}

// Replace the file by one holding the records flagged `flag` (all when 0), at most n_max.
static enum lector_status rewrite_file(struct lector_feature_cache *c, uint8_t flag,
                                       int64_t n_max, struct lector_error *err) {
    struct lector__afile af;
    enum lector_status s = lector__afile_open(&af, c->path, err);
    if (s != LECTOR_STATUS_OK) return s;
    uint8_t head[20];
    header_bytes(c, head);
    s = lector__afile_write(&af, head, sizeof head, err);
    if (s == LECTOR_STATUS_OK) s = lector__afile_write(&af, c->key, strlen(c->key), err);
    if (s == LECTOR_STATUS_OK) s = write_records(c, -1, &af, flag, n_max, err);
    if (s != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return s;
    }
    s = lector__afile_commit(&af, err);
    if (s != LECTOR_STATUS_OK) return s;
    struct stat st;
    c->file_known = lstat(c->path, &st) == 0;
    c->file_dev = st.st_dev;
    c->file_ino = st.st_ino;
    c->n_read = c->file_known ? st.st_size : 0;
    c->rewrite = false;
    return LECTOR_STATUS_OK;
}

struct lfc_entry {
    char *path;
    off_t size;
    struct timespec mtime;
};

static int cmp_mtime(const void *a, const void *b) {
    const struct lfc_entry *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->path, y->path);
}

// The cache files of c's directory that this user owns: their total size, this key's file's
// size, and (when e is not NULL) the others, least recently used first.
static uint64_t scan_dir(const struct lector_feature_cache *c, uint64_t *own, struct lfc_entry **e,
                         size_t *n) {
    uint64_t total = 0;
    size_t cap = 0;
    *own = 0;
    if (e) *e = NULL, *n = 0;
    DIR *d = opendir(c->dir);
    if (!d) return 0; // best effort
    for (struct dirent *de; (de = readdir(d));) {
        if (!cache_file_name(de->d_name)) continue;
        char *p = lector__path_join(c->dir, de->d_name);
        struct stat st;
        if (!p || lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
            lector_free(p);
            continue;
        }
        total += (uint64_t)st.st_size;
        if (!strcmp(p, c->path)) *own = (uint64_t)st.st_size;
        if (!e || !strcmp(p, c->path)) {
            lector_free(p);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            struct lfc_entry *ne = lector__realloc(*e, cap * sizeof *ne);
            if (!ne) {
                lector_free(p);
                break;
            }
            *e = ne;
        }
        (*e)[(*n)++] = (struct lfc_entry){p, st.st_size, st.st_mtim};
    }
    closedir(d);
    if (e && *n) qsort(*e, *n, sizeof **e, cmp_mtime);
    return total;
}

// Keep the cache files of the directory under c->max_size: remove other keys' files, least
// recently used first, then cut this key's file down to the records this run used. The
// number of files removed and records dropped go to the note.
static enum lector_status enforce_cap(struct lector_feature_cache *c, struct lector_error *err) {
    if (!c->max_size) return LECTOR_STATUS_OK;
    struct lfc_entry *e;
    size_t n;
    uint64_t own, total = scan_dir(c, &own, &e, &n);
    int64_t n_removed = 0;
    for (size_t i = 0; i < n && total > c->max_size; i++)
        if (unlink(e[i].path) == 0) {
            total -= (uint64_t)e[i].size;
            n_removed++;
        }
    for (size_t i = 0; i < n; i++) lector_free(e[i].path);
    lector_free(e);
    enum lector_status s = LECTOR_STATUS_OK;
    int64_t n_dropped = 0;
    if (total > c->max_size && own > 0) {
        // This key alone is over the cap: keep what this run used, as much as fits.
        uint64_t room = c->max_size - (total - own), head = header_size(c);
        int64_t n_fit = room > head ? (int64_t)((room - head) / record_size(c->C)) : 0;
        int64_t n_used = 0;
        for (int64_t r = 0; r < c->n_records; r++) n_used += (c->flags[r] & REC_USED) != 0;
        int64_t n_keep = n_used < n_fit ? n_used : n_fit;
        n_dropped = c->n_records - n_keep;
        s = rewrite_file(c, REC_USED, n_keep, err);
    }
    if (s == LECTOR_STATUS_OK && (n_removed || n_dropped))
        snprintf(c->note, sizeof c->note,
                 "%s: over the size cap of %llu bytes: removed %lld older cache files and "
                 "dropped %lld records of this one", c->dir, (unsigned long long)c->max_size,
                 (long long)n_removed, (long long)n_dropped);
    return s;
}

// Open the file for appending and lock it, retrying when another run replaced it between
// the open and the lock. Returns the fd (-1 and err on failure).
static int open_locked(const char *path, struct stat *st, struct lector_error *err) {
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = open_file(path, O_RDWR | O_CREAT | O_APPEND, false, true, st, err);
        if (fd < 0) return -1;
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                lector__error(err, LECTOR_STATUS_IO, "%s: cannot lock: %s", path, strerror(e));
                return -1;
            }
        }
        struct stat now;
        if (lstat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
            fstat(fd, st) == 0)
            return fd;
        close(fd); // replaced while we waited for the lock: take the new one
    }
    lector__error(err, LECTOR_STATUS_IO, "%s: replaced by other runs too often", path);
    return -1;
}

enum lector_status lector_feature_cache_save(struct lector_feature_cache *c,
                                             struct lector_error *err) {
    if (c->read_only)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: opened read-only", c->path);
    uint64_t own;
    if (c->n_new == 0 && !c->rewrite && (!c->max_size || scan_dir(c, &own, NULL, NULL) <= c->max_size))
        return LECTOR_STATUS_OK;
    struct stat st;
    int fd = open_locked(c->path, &st, err);
    if (fd < 0) return LECTOR_STATUS_IO;
    enum lector_status s = LECTOR_STATUS_OK;
    bool same = c->file_known && st.st_dev == c->file_dev && st.st_ino == c->file_ino;
    if (st.st_size == 0) {
        // New file: the header first.
        uint8_t head[20];
        header_bytes(c, head);
        s = write_all(c->path, fd, head, sizeof head, err);
        if (s == LECTOR_STATUS_OK) s = write_all(c->path, fd, c->key, strlen(c->key), err);
        c->n_read = (off_t)header_size(c);
    } else {
        // Pick up what other runs appended since we read the file (all of it if it is
        // another file than the one we read), so no record is stored twice.
        enum header_kind kind = HEADER_OK;
        s = read_records(c, fd, same ? c->n_read : 0, &kind, err);
        if (kind != HEADER_OK) c->rewrite = true;
    }
    if (s == LECTOR_STATUS_OK && c->rewrite) {
        s = rewrite_file(c, 0, c->n_records, err);
    } else if (s == LECTOR_STATUS_OK) {
        // Cut a partial record left by a crashed writer, then append ours.
        if (st.st_size > c->n_read && ftruncate(fd, c->n_read) != 0) {
            int e = errno;
            s = lector__error(err, LECTOR_STATUS_IO, "%s: cannot cut a partial record: %s",
                              c->path, strerror(e));
        }
        if (s == LECTOR_STATUS_OK) s = write_records(c, fd, NULL, REC_NEW, c->n_records, err);
        if (s == LECTOR_STATUS_OK) {
            c->n_read += (off_t)((size_t)c->n_new * record_size(c->C));
            c->file_dev = st.st_dev;
            c->file_ino = st.st_ino;
            c->file_known = true;
        }
    }
    if (s == LECTOR_STATUS_OK) {
        for (int64_t r = 0; r < c->n_records; r++) c->flags[r] &= (uint8_t)~REC_NEW;
        c->n_new = 0;
        c->note[0] = '\0';
        s = enforce_cap(c, err);
    }
    close(fd); // releases the lock
    return s;
}

// ---- fine-tuning's boundary states ----------------------------------------------------
//
// The hidden states entering the first tuned layer, one (n, C) array per text, in
// "<dir>/<40 hex digits of sha256(key)>.lbs" (docs/formats.md), all little-endian:
//   header: magic "LECTORBS" | u32 version (1) | u32 C | u32 value bytes (4 fp32, 2 bf16)
//           | u32 key length | key bytes
//   records: sha256(token ids as u32) | u32 n | u32 head check | n C values | check
//   head check = the first 4 bytes of sha256(sha256(key) | the record's first 36 bytes)
//   check = sha256(sha256(key) | the record's first 36 bytes | the values as stored)
// The head check guards the length that leads to the next record; the check ties the values
// to their token ids and key as the feature cache's does. A record that fails its check is
// counted and its row computed again; a failed head check ends the reading (the rest cannot
// be found) and the next write replaces the file. Appends run under flock(2) after cutting a
// crashed writer's partial record; the file is rewritten whole (temp file + rename) only to
// repair it.

#define STATES_MAGIC "LECTORBS"
#define STATES_VERSION 1u
#define STATES_HEAD 40 // digest, u32 n, u32 head check

static bool little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void states_row_digest(const struct lector_token_row *r, uint8_t d[32]) {
    struct lector__sha256 s;
    uint8_t buf[1024];
    size_t k = 0;
    lector__sha256_init(&s);
    for (int64_t t = 0; t < r->n; t++) {
        const uint32_t u = (uint32_t)r->ids[t];
        for (int b = 0; b < 4; b++) buf[k++] = (uint8_t)(u >> (8 * b));
        if (k == sizeof buf) {
            lector__sha256_update(&s, buf, k);
            k = 0;
        }
    }
    lector__sha256_update(&s, buf, k);
    lector__sha256_final(&s, d);
}

static uint32_t states_head_check(const struct lector__states_cache *c, const uint8_t *head) {
    uint8_t d[32];
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, c->key_digest, 32);
    lector__sha256_update(&s, head, 36);
    lector__sha256_final(&s, d);
    return lector__read_u32_le(d);
}

static void states_check(const struct lector__states_cache *c, const uint8_t *head,
                         const void *values, size_t n_bytes, uint8_t d[32]) {
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, c->key_digest, 32);
    lector__sha256_update(&s, head, 36);
    lector__sha256_update(&s, values, n_bytes);
    lector__sha256_final(&s, d);
}

static size_t states_header_size(const struct lector__states_cache *c) {
    return 24 + strlen(c->key);
}

static void states_header(const struct lector__states_cache *c, uint8_t head[24]) {
    memcpy(head, STATES_MAGIC, 8);
    const uint32_t words[4] = {STATES_VERSION, (uint32_t)c->C, (uint32_t)c->elem,
                               (uint32_t)strlen(c->key)};
    for (int w = 0; w < 4; w++)
        for (int b = 0; b < 4; b++) head[8 + 4 * w + b] = (uint8_t)(words[w] >> (8 * b));
}

// Is the file at fd a states file of c's key, C and value size?
static bool states_header_ok(const struct lector__states_cache *c, int fd) {
    const size_t n = states_header_size(c);
    uint8_t want[24], *got = lector__malloc(n);
    states_header(c, want);
    bool ok = got && read_exact(fd, 0, got, n) && !memcmp(got, want, 24) &&
              !memcmp(got + 24, c->key, n - 24);
    lector_free(got);
    return ok;
}

enum lector_status lector__states_cache_open(struct lector__states_cache *c, const char *dir,
                                             const char *key, int64_t C, int elem,
                                             struct lector_error *err) {
    memset(c, 0, sizeof *c);
    if (!dir || !*dir || !key || strlen(key) > CACHE_KEY_MAX || C < 1 || C > (1 << 20) ||
        (elem != 2 && elem != 4))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "states cache: expected a directory, a key of at most %u bytes, "
                             "1 <= C <= 2^20 and values of 2 or 4 bytes", CACHE_KEY_MAX);
    if (!little_endian())
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "states cache: not on a big-endian machine (the values are stored little-endian)");
    enum lector_status s = make_dirs(dir, err);
    if (s != LECTOR_STATUS_OK) return s;
    char hex[65], name[80];
    sha256_of(key, strlen(key), c->key_digest);
    lector__sha256_hex(c->key_digest, hex);
    snprintf(name, sizeof name, "%.*s.lbs", CACHE_NAME_HEX, hex);
    c->dir = lector__strdup(dir);
    c->path = lector__path_join(dir, name);
    c->key = lector__strdup(key);
    c->C = C;
    c->elem = elem;
    if (!c->dir || !c->path || !c->key) {
        lector__states_cache_close(c);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    }
    return LECTOR_STATUS_OK;
}

void lector__states_cache_close(struct lector__states_cache *c) {
    if (!c) return;
    lector_free(c->dir);
    lector_free(c->path);
    lector_free(c->key);
    memset(c, 0, sizeof *c);
}

struct states_entry {
    uint8_t d[32];
    int64_t set, row;
};

static int cmp_states_entry(const void *a, const void *b) {
    const struct states_entry *x = a, *y = b;
    int k = memcmp(x->d, y->d, 32);
    if (k) return k;
    if (x->set != y->set) return x->set < y->set ? -1 : 1;
    return x->row < y->row ? -1 : (x->row > y->row);
}

// The records of fd from the header on: rows of the sets whose digest matches a record that
// passes its check are filled and flagged in their set's have (no sets: only walk). *end:
// the end of the last whole record read (a failed head check stops there too).
static enum lector_status states_walk(struct lector__states_cache *c, int fd, off_t size,
                                      struct lector__states_set *const *sets, int n_sets,
                                      off_t *end, struct lector_error *err) {
    int64_t n = 0;
    for (int k = 0; k < n_sets; k++) n += sets[k]->n;
    struct states_entry *e = NULL;
    const size_t row_values = (size_t)c->C * (size_t)c->elem;
    if (n > 0) {
        e = lector__malloc((size_t)n * sizeof *e);
        if (!e) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", c->path);
        int64_t at = 0;
        for (int k = 0; k < n_sets; k++)
            for (int64_t i = 0; i < sets[k]->n; i++, at++) {
                states_row_digest(&sets[k]->rows[i], e[at].d);
                e[at].set = k;
                e[at].row = i;
            }
        qsort(e, (size_t)n, sizeof *e, cmp_states_entry);
    }
    off_t pos = (off_t)states_header_size(c);
    uint8_t head[STATES_HEAD], check[32], want[32];
    while (pos + STATES_HEAD <= size && read_exact(fd, pos, head, STATES_HEAD)) {
        const uint32_t n_tok = lector__read_u32_le(head + 32);
        if (states_head_check(c, head) != lector__read_u32_le(head + 36) || n_tok == 0 ||
            n_tok > (1u << 20)) {
            c->n_damaged++;
            c->rewrite = true;
            break;
        }
        const size_t n_bytes = (size_t)n_tok * row_values;
        const off_t rec = STATES_HEAD + (off_t)n_bytes + 32;
        if (pos + rec > size) break; // a partial record: a writer stopped mid-way
        // the first row of this digest still missing, of the record's length
        int64_t lo = 0, hi = n;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (memcmp(e[mid].d, head, 32) < 0) lo = mid + 1;
            else hi = mid;
        }
        const int64_t first = lo;
        uint8_t *dst = NULL;
        for (int64_t k = first; k < n && !memcmp(e[k].d, head, 32); k++) {
            const struct lector__states_set *st = sets[e[k].set];
            if (!st->have[e[k].row] && st->rows[e[k].row].n == (int64_t)n_tok) {
                dst = (uint8_t *)st->data + (size_t)st->off[e[k].row] * row_values;
                break;
            }
        }
        if (dst) {
            if (!read_exact(fd, pos + STATES_HEAD, dst, n_bytes) ||
                !read_exact(fd, pos + STATES_HEAD + (off_t)n_bytes, check, 32)) {
                lector_free(e);
                return lector__error(err, LECTOR_STATUS_IO, "%s: read failed", c->path);
            }
            states_check(c, head, dst, n_bytes, want);
            if (memcmp(want, check, 32)) {
                c->n_damaged++;
                c->rewrite = true;
            } else {
                // every row of these token ids gets the values
                for (int64_t k = first; k < n && !memcmp(e[k].d, head, 32); k++) {
                    struct lector__states_set *st = sets[e[k].set];
                    const int64_t r = e[k].row;
                    if (st->have[r] || st->rows[r].n != (int64_t)n_tok) continue;
                    uint8_t *to = (uint8_t *)st->data + (size_t)st->off[r] * row_values;
                    if (to != dst) memcpy(to, dst, n_bytes);
                    st->have[r] = 1;
                    st->n_read++;
                }
            }
        }
        pos += rec;
    }
    *end = pos < size ? pos : size;
    lector_free(e);
    return LECTOR_STATUS_OK;
}

enum lector_status lector__states_cache_read(struct lector__states_cache *c,
                                             struct lector__states_set *const *sets, int n_sets,
                                             struct lector_error *err) {
    for (int k = 0; k < n_sets; k++) {
        memset(sets[k]->have, 0, (size_t)sets[k]->n);
        sets[k]->n_read = 0;
    }
    struct stat st;
    int fd = open_file(c->path, O_RDONLY, true, true, &st, err);
    if (fd < 0) return errno == ENOENT ? LECTOR_STATUS_OK : LECTOR_STATUS_IO;
    enum lector_status s = LECTOR_STATUS_OK;
    if (st.st_size > 0 && !states_header_ok(c, fd)) {
        c->rewrite = true; // another format or key under this name: replaced
    } else if (st.st_size > 0) {
        off_t end;
        s = states_walk(c, fd, st.st_size, sets, n_sets, &end, err);
        (void)futimens(fd, NULL); // recently used: evicted last
    }
    close(fd);
    if (s != LECTOR_STATUS_OK)
        for (int k = 0; k < n_sets; k++) {
            memset(sets[k]->have, 0, (size_t)sets[k]->n);
            sets[k]->n_read = 0;
        }
    return s;
}

// Append the records of the rows of each set not flagged in `skip` (all rows when skip is
// NULL) to fd (or af).
static enum lector_status states_write_records(const struct lector__states_cache *c, int fd,
                                               struct lector__afile *af,
                                               const struct lector__states_set *set,
                                               const uint8_t *skip, struct lector_error *err) {
    const size_t row_values = (size_t)c->C * (size_t)c->elem;
    enum lector_status s = LECTOR_STATUS_OK;
    for (int64_t i = 0; s == LECTOR_STATUS_OK && i < set->n; i++) {
        if (skip && skip[i]) continue;
        uint8_t head[STATES_HEAD], check[32];
        states_row_digest(&set->rows[i], head);
        const uint32_t n_tok = (uint32_t)set->rows[i].n;
        const size_t n_bytes = (size_t)n_tok * row_values;
        for (int b = 0; b < 4; b++) head[32 + b] = (uint8_t)(n_tok >> (8 * b));
        const uint32_t hc = states_head_check(c, head);
        for (int b = 0; b < 4; b++) head[36 + b] = (uint8_t)(hc >> (8 * b));
        const uint8_t *v = (const uint8_t *)set->data + (size_t)set->off[i] * row_values;
        states_check(c, head, v, n_bytes, check);
        const void *parts[3] = {head, v, check};
        const size_t sizes[3] = {STATES_HEAD, n_bytes, 32};
        for (int k = 0; s == LECTOR_STATUS_OK && k < 3; k++)
            s = af ? lector__afile_write(af, parts[k], sizes[k], err)
                   : write_all(c->path, fd, parts[k], sizes[k], err);
    }
    return s;
}

// Bytes of the records of the rows of set not flagged in skip.
static uint64_t states_bytes(const struct lector__states_cache *c,
                             const struct lector__states_set *set, const uint8_t *skip) {
    uint64_t n = 0;
    for (int64_t i = 0; i < set->n; i++)
        if (!skip || !skip[i])
            n += STATES_HEAD + 32 + (uint64_t)set->rows[i].n * (uint64_t)c->C * (uint64_t)c->elem;
    return n;
}

// Room for `need` more bytes under the directory's cap: other cache files removed, least
// recently used first. false when even that is not enough.
static bool states_make_room(const struct lector__states_cache *c, uint64_t need,
                             uint64_t max_size) {
    if (!max_size) return true;
    if (need > max_size) return false; // removing other files would not help
    struct lector_feature_cache view = {.dir = c->dir, .path = c->path};
    struct lfc_entry *e;
    size_t n;
    uint64_t own, total = scan_dir(&view, &own, &e, &n);
    for (size_t i = 0; i < n && total + need > max_size; i++)
        if (unlink(e[i].path) == 0) total -= (uint64_t)e[i].size;
    for (size_t i = 0; i < n; i++) lector_free(e[i].path);
    lector_free(e);
    return total + need <= max_size;
}

enum lector_status lector__states_cache_write(struct lector__states_cache *c,
                                              struct lector__states_set *const *sets,
                                              int n_sets, uint64_t max_size,
                                              struct lector_error *err) {
    uint64_t need = 0;
    for (int k = 0; k < n_sets; k++) need += states_bytes(c, sets[k], c->rewrite ? NULL : sets[k]->have);
    if (!c->rewrite && need == 0) return LECTOR_STATUS_OK;
    if (!states_make_room(c, need + states_header_size(c), max_size))
        return lector__error(err, LECTOR_STATUS_IO,
                             "%s: the frozen layers' states (%llu bytes) do not fit under the "
                             "cache size cap of %llu bytes: not stored", c->dir,
                             (unsigned long long)need, (unsigned long long)max_size);
    enum lector_status s = LECTOR_STATUS_OK;
    uint8_t head[24];
    states_header(c, head);
    if (!c->rewrite) {
        struct stat st;
        int fd = open_locked(c->path, &st, err);
        if (fd < 0) return LECTOR_STATUS_IO;
        off_t end = 0;
        if (st.st_size == 0) {
            s = write_all(c->path, fd, head, sizeof head, err);
            if (s == LECTOR_STATUS_OK) s = write_all(c->path, fd, c->key, strlen(c->key), err);
        } else if (!states_header_ok(c, fd)) {
            c->rewrite = true;
        } else {
            // cut a crashed writer's partial record (or what follows a damaged head)
            s = states_walk(c, fd, st.st_size, NULL, 0, &end, err);
            if (s == LECTOR_STATUS_OK && end < st.st_size && ftruncate(fd, end) != 0) {
                int e = errno;
                s = lector__error(err, LECTOR_STATUS_IO, "%s: cannot cut a partial record: %s",
                                  c->path, strerror(e));
            }
        }
        for (int k = 0; s == LECTOR_STATUS_OK && !c->rewrite && k < n_sets; k++)
            s = states_write_records(c, fd, NULL, sets[k], sets[k]->have, err);
        close(fd); // releases the lock
        if (s != LECTOR_STATUS_OK || !c->rewrite) return s;
    }
    // repair: this run's rows alone, in a new file renamed over the old one
    struct lector__afile af;
    s = lector__afile_open(&af, c->path, err);
    if (s != LECTOR_STATUS_OK) return s;
    s = lector__afile_write(&af, head, sizeof head, err);
    if (s == LECTOR_STATUS_OK) s = lector__afile_write(&af, c->key, strlen(c->key), err);
    for (int k = 0; s == LECTOR_STATUS_OK && k < n_sets; k++)
        s = states_write_records(c, -1, &af, sets[k], NULL, err);
    if (s != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return s;
    }
    s = lector__afile_commit(&af, err);
    if (s == LECTOR_STATUS_OK) c->rewrite = false;
    return s;
}

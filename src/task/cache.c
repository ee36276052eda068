// The feature cache: pooled encoder vectors on disk, so that training again with other
// hyperparameters does not run the encoder again.
//
// One file per key, "<dir>/<sha256(key)>.lfc", where the key names everything the vectors
// depend on (encoder checksum, tokenizer hash, pooling, max length, ...). Layout, all
// little-endian:
//   magic "LECTORFC" | u32 version (1) | u32 C | u32 key length | key bytes |
//   records: 32-byte SHA-256 of the text bytes, then C float32
// A record that is cut short (a crashed writer on a file system without atomic rename) is
// ignored, as is a file whose header or key does not match: the cache is only an
// accelerator. Saving re-reads the file, adds the records it lacks and replaces it with
// rename(2) (lector__afile), so concurrent runs never see a torn file; when two runs save at
// once the last rename wins and the other's new records are simply computed again later.
#define _POSIX_C_SOURCE 200809L
#include "lector/classifier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base_impl.h"

#define CACHE_MAGIC "LECTORFC"
#define CACHE_VERSION 1u

struct lector_feature_cache {
    char *path;
    char *key;
    int64_t C;
    // Open-addressing table of record indices (-1 = empty), keyed by the text digest.
    int64_t *slots;
    size_t n_slots;
    uint8_t *digests; // (n_records, 32)
    float *vecs;      // (n_records, C)
    int64_t n_records, cap;
    int64_t n_new;    // records added since open/save
};

static uint64_t digest_slot(const uint8_t *d) { return lector__read_u64_le(d); }

static void text_digest(const char *text, size_t len, uint8_t d[32]) {
    struct lector__sha256 s;
    lector__sha256_init(&s);
    lector__sha256_update(&s, text, len);
    lector__sha256_final(&s, d);
}

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
    int64_t cap = c->cap ? c->cap * 2 : 1024;
    uint8_t *d = lector__realloc(c->digests, (size_t)cap * 32);
    if (!d) return false;
    c->digests = d;
    float *v = lector__realloc(c->vecs, (size_t)cap * (size_t)c->C * sizeof *v);
    if (!v) return false;
    c->vecs = v;
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

// Add a record unless its digest is present. false only when out of memory.
static bool add(struct lector_feature_cache *c, const uint8_t *d, const float *v) {
    if (c->n_slots && find(c, d) >= 0) return true;
    if (!grow(c)) return false;
    int64_t r = c->n_records++;
    memcpy(c->digests + r * 32, d, 32);
    memcpy(c->vecs + r * c->C, v, (size_t)c->C * sizeof *v);
    size_t mask = c->n_slots - 1, i = (size_t)digest_slot(d) & mask;
    while (c->slots[i] >= 0) i = (i + 1) & mask;
    c->slots[i] = r;
    return true;
}

static float f32_le(const uint8_t *p) {
    uint32_t u = lector__read_u32_le(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Merge the records of the file at c->path (if it exists and matches) into c.
static enum lector_status load_file(struct lector_feature_cache *c, struct lector_error *err) {
    FILE *fp = fopen(c->path, "rb");
    if (!fp) return LECTOR_STATUS_OK; // no cache yet (or unreadable: then it is just slower)
    enum lector_status s = LECTOR_STATUS_OK;
    size_t klen = strlen(c->key), rec = 32 + 4 * (size_t)c->C;
    uint8_t head[20];
    uint8_t *buf = lector__malloc(rec > klen ? rec : klen + 1);
    float *v = lector__malloc((size_t)c->C * sizeof *v);
    if (!buf || !v) {
        s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", c->path);
        goto done;
    }
    if (fread(head, 1, 20, fp) != 20 || memcmp(head, CACHE_MAGIC, 8) ||
        lector__read_u32_le(head + 8) != CACHE_VERSION ||
        lector__read_u32_le(head + 12) != (uint32_t)c->C || lector__read_u32_le(head + 16) != klen ||
        fread(buf, 1, klen, fp) != klen || memcmp(buf, c->key, klen))
        goto done;
    while (fread(buf, 1, rec, fp) == rec) {
        for (int64_t k = 0; k < c->C; k++) v[k] = f32_le(buf + 32 + 4 * k);
        if (!add(c, buf, v)) {
            s = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", c->path);
            goto done;
        }
    }
done:
    lector_free(v);
    lector_free(buf);
    fclose(fp);
    return s;
}

// mkdir -p for the cache directory.
static enum lector_status make_dirs(const char *dir, struct lector_error *err) {
    char *p = lector__strdup(dir);
    if (!p) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char save = *q;
            *q = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
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

enum lector_status lector_feature_cache_open(const char *dir, const char *key, int64_t C,
                                             struct lector_feature_cache **out,
                                             struct lector_error *err) {
    *out = NULL;
    if (!dir || !*dir || !key || C < 1 || C > (1 << 20))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "feature cache: expected a directory, a key and 1 <= C <= 2^20");
    enum lector_status s = make_dirs(dir, err);
    if (s != LECTOR_STATUS_OK) return s;
    struct lector_feature_cache *c = lector__calloc(1, sizeof *c);
    if (!c) return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    uint8_t d[32];
    char hex[65], name[80];
    text_digest(key, strlen(key), d);
    lector__sha256_hex(d, hex);
    snprintf(name, sizeof name, "%.40s.lfc", hex);
    c->C = C;
    c->key = lector__strdup(key);
    c->path = lector__path_join(dir, name);
    if (!c->key || !c->path || !grow(c)) {
        lector_feature_cache_free(c);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    }
    s = load_file(c, err);
    if (s != LECTOR_STATUS_OK) {
        lector_feature_cache_free(c);
        return s;
    }
    *out = c;
    return LECTOR_STATUS_OK;
}

void lector_feature_cache_free(struct lector_feature_cache *c) {
    if (!c) return;
    lector_free(c->vecs);
    lector_free(c->digests);
    lector_free(c->slots);
    lector_free(c->path);
    lector_free(c->key);
    lector_free(c);
}

const char *lector_feature_cache_path(const struct lector_feature_cache *c) { return c->path; }
int64_t lector_feature_cache_n_records(const struct lector_feature_cache *c) { return c->n_records; }

bool lector_feature_cache_get(const struct lector_feature_cache *c, const char *text, size_t len,
                              float *out) {
    uint8_t d[32];
    text_digest(text, len, d);
    int64_t r = find(c, d);
    if (r < 0) return false;
    memcpy(out, c->vecs + r * c->C, (size_t)c->C * sizeof *out);
    return true;
}

enum lector_status lector_feature_cache_put(struct lector_feature_cache *c, const char *text,
                                            size_t len, const float *v,
                                            struct lector_error *err) {
    uint8_t d[32];
    text_digest(text, len, d);
    int64_t before = c->n_records;
    if (!add(c, d, v))
        return lector__error(err, LECTOR_STATUS_NOMEM, "feature cache: out of memory");
    c->n_new += c->n_records - before;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_feature_cache_save(struct lector_feature_cache *c,
                                             struct lector_error *err) {
    if (c->n_new == 0) return LECTOR_STATUS_OK;
    // Pick up what other runs saved since we loaded, so their work is kept too.
    enum lector_status s = load_file(c, err);
    if (s != LECTOR_STATUS_OK) return s;
    struct lector__afile af;
    s = lector__afile_open(&af, c->path, err);
    if (s != LECTOR_STATUS_OK) return s;
    uint32_t klen = (uint32_t)strlen(c->key);
    uint8_t head[20];
    memcpy(head, CACHE_MAGIC, 8);
    const uint32_t words[3] = {CACHE_VERSION, (uint32_t)c->C, klen};
    for (int w = 0; w < 3; w++)
        for (int b = 0; b < 4; b++) head[8 + 4 * w + b] = (uint8_t)(words[w] >> (8 * b));
    size_t rec = 32 + 4 * (size_t)c->C;
    uint8_t *buf = lector__malloc(rec);
    if (!buf) {
        lector__afile_abort(&af);
        return lector__error(err, LECTOR_STATUS_NOMEM, "out of memory");
    }
    s = lector__afile_write(&af, head, sizeof head, err);
    if (s == LECTOR_STATUS_OK) s = lector__afile_write(&af, c->key, klen, err);
    for (int64_t r = 0; s == LECTOR_STATUS_OK && r < c->n_records; r++) {
        memcpy(buf, c->digests + r * 32, 32);
        for (int64_t k = 0; k < c->C; k++) {
            uint32_t u;
            memcpy(&u, &c->vecs[r * c->C + k], sizeof u);
            for (int b = 0; b < 4; b++) buf[32 + 4 * k + b] = (uint8_t)(u >> (8 * b));
        }
        s = lector__afile_write(&af, buf, rec, err);
    }
    lector_free(buf);
    if (s != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return s;
    }
    s = lector__afile_commit(&af, err);
    if (s == LECTOR_STATUS_OK) c->n_new = 0;
    return s;
}

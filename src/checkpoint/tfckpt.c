// TensorFlow tensor bundles (the original Google BERT checkpoints): reading the index
// (tfckpt_index.c) and the data shards into a checkpoint, under the names the encoder knows
// (src/encoder/tf_names.c). Messages name the file, the tensor and the byte offset.
#define _POSIX_C_SOURCE 200809L
#include "checkpoint/checkpoint_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/base_impl.h"
#include "encoder/tf_names.h"

// An index takes about 100 bytes per tensor (BERT-large with its Adam slots: ~40 KB); this
// bounds what a hostile file can make us read and allocate.
#define INDEX_MAX ((size_t)64 << 20)

// TensorFlow's DataType values for the dtypes lector keeps.
static bool tf_dtype(int32_t v, enum lector_dtype *out) {
    switch (v) {
    case 1: *out = LECTOR_DTYPE_F32; return true;
    case 2: *out = LECTOR_DTYPE_F64; return true;
    case 3: *out = LECTOR_DTYPE_I32; return true;
    case 4: *out = LECTOR_DTYPE_U8; return true;
    case 5: *out = LECTOR_DTYPE_I16; return true;
    case 6: *out = LECTOR_DTYPE_I8; return true;
    case 9: *out = LECTOR_DTYPE_I64; return true;
    case 10: *out = LECTOR_DTYPE_BOOL; return true;
    case 14: *out = LECTOR_DTYPE_BF16; return true;
    case 19: *out = LECTOR_DTYPE_F16; return true;
    default: return false;
    }
}

static const char *tf_dtype_name(int32_t v) {
    switch (v) {
    case 7: return " (DT_STRING)";
    case 8: return " (DT_COMPLEX64)";
    case 17: return " (DT_UINT16)";
    case 18: return " (DT_COMPLEX128)";
    case 20: return " (DT_RESOURCE)";
    case 21: return " (DT_VARIANT)";
    case 22: return " (DT_UINT32)";
    case 23: return " (DT_UINT64)";
    default: return "";
    }
}

// ----------------------------------------------------------------------------
// loading the tensors

struct kept {
    const struct lector__tf_entry *e;
    char *name; // mapped (owned)
    enum lector_dtype dtype;
    bool transpose; // a 2-D kernel
    size_t slot;    // offset in its shard's arena
};

// dst (C, R) = src (R, C) transposed, elements of es bytes.
static void transpose_copy(uint8_t *dst, const uint8_t *src, int64_t R, int64_t C, size_t es) {
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            memcpy(dst + ((size_t)j * (size_t)R + (size_t)i) * es,
                   src + ((size_t)i * (size_t)C + (size_t)j) * es, es);
}

static char *shard_path(const char *prefix, int32_t s, int32_t n) {
    size_t len = strlen(prefix) + 32;
    char *p = lector__malloc(len);
    if (p) snprintf(p, len, "%s.data-%05d-of-%05d", prefix, (int)s, (int)n);
    return p;
}

// Read the tensors of shard s into a new arena owned by ck and add them.
static enum lector_status load_shard(struct lector_checkpoint *ck, const char *path,
                                     const char *index_path, struct kept *kt, int64_t n_kept,
                                     int32_t s, const struct lector__crc32c *crc,
                                     struct lector_error *err) {
    void *base = NULL;
    size_t size = 0;
    uint8_t *arena = NULL;
    struct lector__ck_src *src = NULL;
    enum lector_status st = lector__map_file(path, &base, &size, err);
    if (st != LECTOR_STATUS_OK) return st;
    const uint8_t *data = base;
    size_t total = 0;
    int64_t n_src = 0;
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        if (e->shard_id != s) continue;
        if (e->offset > size || e->size > size - e->offset) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu): bytes [%" PRIu64
                                  ", %" PRIu64 ") lie past the end of %s (%zu bytes)",
                                  index_path, e->name, e->at, e->offset, e->offset + e->size,
                                  path, size);
            goto fail;
        }
        uint32_t got = lector__crc32c_mask(
            e->size ? lector__crc32c_update(crc, 0, data + e->offset, (size_t)e->size) : 0);
        if (got != e->crc32c) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, NULL, (int64_t)e->offset,
                                  "%s: tensor '%.100s': CRC-32C mismatch at byte %" PRIu64
                                  " (stored %08" PRIx32 ", computed %08" PRIx32
                                  "): the data file is corrupt",
                                  path, e->name, e->offset, e->crc32c, got);
            goto fail;
        }
        kt[i].slot = total;
        size_t padded = ((size_t)e->size + 63) / 64 * 64;
        if (padded < e->size || !lector__add_size(total, padded, &total)) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: tensors overflow", path);
            goto fail;
        }
        n_src++;
    }
    if (total) {
        arena = lector__aligned_alloc(total);
        if (!arena) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", path,
                               total);
            goto fail;
        }
    }
    src = lector__calloc(n_src ? (size_t)n_src : 1, sizeof *src);
    if (!src) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int64_t j = 0;
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        if (e->shard_id != s) continue;
        struct lector__ck_src *o = &src[j++];
        *o = lector__ck_src_of(kt[i].name, kt[i].dtype, e->n_dims, e->shape, arena ? arena + kt[i].slot : NULL);
        if (e->size == 0) continue;
        if (kt[i].transpose) {
            transpose_copy(arena + kt[i].slot, data + e->offset, e->shape[0], e->shape[1],
                           lector_dtype_size(kt[i].dtype));
            o->shape[0] = e->shape[1];
            o->shape[1] = e->shape[0];
        } else {
            memcpy(arena + kt[i].slot, data + e->offset, (size_t)e->size);
        }
    }
    munmap(base, size);
    base = NULL;
    int64_t fi;
    st = lector__ck_add_file(ck, path, arena, total, LECTOR__CK_HEAP, &fi, err);
    arena = NULL; // ck owns it now, even on failure
    if (st == LECTOR_STATUS_OK) {
        // Pointers into the registered arena (the same memory, now ck's).
        st = lector__ck_add_tensors(ck, fi, src, n_src, err);
    }
fail:
    lector_free(src);
    lector__aligned_free(arena);
    if (base) munmap(base, size);
    return st;
}

enum lector_status lector__ck_add_tf(struct lector_checkpoint *ck, const char *prefix,
                                     struct lector_error *err) {
    struct lector__tf_index ix = {0};
    struct kept *kt = NULL;
    int64_t n_kept = 0;
    char *text = NULL, *index_path = NULL, *path = NULL;
    struct lector__crc32c *crc = NULL;
    size_t n = 0;
    enum lector_status st;
    size_t plen = strlen(prefix);
    index_path = lector__malloc(plen + sizeof ".index");
    if (!index_path) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", prefix);
    memcpy(index_path, prefix, plen);
    memcpy(index_path + plen, ".index", sizeof ".index");

    if ((st = lector__read_file(index_path, INDEX_MAX, &text, &n, err))) goto fail;
    if ((st = lector__tf_index_parse((const uint8_t *)text, n, index_path, &ix, err))) goto fail;
    int64_t fi;
    // The index holds no tensor data but is part of what the checksum must cover.
    if ((st = lector__ck_add_file(ck, index_path, NULL, 0, LECTOR__CK_HEAP, &fi, err))) goto fail;

    kt = lector__calloc(ix.n_entries ? (size_t)ix.n_entries : 1, sizeof *kt);
    crc = lector__malloc(sizeof *crc);
    if (!kt || !crc) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
        goto fail;
    }
    lector__crc32c_init(crc);
    for (int64_t i = 0; i < ix.n_entries; i++) {
        const struct lector__tf_entry *e = &ix.entries[i];
        char mapped[512];
        bool transpose;
        if (strlen(e->name) > 400) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: byte %zu: tensor name of %zu bytes is too long",
                                  index_path, e->at, strlen(e->name));
            goto fail;
        }
        if (!lector__tf_map_name(e->name, mapped, sizeof mapped, &transpose)) continue;
        enum lector_dtype dt;
        const char *why = NULL;
        if (e->sliced)
            why = "is a partitioned variable (slices); re-save it unpartitioned";
        else if (!tf_dtype(e->dtype, &dt))
            why = "has a TensorFlow dtype lector does not read";
        else if (e->n_dims > LECTOR_MAX_DIMS)
            why = "has more than 4 dimensions";
        if (why) {
            st = lector__error_offset(err, LECTOR_STATUS_UNSUPPORTED, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu, dtype %" PRId32 "%s) %s",
                                  index_path, e->name, e->at, e->dtype, tf_dtype_name(e->dtype),
                                  why);
            goto fail;
        }
        size_t want;
        if (!lector__mul_size((size_t)e->numel, lector_dtype_size(dt), &want) || want != e->size) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu): size %" PRIu64
                                  " bytes, but %" PRId64 " x %s needs %" PRId64 " x %zu",
                                  index_path, e->name, e->at, e->size, e->numel,
                                  lector_dtype_name(dt), e->numel, lector_dtype_size(dt));
            goto fail;
        }
        kt[n_kept].e = e;
        kt[n_kept].dtype = dt;
        kt[n_kept].transpose = transpose && e->n_dims == 2;
        kt[n_kept].name = lector__strdup(mapped);
        if (!kt[n_kept].name) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        n_kept++;
    }
    // Every shard a kept tensor lives in must exist before any is read.
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        path = shard_path(prefix, e->shard_id, ix.n_shards);
        if (!path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        if (!lector__file_exists(path)) {
            st = lector__error(err, LECTOR_STATUS_NOT_FOUND,
                               "%s: data shard %s is missing (tensor '%.100s' is stored in "
                               "shard %" PRId32 " of %" PRId32 ")",
                               index_path, path, e->name, e->shard_id, ix.n_shards);
            goto fail;
        }
        lector_free(path);
        path = NULL;
    }
    for (int32_t s = 0; s < ix.n_shards; s++) {
        bool used = false;
        for (int64_t i = 0; i < n_kept && !used; i++) used = kt[i].e->shard_id == s;
        if (!used) continue;
        path = shard_path(prefix, s, ix.n_shards);
        if (!path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        if ((st = load_shard(ck, path, index_path, kt, n_kept, s, crc, err))) goto fail;
        lector_free(path);
        path = NULL;
    }
    st = LECTOR_STATUS_OK;
fail:
    for (int64_t i = 0; i < n_kept; i++) lector_free(kt[i].name);
    lector_free(kt);
    lector_free(crc);
    lector_free(path);
    lector__tf_index_free(&ix);
    lector_free(text);
    lector_free(index_path);
    return st;
}

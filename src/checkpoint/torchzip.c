// pytorch_model.bin: torch.save's zip archive (stored entries only) around a state dict
// pickle. Layout and the pickle subset are described in checkpoint_impl.h.
#include "checkpoint/checkpoint_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <zip.h>

#include "base/base_impl.h"

// data.pkl of a state dict is a few bytes per tensor; this only stops a hostile archive
// from making us allocate without bound.
#define PKL_SIZE_MAX ((zip_uint64_t)256 << 20)

struct tz {
    zip_t *za;
    const char *path;
    char *prefix; // top-level folder of the archive, without '/'
    struct lector_error *err;
};

// Look up an entry and check that lector can read it in place: present, stored, unencrypted.
static enum lector_status stat_entry(struct tz *z, const char *entry, bool required,
                                     zip_int64_t *idx, zip_uint64_t *size) {
    *idx = zip_name_locate(z->za, entry, 0);
    if (*idx < 0) {
        if (!required) return LECTOR_STATUS_NOT_FOUND;
        return lector__error(z->err, LECTOR_STATUS_FORMAT, "%s: archive entry '%.200s' is missing",
                             z->path, entry);
    }
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z->za, (zip_uint64_t)*idx, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE))
        return lector__error(z->err, LECTOR_STATUS_FORMAT, "%s: cannot stat entry '%.200s': %s",
                             z->path, entry, zip_strerror(z->za));
    if ((sb.valid & ZIP_STAT_COMP_METHOD) && sb.comp_method != ZIP_CM_STORE)
        return lector__error(z->err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: entry '%.200s' is compressed (method %d); only stored entries "
                             "are supported, as torch.save writes them",
                             z->path, entry, (int)sb.comp_method);
    if ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE)
        return lector__error(z->err, LECTOR_STATUS_UNSUPPORTED, "%s: entry '%.200s' is encrypted",
                             z->path, entry);
    *size = sb.size;
    return LECTOR_STATUS_OK;
}

// Read exactly size bytes of entry idx into dst, and make libzip check the CRC.
static enum lector_status read_entry(struct tz *z, const char *entry, zip_int64_t idx, void *dst,
                                     zip_uint64_t size) {
    zip_file_t *zf = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!zf)
        return lector__error(z->err, LECTOR_STATUS_FORMAT, "%s: cannot open entry '%.200s': %s",
                             z->path, entry, zip_strerror(z->za));
    zip_uint64_t got = 0;
    enum lector_status st = LECTOR_STATUS_OK;
    while (got < size) {
        zip_int64_t r = zip_fread(zf, (uint8_t *)dst + got, size - got);
        if (r <= 0) break;
        got += (zip_uint64_t)r;
    }
    uint8_t extra;
    // A read at the end returns 0 once the CRC matched, -1 if it did not.
    if (got != size || zip_fread(zf, &extra, 1) != 0)
        st = lector__error(z->err, LECTOR_STATUS_FORMAT,
                           "%s: entry '%.200s': read %" PRIu64 " of %" PRIu64 " bytes: %s",
                           z->path, entry, (uint64_t)got, (uint64_t)size, zip_file_strerror(zf));
    zip_fclose(zf);
    return st;
}

// The one "<prefix>/data.pkl" entry at the top level.
static enum lector_status find_prefix(struct tz *z) {
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name) continue;
        const char *slash = strchr(name, '/');
        if (!slash || slash == name || strcmp(slash, "/data.pkl") != 0) continue;
        if (z->prefix)
            return lector__error(z->err, LECTOR_STATUS_FORMAT,
                                 "%s: more than one data.pkl in the archive (%s/ and %.*s/)",
                                 z->path, z->prefix, (int)(slash - name), name);
        z->prefix = lector__strndup(name, (size_t)(slash - name));
        if (!z->prefix) return lector__error(z->err, LECTOR_STATUS_NOMEM, "%s: out of memory", z->path);
    }
    if (!z->prefix)
        return lector__error(z->err, LECTOR_STATUS_FORMAT,
                             "%s: no <name>/data.pkl entry: not a torch.save archive", z->path);
    return LECTOR_STATUS_OK;
}

static char *entry_name(const char *prefix, const char *rest) {
    size_t n = strlen(prefix) + strlen(rest) + 2;
    char *s = lector__malloc(n);
    if (s) snprintf(s, n, "%s/%s", prefix, rest);
    return s;
}

static enum lector_status check_byteorder(struct tz *z) {
    char *entry = entry_name(z->prefix, "byteorder");
    if (!entry) return lector__error(z->err, LECTOR_STATUS_NOMEM, "%s: out of memory", z->path);
    zip_int64_t idx;
    zip_uint64_t size;
    enum lector_status st = stat_entry(z, entry, false, &idx, &size);
    if (st == LECTOR_STATUS_NOT_FOUND) { // older files: always little-endian
        lector_free(entry);
        return LECTOR_STATUS_OK;
    }
    char buf[16] = {0};
    if (st == LECTOR_STATUS_OK && size >= sizeof buf)
        st = lector__error(z->err, LECTOR_STATUS_FORMAT, "%s: byteorder entry of %" PRIu64 " bytes",
                           z->path, (uint64_t)size);
    if (st == LECTOR_STATUS_OK) st = read_entry(z, entry, idx, buf, size);
    if (st == LECTOR_STATUS_OK && strcmp(buf, "little") != 0)
        st = lector__error(z->err, LECTOR_STATUS_UNSUPPORTED,
                           "%s: byteorder '%.15s' is not supported (only little)", z->path, buf);
    lector_free(entry);
    return st;
}

// ----------------------------------------------------------------------------
// loading

struct storage {
    const char *key;
    enum lector_dtype dtype;
    int64_t numel;
    size_t offset; // in the arena
};

static enum lector_status load_storages(struct tz *z, const struct lector__pkl_state *ps,
                                        struct storage *stor, int64_t *n_stor, int64_t *which,
                                        uint8_t **arena_out, size_t *arena_size) {
    enum lector_status st;
    *n_stor = 0;
    size_t total = 0;
    // Distinct storages in first-use order; every view of one must agree on its type and size.
    for (int64_t i = 0; i < ps->n_tensors; i++) {
        const struct lector__pkl_tensor *t = &ps->tensors[i];
        int64_t s = 0;
        while (s < *n_stor && strcmp(stor[s].key, t->storage_key) != 0) s++;
        if (s == *n_stor) {
            if (!t->storage_key[0] || strchr(t->storage_key, '/') || strstr(t->storage_key, ".."))
                return lector__error(z->err, LECTOR_STATUS_FORMAT,
                                     "%s: tensor '%.200s': bad storage key '%.40s'", z->path,
                                     t->name, t->storage_key);
            stor[s] = (struct storage){t->storage_key, t->dtype, t->storage_numel, 0};
            size_t bytes;
            if (!lector__mul_size((size_t)t->storage_numel, lector_dtype_size(t->dtype), &bytes) ||
                !lector__add_size(bytes, 63, &bytes) || !lector__add_size(total, bytes / 64 * 64, &total))
                return lector__error(z->err, LECTOR_STATUS_FORMAT,
                                     "%s: storage '%.40s' of %" PRId64 " elements overflows",
                                     z->path, t->storage_key, t->storage_numel);
            (*n_stor)++;
        } else if (stor[s].dtype != t->dtype || stor[s].numel != t->storage_numel) {
            return lector__error(z->err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%.200s': storage '%.40s' declared as %" PRId64
                                 " x %s and as %" PRId64 " x %s",
                                 z->path, t->name, t->storage_key, stor[s].numel,
                                 lector_dtype_name(stor[s].dtype), t->storage_numel,
                                 lector_dtype_name(t->dtype));
        }
        which[i] = s;
    }
    uint8_t *arena = total ? lector__aligned_alloc(total) : NULL;
    if (total && !arena)
        return lector__error(z->err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", z->path,
                             total);
    size_t used = 0;
    for (int64_t s = 0; s < *n_stor; s++) {
        size_t bytes = (size_t)stor[s].numel * lector_dtype_size(stor[s].dtype);
        char rest[128];
        snprintf(rest, sizeof rest, "data/%.100s", stor[s].key);
        char *entry = entry_name(z->prefix, rest);
        zip_int64_t idx;
        zip_uint64_t size = 0;
        st = entry ? stat_entry(z, entry, true, &idx, &size)
                   : lector__error(z->err, LECTOR_STATUS_NOMEM, "%s: out of memory", z->path);
        if (st == LECTOR_STATUS_OK && size != (zip_uint64_t)bytes)
            st = lector__error(z->err, LECTOR_STATUS_FORMAT,
                               "%s: storage '%.40s' has %" PRIu64 " bytes, %" PRId64
                               " x %s needs %zu",
                               z->path, stor[s].key, (uint64_t)size, stor[s].numel,
                               lector_dtype_name(stor[s].dtype), bytes);
        if (st == LECTOR_STATUS_OK && bytes) st = read_entry(z, entry, idx, arena + used, bytes);
        lector_free(entry);
        if (st != LECTOR_STATUS_OK) {
            lector__aligned_free(arena);
            return st;
        }
        stor[s].offset = used;
        used += (bytes + 63) / 64 * 64;
    }
    *arena_out = arena;
    *arena_size = total;
    return LECTOR_STATUS_OK;
}

enum lector_status lector__ck_add_torchzip(struct lector_checkpoint *ck, const char *path,
                                           const void *buf, size_t n, struct lector_error *err) {
    const uint8_t *b = buf;
    if (n < 4 || memcmp(b, "PK\x03\x04", 4) != 0) {
        if (n >= 2 && b[0] == 0x80)
            return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                                 "%s: legacy (non-zip) torch.save format is not supported; "
                                 "re-save it with PyTorch >= 1.6 (torch.save(torch.load(f), f)) "
                                 "or convert it to safetensors",
                                 path);
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: not a zip archive, so not a torch.save file", path);
    }
    struct tz z = {.path = path, .err = err};
    struct lector__pkl_state ps = {0};
    uint8_t *pkl = NULL, *arena = NULL;
    struct storage *stor = NULL;
    int64_t *which = NULL;
    struct lector__ck_src *src = NULL;
    char *entry = NULL;
    enum lector_status st;

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *zs = zip_source_buffer_create(buf, n, 0, &ze);
    if (zs) z.za = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z.za) {
        st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: bad zip archive: %s", path,
                           zip_error_strerror(&ze));
        if (zs) zip_source_free(zs);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);

    if ((st = find_prefix(&z)) || (st = check_byteorder(&z))) goto fail;
    entry = entry_name(z.prefix, "data.pkl");
    zip_int64_t idx;
    zip_uint64_t size;
    if (!entry) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((st = stat_entry(&z, entry, true, &idx, &size))) goto fail;
    if (size > PKL_SIZE_MAX) {
        st = lector__error(err, LECTOR_STATUS_FORMAT, "%s: data.pkl is %" PRIu64 " bytes, over the limit",
                           path, (uint64_t)size);
        goto fail;
    }
    pkl = lector__malloc((size_t)size);
    if (!pkl) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((st = read_entry(&z, entry, idx, pkl, size))) goto fail;
    char pkl_name[300];
    snprintf(pkl_name, sizeof pkl_name, "%.200s: %.80s/data.pkl", path, z.prefix);
    if ((st = lector__pickle_state_dict(pkl, (size_t)size, pkl_name, &ps, err))) goto fail;

    stor = lector__calloc((size_t)ps.n_tensors, sizeof *stor);
    which = lector__calloc((size_t)ps.n_tensors, sizeof *which);
    src = lector__calloc((size_t)ps.n_tensors, sizeof *src);
    if (!stor || !which || !src) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int64_t n_stor = 0;
    size_t arena_size = 0;
    if ((st = load_storages(&z, &ps, stor, &n_stor, which, &arena, &arena_size))) goto fail;
    int64_t fi;
    st = lector__ck_add_file(ck, path, arena, arena_size, LECTOR__CK_HEAP, &fi, err);
    arena = NULL; // ck owns it now, even on failure
    if (st != LECTOR_STATUS_OK) goto fail;
    const uint8_t *base = ck->files[fi].base;
    for (int64_t i = 0; i < ps.n_tensors; i++) {
        const struct lector__pkl_tensor *t = &ps.tensors[i];
        // The pickle reader checked that a non-empty view lies inside its storage; an empty
        // one may carry any offset, so it gets no pointer arithmetic at all.
        int64_t numel = 0;
        LECTOR_ASSERT(lector__shape_numel(t->shape, t->n_dims, &numel)); // the pickle checked it
        src[i] = lector__ck_src_of(t->name, t->dtype, t->n_dims, t->shape,
                                   numel == 0 || !base ? base
                                                       : base + stor[which[i]].offset +
                                                             (size_t)t->offset * lector_dtype_size(t->dtype));
    }
    st = lector__ck_add_tensors(ck, fi, src, ps.n_tensors, err);
fail:
    lector__aligned_free(arena);
    lector_free(src);
    lector_free(which);
    lector_free(stor);
    lector__pkl_state_free(&ps);
    lector_free(pkl);
    lector_free(entry);
    lector_free(z.prefix);
    zip_discard(z.za);
    return st;
}

// safetensors: header validation, file mapping, and the atomic writer.
#define _POSIX_C_SOURCE 200809L
#include "checkpoint/checkpoint_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "base/json_impl.h"

// ----------------------------------------------------------------------------
// helpers

// "[2, 3]" into buf.
static void format_shape(char *buf, size_t cap, const int64_t *shape, int32_t n_dims) {
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

// ----------------------------------------------------------------------------
// header parsing

void lector__st_header_free(struct lector__st_header *h) {
    if (!h) return;
    for (int64_t i = 0; i < h->n_entries; i++) lector_free(h->entries[i].name);
    lector_free(h->entries);
    for (int64_t i = 0; i < h->n_meta; i++) {
        lector_free(h->meta_keys[i]);
        lector_free(h->meta_values[i]);
    }
    lector_free(h->meta_keys);
    lector_free(h->meta_values);
    memset(h, 0, sizeof *h);
}

static enum lector_status parse_metadata(const json_t *meta, const char *name,
                                         struct lector__st_header *h, struct lector_error *err) {
    if (!json_is_object(meta))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: __metadata__ must be an object, got %s", name, lector__json_kind(meta));
    size_t n = json_object_size(meta);
    h->meta_keys = lector__calloc(n, sizeof *h->meta_keys);
    h->meta_values = lector__calloc(n, sizeof *h->meta_values);
    if (!h->meta_keys || !h->meta_values)
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory for metadata", name);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: __metadata__ key '%.200s': expected a string, got %s", name,
                                 key, lector__json_kind(val));
        h->meta_keys[h->n_meta] = lector__strdup(key);
        h->meta_values[h->n_meta] = lector__strdup(json_string_value(val));
        h->n_meta++;
        if (!h->meta_keys[h->n_meta - 1] || !h->meta_values[h->n_meta - 1])
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory for metadata",
                                 name);
    }
    return LECTOR_STATUS_OK;
}

// Validate one tensor entry against its own description; the layout as a whole is checked
// after sorting.
static enum lector_status parse_entry(const char *key, const json_t *val, const char *name,
                                      uint64_t n_data, struct lector__st_entry *e,
                                      struct lector_error *err) {
    if (!json_is_object(val))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': expected an object, got %s", name, key,
                             lector__json_kind(val));
    const json_t *jd = json_object_get(val, "dtype");
    const json_t *js = json_object_get(val, "shape");
    const json_t *jo = json_object_get(val, "data_offsets");
    if (!jd || !js || !jo)
        return lector__error(err, LECTOR_STATUS_FORMAT, "%s: tensor '%.200s': missing '%s'",
                             name, key, !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (!json_is_string(jd))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': dtype must be a string, got %s", name, key,
                             lector__json_kind(jd));
    if (!lector__dtype_parse(json_string_value(jd), &e->dtype))
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: tensor '%.200s': dtype '%.32s' is not supported (supported: "
                             "F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)",
                             name, key, json_string_value(jd));

    if (!json_is_array(js))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': shape must be an array, got %s", name, key,
                             lector__json_kind(js));
    size_t n_dims = json_array_size(js);
    if (n_dims > LECTOR_MAX_DIMS)
        return lector__error(err, LECTOR_STATUS_UNSUPPORTED,
                             "%s: tensor '%.200s': shape has %zu dimensions, at most %d are "
                             "supported",
                             name, key, n_dims, LECTOR_MAX_DIMS);
    e->n_dims = (int32_t)n_dims;
    for (size_t i = 0; i < n_dims; i++) {
        const json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%.200s': shape[%zu] must be a non-negative "
                                 "integer, got %s",
                                 name, key, i, lector__json_kind(d));
        e->shape[i] = (int64_t)json_integer_value(d);
    }
    int64_t numel = 0;
    bool overflow = !lector__shape_numel(e->shape, e->n_dims, &numel);
    char shape_str[128];
    format_shape(shape_str, sizeof shape_str, e->shape, e->n_dims);
    size_t esize = lector_dtype_size(e->dtype);
    size_t nbytes = 0;
    if (overflow || !lector__mul_size((size_t)numel, esize, &nbytes) || numel < 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': shape %s x %s overflows the size range", name,
                             key, shape_str, lector_dtype_name(e->dtype));

    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)) ||
        json_integer_value(json_array_get(jo, 0)) < 0 ||
        json_integer_value(json_array_get(jo, 1)) < 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': data_offsets must be two non-negative "
                             "integers [begin, end]",
                             name, key);
    e->begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
    e->end = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (e->begin > e->end)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                             "] end before they begin",
                             name, key, e->begin, e->end);
    if (e->end - e->begin != (uint64_t)nbytes)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                             "] span %" PRIu64 " bytes, shape %s x %s needs %zu",
                             name, key, e->begin, e->end, e->end - e->begin, shape_str,
                             lector_dtype_name(e->dtype), nbytes);
    if (e->end > n_data)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                             "] end past the data section (%" PRIu64 " bytes; file truncated?)",
                             name, key, e->begin, e->end, n_data);
    e->name = lector__strdup(key);
    if (!e->name)
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", name);
    return LECTOR_STATUS_OK;
}

static int cmp_entry(const void *a, const void *b) {
    const struct lector__st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

// Sorted by offset, the tensors must tile the data section exactly: no gap, no overlap.
static enum lector_status check_layout(const struct lector__st_header *h, const char *name,
                                       struct lector_error *err) {
    uint64_t pos = 0;
    const struct lector__st_entry *prev = NULL;
    for (int64_t i = 0; i < h->n_entries; i++) {
        const struct lector__st_entry *e = &h->entries[i];
        if (e->begin < pos)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                                 "] overlap tensor '%.200s' [%" PRIu64 ", %" PRIu64 "]",
                                 name, e->name, e->begin, e->end, prev->name, prev->begin,
                                 prev->end);
        if (e->begin > pos)
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                                 "] leave a gap of %" PRIu64 " bytes after %s%.200s%s",
                                 name, e->name, e->begin, e->end, e->begin - pos,
                                 prev ? "tensor '" : "", prev ? prev->name : "the header",
                                 prev ? "'" : "");
        pos = e->end;
        prev = e;
    }
    if (pos != h->n_data)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: the tensors cover %" PRIu64 " bytes but the data section is %" PRIu64
                             " bytes (%" PRIu64 " trailing bytes)",
                             name, pos, h->n_data, h->n_data - pos);
    return LECTOR_STATUS_OK;
}

static enum lector_status parse_json(const json_t *root, const char *name,
                                     struct lector__st_header *h, struct lector_error *err) {
    enum lector_status st;
    if (!json_is_object(root))
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: header must be a JSON object, got %s", name, lector__json_kind(root));
    size_t n_keys = json_object_size(root);
    h->entries = lector__calloc(n_keys, sizeof *h->entries);
    if (!h->entries) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", name);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_metadata(val, name, h, err))) return st;
            continue;
        }
        if ((st = parse_entry(key, val, name, h->n_data, &h->entries[h->n_entries], err)))
            return st;
        h->n_entries++;
    }
    qsort(h->entries, (size_t)h->n_entries, sizeof *h->entries, cmp_entry);
    return check_layout(h, name, err);
}

enum lector_status lector__safetensors_parse(const uint8_t *buf, size_t n, const char *name,
                                             struct lector__st_header *h,
                                             struct lector_error *err) {
    memset(h, 0, sizeof *h);
    if (n < 8)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: file is %zu bytes, too short for the 8-byte header length",
                             name, n);
    uint64_t n_header = lector__read_u64_le(buf);
    if (n_header > LECTOR__ST_HEADER_MAX)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: header length %" PRIu64 " is over the limit of %" PRIu64
                             " bytes",
                             name, n_header, LECTOR__ST_HEADER_MAX);
    if (n_header > n - 8)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: header length %" PRIu64 " runs past the end of the file (%zu "
                             "bytes)",
                             name, n_header, n);
    h->n_header = n_header;
    h->n_data = (uint64_t)(n - 8 - (size_t)n_header);
    const uint8_t *hdr = buf + 8;
    size_t bad = lector__utf8_invalid_at(hdr, (size_t)n_header);
    if (bad != n_header)
        return lector__error_offset(err, LECTOR_STATUS_FORMAT, name, (int64_t)(8 + bad),
                                "%s: header is not valid UTF-8 (byte 0x%02x at file offset %zu)",
                                name, hdr[bad], 8 + bad);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)hdr, (size_t)n_header, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        lector__error_offset(err, LECTOR_STATUS_FORMAT, name, 8 + (int64_t)jerr.position,
                         "%s: header is not valid JSON: %s (file offset %d)", name, jerr.text,
                         8 + jerr.position);
        return LECTOR_STATUS_FORMAT;
    }
    enum lector_status st = parse_json(root, name, h, err);
    json_decref(root);
    if (st != LECTOR_STATUS_OK) lector__st_header_free(h);
    return st;
}

// ----------------------------------------------------------------------------
// reading into a checkpoint

enum lector_status lector__map_file(const char *path, void **base, size_t *size,
                                    struct lector_error *err) {
    *base = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lector__error(err, e == ENOENT ? LECTOR_STATUS_NOT_FOUND : LECTOR_STATUS_IO,
                             "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lector__error(err, LECTOR_STATUS_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lector__error(err, LECTOR_STATUS_IO, "%s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: too large to map", path);
    }
    size_t n = (size_t)st.st_size;
    if (n == 0) { // mmap refuses length 0; the parser reports the empty file
        close(fd);
        return LECTOR_STATUS_OK;
    }
    // The hints only tune read-ahead; a kernel that refuses them still reads the file.
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    void *p = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return lector__error(err, LECTOR_STATUS_IO, "%s: mmap of %zu bytes failed: %s", path, n,
                             strerror(e));
    }
    close(fd); // the mapping keeps the file referenced
    (void)posix_madvise(p, n, POSIX_MADV_SEQUENTIAL);
    *base = p;
    *size = n;
    return LECTOR_STATUS_OK;
}

enum lector_status lector__ck_add_safetensors(struct lector_checkpoint *ck, const char *path,
                                              void *base, size_t size,
                                              enum lector__ck_storage storage,
                                              struct lector_error *err) {
    int64_t fi = -1;
    enum lector_status st = lector__ck_add_file(ck, path, base, size, storage, &fi, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector__st_header h;
    st = lector__safetensors_parse(base, size, path, &h, err);
    if (st != LECTOR_STATUS_OK) return st;
    struct lector__ck_src *src = lector__calloc((size_t)h.n_entries, sizeof *src);
    if (!src) {
        lector__st_header_free(&h);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    }
    const uint8_t *data = (const uint8_t *)base + 8 + h.n_header;
    for (int64_t i = 0; i < h.n_entries; i++) {
        const struct lector__st_entry *e = &h.entries[i];
        src[i] = lector__ck_src_of(e->name, e->dtype, e->n_dims, e->shape, data + e->begin);
    }
    st = lector__ck_add_tensors(ck, fi, src, h.n_entries, err);
    lector_free(src);
    if (st == LECTOR_STATUS_OK && ck->n_meta == 0 && fi == 0 && h.n_meta > 0) {
        // Hand the metadata strings over instead of copying them.
        ck->meta_keys = h.meta_keys;
        ck->meta_values = h.meta_values;
        ck->n_meta = h.n_meta;
        h.meta_keys = h.meta_values = NULL;
        h.n_meta = 0;
    }
    lector__st_header_free(&h);
    return st;
}

enum lector_status lector__checkpoint_open_memory(const void *data, size_t n, const char *name,
                                                  struct lector_checkpoint **out,
                                                  struct lector_error *err) {
    *out = NULL;
    struct lector_checkpoint *ck = lector__ck_new();
    void *copy = lector__aligned_alloc(n);
    if (!ck || !copy) {
        lector__aligned_free(copy);
        lector_checkpoint_close(ck);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", name);
    }
    if (n) memcpy(copy, data, n);
    enum lector_status st = lector__ck_add_safetensors(ck, name, copy, n, LECTOR__CK_HEAP, err);
    if (st == LECTOR_STATUS_OK) st = lector__ck_finish(ck, err);
    if (st != LECTOR_STATUS_OK) {
        lector_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// writer

static bool is_contiguous(const struct lector_tensor *t) {
    int64_t expect = 1;
    for (int32_t i = t->n_dims - 1; i >= 0; i--) {
        // A dimension of size 1 may carry any stride: it is never stepped over.
        if (t->shape[i] != 1 && t->stride[i] != expect) return false;
        expect *= t->shape[i];
    }
    return true;
}

static enum lector_status header_nomem(const char *path, struct lector_error *err) {
    return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory building the header", path);
}

// root's "__metadata__": keys[i] = values[i] for i < n (n > 0), each key once, valid UTF-8.
static enum lector_status header_metadata(json_t *root, const char *const *keys,
                                          const char *const *values, int64_t n, const char *path,
                                          struct lector_error *err) {
    json_t *meta = json_object();
    if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) return header_nomem(path, err);
    for (int64_t i = 0; i < n; i++) {
        if (!keys[i] || !values[i])
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "%s: metadata entry %" PRId64 " has a NULL key or value", path, i);
        if (json_object_get(meta, keys[i]))
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "%s: metadata key '%.200s' given twice", path, keys[i]);
        json_t *v = json_string(values[i]);
        if (!v || json_object_set_new(meta, keys[i], v) != 0)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "%s: metadata key '%.200s': key or value is not valid UTF-8",
                                 path, keys[i]);
    }
    return LECTOR_STATUS_OK;
}

// root's entry of tensor t (the i-th): its dtype, shape and data offsets from *offset, which
// moves past its bytes; the checks of its name, dtype, shape, size and layout first.
static enum lector_status header_tensor(json_t *root, const struct lector_tensor *t, int64_t i,
                                        uint64_t *offset, const char *path,
                                        struct lector_error *err) {
    const char *nm = t->name ? t->name : "(null)";
    size_t esize = lector_dtype_size(t->dtype);
    if (!t->name || strcmp(t->name, "__metadata__") == 0 || esize == 0 || t->n_dims < 0 ||
        t->n_dims > LECTOR_MAX_DIMS)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: tensor %" PRId64 " '%.200s': bad name, dtype or n_dims %d",
                             path, i, nm, (int)t->n_dims);
    if (json_object_get(root, t->name))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: tensor '%.200s' given twice",
                             path, nm);
    int64_t numel = 0;
    if (!lector__shape_numel(t->shape, t->n_dims, &numel))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: tensor '%.200s': bad shape",
                             path, nm);
    size_t nbytes;
    if (!lector__mul_size((size_t)numel, esize, &nbytes) || *offset + nbytes < *offset)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: tensor '%.200s': size overflows", path, nm);
    if (!is_contiguous(t) || (nbytes > 0 && !t->data))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: tensor '%.200s': not contiguous or no data", path, nm);
    json_t *shape = json_array();
    json_t *offs = json_array();
    json_t *ent = json_object();
    if (!shape || !offs || !ent) {
        json_decref(shape);
        json_decref(offs);
        json_decref(ent);
        return header_nomem(path, err);
    }
    bool ok = true;
    for (int32_t d = 0; d < t->n_dims; d++)
        ok &= json_array_append_new(shape, json_integer(t->shape[d])) == 0;
    ok &= json_array_append_new(offs, json_integer((json_int_t)*offset)) == 0;
    ok &= json_array_append_new(offs, json_integer((json_int_t)(*offset + nbytes))) == 0;
    ok &= json_object_set_new(ent, "dtype", json_string(lector_dtype_name(t->dtype))) == 0;
    ok &= json_object_set_new(ent, "shape", shape) == 0;
    ok &= json_object_set_new(ent, "data_offsets", offs) == 0;
    if (!ok) {
        json_decref(ent);
        return header_nomem(path, err);
    }
    if (json_object_set_new(root, t->name, ent) != 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "%s: tensor name '%.200s' is not valid UTF-8", path, nm);
    *offset += nbytes;
    return LECTOR_STATUS_OK;
}

static enum lector_status build_header(const struct lector_tensor *tensors, int64_t n_tensors,
                                       const char *const *meta_keys,
                                       const char *const *meta_values, int64_t n_meta,
                                       const char *path, json_t **out,
                                       struct lector_error *err) {
    *out = NULL;
    json_t *root = json_object();
    if (!root) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    enum lector_status s = LECTOR_STATUS_OK;
    if (n_meta > 0) s = header_metadata(root, meta_keys, meta_values, n_meta, path, err);
    uint64_t offset = 0;
    for (int64_t i = 0; i < n_tensors && s == LECTOR_STATUS_OK; i++)
        s = header_tensor(root, &tensors[i], i, &offset, path, err);
    if (s != LECTOR_STATUS_OK) {
        json_decref(root);
        return s;
    }
    *out = root;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_safetensors_write(const char *path, const struct lector_tensor *tensors,
                                            int64_t n_tensors, const char *const *meta_keys,
                                            const char *const *meta_values, int64_t n_meta,
                                            struct lector_error *err) {
    if (!path || n_tensors < 0 || (n_tensors > 0 && !tensors) || n_meta < 0 ||
        (n_meta > 0 && (!meta_keys || !meta_values)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "lector_safetensors_write: bad arguments");
    json_t *root = NULL;
    enum lector_status st =
        build_header(tensors, n_tensors, meta_keys, meta_values, n_meta, path, &root, err);
    if (st != LECTOR_STATUS_OK) return st;
    char *json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!json) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);

    // Pad with spaces so the data starts at a multiple of 8 bytes.
    size_t n_json = strlen(json);
    size_t n_header = (n_json + 7) / 8 * 8;
    uint8_t len_le[8];
    lector__write_u64_le(len_le, (uint64_t)n_header);
    static const char spaces[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

    struct lector__afile af;
    st = lector__afile_open(&af, path, err);
    if (st != LECTOR_STATUS_OK) {
        free(json);
        return st;
    }
    st = lector__afile_write(&af, len_le, sizeof len_le, err);
    if (st == LECTOR_STATUS_OK) st = lector__afile_write(&af, json, n_json, err);
    if (st == LECTOR_STATUS_OK && n_header > n_json)
        st = lector__afile_write(&af, spaces, n_header - n_json, err);
    free(json);
    for (int64_t i = 0; i < n_tensors && st == LECTOR_STATUS_OK; i++) {
        size_t nbytes = (size_t)lector_tensor_numel(&tensors[i]) * lector_dtype_size(tensors[i].dtype);
        if (nbytes) st = lector__afile_write(&af, tensors[i].data, nbytes, err);
    }
    if (st != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return st;
    }
    return lector__afile_commit(&af, err);
}

// The checkpoint object: tensor table, conversions at load, directory and shard handling.
#define _DEFAULT_SOURCE // madvise(MADV_DONTNEED)
#include "checkpoint/checkpoint_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "base/json_impl.h"

// ----------------------------------------------------------------------------
// tensor table

struct lector_checkpoint *lector__ck_new(void) { return lector__calloc(1, sizeof(struct lector_checkpoint)); }

static void release_storage(void *base, size_t size, enum lector__ck_storage storage) {
    if (!base) return;
    if (storage == LECTOR__CK_MMAP)
        munmap(base, size);
    else
        lector__aligned_free(base);
}

void lector_checkpoint_close(struct lector_checkpoint *ck) {
    if (!ck) return;
    for (int64_t i = 0; i < ck->n_tensors; i++) lector_free((char *)ck->tensors[i].name);
    lector_free(ck->tensors);
    lector_free(ck->stored);
    lector_free(ck->file_of);
    lector_free(ck->by_name);
    for (int64_t i = 0; i < ck->n_files; i++) {
        struct lector__ck_file *f = &ck->files[i];
        lector__aligned_free(f->arena);
        release_storage(f->base, f->size, f->storage);
        lector_free(f->path);
    }
    lector_free(ck->files);
    for (int64_t i = 0; i < ck->n_meta; i++) {
        lector_free(ck->meta_keys[i]);
        lector_free(ck->meta_values[i]);
    }
    lector_free(ck->meta_keys);
    lector_free(ck->meta_values);
    lector_free(ck);
}

enum lector_status lector__ck_add_file(struct lector_checkpoint *ck, const char *path, void *base,
                                       size_t size, enum lector__ck_storage storage,
                                       int64_t *file_index, struct lector_error *err) {
    struct lector__ck_file *files =
        lector__realloc(ck->files, (size_t)(ck->n_files + 1) * sizeof *files);
    char *p = lector__strdup(path);
    if (!files || !p) {
        if (files) ck->files = files;
        lector_free(p);
        release_storage(base, size, storage);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    }
    ck->files = files;
    files[ck->n_files] = (struct lector__ck_file){
        .path = p, .base = base, .size = size, .storage = storage, .arena = NULL};
    *file_index = ck->n_files++;
    return LECTOR_STATUS_OK;
}

static enum lector_status grow_tensors(struct lector_checkpoint *ck, int64_t need, const char *path,
                                       struct lector_error *err) {
    if (need <= ck->cap_tensors) return LECTOR_STATUS_OK;
    int64_t cap = ck->cap_tensors ? ck->cap_tensors : 64;
    while (cap < need) cap *= 2;
    struct lector_tensor *t = lector__realloc(ck->tensors, (size_t)cap * sizeof *t);
    if (t) ck->tensors = t;
    enum lector_dtype *s = lector__realloc(ck->stored, (size_t)cap * sizeof *s);
    if (s) ck->stored = s;
    int64_t *f = lector__realloc(ck->file_of, (size_t)cap * sizeof *f);
    if (f) ck->file_of = f;
    if (!t || !s || !f) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    ck->cap_tensors = cap;
    return LECTOR_STATUS_OK;
}

// Called only after lector__ck_add_tensors checked every source's count.
static int64_t src_numel(const struct lector__ck_src *s) {
    int64_t n = 0;
    LECTOR_ASSERT(lector__shape_numel(s->shape, s->n_dims, &n));
    return n;
}

static bool needs_copy(const struct lector_checkpoint *ck, const struct lector__ck_src *s) {
    if (src_numel(s) == 0) return false; // gets empty_data below
    if (s->dtype == LECTOR_DTYPE_F16 || s->dtype == LECTOR_DTYPE_BF16) return true;
    size_t align = ck->f32_in_place ? _Alignof(float) : 64;
    return s->dtype == LECTOR_DTYPE_F32 && (uintptr_t)s->data % align != 0;
}

// Drop the whole pages inside [p, p + n) from the resident set. For a read-only file mapping
// the file is untouched and the pages come back from it on a later read; for our own heap
// memory the contents are gone, so callers only pass ranges nobody will read again.
static void drop_pages(const void *p, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0) return;
    uintptr_t a = (uintptr_t)p, b = a + n;
    uintptr_t lo = (a + (uintptr_t)ps - 1) / (uintptr_t)ps * (uintptr_t)ps;
    uintptr_t hi = b / (uintptr_t)ps * (uintptr_t)ps;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); // advisory: ignore failure
}

// Where empty tensors point: aligned and never NULL, so callers need no special case.
static _Alignas(64) const uint8_t empty_data[64];

enum lector_status lector__ck_add_tensors(struct lector_checkpoint *ck, int64_t file_index,
                                          const struct lector__ck_src *src, int64_t n,
                                          struct lector_error *err) {
    LECTOR_ASSERT(file_index >= 0 && file_index < ck->n_files);
    struct lector__ck_file *file = &ck->files[file_index];
    LECTOR_ASSERT(file->arena == NULL);
    // Readers validate sizes too; this check holds for every reader whatever it missed, and
    // names the tensor even when it is empty or one the encoder will never use.
    for (int64_t i = 0; i < n; i++) {
        int64_t numel;
        size_t bytes;
        if (src[i].n_dims < 0 || src[i].n_dims > LECTOR_MAX_DIMS ||
            !lector__shape_numel(src[i].shape, src[i].n_dims, &numel) ||
            !lector__mul_size((size_t)numel, sizeof(float), &bytes))
            return lector__error(err, LECTOR_STATUS_FORMAT,
                                 "%s: tensor '%.200s': its sizes overflow the element count",
                                 file->path, src[i].name);
    }
    // One arena per file for every tensor that cannot be used in place; each slot is padded
    // to 64 bytes so every tensor in it starts aligned. The sizes were checked just above, so
    // the products below cannot overflow; the sums are still checked.
    size_t arena_size = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!needs_copy(ck, &src[i])) continue;
        size_t bytes = (size_t)src_numel(&src[i]) * sizeof(float);
        size_t padded = (bytes + 63) / 64 * 64;
        if (padded < bytes || !lector__add_size(arena_size, padded, &arena_size))
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: converted tensors overflow",
                                 file->path);
    }
    if (arena_size > 0) {
        file->arena = lector__aligned_alloc(arena_size);
        if (!file->arena)
            return lector__error(err, LECTOR_STATUS_NOMEM,
                                 "%s: cannot allocate %zu bytes for converted tensors",
                                 file->path, arena_size);
    }
    enum lector_status st = grow_tensors(ck, ck->n_tensors + n, file->path, err);
    if (st != LECTOR_STATUS_OK) return st;

    uint8_t *arena = file->arena;
    size_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        const struct lector__ck_src *s = &src[i];
        struct lector_tensor *t = &ck->tensors[ck->n_tensors];
        memset(t, 0, sizeof *t);
        t->name = lector__strdup(s->name);
        if (!t->name) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", file->path);
        t->n_dims = s->n_dims;
        int64_t stride = 1;
        for (int32_t d = LECTOR_MAX_DIMS - 1; d >= 0; d--) {
            t->shape[d] = d < s->n_dims ? s->shape[d] : 1;
            t->stride[d] = d < s->n_dims ? stride : 1;
            if (d < s->n_dims) stride *= s->shape[d];
        }
        int64_t numel = src_numel(s);
        if (needs_copy(ck, s)) {
            float *dst = (float *)(arena + used);
            used += ((size_t)numel * sizeof(float) + 63) / 64 * 64;
            const uint8_t *p = s->data;
            if (s->dtype == LECTOR_DTYPE_F32) {
                memcpy(dst, p, (size_t)numel * sizeof(float));
            } else if (s->dtype == LECTOR_DTYPE_F16) {
                for (int64_t k = 0; k < numel; k++)
                    dst[k] = lector__f16_to_f32((uint16_t)(p[2 * k] | p[2 * k + 1] << 8));
            } else {
                for (int64_t k = 0; k < numel; k++)
                    dst[k] = lector__bf16_to_f32((uint16_t)(p[2 * k] | p[2 * k + 1] << 8));
            }
            t->dtype = LECTOR_DTYPE_F32;
            t->data = dst;
        } else if (numel == 0) {
            bool half = s->dtype == LECTOR_DTYPE_F16 || s->dtype == LECTOR_DTYPE_BF16;
            t->dtype = half ? LECTOR_DTYPE_F32 : s->dtype;
            t->data = (void *)empty_data;
        } else {
            t->dtype = s->dtype;
            t->data = (void *)s->data; // read-only mapping: callers must not write
        }
        ck->stored[ck->n_tensors] = s->dtype;
        ck->file_of[ck->n_tensors] = file_index;
        ck->n_tensors++;
        // The copy made the source pages resident; a mapping's pages are not needed again.
        if (needs_copy(ck, s) && file->storage == LECTOR__CK_MMAP)
            drop_pages(s->data, (size_t)numel * lector_dtype_size(s->dtype));
    }
    LECTOR_ASSERT(used == arena_size);
    return LECTOR_STATUS_OK;
}

static int cmp_name(const void *a, const void *b) {
    const struct lector__ck_name *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

enum lector_status lector__ck_finish(struct lector_checkpoint *ck, struct lector_error *err) {
    lector_free(ck->by_name);
    ck->by_name = lector__malloc((size_t)ck->n_tensors * sizeof *ck->by_name);
    if (!ck->by_name) return lector__error(err, LECTOR_STATUS_NOMEM, "checkpoint: out of memory");
    for (int64_t i = 0; i < ck->n_tensors; i++)
        ck->by_name[i] = (struct lector__ck_name){ck->tensors[i].name, i};
    qsort(ck->by_name, (size_t)ck->n_tensors, sizeof *ck->by_name, cmp_name);
    for (int64_t i = 1; i < ck->n_tensors; i++) {
        const struct lector__ck_name *a = &ck->by_name[i - 1], *b = &ck->by_name[i];
        if (strcmp(a->name, b->name) != 0) continue;
        const char *fa = ck->files[ck->file_of[a->index]].path;
        const char *fb = ck->files[ck->file_of[b->index]].path;
        if (strcmp(fa, fb) == 0)
            return lector__error(err, LECTOR_STATUS_FORMAT, "%s: tensor '%.200s' appears twice",
                                 fa, a->name);
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "tensor '%.200s' appears in two shards: %s and %s", a->name, fa, fb);
    }
    return LECTOR_STATUS_OK;
}

int64_t lector__ck_lookup(const struct lector_checkpoint *ck, const char *name) {
    if (!ck || !name || !ck->by_name) return -1;
    int64_t lo = 0, hi = ck->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->by_name[mid].name, name);
        if (c == 0) return ck->by_name[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

// ----------------------------------------------------------------------------
// opening files and directories

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum lector_status open_safetensors(struct lector_checkpoint *ck, const char *path,
                                           struct lector_error *err) {
    void *base = NULL;
    size_t size = 0;
    enum lector_status st = lector__map_file(path, &base, &size, err);
    if (st != LECTOR_STATUS_OK) return st;
    return lector__ck_add_safetensors(ck, path, base, size, LECTOR__CK_MMAP, err);
}

static enum lector_status open_torchzip(struct lector_checkpoint *ck, const char *path,
                                        struct lector_error *err) {
    void *base = NULL;
    size_t size = 0;
    enum lector_status st = lector__map_file(path, &base, &size, err);
    if (st != LECTOR_STATUS_OK) return st;
    // The storages are copied out of the archive, so the mapping is needed only while reading.
    st = lector__ck_add_torchzip(ck, path, base, size, err);
    if (base) munmap(base, size);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool shard_name_ok(const char *s) {
    return s[0] != '\0' && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

// model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
static enum lector_status open_index(struct lector_checkpoint *ck, const char *index,
                                     const char *dir, struct lector_error *err) {
    json_t *root = NULL;
    const char **shards = NULL;
    char *shard_path = NULL;
    enum lector_status st = lector__json_read(index, (size_t)LECTOR__ST_HEADER_MAX, -1, &root, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    const json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(map) || json_object_size(map) == 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected an object with a non-empty \"weight_map\"", index);
        goto fail;
    }
    size_t n_map = json_object_size(map), n_shards = 0;
    shards = lector__malloc(n_map * sizeof *shards);
    if (!shards) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index);
        goto fail;
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)map, key, val) {
        if (!json_is_string(val)) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: weight_map entry '%.200s' must be a file name string", index,
                               key);
            goto fail;
        }
        const char *file = json_string_value(val);
        if (!shard_name_ok(file)) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: weight_map entry '%.200s' names shard '%.200s': a shard must be "
                               "a plain file name in the same directory",
                               index, key, file);
            goto fail;
        }
        shards[n_shards++] = file;
    }
    // Each distinct shard once, in name order (model-00001-of-..., model-00002-of-...).
    qsort(shards, n_shards, sizeof *shards, cmp_str);
    size_t n_unique = 0;
    for (size_t i = 0; i < n_shards; i++)
        if (n_unique == 0 || strcmp(shards[n_unique - 1], shards[i]) != 0)
            shards[n_unique++] = shards[i];
    for (size_t i = 0; i < n_unique; i++) { // check all before mapping any
        shard_path = lector__path_join(dir, shards[i]);
        if (!shard_path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index);
            goto fail;
        }
        if (!lector__file_exists(shard_path)) {
            st = lector__error(err, LECTOR_STATUS_NOT_FOUND,
                               "%s: shard '%.200s' is missing (%s does not exist)", index,
                               shards[i], shard_path);
            goto fail;
        }
        lector_free(shard_path);
        shard_path = NULL;
    }
    for (size_t i = 0; i < n_unique; i++) {
        shard_path = lector__path_join(dir, shards[i]);
        if (!shard_path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index);
            goto fail;
        }
        if ((st = open_safetensors(ck, shard_path, err))) goto fail;
        lector_free(shard_path);
        shard_path = NULL;
    }
    if ((st = lector__ck_finish(ck, err))) goto fail;
    // Every name the index promises must be in the shard it names.
    json_object_foreach((json_t *)map, key, val) {
        int64_t i = lector__ck_lookup(ck, key);
        const char *file = json_string_value(val);
        const char *have = i >= 0 ? ck->files[ck->file_of[i]].path : NULL;
        const char *base = have ? strrchr(have, '/') : NULL;
        base = base ? base + 1 : have;
        if (!have || strcmp(base, file) != 0) {
            st = lector__error(err, LECTOR_STATUS_FORMAT,
                               "%s: weight_map puts tensor '%.200s' in %.200s, but %s", index,
                               key, file, have ? "it is in another shard" : "no shard has it");
            goto fail;
        }
    }
    st = LECTOR_STATUS_OK;
fail:
    lector_free(shard_path);
    lector_free(shards);
    json_decref(root);
    return st;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return lector__strdup(".");
    if (slash == path) return lector__strdup("/");
    return lector__strndup(path, (size_t)(slash - path));
}

static enum lector_status open_dir(struct lector_checkpoint *ck, const char *dir,
                                   struct lector_error *err) {
    enum lector_status st;
    char *p;
    // The first of these files that exists: a safetensors file, a sharded safetensors index,
    // a torch.save zip.
    static const char *const files[] = {"model.safetensors", "model.safetensors.index.json",
                                        "pytorch_model.bin"};
    for (int i = 0; i < 3; i++) {
        if (!(p = lector__path_join(dir, files[i])))
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
        bool found = lector__file_exists(p);
        st = !found ? LECTOR_STATUS_OK
             : i == 0 ? open_safetensors(ck, p, err)
             : i == 1 ? open_index(ck, p, dir, err)
                      : open_torchzip(ck, p, err);
        lector_free(p);
        if (found) return st;
    }
    // The original Google BERT release: bert_model.ckpt.index and its data shards.
    static const char *const tf_prefixes[] = {"bert_model.ckpt", "model.ckpt"};
    for (size_t i = 0; i < sizeof tf_prefixes / sizeof tf_prefixes[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.index", tf_prefixes[i]);
        p = lector__path_join(dir, name);
        char *prefix = lector__path_join(dir, tf_prefixes[i]);
        if (!p || !prefix) {
            lector_free(p);
            lector_free(prefix);
            return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", dir);
        }
        bool found = lector__file_exists(p);
        st = found ? lector__ck_add_tf(ck, prefix, err) : LECTOR_STATUS_OK;
        lector_free(p);
        lector_free(prefix);
        if (found) return st;
    }
    return lector__error(err, LECTOR_STATUS_NOT_FOUND,
                         "%s: no model.safetensors, model.safetensors.index.json, "
                         "pytorch_model.bin or bert_model.ckpt.index in this directory",
                         dir);
}

// A TensorFlow checkpoint named by its prefix (bert_model.ckpt) or its .index file.
static enum lector_status open_tf_path(struct lector_checkpoint *ck, const char *path,
                                       size_t n_prefix, struct lector_error *err) {
    char *prefix = lector__strndup(path, n_prefix);
    if (!prefix) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    enum lector_status st = lector__ck_add_tf(ck, prefix, err);
    lector_free(prefix);
    return st;
}

static enum lector_status open_path(const char *path, bool f32_in_place,
                                    struct lector_checkpoint **out, struct lector_error *err) {
    if (!out) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "checkpoint_open: out is NULL");
    *out = NULL;
    if (!path) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "checkpoint_open: path is NULL");
    struct stat sb;
    bool tf_prefix = false;
    if (stat(path, &sb) != 0) {
        int e = errno;
        // TensorFlow checkpoints are named by a prefix that is no file itself.
        size_t n = strlen(path);
        char *index = lector__malloc(n + sizeof ".index");
        if (index) {
            memcpy(index, path, n);
            memcpy(index + n, ".index", sizeof ".index");
            tf_prefix = lector__file_exists(index);
            lector_free(index);
        }
        if (!tf_prefix)
            return lector__error(err, e == ENOENT ? LECTOR_STATUS_NOT_FOUND : LECTOR_STATUS_IO,
                                 "%s: cannot open: %s", path, strerror(e));
    }
    struct lector_checkpoint *ck = lector__ck_new();
    if (!ck) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    ck->f32_in_place = f32_in_place;
    enum lector_status st;
    if (tf_prefix) {
        st = open_tf_path(ck, path, strlen(path), err);
    } else if (S_ISDIR(sb.st_mode)) {
        st = open_dir(ck, path, err);
    } else if (ends_with(path, ".index")) {
        st = open_tf_path(ck, path, strlen(path) - strlen(".index"), err);
    } else if (ends_with(path, ".json")) {
        char *dir = dir_of(path);
        st = dir ? open_index(ck, path, dir, err)
                 : lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        lector_free(dir);
    } else if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth")) {
        st = open_torchzip(ck, path, err);
    } else {
        st = open_safetensors(ck, path, err);
    }
    if (st == LECTOR_STATUS_OK && !ck->by_name) st = lector__ck_finish(ck, err);
    if (st != LECTOR_STATUS_OK) {
        lector_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return LECTOR_STATUS_OK;
}

enum lector_status lector_checkpoint_open(const char *path, struct lector_checkpoint **out,
                                          struct lector_error *err) {
    return open_path(path, false, out, err);
}

enum lector_status lector__checkpoint_open_in_place(const char *path,
                                                    struct lector_checkpoint **out,
                                                    struct lector_error *err) {
    return open_path(path, true, out, err);
}

// ----------------------------------------------------------------------------
// accessors

int64_t lector_checkpoint_n_tensors(const struct lector_checkpoint *ck) {
    return ck ? ck->n_tensors : 0;
}

const struct lector_tensor *lector_checkpoint_tensor(const struct lector_checkpoint *ck,
                                                     int64_t i) {
    if (!ck || i < 0 || i >= ck->n_tensors) return NULL;
    return &ck->tensors[i];
}

const struct lector_tensor *lector_checkpoint_find(const struct lector_checkpoint *ck,
                                                   const char *name) {
    int64_t i = lector__ck_lookup(ck, name);
    return i < 0 ? NULL : &ck->tensors[i];
}

const char *lector_checkpoint_metadata(const struct lector_checkpoint *ck, const char *key) {
    if (!ck || !key) return NULL;
    for (int64_t i = 0; i < ck->n_meta; i++)
        if (strcmp(ck->meta_keys[i], key) == 0) return ck->meta_values[i];
    return NULL;
}

int64_t lector_checkpoint_n_files(const struct lector_checkpoint *ck) {
    return ck ? ck->n_files : 0;
}

const char *lector_checkpoint_file(const struct lector_checkpoint *ck, int64_t i) {
    if (!ck || i < 0 || i >= ck->n_files) return NULL;
    return ck->files[i].path;
}

void lector_checkpoint_release(struct lector_checkpoint *ck, const void *data) {
    if (!ck || !data || data == (const void *)empty_data) return;
    for (int64_t i = 0; i < ck->n_tensors; i++) {
        struct lector_tensor *t = &ck->tensors[i];
        if (t->data != data) continue;
        drop_pages(t->data, (size_t)lector_tensor_numel(t) * lector_dtype_size(t->dtype));
        t->data = NULL;
        return;
    }
}

enum lector_dtype lector_checkpoint_stored_dtype(const struct lector_checkpoint *ck, int64_t i) {
    if (!ck || i < 0 || i >= ck->n_tensors) return LECTOR_DTYPE_F32;
    return ck->stored[i];
}

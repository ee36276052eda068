/*
 * Internals of the checkpoint module (lector__ prefix), shared by its readers
 * (safetensors.c, checkpoint.c) and used by tests and fuzz targets. Not a public API.
 *
 * A checkpoint is a list of files (each a read-only mapping or a heap copy) and a table of
 * tensors. Readers validate a file completely, describe its tensors as they are stored
 * (struct lector__ck_src) and hand them to lector__ck_add_file, which converts F16/BF16 to
 * F32 and copies unaligned F32 into one aligned arena per file. lector__ck_finish then sorts
 * the names for lookup and refuses a name that occurs twice.
 */
#ifndef LECTOR_CHECKPOINT_IMPL_H
#define LECTOR_CHECKPOINT_IMPL_H

#include "lector/checkpoint.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

// The readers use stored bytes in place (F32, integers), so they assume a little-endian host.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lector's checkpoint readers assume a little-endian host"
#endif

/* Largest safetensors header accepted (the limit safetensors itself applies). */
#define LECTOR__ST_HEADER_MAX ((uint64_t)100 * 1000 * 1000)

/* Exact conversions of one half-precision value (IEEE binary16 / bfloat16) to float:
 * subnormals, infinities, signed zeros and NaN payloads are kept. */
float lector__f16_to_f32(uint16_t h);
float lector__bf16_to_f32(uint16_t h);
/* Parse a safetensors dtype name ("F32", ...); false if unknown. */
bool lector__dtype_parse(const char *s, enum lector_dtype *out);


// ----------------------------------------------------------------------------
// safetensors header

/* One tensor entry of a validated header. */
struct lector__st_entry {
    char *name; /* owned */
    enum lector_dtype dtype;
    int32_t n_dims;
    int64_t shape[LECTOR_MAX_DIMS];
    uint64_t begin, end; /* byte range inside the data section */
};

struct lector__st_header {
    uint64_t n_header;                /* N: JSON length (padding included) */
    uint64_t n_data;                  /* bytes after the header */
    struct lector__st_entry *entries; /* sorted by begin: file order */
    int64_t n_entries;
    char **meta_keys; /* owned, n_meta each */
    char **meta_values;
    int64_t n_meta;
};

/*
 * Validate a whole safetensors image buf[0, n) (see lector/checkpoint.h for the rules) and
 * describe it in *out; name is the file name used in messages. Touches no tensor data.
 * FORMAT for malformed input, UNSUPPORTED for an unknown dtype or more than 4 dimensions.
 * On failure *out is empty. Release with lector__st_header_free.
 */
enum lector_status lector__safetensors_parse(const uint8_t *buf, size_t n, const char *name,
                                             struct lector__st_header *out,
                                             struct lector_error *err);
void lector__st_header_free(struct lector__st_header *h);

// ----------------------------------------------------------------------------
// torch.save zip archives (pytorch_model.bin)

/*
 * Layout: a zip archive of stored (uncompressed) entries under one top-level folder
 * <prefix>/ (torch names it after the file): <prefix>/data.pkl is a pickle of the state
 * dict; <prefix>/data/<key> holds the raw little-endian bytes of storage <key>;
 * <prefix>/version and, in newer files, <prefix>/byteorder ("little") sit beside them.
 *
 * The pickle reader (pickle.c) interprets only the opcodes torch.save emits for a dict of
 * tensors (PROTO 2-5, FRAME, EMPTY_DICT/LIST/TUPLE, MARK, (SHORT_)BINUNICODE(8), BININT(1,2),
 * LONG1, NONE, NEWTRUE/NEWFALSE, TUPLE(1,2,3), BINPERSID, REDUCE, BUILD, SETITEM(S),
 * APPEND(S), (LONG_)BINPUT, MEMOIZE, (LONG_)BINGET, GLOBAL, STACK_GLOBAL, STOP) and allows
 * only the globals collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 * torch._utils._rebuild_parameter and torch.<Type>Storage. Anything else is refused with
 * the opcode or global and its byte offset (err->offset).
 */
struct lector__pkl_tensor {
    char *name;        /* owned */
    char *storage_key; /* owned: the archive entry data/<key> */
    enum lector_dtype dtype;
    int64_t storage_numel; /* elements in the storage, as the pickle declares */
    int64_t offset;        /* first element of the view in the storage */
    int32_t n_dims;
    int64_t shape[LECTOR_MAX_DIMS]; /* contiguous, inside the storage (checked) */
};

struct lector__pkl_state {
    struct lector__pkl_tensor *tensors; /* dict order */
    int64_t n_tensors;
};

/* Read a state dict pickle; name is used in messages. FORMAT for malformed pickles,
 * UNSUPPORTED for refused opcodes, globals, non-contiguous views or non-tensor entries.
 * Release with lector__pkl_state_free (also on failure, where *out is empty). */
enum lector_status lector__pickle_state_dict(const uint8_t *buf, size_t n, const char *name,
                                             struct lector__pkl_state *out,
                                             struct lector_error *err);
void lector__pkl_state_free(struct lector__pkl_state *s);

// ----------------------------------------------------------------------------
// checkpoint assembly

enum lector__ck_storage {
    LECTOR__CK_MMAP, /* base is a read-only mapping of size bytes (munmap) */
    LECTOR__CK_HEAP  /* base came from lector__aligned_alloc */
};

struct lector__ck_file {
    char *path;
    void *base;
    size_t size;
    enum lector__ck_storage storage;
    void *arena; /* converted / realigned tensors of this file (aligned alloc), or NULL */
};

/* A tensor as stored: data points at numel * dtype_size bytes of any alignment. */
struct lector__ck_src {
    const char *name;
    enum lector_dtype dtype;
    int32_t n_dims;
    int64_t shape[LECTOR_MAX_DIMS];
    const uint8_t *data;
};

/* A struct lector__ck_src of these fields (shape: LECTOR_MAX_DIMS entries). */
static inline struct lector__ck_src lector__ck_src_of(const char *name, enum lector_dtype dtype,
                                                      int32_t n_dims, const int64_t *shape,
                                                      const uint8_t *data) {
    struct lector__ck_src s = {name, dtype, n_dims, {0}, data};
    memcpy(s.shape, shape, sizeof s.shape);
    return s;
}

struct lector__ck_name {
    const char *name;
    int64_t index;
};

struct lector_checkpoint {
    struct lector__ck_file *files;
    int64_t n_files;
    struct lector_tensor *tensors; /* names owned (lector__strdup) */
    enum lector_dtype *stored;     /* dtype on disk, per tensor */
    int64_t *file_of;              /* index into files, per tensor */
    int64_t n_tensors, cap_tensors;
    struct lector__ck_name *by_name; /* sorted by name (after lector__ck_finish) */
    bool f32_in_place; /* F32 tensors stay in place when float-aligned (not only 64-byte) */
    char **meta_keys;  /* first file's __metadata__ */
    char **meta_values;
    int64_t n_meta;
};

struct lector_checkpoint *lector__ck_new(void);
/* Register a file; ck takes ownership of base (released by close even if this fails). */
enum lector_status lector__ck_add_file(struct lector_checkpoint *ck, const char *path, void *base,
                                       size_t size, enum lector__ck_storage storage,
                                       int64_t *file_index, struct lector_error *err);
/* Add the tensors of file file_index in order, converting as lector/checkpoint.h says. */
enum lector_status lector__ck_add_tensors(struct lector_checkpoint *ck, int64_t file_index,
                                          const struct lector__ck_src *src, int64_t n,
                                          struct lector_error *err);
/* Build the name index; a name seen twice is FORMAT naming both files. */
enum lector_status lector__ck_finish(struct lector_checkpoint *ck, struct lector_error *err);
/* Index of tensor name in ck, or -1. Needs lector__ck_finish. */
int64_t lector__ck_lookup(const struct lector_checkpoint *ck, const char *name);

/* Add one safetensors file (already mapped or copied: base/size) to ck: validate, register,
 * add its tensors; metadata is kept if ck has none yet. ck owns base from here on. */
enum lector_status lector__ck_add_safetensors(struct lector_checkpoint *ck, const char *path,
                                              void *base, size_t size,
                                              enum lector__ck_storage storage,
                                              struct lector_error *err);

/* Add the tensors of a torch.save zip image (buf, n; not kept: storages are copied into
 * memory ck owns) to ck, named path. */
enum lector_status lector__ck_add_torchzip(struct lector_checkpoint *ck, const char *path,
                                           const void *buf, size_t n, struct lector_error *err);

/* lector_checkpoint_open, except that an F32 tensor is used in place wherever it is
 * aligned for a float, not copied to 64-byte aligned memory: for a reader that only copies
 * the tensors it reads (the encoder, which packs its matrices and reads its vectors with
 * unaligned loads). Avoids a second copy of the model at open. */
enum lector_status lector__checkpoint_open_in_place(const char *path,
                                                    struct lector_checkpoint **out,
                                                    struct lector_error *err);

/* Map a file read-only (mmap PROT_READ MAP_SHARED, sequential-access hints). Empty files
 * give base NULL, size 0. */
enum lector_status lector__map_file(const char *path, void **base, size_t *size,
                                    struct lector_error *err);

/* Open a safetensors image from memory (copied), named name in messages: the whole open
 * path minus the mapping, for fuzzing and tests. */
enum lector_status lector__checkpoint_open_memory(const void *data, size_t n, const char *name,
                                                  struct lector_checkpoint **out,
                                                  struct lector_error *err);

// ----------------------------------------------------------------------------
// TensorFlow checkpoints (tfckpt.c, crc32c.c)

/*
 * Layout of a TensorFlow tensor bundle "<prefix>" (what tf.train.Saver wrote for the
 * original BERT: bert_model.ckpt.index plus bert_model.ckpt.data-00000-of-00001):
 *
 * <prefix>.index is a LevelDB-style table. From the end of the file:
 *   footer (48 bytes): metaindex handle, index handle (each varint64 offset, varint64 size),
 *     zero padding to byte 40, magic 0xdb4775248b80fb57 as fixed64 little-endian;
 *   every block (data, metaindex, index) is followed by a 5-byte trailer: compression type
 *     (0 none; 1 snappy is refused) and the masked CRC-32C of the block and the type byte,
 *     fixed32 little-endian; a handle's size does not include the trailer;
 *   a block is a run of entries {varint32 shared, varint32 non_shared, varint32 value_len,
 *     key bytes past the shared prefix, value}, then fixed32 restart offsets (entries that
 *     share nothing with the previous key), then fixed32 restart count;
 *   the index block maps a key >= every key of a data block to that block's handle.
 * Keys are sorted byte-wise. Key "" holds a BundleHeaderProto {num_shards (1), endianness
 * (2: 0 little), version (3)}; every other key is a tensor name whose value is a
 * BundleEntryProto {dtype (1, DataType), shape (2: TensorShapeProto {dim (2): {size (1)}}),
 * shard_id (3), offset (4), size (5), crc32c (6, fixed32, masked), slices (7)}.
 * <prefix>.data-%05d-of-%05d (shard_id, num_shards) holds the raw little-endian bytes of
 * each tensor at [offset, offset + size), row-major.
 */

/* CRC-32C: lector__crc32c_update(&c, 0, data, n) of one buffer; pass the previous result
 * to continue over more bytes. The tables are built by init (not thread-shared state). */
struct lector__crc32c {
    uint32_t t[8][256];
};
void lector__crc32c_init(struct lector__crc32c *c);
uint32_t lector__crc32c_update(const struct lector__crc32c *c, uint32_t crc, const void *data,
                               size_t n);
/* The rotated-and-offset form stored in TF/LevelDB files. */
uint32_t lector__crc32c_mask(uint32_t crc);

/* One index entry as stored (TF names and layout). */
struct lector__tf_entry {
    char *name;       /* owned: the variable name */
    int32_t dtype;    /* TensorFlow DataType enum value */
    int32_t n_dims;   /* may exceed LECTOR_MAX_DIMS: only the first ones are kept */
    int64_t shape[LECTOR_MAX_DIMS];
    int64_t numel;    /* product of all dimensions (checked) */
    int32_t shard_id;
    uint64_t offset, size; /* byte range in the data shard */
    uint32_t crc32c;       /* masked, as stored */
    bool sliced;           /* a partitioned variable (slices present): not supported */
    size_t at;             /* byte offset of the entry in the index file, for messages */
};

struct lector__tf_index {
    int32_t n_shards;
    struct lector__tf_entry *entries; /* key order */
    int64_t n_entries;
};

/* Parse and validate a whole index image buf[0, n) (footer, block CRCs, block structure,
 * key order, header and entry protobufs); name is used in messages, err->offset gets the byte
 * offset. FORMAT for malformed input, UNSUPPORTED for snappy blocks or big-endian bundles.
 * Release with lector__tf_index_free (also after failure). */
enum lector_status lector__tf_index_parse(const uint8_t *buf, size_t n, const char *name,
                                          struct lector__tf_index *out,
                                          struct lector_error *err);
void lector__tf_index_free(struct lector__tf_index *ix);

/* Add the tensors of the bundle at prefix (prefix.index and its data shards) to ck under
 * their mapped names: the index file is registered first (no tensors), then each data shard
 * read, its tensors checked against their CRC and copied (kernels transposed) into memory
 * ck owns. */
enum lector_status lector__ck_add_tf(struct lector_checkpoint *ck, const char *prefix,
                                     struct lector_error *err);

#endif /* LECTOR_CHECKPOINT_IMPL_H */

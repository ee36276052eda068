/*
 * lector/checkpoint.h: read-only access to the named tensors of a checkpoint, and a
 * safetensors writer.
 *
 * Usage:
 *     struct lector_checkpoint *ck = NULL;
 *     struct lector_error err;
 *     if (lector_checkpoint_open("models/bert", &ck, &err) != LECTOR_STATUS_OK) ...;
 *     const struct lector_tensor *t = lector_checkpoint_find(ck, "embeddings.word_embeddings.weight");
 *     // t->dtype == LECTOR_DTYPE_F32, t->shape = {V, C}, t->data valid until close
 *     lector_checkpoint_close(ck);
 *
 * What open accepts (path is a file or a directory):
 *   - a .safetensors file;
 *   - a model.safetensors.index.json file (its shards are read from the same directory);
 *   - a directory holding model.safetensors, else model.safetensors.index.json plus its
 *     shards. The index is {"metadata": {...}, "weight_map": {tensor: shard file}}: each
 *     distinct shard is opened once (in file-name order); a shard name must be a plain file
 *     name (no '/', no ".."); a missing shard (NOT_FOUND), a tensor in two shards, or a
 *     weight_map entry its shard does not hold (FORMAT) is refused.
 *   - a torch.save zip (pytorch_model.bin, .pt, .pth), also as a directory's last resort.
 *     Only stored entries are read and the state dict pickle is interpreted with an
 *     allowlist of opcodes and globals, never executed (see src/checkpoint/checkpoint_impl.h);
 *     a refused opcode or global names it and its byte offset (err->offset). Storages are
 *     copied into memory (not mapped); every tensor must be a contiguous view inside its
 *     storage. Legacy (pre-1.6, non-zip) files are UNSUPPORTED with advice to re-save.
 *
 * safetensors layout (byte by byte): u64 little-endian N; N bytes of UTF-8 JSON
 *   {"__metadata__": {str: str}, name: {"dtype": D, "shape": [..], "data_offsets": [b, e]}, ...}
 *   padded with spaces; then the data; offsets count from the first byte after the header.
 *   The reader refuses (LECTOR_STATUS_FORMAT): N past the end of the file or over 100 MB,
 *   a header that is not UTF-8, not JSON, not an object or has duplicate keys; offsets out of
 *   range, overlapping, leaving gaps (sorted by offset the tensors must tile the data section
 *   exactly, from 0 to its end); e - b != numel * size; dimension products that overflow.
 *   Unknown dtypes and more than 4 dimensions are LECTOR_STATUS_UNSUPPORTED. Every message
 *   is one line naming the file and the tensor.
 *
 * Dtypes on open: F32 tensors are used in place from the read-only mapping when 64-byte
 * aligned, else copied to aligned memory. F16 and BF16 are converted to F32 at open, exactly
 * (so every float tensor a caller sees is F32 and 64-byte aligned). F64, I64, I32, I16, I8,
 * U8 and BOOL keep their dtype and point into the mapping: their data may be unaligned for
 * the type, so read them with memcpy. Empty tensors point at a static aligned block.
 * Tensors are in file order (by data offset; state dict order for torch.save files), with
 * contiguous strides. Tensor data is read-only (writing through t->data of a mapped tensor
 * faults). The files must not be truncated while the checkpoint is open.
 *
 * Ownership: the checkpoint owns every tensor, name and metadata string; they stay valid
 * until lector_checkpoint_close. Thread safety: after open, a checkpoint is read-only and may
 * be shared by threads.
 */
#ifndef LECTOR_CHECKPOINT_H
#define LECTOR_CHECKPOINT_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lector_dtype {
    LECTOR_DTYPE_F32 = 0,
    LECTOR_DTYPE_F16,
    LECTOR_DTYPE_BF16,
    LECTOR_DTYPE_F64,
    LECTOR_DTYPE_I64,
    LECTOR_DTYPE_I32,
    LECTOR_DTYPE_I16,
    LECTOR_DTYPE_I8,
    LECTOR_DTYPE_U8,
    LECTOR_DTYPE_BOOL
};

/* Bytes per element of a dtype (0 for a value outside the enum). */
LECTOR_API size_t lector_dtype_size(enum lector_dtype dtype);
/* The safetensors spelling ("F32", "BF16", ...). */
LECTOR_API const char *lector_dtype_name(enum lector_dtype dtype);

/*
 * A view of a tensor. Shape is outermost first, as in PyTorch and safetensors
 * (shape[0] is the slowest-varying dimension); stride is counted in elements, so a
 * contiguous [R, C] matrix has stride {C, 1}. Dimensions past n_dims are 1.
 */
#define LECTOR_MAX_DIMS 4
struct lector_tensor {
    enum lector_dtype dtype;
    int32_t n_dims;
    int64_t shape[LECTOR_MAX_DIMS];
    int64_t stride[LECTOR_MAX_DIMS];
    void *data;
    const char *name;
};

/* Number of elements (product of the shape). */
LECTOR_API int64_t lector_tensor_numel(const struct lector_tensor *t);

struct lector_checkpoint;

/* Open a checkpoint file or directory (see above). On failure *out is NULL and err says
 * which file and which tensor is at fault. */
LECTOR_API enum lector_status lector_checkpoint_open(const char *path,
                                                     struct lector_checkpoint **out,
                                                     struct lector_error *err);
/* NULL is a no-op. Invalidates every tensor and string obtained from ck. */
LECTOR_API void lector_checkpoint_close(struct lector_checkpoint *ck);

LECTOR_API int64_t lector_checkpoint_n_tensors(const struct lector_checkpoint *ck);
/* i in [0, n_tensors); tensors are in file order (shard by shard). */
LECTOR_API const struct lector_tensor *lector_checkpoint_tensor(const struct lector_checkpoint *ck,
                                                                int64_t i);
/* NULL if absent. */
LECTOR_API const struct lector_tensor *lector_checkpoint_find(const struct lector_checkpoint *ck,
                                                              const char *name);
/* A __metadata__ value, or NULL if absent (first shard's metadata for sharded files). */
LECTOR_API const char *lector_checkpoint_metadata(const struct lector_checkpoint *ck,
                                                  const char *key);
/* The weight files read, in order (for checksums and `lector info`). */
LECTOR_API int64_t lector_checkpoint_n_files(const struct lector_checkpoint *ck);
LECTOR_API const char *lector_checkpoint_file(const struct lector_checkpoint *ck, int64_t i);
/*
 * Tell the checkpoint that the tensor whose data starts at data (as returned in a tensor
 * view) will not be read again, so its memory can leave the process's resident set: pages of
 * a file mapping are dropped (the file stays intact), and so are the pages of a converted
 * copy. Afterwards the tensor's data pointer is NULL. Used by the encoder once it has packed a
 * weight matrix into its own layout. A pointer that starts no tensor is ignored.
 * Not thread-safe: call it while the checkpoint is still private to one thread.
 */
LECTOR_API void lector_checkpoint_release(struct lector_checkpoint *ck, const void *data);
/* The dtype a tensor had on disk before any conversion to F32. */
LECTOR_API enum lector_dtype lector_checkpoint_stored_dtype(const struct lector_checkpoint *ck,
                                                            int64_t i);

/*
 * Write a safetensors file atomically (temp file in the same directory, fsync, rename):
 * tensors must be contiguous (stride as described above; any stride on a dimension of size
 * 1) and are written with their own dtype, in the given order, data offsets contiguous from
 * 0. metadata is n_meta key/value pairs of UTF-8 strings (may be 0; written first as
 * "__metadata__" when n_meta > 0). The JSON header is padded with spaces to a multiple of 8.
 * Duplicate or invalid names, non-contiguous tensors: LECTOR_STATUS_INVALID_ARG. A failed or
 * interrupted write leaves an existing file at path untouched.
 */
LECTOR_API enum lector_status lector_safetensors_write(const char *path,
                                                       const struct lector_tensor *tensors,
                                                       int64_t n_tensors,
                                                       const char *const *meta_keys,
                                                       const char *const *meta_values,
                                                       int64_t n_meta, struct lector_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_CHECKPOINT_H */

/*
 * lector/cache.h: pooled vectors on disk, so that a text is encoded once across runs.
 */
#ifndef LECTOR_CACHE_H
#define LECTOR_CACHE_H

#include <stdbool.h>

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pooled vectors on disk, keyed by the SHA-256 of each text's bytes, one file per `key` (a
 * string naming everything the vectors depend on: encoder checksum, tokenizer hash, pooling,
 * max length, ...). The directory is created if needed (mode 0700). Every record carries a
 * checksum over the key, the text digest and the vector: a record that fails it, or holds a
 * non-finite value, is dropped and counted (lector_feature_cache_n_discarded), so its text is
 * computed again. The file is opened without following symbolic links or blocking, and must
 * be a regular file owned by the user and not writable by group or others; otherwise open
 * fails with LECTOR_STATUS_IO and a message (the caller can go on without a cache). An
 * older format is not read (a note says so) and is replaced at the next save. The format
 * is in docs/formats.md. One handle per thread; several processes may share a directory. */
struct lector_feature_cache;
/* Default cap on the bytes of all cache files in a directory (4 GiB). */
#define LECTOR_FEATURE_CACHE_MAX_SIZE_DEFAULT ((uint64_t)4 << 30)
LECTOR_API enum lector_status lector_feature_cache_open(const char *dir, const char *key,
                                                        int64_t C,
                                                        struct lector_feature_cache **out,
                                                        struct lector_error *err);
/* Open one existing cache file read-only, taking its key and width from its header (for
 * merging; it may belong to another user, its records are verified all the same): a file
 * that is not a regular format-2 cache file is an error. */
LECTOR_API enum lector_status lector_feature_cache_open_file(const char *path,
                                                             struct lector_feature_cache **out,
                                                             struct lector_error *err);
LECTOR_API void lector_feature_cache_close(struct lector_feature_cache *c); /* NULL: no-op */
/* True and the vector (C floats) in out when the text is cached. */
LECTOR_API bool lector_feature_cache_get(const struct lector_feature_cache *c, const char *text,
                                         size_t len, float *out);
/* Add a vector (a non-finite one is not stored). */
LECTOR_API enum lector_status lector_feature_cache_put(struct lector_feature_cache *c,
                                                       const char *text, size_t len,
                                                       const float *v, struct lector_error *err);
/* Add the records of src (same key and width, else LECTOR_STATUS_MISMATCH) that dst lacks;
 * their number in *n_added (may be NULL). */
LECTOR_API enum lector_status lector_feature_cache_merge(struct lector_feature_cache *dst,
                                                         const struct lector_feature_cache *src,
                                                         int64_t *n_added,
                                                         struct lector_error *err);
/* Append the new records to the file under an exclusive lock, after reading what other
 * processes appended meanwhile (a damaged or old-format file is rewritten whole instead),
 * then keep the directory under the size cap: other keys' files are removed least recently
 * used first, then this file keeps only the records used through this handle. */
LECTOR_API enum lector_status lector_feature_cache_save(struct lector_feature_cache *c,
                                                        struct lector_error *err);
/* Cap on the bytes of all cache files in the directory, 0 for none. */
LECTOR_API void lector_feature_cache_set_max_size(struct lector_feature_cache *c,
                                                  uint64_t n_bytes);
LECTOR_API const char *lector_feature_cache_path(const struct lector_feature_cache *c);
LECTOR_API const char *lector_feature_cache_key(const struct lector_feature_cache *c);
LECTOR_API int64_t lector_feature_cache_n_dims(const struct lector_feature_cache *c);
LECTOR_API int64_t lector_feature_cache_n_records(const struct lector_feature_cache *c);
/* Records of the file dropped by their checksum or for non-finite values since open. */
LECTOR_API int64_t lector_feature_cache_n_discarded(const struct lector_feature_cache *c);
/* One line for the user about what open or the last save found or did (damaged records,
 * an older format, evictions), or NULL. Valid until the next call on c. */
LECTOR_API const char *lector_feature_cache_note(const struct lector_feature_cache *c);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_CACHE_H */

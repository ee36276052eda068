/*
 * Internal helpers shared by every module (lector__ prefix): error formatting, checked size
 * arithmetic, aligned allocation, whole-file reads, atomic file writes and SHA-256.
 * Not part of the public API.
 */
#ifndef LECTOR_BASE_IMPL_H
#define LECTOR_BASE_IMPL_H

#include "lector/base.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define LECTOR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LECTOR_PRINTF(a, b)
#endif

/* Programmer errors only (never bad input): kept in release builds. */
#define LECTOR_ASSERT(x)                                                            \
    do {                                                                            \
        if (!(x)) lector__assert_fail(#x, __FILE__, __LINE__);                      \
    } while (0)
_Noreturn void lector__assert_fail(const char *expr, const char *file, int line);

/* Fill *err (if not NULL) and return code; the location fields are cleared (-1, path ""). */
enum lector_status lector__error(struct lector_error *err, enum lector_status code,
                                 const char *fmt, ...) LECTOR_PRINTF(3, 4);
/* The same at a line (and column, or -1) of the text file path (may be NULL). */
enum lector_status lector__error_line(struct lector_error *err, enum lector_status code,
                                      const char *path, int64_t line, int64_t column,
                                      const char *fmt, ...) LECTOR_PRINTF(6, 7);
/* The same at a byte offset of the binary file path, or of the text given (path NULL). */
enum lector_status lector__error_offset(struct lector_error *err, enum lector_status code,
                                        const char *path, int64_t offset, const char *fmt, ...)
    LECTOR_PRINTF(5, 6);
/* The same at element `index` of an array argument. */
enum lector_status lector__error_index(struct lector_error *err, enum lector_status code,
                                       int64_t index, const char *fmt, ...) LECTOR_PRINTF(4, 5);
/* Clear the location fields of err (-1, path ""); then set path (may be NULL). */
void lector__error_locate(struct lector_error *err, const char *path);
/* Clear an error struct (code OK, empty message). NULL is a no-op. */
void lector__error_clear(struct lector_error *err);
/* s made safe to print in a message or on one line: each byte of a control character (below
 * 0x20, DEL, and the C1 controls U+0080..U+009F) written as \xNN, cut with "..." to fit cap
 * bytes (cap >= 8). Returns out. */
char *lector__escape(const char *s, char *out, size_t cap);
/* The byte offset of the first control character of s (as lector__escape defines them), or
 * -1 when there is none. */
int64_t lector__find_control(const char *s);

/* Checked arithmetic: return false on overflow (result left unspecified). */
static inline bool lector__mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool lector__add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool lector__mul_i64(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* The element count of a shape, checked whatever the order of the factors: the product of
 * the non-zero dimensions must fit in int64_t even when another dimension is 0, so a shape
 * such as (2^40, 2^40, 0) is refused rather than read as empty after a running product hit 0
 * before it could overflow. False on a negative dimension or an overflow. */
static inline bool lector__shape_numel(const int64_t *shape, int32_t n_dims, int64_t *numel) {
    int64_t nonzero = 1;
    bool empty = false;
    for (int32_t d = 0; d < n_dims; d++) {
        if (shape[d] < 0) return false;
        if (shape[d] == 0) empty = true;
        else if (__builtin_mul_overflow(nonzero, shape[d], &nonzero)) return false;
    }
    *numel = empty ? 0 : nonzero;
    return true;
}

/* malloc/calloc/realloc wrappers (lector_free releases them). */
void *lector__malloc(size_t n);
void *lector__calloc(size_t n, size_t size);
void *lector__realloc(void *p, size_t n);
char *lector__strdup(const char *s);
char *lector__strndup(const char *s, size_t n);
/* 64-byte aligned allocation, released with lector__aligned_free. */
void *lector__aligned_alloc(size_t n);
void lector__aligned_free(void *p);

/* Read the whole regular file at path into a NUL-terminated buffer (*data, freed with
 * lector_free; *n bytes), reading to its end whatever its size said, and never more than
 * n_max bytes (0: no bound but memory). The one reader of whole files: a FIFO, device,
 * socket or folder is refused (IO) without waiting for a writer. Over n_max it is
 * LECTOR_STATUS_RANGE with err->offset n_max and *n the file's size, or 0 when the file grew
 * past n_max while it was read; messages name the path and never an option. */
enum lector_status lector__read_file(const char *path, size_t n_max, char **data, size_t *n,
                                     struct lector_error *err);
/* Join a directory and a file name into a new string (lector_free). */
char *lector__path_join(const char *dir, const char *name);
/* True if path names an existing regular file. */
bool lector__file_exists(const char *path);
bool lector__dir_exists(const char *path);

/*
 * Atomic file write: data goes to "<path>.tmp.<pid>" in the same directory; commit does
 * fflush, fsync, a checked fclose, rename over path, then fsync of the directory. Any
 * failure (or abort) unlinks the temporary file and leaves an existing file at path intact.
 */
struct lector__afile {
    FILE *fp;
    char *path;
    char *tmp_path;
    bool failed;
};
enum lector_status lector__afile_open(struct lector__afile *af, const char *path,
                                      struct lector_error *err);
enum lector_status lector__afile_write(struct lector__afile *af, const void *data, size_t n,
                                       struct lector_error *err);
enum lector_status lector__afile_commit(struct lector__afile *af, struct lector_error *err);
void lector__afile_abort(struct lector__afile *af);

/* SHA-256 (FIPS 180-4) through libcrypto. init allocates the context and final releases
 * it, so every init is paired with a final. A failed init or update makes final return
 * an error with a zero digest (update is then a no-op). */
struct lector__sha256 {
    struct evp_md_ctx_st *ctx; /* libcrypto's EVP_MD_CTX */
};
enum lector_status lector__sha256_init(struct lector__sha256 *s);
void lector__sha256_update(struct lector__sha256 *s, const void *data, size_t n);
enum lector_status lector__sha256_final(struct lector__sha256 *s, uint8_t digest[32]);
/* Hex form of a digest into out (65 bytes incl. NUL). */
void lector__sha256_hex(const uint8_t digest[32], char out[65]);
/* Hash a file's contents into s (streamed, not mapped). */
enum lector_status lector__sha256_file(struct lector__sha256 *s, const char *path,
                                       struct lector_error *err);

/* mkdir -p: every missing directory of path, created with mode (less the umask). */
enum lector_status lector__mkdir_p(const char *path, int mode, struct lector_error *err);

/*
 * The SHA-256 of files[0..n_files) read one after another (their concatenation), through the
 * checksum cache in cache_dir (NULL: no cache). An entry is keyed by every file's device,
 * inode, size, modification and status-change times (ns); on a hit the stored digest is
 * returned without reading the files. On a miss (or with verify) the files are hashed and
 * the entry written atomically, unless a file changed while it was read or was changed less
 * than settle_ns before hashing began (its timestamps may not yet tell a later write
 * apart). A cache that cannot be read or written only costs the hashing: it is never an
 * error. *hit (may be NULL) tells whether the digest came from the cache.
 */
#define LECTOR__CHECKSUM_SETTLE_NS 1000000000LL
enum lector_status lector__sha256_files_cached(const char *const *files, int64_t n_files,
                                               const char *cache_dir, bool verify,
                                               int64_t settle_ns, char out[65], bool *hit,
                                               struct lector_error *err);
/* The checksum cache directory: $XDG_CACHE_HOME/lector/checksums, else
 * $HOME/.cache/lector/checksums, into buf; NULL when neither is set or buf is too small. */
const char *lector__checksum_cache_dir(char *buf, size_t cap);

/* The line of text data (n bytes) that starts at *pos, as *line and *len without its "\n"
 * or "\r\n"; *pos moves past it. False when no line is left (a last line without "\n" is
 * still a line). */
static inline bool lector__next_line(const char *data, size_t n, size_t *pos, const char **line,
                                     size_t *len) {
    if (*pos >= n) return false;
    const char *s = data + *pos, *nl = memchr(s, '\n', n - *pos);
    size_t l = nl ? (size_t)(nl - s) : n - *pos;
    *pos += l + 1;
    if (l > 0 && s[l - 1] == '\r') l--;
    *line = s;
    *len = l;
    return true;
}

/* Little-endian readers/writers for file formats. */
static inline uint32_t lector__read_u32_le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lector__read_u64_le(const uint8_t *p) {
    return (uint64_t)lector__read_u32_le(p) | (uint64_t)lector__read_u32_le(p + 4) << 32;
}
static inline void lector__write_u64_le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Decode one code point at s[i] (i < n). Returns the byte length (1-4) and sets *cp, or 0
 * for an invalid sequence (overlong, stray continuation byte, truncated, surrogate, above
 * U+10FFFF), with *why set to a static description.
 */
int lector__utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp, const char **why);
/* LECTOR_STATUS_OK when text is valid UTF-8, else LECTOR_STATUS_INVALID_UTF8 naming the first
 * bad byte and its offset (the message the tokenizers give). */
enum lector_status lector__utf8_check(const char *text, size_t len, struct lector_error *err);
/* Encode cp into out (4 bytes room); returns the length. */
int lector__utf8_encode(uint32_t cp, char *out);
/* Offset of the first byte of buf that is not valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or n if all of it is valid. */
size_t lector__utf8_invalid_at(const uint8_t *buf, size_t n);

/* CPU features usable by this process (the instruction set and the OS saving its
 * registers), from cpuid/xgetbv. Cheap but not free: kernels read it once at dispatch. */
struct lector__cpu {
    bool avx2, fma;                     // AVX2 + FMA3
    bool avx512f, avx512bw, avx512vl;   // AVX-512 foundation, byte/word, vector length
    bool avx512bf16, avx512vnni;        // bf16 dot products, int8 dot products
};
void lector__cpu_detect(struct lector__cpu *cpu);

#endif /* LECTOR_BASE_IMPL_H */

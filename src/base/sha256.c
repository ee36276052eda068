// SHA-256 through libcrypto's EVP interface (which uses the CPU's SHA extensions where it
// has them), for encoder checksums, tokenizer hashes and feature-cache keys.
#define _POSIX_C_SOURCE 200809L
#include "base/base_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

enum lector_status lector__sha256_init(struct lector__sha256 *s) {
    s->ctx = EVP_MD_CTX_new();
    if (s->ctx && EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) == 1) return LECTOR_STATUS_OK;
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
    return LECTOR_STATUS_NOMEM;
}

void lector__sha256_update(struct lector__sha256 *s, const void *data, size_t n) {
    if (s->ctx && n && EVP_DigestUpdate(s->ctx, data, n) != 1) {
        EVP_MD_CTX_free(s->ctx);
        s->ctx = NULL;
    }
}

enum lector_status lector__sha256_final(struct lector__sha256 *s, uint8_t digest[32]) {
    unsigned int n = 0;
    bool ok = s->ctx && EVP_DigestFinal_ex(s->ctx, digest, &n) == 1 && n == 32;
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
    if (ok) return LECTOR_STATUS_OK;
    memset(digest, 0, 32);
    return LECTOR_STATUS_INTERNAL;
}

void lector__sha256_hex(const uint8_t digest[32], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

enum lector_status lector__sha256_file(struct lector__sha256 *s, const char *path,
                                       struct lector_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lector__error(err, LECTOR_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
    }
    // Large reads: one system call per MiB keeps the copy out of the hash's way.
    enum { N_BUF = 1 << 20 };
    uint8_t *buf = lector__malloc(N_BUF);
    if (!buf) {
        close(fd);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory hashing", path);
    }
    enum lector_status st = LECTOR_STATUS_OK;
    for (;;) {
        ssize_t n = read(fd, buf, N_BUF);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            st = lector__error(err, LECTOR_STATUS_IO, "%s: read failed: %s", path, strerror(e));
            break;
        }
        if (n == 0) break;
        lector__sha256_update(s, buf, (size_t)n);
    }
    lector_free(buf);
    close(fd);
    return st;
}

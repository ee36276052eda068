// CRC-32C (Castagnoli), the checksum TensorFlow's table files and tensor bundles use.
#include "checkpoint/checkpoint_impl.h"

#include <string.h>

// Reflected form of the Castagnoli polynomial 0x1EDC6F41.
#define CRC32C_POLY 0x82F63B78u

// Slicing-by-8: t[0] is the classic byte-at-a-time table; t[k][b] is the CRC of byte b
// followed by k zero bytes, so eight table lookups advance the CRC by eight bytes. The
// tables are built per caller (8 KB, a few microseconds) instead of once globally, so
// there is no shared mutable state to initialise.
void lector__crc32c_init(struct lector__crc32c *c) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t r = b;
        for (int i = 0; i < 8; i++) r = (r >> 1) ^ (CRC32C_POLY & (0u - (r & 1u)));
        c->t[0][b] = r;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++)
            c->t[k][b] = (c->t[k - 1][b] >> 8) ^ c->t[0][c->t[k - 1][b] & 0xffu];
}

uint32_t lector__crc32c_update(const struct lector__crc32c *c, uint32_t crc, const void *data,
                               size_t n) {
    const uint8_t *p = data;
    uint32_t r = ~crc;
    while (n >= 8) {
        uint32_t lo = r ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        r = c->t[7][lo & 0xffu] ^ c->t[6][(lo >> 8) & 0xffu] ^ c->t[5][(lo >> 16) & 0xffu] ^
            c->t[4][lo >> 24] ^ c->t[3][hi & 0xffu] ^ c->t[2][(hi >> 8) & 0xffu] ^
            c->t[1][(hi >> 16) & 0xffu] ^ c->t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) r = (r >> 8) ^ c->t[0][(r ^ *p++) & 0xffu];
    return ~r;
}

// A CRC stored next to the data it covers is rotated and offset first, because the CRC of
// a string that itself contains CRCs is otherwise prone to degenerate values (LevelDB's
// reasoning, kept by TensorFlow for both block trailers and BundleEntryProto.crc32c).
uint32_t lector__crc32c_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

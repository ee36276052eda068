// TensorFlow tensor bundle indexes (the original Google BERT checkpoints): the table in
// <prefix>.index (blocks, trailers, footer) and the BundleHeaderProto / BundleEntryProto
// protobufs in it. The layout is described in checkpoint_impl.h. Everything read is
// bounds-checked; messages name the file and the byte offset (err->offset).
#define _POSIX_C_SOURCE 200809L
#include "checkpoint/checkpoint_impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/base_impl.h"
#define TABLE_MAGIC 0xdb4775248b80fb57ull
#define FOOTER_SIZE 48
#define TRAILER_SIZE 5
// Variable names are short; this only bounds what a hostile key can make us allocate.
#define KEY_MAX ((size_t)1 << 16)
// The shard file names use %05d.
#define SHARDS_MAX 99999

// ----------------------------------------------------------------------------
// errors

struct rd {
    const uint8_t *buf;
    size_t n;
    const char *name; // the index file, for messages
    struct lector_error *err;
};

// "<file>: byte <at>: <what>" with err->offset = at.
LECTOR_PRINTF(4, 5)
static enum lector_status bad(const struct rd *r, enum lector_status code, size_t at,
                              const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lector__error_offset(r->err, code, r->name, (int64_t)at, "%s: byte %zu: %s", r->name, at, what);
}

// ----------------------------------------------------------------------------
// protobuf wire format and varints

// A varint64 from p[*pos, n): false if it runs past n or is longer than 10 bytes.
static bool get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= n) return false;
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1) return false; // bits past 64
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

enum wire { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

// A message being decoded: bytes p[0, n) that start at file offset base.
struct pb {
    const uint8_t *p;
    size_t n, pos, base;
};

// Skip one field's value of wire type wt; false if malformed or truncated.
static bool pb_skip(struct pb *m, uint32_t wt) {
    uint64_t v;
    switch (wt) {
    case WIRE_VARINT: return get_varint(m->p, m->n, &m->pos, &v);
    case WIRE_I64:
        if (m->n - m->pos < 8) return false;
        m->pos += 8;
        return true;
    case WIRE_LEN:
        if (!get_varint(m->p, m->n, &m->pos, &v) || v > m->n - m->pos) return false;
        m->pos += (size_t)v;
        return true;
    case WIRE_I32:
        if (m->n - m->pos < 4) return false;
        m->pos += 4;
        return true;
    default: return false; // groups (3, 4) and the unused 6, 7
    }
}

// The next tag: field number and wire type. false at the end of the message (done) or on
// a malformed tag (*ok false).
static bool pb_next(struct pb *m, uint32_t *field, uint32_t *wt, bool *ok) {
    *ok = true;
    if (m->pos >= m->n) return false;
    uint64_t tag;
    if (!get_varint(m->p, m->n, &m->pos, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX) {
        *ok = false;
        return false;
    }
    *field = (uint32_t)(tag >> 3);
    *wt = (uint32_t)(tag & 7);
    return true;
}

// A length-delimited field's bytes as a sub-message.
static bool pb_sub(struct pb *m, struct pb *sub) {
    uint64_t len;
    if (!get_varint(m->p, m->n, &m->pos, &len) || len > m->n - m->pos) return false;
    *sub = (struct pb){m->p + m->pos, (size_t)len, 0, m->base + m->pos};
    m->pos += (size_t)len;
    return true;
}

// ----------------------------------------------------------------------------
// BundleHeaderProto and BundleEntryProto

static enum lector_status parse_header(const struct rd *r, struct pb m, int32_t *n_shards) {
    uint32_t field, wt;
    bool ok;
    uint64_t v;
    int64_t shards = 0;
    while (pb_next(&m, &field, &wt, &ok)) {
        size_t at = m.base + m.pos;
        if ((field == 1 || field == 2) && wt != WIRE_VARINT)
            return bad(r, LECTOR_STATUS_FORMAT, at, "bundle header field %" PRIu32
                       " has wire type %" PRIu32 ", expected a varint", field, wt);
        if (field == 1) {
            if (!get_varint(m.p, m.n, &m.pos, &v)) break;
            shards = v > SHARDS_MAX ? -1 : (int64_t)v;
        } else if (field == 2) {
            if (!get_varint(m.p, m.n, &m.pos, &v)) break;
            if (v != 0)
                return bad(r, LECTOR_STATUS_UNSUPPORTED, at,
                           "the bundle is big-endian (endianness %" PRIu64 "); only "
                           "little-endian checkpoints are supported",
                           v);
        } else if (!pb_skip(&m, wt)) {
            ok = false;
            break;
        }
    }
    if (!ok || m.pos != m.n)
        return bad(r, LECTOR_STATUS_FORMAT, m.base + m.pos, "malformed bundle header (key \"\")");
    if (shards < 1)
        return bad(r, LECTOR_STATUS_FORMAT, m.base,
                   "bundle header: num_shards must be in [1, %d]", SHARDS_MAX);
    *n_shards = (int32_t)shards;
    return LECTOR_STATUS_OK;
}

// TensorShapeProto: repeated Dim dim = 2 {int64 size = 1; string name = 2}; bool unknown_rank = 3.
static enum lector_status parse_shape(const struct rd *r, const char *tensor, struct pb m,
                                      struct lector__tf_entry *e) {
    uint32_t field, wt;
    bool ok;
    uint64_t v;
    // The product of the non-zero dimensions must fit whatever their order: (2^40, 2^40, 0)
    // is refused, not taken as empty because a running product reached 0 first.
    int64_t nonzero = 1;
    bool empty = false;
    while (pb_next(&m, &field, &wt, &ok)) {
        size_t at = m.base + m.pos;
        if (field == 2 && wt == WIRE_LEN) {
            struct pb d;
            if (!pb_sub(&m, &d)) {
                ok = false;
                break;
            }
            int64_t size = 0;
            uint32_t df, dwt;
            bool dok;
            while (pb_next(&d, &df, &dwt, &dok)) {
                if (df == 1 && dwt == WIRE_VARINT) {
                    if (!get_varint(d.p, d.n, &d.pos, &v)) {
                        dok = false;
                        break;
                    }
                    if (v > (uint64_t)INT64_MAX)
                        return bad(r, LECTOR_STATUS_FORMAT, at,
                                   "tensor '%.100s': dimension %" PRId32 " is unknown or "
                                   "negative",
                                   tensor, e->n_dims);
                    size = (int64_t)v;
                } else if (!pb_skip(&d, dwt)) {
                    dok = false;
                    break;
                }
            }
            if (!dok || d.pos != d.n) {
                ok = false;
                break;
            }
            if (e->n_dims >= 64)
                return bad(r, LECTOR_STATUS_FORMAT, at, "tensor '%.100s': over 64 dimensions",
                           tensor);
            if (e->n_dims < LECTOR_MAX_DIMS) e->shape[e->n_dims] = size;
            e->n_dims++;
            if (size == 0)
                empty = true;
            else if (!lector__mul_i64(nonzero, size, &nonzero))
                return bad(r, LECTOR_STATUS_FORMAT, at,
                           "tensor '%.100s': the number of elements overflows", tensor);
        } else if (field == 3 && wt == WIRE_VARINT) {
            if (!get_varint(m.p, m.n, &m.pos, &v)) {
                ok = false;
                break;
            }
            if (v != 0)
                return bad(r, LECTOR_STATUS_FORMAT, at, "tensor '%.100s': shape of unknown rank",
                           tensor);
        } else if (!pb_skip(&m, wt)) {
            ok = false;
            break;
        }
    }
    if (!ok || m.pos != m.n)
        return bad(r, LECTOR_STATUS_FORMAT, m.base + m.pos, "tensor '%.100s': malformed shape",
                   tensor);
    e->numel = empty ? 0 : nonzero;
    return LECTOR_STATUS_OK;
}

static enum lector_status parse_entry(const struct rd *r, struct pb m,
                                      struct lector__tf_entry *e) {
    const char *t = e->name;
    uint32_t field, wt;
    bool ok, seen_shape = false;
    uint64_t v;
    e->numel = 1;
    while (pb_next(&m, &field, &wt, &ok)) {
        size_t at = m.base + m.pos;
        static const uint8_t want[8] = {0, WIRE_VARINT, WIRE_LEN, WIRE_VARINT,
                                        WIRE_VARINT, WIRE_VARINT, WIRE_I32, WIRE_LEN};
        if (field < 8 && wt != want[field])
            return bad(r, LECTOR_STATUS_FORMAT, at,
                       "tensor '%.100s': entry field %" PRIu32 " has wire type %" PRIu32
                       ", expected %u",
                       t, field, wt, (unsigned)want[field]);
        switch (field) {
        case 1: // dtype
        case 3: // shard_id
        case 4: // offset
        case 5: // size
            if (!get_varint(m.p, m.n, &m.pos, &v)) {
                ok = false;
                break;
            }
            if (field == 1) {
                e->dtype = v > INT32_MAX ? INT32_MAX : (int32_t)v;
            } else if (field == 3) {
                e->shard_id = v > INT32_MAX ? INT32_MAX : (int32_t)v;
            } else {
                if (v > (uint64_t)INT64_MAX)
                    return bad(r, LECTOR_STATUS_FORMAT, at, "tensor '%.100s': negative %s", t,
                               field == 4 ? "offset" : "size");
                if (field == 4)
                    e->offset = v;
                else
                    e->size = v;
            }
            break;
        case 2: {
            struct pb s;
            if (seen_shape)
                return bad(r, LECTOR_STATUS_FORMAT, at, "tensor '%.100s': shape given twice", t);
            seen_shape = true;
            if (!pb_sub(&m, &s)) {
                ok = false;
                break;
            }
            enum lector_status st = parse_shape(r, t, s, e);
            if (st != LECTOR_STATUS_OK) return st;
            break;
        }
        case 6:
            if (m.n - m.pos < 4) {
                ok = false;
                break;
            }
            e->crc32c = lector__read_u32_le(m.p + m.pos);
            m.pos += 4;
            break;
        case 7:
            e->sliced = true;
            ok = pb_skip(&m, wt);
            break;
        default: ok = pb_skip(&m, wt); break;
        }
        if (!ok) break;
    }
    if (!ok || m.pos != m.n)
        return bad(r, LECTOR_STATUS_FORMAT, m.base + m.pos,
                   "tensor '%.100s': malformed BundleEntryProto", t);
    return LECTOR_STATUS_OK;
}

// ----------------------------------------------------------------------------
// table blocks

// The contents of the block at handle (off, size), after its trailer checked out.
static enum lector_status read_block(const struct rd *r, const struct lector__crc32c *crc,
                                     uint64_t off, uint64_t size, const char *what,
                                     const uint8_t **data) {
    size_t limit = r->n - FOOTER_SIZE; // the caller checked n >= FOOTER_SIZE
    if (off > limit || size > limit - off || TRAILER_SIZE > limit - off - size)
        return bad(r, LECTOR_STATUS_FORMAT, r->n - FOOTER_SIZE,
                   "%s block [%" PRIu64 ", +%" PRIu64 "] plus its trailer lies past the "
                   "table's end (%zu bytes before the footer): truncated index?",
                   what, off, size, limit);
    const uint8_t *b = r->buf + off;
    uint8_t type = b[size];
    uint32_t stored = lector__read_u32_le(b + size + 1);
    uint32_t actual = lector__crc32c_mask(lector__crc32c_update(crc, 0, b, (size_t)size + 1));
    if (stored != actual)
        return bad(r, LECTOR_STATUS_FORMAT, (size_t)(off + size + 1),
                   "%s block at byte %" PRIu64 ": CRC-32C mismatch (stored %08" PRIx32
                   ", computed %08" PRIx32 "): the index is corrupt",
                   what, off, stored, actual);
    if (type == 1)
        return bad(r, LECTOR_STATUS_UNSUPPORTED, (size_t)(off + size),
                   "%s block is snappy-compressed; lector reads only uncompressed tables "
                   "(re-save the checkpoint without compression)",
                   what);
    if (type != 0)
        return bad(r, LECTOR_STATUS_FORMAT, (size_t)(off + size),
                   "%s block has unknown compression type %u", what, (unsigned)type);
    *data = b;
    return LECTOR_STATUS_OK;
}

struct blk {
    const uint8_t *p;
    size_t off;      // file offset of p[0]
    size_t limit;    // entries end here; restart array follows
    const uint8_t *restarts;
    uint32_t n_restarts, next_restart;
    size_t pos;
    uint8_t *key; // current key (owned by the caller's buffer)
    size_t key_len, key_cap;
};

static enum lector_status blk_init(const struct rd *r, struct blk *b, const uint8_t *p,
                                   size_t size, const char *what) {
    b->p = p;
    b->off = (size_t)(p - r->buf);
    b->pos = 0;
    b->key_len = 0;
    b->next_restart = 0;
    if (size < 4)
        return bad(r, LECTOR_STATUS_FORMAT, b->off, "%s block of %zu bytes has no restart count",
                   what, size);
    b->n_restarts = lector__read_u32_le(p + size - 4);
    if (b->n_restarts == 0 || b->n_restarts > (size - 4) / 4)
        return bad(r, LECTOR_STATUS_FORMAT, b->off + size - 4,
                   "%s block of %zu bytes claims %" PRIu32 " restart points", what, size,
                   b->n_restarts);
    b->limit = size - 4 - 4 * (size_t)b->n_restarts;
    b->restarts = p + b->limit;
    for (uint32_t i = 0; i < b->n_restarts; i++) {
        uint32_t o = lector__read_u32_le(b->restarts + 4 * (size_t)i);
        uint32_t prev = i ? lector__read_u32_le(b->restarts + 4 * (size_t)(i - 1)) : 0;
        bool in = b->limit == 0 ? o == 0 && b->n_restarts == 1 : o < b->limit;
        if (!in || (i > 0 && o <= prev))
            return bad(r, LECTOR_STATUS_FORMAT, b->off + b->limit + 4 * (size_t)i,
                       "%s block: restart point %" PRIu32 " at %" PRIu32 " is out of order or "
                       "past the entries (%zu bytes)",
                       what, i, o, b->limit);
    }
    if (b->limit == 0) b->next_restart = b->n_restarts; // empty block: nothing to visit
    return LECTOR_STATUS_OK;
}

// The next entry: key in b->key[0, key_len), value. *more false at the block's end.
static enum lector_status blk_next(const struct rd *r, struct blk *b, const char *what,
                                   bool *more, const uint8_t **val, size_t *val_len) {
    *more = false;
    if (b->pos == b->limit) {
        if (b->next_restart != b->n_restarts)
            return bad(r, LECTOR_STATUS_FORMAT, b->off + b->limit,
                       "%s block: restart point %" PRIu32 " is not at an entry", what,
                       b->next_restart);
        return LECTOR_STATUS_OK;
    }
    size_t at = b->off + b->pos, pos = b->pos;
    uint64_t shared, unshared, vlen;
    if (!get_varint(b->p, b->limit, &pos, &shared) ||
        !get_varint(b->p, b->limit, &pos, &unshared) ||
        !get_varint(b->p, b->limit, &pos, &vlen))
        return bad(r, LECTOR_STATUS_FORMAT, at, "%s block: truncated entry header", what);
    if (shared > b->key_len || unshared > b->limit - pos || vlen > b->limit - pos - unshared)
        return bad(r, LECTOR_STATUS_FORMAT, at,
                   "%s block: entry (shared %" PRIu64 ", unshared %" PRIu64 ", value %" PRIu64
                   ") does not fit the block",
                   what, shared, unshared, vlen);
    if (b->next_restart < b->n_restarts) {
        uint32_t rs = lector__read_u32_le(b->restarts + 4 * (size_t)b->next_restart);
        if (rs < b->pos)
            return bad(r, LECTOR_STATUS_FORMAT, at,
                       "%s block: restart point %" PRIu32 " at %" PRIu32 " is inside an entry",
                       what, b->next_restart, rs);
        if (rs == b->pos) {
            if (shared != 0)
                return bad(r, LECTOR_STATUS_FORMAT, at,
                           "%s block: entry at a restart point shares %" PRIu64 " key bytes",
                           what, shared);
            b->next_restart++;
        }
    }
    size_t key_len = (size_t)(shared + unshared);
    if (key_len > KEY_MAX)
        return bad(r, LECTOR_STATUS_FORMAT, at, "%s block: key of %zu bytes", what, key_len);
    if (key_len > b->key_cap) {
        uint8_t *k = lector__realloc(b->key, key_len);
        if (!k) return lector__error(r->err, LECTOR_STATUS_NOMEM, "%s: out of memory", r->name);
        b->key = k;
        b->key_cap = key_len;
    }
    if (unshared) memcpy(b->key + shared, b->p + pos, (size_t)unshared);
    b->key_len = key_len;
    pos += (size_t)unshared;
    *val = b->p + pos;
    *val_len = (size_t)vlen;
    b->pos = pos + (size_t)vlen;
    *more = true;
    return LECTOR_STATUS_OK;
}

static int key_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    int c = m ? memcmp(a, b, m) : 0; // an empty key may have no buffer at all
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

static bool get_handle(const uint8_t *p, size_t n, size_t *pos, uint64_t *off, uint64_t *size) {
    return get_varint(p, n, pos, off) && get_varint(p, n, pos, size);
}

// ----------------------------------------------------------------------------
// the index

void lector__tf_index_free(struct lector__tf_index *ix) {
    if (!ix) return;
    for (int64_t i = 0; i < ix->n_entries; i++) lector_free(ix->entries[i].name);
    lector_free(ix->entries);
    memset(ix, 0, sizeof *ix);
}

static enum lector_status add_entry(const struct rd *r, struct lector__tf_index *ix,
                                    int64_t *cap, const uint8_t *key, size_t key_len,
                                    const uint8_t *val, size_t val_len) {
    if (memchr(key, 0, key_len))
        return bad(r, LECTOR_STATUS_FORMAT, (size_t)(val - r->buf),
                   "a tensor name holds a NUL byte");
    if (ix->n_entries == *cap) {
        int64_t c = *cap ? *cap * 2 : 64;
        struct lector__tf_entry *e = lector__realloc(ix->entries, (size_t)c * sizeof *e);
        if (!e) return lector__error(r->err, LECTOR_STATUS_NOMEM, "%s: out of memory", r->name);
        ix->entries = e;
        *cap = c;
    }
    struct lector__tf_entry *e = &ix->entries[ix->n_entries];
    memset(e, 0, sizeof *e);
    e->name = lector__strndup((const char *)key, key_len);
    if (!e->name) return lector__error(r->err, LECTOR_STATUS_NOMEM, "%s: out of memory", r->name);
    ix->n_entries++;
    e->at = (size_t)(val - r->buf);
    struct pb m = {val, val_len, 0, e->at};
    enum lector_status st = parse_entry(r, m, e);
    if (st != LECTOR_STATUS_OK) return st;
    if (e->shard_id < 0 || e->shard_id >= ix->n_shards)
        return bad(r, LECTOR_STATUS_FORMAT, e->at,
                   "tensor '%.100s': shard_id %" PRId32 " is not below num_shards %" PRId32,
                   e->name, e->shard_id, ix->n_shards);
    return LECTOR_STATUS_OK;
}

enum lector_status lector__tf_index_parse(const uint8_t *buf, size_t n, const char *name,
                                          struct lector__tf_index *out,
                                          struct lector_error *err) {
    memset(out, 0, sizeof *out);
    struct rd r = {buf, n, name, err};
    if (n < FOOTER_SIZE)
        return bad(&r, LECTOR_STATUS_FORMAT, 0,
                   "%zu bytes is shorter than the %d-byte table footer: not a checkpoint "
                   "index, or truncated",
                   n, FOOTER_SIZE);
    const uint8_t *foot = buf + n - FOOTER_SIZE;
    uint64_t magic = lector__read_u64_le(foot + 40);
    if (magic != TABLE_MAGIC)
        return bad(&r, LECTOR_STATUS_FORMAT, n - 8,
                   "bad table magic %016" PRIx64 " (expected %016llx): not a TensorFlow "
                   "checkpoint index, or truncated",
                   magic, TABLE_MAGIC);
    size_t fpos = 0;
    uint64_t meta_off, meta_size, index_off, index_size;
    if (!get_handle(foot, 40, &fpos, &meta_off, &meta_size) ||
        !get_handle(foot, 40, &fpos, &index_off, &index_size))
        return bad(&r, LECTOR_STATUS_FORMAT, n - FOOTER_SIZE, "malformed footer block handles");

    struct lector__crc32c *crc = lector__malloc(sizeof *crc);
    if (!crc) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", name);
    lector__crc32c_init(crc);
    struct blk ib = {0}, db = {0};
    uint8_t *prev = NULL; // the last key seen, for the order check
    size_t prev_len = 0;
    bool have_prev = false;
    int64_t cap = 0;
    const uint8_t *p;
    enum lector_status st;
    // The metaindex block is empty in TF bundles; its trailer is still checked.
    if ((st = read_block(&r, crc, meta_off, meta_size, "metaindex", &p))) goto fail;
    if ((st = read_block(&r, crc, index_off, index_size, "index", &p))) goto fail;
    if ((st = blk_init(&r, &ib, p, (size_t)index_size, "index"))) goto fail;
    for (;;) {
        bool more;
        const uint8_t *hv;
        size_t hn;
        if ((st = blk_next(&r, &ib, "index", &more, &hv, &hn))) goto fail;
        if (!more) break;
        size_t hpos = 0;
        uint64_t off, size;
        if (!get_handle(hv, hn, &hpos, &off, &size) || hpos != hn) {
            st = bad(&r, LECTOR_STATUS_FORMAT, (size_t)(hv - buf), "malformed data block handle");
            goto fail;
        }
        if ((st = read_block(&r, crc, off, size, "data", &p))) goto fail;
        if ((st = blk_init(&r, &db, p, (size_t)size, "data"))) goto fail;
        for (;;) {
            const uint8_t *v;
            size_t vn;
            if ((st = blk_next(&r, &db, "data", &more, &v, &vn))) goto fail;
            if (!more) break;
            size_t at = (size_t)(v - buf);
            if (have_prev && key_cmp(prev, prev_len, db.key, db.key_len) >= 0) {
                int shown = db.key_len < 100 ? (int)db.key_len : 100;
                st = bad(&r, LECTOR_STATUS_FORMAT, at,
                         "key '%.*s' is not after '%.100s': keys out of order or repeated",
                         shown, shown ? (const char *)db.key : "", (const char *)prev);
                goto fail;
            }
            // The index's separator must not sort before a key of its block.
            if (key_cmp(db.key, db.key_len, ib.key, ib.key_len) > 0) {
                st = bad(&r, LECTOR_STATUS_FORMAT, at,
                         "data block holds a key past its index separator");
                goto fail;
            }
            uint8_t *k = lector__realloc(prev, db.key_len + 1);
            if (!k) {
                st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", name);
                goto fail;
            }
            prev = k;
            if (db.key_len) memcpy(prev, db.key, db.key_len);
            prev[db.key_len] = 0;
            prev_len = db.key_len;
            if (db.key_len == 0) { // sorts first, so only as the very first key
                struct pb m = {v, vn, 0, at};
                if ((st = parse_header(&r, m, &out->n_shards))) goto fail;
            } else if (!have_prev) {
                st = bad(&r, LECTOR_STATUS_FORMAT, at,
                         "no bundle header (the empty key must come first)");
                goto fail;
            } else if ((st = add_entry(&r, out, &cap, db.key, db.key_len, v, vn))) {
                goto fail;
            }
            have_prev = true;
        }
    }
    if (!have_prev) {
        st = bad(&r, LECTOR_STATUS_FORMAT, (size_t)index_off, "empty table: no bundle header");
        goto fail;
    }
    st = LECTOR_STATUS_OK;
fail:
    lector_free(prev);
    lector_free(db.key);
    lector_free(ib.key);
    lector_free(crc);
    if (st != LECTOR_STATUS_OK) lector__tf_index_free(out);
    return st;
}

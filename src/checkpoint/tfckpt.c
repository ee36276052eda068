// TensorFlow tensor bundles (the original Google BERT checkpoints): the table in
// <prefix>.index, the BundleEntryProto values in it, and the data shards. The layout is
// described in checkpoint_impl.h. Everything read from the files is bounds-checked; messages
// name the file, the tensor and the byte offset (err->offset).
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
// An index takes about 100 bytes per tensor (BERT-large with its Adam slots: ~40 KB); this
// bounds what a hostile file can make us read and allocate.
#define INDEX_MAX ((size_t)64 << 20)
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

// ----------------------------------------------------------------------------
// names and dtypes

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

bool lector__tf_map_name(const char *tf, char *out, size_t n_out, bool *transpose) {
    *transpose = false;
    // Optimizer state (AdamWeightDecay's adam_m/adam_v, tf.train.AdamOptimizer's Adam,
    // Adam_1 and beta powers), the step counter and the pre-training heads.
    if (contains(tf, "/adam_m") || contains(tf, "/adam_v") || contains(tf, "Adam") ||
        strcmp(tf, "global_step") == 0 || strcmp(tf, "beta1_power") == 0 ||
        strcmp(tf, "beta2_power") == 0 || strncmp(tf, "cls/", 4) == 0)
        return false;
    if (strncmp(tf, "bert/", 5) != 0) {
        snprintf(out, n_out, "%s", tf);
        return true;
    }
    // bert/a/layer_3/b/kernel -> a.layer.3.b.weight, one path component at a time.
    size_t k = 0;
    const char *c = tf + 5;
    out[0] = '\0';
    while (k < n_out) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        const char *sep = k ? "." : "";
        size_t digits = 0;
        if (len > 6 && strncmp(c, "layer_", 6) == 0) {
            digits = strspn(c + 6, "0123456789");
            if (digits != len - 6) digits = 0;
        }
        if (digits) {
            k += (size_t)snprintf(out + k, n_out - k, "%slayer.%.*s", sep, (int)digits, c + 6);
        } else if (!slash && len == 6 && strncmp(c, "kernel", 6) == 0) {
            *transpose = true; // a Dense kernel is (in, out); torch's Linear weight (out, in)
            k += (size_t)snprintf(out + k, n_out - k, "%sweight", sep);
        } else if (!slash && len == 5 && strncmp(c, "gamma", 5) == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%sweight", sep);
        } else if (!slash && len == 4 && strncmp(c, "beta", 4) == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%sbias", sep);
        } else if (!slash && len >= 11 && strcmp(c + len - 11, "_embeddings") == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%s%.*s.weight", sep, (int)len, c);
        } else {
            k += (size_t)snprintf(out + k, n_out - k, "%s%.*s", sep, (int)len, c);
        }
        if (!slash) break;
        c = slash + 1;
    }
    return true;
}

// TensorFlow's DataType values for the dtypes lector keeps.
static bool tf_dtype(int32_t v, enum lector_dtype *out) {
    switch (v) {
    case 1: *out = LECTOR_DTYPE_F32; return true;
    case 2: *out = LECTOR_DTYPE_F64; return true;
    case 3: *out = LECTOR_DTYPE_I32; return true;
    case 4: *out = LECTOR_DTYPE_U8; return true;
    case 5: *out = LECTOR_DTYPE_I16; return true;
    case 6: *out = LECTOR_DTYPE_I8; return true;
    case 9: *out = LECTOR_DTYPE_I64; return true;
    case 10: *out = LECTOR_DTYPE_BOOL; return true;
    case 14: *out = LECTOR_DTYPE_BF16; return true;
    case 19: *out = LECTOR_DTYPE_F16; return true;
    default: return false;
    }
}

static const char *tf_dtype_name(int32_t v) {
    switch (v) {
    case 7: return " (DT_STRING)";
    case 8: return " (DT_COMPLEX64)";
    case 17: return " (DT_UINT16)";
    case 18: return " (DT_COMPLEX128)";
    case 20: return " (DT_RESOURCE)";
    case 21: return " (DT_VARIANT)";
    case 22: return " (DT_UINT32)";
    case 23: return " (DT_UINT64)";
    default: return "";
    }
}

// ----------------------------------------------------------------------------
// loading the tensors

struct kept {
    const struct lector__tf_entry *e;
    char *name; // mapped (owned)
    enum lector_dtype dtype;
    bool transpose; // a 2-D kernel
    size_t slot;    // offset in its shard's arena
};

// dst (C, R) = src (R, C) transposed, elements of es bytes.
static void transpose_copy(uint8_t *dst, const uint8_t *src, int64_t R, int64_t C, size_t es) {
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            memcpy(dst + ((size_t)j * (size_t)R + (size_t)i) * es,
                   src + ((size_t)i * (size_t)C + (size_t)j) * es, es);
}

static char *shard_path(const char *prefix, int32_t s, int32_t n) {
    size_t len = strlen(prefix) + 32;
    char *p = lector__malloc(len);
    if (p) snprintf(p, len, "%s.data-%05d-of-%05d", prefix, (int)s, (int)n);
    return p;
}

// Read the tensors of shard s into a new arena owned by ck and add them.
static enum lector_status load_shard(struct lector_checkpoint *ck, const char *path,
                                     const char *index_path, struct kept *kt, int64_t n_kept,
                                     int32_t s, const struct lector__crc32c *crc,
                                     struct lector_error *err) {
    void *base = NULL;
    size_t size = 0;
    uint8_t *arena = NULL;
    struct lector__ck_src *src = NULL;
    enum lector_status st = lector__map_file(path, &base, &size, err);
    if (st != LECTOR_STATUS_OK) return st;
    const uint8_t *data = base;
    size_t total = 0;
    int64_t n_src = 0;
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        if (e->shard_id != s) continue;
        if (e->offset > size || e->size > size - e->offset) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu): bytes [%" PRIu64
                                  ", %" PRIu64 ") lie past the end of %s (%zu bytes)",
                                  index_path, e->name, e->at, e->offset, e->offset + e->size,
                                  path, size);
            goto fail;
        }
        uint32_t got = lector__crc32c_mask(
            e->size ? lector__crc32c_update(crc, 0, data + e->offset, (size_t)e->size) : 0);
        if (got != e->crc32c) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, NULL, (int64_t)e->offset,
                                  "%s: tensor '%.100s': CRC-32C mismatch at byte %" PRIu64
                                  " (stored %08" PRIx32 ", computed %08" PRIx32
                                  "): the data file is corrupt",
                                  path, e->name, e->offset, e->crc32c, got);
            goto fail;
        }
        kt[i].slot = total;
        size_t padded = ((size_t)e->size + 63) / 64 * 64;
        if (padded < e->size || !lector__add_size(total, padded, &total)) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: tensors overflow", path);
            goto fail;
        }
        n_src++;
    }
    if (total) {
        arena = lector__aligned_alloc(total);
        if (!arena) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: cannot allocate %zu bytes", path,
                               total);
            goto fail;
        }
    }
    src = lector__calloc(n_src ? (size_t)n_src : 1, sizeof *src);
    if (!src) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int64_t j = 0;
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        if (e->shard_id != s) continue;
        struct lector__ck_src *o = &src[j++];
        o->name = kt[i].name;
        o->dtype = kt[i].dtype;
        o->n_dims = e->n_dims;
        memcpy(o->shape, e->shape, sizeof o->shape);
        o->data = arena ? arena + kt[i].slot : NULL;
        if (e->size == 0) continue;
        if (kt[i].transpose) {
            transpose_copy(arena + kt[i].slot, data + e->offset, e->shape[0], e->shape[1],
                           lector_dtype_size(kt[i].dtype));
            o->shape[0] = e->shape[1];
            o->shape[1] = e->shape[0];
        } else {
            memcpy(arena + kt[i].slot, data + e->offset, (size_t)e->size);
        }
    }
    munmap(base, size);
    base = NULL;
    int64_t fi;
    st = lector__ck_add_file(ck, path, arena, total, LECTOR__CK_HEAP, &fi, err);
    arena = NULL; // ck owns it now, even on failure
    if (st == LECTOR_STATUS_OK) {
        // Pointers into the registered arena (the same memory, now ck's).
        st = lector__ck_add_tensors(ck, fi, src, n_src, err);
    }
fail:
    lector_free(src);
    lector__aligned_free(arena);
    if (base) munmap(base, size);
    return st;
}

enum lector_status lector__ck_add_tf(struct lector_checkpoint *ck, const char *prefix,
                                     struct lector_error *err) {
    struct lector__tf_index ix = {0};
    struct kept *kt = NULL;
    int64_t n_kept = 0;
    char *text = NULL, *index_path = NULL, *path = NULL;
    struct lector__crc32c *crc = NULL;
    size_t n = 0;
    enum lector_status st;
    size_t plen = strlen(prefix);
    index_path = lector__malloc(plen + sizeof ".index");
    if (!index_path) return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", prefix);
    memcpy(index_path, prefix, plen);
    memcpy(index_path + plen, ".index", sizeof ".index");

    if ((st = lector__read_file(index_path, INDEX_MAX, &text, &n, err))) goto fail;
    if ((st = lector__tf_index_parse((const uint8_t *)text, n, index_path, &ix, err))) goto fail;
    int64_t fi;
    // The index holds no tensor data but is part of what the checksum must cover.
    if ((st = lector__ck_add_file(ck, index_path, NULL, 0, LECTOR__CK_HEAP, &fi, err))) goto fail;

    kt = lector__calloc(ix.n_entries ? (size_t)ix.n_entries : 1, sizeof *kt);
    crc = lector__malloc(sizeof *crc);
    if (!kt || !crc) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
        goto fail;
    }
    lector__crc32c_init(crc);
    for (int64_t i = 0; i < ix.n_entries; i++) {
        const struct lector__tf_entry *e = &ix.entries[i];
        char mapped[512];
        bool transpose;
        if (strlen(e->name) > 400) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: byte %zu: tensor name of %zu bytes is too long",
                                  index_path, e->at, strlen(e->name));
            goto fail;
        }
        if (!lector__tf_map_name(e->name, mapped, sizeof mapped, &transpose)) continue;
        enum lector_dtype dt;
        const char *why = NULL;
        if (e->sliced)
            why = "is a partitioned variable (slices); re-save it unpartitioned";
        else if (!tf_dtype(e->dtype, &dt))
            why = "has a TensorFlow dtype lector does not read";
        else if (e->n_dims > LECTOR_MAX_DIMS)
            why = "has more than 4 dimensions";
        if (why) {
            st = lector__error_offset(err, LECTOR_STATUS_UNSUPPORTED, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu, dtype %" PRId32 "%s) %s",
                                  index_path, e->name, e->at, e->dtype, tf_dtype_name(e->dtype),
                                  why);
            goto fail;
        }
        size_t want;
        if (!lector__mul_size((size_t)e->numel, lector_dtype_size(dt), &want) || want != e->size) {
            st = lector__error_offset(err, LECTOR_STATUS_FORMAT, index_path, (int64_t)e->at,
                                  "%s: tensor '%.100s' (index byte %zu): size %" PRIu64
                                  " bytes, but %" PRId64 " x %s needs %" PRId64 " x %zu",
                                  index_path, e->name, e->at, e->size, e->numel,
                                  lector_dtype_name(dt), e->numel, lector_dtype_size(dt));
            goto fail;
        }
        kt[n_kept].e = e;
        kt[n_kept].dtype = dt;
        kt[n_kept].transpose = transpose && e->n_dims == 2;
        kt[n_kept].name = lector__strdup(mapped);
        if (!kt[n_kept].name) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        n_kept++;
    }
    // Every shard a kept tensor lives in must exist before any is read.
    for (int64_t i = 0; i < n_kept; i++) {
        const struct lector__tf_entry *e = kt[i].e;
        path = shard_path(prefix, e->shard_id, ix.n_shards);
        if (!path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        if (!lector__file_exists(path)) {
            st = lector__error(err, LECTOR_STATUS_NOT_FOUND,
                               "%s: data shard %s is missing (tensor '%.100s' is stored in "
                               "shard %" PRId32 " of %" PRId32 ")",
                               index_path, path, e->name, e->shard_id, ix.n_shards);
            goto fail;
        }
        lector_free(path);
        path = NULL;
    }
    for (int32_t s = 0; s < ix.n_shards; s++) {
        bool used = false;
        for (int64_t i = 0; i < n_kept && !used; i++) used = kt[i].e->shard_id == s;
        if (!used) continue;
        path = shard_path(prefix, s, ix.n_shards);
        if (!path) {
            st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", index_path);
            goto fail;
        }
        if ((st = load_shard(ck, path, index_path, kt, n_kept, s, crc, err))) goto fail;
        lector_free(path);
        path = NULL;
    }
    st = LECTOR_STATUS_OK;
fail:
    for (int64_t i = 0; i < n_kept; i++) lector_free(kt[i].name);
    lector_free(kt);
    lector_free(crc);
    lector_free(path);
    lector__tf_index_free(&ix);
    lector_free(text);
    lector_free(index_path);
    return st;
}

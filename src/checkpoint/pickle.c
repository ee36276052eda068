// A restricted pickle reader for torch.save state dicts. It interprets (never executes) the
// opcodes torch.save emits for a dict of tensors and allows only the globals needed to
// rebuild them; everything else is refused with the opcode or global and its byte offset.
#include "checkpoint/checkpoint_impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base_impl.h"

// ----------------------------------------------------------------------------
// values

enum pv_kind {
    PV_NONE,
    PV_BOOL,
    PV_INT,
    PV_STR,
    PV_TUPLE,
    PV_LIST,
    PV_DICT, // items hold key, value, key, value, ...
    PV_GLOBAL,
    PV_STORAGE,
    PV_TENSOR
};

static const char *const pv_kind_names[] = {
    "None", "bool", "int", "str", "tuple", "list", "dict", "global", "storage", "tensor",
};

// The only callables a state dict needs.
enum pv_global {
    G_ORDERED_DICT,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_PARAMETER,
    G_STORAGE // a torch.<Type>Storage class; dtype says which
};

struct pv {
    enum pv_kind kind;
    int64_t i;    // PV_INT, PV_BOOL; PV_STORAGE: element count
    char *s;      // PV_STR; PV_STORAGE: key
    struct pv **items;
    int64_t n_items, cap_items;
    enum pv_global global;
    enum lector_dtype dtype; // PV_GLOBAL (G_STORAGE), PV_STORAGE, PV_TENSOR
    struct pv *storage;      // PV_TENSOR
    int64_t offset;          // PV_TENSOR: storage offset in elements
    int32_t n_dims;
    int64_t shape[LECTOR_MAX_DIMS], stride[LECTOR_MAX_DIMS];
    bool oversize; // PV_TENSOR: the sizes overflow; refused by name once the key is known
};

static const struct {
    const char *name;
    enum lector_dtype dtype;
} storage_types[] = {
    {"FloatStorage", LECTOR_DTYPE_F32},  {"HalfStorage", LECTOR_DTYPE_F16},
    {"BFloat16Storage", LECTOR_DTYPE_BF16}, {"DoubleStorage", LECTOR_DTYPE_F64},
    {"LongStorage", LECTOR_DTYPE_I64},   {"IntStorage", LECTOR_DTYPE_I32},
    {"ShortStorage", LECTOR_DTYPE_I16},  {"CharStorage", LECTOR_DTYPE_I8},
    {"ByteStorage", LECTOR_DTYPE_U8},    {"BoolStorage", LECTOR_DTYPE_BOOL},
};

// ----------------------------------------------------------------------------
// the machine

struct up {
    const uint8_t *buf;
    size_t n, pos;
    size_t op_pos; // offset of the opcode being run, for messages
    uint8_t op;
    const char *name;
    struct lector_error *err;
    struct pv **all; // every value allocated, freed together
    int64_t n_all, cap_all;
    struct pv **stack;
    int64_t n_stack, cap_stack;
    int64_t *marks; // stack heights at each MARK
    int64_t n_marks, cap_marks;
    struct pv **memo;
    int64_t n_memo, cap_memo;
};

static bool grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = lector__realloc(*p, (size_t)c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static enum lector_status fail(struct up *u, enum lector_status code, const char *fmt, ...)
    LECTOR_PRINTF(3, 4);
static enum lector_status fail(struct up *u, enum lector_status code, const char *fmt, ...) {
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lector__error_offset(u->err, code, u->name, (int64_t)u->op_pos, "%s: byte %zu: %s", u->name,
                            u->op_pos, what);
}

static enum lector_status nomem(struct up *u) {
    return fail(u, LECTOR_STATUS_NOMEM, "out of memory");
}

static struct pv *pv_new(struct up *u, enum pv_kind kind) {
    if (!grow((void **)&u->all, &u->cap_all, u->n_all + 1, sizeof *u->all)) return NULL;
    struct pv *v = lector__calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    u->all[u->n_all++] = v;
    return v;
}

static bool pv_append(struct pv *v, struct pv *item) {
    if (!grow((void **)&v->items, &v->cap_items, v->n_items + 1, sizeof *v->items)) return false;
    v->items[v->n_items++] = item;
    return true;
}

static enum lector_status push(struct up *u, struct pv *v) {
    if (!v) return nomem(u);
    if (!grow((void **)&u->stack, &u->cap_stack, u->n_stack + 1, sizeof *u->stack))
        return nomem(u);
    u->stack[u->n_stack++] = v;
    return LECTOR_STATUS_OK;
}

// The stack above the innermost MARK is off limits to plain pops.
static int64_t stack_floor(const struct up *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static enum lector_status pop(struct up *u, struct pv **out) {
    if (u->n_stack <= stack_floor(u))
        return fail(u, LECTOR_STATUS_FORMAT, "opcode 0x%02x pops an empty stack", u->op);
    *out = u->stack[--u->n_stack];
    return LECTOR_STATUS_OK;
}

static enum lector_status top(struct up *u, struct pv **out) {
    if (u->n_stack <= stack_floor(u))
        return fail(u, LECTOR_STATUS_FORMAT, "opcode 0x%02x needs a value on an empty stack",
                    u->op);
    *out = u->stack[u->n_stack - 1];
    return LECTOR_STATUS_OK;
}

// Pop back to the innermost MARK; the values above it are stack[*first, n_stack).
static enum lector_status pop_mark(struct up *u, int64_t *first) {
    if (u->n_marks == 0)
        return fail(u, LECTOR_STATUS_FORMAT, "opcode 0x%02x without a MARK", u->op);
    *first = u->marks[--u->n_marks];
    return LECTOR_STATUS_OK;
}

static enum lector_status need(struct up *u, size_t k) {
    if (u->n - u->pos < k)
        return fail(u, LECTOR_STATUS_FORMAT, "opcode 0x%02x runs past the end of the pickle",
                    u->op);
    return LECTOR_STATUS_OK;
}

static uint64_t read_le(const uint8_t *p, size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static enum lector_status push_str(struct up *u, size_t len_bytes) {
    enum lector_status st;
    if ((st = need(u, len_bytes))) return st;
    uint64_t len = read_le(u->buf + u->pos, len_bytes);
    u->pos += len_bytes;
    if (len > u->n - u->pos)
        return fail(u, LECTOR_STATUS_FORMAT, "string of %" PRIu64 " bytes runs past the end",
                    len);
    const uint8_t *s = u->buf + u->pos;
    if (memchr(s, 0, (size_t)len))
        return fail(u, LECTOR_STATUS_FORMAT, "string contains a NUL byte");
    if (lector__utf8_invalid_at(s, (size_t)len) != (size_t)len)
        return fail(u, LECTOR_STATUS_FORMAT, "string is not valid UTF-8");
    struct pv *v = pv_new(u, PV_STR);
    if (!v || !(v->s = lector__strndup((const char *)s, (size_t)len))) return nomem(u);
    u->pos += (size_t)len;
    return push(u, v);
}

static enum lector_status push_int(struct up *u, int64_t x) {
    struct pv *v = pv_new(u, PV_INT);
    if (v) v->i = x;
    return push(u, v);
}

static enum lector_status make_global(struct up *u, const char *module, const char *name) {
    struct pv *g = pv_new(u, PV_GLOBAL);
    if (!g) return nomem(u);
    if (strcmp(module, "collections") == 0 && strcmp(name, "OrderedDict") == 0) {
        g->global = G_ORDERED_DICT;
        return push(u, g);
    }
    if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_tensor_v2") == 0) {
        g->global = G_REBUILD_TENSOR_V2;
        return push(u, g);
    }
    if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_parameter") == 0) {
        g->global = G_REBUILD_PARAMETER;
        return push(u, g);
    }
    if (strcmp(module, "torch") == 0) {
        for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++) {
            if (strcmp(name, storage_types[i].name) == 0) {
                g->global = G_STORAGE;
                g->dtype = storage_types[i].dtype;
                return push(u, g);
            }
        }
    }
    return fail(u, LECTOR_STATUS_UNSUPPORTED,
                "global '%.80s.%.80s' is not allowed (a state dict needs only "
                "collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter "
                "and torch.*Storage)",
                module, name);
}

// GLOBAL: "module\nname\n" inline.
static enum lector_status op_global(struct up *u) {
    char parts[2][128];
    for (int k = 0; k < 2; k++) {
        const uint8_t *start = u->buf + u->pos;
        const uint8_t *nl = memchr(start, '\n', u->n - u->pos);
        if (!nl) return fail(u, LECTOR_STATUS_FORMAT, "GLOBAL without a newline");
        size_t len = (size_t)(nl - start);
        if (len == 0 || len >= sizeof parts[k] || memchr(start, 0, len))
            return fail(u, LECTOR_STATUS_FORMAT, "GLOBAL name of %zu bytes", len);
        memcpy(parts[k], start, len);
        parts[k][len] = '\0';
        u->pos += len + 1;
    }
    return make_global(u, parts[0], parts[1]);
}

// ----------------------------------------------------------------------------
// rebuilding tensors

static enum lector_status int_tuple(struct up *u, const struct pv *t, const char *what,
                                    int64_t *out, int32_t *n_out) {
    if (t->kind != PV_TUPLE)
        return fail(u, LECTOR_STATUS_FORMAT, "tensor %s must be a tuple, got %s", what,
                    pv_kind_names[t->kind]);
    if (t->n_items > LECTOR_MAX_DIMS)
        return fail(u, LECTOR_STATUS_UNSUPPORTED, "tensor %s has %" PRId64
                    " dimensions, at most %d are supported", what, t->n_items, LECTOR_MAX_DIMS);
    for (int64_t i = 0; i < t->n_items; i++) {
        if (t->items[i]->kind != PV_INT || t->items[i]->i < 0)
            return fail(u, LECTOR_STATUS_FORMAT, "tensor %s[%" PRId64
                        "] must be a non-negative int", what, i);
        out[i] = t->items[i]->i;
    }
    *n_out = (int32_t)t->n_items;
    return LECTOR_STATUS_OK;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
// [, metadata]): a view into a storage. lector takes contiguous views only, and each must lie
// inside its storage.
static enum lector_status rebuild_tensor(struct up *u, const struct pv *args, struct pv **out) {
    enum lector_status st;
    if (args->n_items < 4 || args->n_items > 7)
        return fail(u, LECTOR_STATUS_FORMAT, "_rebuild_tensor_v2 takes 4 to 7 arguments, got %" PRId64,
                    args->n_items);
    const struct pv *storage = args->items[0], *off = args->items[1];
    if (storage->kind != PV_STORAGE || off->kind != PV_INT || off->i < 0)
        return fail(u, LECTOR_STATUS_FORMAT,
                    "_rebuild_tensor_v2 needs (storage, offset >= 0, size, stride, ...)");
    struct pv *t = pv_new(u, PV_TENSOR);
    if (!t) return nomem(u);
    t->storage = (struct pv *)storage;
    t->dtype = storage->dtype;
    t->offset = off->i;
    int32_t n_stride = 0;
    if ((st = int_tuple(u, args->items[2], "size", t->shape, &t->n_dims))) return st;
    if ((st = int_tuple(u, args->items[3], "stride", t->stride, &n_stride))) return st;
    if (n_stride != t->n_dims)
        return fail(u, LECTOR_STATUS_FORMAT, "tensor size has %d dimensions but stride has %d",
                    (int)t->n_dims, (int)n_stride);
    // The element count is checked before anything else, whatever the order of the sizes:
    // an empty view of (2^40, 2^40, 0) is refused too (by name, when the dict is collected).
    int64_t numel = 0, expect = 1, last = t->offset;
    if (!lector__shape_numel(t->shape, t->n_dims, &numel)) {
        t->oversize = true;
        *out = t;
        return LECTOR_STATUS_OK;
    }
    for (int32_t d = t->n_dims - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect)
            return fail(u, LECTOR_STATUS_UNSUPPORTED,
                        "tensor view with stride %" PRId64 " on dimension %d is not contiguous "
                        "(expected %" PRId64 ")",
                        t->stride[d], (int)d, expect);
        expect *= t->shape[d]; // a partial product of a checked count (or 0): cannot overflow
    }
    // Contiguous, so the view covers elements [offset, offset + numel).
    bool overflow = numel > 0 && __builtin_add_overflow(t->offset, numel - 1, &last);
    if (overflow || (numel > 0 && last >= storage->i))
        return fail(u, LECTOR_STATUS_FORMAT,
                    "tensor view [offset %" PRId64 ", %" PRId64 " elements] runs past storage "
                    "'%.40s' (%" PRId64 " elements)",
                    t->offset, numel, storage->s, storage->i);
    *out = t;
    return LECTOR_STATUS_OK;
}

static enum lector_status op_reduce(struct up *u) {
    enum lector_status st;
    struct pv *args = NULL, *fn = NULL, *res = NULL;
    if ((st = pop(u, &args)) || (st = pop(u, &fn))) return st;
    if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE)
        return fail(u, LECTOR_STATUS_FORMAT, "REDUCE needs a global and a tuple, got %s and %s",
                    pv_kind_names[fn->kind], pv_kind_names[args->kind]);
    switch (fn->global) {
    case G_ORDERED_DICT:
        if (args->n_items != 0)
            return fail(u, LECTOR_STATUS_UNSUPPORTED, "OrderedDict with arguments");
        res = pv_new(u, PV_DICT);
        if (!res) return nomem(u);
        break;
    case G_REBUILD_TENSOR_V2:
        if ((st = rebuild_tensor(u, args, &res))) return st;
        break;
    case G_REBUILD_PARAMETER:
        // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself.
        if (args->n_items < 1 || args->items[0]->kind != PV_TENSOR)
            return fail(u, LECTOR_STATUS_FORMAT, "_rebuild_parameter needs a tensor");
        res = args->items[0];
        break;
    case G_STORAGE:
        return fail(u, LECTOR_STATUS_UNSUPPORTED, "calling a storage type");
    }
    return push(u, res);
}

// BINPERSID: ('storage', torch.<T>Storage, key, location, numel) names an archive entry.
static enum lector_status op_binpersid(struct up *u) {
    enum lector_status st;
    struct pv *pid = NULL;
    if ((st = pop(u, &pid))) return st;
    if (pid->kind != PV_TUPLE || pid->n_items != 5 || pid->items[0]->kind != PV_STR ||
        strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->kind != PV_GLOBAL ||
        pid->items[1]->global != G_STORAGE || pid->items[2]->kind != PV_STR ||
        pid->items[4]->kind != PV_INT || pid->items[4]->i < 0)
        return fail(u, LECTOR_STATUS_FORMAT,
                    "persistent id must be ('storage', torch.<T>Storage, key, location, numel)");
    struct pv *s = pv_new(u, PV_STORAGE);
    if (!s) return nomem(u);
    s->dtype = pid->items[1]->dtype;
    s->s = pid->items[2]->s; // owned by the str value, which lives as long as s
    s->i = pid->items[4]->i;
    return push(u, s);
}

static enum lector_status set_items(struct up *u, struct pv *dict, int64_t first) {
    int64_t n = u->n_stack - first;
    if (dict->kind != PV_DICT)
        return fail(u, LECTOR_STATUS_FORMAT, "SETITEM(S) on a %s", pv_kind_names[dict->kind]);
    if (n % 2 != 0) return fail(u, LECTOR_STATUS_FORMAT, "SETITEMS with an odd item count");
    for (int64_t i = first; i < u->n_stack; i++)
        if (!pv_append(dict, u->stack[i])) return nomem(u);
    u->n_stack = first;
    return LECTOR_STATUS_OK;
}

static enum lector_status memo_put(struct up *u, uint64_t idx) {
    enum lector_status st;
    struct pv *v = NULL;
    if ((st = top(u, &v))) return st;
    // Pickler numbers memo entries 0, 1, 2, ...: an index past the next one is malformed,
    // and refusing it bounds the memo by the size of the input.
    if (idx > (uint64_t)u->n_memo)
        return fail(u, LECTOR_STATUS_FORMAT, "memo index %" PRIu64 " skips past %" PRId64, idx,
                    u->n_memo);
    if (idx == (uint64_t)u->n_memo) {
        if (!grow((void **)&u->memo, &u->cap_memo, u->n_memo + 1, sizeof *u->memo))
            return nomem(u);
        u->n_memo++;
    }
    u->memo[idx] = v;
    return LECTOR_STATUS_OK;
}

static enum lector_status memo_get(struct up *u, uint64_t idx) {
    if (idx >= (uint64_t)u->n_memo)
        return fail(u, LECTOR_STATUS_FORMAT, "memo index %" PRIu64 " was never stored", idx);
    return push(u, u->memo[idx]);
}

static enum lector_status make_tuple(struct up *u, int64_t first) {
    struct pv *t = pv_new(u, PV_TUPLE);
    if (!t) return nomem(u);
    for (int64_t i = first; i < u->n_stack; i++)
        if (!pv_append(t, u->stack[i])) return nomem(u);
    u->n_stack = first;
    return push(u, t);
}

// One opcode. *done is set by STOP.
static enum lector_status step(struct up *u, struct pv **result, bool *done) {
    enum lector_status st;
    struct pv *a = NULL, *b = NULL, *c = NULL;
    int64_t first = 0;
    u->op_pos = u->pos;
    u->op = u->buf[u->pos++];
    switch (u->op) {
    case 0x80: // PROTO
        if ((st = need(u, 1))) return st;
        if (u->buf[u->pos] < 2 || u->buf[u->pos] > 5)
            return fail(u, LECTOR_STATUS_UNSUPPORTED, "pickle protocol %d", u->buf[u->pos]);
        u->pos++;
        return LECTOR_STATUS_OK;
    case 0x95: // FRAME: a length hint only
        if ((st = need(u, 8))) return st;
        u->pos += 8;
        return LECTOR_STATUS_OK;
    case '}': return push(u, pv_new(u, PV_DICT));   // EMPTY_DICT
    case ']': return push(u, pv_new(u, PV_LIST));   // EMPTY_LIST
    case ')': return push(u, pv_new(u, PV_TUPLE));  // EMPTY_TUPLE
    case 'N': return push(u, pv_new(u, PV_NONE));   // NONE
    case 0x88:                                       // NEWTRUE
    case 0x89:                                       // NEWFALSE
        a = pv_new(u, PV_BOOL);
        if (a) a->i = u->op == 0x88;
        return push(u, a);
    case '(': // MARK
        if (!grow((void **)&u->marks, &u->cap_marks, u->n_marks + 1, sizeof *u->marks))
            return nomem(u);
        u->marks[u->n_marks++] = u->n_stack;
        return LECTOR_STATUS_OK;
    case 'X': return push_str(u, 4);     // BINUNICODE
    case 0x8c: return push_str(u, 1);    // SHORT_BINUNICODE
    case 0x8d: return push_str(u, 8);    // BINUNICODE8
    case 'J':                            // BININT
        if ((st = need(u, 4))) return st;
        u->pos += 4;
        return push_int(u, (int32_t)(uint32_t)read_le(u->buf + u->pos - 4, 4));
    case 'K': // BININT1
        if ((st = need(u, 1))) return st;
        return push_int(u, u->buf[u->pos++]);
    case 'M': // BININT2
        if ((st = need(u, 2))) return st;
        u->pos += 2;
        return push_int(u, (int64_t)read_le(u->buf + u->pos - 2, 2));
    case 0x8a: { // LONG1: n bytes of little-endian two's complement
        if ((st = need(u, 1))) return st;
        size_t k = u->buf[u->pos++];
        if (k > 8) return fail(u, LECTOR_STATUS_UNSUPPORTED, "LONG1 of %zu bytes", k);
        if ((st = need(u, k))) return st;
        uint64_t v = read_le(u->buf + u->pos, k);
        if (k > 0 && k < 8 && (u->buf[u->pos + k - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * k);
        u->pos += k;
        int64_t x;
        memcpy(&x, &v, sizeof x);
        return push_int(u, x);
    }
    case 'c': return op_global(u); // GLOBAL
    case 0x93:                      // STACK_GLOBAL
        if ((st = pop(u, &b)) || (st = pop(u, &a))) return st;
        if (a->kind != PV_STR || b->kind != PV_STR)
            return fail(u, LECTOR_STATUS_FORMAT, "STACK_GLOBAL needs two strings");
        return make_global(u, a->s, b->s);
    case 'Q': return op_binpersid(u); // BINPERSID
    case 't':                         // TUPLE
        if ((st = pop_mark(u, &first))) return st;
        return make_tuple(u, first);
    case 0x85: // TUPLE1
    case 0x86: // TUPLE2
    case 0x87: // TUPLE3
        first = u->n_stack - (u->op - 0x84);
        if (first < stack_floor(u))
            return fail(u, LECTOR_STATUS_FORMAT, "TUPLE%d pops an empty stack", u->op - 0x84);
        return make_tuple(u, first);
    case 'R': return op_reduce(u); // REDUCE
    case 'b':                      // BUILD: state for the object below it
        if ((st = pop(u, &a)) || (st = top(u, &b))) return st;
        // An OrderedDict state dict carries its `_metadata` (per-module versions) this way;
        // lector does not need it.
        if (b->kind != PV_DICT)
            return fail(u, LECTOR_STATUS_UNSUPPORTED, "BUILD on a %s", pv_kind_names[b->kind]);
        return LECTOR_STATUS_OK;
    case 's': // SETITEM
        if ((st = pop(u, &b)) || (st = pop(u, &a)) || (st = top(u, &c))) return st;
        if (c->kind != PV_DICT)
            return fail(u, LECTOR_STATUS_FORMAT, "SETITEM on a %s", pv_kind_names[c->kind]);
        if (!pv_append(c, a) || !pv_append(c, b)) return nomem(u);
        return LECTOR_STATUS_OK;
    case 'u': // SETITEMS
        if ((st = pop_mark(u, &first))) return st;
        if (first < 1 || first - 1 < stack_floor(u))
            return fail(u, LECTOR_STATUS_FORMAT, "SETITEMS without a dict");
        return set_items(u, u->stack[first - 1], first);
    case 'a': // APPEND
        if ((st = pop(u, &a)) || (st = top(u, &c))) return st;
        if (c->kind != PV_LIST)
            return fail(u, LECTOR_STATUS_FORMAT, "APPEND to a %s", pv_kind_names[c->kind]);
        return pv_append(c, a) ? LECTOR_STATUS_OK : nomem(u);
    case 'e': // APPENDS
        if ((st = pop_mark(u, &first))) return st;
        if (first < 1 || first - 1 < stack_floor(u) || u->stack[first - 1]->kind != PV_LIST)
            return fail(u, LECTOR_STATUS_FORMAT, "APPENDS without a list");
        for (int64_t i = first; i < u->n_stack; i++)
            if (!pv_append(u->stack[first - 1], u->stack[i])) return nomem(u);
        u->n_stack = first;
        return LECTOR_STATUS_OK;
    case 'q': // BINPUT
        if ((st = need(u, 1))) return st;
        return memo_put(u, u->buf[u->pos++]);
    case 'r': // LONG_BINPUT
        if ((st = need(u, 4))) return st;
        u->pos += 4;
        return memo_put(u, read_le(u->buf + u->pos - 4, 4));
    case 0x94: // MEMOIZE
        return memo_put(u, (uint64_t)u->n_memo);
    case 'h': // BINGET
        if ((st = need(u, 1))) return st;
        return memo_get(u, u->buf[u->pos++]);
    case 'j': // LONG_BINGET
        if ((st = need(u, 4))) return st;
        u->pos += 4;
        return memo_get(u, read_le(u->buf + u->pos - 4, 4));
    case '.': // STOP
        if (u->n_marks != 0)
            return fail(u, LECTOR_STATUS_FORMAT, "STOP inside an unclosed MARK");
        if ((st = pop(u, result))) return st;
        *done = true;
        return LECTOR_STATUS_OK;
    default:
        if (u->op >= 0x20 && u->op < 0x7f)
            return fail(u, LECTOR_STATUS_UNSUPPORTED, "opcode 0x%02x ('%c') is not allowed", u->op,
                        u->op);
        return fail(u, LECTOR_STATUS_UNSUPPORTED, "opcode 0x%02x is not allowed", u->op);
    }
}

// ----------------------------------------------------------------------------
// entry point

void lector__pkl_state_free(struct lector__pkl_state *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_tensors; i++) {
        lector_free(s->tensors[i].name);
        lector_free(s->tensors[i].storage_key);
    }
    lector_free(s->tensors);
    memset(s, 0, sizeof *s);
}

static enum lector_status collect(struct up *u, const struct pv *dict,
                                  struct lector__pkl_state *out) {
    u->op_pos = u->n;
    if (dict->kind != PV_DICT)
        return fail(u, LECTOR_STATUS_FORMAT, "the pickle holds a %s, not a state dict",
                    pv_kind_names[dict->kind]);
    int64_t n = dict->n_items / 2;
    out->tensors = lector__calloc((size_t)n, sizeof *out->tensors);
    if (!out->tensors) return nomem(u);
    for (int64_t i = 0; i < n; i++) {
        const struct pv *k = dict->items[2 * i], *v = dict->items[2 * i + 1];
        if (k->kind != PV_STR)
            return fail(u, LECTOR_STATUS_FORMAT, "state dict key %" PRId64 " is a %s, not a str",
                        i, pv_kind_names[k->kind]);
        if (v->kind != PV_TENSOR)
            return fail(u, LECTOR_STATUS_UNSUPPORTED, "state dict entry '%.200s' is a %s, not a tensor",
                        k->s, pv_kind_names[v->kind]);
        if (v->oversize) {
            char shape[128] = "";
            for (int32_t d = 0; d < v->n_dims; d++)
                snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64,
                         d ? ", " : "", v->shape[d]);
            return fail(u, LECTOR_STATUS_FORMAT,
                        "tensor '%.200s': size (%s) overflows the element count", k->s, shape);
        }
        struct lector__pkl_tensor *t = &out->tensors[out->n_tensors];
        t->name = lector__strdup(k->s);
        t->storage_key = lector__strdup(v->storage->s);
        out->n_tensors++;
        if (!t->name || !t->storage_key) return nomem(u);
        t->dtype = v->dtype;
        t->storage_numel = v->storage->i;
        t->offset = v->offset;
        t->n_dims = v->n_dims;
        memcpy(t->shape, v->shape, sizeof t->shape);
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector__pickle_state_dict(const uint8_t *buf, size_t n, const char *name,
                                             struct lector__pkl_state *out,
                                             struct lector_error *err) {
    memset(out, 0, sizeof *out);
    struct up u = {.buf = buf, .n = n, .name = name, .err = err};
    struct pv *result = NULL;
    bool done = false;
    enum lector_status st = LECTOR_STATUS_OK;
    while (!done && st == LECTOR_STATUS_OK) {
        if (u.pos >= u.n) {
            u.op_pos = u.pos;
            st = fail(&u, LECTOR_STATUS_FORMAT, "pickle ends without STOP");
            break;
        }
        st = step(&u, &result, &done);
    }
    if (st == LECTOR_STATUS_OK) st = collect(&u, result, out);
    for (int64_t i = 0; i < u.n_all; i++) {
        if (u.all[i]->kind == PV_STR) lector_free(u.all[i]->s);
        lector_free(u.all[i]->items);
        lector_free(u.all[i]);
    }
    lector_free(u.all);
    lector_free(u.stack);
    lector_free(u.marks);
    lector_free(u.memo);
    if (st != LECTOR_STATUS_OK) lector__pkl_state_free(out);
    return st;
}

"""Write a BERT state dict as an original Google (TensorFlow 1) BERT checkpoint: the TF
format of scripts/dev/random_encoder.py (a module, not a script).

write(dst, tensors, cfg, rng, ...) gives DST what Google's releases contain:
bert_config.json (the original keys, no model_type), bert_model.ckpt.index and
bert_model.ckpt.data-0000k-of-0000N.

Tensors get their TensorFlow names and layout: "encoder.layer.0.attention.self.query.weight"
(out, in) becomes "bert/encoder/layer_0/attention/self/query/kernel" (in, out), LayerNorm
weight/bias become gamma/beta, "embeddings.word_embeddings.weight" becomes
"bert/embeddings/word_embeddings". Like a checkpoint saved during pre-training, it also holds
what a reader must skip: AdamWeightDecay slots "<var>/adam_m" and "<var>/adam_v" (slots
"all": for every variable; "one": for the first; "none"), "global_step" (int64) and a
"cls/predictions/output_bias" head (unless cls is False), drawn from rng.

The files are written here byte by byte, with no TensorFlow: the index is a LevelDB-style
table (prefix-compressed blocks with restart points, an index block, a 48-byte footer,
masked CRC-32C block trailers) whose values are BundleEntryProto messages encoded by hand.
Tensors are written in key order, model variables first, so the first bytes of the first
data shard belong to a variable a reader keeps. shards spreads the tensors over N data
files; block_size sets the table's data block size (small values give many blocks).

Needs Debian's python3-numpy.
"""
import json
import os
import struct

import numpy as np

# ---------------------------------------------------------------------------------------
# CRC-32C

POLY = 0x82F63B78
TABLE = []
for _b in range(256):
    _r = _b
    for _ in range(8):
        _r = (_r >> 1) ^ (POLY if _r & 1 else 0)
    TABLE.append(_r)
TABLE_NP = np.array(TABLE, dtype=np.uint32)


def crc32c_small(data, reg=0xFFFFFFFF):
    """Byte at a time; for blocks and tests."""
    for b in data:
        reg = (reg >> 8) ^ TABLE[(reg ^ b) & 0xFF]
    return reg ^ 0xFFFFFFFF


def _apply(mat, v):
    """Multiply a GF(2) 32x32 matrix (list of column ints) by a 32-bit vector."""
    out = 0
    i = 0
    while v:
        if v & 1:
            out ^= mat[i]
        v >>= 1
        i += 1
    return out


def _mul(a, b):
    return [_apply(a, col) for col in b]


# Feeding one zero byte to the raw CRC register is linear in the register.
_ZERO1 = [((1 << i) >> 8) ^ TABLE[(1 << i) & 0xFF] for i in range(32)]
_zero_cache = {}


def _zeros_op(n):
    """The register operator of feeding n zero bytes."""
    if n in _zero_cache:
        return _zero_cache[n]
    result = [1 << i for i in range(32)]
    sq = _ZERO1
    k = n
    while k:
        if k & 1:
            result = _mul(sq, result)
        sq = _mul(sq, sq)
        k >>= 1
    _zero_cache[n] = result
    return result


def crc32c(data, lane=4096):
    """CRC-32C of a large buffer: numpy runs the byte loop over many chunks at once (each from
    register 0), then the chunk values are chained with the zero-feeding operator, since
    reg(A || B) = Z_len(B)(reg(A)) ^ raw(B)."""
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    n = buf.size
    if n < 2 * lane:
        return crc32c_small(buf.tobytes())
    k = -(-n // lane)
    pad = k * lane - n
    # Leading zero bytes leave a zero register unchanged, so the last chunk is padded in front.
    last = np.concatenate([np.zeros(pad, np.uint8), buf[(k - 1) * lane:]])
    chunks = np.concatenate([buf[:(k - 1) * lane], last]).reshape(k, lane)
    reg = np.zeros(k, dtype=np.uint32)
    for j in range(lane):
        reg = (reg >> np.uint32(8)) ^ TABLE_NP[(reg ^ chunks[:, j]) & np.uint32(0xFF)]
    total = 0xFFFFFFFF
    z_full = _zeros_op(lane)
    for i in range(k):
        length = lane if i < k - 1 else lane - pad
        op = z_full if length == lane else _zeros_op(length)
        total = _apply(op, total) ^ int(reg[i])
    return total ^ 0xFFFFFFFF


def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------
# protobuf encoding

def varint(v):
    assert v >= 0
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def field_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def field_fixed32(num, v):
    return varint((num << 3) | 5) + struct.pack("<I", v)


def shape_proto(shape):
    return b"".join(field_bytes(2, field_varint(1, int(d))) for d in shape)


def entry_proto(dtype, shape, shard, offset, size, crc):
    return (field_varint(1, dtype) + field_bytes(2, shape_proto(shape)) + field_varint(3, shard)
            + field_varint(4, offset) + field_varint(5, size) + field_fixed32(6, crc))


def header_proto(num_shards):
    version = field_varint(1, 1)  # VersionDef.producer
    return field_varint(1, num_shards) + field_bytes(3, version)


# ---------------------------------------------------------------------------------------
# the table

class Block:
    def __init__(self, restart_interval):
        self.interval = restart_interval
        self.buf = bytearray()
        self.restarts = [0]
        self.count = 0
        self.last = b""

    def add(self, key, value):
        if self.count == self.interval:
            self.restarts.append(len(self.buf))
            self.count = 0
            shared = 0
        else:
            shared = 0
            while shared < min(len(key), len(self.last)) and key[shared] == self.last[shared]:
                shared += 1
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value))
        self.buf += key[shared:] + value
        self.last = key
        self.count += 1

    def size(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self):
        return bytes(self.buf) + b"".join(struct.pack("<I", r) for r in self.restarts) + \
            struct.pack("<I", len(self.restarts))


def write_table(path, items, block_size):
    """items: sorted (key bytes, value bytes)."""
    out = bytearray()

    def emit(contents):
        off = len(out)
        out.extend(contents)
        out.append(0)  # no compression
        out.extend(struct.pack("<I", mask(crc32c_small(contents + b"\x00"))))
        return varint(off) + varint(len(contents))

    index = Block(1)
    block = Block(16)
    for key, value in items:
        block.add(key, value)
        if block.size() >= block_size:
            index.add(block.last, emit(block.finish()))
            block = Block(16)
    if block.count or not index.count:
        index.add(block.last, emit(block.finish()))
    meta = emit(Block(16).finish())
    idx = emit(index.finish())
    footer = meta + idx
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    out.extend(footer)
    with open(path, "wb") as f:
        f.write(out)


# ---------------------------------------------------------------------------------------
# names

def tf_name(hf):
    """Hugging Face name -> (TF name, transpose?) or None to drop."""
    if hf.startswith("bert."):
        hf = hf[len("bert."):]
    if hf.endswith("position_ids"):
        return None
    parts = []
    words = hf.split(".")
    last = words.pop()
    i = 0
    while i < len(words):  # encoder.layer.3 -> encoder/layer_3
        if words[i] == "layer" and i + 1 < len(words) and words[i + 1].isdigit():
            parts.append("layer_" + words[i + 1])
            i += 2
        else:
            parts.append(words[i])
            i += 1
    root = "cls" if parts and parts[0] == "cls" else "bert"
    if root == "cls":
        parts = parts[1:]
    if parts and parts[-1].endswith("_embeddings") and last == "weight":
        return "/".join([root] + parts), False
    if parts and parts[-1] == "LayerNorm":
        return "/".join([root] + parts + [{"weight": "gamma", "bias": "beta",
                                            "gamma": "gamma", "beta": "beta"}[last]]), False
    if last == "weight":
        return "/".join([root] + parts + ["kernel"]), True
    return "/".join([root] + parts + [last]), False


TF_DTYPE = {np.dtype(np.float32): 1, np.dtype(np.int32): 3, np.dtype(np.int64): 9,
            np.dtype(np.float16): 19}
BERT_KEYS = ["attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
             "initializer_range", "intermediate_size", "max_position_embeddings",
             "num_attention_heads", "num_hidden_layers", "type_vocab_size", "vocab_size"]


def to_bytes(a, dtype):
    """(TF dtype enum, little-endian bytes) of array a stored as dtype."""
    if dtype == "bf16" and a.dtype == np.float32:
        bits = np.ascontiguousarray(a).view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
        return 14, rounded.astype("<u2").tobytes()
    if dtype == "f16" and a.dtype == np.float32:
        a = a.astype(np.float16)
    a = np.ascontiguousarray(a)
    return TF_DTYPE[a.dtype], a.astype(a.dtype.newbyteorder("<")).tobytes()


# ---------------------------------------------------------------------------------------
# the checkpoint

def write(dst, tensors, cfg, rng, shards=1, slots="all", block_size=4096, cls=True,
          dtype="f32"):
    """DST/bert_config.json and DST/bert_model.ckpt.* from tensors (Hugging Face names, in any
    order, with or without the "bert." prefix); rng draws the optimizer slots and the cls
    bias. Model variables are stored as dtype, everything else as f32."""
    if not 1 <= shards <= 99999:
        raise ValueError("shards must be in [1, 99999]")
    variables = {}
    for hf, a in tensors.items():
        m = tf_name(hf)
        if m is None:
            continue
        name, transpose = m
        if transpose and a.ndim == 2:
            a = a.T
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        variables[name] = a
    if cls:
        variables.setdefault("cls/predictions/output_bias",
                             rng.normal(0, 0.02, cfg["vocab_size"]).astype(np.float32))
    model = sorted(variables)
    extra = {}
    slot_for = model if slots == "all" else model[:1] if slots == "one" else []
    for name in slot_for:
        if name.startswith("cls/"):
            continue
        shape = variables[name].shape
        extra[name + "/adam_m"] = rng.normal(0, 1e-3, shape).astype(np.float32)
        extra[name + "/adam_v"] = np.abs(rng.normal(0, 1e-6, shape)).astype(np.float32)
    extra["global_step"] = np.array(1000, dtype=np.int64)

    os.makedirs(dst, exist_ok=True)
    prefix = os.path.join(dst, "bert_model.ckpt")
    data = [bytearray() for _ in range(shards)]
    entries = {}
    for i, name in enumerate(model + sorted(extra)):
        a = variables[name] if name in variables else extra[name]
        dt, raw = to_bytes(a, dtype if name in variables else "f32")
        shard = i % shards
        entries[name] = entry_proto(dt, a.shape, shard, len(data[shard]), len(raw),
                                    mask(crc32c(raw)))
        data[shard] += raw
    items = [(b"", header_proto(shards))]
    items += [(k.encode(), entries[k]) for k in sorted(entries, key=lambda s: s.encode())]
    write_table(prefix + ".index", items, block_size)
    for s in range(shards):
        with open(f"{prefix}.data-{s:05d}-of-{shards:05d}", "wb") as f:
            f.write(data[s])

    bert_cfg = {k: cfg[k] for k in BERT_KEYS if k in cfg}
    with open(os.path.join(dst, "bert_config.json"), "w") as f:
        json.dump(bert_cfg, f, indent=2, sort_keys=True)
        f.write("\n")

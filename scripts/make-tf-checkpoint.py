#!/usr/bin/python3
"""Write a Hugging Face BERT directory as an original Google (TensorFlow 1) BERT checkpoint.

    scripts/make-tf-checkpoint.py SRC DST [--shards N] [--slots all|one|none]
        [--block-size BYTES] [--no-cls] [--dtype f32|f16|bf16]

SRC holds config.json (model_type bert) and model.safetensors. DST gets what Google's
releases contain: bert_config.json (the original keys, no model_type), vocab.txt (copied
when SRC has one), bert_model.ckpt.index and bert_model.ckpt.data-0000k-of-0000N.

Tensors get their TensorFlow names and layout: "encoder.layer.0.attention.self.query.weight"
(out, in) becomes "bert/encoder/layer_0/attention/self/query/kernel" (in, out), LayerNorm
weight/bias become gamma/beta, "embeddings.word_embeddings.weight" becomes
"bert/embeddings/word_embeddings". Like a checkpoint saved during pre-training, it also holds
what a reader must skip: AdamWeightDecay slots "<var>/adam_m" and "<var>/adam_v" (--slots all:
for every variable; one: for the first; none), "global_step" (int64) and a "cls/predictions/
output_bias" head (unless --no-cls).

The files are written here byte by byte, with no TensorFlow: the index is a LevelDB-style
table (prefix-compressed blocks with restart points, an index block, a 48-byte footer,
masked CRC-32C block trailers) whose values are BundleEntryProto messages encoded by hand.
Tensors are written in key order, model variables first, so the first bytes of the first
data shard belong to a variable a reader keeps. --shards N spreads the tensors over N data
files; --block-size sets the table's data block size (small values give many blocks).

Needs Debian's python3-numpy.
"""
import argparse
import json
import os
import shutil
import struct
import sys

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
# safetensors and names

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, DTYPES[v["dtype"]])
        out[name] = a.reshape(v["shape"])
    return out


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--slots", choices=["all", "one", "none"], default="all")
    ap.add_argument("--block-size", type=int, default=4096)
    ap.add_argument("--no-cls", action="store_true")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not 1 <= args.shards <= 99999:
        sys.exit("make-tf-checkpoint: --shards must be in [1, 99999]")

    cfg = json.load(open(os.path.join(args.src, "config.json")))
    if cfg.get("model_type", "bert") != "bert":
        sys.exit(f"make-tf-checkpoint: {args.src}: model_type {cfg['model_type']!r}, expected bert")
    weights = read_safetensors(os.path.join(args.src, "model.safetensors"))
    rng = np.random.default_rng(args.seed)

    variables = {}
    for hf, a in weights.items():
        m = tf_name(hf)
        if m is None:
            continue
        name, transpose = m
        if transpose and a.ndim == 2:
            a = a.T
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        variables[name] = a
    if not args.no_cls:
        variables.setdefault("cls/predictions/output_bias",
                             rng.normal(0, 0.02, cfg["vocab_size"]).astype(np.float32))
    model = sorted(variables)
    slots = {}
    slot_for = model if args.slots == "all" else model[:1] if args.slots == "one" else []
    for name in slot_for:
        if name.startswith("cls/"):
            continue
        shape = variables[name].shape
        slots[name + "/adam_m"] = rng.normal(0, 1e-3, shape).astype(np.float32)
        slots[name + "/adam_v"] = np.abs(rng.normal(0, 1e-6, shape)).astype(np.float32)
    slots["global_step"] = np.array(1000, dtype=np.int64)

    os.makedirs(args.dst, exist_ok=True)
    prefix = os.path.join(args.dst, "bert_model.ckpt")
    data = [bytearray() for _ in range(args.shards)]
    entries = {}
    for i, name in enumerate(model + sorted(slots)):
        a = variables[name] if name in variables else slots[name]
        dt, raw = to_bytes(a, args.dtype if name in variables else "f32")
        shard = i % args.shards
        entries[name] = entry_proto(dt, a.shape, shard, len(data[shard]), len(raw),
                                    mask(crc32c(raw)))
        data[shard] += raw
    items = [(b"", header_proto(args.shards))]
    items += [(k.encode(), entries[k]) for k in sorted(entries, key=lambda s: s.encode())]
    write_table(prefix + ".index", items, args.block_size)
    for s in range(args.shards):
        with open(f"{prefix}.data-{s:05d}-of-{args.shards:05d}", "wb") as f:
            f.write(data[s])

    bert_cfg = {k: cfg[k] for k in BERT_KEYS if k in cfg}
    with open(os.path.join(args.dst, "bert_config.json"), "w") as f:
        json.dump(bert_cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    vocab = os.path.join(args.src, "vocab.txt")
    if os.path.exists(vocab):
        shutil.copyfile(vocab, os.path.join(args.dst, "vocab.txt"))


if __name__ == "__main__":
    main()

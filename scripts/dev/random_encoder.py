#!/usr/bin/python3
"""Write an encoder checkpoint with random weights: the one generator of random encoders for
the tests, the benchmarks and the accuracy baselines.

    scripts/dev/random_encoder.py DIR [--family bert] [--layers 12 --hidden 768 --heads 12
        --ffn 3072 --vocab 30522 --max-pos 512] [--init fixture|hf] [--seed S]
        [--format safetensors|bin|tf] [--shards N] [--dtype f32|f16|bf16] [--onnx]
        [--head K] [--vocab-from PATH ...] [--write-vocab]
    scripts/dev/random_encoder.py DIR --like SRC [--init hf] [--seed S] [--format ...]
    scripts/dev/random_encoder.py DIR --from SRC --format tf [--shards N] [--slots one]

Where the weights come from:
  (default)    random, of the family and geometry the options give (below)
  --like SRC   random, with the names and shapes of SRC/model.safetensors, drawn in name
               order; SRC's other files (config.json, vocab.txt, tokenizer files) are copied
  --from SRC   SRC/model.safetensors itself, not random: a conversion, e.g. to --format tf

Random weights (--init):
  fixture  the fixtures' recipe [default]: matrices and biases N(0, 0.02), LayerNorm gamma
           1 + N(0, 0.1) and beta N(0, 0.05), the pad_token_id row of the word embeddings 0
  hf       as transformers initialises BERT (the pad row left as drawn): LayerNorm gamma 1
           and beta 0, biases 0, every other tensor N(0, 0.02)
They are random: the model computes nothing useful, but every parameter matters, which is
what benchmarks and loaders need. Output is deterministic for a given --seed and arguments.

Formats, named as save_pretrained (or Google's BERT release) names them:
  --format safetensors   model.safetensors (or, with --shards N, model-0000k-of-0000N
                         .safetensors plus model.safetensors.index.json) and config.json
  --format bin           pytorch_model.bin, torch.save of the state dict (needs python3-torch)
  --format tf            an original Google (TensorFlow 1) BERT checkpoint, BERT only:
                         bert_config.json, bert_model.ckpt.index and --shards N data files
                         bert_model.ckpt.data-0000k-of-0000N, holding, like a checkpoint saved
                         in pre-training, what readers skip: AdamWeightDecay slots (--slots
                         all|one|none), global_step and cls/predictions/output_bias (unless
                         --no-cls); --block-size sets the index's data block size. vocab.txt
                         is copied from SRC when it has one. Written by tf_checkpoint.py.
--onnx also writes model.onnx, the f32 BERT (no pooler) as a PyTorch graph (needs
python3-torch and python3-onnx): inputs input_ids, attention_mask, token_type_ids (B, T)
int64, output last_hidden_state (B, T, C). scripts/bench/ runs it with ONNX Runtime.

Families (--family): bert, roberta, xlm-roberta, camembert, distilbert, albert, electra.
--head K saves the family's *ForSequenceClassification layout instead of the base model:
its prefix (bert., roberta., distilbert., albert., electra.) and a K-class head to ignore.
--vocab-from PATH copies a tokenizer file (vocab.txt, vocab.json, merges.txt,
tokenizer.json, ...) into DIR; without --vocab, V is then read from a vocab.txt or
vocab.json. --write-vocab writes a placeholder vocab.txt of V entries with BERT's special
ids ([PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103 when V > 103).
--sentence-transformers MODE adds modules.json and 1_Pooling/config.json (cls, mean, max).

Geometries used by the benchmarks:
  BERT-base   --layers 12 --hidden 768 --heads 12 --ffn 3072 --vocab 30522
  MiniLM-L6   --layers 6 --hidden 384 --heads 12 --ffn 1536 --vocab 30522

Needs Debian's python3-numpy (and python3-torch for --format bin and --onnx, python3-onnx
for --onnx): apt-get install -y python3-numpy python3-torch python3-onnx.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf_checkpoint  # noqa: E402

FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "albert", "electra")
ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")
ARCH = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta",
        "camembert": "Camembert", "distilbert": "DistilBert", "albert": "Albert",
        "electra": "Electra"}
PREFIX = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.",
          "camembert": "roberta.", "distilbert": "distilbert.", "albert": "albert.",
          "electra": "electra."}
# Options that describe the model to make: not with --like or --from, which take it from SRC.
GEOMETRY = ("family", "layers", "hidden", "heads", "ffn", "vocab", "max_pos", "embedding_size",
            "type_vocab", "groups", "inner_group_num", "act", "eps", "pad_id", "no_pooler",
            "head", "position_ids", "write_vocab", "sentence_transformers")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "model.onnx", "README.md")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", help="output directory (created if absent)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--like", metavar="SRC",
                     help="random weights of the names and shapes of SRC/model.safetensors")
    src.add_argument("--from", dest="from_", metavar="SRC",
                     help="the weights of SRC/model.safetensors, not random")
    p.add_argument("--family", choices=FAMILIES, help="model_type [bert]")
    p.add_argument("--layers", type=int, help="L [2]")
    p.add_argument("--hidden", type=int, help="C [128]")
    p.add_argument("--heads", type=int, help="H [2]")
    p.add_argument("--ffn", type=int, help="F [4 C]")
    p.add_argument("--vocab", type=int, help="V [1000, or the size of --vocab-from]")
    p.add_argument("--max-pos", type=int,
                   help="max_position_embeddings [512; 514 for the RoBERTa family]")
    p.add_argument("--embedding-size", type=int,
                   help="E, ALBERT and ELECTRA only [ALBERT min(128, C); ELECTRA C]")
    p.add_argument("--type-vocab", type=int,
                   help="type_vocab_size [2; 1 for the RoBERTa family; none for DistilBERT]")
    p.add_argument("--groups", type=int, help="ALBERT num_hidden_groups [1]")
    p.add_argument("--inner-group-num", type=int, help="ALBERT inner_group_num [1]")
    p.add_argument("--act", help="hidden_act [gelu; gelu_new for ALBERT]")
    p.add_argument("--eps", type=float,
                   help="layer_norm_eps [1e-12; 1e-5 for the RoBERTa family]")
    p.add_argument("--pad-id", type=int, help="pad_token_id [0; 1 for the RoBERTa family]")
    p.add_argument("--no-pooler", action="store_true", help="leave out the pooler")
    p.add_argument("--head", type=int, metavar="K",
                   help="save as *ForSequenceClassification with K classes (prefixed names)")
    p.add_argument("--position-ids", action="store_true",
                   help="also store the embeddings.position_ids buffer (I64), as old saves did")
    p.add_argument("--init", choices=("fixture", "hf"), help="random weights' recipe [fixture]")
    p.add_argument("--seed", type=int, default=0, help="random seed [0]")
    p.add_argument("--format", choices=("safetensors", "bin", "tf"), default="safetensors",
                   help="weight file format [safetensors]")
    p.add_argument("--shards", type=int, default=1,
                   help="safetensors: N shards with an index; tf: N data files [1]")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32",
                   help="stored dtype [f32]")
    p.add_argument("--slots", choices=("all", "one", "none"), default="all",
                   help="tf: variables with AdamWeightDecay slots [all]")
    p.add_argument("--block-size", type=int, default=4096,
                   help="tf: the index's data block size in bytes [4096]")
    p.add_argument("--no-cls", action="store_true", help="tf: no cls/predictions/output_bias")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (BERT only)")
    p.add_argument("--vocab-from", action="append", default=[], metavar="PATH",
                   help="copy this tokenizer file into DIR (repeatable)")
    p.add_argument("--write-vocab", action="store_true",
                   help="write a placeholder vocab.txt of V entries")
    p.add_argument("--sentence-transformers", choices=("cls", "mean", "max"), metavar="MODE",
                   help="add modules.json and 1_Pooling/config.json with this pooling")
    a = p.parse_args(argv)

    a.src = a.like or a.from_
    if a.src:
        given = [n for n in GEOMETRY if getattr(a, n) not in (None, False)]
        if given:
            p.error(f"--{given[0].replace('_', '-')} describes a new model: not with "
                    f"--{'like' if a.like else 'from'}, which takes it from SRC")
        if a.from_ and a.init:
            p.error("--init is for random weights: not with --from")
        for name in ("config.json", "model.safetensors"):
            if not os.path.isfile(os.path.join(a.src, name)):
                p.error(f"{a.src}: no {name}")
    else:
        fill_geometry(p, a)
    a.init = a.init or "fixture"
    if a.shards < 1 or (a.format == "tf" and a.shards > 99999):
        p.error("--shards must be in [1, 99999]" if a.format == "tf" else
                "--shards must be positive")
    if a.format == "bin" and a.shards != 1:
        p.error("--shards is for --format safetensors and tf only")
    if a.format != "tf" and (a.slots != "all" or a.block_size != 4096 or a.no_cls):
        p.error("--slots, --block-size and --no-cls are for --format tf only")
    if a.block_size < 1:
        p.error("--block-size must be positive")
    return a


def fill_geometry(p, a):
    """The family's defaults for the options not given, then the checks."""
    fam = a.family = a.family or "bert"
    roberta = fam in ROBERTA_LIKE
    for name, default in (("layers", 2), ("hidden", 128), ("heads", 2)):
        if getattr(a, name) is None:
            setattr(a, name, default)
    if a.vocab is None:
        a.vocab = vocab_size_of(a.vocab_from) or 1000
    a.ffn = a.ffn or 4 * a.hidden
    a.max_pos = a.max_pos or (514 if roberta else 512)
    a.pad_id = (1 if roberta else 0) if a.pad_id is None else a.pad_id
    a.eps = a.eps or (1e-5 if roberta else 1e-12)
    a.act = a.act or ("gelu_new" if fam == "albert" else "gelu")
    if fam == "distilbert":
        a.type_vocab = 0
    elif a.type_vocab is None:
        a.type_vocab = 1 if roberta else 2
    if fam == "albert":
        a.embedding_size = a.embedding_size or min(128, a.hidden)
    elif fam == "electra":
        a.embedding_size = a.embedding_size or a.hidden
    elif a.embedding_size is not None:
        p.error("--embedding-size is for albert and electra only")
    else:
        a.embedding_size = a.hidden
    if fam != "albert" and (a.groups is not None or a.inner_group_num is not None):
        p.error("--groups and --inner-group-num are for albert only")
    a.groups = 1 if a.groups is None else a.groups
    a.inner_group_num = 1 if a.inner_group_num is None else a.inner_group_num
    for name in ("layers", "hidden", "heads", "ffn", "vocab", "max_pos", "embedding_size",
                 "groups", "inner_group_num"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.hidden % a.heads:
        p.error(f"--hidden {a.hidden} is not a multiple of --heads {a.heads}")
    if not 0 <= a.pad_id < a.vocab:
        p.error(f"--pad-id {a.pad_id} is outside the vocabulary [0, {a.vocab})")
    if fam == "albert" and a.layers % a.groups:
        p.error(f"--layers {a.layers} is not a multiple of --groups {a.groups}")
    if a.head is not None and a.head < 1:
        p.error("--head must be positive")
    if a.format == "tf" and (fam != "bert" or a.head or a.sentence_transformers):
        p.error("--format tf is for the bert family's base model only")
    if a.onnx and (fam != "bert" or a.head):
        p.error("--onnx is for the bert family's base model only")


def vocab_size_of(paths):
    """Entries in the first vocab.txt / vocab.json among paths (None if there is none)."""
    for path in paths:
        base = os.path.basename(path)
        if base.endswith(".txt") and "vocab" in base:
            with open(path, encoding="utf-8") as f:
                return sum(1 for _ in f)
        if base == "vocab.json":
            with open(path, encoding="utf-8") as f:
                return max(json.load(f).values()) + 1
    return None


# ----------------------------------------------------------------------------
# the state dict: names and shapes in the order save_pretrained would produce them

def layout(a):
    """[(name, shape)] of the family's state dict, in save_pretrained's order."""
    fam, C, F, E = a.family, a.hidden, a.ffn, a.embedding_size
    out = []
    pre = PREFIX[fam] if a.head else ""

    def linear(base, n_out, n_in):
        out.extend([(base + ".weight", (n_out, n_in)), (base + ".bias", (n_out,))])

    def norm(base, n):
        out.extend([(base + ".weight", (n,)), (base + ".bias", (n,))])

    # embeddings (E wide for ALBERT and ELECTRA)
    out.append((pre + "embeddings.word_embeddings.weight", (a.vocab, E)))
    out.append((pre + "embeddings.position_embeddings.weight", (a.max_pos, E)))
    if a.type_vocab:
        out.append((pre + "embeddings.token_type_embeddings.weight", (a.type_vocab, E)))
    norm(pre + "embeddings.LayerNorm", E)
    if a.position_ids:
        out.append((pre + "embeddings.position_ids", (1, a.max_pos)))
    if fam == "electra" and E != C:
        linear(pre + "embeddings_project", C, E)

    def layer(b, attention, norm1, ffn_in, ffn_out, norm2):  # one transformer layer
        for n in attention:
            linear(b + n, C, C)
        norm(b + norm1, C)
        linear(b + ffn_in, F, C)
        linear(b + ffn_out, C, F)
        norm(b + norm2, C)

    if fam == "distilbert":
        for i in range(a.layers):
            layer(f"{pre}transformer.layer.{i}.",
                  ["attention." + n for n in ("q_lin", "k_lin", "v_lin", "out_lin")],
                  "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm")
    elif fam == "albert":
        linear(pre + "encoder.embedding_hidden_mapping_in", C, E)
        for g in range(a.groups):
            for j in range(a.inner_group_num):
                layer(f"{pre}encoder.albert_layer_groups.{g}.albert_layers.{j}.",
                      ["attention." + n for n in ("query", "key", "value", "dense")],
                      "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm")
    else:
        for i in range(a.layers):
            layer(f"{pre}encoder.layer.{i}.",
                  ["attention.self." + n for n in ("query", "key", "value")]
                  + ["attention.output.dense"],
                  "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                  "output.LayerNorm")

    # pooler: BERT, the RoBERTa family (not in their classification layout) and ALBERT
    roberta_head = fam in ROBERTA_LIKE and a.head
    if not a.no_pooler and fam not in ("distilbert", "electra") and not roberta_head:
        linear(pre + ("pooler" if fam == "albert" else "pooler.dense"), C, C)

    if a.head:
        K = a.head
        if fam in ROBERTA_LIKE or fam == "electra":
            linear("classifier.dense", C, C)
            linear("classifier.out_proj", K, C)
        else:
            if fam == "distilbert":
                linear("pre_classifier", C, C)
            linear("classifier", K, C)
    return out


def randomise(shapes, init, rng, pad_id):
    """{name: array} for [(name, shape)], drawn from rng in that order by the --init recipe.
    A tensor belongs to a norm when its module's name ends in LayerNorm or layer_norm;
    position_ids buffers are 0..P-1, not drawn."""
    tensors = {}
    for name, shape in shapes:
        module, _, leaf = name.rpartition(".")
        if leaf == "position_ids":
            tensors[name] = np.arange(shape[-1], dtype=np.int64).reshape(shape)
            continue
        norm = module.endswith(("LayerNorm", "layer_norm"))
        if init == "hf" and (leaf == "bias" or norm):
            tensors[name] = np.full(shape, 1.0 if norm and leaf == "weight" else 0.0, np.float32)
            continue
        mean, std = ((1.0, 0.1) if leaf == "weight" else (0.0, 0.05)) if norm else (0.0, 0.02)
        tensors[name] = (mean + std * rng.standard_normal(shape)).astype(np.float32)
        if init == "fixture" and name.endswith("embeddings.word_embeddings.weight"):
            tensors[name][pad_id] = 0.0
    return tensors


def config_of(a):
    fam = a.family
    arch = ARCH[fam] + ("ForSequenceClassification" if a.head else "Model")
    torch_dtype = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype]
    if fam == "distilbert":
        cfg = {"architectures": [arch], "model_type": fam, "vocab_size": a.vocab,
               "dim": a.hidden, "n_layers": a.layers, "n_heads": a.heads,
               "hidden_dim": a.ffn, "activation": a.act,
               "max_position_embeddings": a.max_pos, "sinusoidal_pos_embds": False,
               "dropout": 0.1, "attention_dropout": 0.1, "initializer_range": 0.02,
               "pad_token_id": a.pad_id}
    else:
        cfg = {"architectures": [arch], "model_type": fam, "vocab_size": a.vocab}
        if fam in ("albert", "electra"):
            cfg["embedding_size"] = a.embedding_size
        cfg.update({"hidden_size": a.hidden, "num_hidden_layers": a.layers,
                    "num_attention_heads": a.heads, "intermediate_size": a.ffn,
                    "hidden_act": a.act, "hidden_dropout_prob": 0.1,
                    "attention_probs_dropout_prob": 0.1,
                    "max_position_embeddings": a.max_pos, "type_vocab_size": a.type_vocab,
                    "initializer_range": 0.02, "layer_norm_eps": a.eps,
                    "pad_token_id": a.pad_id, "position_embedding_type": "absolute"})
        if fam == "albert":
            cfg["num_hidden_groups"] = a.groups
            cfg["inner_group_num"] = a.inner_group_num
        if fam in ROBERTA_LIKE:
            cfg["bos_token_id"] = 0
            cfg["eos_token_id"] = 2
    if a.head:
        cfg["id2label"] = {str(k): f"LABEL_{k}" for k in range(a.head)}
        cfg["label2id"] = {f"LABEL_{k}": k for k in range(a.head)}
    cfg["torch_dtype"] = torch_dtype
    return cfg



# ----------------------------------------------------------------------------
# writers

def to_dtype(x, dtype):
    """(safetensors dtype name, little-endian bytes) of array x stored as dtype."""
    if x.dtype == np.int64:
        return "I64", x.astype("<i8").tobytes()
    if dtype == "f32":
        return "F32", x.astype("<f4").tobytes()
    if dtype == "f16":
        return "F16", x.astype("<f2").tobytes()
    # bf16: the upper half of the f32 pattern, rounded to nearest even
    u = x.astype("<f4").view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    return "BF16", r.tobytes()


def write_safetensors(path, tensors, dtype):
    """One safetensors file: u64 LE header size, the JSON header padded with spaces to a
    multiple of 8, then the tensors' bytes back to back in the given order."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, x in tensors.items():
        dt, data = to_dtype(x, dtype)
        header[name] = {"dtype": dt, "shape": list(x.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)
    return offset


def write_sharded(d, tensors, dtype, n_shards):
    """n_shards files of about equal size, in tensor order, plus the index."""
    names = list(tensors)
    width = {"f32": 4, "f16": 2, "bf16": 2}[dtype]
    sizes = [tensors[n].size * (8 if tensors[n].dtype == np.int64 else width) for n in names]
    total, groups, acc, k = sum(sizes), [[] for _ in range(n_shards)], 0, 0
    for name, size in zip(names, sizes):
        while k < n_shards - 1 and acc >= total * (k + 1) / n_shards:
            k += 1
        groups[k].append(name)
        acc += size
    groups = [g for g in groups if g]
    weight_map, total_size = {}, 0
    for i, g in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        total_size += write_safetensors(os.path.join(d, fname), {n: tensors[n] for n in g},
                                        dtype)
        weight_map.update({n: fname for n in g})
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    write_json(os.path.join(d, "model.safetensors.index.json"), index)


def write_bin(path, tensors, dtype):
    try:
        import torch
    except ImportError:
        sys.exit("random_encoder: --format bin needs python3-torch "
                 "(apt-get install -y python3-torch)")
    from collections import OrderedDict
    tdt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    sd = OrderedDict()
    for name, x in tensors.items():
        t = torch.from_numpy(np.ascontiguousarray(x))
        sd[name] = t if x.dtype == np.int64 else t.to(tdt)
    tmp = path + ".tmp"
    torch.save(sd, tmp)
    os.replace(tmp, path)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_vocab(path, V):
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    with open(path, "w", encoding="utf-8") as f:
        for i in range(V):
            f.write((special.get(i) if V > 103 else None) or
                    (f"[unused{i}]" if i < 100 else f"tok{i}"))
            f.write("\n")



def write_sentence_transformers(d, mode, C):
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "",
         "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}])
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": C,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": mode == "max",
        "pooling_mode_mean_sqrt_len_tokens": False})


# ----------------------------------------------------------------------------
# readers

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """{name: array} of a safetensors file, in the header's order; BF16 widened to f32."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        if v["dtype"] == "BF16":
            x = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif v["dtype"] in ST_DTYPES:
            x = np.frombuffer(raw, ST_DTYPES[v["dtype"]])
        else:
            sys.exit(f"random_encoder: {path}: tensor {name}: dtype {v['dtype']} not supported")
        out[name] = x.reshape(v["shape"])
    return out


# ----------------------------------------------------------------------------
# PyTorch: the ONNX export, and PyTorch's side of the benchmarks

def torch_bert(tensors, cfg):
    """A PyTorch BertModel without its pooler holding these weights (Hugging Face names, with
    or without the "bert." prefix), in eval mode: forward(input_ids, attention_mask,
    token_type_ids) gives the last hidden state. Needs python3-torch."""
    import torch
    from torch import nn

    V, C, H = cfg["vocab_size"], cfg["hidden_size"], cfg["num_attention_heads"]
    F, eps = cfg["intermediate_size"], cfg.get("layer_norm_eps", 1e-12)
    act = cfg.get("hidden_act", "gelu")
    gelu = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}.get(act)
    if cfg.get("model_type", "bert") != "bert" or gelu is None:
        sys.exit(f"random_encoder: a PyTorch BERT needs model_type bert and a GELU, got "
                 f"{cfg.get('model_type')!r} and {act!r}")

    def dense(n_out, n_in):  # a Linear and the LayerNorm after the residual
        return nn.ModuleDict({"dense": nn.Linear(n_in, n_out),
                              "LayerNorm": nn.LayerNorm(n_out, eps=eps)})

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.ModuleDict({
                "self": nn.ModuleDict({n: nn.Linear(C, C) for n in ("query", "key", "value")}),
                "output": dense(C, C)})
            self.intermediate = nn.ModuleDict({"dense": nn.Linear(C, F)})
            self.output = dense(C, F)

        def forward(self, x, mask_bias):
            B, T, _ = x.shape
            att = self.attention["self"]

            def heads(y):
                return y.view(B, T, H, C // H).transpose(1, 2)

            q, k, v = (heads(att[n](x)) for n in ("query", "key", "value"))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(C // H) + mask_bias
            ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, T, C)
            o = self.attention["output"]
            x = o["LayerNorm"](o["dense"](ctx) + x)
            h = nn.functional.gelu(self.intermediate["dense"](x), approximate=gelu)
            return self.output["LayerNorm"](self.output["dense"](h) + x)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = nn.ModuleDict({
                "word_embeddings": nn.Embedding(V, C),
                "position_embeddings": nn.Embedding(cfg["max_position_embeddings"], C),
                "token_type_embeddings": nn.Embedding(cfg.get("type_vocab_size", 2), C),
                "LayerNorm": nn.LayerNorm(C, eps=eps)})
            self.encoder = nn.ModuleDict({"layer": nn.ModuleList(
                [Layer() for _ in range(cfg["num_hidden_layers"])])})

        def forward(self, input_ids, attention_mask, token_type_ids):
            e = self.embeddings
            pos = torch.arange(input_ids.shape[1], dtype=torch.long).unsqueeze(0)
            x = e["LayerNorm"](e["word_embeddings"](input_ids) + e["position_embeddings"](pos)
                               + e["token_type_embeddings"](token_type_ids))
            mask_bias = ((1.0 - attention_mask[:, None, None, :].to(x.dtype))
                         * torch.finfo(x.dtype).min)
            for layer in self.encoder["layer"]:
                x = layer(x, mask_bias)
            return x

    m = Bert()
    want = m.state_dict()
    got = {}
    for name, x in tensors.items():
        short = name[len("bert."):] if name.startswith("bert.") else name
        if short in want:
            got[short] = torch.tensor(np.asarray(x, dtype=np.float32))
    missing = [n for n in want if n not in got]
    if missing:
        sys.exit(f"random_encoder: a PyTorch BERT needs {missing[0]}, which the weights lack")
    m.load_state_dict(got)
    return m.eval()


def write_onnx(path, tensors, cfg):
    """model.onnx of torch_bert(tensors, cfg), batch and tokens dynamic. Needs python3-onnx."""
    import torch
    m = torch_bert(tensors, cfg)
    ids = torch.arange(32, dtype=torch.long).reshape(2, 16) % cfg["vocab_size"]
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp,
                          input_names=names, output_names=["last_hidden_state"],
                          opset_version=14,
                          dynamic_axes={n: {0: "batch", 1: "tokens"}
                                        for n in names + ["last_hidden_state"]})
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# main

def copy_files(src, dst, keep):
    """Copy the files of SRC (not its subfolders) for which keep(name) holds into DST."""
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if os.path.isfile(path) and keep(name):
            shutil.copyfile(path, os.path.join(dst, name))


def is_weight_file(name):
    return name in WEIGHT_FILES or (name.startswith("model-") and name.endswith(".safetensors"))


def main(argv):
    a = parse_args(argv)
    rng = np.random.default_rng(a.seed)
    if a.src:
        with open(os.path.join(a.src, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        tensors = read_safetensors(os.path.join(a.src, "model.safetensors"))
        if a.like:
            tensors = randomise([(n, tensors[n].shape) for n in sorted(tensors)], a.init, rng,
                                cfg.get("pad_token_id") or 0)
        if (a.format == "tf" or a.onnx) and cfg.get("model_type", "bert") != "bert":
            sys.exit(f"random_encoder: {a.src}: model_type {cfg['model_type']!r}: "
                     "--format tf and --onnx are for bert only")
        what = f"{'random, like' if a.like else 'from'} {a.src}"
    else:
        cfg = config_of(a)
        tensors = randomise(layout(a), a.init, rng, a.pad_id)
        what = (f"{a.family} L={a.layers} C={a.hidden} H={a.heads} F={a.ffn} V={a.vocab} "
                f"E={a.embedding_size}, {a.init}")
    os.makedirs(a.dir, exist_ok=True)

    if a.format == "tf":
        tf_checkpoint.write(a.dir, tensors, cfg, rng, a.shards, a.slots, a.block_size,
                            not a.no_cls, a.dtype)
        if a.src:
            copy_files(a.src, a.dir, lambda name: name == "vocab.txt")
    else:
        if a.format == "bin":
            write_bin(os.path.join(a.dir, "pytorch_model.bin"), tensors, a.dtype)
        elif a.shards > 1:
            write_sharded(a.dir, tensors, a.dtype, a.shards)
        else:
            write_safetensors(os.path.join(a.dir, "model.safetensors"), tensors, a.dtype)
        if a.src:
            copy_files(a.src, a.dir, lambda name: not is_weight_file(name))
        else:
            write_json(os.path.join(a.dir, "config.json"), cfg)
    for path in a.vocab_from:
        shutil.copyfile(path, os.path.join(a.dir, os.path.basename(path)))
    if a.write_vocab:
        write_vocab(os.path.join(a.dir, "vocab.txt"), a.vocab)
    if a.sentence_transformers:
        write_sentence_transformers(a.dir, a.sentence_transformers, a.hidden)
    if a.onnx:
        write_onnx(os.path.join(a.dir, "model.onnx"), tensors, cfg)
    n_params = sum(int(x.size) for x in tensors.values() if x.dtype != np.int64)
    print(f"{a.dir}: {what}, {len(tensors)} tensors, {n_params} parameters, "
          f"{a.format} {a.dtype}{' + onnx' if a.onnx else ''}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])

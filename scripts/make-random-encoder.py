#!/usr/bin/python3
"""Write a random-initialised encoder checkpoint in Hugging Face layout.

    scripts/make-random-encoder.py DIR [--family bert] [--layers 12 --hidden 768 --heads 12
        --ffn 3072 --vocab 30522 --max-pos 512] [--format safetensors|bin] [--shards N]
        [--dtype f32|f16|bf16] [--head K] [--seed S] [--vocab-from PATH ...] [--write-vocab]

DIR gets config.json and the weights, named as save_pretrained names them for the family
(bert, roberta, xlm-roberta, camembert, distilbert, albert, electra):

  --format safetensors   model.safetensors (or, with --shards N, model-0000k-of-0000N
                         .safetensors plus model.safetensors.index.json)
  --format bin           pytorch_model.bin, torch.save of the state dict (needs python3-torch)

Weights follow the fixtures' recipe: matrices and biases N(0, 0.02), LayerNorm gamma
1 + N(0, 0.1) and beta N(0, 0.05), the pad_token_id row of the word embeddings zero. They
are random: the model computes nothing useful, but every parameter matters, which is what
benchmarks and loaders need. Output is deterministic for a given --seed and arguments.

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

Needs Debian's python3-numpy (and python3-torch for --format bin): apt-get install -y
python3-numpy python3-torch.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "albert", "electra")
ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")
ARCH = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta",
        "camembert": "Camembert", "distilbert": "DistilBert", "albert": "Albert",
        "electra": "Electra"}
PREFIX = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.",
          "camembert": "roberta.", "distilbert": "distilbert.", "albert": "albert.",
          "electra": "electra."}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", help="output directory (created if absent)")
    p.add_argument("--family", choices=FAMILIES, default="bert", help="model_type [bert]")
    p.add_argument("--layers", type=int, default=2, help="L [2]")
    p.add_argument("--hidden", type=int, default=128, help="C [128]")
    p.add_argument("--heads", type=int, default=2, help="H [2]")
    p.add_argument("--ffn", type=int, help="F [4 C]")
    p.add_argument("--vocab", type=int, help="V [1000, or the size of --vocab-from]")
    p.add_argument("--max-pos", type=int,
                   help="max_position_embeddings [512; 514 for the RoBERTa family]")
    p.add_argument("--embedding-size", type=int,
                   help="E, ALBERT and ELECTRA only [ALBERT min(128, C); ELECTRA C]")
    p.add_argument("--type-vocab", type=int,
                   help="type_vocab_size [2; 1 for the RoBERTa family; none for DistilBERT]")
    p.add_argument("--groups", type=int, default=1, help="ALBERT num_hidden_groups [1]")
    p.add_argument("--inner-group-num", type=int, default=1, help="ALBERT inner_group_num [1]")
    p.add_argument("--act", help="hidden_act [gelu; gelu_new for ALBERT]")
    p.add_argument("--eps", type=float,
                   help="layer_norm_eps [1e-12; 1e-5 for the RoBERTa family]")
    p.add_argument("--pad-id", type=int, help="pad_token_id [0; 1 for the RoBERTa family]")
    p.add_argument("--no-pooler", action="store_true", help="leave out the pooler")
    p.add_argument("--head", type=int, metavar="K",
                   help="save as *ForSequenceClassification with K classes (prefixed names)")
    p.add_argument("--position-ids", action="store_true",
                   help="also store the embeddings.position_ids buffer (I64), as old saves did")
    p.add_argument("--format", choices=("safetensors", "bin"), default="safetensors",
                   help="weight file format [safetensors]")
    p.add_argument("--shards", type=int, default=1,
                   help="split model.safetensors into N shards with an index [1]")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32",
                   help="stored dtype [f32]")
    p.add_argument("--seed", type=int, default=0, help="random seed [0]")
    p.add_argument("--vocab-from", action="append", default=[], metavar="PATH",
                   help="copy this tokenizer file into DIR (repeatable)")
    p.add_argument("--write-vocab", action="store_true",
                   help="write a placeholder vocab.txt of V entries")
    p.add_argument("--sentence-transformers", choices=("cls", "mean", "max"), metavar="MODE",
                   help="add modules.json and 1_Pooling/config.json with this pooling")
    a = p.parse_args(argv)

    fam = a.family
    roberta = fam in ROBERTA_LIKE
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
    for name in ("layers", "hidden", "heads", "ffn", "vocab", "max_pos", "embedding_size",
                 "groups", "inner_group_num", "shards"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.hidden % a.heads:
        p.error(f"--hidden {a.hidden} is not a multiple of --heads {a.heads}")
    if not 0 <= a.pad_id < a.vocab:
        p.error(f"--pad-id {a.pad_id} is outside the vocabulary [0, {a.vocab})")
    if fam == "albert" and a.layers % a.groups:
        p.error(f"--layers {a.layers} is not a multiple of --groups {a.groups}")
    if fam != "albert" and (a.groups != 1 or a.inner_group_num != 1):
        p.error("--groups and --inner-group-num are for albert only")
    if a.format == "bin" and a.shards != 1:
        p.error("--shards is for --format safetensors only")
    if a.head is not None and a.head < 1:
        p.error("--head must be positive")
    return a


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

class Init:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.tensors = {}  # name -> float32 or int64 array, insertion order kept

    def normal(self, name, shape, mean=0.0, std=0.02):
        self.tensors[name] = (mean + std * self.rng.standard_normal(shape)).astype(np.float32)

    def linear(self, base, n_out, n_in):
        self.normal(base + ".weight", (n_out, n_in))
        self.normal(base + ".bias", (n_out,))

    def norm(self, base, n):
        self.normal(base + ".weight", (n,), 1.0, 0.1)
        self.normal(base + ".bias", (n,), 0.0, 0.05)


def build(a):
    fam, C, F, E = a.family, a.hidden, a.ffn, a.embedding_size
    init = Init(a.seed)
    pre = PREFIX[fam] if a.head else ""
    # embeddings (E wide for ALBERT and ELECTRA)
    init.normal(pre + "embeddings.word_embeddings.weight", (a.vocab, E))
    init.tensors[pre + "embeddings.word_embeddings.weight"][a.pad_id] = 0.0
    init.normal(pre + "embeddings.position_embeddings.weight", (a.max_pos, E))
    if a.type_vocab:
        init.normal(pre + "embeddings.token_type_embeddings.weight", (a.type_vocab, E))
    init.norm(pre + "embeddings.LayerNorm", E)
    if a.position_ids:
        init.tensors[pre + "embeddings.position_ids"] = np.arange(a.max_pos,
                                                                 dtype=np.int64)[None, :]
    if fam == "electra" and E != C:
        init.linear(pre + "embeddings_project", C, E)

    if fam == "distilbert":
        for i in range(a.layers):
            b = f"{pre}transformer.layer.{i}."
            for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
                init.linear(b + "attention." + n, C, C)
            init.norm(b + "sa_layer_norm", C)
            init.linear(b + "ffn.lin1", F, C)
            init.linear(b + "ffn.lin2", C, F)
            init.norm(b + "output_layer_norm", C)
    elif fam == "albert":
        init.linear(pre + "encoder.embedding_hidden_mapping_in", C, E)
        for g in range(a.groups):
            for j in range(a.inner_group_num):
                b = f"{pre}encoder.albert_layer_groups.{g}.albert_layers.{j}."
                for n in ("query", "key", "value", "dense"):
                    init.linear(b + "attention." + n, C, C)
                init.norm(b + "attention.LayerNorm", C)
                init.linear(b + "ffn", F, C)
                init.linear(b + "ffn_output", C, F)
                init.norm(b + "full_layer_layer_norm", C)
    else:
        for i in range(a.layers):
            b = f"{pre}encoder.layer.{i}."
            for n in ("query", "key", "value"):
                init.linear(b + "attention.self." + n, C, C)
            init.linear(b + "attention.output.dense", C, C)
            init.norm(b + "attention.output.LayerNorm", C)
            init.linear(b + "intermediate.dense", F, C)
            init.linear(b + "output.dense", C, F)
            init.norm(b + "output.LayerNorm", C)

    # pooler: BERT, the RoBERTa family (not in their classification layout) and ALBERT
    roberta_head = fam in ROBERTA_LIKE and a.head
    if not a.no_pooler and fam not in ("distilbert", "electra") and not roberta_head:
        init.linear(pre + ("pooler" if fam == "albert" else "pooler.dense"), C, C)

    if a.head:
        K = a.head
        if fam in ROBERTA_LIKE or fam == "electra":
            init.linear("classifier.dense", C, C)
            init.linear("classifier.out_proj", K, C)
        else:
            if fam == "distilbert":
                init.linear("pre_classifier", C, C)
            init.linear("classifier", K, C)
    return init.tensors


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
        sys.exit("make-random-encoder: --format bin needs python3-torch "
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


def main(argv):
    a = parse_args(argv)
    os.makedirs(a.dir, exist_ok=True)
    tensors = build(a)
    if a.format == "bin":
        write_bin(os.path.join(a.dir, "pytorch_model.bin"), tensors, a.dtype)
    elif a.shards > 1:
        write_sharded(a.dir, tensors, a.dtype, a.shards)
    else:
        write_safetensors(os.path.join(a.dir, "model.safetensors"), tensors, a.dtype)
    write_json(os.path.join(a.dir, "config.json"), config_of(a))
    for path in a.vocab_from:
        shutil.copyfile(path, os.path.join(a.dir, os.path.basename(path)))
    if a.write_vocab:
        write_vocab(os.path.join(a.dir, "vocab.txt"), a.vocab)
    if a.sentence_transformers:
        write_json(os.path.join(a.dir, "modules.json"), [
            {"idx": 0, "name": "0", "path": "",
             "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}])
        os.makedirs(os.path.join(a.dir, "1_Pooling"), exist_ok=True)
        mode = a.sentence_transformers
        write_json(os.path.join(a.dir, "1_Pooling", "config.json"), {
            "word_embedding_dimension": a.hidden,
            "pooling_mode_cls_token": mode == "cls",
            "pooling_mode_mean_tokens": mode == "mean",
            "pooling_mode_max_tokens": mode == "max",
            "pooling_mode_mean_sqrt_len_tokens": False})
    n_params = sum(int(x.size) for n, x in tensors.items() if x.dtype != np.int64)
    print(f"{a.dir}: {a.family} L={a.layers} C={a.hidden} H={a.heads} F={a.ffn} V={a.vocab} "
          f"E={a.embedding_size}, {len(tensors)} tensors, {n_params} parameters, "
          f"{a.format} {a.dtype}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])

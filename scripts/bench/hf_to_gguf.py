#!/usr/bin/python3
"""Convert a Hugging Face BERT folder (config.json, model.safetensors in F32, vocab.txt) to an
f32 GGUF file that llama.cpp's llama-embedding reads, for the benchmarks. Needs numpy and
llama.cpp's gguf-py package (GGUF_PY, default build-bench/llama/src/gguf-py: the sources
that scripts/bench/llama.sh unpacks); not transformers.

    hf_to_gguf.py MODEL_DIR OUT.gguf [--pooling mean|cls]
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("GGUF_PY", os.path.join(here, "../../build-bench/llama/src/gguf-py")))
import gguf  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            if meta["dtype"] != "F32":
                sys.exit(f"{path}: {name} is {meta['dtype']}, only F32 is converted")
            a, b = meta["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), dtype="<f4").reshape(meta["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    L = cfg["num_hidden_layers"]
    tensors = read_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    tokens = [t.rstrip("\n") for t in open(os.path.join(a.model_dir, "vocab.txt"), encoding="utf-8")]

    w = gguf.GGUFWriter(a.out, "bert")
    w.add_name("lector-bench")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(L)
    w.add_head_count(cfg["num_attention_heads"])
    w.add_layer_norm_eps(cfg.get("layer_norm_eps", 1e-12))
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN if a.pooling == "mean" else gguf.PoolingType.CLS)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("bert")
    control = [t.startswith("[") and t.endswith("]") for t in tokens]
    # llama.cpp's WordPiece vocabulary marks word starts with U+2581 and continuations bare,
    # where vocab.txt marks continuations with "##".
    w.add_token_list([t if c else t[2:] if t.startswith("##") else "\u2581" + t
                      for t, c in zip(tokens, control)])
    types = [gguf.TokenType.CONTROL if c else gguf.TokenType.NORMAL for c in control]
    w.add_token_types(types)
    w.add_token_type_count(cfg.get("type_vocab_size", 2))
    ids = {t: i for i, t in enumerate(tokens)}
    for key, fn in (("[UNK]", w.add_unk_token_id), ("[SEP]", w.add_sep_token_id),
                    ("[PAD]", w.add_pad_token_id),
                    ("[MASK]", w.add_mask_token_id)):
        if key in ids:
            fn(ids[key])
    if "[CLS]" in ids:
        w.add_bos_token_id(ids["[CLS]"])
    if "[SEP]" in ids:
        w.add_eos_token_id(ids["[SEP]"])

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, L)
    for name, t in tensors.items():
        short = name[len("bert."):] if name.startswith("bert.") else name
        if short.startswith("pooler.") or short.endswith("position_ids"):
            continue
        new = names.get_name(short, try_suffixes=(".weight", ".bias"))
        if new is None:
            sys.exit(f"{name}: no GGUF name for this tensor")
        w.add_tensor(new, np.ascontiguousarray(t, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()

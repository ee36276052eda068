#!/usr/bin/python3
"""Write a random-initialised BERT in Hugging Face layout, and its ONNX export, for the
benchmark (scripts/bench.sh). Needs only torch and onnx (Debian python3-torch, python3-onnx):
the module below names its parameters as transformers' BertModel does, and the
safetensors file is written by a small writer here.

    make_checkpoint.py OUT_DIR --layers 12 --hidden 768 --heads 12 --ff 3072 [--seed 0]

OUT_DIR gets config.json, model.safetensors (fp32) and model.onnx (inputs input_ids,
attention_mask, token_type_ids (B, T) int64; output last_hidden_state (B, T, C)).
"""
import argparse
import json
import math
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn


class Layer(nn.Module):
    def __init__(self, C, H, FF):
        super().__init__()
        self.H = H
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.attn_out = nn.Linear(C, C)
        self.ln1 = nn.LayerNorm(C, eps=1e-12)
        self.inter = nn.Linear(C, FF)
        self.out = nn.Linear(FF, C)
        self.ln2 = nn.LayerNorm(C, eps=1e-12)

    def heads(self, x):
        B, T, C = x.shape
        return x.view(B, T, self.H, C // self.H).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        B, T, C = x.shape
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(C // self.H) + ext_mask
        a = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = self.ln1(self.attn_out(a) + x)
        return self.ln2(self.out(F.gelu(self.inter(x))) + x)


class Bert(nn.Module):
    def __init__(self, V, C, L, H, FF, P=512):
        super().__init__()
        self.word = nn.Embedding(V, C)
        self.pos = nn.Embedding(P, C)
        self.tok_type = nn.Embedding(2, C)
        self.ln = nn.LayerNorm(C, eps=1e-12)
        self.layers = nn.ModuleList([Layer(C, H, FF) for _ in range(L)])

    def forward(self, input_ids, attention_mask, token_type_ids):
        T = input_ids.shape[1]
        pos = torch.arange(T, dtype=torch.long).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.tok_type(token_type_ids))
        ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, ext)
        return x

    def hf_tensors(self):
        t = {
            "embeddings.word_embeddings.weight": self.word.weight,
            "embeddings.position_embeddings.weight": self.pos.weight,
            "embeddings.token_type_embeddings.weight": self.tok_type.weight,
            "embeddings.LayerNorm.weight": self.ln.weight,
            "embeddings.LayerNorm.bias": self.ln.bias,
        }
        for i, l in enumerate(self.layers):
            p = f"encoder.layer.{i}."
            for name, mod in [("attention.self.query", l.query), ("attention.self.key", l.key),
                              ("attention.self.value", l.value),
                              ("attention.output.dense", l.attn_out),
                              ("attention.output.LayerNorm", l.ln1),
                              ("intermediate.dense", l.inter), ("output.dense", l.out),
                              ("output.LayerNorm", l.ln2)]:
                t[p + name + ".weight"] = mod.weight
                t[p + name + ".bias"] = mod.bias
        return {k: v.detach().contiguous().float() for k, v in t.items()}


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # keep the data 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--ff", type=int, required=True)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = Bert(a.vocab, a.hidden, a.layers, a.heads, a.ff).eval()
    with torch.no_grad():  # BERT's init scale, with non-zero biases and LayerNorm affines
        for name, p in m.named_parameters():
            if name.endswith("ln.weight") or ".ln1.weight" in name or ".ln2.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.02 * torch.randn_like(p))
    os.makedirs(a.out, exist_ok=True)
    cfg = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": a.vocab,
           "hidden_size": a.hidden, "num_hidden_layers": a.layers,
           "num_attention_heads": a.heads, "intermediate_size": a.ff,
           "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
           "hidden_act": "gelu", "pad_token_id": 0, "position_embedding_type": "absolute"}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(a.out, "model.safetensors"), m.hf_tensors())
    ids = torch.randint(1000, a.vocab, (2, 16))
    ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
    torch.onnx.export(m, (ids, ones, zeros), os.path.join(a.out, "model.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], opset_version=14,
                      dynamic_axes={n: {0: "batch", 1: "tokens"} for n in
                                    ["input_ids", "attention_mask", "token_type_ids",
                                     "last_hidden_state"]})


if __name__ == "__main__":
    main()

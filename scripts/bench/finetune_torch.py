#!/usr/bin/env python3
"""PyTorch reference for the fine-tuning benchmark (Debian's python3-torch, no transformers).

The same recipe as lector's bench_finetune on the same token ids (finetune_prep.py): a BERT
encoder read from model.safetensors, its top N layers trained with a linear head on mean
pooling; AdamW with a group for the encoder (--lr-encoder) and one for the head (--lr-head),
weight decay 0.01 on weight matrices only; 6% linear warm-up then linear decay; gradient
clipping at 1.0 over every trainable tensor; dropout 0.1 inside the trainable layers (hidden
and attention probabilities) and on the pooled vector; batch 16; best epoch on dev.

Two variants:
  plain   every step runs the frozen layers too (under no_grad), as Hugging Face's Trainer does
  cached  the frozen layers run once per text; each epoch runs only the top N layers

Prints one JSON line: seconds and CPU seconds per epoch, the frozen pass, dev accuracy per
epoch, test accuracy of the best epoch, peak RSS.

usage: finetune_torch.py --encoder DIR --data DIR --unfreeze N [--variant cached|plain]
                         [--epochs 3] [--batch 16] [--threads 2] [--seed 42]
"""
import argparse
import json
import math
import os
import random
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dev"))
from random_encoder import read_safetensors  # noqa: E402


def load_safetensors(path):
    """{name: float32 tensor} of a safetensors file."""
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in read_safetensors(path).items()}


class Layer(torch.nn.Module):
    def __init__(self, w, i, H, eps, p):
        super().__init__()
        g = lambda k: torch.nn.Parameter(w["encoder.layer.%d.%s" % (i, k)].clone())
        self.qw, self.qb = g("attention.self.query.weight"), g("attention.self.query.bias")
        self.kw, self.kb = g("attention.self.key.weight"), g("attention.self.key.bias")
        self.vw, self.vb = g("attention.self.value.weight"), g("attention.self.value.bias")
        self.ow, self.ob = g("attention.output.dense.weight"), g("attention.output.dense.bias")
        self.l1g, self.l1b = g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias")
        self.iw, self.ib = g("intermediate.dense.weight"), g("intermediate.dense.bias")
        self.fw, self.fb = g("output.dense.weight"), g("output.dense.bias")
        self.l2g, self.l2b = g("output.LayerNorm.weight"), g("output.LayerNorm.bias")
        self.H, self.eps, self.p = H, eps, p

    def forward(self, x, mask_add):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        split = lambda t: t.view(B, T, H, D).transpose(1, 2)
        q, k, v = split(F.linear(x, self.qw, self.qb)), split(F.linear(x, self.kw, self.kb)), \
            split(F.linear(x, self.vw, self.vb))
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + mask_add
        a = F.dropout(torch.softmax(s, -1), self.p, self.training)
        y = (a @ v).transpose(1, 2).reshape(B, T, C)
        y = F.dropout(F.linear(y, self.ow, self.ob), self.p, self.training)
        h = F.layer_norm(y + x, (C,), self.l1g, self.l1b, self.eps)
        f = F.linear(F.gelu(F.linear(h, self.iw, self.ib)), self.fw, self.fb)
        f = F.dropout(f, self.p, self.training)
        return F.layer_norm(f + h, (C,), self.l2g, self.l2b, self.eps)


def embed(w, ids, eps):
    T = ids.shape[1]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T] \
        + w["embeddings.token_type_embeddings.weight"][0]
    return F.layer_norm(x, (x.shape[-1],), w["embeddings.LayerNorm.weight"],
                        w["embeddings.LayerNorm.bias"], eps)


def read_ids(path):
    rows = []
    for line in open(path):
        lab, _, ids = line.rstrip("\n").partition("\t")
        rows.append((int(lab), [int(t) for t in ids.split()]))
    return rows


def pad(rows, idx):
    T = max(len(rows[i][1]) for i in idx)
    ids = torch.zeros(len(idx), T, dtype=torch.long)
    mask = torch.zeros(len(idx), T)
    for r, i in enumerate(idx):
        n = len(rows[i][1])
        ids[r, :n] = torch.tensor(rows[i][1])
        mask[r, :n] = 1
    return ids, mask


def cpu():
    t = os.times()
    return t.user + t.system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--unfreeze", type=int, required=True)
    ap.add_argument("--variant", default="cached", choices=["cached", "plain"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-head", type=float, default=1e-3)
    ap.add_argument("--lr-encoder", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    cfg = json.load(open(os.path.join(a.encoder, "config.json")))
    w = load_safetensors(os.path.join(a.encoder, "model.safetensors"))
    w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
    L, H, C, eps = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["hidden_size"], \
        cfg["layer_norm_eps"]
    p = cfg.get("hidden_dropout_prob", 0.1)
    layers = [Layer(w, i, H, eps, p) for i in range(L)]
    L0 = L - a.unfreeze
    for l in layers[:L0]:
        l.eval()
        for t in l.parameters():
            t.requires_grad_(False)
    train, dev, test = (read_ids(os.path.join(a.data, s + ".ids")) for s in ("train", "dev", "test"))
    K = 1 + max(y for y, _ in train)
    head = torch.nn.Linear(C, K)
    top = [t for l in layers[L0:] for t in l.parameters()]
    decay = lambda ts: [t for t in ts if t.dim() == 2]
    nodecay = lambda ts: [t for t in ts if t.dim() != 2]
    groups = [{"params": decay(list(head.parameters())), "lr": a.lr_head, "weight_decay": 0.01},
              {"params": nodecay(list(head.parameters())), "lr": a.lr_head, "weight_decay": 0.0}]
    if top:
        groups += [{"params": decay(top), "lr": a.lr_encoder, "weight_decay": 0.01},
                   {"params": nodecay(top), "lr": a.lr_encoder, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups)
    steps = a.epochs * ((len(train) + a.batch - 1) // a.batch)
    warm = int(0.06 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    params = list(head.parameters()) + top

    def frozen(ids, mask):
        with torch.no_grad():
            x = embed(w, ids, eps)
            add = (1.0 - mask)[:, None, None, :] * -1e9
            for l in layers[:L0]:
                x = l(x, add)
        return x

    def boundary(rows):  # the frozen part once per text, in length-sorted batches
        out = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]))
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            ids, mask = pad(rows, idx)
            x = frozen(ids, mask)
            for r, i in enumerate(idx):
                out[i] = x[r, :len(rows[i][1])].clone()
        return out

    t0, c0 = time.time(), cpu()
    cache = {}
    if a.variant == "cached":
        cache = {"train": boundary(train), "dev": boundary(dev)}
    secs_frozen, cpu_frozen = time.time() - t0, cpu() - c0

    def batch_states(name, rows, idx):
        ids, mask = pad(rows, idx)
        if a.variant == "cached":
            T = ids.shape[1]
            x = torch.zeros(len(idx), T, C)
            for r, i in enumerate(idx):
                x[r, :len(rows[i][1])] = cache[name][i]
        else:
            x = frozen(ids, mask)
        return x, mask

    def logits_of(name, rows, idx, training):
        x, mask = batch_states(name, rows, idx)
        add = (1.0 - mask)[:, None, None, :] * -1e9
        for l in layers[L0:]:
            l.train(training)
            x = l(x, add)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        pooled = F.dropout(pooled, 0.1, training)
        return head(pooled)

    def accuracy(name, rows):
        correct = 0
        with torch.no_grad():
            for s in range(0, len(rows), 64):
                idx = list(range(s, min(len(rows), s + 64)))
                z = logits_of(name, rows, idx, False)
                correct += sum(int(z[r].argmax()) == rows[i][0] for r, i in enumerate(idx))
        return correct / len(rows)

    epochs, best, best_state = [], -1.0, None
    for e in range(a.epochs):
        t1, c1 = time.time(), cpu()
        order = list(range(len(train)))
        random.shuffle(order)
        total = 0.0
        for s in range(0, len(order), a.batch):
            idx = order[s:s + a.batch]
            y = torch.tensor([train[i][0] for i in idx])
            loss = F.cross_entropy(logits_of("train", train, idx, True), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        acc = accuracy("dev", dev)
        epochs.append({"epoch": e + 1, "seconds": time.time() - t1, "cpu_seconds": cpu() - c1,
                       "train_loss": total / len(train), "dev_accuracy": acc})
        if acc > best:
            best = acc
            best_state = [t.detach().clone() for t in params]
    for t, b in zip(params, best_state):
        t.data.copy_(b)
    if a.variant == "cached":
        cache["test"] = boundary(test)
    test_acc = accuracy("test", test)
    n = len(epochs)
    print(json.dumps({
        "system": "pytorch-" + a.variant, "torch": torch.__version__, "unfreeze": a.unfreeze,
        "threads": a.threads, "epochs": epochs, "seconds_frozen": secs_frozen,
        "cpu_seconds_frozen": cpu_frozen,
        "seconds_per_epoch": sum(x["seconds"] for x in epochs) / n,
        "cpu_seconds_per_epoch": sum(x["cpu_seconds"] for x in epochs) / n,
        "dev_accuracy": best, "test_accuracy": test_acc,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


if __name__ == "__main__":
    main()

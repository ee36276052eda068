#!/usr/bin/env bash
# Encoder parity through the command line, as a user would check it: for every fixture
# fixture encoder (every family and weight format), `lector embed --ids --pooling none` and the pooled variants must
# match golden.safetensors within the tolerance in golden.json; for fixtures with a
# tokenizer, the text case goes through `lector embed` from text too (max abs diff printed).
set -uo pipefail
# Debian's python3 (with python3-numpy), whatever else is first on PATH.
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
bin=${LECTOR_BIN:?}
shared=${LECTOR_SHARED:-${LECTOR_SHARED_DEFAULT:-}}
if [ -z "$shared" ] || [ ! -d "$shared/fixtures/encoders" ]; then
  echo "skipped: shared/ not found"; exit 77
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "skipped: python3-numpy not installed"; exit 77; fi
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/cache # keep any feature cache inside the test
trap 'rm -rf "$tmp"' EXIT
"$py" - "$bin" "$shared/fixtures/encoders" <<'PY'
import json, os, struct, subprocess, sys
import numpy as np

bin_, root = sys.argv[1], sys.argv[2]
DT = {"F32": np.float32, "I32": np.int32, "I64": np.int64}

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[base + s:base + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
    return out

def run(args, lines):
    p = subprocess.run([bin_] + args, input="".join(l + "\n" for l in lines), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return [json.loads(l) for l in p.stdout.splitlines()]

# One output row per input row, or the comparisons below would look at too few.
def expect_rows(name, k, what, rows, n):
    if len(rows) != n:
        raise SystemExit(f"{name} case {k} {what}: {len(rows)} output rows for {n} inputs")

# Under the sanitizers (several times slower) the long cases (T = 128, 512) are left out:
# every family and format still runs, on the short cases.
light = os.environ.get("LECTOR_SANITIZED") == "ON"
failed = checked = skipped = 0
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    g = json.load(open(os.path.join(d, "golden.json")))
    atol = g["tolerance"]["atol"]
    gold = load(os.path.join(d, "golden.safetensors"))
    probe = subprocess.run([bin_, "embed", "--encoder", d, "--ids"], input="[0]\n", capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"{name}: FAIL, does not load: {probe.stderr.strip()}")
        failed += 1
        continue
    worst = 0.0
    for case in g["cases"]:
        if light and case["T"] > 64:
            continue
        k = case["k"]
        ids, mask = gold[f"case_{k}_input_ids"], gold[f"case_{k}_attention_mask"]
        tt = gold.get(f"case_{k}_token_type_ids")
        rows = []
        for b in range(ids.shape[0]):
            n = int(mask[b].sum())
            o = {"ids": ids[b, :n].tolist()}
            if tt is not None:
                o["token_type_ids"] = tt[b, :n].tolist()
            rows.append(json.dumps(o))
        T = ids.shape[1]
        hid = run(["embed", "--encoder", d, "--ids", "--pooling", "none", "--max-len", str(T)], rows)
        expect_rows(name, k, "hidden", hid, ids.shape[0])
        for b, r in enumerate(hid):
            n = int(mask[b].sum())
            worst = max(worst, float(np.abs(np.array(r["hidden"]) - gold[f"case_{k}_last_hidden_state"][b, :n]).max()))
        for pool, key in (("cls", "pooled_cls"), ("mean", "pooled_mean"), ("max", "pooled_max"), ("pooler", "pooler_output")):
            if f"case_{k}_{key}" not in gold:
                continue
            emb = run(["embed", "--encoder", d, "--ids", "--pooling", pool, "--max-len", str(T)], rows)
            expect_rows(name, k, pool, emb, ids.shape[0])
            worst = max(worst, float(np.abs(np.array([e["embedding"] for e in emb]) - gold[f"case_{k}_{key}"]).max()))
        if "texts" in case:
            # The text case: truncation to T ids including specials, as the goldens were made.
            hid = run(["embed", "--encoder", d, "--pooling", "none", "--max-len", str(T)], case["texts"])
            expect_rows(name, k, "text", hid, ids.shape[0])
            for b, r in enumerate(hid):
                n = int(mask[b].sum())
                h = np.array(r["hidden"])
                if h.shape[0] != n:
                    raise SystemExit(f"{name} text row {b}: {h.shape[0]} tokens, golden has {n}")
                worst = max(worst, float(np.abs(h - gold[f"case_{k}_last_hidden_state"][b, :n]).max()))
    checked += 1
    status = "ok" if worst <= atol else "FAIL"
    failed += worst > atol
    print(f"{name}: max abs diff {worst:.3g} (atol {atol:g}) {status}")
print(f"parity: {checked - failed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or checked == 0 else 0)
PY

#!/usr/bin/env bash
# scripts/dev/random_encoder.py, the generator of random checkpoints the benchmarks, the
# accuracy baseline and cli_checkpoints use: the same arguments give the same bytes and
# another --seed other weights; the same weights written as one safetensors file, as shards
# with an index and as pytorch_model.bin give lector the same embeddings; --like keeps the
# names and shapes of its source with new values; --init hf and the fixture recipe hold
# their constants; bad arguments exit 2 and write nothing. Needs python3-numpy (skipped
# without it); the pytorch_model.bin part needs python3-torch.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
gen=$src/scripts/dev/random_encoder.py
if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "skipped: python3-numpy not installed ($py)"; exit 77
fi
skipped=0
geometry=(--layers 2 --hidden 32 --heads 2 --ffn 64 --vocab 300 --max-pos 64 --write-vocab)
run() { "$py" "$gen" "$@" 2>"$tmp/err" || { bad "random_encoder.py $*: $(cat "$tmp/err")"; return 1; }; }

# Same arguments, same bytes; another seed, other weights but the same config.
run "$tmp/a" "${geometry[@]}" && run "$tmp/b" "${geometry[@]}" && run "$tmp/c" "${geometry[@]}" --seed 1
for f in model.safetensors config.json vocab.txt; do
  cmp -s "$tmp/a/$f" "$tmp/b/$f" && ok || bad "$f differs between two runs with the same arguments"
done
cmp -s "$tmp/a/model.safetensors" "$tmp/c/model.safetensors" && bad "--seed 1 gave the weights of --seed 0" || ok
cmp -s "$tmp/a/config.json" "$tmp/c/config.json" && ok || bad "--seed changed config.json"

# embed DIR OUT: lector's mean-pooled embeddings of a few id rows.
embed() {
  printf '[101, 7, 8, 9, 102]\n[101, 250, 3, 102]\n' |
    "$bin" embed --encoder "$1" --ids --pooling mean >"$2" 2>"$tmp/err" && [ -s "$2" ] ||
    { bad "embed --encoder $1: $(cat "$tmp/err")"; return 1; }
}
embed "$tmp/a" "$tmp/a.out" && ok
run "$tmp/shards" "${geometry[@]}" --shards 3 && embed "$tmp/shards" "$tmp/shards.out" &&
  { [ -f "$tmp/shards/model.safetensors.index.json" ] && [ ! -e "$tmp/shards/model.safetensors" ] &&
    ok || bad "--shards 3 wrote no index or also a single file"; }
cmp -s "$tmp/a.out" "$tmp/shards.out" && ok || bad "the sharded checkpoint embeds differently"
if "$py" -c 'import torch' 2>/dev/null; then
  run "$tmp/bin" "${geometry[@]}" --format bin && embed "$tmp/bin" "$tmp/bin.out" && ok
  cmp -s "$tmp/a.out" "$tmp/bin.out" && ok || bad "the pytorch_model.bin checkpoint embeds differently"
else
  echo "note: python3-torch not installed: --format bin left out"; skipped=1
fi

# The recipes, read back from the files: the fixture recipe's pad row (pad_token_id 0) is
# zero and its LayerNorm gammas are not all 1; --like SRC --init hf keeps SRC's names and
# shapes, with gammas 1, biases 0 and every other tensor new.
run "$tmp/like" --like "$tmp/a" --init hf --seed 3 && cmp -s "$tmp/a/vocab.txt" "$tmp/like/vocab.txt" &&
  cmp -s "$tmp/a/config.json" "$tmp/like/config.json" && ok || bad "--like did not copy SRC's files"
"$py" - "$tmp/a/model.safetensors" "$tmp/like/model.safetensors" <<'PY' && ok || bad "recipes: see above"
import json, struct, sys
import numpy as np

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             "<f4").reshape(v["shape"]) for k, v in h.items()}

src, like = load(sys.argv[1]), load(sys.argv[2])
errors = []
if not (src["embeddings.word_embeddings.weight"][0] == 0).all():
    errors.append("fixture: the pad row is not zero")
if (src["embeddings.LayerNorm.weight"] == 1).all():
    errors.append("fixture: LayerNorm gamma is all 1")
if sorted(src) != sorted(like) or any(src[k].shape != like[k].shape for k in src):
    errors.append("--like: other names or shapes")
for k, x in like.items():
    if k.endswith("LayerNorm.weight"):
        good = (x == 1).all()
    elif k.endswith(".bias"):
        good = (x == 0).all()
    else:
        good = not np.array_equal(x, src[k]) and abs(float(x.std()) - 0.02) < 0.005
    if not good:
        errors.append(f"--init hf: {k}")
print("\n".join(errors), file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# Bad arguments: exit 2, a message naming the option, no output folder.
for args in "--like $tmp/a --layers 3" "--from $tmp/a --init hf" "--format tf --family roberta" \
    "--onnx --head 2" "--hidden 30 --heads 4" "--format bin --shards 2" "--slots one" "--like $tmp/nowhere"; do
  # shellcheck disable=SC2086
  "$py" "$gen" "$tmp/bad" $args >/dev/null 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] && [ ! -e "$tmp/bad" ] && grep -q "error: " "$tmp/err" && ok ||
    bad "random_encoder.py $args: exit $rc, want 2 and no output: $(cat "$tmp/err")"
done

echo "random_encoder: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
[ "$skipped" -eq 0 ] || exit 77

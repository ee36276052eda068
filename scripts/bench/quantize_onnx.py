#!/usr/bin/python3
"""Dynamic int8 quantisation of an ONNX model, the rewrite ONNX Runtime's
quantize_dynamic makes (onnxruntime.quantization is not packaged for Debian; this needs
only python3-onnx and numpy), for the int8 runs of scripts/bench/bench.sh.

    quantize_onnx.py IN.onnx OUT.onnx [--per-channel]

Every MatMul whose second input is a constant fp32 weight W (IC, OC) becomes
    DynamicQuantizeLinear(A) -> A_q (uint8), a_scale, a_zero_point
    MatMulInteger(A_q, W_q, a_zero_point, w_zero_point) -> int32
    Cast(to float) -> Mul(a_scale * w_scale) -> the MatMul's output
with W quantised once to int8, symmetric (zero point 0): one scale max|W| / 127 for the
whole matrix (quantize_dynamic's default), or one per output column with --per-channel.
As quantize_dynamic does, one DynamicQuantizeLinear serves every MatMul that reads the
same activation (Q, K and V). ONNX Runtime fuses the chain into MatMulIntegerToFloat (and,
where the quantised activation has no other reader, DynamicQuantizeMatMul). Other nodes
(attention's activation-by-activation MatMuls, LayerNorm, GELU) stay fp32.
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize_weight(w, per_channel):
    """int8 symmetric: q = clip(round(w / s), -127, 127), round half to even (numpy)."""
    amax = np.abs(w).max(axis=0) if per_channel else np.abs(w).max()
    scale = (np.asarray(amax, dtype=np.float32) / np.float32(127.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(w / safe), -127, 127).astype(np.int8)
    return q, scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--per-channel", action="store_true",
                    help="one weight scale per output column (default: one per matrix)")
    args = ap.parse_args()

    model = onnx.load(args.inp)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    # weights read by anything other than a MatMul's second input stay as they are
    readers = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            readers.setdefault(name, []).append((node.op_type, i))

    def quantizable(node):
        if node.op_type != "MatMul" or node.input[1] not in inits:
            return False
        t = inits[node.input[1]]
        return (t.data_type == TensorProto.FLOAT and len(t.dims) == 2
                and all(r == ("MatMul", 1) for r in readers[node.input[1]]))

    new_nodes, new_inits, dql = [], [], {}  # dql: activation name -> (q, scale, zp)
    removed, n_done = set(), 0
    for node in graph.node:
        if not quantizable(node):
            new_nodes.append(node)
            continue
        a, wname = node.input[0], node.input[1]
        tag = node.name or node.output[0]
        if a not in dql:
            q, s, z = a + "_quantized", a + "_scale", a + "_zero_point"
            new_nodes.append(helper.make_node("DynamicQuantizeLinear", [a], [q, s, z],
                                              name=a + "_QuantizeLinear"))
            dql[a] = (q, s, z)
        aq, ascale, azp = dql[a]
        wq, wscale = quantize_weight(numpy_helper.to_array(inits[wname]), args.per_channel)
        wzp = np.zeros(wscale.shape, dtype=np.int8)
        new_inits += [numpy_helper.from_array(wq, wname + "_quantized"),
                      numpy_helper.from_array(wscale, wname + "_scale"),
                      numpy_helper.from_array(wzp, wname + "_zero_point")]
        removed.add(wname)
        y = node.output[0]
        new_nodes += [
            helper.make_node("MatMulInteger", [aq, wname + "_quantized", azp,
                                               wname + "_zero_point"],
                             [y + "_int32"], name=tag + "_MatMulInteger"),
            helper.make_node("Cast", [y + "_int32"], [y + "_float"], to=TensorProto.FLOAT,
                             name=tag + "_Cast"),
            helper.make_node("Mul", [ascale, wname + "_scale"], [y + "_scale"],
                             name=tag + "_ScaleMul"),
            helper.make_node("Mul", [y + "_float", y + "_scale"], [y], name=tag + "_Mul"),
        ]
        n_done += 1
    kept = [t for t in graph.initializer if t.name not in removed]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    print(f"quantize_onnx: {n_done} MatMuls quantised ({len(dql)} DynamicQuantizeLinear), "
          f"weights {'per column' if args.per_channel else 'per matrix'} -> {args.out}")


if __name__ == "__main__":
    main()

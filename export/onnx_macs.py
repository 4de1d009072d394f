"""Multiply-accumulates of an ONNX graph at a given input size.

Runs the graph once in ONNX Runtime (CPU) with the tensors of every Conv, Gemm and
MatMul exposed as outputs, to get their concrete shapes (the exporter's reshapes defeat
ONNX's static shape inference), then counts Conv as output elements x input channels
per group x kernel area, and Gemm/MatMul as output elements x inner dimension.
Element-wise operations are not counted.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

_OPS = ("Conv", "Gemm", "MatMul")


def count_macs(model: onnx.ModelProto, input_shapes: dict[str, list[int]]) -> int:
    """MACs of one run with the graph inputs set to zeros of ``input_shapes``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    weights = {init.name: list(init.dims) for init in m.graph.initializer}
    nodes = [n for n in m.graph.node if n.op_type in _OPS]
    wanted = []
    for n in nodes:
        wanted.append(n.output[0])
        if n.op_type != "Conv":
            wanted.append(n.input[0])
        elif n.input[1] not in weights:  # a weight computed in the graph (e.g. rearranged)
            wanted.append(n.input[1])
    known = {o.name for o in m.graph.output}
    for name in dict.fromkeys(wanted):
        if name not in known:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {k: np.zeros(v, np.float32) for k, v in input_shapes.items()}
    names = list(dict.fromkeys(wanted))
    shapes = dict(zip(names, (a.shape for a in sess.run(names, feeds)), strict=True))
    macs = 0
    for n in nodes:
        n_out = int(np.prod(shapes[n.output[0]]))
        if n.op_type == "Conv":
            w = weights.get(n.input[1]) or list(shapes[n.input[1]])  # (Cout, Cin/group, kh, kw)
            macs += n_out * w[1] * w[2] * w[3]
        else:
            macs += n_out * shapes[n.input[0]][-1]
    return macs

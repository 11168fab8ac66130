"""MediaPipe's face-landmark network as a differentiable torch module: a geometric training loss.

Pixel losses do not say where a face tracker would put the landmarks of a rendered face: a
refinement that paints an open mouth a flat grey scores well on L1 and still reads as a closed
mouth. So renderer training also compares the landmarks this network finds on the refined crop
with those it finds on the real frame. The network is the fetched `face_landmark.tflite`
(Apache-2.0, from the mediapipe wheel, like the analyzer's); OpenVINO parses the file and
`GraphModule` replays its graph with torch ops, constants folded once. It is checked against
OpenVINO's own output in the tests.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..face.models import model_path

INPUT = 192  # the landmark network's input side


def _same_pads(size: list[int], kernel, stride, dilation, upper: bool) -> tuple[list[int], list[int]]:
    """OpenVINO's same_upper / same_lower padding for spatial sizes `size`."""
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small = total // 2
        begin.append(small if upper else total - small)
        end.append(total - small if upper else small)
    return begin, end


def _spatial_pads(x: torch.Tensor, attrs: dict, kernel) -> list[int]:
    """F.pad argument (last dim first) for a convolution or pool's padding attributes."""
    mode = attrs.get("auto_pad", "explicit")
    if mode == "valid":
        begin = end = [0, 0]
    elif mode in ("same_upper", "same_lower"):
        begin, end = _same_pads(list(x.shape[2:]), kernel, attrs["strides"], attrs.get("dilations", [1, 1]),
                                mode == "same_upper")
    else:
        begin, end = attrs["pads_begin"], attrs["pads_end"]
    return [begin[1], end[1], begin[0], end[0]]


def _conv(x, w, attrs, groups=1):
    x = F.pad(x, _spatial_pads(x, attrs, w.shape[2:]))
    return F.conv2d(x, w, stride=attrs["strides"], dilation=attrs["dilations"], groups=groups)


def _group_conv(x, w, attrs):
    g, o, i = w.shape[:3]  # G×O×I×kh×kw
    return _conv(x, w.reshape(g * o, i, *w.shape[3:]), attrs, groups=g)


def _max_pool(x, attrs):
    x = F.pad(x, _spatial_pads(x, attrs, attrs["kernel"]), value=-math.inf)
    return F.max_pool2d(x, attrs["kernel"], attrs["strides"], ceil_mode=attrs["rounding_type"] == "ceil")


def _pad(x, begin, end, value=None):
    pads = []
    for b, e in zip(reversed(begin.tolist()), reversed(end.tolist())):
        pads += [int(b), int(e)]
    return F.pad(x, pads, value=0.0 if value is None else float(value))


def _reshape(x, shape, attrs):
    shape = [int(s) for s in shape.tolist()]
    if attrs.get("special_zero"):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    shape[0] = x.shape[0] if shape[0] == 1 else shape[0]  # the file was exported for batch 1
    return x.reshape(shape)


def _prelu(x, slope):
    slope = slope.reshape(1, -1, 1, 1) if slope.ndim == 1 else slope
    return torch.where(x >= 0, x, x * slope)


_OPS = {
    "Convolution": lambda a, at: _conv(a[0], a[1], at),
    "GroupConvolution": lambda a, at: _group_conv(a[0], a[1], at),
    "Add": lambda a, at: a[0] + a[1],
    "PRelu": lambda a, at: _prelu(a[0], a[1]),
    "MaxPool": lambda a, at: _max_pool(a[0], at),
    "Pad": lambda a, at: _pad(*a),
    "Reshape": lambda a, at: _reshape(a[0], a[1], at),
    "Transpose": lambda a, at: a[0].permute(*[int(i) for i in a[1].tolist()]),
    "Unsqueeze": lambda a, at: a[0].reshape(_unsqueezed(a[0].shape, a[1])),
    "Convert": lambda a, at: a[0].float(),
}


def _unsqueezed(shape, axes) -> list[int]:
    out = list(shape)
    for axis in sorted(int(a) % (len(shape) + len(axes.reshape(-1))) for a in axes.reshape(-1)):
        out.insert(axis, 1)
    return out


class GraphModule(nn.Module):
    """An OpenVINO model replayed with torch ops: NHWC float32 input -> its outputs, in order.

    Only the operations of MediaPipe's mesh network are known (_OPS); another op raises."""

    def __init__(self, model):
        super().__init__()
        folded: dict = {}  # output key -> constant tensor
        self.program: list = []  # (op type, input refs, attributes, output key)
        self.outputs: list = []
        for op in model.get_ordered_ops():
            kind, key = op.get_type_name(), (op.get_friendly_name(), 0)
            refs = [(i.get_source_output().get_node().get_friendly_name(), i.get_source_output().get_index())
                    for i in op.inputs()]
            if kind == "Parameter":
                self.input_key = key
            elif kind == "Constant":
                folded[key] = torch.from_numpy(np.array(op.get_data()))
            elif kind == "Result":
                self.outputs.append(refs[0])
            elif kind not in _OPS:
                raise NotImplementedError(f"GraphModule has no torch version of the {kind} operation")
            elif all(r in folded for r in refs):  # weights: transposes, reshapes, fp16 -> fp32
                with torch.no_grad():
                    folded[key] = _OPS[kind]([folded[r] for r in refs], op.get_attributes())
            else:
                self.program.append((kind, refs, op.get_attributes(), key))
        needed = {r for _, refs, _, _ in self.program for r in refs} | set(self.outputs)
        self._constants = [k for k in folded if k in needed]
        for n, k in enumerate(self._constants):
            value = folded[k]
            self.register_buffer(f"c{n}", value.float() if value.is_floating_point() else value, persistent=False)

    def forward(self, x: torch.Tensor, taps: list | None = None) -> list[torch.Tensor]:
        """The graph's outputs, or (taps: op output keys) those intermediate values, computed
        only as far into the graph as the last of them needs."""
        wanted = self.outputs if taps is None else taps
        values = {k: getattr(self, f"c{n}") for n, k in enumerate(self._constants)}
        values[self.input_key] = x
        for kind, refs, attrs, key in self.program:
            if all(k in values for k in wanted):
                break
            values[key] = _OPS[kind]([values[r] for r in refs], attrs)
        return [values[k] for k in wanted]

    def stage_ends(self) -> list:
        """Output keys of the last activation before each pooling: the end of every resolution
        stage (MediaPipe's mesh network: 16×96², 32×48², 64×24², 128×12², ...)."""
        ends, last = [], None
        for kind, _, _, key in self.program:
            if kind == "PRelu":
                last = key
            elif kind == "MaxPool" and last is not None and last not in ends:
                ends.append(last)
        return ends


class FaceMeshNet(nn.Module):
    """B×3×N×N face crops in 0..1 -> B×468×2 landmark positions in N-pixel crop units.

    The crop is resized to the network's 192×192; gradients flow back to the crop. The weights
    are frozen (they are the face tracker's, not ours to train)."""

    def __init__(self):
        super().__init__()
        import openvino as ov

        self.graph = GraphModule(ov.Core().read_model(str(model_path("face_landmark.tflite"))))
        self.stage_ends = self.graph.stage_ends()
        self.requires_grad_(False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        n = crops.shape[-1]
        outputs = self.graph(self._input(crops))
        mesh = next(o for o in outputs if o[0].numel() == 468 * 3).reshape(len(crops), 468, 3)
        return mesh[..., :2] * (n / INPUT)

    def features(self, crops: torch.Tensor, stages: int = 4) -> list[torch.Tensor]:
        """The network's activations at the end of its first `stages` resolution stages
        (B×16×96², B×32×48², B×64×24², B×128×12² for 4): what a perceptual loss compares."""
        return self.graph(self._input(crops), self.stage_ends[:stages])

    @staticmethod
    def _input(crops: torch.Tensor) -> torch.Tensor:
        """B×3×N×N in 0..1 -> B×192×192×3, the network's NHWC input."""
        x = F.interpolate(crops, size=(INPUT, INPUT), mode="bilinear", align_corners=False, antialias=True)
        return x.permute(0, 2, 3, 1).contiguous()

"""The ``onnxruntime`` target: a network exported to ONNX and run by ONNX Runtime's CPU execution provider, float32.

Export is torch's TorchScript-based ONNX exporter (opset 17, the batch dimension dynamic), as the extraction
folders' ``model.onnx`` has always been written; the session runs the model as ONNX Runtime serves it: its graph
optimisations at the configured level, a fixed intra-op thread count (the command's), one inter-op thread and
sequential execution, so its timings follow the same protocol as PyTorch's. ONNX graphs are NCHW whatever layout
the torch module had; ONNX Runtime picks its own internal layout, so the memory format option does not apply.
"""
from __future__ import annotations

import copy
import io
import warnings
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from core.device import Device, to_memory_format
from core.errors import GreenError
from core.jsontypes import JSONObject
from search.targets import TARGETS, Session, Target, TargetSpec
from search.targets.calibration import CalibrationSet

OPSET = 17
LEVELS = ("disable", "basic", "extended", "all")  # ONNX Runtime's GraphOptimizationLevel, by its short name


def onnx_bytes(module: nn.Module, shape: tuple[int, ...], names: tuple[str, str] = ("input", "output"),
               opset: int = OPSET) -> bytes:
    """``module`` (a float32, NCHW, eval-mode copy) exported to ONNX for inputs shaped like ``shape``, with a
    dynamic batch dimension; the caller's module is left as it is."""
    model = to_memory_format(copy.deepcopy(module).float().cpu(), "contiguous").eval()
    x = torch.randn(*shape)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation and tracer notes, once per block of a table
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}}, opset_version=opset)
    return buf.getvalue()


def providers(device: Device) -> list[str]:
    """ONNX Runtime's execution providers for ``device``: the CPU's, or CUDA's first where this build has it."""
    import onnxruntime as ort

    if device.kind == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise GreenError(f"device={device.name}: this onnxruntime has no CUDA execution provider "
                         "(install onnxruntime-gpu), so ONNX Runtime targets run on device=cpu here")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


class OrtSession(Session):
    """An ONNX model in an ``onnxruntime.InferenceSession``; ``shape`` is an example input's."""

    def __init__(self, model: bytes, shape: tuple[int, ...], device: Device, level: str, target: str,
                 calibration: Mapping[str, object] | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = device.threads or torch.get_num_threads()  # the deployment's, as torch's
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = _level(level)
        so.log_severity_level = 3  # errors only: a table builds hundreds of sessions
        self.model, self.shape, self.target, self.calibration = model, tuple(shape), target, calibration
        self.threads = so.intra_op_num_threads
        self.sess = ort.InferenceSession(model, so, providers=providers(device))
        self.input = self.sess.get_inputs()[0].name

    def run(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().contiguous().numpy())
        return torch.from_numpy(np.asarray(self.sess.run(None, {self.input: arr})[0], dtype=np.float32))

    def caller(self, batch_size: int, seed: int | None = None) -> Callable[[], None]:
        rng = np.random.default_rng(seed)
        feeds = {self.input: rng.standard_normal((batch_size, *self.shape[1:]), dtype=np.float32)}
        sess = self.sess

        def call() -> None:
            sess.run(None, feeds)
        return call

    def artefact(self) -> bytes:
        return self.model


def _level(name: str) -> object:
    import onnxruntime as ort

    g = ort.GraphOptimizationLevel
    return {"disable": g.ORT_DISABLE_ALL, "basic": g.ORT_ENABLE_BASIC, "extended": g.ORT_ENABLE_EXTENDED,
            "all": g.ORT_ENABLE_ALL}[name]


@TARGETS.decorator("onnxruntime")
class OrtTarget(Target):
    """ONNX Runtime, float32: ``graph_optimization`` is its GraphOptimizationLevel (``all`` by default, as it
    ships); ``opset`` the ONNX opset of the export."""

    name = "onnxruntime"
    precision = "float32"

    def __init__(self, graph_optimization: str = "all", opset: int = OPSET):
        if graph_optimization not in LEVELS:
            raise GreenError(f"target.graph_optimization={graph_optimization!r}; choose from {', '.join(LEVELS)}")
        if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= 20:
            raise GreenError(f"target.opset must be a whole number in [13, 20], got {opset!r}")
        self.graph_optimization, self.opset = graph_optimization, opset

    def check(self, device: Device, dtype: str) -> None:
        if dtype != "float32":
            raise GreenError(f"target={self.name} serves float32 models (dtype={dtype} is target=torch's option)")
        providers(device)

    def model(self, module: nn.Module, shape: tuple[int, ...], calib: CalibrationSet | None,
              names: tuple[str, str]) -> bytes:
        """The ONNX model this target runs (the float32 export here; the int8 target quantises it)."""
        return onnx_bytes(module, shape, names, self.opset)

    def session(self, module: nn.Module, shape: tuple[int, ...], device: Device, dtype: str = "float32",
                calib: CalibrationSet | None = None) -> OrtSession:
        self.check(device, dtype)
        model = self.model(module, shape, calib, ("input", "output"))
        return OrtSession(model, shape, device, self.graph_optimization, self.name,
                          calib.record() if calib is not None and self.needs_calibration else None)

    def options(self) -> JSONObject:
        return {"graph_optimization": self.graph_optimization, "opset": self.opset,
                "execution": "sequential, 1 inter-op thread, intra-op threads = the command's threads"}

    def spec(self) -> TargetSpec:
        import onnxruntime as ort

        return TargetSpec(self.name, "onnxruntime", ort.__version__, self.precision,
                          "onnxruntime InferenceSession.run", self.options())

    def layout(self, memory_format: str) -> str:
        return "contiguous"  # an ONNX graph is NCHW; ONNX Runtime chooses its own internal layout

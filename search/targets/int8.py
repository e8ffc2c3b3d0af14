"""The ``onnxruntime_int8`` target: static int8 quantisation in ONNX Runtime's QDQ format, as its documentation
prescribes (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html).

The float32 export is first prepared with ``onnxruntime.quantization.shape_inference.quant_pre_process`` (symbolic
shape inference and graph optimisation, so BatchNorm is folded into the convolutions before their weights are
quantised), then quantised by ``quantize_static`` with QuantizeLinear/DequantizeLinear pairs around each op
(``QuantFormat.QDQ``): activations uint8, weights int8 (the U8S8 scheme ONNX Runtime recommends on x86-64), weights
per output channel (a depthwise kernel's channels differ too much in range for one scale), activation ranges from
calibration data read through a ``CalibrationDataReader``. Nothing is assumed about speed: int8 is not always
faster on a CPU (QDQ pairs cost time where ONNX Runtime cannot fuse them), so the cost table measures it.
"""
from __future__ import annotations

import contextlib
import logging
import platform
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from torch import nn

from core.errors import GreenError
from core.jsontypes import JSONObject
from search.targets import TARGETS
from search.targets.calibration import CalibrationSet
from search.targets.onnx import OPSET, OrtTarget, onnx_bytes

TYPES = ("QUInt8", "QInt8")
METHODS = ("MinMax", "Entropy", "Percentile")
X86 = ("x86_64", "amd64", "i386", "i686", "x86")


def cpu_has_vnni(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """Does this CPU multiply uint8 by int8 in 32-bit sums (x86 VNNI)? Without it ONNX Runtime's x86 int8 kernels
    add pairs of products in 16 bits with saturation, so 8-bit weights can overflow (ONNX Runtime's quantisation
    guide: use ``reduce_range`` there). Read from ``/proc/cpuinfo``'s flags; an x86 CPU whose flags cannot be read
    counts as without (7-bit weights cost little accuracy; a saturated sum can cost many points); not x86: True
    (other kernels, no such sums)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in X86:
        return True
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "avx512vnni", "avxvnni"))


def _reader(name: str, arrays: Iterator[np.ndarray]) -> object:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over the calibration batches, fed as ``name``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(arrays)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {name: batch}

    return Reader()


@contextlib.contextmanager
def _quiet_root() -> Iterator[None]:
    """The quantiser logs every bias copy at INFO on the root logger (hundreds of lines per table): warnings only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


@TARGETS.decorator("onnxruntime_int8")
class OrtInt8Target(OrtTarget):
    """ONNX Runtime, statically quantised to int8 (QDQ) and calibrated on :class:`CalibrationSet` batches.

    ``calibration_images`` is how many training images a deployed model is calibrated on;
    ``table_calibration_images`` how many random activations a cost table's blocks are (time only).
    ``reduce_range="auto"`` quantises weights to 7 bits on an x86 CPU without VNNI (:func:`cpu_has_vnni`), 8 bits
    elsewhere; the resolved value is recorded in :meth:`options` (so a table says which it was measured with).
    """

    name = "onnxruntime_int8"
    precision = "int8"
    needs_calibration = True

    def __init__(self, graph_optimization: str = "all", opset: int = OPSET, per_channel: bool = True,
                 reduce_range: bool | str = "auto", activation_type: str = "QUInt8", weight_type: str = "QInt8",
                 calibrate_method: str = "MinMax", calibration_images: int = 512, table_calibration_images: int = 8):
        super().__init__(graph_optimization, opset)
        for key, value, choices in (("activation_type", activation_type, TYPES), ("weight_type", weight_type, TYPES),
                                    ("calibrate_method", calibrate_method, METHODS)):
            if value not in choices:
                raise GreenError(f"target.{key}={value!r}; choose from {', '.join(choices)}")
        for key, value in (("calibration_images", calibration_images),
                           ("table_calibration_images", table_calibration_images)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GreenError(f"target.{key} must be a whole number >= 1, got {value!r}")
        if reduce_range not in (True, False, "auto"):
            raise GreenError(f"target.reduce_range={reduce_range!r}; choose from auto, true, false")
        self.per_channel = bool(per_channel)
        # auto: 7-bit weights exactly where 8-bit ones may saturate (x86 without VNNI: a winner lost 9 points there)
        self.reduce_range = not cpu_has_vnni() if reduce_range == "auto" else bool(reduce_range)
        self.activation_type, self.weight_type, self.calibrate_method = activation_type, weight_type, calibrate_method
        self.calibration_images, self.table_calibration_images = calibration_images, table_calibration_images

    def model(self, module: nn.Module, shape: tuple[int, ...], calib: CalibrationSet | None,
              names: tuple[str, str]) -> bytes:
        if calib is None:
            raise GreenError(f"target={self.name} quantises the model, so it needs calibration images (training "
                             "images for a deployed model)")
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with tempfile.TemporaryDirectory(prefix="green-int8-") as tmp, _quiet_root():  # the quantiser works on files
            fp32, pre, int8 = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
            fp32.write_bytes(onnx_bytes(module, shape, names, self.opset))
            quant_pre_process(str(fp32), str(pre))
            quantize_static(str(pre), str(int8), _reader(names[0], calib.arrays()), quant_format=QuantFormat.QDQ,
                            per_channel=self.per_channel, reduce_range=self.reduce_range,
                            activation_type=QuantType[self.activation_type], weight_type=QuantType[self.weight_type],
                            calibrate_method=CalibrationMethod[self.calibrate_method])
            return int8.read_bytes()

    def float_counterpart(self) -> OrtTarget:
        return OrtTarget(self.graph_optimization, self.opset)

    def calibration_for(self, shape: tuple[int, ...], seed: int) -> CalibrationSet:
        return CalibrationSet.noise(shape, self.table_calibration_images, seed)

    def options(self) -> JSONObject:
        return {**super().options(), "quant_format": "QDQ", "per_channel": self.per_channel,
                "reduce_range": self.reduce_range, "activation_type": self.activation_type,
                "weight_type": self.weight_type, "calibrate_method": self.calibrate_method,
                "preprocess": "quant_pre_process (symbolic shape inference + graph optimisation)"}

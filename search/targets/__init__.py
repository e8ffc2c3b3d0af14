"""Deployment targets: the runtime and precision a network is served in, one registry.

A cost table, a deployed model and its test accuracy all belong to one *target*: PyTorch eager (``torch``, the
runtime every table was measured in before targets existed), ONNX Runtime in float32 (``onnxruntime``) or ONNX
Runtime with static int8 quantisation (``onnxruntime_int8``). A network that runs fast in one runtime need not in
another (int8 is not always faster on a CPU), so each target turns a torch module into a :class:`Session` of its
own and every figure is measured through that session, never assumed.

A :class:`Target` does three things, the same for a whole subnet and for one block of a cost table: turn an
``nn.Module`` into a :class:`Session` for inputs of one shape (any batch size), run a batch and return its outputs
(:meth:`Session.run`), and hand the timing protocol a no-argument call (:meth:`Session.caller`). Targets are
registered by name (:data:`TARGETS`, as timm registers models) and configured in ``conf/target/``; the *where*
(device, CPU threads, memory format) stays the command's :class:`~core.device.Device`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping

from core.errors import GreenError
from core.jsontypes import JSONObject
from search.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.device import Device
    from search.targets.calibration import CalibrationSet

DEFAULT_TARGET = "torch"  # what a table that records no target was measured in (every table before targets)


@dataclass(frozen=True)
class TargetSpec:
    """What a target's figures depend on, recorded beside them: the runtime and its version, the precision, how
    a call runs (``mode``) and the target's settings (``options``: graph optimisation, quantisation scheme)."""

    name: str
    runtime: str
    version: str
    precision: str
    mode: str
    options: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> JSONObject:
        return {"name": self.name, "runtime": self.runtime, "version": self.version, "precision": self.precision,
                "mode": self.mode, "options": dict(self.options)}


class Session:
    """A network made runnable by a target for inputs of one shape (the batch size is free).

    ``calibration`` is the record of the images an int8 session was calibrated on (None for float targets).
    """

    target: str
    calibration: Mapping[str, object] | None = None

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The network's outputs for the batch ``x`` (a float32 CPU tensor, whatever the runtime)."""
        raise NotImplementedError

    def caller(self, batch_size: int, seed: int | None = None) -> Callable[[], None]:
        """A call running the network once on a fixed random batch of ``batch_size`` (drawn from ``seed``, or
        unseeded): what the timing protocol (:func:`search.hardware.timing.measure`) and energy windows repeat."""
        raise NotImplementedError

    def artefact(self) -> bytes | None:
        """The deployable file's bytes (an ONNX model), or None where the runtime's artefact is the torch
        weights themselves."""
        return None


class Target:
    """A runtime and precision networks are served in; subclasses register under their ``name``.

    ``needs_calibration``: the target quantises, so a session needs a
    :class:`~search.targets.calibration.CalibrationSet` (training images for a deployed model).
    """

    name: ClassVar[str] = ""
    needs_calibration: ClassVar[bool] = False
    calibration_images: int = 0  # training images a deployed model is calibrated on (a quantising target's)

    def check(self, device: Device, dtype: str) -> None:
        """Refuse, in one line, a device or dtype this target cannot serve (before any work)."""

    def session(self, module: nn.Module, shape: tuple[int, ...], device: Device, dtype: str = "float32",
                calib: CalibrationSet | None = None) -> Session:
        """``module`` (left as it is: the target works on a copy or on its export) runnable on ``device`` for
        inputs shaped like ``shape``."""
        raise NotImplementedError

    def spec(self) -> TargetSpec:
        """The runtime, version, precision and settings recorded beside every figure of this target."""
        raise NotImplementedError

    def layout(self, memory_format: str) -> str:
        """The memory format the networks really run in when ``memory_format`` is asked for (a runtime with its
        own layout ignores the request)."""
        return memory_format

    def float_counterpart(self) -> Target | None:
        """The float target a quantised model is compared with (same runtime and settings, no quantisation), so
        the accuracy cost of quantisation is measured; None for a float target."""
        return None

    def calibration_for(self, shape: tuple[int, ...], seed: int) -> CalibrationSet | None:
        """What a cost table calibrates this target on (None: the target does not quantise).

        A table prices time, an int8 kernel's time does not depend on the scales calibration chooses, and a
        table's blocks have random weights and no images to see: a quantising target calibrates them on seeded
        random activations shaped like ``shape`` and says so; a deployed model is calibrated on training images
        instead (:meth:`~search.targets.calibration.CalibrationSet.of_data`).
        """
        return None


TARGETS: Registry[type[Target]] = Registry("deployment target", __name__)


def target_of(choice: object = None) -> Target:
    """The target ``choice`` names: None (the default, ``torch``), a registered name, a config node with
    ``_target_`` (``conf/target/*.yaml``), or a :class:`Target` already made. Anything else is one line."""
    if choice is None:
        choice = DEFAULT_TARGET
    if isinstance(choice, Target):
        return choice
    if isinstance(choice, str):
        node = target_config(choice)
        return TARGETS[choice]() if node is None else target_of(node)
    from omegaconf import DictConfig

    if isinstance(choice, (DictConfig, Mapping)) and "_target_" in choice:
        from hydra.utils import instantiate

        made = instantiate(choice)
        if not isinstance(made, Target):
            raise GreenError(f"target {choice['_target_']!r} is not a deployment target; choose from "
                             f"{', '.join(TARGETS.names())}")
        TARGETS[made.name]  # a target class outside the registry is an error naming the registered ones
        return made
    raise GreenError(f"target={choice!r} is not a deployment target; choose from {', '.join(TARGETS.names())}")


def target_config(name: str) -> object | None:
    """The packaged ``conf/target/<name>.yaml`` (None when there is none), so a target named in a list
    (``green-run targets=[torch,onnxruntime_int8]``) gets the settings that ``target=<name>`` composes, not the
    class defaults."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    path = files("conf") / "target" / f"{name}.yaml"
    return OmegaConf.create(path.read_text()) if path.is_file() else None


def recorded_target(fingerprint: Mapping[str, object]) -> str:
    """The target a table's figures were measured in: recorded since targets exist; a table of before was
    measured in PyTorch eager (``torch``)."""
    return str(fingerprint.get("target", DEFAULT_TARGET))

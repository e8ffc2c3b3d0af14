"""A run's final models served by each deployment target: one session per model and target, and the test accuracy
measured through it (``green-run``'s measure stage, ``targets=[torch,onnxruntime_int8]``).

The measure stage times every final model in one round-robin (:func:`search.hardware.measure.measure_models`);
for each target other than ``torch`` a model is first made runnable by that target, and the session that is timed
is the one that is scored: its test accuracy comes from that runtime's own logits
(:func:`search.targets.accuracy.runtime_accuracy`), never from the float model's. A quantising target is
calibrated on training images of the run's data (:meth:`~search.targets.calibration.CalibrationSet.of_data`, never
validation or test images) and scored beside its float counterpart (ONNX Runtime float32, same graph settings) on
the same images, so the accuracy cost of quantisation is a measured difference per model.

A target's session takes the data's images (``dm.image_size``), as a deployed file does
(:mod:`search.deploy.runtime`): a subnet of another resolution resizes them inside its graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from core.device import Device, set_threads
from core.jsontypes import JSONObject
from search.targets import DEFAULT_TARGET, Session, Target
from search.targets.accuracy import RuntimeAccuracy, runtime_accuracy
from search.targets.calibration import CalibrationSet


@dataclass(frozen=True)
class DeployedAccuracy:
    """One model's test accuracy through ``target`` and, for a quantising target, through its float counterpart
    (``float_accuracy``), with the record of the images it was calibrated on."""

    target: str
    accuracy: RuntimeAccuracy
    float_accuracy: RuntimeAccuracy | None = None
    calibration: Mapping[str, object] | None = None

    @property
    def acc_drop_points(self) -> float | None:
        """Float accuracy minus this target's, in percentage points, on the same images (None: a float target)."""
        if self.float_accuracy is None:
            return None
        return 100.0 * (self.float_accuracy.acc - self.accuracy.acc)

    def to_json(self) -> JSONObject:
        f = self.float_accuracy
        return {"target": self.target, "test_acc": self.accuracy.acc, "correct": self.accuracy.correct,
                "images": self.accuracy.images, "float_target": None if f is None else f.target,
                "float_test_acc": None if f is None else f.acc, "acc_drop_points": self.acc_drop_points,
                "calibration": None if self.calibration is None else dict(self.calibration)}


def serve(models: Mapping[str, nn.Module], targets: Sequence[Target], dm: object, where: Device
          ) -> tuple[dict[str, dict[str, Session]], dict[str, dict[str, DeployedAccuracy]]]:
    """Every model of ``models`` (name -> torch module) served by each target other than ``torch``: the sessions
    to time (``{target: {name: session}}``) and the test accuracy through each (same nesting).

    Sessions run on ``where`` (its threads, as the timing session's). A quantising target is calibrated once, on
    its ``calibration_images`` training images of ``dm``, the same images for every model.
    """
    others = [t for t in targets if t.name != DEFAULT_TARGET]
    for t in others:  # a runtime this machine cannot serve: one line before any export
        t.check(where, "float32")
    shape = (1, int(dm.channels), int(dm.image_size), int(dm.image_size))
    calib: dict[int, CalibrationSet] = {}
    sessions: dict[str, dict[str, Session]] = {}
    accuracy: dict[str, dict[str, DeployedAccuracy]] = {}
    before = torch.get_num_threads()
    set_threads(where.threads)
    try:
        for t in others:
            c = None
            if t.needs_calibration:
                n = int(t.calibration_images)
                c = calib.setdefault(n, CalibrationSet.of_data(dm, n))
            sessions[t.name] = {name: t.session(m, shape, where, "float32", c) for name, m in models.items()}
        scored: dict[tuple[str, str], RuntimeAccuracy] = {}

        def score(target: Target, name: str) -> RuntimeAccuracy:
            if (target.name, name) not in scored:  # a float counterpart that is a target too is scored once
                s = sessions.get(target.name, {}).get(name) or target.session(models[name], shape, where, "float32")
                scored[(target.name, name)] = runtime_accuracy(s, dm, "test")
            return scored[(target.name, name)]

        for t in others:
            counterpart = t.float_counterpart()
            accuracy[t.name] = {name: DeployedAccuracy(t.name, score(t, name),
                                                       None if counterpart is None else score(counterpart, name),
                                                       sessions[t.name][name].calibration) for name in models}
    finally:
        torch.set_num_threads(before)
    return sessions, accuracy

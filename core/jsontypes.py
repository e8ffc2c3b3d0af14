"""JSON documents as a type: what a results file, a headline, a job's metadata or a report section is.

Records that travel between stages are frozen dataclasses (:class:`core.energy.EnergyUse`,
:class:`search.hardware.measure.Measured`, :class:`search.training.fit.ModelResult`, ...) with
``to_json``/``from_json``. What stays a mapping is a document at the edge of the program: read from or
written to a file, its shape fixed by a versioned schema or by a benchmark's ``headline()``.
:data:`JSONObject` says that precisely (string keys, JSON values all the way down), where
``dict[str, Any]`` would admit tensors, paths or numpy arrays that ``json.dumps`` refuses.
"""
from __future__ import annotations

from typing import TypeAlias, Union

JSON: TypeAlias = Union[None, bool, int, float, str, list["JSON"], dict[str, "JSON"]]
JSONObject: TypeAlias = dict[str, JSON]

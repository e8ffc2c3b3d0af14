"""The cost objectives the device's cost table prices (:meth:`search.hardware.cost.CostModel.predict`).

Exact counts (parameters, MACs) and table predictions (latency and energy of one call at the search's batch
size; at batch 1 that is one image): every search record carries all four, whether or not an objective names
them. Each is also priced on another named table as ``<name>@<table>[/b<bs>]`` (:func:`search.objectives.resolve`).
"""
from search.objectives import Pricing, cost


@cost("params", label="parameters (count)", log_axis=True)
def params(p: Pricing) -> float:
    return p.cost.params


@cost("macs", label="MACs (multiply-accumulates per image)", log_axis=True)
def macs(p: Pricing) -> float:
    return p.cost.macs


@cost("latency", field="latency_ms", label="predicted latency (ms per call)", figure="latency_ms")
def latency(p: Pricing) -> float:
    return p.cost.latency_ms


@cost("energy", field="energy_mj", label="predicted energy (mJ per call)", figure="energy_mj")
def energy(p: Pricing) -> float:
    return p.cost.energy_mj

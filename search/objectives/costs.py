"""The cost objectives the device's cost table prices (:meth:`search.hardware.cost.CostModel.predict`).

Exact counts (parameters, MACs) and table predictions (latency and energy at the search's batch size):
every search record carries all four, whether or not an objective names them.
"""
from search.objectives import Pricing, cost


@cost("params", label="parameters (count)", log_axis=True)
def params(p: Pricing) -> float:
    return p.cost.params


@cost("macs", label="MACs (multiply-accumulates per image)", log_axis=True)
def macs(p: Pricing) -> float:
    return p.cost.macs


@cost("latency", field="latency_ms", label="predicted latency (ms, batch 1)")
def latency(p: Pricing) -> float:
    return p.cost.latency_ms


@cost("energy", field="energy_mj", label="predicted energy (mJ per image, batch 1)")
def energy(p: Pricing) -> float:
    return p.cost.energy_mj

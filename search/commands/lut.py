"""``green-lut``: measure the latency/energy lookup table of a search space on this device.

A thin ``@hydra.main`` on ``conf/lut.yaml`` around :func:`search.hardware.lut.run`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.hardware.lut import run
from core.cli import command

main = command("green-lut", "lut")(run)

if __name__ == "__main__":
    main()

"""The parts of ``bench/optimizer.py`` (the engine against pymoo's and DEAP's NSGA-II and random search).

- :mod:`bench.optim.setups`: the benchmark's constants and every algorithm's set-up (engine variants, pymoo's
  two, rejection sampling; DEAP's two are in :mod:`bench.deap_loop`);
- :mod:`bench.optim.figures`: indicators, statistics and :func:`~bench.optim.figures.headline`, the figures
  ``bench/recompute.py`` recomputes from a result's raw data (numpy, scipy and moocore only);
- :mod:`bench.optim.runners`: one run of each algorithm (the engine, pymoo, rejection sampling);
- :mod:`bench.optim.runs`: resumable runs (one file each), their fronts at each budget, the overhead measurement.

The test problems are :mod:`bench.problems`; the script's docstring defines every figure.
"""

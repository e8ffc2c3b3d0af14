"""The cross-cutting core both sides of Green CNN import: errors, files, locks, signals, options, devices, energy.

``supernet/`` is the elastic network and its training; ``search/`` prices, searches, extracts and reports.
What every command needs whatever side it is on lives here, below both, and imports neither:

- :mod:`core.errors`: the one-line error of every command (:class:`~core.errors.GreenError`);
- :mod:`core.io`: atomic writes of every artefact, disk-full handling;
- :mod:`core.lock`: one process per run folder;
- :mod:`core.signals`: SIGINT/SIGTERM become a clean, resumable stop;
- :mod:`core.validate`: option and file checks, one line each;
- :mod:`core.keys`: an override naming no option, refused with the closest real key;
- :mod:`core.load`: how busy the machine was around a piece of work (load average, others' CPU use);
- :mod:`core.cli`: the console-script wrapper (Hydra, option checks, records of the run);
- :mod:`core.device`: the :class:`~core.device.Device` (threads, memory format, CUDA specifics);
- :mod:`core.energy`: energy counters (NVML, RAPL) and codecarbon estimates, with their source labels.
"""

"""The figure sections of README.md and docs/, one function per ``<!-- figures:NAME -->`` section (``bench/readme.py``).

Each reads the committed results in ``bench/results/`` and returns the section's Markdown: :mod:`.speed`
(throughput, walltime, parallel, supernet_overhead), :mod:`.search` (ranking, cost_range, lut_accuracy, optimizer,
optimizer_tuning), :mod:`.checks` (bad_input, mutation, results), all in docs/benchmarks.md, and :mod:`.headlines`
(headlines: the README's results table, one row per result); :mod:`.text` holds what they share.
"""

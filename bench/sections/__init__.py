"""The README's figure sections, one function per ``<!-- figures:NAME -->`` section (``bench/readme.py``).

Each reads the committed results in ``bench/results/`` and returns the section's Markdown: :mod:`.speed`
(throughput, walltime, parallel, supernet_overhead), :mod:`.search` (ranking, cost_range, lut_accuracy, optimizer,
optimizer_tuning), :mod:`.checks` (bad_input, mutation, results); :mod:`.text` holds what they share.
"""

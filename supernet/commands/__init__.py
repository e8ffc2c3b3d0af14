"""The supernet's console script (``green-train``; ``python -m supernet.commands.train`` works too)."""

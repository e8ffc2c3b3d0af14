"""How well the supernet ranks subnets: the standalone ground-truth table (``green-table``) and its figures."""

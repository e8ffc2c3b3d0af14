"""The multi-objective search (``green-search``): objectives, subnet evaluation, and NSGA-II/III with DEAP."""

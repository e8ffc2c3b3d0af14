"""``green-search``: multi-objective evolution of a trained supernet's subnets.

A thin ``@hydra.main`` on ``conf/search.yaml`` around :func:`search.evolution.search.search`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.evolution.search import search
from core.cli import command

main = command("green-search", "search")(search)

if __name__ == "__main__":
    main()

"""``green-table``: train subnets standalone: the ground truth of the supernet's ranking.

A thin ``@hydra.main`` on ``conf/table.yaml`` around :func:`search.ranking.build.build`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.ranking.build import build
from core.cli import command

main = command("green-table", "table")(build)

if __name__ == "__main__":
    main()

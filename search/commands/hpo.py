"""``green-hpo``: evolve the training hyperparameters of the winners.

A thin ``@hydra.main`` on ``conf/hpo.yaml`` around :func:`search.tuning.hpo.hpo`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.tuning.hpo import hpo
from core.cli import command

main = command("green-hpo", "hpo")(hpo)

if __name__ == "__main__":
    main()

"""``green-baselines``: train hand-designed compact CNNs with the winners' recipe.

A thin ``@hydra.main`` on ``conf/baselines.yaml`` around :func:`search.deploy.baselines.baselines`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.deploy.baselines import baselines
from core.cli import command

main = command("green-baselines", "baselines")(baselines)

if __name__ == "__main__":
    main()

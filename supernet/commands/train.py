"""``green-train``: train the elastic supernet once.

A thin ``@hydra.main`` on ``conf/train.yaml`` around :func:`supernet.train.train`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from supernet.train import train
from core.cli import command

main = command("green-train", "train")(train)

if __name__ == "__main__":
    main()

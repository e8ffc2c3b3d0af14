"""``green-extract``: one subnet of a trained supernet as a standalone model folder.

A thin ``@hydra.main`` on ``conf/extract.yaml`` around :func:`search.deploy.extract.extract`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.deploy.extract import extract
from core.cli import command

main = command("green-extract", "extract")(extract)

if __name__ == "__main__":
    main()

"""``green-finetune``: fine-tune the winners of a search front with the shared recipe.

A thin ``@hydra.main`` on ``conf/finetune.yaml`` around :func:`search.deploy.finetune.finetune`, the function the
pipeline and the tests call. A command module is a leaf: nothing imports it.
"""
from search.deploy.finetune import finetune
from core.cli import command

main = command("green-finetune", "finetune")(finetune)

if __name__ == "__main__":
    main()

"""One green-finetune job of the parallel ranking runner: ``python ft_child.py cfg.yaml``.

The config is a fully resolved finetune config (as bench/ranking.py composes it) narrowed to one
arch; this runs ``search.deploy.finetune.finetune`` on it unchanged (it writes finetune.json there).
"""
import os
import sys
from pathlib import Path

SRC = Path(os.environ.get("GREEN_SRC", Path(__file__).resolve().parent / "src")).resolve()
sys.path.insert(0, str(SRC))

from omegaconf import OmegaConf  # noqa: E402

from search.deploy.finetune import finetune  # noqa: E402

if __name__ == "__main__":
    finetune(OmegaConf.load(sys.argv[1]))

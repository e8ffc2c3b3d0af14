"""``green-run``: every stage, from the supernet to the report, in one run folder.

A thin ``@hydra.main`` on ``conf/run.yaml`` around :func:`search.pipeline.run.run`, which receives the
command line's shared overrides (data, space, trainer, seed) for every stage. A command module is a
leaf: nothing imports it.
"""
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from search.pipeline.overrides import shared_overrides
from search.pipeline.stages import STAGE_TABLE
from core.cli import command


def stage_lines() -> str:
    """The stage table as ``--help`` prints it (``${green_stages:}`` in conf/run.yaml's help header): the same
    list, in the same order, that the runner walks and the report times."""
    width = max(len(s.name) for s in STAGE_TABLE)
    return "\n".join(f"  {s.name:<{width}}  {s.what}" for s in STAGE_TABLE)


OmegaConf.register_new_resolver("green_stages", stage_lines, replace=True)


def pipeline(cfg: DictConfig) -> None:
    """Run or resume the pipeline of ``cfg``; its last line says where the report is."""
    from search.pipeline.run import run  # torch and the stages' libraries: not for --help or a refused option

    run(cfg, shared_overrides(HydraConfig.get().overrides.task))


main = command("green-run", "run", open_keys=("pipeline",))(pipeline)  # pipeline.<stage>: its overrides

if __name__ == "__main__":
    main()

"""The entry point every Green command shares: a thin ``@hydra.main`` with one-line errors.

:func:`command` turns a library function ``fn(cfg)`` into a console script. Before Hydra starts,
the output folder named on the command line (``hydra.run.dir=``, or ``outputs/`` by default) is
created and checked, since Hydra would otherwise fail there with a traceback, and the overrides are
composed once so that a typo'd key or a malformed value is one line too; afterwards a
:class:`~core.errors.GreenError` becomes one ``<prog>: error: ...`` line and exit status 2.
"""
from __future__ import annotations

import functools
import logging
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import hydra
from omegaconf import DictConfig, OmegaConf

from core.errors import GreenError, exit_on_error
from core.lock import run_folder
from core.validate import check_options


HYDRA_FLAGS = ("-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "--resolve", "-p", "--package", "-r",
               "--run", "-m", "--multirun", "-sc", "--shell-completion", "-cp", "--config-path", "-cn",
               "--config-name", "-cd", "--config-dir", "--experimental-rerun", "-i", "--info")
# what every Lightning training prints unasked: the seed, the accelerators, a logger tip, deprecations
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
LIGHTNING_NOISE = (r".*isinstance\(treespec, LeafSpec\)", r"The number of training batches", r"Found \d+ module\(s\) in eval mode",
                   r".*does not have many workers", r"The dirpath has changed")


def quiet(verbose: bool) -> None:
    """Silence Lightning's repeated per-training messages unless ``verbose`` (the commands' ``verbose=true``).

    Lightning is imported here, before its loggers are set: importing ``pytorch_lightning`` (and
    ``lightning_fabric``) sets their loggers back to INFO, so a level set before that import (a command that
    imports Lightning only when it trains, a launcher's worker) would print every Trainer's banners again."""
    if verbose:
        return
    import pytorch_lightning  # noqa: F401  (imports lightning_fabric too: both have reset their loggers now)

    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)


def config_groups() -> str:
    """``--help``'s config groups (``${green_groups:}`` in conf/hydra/default.yaml), each with its options: only
    those the command's config composes. Hydra's own list (``$APP_CONFIG_GROUPS``) names every group in conf/, most
    of which only another command reads (``optimizer=`` means nothing to green-run)."""
    import conf
    from hydra.core.hydra_config import HydraConfig

    root = Path(conf.__file__).parent
    return "\n".join(f"{g}: {', '.join(sorted(p.stem for p in (root / g).glob('*.yaml')))}"
                     for g in sorted(HydraConfig.get().runtime.choices) if not g.startswith("hydra"))


OmegaConf.register_new_resolver("green_groups", config_groups, replace=True)


def flag_problem(args: Sequence[str]) -> str | None:
    """A command-line flag Hydra does not know (``--hlep``), as one line; None when every flag is known."""
    for a in args:
        if a.startswith("-") and a.split("=", 1)[0] not in HYDRA_FLAGS:
            return f"unknown flag {a!r}: options are key=value; see --help"
    return None


def output_dir_problem(args: Sequence[str]) -> tuple[str, str] | None:
    """``(folder, why)`` when the output folder the arguments name cannot be written, else None."""
    folder = "outputs"
    for a in args:
        if a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")):
            folder = a.split("=", 1)[1]
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return folder, err.strerror or str(err)
    return None


def composition_problem(config_name: str, args: Sequence[str], open_keys: Sequence[str] = ()) -> str | None:
    """Hydra's complaint about the overrides (a bad value, a malformed override), or a key that names nothing
    (:mod:`core.keys`; ``open_keys`` are sections the command checks itself), as one line; None if they compose."""
    if any(a.startswith("-") for a in args):  # --help, --cfg, -m ...: Hydra's own business
        return None
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from core.keys import unknown_key_problem

    try:
        with initialize_config_module(config_module="conf", version_base="1.3"):
            unknown = unknown_key_problem(config_name, args, open_keys)
            if unknown:
                return unknown
            compose(config_name, overrides=list(args), return_hydra_config=True)
    except Exception as err:  # noqa: BLE001 - any composition failure is the user's input
        why = f": {str(err.__cause__).splitlines()[0]}" if err.__cause__ is not None and str(err.__cause__) else ""
        line = " ".join((str(err) + why).replace("\n", " ").split()).split(" Config search path:")[0]  # Hydra's lookup
        return re.sub(r" Available options in '([^']+)': (.+)$",
                      lambda m: f"; options of {m[1]}: {', '.join(m[2].split())}", line)
    finally:
        GlobalHydra.instance().clear()
    return None


def missing_options(cfg: DictConfig) -> list[str]:
    """The mandatory options (``???`` in the YAML) the user did not set, as dotted keys."""
    from omegaconf import OmegaConf

    return sorted(k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra"))


def resume_folder(args: Sequence[str]) -> list[str]:
    """``resume=<run>/checkpoints/<name>.ckpt`` without ``hydra.run.dir=``: continue in ``<run>``, the folder
    the checkpoint belongs to, instead of a new timestamped folder without its checkpoints."""
    if any(a.startswith("hydra.run.dir=") for a in args):
        return []
    for a in args:
        if a.startswith("resume="):
            ckpt = Path(a.split("=", 1)[1])
            if ckpt.parent.name == "checkpoints" and ckpt.suffix == ".ckpt":
                return [f"hydra.run.dir={ckpt.parent.parent}"]
    return []


def output_folder(cfg: DictConfig) -> Path:
    """The run's folder: Hydra's output dir (``paths.output_dir`` outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(cfg.paths.output_dir)


def save_records(cfg: DictConfig) -> None:
    """Hydra's three records of the run (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``), written here
    instead of by Hydra (``hydra.output_subdir: null``): after the folder's lock is taken, so a second command
    refused on a busy folder does not overwrite the first one's records, and atomically, so a full disk is one line
    naming the file instead of Hydra's traceback."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from core.io import write_atomic

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.instance().cfg
    records = output_folder(cfg) / ".hydra"
    records.mkdir(parents=True, exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", hydra_cfg), ("overrides.yaml", hydra_cfg.hydra.overrides.task)):
        write_atomic(records / name, OmegaConf.to_yaml(node))


def check_command_options(prog: str, cfg: DictConfig) -> None:
    """What every command checks of its config before any work, once: mandatory options given, and every shared
    option's type and range (:func:`core.validate.check_options`; ``green-run`` checks each stage's config
    the same way when it composes it)."""
    missing = missing_options(cfg)
    if missing:
        raise GreenError(f"missing mandatory option {missing[0]}= (e.g. {prog} {missing[0]}=<...>; see {prog} --help)")
    check_options(cfg)


def command(prog: str, config_name: str,
            open_keys: Sequence[str] = ()) -> Callable[[Callable[[DictConfig], Any]], Callable[[], None]]:
    """Wrap ``fn(cfg)`` as the console script ``prog`` on ``conf/<config_name>.yaml``; keys under ``open_keys``
    are free overrides that ``fn`` checks itself (green-run's ``pipeline``), the others must name an option."""
    def wrap(fn: Callable[[DictConfig], Any]) -> Callable[[], None]:
        @hydra.main(version_base="1.3", config_path="pkg://conf", config_name=config_name)
        def app(cfg: DictConfig) -> None:
            with exit_on_error(prog), run_folder(prog, cfg):
                check_command_options(prog, cfg)  # before Lightning's import: a refused option is one quick line
                from core.signals import interruptible  # Lightning: imported once a command runs, not for --help

                quiet(bool(cfg.get("verbose", False)))
                with interruptible(prog, output_folder(cfg)):
                    save_records(cfg)
                    fn(cfg)

        @functools.wraps(fn)
        def main() -> None:
            bad = flag_problem(sys.argv[1:]) or composition_problem(config_name, sys.argv[1:], open_keys)
            if bad:
                print(f"{prog}: error: {bad}", file=sys.stderr)
                sys.exit(2)
            sys.argv.extend(resume_folder(sys.argv[1:]))
            asks = any(a.startswith("-") for a in sys.argv[1:])  # --help, --cfg: nothing is written
            parents = [Path("outputs", config_name), Path("outputs")]  # where a timestamped run folder goes
            new = [p for p in parents if not p.exists()] if not asks else []
            problem = None if asks else output_dir_problem(sys.argv[1:])
            if problem:
                print(f"{prog}: error: cannot write output folder {problem[0]!r}: {problem[1]}", file=sys.stderr)
                sys.exit(2)
            if not any(a.startswith("hydra.job.name=") for a in sys.argv[1:]):
                sys.argv.append(f"hydra.job.name={config_name}")  # the log file is <config_name>.log
            try:
                app()
            except SystemExit as ex:
                if ex.code:  # a failed run removed its own folder (run_folder); the empty parents it made go too
                    for p in new:
                        if p.is_dir() and not any(p.iterdir()):
                            p.rmdir()
                raise

        return main
    return wrap

"""Batches of independent jobs run through one launcher: in this process, or through Hydra's launcher plugins.

A real run is dozens of independent trainings: K fine-tunes times seeds, their scratch twins, the
baselines times seeds, the ground-truth table, one hyperparameter search per winner. Each is a
:class:`Job` whose result lands atomically in its own folder, so a batch is resumable job by job: a
job is done when its result file exists, and a rerun launches only the others.

The launcher is chosen by config (``conf/launcher/``, ``launcher=<name>`` on any training command):

- ``serial``: one job after the other in this process (the default);
- ``joblib``: Hydra's joblib launcher, ``launcher.jobs`` local processes at a time;
- ``submitit_local``: Hydra's submitit launcher on this machine (what the tests run);
- ``submitit_slurm``: Hydra's submitit launcher on a SLURM cluster, one allocation per job.

A non-serial batch is a Hydra multirun of :mod:`search.jobs.worker` over the job indices, in a
child process, with ``hydra/launcher=<plugin>`` and ``launcher.params`` as ``hydra.launcher.*``:
the engine is Hydra's, configured as its users know it. On one machine each running job holds one of
``launcher.jobs`` slots (a file lock), and the slot is its device: GPU ``slot`` when the trainer uses
GPUs, else ``cores / jobs`` CPU threads. Results are read back in job order, so the rows (and the
report) are those of a serial run with the same seeds.

Why these ~320 lines (with :mod:`search.jobs.worker`) beside the launchers: Hydra's plugins start
processes and nothing else. They do not skip a job whose result already exists (resume job by job), do
not split one machine's GPUs and cores among concurrent jobs (joblib's workers all see every GPU and set
no thread count: the slot lock does), and a job that raises ends the multirun where this module keeps
going and names the failed jobs in one line afterwards. The plugins' own process pools, cluster
submission and requeueing are used as they are; no scheduler is written here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from omegaconf import DictConfig, OmegaConf

from core.device import available_cores, gpus, thread_share
from core.errors import GreenError
from core.stop import check_stop
from core.io import write_json
from core.validate import read_json
from core.jsontypes import JSONObject

if TYPE_CHECKING:  # Lightning loads only when a job trains, not for a command's --help
    from core.progress import ProgressLine

PLUGINS = ("serial", "joblib", "submitit_local", "submitit_slurm")
LOCAL = ("joblib", "submitit_local")  # plugins that run every job on this machine: slots assign devices
REQUIRED = {"submitit_slurm": ("partition", "timeout_min")}  # settings a cluster run cannot guess
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Job:
    """One independent training: ``key`` names it (its folder's name), ``folder`` holds its result."""

    key: str
    folder: str
    index: int = 0        # which model of the batch (the command's list)
    replicate: int = 0
    seed: int = 0
    payload: dict[str, Any] = field(default_factory=dict)  # JSON-able facts the job needs (an arch, its scores)
    position: int = 1     # which job of the batch, from 1 (replicates after the first seed's models)
    total: int = 1        # jobs in the batch

    def progress(self, command: str) -> ProgressLine:
        """The job's progress line (``green-baselines model 2/6 <key>: epoch ...``) for its trainer."""
        from core.progress import ProgressLine, model_label

        return ProgressLine(model_label(command, self.position, self.total, self.key), self.position, self.total)

    @classmethod
    def of(cls, d: JSONObject) -> "Job":
        return cls(**d)


def replicate_jobs(names: Sequence[str], seeds: int, base_seed: int, models: Path,
                   payloads: Sequence[JSONObject] | None = None) -> list[Job]:
    """Every job of ``names`` x ``seeds``: folder ``models/<name>`` (``_s<r>`` after the first replicate), seed
    ``base_seed + index + 1000 * replicate``. Shared by green-finetune, green-baselines and green-table, so all
    name, seed and resume replicates alike."""
    return [Job(key=f.name, folder=str(f), index=i, replicate=rep, seed=base_seed + i + 1000 * rep,
                payload=dict(payloads[i]) if payloads else {}, position=rep * len(names) + i + 1,
                total=seeds * len(names))
            for rep in range(seeds) for i, name in enumerate(names)
            for f in [models / (name if rep == 0 else f"{name}_s{rep}")]]


def finished(job: Job, meta_file: str) -> JSONObject | None:
    """The ``result`` record of a finished job (its ``meta_file`` exists), else None."""
    path = Path(job.folder) / meta_file
    if not path.is_file():
        return None
    meta = read_json(path, "finished model's description")
    if not isinstance(meta, dict) or not isinstance(meta.get("result"), dict):
        raise GreenError(f"{str(path)!r} holds no 'result' record; remove {job.folder!r} to train that model again")
    return meta["result"]


def results(jobs: Sequence[Job], meta_file: str) -> list[JSONObject]:
    """The result rows of the finished jobs, in job order (the order of a serial run)."""
    return [r for r in (finished(j, meta_file) for j in jobs) if r is not None]


class Launcher:
    """Runs a batch of jobs with the configured engine (module docstring); built from ``conf/launcher``.

    ``jobs``: parallel jobs (on one machine: slots); ``exclusive``: each local job gets a device of its own
    (a GPU, or a core), more jobs than devices is an error; ``params``: the Hydra plugin's own settings
    (``hydra.launcher.<key>``), e.g. a SLURM partition.
    """

    def __init__(self, plugin: str = "serial", jobs: int = 1, exclusive: bool = True,
                 params: JSONObject | None = None):
        if plugin not in PLUGINS:
            raise GreenError(f"unknown launcher plugin {plugin!r}: use one of {', '.join(PLUGINS)}")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise GreenError(f"launcher.jobs must be a whole number >= 1, got {jobs!r}")
        self.plugin, self.jobs, self.exclusive = plugin, jobs, bool(exclusive)
        self.params = OmegaConf.to_container(params, resolve=True) if OmegaConf.is_config(params) else dict(params or {})
        for key in REQUIRED.get(plugin, ()):
            if self.params.get(key) in (None, "", "???"):
                raise GreenError(f"launcher {plugin} needs launcher.params.{key} (e.g. launcher.params.{key}="
                                 f"{'gpu' if key == 'partition' else 240})")

    @property
    def parallel(self) -> bool:
        """Whether jobs of this machine may run at the same time (a measurement would share the machine)."""
        return self.plugin in LOCAL and self.jobs > 1

    def describe(self) -> JSONObject:
        return {"plugin": self.plugin, "jobs": self.jobs, "exclusive": self.exclusive}

    def check(self, cfg: DictConfig, command: str) -> None:
        """Refuse what a parallel batch cannot do well, before anything is trained."""
        measure = cfg.get("measure")
        if self.parallel and measure is not None and measure.get("enabled", False):
            raise GreenError(f"{command}: latency measured while {self.jobs} jobs share this machine is not a "
                             "figure: pass measure.enabled=false (green-run times every model in one session) or "
                             "launcher=serial")
        if self.plugin in LOCAL and self.exclusive:
            gpus = gpu_count(cfg)
            have, what = (gpus, "GPUs") if gpus else (available_cores(), "CPU cores")
            if self.jobs > have:
                raise GreenError(f"launcher.jobs={self.jobs} asks for more parallel jobs than the {have} {what} "
                                 "here (launcher.exclusive=true gives each its own): lower launcher.jobs or set "
                                 "launcher.exclusive=false")

    def run(self, jobs: Sequence[Job], fn: Callable[[DictConfig, Job], Any], cfg: DictConfig, batch: Path,
            command: str) -> None:
        """Run ``fn(cfg, job)`` for every job; a job that fails is named in a one-line error after the batch,
        the results of the others are kept. ``fn`` is a module-level function (a child process imports it)."""
        if not jobs:
            return
        if self.plugin == "serial":
            for job in jobs:
                check_stop()  # a safe point between jobs (a signal's stop that Python dropped)
                fn(cfg, job)
            return
        self.check(cfg, command)
        if batch.exists():  # a batch folder holds only the last batch's bookkeeping, never a result
            shutil.rmtree(batch)
        write_json(batch / "batch.json", {"fn": f"{fn.__module__}:{fn.__qualname__}", "slots": self.jobs,
                                          "local": self.plugin in LOCAL, "jobs": [asdict(j) for j in jobs]})
        OmegaConf.save(OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)), batch / "cfg.yaml")
        print(f"{command}: {len(jobs)} jobs through Hydra's {self.plugin} launcher, {self.jobs} at a time "
              f"-> {batch}", flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                                        os.environ.get("PYTHONPATH")]))}
        if self.plugin in LOCAL:  # every child (and its BLAS) starts on its share of the cores
            env["OMP_NUM_THREADS"] = str(thread_share(self.jobs))
        proc = subprocess.run(self.command(batch, len(jobs)), cwd=PACKAGE_ROOT, env=env, stderr=subprocess.PIPE,
                              text=True)
        # keys hold dots (w0.5): a marker's name is the key itself (+ ".txt"), never cut at its last dot
        failed = {p.name.removesuffix(".txt"): p.read_text().strip() for p in sorted((batch / "failed").glob("*.txt"))}
        done = {p.name for p in (batch / "done").glob("*")}
        died = [j.key for j in jobs if j.key not in done and j.key not in failed]
        if died and proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            failed.update({k: f"the job's process died ({last})" for k in died})
        elif died:
            failed.update({k: "the job ended without a result" for k in died})
        if failed:
            key, why = next(iter(failed.items()))
            more = f" ({len(failed)} of {len(jobs)} jobs failed: {', '.join(failed)})" if len(failed) > 1 else ""
            raise GreenError(f"{command}: job {key} failed: {why}{more}; the finished jobs are kept, run the "
                             "command again to retry the others")

    def command(self, batch: Path, n: int) -> list[str]:
        """The child's command line: a Hydra multirun of the worker over the job indices."""
        params = dict(self.params)
        if self.plugin == "joblib":
            params.setdefault("n_jobs", self.jobs)
        elif self.plugin == "submitit_slurm":
            params.setdefault("array_parallelism", self.jobs)
        return [sys.executable, "-m", "search.jobs.worker", "--multirun", f"hydra/launcher={self.plugin}",
                "hydra/hydra_logging=disabled", "hydra/job_logging=disabled",
                f"hydra.sweep.dir={batch / 'hydra'}", f"batch={batch}", f"job={','.join(map(str, range(n)))}",
                *(f"hydra.launcher.{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in params.items())]


def gpu_count(cfg: DictConfig) -> int:
    """GPUs the config's trainer would use here (0 on a CPU trainer or a machine without one)."""
    trainer = cfg.get("trainer") or {}
    if str(trainer.get("accelerator", "cpu")) not in ("gpu", "cuda", "auto"):
        return 0
    return gpus()


def launcher_of(cfg: DictConfig) -> Launcher:
    """The config's launcher (``serial`` when the config has none)."""
    from hydra.utils import get_class

    node = cfg.get("launcher")
    if node is None:
        return Launcher()
    # as instantiate, but a missing setting (???) reaches Launcher as "???", which names it in one line
    kwargs = OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    return get_class(kwargs.pop("_target_", "search.jobs.launch.Launcher"))(**kwargs)


_MEMO: dict[str, tuple[str, Any]] = {}


def memo(cfg: DictConfig, build: Callable[[DictConfig], Any]) -> Any:
    """``build(cfg)``, kept for the next call with the same config in this process: a serial batch loads
    the supernet and the data once, a worker process once per batch. One entry per ``build``."""
    key = json.dumps(OmegaConf.to_container(cfg, resolve=False), sort_keys=True, default=str)
    name = f"{build.__module__}.{build.__qualname__}"
    if name not in _MEMO or _MEMO[name][0] != key:
        _MEMO[name] = (key, build(cfg))
    return _MEMO[name][1]

"""One job of a batch, as a Hydra app: what Hydra's launcher plugins run (:mod:`search.jobs.launch`).

    python -m search.jobs.worker --multirun hydra/launcher=joblib batch=<folder> job=0,1,2,3

``<folder>/batch.json`` lists the jobs and the function that runs one; ``cfg.yaml`` is the command's
resolved config. On one machine the job first takes a free slot (a file lock held until it ends) and
gets that slot's device. A job that raises writes ``failed/<key>.txt`` (one line) and returns, so the
rest of the batch goes on; a finished one touches ``done/<key>``.
"""
from __future__ import annotations

import fcntl
import importlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from search.jobs.launch import Job, gpu_count
from core.cli import quiet
from core.device import thread_share
from core.errors import GreenError
from core.io import write_atomic


@dataclass
class JobConf:
    batch: str = MISSING  # the batch folder the parent wrote
    job: int = MISSING    # index into its jobs


ConfigStore.instance().store(name="green_job", node=JobConf)


def take_slot(batch: Path, slots: int) -> tuple[int, IO]:
    """The first free slot of the batch (waits for one); the lock goes with the returned file."""
    (batch / "slots").mkdir(exist_ok=True)
    while True:
        for k in range(slots):
            f = open(batch / "slots" / f"{k}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return k, f
            except BlockingIOError:
                f.close()
        time.sleep(0.2)


def on_device(cfg: DictConfig, slot: int, slots: int) -> DictConfig:
    """The job's config on its slot's device: GPU ``slot`` (mod the GPUs here), else ``cores/slots`` threads."""
    gpus = gpu_count(cfg)
    with open_dict(cfg):
        if gpus:
            import torch

            gpu = slot % gpus
            torch.cuda.set_device(gpu)
            cfg.trainer.devices = [gpu]
            if cfg.get("measure") is not None and str(cfg.measure.get("device", "cpu")).startswith("cuda"):
                cfg.measure.device = f"cuda:{gpu}"
        cfg.threads = thread_share(slots) if cfg.get("threads") is None else min(int(cfg.threads),
                                                                                 thread_share(slots))
    return cfg


def run_job(batch: Path, index: int) -> None:
    """Run job ``index`` of ``batch``; its outcome is a ``done`` or ``failed`` marker."""
    spec = OmegaConf.to_container(OmegaConf.load(batch / "batch.json"))
    job = Job.of(spec["jobs"][index])
    cfg = OmegaConf.load(batch / "cfg.yaml")
    quiet(bool(cfg.get("verbose", False)))
    lock = None
    try:
        if spec["local"]:
            slot, lock = take_slot(batch, int(spec["slots"]))
            cfg = on_device(cfg, slot, int(spec["slots"]))
        module, name = spec["fn"].split(":")
        fn = getattr(importlib.import_module(module), name)
        fn(cfg, job)
        write_atomic(batch / "done" / job.key, f"{os.getpid()}\n")
    except BaseException as err:  # noqa: BLE001  one job's failure is recorded, the batch goes on
        line = (str(err).strip().splitlines() or ["no message"])[0]
        line = line if isinstance(err, GreenError) else f"{type(err).__name__}: {line}"
        write_atomic(batch / "failed" / f"{job.key}.txt", f"{line}\n")
        print(f"job {job.key} failed: {line}", flush=True)
    finally:
        if lock is not None:
            lock.close()


@hydra.main(version_base="1.3", config_path=None, config_name="green_job")
def main(cfg: DictConfig) -> None:
    run_job(Path(cfg.batch), int(cfg.job))


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmark scripts: timing protocol, machine description, JSON output."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from search.hardware.timing import device_fingerprint
from core.io import write_atomic, write_json

ROOT = Path(__file__).resolve().parents[1]


def device_info(device: torch.device) -> dict:
    """What the figures were measured on."""
    fp = device_fingerprint(device)
    return {"device": str(device), "device_name": fp["device_name"], "torch": fp["torch"],
            "threads": fp["threads"], "python": platform.python_version()}


def timed(fn: Callable[[], None], n: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, over ``n`` calls (synchronised on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t) / n


def spread(xs: list[float]) -> dict:
    """Median and range of repeated measurements."""
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def git_commit() -> str:
    """The commit the benchmark ran on (``+dirty`` when the tracked tree had uncommitted changes)."""
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


STARTED_ON = git_commit()  # the code a benchmark ran: taken when its script starts, not when it saves


def provenance(config: dict | None = None) -> dict:
    """What makes a result recomputable: commit, exact command line, composed config, machine."""
    import shlex

    from omegaconf import OmegaConf

    if config is not None and OmegaConf.is_config(config):
        config = OmegaConf.to_container(config, resolve=True)
    return {"commit": STARTED_ON, "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "config": config, "machine": {"platform": platform.platform(), "python": platform.python_version(),
                                          "torch": torch.__version__, "cpus": os.cpu_count()},
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def portable(obj: Any) -> Any:
    """``obj`` with this machine's paths made relative to the repository: the checkout's own prefix is dropped
    and its parent's becomes ``../`` (the shared data sit beside the repository), in every string (a command
    line holds paths inside it). A result holds no absolute path (``bench/recompute.py`` checks); an input from
    elsewhere is named by its content hash (:func:`input_ref`)."""
    if isinstance(obj, dict):
        return {k: portable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v) for v in obj]
    if isinstance(obj, str):
        return obj.replace(f"{ROOT}/", "").replace(str(ROOT), ".").replace(f"{ROOT.parent}/", "../")
    return obj


def input_ref(path: str | Path) -> dict[str, str]:
    """An input file as a result records it: its path relative to the repository and its sha256, so a
    result computed from a file outside the repository (or since changed) still names what it read."""
    import hashlib

    p = Path(path).resolve()
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    rel = portable(str(p))
    return {"path": p.name if rel.startswith("/") else rel, "sha256": h.hexdigest()}


def save(name: str, result: dict, out_dir: Path | None = None, config: dict | None = None,
         compact: bool = False) -> Path:
    """Write ``outputs/bench/<name>.json`` (atomically) with its provenance, and return its path.

    Results are written by their scripts only: the provenance block (commit, command line, composed
    config) and the raw per-item data the script puts in ``result`` let ``bench/recompute.py``
    recompute every headline figure. ``compact``: without indentation (results of many megabytes).
    """
    path = (out_dir or ROOT / "outputs" / "bench") / f"{name}.json"
    obj = portable({"benchmark": name, **provenance(config), **result})
    if compact:  # megabytes of raw figures: one line, no indentation
        write_atomic(path, json.dumps(obj, separators=(",", ":")) + "\n")
    else:
        write_json(path, obj)
    return path


def quick_supernet(out: Path, epochs: int = 3) -> Path:
    """A tiny supernet briefly trained on digits (for the benchmarks' --quick); returns its last.ckpt."""
    from hydra import compose, initialize_config_dir

    from supernet.train import train

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={out / 'train'}", "experiment=smoke", f"epochs={epochs}",
                                          "trainer.enable_progress_bar=false", "module.calib_images=128"])
    train(cfg)
    return out / "train" / "checkpoints" / "last.ckpt"

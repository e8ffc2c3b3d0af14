"""The hostile user's list (issue 14): every fault and bad input, run against the real console scripts.

Each case runs a command in a fresh process (the way a user or a scheduler would) on a tiny supernet and
lookup table made first, then checks what the promise says: one ``<command>: error: ...`` line naming the
problem, the exit status (2, or 128 + the signal for a stop by signal), and what is left on disk (the
previous checkpoint intact, no temporary file, no half-written folder, no payload run). A case passes
only when every check holds; the JSON keeps each case's exit status, error lines and failed checks.

    python bench/bad_input.py            # about 5 minutes on a 2-core CPU; writes outputs/bench/bad_input.json
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, quick_supernet, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402

TRAIN = ["experiment=smoke", "data.train_subset=256", "module.calib_images=64", "trainer.enable_progress_bar=false"]
MARKER = Path(tempfile.gettempdir()) / "green_bad_input_payload_ran"


class Payload:
    """A pickle that would create MARKER when unpickled: it must never run."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


@dataclass
class Case:
    """One hostile input: the command, what it must say, and what must hold afterwards."""

    name: str
    module: str
    args: list[str]
    code: int = 2
    says: str = ""                       # a substring of the one error line ("" with code 0: no error line)
    stdout: str = ""                     # a substring of standard output (code 0 cases)
    checks: list[tuple[str, Callable[[], bool]]] = field(default_factory=list)
    prepare: Callable[[], None] | None = None
    signal_after: tuple[Path, int] | None = None  # send this signal once this file exists


def run_case(c: Case) -> JSONObject:
    if c.prepare:
        c.prepare()
    env = {**{k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", c.module, *c.args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if c.signal_after:
        path, sig = c.signal_after
        while not path.exists() and proc.poll() is None:
            time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(sig)
    out, err = proc.communicate(timeout=600)
    errors = [ln for ln in err.splitlines() if ": error:" in ln]
    failed = []
    if proc.returncode != c.code:
        failed.append(f"exit status {proc.returncode}, expected {c.code}")
    if c.code != 0 and (len(errors) != 1 or c.says not in errors[0]):
        failed.append(f"expected one error line containing {c.says!r}")
    if "Traceback" in err:
        failed.append("a traceback was printed")
    if c.stdout and c.stdout not in out:
        failed.append(f"expected {c.stdout!r} on standard output")
    for what, ok in c.checks:
        try:
            good = ok()
        except Exception as e:  # noqa: BLE001 - a check that cannot even run has failed
            good, what = False, f"{what} ({type(e).__name__}: {e})"
        if not good:
            failed.append(what)
    if MARKER.exists():
        failed.append("a pickle payload ran")
    return {"name": c.name, "command": [c.module, *c.args], "exit": proc.returncode, "error_lines": errors,
            "seconds": time.perf_counter() - t, "passed": not failed, "failed_checks": failed}


def _torch_load(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def cases(work: Path, ckpt: Path, lut: Path) -> list[Case]:
    import torch

    def train_run(name: str, epochs: int = 1) -> Path:
        run = work / name
        r = subprocess.run([sys.executable, "-m", "supernet.commands.train", *TRAIN, f"epochs={epochs}", f"hydra.run.dir={run}"],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return run

    def damaged_ckpt(how: str) -> Path:
        run = train_run(f"damaged_{how}")
        last = run / "checkpoints" / "last.ckpt"
        data = {"pickle": pickle.dumps(Payload()), "truncated": last.read_bytes()[:2000], "empty": b""}[how]
        last.write_bytes(data)
        return last

    def lut_with(damage: Callable[[dict], None], name: str) -> Path:
        t = json.loads(lut.read_text())
        damage(t)
        p = work / f"lut_{name}.json"
        p.write_text(json.dumps(t))
        return p

    def first_median(t: dict, value: Any) -> None:
        entry = next(iter(t["entries"].values()))
        entry["1"]["latency_ms"]["median"] = value  # batch 1 of the first op

    nan_ckpt = work / "nan.ckpt"
    state = _torch_load(ckpt)
    key = next(k for k, v in state["state_dict"].items() if k.startswith("net.") and v.is_floating_point())
    state["state_dict"][key] = torch.full_like(state["state_dict"][key], float("nan"))
    torch.save(state, nan_ckpt)

    one_class = work / "one_class"
    for split in ("train", "test"):
        d = one_class / split / "cat"
        d.mkdir(parents=True, exist_ok=True)
        from PIL import Image
        for i in range(4):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(d / f"{i}.png")

    finished = train_run("finished")
    holder: dict[str, Any] = {"t0": time.time()}
    sig_runs = {s: work / f"sig_{s.name}" for s in (signal.SIGTERM, signal.SIGINT)}
    swept = work / "swept"
    locked_run = work / "locked"
    searched = work / "searched"
    search_args = [f"ckpt={ckpt}", f"table={lut}", "search.objectives=[acc,params]", "search.population=4",
                   "search.generations=1", "progress=false", "eval.calib_images=32", "eval.val_images=32"]
    final = work / "final"
    ext = work / "extracted"

    def plant_temp() -> None:
        swept.mkdir(parents=True, exist_ok=True)
        (swept / ".lut.json.x1y2z3.tmp").write_text("{")
        (swept / "models").mkdir(exist_ok=True)
        (swept / "models" / ".01_r16.abc123.tmp").mkdir(exist_ok=True)

    def take_lock() -> None:
        from core.lock import locked
        holder["cm"] = locked(locked_run, "green-search (pid 4242)")
        holder["cm"].__enter__()

    disk = work / "disk"

    def fill_disk() -> None:  # a 1 MB tmpfs with a finished epoch on it, then filled to 40 kB free
        disk.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True, capture_output=True)
        r = subprocess.run([sys.executable, "-m", "supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={disk / 'run'}"],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        holder["good"] = (disk / "run" / "checkpoints" / "last.ckpt").read_bytes()
        st = os.statvfs(disk)
        (disk / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - 40_000))

    def mode_ok(path: Path) -> bool:
        mask = os.umask(0)
        os.umask(mask)
        return path.stat().st_mode & 0o777 == 0o666 & ~mask

    return [
        Case("final weights saved after the last epoch", "supernet.commands.train", [*TRAIN, "epochs=3", f"hydra.run.dir={final}"],
             code=0, checks=[("last.ckpt holds the last epoch",
                              lambda: _torch_load(final / "checkpoints" / "last.ckpt")["epoch"] == 2)]),
        *[Case(f"{s.name} stops at a safe point, resumably", "supernet.commands.train",
               [*TRAIN, "epochs=60", f"hydra.run.dir={run}"], code=128 + s, says=f"stopped by {s.name}",
               signal_after=(run / "checkpoints" / "last.ckpt", s),
               checks=[("no metrics.json", lambda run=run: not (run / "metrics.json").exists()),
                       ("last.ckpt loads", lambda run=run: "state_dict" in _torch_load(run / "checkpoints" / "last.ckpt"))])
          for s, run in sig_runs.items()],
        Case("second writer on a locked folder", "search.commands.search", [*search_args, f"hydra.run.dir={locked_run}"],
             says="is in use by green-search (pid 4242)", prepare=take_lock,
             checks=[("no cache.json", lambda: not (locked_run / "cache.json").exists())]),
        *[Case(f"{how} checkpoint given to resume", "supernet.commands.train",
               [*TRAIN, "epochs=2", f"resume={damaged_ckpt(how)}"], says="cannot resume")
          for how in ("pickle", "truncated", "empty")],
        Case("lookup table with a NaN median", "search.commands.search",
             [*search_args[:1], f"table={lut_with(lambda t: first_median(t, float('nan')), 'nan')}", *search_args[2:],
              f"hydra.run.dir={work / 's_nan'}"], says="must be a finite number"),
        Case("lookup table with a negative median", "search.commands.search",
             [*search_args[:1], f"table={lut_with(lambda t: first_median(t, -1.0), 'neg')}", *search_args[2:],
              f"hydra.run.dir={work / 's_neg'}"], says="must be > 0"),
        Case("lookup table with a string median", "search.commands.search",
             [*search_args[:1], f"table={lut_with(lambda t: first_median(t, 'fast'), 'str')}", *search_args[2:],
              f"hydra.run.dir={work / 's_str'}"], says="must be a finite number"),
        Case("checkpoint with NaN weights", "search.commands.search",
             [f"ckpt={nan_ckpt}", *search_args[1:], f"hydra.run.dir={work / 's_nanw'}"], says="non-finite weights"),
        Case("one-class data", "supernet.commands.train",
             [*TRAIN, "epochs=1", "data=imagefolder", f"data.root={one_class}", "data.channels=3",
              f"hydra.run.dir={work / 'oneclass'}"], says="needs at least two"),
        Case("negative learning rate", "supernet.commands.train", [*TRAIN, "optimizer.lr=-0.1", f"hydra.run.dir={work / 'lr'}"],
             says="optimizer.lr must be > 0"),
        Case("epochs=abc", "supernet.commands.train", [*TRAIN, "epochs=abc", f"hydra.run.dir={work / 'abc'}"], says="epochs"),
        Case("negative threads", "search.commands.search", [*search_args, "threads=-1", f"hydra.run.dir={work / 'thr'}"],
             says="threads"),
        Case("zero measurement trials", "search.commands.lut", ["protocol.trials=0", f"hydra.run.dir={work / 'trials'}"],
             says="protocol.trials must be >= 1"),
        Case("label smoothing above 1", "supernet.commands.train",
             [*TRAIN, "module.label_smoothing=1.5", f"hydra.run.dir={work / 'ls'}"], says="label_smoothing"),
        Case("empty batch-size list", "search.commands.finetune",
             [f"ckpt={ckpt}", "archs=[r16_k3e2_k3e2]", "batch_sizes=[]", f"hydra.run.dir={work / 'bs'}"],
             says="batch_sizes", checks=[("nothing trained", lambda: not (work / "bs" / "models").exists())]),
        Case("calib_images=0 for green-train", "supernet.commands.train",
             [*TRAIN, "module.calib_images=0", f"hydra.run.dir={work / 'calib'}"], says="calib_images"),
        Case("device=cuda without CUDA", "search.commands.lut", ["device=cuda", f"hydra.run.dir={work / 'cuda'}"],
             says="CUDA is not available"),
        Case("std 0 in the data", "supernet.commands.train", [*TRAIN, "data.std=[0.0]", f"hydra.run.dir={work / 'std'}"],
             says="std"),
        Case("green-search without arguments", "search.commands.search", [f"hydra.run.dir={work / 'noargs'}"],
             says="missing mandatory option ckpt=",
             checks=[("no folder left", lambda: not (work / "noargs").exists())]),
        Case("green-search without table=", "search.commands.search", [f"ckpt={ckpt}", f"hydra.run.dir={work / 'notable'}"],
             says="missing mandatory option table="),
        Case("green-extract without arguments", "search.commands.extract", [f"hydra.run.dir={work / 'noargs2'}"],
             says="missing mandatory option ckpt="),
        Case("a search run (for the cases below)", "search.commands.search", [*search_args, f"hydra.run.dir={searched}"],
             code=0),
        Case("overwrite=true on a search run", "search.commands.extract",
             [f"ckpt={ckpt}", "arch=r16_k3e2_k3e2", f"out={searched}", "overwrite=true", "onnx=false",
              f"hydra.run.dir={work / 'ext_bad'}"], says="is not a model folder",
             checks=[("the search run is intact", lambda: (searched / "pareto.json").is_file())]),
        Case("extracted weights get ordinary modes", "search.commands.extract",
             [f"ckpt={ckpt}", "arch=r16_k3e2_k3e2", "onnx=false", f"hydra.run.dir={ext}"], code=0,
             checks=[("model.safetensors mode follows the umask", lambda: mode_ok(ext / "model" / "model.safetensors"))]),
        Case("a finished run resumed", "supernet.commands.train",
             [*TRAIN, "epochs=1", f"resume={finished / 'checkpoints' / 'last.ckpt'}"], code=0, stdout="nothing to do",
             prepare=lambda: holder.update(before=sorted((ROOT / "outputs" / "train").glob("*"))),
             checks=[("no new run folder", lambda: sorted((ROOT / "outputs" / "train").glob("*")) == holder["before"]),
                     ("the run is unchanged", lambda: (finished / "metrics.json").stat().st_mtime < holder["t0"])]),
        Case("full disk while saving a checkpoint", "supernet.commands.train",
             [*TRAIN, "epochs=2", f"resume={disk / 'run' / 'checkpoints' / 'last.ckpt'}"],
             says="no space left on device", prepare=fill_disk,
             checks=[("last.ckpt intact", lambda: (disk / "run" / "checkpoints" / "last.ckpt").read_bytes() == holder["good"]),
                     ("no temporary left", lambda: not list((disk / "run").rglob("*.tmp")))]),
        Case("a dead writer's temporaries", "search.commands.search", [*search_args, f"hydra.run.dir={swept}"], code=0,
             prepare=plant_temp, checks=[("temporaries swept", lambda: not list(swept.rglob("*.tmp")))]),
    ]


def headline(result: JSONObject) -> JSONObject:
    """How many cases passed, from the per-case records."""
    cs = result["raw"]["cases"]
    return {"cases": len(cs), "passed": sum(c["passed"] for c in cs),
            "failed": [c["name"] for c in cs if not c["passed"]]}


def main() -> None:
    from hydra import compose, initialize_config_dir

    import search.hardware.lut as lut

    MARKER.unlink(missing_ok=True)
    (ROOT / "outputs" / "bench").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bad_input_", dir=ROOT / "outputs" / "bench"))
    ckpt = quick_supernet(work / "sn", epochs=1)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("lut", overrides=[f"paths.output_dir={work / 'lut'}", "protocol.trials=2", "protocol.warmup=1",
                                        "protocol.min_call_ms=0.5", "calib.subnets=2"])
    table = Path(lut.build_table(cfg))
    records = []
    try:
        for c in cases(work, ckpt, table):
            try:
                rec = run_case(c)
            except Exception as e:  # noqa: BLE001 - a case whose set-up cannot run (no tmpfs here) is recorded
                rec = {"name": c.name, "command": [c.module, *c.args], "passed": False,
                       "failed_checks": [f"could not run: {type(e).__name__}: {e}"]}
            records.append(rec)
            print(f"bad_input: {'pass' if rec['passed'] else 'FAIL'}: {c.name}"
                  + ("" if rec["passed"] else f" ({'; '.join(rec['failed_checks'])})"), flush=True)
    finally:
        subprocess.run(["umount", "-l", str(work / "disk")], capture_output=True)
    result = {"raw": {"cases": records, "work": str(work)}}
    result = {**headline(result), **result}
    path = save("bad_input", result)
    print(f"bad_input: {result['passed']} of {result['cases']} cases pass -> {path}")


if __name__ == "__main__":
    main()

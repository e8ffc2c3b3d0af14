"""Standalone subnets: extraction folders that need neither the supernet nor pickle to load.

A folder holds ``model.safetensors`` (weights), ``arch.json`` (the arch, its search space, classes,
input channels and normalisation), ``model.onnx`` (checked once with onnxruntime)
and ``card.md`` (what the model is and what it costs); a model deployed to a target (``target=``) also holds
that runtime's file (``model.<target>.onnx``) and ``deploy.json`` (its calibration and measured figures). :func:`load_subnet` rebuilds the static
network from ``arch.json`` and the safetensors file alone.

Folders are written into a temporary sibling and renamed into place, so a failure never leaves
a partial folder.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from supernet.arch import ArchConfig
from core.errors import GreenError
from core.io import atomic_folder, publish_mode, write_atomic, write_json
from supernet.net import GreenNet
from supernet.space import SearchSpace
from core.validate import of_type, read_json, whole_number
from core.jsontypes import JSONObject

FOLDER_VERSION = 1
FOLDER_FORMAT = "green-cnn-subnet"  # arch.json's marker: overwrite=true replaces only a folder that says so
FOLDER_FILES = frozenset({"arch.json", "model.safetensors", "model.onnx", "card.md", "deploy.json"})
TARGET_FILE = re.compile(r"model\.[a-z0-9_]+\.onnx")  # a deployment target's own file (model.onnxruntime_int8.onnx)


def folder_file(name: str) -> bool:
    """Whether ``name`` is a file an extraction folder may hold."""
    return name in FOLDER_FILES or TARGET_FILE.fullmatch(name) is not None


def arch_digest(arch: JSONObject) -> str:
    """sha256 of an arch's canonical JSON: stored with the weights, so an arch.json edited or swapped after the
    save no longer matches the weights it sits beside."""
    return hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """``model``'s weights as a safetensors file, with the mode an ordinary file gets (safetensors makes it 0600);
    a GreenNet's arch digest goes into the file's metadata."""
    meta = {"arch_sha256": arch_digest(model.arch.to_dict())} if isinstance(model, GreenNet) else None
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    publish_mode(path)


def weights_metadata(path: Path) -> dict[str, str]:
    """The safetensors file's metadata (empty for files saved before it was written)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (OSError, SafetensorError):
        return {}


def load_weights(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing, truncated or foreign one (a pickle, say) is a GreenError.

    safetensors reads a header and raw tensors only, so nothing in the file can run.
    """
    try:
        return load_file(str(path), device=str(map_location))
    except FileNotFoundError:
        raise GreenError(f"weights file {str(path)!r} does not exist") from None
    except (OSError, SafetensorError) as err:
        raise GreenError(f"weights file {str(path)!r} is not a readable safetensors file (truncated, or another "
                         f"format): {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def overwrite_problem(out: Path) -> str | None:
    """Why ``overwrite=true`` may not replace ``out``, or None when it may: an empty folder, or an extraction
    folder (its arch.json marked ``format: green-cnn-subnet``, or one of version 1 from before the marker)
    holding nothing but an extraction's files. A search run or any other folder is never deleted."""
    if not out.is_dir():
        return f"{str(out)!r} is not a folder"
    names = {p.name for p in out.iterdir()}
    if not names:
        return None
    try:
        meta = json.loads((out / "arch.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    made_here = isinstance(meta, dict) and (meta.get("format") == FOLDER_FORMAT or (
        meta.get("version") == FOLDER_VERSION and {"arch", "space", "num_classes", "in_chans"} <= meta.keys()))
    if not made_here or not all(folder_file(n) for n in names):
        return (f"{str(out)!r} is not a model folder written by green-extract, so overwrite=true will not delete it; "
                "choose another out=")
    return None


def check_out(out: Path, overwrite: bool) -> None:
    """``out`` must not exist, or (with ``overwrite``) be a folder :func:`save_subnet` may replace."""
    if out.exists() and not overwrite:
        raise GreenError(f"output folder {str(out)!r} already exists (pass overwrite=true to replace it)")
    problem = overwrite_problem(out) if out.exists() else None
    if problem:
        raise GreenError(problem)


def save_subnet(model: GreenNet, out: str | Path, info: JSONObject | None = None, onnx: bool = True,
                overwrite: bool = False, files: Mapping[str, bytes] | None = None) -> Path:
    """Write ``model`` as an extraction folder at ``out``; ``info`` goes into arch.json and the card, ``files``
    (a deployment's ``model.<target>.onnx`` and ``deploy.json``) beside them, in the same atomic rename.

    ``overwrite`` replaces an existing extraction folder, never another folder (:func:`overwrite_problem`).
    """
    out = Path(out)
    bad = sorted(n for n in (files or {}) if not folder_file(n) or n in ("arch.json", "model.safetensors"))
    if bad:
        raise GreenError(f"{bad[0]!r} is not a file of a model folder")
    check_out(out, overwrite)
    with atomic_folder(out) as tmp:
        model = model.eval().cpu()
        meta = {**(info or {}), "format": FOLDER_FORMAT, "version": FOLDER_VERSION, "arch": model.arch.to_dict(),
                "space": model.space.to_dict(), "num_classes": model.num_classes, "in_chans": model.in_chans}
        save_weights(model, tmp / "model.safetensors")
        write_json(tmp / "arch.json", meta)
        if onnx:
            meta["onnx"] = export_onnx(model, tmp / "model.onnx")
            write_json(tmp / "arch.json", meta)
        for name, data in (files or {}).items():
            write_atomic(tmp / name, data)
        write_atomic(tmp / "card.md", model_card(model, meta))
    return out


def export_onnx(model: torch.nn.Module, path: Path, shape: tuple[int, ...] | None = None) -> JSONObject:
    """ONNX export (dynamic batch), checked against PyTorch with onnxruntime (both regular dependencies, as the
    deployment targets run through them).

    ``shape`` is an example input's; a subnet knows its own (resolution and channels).
    """
    if shape is None:
        shape = (2, model.in_chans, model.arch.resolution, model.arch.resolution)
    x = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    diff = float(abs(got - want).max())
    if diff > 1e-3:
        raise GreenError(f"ONNX export of {getattr(model, 'arch', type(model).__name__)} differs from PyTorch by {diff:.2e}")
    return {"file": path.name, "checked": True, "max_abs_diff": diff, "onnxruntime": ort.__version__}


def load_subnet(folder: str | Path, map_location: str | torch.device = "cpu") -> GreenNet:
    """The static network of an extraction folder (eval mode), from arch.json + safetensors only."""
    folder = Path(folder)
    path = folder / "arch.json"
    if not path.is_file():
        raise GreenError(f"{str(folder)!r} is not an extraction folder (no arch.json)")
    meta = of_type(read_json(path, "model description"), dict, f"model description {str(path)!r}")
    try:
        space = SearchSpace.from_dict(meta["space"])
        arch = ArchConfig.from_dict(meta["arch"])
        model = GreenNet(space, arch, whole_number(meta.get("num_classes"), f"{str(path)!r}: num_classes", 1),
                         whole_number(meta.get("in_chans"), f"{str(path)!r}: in_chans", 1))
    except GreenError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise GreenError(f"{str(path)!r} is incomplete or malformed ({type(err).__name__}: {err})") from None
    weights = folder / "model.safetensors"
    state = load_weights(weights, map_location)
    saved = weights_metadata(weights).get("arch_sha256")
    if saved is not None and saved != arch_digest(meta["arch"]):
        raise GreenError(f"{str(path)!r} describes another arch than the weights beside it were saved with (edited "
                         "or swapped after the save): extract the model again")
    bad = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if bad:
        raise GreenError(f"weights file {str(weights)!r} holds non-finite values (NaN or inf) in {bad[0]}"
                         + (f" and {len(bad) - 1} more tensors" if len(bad) > 1 else "") + ": a diverged training")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # weights of another arch
        raise GreenError(f"cannot load weights from {str(folder / 'model.safetensors')!r}: "
                         f"{str(err).splitlines()[0]}") from None
    model.meta = meta
    return model.to(map_location).eval()


def model_card(model: GreenNet, meta: JSONObject) -> str:
    """A short human-readable description of the model and its figures."""
    lines = [f"# {model.arch}", "", f"Green CNN subnet of the `{model.space.name}` search space "
             f"({model.space.digest()}), {model.num_classes} classes, {model.in_chans}-channel "
             f"{model.arch.resolution}x{model.arch.resolution} input.", "", "| figure | value |", "| --- | --- |"]
    for key, label in (("params", "parameters"), ("macs", "MACs per image"), ("latency_ms", "predicted latency (ms)"),
                       ("energy_mj", "predicted energy (mJ)"), ("energy_source", "energy source"),
                       ("latency_batch_size", "batch size of latency/energy"), ("val_acc", "inherited val accuracy"),
                       ("val_recall", "inherited val macro recall"), ("test_acc", "test accuracy"),
                       ("test_recall", "test macro recall"), ("deployed_target", "deployment target"),
                       ("deployed_val_acc", "val accuracy through the target"),
                       ("deployed_test_acc", "test accuracy through the target"),
                       ("deployed_acc_drop_points", "accuracy cost of quantisation (points)"),
                       ("deployed_latency_ms_b1", "measured latency on the target, batch 1 (ms)"),
                       ("deployed_energy_mj_per_image", "measured energy per image on the target (mJ)"),
                       ("deployed_energy_source", "energy source on the target")):
        if meta.get(key) is not None:
            v = meta[key]
            lines.append(f"| {label} | {v:.4g} |" if isinstance(v, float) else f"| {label} | {v} |")
    lines += ["", "Load it without the supernet or pickle:", "", "```python",
              "from search.deploy.export import load_subnet", f"model = load_subnet({'<this folder>'!r})", "```", ""]
    if meta.get("mean"):
        lines += [f"Inputs are images scaled to [0, 1], normalised with mean {meta['mean']} and std {meta['std']}.", ""]
    return "\n".join(lines)

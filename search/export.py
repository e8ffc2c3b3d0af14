"""Standalone subnets: extraction folders that need neither the supernet nor pickle to load.

A folder holds ``model.safetensors`` (weights), ``arch.json`` (the arch, its search space, classes,
input channels and normalisation), ``model.onnx`` (checked once with onnxruntime where installed)
and ``card.md`` (what the model is and what it costs). :func:`load_subnet` rebuilds the static
network from ``arch.json`` and the safetensors file alone.

Folders are written into a temporary sibling and renamed into place, so a failure never leaves
a partial folder.
"""
from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from supernet.errors import GreenError
from supernet.io import atomic_folder, write_atomic, write_json
from supernet.net import GreenNet
from supernet.space import ArchConfig, SearchSpace

FOLDER_VERSION = 1


def save_subnet(model: GreenNet, out: str | Path, info: dict[str, Any] | None = None, onnx: bool = True,
                overwrite: bool = False) -> Path:
    """Write ``model`` as an extraction folder at ``out``; ``info`` goes into arch.json and the card."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise GreenError(f"output folder {str(out)!r} already exists (pass overwrite=true to replace it)")
    with atomic_folder(out) as tmp:
        model = model.eval().cpu()
        meta = {**(info or {}), "version": FOLDER_VERSION, "arch": model.arch.to_dict(),
                "space": model.space.to_dict(), "num_classes": model.num_classes, "in_chans": model.in_chans}
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        write_json(tmp / "arch.json", meta)
        if onnx:
            meta["onnx"] = export_onnx(model, tmp / "model.onnx")
            write_json(tmp / "arch.json", meta)
        write_atomic(tmp / "card.md", model_card(model, meta))
    return out


def export_onnx(model: torch.nn.Module, path: Path, shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """ONNX export (dynamic batch); checked against PyTorch with onnxruntime when it is installed.

    ``shape`` is an example input's; a subnet knows its own (resolution and channels). Without the
    optional ``onnx`` package (``pip install '.[onnx]'``) nothing is written and the note says so.
    """
    if importlib.util.find_spec("onnx") is None:
        return {"file": None, "checked": False, "note": "onnx not installed (pip install '.[onnx]'): no ONNX export"}
    if shape is None:
        shape = (2, model.in_chans, model.arch.resolution, model.arch.resolution)
    x = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    try:
        import onnxruntime as ort
    except ImportError:
        return {"file": path.name, "checked": False, "note": "onnxruntime not installed (pip install '.[onnx]')"}
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
    try:
        meta = json.loads((folder / "arch.json").read_text())
    except FileNotFoundError:
        raise GreenError(f"{str(folder)!r} is not an extraction folder (no arch.json)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise GreenError(f"{str(folder / 'arch.json')!r} is corrupt ({err})") from None
    try:
        space = SearchSpace.from_dict(meta["space"])
        arch = ArchConfig.from_dict(meta["arch"])
        model = GreenNet(space, arch, int(meta["num_classes"]), int(meta["in_chans"]))
        state = load_file(str(folder / "model.safetensors"), device=str(map_location))
        model.load_state_dict(state)
    except (KeyError, TypeError) as err:
        raise GreenError(f"{str(folder / 'arch.json')!r} is incomplete ({err})") from None
    except (OSError, RuntimeError) as err:  # missing/corrupt weights, or weights of another arch
        raise GreenError(f"cannot load weights from {str(folder / 'model.safetensors')!r}: "
                         f"{str(err).splitlines()[0]}") from None
    model.meta = meta
    return model.to(map_location).eval()


def model_card(model: GreenNet, meta: dict[str, Any]) -> str:
    """A short human-readable description of the model and its figures."""
    lines = [f"# {model.arch}", "", f"Green CNN subnet of the `{model.space.name}` search space "
             f"({model.space.digest()}), {model.num_classes} classes, {model.in_chans}-channel "
             f"{model.arch.resolution}x{model.arch.resolution} input.", "", "| figure | value |", "| --- | --- |"]
    for key, label in (("params", "parameters"), ("macs", "MACs per image"), ("latency_ms", "predicted latency (ms)"),
                       ("energy_mj", "predicted energy (mJ)"), ("energy_source", "energy source"),
                       ("latency_batch_size", "batch size of latency/energy"), ("val_acc", "inherited val accuracy"),
                       ("val_recall", "inherited val macro recall"), ("test_acc", "test accuracy"),
                       ("test_recall", "test macro recall")):
        if meta.get(key) is not None:
            v = meta[key]
            lines.append(f"| {label} | {v:.4g} |" if isinstance(v, float) else f"| {label} | {v} |")
    lines += ["", "Load it without the supernet or pickle:", "", "```python",
              "from search.export import load_subnet", f"model = load_subnet({'<this folder>'!r})", "```", ""]
    if meta.get("mean"):
        lines += [f"Inputs are images scaled to [0, 1], normalised with mean {meta['mean']} and std {meta['std']}.", ""]
    return "\n".join(lines)

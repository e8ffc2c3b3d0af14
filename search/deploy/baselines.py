"""``green-baselines``: hand-designed compact CNNs, trained and measured exactly like the winners.

Each baseline comes from timm, torchvision or a plug-in's library (:mod:`search.deploy.sources`; random
initialisation: nothing is downloaded),
adapted to the data: input channels and classes, and for small images (at most
``SMALL_INPUT`` pixels, e.g. 32x32 CIFAR) a stride-1 stem without its max-pool, the usual CIFAR
adaptation that keeps ImageNet networks from shrinking a 32x32 image to 1x1 in the stem. Training,
testing and measuring go through :func:`search.training.fit.fit_and_measure`, the very code of
``green-finetune``, so winners and baselines land on one chart. With ``target=`` each baseline is also deployed
to that runtime as green-finetune's winners are (:mod:`search.deploy.runtime`): its file, its test accuracy through
the runtime (int8 beside its float original) and its latency and energy, so a winner and a baseline deployed to one
target compare like for like. Rows go to ``baselines.json`` / ``.csv``; each model is saved as
``models/<name>/`` (``model.safetensors`` + ``model.json``, and ``model.<target>.onnx`` + ``deploy.json`` when
deployed), and a finished model is skipped when the command is run again on the same folder.

    green-baselines                                   # digits, every default baseline
    green-baselines experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10 epochs=3
    green-baselines 'models=[timm/lcnet_050,torchvision/shufflenet_v2_x0_5]'
    green-baselines 'models=[timm/lcnet_050]' target=onnxruntime_int8
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from search.hardware.cost import count_net
from search.deploy.export import TARGET_FILE, export_onnx, load_weights, save_weights
from search.deploy.runtime import deploy_with, deployment_target
from search.training.fit import fit_and_measure, train_batch
from search.deploy.sources import SOURCES
from search.jobs.launch import Job, launcher_of, memo
from search.registry import load_plugins
from core.device import set_threads
from core.errors import GreenError
from core.io import atomic_folder, write_atomic, write_csv, write_json
from core.validate import of_type, read_json, whole_number
from core.jsontypes import JSONObject

SMALL_INPUT = 64  # images up to this size get a stride-1 stem and no stem max-pool


def check_baseline(source: str, name: str) -> None:
    """``name`` must be a model of ``source`` (a registered :mod:`~search.deploy.sources` library)."""
    if source not in SOURCES:
        raise GreenError(f"unknown baseline source {source!r} for {name!r}: use one of {', '.join(SOURCES.names())}")
    if not SOURCES[source]().has(name):
        raise GreenError(f"unknown {source} model {name!r}")


def build_baseline(source: str, name: str, num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """A randomly initialised ``name`` from ``source``, adapted to the data."""
    check_baseline(source, name)
    model = SOURCES[source]().create(name, num_classes, in_chans)
    adapt_stem(model, in_chans, small=image_size <= SMALL_INPUT)
    return model


def parse_models(entries: Sequence[str] | None) -> dict[str, str]:
    """``["timm/lcnet_050", "torchvision/squeezenet1_1"]`` as ``{name: source}`` (checked, no repeats)."""
    if not entries:
        raise GreenError("no baseline models chosen (models is empty)")
    models: dict[str, str] = {}
    for e in entries:
        source, _, name = str(e).partition("/")
        if source not in SOURCES or not name:
            raise GreenError(f"baseline {e!r} is not <source>/<model> with source one of {', '.join(SOURCES.names())}")
        if name in models:
            raise GreenError(f"baseline {name!r} is listed twice")
        models[name] = source
    return models


def check_model_lr(model_lr: Any, models: Mapping[str, str]) -> None:
    """``model_lr`` must map baselines of this run to positive learning rates."""
    for name, lr in of_type(model_lr or {}, (dict, DictConfig), "model_lr").items():
        if name not in models:
            raise GreenError(f"model_lr names {name!r}, which is not one of the baselines ({', '.join(models)})")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
            raise GreenError(f"model_lr.{name}={lr!r}: expected a positive learning rate")


def adapt_stem(model: nn.Module, in_chans: int, small: bool) -> None:
    """Give the first convolution ``in_chans`` inputs and, for small images, stride 1 and no stem pool."""
    parent, attr, conv = _first_conv(model)
    if conv.in_channels != in_chans or (small and conv.stride != (1, 1)):
        new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, 1 if small else conv.stride, conv.padding,
                        conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
        setattr(parent, attr, new)
    if small and isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):  # ResNet/ShuffleNet-style stems
        model.maxpool = nn.Identity()


def _first_conv(model: nn.Module) -> tuple[nn.Module, str, nn.Conv2d]:
    for full, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            *path, attr = full.split(".")
            return model.get_submodule(".".join(path)), attr, module
    raise GreenError(f"{type(model).__name__} has no convolution to adapt")


def stem_stride(model: nn.Module) -> int:
    """Stride of the first convolution (after adaptation), recorded with each baseline."""
    return int(_first_conv(model)[2].stride[0])


def save_baseline(model: nn.Module, out: Path, meta: JSONObject, onnx: bool,
                  files: Mapping[str, bytes] | None = None) -> Path:
    """``model.safetensors`` + ``model.json`` (+ ``model.onnx``, + a deployment's ``files``: ``model.<target>.onnx``
    and ``deploy.json``), written into a temp folder and renamed, so a folder is whole or absent."""
    bad = sorted(n for n in (files or {}) if n != "deploy.json" and TARGET_FILE.fullmatch(n) is None)
    if bad:
        raise GreenError(f"{bad[0]!r} is not a file of a baseline folder")
    with atomic_folder(out) as tmp:
        model = model.eval().cpu()
        save_weights(model, tmp / "model.safetensors")
        if onnx:
            shape = (2, meta["in_chans"], meta["image_size"], meta["image_size"])
            meta = {**meta, "onnx": export_onnx(model, tmp / "model.onnx", shape)}
        for name, data in (files or {}).items():
            write_atomic(tmp / name, data)
        write_json(tmp / "model.json", meta)
    return out


def load_baseline(folder: str | Path) -> nn.Module:
    """Rebuild a saved baseline from ``model.json`` (source and name only: no code or pickle is loaded)."""
    folder = Path(folder)
    path = folder / "model.json"
    if not path.is_file():
        raise GreenError(f"{str(folder)!r} is not a baseline folder (model.json missing)")
    meta = of_type(read_json(path, "baseline description"), dict, f"baseline description {str(path)!r}")
    where = f"baseline description {str(path)!r}"
    model = build_baseline(of_type(meta.get("source"), str, f"{where}: source"),
                           of_type(meta.get("name"), str, f"{where}: name"),
                           *(whole_number(meta.get(k), f"{where}: {k}", 1)
                             for k in ("num_classes", "in_chans", "image_size")))
    try:
        model.load_state_dict(load_weights(folder / "model.safetensors"))
    except RuntimeError as err:  # weights of another model or size
        raise GreenError(f"cannot load the baseline in {str(folder)!r}: {str(err).splitlines()[0]}") from None
    model.meta = meta
    return model.eval()


def _state(cfg: DictConfig) -> tuple[Any, list]:
    """The data and the calibration batches."""
    dm = instantiate(cfg.data)
    dm.setup("fit")
    return dm, dm.calib_batches(cfg.calib_images)


def baseline_job(cfg: DictConfig, job: Job) -> None:
    """Train, test and measure one baseline (``job.payload``: name, source) with the job's seed."""
    load_plugins(cfg.get("plugins") or ())  # a worker process imports the plug-in sources too
    dm, calib = memo(cfg, _state)
    pl.seed_everything(job.seed, workers=True)
    name, source, folder = job.payload["name"], job.payload["source"], Path(job.folder)
    if name in (cfg.get("model_lr") or {}):  # its own learning rate: the row's budget states it
        cfg = OmegaConf.merge(cfg, {"optimizer": {"lr": float(cfg.model_lr[name])}})
    n_cls, in_chans, res = dm.num_classes, dm.in_chans, dm.image_size
    model = build_baseline(source, name, n_cls, in_chans, res)
    params, macs = count_net(model, res, in_chans)
    row = {"name": name, "arch": "", "kind": "baseline", "source": source, "replicate": job.replicate,
           "init": "scratch", "distilled": False, "stem_stride": stem_stride(model), "params": params,
           "macs": macs, **fit_and_measure(model, folder.name, dm, cfg, Path(cfg.paths.output_dir), calib, None,
                                           job.seed, res, n_cls, in_chans, callbacks=[job.progress("green-baselines")]
                                           ).started("scratch").to_json()}
    chosen, files = deployment_target(cfg), {}
    if chosen is not None:  # the test accuracy of the runtime the baseline is deployed to, not only torch's
        record, files = deploy_with(cfg, model, chosen, dm, "test", f"{source}/{name}")
        row.update(record.summary())
    save_baseline(model, folder, {"name": name, "source": source, "num_classes": n_cls, "in_chans": in_chans,
                                  "image_size": res, "classes": list(dm.classes), "mean": list(dm.mean),
                                  "std": list(dm.std), "result": row}, onnx=cfg.onnx, files=files)
    lat = f", latency {row['latency_ms']:.2f} ms" if "latency_ms" in row else ""
    print(f"green-baselines: {name} (seed {job.seed}): test acc {row['test_acc']:.4f}{lat} -> {folder}", flush=True)


def baselines(cfg: DictConfig) -> list[JSONObject]:
    """Train, test and measure every configured baseline through the config's launcher; returns one row per
    model and seed (as green-finetune)."""
    launcher_of(cfg).check(cfg, "green-baselines")
    load_plugins(cfg.get("plugins") or ())
    models = parse_models(cfg.models)
    for name, source in models.items():  # fail on a misspelt name before hours of training
        check_baseline(source, name)
    check_model_lr(cfg.get("model_lr"), models)
    deployment_target(cfg)  # a target this machine cannot serve: one line before any training
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    memo(cfg, _state)
    seeds = int(cfg.get("seeds", 1))
    payloads = [{"name": n, "source": src} for n, src in models.items()]
    rows = train_batch(cfg, list(models), out / "models", "model.json", "green-baselines", baseline_job, payloads,
                       seeds)
    write_json(out / "baselines.json", {"models": rows, "seeds": seeds})
    write_csv(out / "baselines.csv", [{k: v for k, v in r.items() if k != "test_correct"} for r in rows])  # JSON only
    print(f"green-baselines: {len(rows)} models ({len(models)} baselines x {seeds} seeds) -> "
          f"{out / 'baselines.json'} (models in {out / 'models'})")
    return rows

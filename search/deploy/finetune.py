"""``green-finetune``: extract the winners of a search and fine-tune each standalone (Hydra app).

Each winner starts from its inherited weights (or from scratch with ``from_scratch=true``, the
baseline of the ranking benchmark) and is trained with Lightning on the training split, optionally
distilled from the supernet's largest subnet. The energy of each fine-tune is booked with
codecarbon (offline). Afterwards, on the held-out test split: accuracy and macro recall; on the
device: measured (not predicted) latency and energy. Each model is saved as an extraction folder
under ``models/``; a finished model is skipped when the command runs again on the same folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.loggers import TensorBoardLogger
from timm.optim import param_groups_weight_decay
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassRecall

from search.hardware.cost import count
from supernet.energy import MEASURED_SOURCES, find_meter, measure_power, track_energy
from search.deploy.export import save_subnet
from search.hardware.timing import measure, runner, set_threads
from supernet.bn import recalibrate_bn
from supernet.checkpoint import load_matching
from supernet.errors import GreenError, TrainingError
from supernet.io import write_csv, write_json
from supernet.module import distill_loss
from supernet.net import GreenNet, extract_subnet
from supernet.space import ArchConfig, SearchSpace
from supernet.validate import check_options, finite_number, read_json


class SubnetModule(pl.LightningModule):
    """Trains one static network: label-smoothed cross-entropy, optionally + KD from a frozen teacher."""

    def __init__(self, model: torch.nn.Module, optimizer: Callable, scheduler: Callable | None = None,
                 label_smoothing: float = 0.1, teacher: torch.nn.Module | None = None, kd_ratio: float = 1.0,
                 seed: int = 0, num_classes: int | None = None, name: str | None = None, l1: float = 0.0):
        super().__init__()
        self.model, self.optimizer_fn, self.scheduler_fn = model, optimizer, scheduler
        self.label_smoothing, self.kd_ratio, self.seed, self.l1 = label_smoothing, kd_ratio, seed, l1
        self.name = name or str(getattr(model, "arch", type(model).__name__))
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []  # not a submodule
        self._sched = None
        self.images_seen = 0  # training images actually processed: the budget a report states
        n = num_classes or model.num_classes
        self.metrics = torch.nn.ModuleDict({
            split: MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                                     "recall": MulticlassRecall(n, average="macro")}) for split in ("val", "test")})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self):
        wd = getattr(self.optimizer_fn, "keywords", {}).get("weight_decay", 0.0)
        return self.optimizer_fn(param_groups_weight_decay(self.model, wd))

    def on_fit_start(self) -> None:
        self.model.train()  # an extracted subnet arrives in eval mode; Lightning keeps modes as found

    def on_train_start(self) -> None:
        if self.scheduler_fn is not None:
            steps = self.trainer.max_epochs * self.trainer.num_training_batches
            self._sched = self.scheduler_fn(self.optimizers().optimizer, t_initial=steps)
        if self._teacher:
            self._teacher[0].to(self.device)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)
        if self._sched is not None:
            self._sched.step_update(self.global_step)

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.images_seen += int(x.shape[0])
        logits = self.model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if self._teacher and self.kd_ratio > 0:
            with torch.no_grad():
                soft = self._teacher[0](x)
            loss = loss + self.kd_ratio * distill_loss(logits, soft)
        if self.l1 > 0:  # L1 penalty on weights (not biases or norm parameters)
            loss = loss + self.l1 * sum(p.abs().sum() for p in self.model.parameters() if p.ndim > 1)
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss {loss.item()} at step {self.global_step} training {self.name}")
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=x.shape[0])
        self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=True, batch_size=x.shape[0])
        return loss

    def _eval_step(self, batch, split: str) -> None:
        x, y = batch
        self.metrics[split].update(self.model(x), y)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _eval_end(self, split: str) -> None:
        for k, v in self.metrics[split].compute().items():
            self.log(f"{split}/{k}", v, prog_bar=(k == "acc"), sync_dist=True)
        self.metrics[split].reset()

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")


def measure_deployed(model: torch.nn.Module, in_chans: int, resolution: int, device: torch.device,
                     batch_sizes: Sequence[int], cfg: DictConfig) -> dict[str, Any]:
    """Measured latency at each batch size and energy per image on ``device`` (source-labelled)."""
    calls = {bs: runner(model, (bs, in_chans, resolution, resolution), device) for bs in batch_sizes}
    threads = torch.get_num_threads()
    set_threads(cfg.get("threads"))
    try:  # one batch size at a time, as the lookup table measures them
        lat = {bs: measure({bs: calls[bs]}, device, cfg.trials, cfg.warmup, cfg.min_call_ms, seed=0)[bs]
               for bs in batch_sizes}
    finally:
        torch.set_num_threads(threads)
    out: dict[str, Any] = {f"latency_ms_b{bs}": lat[bs]["median"] for bs in batch_sizes}
    out["latency_ms"] = lat[batch_sizes[0]]["median"]
    bs = batch_sizes[-1]
    meter = find_meter(device)
    power = measure_power(calls[bs], cfg.power_window_s, meter, cfg.country_iso_code)
    if power.source in MEASURED_SOURCES:  # counters: subtract idle power over the same window
        idle = measure_power(None, cfg.power_window_s, meter)
        active_w = max(0.0, power.watts - idle.watts)
    else:
        active_w = power.watts
    out["energy_mj_per_image"] = active_w * lat[bs]["median"] / bs
    out["energy_source"] = power.source
    out["energy_batch_size"] = bs
    return out


OPTIMIZERS = ("sgd", "momentum", "adamw", "adam", "rmsprop", "rmsproptf", "lamb", "lion", "nadamw")
INITS = ("default", "glorot", "he")


def make_optimizer(params: Any, name: str = "sgd", lr: float = 0.02, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """timm's optimizer factory by name: ``sgd`` (Nesterov momentum), ``adamw``, ``rmsprop``, ..."""
    from timm.optim import create_optimizer_v2

    if name not in OPTIMIZERS:
        raise GreenError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    finite_number(lr, "learning rate", 0.0, low_open=True)
    return create_optimizer_v2(params, opt=name, lr=lr, weight_decay=weight_decay, momentum=momentum)


def init_weights(model: torch.nn.Module, scheme: str) -> torch.nn.Module:
    """Re-initialise convolution and linear weights: ``glorot`` (Xavier uniform), ``he`` (Kaiming normal,
    fan-out, as for ReLU networks) or ``default`` (the constructor's, untouched); biases to zero."""
    if scheme not in INITS:
        raise GreenError(f"unknown init {scheme!r}; choose from {', '.join(INITS)}")
    if scheme == "default":
        return model
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            if scheme == "glorot":
                torch.nn.init.xavier_uniform_(m.weight)
            else:
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    return model


def recipe(cfg: DictConfig) -> dict[str, Any]:
    """The training recipe of a fine-tuning config, as a report states it (what makes budgets comparable)."""
    opt, sched = cfg.optimizer, cfg.get("scheduler") or {}
    return {"epochs": int(cfg.epochs), "optimizer": str(opt.get("name", opt.get("_target_"))),
            "lr": float(opt.lr), "weight_decay": float(opt.get("weight_decay", 0.0)),
            "schedule": str(sched.get("_target_", "constant")).rsplit(".", 1)[-1]
            + (f" (warmup {sched.get('warmup_t')} steps)" if sched.get("warmup_t") else ""),
            "label_smoothing": float(cfg.label_smoothing), "dropout": cfg.get("dropout"),
            "l1": float(cfg.get("l1") or 0.0), "batch_size": int(cfg.data.batch_size)}


def fit_and_measure(model: torch.nn.Module, name: str, dm: pl.LightningDataModule, cfg: DictConfig, out: Path,
                    calib: list[torch.Tensor], teacher: torch.nn.Module | None, seed: int, resolution: int,
                    num_classes: int, in_chans: int, callbacks: Sequence[pl.Callback] = ()) -> dict[str, Any]:
    """Train one standalone network with the config's recipe, test it, measure it on the device.

    Shared by ``green-finetune`` and ``green-baselines`` so that winners and hand-designed
    networks are trained and measured exactly the same way. ``seed`` drives the initialisation, the
    training order and the augmentation (never the splits), so replicates are independent runs. The
    row states the budget the model
    really got (``budget``: recipe, images seen, training kWh). ``measure.enabled=false`` skips the
    latency/energy measurement (``green-run`` times every final model in one session instead).
    ``callbacks`` join the trainer (``green-table`` records its accuracy curves with one).
    """
    device = torch.device(cfg.measure.device)
    dm = dm.reseeded(seed)  # the replicate's own training order and augmentation, the same splits
    if cfg.get("dropout") is not None:
        if not 0 <= cfg.dropout < 1:
            raise GreenError(f"dropout must lie in [0, 1), got {cfg.dropout}")
        model.drop_rate = float(cfg.dropout)  # dropout before the classifier (GreenNet and timm models)
    module = SubnetModule(model, instantiate(cfg.optimizer), instantiate(cfg.scheduler), cfg.label_smoothing,
                          teacher, cfg.get("kd_ratio", 1.0), seed, num_classes, name, float(cfg.get("l1") or 0.0))
    logger = TensorBoardLogger(str(out / "tb"), name=name, version="", default_hp_metric=False)
    trainer: pl.Trainer = instantiate(cfg.trainer, max_epochs=cfg.epochs, logger=logger, callbacks=list(callbacks),
                                      enable_checkpointing=False, default_root_dir=str(out))
    with track_energy(out / "energy", name, device, cfg.measure.country_iso_code) as energy:
        trainer.fit(module, datamodule=dm)
    if cfg.recalibrate_bn:  # short recipes leave BN running statistics behind the weights
        recalibrate_bn(model, [x.to(module.device) for x in calib])
    test = trainer.test(module, datamodule=dm, verbose=False)[0]
    budget = {**recipe(cfg), "images_seen": module.images_seen, "train_images": len(dm.train_set),
              "distilled": teacher is not None, "train_kwh": energy.result["energy_kwh"]}
    measured = (measure_deployed(model.cpu() if device.type == "cpu" else model, in_chans, resolution, device,
                                 list(cfg.measure.batch_sizes), cfg.measure)
                if cfg.measure.get("enabled", True) else {})
    return {"epochs": cfg.epochs, "seed": seed, "test_acc": test["test/acc"], "test_recall": test["test/recall"],
            "test_images": len(dm.test_set), **measured,
            "train_energy_kwh": energy.result["energy_kwh"], "train_co2eq_kg": energy.result["co2eq_kg"],
            "train_energy_source": energy.result["source"], "train_seconds": energy.result["seconds"],
            "budget": budget}


def read_front(run: str | Path, space: SearchSpace) -> dict[str, Any]:
    """A search run's ``pareto.json``, checked to come from ``space``."""
    path = Path(run) / "pareto.json"
    try:
        pareto = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise GreenError(f"cannot read the search run's {str(path)!r} ({err})") from None
    if pareto.get("space_digest") != space.digest():
        raise GreenError(f"{str(path)!r} comes from another search space than the checkpoint")
    return pareto


def nondominated(rows: Sequence[dict], objectives: Sequence[dict]) -> list[dict]:
    """Rows no other row dominates on ``objectives`` (``{"field", "maximise"}`` each), order kept."""
    def key(r: dict) -> tuple[float, ...]:
        return tuple(-float(r[o["field"]]) if o["maximise"] else float(r[o["field"]]) for o in objectives)

    keys = [key(r) for r in rows]
    return [r for r, a in zip(rows, keys)
            if not any(all(x <= y for x, y in zip(b, a)) and b != a for b in keys)]


def rescore_front(pareto: dict[str, Any], evaluator: Any) -> list[dict[str, Any]]:
    """The search's front re-scored on held-out validation images (``evaluator``), still non-dominated.

    The front was selected on the search's own validation images, so its accuracies are biased
    upwards by the selection; the winners are picked on images the search never looked at.
    """
    rows = []
    for r in pareto["front"]:
        score = evaluator(ArchConfig.parse(r["arch"]))
        rows.append({**r, "search_acc": r.get("acc"), "search_recall": r.get("recall"),
                     "acc": score["acc"], "recall": score["recall"], "select_acc": score["acc"],
                     "select_recall": score["recall"]})
    first = pareto["objectives"][0]
    kept = nondominated(rows, pareto["objectives"])
    return sorted(kept, key=lambda r: r[first["field"]], reverse=bool(first["maximise"]))


def pick_winners(cfg: DictConfig, space: SearchSpace, evaluator: Any = None
                 ) -> tuple[list[ArchConfig], dict[str, dict[str, float]]]:
    """Explicit ``archs``, or ``top_k`` subnets of the search run's front (spread along it, or the top),
    with their held-out selection scores.

    With an ``evaluator`` of held-out validation images the front is first re-scored on them
    (:func:`rescore_front`) and the winners are picked from the re-scored front; the second value
    maps each front arch to its search and selection accuracies (empty without re-scoring).
    """
    if cfg.archs:
        return [space.validate(str(a)) for a in cfg.archs], {}
    pareto = read_front(cfg.run, space)
    rows = rescore_front(pareto, evaluator) if evaluator is not None else pareto["front"]
    front = [r["arch"] for r in rows]
    k = int(cfg.top_k)
    if k < 1:
        raise GreenError(f"top_k must be >= 1, got {k}")
    if cfg.select == "top" or k >= len(front):
        chosen = front[:k]
    elif cfg.select == "spread":
        chosen = [front[round(i * (len(front) - 1) / (k - 1))] for i in range(k)] if k > 1 else front[:1]
    else:
        raise GreenError(f"unknown select {cfg.select!r}: use spread or top")
    scores = {r["arch"]: {f: r[f] for f in ("search_acc", "select_acc", "select_recall")}
              for r in rows} if evaluator is not None else {}
    return [space.validate(a) for a in dict.fromkeys(chosen)], scores


def pick_archs(cfg: DictConfig, space: SearchSpace) -> list[ArchConfig]:
    """The archs :func:`pick_winners` picks without held-out re-scoring."""
    return pick_winners(cfg, space)[0]


def held_out_evaluator(cfg: DictConfig, net: Any, dm: Any) -> Any:
    """Scorer of the validation images the search did not select on (None: no re-scoring asked for).

    The search scored its candidates on the first ``val_images`` validation images (recorded in
    ``pareto.json``); the next ``select_images`` (null: all the rest) re-score its front.
    """
    from search.evolution.evaluate import SubnetEvaluator

    n = cfg.get("select_images")
    if cfg.archs or n == 0:
        return None
    if n is not None and n < 0:
        raise GreenError(f"select_images must be >= 0 (0: no re-scoring), got {n}")
    pareto = read_front(cfg.run, net.space)
    used = pareto.get("val_images")
    if used is None:
        raise GreenError(f"{str(Path(cfg.run) / 'pareto.json')!r} does not record how many validation images the "
                         "search scored on; pass select_images=0 to pick winners without held-out re-scoring")
    dm.setup()
    left = len(dm.val_set) - int(used)
    if left < 1:
        raise GreenError(f"the search scored on all {len(dm.val_set)} validation images, so none is left to "
                         "re-score its front on: give the search fewer (eval.val_images) or pass select_images=0")
    n = left if n is None else min(int(n), left)
    return SubnetEvaluator(net, dm, cfg.calib_images, n, val_offset=int(used))


def replicates(names: Sequence[str], seeds: int, base_seed: int, models: Path, meta_file: str, command: str,
               rows: list[dict[str, Any]], done: str = "trained") -> Iterator[tuple[int, int, Path, int]]:
    """``(replicate, index, folder, seed)`` of every model still to train, seed ``base_seed + index + 1000 *
    replicate``; finished ones (their ``meta_file`` exists) are read back into ``rows`` and skipped.

    Shared by ``green-finetune`` and ``green-baselines``, so both name, seed and resume replicates alike.
    """
    for rep in range(seeds):
        for i, name in enumerate(names):
            folder = models / (name if rep == 0 else f"{name}_s{rep}")
            if (folder / meta_file).is_file():
                done_meta = read_json(folder / meta_file, "finished model's description")
                if not isinstance(done_meta, dict) or not isinstance(done_meta.get("result"), dict):
                    raise GreenError(f"{str(folder / meta_file)!r} holds no 'result' record; remove {str(folder)!r} "
                                     "to train that model again")
                rows.append(done_meta["result"])
                print(f"{command}: {folder.name} already {done}, skipped")
                continue
            seed = base_seed + i + 1000 * rep
            pl.seed_everything(seed, workers=True)
            yield rep, i, folder, seed


def finetune(cfg: DictConfig) -> list[dict[str, Any]]:
    """Fine-tune the chosen subnets, ``seeds`` times each; returns one row of figures per model and seed
    (also finetune.json/.csv)."""
    check_options(cfg)  # epochs, seeds, the recipe and the measurement, before any model trains
    seeds = int(cfg.get("seeds", 1))
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    ckpt = cfg.ckpt or search_ckpt(cfg.run)
    net, _, dm = load_matching(cfg, ckpt)
    archs, selection = pick_winners(cfg, net.space, held_out_evaluator(cfg, net, dm))
    calib = dm.calib_batches(cfg.calib_images)
    teacher = extract_subnet(net, net.space.largest(), calib).eval() if cfg.distill else None
    init = cfg.get("init", "default")
    rows = []
    names = [f"{i:02d}_{arch}" for i, arch in enumerate(archs)]
    for rep, i, folder, seed in replicates(names, seeds, cfg.seed, out / "models", "arch.json", "green-finetune", rows,
                                           "fine-tuned"):
        arch = archs[i]
        model = init_weights(GreenNet(net.space, arch, net.num_classes, net.in_chans), init) \
            if cfg.from_scratch else extract_subnet(net, arch, calib)
        params, macs = count(net.space, arch, net.num_classes, net.in_chans)
        row = {"name": str(arch), "arch": str(arch), "kind": "scratch" if cfg.from_scratch else "winner",
               "replicate": rep, "init": f"scratch ({init})" if cfg.from_scratch else "inherited",
               "distilled": teacher is not None, "params": params, "macs": macs,
               **selection.get(str(arch), {}),
               **fit_and_measure(model, folder.name, dm, cfg, out, calib, teacher, seed, arch.resolution,
                                 net.num_classes, net.in_chans)}
        row["budget"]["init"] = row["init"]
        save_subnet(model, folder, {**row, "result": row, "classes": list(dm.classes), "mean": list(dm.mean),
                                    "std": list(dm.std), "supernet": str(ckpt)}, onnx=cfg.onnx)
        rows.append(row)
        lat = f", latency {row['latency_ms']:.2f} ms" if "latency_ms" in row else ""
        print(f"green-finetune: {arch} (seed {seed}): test acc {row['test_acc']:.4f}{lat} -> {folder}")
    write_json(out / "finetune.json", {"models": rows, "supernet": str(ckpt), "seeds": seeds,
                                       "num_classes": net.num_classes})
    write_csv(out / "finetune.csv", rows)
    return rows


def search_ckpt(run: str | None) -> str:
    if not run:
        raise GreenError("pass ckpt=<supernet checkpoint> (and run=<search run> or archs=[...])")
    try:
        return json.loads((Path(run) / "pareto.json").read_text())["ckpt"]
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise GreenError(f"no supernet checkpoint recorded in {str(Path(run) / 'pareto.json')!r} ({err}); "
                         "pass ckpt=") from None

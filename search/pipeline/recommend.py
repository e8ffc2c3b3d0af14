"""The report's first screen: the model to use, where it is, its figures, and why it was picked.

A user opens the report to find the model to deploy. The recommendation is the chosen winner
(:func:`search.pipeline.classes.chosen_winner`: the best held-out selection accuracy, so the test split
never picks the model it then scores), with its folder, test accuracy, latency and energy. It stays
honest about the search: when a baseline or the winner's own scratch twin beats it beyond noise on
accuracy and on the serving cost, the recommendation says so and names that model, since at this budget
the supernet route did not pay for it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from core.jsontypes import JSONObject
from search.pipeline.classes import chosen_winner
from search.pipeline.summary import dominates

COST = "energy_mj_per_image"


def model_folder(root: Path, m: dict) -> str | None:
    """The folder of a model of the run, relative to the run (``finetune/models/01_<arch>``), if found."""
    models = root / m["stage"] / "models"
    for pattern in (m["name"], f"*_{m['name']}"):
        hits = sorted(p for p in models.glob(pattern) if p.is_dir())
        if hits:
            return hits[0].relative_to(root).as_posix()
    return None


@dataclass(frozen=True)
class Rival:
    """A model that beats the recommended one beyond noise on test accuracy and energy."""

    name: str
    kind: str
    test_acc: float
    energy_mj_per_image: float


@dataclass(frozen=True)
class Recommendation:
    """The recommended model: where it is, its figures, how it was picked (``select_acc``: None when the run did
    not re-score its front on held-out images) and the models that beat it (``beaten_by``)."""

    name: str
    kind: str
    folder: str | None
    test_acc: float
    test_acc_std: float
    seeds: int
    select_acc: float | None
    latency_ms: float
    latency_serving_ms: float
    serving_batch_size: int
    energy_mj_per_image: float
    energy_source: str
    params: int
    macs: int
    beaten_by: tuple[Rival, ...] = ()

    def to_json(self) -> JSONObject:
        return {**asdict(self), "beaten_by": [asdict(m) for m in self.beaten_by]}


def recommended(s: dict, root: Path) -> Recommendation | None:
    """The recommended model's figures and the models that beat it beyond noise on accuracy and energy."""
    w = chosen_winner(s) or (max(s["winners"], key=lambda m: m.get("select_acc") or 0.0) if s["winners"] else None)
    if w is None:
        return None
    rivals = [m for m in s["baselines"] + s["scratch"] if dominates(m, w, COST, beyond_noise=True)]
    return Recommendation(w["name"], w["kind"], model_folder(root, w), w["test_acc"], w["test_acc_std"],
                          len(w["test_acc_per_seed"]), w.get("select_acc"), w["latency_ms"], w["latency_serving_ms"],
                          w["serving_batch_size"], w[COST], w["energy_source"], w["params"], w["macs"],
                          tuple(Rival(m["name"], m["kind"], m["test_acc"], m[COST])
                                for m in sorted(rivals, key=lambda m: -m["test_acc"])))


def recommend_lines(r: Recommendation | None, busy: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The report's first section (markdown lines); ``busy``: the stages that ran under load, said up front."""
    if r is None:
        return []
    spread = f" ± {r.test_acc_std:.3f} over {r.seeds} seeds" if r.seeds > 1 else " (1 seed)"
    where = f"`{r.folder}/`" if r.folder else "its folder was not found in this run"
    why = (f"the winner with the best accuracy on held-out validation images ({r.select_acc:.3f}) that the "
           "search did not score on, so the test split did not pick the model it scores"
           if r.select_acc is not None else
           "the first winner of the front (no held-out re-scoring in this run: select_fraction=0)")
    lines = ["## Recommended model", "",
             f"**{r.name}** ({r.kind}), in {where}: test accuracy **{r.test_acc:.3f}**{spread}; "
             f"latency {r.latency_ms:.3g} ms at batch 1 and {r.latency_serving_ms:.3g} ms at batch "
             f"{r.serving_batch_size}; energy {r.energy_mj_per_image:.3g} mJ/image at batch {r.serving_batch_size} "
             f"({r.energy_source}); {r.params:,} parameters, {r.macs:,} MACs.", "",
             f"Why this one: {why}."]
    if r.beaten_by:
        names = ", ".join(f"{m.name} ({m.kind}, {m.test_acc:.3f})" for m in r.beaten_by)
        lines += ["", f"**But** {names} {'is' if len(r.beaten_by) == 1 else 'are'} more accurate and cheaper "
                  "in energy beyond noise: at this run's budget the supernet route did not pay for this model; "
                  "consider that model instead, or train the supernet longer."]
    if busy:
        lines += ["", f"**Measured under load** (stages {', '.join(sorted(busy))}): other processes used the cores, "
                  "so times and the energies estimated from them are inflated; see Machine load below."]
    return lines + [""]


def builtin_baselines() -> int:
    """How many hand-designed baselines ``green-baselines`` trains by default (``conf/baselines.yaml``)."""
    import conf
    from omegaconf import OmegaConf

    return len(OmegaConf.load(Path(conf.__file__).parent / "baselines.yaml").models)


def scope_lines(s: dict) -> list[str]:
    """Says up front what a quick run left out: baselines of the full set, the front's standalone checks."""
    n, full = len({m["name"] for m in s["baselines"]}), builtin_baselines()
    lines = [] if n >= full else [
        f"This run compares the winners with {n} of the {full} hand-designed baselines (a quick run's budget); "
        "`n_baselines=null`, or `experiment=digits` on these data, compares all of them."]
    if not s.get("fidelity"):
        lines.append("The front was not checked against standalone trainings (no fidelity stage: a quick run's "
                     "budget), so how far its ranking can be trusted is not known here; add `fidelity` to `stages`.")
    return [" ".join(lines), ""] if lines else []

"""green-baselines, green-run and the report: adapted baselines, resumable stages, a self-contained report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from search.deploy.baselines import build_baseline, load_baseline, parse_models, save_baseline, stem_stride
from search.pipeline.summary import acc_noise, dominates, front, summarise
from search.pipeline.overrides import shared_overrides, stage_overrides
from core.errors import GreenError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["timm/mobilenetv3_small_050", "timm/mobilenetv2_050", "timm/ghostnet_050", "timm/lcnet_050",
           "torchvision/shufflenet_v2_x0_5", "torchvision/squeezenet1_1"]


@pytest.mark.parametrize("entry", DEFAULT)
def test_baselines_adapt_to_small_images(entry):
    source, name = entry.split("/")
    for in_chans, size in ((3, 32), (1, 16)):
        model = build_baseline(source, name, 7, in_chans, size).eval()
        assert stem_stride(model) == 1  # small images keep their resolution in the stem
        with torch.no_grad():
            assert model(torch.randn(2, in_chans, size, size)).shape == (2, 7)
    assert stem_stride(build_baseline(source, name, 7, 3, 224)) == 2  # ImageNet-size inputs keep the stem


def test_baseline_save_load_roundtrip(tmp_path):
    model = build_baseline("timm", "lcnet_050", 10, 1, 16).eval()
    meta = {"name": "lcnet_050", "source": "timm", "num_classes": 10, "in_chans": 1, "image_size": 16, "result": {}}
    save_baseline(model, tmp_path / "m", meta, onnx=False)
    back = load_baseline(tmp_path / "m")
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_parse_models_rejects_bad_entries():
    assert parse_models(DEFAULT[:2]) == {"mobilenetv3_small_050": "timm", "mobilenetv2_050": "timm"}
    for bad in ([], ["keras/mobilenet"], ["timm"], ["timm/lcnet_050", "timm/lcnet_050"]):
        with pytest.raises(GreenError):
            parse_models(bad)
    with pytest.raises(GreenError, match="unknown timm model"):
        build_baseline("timm", "no_such_net", 10, 3, 32)


def _row(name, acc, lat, energy, params, kind="baseline", std=0.0, spread=0.0, accs=None):
    accs = accs or [acc]
    return {"name": name, "kind": kind, "test_acc": acc, "test_acc_std": std, "test_acc_per_seed": accs,
            "test_images": 0, "latency_ms": lat, "latency_ms_p10": lat - spread, "latency_ms_p90": lat + spread,
            "energy_mj_per_image": energy, "energy_mj_per_image_p10": energy - spread,
            "energy_mj_per_image_p90": energy + spread, "energy_source": "codecarbon-estimate", "params": params}


def test_dominance_and_front():
    a, b, c = _row("a", 0.9, 1.0, 1.0, 10), _row("b", 0.8, 2.0, 0.5, 20), _row("c", 0.9, 1.0, 1.0, 10)
    assert dominates(a, b, "latency_ms") and not dominates(a, b, "energy_mj_per_image")
    assert not dominates(a, c, "latency_ms")  # equal is not domination
    assert [r["name"] for r in front([a, b], "energy_mj_per_image")] == ["b", "a"]


def test_domination_beyond_noise_needs_both_gaps_above_the_spread():
    w = _row("w", 0.80, 1.0, 1.0, 10, "winner", std=0.02)
    close = _row("b", 0.79, 2.0, 2.0, 10, std=0.005)      # 1 point better, but seeds spread 2 points
    far = _row("b", 0.70, 2.0, 2.0, 10, std=0.005)        # 10 points better
    overlap = _row("b", 0.70, 1.05, 1.05, 10, std=0.005, spread=0.1)  # cheaper only inside the timing spread
    assert dominates(w, close, "latency_ms") and not dominates(w, close, "latency_ms", beyond_noise=True)
    assert dominates(w, far, "latency_ms", beyond_noise=True)
    assert not dominates({**w, "latency_ms_p90": 1.1}, overlap, "latency_ms", beyond_noise=True)
    # with one seed the test-set standard error is the noise: 1 point on 100 images is within it
    one = _row("w", 0.81, 1.0, 1.0, 10, "winner")
    b = _row("b", 0.80, 2.0, 2.0, 10)
    one["test_images"] = b["test_images"] = 100
    assert acc_noise(one, b) == pytest.approx((2 * 0.81 * 0.19 / 100 + 0) ** 0.5, rel=0.05)
    assert not dominates(one, b, "latency_ms", beyond_noise=True)


def _stage(root, stage, rows, kwh, seeds=1):
    path = root / stage
    path.mkdir(parents=True, exist_ok=True)
    name = "baselines.json" if stage == "baselines" else "finetune.json"
    full = [{"test_recall": r["test_acc"], "train_energy_kwh": 0.1, "macs": 1, "replicate": i, "seed": i,
             "epochs": 4, "arch": r["name"], "energy_batch_size": 1, "budget": {"epochs": 4}, **r, "test_acc": a} for r in rows for i, a in enumerate(r["test_acc_per_seed"][:seeds])]
    (path / name).write_text(json.dumps({"models": full, "num_classes": 10}))
    (path / f"energy_{stage}.json").write_text(json.dumps(
        {"energy_kwh": kwh, "co2eq_kg": kwh / 2, "seconds": 1.0, "source": "codecarbon-estimate"}))


def test_summary_counts_dominated_baselines_and_both_amortisations(tmp_path, write_front):
    from supernet.metrics import pack_correct

    w = [_row("w1", 0.9, 1.0, 1.0, 10, "winner", accs=[0.9, 0.9]), _row("w2", 0.8, 0.5, 0.4, 5, "winner",
                                                                          accs=[0.8, 0.8])]
    w[0].update(test_correct=pack_correct([1, 1, 0, 1]), test_images=4)  # per image: the twins' paired comparison
    _stage(tmp_path, "finetune", w, 2.0, seeds=2)
    _stage(tmp_path, "scratch", [{**_row("w1", 0.7, 1.0, 1.0, 10, accs=[0.7, 0.7]),
                                  "test_correct": pack_correct([1, 0, 0, 1]), "test_images": 4}], 16.0, seeds=2)
    _stage(tmp_path, "baselines", [_row("b1", 0.85, 2.0, 0.3, 50, accs=[0.85, 0.85]),
                                   _row("b2", 0.95, 3.0, 3.0, 80, accs=[0.95, 0.95])], 1.0, seeds=2)
    _stage(tmp_path, "mt_train", [_row("m1", 0.9, 1.0, 1.0, 10, accs=[0.9, 0.9])], 2.0, seeds=2)
    for stage, kwh in (("train", 2.0), ("lut", 0.5), ("search", 0.5), ("mt_search", 9.0)):
        (tmp_path / stage).mkdir(exist_ok=True)
        (tmp_path / stage / f"energy_{stage}.json").write_text(json.dumps(
            {"energy_kwh": kwh, "co2eq_kg": kwh / 2, "seconds": 1.0, "source": "codecarbon-estimate"}))
    for stage in ("search", "mt_search"):  # only their evaluation counts and trial budget are read
        write_front(tmp_path / stage, unique_evals=12, multi_trial={"epochs": 1})
    s = summarise(tmp_path)
    assert s["dominated"]["plain"]["latency_ms"] == ["b1"]
    assert s["dominated"]["plain"]["energy_mj_per_image"] == []
    # per seed: (train 2 + lut 0.5 + search 0.5 + finetune 2/2) over scratch 16/2
    assert s["amortisation"]["ratio"] == pytest.approx(4.0 / 8.0)
    mt = s["multi_trial"]
    assert mt["one_shot_kwh"] == pytest.approx(4.0) and mt["multi_trial_kwh"] == pytest.approx(0.5 + 9.0 + 1.0)
    assert mt["energy_ratio"] == pytest.approx(4.0 / 10.5)
    # break-even: supernet 2 kWh; per candidate, scoring 0.5 / 12 and a trial 9 / 12; per deployed model (2 winners
    # x 2 seeds), fine-tune 2 / 4 and scratch 16 / 4
    b = mt["breakeven"]
    assert b["breakeven_candidates"] == pytest.approx(2.0 / (9 / 12 - 0.5 / 12))
    assert b["energy_ratio"] == pytest.approx((2.0 + 0.5) / 9.0)
    assert b["breakeven_deployments"] == pytest.approx(2.0 / (4.0 - 0.5)) and len(b["curves"]["candidates"]) == 50
    from search.pipeline.report import write_report

    tw = s["twins"]["scratch"]  # w1 only (w2 has no twin); per seed and image: winner - twin = [0, 1, 0, 0]
    assert tw["archs"] == ["w1"] and tw["all"]["per_seed_points"] == pytest.approx([25.0, 25.0])
    write_report(tmp_path)  # the report states the break-even and charts it
    md = (tmp_path / "report.md").read_text()
    assert "Winners against their scratch twins (with the scratch recipe)" in md and "**+25.00 points**" in md
    assert "the one-shot route is cheaper beyond **3** candidates" in md and "after **0.6** deployed models" in md
    assert (tmp_path / "report_breakeven.png").stat().st_size > 10_000
    # the one-shot front (0.9 @ 1.0 and 0.8 @ 0.4) covers more than the multi-trial one (0.9 @ 1.0)
    assert mt["test_hv_ratio"] > 1.0
    w1 = next(m for m in s["winners"] if m["name"] == "w1")
    assert w1["total_train_kwh"] == pytest.approx(0.1 + 3.0 / 2)  # own kWh + half of supernet, table and search
    assert s["energy_sources"] == ["codecarbon-estimate"]


def test_stage_and_shared_overrides():
    assert stage_overrides({"epochs": 3, "calib.subnets": 8, "search": {"population": 4}, "models": ["timm/a"],
                            "note": "a b", "flag": False}) == \
        ["epochs=3", "calib.subnets=8", "search.population=4", "models=[timm/a]", "note='a b'", "flag=false"]
    assert shared_overrides(["data=imagefolder", "data.root=/x", "top_k=2", "+trainer.fast_dev_run=1",
                             "pipeline.train.epochs=2", "seed=3", "experiment=cifar10_cpu"]) == \
        ["data=imagefolder", "data.root=/x", "+trainer.fast_dev_run=1", "seed=3", "experiment=cifar10_cpu"]


def _cli(*args, cwd=ROOT, **kw):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, **kw)


@pytest.mark.slow
def test_baselines_cli_bad_model_one_line(tmp_path):
    out = tmp_path / "bl"
    r = _cli("search.commands.baselines", f"hydra.run.dir={out}", "models=[timm/no_such_net]")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["green-baselines: error: unknown timm model 'no_such_net'"]
    assert not (out / "models").exists() and not (out / "baselines.json").exists()


def test_run_cli_bad_stage_one_line(tmp_path):
    r = _cli("search.commands.run", f"hydra.run.dir={tmp_path / 'r'}", "stages=[train,serch]")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "unknown stage 'serch'" in r.stderr


TINY_RUN = ["trainer.enable_progress_bar=false", "top_k=2",
            "stages=[train,lut,search,finetune,scratch,baselines,fidelity,measure,report]", "pipeline.train.epochs=2", "pipeline.recipe.epochs=1",
            "++pipeline.lut={calib.subnets:2,validate.subnets:3,protocol.trials:2,validate.trials:2,protocol.min_call_ms:1,"
            "energy.power_window_s:0.2}",
            "++pipeline.search={search.population:4,search.generations:1,progress:false}",
            "++pipeline.finetune={onnx:false,measure.trials:2,measure.power_window_s:0.2}",
            "++pipeline.scratch={measure.trials:2,measure.power_window_s:0.2}",
            "++pipeline.baselines={models:[timm/lcnet_050,torchvision/squeezenet1_1],measure.trials:2,"
            "measure.power_window_s:0.2}", "measure.trials=2", "measure.power_window_s=0.2",
            "++pipeline.fidelity={table.subnets:3,table.strata:1,table.pool:50,table.seeds:1,calib_images:64}"]


@pytest.mark.slow
def test_run_killed_mid_pipeline_resumes_and_reports(tmp_path):
    """A green-run killed (SIGKILL) after its first stages skips them when rerun and completes the report.

    It runs on ``tiny_wide`` (a width choice on the last stage), so every stage also meets arch strings with widths."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "search.commands.run", f"hydra.run.dir={out}", "space=tiny_wide", *TINY_RUN]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 600
    for line in proc.stdout:
        if line.startswith("green-run: [3/9] search ...") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "train" / "metrics.json").is_file() and (out / "lut" / "lut.json").is_file()
    assert not (out / "report.md").exists()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "green-run: [1/9] train: outputs exist, skipped" in r.stdout
    assert "green-run: [2/9] lut: outputs exist, skipped" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("green-run: done (") and "report.html" in r.stdout
    for f in ("report.md", "report.html", "report.json", "report_latency_ms.png", "search/pareto.json",
              "finetune/finetune.json", "scratch/finetune.json", "baselines/baselines.json"):
        assert (out / f).is_file(), f
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "src='report_" not in html and 'src="report_' not in html  # self-contained
    rep = json.loads((out / "report.json").read_text())
    # K is the number of distinct fine-tuned winners: top_k=2, or fewer when the re-scored front holds one arch
    tuned = {m["name"] for m in json.loads((out / "finetune" / "finetune.json").read_text())["models"]}
    assert rep["amortisation"]["k"] == len(tuned) in (1, 2) and rep["amortisation"]["ratio"] > 0
    assert all(m["arch"].split("_")[2].split("-")[0] in {"w0.5", "w1"} for m in rep["winners"] + rep["scratch"])
    assert {b["name"] for b in rep["baselines"]} == {"lcnet_050", "squeezenet1_1"}
    assert all(rep["ledger"][k]["files"] > 0 for k in ("train", "lut", "search", "finetune", "scratch", "baselines"))
    # equal budgets: twins and baselines get the winners' route (2 supernet epochs + 1 fine-tuning epoch)
    assert {m["budget"]["epochs"] for m in rep["winners"]} == {1}
    assert {m["budget"]["epochs"] for m in rep["scratch"] + rep["baselines"]} == {3}
    assert all(m["budget"]["init"].startswith("scratch") and not m["budget"]["distilled"]
               for m in rep["scratch"] + rep["baselines"])
    # every epoch saw every full batch of the training split (the loader drops a last partial one)
    assert all(m["budget"]["images_seen"] == 3 * (m["budget"]["train_images"] // m["budget"]["batch_size"])
               * m["budget"]["batch_size"] > 0 for m in rep["scratch"] + rep["baselines"])
    # winners were picked on validation images the search did not score on
    pareto = json.loads((out / "search" / "pareto.json").read_text())
    assert 0 < pareto["val_images"] and all(m["select_acc"] is not None for m in rep["winners"])
    # one measurement session, one power figure
    session = json.loads((out / "measure" / "measure.json").read_text())
    assert len({m["power_w"] for m in session["models"].values()}) == 1
    assert set(session["models"]) == {f"finetune/{m['name']}" for m in rep["winners"]} | \
        {f"scratch/{m['name']}" for m in rep["scratch"]} | {f"baselines/{m['name']}" for m in rep["baselines"]}
    md = (out / "report.md").read_text()
    # the first screen: the recommended model (the winner picked on held-out images), its folder, then the charts
    rec = rep["recommended"]
    assert rec["name"] in tuned and (out / rec["folder"] / "arch.json").is_file()
    assert [ln for ln in md.splitlines() if ln.startswith("## ")][:2] == ["## Recommended model", "## Pareto charts"]
    assert "green-baselines model 2/2 squeezenet1_1: epoch 3/3" in r.stdout  # per-model progress lines
    assert "trained from scratch for 3 epochs" in md and "all trained with the same recipe" not in md
    assert not list(out.rglob(".*.tmp"))  # no temporary file left behind by the kill
    # the run's own fidelity: cost-stratified standalone checks with the twins' recipe, scored on held-out images
    fid = json.loads((out / "fidelity" / "fidelity.json").read_text())
    assert fid["n_subnets"] == 3 and fid["recipe"]["epochs"] == 3 and fid["val_offset"] == pareto["val_images"]
    assert {s["role"] for s in fid["subnets"]} == {"smallest", "sampled", "largest"}
    assert -1 <= fid["kendall_tau"] <= 1 and len(fid["top1_regret_points_per_budget"]) == 3
    assert rep["fidelity"]["kendall_tau"] == fid["kendall_tau"] and rep["ledger"]["fidelity"]["files"] == 3
    assert "## How far to trust the front" in md and "3 subnets drawn by cost" in md
    # per-class recall of winners and baselines, and the chosen winner's confusion matrix (issue 18)
    assert "## Recall per class" in md and "### Confusion matrix of the chosen winner" in md
    assert (out / "report_recall.png").is_file() and (out / "report_confusion.png").is_file()
    for m in rep["winners"] + rep["baselines"]:
        assert m["test_recall_min"] <= min(m["test_class_recall"].values()) + 1e-9 and len(m["test_class_recall"]) == 10
        assert sum(map(sum, m["test_confusion"])) == m["test_images"] * len(m["seeds"])


@pytest.mark.parametrize("experiment", ["smoke", "cifar10_cpu", "cifar10_gpu", "cifar10_lt"])
def test_every_preset_composes_with_every_command(compose_cfg, experiment):
    for name in ("train", "lut", "search", "extract", "finetune", "baselines", "run", "hpo"):
        cfg = compose_cfg(name, f"experiment={experiment}")
        assert cfg.data.image_size > 0


def test_run_refuses_an_unequal_budget_unless_allowed(tmp_path):
    from hydra import compose, initialize_config_module

    from search.pipeline.run import Pipeline

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("run", overrides=[f"paths.output_dir={tmp_path}", "baseline_epochs=1"])
        pipe = Pipeline(cfg)
        (tmp_path / "train").mkdir()
        (tmp_path / "train" / "metrics.json").write_text(json.dumps({"epochs": 4}))
        assert pipe.route_epochs() == 4 + cfg.pipeline.recipe.epochs  # the supernet's epochs and the recipe's
        bl = pipe.compose("baselines", "baselines")
        with pytest.raises(GreenError, match=f"unequal training budget.*epochs 1 vs {pipe.route_epochs()}"):
            pipe.equal_budget(bl, "baselines", cfg.baseline_epochs, pipe.route_epochs())
        assert pipe.equal_budget(bl, "baselines", None, 7).epochs == 7
        lr = pipe.compose("baselines", "baselines", ["optimizer.lr=0.5"])
        with pytest.raises(GreenError, match="lr 0.5 vs"):
            pipe.equal_budget(lr, "baselines", None, 7)
        cfg.allow_unequal_budget = True
        assert Pipeline(cfg).equal_budget(bl, "baselines", 1, 7).epochs == 1


@pytest.mark.parametrize("override,message", [("seeds=0", "seeds must be >= 1"),
                                              ("select_fraction=1.0", "select_fraction must lie in")])
def test_run_bad_protocol_settings_are_one_line(tmp_path, override, message):
    r = _cli("search.commands.run", f"hydra.run.dir={tmp_path / 'r'}", override)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_a_stage_does_not_leak_its_thread_count(tmp_path, compose_cfg):
    """green-lut measures on 1 thread; the stages after it must train with the run's own thread count."""
    from search.pipeline.run import Pipeline

    pipe = Pipeline(compose_cfg("run", output_dir=tmp_path))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        pipe.stage("lut", lambda: False, lambda: torch.set_num_threads(1))
        assert torch.get_num_threads() == 2
        with pytest.raises(ZeroDivisionError):
            pipe.stage("search", lambda: False, lambda: (torch.set_num_threads(1), 1 / 0))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    # run.json keeps the count the stage itself ran on (its load is judged against it), not the run's
    assert json.loads((tmp_path / "run.json").read_text())["stages"]["lut"]["threads"] == 1


def test_one_stage_table_the_runner_walks_and_stages_never_import_the_runner(tmp_path):
    """The stage table is the one list of stages (issue 33): names, order, done-checks; stages.py reads no runner."""
    import ast
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from search.pipeline import stages

    assert stages.STAGES == tuple(s.name for s in stages.STAGE_TABLE)
    assert stages.STAGES[0] == "train" and stages.STAGES[-1] == "report" and set(stages.TRAINED) < set(stages.STAGES)
    run = SimpleNamespace(root=tmp_path, cfg=OmegaConf.create({"ckpt": None, "lut_validate": False}))
    assert not any(s.done(run) for s in stages.STAGE_TABLE)  # an empty folder: nothing is done
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "pareto.json").write_text("{}")
    run.cfg.ckpt = "given.ckpt"  # a given supernet: nothing to train, once its training energy is booked
    assert [s.name for s in stages.STAGE_TABLE if s.done(run)] == ["search"]
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "energy_train.json").write_text("{}")
    assert [s.name for s in stages.STAGE_TABLE if s.done(run)] == ["train", "search"]
    tree = ast.parse(Path(stages.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "search.pipeline.run" not in imported


def test_scratch_ft_twins_train_for_the_fine_tunes_epochs_from_scratch(tmp_path, monkeypatch):
    """The twins at equal fine-tune epochs: the winners' archs, from scratch, no teacher, the fine-tune's epochs
    (not the route's), in their own stage folder."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    import search.deploy.finetune as ft
    from search.pipeline import stages

    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "finetune.json").write_text(json.dumps(
        {"models": [{"arch": "a1"}, {"arch": "a2"}, {"arch": "a1"}]}))
    composed = []

    def compose(name, stage, extra=()):
        composed.append((name, stage, list(extra)))
        return OmegaConf.create({"epochs": 4, "ckpt": None, "archs": None, "stage": stage, "extra": list(extra)})

    run = SimpleNamespace(root=tmp_path, ckpt=tmp_path / "s.ckpt", compose=compose,
                          route_epochs=lambda: 99, equal_budget=None)
    seen = {}
    monkeypatch.setattr(ft, "finetune", lambda cfg: seen.update(cfg=cfg))
    stages.scratch_ft(run)
    cfg = seen["cfg"]
    assert cfg.stage == "scratch_ft" and cfg.epochs == 4 and list(cfg.archs) == ["a1", "a2"]
    assert {"from_scratch=true", "distill=false"} <= set(cfg.extra) and cfg.ckpt == str(tmp_path / "s.ckpt")
    assert "scratch_ft" in stages.TRAINED and "scratch_ft" in stages.STAGES


def test_eq_stages_search_at_the_multi_trial_count_and_fine_tune_like_the_winners(tmp_path, monkeypatch):
    """The one-shot route at equal candidates: eq_search takes the search's entry, then the multi-trial search's
    (its population and generations win; its multi_trial budget is left out), one-shot mode, and its own entry
    last; eq_finetune fine-tunes eq_search's front with the winners' entry, in its own stage folder."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    import search.deploy.finetune as ft
    from search.pipeline import stages

    cfg = OmegaConf.create({"top_k": 3, "select_fraction": 0.5, "pipeline": {
        "search": {"search.population": 64, "eval.calib_images": 256},
        "mt_search": {"search.population": 16, "search.generations": 3, "multi_trial.epochs": 5},
        "eq_search": {"search.generations": 2}, "finetune": {"onnx": True}}})
    searched = {}
    monkeypatch.setattr(stages, "search", lambda p, stage, extra=(): searched.update(stage=stage, extra=list(extra)))
    run = SimpleNamespace(root=tmp_path, cfg=cfg, ckpt=tmp_path / "s.ckpt")
    stages.eq_search(run)
    extra = searched["extra"]
    assert searched["stage"] == "eq_search" and not any("multi_trial" in o for o in extra)
    assert extra.index("search.population=16") > extra.index("search.population=64")
    assert "search.mode=one_shot" in extra and extra[-1] == "search.generations=2"

    def compose(name, stage, extra=()):
        return OmegaConf.create({"stage": stage, "extra": list(extra), "run": None, "ckpt": None, "top_k": 1})

    run.compose = compose
    seen = {}
    monkeypatch.setattr(ft, "finetune", lambda c: seen.update(cfg=c))
    stages.eq_finetune(run)
    c = seen["cfg"]
    assert c.stage == "eq_finetune" and c.run == str(tmp_path / "eq_search") and c.top_k == 3
    assert "onnx=true" in [o.lower() for o in c.extra]
    assert "eq_finetune" in stages.TRAINED and stages.STAGES.index("eq_search") < stages.STAGES.index("eq_finetune")

"""The report's first screen: the recommended model is picked on held-out images, and a model that beats it
beyond noise is named."""
from __future__ import annotations

from search.pipeline.recommend import recommend_lines, recommended


def _model(name, kind, stage, acc, energy, select=None, std=0.0, seeds=1, spread=0.02):
    return {"name": name, "kind": kind, "stage": stage, "test_acc": acc, "test_acc_std": std,
            "test_acc_per_seed": [acc] * seeds, "test_images": 10_000, "select_acc": select,
            "latency_ms": 1.0, "latency_serving_ms": 10.0, "serving_batch_size": 32,
            "energy_mj_per_image": energy, "energy_mj_per_image_p10": energy * (1 - spread),
            "energy_mj_per_image_p90": energy * (1 + spread), "energy_source": "codecarbon-estimate",
            "params": 1000, "macs": 20000}


def _summary(baselines=()):
    winners = [_model("r24_a", "winner", "finetune", 0.80, 1.0, select=0.70),
               _model("r32_b", "winner", "finetune", 0.90, 2.0, select=0.75),  # picked: best held-out accuracy
               _model("r28_c", "winner", "finetune", 0.95, 3.0, select=0.72)]  # best on test, never picked by it
    return {"winners": winners, "scratch": [], "baselines": list(baselines)}


def test_picks_the_best_held_out_winner_and_finds_its_folder(tmp_path):
    (tmp_path / "finetune" / "models" / "01_r32_b").mkdir(parents=True)
    r = recommended(_summary([_model("lcnet", "baseline", "baselines", 0.85, 0.5)]), tmp_path)
    assert r.name == "r32_b" and r.folder == "finetune/models/01_r32_b" and r.beaten_by == ()
    assert r.to_json()["select_acc"] == 0.75 and r.to_json()["beaten_by"] == []
    text = "\n".join(recommend_lines(r, {"train"}))
    assert text.startswith("## Recommended model") and "**r32_b**" in text and "`finetune/models/01_r32_b/`" in text
    assert "held-out validation images (0.750)" in text and "**But**" not in text
    assert "**Measured under load** (stages train)" in text


def test_a_baseline_better_beyond_noise_is_named():
    better = _model("ghostnet", "baseline", "baselines", 0.95, 1.0)  # +5 points, half the energy
    close = _model("lcnet", "baseline", "baselines", 0.903, 1.0)  # cheaper, but within the test-set error (0.004)
    r = recommended(_summary([better, close]), __import__("pathlib").Path("/nonexistent"))
    assert [m.name for m in r.beaten_by] == ["ghostnet"] and r.folder is None
    assert r.to_json()["beaten_by"][0] == {"name": "ghostnet", "kind": "baseline", "test_acc": 0.95,
                                           "energy_mj_per_image": 1.0}
    text = "\n".join(recommend_lines(r))
    assert "**But** ghostnet (baseline, 0.950) is more accurate and cheaper" in text and "Measured under load" not in text


def test_no_winner_no_section():
    assert recommended({"winners": [], "scratch": [], "baselines": []}, __import__("pathlib").Path(".")) is None
    assert recommend_lines(None) == []

"""A baseline that fails under the shared learning rate gets its own (issue 32): trained with it, and it says so."""
from __future__ import annotations


def test_model_lr_trains_that_baseline_with_its_own_rate_and_its_budget_states_it(tmp_path, compose_cfg):
    from search.deploy.baselines import baselines

    cfg = compose_cfg("baselines", "models=[timm/lcnet_050,torchvision/shufflenet_v2_x0_5]",
                      "model_lr={shufflenet_v2_x0_5: 0.0123}", "epochs=1", "data.train_subset=128",
                      "calib_images=32", "trainer.enable_progress_bar=false", "measure.enabled=false", "onnx=false",
                      output_dir=tmp_path)
    shared = float(cfg.optimizer.lr)
    rows = {r["name"]: r for r in baselines(cfg)}
    assert rows["shufflenet_v2_x0_5"]["budget"]["lr"] == 0.0123 != shared
    assert rows["lcnet_050"]["budget"]["lr"] == shared  # the others keep the shared recipe


def test_the_report_names_baselines_with_their_own_rate():
    from search.pipeline.report import _own_lr

    def model(name, lr):
        return {"name": name, "budget": {"lr": lr}}

    s = {"winners": [model("W1", 0.05)], "baselines": [model("lcnet_050", 0.05), model("squeezenet1_1", 0.01)]}
    assert _own_lr(s) == (" Baselines given their own learning rate (`model_lr`), not the shared recipe's 0.05: "
                          "squeezenet1_1 at 0.01.")
    s["baselines"].pop()
    assert _own_lr(s) == ""


def test_green_run_passes_a_stage_entrys_model_lr_whole(compose_cfg):
    """pipeline.baselines.model_lr reaches green-baselines as one mapping (a dotted key cannot set a null option)."""
    from search.pipeline.overrides import stage_overrides

    over = stage_overrides({"model_lr": {"squeezenet1_1": 0.02}, "epochs": 3})
    assert over == ["model_lr={squeezenet1_1:0.02}", "epochs=3"]
    assert compose_cfg("baselines", *over).model_lr == {"squeezenet1_1": 0.02}

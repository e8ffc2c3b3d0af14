"""``green-run ckpt=...``: a supernet trained elsewhere is priced in the ledger, never booked as free."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from core.errors import GreenError
from search.pipeline import given

RECORD = {"stage": "train", "source": "codecarbon-estimate", "seconds": 120.0, "energy_kwh": 0.0125,
          "co2eq_kg": 0.005, "sessions": 2}


def test_the_run_folders_record_is_booked_and_the_ledger_counts_it(tiny_ckpt, tmp_path):
    """green-train's own layout (<run>/checkpoints/last.ckpt beside <run>/energy_train.json): the train stage books
    that record, the stage is then done, and the ledger's train row is its energy."""
    from search.pipeline import stages
    from search.pipeline.summary import ledger

    want = json.loads((tiny_ckpt.parent.parent / "energy_train.json").read_text())
    run = SimpleNamespace(root=tmp_path, cfg=OmegaConf.create({"ckpt": str(tiny_ckpt)}))
    train = stages.STAGE_TABLE[0]
    assert train.name == "train" and not train.done(run)
    train.run(run)
    assert train.done(run)
    booked = json.loads((tmp_path / "train" / "energy_train.json").read_text())
    assert booked["given_ckpt"] == str(tiny_ckpt) and booked["energy_kwh"] == want["energy_kwh"] > 0
    assert booked["supernet_epochs"] == 2  # the report's "after a supernet of 2 epochs"
    assert ledger(tmp_path)["train"]["energy_kwh"] == pytest.approx(want["energy_kwh"])


def test_a_published_checkpoint_carries_its_record_and_an_unknown_one_is_refused(tiny_ckpt, tmp_path):
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    inside = tmp_path / "published" / "supernet.ckpt"
    inside.parent.mkdir()
    torch.save({**ckpt, "green": {**ckpt["green"], "train_energy": RECORD}}, inside)
    got = given.training_energy(inside)
    assert got.energy_kwh == 0.0125 and got.found_in == str(inside) and got.record["sessions"] == 2

    lone = tmp_path / "lone" / "sub" / "last.ckpt"  # no record inside, beside it or in its run folder
    lone.parent.mkdir(parents=True)
    shutil.copy(tiny_ckpt, lone)
    with pytest.raises(GreenError, match="training energy is unknown"):
        given.book(lone, tmp_path / "run" / "train")
    assert not (tmp_path / "run").exists()  # nothing half-written

    torch.save({**ckpt, "green": {**ckpt["green"], "train_energy": {"energy_kwh": 1.0}}}, inside)
    with pytest.raises(GreenError, match="has no co2eq_kg"):
        given.training_energy(inside)


def test_reference_publishing_embeds_the_record(tiny_ckpt, tmp_path):
    """bench/reference.py's slim checkpoint is found by green-run with no file beside it."""
    import bench.reference

    run = tmp_path / "run"
    shutil.copytree(tiny_ckpt.parent.parent, run)
    (run / ".hydra").mkdir(exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text("epochs: 2\n")
    bench.reference.main(["--run", str(run), "--out", str(tmp_path / "out")])
    published = tmp_path / "out" / "supernet.ckpt"
    assert not (tmp_path / "out" / "energy_train.json").exists()
    got = given.training_energy(published)
    want = json.loads((run / "energy_train.json").read_text())
    assert got.found_in == str(published) and got.record == want
    assert "optimizer_states" not in torch.load(published, map_location="cpu", weights_only=True)

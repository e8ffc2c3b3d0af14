import json
import os
import pickle

import pytest
import torch
from hydra.utils import instantiate

from search.deploy.export import load_subnet
from search.deploy.extract import extract
from supernet.checkpoint import load_supernet, read_checkpoint
from core.errors import ArchError, CheckpointError, GreenError
from supernet.net import extract_subnet

ARCH = "r16_k5e3-k3e2_k3e3"


@pytest.fixture
def extract_cfg(compose_cfg):
    """``extract_cfg(out, ckpt, *overrides)``: green-extract's config on 128 calibration and 100 validation images."""
    return lambda out, ckpt, *overrides: compose_cfg("extract", f"ckpt={ckpt}", "calib_images=128", "val_images=100",
                                                     *overrides, output_dir=out)


@pytest.mark.slow
def test_extract_folder_loads_without_supernet_and_matches(tmp_path, tiny_ckpt, tiny_table, compose_cfg, extract_cfg):
    out = extract(extract_cfg(tmp_path, tiny_ckpt, f"arch={ARCH}", f"table={tiny_table}"))
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "arch.json", "model.onnx", "card.md"}
    meta = json.loads((out / "arch.json").read_text())
    assert meta["arch"]["arch"] == ARCH and meta["energy_source"] == "codecarbon-estimate"
    assert 0 <= meta["val_acc"] <= 1 and meta["params"] > 0 and len(meta["classes"]) == 10
    pytest.importorskip("onnxruntime")
    assert meta["onnx"]["checked"] and meta["onnx"]["max_abs_diff"] < 1e-3
    model = load_subnet(out)
    # the same subnet extracted from the supernet with the same calibration images
    net, _ = load_supernet(tiny_ckpt)
    dm = instantiate(compose_cfg("train").data)
    calib = dm.calib_batches(128, 256)
    ref = extract_subnet(net, ARCH, calib).eval()
    x = torch.randn(5, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)
    assert "load_subnet" in (out / "card.md").read_text()


def test_extract_by_pareto_index(tmp_path, tiny_ckpt, tiny_space, extract_cfg, write_front):
    run = write_front(tmp_path / "search", ["r12_k3e2_k3e2", ARCH], tiny_space.digest())
    out = extract(extract_cfg(tmp_path, tiny_ckpt, f"pareto={run}", "index=1", "onnx=false"))
    assert load_subnet(out).arch == tiny_space.validate(ARCH)


@pytest.mark.parametrize("overrides, error, message", [
    (["arch=r16_k7e2_k3e2"], ArchError, "kernel_size 7 not in choices"),
    (["arch=r16_k3e2__"], ArchError, "malformed"),
    ([], ArchError, "no subnet given"),
    (["pareto={run}", "index=5"], GreenError, "pareto index 5 is out of range: the front has 2"),
    (["pareto={other}"], GreenError, "comes from search space"),
    (["arch=" + ARCH, "out={tmp}/afile/model"], GreenError, "cannot write output folder"),
    (["arch=" + ARCH, "out={tmp}/exists"], GreenError, "already exists"),
])
def test_extract_bad_input_leaves_nothing(tmp_path, tiny_ckpt, tiny_space, extract_cfg, write_front, overrides, error,
                                          message):
    run = write_front(tmp_path / "search", ["r12_k3e2_k3e2", ARCH], tiny_space.digest())
    other = write_front(tmp_path / "other", [ARCH], "0" * 16)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "exists").mkdir()
    overrides = [o.format(run=run, other=other, tmp=tmp_path) for o in overrides]
    before = set(os.listdir(tmp_path))
    with pytest.raises(error, match=message):
        extract(extract_cfg(tmp_path, tiny_ckpt, *overrides))
    assert set(os.listdir(tmp_path)) == before


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/green_cnn_pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the planted payload's own protocol
@pytest.mark.parametrize("protocol, message", [(2, "refused: .*GLOBAL posix.system"),
                                               (pickle.HIGHEST_PROTOCOL, "evil.ckpt")])
def test_malicious_checkpoint_is_refused_without_executing(tmp_path, protocol, message):
    marker = "/tmp/green_cnn_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    bad = tmp_path / "evil.ckpt"
    torch.save({"green": {}, "state_dict": {}, "x": _Payload()}, bad, pickle_protocol=protocol)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(bad)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("content, message", [(b"", "corrupt or truncated"), (b"garbage" * 10, "corrupt or truncated")])
def test_corrupt_checkpoint(tmp_path, content, message):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(bad)


def test_truncated_real_checkpoint(tmp_path, tiny_ckpt):
    data = tiny_ckpt.read_bytes()
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.ckpt"):
        load_supernet(bad)


def test_load_subnet_errors(tmp_path):
    with pytest.raises(GreenError, match="not an extraction folder"):
        load_subnet(tmp_path)


def test_a_tampered_arch_json_or_non_finite_weights_are_refused(tmp_path, tiny_space):
    """The weights carry the digest of the arch they were saved with: an arch.json edited (or swapped) after the
    save is refused, as are weights holding NaN; a folder saved before the digest existed still loads."""
    import torch
    from safetensors.torch import load_file, save_file

    from search.deploy.export import arch_digest, save_subnet, weights_metadata
    from supernet.net import GreenNet

    net = GreenNet(tiny_space, tiny_space.smallest(), 10, 1)
    out = save_subnet(net, tmp_path / "m", onnx=False)
    assert weights_metadata(out / "model.safetensors") == {"arch_sha256": arch_digest(net.arch.to_dict())}
    assert str(load_subnet(out).arch) == str(net.arch)
    meta = json.loads((out / "arch.json").read_text())
    other = GreenNet(tiny_space, tiny_space.largest(), 10, 1)
    (out / "arch.json").write_text(json.dumps({**meta, "arch": other.arch.to_dict()}))
    with pytest.raises(GreenError, match="describes another arch than the weights beside it were saved with"):
        load_subnet(out)
    (out / "arch.json").write_text(json.dumps(meta))
    state = load_file(str(out / "model.safetensors"))
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    save_file(state, str(out / "model.safetensors"))  # no metadata: as a folder from before the digest
    with pytest.raises(GreenError, match=f"holds non-finite values \\(NaN or inf\\) in {first}"):
        load_subnet(out)
    state[first] = torch.zeros_like(state[first])
    save_file(state, str(out / "model.safetensors"))
    assert str(load_subnet(out).arch) == str(net.arch)  # no digest stored: accepted as before

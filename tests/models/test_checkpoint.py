"""Checkpoints: bit-exact round trip, and clear errors for corrupted, truncated or mismatched files."""
from __future__ import annotations

import json

import pytest
import torch

from jepa_mpc.models.atomic_io import sha256_file
from jepa_mpc.models.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint
from jepa_mpc.models.config import ProbeConfig, TrainConfig
from jepa_mpc.models.critic import fit_critic
from jepa_mpc.models.probes import fit_probe
from jepa_mpc.models.world_model import WorldModel
from tests.models.blob_data import IMAGE, tiny_model_config


@pytest.fixture
def model() -> WorldModel:
    """A model with non-trivial weights, a probe and a critic attached."""
    torch.manual_seed(0)
    wm = WorldModel(tiny_model_config())
    with torch.no_grad():
        for p in wm.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        wm.encoder.set_normalization(torch.tensor([0.2, 0.3, 0.4]), torch.tensor([0.1, 0.2, 0.3]))
    z = torch.randn(64, 16)
    wm.with_probes({"ee_pos": fit_probe(z, z[:, :3] * 2, ProbeConfig(kind="linear"))})
    return wm.with_critic(fit_critic(z, z[:, 0], steps=20))


@pytest.fixture
def saved(model, tmp_path):
    save_checkpoint(tmp_path / "model", model, train_config=TrainConfig(data="d", out="o"),
                    data_fingerprint={"sha256": "abc"})
    return tmp_path / "model"


def test_round_trip_is_bit_exact(model, saved):
    loaded = WorldModel.from_checkpoint(saved.with_suffix(".safetensors"), device="cpu")
    assert loaded.cfg == model.cfg
    ref, got = model.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    img = torch.randint(0, 256, (3, IMAGE, IMAGE, 3), dtype=torch.uint8)
    actions = torch.rand(3, 5, 8) * 2 - 1
    model.eval()
    with torch.no_grad():
        z_ref, z_got = model.encode(img), loaded.encode(img)
        assert torch.equal(z_ref, z_got)
        assert torch.equal(model.rollout(z_ref, actions), loaded.rollout(z_got, actions))
        assert torch.equal(model.probe("ee_pos", z_ref), loaded.probe("ee_pos", z_got))
        assert torch.equal(model.cost(z_ref), loaded.cost(z_got))
    assert not any(p.requires_grad for p in loaded.parameters())  # loaded for planning: frozen, eval mode
    assert not loaded.training


def test_accepts_folder_stem_and_json_paths(saved):
    for path in (saved.parent, saved, saved.with_suffix(".json")):
        assert load_checkpoint(path, device="cpu").latent_dim == 16


def test_flipped_byte_is_a_checksum_error(saved):
    weights, _ = checkpoint_paths(saved)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(saved, device="cpu")


def test_truncated_weights_are_rejected(saved):
    weights, _ = checkpoint_paths(saved)
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(saved, device="cpu")


def test_truncated_or_missing_config(saved):
    _, meta = checkpoint_paths(saved)
    meta.write_text(meta.read_text()[:200])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(saved, device="cpu")
    meta.unlink()
    with pytest.raises(CheckpointError, match="config missing"):
        load_checkpoint(saved, device="cpu")


def _edit_meta(saved, edit) -> None:
    _, meta_path = checkpoint_paths(saved)
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))


def test_schema_version_mismatch(saved):
    _edit_meta(saved, lambda m: m.update(schema_version=99))
    with pytest.raises(CheckpointError, match="schema version 99"):
        load_checkpoint(saved, device="cpu")


def test_unknown_config_field(saved):
    _edit_meta(saved, lambda m: m["model_config"]["predictor"].update(n_heads=4))
    with pytest.raises(CheckpointError, match=r"unknown fields \['n_heads'\]"):
        load_checkpoint(saved, device="cpu")


def test_config_that_does_not_fit_the_weights(saved):
    _edit_meta(saved, lambda m: m["model_config"].update(latent_dim=32))
    with pytest.raises(CheckpointError, match=r"shape mismatches.*encoder.head.weight: file \[16, 512\] vs model "
                                              r"\[32, 512\]"):
        load_checkpoint(saved, device="cpu")


def test_weights_from_another_model_fail_strict_load(saved, tmp_path):
    other = WorldModel(tiny_model_config())  # no probes, no critic
    save_checkpoint(tmp_path / "other", other)
    weights, meta = checkpoint_paths(saved)
    weights.write_bytes(checkpoint_paths(tmp_path / "other")[0].read_bytes())
    _edit_meta(saved, lambda m: m.update(weights_sha256=sha256_file(weights)))
    with pytest.raises(CheckpointError, match=r"missing \['critic"):
        load_checkpoint(saved, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_load_to_cuda(saved):
    assert load_checkpoint(saved, device="cuda").device.type == "cuda"


def test_cuda_request_without_cuda_is_a_clear_error(saved):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        load_checkpoint(saved, device="cuda")

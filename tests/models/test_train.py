"""Training: the loss falls, the predictor beats "nothing moves", probes beat the mean, resume is bit-identical,
collapse aborts the run, and `jepa-mpc train` works end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_mpc.apps.cli import main
from jepa_mpc.models.checkpoint import load_checkpoint
from jepa_mpc.models.encoder import ConvEncoder
from jepa_mpc.models.monitors import CollapseError
from jepa_mpc.models.run_state import load_train_state
from jepa_mpc.models.train import train
from jepa_mpc.models.world_model import WorldModel
from tests.models.blob_data import blob_image, ee_of, tiny_model_config, tiny_train_config


def test_loss_decreases_and_rollouts_beat_copy_baseline(trained_run):
    _, result = trained_run
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.7 * first["loss"]
    assert last["pred_rollout"] < 0.2 * first["pred_rollout"]
    val = result.val
    for h in (0, len(val["mse"]) - 1):  # one step and the longest horizon
        assert val["mse"][h] < 0.5 * val["copy_mse"][h], (h, val)
    assert last["latent_mean_std"] > 0.1 and last["latent_effective_rank"] > 1.5


def test_probes_beat_mean_baseline_on_held_out_data(trained_run):
    out, result = trained_run
    assert result.probes["ee_err_cm"] < 0.35 * result.probes["ee_baseline_cm"], result.probes
    assert result.probes["joint_mae_rad"] < 0.6 * result.probes["joint_baseline_mae_rad"], result.probes
    # The saved probe also reads positions off frames it has never seen.
    wm = WorldModel.from_checkpoint(out, device="cpu")
    xy = np.random.default_rng(123).uniform(-0.8, 0.8, (200, 2)).astype(np.float32)
    z = wm.encode(torch.as_tensor(np.stack([blob_image(p) for p in xy])))
    err_cm = 100 * (wm.probe("ee_pos", z) - torch.as_tensor(ee_of(xy))).norm(dim=-1).mean()
    baseline_cm = 100 * (torch.as_tensor(ee_of(xy)) - torch.as_tensor(ee_of(xy)).mean(0)).norm(dim=-1).mean()
    assert err_cm < 0.35 * baseline_cm


def test_a_cube_probe_is_fitted_only_when_every_episode_records_the_cube(trained_run, blob_dataset):
    """Push datasets record the cube: fit_probes then also reads it (here the blob stands in for the cube)."""
    from types import SimpleNamespace

    from jepa_mpc.models.data import WindowDataset
    from jepa_mpc.models.evaluation import fit_probes

    out, _ = trained_run
    wm = WorldModel.from_checkpoint(out, device="cpu")
    episodes = WindowDataset(blob_dataset).episodes
    with_cube = [{**ep, "cube_pos": ep["ee_pos"] - np.float32([0.0, 0.0, 0.25])} for ep in episodes]
    train, val = SimpleNamespace(episodes=with_cube[:12]), SimpleNamespace(episodes=with_cube[12:])
    probes, report = fit_probes(wm, train, val, kind="linear")
    assert set(probes) == {"ee_pos", "joint_pos", "cube_pos"} and probes["cube_pos"].cfg.out_dim == 3
    assert report["cube_err_cm"] < 0.35 * report["cube_baseline_cm"], report
    probes, report = fit_probes(wm, train, SimpleNamespace(episodes=episodes[12:]), kind="linear")  # one lacks it
    assert "cube_pos" not in probes and "cube_err_cm" not in report


def test_run_folder_has_model_metrics_and_tensorboard_scalars(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, result = trained_run
    assert result.model_path == out / "model.safetensors"
    assert (out / "model.json").is_file() and (out / "metrics.json").is_file()
    events = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("train/loss", "train/var", "latent/mean_std", "latent/effective_rank", "val/rollout_err_norm_h01",
                "val/rollout_err_norm_h08", "probe/ee_err_cm", "perf/windows_per_s"):
        assert tag in tags, sorted(tags)
    assert "latent/std_per_dim" in events.Tags()["histograms"]


def _final_state(run):
    state, _ = load_train_state(run)
    return state


def _assert_same_state(a: dict, b: dict) -> None:
    flat_a, flat_b = _flatten(a), _flatten(b)
    assert flat_a.keys() == flat_b.keys()
    for key, value in flat_a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, flat_b[key]), key
        else:
            assert value == flat_b[key], key


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        return {k: v for key, sub in obj.items() for k, v in _flatten(sub, f"{prefix}{key}/").items()}
    if isinstance(obj, (list, tuple)) and not all(isinstance(x, (int, float, str, type(None))) for x in obj):
        return {k: v for i, sub in enumerate(obj) for k, v in _flatten(sub, f"{prefix}{i}/").items()}
    return {prefix: obj}


@pytest.mark.parametrize("objective", ["vicreg", "ema"])
def test_resume_continues_bit_identically(blob_dataset, tmp_path, objective):
    # z_dim > 0 with a KL penalty samples noise every step, so this also checks that the RNG state is restored.
    model_cfg = tiny_model_config(predictor=tiny_model_config().predictor.__class__(width=32, cond_dim=16, z_dim=2))
    kw = dict(objective=objective, steps=24, checkpoint_every=12, eval_every=12, log_every=6, batch_size=16)
    straight = train(tiny_train_config(blob_dataset, tmp_path / "straight", **kw), model_cfg)
    first = train(tiny_train_config(blob_dataset, tmp_path / "split", **kw), model_cfg, stop_at=10)
    assert first.steps_done == 10 and first.model_path is None
    resumed = train(tiny_train_config(blob_dataset, tmp_path / "split", **kw), model_cfg, resume=True)
    assert resumed.steps_done == straight.steps_done == 24
    _assert_same_state(_final_state(tmp_path / "straight"), _final_state(tmp_path / "split"))
    a = load_checkpoint(tmp_path / "straight", device="cpu").state_dict()
    b = load_checkpoint(tmp_path / "split", device="cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_dataset(blob_dataset, tmp_path):
    from tests.models.blob_data import write_blob_dataset

    kw = dict(steps=12, checkpoint_every=6, eval_every=6, log_every=6, batch_size=16)
    train(tiny_train_config(blob_dataset, tmp_path / "run", **kw), tiny_model_config(), stop_at=6)
    other = write_blob_dataset(tmp_path / "other", episodes=8, seed=5)
    with pytest.raises(RuntimeError, match="not the dataset"):
        train(tiny_train_config(other, tmp_path / "run", **kw), tiny_model_config(), resume=True)


def test_constant_encoder_aborts_with_collapse_error(blob_dataset, tmp_path, monkeypatch):
    def constant(self, image, proprio=None):  # ignores the image: the collapsed solution
        return self.head.bias.expand(image.shape[0], -1) * 0.0 + 0.5

    monkeypatch.setattr(ConvEncoder, "forward", constant)
    cfg = tiny_train_config(blob_dataset, tmp_path / "run", objective="ema", steps=100, log_every=5,
                            collapse_patience=3)
    with pytest.raises(CollapseError, match="step 15: mean per-dimension latent std 0 stayed below"):
        train(cfg, tiny_model_config())


def test_cli_trains_resumes_and_refuses_to_overwrite(blob_dataset, tmp_path):
    out = tmp_path / "cli_run"
    common = ["--data", str(blob_dataset), "--out", str(out), "--device", "cpu", "--no-progress",
              "--batch-size", "16", "--log-every", "5", "--eval-every", "10", "--checkpoint-every", "10",
              "--eval-horizon", "4", "--probe-kind", "linear", "--latent-dim", "8", "--encoder-widths", "8", "16",
              "--predictor-width", "32", "--expander-dim", "32"]
    assert main(["train", *common, "--steps", "10"]) == 0
    wm = WorldModel.from_checkpoint(out, device="cpu")
    assert wm.latent_dim == 8 and wm.cfg.encoder.widths == (8, 16) and set(wm.probes) == {"ee_pos", "joint_pos"}
    with pytest.raises(SystemExit, match="already holds a training run"):
        main(["train", *common, "--steps", "20"])
    with pytest.raises(SystemExit, match="flags differ: {'lr'"):
        main(["train", "--out", str(out), "--resume", "--lr", "0.1"])
    with pytest.raises(SystemExit, match="TrainConfig.objective must be 'vicreg' or 'ema', got 'simclr'"):
        main(["train", "--data", str(blob_dataset), "--out", str(tmp_path / "bad"), "--objective", "simclr"])
    assert main(["train", "--out", str(out), "--resume", "--steps", "20", "--no-progress"]) == 0
    assert load_train_state(out)[0]["step"] == 20


def test_cli_exit_code_3_on_collapse(blob_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(ConvEncoder, "forward", lambda self, image, proprio=None:
                        self.head.bias.expand(image.shape[0], -1) * 0.0)
    code = main(["train", "--data", str(blob_dataset), "--out", str(tmp_path / "r"), "--device", "cpu",
                 "--no-progress", "--batch-size", "16", "--log-every", "2", "--collapse-patience", "2",
                 "--encoder-widths", "8", "16", "--latent-dim", "8", "--expander-dim", "32"])
    assert code == 3


@pytest.mark.slow
def test_torchrun_two_cpu_processes(blob_dataset, tmp_path):
    """The DDP path (DistributedSampler, gloo, rank-0 checkpoints) with 2 CPU processes, as torchrun starts it."""
    import os
    import pathlib
    import subprocess
    import sys

    out = tmp_path / "ddp"
    torchrun = pathlib.Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc-per-node", "2", "--master-port", str(29500 + os.getpid() % 1000), "-m",
           "jepa_mpc.models.train", "--data", str(blob_dataset), "--out", str(out), "--device", "cpu",
           "--no-progress", "--steps", "12", "--batch-size", "16", "--log-every", "6", "--eval-every", "6",
           "--checkpoint-every", "6", "--latent-dim", "8", "--encoder-widths", "8", "16", "--expander-dim", "32",
           "--eval-horizon", "4", "--probe-kind", "linear"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    state, manifest = load_train_state(out)
    assert state["step"] == 12 and manifest["train_config"]["batch_size"] == 16
    assert WorldModel.from_checkpoint(out, device="cpu").latent_dim == 8


def test_proprio_concat_and_l2_latent_variant_trains(blob_dataset, tmp_path):
    from jepa_mpc.models.config import EncoderConfig, PredictorConfig

    model_cfg = tiny_model_config(
        encoder=EncoderConfig(image_size=32, widths=(8, 16), proprio_dim=9, proprio_key="joint_pos"),
        predictor=PredictorConfig(width=32, cond_dim=16, conditioning="concat", z_dim=2))
    cfg = tiny_train_config(blob_dataset, tmp_path / "run", steps=12, log_every=6, eval_every=6, batch_size=16,
                            z_penalty="l2")
    result = train(cfg, model_cfg)
    assert {"z_penalty", "pred_tf", "var", "cov"} <= set(result.history[-1])
    wm = WorldModel.from_checkpoint(tmp_path / "run", device="cpu")
    z = wm.encode(torch.zeros(2, 32, 32, 3, dtype=torch.uint8), torch.zeros(2, 9))
    assert wm.rollout(z, torch.zeros(2, 3, 8)).shape == (2, 3, 16)

"""Synthetic "blob" dataset whose image encodes the EE position, and tiny configs for fast CPU training.

The blob dataset is fast to write and to learn, yet meaningful: the only thing in each 32x32 frame is a bright
blob at the (x, y) of the end effector, actions move it, so a working encoder + probe must recover ee_pos from
pixels and a working predictor must move the latent with the action.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.config import EncoderConfig, PredictorConfig, TrainConfig, WorldModelConfig
from jepa_mpc.models.episodes import FORMAT, FORMAT_VERSION, write_episode

IMAGE = 32
J = 9
A = 8


def blob_image(xy: np.ndarray, size: int = IMAGE) -> np.ndarray:
    """uint8 [size,size,3]: a Gaussian blob centred at xy in [-1,1]^2 on a dark background."""
    centre = (xy + 1.0) / 2.0 * (size - 1)
    grid = np.arange(size, dtype=np.float32)
    g = np.exp(-((grid[None, :] - centre[0]) ** 2 + (grid[:, None] - centre[1]) ** 2) / (2 * 2.0**2))
    rgb = np.stack([g, 0.6 * g, 0.3 + 0.2 * g], axis=-1) * 255
    return rgb.clip(0, 255).astype(np.uint8)


def ee_of(xy: np.ndarray) -> np.ndarray:
    """The (synthetic) end-effector position in metres for blob position xy [...,2]."""
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([0.45 + 0.2 * x, 0.2 * y, 0.3 + 0.05 * x * y], axis=-1).astype(np.float32)


def write_blob_dataset(root: pathlib.Path, episodes: int = 16, steps: int = 24, seed: int = 0,
                       start: tuple[float, float] = (-0.8, 0.8)) -> pathlib.Path:
    """A dataset in the real on-disk format: actions[:2] move the blob by 0.15 * a per step from a start drawn
    uniformly from `start` (each coordinate)."""
    rng = np.random.default_rng(seed)
    for e in range(episodes):
        xy = np.zeros((steps + 1, 2), np.float32)
        xy[0] = rng.uniform(*start, 2)
        action = np.clip(rng.normal(0, 0.6, (steps, A)), -1, 1).astype(np.float32)
        for t in range(steps):
            xy[t + 1] = np.clip(xy[t] + 0.15 * action[t, :2], -0.9, 0.9)
        x, y = xy[:, 0], xy[:, 1]
        joint_pos = np.stack([x, y, x * y, np.sin(2 * x), np.cos(2 * y), x**2, y**2, 0.04 + 0 * x, 0.04 + 0 * x],
                             axis=-1).astype(np.float32)
        images = np.stack([blob_image(p) for p in xy])
        arrays = {
            "image": images, "joint_pos": joint_pos, "joint_vel": np.zeros_like(joint_pos),
            "ee_pos": ee_of(xy), "ee_quat": np.tile(np.float32([1, 0, 0, 0]), (steps + 1, 1)), "action": action,
            "success": np.zeros(steps + 1, bool), "goal_image": images[-1], "goal_pos": ee_of(xy[-1]),
        }
        write_episode(root, e, arrays, seed=seed + e, policy="random")
    atomic_write_json(root / "dataset.json", {"format": FORMAT, "version": FORMAT_VERSION, "env_id": "test/Blob-v0",
                                              "image_size": IMAGE, "steps": steps, "policy": "random",
                                              "seed": seed, "episodes": episodes})
    return root


def tiny_model_config(**changes) -> WorldModelConfig:
    """A world model small enough to train in seconds on two CPU cores."""
    cfg = WorldModelConfig(latent_dim=16, action_dim=A, encoder=EncoderConfig(image_size=IMAGE, widths=(8, 16, 32)),
                           predictor=PredictorConfig(width=64, depth=2, cond_dim=32))
    return dataclasses.replace(cfg, **changes)


def tiny_train_config(data: pathlib.Path, out: pathlib.Path, **changes) -> TrainConfig:
    """A short CPU training run on the blob dataset."""
    cfg = TrainConfig(data=str(data), out=str(out), steps=150, batch_size=32, rollout_steps=3, lr=3e-3,
                      warmup_steps=10, expander_dim=64, eval_horizon=8, eval_every=50, log_every=10,
                      checkpoint_every=50, probe_kind="linear", device="cpu", progress=False, val_fraction=0.25)
    return dataclasses.replace(cfg, **changes)

"""Speed of the world model on this machine: rollout of K samples x H steps, encode, and training throughput.

    python -m jepa_mpc.models.bench [--checkpoint RUN] [--samples 512] [--horizon 10] [--device cpu] [--threads N]

The planner calls `rollout` once per CEM iteration with K in the hundreds to thousands, so this is the number
that decides the control rate (anchors.md section C). `training_throughput` times a short `train()` run on a
synthetic dataset (used by `jepa-mpc bench`).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import statistics
import tempfile
import time

import numpy as np
import torch

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.models.config import TrainConfig, WorldModelConfig
from jepa_mpc.models.device import resolve_device
from jepa_mpc.models.world_model import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # timing needs the GPU to finish


@torch.no_grad()
def time_ms(fn, device: torch.device, repeats: int = 50, warmup: int = 5) -> dict[str, float]:
    """p50 / p90 / p99 / min wall time of `fn()` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))],
            "p99": times[math.ceil(0.99 * len(times)) - 1], "min": times[0]}  # p99: nearest rank


def benchmark(model: WorldModel, samples: int = 512, horizon: int = 10, repeats: int = 50,
              encode_batches: tuple[int, ...] = (1,)) -> dict[str, dict]:
    """Rollout latency for [samples, horizon] ("rollout") and encode latency for a batch of B frames ("encode_B",
    one per entry of `encode_batches`), on the model's device."""
    device = model.device
    model.eval()
    size = model.cfg.encoder.image_size
    z0 = torch.randn(samples, model.latent_dim, device=device)
    actions = torch.rand(samples, horizon, model.action_dim, device=device) * 2 - 1
    result = {"rollout": time_ms(lambda: model.rollout(z0, actions), device, repeats)}
    for batch in encode_batches:
        image = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, device=device)
        proprio = (torch.zeros(batch, model.cfg.encoder.proprio_dim, device=device)
                   if model.cfg.encoder.proprio_dim else None)
        result[f"encode_{batch}"] = time_ms(lambda i=image, p=proprio: model.encode(i, p), device, repeats)
    return result


def write_synthetic_dataset(root: pathlib.Path, model_cfg: WorldModelConfig, episodes: int, steps: int,
                            seed: int = 0) -> pathlib.Path:
    """A dataset in the real on-disk format with random frames and actions sized for `model_cfg`.

    Only for timing: content does not change the cost of a training step, shapes do.
    """
    from jepa_mpc.models.episodes import FORMAT, FORMAT_VERSION, write_episode

    rng = np.random.default_rng(seed)
    size, joints = model_cfg.encoder.image_size, model_cfg.encoder.proprio_dim or 9
    for e in range(episodes):
        images = rng.integers(0, 256, (steps + 1, size, size, 3), dtype=np.uint8)
        joint_pos = rng.normal(0, 0.5, (steps + 1, joints)).astype(np.float32)
        arrays = {"image": images, "joint_pos": joint_pos, "joint_vel": np.zeros_like(joint_pos),
                  "ee_pos": rng.normal(0.4, 0.1, (steps + 1, 3)).astype(np.float32),
                  "ee_quat": np.tile(np.float32([1, 0, 0, 0]), (steps + 1, 1)),
                  "action": rng.uniform(-1, 1, (steps, model_cfg.action_dim)).astype(np.float32),
                  "success": np.zeros(steps + 1, bool), "goal_image": images[-1],
                  "goal_pos": np.float32([0.5, 0.0, 0.3])}
        write_episode(root, e, arrays, seed=seed + e, policy="random")
    atomic_write_json(root / "dataset.json", {"format": FORMAT, "version": FORMAT_VERSION,
                                              "env_id": "bench/Synthetic-v0", "image_size": size, "steps": steps,
                                              "policy": "random", "seed": seed, "episodes": episodes})
    return root


def training_throughput(model_cfg: WorldModelConfig, device: torch.device | str, steps: int = 30,
                        batch_size: int = 64, rollout_steps: int = 3) -> dict[str, float]:
    """Training windows/s of `steps` optimizer steps of `train()` (data loading + forward + backward + step) on a
    synthetic dataset written to a temporary folder; the model is built from `model_cfg` (probes dropped)."""
    from jepa_mpc.models.train import train

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    model_cfg = dataclasses.replace(model_cfg, probes=())
    episode_steps = 32
    per_episode = episode_steps - rollout_steps + 1
    episodes = 2 + -(-batch_size // per_episode)  # enough training windows for one batch, plus validation
    with tempfile.TemporaryDirectory(prefix="jepa_mpc_bench_train_") as tmp:
        data = write_synthetic_dataset(pathlib.Path(tmp) / "data", model_cfg, episodes, episode_steps)
        never = 10**9  # no logging, validation or periodic checkpoint inside the timed steps
        cfg = TrainConfig(data=str(data), out=str(pathlib.Path(tmp) / "run"), steps=steps + 1, batch_size=batch_size,
                          rollout_steps=rollout_steps, eval_every=never, log_every=never, checkpoint_every=never,
                          device=str(device), progress=False, val_fraction=1.0 / episodes)
        start = time.perf_counter()
        result = train(cfg, model_cfg, stop_at=steps)
        wall = time.perf_counter() - start
    return {"windows_per_s": result.windows_per_s, "steps": result.steps_done, "batch_size": batch_size,
            "rollout_steps": rollout_steps, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="run folder or model file (default: untrained default "
                        "config)")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = (WorldModel.from_checkpoint(args.checkpoint, device) if args.checkpoint
             else WorldModel(WorldModelConfig()).to(device))
    res = benchmark(model, args.samples, args.horizon, args.repeats)
    params = {name: sum(p.numel() for p in getattr(model, name).parameters()) for name in ("encoder", "predictor")}
    print(f"device {device}, {torch.get_num_threads()} threads; params {params}")
    for name, t in res.items():
        print(f"{name:10s} p50 {t['p50']:.2f} ms  p90 {t['p90']:.2f} ms  min {t['min']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

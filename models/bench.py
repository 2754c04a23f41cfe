"""Latency of the world model on this machine: rollout of K samples x H steps, and one-frame encode.

    python -m jepa_mpc.models.bench [--checkpoint RUN] [--samples 512] [--horizon 10] [--device cpu] [--threads N]

The planner calls `rollout` once per CEM iteration with K in the hundreds to thousands, so this is the number
that decides the control rate (anchors.md section C).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from jepa_mpc.models.config import WorldModelConfig
from jepa_mpc.models.device import resolve_device
from jepa_mpc.models.world_model import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # timing needs the GPU to finish


@torch.no_grad()
def time_ms(fn, device: torch.device, repeats: int = 50, warmup: int = 5) -> dict[str, float]:
    """p50 / p90 / min wall time of `fn()` in milliseconds."""
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
    return {"p50": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))], "min": times[0]}


def benchmark(model: WorldModel, samples: int = 512, horizon: int = 10, repeats: int = 50) -> dict[str, dict]:
    """Rollout latency for [samples, horizon] and encode latency for one frame, on the model's device."""
    device = model.device
    model.eval()
    size = model.cfg.encoder.image_size
    z0 = torch.randn(samples, model.latent_dim, device=device)
    actions = torch.rand(samples, horizon, model.action_dim, device=device) * 2 - 1
    image = torch.randint(0, 256, (1, size, size, 3), dtype=torch.uint8, device=device)
    proprio = (torch.zeros(1, model.cfg.encoder.proprio_dim, device=device)
               if model.cfg.encoder.proprio_dim else None)
    return {"rollout": time_ms(lambda: model.rollout(z0, actions), device, repeats),
            "encode_1": time_ms(lambda: model.encode(image, proprio), device, repeats)}


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

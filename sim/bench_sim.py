"""`jepa-mpc bench-sim`: physics steps/s, env steps/s and rendered frames/s of the Panda scene on this machine."""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    parser.add_argument("--json", help="also write the figures to this JSON file")


def _rate(fn, seconds: float) -> float:
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def measure(seconds: float = 2.0) -> dict[str, float]:
    """Rates of physics steps, env steps (with a 64x64 frame) and renders at 64x64 and 224x224."""
    import gymnasium
    import mujoco

    import jepa_mpc.sim  # noqa: F401
    from jepa_mpc.sim.rendering import make_renderer

    env = gymnasium.make("jepa_mpc/PandaReach-v0").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    results = {
        "physics_steps_per_s": _rate(lambda: mujoco.mj_step(env.model, env.data), seconds),
        "env_steps_per_s_64px": _rate(lambda: env.step(rng.uniform(-1, 1, 8)), seconds),
    }
    for size in (64, 224):
        renderer = make_renderer(env.model, size, size)

        def render(renderer=renderer):
            renderer.update_scene(env.data, "front")
            renderer.render()

        results[f"render_fps_{size}px"] = _rate(render, seconds)
        renderer.close()
    env.close()
    return results


def run(args: argparse.Namespace) -> int:
    results = measure(args.seconds)
    for key, value in results.items():
        print(f"{key:24s} {value:10.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0

"""`jepa-mpc collect`: run exploration policies in simulation and write an episode dataset (parallel, resumable).

Episode i is seeded with `episode_seed(seed, i)`, whatever process runs it, so an interrupted run resumed with
`--resume` produces the same dataset as one that was never interrupted. Episodes are written atomically with a
checksum (see models/episodes.py); incomplete ones are redone on resume.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import multiprocessing
import pathlib
import sys
import time

import numpy as np

from jepa_mpc.models.atomic_io import atomic_write_json, remove_stale_temps
from jepa_mpc.models.episodes import FORMAT, FORMAT_VERSION, complete_indices, read_dataset_meta, write_episode
from jepa_mpc.sim.process_pool import spawn_pool
from jepa_mpc.tasks import ARM_REACH, PUSH, TASKS, task_for_env

log = logging.getLogger(__name__)
_worker_envs: dict = {}  # per-process env cache: building the MuJoCo model and GL context costs ~0.2 s


def episode_seed(seed: int, index: int) -> int:
    """Seed of episode `index` in a dataset collected with base `seed` (independent of worker assignment)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _env(env_id: str, image_size: int, robot: str = ""):
    import gymnasium

    import jepa_mpc.sim  # noqa: F401  (registers the ids in this process)

    key = (env_id, image_size, robot)
    if key not in _worker_envs:
        kwargs = {"robot": robot} if robot else {}
        _worker_envs[key] = gymnasium.make(env_id, image_size=image_size, **kwargs).unwrapped
    return _worker_envs[key]


def run_episode(env_id: str, image_size: int, steps: int, seed: int, policy_mix: str, push_home: bool = False,
                robot: str = ""):
    """Roll out one exploration episode; returns (arrays dict in the episode format, policy name). `push_home`:
    push episodes take the arm home once the cube is delivered (sim/exploration.py). `robot`: the arm of the
    any-arm reach cell."""
    from jepa_mpc.sim.exploration import draw_policy_name, make_policy

    env = _env(env_id, image_size, robot)
    task = task_for_env(env_id).exploration
    rng = np.random.default_rng(seed)
    policy_name = draw_policy_name(rng, task, policy_mix)
    policy = make_policy(policy_name, rng, task, push_home=push_home)
    obs, info = env.reset(seed=seed)
    frames = {k: [obs[k]] for k in ("image", "joint_pos", "joint_vel", "ee_pos", "ee_quat")}
    actions, success = [], [info["success"]]
    cubes = [info["cube_pos"]] if "cube_pos" in info else None  # Panda scenes: the object state, for probes
    for _ in range(steps):
        action = policy(env, obs)
        obs, _, _, _, info = env.step(action)
        actions.append(action)
        success.append(info["success"])
        if cubes is not None:
            cubes.append(info["cube_pos"])
        for k in frames:
            frames[k].append(obs[k])
    arrays = {k: np.stack(v) for k, v in frames.items()}
    arrays["image"] = arrays["image"].astype(np.uint8)
    arrays.update(
        action=np.stack(actions).astype(np.float32),
        success=np.array(success, dtype=bool),
        goal_image=env.goal_image.astype(np.uint8),
        goal_pos=env.goal_pos.astype(np.float32),
    )
    if cubes is not None:
        arrays["cube_pos"] = np.stack(cubes).astype(np.float32)
    return arrays, policy_name


def _collect_one(out: str, index: int, env_id: str, image_size: int, steps: int, seed: int, policy_mix: str,
                 push_home: bool = False, robot: str = ""):
    s = episode_seed(seed, index)
    arrays, policy_name = run_episode(env_id, image_size, steps, s, policy_mix, push_home, robot)
    return write_episode(out, index, arrays, seed=s, policy=policy_name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default=None, choices=sorted(TASKS),
                        help=f"environment id (required unless --robot is given, which means {ARM_REACH.env_id})")
    parser.add_argument("--robot", default="",
                        help=f"collect in {ARM_REACH.env_id}, the reach cell built around this arm: 'panda', "
                             "robosuite:NAME, pybullet_data:PATH, or a URDF/MJCF file")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes in the dataset")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="dataset folder")
    parser.add_argument("--steps", type=int, default=None, help="actions per episode (default: the env's limit)")
    parser.add_argument("--image-size", type=int, default=64, help="square camera image size in pixels")
    parser.add_argument("--policy", default="mix", choices=["mix", "random", "reach", "push"],
                        help="exploration policy ('mix' draws one per episode, see sim/exploration.py)")
    parser.add_argument("--push-home", action="store_true",
                        help="Push: once the cube is delivered, the scripted push takes the arm home (the data then "
                             "shows what goal images show: the cube at its goal, the arm at home)")
    parser.add_argument("--workers", type=int, default=0, help="processes (default: CPU count, at most 8)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; episode seeds derive from it")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted collection in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_or_write_meta(out: pathlib.Path, meta: dict, resume: bool) -> None:
    meta_path = out / "dataset.json"
    if meta_path.exists():
        if not resume:
            raise SystemExit(f"{out} already holds a dataset; pass --resume to continue it, or choose a new --out")
        old = {"push_home": False, **read_dataset_meta(out)}  # datasets from before --push-home lack the key
        old.setdefault("robot", "")  # datasets from before --robot lack the key
        keys = ("env_id", "robot", "image_size", "steps", "policy", "seed", "push_home")
        diff = {k: (old.get(k), meta[k]) for k in keys if old.get(k) != meta[k]}
        if diff:
            raise SystemExit(f"--resume with different settings than {meta_path}: {diff}")
        if meta["episodes"] != old.get("episodes"):
            atomic_write_json(meta_path, {**old, "episodes": meta["episodes"]})
        return
    atomic_write_json(meta_path, meta)


def run(args: argparse.Namespace) -> int:

    import jepa_mpc.sim  # noqa: F401

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.episodes < 1:
        raise SystemExit("--episodes must be >= 1")
    if args.robot and args.env not in (None, ARM_REACH.env_id):
        raise SystemExit(f"--robot collects in {ARM_REACH.env_id}; it does not apply to --env {args.env}")
    if args.env is None and not args.robot:
        raise SystemExit("give --env (one of " + ", ".join(sorted(TASKS)) + ") or --robot")
    args.env = args.env or ARM_REACH.env_id
    task = task_for_env(args.env)
    if (args.policy == "push" or args.push_home) and task.exploration != "push":
        raise SystemExit(f"--{'push-home' if args.push_home else 'policy push'} needs --env {PUSH.env_id} "
                         "(a push task)")
    steps = args.steps or task.max_episode_steps
    out: pathlib.Path = args.out
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "env_id": args.env, "robot": args.robot,
            "image_size": args.image_size,
            "steps": steps, "policy": args.policy, "seed": args.seed, "push_home": args.push_home,
            "episodes": args.episodes}
    _check_or_write_meta(out, meta, args.resume)
    removed = remove_stale_temps(out / "episodes")
    done = set(complete_indices(out, verify=True))
    todo = [i for i in range(args.episodes) if i not in done]
    log.info("%s: %d episodes complete, %d to collect%s", out, len(done), len(todo),
             f" ({removed} partial writes discarded)" if removed else "")
    if not todo:
        return 0
    workers = args.workers or min(8, multiprocessing.cpu_count())
    workers = max(1, min(workers, len(todo)))
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="ep", desc="collect", disable=args.no_progress, file=sys.stderr)
    start, successes, by_policy = time.perf_counter(), 0, {}
    job = (args.env, args.image_size, steps, args.seed, args.policy, args.push_home, args.robot)
    if workers == 1:
        results = (_collect_one(str(out), i, *job) for i in todo)
        pool = None
    else:
        pool = spawn_pool(workers)
        futures = [pool.submit(_collect_one, str(out), i, *job) for i in todo]
        results = (f.result() for f in cf.as_completed(futures))
    try:
        for info in results:
            successes += info.success
            by_policy[info.policy] = by_policy.get(info.policy, 0) + 1
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    elapsed = time.perf_counter() - start
    log.info("collected %d episodes (%d steps) in %.1f s: %.0f env steps/s; policies %s; %d reached success",
             len(todo), len(todo) * steps, elapsed, len(todo) * steps / elapsed, by_policy, successes)
    return 0

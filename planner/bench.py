"""Plan latency on this machine: p50/p99 of one full plan (costs + guardrails + final check) for CEM,
gradient and hybrid over K samples, horizon H and iterations, plus encode time. A benchmark, not a test.

    jepa-mpc bench-planner [--quick] [--json PATH] [--checkpoint PATH] [--device auto] [--threads N]
    jepa-mpc bench-planner --fk [--reps N] [--json PATH]

Target (brief): full plan K=512, H=10, 3 CEM iterations under 100 ms on a 2-core CPU.

`--fk` (any-arm issue): FK + guardrails for K=512 x H=20 on CPU, one thread, the generic Robot path
(robots.kinematics.ArmKinematics) against the pre-Robot Panda-specific code (planner/bench_baseline_fk.py: the
serial-chain FK with the Panda's 5 hand-placed check points); goal: the generic path with the same 5 points no
slower than 1.1x. Also timed: the generic path with the Robot's full check-sphere set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import time

import numpy as np
import torch
from torch import nn

from jepa_mpc.models.device import resolve_device, synchronize
from jepa_mpc.planner.config import (
    CEMConfig,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SpeedZone,
    SphereZone,
)
from jepa_mpc.planner.mpc import RecedingHorizonMPC
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.registry import build_guardrails
from jepa_mpc.planner.rollout import integrate_joint_targets
from jepa_mpc.planner.types import PlanContext, Rollout
from jepa_mpc.robots import Robot, load_robot
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.kinematics import ArmKinematics
from jepa_mpc.robots.motion_bound import robot_motion_bound
from jepa_mpc.robots.panda import ACTION_DIM

logger = logging.getLogger(__name__)

FULL = {"samples": (256, 512, 1024), "horizons": (8, 16), "iterations": (3, 6)}
QUICK = {"samples": (256, 512), "horizons": (8,), "iterations": (3,)}
TARGET = (512, 10, 3)  # (K, H, iterations) of the brief's latency target
FK_SHAPE = (512, 20)  # (K, H) of the any-arm issue's FK + guardrails row
FK_GOAL_RATIO = 1.1  # generic FK + guardrails (same 5 points) vs the pre-Robot Panda code


class RandomMLPWorldModel(nn.Module):
    """Stand-in world model with RANDOM weights, used only without --checkpoint (latency, not quality).

    Encoder: three stride-2 convs on a 64x64 RGB image -> 64-d latent. Predictor: residual MLP on (z, a)
    with two hidden layers of 256 units. It satisfies WorldModelLike.
    """

    def __init__(self, latent_dim: int = 64, action_dim: int = ACTION_DIM, hidden: int = 256) -> None:
        super().__init__()
        self.latent_dim, self.action_dim = latent_dim, action_dim
        self.conv = nn.Sequential(
            nn.Conv2d(3, 16, 4, stride=2, padding=1),
            nn.ReLU(),  # 64 -> 32
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.ReLU(),  # 32 -> 16
            nn.Conv2d(32, 32, 4, stride=2, padding=1),
            nn.ReLU(),  # 16 -> 8
        )
        self.head = nn.Linear(32 * 8 * 8, latent_dim)
        self.mlp = nn.Sequential(
            nn.Linear(latent_dim + action_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, latent_dim),
        )

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """image uint8 [B, 64, 64, 3] -> z [B, D]."""
        x = image.permute(0, 3, 1, 2).float() / 255.0  # [B, 3, 64, 64]
        return self.head(self.conv(x).flatten(1))  # [B, 32*8*8] -> [B, D]

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z0 [B, D], actions [B, H, A] -> z_1..z_H [B, H, D]."""
        out, z = [], z0
        for t in range(actions.shape[1]):
            z = z + self.mlp(torch.cat([z, actions[:, t]], dim=-1))
            out.append(z)
        return torch.stack(out, dim=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI arguments of `jepa-mpc bench-planner`."""
    parser.add_argument(
        "--quick", action="store_true", help="small subset: K in {256, 512}, H=8, 3 iterations"
    )
    parser.add_argument(
        "--json", type=str, default=None, help="also write the results as JSON to this path"
    )
    parser.add_argument(
        "--checkpoint",
        type=str,
        default=None,
        help="world-model checkpoint (models/); default: a random MLP stand-in",
    )
    parser.add_argument("--device", type=str, default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's); use 1 on a shared or loaded CPU, where "
        "OpenMP threads contend and latency jumps 5-50x",
    )
    parser.add_argument(
        "--reps", type=int, default=None, help="timed plans per row (default 20 quick, 50 full)"
    )
    parser.add_argument(
        "--methods", type=str, default="cem,gradient,hybrid", help="comma-separated optimisers"
    )
    parser.add_argument(
        "--grad-steps", type=int, default=GradientConfig().steps, help="Adam steps (gradient)"
    )
    parser.add_argument("--refine-steps", type=int, default=5, help="Adam steps after CEM (hybrid)")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the rollout and kinematics"
    )
    parser.add_argument(
        "--fk",
        action="store_true",
        help=f"only FK + guardrails for K={FK_SHAPE[0]} x H={FK_SHAPE[1]} on CPU (one thread): the generic Robot "
        "kinematics against the pre-Robot Panda-specific code (5 hand-placed points), and with the Robot's full "
        "check-sphere set",
    )
    parser.add_argument("--robot", type=str, default="panda",
                        help="arm for the plan-latency rows (load_robot name or file; --fk always times the Panda)")


def load_world_model(checkpoint: str | None, device: torch.device,
                     action_dim: int = ACTION_DIM) -> tuple[WorldModelLike, str, int]:
    """(model, description, image size): the checkpoint's world model, or the random MLP stand-in when None (for
    actions of `action_dim` entries, default the Panda's 7 joints + gripper)."""
    if checkpoint is None:
        torch.manual_seed(0)
        return (RandomMLPWorldModel(action_dim=action_dim).to(device).eval(),
                "random-mlp (conv 64x64 -> 64-d, MLP 2x256)", 64)
    from jepa_mpc.models.world_model import WorldModel  # entry point: may import downward

    model = WorldModel.from_checkpoint(checkpoint, device=device).eval()
    size = int(getattr(getattr(getattr(model, "cfg", None), "encoder", None), "image_size", 64))
    return model, f"checkpoint {checkpoint}", size


def _percentiles(times_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(times_ms)
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
        "n": len(times_ms),
    }


def _time(fn, device: torch.device, reps: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(1e3 * (time.perf_counter() - start))
    return _percentiles(times)


def _rows(args: argparse.Namespace) -> list[tuple[str, int, int, int]]:
    grid = QUICK if args.quick else FULL
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows: list[tuple[str, int, int, int]] = []
    for method in methods:
        horizons = sorted({*grid["horizons"], TARGET[1]})
        if method == "gradient":  # K and iterations mean candidates and Adam steps here
            rows += [(method, GradientConfig().num_candidates, h, args.grad_steps) for h in horizons]
            continue
        rows += [
            (method, k, h, i)
            for k in grid["samples"]
            for h in grid["horizons"]
            for i in grid["iterations"]
        ]
        rows.append((method, *TARGET))
    return list(dict.fromkeys(rows))


def bench_problem() -> tuple[CostConfig, GuardrailConfig]:
    """The planning problem every latency row solves: goal energy + FK pose + action rate, one keep-out sphere and
    one speed zone, so guardrail checks are part of the measured cost."""
    guardrails = GuardrailConfig(
        keep_out=(SphereZone((0.5, 0.35, 0.35), 0.1),),
        speed_zones=(SpeedZone(SphereZone((0.5, 0.0, 0.2), 0.1), 0.1),),
    )
    return CostConfig(terms=("goal_energy", "pose_fk", "action_rate")), guardrails


def encode_latency(
    model: WorldModelLike, device: torch.device, image_size: int, reps: int, robot: Robot | str = "panda",
) -> tuple[dict[str, float], torch.Tensor]:
    """Latency of the planner's encode path for one blank frame (p50/p99/mean ms), and that frame's latent z0."""
    costs, guardrails = bench_problem()
    probe = RecedingHorizonMPC.build(model, MPCConfig(device=str(device)), costs, guardrails, robot=robot)
    image = np.zeros((image_size, image_size, 3), dtype=np.uint8)
    proprio_dim = int(getattr(getattr(getattr(model, "cfg", None), "encoder", None), "proprio_dim", 0))
    proprio = np.zeros(proprio_dim, dtype=np.float32) if proprio_dim else None
    stats = _time(lambda: probe.encode(image, proprio), device, reps)
    return stats, probe.encode(image, proprio)


def plan_latency(
    model: WorldModelLike,
    z0: torch.Tensor,
    device: torch.device,
    method: str,
    samples: int,
    horizon: int,
    iterations: int,
    reps: int,
    *,
    refine_steps: int = 5,
    compile: bool = False,
    robot: Robot | str = "panda",
    parallel_kinematics: bool = False,
) -> dict:
    """p50/p99/mean ms of one full plan (warm-started, as in closed loop) and the most frequent plan status.

    For `gradient`, `samples` is ignored (the GradientConfig's candidate count is used) and `iterations` are Adam
    steps; for `hybrid`, `refine_steps` Adam steps follow the CEM iterations. The arm is `robot`, planning from
    its home pose.
    """
    robot = load_robot(robot)
    costs, guardrails = bench_problem()
    cfg = MPCConfig(
        optimizer=method,
        horizon=horizon,
        device=str(device),
        compile=compile,
        parallel_kinematics=parallel_kinematics,
        max_retries=0,
        cem=CEMConfig(num_samples=samples, iterations=iterations, num_elites=min(32, samples)),
        gradient=GradientConfig(steps=iterations if method == "gradient" else refine_steps),
    )
    mpc = RecedingHorizonMPC.build(model, cfg, costs, guardrails, robot=robot)
    mpc.set_goal(z_goal=torch.zeros_like(z0), ee_goal=[0.55, 0.1, 0.25])
    ctx = PlanContext(
        z0=z0,
        q0=torch.as_tensor(robot.home, dtype=torch.float32, device=device),
        qd0=torch.zeros(robot.dof, device=device),
        z_goal=mpc.z_goal,
        ee_goal=mpc.ee_goal,
    )
    statuses: list[str] = []
    stats = _time(lambda: statuses.append(mpc.plan(ctx).status.value), device, reps)
    return {**stats, "status": max(set(statuses), key=statuses.count)}


def _fk_cases(robot: Robot, device: torch.device) -> list[tuple[str, object, list]]:
    """(label, kinematics, guardrail constraints) of the three FK + guardrails variants, on bench_problem()'s
    guardrails (joint limits, velocity, acceleration, workspace, one keep-out sphere, table, one speed zone)."""
    from jepa_mpc.planner.bench_baseline_fk import (
        PANDA_HAND_PLACED_POINTS,
        PrePandaKinematics,
        PrePandaTableClearance,
    )

    _, guardrails = bench_problem()
    full = guardrails.for_robot(robot)
    points = PANDA_HAND_PLACED_POINTS
    radii = np.array([p.radius for p in points])
    five = dataclasses.replace(full, check_points=points, radii=radii, table_mask=np.ones(len(points), dtype=bool),
                               lever=robot_motion_bound(robot, points).lever)  # the swept bound of these 5 points
    old = PrePandaKinematics(robot.model, points, device=device)
    old_constraints = [
        PrePandaTableClearance(guardrails.table_z_m, guardrails.table_margin_m,
                               torch.as_tensor(radii, dtype=old.dtype, device=device), guardrails.plan_slack)
        if c.name == "table" else c
        for c in build_guardrails(guardrails, five, old)
    ]
    generic5 = ArmKinematics(robot.model, points, robot.model_joint_names, device=device)
    generic = robot.kinematics(device=device)
    return [
        ("pre-Robot Panda FK, 5 hand-placed points", old, old_constraints),
        ("generic ArmKinematics, same 5 points", generic5, build_guardrails(guardrails, five, generic5)),
        (f"generic ArmKinematics, Robot's {generic.num_points} points", generic,
         build_guardrails(guardrails, full, generic)),
    ]


def fk_guardrail_latency(reps: int, samples: int = FK_SHAPE[0], horizon: int = FK_SHAPE[1],
                         robot: Robot | str = "panda", warmup: int = 3) -> dict:
    """FK + guardrails of K x (H+1) joint vectors on CPU with one torch thread, for the pre-Robot Panda code and
    the generic Robot path (see the module docstring). The variants are timed interleaved (one call of each per
    round) so load drift on a shared machine hits them alike; ratios are of medians, against the pre-Robot row."""
    robot = load_robot(robot)
    device = torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cases = _fk_cases(robot, device)
        arm = ArmControlConfig()
        gen = torch.Generator().manual_seed(0)
        actions = torch.rand(samples, horizon, robot.dof + 1, generator=gen) * 2 - 1  # [K, H, A]
        home = torch.as_tensor(robot.home, dtype=torch.float32)
        lower, upper = cases[-1][1].lower, cases[-1][1].upper
        q = integrate_joint_targets(home, actions, arm.max_joint_step_rad, lower, upper)  # [K, H+1, J]
        qd = torch.diff(q, dim=1) / arm.control_period_s
        z = torch.zeros(samples, horizon, 1)
        ctx = PlanContext(z0=torch.zeros(1), q0=home, qd0=torch.zeros(robot.dof))

        def call(kin, constraints) -> torch.Tensor:
            rollout = Rollout(actions=actions, z=z, q=q, qd=qd, points=kin.forward(q), dt=arm.control_period_s)
            return torch.stack([c(rollout, ctx)[1] for c in constraints]).sum(0)  # [K] total violation

        with torch.no_grad():
            same = [call(kin, constraints) for _, kin, constraints in cases[:2]]
            five = [cases[i][1].forward(q) for i in range(2)]
            points_diff = float((five[0] - five[1]).abs().max())
            violation_diff = float((same[0] - same[1]).abs().max())
            for _ in range(warmup):
                for _, kin, constraints in cases:
                    call(kin, constraints)
            times: list[list[float]] = [[] for _ in cases]
            fk_times: list[list[float]] = [[] for _ in cases]
            for _ in range(reps):
                for i, (_, kin, constraints) in enumerate(cases):
                    start = time.perf_counter()
                    call(kin, constraints)
                    times[i].append(1e3 * (time.perf_counter() - start))
                    start = time.perf_counter()
                    kin.forward(q)
                    fk_times[i].append(1e3 * (time.perf_counter() - start))
    finally:
        torch.set_num_threads(threads)
    rows = [{"variant": label, "points": kin.num_points, **_percentiles(t), "fk_p50_ms": float(np.median(f))}
            for (label, kin, _), t, f in zip(cases, times, fk_times, strict=True)]
    base, fk_base = rows[0]["p50_ms"], rows[0]["fk_p50_ms"]
    for row in rows:
        row["ratio"], row["fk_ratio"] = row["p50_ms"] / base, row["fk_p50_ms"] / fk_base
    return {"robot": robot.name, "K": samples, "H": horizon, "threads": 1, "goal_ratio": FK_GOAL_RATIO,
            "max_point_diff_m": points_diff, "max_violation_diff": violation_diff, "rows": rows}


def print_fk(report: dict) -> None:
    """The FK + guardrails table (ms per call, ratio to the pre-Robot code)."""
    print(  # noqa: T201 (CLI output)
        f"FK + guardrails, {report['robot']}, K={report['K']} x H={report['H']} (H+1 joint vectors each), cpu, "
        f"{report['threads']} thread; same-5-points agreement: points {report['max_point_diff_m']:.1e} m, "
        f"violations {report['max_violation_diff']:.1e}"
    )
    print(  # noqa: T201 (CLI output)
        f"{'FK + guardrails variant':<46}{'points':>7}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}"
        f"{'FK-only ms':>12}{'ratio':>8}"
    )
    for i, row in enumerate(report["rows"]):
        note = ""
        if i == 1:
            verdict = "ok" if row["ratio"] <= report["goal_ratio"] else "SLOWER than the goal"
            note = f"  <- goal <= {report['goal_ratio']}x: {verdict}"
        print(  # noqa: T201 (CLI output)
            f"{row['variant']:<46}{row['points']:>7}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
            f"{row['ratio']:>7.2f}x{row['fk_p50_ms']:>12.2f}{row['fk_ratio']:>7.2f}x{note}"
        )


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print a table (and JSON when asked)."""
    if args.fk:
        report = fk_guardrail_latency(args.reps or 100)
        print_fk(report)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump({"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                           "fk_guardrails": report}, fh, indent=2)
            print(f"wrote {args.json}")  # noqa: T201 (CLI output)
        return 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    robot = load_robot(args.robot)
    model, model_name, image_size = load_world_model(args.checkpoint, device, action_dim=robot.dof + 1)
    reps = args.reps or (20 if args.quick else 50)
    encode, z0 = encode_latency(model, device, image_size, reps, robot=robot)

    print(  # noqa: T201 (CLI output)
        f"planner bench: device={device} threads={torch.get_num_threads()} torch={torch.__version__} "
        f"robot={robot.name} world model={model_name}; encode {image_size}x{image_size}: "
        f"p50 {encode['p50_ms']:.2f} ms, p99 {encode['p99_ms']:.2f} ms"
    )
    print(  # noqa: T201 (CLI output)
        f"{'method':<9}{'K':>6}{'H':>5}{'iters':>7}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}  status"
    )
    results = []
    for method, k, h, iters in _rows(args):
        row = plan_latency(
            model, z0, device, method, k, h, iters, reps,
            refine_steps=args.refine_steps, compile=args.compile, robot=robot,
        )
        target = " <- target" if (method, k, h, iters) == ("cem", *TARGET) else ""
        print(  # noqa: T201 (CLI output)
            f"{method:<9}{k:>6}{h:>5}{iters:>7}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}"
            f"{row['mean_ms']:>10.1f}  {row['status']}{target}"
        )
        results.append({"method": method, "K": k, "H": h, "iterations": iters, **row})
    if args.json:
        report = {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "robot": robot.name,
            "world_model": model_name,
            "compile": args.compile,
            "encode": encode,
            "rows": results,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        print(f"wrote {args.json}")  # noqa: T201 (CLI output)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))

"""`jepa-mpc eval`: closed-loop success of the MPC beside baselines, as a table, JSON, a plot and episode GIFs."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import pathlib

import numpy as np

from jepa_mpc.apps.evaluate import IMAGE_COSTS, MPC_POLICIES, POLICIES, EvalSettings, evaluate
from jepa_mpc.models.shipped import SHIPPED_IMAGE_GOAL_PLANNING as TUNED
from jepa_mpc.planner.config import GOAL_MODES
from jepa_mpc.sim.collect import TASK_OF_ENV
from jepa_mpc.sim.reacher_policies import is_reacher
from jepa_mpc.sim.registration import MAX_EPISODE_STEPS

ARM_REACH_ID = "jepa_mpc/ArmReach-v0"

log = logging.getLogger(__name__)
OPTIMIZER_OF = {"cem": "cem", "gd": "gradient", "gradient": "gradient", "hybrid": "hybrid"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default=None,
                        help="environment id (default: jepa_mpc/PandaReach-v0, or jepa_mpc/ArmReach-v0 with --robot)")
    parser.add_argument("--robot", default="",
                        help="any arm, for the reach cell jepa_mpc/ArmReach-v0: 'panda', robosuite:NAME, "
                             "pybullet_data:PATH, or a URDF/MJCF file (learned-model policies need a Panda env)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="episode i uses the goal of seed (seed, i)")
    parser.add_argument("--planner", default="cem", choices=sorted(OPTIMIZER_OF), help="MPC optimiser")
    parser.add_argument("--goal", default="image", choices=["image", "pose"], help="goal given to the MPC")
    parser.add_argument("--checkpoint", default="", help="world-model checkpoint (default: the shipped one)")
    parser.add_argument("--policies", default="mpc,random,oracle,fk-mpc",
                        help=f"comma-separated subset of {','.join(POLICIES)} (mpc: learned model; random: lower "
                             "bound; oracle: scripted with privileged state; fk-mpc: pose goal through known FK; "
                             "sim-mpc: the same MPC with the true simulator as model, the upper bound, slow on CPU)")
    tuned = "default: the tuned value for the task and goal kind (planning_defaults)"
    parser.add_argument("--samples", type=int, default=None, help=f"CEM samples K; {tuned}")
    parser.add_argument("--sim-samples", type=int, default=EvalSettings.sim_num_samples,
                        help="CEM samples of sim-mpc (each one a true physics rollout)")
    parser.add_argument("--horizon", type=int, default=None, help=f"planned steps H; {tuned}")
    parser.add_argument("--iterations", type=int, default=None, help=f"CEM iterations; {tuned}")
    parser.add_argument("--goal-mode", default=None, choices=list(GOAL_MODES),
                        help="goal energy on the last predicted latent, the mean over the horizon, both, or the "
                        f"closest step; {tuned}")
    parser.add_argument("--action-weight", type=float, default=None,
                        help=f"weight of the action-magnitude cost; {tuned}")
    parser.add_argument("--image-cost", default=None, choices=list(IMAGE_COSTS),
                        help="image goals: latent goal energy, or cube_push (the cube's distance to its goal read "
                        f"by the model's cube probe, plus the pull to the pushing spot); {tuned}")
    parser.add_argument("--push-gain", type=float, default=None,
                        help="cube_push: scale on the learned model's predicted pushes (default: 1 / the share of a "
                        "push the checkpoint predicts, measured when it was trained; 1 for sim-mpc)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="control steps per episode (default: the env's time limit)")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/eval"), help="output folder")
    parser.add_argument("--video", type=int, default=0, help="save the first N MPC episodes as GIFs")


@dataclasses.dataclass(frozen=True)
class PlanningDefaults:
    """Planner settings `jepa-mpc eval` uses where no flag overrides them."""

    samples: int = 512
    horizon: int = TUNED.horizon
    iterations: int = 3
    goal_mode: str = TUNED.goal_mode
    action_weight: float = TUNED.action_weight
    image_cost: str = "goal_energy"


def planning_defaults(env_id: str, goal: str) -> PlanningDefaults:
    """The settings tuned per task and goal kind (docs/experiments.md): Panda image goals use the shipped model's
    (models/shipped.py, also the mpc node's), Push image goals the cube-push cost, pose goals the mpc node's
    pose-goal costs, the Reacher its own."""
    if is_reacher(env_id):
        return PlanningDefaults(samples=300, iterations=5, goal_mode="both", action_weight=0.05)
    if goal == "pose":
        return PlanningDefaults(goal_mode="terminal", action_weight=0.01)
    if TASK_OF_ENV.get(env_id) == "push":
        # The goal energy is flat until contact: the cube-push cost (docs/experiments.md, "Push");
        # `both` (end + mean) rather than `closest`: the minimum over the plan rewarded pushing through the goal.
        # Action weight 0.01: at 0.05 the effort of a push outweighed its (model-predicted) gain more often.
        return PlanningDefaults(image_cost="cube_push", goal_mode="both", action_weight=0.01)
    return PlanningDefaults()


def _table(rows: dict[str, dict]) -> str:
    head = f"{'policy':10s} {'success':>8s} {'95% CI':>15s} {'reached':>8s} {'final dist':>11s} {'steps':>6s} " \
           f"{'plan p50':>9s} " \
           f"{'plan p99':>9s} {'interv.':>8s} {'viol.':>6s}"
    lines = [head, "-" * len(head)]
    for name, s in rows.items():
        ci = f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"
        p50 = f"{s['plan_ms_p50']:.1f}" if s["plan_ms_p50"] is not None else "-"
        p99 = f"{s['plan_ms_p99']:.1f}" if s["plan_ms_p99"] is not None else "-"
        steps = f"{s['steps_to_success_mean']:.1f}" if s["steps_to_success_mean"] is not None else "-"
        lines.append(f"{name:10s} {s['success_rate']:8.2f} {ci:>15s} {s['reached_rate']:8.2f} "
                     f"{s['final_distance_mean_m']:10.3f}m "
                     f"{steps:>6s} {p50:>9s} {p99:>9s} {s['interventions']:8d} {s['violations']:6d}")
    return "\n".join(lines)


def _plot(rows: dict[str, dict], curves: dict[str, np.ndarray], tolerance: float, path: pathlib.Path,
          title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(rows)
    rates = np.array([rows[n]["success_rate"] for n in names])
    bounds = np.array([rows[n]["ci95"] for n in names])  # [P, 2]
    err = np.clip(np.stack([rates - bounds[:, 0], bounds[:, 1] - rates]), 0, 1)  # [2, P] for yerr
    ax1.bar(names, rates, yerr=err, capsize=6, color=[f"C{i}" for i in range(len(names))])  # same colours as the curves
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("success rate (95% Wilson CI)")
    ax1.set_title(title)
    for name, dist in curves.items():
        median = np.median(dist, axis=0)
        ax2.plot(median, label=name)
        ax2.fill_between(np.arange(dist.shape[1]), np.percentile(dist, 25, 0), np.percentile(dist, 75, 0), alpha=0.2)
    if math.isfinite(tolerance):
        ax2.axhline(tolerance, color="k", ls="--", lw=0.8, label=f"success tolerance ({tolerance * 100:.1f} cm)")
    ax2.set_xlabel("control step")
    ax2.set_ylabel("distance to goal, m (median, IQR)")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    import imageio

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise SystemExit(f"unknown policies {unknown}; valid: {list(POLICIES)}")
    if args.robot and args.env not in (None, ARM_REACH_ID):
        raise SystemExit(f"--robot builds the reach cell {ARM_REACH_ID} around the arm; it does not apply to "
                         f"--env {args.env}")
    args.env = args.env or (ARM_REACH_ID if args.robot else "jepa_mpc/PandaReach-v0")
    if not args.env.startswith("jepa_mpc/Panda"):
        # On the any-arm cell fk-mpc plans with the arm's known kinematics; the learned models and sim-mpc are the
        # Panda's; the Reacher's mpc plans torques (apps/reacher_mpc.py).
        kept = [p for p in policies if p in ("random", "oracle") or (p == "mpc" and is_reacher(args.env))
                or (p == "fk-mpc" and args.env == ARM_REACH_ID)]
        if kept != policies:
            log.warning("on %s only %s run (the others need the Panda env)", args.env, kept)
        policies = kept
    args.out.mkdir(parents=True, exist_ok=True)
    tuned = planning_defaults(args.env, args.goal)

    def given(value, default):
        return default if value is None else value

    base = EvalSettings(env_id=args.env, robot=args.robot, goal=args.goal, checkpoint=args.checkpoint,
                        optimizer=OPTIMIZER_OF[args.planner], num_samples=given(args.samples, tuned.samples),
                        sim_num_samples=args.sim_samples, horizon=given(args.horizon, tuned.horizon),
                        iterations=given(args.iterations, tuned.iterations),
                        goal_mode=given(args.goal_mode, tuned.goal_mode),
                        action_weight=given(args.action_weight, tuned.action_weight),
                        image_cost=given(args.image_cost, tuned.image_cost), push_gain=args.push_gain,
                        max_steps=given(args.max_steps, MAX_EPISODE_STEPS.get(args.env, 60)),
                        seed=args.seed, device=args.device)
    log.info("planner: %s K=%d (sim-mpc K=%d) H=%d, %d iterations, %s %s, action weight %g; %d steps per episode",
             base.optimizer, base.num_samples, base.sim_num_samples, base.horizon, base.iterations,
             base.image_cost if args.goal == "image" else "pose", base.goal_mode, base.action_weight, base.max_steps)
    rows, curves, episodes = {}, {}, {}
    tolerance = math.nan
    for policy in policies:
        settings = dataclasses.replace(base, policy=policy)
        summary, results = evaluate(settings, args.episodes, args.workers)
        rows[policy] = summary
        curves[policy] = np.array([r.distances for r in results])
        tolerance = results[0].tolerance_m if results else tolerance
        episodes[policy] = [dataclasses.asdict(r) | {"frames": None} for r in results]
        log.info("%s: success %.2f [%.2f, %.2f] in %.0f s", policy, summary["success_rate"], *summary["ci95"],
                 summary["wall_s"])
    if args.video and "mpc" in policies:
        settings = dataclasses.replace(base, policy="mpc", record_frames=True)
        _, results = evaluate(settings, args.video, 1)
        (args.out / "videos").mkdir(exist_ok=True)
        for r in results:
            imageio.mimsave(args.out / "videos" / f"episode_{r.index:03d}.gif", r.frames, duration=0.1, loop=0)
    table = _table(rows)
    print(table)
    report = {"env": args.env, "robot": args.robot or None, "settings": dataclasses.asdict(base), "summary": rows,
              "episodes": episodes}
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=float))
    (args.out / "eval.txt").write_text(table + "\n")
    title = f"{args.env}{f' ({args.robot})' if args.robot else ''}, {args.goal} goal, {args.planner}"
    _plot(rows, curves, tolerance, args.out / "eval.png", title)
    log.info("wrote %s/eval.json, eval.txt, eval.png", args.out)
    # The exit status judges the guardrails: the policies whose commands go through the safety filter. The random
    # and oracle baselines act unfiltered; their violations (a random arm hitting the table) are reported only.
    filtered = [name for name in rows if name in MPC_POLICIES]
    return 0 if all(rows[name]["violations"] == 0 for name in filtered) else 1

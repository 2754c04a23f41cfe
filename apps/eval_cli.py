"""`jepa-mpc eval`: closed-loop success of the MPC beside baselines, as a table, JSON, a plot and episode GIFs."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
import sys
from typing import Annotated, Literal

import numpy as np
import tyro

from jepa_mpc.apps.evaluate import MPC_POLICIES, POLICIES, EvalSettings, evaluate
from jepa_mpc.planner.config import GOAL_MODES, zone_from_text
from jepa_mpc.tasks import ARM_REACH, GOAL_KINDS, REACH, TASKS, Task, task_for_env
from jepa_mpc.tasks.spec import IMAGE_COSTS

ENV_IDS = tuple(sorted(TASKS))

log = logging.getLogger(__name__)
OPTIMIZER_OF = {"cem": "cem", "gd": "gradient", "gradient": "gradient", "hybrid": "hybrid"}


TASK_DEFAULT = tyro.conf.arg(help_behavior_hint="(default: the task's tuned value)")
"""Marks a flag whose unset value comes from the task's PlanningDefaults for the goal kind (jepa_mpc.tasks)."""


@dataclasses.dataclass(frozen=True)
class EvalCommand:
    """`jepa-mpc eval`'s flags are these fields (tyro derives the parser and the help from the docstrings)."""

    env: Annotated[Literal[ENV_IDS] | None, tyro.conf.arg(help_behavior_hint="(default: PandaReach-v0, or "
                                                                            "ArmReach-v0 with --robot)")] = None
    """environment id, i.e. the task"""
    robot: str = ""
    """any arm for the reach cell ArmReach-v0: 'panda', robosuite:NAME, pybullet_data:PATH, or a URDF/MJCF file"""
    episodes: int = 50
    seed: int = 0
    """episode i uses the goal of seed (seed, i)"""
    planner: Literal[tuple(sorted(OPTIMIZER_OF))] = "cem"
    """MPC optimiser"""
    goal: Literal[GOAL_KINDS] = "image"
    """goal given to the MPC"""
    checkpoint: str = ""
    """world-model checkpoint ('': the task's shipped one)"""
    policies: str = "mpc,random,oracle,fk-mpc"
    """comma-separated: mpc (learned model), random, oracle (privileged), fk-mpc (known FK), sim-mpc (sim as model)"""
    samples: Annotated[int | None, TASK_DEFAULT] = None
    """CEM samples K"""
    sim_samples: int = EvalSettings.sim_num_samples
    """CEM samples of sim-mpc (each one a true physics rollout)"""
    horizon: Annotated[int | None, TASK_DEFAULT] = None
    """planned steps H"""
    iterations: Annotated[int | None, TASK_DEFAULT] = None
    """CEM iterations"""
    goal_mode: Annotated[Literal[GOAL_MODES] | None, TASK_DEFAULT] = None
    """goal energy on the last predicted latent, the mean over the horizon, both, or the closest step"""
    action_weight: Annotated[float | None, TASK_DEFAULT] = None
    """weight of the action-magnitude cost"""
    image_cost: Annotated[Literal[IMAGE_COSTS] | None, TASK_DEFAULT] = None
    """image goals: latent goal energy, or cube_push (the hand-shaped Push cost read by the model's cube probe)"""
    push_gain: Annotated[float | None, tyro.conf.arg(
        help_behavior_hint="(default: 1 / the share of a push the checkpoint predicts; 1 for sim-mpc)")] = None
    """cube_push: scale on the learned model's predicted pushes"""
    max_steps: Annotated[int | None, tyro.conf.arg(help_behavior_hint="(default: the env's time limit)")] = None
    """control steps per episode"""
    workers: int = 2
    """processes"""
    device: str = "cpu"
    """auto | cpu | cuda"""
    out: pathlib.Path = pathlib.Path("runs/eval")
    """output folder"""
    video: int = 0
    """save the first N MPC episodes as GIFs"""
    keep_out: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """a keep-out zone in every episode, sphere:X,Y,Z,R or box:XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX (metres)"""
    keep_out_on_path: float = 0.0
    """radius (m) of a keep-out sphere halfway along each episode's straight path to the goal (0: none)"""
    detour: bool = True
    """route goals around keep-out zones through via points (--no-detour: the ablation)"""
    through_ros: bool = False
    """run mpc / fk-mpc episodes through the deployed graph (sim_bridge, mpc, safety_filter as processes) instead
    of in this process; same goals, same checks, same eval.json"""
    camera_size: str = ""
    """mpc image goals: render the camera at WxH (e.g. 640x480) and feed the model through the checkpoint's
    preprocessing, in process and through ROS alike ('': the env's square observation)"""
    camera_encoding: Literal["rgb8", "bgr8", "mono8", "jpeg", "png"] = "rgb8"
    """how the camera delivers frames (jpeg / png: compressed, through their codec; mono8 is refused by a colour
    model)"""
    camera_fps: float = 0.0
    """--through-ros: camera frames per second, independent of the 10 Hz control (0: one per control tick)"""

    def __post_init__(self) -> None:
        for name, least in (("episodes", 1), ("workers", 1), ("video", 0), ("keep_out_on_path", 0),
                            ("camera_fps", 0)):
            if not getattr(self, name) >= least:
                raise SystemExit(f"--{name.replace('_', '-')} must be >= {least}, got {getattr(self, name)}")

    def settings(self, task: Task) -> EvalSettings:
        """The EvalSettings of this run on `task`: every unset planner value from the task's defaults."""
        tuned = task.planning_for(self.goal)

        def given(value, default):
            return default if value is None else value

        return EvalSettings(env_id=task.env_id, robot=self.robot, goal=self.goal, checkpoint=self.checkpoint,
                            optimizer=OPTIMIZER_OF[self.planner], num_samples=given(self.samples, tuned.samples),
                            sim_num_samples=self.sim_samples, horizon=given(self.horizon, tuned.horizon),
                            iterations=given(self.iterations, tuned.iterations),
                            goal_mode=given(self.goal_mode, tuned.goal_mode),
                            action_weight=given(self.action_weight, tuned.action_weight),
                            image_cost=given(self.image_cost, tuned.image_cost), push_gain=self.push_gain,
                            max_steps=given(self.max_steps, task.max_episode_steps), seed=self.seed,
                            device=self.device, keep_out=tuple(zone_from_text(z) for z in self.keep_out),
                            path_zone_radius_m=self.keep_out_on_path, detour=self.detour,
                            camera_size=self.camera_size, camera_encoding=self.camera_encoding)


Command = EvalCommand
"""What apps/cli.py parses `jepa-mpc eval`'s flags into (with tyro)."""


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


def run(args: EvalCommand) -> int:
    import imageio

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise SystemExit(f"unknown policies {unknown}; valid: {list(POLICIES)}")
    if args.robot and args.env not in (None, ARM_REACH.env_id):
        raise SystemExit(f"--robot builds the reach cell {ARM_REACH.env_id} around the arm; it does not apply to "
                         f"--env {args.env}")
    task = task_for_env(args.env or (ARM_REACH.env_id if args.robot else REACH.env_id))
    if task.any_robot or task.control != "joint_position":
        # On the any-arm cell fk-mpc plans with the arm's known kinematics; the learned models and sim-mpc are the
        # Panda's; a bounded-action arm's mpc plans its actions (apps/reacher_mpc.py).
        kept = [p for p in policies if p in ("random", "oracle") or (p == "mpc" and task.control != "joint_position")
                or (p == "fk-mpc" and task.any_robot) or (p == "mpc" and task.any_robot and args.checkpoint)]
        if kept != policies:
            log.warning("on %s only %s run (the others need the Panda env, or mpc a --checkpoint of this arm)",
                        task.env_id, kept)
        policies = kept
    if args.through_ros:
        from jepa_mpc.apps.eval_through_ros import GRAPH_POLICIES

        if not policies or set(policies) - set(GRAPH_POLICIES):
            raise SystemExit(f"--through-ros runs {list(GRAPH_POLICIES)} through the graph; asked for {policies}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        base = args.settings(task)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    log.info("planner: %s K=%d (sim-mpc K=%d) H=%d, %d iterations, %s %s, action weight %g; %d steps per episode",
             base.optimizer, base.num_samples, base.sim_num_samples, base.horizon, base.iterations,
             base.image_cost if args.goal == "image" else "pose", base.goal_mode, base.action_weight, base.max_steps)
    rows, curves, episodes = {}, {}, {}
    tolerance = math.nan
    for policy in policies:
        settings = dataclasses.replace(base, policy=policy)
        try:
            if args.through_ros:
                from jepa_mpc.apps.eval_through_ros import evaluate_through_ros

                summary, results = evaluate_through_ros(settings, args.episodes, args.camera_fps)
            else:
                summary, results = evaluate(settings, args.episodes, args.workers)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {policy} not finished; nothing written", file=sys.stderr)  # noqa: T201
            return 130
        except (ValueError, RuntimeError) as exc:  # what the graph says is wrong; in process, bad settings only
            if isinstance(exc, RuntimeError) and not args.through_ros:
                raise
            raise SystemExit(f"jepa-mpc eval{' --through-ros' if args.through_ros else ''}: {exc}") from None
        rows[policy] = summary
        curves[policy] = np.array([r.distances for r in results])
        tolerance = results[0].tolerance_m if results else tolerance
        episodes[policy] = [dataclasses.asdict(r) | {"frames": None} for r in results]
        log.info("%s: success %.2f [%.2f, %.2f] in %.0f s", policy, summary["success_rate"], *summary["ci95"],
                 summary["wall_s"])
        if summary["path_zones"]:
            log.info("%s: a keep-out sphere (mean radius %.1f cm) on the path of %d of %d episodes; success on those "
                     "%.2f", policy, 100 * summary["path_zone_radius_mean_m"], summary["path_zones"],
                     summary["episodes"], summary["path_zone_success_rate"])
    if args.video and "mpc" in policies:
        settings = dataclasses.replace(base, policy="mpc", record_frames=True)
        _, results = evaluate(settings, args.video, 1)
        (args.out / "videos").mkdir(exist_ok=True)
        for r in results:
            imageio.mimsave(args.out / "videos" / f"episode_{r.index:03d}.gif", r.frames, duration=0.1, loop=0)
    table = _table(rows)
    print(table)
    report = {"env": task.env_id, "robot": args.robot or None, "settings": dataclasses.asdict(base), "summary": rows,
              "through_ros": args.through_ros, "camera_fps": args.camera_fps if args.through_ros else None,
              "episodes": episodes}
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=float))
    (args.out / "eval.txt").write_text(table + "\n")
    title = f"{task.env_id}{f' ({args.robot})' if args.robot else ''}, {args.goal} goal, {args.planner}"
    _plot(rows, curves, tolerance, args.out / "eval.png", title)
    log.info("wrote %s/eval.json, eval.txt, eval.png", args.out)
    # The exit status judges the guardrails: the policies whose commands go through the safety filter. The random
    # and oracle baselines act unfiltered; their violations (a random arm hitting the table) are reported only.
    filtered = [name for name in rows if name in MPC_POLICIES]
    return 0 if all(rows[name]["violations"] == 0 for name in filtered) else 1

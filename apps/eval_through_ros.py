"""`jepa-mpc eval --through-ros`: the in-process eval's episodes, run through the deployed graph
(ros_nodes/ros_eval.py), judged with the in-process eval's own checks on a mirror of the simulator (MirrorJudge),
reported in the same `eval.json` rows."""
from __future__ import annotations

import time

import numpy as np

from jepa_mpc.apps.evaluate import EpisodeResult, EvalSettings, _violates, eval_guardrails, summarize
from jepa_mpc.sim.collect import episode_seed
from jepa_mpc.tasks import task_for_env

GRAPH_POLICIES = ("mpc", "fk-mpc")


class MirrorJudge:
    """Judges a graph's episode as run_episodes judges its own: the same env, reset with the same seed and put where
    the graph's arm reports it (env.show_arm), gives the distance, success and the guardrail check (_violates, on
    the simulator's kinematics of every check sphere) with the in-process eval's guardrails."""

    def __init__(self, settings: EvalSettings) -> None:
        import gymnasium

        import jepa_mpc.sim  # noqa: F401  (registers the envs)
        from jepa_mpc.robots import load_robot

        self.env = gymnasium.make(settings.env_id, **({"robot": settings.robot} if settings.robot else {})).unwrapped
        own = getattr(self.env, "robot", None)
        self.robot = own or load_robot("panda")
        self.guardrails = eval_guardrails(settings, own)
        self.tolerance_m = float(self.env.tolerance_m)

    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The episode of `seed`; returns its start and goal arm joint positions."""
        obs, info = self.env.reset(seed=seed)
        dof = self.robot.dof
        return (np.asarray(obs["joint_pos"], dtype=np.float64)[:dof],
                np.asarray(info["goal_joint_pos"], dtype=np.float64)[:dof])

    def step(self, q: np.ndarray) -> tuple[float, bool, bool]:
        info = self.env.show_arm(q)
        return float(info["distance"]), bool(info["success"]), bool(_violates(self.env, self.guardrails, self.robot))

    def close(self) -> None:
        self.env.close()


def evaluate_through_ros(settings: EvalSettings, episodes: int, camera_fps: float = 0.0,
                         progress: bool = True) -> tuple[dict, list[EpisodeResult]]:
    """Episodes 0..episodes-1 of settings.seed through a fresh sim graph; (summary, per-episode results) as
    apps.evaluate.evaluate returns them."""
    from jepa_mpc.ros_nodes.ros_eval import GraphEvalSettings, run_through_ros

    task = task_for_env(settings.env_id)
    if settings.policy not in GRAPH_POLICIES:
        raise ValueError(f"--through-ros runs {GRAPH_POLICIES} (the graph's planner); {settings.policy} has no graph")
    if task.name not in ("reach", "arm_reach"):
        raise ValueError(f"--through-ros runs the reach tasks (the sim bridge's); not {settings.env_id}")
    if settings.keep_out or settings.path_zone_radius_m:
        raise ValueError("--through-ros takes the guardrails of the graph's parameter file; --keep-out and "
                         "--keep-out-on-path are in-process only")
    pose = settings.policy == "fk-mpc" or settings.goal == "pose"
    graph = GraphEvalSettings(robot=settings.robot or "panda", checkpoint="none" if settings.policy == "fk-mpc"
                              else settings.checkpoint, goal="pose" if pose else "image",
                              camera_size=settings.camera_size, camera_encoding=settings.camera_encoding,
                              camera_fps=camera_fps, num_samples=settings.num_samples, horizon=settings.horizon,
                              iterations=settings.iterations, image_goal_mode=settings.goal_mode,
                              action_weight=settings.action_weight, device=settings.device)
    judge = MirrorJudge(settings)
    start = time.perf_counter()
    try:
        seeds = [episode_seed(settings.seed, i) for i in range(episodes)]
        raw = run_through_ros(graph, seeds, judge, settings.max_steps, progress=progress)
    finally:
        judge.close()
    results = [EpisodeResult(i, r["success"], r["final_distance"], r["steps_to_success"], r["plan_ms"],
                             r["interventions"], r["violations"], r["distances"], None, judge.tolerance_m)
               for i, r in enumerate(raw)]
    summary = summarize(results, time.perf_counter() - start)
    # how far the graph's arm was from the in-process episode's start when the goal went out (a measured difference)
    summary["start_offset_rad_max"] = max((r["start_offset_rad"] for r in raw), default=0.0)
    # and how old the camera frame a plan was made from is when the plan goes out (in process: 0, the env waits)
    ages = [ms for r in raw for ms in r["frame_to_plan_ms"]]
    summary["frame_to_plan_ms_p50"] = float(np.percentile(ages, 50)) if ages else None
    summary["frame_to_plan_ms_p99"] = float(np.percentile(ages, 99)) if ages else None
    return summary, results

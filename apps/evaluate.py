"""Closed-loop evaluation without ROS: env <-> encoder + MPC + safety filter, and baselines in the same protocol.

Episode i of an evaluation with seed S resets the env with `episode_seed(S, i)` (the goal distributions are in
sim/tasks.py) and seeds the policy's own sampling with it too (results do not depend on the worker count), runs up
to `max_steps` control steps, and counts as a success if the task's success flag holds at the last step;
`reached_rate` counts episodes within tolerance at any step (what the demo stops on). Every command an MPC policy
executes is what the safety filter returned; after every step the simulator's own state is checked (`_violates`):
the tool point against the workspace box, every check sphere (less its margin, a bound on its link's geometry)
against the keep-out zones and the table. The MPC policies must have 0 violations (eval's exit status); the
unfiltered baselines' counts are reported only (a random arm does hit the table).

Policies:
- mpc: the learned world model with the chosen optimiser, goal as an image (goal energy, or on Push the cube-push
  cost read by the model's cube probe) or a pose (known FK).
- random: uniform random actions (lower bound).
- oracle: scripted solve with privileged simulator state (DLS IK to the goal; scripted push for Push).
- fk-mpc: the same MPC with a pose goal through the true kinematics instead of the learned latent (upper bound on
  Reach; it needs no learned model, so it runs on any arm: `robot` builds `jepa_mpc/ArmReach-v0` around it).
- sim-mpc: the same MPC (CEM, costs, guardrails, safety filter) whose world model is the MuJoCo simulator itself
  (sim/simulator_model.py): the upper bound of planning with a perfect model (on Push with the same cube-push cost,
  reading the cube from the true state). Its state is read from the env
  (privileged) before each plan; it plans with CEM whatever `optimizer` says (the simulator is not differentiable),
  with `sim_num_samples` samples (physics rollouts are the cost: K x H x 50 mj_steps per CEM iteration).

MPC commands are executed as the safety filter returned them: joint targets, and on Push also the gripper (the
planner plans the 8th action entry; the pushes in the data close the gripper). On Reach the gripper is held open.

On `jepa_mpc/DMCReacher-v0` (sim/reacher_policies.py) mpc plans torques (the MPC's bounded-action arm), the oracle
is a PD controller to the target's IK configuration, and a violation is an executed action outside the action box
or non-finite (the planar Reacher has no Cartesian guardrails); sim-mpc is Panda-only.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time

import numpy as np

from jepa_mpc.apps.path_zone import path_zone
from jepa_mpc.apps.reacher_mpc import ReacherMPC
from jepa_mpc.models.preprocess import COLOUR_ENCODINGS, ImagePreprocessing, as_delivered, parse_frame_size
from jepa_mpc.planner.config import BoxZone, SphereZone
from jepa_mpc.robots.arm_control import gripper_opening
from jepa_mpc.sim.collect import episode_seed
from jepa_mpc.sim.exploration import PushPolicy
from jepa_mpc.sim.reacher_policies import action_violates, oracle_action
from jepa_mpc.tasks import REACH, task_for_env
from jepa_mpc.tasks.spec import IMAGE_COSTS

log = logging.getLogger(__name__)
POLICIES = ("mpc", "random", "oracle", "fk-mpc", "sim-mpc")
TUNED = REACH.planning_for("image")
MAX_PUSH_GAIN = 5.0
"""measured_push_gain's bound: a model predicting under a fifth of a push (or over five pushes) is not trusted
further."""
MPC_POLICIES = ("mpc", "fk-mpc", "sim-mpc")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What one evaluation run does (shared by every episode and worker)."""

    env_id: str = "jepa_mpc/PandaReach-v0"
    robot: str = ""
    """An arm (name, URDF or MJCF file) for `jepa_mpc/ArmReach-v0`, the reach cell built around any arm; '' keeps
    the env's own arm."""
    policy: str = "mpc"
    goal: str = "image"
    """image: plan to the goal image's latent; pose: plan to the goal position through known FK."""
    checkpoint: str = ""
    optimizer: str = "cem"
    num_samples: int = 512
    sim_num_samples: int = 32
    """CEM samples of sim-mpc: each is a true physics rollout (H x 50 mj_steps, 50-80k mj_steps/s on one CPU core),
    so K=32, H=10, 3 iterations plans in about 0.9 s; K=64 in about 1.7 s."""
    horizon: int = TUNED.horizon
    iterations: int = 3
    goal_mode: str = TUNED.goal_mode
    """Goal cost on the last predicted step (terminal), averaged over the horizon (trajectory), both, or the
    closest step."""
    image_cost: str = "goal_energy"
    """Image goals: the latent goal energy, or `cube_push` (Push; needs a checkpoint with a cube_pos probe)."""
    action_weight: float = TUNED.action_weight
    """Weight of the action-magnitude cost (higher: prefers staying still once the goal energy is flat)."""
    push_gain: float | None = None
    """cube_push: scale on the model's predicted cube displacement. None: 1 / the checkpoint's measured push
    response (`metrics.push_response.ratio`, models/evaluation.py) for a learned model, 1 for the simulator."""
    max_steps: int = 60
    seed: int = 0
    device: str = "cpu"
    record_frames: bool = False
    keep_out: tuple = ()
    """Keep-out zones (SphereZone / BoxZone) added to the arm's guardrails in every episode."""
    detour: bool = True
    """MPC policies: route pose goals (and probed image goals) around keep-out zones (MPCConfig.detour)."""
    path_zone_radius_m: float = 0.0
    """> 0: each episode also gets a keep-out sphere of this radius halfway along the straight path from the tool to
    the goal, shrunk to leave the start and goal configurations clear (apps/path_zone.py)."""
    camera_size: str = ""
    """mpc image goals: 'WxH' renders the cell's camera at that size, as the sim bridge publishes it, and feeds the
    model through the checkpoint's preprocessing (crop, resize); '': the env's own square observation."""
    camera_encoding: str = "rgb8"
    """With camera_size: the frames as a camera in this encoding delivers them (jpeg / png through their codec;
    mono8 is refused by a colour model)."""

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.goal not in ("image", "pose"):
            raise ValueError(f"goal must be 'image' or 'pose', got {self.goal!r}")
        if self.image_cost not in IMAGE_COSTS:
            raise ValueError(f"image_cost must be one of {IMAGE_COSTS}, got {self.image_cost!r}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.sim_num_samples < 3:
            raise ValueError(f"sim_num_samples must be >= 3, got {self.sim_num_samples}")
        if self.push_gain is not None and not (math.isfinite(self.push_gain) and self.push_gain > 0):
            raise ValueError(f"push_gain must be a positive number or None, got {self.push_gain!r}")
        if not all(isinstance(zone, (SphereZone, BoxZone)) for zone in self.keep_out):
            raise ValueError(f"keep_out must hold SphereZone / BoxZone, got {self.keep_out!r}")
        if not (isinstance(self.path_zone_radius_m, (int, float)) and 0 <= self.path_zone_radius_m < math.inf):
            raise ValueError(f"path_zone_radius_m must be a finite number >= 0, got {self.path_zone_radius_m!r}")
        if self.camera_size:
            parse_frame_size(self.camera_size)
        if self.camera_encoding not in (*COLOUR_ENCODINGS, "mono8"):
            raise ValueError(f"camera_encoding must be one of {(*COLOUR_ENCODINGS, 'mono8')}, got "
                             f"{self.camera_encoding!r}")


@dataclasses.dataclass
class EpisodeResult:
    """Outcome of one episode."""

    index: int
    success: bool
    final_distance: float
    steps_to_success: int | None
    plan_ms: list[float]
    interventions: int
    violations: int
    distances: list[float]
    frames: list | None = None
    tolerance_m: float = math.nan  # the env's success radius
    path_zone: dict | None = None  # the keep-out sphere placed on this episode's path (centre, radius), if any


class _Controller:
    """Turns (env, obs, info) into the next joint targets for one policy."""

    def __init__(self, s: EvalSettings, env=None) -> None:
        self.s = s
        self.rng = np.random.default_rng(s.seed)
        self.gripper = 1.0  # last executed gripper action in [-1, 1]; Push executes the planned one
        self.mpc = None
        self.sim_model = None
        self.reacher = None
        self.task = task_for_env(s.env_id)
        if self.task.control == "bounded_action" and (s.keep_out or s.path_zone_radius_m):
            raise ValueError(f"{s.env_id} has no Cartesian guardrails: keep-out zones need a joint-position arm")
        if self.task.control == "bounded_action" and s.policy in MPC_POLICIES:
            if s.policy != "mpc":
                raise ValueError(f"{s.policy} drives the Panda; on {s.env_id} only mpc, random and oracle run")
            self.reacher = ReacherMPC(s, env)
        elif s.policy == "sim-mpc":
            from jepa_mpc.sim.panda_scene import GRIPPER_OPEN
            from jepa_mpc.sim.simulator_model import SimModelConfig, SimulatorWorldModel

            if env is None:
                raise ValueError("sim-mpc needs the env: its world model is that env's simulator")
            # Reach holds the gripper open whatever the plan says; Push executes the planned gripper: simulate that.
            fixed = None if self.task.executes_gripper else GRIPPER_OPEN
            self.sim_model = SimulatorWorldModel(env, SimModelConfig(fixed_gripper_m=fixed))
        if s.policy in MPC_POLICIES and self.reacher is None:
            self.mpc = self._build_mpc(s, self.sim_model, env)
        # A checkpoint whose encoder also reads joint positions gets them for the observation and the goal.
        self._proprio = bool(s.policy == "mpc" and getattr(getattr(self.mpc, "world_model", None), "cfg", None)
                             and self.mpc.world_model.cfg.encoder.proprio_dim > 0)
        if self._proprio and self.mpc.world_model.cfg.encoder.proprio_key != "joint_pos":
            raise ValueError(f"the Panda eval feeds joint positions; this checkpoint's encoder reads "
                             f"{self.mpc.world_model.cfg.encoder.proprio_key}")
        self.camera = None  # (width, height, preprocessing): frames as the deployed camera delivers them
        if s.camera_size and s.policy == "mpc" and s.goal == "image" and self.mpc is not None:
            from jepa_mpc.models.shipped import resolve_checkpoint

            width, height = parse_frame_size(s.camera_size)
            as_delivered(np.zeros((2, 2, 3), np.uint8), s.camera_encoding)  # mono8: refused now, not per frame
            size = int(self.mpc.world_model.cfg.encoder.image_size)
            self.camera = (width, height, ImagePreprocessing.of_checkpoint(resolve_checkpoint(s.checkpoint), size))

    def frame(self, env) -> np.ndarray:
        """The model's input now with camera_size: the camera rendered at that size, delivered in camera_encoding
        and preprocessed as the checkpoint records (act() uses the env's own observation image without it)."""
        width, height, preprocessing = self.camera
        return preprocessing.apply(as_delivered(env.render_camera(width, height), self.s.camera_encoding))

    @staticmethod
    def _build_mpc(s: EvalSettings, sim_model=None, env=None):
        from jepa_mpc.planner.config import CEMConfig, CostConfig, MPCConfig
        from jepa_mpc.planner.mpc import RecedingHorizonMPC

        robot = getattr(env, "robot", None)  # the any-arm cell's Robot; the Panda envs use the embedded Panda
        if robot is not None and s.policy != "fk-mpc" and not (s.policy == "mpc" and s.checkpoint):
            raise ValueError(f"{s.policy} needs a world model of this arm: give mpc a --checkpoint trained on its "
                             f"data; without one, on {robot.name} only fk-mpc, random and oracle run")

        sim = s.policy == "sim-mpc"
        samples = s.sim_num_samples if sim else s.num_samples
        if sim and s.optimizer != "cem":
            log.warning("sim-mpc plans with CEM: the simulator is not differentiable (asked for %s)", s.optimizer)
        cfg = MPCConfig(optimizer="cem" if sim else s.optimizer, horizon=s.horizon, device=s.device,
                        cem=CEMConfig.for_samples(samples, s.iterations), max_obs_age_s=1e9, detour=s.detour)
        pose = s.policy == "fk-mpc" or (s.goal == "pose" and not sim)  # sim-mpc: a goal latent either way
        goal_term = "pose_fk" if pose else s.image_cost
        gain = 1.0 if s.push_gain is None else s.push_gain
        if sim:
            world_model = sim_model
        elif s.policy == "fk-mpc":
            from jepa_mpc.planner.kinematic_model import NullWorldModel

            world_model = NullWorldModel(env.action_space.shape[0] if env is not None else 8)
        else:
            from jepa_mpc.models.shipped import resolve_checkpoint
            from jepa_mpc.models.world_model import WorldModel

            path = resolve_checkpoint(s.checkpoint)
            world_model = WorldModel.from_checkpoint(path, device=s.device).eval()
            if env is not None and world_model.cfg.action_dim != env.action_space.shape[0]:
                raise ValueError(f"{path} plans {world_model.cfg.action_dim} action entries; "
                                 f"{s.env_id} ({getattr(robot, 'name', 'panda')}) takes {env.action_space.shape[0]}: "
                                 "a checkpoint of another arm")
            if goal_term == "cube_push" and s.push_gain is None:
                gain = measured_push_gain(path)
        costs = CostConfig(terms=(goal_term, "action_magnitude", "action_rate"), goal_mode=s.goal_mode,
                           action_magnitude_weight=s.action_weight, push_gain=gain)
        cube_probe = _cube_probe(world_model) if goal_term == "cube_push" else None
        return RecedingHorizonMPC.build(world_model, cfg, costs, eval_guardrails(s, robot), cube_probe=cube_probe,
                                        robot=robot if robot is not None else "panda")

    def reset(self, env, info, seed: int) -> None:
        """Start an episode. `seed` (the episode's own) reseeds the random policy and the planner's sampling, so an
        episode's result does not depend on which worker runs it or which episodes ran there before."""
        self.rng = np.random.default_rng(seed)
        for planner in (self.mpc, getattr(self.reacher, "mpc", None)):
            if planner is not None:
                planner.reseed(seed)
        self.gripper = 1.0  # last executed gripper action in [-1, 1] (open at reset)
        if self.reacher is not None:
            self.reacher.reset(env, info)
        if self.mpc is not None:
            self.mpc.reset()
            if self.sim_model is not None:  # the goal scene's true state, or the goal position in the start state
                self.mpc.set_goal(z_goal=self.sim_model.goal_latent(env, pose_only=self.s.goal == "pose"))
            elif self.s.policy == "fk-mpc" or self.s.goal == "pose":
                self.mpc.set_goal(ee_goal=env.goal_pos)
            else:  # with a proprioceptive encoder the goal image comes with the joint positions it shows
                image = info["goal_image"]
                if self.camera is not None:  # as the sim bridge publishes it (rgb8, camera size), preprocessed
                    image = self.camera[2].apply(env.render_goal(self.camera[0], self.camera[1]))
                self.mpc.set_goal_image(image, *((info["goal_joint_pos"],) if self._proprio else ()))

    def act(self, env, obs, t: int):
        """(joint targets [J] or None to use `action`, action [A] or None, plan_ms, intervened)."""
        if self.s.policy == "random":
            return None, self.rng.uniform(-1, 1, env.action_space.shape[0]), 0.0, False
        if self.s.policy == "oracle":
            if self.task.control == "bounded_action":  # the Reacher: PD torques to the target's IK configuration
                return None, oracle_action(env), 0.0, False
            if self.task.executes_gripper:  # the Push task: the scripted pusher
                return None, PushPolicy(self.rng, noise=0.0)(env, obs), 0.0, False
            action = np.zeros(env.action_space.shape[0])
            arm = env.reach_action(env.goal_pos)
            action[: len(arm)] = arm
            return None, action, 0.0, False
        if self.reacher is not None:
            action, ms, intervened = self.reacher.act(obs, t)
            return None, action, ms, intervened
        from jepa_mpc.planner.mpc import Observation

        proprio = obs["joint_pos"] if self._proprio else None
        if self.sim_model is not None:
            self.sim_model.set_state(env.data)  # privileged: the true state the next encode returns
        image = obs["image"] if self.camera is None else self.frame(env)
        tick = self.mpc.step(Observation(image=image, q=env.arm_qpos, stamp_s=float(t), proprio=proprio,
                                         q_target=env.joint_targets, gripper=self.gripper), now_s=float(t))
        if self.task.executes_gripper and tick.command.gripper is not None:
            self.gripper = float(tick.command.gripper)
        targets = tick.command.joint_targets
        target = targets[0] if targets.shape[0] else env.joint_targets
        return target, None, tick.timings_s["total"] * 1e3, not tick.report.ok


def measured_push_gain(checkpoint) -> float:
    """1 / the share of a push the checkpoint's model predicts (`metrics.push_response.ratio`, measured on held-out
    pushes when it was trained), kept within [1/MAX_PUSH_GAIN, MAX_PUSH_GAIN]; 1 when it was not measured."""
    from jepa_mpc.models.checkpoint import read_checkpoint_meta

    ratio = (read_checkpoint_meta(checkpoint).get("metrics") or {}).get("push_response", {}).get("ratio")
    if ratio is None:
        log.warning("%s has no measured push response (trained before it was measured, or not on Push data): "
                    "the cube-push cost takes its predicted pushes as they are", checkpoint)
        return 1.0
    gain = 1.0 / min(max(float(ratio), 1.0 / MAX_PUSH_GAIN), MAX_PUSH_GAIN)
    log.info("cube push: the model predicts %.2f of a push (held-out); its predicted pushes are scaled by %.2f",
             ratio, gain)
    return gain


def _cube_probe(world_model):
    """The cube-position readout of a world model (a learned probe, or the simulator's true state)."""
    import functools

    if hasattr(world_model, "cube_position"):  # the simulator as model
        return world_model.cube_position
    if "cube_pos" not in getattr(world_model, "probes", {}):
        raise ValueError("the cube_push cost needs a checkpoint with a cube_pos probe: train on a Push dataset "
                         "collected with cube positions (jepa-mpc collect records them)")
    return functools.partial(world_model.probe, "cube_pos")


def eval_guardrails(settings: EvalSettings, robot=None):
    """The guardrails an evaluation plans with and checks: the any-arm cell's arm's own (`robot`), else the Panda
    scene's defaults, plus settings.keep_out."""
    from jepa_mpc.planner.config import GuardrailConfig, guardrails_for

    base = guardrails_for(robot) if robot is not None else GuardrailConfig()
    return dataclasses.replace(base, keep_out=base.keep_out + tuple(settings.keep_out))


def _violates(env, guardrails, robot) -> bool:
    """Independent check in the simulator, on the measured arm: the tool point outside the workspace box, or any
    collision geometry inside a keep-out zone or below the table top. Each check sphere less its margin bounds its
    geometry (robots/spheres.py), and its position comes from the simulator's own state; the zone geometry is the
    campaign's independent checker's, not the safety filter's under test."""
    import mujoco

    from jepa_mpc.planner.guardrail_checker import zone_sdf

    ee = env.ee_pos
    if np.any(ee < np.asarray(guardrails.workspace_lo)) or np.any(ee > np.asarray(guardrails.workspace_hi)):
        return True
    margin = robot.cfg.sphere_margin_m
    for p in robot.spheres:
        body = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_BODY, p.frame)
        centre = env.data.xpos[body] + env.data.xmat[body].reshape(3, 3) @ np.asarray(p.offset)
        if any(zone_sdf(zone, centre) < p.radius - margin for zone in guardrails.keep_out):
            return True
        if p.table_check and centre[2] < guardrails.table_z_m + p.radius - margin:
            return True
    return any(zone_sdf(zone, ee) < 0 for zone in guardrails.keep_out)


def run_episodes(settings: EvalSettings, indices: list[int]) -> list[EpisodeResult]:
    """Run the given episode indices in this process (one env, one controller)."""
    import gymnasium

    import jepa_mpc.sim  # noqa: F401
    from jepa_mpc.planner.config import SafetyConfig
    from jepa_mpc.planner.safety import SafetyFilter
    from jepa_mpc.robots import load_robot

    env = gymnasium.make(settings.env_id, **({"robot": settings.robot} if settings.robot else {})).unwrapped
    results = []
    try:  # the env is closed even when the controller cannot be built (a bad checkpoint, say)
        controller = _Controller(settings, env)
        reacher = controller.task.control == "bounded_action"
        robot = None if reacher else getattr(env, "robot", None) or load_robot("panda")
        if controller.mpc is not None:
            base = controller.mpc.safety.cfg.guardrails
        else:
            base = eval_guardrails(settings, getattr(env, "robot", None))
        checker = SafetyFilter(SafetyConfig(guardrails=base), robot) if settings.path_zone_radius_m else None
        radii = base.for_robot(robot).radii if checker is not None else None  # check-sphere sizes, all episodes
        for i in indices:
            seed = episode_seed(settings.seed, i)
            obs, info = env.reset(seed=seed)
            guardrails, zone = base, None
            if checker is not None:  # this episode's obstacle on the straight path
                zone = path_zone(env.ee_pos, env.goal_pos, checker.points(env.arm_qpos),
                                 checker.points(env.goal_arm_qpos), radii, settings.path_zone_radius_m)
                guardrails = dataclasses.replace(base, keep_out=base.keep_out + ((zone,) if zone else ()))
                if controller.mpc is not None:
                    controller.mpc.set_guardrails(guardrails)
            controller.reset(env, info, seed)
            distances, plan_ms, interventions, violations, first = [info["distance"]], [], 0, 0, None
            frames = ([env.goal_image] if reacher else [env.render_goal(224)]) \
                if settings.record_frames and hasattr(env, "render_goal") else None
            for t in range(settings.max_steps):
                target, action, ms, intervened = controller.act(env, obs, t)
                if target is not None:
                    dof = len(target)
                    finger_m = gripper_opening(np.r_[np.zeros(dof), controller.gripper], env.control, dof)
                    obs, _, _, _, info = env.step_to_targets(target, finger_m)
                else:
                    obs, _, _, _, info = env.step(np.asarray(action, dtype=np.float32))
                distances.append(info["distance"])
                plan_ms.append(ms)
                interventions += intervened
                violations += (action_violates(action, env.action_space.low, env.action_space.high) if reacher
                               else _violates(env, guardrails, robot))
                if info["success"] and first is None:
                    first = t + 1
                if frames is not None:
                    env.render_mode = "rgb_array"
                    frames.append(env.render())
            results.append(EpisodeResult(i, bool(info["success"]), float(info["distance"]), first, plan_ms,
                                         interventions, violations, distances, frames, float(env.tolerance_m),
                                         dataclasses.asdict(zone) if zone else None))
    finally:
        env.close()
    return results


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (good at small n and at 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes == 0 else lo, 1.0 if successes == n else hi)  # exact at the ends, not 1 - 1e-16


def summarize(results: list[EpisodeResult], wall_s: float) -> dict:
    """Success rate with 95 % CI, final distance, steps to success, plan latency p50/p99, guardrail counts."""
    n = len(results)
    k = sum(r.success for r in results)
    lo, hi = wilson_interval(k, n)
    ms = np.array([m for r in results for m in r.plan_ms if m > 0]) if results else np.zeros(0)
    steps = [r.steps_to_success for r in results if r.steps_to_success is not None]
    return {
        "episodes": n, "successes": k, "success_rate": k / n if n else 0.0, "ci95": [lo, hi],
        "reached_rate": len(steps) / n if n else 0.0,  # within tolerance at any step (success counts the last)
        "final_distance_mean_m": float(np.mean([r.final_distance for r in results])) if n else math.nan,
        "final_distance_median_m": float(np.median([r.final_distance for r in results])) if n else math.nan,
        "steps_to_success_mean": float(np.mean(steps)) if steps else None,
        "plan_ms_p50": float(np.percentile(ms, 50)) if ms.size else None,
        "plan_ms_p99": float(np.percentile(ms, 99)) if ms.size else None,
        "interventions": int(sum(r.interventions for r in results)),
        "violations": int(sum(r.violations for r in results)),
        "path_zones": sum(r.path_zone is not None for r in results),  # episodes with an obstacle on their path
        "path_zone_success_rate": float(np.mean([r.success for r in results if r.path_zone]))
        if any(r.path_zone for r in results) else None,  # success among those episodes
        "path_zone_radius_mean_m": float(np.mean([r.path_zone["radius"] for r in results if r.path_zone]))
        if any(r.path_zone for r in results) else None,
        "wall_s": wall_s,
    }


def evaluate(settings: EvalSettings, episodes: int, workers: int = 1) -> tuple[dict, list[EpisodeResult]]:
    """Run `episodes` episodes over `workers` processes; returns (summary, per-episode results)."""
    import concurrent.futures as cf

    from tqdm import tqdm

    from jepa_mpc.sim.process_pool import spawn_pool

    start = time.perf_counter()
    # About ten chunks per worker, so the bar moves; each chunk builds its env and planner once, and an episode's
    # result does not depend on its chunk (episode seeds).
    size = max(1, math.ceil(episodes / (max(1, workers) * 10)))
    chunks = [list(range(i, min(i + size, episodes))) for i in range(0, episodes, size)]
    results: list[EpisodeResult] = []
    with tqdm(total=episodes, unit="ep", desc=settings.policy, file=sys.stderr, mininterval=5.0) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                results += run_episodes(settings, chunk)
                bar.update(len(chunk))
        else:
            with spawn_pool(min(workers, len(chunks)), initializer=_limit_threads) as pool:
                for future in cf.as_completed([pool.submit(run_episodes, settings, c) for c in chunks]):
                    part = future.result()
                    results += part
                    bar.update(len(part))
    results.sort(key=lambda r: r.index)
    return summarize(results, time.perf_counter() - start), results


def _limit_threads() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: no oversubscription

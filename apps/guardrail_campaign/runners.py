"""Running one case: the setup (robot, true kinematics, world model), the world models under test, and the
runners of filter, closed-loop and MPC cases, each checked by the independent oracle (planner.guardrail_checker).

World models: the checkpoint's (the mpc node's `checkpoint`, else the shipped one, which was trained on the
embedded Panda and so only serves it); for any other arm without a checkpoint, a NullWorldModel (an empty latent:
pose goals are planned through the arm's known kinematics), whose actions are the arm's joint steps (plus one
gripper entry when the robot has fingers). Beside it, garbage world models of the same action size.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np
import torch

from jepa_mpc.apps.guardrail_campaign.cases import (
    CAMPAIGN_HORIZON,
    GARBAGE_MODELS,
    FilterCase,
    FilterTick,
    LazyLine,
    LoopCase,
    MpcCase,
    Outcome,
    fmt,
)
from jepa_mpc.apps.guardrail_campaign.params import CampaignParams, is_embedded_panda
from jepa_mpc.apps.guardrail_campaign.strategies import Adversary
from jepa_mpc.planner import safety as safety_module
from jepa_mpc.planner.config import CEMConfig, GradientConfig, GuardrailConfig, MPCConfig, SafetyConfig
from jepa_mpc.planner.guardrail_checker import GroundTruth, Violation, finite_float, finite_vector
from jepa_mpc.planner.kinematic_model import NullWorldModel
from jepa_mpc.robots import Robot, load_robot

OPEN_FINGER_M = 0.04
"""What a proprioceptive encoder reads for each finger after the arm joints (open: ArmControlConfig.gripper_max_m)."""


# ======================================================================== world models under test


class GarbageWorldModel:
    """A world model whose predictions are garbage: NaN, inf, -inf, huge, per-sample mixes, noise."""

    def __init__(self, mode: str, latent_dim: int = 16, action_dim: int = 8) -> None:
        self.mode, self.latent_dim, self.action_dim = mode, latent_dim, action_dim

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """The image's mean brightness, broadcast (finite for any uint8 image)."""
        level = image.float().mean(dim=tuple(range(1, image.ndim)))  # [B]
        return level[:, None].expand(-1, self.latent_dim).clone()

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        shape = (*actions.shape[:2], self.latent_dim)
        fixed = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e30}
        if self.mode in fixed:
            return torch.full(shape, fixed[self.mode]) + 0 * actions.sum()
        if self.mode == "noise":  # huge, action-dependent, finite: a landscape with no relation to reality
            return torch.sin(actions.sum(-1, keepdim=True) * 1e3).expand(shape) * 1e6
        a0 = actions[:, :1, :1]  # "mixed": decided by each sample's first action (stable on re-evaluation)
        z = (actions.sum(-1, keepdim=True) * 1e3).expand(shape)
        z = torch.where(a0 > 0.3, torch.full_like(z, math.nan), z)
        z = torch.where(a0 < -0.3, torch.full_like(z, math.inf), z)
        return torch.where((a0 > 0.1) & (a0 <= 0.3), torch.full_like(z, 1e30), z)


def critic_stand_in(kind: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Adversarial trainable-cost stand-ins over latents z [N, D]."""
    if kind == "flail":  # rewards large latents, i.e. anything that moves a lot
        return lambda z: -1e3 * z.abs().sum(-1)
    if kind == "nan":
        return lambda z: torch.where(z[..., 0] > 0, torch.full_like(z[..., 0], math.nan), z[..., 0])
    return lambda z: -z.pow(2).sum(-1) * 1e30  # "overflow": -inf for most samples


# ================================================================================================ setup


def default_action_dim(robot: Robot) -> int:
    """Action entries of a world model for `robot`: one step per arm joint, plus the gripper entry when the robot
    has fingers (the embedded Panda: 7 + 1, robots.panda.ACTION_DIM)."""
    return robot.dof + (1 if robot.finger_joint_names else 0)


@dataclasses.dataclass
class CampaignSetup:
    """Everything a campaign needs, built once."""

    params: CampaignParams
    robot: Robot
    truth: GroundTruth
    world_model: Any | None
    checkpoint_name: str
    image_size: int = 64
    proprio_dim: int = 0
    """Joint positions the world model's encoder reads beside the image (0: image only)."""
    action_dim: int = 8
    """Actions of the world models under test (the setup's and the garbage ones)."""
    world_model_label: str = "checkpoint"
    """How an MPC case names the setup's world model: checkpoint (loaded or given) | kinematic (NullWorldModel)."""

    @property
    def model(self) -> mujoco.MjModel:
        """The robot's MuJoCo model (what the filter and the oracle run mj_kinematics on)."""
        return self.robot.model

    @classmethod
    def build(
        cls,
        params: CampaignParams,
        *,
        checkpoint: str | None = None,
        world_model: Any | None = None,
        load_world_model: bool = True,
    ) -> CampaignSetup:
        """Load the robot and the world model: `world_model` when given; else the checkpoint (checkpoint arg >
        params > the shipped one, for the embedded Panda only); else, for another arm, a kinematic NullWorldModel.
        Raises ValueError when the configs do not fit the robot (a joint vector of the wrong length) or the
        checkpoint's actions do not fit its joints."""
        robot = load_robot(params.robot)
        for name, g in (("safety_filter", params.safety.guardrails), ("mpc", params.planner_guardrails)):
            try:
                g.for_robot(robot)
            except ValueError as exc:
                raise ValueError(f"{name} guardrails do not fit robot {robot.name}: {exc}") from exc
        action_dim, label, name = default_action_dim(robot), "checkpoint", "none"
        chosen = checkpoint if checkpoint is not None else params.checkpoint
        if world_model is not None:
            name = type(world_model).__name__
        elif load_world_model and not chosen and not is_embedded_panda(robot):
            world_model, label = NullWorldModel(action_dim), "kinematic"
            name = f"none (the shipped checkpoint is the Panda's; {robot.name} plans with a kinematic NullWorldModel)"
        elif load_world_model:
            from jepa_mpc.models.shipped import resolve_checkpoint  # entry point: may import downward
            from jepa_mpc.models.world_model import WorldModel

            path = resolve_checkpoint(chosen)
            world_model = WorldModel.from_checkpoint(path, device="cpu").eval()
            name = str(path)
            if int(world_model.action_dim) not in (robot.dof, robot.dof + 1):
                raise ValueError(f"checkpoint {path} takes {world_model.action_dim} actions; robot {robot.name} "
                                 f"has {robot.dof} joints (actions: {robot.dof}, or {robot.dof + 1} with a gripper)")
        if world_model is not None:
            action_dim = int(getattr(world_model, "action_dim", action_dim))
        encoder_cfg = getattr(getattr(world_model, "cfg", None), "encoder", None)
        size, proprio_dim = int(getattr(encoder_cfg, "image_size", 64)), int(getattr(encoder_cfg, "proprio_dim", 0))
        return cls(params, robot, GroundTruth(robot), world_model, name, size, proprio_dim, action_dim, label)

    def proprio(self, q: object) -> np.ndarray | None:
        """What a proprioceptive encoder reads for arm joints q: q, then open fingers (OPEN_FINGER_M). A
        malformed q (the campaign sends those on purpose) becomes all-NaN, which the planner must refuse."""
        if not self.proprio_dim:
            return None
        try:
            with np.errstate(over="ignore"):  # a huge reading becomes inf, which is what it is
                arm = np.asarray(q, dtype=np.float32)
        except (TypeError, ValueError):
            arm = None
        robot = getattr(self, "robot", None)  # readable: one reading per arm joint (at most proprio_dim)
        if (arm is None or arm.ndim != 1 or not 0 < arm.size <= self.proprio_dim
                or (robot is not None and arm.size != robot.dof)):
            return np.full(self.proprio_dim, np.nan, np.float32)
        return np.r_[arm, np.full(self.proprio_dim - arm.size, OPEN_FINGER_M)].astype(np.float32)

    @property
    def base_guardrails(self) -> GuardrailConfig:
        return self.params.safety.guardrails

    def campaign_mpc_config(self, optimizer: str, command_steps: int) -> MPCConfig:
        """The user's MPC config with a small, fast optimiser (K=64, H=4, one iteration)."""
        user = self.params.mpc
        return dataclasses.replace(
            user,
            optimizer=optimizer,
            horizon=CAMPAIGN_HORIZON,
            command_steps=min(command_steps, CAMPAIGN_HORIZON),
            max_retries=min(user.max_retries, 1),
            plan_budget_s=None,
            device="cpu",
            compile=False,
            cem=CEMConfig(num_samples=64, iterations=1, num_elites=8, seed=0),
            gradient=GradientConfig(steps=2, num_candidates=2, seed=0),
        )


# ============================================================================================ runners


_TEMPLATES: dict[tuple, object] = {}
"""(filter class, its __init__, robot, config without zones) -> a SafetyFilter built from it (see _safety_filter)."""


def _without_zones(cfg: SafetyConfig) -> SafetyConfig:
    return dataclasses.replace(cfg, guardrails=dataclasses.replace(cfg.guardrails, keep_out=(), speed_zones=()))


def _safety_filter(cfg: SafetyConfig, robot: Robot):
    """A SafetyFilter for cfg on robot; its class is looked up at call time (so a test can swap in a broken one).

    Building one costs ~0.8 ms (most of it allocating its MjData), more than filtering a case. Cases differ from each
    other only in their zones, which the filter reads from its config at every call, so a filter built once per
    configuration-without-zones is copied and given the case's zones (in the config its __init__ kept).
    tests/apps/test_campaign_speed.py checks that a copy and a freshly built filter give the same commands and
    reports."""
    cls = safety_module.SafetyFilter
    key = (cls, cls.__init__, id(robot), _without_zones(cfg))  # __init__: a test may patch it to break the filter
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) > 64:
            _TEMPLATES.clear()
        template = _TEMPLATES[key] = cls(cfg, robot)
    filt = copy.copy(template)
    g = template.cfg.guardrails  # the template's config as its __init__ kept it; only the zones are the case's
    filt.cfg = dataclasses.replace(template.cfg, guardrails=dataclasses.replace(
        g, keep_out=cfg.guardrails.keep_out, speed_zones=cfg.guardrails.speed_zones))
    return filt


def _deployed(setup: CampaignSetup, g: GuardrailConfig) -> SafetyConfig:
    """The safety_filter node's config with the case's guardrails (the user's plus extra geometry)."""
    return dataclasses.replace(setup.params.safety, guardrails=g)


def _with_extra(base: GuardrailConfig, case_g: GuardrailConfig, user_g: GuardrailConfig) -> GuardrailConfig:
    """`base` plus whatever the case added to the user's guardrails."""
    return dataclasses.replace(
        base,
        keep_out=base.keep_out + case_g.keep_out[len(user_g.keep_out) :],
        speed_zones=base.speed_zones + case_g.speed_zones[len(user_g.speed_zones) :],
    )


def _filter_and_check(out: Outcome, setup: CampaignSetup, filt, cfg: SafetyConfig, tick: FilterTick, label: str):
    try:
        command, report = filt.filter(
            tick.proposal,
            tick.q_measured,
            tick.stamp_s,
            tick.now_s,
            q_reference=tick.q_reference,
            qd_reference=tick.qd_reference,
            gripper=tick.gripper,
        )
        out.record(report)
    except Exception as exc:  # noqa: BLE001 - the filter promises never to raise (and to return a report)
        out.violations.append(Violation("filter_raised", -1, f"{label}: {type(exc).__name__}: {exc}"))
        return None, None
    found = setup.truth.check_filter_call(
        cfg,
        q_measured=tick.q_measured,
        stamp_s=tick.stamp_s,
        now_s=tick.now_s,
        q_reference=tick.q_reference,
        qd_reference=tick.qd_reference,
        joint_targets=getattr(command, "joint_targets", None),
        gripper=getattr(command, "gripper", None),
        hold=bool(getattr(report, "hold", False)),
        used_reference=tick.q_reference is not None and "reference_ignored" not in {
            getattr(r, "value", r) for r in getattr(report, "reasons", ())},
    )
    out.add(found, label)
    out.trace.append(LazyLine(lambda: f"{label}: {report.describe()} -> {fmt(command.joint_targets, 300)}"))
    return command, report


def run_filter_case(setup: CampaignSetup, case: FilterCase) -> Outcome:
    out = Outcome()
    cfg = _deployed(setup, case.guardrails)
    _filter_and_check(out, setup, _safety_filter(cfg, setup.robot), cfg, case.tick, "filter")
    return out


def run_loop_case(setup: CampaignSetup, adversary: Adversary, case: LoopCase) -> Outcome:
    out = Outcome()
    cfg = _deployed(setup, case.guardrails)
    filt = _safety_filter(cfg, setup.robot)
    period = cfg.arm.control_period_s
    dof = setup.robot.dof
    q_arm = case.q0.copy()
    last_sent: np.ndarray | None = None
    last_step = np.zeros(dof)
    now = 100.0
    for i, t in enumerate(case.ticks):
        start = last_sent if last_sent is not None else q_arm
        if t.proposal == "push":
            proposal = adversary.push(start, case.target, t.size, t.points)
        elif t.proposal in ("near", "far"):
            scale = t.size if t.proposal == "near" else 10 * t.size
            rng = np.random.default_rng(i)
            proposal = start + np.cumsum(rng.uniform(-scale, scale, (t.points, dof)), axis=0)
        else:
            proposal = np.repeat(start[None], t.points, axis=0)
        stamp: object = now - 0.3 * period
        now_s = now
        if t.clock == "stale":
            stamp = now - cfg.max_obs_age_s - 1e-3 - t.jump_s
        elif t.clock == "future":
            stamp = now + cfg.max_future_stamp_s + 1e-3 + t.jump_s
        elif t.clock == "back":
            now_s = now = now - t.jump_s  # the clock jumps back, and stays there
            stamp = now_s - 0.3 * period
        elif t.clock == "forward":
            now_s = now = now + t.jump_s
        elif t.clock == "nan":
            stamp = math.nan
        tick = FilterTick(
            proposal,
            q_arm.copy(),
            stamp,
            now_s,
            last_sent,
            last_step / period if t.use_velocity else None,
            None,
            t.proposal,
        )
        command, _ = _filter_and_check(out, setup, filt, cfg, tick, f"tick {i}")
        if command is not None and len(command.joint_targets):
            sent = np.array(command.joint_targets[0], dtype=np.float64)
            last_step = sent - (last_sent if last_sent is not None else q_arm)
            last_sent = sent
            q_arm = np.clip(sent + np.asarray(t.noise), adversary.mjcf_lower, adversary.mjcf_upper)
        else:
            last_step = np.zeros(dof)
        now += period
    return out


def _image(kind: str, size: int, seed: int) -> object:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {
        "ok": lambda: rgb,
        "random": lambda: rgb,
        "zero": lambda: np.zeros((size, size, 3), np.uint8),
        "saturated": lambda: np.full((size, size, 3), 255, np.uint8),
        "small": lambda: rgb[:5, :7],
        "large": lambda: rng.integers(0, 256, (300, 200, 3), dtype=np.uint8),
        "float_nan": lambda: np.full((size, size, 3), np.nan, np.float32),
        "float_inf": lambda: np.full((size, size, 3), np.inf, np.float32),
        "uint16": lambda: rgb.astype(np.uint16) * 257,
        "gray": lambda: rgb[..., 0],
        "rgba": lambda: np.concatenate([rgb, rgb[..., :1]], axis=-1),
        "empty": lambda: np.zeros((0, size, 3), np.uint8),
        "bool": lambda: rgb > 127,
        "flat": lambda: rgb.reshape(-1),
        "strided": lambda: rgb[::-1, ::2],
    }[kind]()


def _valid_image(image: object) -> bool:
    """The MPC's documented input contract: uint8 [H, W, 3]."""
    return isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3


def run_mpc_case(setup: CampaignSetup, adversary: Adversary, case: MpcCase) -> Outcome:
    from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC

    out = Outcome()
    user = setup.params
    dof = setup.robot.dof
    if case.model in GARBAGE_MODELS:
        world_model = GarbageWorldModel(case.model, latent_dim=16, action_dim=setup.action_dim)
    else:
        world_model = setup.world_model
    mpc_cfg = setup.campaign_mpc_config(case.optimizer, case.command_steps)
    g_plan = _with_extra(user.planner_guardrails, case.guardrails, setup.base_guardrails)
    probe = None
    if "pose_probe" in case.costs.terms and hasattr(world_model, "probe"):

        def probe(z: torch.Tensor) -> torch.Tensor:
            return world_model.probe("ee_pos", z)

    critic = critic_stand_in(case.critic) if case.critic else None
    try:
        mpc = RecedingHorizonMPC.build(
            world_model, mpc_cfg, case.costs, g_plan, probe=probe, critic=critic, robot=setup.robot
        )
    except ValueError as exc:  # a cost term this model cannot provide: not a case
        out.interventions["config rejected"] += 1
        out.trace.append(f"build: {exc}")
        return out
    inner_cfg = SafetyConfig(guardrails=g_plan, arm=mpc_cfg.arm)  # what RecedingHorizonMPC.build uses
    deployed_cfg = _deployed(setup, case.guardrails)
    deployed = _safety_filter(deployed_cfg, setup.robot)
    try:
        if case.goal_kind.startswith("ee:"):
            mpc.set_goal(ee_goal=case.goal)
        elif case.goal_kind == "image":
            mpc.set_goal_image(_image(str(case.goal), setup.image_size, case.image_seed + 1),
                               setup.proprio(np.zeros(dof)))
        else:
            z = {"nan": math.nan, "huge": 1e30, "zero": 0.0}[str(case.goal)]
            mpc.set_goal(z_goal=torch.full((world_model.latent_dim,), z))
    except Exception as exc:  # noqa: BLE001
        out.error = f"set_goal: {type(exc).__name__}: {exc}"
        return out
    image = _image(case.image, setup.image_size, case.image_seed)
    q_meas, q_target, qd_target = case.q, case.q_target, case.qd_target
    now = 1000.0
    for i in range(case.ticks):
        stamp = now - case.stamp_lag_s
        obs = Observation(
            image=image,
            q=q_meas,
            stamp_s=stamp,
            proprio=setup.proprio(q_meas),
            q_target=q_target,  # type: ignore[arg-type]
            qd_target=qd_target,
        )
        try:
            result = mpc.step(obs, now_s=now)
        except Exception as exc:  # noqa: BLE001 - an escaped exception is reported (not a guardrail breach)
            out.error = f"tick {i}: RecedingHorizonMPC.step raised {type(exc).__name__}: {exc}"
            out.interventions["exception"] += 1
            return out
        plan, command, report = result.plan, result.command, result.report
        out.interventions[f"plan {plan.status.value}"] += 1
        out.record(report)
        label = f"tick {i}"
        actions = plan.actions.detach().cpu().double().numpy()
        if not np.all(np.isfinite(actions)):
            out.violations.append(Violation("non_finite_plan", -1, f"{label}: {plan.status.value} plan"))
        # The MPC's start point and the validity of its inputs, from the documented contract: like the filter, the
        # MPC's start (planner/arm_adapter.py) takes real numbers only (no text, bools or complex values).
        q_t = finite_vector(q_target, dof) if q_target is not None else None
        q0 = q_t if q_t is not None else finite_vector(q_meas, dof)
        stamp_ok = finite_float(stamp)
        fresh = stamp_ok is not None and now - stamp_ok <= mpc_cfg.max_obs_age_s + 1e-9
        if plan.ok:
            if q0 is None or not fresh or not _valid_image(image):
                out.violations.append(
                    Violation(
                        "plan_on_invalid_input",
                        -1,
                        f"{label}: OK plan with q0={q0}, stamp lag {case.stamp_lag_s}, image {case.image}",
                    )
                )
            else:
                qd0 = finite_vector(qd_target, dof) if qd_target is not None else None
                found = setup.truth.check_plan(g_plan, mpc_cfg.arm, q0, actions, qd0)
                out.add(found, f"{label} plan")
        found = setup.truth.check_filter_call(
            inner_cfg,
            q_measured=q_meas,
            stamp_s=stamp,
            now_s=now,
            q_reference=q0,
            qd_reference=qd_target,
            joint_targets=command.joint_targets,
            gripper=command.gripper,
            hold=report.hold,
        )
        out.add(found, f"{label} mpc command")
        q_m = finite_vector(q_meas, dof)
        if not plan.ok and len(command.joint_targets) and q0 is not None and q_m is not None:
            # A non-OK plan is the hold plan: when the filter starts from q0, nothing may move (it may stand at the
            # measured state instead, when the motion back to q0 would break a guardrail: issue 20).
            starts = setup.truth.starts(inner_cfg, q_m, q0, *setup.truth.limits(g_plan))
            at_measured = np.clip(q_m, *setup.truth.limits(g_plan))
            moved = min(float(np.max(np.abs(command.joint_targets - q0))),
                        float(np.max(np.abs(command.joint_targets - at_measured))))
            if len(starts) == 1 and np.array_equal(starts[0], q0) and moved > 1e-9:
                out.violations.append(
                    Violation(
                        "moved_without_plan",
                        -1,
                        f"{label}: {plan.status.value} plan, yet the arm is sent {command.joint_targets.tolist()}",
                    )
                )
        out.trace.append(f"{label}: plan {plan.status.value}; {report.describe()}")
        # The ROS graph: mpc_node publishes the plan as joint targets (filtered head), the safety_filter
        # node filters them again with its own limits.
        sent = command.joint_targets
        if plan.ok and len(sent) and q0 is not None:
            step = mpc_cfg.arm.max_joint_step_rad
            positions = q0[None] + np.cumsum(np.clip(actions[:, :dof], -1, 1) * step, axis=0)
            positions[: len(sent)] = sent
            tick = FilterTick(positions, q_meas, stamp, now, q0, None, None, "published plan")
            c2, _ = _filter_and_check(out, setup, deployed, deployed_cfg, tick, f"{label} safety_filter node")
            if c2 is not None and len(c2.joint_targets):
                sent = c2.joint_targets
        # The arm follows the first point sent; the next tick starts from there.
        if len(sent):
            q_target = np.array(sent[0], dtype=np.float64)
            q_meas = q_target.copy()
        now += mpc_cfg.arm.control_period_s
    return out

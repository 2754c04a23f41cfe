"""What the one receding-horizon MPC (planner/mpc.py) needs to know about the arm it commands, as two adapters.

- JointPositionArm: an arm from its description (a Robot), commanded by joint-position targets. Plans integrate
  joint steps from the last command, guardrails are checked on the known kinematics, and every command goes
  through the arm's SafetyFilter (limits, workspace, keep-out and speed zones, watchdog).
- BoundedActionArm: an arm commanded by bounded actions (torques) with no known kinematics, like the dm_control
  Reacher. Plans carry latents only, the only bound is the action box, and the ActionBoxFilter makes a command
  outside it (or non-finite) impossible.

An adapter builds its PlanProblem, reads the arm's part of an observation, gives the hold plan and the warm
start's tail, and filters the first planned steps; the MPC loop itself is the same for both.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable

import mujoco
import numpy as np
import torch

from jepa_mpc.planner.box_filter import ActionBoxConfig, ActionBoxFilter, BoxCommand, BoxReport
from jepa_mpc.planner.box_problem import BoxPlanProblem, build_box_cost_stack
from jepa_mpc.planner.config import CostConfig, GuardrailConfig, MPCConfig, SafetyConfig
from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.detour import via_point
from jepa_mpc.planner.goal_costs import LatentFn
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.registry import build_cost_stack
from jepa_mpc.planner.safety import SafetyCommand, SafetyFilter, SafetyReport
from jepa_mpc.planner.types import PlanResult, hold_actions
from jepa_mpc.robots import Robot, load_robot

logger = logging.getLogger(__name__)

DETOUR_COSTS = CostConfig(terms=("pose_fk", "action_magnitude", "action_rate"), goal_mode="terminal")
"""The cost while a via point leads around a zone: the tool's distance to it at the end of the plan (the pose-goal
costs)."""


@dataclasses.dataclass(frozen=True)
class ArmStart:
    """Where a plan starts on the arm's side: joint targets q0 [J] and velocities qd0 [J] (J = 0 for an arm with
    no joint targets), and the gripper action in [-1, 1]."""

    q0: np.ndarray
    qd0: np.ndarray
    gripper: float = 1.0


def finite_vector(value: object, length: int) -> np.ndarray | None:
    """`value` as a float64 vector of exactly `length` finite real numbers, else None (text, bools, complex or
    missing entries are not joint readings, even where NumPy would convert them)."""
    try:
        raw = np.asarray(value)
        array = raw.astype(np.float64) if raw.dtype.kind in "iuf" else None
    except (TypeError, ValueError, OverflowError):
        return None
    return array if array is not None and array.shape == (length,) and np.all(np.isfinite(array)) else None


def _hand_radius(robot: Robot, limits) -> float:
    """The largest check-sphere radius on the hand: the nearest link at or above the tool frame that carries check
    spheres, and the links below it (fingers). What passes closest to a zone the tool goes round."""
    model, body = robot.model, robot.tool_body
    bodies = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, p.frame) for p in limits.check_points]

    def below(b: int, top: int) -> bool:  # b is top or one of its descendants
        while b > 0 and b != top:
            b = int(model.body_parentid[b])
        return b == top

    while body > 0:
        hand = [r for b, r in zip(bodies, limits.radii, strict=True) if b >= 0 and r > 0 and below(b, body)]
        if hand:
            return float(max(hand))
        body = int(model.body_parentid[body])
    return float(np.max(limits.radii))


class JointPositionArm:
    """A Robot commanded by joint-position targets, behind its SafetyFilter."""

    def __init__(self, safety: SafetyFilter, action_dim: int,
                 stack_for: Callable[[GuardrailConfig], CostStack] | None = None,
                 detour_stack_for: Callable[[GuardrailConfig], CostStack] | None = None) -> None:
        self.safety, self.dof, self.action_dim = safety, safety.dof, action_dim
        self._stack_for = stack_for  # the same cost terms with other guardrails (set_guardrails)
        self._limits = safety.cfg.guardrails.for_robot(safety.robot)  # check-point radii and the tool's index
        self._hand_radius = _hand_radius(safety.robot, self._limits)
        self._detour_stack_for = detour_stack_for
        self.detour_stack = detour_stack_for(safety.cfg.guardrails) if detour_stack_for else None
        """Pose cost to a via point, with the same guardrails: what an image-goal planner plans with while a
        keep-out zone blocks its way (RecedingHorizonMPC.step)."""

    @staticmethod
    def build(world_model: WorldModelLike, cfg: MPCConfig, costs: CostConfig, guardrails: GuardrailConfig,
              safety: SafetyConfig | None, robot: Robot | str | None, device: torch.device, *,
              probe: LatentFn | None = None, critic: LatentFn | None = None,
              cube_probe: LatentFn | None = None) -> tuple[PlanProblem, JointPositionArm]:
        """The problem (rollouts through the robot's kinematics, costs and guardrails) and the adapter."""
        robot = load_robot(robot if robot is not None else "panda")
        safety = safety if safety is not None else SafetyConfig(guardrails=guardrails, arm=cfg.arm)
        if safety.guardrails != guardrails:
            logger.warning("the safety filter's guardrails differ from the planner's; the filter's win")
        kin = robot.kinematics(device=device)
        stack_for = functools.partial(build_cost_stack, costs, kin=kin, arm=cfg.arm, robot=robot, probe=probe,
                                      critic=critic, cube_probe=cube_probe)
        problem = PlanProblem(world_model, stack_for(guardrails), kin, cfg.arm, compile=cfg.compile,
                              parallel_kinematics=cfg.parallel_kinematics)
        detour_stack_for = functools.partial(build_cost_stack, DETOUR_COSTS, kin=kin, arm=cfg.arm, robot=robot)
        arm = JointPositionArm(SafetyFilter(safety, robot), problem.action_dim, stack_for, detour_stack_for)
        if arm.dof != problem.dof:
            raise ValueError(f"the safety filter's arm has {arm.dof} joints, the planner's {problem.dof}")
        return problem, arm

    def set_guardrails(self, problem: PlanProblem, guardrails: GuardrailConfig) -> None:
        """Plan and filter with other guardrails from now on (e.g. the keep-out zones of a new episode): the planner's
        constraints and the safety filter's limits are rebuilt together, so the two cannot disagree."""
        if self._stack_for is None:
            raise ValueError("this arm adapter was not built by JointPositionArm.build: it cannot rebuild its costs")
        problem.stack = self._stack_for(guardrails)
        self.safety = SafetyFilter(dataclasses.replace(self.safety.cfg, guardrails=guardrails), self.safety.robot)
        self._limits = guardrails.for_robot(self.safety.robot)
        self.detour_stack = self._detour_stack_for(guardrails) if self._detour_stack_for else None

    def route(self, q0: np.ndarray, goal: torch.Tensor, clearance_m: float | None) -> torch.Tensor:
        """The pose goal for this tick [3]: `goal`, or a via point around the keep-out zone that blocks the tool's
        straight path to it (planner/detour.py). `clearance_m` None: the largest check sphere on the tool's own
        link and below it (the hand, the fingers) plus 1 cm."""
        zones = self.safety.cfg.guardrails.keep_out
        if not zones:
            return goal
        if clearance_m is None:
            clearance_m = self._hand_radius + 0.01
        tool = self.safety.points(q0)[self._limits.ee_index]
        via = via_point(tool, goal.detach().cpu().numpy(), zones, clearance_m)
        return torch.as_tensor(via, dtype=goal.dtype, device=goal.device)

    def start(self, obs) -> ArmStart | None:
        """The plan's start: the last command when there is one (the actions integrate from it), else the measured
        joints; None when neither is a finite [J] vector. A last command farther than the safety filter's
        max_tracking_error_rad from the measured arm is not where the arm is any more (something else moved it: a
        simulator reset, another controller): the plan starts from the measured joints, as the filter's check does."""
        q = finite_vector(obs.q, self.dof)
        q_target = finite_vector(obs.q_target, self.dof) if obs.q_target is not None else None
        q_target = self.tracked_command(q, q_target)
        q0 = q_target if q_target is not None else q
        if q0 is None:
            return None
        qd = finite_vector(obs.qd_target, self.dof) if obs.qd_target is not None else None
        gripper = finite_vector([obs.gripper], 1)
        return ArmStart(q0, qd if qd is not None else np.zeros(self.dof),
                        float(gripper[0]) if gripper is not None else 1.0)

    def tracked_command(self, q: np.ndarray | None, q_command: np.ndarray | None) -> np.ndarray | None:
        """The last command when the measured arm q is within the safety filter's max_tracking_error_rad of it (or
        is unknown), else None: farther, something else moved the arm and the command is not where it is."""
        if q_command is not None and q is not None and np.any(
                np.abs(q_command - q) > self.safety.cfg.max_tracking_error_rad):
            q_command = None  # not where the arm is
        return q_command

    def hold(self, horizon: int, gripper: float, device: torch.device) -> torch.Tensor:
        """The hold plan [H, A]: no joint motion, the gripper kept."""
        return hold_actions(horizon, self.action_dim, gripper, device, self.dof)

    def tail(self, hold: torch.Tensor, result: PlanResult) -> torch.Tensor:
        """The step appended to the shifted warm start [1, A]: hold the arm, keep the plan's last gripper action."""
        tail = hold[-1:].clone()
        if self.action_dim > self.dof:
            tail[:, self.dof:] = result.actions[-1:, self.dof:]
        return tail

    def filter(self, actions: np.ndarray, obs, now_s: float, start: ArmStart | None
               ) -> tuple[SafetyCommand, SafetyReport]:
        """The safety filter on the first planned steps (it re-checks the stamp and the measured joints itself)."""
        return self.safety.filter_actions(actions, obs.q, obs.stamp_s, now_s,
                                          q_reference=None if start is None else start.q0,
                                          qd_reference=obs.qd_target)


class BoundedActionArm:
    """An arm commanded by actions inside a box (e.g. torques), with no known kinematics, behind the box filter."""

    dof = 0

    def __init__(self, safety: ActionBoxFilter) -> None:
        if np.any(safety.low < -1.0) or np.any(safety.high > 1.0):
            raise ValueError("the action box must lie inside the planner's normalised space [-1, 1]^A")
        self.safety, self.action_dim = safety, safety.cfg.dim
        self._hold = torch.as_tensor(safety.cfg.hold_action, dtype=torch.float32)

    @staticmethod
    def build(world_model: WorldModelLike, cfg: MPCConfig, costs: CostConfig, box: ActionBoxConfig | None,
              device: torch.device, control_period_s: float, *, probe: LatentFn | None = None,
              critic: LatentFn | None = None) -> tuple[BoxPlanProblem, BoundedActionArm]:
        """The latent-only problem (no guardrail constraints) and the adapter (default box: [-1, 1]^A)."""
        action_dim = int(world_model.action_dim)
        box = box if box is not None else ActionBoxConfig.symmetric(action_dim)
        if box.dim != action_dim:
            raise ValueError(f"action box has {box.dim} dims, the world model {action_dim}")
        stack = build_box_cost_stack(costs, probe=probe, critic=critic, action_dim=action_dim)
        problem = BoxPlanProblem(world_model, stack, device, control_period_s, compile=cfg.compile)
        return problem, BoundedActionArm(ActionBoxFilter(box))

    def start(self, obs) -> ArmStart:
        """No joint targets to integrate: the plan's actions are the commands."""
        return ArmStart(np.zeros(0), np.zeros(0))

    def hold(self, horizon: int, gripper: float, device: torch.device) -> torch.Tensor:
        """The hold plan [H, A]: the box's hold action (zero torque by default) at every step."""
        return self._hold.to(device).expand(horizon, -1).clone()

    def tail(self, hold: torch.Tensor, result: PlanResult) -> torch.Tensor:
        """The step appended to the shifted warm start [1, A]: the hold action."""
        return hold[-1:]

    def filter(self, actions: np.ndarray, obs, now_s: float, start: ArmStart | None
               ) -> tuple[BoxCommand, BoxReport]:
        """The action-box filter on the first planned steps."""
        return self.safety.filter(actions)

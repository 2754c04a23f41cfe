"""The receding-horizon loop: observe -> encode -> plan -> filter -> command, timing every stage.

One MPC for every arm: an arm adapter (planner/arm_adapter.py) says how plans start on the arm, what holding
means and which filter checks the command (joint-position arms with a Robot behind its SafetyFilter; bounded-action
arms such as the Reacher behind the action box). The loop owns the warm start (previous plan shifted one step),
reset, and the bounded retries after an INFEASIBLE solve (nav2's fallback, with the counter as instance state).
Whatever happens, the command comes out of the filter; any non-OK plan is the hold plan.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping

import numpy as np
import torch

from jepa_mpc.models.device import resolve_device, synchronize
from jepa_mpc.planner.arm_adapter import ArmStart, BoundedActionArm, JointPositionArm
from jepa_mpc.planner.box_filter import ActionBoxConfig, BoxCommand, BoxReport
from jepa_mpc.planner.config import CostConfig, GuardrailConfig, MPCConfig, SafetyConfig
from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.goal_costs import LatentFn
from jepa_mpc.planner.goal_state import GoalLatentState, valid_image
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.safety import SafetyCommand, SafetyReport
from jepa_mpc.planner.solver import SolverMixin
from jepa_mpc.planner.stamps import StampStatus, stamp_age_status
from jepa_mpc.planner.types import PlanContext, PlanResult, PlanStatus
from jepa_mpc.robots import Robot

logger = logging.getLogger(__name__)

ArmAdapter = JointPositionArm | BoundedActionArm


def _finite_or_none(value: object) -> bool:
    """None, or an array of finite numbers (the encoder's proprioception)."""
    if value is None:
        return True
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError, OverflowError):
        return False


@dataclasses.dataclass(frozen=True)
class Observation:
    """One stamped observation, as NumPy arrays. `q` and the command fields are for joint-position arms; an arm
    with no joint targets (bounded actions) gives q=None."""

    image: np.ndarray  # uint8 [H, W, 3]
    q: np.ndarray | None  # measured arm joint positions [J] (model convention)
    stamp_s: float  # capture time, same clock as the now_s given to step()
    proprio: np.ndarray | None = None  # [P], passed to the encoder
    q_target: np.ndarray | None = None  # last commanded joint targets [J] (the actions integrate from these)
    qd_target: np.ndarray | None = None  # last commanded joint velocity [J]
    gripper: float = 1.0  # last gripper action in [-1, 1]


@dataclasses.dataclass(frozen=True)
class TickResult:
    """Everything one control tick produced."""

    plan: PlanResult
    command: SafetyCommand | BoxCommand
    report: SafetyReport | BoxReport
    timings_s: Mapping[str, float]  # observe, encode, plan, filter, total


class RecedingHorizonMPC(GoalLatentState, SolverMixin):
    """One planner instance for one arm; `step(obs, now_s)` runs a full tick."""

    def __init__(self, problem: PlanProblem, cfg: MPCConfig, arm: ArmAdapter) -> None:
        if arm.dof != problem.dof or arm.action_dim != problem.action_dim:
            raise ValueError(f"the arm takes {arm.action_dim} actions over {arm.dof} joints, the planning problem "
                             f"{problem.action_dim} over {problem.dof}")
        self.problem, self.cfg, self.arm = problem, cfg, arm
        self.action_dim, self.dof = problem.action_dim, problem.dof
        self._init_goal_state(problem.world_model, problem.device)
        self._init_solver(problem, cfg)
        self._goal_position_of: torch.Tensor | None = None  # the z_goal _goal_position_cache was read from
        self._goal_position_cache: torch.Tensor | None = None

    @property
    def safety(self):
        """The filter every command goes through (SafetyFilter, or ActionBoxFilter for a bounded-action arm)."""
        return self.arm.safety

    @classmethod
    def build(
        cls,
        world_model: WorldModelLike,
        cfg: MPCConfig = MPCConfig(),
        costs: CostConfig = CostConfig(),
        guardrails: GuardrailConfig = GuardrailConfig(),
        safety: SafetyConfig | None = None,
        *,
        robot: Robot | str | None = None,
        box: ActionBoxConfig | None = None,
        control_period_s: float = 0.1,
        probe: LatentFn | None = None,
        critic: LatentFn | None = None,
        cube_probe: LatentFn | None = None,
    ) -> RecedingHorizonMPC:
        """The one planner factory. With `box`: a bounded-action arm (no kinematics; `control_period_s` is its
        step). Otherwise a joint-position arm from `robot` (default: the Panda) with its guardrails and safety
        filter (`safety` defaults to the planner's guardrails)."""
        device = resolve_device(cfg.device)
        if box is not None:
            if robot is not None or safety is not None or guardrails != GuardrailConfig() or cube_probe is not None:
                raise ValueError("a bounded-action arm (box) has no robot, guardrails, safety filter or cube probe")
            problem, arm = BoundedActionArm.build(world_model, cfg, costs, box, device, control_period_s,
                                                  probe=probe, critic=critic)
        else:
            problem, arm = JointPositionArm.build(world_model, cfg, costs, guardrails, safety, robot, device,
                                                  probe=probe, critic=critic, cube_probe=cube_probe)
        return cls(problem, cfg, arm)

    def set_guardrails(self, guardrails: GuardrailConfig) -> None:
        """Plan and filter with other guardrails from now on (a joint-position arm only; e.g. the keep-out zones of a
        new episode). The warm start is forgotten: the old plan was judged against the old limits."""
        if not isinstance(self.arm, JointPositionArm):
            raise ValueError("a bounded-action arm has no guardrails to set")
        self.arm.set_guardrails(self.problem, guardrails)
        self.reset()
        if self.graphed is not None:  # the captured graph holds the old stack: capture again
            self._init_solver(self.problem, self.cfg)

    # ------------------------------------------------------------------------------------- plan

    def _held(self, gripper: float, status: PlanStatus) -> PlanResult:
        return PlanResult(actions=self.arm.hold(self.cfg.horizon, gripper, self.device), status=status,
                          cost=math.inf, iterations=0, solve_time_s=0.0, attempts=0)

    def plan(self, ctx: PlanContext, stack: CostStack | None = None) -> PlanResult:
        """Warm-started solve, bounded retries, final feasibility check; updates the warm start. `stack`: plan with
        these costs this once instead of the problem's own (a detour around a keep-out zone)."""
        own = self.problem.stack
        if stack is not None:
            self.problem.stack = stack
        try:
            return self._plan(ctx, eager=stack is not None)
        finally:
            self.problem.stack = own

    def _plan(self, ctx: PlanContext, eager: bool) -> PlanResult:
        start = time.perf_counter()
        missing = self.problem.stack.requires - ctx.goals()
        if missing:
            logger.warning("cannot plan: missing goal(s) %s", sorted(missing))
            self.reset()
            return self._held(ctx.gripper, PlanStatus.NO_GOAL)
        hold = self.arm.hold(self.cfg.horizon, ctx.gripper, self.device)
        init = self._warm if (self.cfg.warm_start and self._warm is not None) else hold
        init_std: float | None = None
        budget = self.cfg.plan_budget_s
        deadline = time.monotonic() + budget if budget is not None else None
        attempts = 0
        while True:
            attempts += 1
            result, check = self._solve(ctx, init, init_std, hold, deadline, eager)
            out_of_time = deadline is not None and time.monotonic() > deadline
            if result.status is not PlanStatus.INFEASIBLE or attempts > self.cfg.max_retries or out_of_time:
                break
            logger.info("plan infeasible (attempt %d); retrying from a cold start", attempts)
            init, init_std = hold, self.cfg.cem.max_std  # cold start, widest search
        result = self._validated(result, check, ctx, hold)
        result = dataclasses.replace(result, attempts=attempts, solve_time_s=time.perf_counter() - start)
        self.remember(result, self.arm.tail(hold, result))
        return result

    def _detour(self, q0: np.ndarray) -> tuple[torch.Tensor | None, CostStack | None]:
        """(pose goal, cost stack) of this tick: a pose goal is routed around keep-out zones (planner/detour.py); an
        image goal whose position the model can read (its ee_pos probe) gives way to a pose cost to a via point while
        a zone blocks the way to it. A stack of None: plan with the problem's own costs."""
        arm = self.arm
        if not (self.cfg.detour and isinstance(arm, JointPositionArm) and arm.safety.cfg.guardrails.keep_out):
            return self.ee_goal, None
        if self.ee_goal is not None:
            return self.arm.route(q0, self.ee_goal, self.cfg.detour_clearance_m), None
        goal = self._goal_position()
        if goal is None or self.arm.detour_stack is None:
            return None, None
        via = self.arm.route(q0, goal, self.cfg.detour_clearance_m)
        return (None, None) if torch.equal(via, goal) else (via, self.arm.detour_stack)

    def _goal_position(self) -> torch.Tensor | None:
        """Where the goal image shows the tool [3], read by the world model's ee_pos probe; None without one."""
        probes = getattr(self.world_model, "probes", None)
        if self.z_goal is None or probes is None or "ee_pos" not in probes:
            return None
        if self._goal_position_of is not self.z_goal:  # once per goal
            with torch.no_grad():
                self._goal_position_cache = self.world_model.probe("ee_pos", self.z_goal[None])[0].float()
            self._goal_position_of = self.z_goal
        return self._goal_position_cache

    # ------------------------------------------------------------------------------------- tick

    def _input_status(self, obs: Observation, now: float, arm_start: ArmStart | None) -> PlanStatus:
        """OK, INVALID_INPUT (unreadable image, stamp, joints or proprioception) or STALE_INPUT (too old, or
        stamped beyond the allowed clock skew into the future)."""
        stamp = stamp_age_status(obs.stamp_s, now, self.cfg.max_obs_age_s, self.cfg.max_future_stamp_s)
        if arm_start is None or stamp is StampStatus.INVALID or not valid_image(obs.image) \
                or not _finite_or_none(obs.proprio):
            return PlanStatus.INVALID_INPUT
        return PlanStatus.OK if stamp is StampStatus.FRESH else PlanStatus.STALE_INPUT

    def step(self, obs: Observation, now_s: float | None = None) -> TickResult:
        """observe -> encode -> plan -> filter; now_s defaults to time.monotonic() (stamp_s's clock)."""
        t_start = time.perf_counter()
        now = time.monotonic() if now_s is None else now_s
        timings: dict[str, float] = {}
        arm_start = self.arm.start(obs)
        gripper = arm_start.gripper if arm_start is not None else 1.0
        status = self._input_status(obs, now, arm_start)
        timings["observe"] = time.perf_counter() - t_start

        t = time.perf_counter()
        z0 = None
        if status is PlanStatus.OK:
            z0 = self.encode(obs.image, obs.proprio)
            synchronize(self.device)  # host sync for an honest stage time (outside any solve)
            if not bool(torch.isfinite(z0).all()):
                status = PlanStatus.INVALID_INPUT
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        if status is PlanStatus.OK and z0 is not None and arm_start is not None:
            ee_goal, stack = self._detour(arm_start.q0)
            ctx = PlanContext(
                z0=z0,
                q0=torch.as_tensor(arm_start.q0, dtype=torch.float32, device=self.device),
                qd0=torch.as_tensor(arm_start.qd0, dtype=torch.float32, device=self.device),
                z_goal=self.z_goal,
                ee_goal=ee_goal,
                prev_action=self._prev_action,
                gripper=gripper,
            )
            plan = self.plan(ctx, stack)
        else:
            logger.warning("holding: %s", status.value)
            self.reset()
            plan = self._held(gripper, status)
        timings["plan"] = time.perf_counter() - t

        t = time.perf_counter()
        actions = plan.actions[: self.cfg.command_steps].detach().cpu().numpy().astype(np.float64)
        command, report = self.arm.filter(actions, obs, now, arm_start)
        if not plan.ok:  # the hold plan passed the filter; mark it as a hold for the caller
            command = dataclasses.replace(command, hold=True)
        if not report.ok:
            logger.info("filter: %s", report.describe())
        timings["filter"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        return TickResult(plan=plan, command=command, report=report, timings_s=timings)

"""The receding-horizon loop: observe -> encode -> plan -> safety filter -> command, timing every stage.

It owns the warm start (previous plan shifted one step), reset, and the bounded retries after an
INFEASIBLE solve (nav2's fallback, with the counter as instance state). Whatever happens, the command
comes out of the safety filter; any non-OK plan is the hold plan.
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
from jepa_mpc.planner.config import CostConfig, GuardrailConfig, MPCConfig, SafetyConfig
from jepa_mpc.planner.goal_costs import LatentFn
from jepa_mpc.planner.goal_state import GoalLatentState, valid_image
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.registry import build_cost_stack
from jepa_mpc.planner.safety import SafetyCommand, SafetyFilter, SafetyReport
from jepa_mpc.planner.solver import SolverMixin
from jepa_mpc.planner.types import PlanContext, PlanResult, PlanStatus, hold_actions
from jepa_mpc.robots import Robot, load_robot

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Observation:
    """One stamped observation, as NumPy arrays."""

    image: np.ndarray  # uint8 [H, W, 3]
    q: np.ndarray  # measured arm joint positions [J] (model convention)
    stamp_s: float  # capture time, same clock as the now_s given to step()
    proprio: np.ndarray | None = None  # [P], passed to the encoder
    q_target: np.ndarray | None = (
        None  # last commanded joint targets [J] (the actions integrate from these)
    )
    qd_target: np.ndarray | None = None  # last commanded joint velocity [J]
    gripper: float = 1.0  # last gripper action in [-1, 1]


@dataclasses.dataclass(frozen=True)
class TickResult:
    """Everything one control tick produced."""

    plan: PlanResult
    command: SafetyCommand
    report: SafetyReport
    timings_s: Mapping[str, float]  # observe, encode, plan, filter, total


def _finite_vector(value: object, length: int) -> np.ndarray | None:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return array if array.shape == (length,) and np.all(np.isfinite(array)) else None


class RecedingHorizonMPC(GoalLatentState, SolverMixin):
    """One planner instance for one arm; `step(obs, now_s)` runs a full tick."""

    def __init__(self, problem: PlanProblem, cfg: MPCConfig, safety: SafetyFilter) -> None:
        self.problem, self.cfg, self.safety = problem, cfg, safety
        self.action_dim, self.dof = problem.action_dim, problem.dof
        if safety.dof != self.dof:
            raise ValueError(f"the safety filter's arm has {safety.dof} joints, the planner's {self.dof}")
        self._init_goal_state(problem.world_model, problem.device)
        self._init_solver(problem, cfg)

    @classmethod
    def build(
        cls,
        world_model: WorldModelLike,
        cfg: MPCConfig = MPCConfig(),
        costs: CostConfig = CostConfig(),
        guardrails: GuardrailConfig = GuardrailConfig(),
        safety: SafetyConfig | None = None,
        *,
        probe: LatentFn | None = None,
        critic: LatentFn | None = None,
        cube_probe: LatentFn | None = None,
        robot: Robot | str | None = None,
    ) -> RecedingHorizonMPC:
        """Wire kinematics, costs, guardrails, optimiser and safety filter for one Robot (default: the Panda)."""
        robot = load_robot(robot if robot is not None else "panda")
        device = resolve_device(cfg.device)
        safety = safety if safety is not None else SafetyConfig(guardrails=guardrails, arm=cfg.arm)
        if safety.guardrails != guardrails:
            logger.warning("the safety filter's guardrails differ from the planner's; the filter's win")
        kin = robot.kinematics(device=device)
        stack = build_cost_stack(costs, guardrails, kin, cfg.arm, robot, probe=probe, critic=critic,
                                 cube_probe=cube_probe)
        problem = PlanProblem(world_model, stack, kin, cfg.arm, compile=cfg.compile)
        return cls(problem, cfg, SafetyFilter(safety, robot))

    # ------------------------------------------------------------------------------------ state

    # ------------------------------------------------------------------------------------- plan

    def _result(self, ctx_gripper: float, status: PlanStatus) -> PlanResult:
        hold = hold_actions(self.cfg.horizon, self.action_dim, ctx_gripper, self.device, self.dof)
        return PlanResult(
            actions=hold, status=status, cost=math.inf, iterations=0, solve_time_s=0.0, attempts=0
        )

    def plan(self, ctx: PlanContext) -> PlanResult:
        """Warm-started solve, bounded retries, final feasibility check; updates the warm start."""
        start = time.perf_counter()
        missing = self.problem.stack.requires - ctx.goals()
        if missing:
            logger.warning("cannot plan: missing goal(s) %s", sorted(missing))
            self.reset()
            return self._result(ctx.gripper, PlanStatus.NO_GOAL)
        hold = hold_actions(self.cfg.horizon, self.action_dim, ctx.gripper, self.device, self.dof)
        init = self._warm if (self.cfg.warm_start and self._warm is not None) else hold
        init_std: float | None = None
        budget = self.cfg.plan_budget_s
        deadline = time.monotonic() + budget if budget is not None else None
        attempts = 0
        while True:
            attempts += 1
            result, check = self._solve(ctx, init, init_std, hold, deadline)
            out_of_time = deadline is not None and time.monotonic() > deadline
            if (
                result.status is not PlanStatus.INFEASIBLE
                or attempts > self.cfg.max_retries
                or out_of_time
            ):
                break
            logger.info("plan infeasible (attempt %d); retrying from a cold start", attempts)
            init, init_std = hold, self.cfg.cem.max_std  # cold start, widest search
        result = self._validated(result, check, ctx, hold)
        result = dataclasses.replace(result, attempts=attempts, solve_time_s=time.perf_counter() - start)
        tail = hold[-1:].clone()  # the shifted plan ends holding the arm, with the plan's last gripper action
        if self.action_dim > self.dof:
            tail[:, self.dof:] = result.actions[-1:, self.dof:]
        self.remember(result, tail)
        return result

    # ------------------------------------------------------------------------------------- tick

    def step(self, obs: Observation, now_s: float | None = None) -> TickResult:
        """observe -> encode -> plan -> filter; now_s defaults to time.monotonic() (stamp_s's clock)."""
        t_start = time.perf_counter()
        now = time.monotonic() if now_s is None else now_s
        timings: dict[str, float] = {}
        gripper = float(obs.gripper) if _finite_vector([obs.gripper], 1) is not None else 1.0
        q = _finite_vector(obs.q, self.dof)
        q_target = _finite_vector(obs.q_target, self.dof) if obs.q_target is not None else None
        q0 = q_target if q_target is not None else q
        stamp_arr = _finite_vector([obs.stamp_s], 1)
        stamp = None if stamp_arr is None else float(stamp_arr[0])
        image = obs.image
        status = PlanStatus.OK
        if (
            q0 is None
            or stamp is None
            or not valid_image(image)
        ):
            status = PlanStatus.INVALID_INPUT
        elif now - stamp > self.cfg.max_obs_age_s:
            status = PlanStatus.STALE_INPUT
        timings["observe"] = time.perf_counter() - t_start

        t = time.perf_counter()
        z0 = None
        if status is PlanStatus.OK:
            z0 = self.encode(image, obs.proprio)
            synchronize(self.device)  # host sync for an honest stage time (outside any solve)
            if not bool(torch.isfinite(z0).all()):
                status = PlanStatus.INVALID_INPUT
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        if status is PlanStatus.OK and z0 is not None and q0 is not None:
            qd = _finite_vector(obs.qd_target, self.dof) if obs.qd_target is not None else None
            ctx = PlanContext(
                z0=z0,
                q0=torch.as_tensor(q0, dtype=torch.float32, device=self.device),
                qd0=torch.as_tensor(
                    qd if qd is not None else np.zeros(self.dof), dtype=torch.float32, device=self.device
                ),
                z_goal=self.z_goal,
                ee_goal=self.ee_goal,
                prev_action=self._prev_action,
                gripper=gripper,
            )
            plan = self.plan(ctx)
        else:
            logger.warning("holding: %s", status.value)
            self.reset()
            plan = self._result(gripper, status)
        timings["plan"] = time.perf_counter() - t

        t = time.perf_counter()
        actions = plan.actions[: self.cfg.command_steps].detach().cpu().numpy().astype(np.float64)
        command, report = self.safety.filter_actions(
            actions, obs.q, obs.stamp_s, now, q_reference=q0, qd_reference=obs.qd_target
        )
        if not plan.ok:  # the hold plan passed the filter; mark it as a hold for the caller
            command = dataclasses.replace(command, hold=True)
        if not report.ok:
            logger.info("safety filter: %s", report.describe())
        timings["filter"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        return TickResult(plan=plan, command=command, report=report, timings_s=timings)

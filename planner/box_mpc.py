"""Receding-horizon MPC for arms commanded by bounded actions (torques) with no known kinematics.

The sibling of planner/mpc.py's RecedingHorizonMPC for e.g. the dm_control Reacher: the same optimisers
(CEM, gradient, hybrid) and cost terms, a BoxPlanProblem with latent-only rollouts instead of a Robot's
kinematics, and the ActionBoxFilter (finite and inside the action box) instead of the arm's safety filter.
Such an arm has no Cartesian guardrails, so its only guardrail violation is a command outside the box or
non-finite, which the filter makes impossible. The hold plan is the filter's hold action (zero torque by
default). MPCConfig's `arm` and `max_retries` do not apply: no joint targets are integrated, and with no
constraints a solve is never infeasible.
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
from jepa_mpc.planner.box_filter import ActionBoxConfig, ActionBoxFilter, BoxCommand, BoxReport
from jepa_mpc.planner.box_problem import BoxPlanProblem, build_box_cost_stack
from jepa_mpc.planner.config import CostConfig, MPCConfig
from jepa_mpc.planner.goal_costs import LatentFn
from jepa_mpc.planner.goal_state import GoalLatentState, valid_image
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.solver import SolverMixin
from jepa_mpc.planner.types import PlanContext, PlanResult, PlanStatus

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BoxObservation:
    """One stamped observation: image (+ the proprioception the encoder reads)."""

    image: np.ndarray  # uint8 [H, W, 3]
    stamp_s: float  # capture time, same clock as the now_s given to step()
    proprio: np.ndarray | None = None  # [P]


@dataclasses.dataclass(frozen=True)
class BoxTickResult:
    """Everything one control tick produced."""

    plan: PlanResult
    command: BoxCommand
    report: BoxReport
    timings_s: Mapping[str, float]  # observe, encode, plan, filter, total


class BoxActionMPC(GoalLatentState, SolverMixin):
    """One planner for one bounded-action arm; `step(obs, now_s)` runs a full tick."""

    def __init__(self, problem: BoxPlanProblem, cfg: MPCConfig, safety: ActionBoxFilter) -> None:
        if safety.cfg.dim != problem.action_dim:
            raise ValueError(f"action box has {safety.cfg.dim} dims, the world model {problem.action_dim}")
        if np.any(safety.low < -1.0) or np.any(safety.high > 1.0):
            raise ValueError("the action box must lie inside the planner's normalised space [-1, 1]^A")
        self.problem, self.cfg, self.safety = problem, cfg, safety
        self.action_dim = problem.action_dim
        self._init_goal_state(problem.world_model, problem.device)
        self._init_solver(problem, cfg)
        hold = torch.as_tensor(safety.cfg.hold_action, dtype=torch.float32, device=self.device)
        self._hold = hold.expand(cfg.horizon, -1).clone()  # [H, A]
        self._empty = torch.zeros(0, device=self.device)  # no joints

    @classmethod
    def build(
        cls,
        world_model: WorldModelLike,
        cfg: MPCConfig = MPCConfig(),
        costs: CostConfig = CostConfig(),
        box: ActionBoxConfig | None = None,
        *,
        control_period_s: float = 0.1,
        probe: LatentFn | None = None,
        critic: LatentFn | None = None,
    ) -> BoxActionMPC:
        """Wire costs, optimiser and the action-box filter (default box: [-1, 1]^A)."""
        device = resolve_device(cfg.device)
        box = box if box is not None else ActionBoxConfig.symmetric(int(world_model.action_dim))
        stack = build_box_cost_stack(costs, probe=probe, critic=critic, action_dim=int(world_model.action_dim))
        problem = BoxPlanProblem(world_model, stack, device, control_period_s, compile=cfg.compile)
        return cls(problem, cfg, ActionBoxFilter(box))

    # ------------------------------------------------------------------------------------ state

    # ------------------------------------------------------------------------------------- plan

    def _held(self, status: PlanStatus) -> PlanResult:
        return PlanResult(actions=self._hold.clone(), status=status, cost=math.inf, iterations=0,
                          solve_time_s=0.0, attempts=0)

    def plan(self, ctx: PlanContext) -> PlanResult:
        """Warm-started solve and final finiteness check; updates the warm start."""
        start = time.perf_counter()
        missing = self.problem.stack.requires - ctx.goals()
        if missing:
            logger.warning("cannot plan: missing goal(s) %s", sorted(missing))
            self.reset()
            return self._held(PlanStatus.NO_GOAL)
        init = self._warm if (self.cfg.warm_start and self._warm is not None) else self._hold
        deadline = time.monotonic() + self.cfg.plan_budget_s if self.cfg.plan_budget_s is not None else None
        result, check = self._solve(ctx, init, None, self._hold, deadline)
        result = self._validated(result, check, ctx, self._hold)  # no constraints: only a non-finite cost fails
        result = dataclasses.replace(result, solve_time_s=time.perf_counter() - start)
        self.remember(result, self._hold[-1:])
        return result

    # ------------------------------------------------------------------------------------- tick

    def step(self, obs: BoxObservation, now_s: float | None = None) -> BoxTickResult:
        """observe -> encode -> plan -> filter; now_s defaults to time.monotonic() (stamp_s's clock)."""
        t_start = time.perf_counter()
        now = time.monotonic() if now_s is None else now_s
        timings: dict[str, float] = {}
        status = PlanStatus.OK
        try:
            stamp = float(obs.stamp_s)
        except (TypeError, ValueError, OverflowError):
            stamp = math.nan
        proprio = None
        if obs.proprio is not None:
            try:
                proprio = np.asarray(obs.proprio, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                proprio = np.full(1, np.nan)
        if not valid_image(obs.image) or not math.isfinite(stamp) or (
                proprio is not None and not np.all(np.isfinite(proprio))):
            status = PlanStatus.INVALID_INPUT
        elif now - stamp > self.cfg.max_obs_age_s:
            status = PlanStatus.STALE_INPUT
        timings["observe"] = time.perf_counter() - t_start

        t = time.perf_counter()
        z0 = None
        if status is PlanStatus.OK:
            z0 = self.encode(obs.image, proprio)
            synchronize(self.device)  # host sync for an honest stage time (outside any solve)
            if not bool(torch.isfinite(z0).all()):
                status = PlanStatus.INVALID_INPUT
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        if status is PlanStatus.OK and z0 is not None:
            ctx = PlanContext(z0=z0, q0=self._empty, qd0=self._empty, z_goal=self.z_goal, ee_goal=self.ee_goal,
                              prev_action=self._prev_action)
            plan = self.plan(ctx)
        else:
            logger.warning("holding: %s", status.value)
            self.reset()
            plan = self._held(status)
        timings["plan"] = time.perf_counter() - t

        t = time.perf_counter()
        command, report = self.safety.filter(plan.actions[: self.cfg.command_steps].detach().cpu().numpy())
        if not plan.ok:  # the hold plan passed the filter; mark it as a hold for the caller
            command = dataclasses.replace(command, hold=True)
        if not report.ok:
            logger.info("action filter: %s", report.describe())
        timings["filter"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        return BoxTickResult(plan=plan, command=command, report=report, timings_s=timings)

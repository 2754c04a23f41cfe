"""The planning problem: world model + cost stack + arm kinematics, evaluated on batches of plans.

Optimisers only see `objective(actions [K, H, A]) -> Evaluation`; never the model or the costs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import torch

from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.rollout import RolloutBuilder
from jepa_mpc.planner.types import Evaluation, PlanContext
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.kinematics import ArmKinematics

logger = logging.getLogger(__name__)

Objective = Callable[[torch.Tensor], Evaluation]


class PlanProblem:
    """Evaluates candidate plans for a PlanContext (`compile=True` compiles rollout and kinematics)."""

    def __init__(
        self,
        world_model: WorldModelLike,
        stack: CostStack,
        kinematics: ArmKinematics,
        arm: ArmControlConfig,
        *,
        compile: bool = False,
        parallel_kinematics: bool = False,
    ) -> None:
        self.dof = len(kinematics.joint_names)
        if world_model.action_dim < self.dof:
            raise ValueError(f"world model action_dim={world_model.action_dim} < {self.dof} arm joints")
        self.world_model, self.stack, self.kinematics, self.arm = world_model, stack, kinematics, arm
        self.action_dim = int(world_model.action_dim)
        self.device = kinematics.device
        rollout_fn = world_model.rollout
        self.rollouts = RolloutBuilder(rollout_fn, kinematics, arm,
                                       parallel=parallel_kinematics and self.device.type == "cpu")
        if compile:
            # CUDA graphs ("reduce-overhead") only pay off on a GPU; on CPU plain inductor fusion.
            mode = "reduce-overhead" if self.device.type == "cuda" else "default"
            logger.info("torch.compile(mode=%s) for the world-model rollout and kinematics", mode)
            self.rollouts.world_model_rollout = torch.compile(rollout_fn, mode=mode, dynamic=False)
            self.rollouts.fk = torch.compile(kinematics.forward, mode=mode, dynamic=False)

    def evaluate(self, actions: torch.Tensor, ctx: PlanContext) -> Evaluation:
        """actions [K, H, A] -> Evaluation over K (grad flows to actions when enabled)."""
        rollout, guardrails = self.rollouts.with_arm_checks(actions, ctx, lambda r: self.stack.guardrails(r, ctx))
        return self.stack.evaluate(rollout, ctx, guardrails)

    def objective(self, ctx: PlanContext) -> Objective:
        """The objective bound to one context, as the optimisers take it."""
        return functools.partial(self.evaluate, ctx=ctx)

    @torch.no_grad()
    def check_values(self, actions: torch.Tensor, ctx: PlanContext) -> tuple[list[str], torch.Tensor]:
        """The final validation of one plan [H, A], left on the device: (term names, values [3 + terms]) with
        feasible, finite, soft cost, then each term. No host sync, so a CUDA graph can capture it."""
        rollout = self.rollouts(actions[None], ctx)
        ev = self.stack.evaluate(rollout, ctx)
        terms = self.stack.breakdown(rollout, ctx)
        names = list(terms)
        values = torch.stack(
            [ev.feasible.float()[0], ev.finite.float()[0], ev.soft[0], *(terms[n][0].float() for n in names)]
        )
        return names, values

    @staticmethod
    def read_check(names: list[str], values: torch.Tensor) -> tuple[bool, bool, float, dict[str, float]]:
        """check_values on the host: (feasible, finite, soft cost, per-term breakdown); one host sync."""
        host = values.cpu().tolist()
        return host[0] > 0.5, host[1] > 0.5, float(host[2]), dict(zip(names, host[3:], strict=True))

    def check(self, actions: torch.Tensor, ctx: PlanContext) -> tuple[bool, bool, float, dict[str, float]]:
        """Final validation of one plan [H, A]: (feasible, finite, soft cost, per-term breakdown).

        One host sync, once per tick.
        """
        return self.read_check(*self.check_values(actions, ctx))

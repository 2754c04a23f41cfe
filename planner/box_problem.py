"""The planning problem for an arm without known kinematics: world model + cost stack over bounded actions.

A torque-driven arm such as the dm_control Reacher has no joint-target trajectory to integrate and no
Cartesian guardrails to check, so its rollouts carry only the predicted latents; the joint and check-point
arrays of the Rollout are empty (J = 0, P = 0) and the stack has no constraints (every sample is feasible).
Costs that read the latents or the actions work unchanged (goal_energy, pose_probe, critic,
action_magnitude, action_rate); pose_fk needs kinematics and is refused. The action box is the planner's
normalised space [-1, 1]^A, which CEM and the gradient planner already project onto.
"""

from __future__ import annotations

import logging

import torch

from jepa_mpc.planner.config import CostConfig
from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.goal_costs import LatentFn
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.protocols import WorldModelLike
from jepa_mpc.planner.registry import CostDeps, build_cost
from jepa_mpc.planner.types import PlanContext, Rollout

logger = logging.getLogger(__name__)

KINEMATIC_COSTS = frozenset({"pose_fk"})
"""Cost terms that need known arm kinematics (not available without an arm model)."""


def build_box_cost_stack(
    costs: CostConfig, *, probe: LatentFn | None = None, critic: LatentFn | None = None, action_dim: int = 0
) -> CostStack:
    """The configured cost terms with their weights and no guardrail constraints. Every one of the `action_dim`
    action entries is a command (no joint steps, no gripper entry)."""
    kinematic = sorted(KINEMATIC_COSTS.intersection(costs.terms))
    if kinematic:
        raise ValueError(
            f"cost terms {kinematic} need arm kinematics; without an arm model plan to a goal latent "
            "(goal_energy) or through a learned probe (pose_probe)"
        )
    deps = CostDeps(ee_index=-1, dof=action_dim, probe=probe, critic=critic)
    return CostStack([(costs.weight(n), build_cost(n, costs, deps)) for n in costs.terms], [])


class LatentRolloutBuilder:
    """actions [K, H, A] -> Rollout with predicted latents only (empty joint and check-point arrays)."""

    def __init__(self, world_model_rollout, control_period_s: float) -> None:
        self.world_model_rollout = world_model_rollout
        self.dt = float(control_period_s)

    def __call__(self, actions: torch.Tensor, ctx: PlanContext) -> Rollout:
        k, horizon = actions.shape[0], actions.shape[1]
        z = self.world_model_rollout(ctx.z0.expand(k, -1), actions)  # [K, H, D]
        return Rollout(
            actions=actions,
            z=z,
            q=actions.new_zeros(k, horizon + 1, 0),
            qd=actions.new_zeros(k, horizon, 0),
            points=actions.new_zeros(k, horizon + 1, 0, 3),
            dt=self.dt,
        )

    def with_arm_checks(self, actions: torch.Tensor, ctx: PlanContext, checks):
        """(the Rollout, checks(it)), as RolloutBuilder.with_arm_checks (no arm: nothing to overlap)."""
        rollout = self(actions, ctx)
        return rollout, checks(rollout)


class BoxPlanProblem(PlanProblem):
    """PlanProblem (same evaluate / objective / check) with latent-only rollouts instead of arm rollouts."""

    def __init__(
        self,
        world_model: WorldModelLike,
        stack: CostStack,
        device: torch.device,
        control_period_s: float,
        *,
        compile: bool = False,
    ) -> None:
        # Deliberately not PlanProblem.__init__: that one wires a Robot's kinematics, which this problem has none of.
        if stack.constraints:
            raise ValueError("an arm-less problem has no guardrail constraints (the action box is the only bound)")
        self.world_model, self.stack = world_model, stack
        self.kinematics, self.arm = None, None
        self.action_dim = int(world_model.action_dim)
        self.dof = 0  # no arm joints: the actions are the commands themselves
        self.device = device
        rollout_fn = world_model.rollout
        if compile:
            mode = "reduce-overhead" if device.type == "cuda" else "default"
            logger.info("torch.compile(mode=%s) for the world-model rollout", mode)
            rollout_fn = torch.compile(rollout_fn, mode=mode, dynamic=False)
        self.rollouts = LatentRolloutBuilder(rollout_fn, control_period_s)

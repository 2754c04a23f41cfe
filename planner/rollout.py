"""Turn candidate actions into a Rollout: latents from the world model, the arm path from kinematics.

The joint trajectory uses the arm's action semantics (jepa_mpc.robots.arm_control):
q_{t+1} = clip(q_t + a_t[:J] * max_joint_step_rad, lower, upper). Guardrails read only this trajectory,
never the learned latents.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from jepa_mpc.planner.types import PlanContext, Rollout
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.kinematics import ArmKinematics


def integrate_joint_targets(
    q0: torch.Tensor, actions: torch.Tensor, step_rad: float, lower: torch.Tensor, upper: torch.Tensor
) -> torch.Tensor:
    """q0 [J], actions [K, H, A] -> joint targets q_0..q_H [K, H+1, J] (differentiable within limits)."""
    steps = actions[..., : q0.shape[-1]].clamp(-1.0, 1.0) * step_rad  # [K, H, J]
    k, horizon = actions.shape[0], actions.shape[1]
    q = q0.expand(k, -1)  # [K, J]
    out = [q]
    for t in range(horizon):  # sequential because of the clamp at the limits
        q = torch.clamp(q + steps[:, t], lower, upper)
        out.append(q)
    return torch.stack(out, dim=1)  # [K, H+1, J]


class RolloutBuilder:
    """Builds Rollouts for one world model and arm; the rollout and FK callables may be compiled."""

    def __init__(
        self,
        world_model_rollout: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        kinematics: ArmKinematics,
        arm: ArmControlConfig,
    ) -> None:
        self.world_model_rollout = world_model_rollout
        self.kinematics = kinematics
        self.fk = kinematics.forward
        self.arm = arm

    def __call__(self, actions: torch.Tensor, ctx: PlanContext) -> Rollout:
        """actions [K, H, A] -> Rollout (z [K, H, D], q [K, H+1, J], qd [K, H, J], points [K, H+1, P,
        3]).
        """
        k = actions.shape[0]
        z = self.world_model_rollout(ctx.z0.expand(k, -1), actions)  # [K, H, D]
        q = integrate_joint_targets(
            ctx.q0, actions, self.arm.max_joint_step_rad, self.kinematics.lower, self.kinematics.upper
        )
        qd = torch.diff(q, dim=1) / self.arm.control_period_s  # [K, H, J]
        points = self.fk(q)  # [K, H+1, P, 3]
        return Rollout(actions=actions, z=z, q=q, qd=qd, points=points, dt=self.arm.control_period_s)

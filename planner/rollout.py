"""Turn candidate actions into a Rollout: latents from the world model, the arm path from kinematics.

The joint trajectory uses the arm's action semantics (jepa_mpc.robots.arm_control):
q_{t+1} = clip(q_t + a_t[:J] * max_joint_step_rad, lower, upper). Guardrails read only this trajectory,
never the learned latents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from jepa_mpc.planner.types import PlanContext, Rollout
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.kinematics import ArmKinematics

T = TypeVar("T")


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
    """Builds Rollouts for one world model and arm; the rollout and FK callables may be compiled.

    parallel: the arm's part (joint path, check points, and whatever `with_arm_checks` asks of them) runs in a
    worker thread while the calling thread rolls the world model out; the two share nothing, and torch releases the
    GIL inside each op, so on a CPU they take two cores for about the time of the longer one. Used without autograd
    only (grad mode is per thread).
    """

    def __init__(
        self,
        world_model_rollout: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        kinematics: ArmKinematics,
        arm: ArmControlConfig,
        *,
        parallel: bool = False,
    ) -> None:
        self.world_model_rollout = world_model_rollout
        self.kinematics = kinematics
        self.fk = kinematics.forward
        self.arm = arm
        # one worker, with this thread's intra-op thread count (OpenMP's is per thread)
        self._worker = ThreadPoolExecutor(1, "arm_kinematics", initializer=torch.set_num_threads,
                                          initargs=(torch.get_num_threads(),)) if parallel else None

    def arm_path(self, actions: torch.Tensor, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """actions [K, H, A] -> (q [K, H+1, J], qd [K, H, J], points [K, H+1, P, 3]): known kinematics only."""
        q = integrate_joint_targets(
            ctx.q0, actions, self.arm.max_joint_step_rad, self.kinematics.lower, self.kinematics.upper
        )
        qd = torch.diff(q, dim=1) / self.arm.control_period_s  # [K, H, J]
        return q, qd, self.fk(q)

    def __call__(self, actions: torch.Tensor, ctx: PlanContext) -> Rollout:
        """actions [K, H, A] -> Rollout (z [K, H, D], q [K, H+1, J], qd [K, H, J], points [K, H+1, P,
        3]).
        """
        return self.with_arm_checks(actions, ctx, lambda rollout: None)[0]

    def with_arm_checks(self, actions: torch.Tensor, ctx: PlanContext,
                        checks: Callable[[Rollout], T]) -> tuple[Rollout, T]:
        """(the Rollout of `actions`, checks(it)): `checks` sees the rollout before its latents are in (z is
        empty), so it may read only the arm's path, and it runs in the worker when there is one."""

        def arm() -> tuple[Rollout, T]:
            q, qd, points = self.arm_path(actions, ctx)
            rollout = Rollout(actions=actions, z=actions.new_empty(0), q=q, qd=qd, points=points,
                              dt=self.arm.control_period_s)
            return rollout, checks(rollout)

        def latents() -> torch.Tensor:
            return self.world_model_rollout(ctx.z0.expand(actions.shape[0], -1), actions)  # [K, H, D]

        if self._worker is not None and not torch.is_grad_enabled():
            pending = self._worker.submit(arm)
            z = latents()
            rollout, checked = pending.result()
        else:
            z = latents()
            rollout, checked = arm()
        return dataclasses.replace(rollout, z=z), checked

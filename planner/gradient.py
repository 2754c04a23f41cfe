"""Gradient MPC: Adam on the actions through world model and costs (the seeds' inference by backprop).

Constraints: box projection of the actions after every step plus a penalty on the guardrail violation.
Every iterate is evaluated before it moves, and only evaluated-valid iterates can be returned, so the
result is feasible or the hold plan with a non-OK status. Candidates run in parallel on the sample axis.
"""

from __future__ import annotations

import math
import time

import torch

from jepa_mpc.models.device import synchronize
from jepa_mpc.planner.cem import status_from
from jepa_mpc.planner.config import GradientConfig
from jepa_mpc.planner.objective import Objective
from jepa_mpc.planner.types import PlanResult


class GradientOptimizer:
    """`solve(objective, init_mean [H, A], hold=[H, A]) -> PlanResult`; stateless like CEMOptimizer."""

    def __init__(self, cfg: GradientConfig) -> None:
        self.cfg = cfg

    def solve(
        self,
        objective: Objective,
        init_mean: torch.Tensor,
        init_std: torch.Tensor | float | None = None,
        *,
        hold: torch.Tensor | None = None,
        deadline_s: float | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """cfg.steps Adam steps; init_std is accepted for interface parity and unused."""
        start = time.perf_counter()
        cfg = self.cfg
        steps = cfg.steps
        horizon, adim = init_mean.shape
        g, device = cfg.num_candidates, init_mean.device
        hold = torch.zeros_like(init_mean) if hold is None else hold.to(init_mean)
        if generator is None and cfg.seed is not None:
            generator = torch.Generator(device=device).manual_seed(cfg.seed)
        with torch.no_grad():
            x0 = init_mean.detach().clamp(-1.0, 1.0).expand(g, horizon, adim).clone()  # [G, H, A]
            if g > 1:
                noise = torch.randn(
                    g - 1, horizon, adim, generator=generator, device=device, dtype=x0.dtype
                )
                x0[1:] = (x0[1:] + cfg.init_noise_std * noise).clamp(-1.0, 1.0)
        x = x0.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr)

        best_actions = hold.clone()
        best_cost = torch.full((), math.inf, device=device)
        any_feasible = torch.zeros((), dtype=torch.bool, device=device)
        history = torch.full((steps + 1,), math.inf, device=device)
        timed_out, ran = False, 0
        for step in range(steps + 1):  # the last pass only evaluates the final iterate
            if deadline_s is not None and step > 0:
                # Host sync (the only one inside a solve): read the clock after the real work.
                synchronize(device)
                if time.monotonic() > deadline_s:
                    timed_out = True
                    break
            ev = objective(x)
            with torch.no_grad():
                rank = torch.where(ev.valid, ev.soft, torch.full_like(ev.soft, math.inf))  # [G]
                cost, idx = rank.min(dim=0)
                better = cost < best_cost
                best_actions = torch.where(better, x[idx].detach(), best_actions)
                best_cost = torch.where(better, cost, best_cost)
                any_feasible = any_feasible | ev.feasible.any()
                history[step] = best_cost
            ran = step
            if step == steps:
                break
            # Loss: the raw cost plus a finite penalty (violation + violation^2); non-finite parts
            # contribute 0.
            raw = torch.where(ev.finite, ev.raw_soft, torch.zeros_like(ev.raw_soft))
            loss = (raw + cfg.penalty_weight * (ev.violation + ev.violation**2)).sum()
            # autograd.grad, not backward(): only the actions get gradients, never the world model's
            # parameters.
            grad = torch.autograd.grad(loss, [x], allow_unused=True)[0] if loss.requires_grad else None
            if grad is None:  # nothing depends on the actions
                grad = torch.zeros_like(x)
            x.grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            opt.step()
            with torch.no_grad():
                x.clamp_(-1.0, 1.0)  # projection onto the action box
                x.nan_to_num_(nan=0.0)

        # End of the solve: one host sync to read the outcome.
        found_cost, feasible_seen = float(best_cost), bool(any_feasible)
        found = math.isfinite(found_cost)
        return PlanResult(
            actions=best_actions if found else hold.clone(),
            status=status_from(found, feasible_seen, timed_out),
            cost=found_cost,
            iterations=ran,
            solve_time_s=time.perf_counter() - start,
            history=tuple(history[: ran + 1].tolist()),
            timed_out=timed_out,
        )

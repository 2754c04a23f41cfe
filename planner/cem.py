"""Feasibility-aware cross-entropy method over action sequences, batched over K samples on one axis.

Stateless: the caller owns the warm start (init_mean). Infeasible or non-finite samples are never elites
and never returned; with no valid sample the result is the hold plan with a non-OK status. Anytime: with
a deadline it stops between iterations and returns the best valid plan found so far.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from jepa_mpc.models.device import synchronize
from jepa_mpc.planner.config import CEMConfig
from jepa_mpc.planner.objective import Objective
from jepa_mpc.planner.types import PlanResult, PlanStatus


def status_from(found: bool, any_feasible: bool, timed_out: bool) -> PlanStatus:
    """Status of a solve from what it found."""
    if found:
        return PlanStatus.OK
    if any_feasible:
        return PlanStatus.NON_FINITE_COST
    return PlanStatus.TIMEOUT if timed_out else PlanStatus.INFEASIBLE


def initial_distribution(
    cfg: CEMConfig, init_mean: torch.Tensor, init_std: torch.Tensor | float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) [H, A] of the first iteration: the warm start clipped to the action box, std clamped."""
    mean = init_mean.detach().clamp(-1.0, 1.0).clone()
    std = torch.as_tensor(cfg.init_std if init_std is None else init_std, dtype=mean.dtype, device=mean.device)
    return mean, std.expand(mean.shape).clamp(cfg.min_std, cfg.max_std).clone()


@dataclasses.dataclass
class CEMState:
    """The sampling distribution and the best valid plan so far, all device tensors (no host syncs)."""

    mean: torch.Tensor  # [H, A]
    std: torch.Tensor  # [H, A]
    best_actions: torch.Tensor  # [H, A]; the hold plan until a valid sample is found
    best_cost: torch.Tensor  # [] inf until a valid sample is found
    any_feasible: torch.Tensor  # [] bool: some sample met every guardrail
    history: torch.Tensor  # [iterations] best cost after each iteration
    ran: int = 0

    @classmethod
    def start(cls, mean: torch.Tensor, std: torch.Tensor, hold: torch.Tensor, iterations: int) -> CEMState:
        device = mean.device
        return cls(mean, std, hold.clone(), torch.full((), math.inf, device=device),
                   torch.zeros((), dtype=torch.bool, device=device),
                   torch.full((iterations,), math.inf, device=device))

    def result(self, hold: torch.Tensor, timed_out: bool, solve_time_s: float) -> PlanResult:
        """The PlanResult of this state; one host sync to read the outcome."""
        cost, feasible_seen = float(self.best_cost), bool(self.any_feasible)
        found = math.isfinite(cost)
        return PlanResult(
            actions=self.best_actions.clone() if found else hold.clone(),
            status=status_from(found, feasible_seen, timed_out),
            cost=cost,
            iterations=self.ran,
            solve_time_s=solve_time_s,
            history=tuple(self.history[: self.ran].tolist()),
            timed_out=timed_out,
        )


def cem_iteration(
    objective: Objective, cfg: CEMConfig, state: CEMState, hold: torch.Tensor, noise: torch.Tensor
) -> None:
    """One CEM iteration on `state` in place: sample around the mean with `noise` [K, H, A], score, refit.

    Pure tensor work with no host sync, so a CUDA graph can capture it (planner/cuda_graph.py).
    """
    mean, std = state.mean, state.std
    samples = torch.clamp(mean + std * noise, -1.0, 1.0)  # [K, H, A]
    samples[0] = mean  # the current mean (the warm start on the first iteration)
    samples[1] = hold  # the hold plan: feasible whenever standing still is
    ev = objective(samples)
    valid = ev.valid  # [K]
    state.any_feasible = state.any_feasible | ev.feasible.any()
    # Invalid samples rank last.
    rank = torch.where(valid, ev.soft, torch.full_like(ev.soft, math.inf))
    elite_cost, idx = torch.topk(rank, cfg.elites, largest=False, sorted=True)  # [E]
    elites = samples[idx]  # [E, H, A]
    weight = valid[idx].to(mean.dtype)  # [E]; invalid ones (when fewer than E are valid) weigh 0
    count = weight.sum()
    w = (weight / count.clamp_min(1.0))[:, None, None]  # [E, 1, 1]
    elite_mean = (w * elites).sum(0)  # [H, A]
    elite_std = torch.sqrt((w * (elites - elite_mean) ** 2).sum(0))  # [H, A]
    has_elites = count > 0  # with no valid elite the distribution is left as it was
    m = cfg.momentum
    state.mean = torch.where(has_elites, m * mean + (1 - m) * elite_mean, mean)
    state.std = torch.where(has_elites, m * std + (1 - m) * elite_std, std).clamp(cfg.min_std, cfg.max_std)
    better = elite_cost[0] < state.best_cost  # inf < inf is False: invalid samples never become best
    state.best_actions = torch.where(better, elites[0], state.best_actions)
    state.best_cost = torch.where(better, elite_cost[0], state.best_cost)
    state.history[state.ran] = state.best_cost
    state.ran += 1


class CEMOptimizer:
    """`solve(objective, init_mean [H, A], init_std, hold=[H, A]) -> PlanResult`."""

    def __init__(self, cfg: CEMConfig) -> None:
        self.cfg = cfg

    @torch.no_grad()
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
        """Run up to cfg.iterations CEM iterations; deadline_s is a time.monotonic() value or None."""
        start = time.perf_counter()
        cfg = self.cfg
        horizon, adim = init_mean.shape
        k, device = cfg.num_samples, init_mean.device
        mean, std = initial_distribution(cfg, init_mean, init_std)
        hold = torch.zeros_like(mean) if hold is None else hold.to(mean)
        if generator is None and cfg.seed is not None:
            generator = torch.Generator(device=device).manual_seed(cfg.seed)

        state = CEMState.start(mean, std, hold, cfg.iterations)
        noise = torch.empty(k, horizon, adim, device=device, dtype=mean.dtype)
        timed_out = False
        for it in range(cfg.iterations):
            if deadline_s is not None and it > 0:
                # Host sync (the only one inside a solve): read the clock after the real work.
                synchronize(device)
                if time.monotonic() > deadline_s:
                    timed_out = True
                    break
            torch.randn(k, horizon, adim, generator=generator, out=noise)
            cem_iteration(objective, cfg, state, hold, noise)

        # End of the solve: one host sync to read the outcome.
        return state.result(hold, timed_out, time.perf_counter() - start)

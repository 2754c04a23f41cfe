"""CEM on a toy linear latent system with a known optimum, and its feasibility and anytime behaviour."""

from __future__ import annotations

import time

import numpy as np
import torch

from jepa_mpc.planner.cem import CEMOptimizer
from jepa_mpc.planner.config import CEMConfig, CostConfig, GuardrailConfig
from jepa_mpc.planner.types import PlanStatus, hold_actions

from .conftest import AT_ZERO, GOAL, OPTIMUM, LinearWorldModel, zone_ahead

H = 4


def test_cem_solves_the_toy_problem(toy):
    problem, ctx = toy
    cem = CEMOptimizer(CEMConfig(num_samples=256, iterations=12, num_elites=16, momentum=0.1))
    result = cem.solve(problem.objective(ctx), torch.zeros(H, 8))
    assert result.status is PlanStatus.OK
    assert OPTIMUM - 1e-6 <= result.cost < 1.1 * OPTIMUM  # AT_ZERO is 5x OPTIMUM
    np.testing.assert_allclose(result.actions.mean(0).numpy(), GOAL, atol=0.05)
    assert list(result.history) == sorted(result.history, reverse=True)  # best-so-far never gets worse


def test_cem_is_deterministic_for_a_seed(toy):
    problem, ctx = toy
    cfg = CEMConfig(num_samples=64, iterations=2, seed=3)
    a = CEMOptimizer(cfg).solve(problem.objective(ctx), torch.zeros(H, 8)).actions
    b = CEMOptimizer(cfg).solve(problem.objective(ctx), torch.zeros(H, 8)).actions
    assert torch.equal(a, b)


def test_infeasible_samples_are_never_elites_or_returned(build_problem, make_ctx, home_q, truth):
    # The goal pulls the EE into a keep-out sphere placed just in front of it; only plans that stay out
    # are valid.

    zone = zone_ahead(truth, home_q, (0.12, 0.0, 0.0), gap=0.01)  # 1 cm from the arm, goal at its centre
    g = GuardrailConfig(keep_out=(zone,))
    problem = build_problem(LinearWorldModel(latent_dim=8), CostConfig(terms=("pose_fk",)), g)
    ctx = make_ctx(np.zeros(8), home_q, ee_goal=zone.center)
    result = CEMOptimizer(CEMConfig(num_samples=128, iterations=4, num_elites=8)).solve(
        problem.objective(ctx), torch.zeros(H, 8)
    )
    assert result.status is PlanStatus.OK
    targets = truth.targets(home_q, result.actions.numpy())
    assert truth.violations(g, home_q, targets) == []
    assert result.cost > 0.0  # it could not reach the goal inside the zone


def test_all_infeasible_returns_hold_and_infeasible(build_problem, make_ctx, home_q):
    g = GuardrailConfig(workspace_lo=(0.6, -0.8, 0.0))  # the home EE (x = 0.5) is already outside
    problem = build_problem(LinearWorldModel(latent_dim=8), CostConfig(terms=("action_magnitude",)), g)
    ctx = make_ctx(np.zeros(8), home_q, gripper=-0.5)
    hold = hold_actions(H, 8, -0.5, torch.device("cpu"), 7)
    result = CEMOptimizer(CEMConfig(num_samples=32, iterations=2, num_elites=4)).solve(
        problem.objective(ctx), torch.zeros(H, 8), hold=hold
    )
    assert result.status is PlanStatus.INFEASIBLE
    assert torch.equal(result.actions, hold)


def test_anytime_returns_best_so_far_when_the_deadline_passes(toy):
    problem, ctx = toy
    objective = problem.objective(ctx)

    def slow(actions):
        time.sleep(0.05)
        return objective(actions)

    cem = CEMOptimizer(CEMConfig(num_samples=64, iterations=50))
    result = cem.solve(slow, torch.zeros(H, 8), deadline_s=time.monotonic() + 0.12)
    assert result.timed_out and 1 <= result.iterations < 50
    assert result.status is PlanStatus.OK and result.cost < AT_ZERO

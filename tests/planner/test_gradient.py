"""Gradient MPC (and the CEM + gradient hybrid) on the toy problem, feasibility, and robustness to
garbage.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_mpc.planner.cem import CEMOptimizer
from jepa_mpc.planner.config import CEMConfig, CostConfig, GradientConfig, GuardrailConfig
from jepa_mpc.planner.gradient import GradientOptimizer
from jepa_mpc.planner.hybrid import HybridOptimizer
from jepa_mpc.planner.types import PlanStatus, hold_actions

from .conftest import GOAL, OPTIMUM, LinearWorldModel, zone_ahead

H = 4


def test_gradient_solves_the_toy_problem(toy):
    problem, ctx = toy
    result = GradientOptimizer(GradientConfig(steps=100, lr=0.1)).solve(
        problem.objective(ctx), torch.zeros(H, 8)
    )
    assert result.status is PlanStatus.OK and result.iterations == 100
    assert OPTIMUM - 1e-6 <= result.cost < 1.001 * OPTIMUM
    np.testing.assert_allclose(result.actions.numpy(), np.tile(GOAL, (H, 1)), atol=0.01)


def test_hybrid_refines_cem(toy):
    problem, ctx = toy
    cem = CEMOptimizer(CEMConfig(num_samples=64, iterations=2, num_elites=8))
    cem_only = cem.solve(problem.objective(ctx), torch.zeros(H, 8))
    hybrid = HybridOptimizer(cem, GradientOptimizer(GradientConfig(steps=30, lr=0.05)))
    result = hybrid.solve(problem.objective(ctx), torch.zeros(H, 8))
    assert result.status is PlanStatus.OK
    assert result.cost <= cem_only.cost and result.cost < 1.05 * OPTIMUM
    assert result.iterations == cem_only.iterations + 30


def test_gradient_never_returns_a_violating_plan(build_problem, make_ctx, home_q, truth):
    zone = zone_ahead(truth, home_q, (0.12, 0.0, 0.0), gap=0.01)  # the goal is inside a keep-out zone
    g = GuardrailConfig(keep_out=(zone,))
    problem = build_problem(LinearWorldModel(latent_dim=8), CostConfig(terms=("pose_fk",)), g)
    ctx = make_ctx(np.zeros(8), home_q, ee_goal=zone.center)
    result = GradientOptimizer(GradientConfig(steps=40, lr=0.3, penalty_weight=0.0)).solve(
        problem.objective(ctx), torch.zeros(H, 8)
    )
    assert result.status is PlanStatus.OK  # at worst the (feasible) initial plan
    assert truth.violations(g, home_q, truth.targets(home_q, result.actions.numpy())) == []


def test_gradient_all_infeasible_returns_hold(build_problem, make_ctx, home_q):
    g = GuardrailConfig(workspace_lo=(0.6, -0.8, 0.0))
    problem = build_problem(LinearWorldModel(latent_dim=8), CostConfig(terms=("action_magnitude",)), g)
    hold = hold_actions(H, 8, 0.3, torch.device("cpu"), 7)
    result = GradientOptimizer(GradientConfig(steps=5)).solve(
        problem.objective(make_ctx(np.zeros(8), home_q)), torch.full((H, 8), 0.5), hold=hold
    )
    assert result.status is PlanStatus.INFEASIBLE and torch.equal(result.actions, hold)


@pytest.mark.parametrize("mode", ["nan", "inf", "huge", "mixed"])
def test_gradient_survives_garbage_predictions(build_problem, make_ctx, home_q, garbage_model, mode):
    problem = build_problem(garbage_model(mode), CostConfig(terms=("goal_energy", "action_rate")))
    ctx = make_ctx(np.zeros(6), home_q, z_goal=np.zeros(6))
    result = GradientOptimizer(GradientConfig(steps=5)).solve(problem.objective(ctx), torch.zeros(H, 8))
    assert torch.isfinite(result.actions).all()
    expected = PlanStatus.OK if mode == "mixed" else PlanStatus.NON_FINITE_COST
    assert result.status is expected  # "mixed" has finite samples; constant garbage has none


def test_gradient_does_not_touch_model_parameters(build_problem, make_ctx, home_q):
    class ParamModel(LinearWorldModel):
        def __init__(self):
            super().__init__(latent_dim=8)
            self.weight = torch.nn.Parameter(torch.ones(8))

        def rollout(self, z0, actions):
            return super().rollout(z0, actions) * self.weight

    model = ParamModel()
    problem = build_problem(model, CostConfig(terms=("goal_energy",)))
    GradientOptimizer(GradientConfig(steps=3)).solve(
        problem.objective(make_ctx(np.zeros(8), home_q, z_goal=GOAL)), torch.zeros(H, 8)
    )
    assert model.weight.grad is None

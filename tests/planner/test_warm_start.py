"""Warm start: after executing one step, the shifted previous plan reaches a near-optimal cost in fewer
CEM iterations than a cold start on the same problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import CEMConfig, CostConfig, MPCConfig
from jepa_mpc.planner.mpc import RecedingHorizonMPC
from jepa_mpc.planner.types import PlanContext
from jepa_mpc.robots.arm_control import ArmControlConfig, next_joint_targets

from .conftest import GOAL, LAMBDA, LinearWorldModel


def _iterations_to_reach(history: tuple[float, ...], threshold: float) -> int:
    """1-based index of the first iteration whose best cost is <= threshold (len + 1 if never)."""
    return next((i + 1 for i, c in enumerate(history) if c <= threshold), len(history) + 1)


def _ctx(z0: np.ndarray, q0: np.ndarray) -> PlanContext:
    def t(x):
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    return PlanContext(z0=t(z0), q0=t(q0), qd0=torch.zeros(7), z_goal=t(GOAL))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warm_start_converges_in_fewer_iterations(panda, truth, home_q, seed):
    model = LinearWorldModel(latent_dim=8, action_dim=8)
    model.B = 0.2 * torch.eye(8)
    cfg = MPCConfig(
        horizon=4, device="cpu", cem=CEMConfig(num_samples=128, iterations=10, num_elites=8, seed=seed)
    )
    costs = CostConfig(terms=("goal_energy", "action_magnitude"), action_magnitude_weight=LAMBDA)
    warm = RecedingHorizonMPC.build(model, cfg, costs, robot=panda)
    cold = RecedingHorizonMPC.build(model, cfg, costs, robot=panda)

    first = warm.plan(_ctx(np.zeros(8), home_q))
    cold.plan(_ctx(np.zeros(8), home_q))  # same seed: same first plan and generator state
    a0 = first.actions[0].numpy().astype(np.float64)
    z1 = 0.2 * a0  # execute the first action in the toy system and on the arm
    q1 = next_joint_targets(home_q, a0, truth.mjcf_lower, truth.mjcf_upper, ArmControlConfig())
    # New optimum: a_t = g - z1 for every t, cost 0.025 * sum((g - z1)^2) (same algebra as the toy
    # problem).
    optimum = 0.025 * float(np.sum((GOAL - z1) ** 2))

    cold.reset()
    warm_result = warm.plan(_ctx(z1, q1))
    cold_result = cold.plan(_ctx(z1, q1))
    threshold = 1.5 * optimum  # the shifted plan starts at ~1.3-1.45x; cold CEM needs ~5 iterations
    n_warm = _iterations_to_reach(warm_result.history, threshold)
    n_cold = _iterations_to_reach(cold_result.history, threshold)
    assert n_warm <= 2 < n_cold, (warm_result.history, cold_result.history)

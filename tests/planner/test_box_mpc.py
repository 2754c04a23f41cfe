"""The MPC on a bounded-action arm (Reacher-style torques, no kinematics): bounds hold, garbage models never escape
the box, and planned actions drive a toy linear model towards its goal."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from jepa_mpc.planner.box_filter import ActionBoxConfig
from jepa_mpc.planner.config import CEMConfig, CostConfig, MPCConfig
from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC
from jepa_mpc.planner.types import PlanStatus

from .conftest import GarbageWorldModel, LinearWorldModel

IMAGE = np.zeros((8, 8, 3), np.uint8)


def _cfg(optimizer: str = "cem", horizon: int = 5, samples: int = 64, iterations: int = 3) -> MPCConfig:
    return MPCConfig(optimizer=optimizer, horizon=horizon, device="cpu", max_obs_age_s=1e9,
                     cem=CEMConfig(num_samples=samples, iterations=iterations, num_elites=8))


def _linear(seed: int = 0) -> LinearWorldModel:
    model = LinearWorldModel(latent_dim=4, action_dim=2, seed=seed)
    model.B = torch.tensor([[0.3, 0.0], [0.0, 0.3], [0.2, 0.1], [-0.1, 0.2]])  # [D, A], full column rank
    return model


def _build(model, cfg: MPCConfig, costs: CostConfig, box: ActionBoxConfig | None = None) -> RecedingHorizonMPC:
    return RecedingHorizonMPC.build(model, cfg, costs, box=box or ActionBoxConfig.symmetric(int(model.action_dim)))


def _tick(mpc: RecedingHorizonMPC, z: np.ndarray, t: float = 0.0):
    return mpc.step(Observation(q=None, image=IMAGE, stamp_s=t, proprio=z), now_s=t)


def _energy(z: np.ndarray, goal: np.ndarray) -> float:
    return float(np.mean((z - goal) ** 2))


@pytest.mark.parametrize("optimizer", ["cem", "gradient", "hybrid"])
def test_plans_and_commands_stay_inside_the_box(optimizer):
    """Goals far outside what one step can reach push the optimiser against the bounds; nothing leaves them."""
    rng = np.random.default_rng(0)
    box = ActionBoxConfig(low=(-0.4, -1.0), high=(0.7, 0.2))  # tighter than [-1, 1] and asymmetric
    mpc = _build(_linear(), _cfg(optimizer), CostConfig(), box)
    for i in range(8):
        mpc.reset()
        mpc.set_goal(z_goal=torch.as_tensor(rng.normal(0, 10, 4), dtype=torch.float32))
        tick = _tick(mpc, rng.normal(0, 1, 4).astype(np.float32), float(i))
        assert tick.plan.ok
        plan = tick.plan.actions.numpy()
        assert np.all(plan >= -1.0) and np.all(plan <= 1.0)  # the planner's space
        cmd = tick.command.actions
        assert cmd.shape == (1, 2) and np.all(np.isfinite(cmd))
        assert np.all(cmd >= np.array(box.low)) and np.all(cmd <= np.array(box.high))


@pytest.mark.parametrize("mode", ["nan", "inf", "-inf", "huge", "mixed"])
def test_garbage_model_output_never_yields_a_command_outside_the_box(mode):
    model = GarbageWorldModel(mode)
    model.action_dim = 2
    mpc = _build(model, _cfg(samples=32), CostConfig())
    mpc.set_goal(z_goal=torch.zeros(6))
    for t in range(4):
        tick = _tick(mpc, None, float(t))
        cmd = tick.command.actions
        assert np.all(np.isfinite(cmd)) and np.all(np.abs(cmd) <= 1.0)
        if mode in ("nan", "inf", "-inf"):  # no finite cost anywhere: the hold action (zero torque)
            assert tick.plan.status is PlanStatus.NON_FINITE_COST and tick.command.hold
            np.testing.assert_array_equal(cmd, np.zeros((1, 2)))
        if tick.plan.ok:
            assert math.isfinite(tick.plan.cost)


def test_non_finite_latent_or_proprio_holds():
    class NaNEncoder(LinearWorldModel):
        def encode(self, image, proprio=None):
            return torch.full((image.shape[0], self.latent_dim), math.nan)

    for model, proprio in ((NaNEncoder(4, 2), None), (_linear(), np.array([0.0, math.nan, 0.0, 0.0]))):
        mpc = _build(model, _cfg(), CostConfig())
        mpc.set_goal(z_goal=torch.ones(4))
        tick = _tick(mpc, proprio)
        assert tick.plan.status is PlanStatus.INVALID_INPUT and tick.command.hold
        np.testing.assert_array_equal(tick.command.actions, np.zeros((1, 2)))


def test_stale_observation_and_missing_goal_hold():
    mpc = _build(_linear(), dataclasses.replace(_cfg(), max_obs_age_s=0.1), CostConfig())
    tick = _tick(mpc, np.zeros(4, np.float32))
    assert tick.plan.status is PlanStatus.NO_GOAL and tick.command.hold
    mpc.set_goal(z_goal=torch.ones(4))
    tick = mpc.step(Observation(q=None, image=IMAGE, stamp_s=0.0, proprio=np.zeros(4)), now_s=1.0)
    assert tick.plan.status is PlanStatus.STALE_INPUT and tick.command.hold


def test_closed_loop_on_a_toy_linear_model_reduces_the_goal_energy():
    """The true dynamics are the model's: executing the first planned action each tick must approach the goal."""
    model = _linear()
    goal = np.array([0.8, -0.6, 0.4, -0.5], np.float32)
    mpc = _build(model, _cfg(horizon=5, samples=128), CostConfig(action_magnitude_weight=0.001,
                                                                              action_rate_weight=0.0))
    mpc.set_goal(z_goal=torch.as_tensor(goal))
    z = np.zeros(4, np.float32)
    start = _energy(z, goal)
    energies = []
    for t in range(15):
        tick = _tick(mpc, z, float(t))
        assert tick.plan.ok and tick.report.ok
        a = tick.command.actions[0]
        z = z + model.B.numpy() @ a.astype(np.float32)
        energies.append(_energy(z, goal))
    assert energies[-1] < 0.05 * start, energies
    assert min(energies[:3]) < start  # it moves towards the goal from the first ticks


def test_single_plan_beats_the_hold_plan_and_the_warm_start_is_shifted():
    model = _linear()
    mpc = _build(model, _cfg(), CostConfig())
    mpc.set_goal(z_goal=torch.tensor([0.5, 0.5, 0.3, 0.1]))
    tick = _tick(mpc, np.zeros(4, np.float32))
    hold_cost = float(np.mean((np.zeros(4) - np.array([0.5, 0.5, 0.3, 0.1])) ** 2))
    assert tick.plan.ok and tick.plan.cost < hold_cost
    np.testing.assert_allclose(mpc._warm[:-1].numpy(), tick.plan.actions[1:].numpy())
    np.testing.assert_array_equal(mpc._warm[-1].numpy(), np.zeros(2))


def test_kinematic_costs_and_mismatched_boxes_are_refused():
    with pytest.raises(ValueError, match="kinematics"):
        _build(_linear(), _cfg(), CostConfig(terms=("pose_fk",)))
    with pytest.raises(ValueError, match="dims"):
        _build(_linear(), _cfg(), CostConfig(), ActionBoxConfig.symmetric(3))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        _build(_linear(), _cfg(), CostConfig(), ActionBoxConfig.symmetric(2, bound=2.0))

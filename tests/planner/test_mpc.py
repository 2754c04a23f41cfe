"""The MPC loop: stage timings, hold on bad input, bounded retries, final validation, warm start
ownership.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import CEMConfig, CostConfig, GuardrailConfig, MPCConfig
from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC
from jepa_mpc.planner.safety import SafetyReason
from jepa_mpc.planner.types import PlanResult, PlanStatus

from .conftest import LinearWorldModel

IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
SMALL = MPCConfig(horizon=5, device="cpu", cem=CEMConfig(num_samples=32, iterations=2, num_elites=4))


@pytest.fixture
def mpc(panda):
    m = RecedingHorizonMPC.build(LinearWorldModel(latent_dim=6), SMALL, CostConfig(), robot=panda)
    m.set_goal(z_goal=torch.full((6,), 0.2))
    return m


def _obs(q, stamp=0.0, **kw) -> Observation:
    return Observation(
        image=IMAGE, q=np.asarray(q), stamp_s=stamp, proprio=np.zeros(6, dtype=np.float32), **kw
    )


class SpyOptimizer:
    """Records what it is asked and returns a scripted result."""

    def __init__(self, status=PlanStatus.OK, actions=None):
        self.calls, self.status, self.actions = [], status, actions

    def solve(self, objective, init_mean, init_std=None, *, hold=None, deadline_s=None, generator=None):
        self.calls.append((init_mean.clone(), init_std))
        actions = self.actions if self.actions is not None else hold.clone()
        if self.status is not PlanStatus.OK:
            actions = hold.clone()
        return PlanResult(
            actions=actions,
            status=self.status,
            cost=0.0 if self.status is PlanStatus.OK else math.inf,
            iterations=1,
            solve_time_s=0.0,
        )


def test_step_runs_every_stage_and_sends_one_safe_step(mpc, home_q):
    result = mpc.step(_obs(home_q), now_s=0.05)
    assert result.plan.status is PlanStatus.OK
    assert set(result.timings_s) == {"observe", "encode", "plan", "filter", "total"}
    assert all(v >= 0 for v in result.timings_s.values())
    assert result.timings_s["total"] >= result.timings_s["plan"]
    assert result.report.ok and not result.command.hold
    assert result.command.joint_targets.shape == (1, 7)
    assert np.all(np.abs(result.command.joint_targets[0] - home_q) <= 0.05 + 1e-12)
    assert set(result.plan.cost_terms) >= {"cost/goal_energy", "violation/joint_position"}


@pytest.mark.parametrize(
    ("obs_kwargs", "now", "status"),
    [
        ({"stamp": 0.0}, 5.0, PlanStatus.STALE_INPUT),
        ({"stamp": math.nan}, 0.0, PlanStatus.INVALID_INPUT),
        # A non-finite last command is ignored: plan from the measured state.
        ({"stamp": 0.0, "q_target": np.full(7, np.nan)}, 0.0, PlanStatus.OK),
    ],
)
def test_bad_observations_hold(mpc, home_q, obs_kwargs, now, status):
    result = mpc.step(_obs(home_q, **obs_kwargs), now_s=now)
    assert result.plan.status is status
    if status is not PlanStatus.OK:
        assert result.command.hold
        assert torch.all(result.plan.actions[:, :7] == 0)


def test_bad_image_and_nan_latent_hold(mpc, home_q):
    bad = dataclasses.replace(_obs(home_q), image=np.zeros((8, 8), dtype=np.float32))
    assert mpc.step(bad, now_s=0.0).plan.status is PlanStatus.INVALID_INPUT
    nan_latent = dataclasses.replace(_obs(home_q), proprio=np.full(6, np.nan, dtype=np.float32))
    result = mpc.step(nan_latent, now_s=0.0)
    assert result.plan.status is PlanStatus.INVALID_INPUT and result.command.hold


def test_missing_goal_is_reported(panda, home_q):
    m = RecedingHorizonMPC.build(
        LinearWorldModel(latent_dim=6), SMALL, CostConfig(terms=("pose_fk",)), robot=panda
    )
    assert m.step(_obs(home_q), now_s=0.0).plan.status is PlanStatus.NO_GOAL
    m.set_goal(ee_goal=[0.5, 0.0, 0.25])
    assert m.step(_obs(home_q), now_s=0.0).plan.status is PlanStatus.OK


def test_retries_are_bounded_and_cold(mpc, home_q):
    spy = SpyOptimizer(status=PlanStatus.INFEASIBLE)
    mpc.optimizer = spy
    result = mpc.step(_obs(home_q), now_s=0.0)
    assert result.plan.status is PlanStatus.INFEASIBLE and result.plan.attempts == 1 + SMALL.max_retries
    assert len(spy.calls) == 1 + SMALL.max_retries
    assert spy.calls[-1][1] == SMALL.cem.max_std  # the retry searches widest
    assert result.command.hold or np.allclose(result.command.joint_targets, home_q)


def test_final_check_rejects_a_violating_plan(panda, home_q):
    g = GuardrailConfig(max_joint_vel_rad_s=(0.1,) * 7)  # 0.1 rad/s: at most 0.01 rad per step
    m = RecedingHorizonMPC.build(
        LinearWorldModel(latent_dim=6), SMALL, CostConfig(terms=("action_magnitude",)), g, robot=panda
    )
    m.optimizer = SpyOptimizer(actions=torch.ones(5, 8))  # claims OK with 0.05 rad steps
    result = m.step(_obs(home_q), now_s=0.0)
    assert result.plan.status is PlanStatus.INFEASIBLE
    assert torch.all(result.plan.actions[:, :7] == 0)


def test_mpc_owns_the_warm_start_and_reset(mpc, home_q):
    first = mpc.step(_obs(home_q), now_s=0.0).plan
    spy = SpyOptimizer()
    mpc.optimizer = spy
    mpc.step(_obs(home_q), now_s=0.0)
    init = spy.calls[0][0]
    assert torch.equal(init[:-1], first.actions[1:])  # shifted one step
    assert torch.all(init[-1, :7] == 0)  # zero joint motion appended
    mpc.reset()
    mpc.step(_obs(home_q), now_s=0.0)
    assert torch.all(spy.calls[-1][0][:, :7] == 0)  # cold start after reset


def test_safety_filter_sees_the_reference_and_limits_the_step(mpc, home_q):
    lagging = home_q + 0.03  # the measured arm lags the last command by 0.03 rad
    result = mpc.step(_obs(lagging, q_target=home_q), now_s=0.0)
    assert SafetyReason.REFERENCE_IGNORED not in result.report.reasons
    assert np.all(np.abs(result.command.joint_targets[0] - home_q) <= 0.05 + 1e-12)

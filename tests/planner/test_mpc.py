"""The MPC loop: stage timings, hold on bad input, bounded retries, final validation, warm start
ownership.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import CEMConfig, CostConfig, GuardrailConfig, MPCConfig, SphereZone
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
        ({"stamp": 5.0}, 0.0, PlanStatus.STALE_INPUT),  # from the future: it would never go stale
        ({"stamp": "0.0"}, 0.0, PlanStatus.INVALID_INPUT),  # text is not a time
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


def test_set_guardrails_rebuilds_the_plans_limits_and_the_filters_together(mpc, home_q):
    """A keep-out zone around the hand at home, set between ticks: the planner finds every plan infeasible and the
    filter holds for the zone; cleared again, both plan and move. A rebuild of only one side fails this."""
    assert mpc.step(_obs(home_q), now_s=0.0).plan.ok
    zone = SphereZone(tuple(mpc.safety.points(home_q)[0]), 0.05)
    mpc.set_guardrails(GuardrailConfig(keep_out=(zone,)))
    assert mpc.safety.cfg.guardrails.keep_out == (zone,)
    blocked = mpc.step(_obs(home_q), now_s=0.0)
    assert blocked.plan.status is PlanStatus.INFEASIBLE
    assert blocked.command.hold
    moving = mpc.safety.filter_actions(np.full((1, 8), 0.5), home_q, 0.0, 0.0)[1]
    assert SafetyReason.KEEP_OUT in moving.reasons
    mpc.set_guardrails(GuardrailConfig())
    assert mpc.step(_obs(home_q), now_s=0.0).plan.ok


def test_joint_readings_that_are_not_real_numbers_hold(mpc, home_q):
    """Text that NumPy would parse, bools and complex values are not joint readings (no plan starts from them)."""
    for q in ([str(v) for v in home_q], np.ones(7, dtype=bool), home_q.astype(complex)):
        assert mpc.step(_obs(q), now_s=0.0).plan.status is PlanStatus.INVALID_INPUT


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


def test_a_last_command_the_arm_is_nowhere_near_is_not_where_the_plan_starts(mpc, home_q):
    """A last command farther than max_tracking_error_rad from the measured arm (a simulator reset, another
    controller moved it): the plan integrates from the measured joints, so its first step is a step from the arm."""
    moved = home_q.copy()
    moved[1] += 0.1  # within the tracking bound: the last command is still the start
    np.testing.assert_array_equal(mpc.arm.start(_obs(moved, q_target=home_q)).q0, home_q)
    moved[1] += 0.3  # 0.4 rad: beyond it
    assert np.abs(moved - home_q).max() > mpc.safety.cfg.max_tracking_error_rad
    np.testing.assert_array_equal(mpc.arm.start(_obs(moved, q_target=home_q)).q0, moved)
    result = mpc.step(_obs(moved, q_target=home_q), now_s=0.0)
    assert np.all(np.abs(result.command.joint_targets[0] - moved) <= 0.05 + 1e-12)


class _ProbedModel(LinearWorldModel):
    """A world model whose ee_pos probe reads the goal image's tool position (here: a fixed point)."""

    def __init__(self, goal_position):
        super().__init__(latent_dim=6)
        self.probes = {"ee_pos": None}
        self.goal_position = torch.as_tensor(goal_position, dtype=torch.float32)

    def probe(self, name, z):
        return self.goal_position.expand(z.shape[0], 3)


def test_an_image_goal_behind_a_zone_is_reached_through_via_points_then_the_latent_energy(panda, home_q):
    """While a keep-out zone blocks the tool's straight path to where the goal image shows it, the planner plans
    a pose cost to a via point around the zone (same guardrails); with the way clear, the latent goal energy."""
    arm = RecedingHorizonMPC.build(LinearWorldModel(), SMALL, CostConfig(), robot=panda)
    tool = arm.safety.points(home_q)[0]
    goal = tool + np.array([0.0, 0.4, 0.0])
    mpc = RecedingHorizonMPC.build(_ProbedModel(goal), SMALL, CostConfig(), robot=panda)
    mpc.set_goal(z_goal=torch.full((6,), 0.2))
    assert "cost/goal_energy" in mpc.step(_obs(home_q), now_s=0.0).plan.cost_terms  # no zone: latent energy
    mpc.set_guardrails(GuardrailConfig(keep_out=(SphereZone(tuple(tool + [0.0, 0.2, 0.0]), 0.05),)))
    own = mpc.problem.stack
    blocked = mpc.step(_obs(home_q), now_s=0.0)
    assert blocked.plan.ok and "cost/pose_fk" in blocked.plan.cost_terms
    assert "cost/goal_energy" not in blocked.plan.cost_terms
    assert mpc.problem.stack is own  # the detour costs were for that tick only
    mpc.set_guardrails(GuardrailConfig(keep_out=(SphereZone(tuple(tool + [0.0, -0.3, 0.0]), 0.05),)))  # behind
    assert "cost/goal_energy" in mpc.step(_obs(home_q), now_s=0.0).plan.cost_terms

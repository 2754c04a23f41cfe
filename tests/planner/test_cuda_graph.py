"""The CEM solve replayed as a CUDA graph: same problem, fresh inputs every replay, eager fallback.

Most tests need a GPU (skipped without one); the CPU-side wiring is checked everywhere.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import CEMConfig, CostConfig, MPCConfig
from jepa_mpc.planner.cuda_graph import GraphedCEM
from jepa_mpc.planner.mpc import RecedingHorizonMPC
from jepa_mpc.planner.types import PlanContext, PlanStatus, hold_actions

from .conftest import LinearWorldModel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
POSE = CostConfig(terms=("pose_fk", "action_magnitude", "action_rate"))


class DeviceLinearModel(LinearWorldModel):
    """LinearWorldModel with its matrix already on the planning device (no host copies inside a solve)."""

    def __init__(self, device: str, **kw) -> None:
        super().__init__(**kw)
        self.B = self.B.to(device)


class SyncingModel(DeviceLinearModel):
    """Reads a value back to the host inside the rollout: legal eagerly, impossible to capture."""

    def rollout(self, z0, actions):
        if float(actions.abs().max()) > 2.0:  # a host sync
            raise AssertionError("actions are clipped to [-1, 1]")
        return super().rollout(z0, actions)


def _mpc(robot, model, costs=POSE, **cfg) -> RecedingHorizonMPC:
    config = MPCConfig(horizon=8, device=cfg.pop("device", "cuda"),
                       cem=CEMConfig(num_samples=256, iterations=4, num_elites=16), **cfg)
    return RecedingHorizonMPC.build(model, config, costs, robot=robot)


def _ctx(mpc, q, ee_goal, prev_action=None) -> PlanContext:
    dev = mpc.device
    return PlanContext(z0=torch.zeros(6, device=dev), q0=torch.as_tensor(q, dtype=torch.float32, device=dev),
                       qd0=torch.zeros(7, device=dev), ee_goal=torch.as_tensor(ee_goal, dtype=torch.float32,
                                                                                device=dev),
                       prev_action=prev_action)


def test_cpu_planning_never_builds_a_graph(panda):
    mpc = _mpc(panda, LinearWorldModel(), device="cpu")
    assert mpc.graphed is None
    with pytest.raises(ValueError, match="cuda device"):
        GraphedCEM(mpc.problem, mpc.cfg.cem)


def test_cuda_graph_flag_is_validated():
    with pytest.raises(ValueError, match="cuda_graph must be true or false"):
        MPCConfig(cuda_graph="yes")


@cuda
def test_replays_read_the_new_context_every_plan(panda, home_q):
    mpc = _mpc(panda, DeviceLinearModel("cuda"))
    assert mpc.graphed is not None
    hold = hold_actions(8, mpc.action_dim, 1.0, mpc.device, mpc.dof)
    for goal in ([0.55, 0.25, 0.35], [0.45, -0.25, 0.30], [0.55, 0.25, 0.35]):
        ctx = _ctx(mpc, home_q, goal)
        result, check = mpc.graphed.solve(ctx, hold, None, hold, mpc._generator)
        assert result.status is PlanStatus.OK
        # The graph's final check and reported cost are the eager check of its plan under *this* context.
        feasible, finite, cost, terms = mpc.problem.check(result.actions, ctx)
        assert feasible and finite and check[0] and check[1]
        assert cost == pytest.approx(result.cost, rel=1e-4, abs=1e-6) == pytest.approx(check[2], rel=1e-4)
        assert terms == pytest.approx(check[3], rel=1e-4, abs=1e-6)
        assert result.cost < mpc.problem.check(hold, ctx)[2]  # it moves towards the goal
    assert mpc.graphed.captures == 1  # one layout, one capture


@cuda
def test_a_new_context_layout_is_captured_once_more(panda, home_q):
    mpc = _mpc(panda, DeviceLinearModel("cuda"))
    hold = hold_actions(8, mpc.action_dim, 1.0, mpc.device, mpc.dof)
    assert mpc.graphed.solve(_ctx(mpc, home_q, [0.5, 0.2, 0.3]), hold, None, hold) is not None
    prev = torch.zeros(mpc.action_dim, device=mpc.device)
    for _ in range(2):
        assert mpc.graphed.solve(_ctx(mpc, home_q, [0.5, 0.2, 0.3], prev_action=prev), hold, None, hold) is not None
    assert mpc.graphed.captures == 2


@cuda
def test_graph_plans_equal_eager_plans_under_one_seed(panda, home_q):
    graphed = _mpc(panda, DeviceLinearModel("cuda"))
    eager = _mpc(panda, DeviceLinearModel("cuda"), cuda_graph=False)
    assert eager.graphed is None
    goal = [0.5, 0.2, 0.3]
    for mpc in (graphed, eager):
        mpc.set_goal(ee_goal=goal)
    for _ in range(3):  # warm-started: each plan depends on the last
        a, b = graphed.plan(_ctx(graphed, home_q, goal)), eager.plan(_ctx(eager, home_q, goal))
        assert a.status is b.status is PlanStatus.OK
        torch.testing.assert_close(a.actions, b.actions, rtol=1e-4, atol=1e-5)
        assert a.cost == pytest.approx(b.cost, rel=1e-4, abs=1e-6)
        assert a.cost_terms == pytest.approx(b.cost_terms, rel=1e-4, abs=1e-6)
    assert graphed.graphed.captures == 1


@cuda
def test_capture_failure_falls_back_to_the_eager_solve(panda, home_q, caplog):
    mpc = _mpc(panda, SyncingModel("cuda"), costs=CostConfig())
    mpc.set_goal(z_goal=torch.full((6,), 0.2, device=mpc.device))
    ctx = dataclasses.replace(_ctx(mpc, home_q, [0.5, 0.2, 0.3]), ee_goal=None, z_goal=mpc.z_goal)
    with caplog.at_level("WARNING"):
        first = mpc.plan(ctx)
        second = mpc.plan(ctx)
    assert first.status is PlanStatus.OK and second.status is PlanStatus.OK
    assert not mpc.graphed.usable
    assert sum("solving eagerly" in r.message for r in caplog.records) == 1
    # A failed capture leaves the device usable: eager kernels and RNG still work.
    assert torch.isfinite(torch.randn(4, device=mpc.device)).all()


@cuda
def test_the_box_action_mpc_replays_its_solve_too():
    """The arm-less MPC (latent-only rollouts, action box) shares the solver: graph plans equal eager ones."""
    from jepa_mpc.planner.box_filter import ActionBoxConfig
    from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC

    box = ActionBoxConfig(low=(-0.4, -1.0), high=(0.7, 0.2))
    plans = {}
    for graph in (True, False):
        model = LinearWorldModel(latent_dim=4, action_dim=2)
        model.B = torch.tensor([[0.3, 0.0], [0.0, 0.3], [0.2, 0.1], [-0.1, 0.2]], device="cuda")
        cfg = MPCConfig(horizon=6, device="cuda", max_obs_age_s=1e9, cuda_graph=graph,
                        cem=CEMConfig(num_samples=128, iterations=3, num_elites=8))
        mpc = RecedingHorizonMPC.build(model, cfg, CostConfig(), box=box)
        assert (mpc.graphed is not None) is graph
        mpc.set_goal(z_goal=torch.tensor([1.0, -1.0, 0.5, 0.0], device="cuda"))
        z = np.zeros(4, np.float32)
        ticks = [mpc.step(Observation(q=None, image=np.zeros((8, 8, 3), np.uint8), stamp_s=float(t), proprio=z),
                          now_s=float(t)) for t in range(3)]
        assert all(t.plan.status is PlanStatus.OK and t.report.ok for t in ticks)
        plans[graph] = torch.stack([t.plan.actions for t in ticks])
    torch.testing.assert_close(plans[True], plans[False], rtol=1e-4, atol=1e-5)

"""`parallel_kinematics` (planner/rollout.py): the arm's path, check points and guardrails of a CEM batch are
computed in a worker thread while the world model rolls the batch out. Same evaluation bit for bit, the work really
on two threads, never under autograd, and a failure in the worker reaches the caller."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import CostConfig, GuardrailConfig, SphereZone
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.registry import build_cost_stack
from jepa_mpc.robots.arm_control import ArmControlConfig
from tests.planner.conftest import LinearWorldModel

COSTS = CostConfig(terms=("goal_energy", "pose_fk", "action_rate"))
GUARDS = GuardrailConfig(keep_out=(SphereZone((0.5, 0.25, 0.3), 0.1),))  # beside the hand at home: binds for some


def _problem(panda, parallel: bool, model=None) -> PlanProblem:
    kin, arm = panda.kinematics(), ArmControlConfig()
    stack = build_cost_stack(COSTS, GUARDS, kin, arm, panda)
    return PlanProblem(model or LinearWorldModel(latent_dim=8, action_dim=8), stack, kin, arm,
                       parallel_kinematics=parallel)


def _batch(seed: int = 0) -> torch.Tensor:
    """256 plans, each one constant action (within the joints' acceleration limits), in every direction."""
    return (torch.rand(256, 1, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1).expand(-1, 12, -1)


def test_the_parallel_evaluation_is_the_sequential_one(panda, make_ctx, home_q):
    ctx = make_ctx(np.zeros(8), home_q, z_goal=np.full(8, 0.3), ee_goal=[0.5, 0.2, 0.3])
    actions = _batch()
    with torch.no_grad():
        sequential = _problem(panda, False).evaluate(actions, ctx)
        parallel = _problem(panda, True).evaluate(actions, ctx)
    for name in ("soft", "violation", "feasible", "finite", "raw_soft"):
        assert torch.equal(getattr(parallel, name), getattr(sequential, name)), name
    assert 0 < int(sequential.feasible.sum()) < len(actions), "the zone must bind for some samples, not all"


def test_the_arm_part_runs_on_another_thread_than_the_world_model(panda, make_ctx, home_q):
    problem = _problem(panda, True)
    threads: dict[str, set[int]] = {"fk": set(), "model": set()}
    fk, rollout = problem.rollouts.fk, problem.rollouts.world_model_rollout

    def traced(name, fn):
        def call(*args):
            threads[name].add(threading.get_ident())
            return fn(*args)
        return call

    problem.rollouts.fk = traced("fk", fk)
    problem.rollouts.world_model_rollout = traced("model", rollout)
    ctx = make_ctx(np.zeros(8), home_q, z_goal=np.zeros(8), ee_goal=[0.5, 0.2, 0.3])
    with torch.no_grad():
        problem.evaluate(_batch(), ctx)
    assert threads["model"] == {threading.get_ident()}
    assert len(threads["fk"]) == 1 and threads["fk"] != threads["model"], threads
    threads["fk"].clear()
    problem.evaluate(_batch().requires_grad_(), ctx)  # autograd: grad mode is per thread, so no worker
    assert threads["fk"] == {threading.get_ident()}


def test_gradients_still_reach_the_actions_through_the_arm_path(panda, make_ctx, home_q):
    actions = _batch().requires_grad_()
    ctx = make_ctx(np.zeros(8), home_q, z_goal=np.zeros(8), ee_goal=[0.5, 0.2, 0.3])
    _problem(panda, True).evaluate(actions, ctx).raw_soft.sum().backward()
    assert actions.grad is not None and actions.grad[..., :7].abs().sum() > 0  # pose_fk: through the kinematics


def test_a_failure_in_the_worker_reaches_the_caller(panda, make_ctx, home_q):
    problem = _problem(panda, True)

    def broken(q):
        raise RuntimeError("kinematics failed")

    problem.rollouts.fk = broken
    ctx = make_ctx(np.zeros(8), home_q, z_goal=np.zeros(8))
    with torch.no_grad(), pytest.raises(RuntimeError, match="kinematics failed"):
        problem.evaluate(_batch(), ctx)

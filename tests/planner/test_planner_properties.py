"""Property tests: whatever the cost landscape (random, adversarial), the guardrails (random zones and
limits) or the predictor (NaN, inf, huge), an OK plan and the filtered command never violate a guardrail,
and a plan the planner's guardrails call feasible passes the safety filter unchanged, on every arm tested.
Checked with MuJoCo's own kinematics and the arm's action semantics, not with the planner's code."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import (
    BoxZone,
    CEMConfig,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SafetyConfig,
    SpeedZone,
    SphereZone,
)
from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC
from jepa_mpc.planner.safety import SafetyFilter
from jepa_mpc.planner.types import PlanContext, PlanStatus
from jepa_mpc.robots.arm_control import ArmControlConfig, integrate_targets
from jepa_mpc.robots.kinematics import ArmKinematics

from .conftest import ARMS, GarbageWorldModel, JointWorldModel, truth_for

H = 4
IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _mpc_config(optimizer: str, seed: int) -> MPCConfig:
    return MPCConfig(
        optimizer=optimizer,
        horizon=H,
        device="cpu",
        max_retries=1,
        command_steps=2,
        cem=CEMConfig(num_samples=32, iterations=2, num_elites=4, seed=seed),
        gradient=GradientConfig(steps=3, num_candidates=2, lr=0.3, seed=seed),
    )


def _guardrails(draw, ee: np.ndarray, dof: int) -> GuardrailConfig:
    """Random limits and zones around the arm's home tool point `ee`."""
    xyz = st.tuples(st.floats(-0.3, 0.3), st.floats(-0.5, 0.5), st.floats(-0.3, 0.5)).map(
        lambda d: tuple(ee + np.array(d)))
    sphere = st.builds(SphereZone, xyz, st.floats(0.03, 0.25))
    box = xyz.flatmap(
        lambda lo: st.tuples(st.floats(0.05, 0.4), st.floats(0.05, 0.4), st.floats(0.05, 0.4)).map(
            lambda size: BoxZone(lo, tuple(a + s for a, s in zip(lo, size, strict=True)))
        )
    )
    margin = draw(st.floats(0.0, 0.3), label="joint margin")
    x, y, z = ee
    return GuardrailConfig(
        joint_margin_rad=margin,
        max_joint_vel_rad_s=tuple(
            draw(st.lists(st.floats(0.05, 0.6), min_size=dof, max_size=dof), label="vel")
        ),
        max_joint_acc_rad_s2=tuple(
            draw(st.lists(st.floats(0.5, 15.0), min_size=dof, max_size=dof), label="acc")
        ),
        workspace_lo=(
            draw(st.floats(x - 0.8, x - 0.05)),
            draw(st.floats(y - 0.8, y - 0.05)),
            draw(st.floats(0.0, max(0.0, z - 0.05))),
        ),
        workspace_hi=(
            draw(st.floats(x + 0.05, x + 0.4)),
            draw(st.floats(y + 0.05, y + 0.8)),
            draw(st.floats(z + 0.05, z + 0.9)),
        ),
        keep_out=tuple(draw(st.lists(st.one_of(sphere, box), max_size=3), label="keep_out")),
        table_z_m=draw(st.floats(-0.05, 0.2), label="table"),
        speed_zones=tuple(
            draw(
                st.lists(st.builds(SpeedZone, st.one_of(sphere, box), st.floats(0.0, 0.3)), max_size=2),
                label="speed zones",
            )
        ),
    )


def _check_tick(result, g, q0, truth) -> None:
    """The OK plan (all H steps, with accelerations) and whatever was sent must pass the ground truth."""
    event(f"{result.plan.status.value}, {'hold' if result.command.hold else 'sent'}")
    if result.plan.ok:
        targets = truth.targets(q0, result.plan.actions.double().numpy())
        assert truth.violations(g, q0, targets) == [], result.plan
    sent = result.command.joint_targets
    if len(sent) and not result.command.hold:
        assert truth.violations(g, q0, sent, check_acc=False) == []


def _critic(kind: str, params: np.ndarray, zone_center: np.ndarray, kin: ArmKinematics, dof: int):
    """Cost landscapes over the joint-target latent z [N, J + 1]; the adversarial ones pull against the
    guardrails.
    """
    c = torch.as_tensor(params, dtype=torch.float32)
    center = torch.as_tensor(zone_center, dtype=torch.float32)
    if kind == "quadratic":
        return lambda z: ((z[:, :dof] - c[:dof]) ** 2 * c[dof:].abs()[None]).sum(-1)
    if kind == "multimodal":
        return lambda z: torch.sin(5 * z[:, :dof] * c[:dof]).sum(-1)
    if kind == "into_zone":  # pull the end effector into the first keep-out zone
        return lambda z: 10 * torch.linalg.vector_norm(kin.forward(z[:, :dof])[:, 0] - center, dim=-1)
    return lambda z: -100 * (z[:, :dof] - c[:dof]).abs().sum(-1)  # "flail": reward large, fast joint motion


@ARMS
@SETTINGS
@given(data=st.data())
def test_property_plans_and_commands_respect_random_guardrails(robot, data):
    truth, j = truth_for(robot), robot.dof
    ee = truth.ee(truth.home)
    g = _guardrails(data.draw, ee, j)
    q0 = truth.home + np.array(data.draw(st.lists(st.floats(-0.2, 0.2), min_size=j, max_size=j), label="dq0"))
    kind = data.draw(st.sampled_from(["quadratic", "multimodal", "into_zone", "flail"]), label="critic")
    params = np.array(
        data.draw(st.lists(st.floats(-2.0, 2.0), min_size=2 * j, max_size=2 * j), label="params")
    )
    center = np.asarray(
        g.keep_out[0].center if g.keep_out and isinstance(g.keep_out[0], SphereZone) else ee - [0.0, 0.0, 0.1]
    )
    kin = robot.kinematics()
    optimizer = data.draw(st.sampled_from(["cem", "gradient", "hybrid"]), label="optimizer")
    mpc = RecedingHorizonMPC.build(
        JointWorldModel(j),
        _mpc_config(optimizer, data.draw(st.integers(0, 99))),
        CostConfig(terms=("critic", "pose_fk"), pose_fk_weight=data.draw(st.floats(0.0, 5.0))),
        g,
        critic=_critic(kind, params, center, kin, j),
        robot=robot,
    )
    mpc.set_goal(ee_goal=tuple(ee + np.array(data.draw(
        st.tuples(st.floats(-0.5, 0.4), st.floats(-0.6, 0.6), st.floats(-0.5, 0.6)), label="goal offset"))))
    z0 = np.concatenate([q0, [1.0]]).astype(np.float32)
    result = mpc.step(Observation(IMAGE, q0, 0.0, proprio=z0, q_target=q0), now_s=0.0)
    _check_tick(result, g, q0, truth)


UNIFORM_GARBAGE = ("nan", "inf", "-inf", "huge")  # every candidate's cost is NaN or inf


@ARMS
def test_property_garbage_predictor_never_yields_a_violating_plan(robot):
    """A predictor that returns only NaN, inf or 1e30 yields non_finite_cost (or infeasible) and a hold at the
    start, never OK; a mixed one may plan OK only with a plan the truth accepts. The mix of modes, optimisers and
    statuses is asserted, not just logged."""
    truth = truth_for(robot)
    seen: Counter = Counter()

    def run(mode, optimizer, offset, radius, seed):
        zone = SphereZone(tuple(truth.ee(truth.home) + np.array(offset)), radius)
        g = GuardrailConfig(keep_out=(zone,), max_joint_vel_rad_s=(0.3,) * robot.dof)
        mpc = RecedingHorizonMPC.build(
            GarbageWorldModel(mode, action_dim=robot.dof + 1),
            _mpc_config(optimizer, seed),
            CostConfig(terms=("goal_energy", "action_rate")),
            g,
            robot=robot,
        )
        mpc.set_goal(z_goal=torch.zeros(6))
        result = mpc.step(Observation(IMAGE, truth.home, 0.0, q_target=truth.home), now_s=0.0)
        status = result.plan.status
        seen[(mode, status.value)] += 1
        assert torch.isfinite(result.plan.actions).all()
        if mode in UNIFORM_GARBAGE:
            assert status in (PlanStatus.NON_FINITE_COST, PlanStatus.INFEASIBLE), (mode, status)
            assert result.command.hold
            sent = result.command.joint_targets  # the hold plan's steps, each exactly the start
            assert len(sent) >= 1 and np.array_equal(sent, np.broadcast_to(truth.home, sent.shape)), sent
        else:
            assert status in (PlanStatus.OK, PlanStatus.NON_FINITE_COST, PlanStatus.INFEASIBLE), status
        _check_tick(result, g, truth.home, truth)

    # Every mode with every optimiser (hypothesis alone left some pairs out); hypothesis picks zone and seed.
    def stratum(mode, optimizer):
        @settings(max_examples=6 if mode == "mixed" else 3, deadline=None, database=None, derandomize=True)
        @given(offset=st.tuples(st.floats(-0.2, 0.2), st.floats(-0.3, 0.3), st.floats(-0.2, 0.2)),
               radius=st.floats(0.03, 0.15), seed=st.integers(0, 99))
        def check(offset, radius, seed):
            run(mode, optimizer, offset, radius, seed)

        return check

    for mode in (*UNIFORM_GARBAGE, "mixed"):
        for optimizer in ("cem", "gradient", "hybrid"):
            stratum(mode, optimizer)()

    for mode in UNIFORM_GARBAGE:
        assert seen[(mode, "non_finite_cost")] + seen[(mode, "infeasible")] > 0, (mode, seen)
    assert sum(seen[(mode, "non_finite_cost")] for mode in UNIFORM_GARBAGE) > 0, seen
    assert seen[("mixed", "ok")] > 0, seen


@ARMS
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_plans_the_guardrails_call_feasible_pass_the_filter_unchanged(robot, build_problem, data):
    """The planner's guardrails (float32 FK, tightened by plan_slack) are at least as strict as the filter
    (float64 mj_kinematics): every plan they accept is sent as planned, every step of it, with no clamp."""
    truth, j = truth_for(robot), robot.dof
    g = _guardrails(data.draw, truth.ee(truth.home), j)
    arm = ArmControlConfig()
    lower, upper = truth.limits(g)
    q0 = truth.home + np.array(data.draw(st.lists(st.floats(-0.2, 0.2), min_size=j, max_size=j), label="dq0"))
    q0 = np.clip(q0, lower, upper)  # a trusted last command lies inside the limits
    # Zones the arm is already in leave no feasible plan to check: drop them.
    g = dataclasses.replace(g, keep_out=tuple(z for z in g.keep_out if truth.clearance(g, q0, z) > 0.01))
    vmax = np.minimum(truth.max_velocity(g), arm.max_joint_speed_rad_s)
    qd0 = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=j, max_size=j), label="qd0")) * vmax
    # 64 plans: 48 with random accelerations within a random fraction (up to all) of the limits, from qd0, so many
    # are feasible and some graze the limits; 16 uniformly random ones, mostly infeasible.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    dt, amax = arm.control_period_s, truth.max_acceleration(g)
    frac = rng.uniform(0.3, 1.05, (48, 1))
    qd, steps = np.broadcast_to(qd0, (48, j)), []
    for _ in range(8):
        wanted = qd + rng.uniform(-1, 1, (48, j)) * amax * frac * dt
        qd = np.clip(wanted, np.maximum(-vmax * frac, qd - amax * dt), np.minimum(vmax * frac, qd + amax * dt))
        steps.append(qd * dt)
    actions = rng.uniform(-1, 1, (64, 8, j + 1))
    actions[:48, :, :j] = np.stack(steps, axis=1) / arm.max_joint_step_rad
    actions = np.clip(actions, -1.0, 1.0)
    problem = build_problem(JointWorldModel(j), CostConfig(terms=("action_rate",)), g, arm, robot=robot)
    ctx = PlanContext(z0=torch.zeros(j + 1), q0=torch.as_tensor(q0, dtype=torch.float32),
                      qd0=torch.as_tensor(qd0, dtype=torch.float32))
    feasible = problem.evaluate(torch.as_tensor(actions, dtype=torch.float32), ctx).feasible.numpy()
    event(f"{int(feasible.sum())} of 64 feasible")
    f = SafetyFilter(SafetyConfig(guardrails=g, arm=arm), robot)
    for plan in actions[feasible]:
        command, report = f.filter_actions(plan, q0, 0.0, 0.0, q_reference=q0, qd_reference=qd0)
        assert report.ok and report.n_sent == len(plan), report.describe()
        np.testing.assert_allclose(command.joint_targets, integrate_targets(q0, plan, robot.lower, robot.upper, arm))

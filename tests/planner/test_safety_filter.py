"""Safety filter: unit cases for each reason, and property tests on garbage input (never raises, always
within limits and the per-step bound, Cartesian guardrails checked with MuJoCo by the test itself), on every
arm the planner is tested on."""

from __future__ import annotations

import functools
import math
import subprocess
import sys

import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SafetyConfig, SpeedZone, SphereZone
from jepa_mpc.planner.safety import SafetyFilter, SafetyReason

from .conftest import ARMS, truth_for

R = SafetyReason


@functools.cache
def _default_filter(robot) -> SafetyFilter:
    return SafetyFilter(SafetyConfig(), robot)


@pytest.fixture
def filt(robot) -> SafetyFilter:
    """The default-config filter of the test's arm (the Panda unless parametrised with ARMS)."""
    return _default_filter(robot)


@pytest.fixture
def home(robot) -> np.ndarray:
    return np.asarray(robot.home, dtype=np.float64).copy()


def _run(f: SafetyFilter, proposal, q, stamp=0.0, now=0.01, **kw):
    command, report = f.filter(proposal, q, stamp, now, **kw)
    return command, report


def test_a_safe_proposal_passes_unchanged(filt, home_q):
    target = home_q + np.array([0.02, -0.01, 0.0, 0.03, 0.0, -0.02, 0.01])
    command, report = _run(filt, target, home_q, gripper=0.4)
    assert report.ok and not command.hold and report.n_sent == 1
    np.testing.assert_array_equal(command.joint_targets, target[None])
    assert command.gripper == 0.4


def test_clamps_joint_limits_and_step(filt, home_q):
    q = home_q.copy()
    q[3] = filt.upper[3] - 0.01
    target = q.copy()
    target[3] += 0.5  # past the upper limit, and far more than one step
    target[0] += 0.2  # more than one step
    command, report = _run(filt, target, q)
    assert {R.CLAMPED_JOINT_LIMIT, R.CLAMPED_STEP} <= set(report.reasons) and not command.hold
    out = command.joint_targets[0]
    assert out[3] == pytest.approx(filt.upper[3]) and out[0] == pytest.approx(q[0] + 0.05)


@ARMS
@pytest.mark.parametrize(
    ("proposal", "q", "stamp", "now", "reason", "empty"),
    [
        ("nan", "home", 0.0, 0.0, R.NON_FINITE_COMMAND, False),
        ("short", "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("long", "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("wide", "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("garbage", "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("home", "nan", 0.0, 0.0, R.NON_FINITE_STATE, True),
        ("home", "huge", 0.0, 0.0, R.STATE_OUT_OF_LIMITS, True),
        ("home", "long", 0.0, 0.0, R.BAD_STATE_SHAPE, True),
        ("home", "short", 0.0, 0.0, R.BAD_STATE_SHAPE, True),
        ("home", "home", 0.0, 1.0, R.STALE_STATE, True),
        ("home", "home", 5.0, 0.0, R.BAD_STAMP, True),
        ("home", "home", None, 0.0, R.BAD_STAMP, True),
    ],
)
def test_bad_input_holds_with_a_reason(robot, filt, home, proposal, q, stamp, now, reason, empty):
    j = robot.dof
    values = {"home": home, "nan": [math.nan] * j, "huge": [1e30] * j, "short": [0.0] * (j - 1),
              "long": [0.0] * (j + 1), "wide": np.c_[home[None], [[0.0]]], "garbage": "garbage"}
    command, report = _run(filt, values[proposal], values[q], stamp, now)
    assert command.hold and report.hold and reason in report.reasons
    if empty:  # no trusted joint state: send no new setpoint
        assert command.joint_targets.shape == (0, j)
    else:  # hold where we are
        np.testing.assert_array_equal(command.joint_targets, home[None])


def _pushing_ee(robot, home: np.ndarray, direction: np.ndarray, steps: int = 1) -> np.ndarray:
    """Joint targets [steps, J] that move the tool point along `direction` (Jacobian pseudo-inverse, one step
    each), from MuJoCo's own Jacobian."""
    m, d = robot.model, mujoco.MjData(robot.model)
    adr = [m.joint(n).qposadr[0] for n in robot.model_joint_names]
    cols = [m.joint(n).dofadr[0] for n in robot.model_joint_names]
    truth = truth_for(robot)
    out, q = [], home.copy()
    for _ in range(steps):
        d.qpos[adr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, robot.tool.frame)
        body = int(m.site_bodyid[site]) if site >= 0 else m.body(robot.tool.frame).id
        jac = np.zeros((3, m.nv))
        mujoco.mj_jac(m, d, jac, None, truth.ee(q), body)
        dq = np.linalg.pinv(jac[:, cols]) @ direction
        q = q + dq * min(1.0, 0.045 / np.abs(dq).max())
        out.append(q.copy())
    return np.array(out)


def _table_clearance(truth, q: np.ndarray) -> float:
    """Lowest table-checked point's height minus its radius and the default margin (truth)."""
    pts = truth.points(q)
    return float(np.min((pts[:, 2] - truth.radii)[truth.table]) - GuardrailConfig().table_margin_m)


def _descent(robot, home: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(start [J], targets [steps, J]): the tool pushed straight down from the first pose on that path where the
    lowest table-checked point descends too (at home it may be a link the push barely moves), by truth."""
    truth = truth_for(robot)
    path = np.vstack([home[None], _pushing_ee(robot, home, np.array([0.0, 0.0, -1.0]), steps=steps + 8)])
    clearance = [_table_clearance(truth, q) for q in path]
    for t in range(len(path) - steps):
        if all(clearance[t + i + 1] < clearance[t + i] - 0.005 for i in range(steps)):
            return path[t], path[t + 1: t + 1 + steps]
    raise AssertionError(f"pushing the tool down never lowers the arm's lowest point: {clearance}")


def _violation_case(robot, home: np.ndarray, kind: str) -> tuple[GuardrailConfig, np.ndarray, np.ndarray]:
    """(guardrails, start, one-step push) where the start is fine and the push breaks `kind` (by truth)."""
    truth = truth_for(robot)
    if kind == "workspace":
        push = _pushing_ee(robot, home, np.array([1.0, 0.0, 0.0]))
        hi = (truth.ee(home)[0] + truth.ee(push[0])[0]) / 2
        return GuardrailConfig(workspace_hi=(hi, 0.8, 1.2)), home, push
    if kind == "table":
        start, push = _descent(robot, home, 1)
        table_z = (_table_clearance(truth, start) + _table_clearance(truth, push[0])) / 2
        return GuardrailConfig(table_z_m=table_z), start, push
    push = _pushing_ee(robot, home, np.array([0.0, 0.0, -1.0]))
    center = tuple(truth.ee(home) + np.array([0.0, 0.0, -0.2]))  # below the tool, on its way down
    before = truth.clearance(GuardrailConfig(), home, SphereZone(center, 1e-3))
    after = truth.clearance(GuardrailConfig(), push[0], SphereZone(center, 1e-3))
    assert after < before - 0.005, (before, after)
    return GuardrailConfig(keep_out=(SphereZone(center, (before + after) / 2),)), home, push


@ARMS
@pytest.mark.parametrize(("kind", "reason"), [("keep_out", R.KEEP_OUT), ("workspace", R.WORKSPACE_EXIT),
                                              ("table", R.TABLE)])
def test_cartesian_violations_hold(robot, home, kind, reason):
    g, start, push = _violation_case(robot, home, kind)
    truth = truth_for(robot)
    assert truth.violations(g, start, start[None], check_acc=False) == []
    assert truth.violations(g, start, push, check_acc=False) == [kind]
    f = SafetyFilter(SafetyConfig(guardrails=g), robot)
    command, report = _run(f, start, start)
    assert report.ok  # staying put is fine...
    command, report = _run(f, push, start)  # ...the push is not
    assert command.hold and reason in report.reasons
    np.testing.assert_array_equal(command.joint_targets, start[None])


@ARMS
def test_later_violation_truncates_the_trajectory(robot, home):
    truth = truth_for(robot)
    start, targets = _descent(robot, home, 4)  # the arm's lowest point descends at every step
    clearance = [_table_clearance(truth, q) for q in targets]
    table_z = (clearance[0] + clearance[-1]) / 2  # the first step is fine, the last is not
    f = SafetyFilter(SafetyConfig(guardrails=GuardrailConfig(table_z_m=table_z)), robot)
    command, report = _run(f, targets, start)
    assert not command.hold and R.TRUNCATED in report.reasons and R.TABLE in report.reasons
    assert 1 <= report.n_sent < 4
    np.testing.assert_array_equal(command.joint_targets, targets[: report.n_sent])
    assert all(c >= table_z for c in clearance[: report.n_sent])  # what was sent is clear (truth)
    assert clearance[report.n_sent] < table_z  # and the first point cut is not


@ARMS
def test_zone_speed_scales_the_step_down(robot, home):
    truth = truth_for(robot)
    slow = SpeedZone(SphereZone(tuple(truth.ee(home)), 0.2), max_speed_m_s=0.05)
    f = SafetyFilter(SafetyConfig(guardrails=GuardrailConfig(speed_zones=(slow,))), robot)
    target = _pushing_ee(robot, home, np.array([1.0, 0, 0]))[0]  # about 4.5 cm per 0.1 s: too fast
    command, report = _run(f, target, home)
    assert R.SCALED_FOR_ZONE_SPEED in report.reasons and not command.hold
    ee0, ee1 = truth.ee(home), truth.ee(command.joint_targets[0])
    assert np.linalg.norm(ee1 - ee0) / 0.1 <= 0.05
    strict = SafetyFilter(
        SafetyConfig(guardrails=GuardrailConfig(speed_zones=(slow,)), speed_scale_attempts=0), robot
    )
    command, report = _run(strict, target, home)
    assert command.hold and R.ZONE_SPEED in report.reasons


def test_reference_is_used_within_tracking_error(filt, home_q):
    ref = home_q + 0.04
    command, report = _run(filt, ref + 0.05, home_q, q_reference=ref)
    assert report.ok
    np.testing.assert_allclose(command.joint_targets[0], ref + 0.05)
    command, report = _run(filt, ref + 0.05, home_q, q_reference=home_q + 1.0)
    assert R.REFERENCE_IGNORED in report.reasons and R.CLAMPED_STEP in report.reasons


def test_acceleration_bound_from_the_last_command_velocity(filt, home_q):
    moving = np.zeros(7)
    moving[1] = -0.5  # joint 2 moving at -0.5 rad/s; its acc limit 7.5 rad/s^2 allows 0.075 rad/s per step
    target = home_q.copy()
    target[1] += 0.05  # full reversal: +0.5 rad/s in one step would need 10 rad/s^2
    command, report = _run(filt, target, home_q, qd_reference=moving)
    assert R.CLAMPED_ACCELERATION in report.reasons and not command.hold
    step = command.joint_targets[0, 1] - home_q[1]
    assert step == pytest.approx(-0.05 + 7.5 * 0.01)
    _, report = _run(filt, target, home_q, qd_reference=[np.nan] * 7)
    assert (
        R.VELOCITY_REFERENCE_IGNORED in report.reasons and R.CLAMPED_ACCELERATION not in report.reasons
    )


@ARMS
def test_filter_actions_uses_the_arm_action_semantics(robot, filt, home):
    j = robot.dof
    actions = np.zeros((2, j + 1))  # J joint steps, then the gripper entry
    actions[:, 0], actions[:, j] = 1.0, -1.0
    command, report = filt.filter_actions(actions, home, 0.0, 0.0)
    assert report.ok and command.gripper == -1.0
    np.testing.assert_allclose(command.joint_targets[:, 0], home[0] + np.array([0.05, 0.10]))
    command, report = filt.filter_actions(actions[:, :j], home, 0.0, 0.0)  # no gripper entry
    assert report.ok and command.gripper is None
    command, report = filt.filter_actions(actions[:, : j - 1], home, 0.0, 0.0)  # too few entries
    assert command.hold and R.BAD_COMMAND_SHAPE in report.reasons


def test_safety_module_imports_neither_torch_nor_models():
    code = (
        "import sys, jepa_mpc.planner.safety; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('jepa_mpc.models')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------- properties


def _garbage(dof: int):
    """Anything but a finite joint vector (or [T, J] array) for this arm: None, text, dicts, NaN / inf / huge
    entries, and finite arrays of the wrong shape."""
    finite = st.floats(-3.0, 3.0)
    return st.one_of(
        st.none(),
        st.text(max_size=3),
        st.just([]),
        st.just({"a": 1}),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=dof + 2),
        st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0]), min_size=dof, max_size=dof),
        st.sampled_from([dof - 1, dof + 1, 1]).flatmap(lambda n: st.lists(finite, min_size=n, max_size=n)),
        st.sampled_from([(2, dof - 1), (2, dof + 1), (1, 1, dof), (0, dof)]).map(np.zeros),
        st.lists(st.lists(finite, min_size=dof, max_size=dof), min_size=2, max_size=2).map(
            lambda rows: [rows[0], rows[1][:-1]]),  # ragged
    )


def _near(home: np.ndarray, scale: float):
    return st.lists(st.floats(-scale, scale), min_size=len(home), max_size=len(home)).map(
        lambda d: home + np.array(d))


def _zones(ee: np.ndarray):
    """Up to two keep-out spheres around the home tool point."""
    center = st.tuples(st.floats(-0.3, 0.3), st.floats(-0.4, 0.4), st.floats(-0.3, 0.4)).map(
        lambda d: tuple(ee + np.array(d)))
    sphere = st.builds(SphereZone, center, st.floats(0.03, 0.2))
    return st.lists(sphere, max_size=2).map(tuple)


@ARMS
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_filter_output_is_always_within_limits_and_step(robot, filt, home, data):
    j, garbage = robot.dof, _garbage(robot.dof)

    # One input in five is garbage, so most examples reach the checks.
    def sometimes_garbage(valid, label):
        return data.draw(
            garbage if data.draw(st.integers(0, 4), label=f"{label} kind") == 0 else valid, label=label
        )

    q = sometimes_garbage(_near(home, 0.3), "q")
    proposal = sometimes_garbage(
        st.one_of(_near(home, 0.1), st.lists(_near(home, 0.3), min_size=1, max_size=4)), "proposal"
    )
    stamp = sometimes_garbage(st.floats(-0.3, 0.06), "stamp")
    reference = data.draw(st.one_of(st.none(), _near(home, 0.1), garbage), label="reference")
    speed = st.one_of(st.floats(-0.6, 0.6), st.sampled_from([-0.5, 0.5]))  # 0.5 rad/s: a full action step
    velocity = data.draw(st.one_of(st.none(), st.lists(speed, min_size=j, max_size=j), garbage), label="qd")
    gripper = data.draw(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), label="gripper"
    )
    command, report = filt.filter(
        proposal, q, stamp, 0.0, q_reference=reference, qd_reference=velocity, gripper=gripper
    )
    event("hold" if command.hold else f"sent {report.n_sent}")
    out = command.joint_targets
    assert out.ndim == 2 and out.shape[1] == j and np.all(np.isfinite(out))
    try:
        p = np.array(proposal, dtype=np.float64)
    except (TypeError, ValueError):
        p = None
    well_formed = p is not None and (p.shape == (j,) or (p.ndim == 2 and p.shape[0] >= 1 and p.shape[1] == j))
    if not (well_formed and np.all(np.isfinite(p))):
        assert command.hold and len(out) <= 1  # a malformed or non-finite proposal never moves the arm
    assert np.all(out >= filt.lower - 1e-12) and np.all(out <= filt.upper + 1e-12)
    assert command.gripper is None or -1.0 <= command.gripper <= 1.0
    if len(out) == 0:
        assert command.hold
        return
    q_arr = np.asarray(q, dtype=np.float64)  # a trusted state exists when anything is sent
    ref = (
        np.asarray(reference, dtype=np.float64)
        if (reference is not None and SafetyReason.REFERENCE_IGNORED not in report.reasons)
        else np.clip(q_arr, filt.lower, filt.upper)
    )
    steps = np.diff(np.vstack([ref, out]), axis=0)
    assert np.all(np.abs(steps) <= filt.max_step + 1e-9)
    if not command.hold:
        trusted_velocity = velocity is not None and R.VELOCITY_REFERENCE_IGNORED not in report.reasons
        qd0 = np.asarray(velocity, dtype=np.float64) if trusted_velocity else None
        violations = truth_for(robot).violations(filt.cfg.guardrails, ref, out, qd0=qd0,
                                                 check_acc=trusted_velocity)
        assert violations == []


@ARMS
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_random_zones_sent_commands_respect_them(robot, home, data):
    truth = truth_for(robot)
    ee = truth.ee(home)
    g = GuardrailConfig(
        keep_out=data.draw(_zones(ee), label="keep_out"),
        workspace_lo=(-0.3, -0.8, data.draw(st.floats(0.0, 0.3))),
        table_z_m=_table_clearance(truth, home) + data.draw(st.floats(-0.2, 0.03), label="table below home"),
        speed_zones=(
            SpeedZone(BoxZone(tuple(ee - 0.2), tuple(ee + 0.2)), data.draw(st.floats(0.0, 0.5))),
        ),
    )
    f = SafetyFilter(SafetyConfig(guardrails=g), robot)
    proposal = data.draw(st.lists(_near(home, 0.2), min_size=1, max_size=3), label="proposal")
    command, report = f.filter(proposal, home, 0.0, 0.0)
    event("hold" if command.hold else f"sent {report.n_sent}")
    if not command.hold:
        assert truth.violations(g, home, command.joint_targets, check_acc=False) == []
    else:
        np.testing.assert_array_equal(command.joint_targets, home[None])


def test_filter_is_deterministic(filt, home_q):
    proposal = [home_q + 0.3, home_q - 0.1]
    first = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    second = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    np.testing.assert_array_equal(first[0].joint_targets, second[0].joint_targets)
    assert first[1] == second[1]

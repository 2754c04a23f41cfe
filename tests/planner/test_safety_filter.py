"""Safety filter: unit cases for each reason, and property tests on garbage input (never raises, always
within limits and the per-step bound, Cartesian guardrails checked with MuJoCo by the test itself)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SafetyConfig, SpeedZone, SphereZone
from jepa_mpc.planner.safety import SafetyFilter, SafetyReason

R = SafetyReason


@pytest.fixture(scope="module")
def filt(mj_model) -> SafetyFilter:
    return SafetyFilter(SafetyConfig(), mj_model)


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


@pytest.mark.parametrize(
    ("proposal", "q", "stamp", "now", "reason", "empty"),
    [
        ([math.nan] * 7, "home", 0.0, 0.0, R.NON_FINITE_COMMAND, False),
        ([0.0] * 6, "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("garbage", "home", 0.0, 0.0, R.BAD_COMMAND_SHAPE, False),
        ("home", [math.nan] * 7, 0.0, 0.0, R.NON_FINITE_STATE, True),
        ("home", [1e30] * 7, 0.0, 0.0, R.STATE_OUT_OF_LIMITS, True),
        ("home", [0.0] * 8, 0.0, 0.0, R.BAD_STATE_SHAPE, True),
        ("home", "home", 0.0, 1.0, R.STALE_STATE, True),
        ("home", "home", 5.0, 0.0, R.BAD_STAMP, True),
        ("home", "home", None, 0.0, R.BAD_STAMP, True),
    ],
)
def test_bad_input_holds_with_a_reason(filt, home_q, proposal, q, stamp, now, reason, empty):
    proposal = home_q if isinstance(proposal, str) and proposal == "home" else proposal
    q = home_q if isinstance(q, str) else q
    command, report = _run(filt, proposal, q, stamp, now)
    assert command.hold and report.hold and reason in report.reasons
    if empty:  # no trusted joint state: send no new setpoint
        assert command.joint_targets.shape == (0, 7)
    else:  # hold where we are
        np.testing.assert_array_equal(command.joint_targets, home_q[None])


def _pushing_ee(filt, home_q, direction: np.ndarray, steps: int = 1) -> np.ndarray:
    """Joint targets [steps, 7] that move the EE along `direction` (Jacobian pseudo-inverse, one step
    each).
    """
    import mujoco

    m, d = filt.model, mujoco.MjData(filt.model)
    out, q = [], home_q.copy()
    for _ in range(steps):
        d.qpos[:7] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        jac = np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jac, None, m.site("end_effector").id)
        dq = np.linalg.pinv(jac[:, :7]) @ direction
        q = q + dq * min(1.0, 0.045 / np.abs(dq).max())
        out.append(q.copy())
    return np.array(out)


@pytest.mark.parametrize(
    ("guardrails", "direction", "reason"),
    [
        (GuardrailConfig(keep_out=(SphereZone((0.5, 0.0, 0.25), 0.03),)), [0, 0, -1.0], R.KEEP_OUT),
        (GuardrailConfig(workspace_hi=(0.51, 0.8, 1.2)), [1.0, 0, 0], R.WORKSPACE_EXIT),
        (GuardrailConfig(table_z_m=0.28), [0, 0, -1.0], R.TABLE),
    ],
)
def test_cartesian_violations_hold(mj_model, home_q, guardrails, direction, reason):
    f = SafetyFilter(SafetyConfig(guardrails=guardrails), mj_model)
    command, report = _run(f, _pushing_ee(f, home_q, np.asarray(direction)), home_q)
    assert command.hold and reason in report.reasons
    np.testing.assert_array_equal(command.joint_targets, home_q[None])


def test_later_violation_truncates_the_trajectory(mj_model, home_q):
    f = SafetyFilter(SafetyConfig(guardrails=GuardrailConfig(table_z_m=0.24)), mj_model)
    targets = _pushing_ee(f, home_q, np.array([0, 0, -1.0]), steps=4)  # EE z 0.30 -> ~0.14
    command, report = _run(f, targets, home_q)
    assert not command.hold and R.TRUNCATED in report.reasons and R.TABLE in report.reasons
    assert 1 <= report.n_sent < 4
    np.testing.assert_array_equal(command.joint_targets, targets[: report.n_sent])


def test_zone_speed_scales_the_step_down(mj_model, home_q):
    slow = SpeedZone(SphereZone((0.5, 0.0, 0.3), 0.2), max_speed_m_s=0.05)
    f = SafetyFilter(SafetyConfig(guardrails=GuardrailConfig(speed_zones=(slow,))), mj_model)
    target = _pushing_ee(f, home_q, np.array([1.0, 0, 0]))[
        0
    ]  # about 2 cm per 0.1 s (0.22 m/s): too fast
    command, report = _run(f, target, home_q)
    assert R.SCALED_FOR_ZONE_SPEED in report.reasons and not command.hold
    ee0, ee1 = f.points(home_q)[0], f.points(command.joint_targets[0])[0]
    assert np.linalg.norm(ee1 - ee0) / 0.1 <= 0.05
    strict = SafetyFilter(
        SafetyConfig(guardrails=GuardrailConfig(speed_zones=(slow,)), speed_scale_attempts=0), mj_model
    )
    command, report = _run(strict, target, home_q)
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
    moving[
        1
    ] = -0.5  # joint 2 moving at -0.5 rad/s; its acc limit 7.5 rad/s^2 allows 0.075 rad/s per step
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


def test_filter_actions_uses_the_arm_action_semantics(filt, home_q):
    actions = np.zeros((2, 8))
    actions[:, 0], actions[:, 7] = 1.0, -1.0
    command, report = filt.filter_actions(actions, home_q, 0.0, 0.0)
    assert report.ok and command.gripper == -1.0
    np.testing.assert_allclose(command.joint_targets[:, 0], home_q[0] + np.array([0.05, 0.10]))


def test_safety_module_imports_neither_torch_nor_models():
    code = (
        "import sys, jepa_mpc.planner.safety; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('jepa_mpc.models')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------- properties

GARBAGE = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.just([]),
    st.just({"a": 1}),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9),
    st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0]), min_size=7, max_size=7),
)


def _near(home: np.ndarray, scale: float):
    return st.lists(st.floats(-scale, scale), min_size=7, max_size=7).map(lambda d: home + np.array(d))


def _zones():
    center = st.tuples(st.floats(0.2, 0.8), st.floats(-0.4, 0.4), st.floats(0.0, 0.7))
    sphere = st.builds(SphereZone, center, st.floats(0.03, 0.2))
    return st.lists(sphere, max_size=2).map(tuple)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_filter_output_is_always_within_limits_and_step(filt, home_q, truth, data):
    # One input in five is garbage, so most examples reach the checks.
    def sometimes_garbage(valid, label):
        return data.draw(
            GARBAGE if data.draw(st.integers(0, 4), label=f"{label} kind") == 0 else valid, label=label
        )

    q = sometimes_garbage(_near(home_q, 0.3), "q")
    proposal = sometimes_garbage(
        st.one_of(_near(home_q, 0.1), st.lists(_near(home_q, 0.3), min_size=1, max_size=4)), "proposal"
    )
    stamp = sometimes_garbage(st.floats(-0.3, 0.06), "stamp")
    reference = data.draw(st.one_of(st.none(), _near(home_q, 0.1), GARBAGE), label="reference")
    velocity = data.draw(
        st.one_of(st.none(), st.lists(st.floats(-0.6, 0.6), min_size=7, max_size=7), GARBAGE), label="qd"
    )
    gripper = data.draw(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), label="gripper"
    )
    command, report = filt.filter(
        proposal, q, stamp, 0.0, q_reference=reference, qd_reference=velocity, gripper=gripper
    )
    event("hold" if command.hold else f"sent {report.n_sent}")
    out = command.joint_targets
    assert out.ndim == 2 and out.shape[1] == 7 and np.all(np.isfinite(out))
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
        violations = truth.violations(filt.cfg.guardrails, ref, out, qd0=qd0, check_acc=trusted_velocity)
        assert violations == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_random_zones_sent_commands_respect_them(mj_model, home_q, truth, data):
    g = GuardrailConfig(
        keep_out=data.draw(_zones(), label="keep_out"),
        workspace_lo=(-0.3, -0.8, data.draw(st.floats(0.0, 0.3))),
        table_z_m=data.draw(st.floats(-0.1, 0.25)),
        speed_zones=(
            SpeedZone(BoxZone((0.3, -0.2, 0.1), (0.7, 0.2, 0.5)), data.draw(st.floats(0.0, 0.5))),
        ),
    )
    f = SafetyFilter(SafetyConfig(guardrails=g), mj_model)
    proposal = data.draw(st.lists(_near(home_q, 0.2), min_size=1, max_size=3), label="proposal")
    command, report = f.filter(proposal, home_q, 0.0, 0.0)
    event("hold" if command.hold else f"sent {report.n_sent}")
    if not command.hold:
        assert truth.violations(g, home_q, command.joint_targets, check_acc=False) == []
    else:
        np.testing.assert_array_equal(command.joint_targets, home_q[None])


def test_filter_is_deterministic(filt, home_q):
    proposal = [home_q + 0.3, home_q - 0.1]
    first = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    second = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    np.testing.assert_array_equal(first[0].joint_targets, second[0].joint_targets)
    assert first[1] == second[1]

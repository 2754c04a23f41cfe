"""Safety filter: unit cases for each reason, and property tests on garbage input (never raises, always
within limits and the per-step bound, Cartesian guardrails checked with MuJoCo by the test itself), on every
arm the planner is tested on."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from collections import Counter

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
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


def _start(robot):
    """Where the arm is: home, near home, or anywhere inside its joint limits (by truth; 1e-6 inside, so that
    a reference equal to it is not a float-rounding coin toss at the boundary)."""
    lower, upper = truth_for(robot).limits(GuardrailConfig())
    lower, upper = lower + 1e-6, upper - 1e-6
    home = np.asarray(robot.home, dtype=np.float64)
    anywhere = st.lists(st.floats(0.0, 1.0), min_size=len(home), max_size=len(home)).map(
        lambda u: lower + np.array(u) * (upper - lower))
    return st.one_of(st.just(home), _near(home, 0.3).map(lambda q: np.clip(q, lower, upper)), anywhere)


def _stamp_offset():
    """stamp - now: fresh, just stale, just ahead, far stale or ahead, NaN, inf, text, None."""
    return st.one_of(st.floats(-0.24, 0.04), st.floats(-1e12, -0.26), st.floats(0.06, 1e12),
                     st.sampled_from([math.nan, math.inf, -math.inf, 0.25, -0.25, 0.05, 1e308]),
                     st.none(), st.text(max_size=2))


def _stamp_ok(offset, now: float, cfg: SafetyConfig) -> bool:
    """The documented stamp rule, written out here: finite, at most max_obs_age_s old, max_future_stamp_s ahead."""
    if not isinstance(offset, float) or not math.isfinite(offset):
        return False
    stamp = now + offset
    return math.isfinite(stamp) and now - stamp <= cfg.max_obs_age_s and stamp - now <= cfg.max_future_stamp_s


def _trusted_reference(reference, q: np.ndarray, truth, cfg: SafetyConfig) -> np.ndarray | None:
    """The reference when the documented rule trusts it (finite [J], inside the limits, near q), else None."""
    try:
        r = np.array(reference, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    lower, upper = truth.limits(cfg.guardrails)
    if r.shape != q.shape or not np.all(np.isfinite(r)) or np.any(r < lower) or np.any(r > upper):
        return None
    return r if np.all(np.abs(r - q) <= cfg.max_tracking_error_rad) else None


def _zones(ee: np.ndarray):
    """Up to two keep-out spheres and up to two boxes around the home tool point."""
    offset = st.tuples(st.floats(-0.3, 0.3), st.floats(-0.4, 0.4), st.floats(-0.3, 0.4)).map(np.array)
    sphere = st.builds(lambda d, r: SphereZone(tuple(ee + d), r), offset, st.floats(0.03, 0.2))
    box = st.builds(lambda d, size: BoxZone(tuple(ee + d), tuple(ee + d + np.array(size))), offset,
                    st.tuples(*[st.floats(0.02, 0.3)] * 3))
    return st.tuples(st.lists(sphere, max_size=2), st.lists(box, max_size=2)).map(lambda z: (*z[0], *z[1]))


@ARMS
def test_property_filter_output_is_always_within_limits_and_step(robot, filt):
    """Any state, proposal, stamp, reference, velocity and gripper: the output stays in the limits and the step
    bound from the start the documented rules pick (computed here), bad stamps get no setpoint, and every path
    it sends keeps every guardrail (MuJoCo truth). The outcomes logged are asserted at the end."""
    j, garbage, truth, cfg = robot.dof, _garbage(robot.dof), truth_for(robot), filt.cfg
    lower, upper = truth.limits(cfg.guardrails)
    seen: Counter = Counter()

    @settings(max_examples=250, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def check(data):
        def sometimes_garbage(valid, label):  # one input in five is garbage, so most examples reach the checks
            return data.draw(garbage if data.draw(st.integers(0, 4), label=f"{label} kind") == 0 else valid,
                             label=label)

        start = data.draw(_start(robot), label="start")
        q = sometimes_garbage(_near(start, 0.03), "q")
        proposal = sometimes_garbage(st.one_of(_near(start, 0.1), _near(start, 3.0),  # 3 rad: past the limits
                                               st.lists(_near(start, 0.3), min_size=1, max_size=4)), "proposal")
        now = data.draw(st.sampled_from([0.0, 1e6, -5.0]), label="now")
        fresh = data.draw(st.integers(0, 3), label="stamp kind") > 0  # one stamp in four is bad
        offset = data.draw(st.floats(-0.2, 0.04) if fresh else _stamp_offset(), label="stamp - now")
        stamp = now + offset if isinstance(offset, float) else offset
        reference = data.draw(st.one_of(st.none(), _near(start, 0.1), _near(start, 0.5), garbage), label="ref")
        speed = st.one_of(st.floats(-0.6, 0.6), st.sampled_from([-0.5, 0.5]))  # 0.5 rad/s: a full step
        velocity = data.draw(st.one_of(st.none(), st.lists(speed, min_size=j, max_size=j), garbage), label="qd")
        gripper = data.draw(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), label="gripper")
        command, report = filt.filter(proposal, q, stamp, now, q_reference=reference, qd_reference=velocity,
                                      gripper=gripper)
        out = command.joint_targets
        assert out.ndim == 2 and out.shape[1] == j and np.all(np.isfinite(out))
        assert np.all(out >= lower - 1e-12) and np.all(out <= upper + 1e-12)
        assert command.gripper is None or -1.0 <= command.gripper <= 1.0
        try:
            q_arr = np.array(q, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            q_arr = None
        state_ok = (q_arr is not None and q_arr.shape == (j,) and np.all(np.isfinite(q_arr))
                    and np.all(q_arr >= lower - cfg.state_limit_tol_rad)
                    and np.all(q_arr <= upper + cfg.state_limit_tol_rad))
        if not (state_ok and _stamp_ok(offset, now, cfg)):
            assert len(out) == 0 and command.hold, "no trusted state or stamp: no setpoint"
            seen["no setpoint: bad stamp" if state_ok else "no setpoint: bad state"] += 1
            return
        try:
            p = np.array(proposal, dtype=np.float64)
        except (TypeError, ValueError):
            p = None
        well_formed = p is not None and (p.shape == (j,) or (p.ndim == 2 and p.shape[0] >= 1 and p.shape[1] == j))
        if not (well_formed and np.all(np.isfinite(p))):
            assert command.hold and len(out) == 1  # a malformed or non-finite proposal never moves the arm
            seen["hold: bad proposal"] += 1
        trusted = _trusted_reference(reference, q_arr, truth, cfg)
        seen["reference trusted" if trusted is not None else "reference absent or ignored"] += 1
        ref = trusted if trusted is not None else np.clip(q_arr, lower, upper)
        if command.hold:  # a hold stands exactly at the last command, or at the measured state when the motion
            # from there to the last command would break a guardrail (planner/safety.py _hold_point)
            assert len(out) == 1 and (np.array_equal(out[0], ref) or np.array_equal(out[0], np.clip(q_arr, lower,
                                                                                                     upper))), out
            seen["hold"] += 1
            return
        seen["sent 1" if len(out) == 1 else "sent several"] += 1
        seen.update(r.value for r in report.reasons)
        steps = np.diff(np.vstack([ref, out]), axis=0)
        assert np.all(np.abs(steps) <= filt.max_step + 1e-9)
        trusted_velocity = velocity is not None and R.VELOCITY_REFERENCE_IGNORED not in report.reasons
        qd0 = np.asarray(velocity, dtype=np.float64) if trusted_velocity else None
        assert truth.violations(cfg.guardrails, ref, out, qd0=qd0, check_acc=trusted_velocity) == []

    check()
    for outcome in ("no setpoint: bad stamp", "no setpoint: bad state", "hold: bad proposal", "hold", "sent 1",
                    "sent several", "reference trusted", "reference absent or ignored", "clamped_step",
                    "clamped_joint_limit"):
        assert seen[outcome] > 0, (outcome, seen)


@ARMS
def test_property_random_zones_sent_commands_respect_them(robot):
    """Random keep-out spheres and boxes, workspace, table and a slow box around an arm anywhere near home: what
    is sent keeps all of them at every check sphere (truth), a hold repeats the start; both outcomes occur."""
    truth = truth_for(robot)
    home = np.asarray(robot.home, dtype=np.float64)
    ee = truth.ee(home)
    seen: Counter = Counter()

    @settings(max_examples=120, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def check(data):
        g = GuardrailConfig(
            keep_out=data.draw(_zones(ee), label="keep_out"),
            workspace_lo=(-0.3, -0.8, data.draw(st.floats(0.0, 0.3))),
            table_z_m=_table_clearance(truth, home) + data.draw(st.floats(-0.2, 0.03), label="table below home"),
            speed_zones=(
                SpeedZone(BoxZone(tuple(ee - 0.2), tuple(ee + 0.2)), data.draw(st.floats(0.0, 0.5))),
            ),
        )
        f = SafetyFilter(SafetyConfig(guardrails=g), robot)
        start = data.draw(_near(home, 0.2).map(lambda q: np.clip(q, *truth.limits(g))), label="start")
        proposal = data.draw(st.lists(_near(start, 0.2), min_size=1, max_size=3), label="proposal")
        command, report = f.filter(proposal, start, 0.0, 0.0)
        if not command.hold:
            assert truth.violations(g, start, command.joint_targets, check_acc=False) == []
            seen["sent"] += 1
            seen.update(r.value for r in report.reasons)
        else:
            np.testing.assert_array_equal(command.joint_targets, start[None])
            seen["hold"] += 1
            seen.update(r.value for r in report.reasons)

    check()
    for outcome in ("sent", "hold", "keep_out", "table", "workspace_exit", "zone_speed", "scaled_for_zone_speed"):
        assert seen[outcome] > 0, (outcome, seen)


def test_filter_is_deterministic(filt, home_q):
    proposal = [home_q + 0.3, home_q - 0.1]
    first = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    second = filt.filter(proposal, home_q + 0.01, 0.0, 0.0)
    np.testing.assert_array_equal(first[0].joint_targets, second[0].joint_targets)
    assert first[1] == second[1]

"""Guarantees along the motion (issue 20): the straight joint-space segment the controller executes between two
control points, not just the points.

Ground truth is planner/guardrail_checker.GroundTruth (MuJoCo's mj_kinematics, dense sub-samples; shares no code
with the planner's guardrails or the filter) and MuJoCo's own Jacobian (mj_jac) for the motion bound.
Each named scenario is checked to be what it claims (clean ends, a breach in between) before it is used.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SafetyConfig, SpeedZone, SphereZone
from jepa_mpc.planner.guardrail_checker import GroundTruth, zone_sdf_many
from jepa_mpc.planner.registry import build_guardrails
from jepa_mpc.planner.safety import SafetyFilter, SafetyReason
from jepa_mpc.planner.segment_check import segment_samples
from jepa_mpc.planner.types import PlanContext, Rollout
from jepa_mpc.robots import load_robot
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.motion_bound import robot_motion_bound, samples_for

FAST = ArmControlConfig(max_joint_step_rad=0.15)
"""A 1.5 rad/s step (within the Panda's joint speed limits): long enough for a sphere to pass a 1 cm zone."""
SIGNS = np.array([-1, 1, -1, 1, -1, 1, -1])
THROUGH = SphereZone((0.523, -0.1035, 0.2798), 0.01)
"""A 1 cm keep-out sphere that the hand's check spheres clear at home and at home + 0.15 SIGNS, but pass through."""
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def arm():
    robot = load_robot("panda")
    return robot, GroundTruth(robot)


def _filter(robot, g: GuardrailConfig, arm_cfg: ArmControlConfig = FAST) -> SafetyFilter:
    return SafetyFilter(SafetyConfig(guardrails=g, arm=arm_cfg), robot)


def _sent_motion_ok(truth: GroundTruth, g: GuardrailConfig, start: np.ndarray, sent: np.ndarray,
                    dt: float = 0.1) -> list:
    """Oracle: every segment of start -> sent[0] -> sent[1] ..., sampled densely."""
    out, prev = [], start
    for q in sent:
        out += truth.swept(g, prev, q, dt, 0, 1e-9)
        prev = q
    return out


def test_the_pass_through_scenario_is_real(arm):
    robot, truth = arm
    g = GuardrailConfig(keep_out=(THROUGH,))
    q_a, q_b = robot.home, robot.home + 0.15 * SIGNS
    radii = np.array([p.radius for p in robot.check_points])
    for q in (q_a, q_b):  # both ends clean, by more than float noise
        assert np.min(zone_sdf_many(THROUGH, truth.points(g, q)) - radii) > 0.005
    breach = truth.swept(g, q_a, q_b, 0.1, 0, 1e-9)
    assert [v.kind for v in breach] == ["swept_keep_out"]


def test_planner_rejects_a_segment_through_a_zone_between_clean_points(arm):
    robot, _ = arm
    g = GuardrailConfig(keep_out=(THROUGH,))
    kin = robot.kinematics()
    keep_out = next(c for c in build_guardrails(g, g.for_robot(robot), kin) if c.name == "keep_out")
    q = torch.tensor(np.stack([robot.home, robot.home + 0.15 * SIGNS, robot.home]), dtype=torch.float32)[None]
    rollout = Rollout(actions=torch.zeros(1, 2, 8), z=torch.zeros(1, 2, 1), q=q, qd=torch.diff(q, dim=1) / 0.1,
                      points=kin.forward(q), dt=0.1)
    ctx = PlanContext(z0=torch.zeros(1), q0=q[0, 0], qd0=torch.zeros(7))
    ok, amount = keep_out(rollout, ctx)
    assert not ok.item() and amount.item() > 0


def test_filter_does_not_send_a_segment_through_a_zone(arm):
    robot, truth = arm
    g = GuardrailConfig(keep_out=(THROUGH,))
    cmd, report = _filter(robot, g).filter((robot.home + 0.15 * SIGNS)[None], robot.home, 0.0, 0.0)
    assert report.hold and SafetyReason.KEEP_OUT in report.reasons
    assert _sent_motion_ok(truth, g, robot.home, cmd.joint_targets) == []


def _fingertip(robot) -> np.ndarray:
    """World position of the outermost point of a finger's collision geometry (MuJoCo, fingers fully open)."""
    m = robot.model
    data = mujoco.MjData(m)
    data.qpos[robot.qpos_adr] = robot.home
    for j in range(m.njnt):
        if "finger" in m.joint(j).name:
            data.qpos[m.jnt_qposadr[j]] = m.jnt_range[j][1]
    mujoco.mj_kinematics(m, data)
    geoms = [i for i in range(m.ngeom) if "finger" in m.body(m.geom_bodyid[i]).name and m.geom_contype[i]]
    assert geoms, "the Panda has finger collision geoms"
    tool = robot.tool_position(robot.home)
    return max((data.geom_xpos[i] for i in geoms), key=lambda p: float(np.linalg.norm(p - robot.shoulder)) +
               0.0 * float(np.linalg.norm(p - tool)))


def test_a_fingertip_inside_a_zone_is_caught(arm):
    robot, _ = arm
    tip = _fingertip(robot)
    g = GuardrailConfig(keep_out=(SphereZone(tuple(tip), 0.003),))
    step = robot.home + 0.001
    _, report = _filter(robot, g).filter(step[None], robot.home, 0.0, 0.0)
    assert report.hold and SafetyReason.KEEP_OUT in report.reasons
    kin = robot.kinematics()
    keep_out = next(c for c in build_guardrails(g, g.for_robot(robot), kin) if c.name == "keep_out")
    q = torch.tensor(np.stack([robot.home, step]), dtype=torch.float32)[None]
    rollout = Rollout(actions=torch.zeros(1, 1, 8), z=torch.zeros(1, 1, 1), q=q, qd=torch.diff(q, dim=1) / 0.1,
                      points=kin.forward(q), dt=0.1)
    assert not keep_out(rollout, PlanContext(z0=torch.zeros(1), q0=q[0, 0], qd0=torch.zeros(7)))[0].item()


def _elbow(robot, truth, g, q) -> np.ndarray:
    names = [p.name for p in robot.check_points]
    return truth.points(g, q)[names.index("panda0_link4/6")]


def test_speed_zone_on_a_link_other_than_the_hand_is_obeyed(arm):
    """The elbow crosses a slow zone the hand never enters: the step is slowed to the zone's speed, not held."""
    robot, truth = arm
    q_b = robot.home + 0.05 * SIGNS
    zone = SpeedZone(SphereZone(tuple(_elbow(robot, truth, GuardrailConfig(), robot.home)), 0.02), 0.05)
    g = GuardrailConfig(speed_zones=(zone,))
    assert zone_sdf_many(zone.zone, truth.ee(g, robot.home)) > 0.2  # the tool point is far from it
    cmd, report = _filter(robot, g, ArmControlConfig()).filter(q_b[None], robot.home, 0.0, 0.0)
    assert not report.hold and SafetyReason.SCALED_FOR_ZONE_SPEED in report.reasons
    assert np.max(np.abs(cmd.joint_targets[0] - robot.home)) > 0  # it moves
    assert _sent_motion_ok(truth, g, robot.home, cmd.joint_targets) == []


def test_an_arm_inside_a_slow_zone_moves_at_the_zone_speed(arm):
    """Halving the step four times was not enough for a 1 cm/s zone: the arm froze. It now moves, at <= 1 cm/s."""
    robot, truth = arm
    ee = truth.ee(GuardrailConfig(), robot.home)
    g = GuardrailConfig(speed_zones=(SpeedZone(SphereZone(tuple(ee), 0.3), 0.01),))
    f = _filter(robot, g, ArmControlConfig())
    cmd, report = f.filter((robot.home + 0.05 * SIGNS)[None], robot.home, 0.0, 0.0)
    assert not report.hold
    moved = cmd.joint_targets[0] - robot.home
    assert np.max(np.abs(moved)) > 1e-4
    bound = robot_motion_bound(robot).displacement(moved).max() / 0.1
    assert bound <= 0.01 + 1e-9 and bound > 0.005  # at the zone's speed, not far below it
    assert _sent_motion_ok(truth, g, robot.home, cmd.joint_targets) == []


def test_speed_zone_crossed_by_the_measured_arm_is_caught(arm):
    """The last command (reference) and the target are outside a slow zone, but the measured arm lags behind,
    inside it: the controller moves the arm from where it is, so that motion must obey the zone."""
    robot, truth = arm
    measured = robot.home.copy()
    reference = robot.home + 0.15 * SIGNS
    zone = SpeedZone(SphereZone(tuple(truth.ee(GuardrailConfig(), measured)), 0.02), 0.05)
    g = GuardrailConfig(speed_zones=(zone,))
    assert zone_sdf_many(zone.zone, truth.ee(g, reference)) > 0.05
    cmd, _ = _filter(robot, g, ArmControlConfig()).filter(reference[None], measured, 0.0, 0.0,
                                                         q_reference=reference)
    sent = cmd.joint_targets
    assert len(sent) == 1
    assert truth.swept(g, measured, sent[0], 0.1, 0, 1e-9) == []  # what the arm really does


# ------------------------------------------------------------------------------------------------- the bound


@SETTINGS
@given(st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7), st.sampled_from(
    ["panda", "robosuite:ur5e", "pybullet_data:xarm/xarm6_robot.urdf"]))
def test_motion_bound_dominates_mujocos_jacobian(fractions, name):
    robot = load_robot(name)
    bound = robot_motion_bound(robot)
    q = robot.lower + np.asarray(fractions[: robot.dof]) * (robot.upper - robot.lower)
    m, d = robot.model, robot.data(q)
    mujoco.mj_comPos(m, d)
    for k, point in enumerate(robot.check_points):
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, point.frame)
        body = int(m.site_bodyid[site]) if site >= 0 else m.body(point.frame).id
        pos = (d.site_xpos[site], d.site_xmat[site]) if site >= 0 else (d.xpos[body], d.xmat[body])
        p = pos[0] + pos[1].reshape(3, 3) @ np.asarray(point.offset)
        jac = np.zeros((3, m.nv))
        mujoco.mj_jac(m, d, jac, None, p, body)
        speed = np.linalg.norm(jac[:, robot.dof_adr], axis=0)  # |d p / d q_j|
        assert np.all(speed <= bound.lever[:, k] + 1e-9), (point.name, speed - bound.lever[:, k])


@SETTINGS
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e300, 1e300)),
       st.floats(1e-4, 10.0))
def test_samples_for_is_even_and_bounded_for_any_input(displacement, resolution):
    n = samples_for(displacement, resolution)
    assert 2 <= n <= 4096 and n % 2 == 0
    if np.isfinite(displacement) and 0 < displacement < 4096 * 2 * resolution:
        assert displacement / (2 * n) <= resolution * (1 + 1e-12)


@SETTINGS
@given(st.lists(st.floats(-1.0, 1.0), min_size=14, max_size=14), st.floats(0.001, 0.5))
def test_segment_samples_cover_the_whole_segment(values, resolution):
    robot = load_robot("panda")
    lever = robot_motion_bound(robot).lever
    q_a, q_b = robot.home + 0.2 * np.array(values[:7]), robot.home + 0.2 * np.array(values[7:])
    samples = segment_samples(q_a, q_b, lever, resolution)
    n = len(samples.q)
    s = (np.arange(n) + 0.5) / n
    assert np.allclose(samples.q, q_a + s[:, None] * (q_b - q_a))
    assert np.all(samples.inflation * 2 * n <= samples.displacement + 1e-12)
    assert np.max(samples.inflation) <= resolution + 1e-12


# ------------------------------------------------------------------------------- adversarial properties


def _garbage_or(values):
    return st.one_of(values, st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300]))


@SETTINGS
@given(st.lists(_garbage_or(st.floats(-0.3, 0.3)), min_size=7, max_size=7),
       st.lists(st.floats(-0.15, 0.15), min_size=7, max_size=7),
       st.floats(0.0, 1.0), st.floats(0.001, 0.06), st.integers(0, 24), st.booleans(), st.floats(0.0, 0.3))
def test_whatever_the_filter_sends_is_safe_along_the_motion(step, offset, where, size, k, box, limit):
    """Random zones on the path of random motions (garbage targets included): what is sent passes the dense
    oracle on every segment, the first from the measured state."""
    robot, truth = load_robot("panda"), GroundTruth(load_robot("panda"))
    q = np.clip(robot.home + np.array(offset), robot.lower + 0.05, robot.upper - 0.05)
    target = q + np.array(step)
    finite = np.where(np.isfinite(target), target, q)
    mid = truth.points(GuardrailConfig(), q + where * (finite - q))[k]
    zone = BoxZone(tuple(mid - size), tuple(mid + size)) if box else SphereZone(tuple(mid), size)
    g = GuardrailConfig(keep_out=(zone,), speed_zones=(SpeedZone(SphereZone(tuple(mid), 2 * size), limit),))
    cmd, report = _filter(robot, g, FAST).filter(np.stack([target, target + step[0] * 0]), q, 0.0, 0.0)
    sent = cmd.joint_targets
    if report.hold:
        assert len(sent) <= 1
        return
    assert np.all(np.isfinite(sent))
    assert _sent_motion_ok(truth, g, q, sent) == []


@SETTINGS
@given(st.lists(_garbage_or(st.floats(-0.15, 0.15)), min_size=14, max_size=14), st.floats(0.0, 1.0),
       st.floats(0.001, 0.05), st.integers(0, 24))
def test_planner_feasible_means_safe_along_the_motion(steps, where, size, k):
    """The planner's swept keep-out and table constraints accept only motions the dense oracle finds clean;
    non-finite joint paths are never feasible."""
    robot, truth = load_robot("panda"), GroundTruth(load_robot("panda"))
    q_a = robot.home + np.nan_to_num(np.array(steps[:7]), nan=0.0, posinf=0.0, neginf=0.0)
    q_b = q_a + np.array(steps[7:])
    finite = np.where(np.isfinite(q_b), q_b, q_a)
    mid = truth.points(GuardrailConfig(), q_a + where * (finite - q_a))[k]
    g = GuardrailConfig(keep_out=(SphereZone(tuple(mid), size),), table_z_m=float(mid[2]) - 0.3)
    kin = robot.kinematics(dtype=torch.float64)
    checks = [c for c in build_guardrails(g, g.for_robot(robot), kin) if c.name in ("keep_out", "table")]
    q = torch.tensor(np.stack([q_a, q_b]), dtype=torch.float64)[None]
    rollout = Rollout(actions=torch.zeros(1, 1, 8), z=torch.zeros(1, 1, 1), q=q, qd=torch.diff(q, dim=1) / 0.1,
                      points=kin.forward(q), dt=0.1)
    ctx = PlanContext(z0=torch.zeros(1), q0=q[0, 0], qd0=torch.zeros(7))
    feasible = all(bool(c(rollout, ctx)[0].item()) for c in checks)
    if not np.all(np.isfinite(q_b)):
        assert not feasible
    elif feasible:
        assert truth.swept(g, q_a, q_b, 0.1, 0, 1e-9) == []


def test_the_oracle_samples_a_long_sweep_finer_than_its_eight_sub_steps(monkeypatch):
    """A fast segment moves the tool point ~3 cm between the oracle's 8 sub-steps; a zone 8 mm across lying between
    two of them is still found, because the oracle resamples at about SWEPT_SPACING_M (1 cm) when the points move
    more than that. With the 8 sub-steps alone (the spacing made huge) it would be missed."""
    import jepa_mpc.planner.guardrail_checker as checker

    truth = GroundTruth(load_robot("panda"))
    truth.radii = np.zeros_like(truth.radii)  # points only: nothing but the tool point may reach the zone
    q_a = np.asarray(truth.robot.home, dtype=np.float64)
    q_b = q_a + 0.3 * SIGNS
    path = truth.points_many(q_a + np.linspace(0, 1, 17)[:, None] * (q_b - q_a))[:, truth.ee_index]  # [17, 3]
    assert np.min(np.linalg.norm(np.diff(path[::2], axis=0), axis=1)) > 0.02  # > 2 cm between 8 sub-steps
    zone = SphereZone(tuple(path[1]), 0.008)  # the tool's position at s = 1/16, between s = 0 and 1/8
    g = GuardrailConfig(keep_out=(zone,), workspace_lo=(-2, -2, -2), workspace_hi=(2, 2, 2), table_z_m=-5.0)
    assert np.all(zone_sdf_many(zone, truth.points_many(q_a + np.linspace(0, 1, 9)[:, None] * (q_b - q_a))) > 0)
    assert [v.kind for v in truth.swept(g, q_a, q_b, 0.1, 0, 1e-9)] == ["swept_keep_out"]
    monkeypatch.setattr(checker, "SWEPT_SPACING_M", 1e9)
    assert truth.swept(g, q_a, q_b, 0.1, 0, 1e-9) == []

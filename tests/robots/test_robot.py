"""RobotConfig validation, and what a loaded Robot says: joints and limits, the default tool point, the home pose
(inside the limits, clear of the table), the reach, and the Panda preset's driver names, offsets and limits."""
from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from jepa_mpc.robots import TOOL_POINT, Robot, RobotConfig, load_robot
from jepa_mpc.robots.home import find_home, home_target
from jepa_mpc.robots.robot import DEFAULT_MAX_ACC_RAD_S2, DEFAULT_MAX_VELOCITY_RAD_S

from . import files
from .conftest import ALL_ARMS, BASE_POS, IIWA, PANDA, PANDA_URDF, UR5E, XARM6, load_arm, posed_arm
from .reference import mujoco_points, random_arm_q

# ----------------------------------------------------------------------------------------- RobotConfig

BAD_CONFIGS = [
    ("description", ""), ("description", "   "), ("description", 3),
    ("tool_offset", (0.0, 0.0)), ("tool_offset", ("a", 0.0, 0.0)), ("tool_offset", 0.1),
    ("base_pos", (0.0, 0.0, math.nan)), ("base_pos", (0.0, 0.0, 0.0, 0.0)),
    ("base_rpy", (0.0, math.inf, 0.0)), ("base_rpy", None),
    ("joint_offsets", ("x",)), ("joint_offsets", (math.nan,)),
    ("max_joint_velocity_rad_s", (1.0, 0.0)), ("max_joint_velocity_rad_s", (-1.0,)),
    ("max_joint_acc_rad_s2", (0.0,)), ("max_joint_acc_rad_s2", (math.inf,)),
    ("sphere_margin_m", -0.01), ("sphere_margin_m", math.nan), ("sphere_margin_m", True), ("sphere_margin_m", "0.01"),
    ("home", (math.inf, 0.0)),
    ("package_map", ("no_equals_sign",)),
]


@pytest.mark.parametrize("field, value", BAD_CONFIGS, ids=[f"{f}={v!r}" for f, v in BAD_CONFIGS])
def test_bad_config_values_raise_value_error_naming_the_field(field, value):
    kwargs = {"description": "panda", field: value}
    with pytest.raises(ValueError, match=f"RobotConfig.{field}"):
        RobotConfig(**kwargs)
    with pytest.raises(ValueError, match=f"RobotConfig.{field}"):  # overrides are checked before any loading
        load_robot("panda", **{field: value}) if field != "description" else load_robot(RobotConfig(**kwargs))


def test_good_configs():
    cfg = RobotConfig("pybullet_data:xarm/xarm6_robot.urdf", tool_offset=(0, 0, 0.1), base_rpy=[0, 0, 1],
                      sphere_margin_m=0, package_map=("a=/b=c",))
    assert cfg.label() == "pybullet_data:xarm/xarm6_robot.urdf"
    assert RobotConfig("<robot name='x'/>").label() == "robot_description"
    hash(RobotConfig())  # the load_robot cache key


def test_load_robot_caches_per_config(tmp_path):
    path = str(files.write(tmp_path / "arm.urdf", files.chain_urdf(2)))
    robot = load_robot(path, home=(0.0, 0.0))
    assert load_robot(robot) is robot
    assert load_robot(RobotConfig(path, home=(0.0, 0.0))) is robot
    assert load_robot(path, home=(0.0, 0.0), sphere_margin_m=0.01) is robot  # the default, spelled out
    assert load_robot(path, home=(0.0, 0.0), sphere_margin_m=0.02) is not robot


# ------------------------------------------------------------------------------------- joints and limits


@pytest.mark.parametrize("arm", ALL_ARMS, indirect=True)
def test_joints_and_limits_are_the_models(arm):
    m = arm.model
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in arm.model_joint_names]
    assert min(ids) >= 0 and len(set(ids)) == arm.dof == len(arm.joint_names)
    np.testing.assert_array_equal(arm.qpos_adr, m.jnt_qposadr[ids])
    np.testing.assert_array_equal(arm.lower, m.jnt_range[ids, 0])
    np.testing.assert_array_equal(arm.upper, m.jnt_range[ids, 1])
    assert np.all(arm.lower < arm.upper)
    assert np.all(m.jnt_type[ids] == mujoco.mjtJoint.mjJNT_HINGE)
    assert arm.max_velocity.shape == arm.max_acceleration.shape == arm.joint_offsets.shape == (arm.dof,)
    assert np.all(arm.max_velocity > 0) and np.all(arm.max_acceleration > 0)
    # The arm joints are the joints on the path from the world to the tool frame, in the model's order.
    body = m.body(arm.tool.frame).id if mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, arm.tool.frame) < 0 \
        else int(m.site_bodyid[m.site(arm.tool.frame).id])
    path = []
    while body != 0:
        path[:0] = range(m.body_jntadr[body], m.body_jntadr[body] + m.body_jntnum[body])
        body = int(m.body_parentid[body])
    assert ids == path
    assert set(arm.aux_joint_names) == {m.joint(j).name for j in range(m.njnt)} - set(arm.model_joint_names)


@pytest.mark.parametrize("name, tool", [(PANDA, "end_effector"), (UR5E, "right_hand"), (XARM6, "link6"),
                                        (PANDA_URDF, "panda_grasptarget"), (IIWA, "right_hand")])
def test_the_default_tool_point_is_the_last_link(name, tool):
    arm = load_arm(name)
    assert arm.tool.frame == tool and arm.tool.name == TOOL_POINT == arm.check_points[0].name
    assert arm.tool.offset == (0.0, 0.0, 0.0) and arm.tool.radius == 0.0


def test_velocity_limits_from_the_description_or_the_defaults(tmp_path):
    xarm = load_arm(XARM6)
    assert xarm.velocity_from_description and np.allclose(xarm.max_velocity, 3.14)  # the URDF's <limit velocity>
    np.testing.assert_allclose(xarm.max_acceleration, DEFAULT_MAX_ACC_RAD_S2)
    ur5e = load_arm(UR5E)
    assert not ur5e.velocity_from_description  # MJCF has no velocity limits
    np.testing.assert_allclose(ur5e.max_velocity, DEFAULT_MAX_VELOCITY_RAD_S)
    assert "no velocity limits" in ur5e.describe()
    path = str(files.write(tmp_path / "arm.urdf", files.chain_urdf(2)))
    tiny = load_robot(path, home=(0.0, 0.0), max_joint_velocity_rad_s=(0.5, 0.7), max_joint_acc_rad_s2=(3.0, 4.0))
    assert list(tiny.max_velocity) == [0.5, 0.7] and list(tiny.max_acceleration) == [3.0, 4.0]
    assert list(load_robot(path, home=(0.0, 0.0)).max_velocity) == [2.0, 2.0]


def test_a_description_given_as_text(tmp_path):
    text = files.chain_urdf(2)
    robot = load_robot(text, home=(0.1, -0.2))
    assert robot.name == "tiny" and robot.description.source == "<urdf text>" and robot.dof == 2
    np.testing.assert_array_equal(robot.home, [0.1, -0.2])
    assert "tiny" in robot.describe()


# ------------------------------------------------------------------------------------------ home pose


def _table_clearance(robot: Robot, q: np.ndarray) -> float:
    """Lowest (sphere bottom - table height) over the check points the table check applies to (by MuJoCo)."""
    points = mujoco_points(robot, robot.check_points, q[None])[0]
    radius = np.array([p.radius for p in robot.check_points])
    applies = np.array([p.table_check for p in robot.check_points])
    return float((points[applies, 2] - radius[applies]).min() - robot.cfg.base_pos[2])


SPOT_ARM = pytest.mark.xfail(strict=True, reason="spot_arm's shoulder pivot is at its base frame's origin, so the "
                             "upper arm's geometry dips below z = base z in every pose (mount it higher)")


@pytest.mark.parametrize("arm", [a if a != "robosuite:spot_arm" else pytest.param(a, marks=SPOT_ARM)
                                 for a in ALL_ARMS], indirect=True)
def test_home_is_inside_the_limits_and_clear_of_the_table(arm):
    assert arm.home.shape == (arm.dof,)
    assert np.all(arm.home >= arm.lower) and np.all(arm.home <= arm.upper)
    assert _table_clearance(arm, arm.home) > 0, f"{arm.name}: home below the table"
    np.testing.assert_allclose(arm.data().qpos[arm.qpos_adr], arm.home)


@pytest.mark.parametrize("arm", [UR5E, XARM6, PANDA_URDF, IIWA], indirect=True)
def test_a_found_home_puts_the_tool_in_front_of_the_base(arm):
    tool = mujoco_points(arm, [arm.tool], arm.home[None])[0, 0]
    target = home_target(arm)
    assert np.linalg.norm(tool - target) < 5e-3
    assert target[0] > 0.4 * arm.reach_m and abs(target[1]) < 1e-9 and target[2] > 0.3 * arm.reach_m
    assert _table_clearance(arm, arm.home) > 0.05  # the 5 cm find_home asks for


def test_home_on_a_raised_turned_base():
    """With a base pose, the home IK aims in front of the turned base and clears the table at the base height."""
    _, posed = posed_arm(PANDA)
    home = find_home(posed)
    assert np.all(home >= posed.lower) and np.all(home <= posed.upper)
    tool = mujoco_points(posed, [posed.tool], home[None])[0, 0]
    target = home_target(posed)
    assert np.linalg.norm(tool - target) < 5e-3 and target[2] > BASE_POS[2]
    assert _table_clearance(posed, home) > 0.05


# ---------------------------------------------------------------------------------------------- reach


@pytest.mark.parametrize("name, reach", [(PANDA, 0.95), (PANDA_URDF, 0.95), (UR5E, 0.97), (XARM6, 0.76)])
def test_reach_is_plausible(name, reach):
    arm = load_arm(name)
    assert arm.reach_m == pytest.approx(reach, rel=0.15)
    # No random configuration gets the tool (much) farther from the shoulder; none beyond the chain's length.
    q = random_arm_q(arm, 500, np.random.default_rng(6))
    tool = mujoco_points(arm, [arm.tool], q)[:, 0]
    assert np.linalg.norm(tool - arm.shoulder, axis=1).max() < arm.reach_m * 1.03
    m, data = arm.model, arm.data(arm.model.qpos0[arm.qpos_adr])
    anchors = [data.xanchor[m.joint(n).id] for n in arm.model_joint_names]
    chain = sum(np.linalg.norm(b - a) for a, b in zip(anchors[:-1], anchors[1:], strict=True))
    chain += np.linalg.norm(mujoco_points(arm, [arm.tool], m.qpos0[arm.qpos_adr][None])[0, 0] - anchors[-1])
    assert arm.reach_m <= chain + 1e-9
    np.testing.assert_allclose(arm.shoulder, anchors[0])


# --------------------------------------------------------------------------------------- Panda preset


def test_the_panda_preset():
    from jepa_mpc.robots import panda as facts

    panda = load_arm(PANDA)
    assert panda.name == "panda"
    assert panda.model_joint_names == tuple(f"robot:panda0_joint{i}" for i in range(1, 8))
    assert panda.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))  # franka_ros2's
    assert panda.finger_joint_names == ("panda_finger_joint1", "panda_finger_joint2")
    assert panda.aux_joint_names == ("robot:panda0_finger_joint1", "robot:panda0_finger_joint2")
    np.testing.assert_allclose(panda.joint_offsets, [0, 0, 0, 0, 0, math.pi / 2, 0])
    np.testing.assert_allclose(panda.max_velocity, [2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
    np.testing.assert_allclose(panda.max_acceleration, [15, 7.5, 10, 12.5, 15, 20, 20])
    np.testing.assert_array_equal(panda.home, facts.HOME_QPOS)
    assert panda.tool.frame == "end_effector"
    # Home puts the end effector at (0.50, 0.00, 0.30), pointing down.
    position, rotation = panda.tool_pose(panda.home)
    np.testing.assert_allclose(position, [0.50, 0.0, 0.30], atol=5e-3)
    assert rotation[2, 2] < -0.99
    # Joint 6's range, in the driver's convention, is the one Franka's joint 6 has: from about 0 to about 3.7.
    assert abs(panda.to_driver(panda.lower)[5]) < 0.1 and 3.6 < panda.to_driver(panda.upper)[5] < 3.83
    # Overrides win over the preset.
    assert not np.any(load_arm(PANDA, tool_frame="flange", joint_offsets=(0.0,) * 7).joint_offsets)

"""A description that cannot become a Robot raises RobotDescriptionError (never another exception, never an error
chained from deep inside a parser) whose message names the file and the problem."""
from __future__ import annotations

import pytest

from jepa_mpc.robots import RobotDescriptionError, load_robot

from . import files
from .conftest import NOT_ARMS, PANDA, package_installed


def _error(description: str, **overrides) -> str:
    """The message of the RobotDescriptionError that load_robot raises, after checking it is a clean one."""
    with pytest.raises(Exception) as info:  # noqa: B017 - the exact type is asserted below
        load_robot(description, **overrides)
    error = info.value
    assert type(error) is RobotDescriptionError, f"{type(error).__name__}: {error}"
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), \
        "raised from inside another exception: the user sees that traceback first"
    return str(error)


def _file(tmp_path, text: str, name: str = "robot.urdf") -> str:
    return str(files.write(tmp_path / name, text))


def test_a_good_tiny_urdf_loads(tmp_path):
    """The base case the broken ones below are made from."""
    robot = load_robot(_file(tmp_path, files.chain_urdf(2)), home=(0.0, 0.0))
    assert robot.dof == 2 and robot.model_joint_names == ("j1", "j2") and robot.tool.frame == "link2"
    assert list(robot.lower) == [-1.5, -1.5] and list(robot.max_velocity) == [2.0, 2.0]


def test_no_movable_joints(tmp_path):
    text = files.urdf(files.link("base"), files.link("l1"), files.joint("j1", "base", "l1", "fixed"))
    path = _file(tmp_path, text)
    message = _error(path)
    assert path in message and "no movable joints" in message


@pytest.mark.parametrize("kind, limit, name", [
    ("revolute", None, "no <limit>"),
    ("revolute", "0 0", "a <limit> without lower and upper"),
    ("prismatic", None, "a prismatic joint without <limit>"),
])
def test_urdf_joint_without_limits(tmp_path, kind, limit, name):
    text = files.urdf(files.link("base"), files.link("l1"), files.link("l2"), files.link("l3"),
                      files.joint("j1", "base", "l1"), files.joint("j_bad", "l1", "l2", kind, limit),
                      files.joint("j3", "l2", "l3"))
    if limit == "0 0":
        text = text.replace('lower="0" upper="0" ', "")
    path = _file(tmp_path, text)
    message = _error(path)
    assert path in message and "'j_bad'" in message and "no position limits" in message, name
    assert kind in message


def test_urdf_continuous_joint_on_the_arm(tmp_path):
    path = _file(tmp_path, files.chain_urdf(3, kinds=("revolute", "continuous", "revolute")))
    message = _error(path)
    assert "'j2'" in message and "continuous" in message and "no position limits" in message


def test_mjcf_hinge_without_range(tmp_path):
    text = files.mjcf('<body name="l1"><joint name="h1" type="hinge" range="-1 1"/>'
                      '<geom type="capsule" size="0.02 0.1"/><body name="l2" pos="0 0 0.2">'
                      '<joint name="h_free" type="hinge" axis="0 1 0"/><geom type="capsule" size="0.02 0.1"/>'
                      "</body></body>")
    path = _file(tmp_path, text, "robot.xml")
    message = _error(path)
    assert path in message and "'h_free'" in message and "hinge" in message and "range" in message


def test_robosuite_kinova3_has_hinges_without_range():
    if not package_installed("robosuite"):
        pytest.skip("robosuite is not installed")
    message = _error("robosuite:kinova3")
    assert "kinova3" in message and "'Actuator1'" in message and "no position limits" in message


@pytest.mark.parametrize("name", ["spot", "tiago"])  # gr1 is refused as spot is (2.7 s to compile); kinova3 above
def test_robosuite_robots_that_are_not_one_arm(name):
    """A legged base (a free joint above the arm), a second arm on the torso: refused with the reason."""
    if not package_installed("robosuite"):
        pytest.skip("robosuite is not installed")
    assert NOT_ARMS[name] in _error(f"robosuite:{name}")


def test_a_loop(tmp_path):
    text = files.urdf(files.link("base"), files.link("a"), files.link("b"), files.link("c"),
                      files.joint("j1", "base", "a"), files.joint("j2", "base", "b"),
                      files.joint("j3", "a", "c"), files.joint("j4", "b", "c"))
    message = _error(_file(tmp_path, text))
    assert "loop" in message and "'c'" in message and "'j3'" in message and "'j4'" in message


def test_a_joint_to_a_link_that_does_not_exist(tmp_path):
    text = files.urdf(files.link("base"), files.link("l1"), files.joint("j1", "base", "l_missing"))
    message = _error(_file(tmp_path, text))
    assert "'j1'" in message and "'l_missing'" in message


def test_a_tool_frame_that_does_not_exist(tmp_path):
    message = _error(_file(tmp_path, files.chain_urdf(2)), tool_frame="gripper_tip", home=(0.0, 0.0))
    assert "'gripper_tip'" in message and "tool frame" in message and "link2" in message  # lists the bodies


@pytest.mark.parametrize("text", [
    '<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro"><xacro:property name="l" value="1"/>'
    '<link name="base"/></robot>',
    files.chain_urdf(2).replace('lower="-1.5"', 'lower="${-pi/2}"'),
], ids=["xacro-element", "xacro-expression"])
def test_xacro_not_expanded(tmp_path, text):
    message = _error(_file(tmp_path, text, "robot.urdf.xacro"))
    assert "xacro" in message and "expand" in message


def test_malformed_xml(tmp_path):
    path = _file(tmp_path, files.chain_urdf(2)[:-30])
    message = _error(path)
    assert path in message and "not well-formed XML" in message
    assert "not well-formed XML" in _error("<robot name='x'><link name='a'></robot>")


@pytest.mark.parametrize("text, tag", [('<sdf version="1.7"><model name="arm"/></sdf>', "sdf"),
                                       ("<urdf><link name='a'/></urdf>", "urdf")])
def test_unknown_root_tag(tmp_path, text, tag):
    message = _error(_file(tmp_path, text))
    assert f"<{tag}>" in message and "<robot>" in message and "<mujoco>" in message
    assert f"<{tag}>" in _error(text)


def test_missing_mesh_file(tmp_path):
    path = _file(tmp_path, files.chain_urdf(2, mesh="meshes/link1.stl"))
    message = _error(path)
    assert path in message and "'link1'" in message and "meshes/link1.stl" in message
    assert str(tmp_path / "meshes" / "link1.stl") in message and "not found" in message


def test_mjcf_with_a_missing_mesh_file(tmp_path):
    text = ('<mujoco><asset><mesh name="m" file="link1.stl"/></asset><worldbody><body name="l1">'
            '<joint name="h1" range="-1 1"/><geom type="mesh" mesh="m"/></body></worldbody></mujoco>')
    message = _error(_file(tmp_path, text, "robot.xml"))
    assert "link1.stl" in message


def test_floating_base(tmp_path):
    text = files.mjcf('<body name="base"><freejoint name="float"/><geom size="0.1"/>'
                      '<body name="l1"><joint name="h1" range="-1 1"/><geom type="capsule" size="0.02 0.1"/>'
                      "</body></body>")
    path = _file(tmp_path, text, "robot.xml")
    message = _error(path)
    assert path in message and "floating base" in message and "'float'" in message


def test_a_moving_link_without_mass(tmp_path):
    """MuJoCo refuses it when the URDF is compiled; that is a RobotDescriptionError too."""
    text = files.urdf(files.link("base"), '<link name="l1"/>', files.joint("j1", "base", "l1"),
                      files.link("l2"), files.joint("j2", "l1", "l2"))
    path = _file(tmp_path, text)
    message = _error(path)
    assert path in message and "mass" in message


@pytest.mark.parametrize("description, words", [
    ("/nonexistent/folder/robot.urdf", "no such file"),
    ("pandaa", "no such file"),  # a mistyped robot name is taken for a file
    ("robosuite:no_such_robot", "no_such_robot"),
    ("pybullet_data:no/such.urdf", "no such file"),
])
def test_nonexistent_file(description, words):
    message = _error(description)
    assert description in message and words in message


def test_joint_names_of_the_wrong_length(tmp_path):
    path = _file(tmp_path, files.chain_urdf(2))
    message = _error(path, joint_names=("shoulder",), home=(0.0, 0.0))
    assert "joint_names" in message and "('j1', 'j2')" in message
    assert "joint_names" in _error(path, joint_names=("a", "b", "c"), home=(0.0, 0.0))
    assert "joint_names" in _error(path, joint_names=("a", "a"), home=(0.0, 0.0))  # each once
    robot = load_robot(path, joint_names=("shoulder", "elbow"), home=(0.0, 0.0))
    assert robot.joint_names == ("shoulder", "elbow") and robot.model_joint_names == ("j1", "j2")


def test_per_joint_settings_of_the_wrong_length(tmp_path):
    assert "joint_offsets has 3 values for 7 arm joints" in _error(PANDA, joint_offsets=(0.0, 0.0, 0.0))
    assert "max_joint_velocity_rad_s" in _error(PANDA, max_joint_velocity_rad_s=(1.0,) * 6)
    assert "max_joint_acc_rad_s2" in _error(PANDA, max_joint_acc_rad_s2=(1.0,) * 8)
    path = _file(tmp_path, files.chain_urdf(2))
    assert "home has 1 values for 2 arm joints" in _error(path, home=(0.0,))
    assert "outside the joint limits" in _error(path, home=(0.0, 1.6))  # the limits are +-1.5


def test_no_collision_geometry_on_the_moving_links(tmp_path):
    text = files.urdf(files.link("base"), files.link("l1", box=False), files.joint("j1", "base", "l1"))
    assert "no collision geometry" in _error(_file(tmp_path, text))

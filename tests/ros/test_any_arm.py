"""The nodes for any arm (`robot_description`): third-party arms in the sim graph reach pose goals through the safety
filter, image goals are refused where there is no world model of the arm, the description can come from the
/robot_description topic, bad descriptions fail cleanly, and joint values cross ROS in the driver's convention
(the sim Panda reports Franka's joint 6 = the description's + pi/2)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.robots import load_robot  # noqa: E402
from jepa_mpc.ros_nodes.bringup import create_nodes, robot_overrides, ros_args, teardown_graph  # noqa: E402
from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    joint_state_to_arrays,
    rgb_to_image_msg,
    trajectory_msg,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.demo import Operator  # noqa: E402
from jepa_mpc.ros_nodes.graph import GRAPHS, default_params  # noqa: E402
from jepa_mpc.ros_nodes.guardrail_params import GuardrailParams  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from jepa_mpc.ros_nodes.robot_param import NodeStartupError  # noqa: E402
from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode  # noqa: E402
from jepa_mpc.ros_nodes.sim_bridge import SimBridgeNode  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402

OK = TransitionCallbackReturn.SUCCESS
UR5E = "robosuite:ur5e"
XARM6 = "pybullet_data:xarm/xarm6_robot.urdf"
LATCHED = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL, reliability=QoSReliabilityPolicy.RELIABLE)

TOY_URDF = """<robot name="toy_arm">
  <link name="base"><collision><origin xyz="0 0 0.05"/><geometry><cylinder radius="0.06" length="0.1"/></geometry>
  </collision></link>
  <link name="l1"><collision><origin xyz="0 0 0.15"/><geometry><cylinder radius="0.04" length="0.3"/></geometry>
  </collision></link>
  <link name="l2"><collision><origin xyz="0.15 0 0"/><geometry><box size="0.3 0.06 0.06"/></geometry></collision></link>
  <link name="l3"><collision><origin xyz="0.125 0 0"/><geometry><box size="0.25 0.05 0.05"/></geometry></collision>
  </link>
  <link name="tool"><collision><geometry><sphere radius="0.03"/></geometry></collision></link>
  <joint name="toy_j1" type="revolute"><parent link="base"/><child link="l1"/><origin xyz="0 0 0.1"/>
    <axis xyz="0 0 1"/><limit lower="-2.9" upper="2.9" velocity="1.5" effort="10"/></joint>
  <joint name="toy_j2" type="revolute"><parent link="l1"/><child link="l2"/><origin xyz="0 0 0.3"/>
    <axis xyz="0 1 0"/><limit lower="-1.8" upper="1.8" velocity="1.5" effort="10"/></joint>
  <joint name="toy_j3" type="revolute"><parent link="l2"/><child link="l3"/><origin xyz="0.3 0 0"/>
    <axis xyz="0 1 0"/><limit lower="-2.5" upper="2.5" velocity="1.5" effort="10"/></joint>
  <joint name="toy_j4" type="revolute"><parent link="l3"/><child link="tool"/><origin xyz="0.25 0 0"/>
    <axis xyz="1 0 0"/><limit lower="-3" upper="3" velocity="1.5" effort="10"/></joint>
</robot>"""
"""A 4-joint arm as robot_state_publisher would serve it: URDF text, primitive collision shapes."""


# ------------------------------------------------------------------------------------------ the graph, any arm
def _run_graph(robot: str, seed: int, timeout_s: float, until_distance: float):
    """The sim graph (sim_bridge + mpc + safety_filter) for `robot` with the episode's pose goal. Returns (operator,
    the first point of every command the safety filter sent [N, J] in the driver's convention, each command's first
    step from where the filter saw the controller when it sent it [N, J] (model convention), its counts)."""
    context = rclpy.Context()
    names = [s.name for s in GRAPHS["sim"]]
    rclpy.init(args=[*ros_args(default_params("sim")), *robot_overrides(robot, names),
                     "-p", f"sim_bridge:seed:={seed}", "-p", "mpc:num_samples:=64"], context=context)
    nodes, commands, steps, executor, op = [], [], [], None, None
    try:
        nodes = create_nodes(GRAPHS["sim"], context)
        sim, mpc, safety = nodes
        assert sim.robot is mpc.robot is safety.robot and sim.robot.name == robot
        assert "image" not in mpc.planners and mpc.image_goal_refusal, "the shipped world model is the Panda's"
        op = Operator(context, "pose", sim.robot, sim.joint_names)
        send = safety._send

        def recorded_send(targets, now, start):  # each command's first step, from where the filter saw the arm
            steps.append(np.asarray(targets[0]) - start)
            return send(targets, now, start)

        safety._send = recorded_send
        op.node.create_subscription(
            JointTrajectory, "/joint_trajectory_controller/joint_trajectory",
            lambda m: commands.append(trajectory_to_array(m, sim.joint_names)[0][0]), 50)  # the point due next
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in (*nodes, op.node):
            executor.add_node(node)
        start, settled = time.monotonic(), 0
        while time.monotonic() - start < timeout_s and settled <= 10:
            executor.spin_once(timeout_sec=0.05)
            op.send_goal()
            settled = settled + 1 if op.trace and op.trace[-1]["distance"] <= until_distance else 0
        empty = np.zeros((0, sim.robot.dof))
        return (op, np.vstack(commands) if commands else empty, np.vstack(steps) if steps else empty,
                dict(safety.counts))
    finally:
        teardown_graph(context, executor, nodes, [op.node] if op is not None else [])


@pytest.mark.slow
@pytest.mark.parametrize("robot", [UR5E, XARM6])
def test_sim_graph_moves_a_third_party_arm_to_a_pose_goal_through_the_safety_filter(robot):
    op, commands, steps, counts = _run_graph(robot, seed=1, timeout_s=40.0, until_distance=0.05)
    assert op.goal_sent and op.goal_pos is not None
    assert len(commands) > 5 and counts["sent"] > 5, "the arm is commanded by the safety filter"
    assert op.distance <= 0.05, f"{robot}: tool {op.distance:.3f} m from the goal after 40 s"
    robot_ = load_robot(robot)
    assert np.abs(steps).max() <= 0.05 + 1e-9, "every command respects the filter's step bound"
    tools = np.array([robot_.tool_position(robot_.from_driver(q)) for q in commands])
    assert np.all(tools[:, 2] > 0.0), "no command puts the tool under the table"


# ------------------------------------------------------------------------------------------ image goals
def test_mpc_refuses_an_image_goal_on_an_arm_without_a_world_model(ros_context):
    mpc = MpcNode(context=ros_context, parameter_overrides=[Parameter("robot_description", value=UR5E),
                                                            Parameter("num_samples", value=64)])
    op = rclpy.create_node("operator", context=ros_context)
    diags: list[str] = []
    op.create_subscription(DiagnosticArray, "/diagnostics",
                           lambda m: diags.extend(s.message for s in m.status if s.name == "mpc"), 10)
    pub = op.create_publisher(Image, "/goal_image", 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (mpc, op):
        executor.add_node(node)
    try:
        assert mpc.trigger_configure() == OK and mpc.trigger_activate() == OK
        assert set(mpc.planners) == {"pose"} and "Panda" in mpc.image_goal_refusal
        assert spin_until(executor, lambda: pub.get_subscription_count() > 0)
        pub.publish(rgb_to_image_msg(np.zeros((64, 64, 3), np.uint8), op.get_clock().now().to_msg(), "goal"))
        assert spin_until(executor, lambda: any("image goal refused" in d for d in diags), timeout_s=10.0)
        refused = next(d for d in diags if "image goal refused" in d)
        assert "ur5e" in refused and "/goal_pose" in refused, refused
        assert mpc._goal is None and mpc.plans_published == 0
        client = op.create_client(Trigger, "/mpc/capture_goal")
        assert spin_until(executor, client.service_is_ready)
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done)
        assert not future.result().success and "image goal refused" in future.result().message
    finally:
        mpc._stop_thread()
        executor.shutdown()
        for node in (op, mpc):
            node.destroy_node()


def test_checkpoint_none_plans_pose_goals_only_on_the_panda_too(ros_context):
    mpc = MpcNode(context=ros_context, parameter_overrides=[Parameter("checkpoint", value="none")])
    try:
        assert mpc.trigger_configure() == OK
        assert set(mpc.planners) == {"pose"} and "none" in mpc.image_goal_refusal
        assert mpc.planners["pose"].action_dim == 8, "the Panda's 7 joints + the gripper entry"
    finally:
        mpc.destroy_node()


# ------------------------------------------------------------------------------------------ /robot_description
def test_robot_description_from_the_topic_configures_the_nodes(ros_context):
    """robot_description '' : the nodes wait for the URDF on /robot_description (transient local, as
    robot_state_publisher publishes it, here before the nodes exist) and serve that arm."""
    rsp = rclpy.create_node("robot_state_publisher", context=ros_context)
    rsp.create_publisher(String, "/robot_description", LATCHED).publish(String(data=TOY_URDF))
    empty = [Parameter("robot_description", value=""), Parameter("robot_description_timeout_s", value=20.0)]
    safety = SafetyFilterNode(context=ros_context, parameter_overrides=empty)
    mpc = MpcNode(context=ros_context, parameter_overrides=empty)
    try:
        assert safety.robot.dof == 4 and safety.joint_names == ("toy_j1", "toy_j2", "toy_j3", "toy_j4")
        assert mpc.trigger_configure() == OK
        assert mpc.robot is safety.robot and set(mpc.planners) == {"pose"}
        # the filter really runs on that arm: a plan in its joints passes, bounded by its step
        q0 = safety.robot.to_driver(safety.robot.home)
        command, _ = safety.filter.filter(safety.robot.from_driver(q0 + 0.5)[None], safety.robot.home, 0.0, 0.0)
        assert command.joint_targets.shape == (1, 4)
    finally:
        for node in (mpc, safety, rsp):
            node.destroy_node()


def test_no_robot_description_on_the_topic_fails_with_a_clear_message(ros_context):
    start = time.monotonic()
    with pytest.raises(NodeStartupError, match="no robot description on /robot_description within 0.5 s"):
        SafetyFilterNode(context=ros_context, parameter_overrides=[
            Parameter("robot_description", value=""), Parameter("robot_description_timeout_s", value=0.5)])
    assert time.monotonic() - start < 10.0


# ------------------------------------------------------------------------------------------ bad descriptions
BAD = {
    "missing file": ("/nonexistent/arm.urdf", "no such file"),
    "not XML": ("<robot name='x'><link name='a'>", "not well-formed XML"),
    "no movable joint": ("<robot name='x'><link name='a'/><link name='b'/><joint name='j' type='fixed'>"
                         "<parent link='a'/><child link='b'/></joint></robot>", "no movable joints"),
    "unknown robosuite arm": ("robosuite:no_such_arm", "robosuite has no"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_description_fails_start_up_with_its_message(ros_context, case):
    description, message = BAD[case]
    override = [Parameter("robot_description", value=description)]
    with pytest.raises(NodeStartupError, match=message):
        SafetyFilterNode(context=ros_context, parameter_overrides=override)
    with pytest.raises(NodeStartupError, match=message):
        SimBridgeNode(context=ros_context, parameter_overrides=override)
    mpc = MpcNode(context=ros_context, parameter_overrides=override)
    try:
        assert mpc.trigger_configure() != OK and mpc.planners is None and mpc.robot is None
    finally:
        mpc.destroy_node()


def test_a_node_process_with_a_bad_description_exits_with_the_message_and_no_traceback():
    for module in ("jepa_mpc.ros_nodes.safety_filter_node", "jepa_mpc.ros_nodes.mpc_node"):
        proc = subprocess.run([sys.executable, "-m", module, "--ros-args", "-p",
                               "robot_description:=/nonexistent/arm.urdf"],
                              capture_output=True, text=True, timeout=120, env=os.environ.copy())
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "/nonexistent/arm.urdf" in out and "no such file" in out, out
        assert "Traceback" not in out, out


def test_bringup_with_a_bad_robot_returns_1_without_a_traceback(capsys):
    from jepa_mpc.apps.cli import main

    assert main(["bringup", "real", "--robot", "/nonexistent/arm.urdf", "--duration", "1"]) == 1


def test_guardrails_that_do_not_fit_the_arm_fail_start_up(ros_context):
    with pytest.raises(NodeStartupError, match="joint_lower has 7 values for 6 arm joints"):
        SafetyFilterNode(context=ros_context, parameter_overrides=[
            Parameter("robot_description", value=UR5E),
            Parameter("guardrails.joint_lower", value=[-1.0] * 7),
            Parameter("guardrails.joint_upper", value=[1.0] * 7)])


# ------------------------------------------------------------------------------------------ parameters
def test_robot_option_overrides_the_parameter_files_robot_for_every_node(tmp_path):
    params = tmp_path / "cell.yaml"
    params.write_text("/**:\n  ros__parameters:\n    robot_description: panda\n"
                      "mpc:\n  ros__parameters:\n    robot_description: pybullet_data:franka_panda/panda.urdf\n")
    for robot, expected in ((None, {"mpc": "pybullet_data:franka_panda/panda.urdf", "safety_filter": "panda"}),
                            (UR5E, {"mpc": UR5E, "safety_filter": UR5E}), ("", {"mpc": "", "safety_filter": ""})):
        context = rclpy.Context()
        rclpy.init(args=[*ros_args(params), *robot_overrides(robot, ["mpc", "safety_filter"])], context=context)
        try:
            for name, value in expected.items():
                node = rclpy.create_node(name, context=context)
                node.declare_parameter("robot_description", "unset")
                assert node.get_parameter("robot_description").value == value, (robot, name)
                node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)


def test_empty_guardrail_vectors_are_the_arms_own():
    from jepa_mpc.planner.config import GuardrailConfig, workspace_for

    ur5e = load_robot(UR5E)
    derived = GuardrailParams().to_config(ur5e)
    assert (derived.workspace_lo, derived.workspace_hi) == workspace_for(ur5e)
    assert derived.joint_lower is None and derived.joint_upper is None  # the description's limits
    panda = GuardrailParams().to_config(load_robot("panda"))
    assert panda.workspace_lo == GuardrailConfig().workspace_lo and panda.workspace_hi == GuardrailConfig().workspace_hi
    given = GuardrailParams(workspace_lo=(0.1, -0.2, 0.05), workspace_hi=(0.6, 0.2, 0.5)).to_config(ur5e)
    assert given.workspace_lo == (0.1, -0.2, 0.05) and given.workspace_hi == (0.6, 0.2, 0.5)
    with pytest.raises(ValueError, match="workspace_lo must be 3 numbers or empty"):
        GuardrailParams(workspace_lo=(0.1, 0.2))


def test_joint_limit_parameters_are_in_the_drivers_convention():
    """Franka's datasheet limits for an FR3 (joint 6 in [-0.0175, 3.7525]) are the description's shifted by pi/2."""
    panda = load_robot("panda")
    lower, upper = (-2.7, -1.7, -2.7, -3.0, -2.7, 0.0, -2.7), (2.7, 1.7, 2.7, -0.1, 2.7, 3.7, 2.7)
    g = GuardrailParams(joint_lower=lower, joint_upper=upper).to_config(panda)
    np.testing.assert_allclose(g.joint_lower, panda.from_driver(lower))
    np.testing.assert_allclose(g.joint_upper, panda.from_driver(upper))
    limits = g.for_robot(panda)
    assert limits.upper[5] == pytest.approx(min(3.7 - np.pi / 2, panda.upper[5]) - g.joint_margin_rad)
    ur5e = load_robot(UR5E)  # no offsets: the values as given
    assert GuardrailParams(joint_lower=(-1.0,) * 6, joint_upper=(1.0,) * 6).to_config(ur5e).joint_lower == (-1.0,) * 6


# ------------------------------------------------------------------------------------------ joint offsets
def test_sim_panda_speaks_franka_joint6_and_takes_commands_in_it(ros_context):
    """The sim bridge publishes like Franka's driver (joint 6 = the description's + pi/2) and reads commands in
    that convention. Applying the offset twice, or not at all, moves joint 6 by pi/2 and fails here."""
    panda = load_robot("panda")
    sim = SimBridgeNode(context=ros_context)
    op = rclpy.create_node("operator", context=ros_context)
    states: list[JointState] = []
    op.create_subscription(JointState, "/joint_states", states.append, qos_profile_sensor_data)
    pub = op.create_publisher(JointTrajectory, "/joint_trajectory_controller/joint_trajectory", 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (sim, op):
        executor.add_node(node)

    def published() -> np.ndarray:
        return joint_state_to_arrays(states[-1], panda.joint_names)[0]

    try:
        assert spin_until(executor, lambda: len(states) > 2 and pub.get_subscription_count() > 0, timeout_s=30.0)
        assert states[-1].name[-2:] == ["panda_finger_joint1", "panda_finger_joint2"]
        model_q = sim.env.arm_qpos
        np.testing.assert_allclose(published(), model_q + [0, 0, 0, 0, 0, np.pi / 2, 0], atol=0.02)
        # a Franka-convention goal: joint 1 +0.2 rad and joint 6 at the driver's 2.3 rad (the model's 0.73)
        goal_driver = published().copy()
        goal_driver[0] += 0.2
        goal_driver[5] = 2.3
        goal_model = goal_driver - [0, 0, 0, 0, 0, np.pi / 2, 0]
        assert np.all(goal_model > panda.lower) and np.all(goal_model < panda.upper)
        pub.publish(trajectory_msg(panda.joint_names, goal_driver[None], 1.0, op.get_clock().now().to_msg()))
        assert spin_until(executor, lambda: np.allclose(sim.env.arm_qpos, goal_model, atol=0.02), timeout_s=15.0), \
            f"the sim arm is at {sim.env.arm_qpos.round(3)}, the command meant {goal_model.round(3)} (model)"
        assert spin_until(executor, lambda: np.allclose(published(), goal_driver, atol=0.02), timeout_s=5.0)
        # the tool point the driver-convention state implies is where the simulator's tool really is
        tool = panda.tool_position(panda.from_driver(published()))
        np.testing.assert_allclose(tool, sim.env.ee_pos, atol=0.01)
    finally:
        executor.shutdown()
        for node in (op, sim):
            node.destroy_node()

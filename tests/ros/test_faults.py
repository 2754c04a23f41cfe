"""Fault handling: clean lifecycle transitions, a crashing planner means hold then recovery, and restarting the
safety filter mid-run never produces an unsafe command."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.conversions import trajectory_msg  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402
from tests.ros.fake_driver import HOME_DRIVER, FakeArmDriver  # noqa: E402

OK = TransitionCallbackReturn.SUCCESS


def _spin_for(executor, seconds):
    spin_until(executor, lambda: False, timeout_s=seconds)


def test_mpc_lifecycle_transitions_are_clean(ros_context):
    node = MpcNode(context=ros_context)
    try:
        assert node.trigger_configure() == OK and node.planners is not None
        assert node.trigger_activate() == OK and node._thread.is_alive()
        thread = node._thread
        assert node.trigger_deactivate() == OK and not thread.is_alive() and node._thread is None
        assert node.trigger_cleanup() == OK and node.planners is None and node.pub_plan is None
        assert node.trigger_configure() == OK and node.trigger_activate() == OK  # and again, from scratch
        assert node.trigger_shutdown() == OK and node._thread is None
    finally:
        node._stop_thread()
        node.destroy_node()


def test_bad_checkpoint_fails_configure_cleanly(ros_context, tmp_path):
    from rclpy.parameter import Parameter

    node = MpcNode(context=ros_context, parameter_overrides=[Parameter("checkpoint", value=str(tmp_path / "nope"))])
    try:
        assert node.trigger_configure() != OK and node.planners is None
    finally:
        node.destroy_node()


@pytest.fixture
def mpc_graph(ros_context):
    driver = FakeArmDriver(ros_context, fingers=True)  # the shipped encoder reads the finger joints too
    safety = SafetyFilterNode(context=ros_context)
    from rclpy.parameter import Parameter

    mpc = MpcNode(context=ros_context, parameter_overrides=[Parameter("num_samples", value=64)])
    op = rclpy.create_node("operator", context=ros_context)
    goal_pub = op.create_publisher(PoseStamped, "/goal_pose", 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (driver, safety, mpc, op):
        executor.add_node(node)
    assert mpc.trigger_configure() == OK and mpc.trigger_activate() == OK
    assert spin_until(executor, lambda: goal_pub.get_subscription_count() > 0)
    goal = PoseStamped()
    goal.pose.position.x, goal.pose.position.y, goal.pose.position.z = 0.45, 0.2, 0.3
    goal_pub.publish(goal)
    yield executor, driver, safety, mpc
    mpc._stop_thread()
    executor.shutdown()
    for node in (op, mpc, safety, driver):
        node.destroy_node()


@pytest.mark.slow
def test_planner_crash_means_hold_then_recovery(mpc_graph):
    executor, driver, safety, mpc = mpc_graph
    assert spin_until(executor, lambda: mpc.plans_published > 3, timeout_s=20.0), "the planner should be running"
    planner = mpc.planners["pose"]
    real_step = planner.step

    def crash(*args, **kwargs):
        raise RuntimeError("simulated planner crash")

    planner.step = crash
    _spin_for(executor, 0.6)  # > max_plan_age_s: the watchdog must be holding by now
    crashed_at, published = len(driver.commands), mpc.plans_published
    _spin_for(executor, 0.8)
    during = [q for _, q in driver.commands[crashed_at:]]
    assert during and np.allclose(during, during[0]), "while the planner is down every command is one hold target"
    assert "HOLD (plan_stale)" in safety.last_decision and mpc.plans_published == published
    assert mpc._thread.is_alive(), "the planning thread survives the crash"
    planner.step = real_step
    assert spin_until(executor, lambda: mpc.plans_published > published + 3, timeout_s=10.0), "planning resumes"
    _spin_for(executor, 0.5)
    assert not np.allclose(driver.commands[-1][1], during[0]), "and the arm moves again"


def test_restarting_the_safety_filter_never_sends_an_unsafe_command(ros_context):
    driver = FakeArmDriver(ros_context)
    planner = rclpy.create_node("fake_planner", context=ros_context)
    plan_pub = planner.create_publisher(JointTrajectory, "/planned_trajectory", 10)
    safety = SafetyFilterNode(context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (driver, planner, safety):
        executor.add_node(node)
    step = np.r_[0.5, np.zeros(6)]  # every plan asks for a 10x too large step: only the filter keeps it bounded
    try:
        for phase in range(3):
            end = time.monotonic() + 0.8
            while time.monotonic() < end:
                plan_pub.publish(trajectory_msg(PANDA_ROS_JOINTS, driver.q + step, 0.1,
                                                planner.get_clock().now().to_msg()))
                _spin_for(executor, 0.1)
            if phase < 2:  # kill and restart the filter node mid-run
                executor.remove_node(safety)
                safety.destroy_node()
                safety = SafetyFilterNode(context=ros_context)
                executor.add_node(safety)
        positions = np.array([q for _, q in driver.commands])
        steps = np.abs(np.diff(np.vstack([HOME_DRIVER, positions]), axis=0))
        assert len(positions) > 10 and steps.max() <= 0.05 + 1e-9
        assert positions[-1][0] > HOME_DRIVER[0] + 0.2, "after each restart the graph recovers and keeps moving"
    finally:
        executor.shutdown()
        for node in (safety, planner, driver):
            node.destroy_node()

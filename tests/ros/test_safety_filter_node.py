"""Safety filter node against a fake ros2_control driver: passes safe plans, holds on stale sensors and old plans,
latches e-stop, rejects malformed messages without crashing, and never commands a point into a keep-out zone."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.conversions import trajectory_msg  # noqa: E402
from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402
from tests.ros.fake_driver import HOME_DRIVER, PANDA, FakeArmDriver  # noqa: E402

PERIOD = 0.1


@pytest.fixture
def graph(ros_context):
    overrides = [Parameter("max_image_age_s", value=0.2), Parameter("max_joint_state_age_s", value=0.2),
                 Parameter("max_plan_age_s", value=0.3),
                 Parameter("guardrails.keep_out_spheres", value=[0.5, 0.25, 0.3, 0.08])]
    safety = SafetyFilterNode(context=ros_context, parameter_overrides=overrides)
    driver = FakeArmDriver(ros_context, PERIOD)
    planner = rclpy.create_node("fake_planner", context=ros_context)
    plan_pub = planner.create_publisher(JointTrajectory, "/planned_trajectory", 10)
    diags: list[DiagnosticArray] = []
    planner.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (safety, driver, planner):
        executor.add_node(node)
    assert spin_until(executor, lambda: plan_pub.get_subscription_count() > 0 and safety._q is not None)

    def publish_plan(points):
        plan_pub.publish(trajectory_msg(PANDA_ROS_JOINTS, np.atleast_2d(points), PERIOD,
                                        planner.get_clock().now().to_msg()))

    yield executor, safety, driver, planner, publish_plan, diags
    executor.shutdown()
    for node in (safety, driver, planner):
        node.destroy_node()


def _keep_planning(executor, publish_plan, driver, step, seconds):
    """Publish a fresh one-step plan every period for `seconds`."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        publish_plan(driver.q + step)
        spin_until(executor, lambda: False, timeout_s=PERIOD)


def test_safe_plan_passes_and_steps_are_bounded(graph):
    executor, safety, driver, _, publish_plan, _ = graph
    step = np.r_[0.03, np.zeros(6)]
    start = driver.q.copy()
    _keep_planning(executor, publish_plan, driver, step, 1.0)
    moves = [c for _, c in driver.commands]
    assert driver.q[0] - start[0] > 0.1, "safe plans must reach the arm"
    diffs = np.abs(np.diff(np.array([start, *moves]), axis=0))
    assert diffs.max() <= safety.cfg.max_step_rad + 1e-9


def test_too_large_step_is_clamped(graph):
    executor, safety, driver, _, publish_plan, _ = graph
    before = driver.q.copy()
    n = len(driver.commands)
    publish_plan(driver.q + np.r_[0.5, np.zeros(6)])
    assert spin_until(executor, lambda: len(driver.commands) > n)
    assert driver.commands[-1][1][0] - before[0] == pytest.approx(safety.cfg.max_step_rad)


@pytest.mark.parametrize("stream", ["camera_on", "joints_on"])
def test_stale_sensor_means_hold_within_two_periods(graph, stream):
    executor, safety, driver, _, publish_plan, _ = graph
    step = np.r_[0.02, np.zeros(6)]
    _keep_planning(executor, publish_plan, driver, step, 0.5)
    setattr(driver, stream, False)
    silenced_at = driver.now_s()
    import time

    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # the planner keeps sending fresh plans: only the watchdog can stop the arm
        publish_plan(driver.q + step)
        spin_until(executor, lambda: False, timeout_s=PERIOD)
    stale_after = safety.cfg.max_image_age_s if stream == "camera_on" else safety.cfg.max_joint_state_age_s
    late = [q for t, q in driver.commands if t > silenced_at + stale_after + 2 * PERIOD]
    assert late, "the filter keeps publishing (hold commands) while the sensor is silent"
    assert np.allclose(late, late[0]), "after the watchdog fires every command is the same hold target"
    assert "HOLD" in safety.last_decision


def test_old_plan_means_hold(graph):
    executor, safety, driver, _, publish_plan, _ = graph
    publish_plan(driver.q + np.r_[0.02, np.zeros(6)])
    spin_until(executor, lambda: False, timeout_s=1.0)  # no new plans for 1 s > max_plan_age_s
    assert safety.last_decision.startswith("HOLD (plan_stale)")


def test_estop_latches_until_reset(graph):
    executor, safety, driver, planner, publish_plan, _ = graph
    client = planner.create_client(Trigger, "/safety_filter/estop")
    reset = planner.create_client(Trigger, "/safety_filter/reset")
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    held = driver.q.copy()
    _keep_planning(executor, publish_plan, driver, np.r_[0.03, np.zeros(6)], 1.0)
    np.testing.assert_allclose(driver.q, held, err_msg="no plan may move the arm while the e-stop is latched")
    future = reset.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    _keep_planning(executor, publish_plan, driver, np.r_[0.03, np.zeros(6)], 0.6)
    assert driver.q[0] > held[0] + 0.05


def test_malformed_messages_are_rejected_and_node_survives(graph):
    executor, safety, driver, planner, publish_plan, diags = graph
    bad_plan = trajectory_msg(["wrong"] * 7, np.zeros((1, 7)), PERIOD, planner.get_clock().now().to_msg())
    nan_plan = trajectory_msg(PANDA_ROS_JOINTS, np.full((1, 7), np.nan), PERIOD, planner.get_clock().now().to_msg())
    pub_js = planner.create_publisher(JointState, "/joint_states", 10)
    pub_plan = planner.create_publisher(JointTrajectory, "/planned_trajectory", 10)
    for msg in (bad_plan, nan_plan):
        pub_plan.publish(msg)
    pub_js.publish(JointState(name=list(PANDA_ROS_JOINTS), position=[float("nan")] * 7))
    pub_js.publish(JointState(name=["a", "b"], position=[0.0, 0.0]))
    assert spin_until(executor, lambda: safety.counts["rejected_msgs"] >= 4, timeout_s=5.0)
    assert spin_until(executor, lambda: any("rejected" in s.message for d in diags for s in d.status), timeout_s=5.0)
    n = len(driver.commands)
    _keep_planning(executor, publish_plan, driver, np.r_[0.02, np.zeros(6)], 0.5)
    assert len(driver.commands) > n, "the node keeps working after bad input"


def test_plan_into_keep_out_zone_is_never_commanded(graph):
    """A keep-out sphere at (0.5, 0.25, 0.3): rotating joint 1 swings the EE into it; the filter must stop first.
    The commands are in Franka's convention: the check converts them back to the description's."""
    executor, safety, driver, _, publish_plan, _ = graph
    _keep_planning(executor, publish_plan, driver, np.r_[0.05, np.zeros(6)], 2.0)
    for _, q in driver.commands:
        assert np.linalg.norm(PANDA.tool_position(PANDA.from_driver(q)) - [0.5, 0.25, 0.3]) >= 0.08
    assert driver.q[0] > HOME_DRIVER[0] + 0.1, "the arm moved towards the zone before being stopped"

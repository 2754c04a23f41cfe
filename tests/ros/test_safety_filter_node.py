"""Safety filter node against a fake ros2_control driver: passes safe plans, bounds steps, holds on stale sensors,
rejects malformed messages without crashing. Plan staleness, e-stop and whole-arm keep-out in motion:
test_safety_filter_node_motion.py; malformed frames and future stamps: test_safety_filter_node_inputs.py."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.conversions import trajectory_msg  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402
from tests.ros.filter_graph import PERIOD, close_graph, open_graph  # noqa: E402


@pytest.fixture
def graph(ros_context):
    g = open_graph(ros_context)

    def publish_plan(points):
        g.publish_plan(points)

    yield g.executor, g.safety, g.driver, g.planner, publish_plan, g.diags
    close_graph(g)


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
    step = np.r_[-0.02, np.zeros(6)]  # away from the keep-out zone: only the watchdog may stop the arm
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

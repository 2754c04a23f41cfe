"""A safety_filter node between a fake planner (the test) and a fake ros2_control driver, on one executor.

Shared by the safety filter node tests: they publish plans, frames and joint states as the planner and driver
would, and read what reached the arm from `driver.commands` (receive time, first point, driver convention).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS
from jepa_mpc.ros_nodes.conversions import s_to_stamp, trajectory_msg
from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode
from tests.ros.conftest import spin_until
from tests.ros.fake_driver import FakeArmDriver

PERIOD = 0.1
PLAN_POINTS = 5
DEFAULTS = {"max_image_age_s": 0.2, "max_joint_state_age_s": 0.2, "max_plan_age_s": 0.3,
            "guardrails.keep_out_spheres": [0.5, 0.25, 0.3, 0.08]}


@dataclasses.dataclass
class FilterGraph:
    executor: SingleThreadedExecutor
    safety: SafetyFilterNode
    driver: FakeArmDriver
    planner: rclpy.node.Node
    diags: list
    period: float
    plan_pub: object
    image_pub: object
    js_pub: object
    plans_sent_s: list = dataclasses.field(default_factory=list)

    def now_s(self) -> float:
        return self.planner.get_clock().now().nanoseconds * 1e-9

    def publish_plan(self, points, ahead_s: float = 0.0) -> float:
        """Publish a plan (driver convention) stamped now + ahead_s; returns the stamp."""
        self.plans_sent_s.append(self.now_s())
        stamp = self.now_s() + ahead_s
        self.plan_pub.publish(trajectory_msg(PANDA_ROS_JOINTS, np.atleast_2d(points), self.period, s_to_stamp(stamp)))
        return stamp

    def spin(self, seconds: float, until=lambda: False) -> bool:
        return spin_until(self.executor, until, timeout_s=seconds)

    def keep_planning(self, step, seconds: float, each=None) -> None:
        """Publish a fresh plan every period for `seconds`, as the mpc node does: PLAN_POINTS points from driver.q,
        `step` further each (and call `each()`)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish_plan(self.driver.q + np.arange(1, PLAN_POINTS + 1)[:, None] * step)
            if each is not None:
                each()
            self.spin(self.period)

    def call(self, service: str) -> None:
        client = self.planner.create_client(Trigger, f"/safety_filter/{service}")
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(Trigger.Request())
        assert self.spin(5.0, future.done) and future.result().success

    def commands_after(self, t: float) -> list[np.ndarray]:
        return [q for stamp, q in self.driver.commands if stamp > t]

    def max_latency_s(self) -> float:
        """The longest time from a plan's publication to the arm's receiving the command that follows it: while a
        command travels, the controller moves on from where the filter saw it."""
        sent = np.asarray(self.plans_sent_s)
        return max(t - sent[sent <= t].max() for t, _ in self.driver.commands if np.any(sent <= t))


def open_graph(context, period: float = PERIOD, **overrides):
    """Start the three nodes (safety filter parameters: DEFAULTS updated by `overrides`) and wait until connected."""
    params = [Parameter(k, value=v) for k, v in {**DEFAULTS, "control_period_s": period, **overrides}.items()]
    safety = SafetyFilterNode(context=context, parameter_overrides=params)
    driver = FakeArmDriver(context, period)
    planner = rclpy.create_node("fake_planner", context=context)
    executor = SingleThreadedExecutor(context=context)
    graph = FilterGraph(executor, safety, driver, planner, [], period,
                        planner.create_publisher(JointTrajectory, "/planned_trajectory", 10),
                        planner.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data),
                        planner.create_publisher(JointState, "/joint_states", qos_profile_sensor_data))
    planner.create_subscription(DiagnosticArray, "/diagnostics", graph.diags.append, 10)
    for node in (safety, driver, planner):
        executor.add_node(node)
    assert spin_until(executor, lambda: graph.plan_pub.get_subscription_count() > 0 and safety._q is not None)
    return graph


def close_graph(graph: FilterGraph) -> None:
    graph.executor.shutdown()
    for node in (graph.safety, graph.driver, graph.planner):
        node.destroy_node()


def assert_held_after(g: FilterGraph, t: float, at_least: int) -> None:
    """At least `at_least` commands came after `t`, all one and the same target: the arm stopped at `t`."""
    late = g.commands_after(t)
    assert len(late) >= at_least, f"only {len(late)} commands after {t:.2f}: the filter must keep publishing holds"
    assert np.allclose(late, late[0], atol=1e-12), f"the arm still moves after {t:.2f}: {np.array(late)[:, 0]}"

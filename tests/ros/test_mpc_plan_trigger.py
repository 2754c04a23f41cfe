"""The mpc node plans when a frame arrives (`plan_trigger: frame`, the default): one plan per new frame, started
at once rather than at the next timer tick, none while nothing new has come, and the newest frame after a busy
plan, never a queue of old ones. `timer` replans every period on the latest frame. Each plan's diagnostics carry
the stages from the frame's stamp to the plan's (ros_nodes/latency.py), which add up to that interval."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from jepa_mpc.ros_nodes.conversions import joint_state_msg, rgb_to_image_msg, s_to_stamp  # noqa: E402
from jepa_mpc.ros_nodes.latency import STAGES  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from tests.ros.fake_driver import HOME_DRIVER  # noqa: E402

PERIOD = 0.1
MPC_STAGES = list(STAGES)[:6]  # receive .. publish: the mpc node's part of the chain


class Camera:
    """The test's side: publishes a frame with the joint state of the same stamp, reads the mpc's diagnostics."""

    def __init__(self, context, trigger: str) -> None:
        params = [Parameter("checkpoint", value="none"), Parameter("plan_trigger", value=trigger),
                  Parameter("control_period_s", value=PERIOD), Parameter("max_obs_age_s", value=5.0)]
        self.mpc = MpcNode(context=context, parameter_overrides=params)
        self.node = rclpy.create_node("camera", context=context)
        self.pub_img = self.node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        self.pub_js = self.node.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.plans: list[dict] = []  # the values of each plan's diagnostics
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100)
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.mpc, self.node):
            self.executor.add_node(node)
        self.mpc.trigger_configure()
        self.mpc._on_goal_pose(_pose(0.5, 0.1, 0.4))
        self.mpc.trigger_activate()
        assert spin_until(self.executor, lambda: self.pub_img.get_subscription_count() > 0)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == "mpc" and "plan_stamp_s" in values:
                self.plans.append(values)

    def frame(self) -> float:
        stamp_s = self.mpc.now_s()
        stamp = s_to_stamp(stamp_s)
        self.pub_js.publish(joint_state_msg(self.mpc.joint_names, HOME_DRIVER, np.zeros(7), stamp))
        self.pub_img.publish(rgb_to_image_msg(np.zeros((64, 64, 3), np.uint8), stamp, "camera"))
        return stamp_s

    def spin(self, seconds: float, until=lambda: False) -> bool:
        return spin_until(self.executor, until, timeout_s=seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.mpc.destroy_node()
        self.node.destroy_node()


def _pose(x, y, z):
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
    return msg


@pytest.fixture
def on_frames(ros_context):
    cam = Camera(ros_context, "frame")
    yield cam
    cam.close()


def test_one_plan_per_new_frame_and_none_in_between(on_frames):
    cam = on_frames
    stamps = []
    for _ in range(3):
        stamps.append(cam.frame())
        assert cam.spin(2.0, lambda n=len(stamps): len(cam.plans) >= n), "no plan for a new frame"
        cam.spin(5 * PERIOD)  # five planning periods with nothing new: no plan
    assert [float(p["frame_stamp_s"]) for p in cam.plans] == stamps, "exactly one plan per frame, on that frame"


def test_the_plan_starts_when_the_frame_arrives_not_at_a_tick(on_frames):
    """Frames at odd moments of the period: each one's wait (decoded -> planning starts) stays far below the
    period a timer would add on average; the stages add up to plan stamp - frame stamp."""
    cam = on_frames
    for delay in (0.013, 0.041, 0.077, 0.029):
        cam.spin(delay)
        n = len(cam.plans)
        cam.frame()
        assert cam.spin(2.0, lambda n=n: len(cam.plans) > n)
    waits = [float(p["stage.wait_ms"]) for p in cam.plans]
    assert max(waits) < 0.5 * PERIOD * 1e3, waits
    for p in cam.plans:
        parts = sum(float(p[f"stage.{s}_ms"]) for s in MPC_STAGES)
        total = 1e3 * (float(p["plan_stamp_s"]) - float(p["frame_stamp_s"]))
        assert parts == pytest.approx(total, abs=0.05), p
        assert "latency.plan_ms.p99" in p


def test_a_busy_planner_takes_the_newest_frame_not_a_queue(on_frames):
    """Five frames arrive while one plan runs: the next plan is on the last of them and the four before are
    dropped."""
    cam = on_frames
    planner = cam.mpc.planners["pose"]
    step, started = planner.step, threading.Event()

    def slow_step(*args, **kwargs):
        started.set()
        time.sleep(0.5)
        return step(*args, **kwargs)

    planner.step = slow_step
    cam.frame()
    assert cam.spin(2.0, started.is_set)
    burst = [cam.frame() for _ in range(5)]
    assert cam.spin(5.0, lambda: len(cam.plans) >= 2)
    cam.spin(1.5)  # room for plans on the dropped frames, if there were any
    assert [float(p["frame_stamp_s"]) for p in cam.plans][1:] == [burst[-1]]


def test_timer_trigger_replans_every_period_on_the_latest_frame(ros_context):
    cam = Camera(ros_context, "timer")
    try:
        stamp = cam.frame()
        cam.spin(8 * PERIOD)
        assert len(cam.plans) >= 4, "a timer plans each period, new frame or not"
        assert {float(p["frame_stamp_s"]) for p in cam.plans} == {stamp}
    finally:
        cam.close()


def test_an_unknown_trigger_is_refused():
    from jepa_mpc.ros_nodes.mpc_node import MpcNodeConfig

    with pytest.raises(ValueError, match="plan_trigger"):
        MpcNodeConfig(plan_trigger="sometimes")

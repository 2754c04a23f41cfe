"""The safety_filter node's watchdog counts only usable inputs: a camera frame the mpc node would reject does not
keep the camera alive, and a frame, joint state or plan stamped beyond max_future_stamp_s is rejected, so an
input stamped ahead of the clock cannot keep a dead stream (or a dead planner's last plan) fresh forever."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    MessageError,
    image_msg_to_rgb,
    joint_state_msg,
    rgb_to_image_msg,
    s_to_stamp,
)
from tests.ros.fake_driver import PANDA  # noqa: E402
from tests.ros.filter_graph import PERIOD, assert_held_after, close_graph, open_graph  # noqa: E402

STEP = np.r_[-0.05, np.zeros(6)]  # a full step each period, away from the default keep-out zone


def _frame(stamp_s: float, kind: str) -> Image:
    msg = rgb_to_image_msg(np.zeros((64, 64, 3), np.uint8), s_to_stamp(stamp_s), "camera")
    if kind == "mono8":
        msg.encoding = "mono8"
        msg.step = 64
        msg.data = bytes(64 * 64)
    elif kind == "0x0":
        msg = Image(header=Header(stamp=s_to_stamp(stamp_s)), height=0, width=0, encoding="rgb8", step=0)
    elif kind == "truncated":
        msg.data = bytes(msg.data)[:-1]
    return msg


@pytest.fixture
def graph(ros_context):
    g = open_graph(ros_context)
    yield g
    close_graph(g)


def _assert_holds_after(g, t: float, why: str) -> None:
    assert_held_after(g, t, 3)
    assert g.safety.last_decision == f"HOLD ({why})"


@pytest.mark.parametrize("kind", ["mono8", "0x0", "truncated"])
def test_malformed_frames_do_not_keep_the_camera_alive(graph, kind):
    g = graph
    with pytest.raises(MessageError):
        image_msg_to_rgb(_frame(0.0, kind))  # the mpc node rejects this frame
    g.keep_planning(STEP, 0.3)
    g.driver.camera_on = False
    silenced = g.now_s()
    rejected = g.safety.counts["rejected_msgs"]
    g.keep_planning(STEP, 1.0, each=lambda: g.image_pub.publish(_frame(g.now_s(), kind)))
    assert g.safety.counts["rejected_msgs"] > rejected
    _assert_holds_after(g, silenced + g.safety.cfg.max_image_age_s + 2 * PERIOD, "camera_stale")


@pytest.mark.parametrize("stream", ["camera", "joint_states", "plan"])
def test_a_future_stamp_does_not_keep_a_stream_fresh(graph, stream):
    """One message stamped 100 s ahead, then silence on that stream: the watchdog must fire as if it were silent."""
    g = graph
    g.keep_planning(STEP, 0.3)
    ahead = g.now_s() + 100.0
    if stream == "camera":
        g.driver.camera_on = False
        g.image_pub.publish(_frame(ahead, "ok"))
    elif stream == "joint_states":
        g.driver.joints_on = False
        g.js_pub.publish(joint_state_msg(PANDA.joint_names, g.driver.q, np.zeros(7), s_to_stamp(ahead)))
    silenced = g.now_s()
    if stream == "plan":
        g.publish_plan(g.driver.q + 10 * STEP, ahead_s=100.0)  # the planner's last words, then it dies
        g.spin(1.2)
    else:
        g.keep_planning(STEP, 1.2)
    stale_after = {"camera": g.safety.cfg.max_image_age_s, "joint_states": g.safety.cfg.max_joint_state_age_s,
                   "plan": g.safety.cfg.max_plan_age_s}[stream]
    _assert_holds_after(g, silenced + stale_after + 2 * PERIOD, f"{stream}_stale")


def test_a_stamp_within_the_future_bound_is_accepted(graph):
    """Clocks of two machines differ a little: a plan stamped less than max_future_stamp_s ahead is executed."""
    g = graph
    ahead = 0.5 * g.safety.filter.cfg.max_future_stamp_s
    start = g.driver.q.copy()
    rejected = g.safety.counts["rejected_msgs"]
    for _ in range(5):
        g.publish_plan(g.driver.q + STEP, ahead_s=ahead)
        g.spin(PERIOD)
    assert g.safety.counts["rejected_msgs"] == rejected
    assert g.driver.q[0] < start[0] - 0.1

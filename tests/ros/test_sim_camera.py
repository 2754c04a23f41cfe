"""The sim bridge's camera publishes like a real driver: the size, encoding and frame rate asked for (independent of
the control rate), CameraInfo to match, JPEG/PNG on <topic>/compressed; and the mpc node turns what it publishes
into the model's input (a VGA frame, centre-cropped and area-resized, is close to the 64-px render it replaces)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from jepa_mpc.models.preprocess import ImagePreprocessing  # noqa: E402
from jepa_mpc.ros_nodes.conversions import compressed_msg_to_rgb, image_msg_to_array  # noqa: E402
from jepa_mpc.ros_nodes.sim_bridge import SimBridgeConfig, SimBridgeNode  # noqa: E402


def _run(context, seconds: float, **params):
    """Spin a sim bridge with `params` for `seconds` after its first frame: (frames, infos, arrival times, sim)."""
    sim = SimBridgeNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    listener = rclpy.create_node("camera_listener", context=context)
    frames, infos, arrivals = [], [], []
    compressed = params.get("camera_encoding") in ("jpeg", "png")
    topic, kind = ("/camera/image_raw/compressed", CompressedImage) if compressed else ("/camera/image_raw", Image)

    def on_frame(msg):
        frames.append(msg)
        arrivals.append(time.monotonic())

    listener.create_subscription(kind, topic, on_frame, qos_profile_sensor_data)
    listener.create_subscription(CameraInfo, "/camera/camera_info", infos.append, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=context)
    for node in (sim, listener):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(frames) >= 2, timeout_s=30.0), "no camera frames"
        frames.clear(), arrivals.clear()
        spin_until(executor, lambda: False, timeout_s=seconds)
        return frames, infos, arrivals, sim
    finally:
        executor.shutdown()
        for node in (listener, sim):
            node.destroy_node()


def test_a_vga_bgr8_camera_at_its_own_rate(ros_context):
    frames, infos, arrivals, sim = _run(ros_context, 2.0, camera_size="640x480", camera_encoding="bgr8",
                                        camera_fps=25.0)
    msg = frames[-1]
    assert (msg.width, msg.height, msg.encoding, msg.step) == (640, 480, "bgr8", 640 * 3)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 18.0 <= rate <= 27.0, f"{rate:.1f} frames/s, asked for 25 with a 10 Hz control rate"
    info = infos[-1]
    assert (info.width, info.height) == (640, 480)
    fy = info.k[4]
    assert info.k[0] == fy and info.k[2] == pytest.approx(319.5) and info.k[5] == pytest.approx(239.5)
    assert 2 * np.degrees(np.arctan(240 / fy)) == pytest.approx(sim.env.camera.fovy_deg), "the cell's vertical FOV"


@pytest.mark.parametrize("encoding", ["jpeg", "mono8"])
def test_compressed_and_mono_cameras(ros_context, encoding):
    frames, _, _, _ = _run(ros_context, 0.5, camera_size="320x240", camera_encoding=encoding)
    msg = frames[-1]
    if encoding == "jpeg":
        assert "jpeg" in msg.format and compressed_msg_to_rgb(msg).shape == (240, 320, 3)
    else:
        assert msg.encoding == "mono8" and image_msg_to_array(msg).shape == (240, 320)


def test_a_vga_frame_preprocessed_is_close_to_the_64px_render(ros_context):
    """What the shipped model sees from a 640x480 camera (centre crop, area resize) against the 64x64 frame it
    was trained on, of the same scene: a mean difference of a few grey levels, not a different picture."""
    frames, _, _, sim = _run(ros_context, 0.3, camera_size="640x480", camera_encoding="rgb8")
    env = sim.env.unwrapped
    env_frame = env.render_camera(640, 480)
    reference = env.render_camera(64, 64)
    model_input = ImagePreprocessing(size=64).apply(env_frame)
    diff = np.abs(model_input.astype(int) - reference.astype(int))
    assert diff.mean() < 6.0, f"mean |difference| {diff.mean():.1f} grey levels"
    assert image_msg_to_array(frames[-1]).shape == (480, 640, 3)


@pytest.mark.parametrize("params, match", [
    ({"camera_size": "640*480"}, "WxH"), ({"camera_size": "0x480"}, "WxH"),
    ({"camera_encoding": "yuv422"}, "camera_encoding"), ({"camera_fps": -1.0}, "camera_fps"),
])
def test_bad_camera_parameters_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        SimBridgeConfig(**params)


def test_commands_computed_before_a_reset_do_not_move_the_new_episodes_arm(ros_context):
    """A command that arrives within reset_grace_s of ~/reset was made for the arm before it was teleported: the
    sim bridge ignores it (an e-stopped filter's hold for the old pose would pull the arm back); later ones count."""
    from std_srvs.srv import Trigger

    from jepa_mpc.ros_nodes.conversions import s_to_stamp, trajectory_msg

    sim = SimBridgeNode(context=ros_context, parameter_overrides=[Parameter("reset_grace_s", value=0.3)])
    try:
        assert sim._on_reset(Trigger.Request(), Trigger.Response()).success
        start = sim.follower.target_at(sim.now_s() + 10.0)
        stale = trajectory_msg(sim.joint_names, sim.robot.to_driver(start[None] + 0.1), 0.1, s_to_stamp(0.0))
        sim._on_trajectory(stale)
        assert sim.ignored_after_reset == 1
        np.testing.assert_array_equal(sim.follower.target_at(sim.now_s() + 10.0), start)
        time.sleep(0.35)
        sim._on_trajectory(stale)
        np.testing.assert_allclose(sim.follower.target_at(sim.now_s() + 10.0), start + 0.1, atol=1e-9)
        assert sim.ignored_after_reset == 1
    finally:
        sim.destroy_node()


def test_setting_seed_picks_the_next_resets_episode_and_nothing_else_does(ros_context):
    from std_srvs.srv import Trigger

    sim = SimBridgeNode(context=ros_context)
    try:
        assert sim.set_parameters([Parameter("seed", value=123)])[0].successful
        assert sim._on_reset(Trigger.Request(), Trigger.Response()).message == "new episode, seed 123"
        assert sim.set_parameters([Parameter("camera_frame_id", value="cam")])[0].successful
        assert sim._on_reset(Trigger.Request(), Trigger.Response()).message == "new episode, seed 124"
        assert sim.set_parameters([Parameter("seed", value=123)])[0].successful  # the same episode once more
        assert sim._on_reset(Trigger.Request(), Trigger.Response()).message == "new episode, seed 123"
    finally:
        sim.destroy_node()

"""The mpc node takes a camera as real drivers publish it: any size, rgb8 / bgr8 / rgba8 / bgra8, or JPEG / PNG on
<topic>/compressed, cropped and resized as the checkpoint was trained; mono8 and size changes mid-stream are
rejected with a diagnostic; a node set to preprocess differently from its checkpoint refuses to start."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from jepa_mpc.models.preprocess import ImagePreprocessing  # noqa: E402
from jepa_mpc.ros_nodes.conversions import rgb_to_compressed_msg, s_to_stamp  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from tests.ros.test_conversions import _raw  # noqa: E402

VGA = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def _node(context, **params):
    node = MpcNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    result = node.trigger_configure()
    return node, result


@pytest.fixture
def mpc(ros_context):
    node, result = _node(ros_context)
    assert result == TransitionCallbackReturn.SUCCESS
    yield node
    node.destroy_node()


def _stamped(msg, node):
    msg.header.stamp = s_to_stamp(node.now_s())
    return msg


def test_a_vga_bgr8_frame_becomes_the_models_input_as_the_checkpoint_was_trained(mpc):
    assert mpc.preprocessing == ImagePreprocessing(size=64, crop="center", interpolation="area")
    mpc._on_image(_stamped(_raw(VGA[..., ::-1], "bgr8", pad=4), mpc))
    assert mpc._frame is not None and mpc._frame.rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(mpc._frame.rgb, mpc.preprocessing.apply(VGA))
    for encoding, pixels in (("rgba8", np.concatenate([VGA, VGA[..., :1]], -1)), ("rgb8", VGA)):
        mpc._frame = None
        mpc._on_image(_stamped(_raw(pixels, encoding), mpc))
        np.testing.assert_array_equal(mpc._frame.rgb, mpc.preprocessing.apply(VGA))


def test_mono8_and_a_size_change_mid_stream_are_rejected_with_a_diagnostic(mpc):
    reasons = []
    mpc._reject = lambda what, exc: reasons.append(f"{what}: {exc}")
    mpc._on_image(_stamped(_raw(VGA, "rgb8"), mpc))
    first = mpc._frame
    mpc._on_image(_stamped(_raw(VGA[:240, :320], "rgb8"), mpc))
    mpc._on_image(_stamped(_raw(VGA[..., :1], "mono8"), mpc))
    assert mpc._frame is first, "neither frame replaced the last good one"
    assert "changed size mid-stream, from 640x480 to 320x240" in reasons[0], reasons
    assert "colour" in reasons[1], reasons


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_frames_on_the_compressed_topic(ros_context, fmt):
    node, result = _node(ros_context, image_transport="compressed")
    try:
        assert result == TransitionCallbackReturn.SUCCESS
        topics = {subscription.topic_name for subscription in node.subscriptions}
        assert "/camera/image_raw/compressed" in topics and "/camera/image_raw" not in topics
        node._on_image(_stamped(rgb_to_compressed_msg(VGA, s_to_stamp(0), "camera", fmt), node))
        assert node._frame is not None and node._frame.rgb.shape == (64, 64, 3)
        expected = node.preprocessing.apply(VGA).astype(int)
        assert np.abs(node._frame.rgb.astype(int) - expected).mean() < (3 if fmt == "jpeg" else 1e-9)
    finally:
        node.destroy_node()


def test_preprocessing_other_than_the_checkpoints_is_refused_with_what_differs(ros_context):
    node, result = _node(ros_context, image_crop="none")
    try:
        assert result == TransitionCallbackReturn.FAILURE
        assert node.planners is None
    finally:
        node.destroy_node()
    node, result = _node(ros_context, image_crop="center", image_interpolation="area")  # the same, spelled out
    try:
        assert result == TransitionCallbackReturn.SUCCESS
    finally:
        node.destroy_node()


def test_the_refusal_names_the_difference(ros_context):
    node = MpcNode(context=ros_context, parameter_overrides=[Parameter("image_interpolation", value="nearest")])
    errors = []
    node.get_logger().error = errors.append
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert any("interpolation: area vs nearest" in e and "image_interpolation" in e for e in errors), errors
    finally:
        node.destroy_node()


def test_goal_images_of_any_size_are_preprocessed_like_frames(mpc):
    mpc._on_goal_image(_raw(VGA, "rgb8"))
    kind, goal = mpc._goal
    assert kind == "image"
    np.testing.assert_array_equal(goal.rgb, mpc.preprocessing.apply(VGA))

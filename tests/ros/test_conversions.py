"""Message conversions: round trips are exact and malformed messages raise MessageError (never crash otherwise)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("rclpy")
from sensor_msgs.msg import Image, JointState  # noqa: E402

from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    MessageError,
    image_msg_to_rgb,
    joint_state_msg,
    joint_state_to_arrays,
    rgb_to_image_msg,
    s_to_stamp,
    stamp_to_s,
    trajectory_msg,
    trajectory_to_array,
)

NAMES = [f"panda_joint{i}" for i in range(1, 8)]


def test_image_round_trip_and_bgr():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = rgb_to_image_msg(rgb, s_to_stamp(1.5), "cam")
    np.testing.assert_array_equal(image_msg_to_rgb(msg, (5, 7)), rgb)
    msg.encoding = "bgr8"
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb[..., ::-1])


def test_image_with_row_padding():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    msg = Image(height=2, width=3, encoding="rgb8", step=12, data=padded.tobytes())
    np.testing.assert_array_equal(image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize("mutate, match", [
    (lambda m: setattr(m, "encoding", "mono8"), "encoding"),
    (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "bytes"),
    (lambda m: setattr(m, "width", 0), "size"),
])
def test_bad_images_rejected(mutate, match):
    msg = rgb_to_image_msg(np.zeros((4, 4, 3), np.uint8), s_to_stamp(0), "cam")
    mutate(msg)
    with pytest.raises(MessageError, match=match):
        image_msg_to_rgb(msg)


def test_wrong_image_size_rejected():
    msg = rgb_to_image_msg(np.zeros((32, 32, 3), np.uint8), s_to_stamp(0), "cam")
    with pytest.raises(MessageError, match="expects 64x64"):
        image_msg_to_rgb(msg, (64, 64))


@settings(max_examples=100, deadline=None)
@given(height=st.integers(0, 8), width=st.integers(0, 8), step=st.integers(0, 40), nbytes=st.integers(0, 400),
       encoding=st.sampled_from(["rgb8", "bgr8", "mono8", "16UC1", "", "rgba8"]))
def test_arbitrary_image_headers_never_crash(height, width, step, nbytes, encoding):
    msg = Image(height=height, width=width, step=step, encoding=encoding, data=bytes(nbytes))
    try:
        rgb = image_msg_to_rgb(msg)
    except MessageError:
        return
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8


def test_joint_state_reorders_by_name():
    q = np.arange(7.0)
    msg = joint_state_msg(NAMES[::-1] + ["panda_finger_joint1"], np.r_[q[::-1], 0.04], np.r_[q[::-1], 0], s_to_stamp(0))
    pos, vel = joint_state_to_arrays(msg, NAMES)
    np.testing.assert_array_equal(pos, q)
    np.testing.assert_array_equal(vel, q)


@pytest.mark.parametrize("names, pos, match", [
    (["wrong"] * 7, [0.0] * 7, "lacks joints"),
    (NAMES, [0.0] * 6, "names"),
    (NAMES, [0.0] * 6 + [float("nan")], "non-finite"),
    (NAMES, [0.0] * 6 + [float("inf")], "non-finite"),
])
def test_bad_joint_states_rejected(names, pos, match):
    with pytest.raises(MessageError, match=match):
        joint_state_to_arrays(JointState(name=names, position=pos), NAMES)


def test_trajectory_round_trip_and_errors():
    positions = np.random.default_rng(1).normal(size=(3, 7))
    msg = trajectory_msg(NAMES, positions, 0.1, s_to_stamp(2.0))
    got, times = trajectory_to_array(msg, NAMES)
    np.testing.assert_allclose(got, positions)
    np.testing.assert_allclose(times, [0.1, 0.2, 0.3])
    msg.points[1].positions[2] = float("nan")
    with pytest.raises(MessageError, match="non-finite"):
        trajectory_to_array(msg, NAMES)
    with pytest.raises(MessageError, match="no points"):
        trajectory_to_array(trajectory_msg(NAMES, np.zeros((0, 7)), 0.1, s_to_stamp(0)), NAMES)


@given(st.floats(0, 1e9, allow_nan=False))
def test_stamp_round_trip(t):
    assert stamp_to_s(s_to_stamp(t)) == pytest.approx(t, abs=2e-9 * max(1.0, t / 1e6))

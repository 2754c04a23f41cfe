"""`jepa-mpc goal image FILE --joints ...` sends the goal joint positions and the image with one stamp, so the mpc
node can pair them; bad joint values are refused before anything is sent."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from tests.ros.conftest import spin_until  # noqa: E402

GOAL_Q = [0.1, -0.2, 0.0, -2.2, 0.0, 0.7, 0.8, 0.04, 0.04]


def _goal_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jepa_mpc.apps.cli", "goal", "--timeout", "20", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


@pytest.fixture
def png(tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "goal.png"
    iio.imwrite(path, np.full((80, 100, 3), 120, np.uint8))
    return str(path)


def test_image_goal_with_joints_arrives_as_one_stamped_pair(ros_context, png):
    node = rclpy.create_node("fake_mpc", context=ros_context)
    got: dict = {}
    node.create_subscription(Image, "/goal_image", lambda m: got.setdefault("image", m), 10)
    node.create_subscription(JointState, "/goal_joint_states", lambda m: got.setdefault("joints", m), 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    proc = _goal_cli("image", png, "--size", "32", "--joints", *map(str, GOAL_Q))
    try:
        assert spin_until(executor, lambda: len(got) == 2, timeout_s=30.0), proc.communicate(timeout=30)[0]
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        executor.shutdown()
        node.destroy_node()
    assert got["image"].height == got["image"].width == 32
    assert got["joints"].header.stamp == got["image"].header.stamp
    assert np.allclose(got["joints"].position, GOAL_Q) and got["joints"].name[-1] == "panda_finger_joint2"


@pytest.mark.parametrize("joints, message", [(["0.1", "0.2"], "2 values but there are 9"),
                                             (["nan"] * 9, "finite")])
def test_bad_goal_joints_are_refused(png, joints, message):
    out, _ = _goal_cli("image", png, "--joints", *joints).communicate(timeout=60)
    assert message in out

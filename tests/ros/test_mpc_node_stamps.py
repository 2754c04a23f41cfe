"""The mpc node reads stamps by the same rule as the safety filter (planner/stamps.py): a camera frame or joint
state stamped further ahead than max_future_stamp_s is rejected on arrival, so it can never be planned on as a
fresh observation; one within the bound is kept."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from jepa_mpc.ros_nodes.conversions import joint_state_msg, rgb_to_image_msg, s_to_stamp  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from tests.ros.fake_driver import HOME_DRIVER  # noqa: E402


@pytest.fixture
def mpc(ros_context):
    node = MpcNode(context=ros_context)
    node.trigger_configure()
    assert node.planners is not None
    yield node
    node.destroy_node()


@pytest.mark.parametrize("ahead_s, kept", [(100.0, False), (1.0, False), (0.02, True), (-0.1, True)])
def test_future_stamped_observations_are_rejected(mpc, ahead_s, kept):
    bound = mpc.planners["pose"].safety.cfg.max_future_stamp_s
    assert (ahead_s <= bound) == kept
    stamp = s_to_stamp(mpc.now_s() + ahead_s)
    image = mpc.image_size or 64
    mpc._on_image(rgb_to_image_msg(np.zeros((image, image, 3), np.uint8), stamp, "camera"))
    mpc._on_joint_state(joint_state_msg(mpc.joint_names, HOME_DRIVER, np.zeros(7), stamp))
    assert (mpc._frame is not None) == kept and (mpc._joints is not None) == kept

"""A checkpoint whose encoder reads joint positions: the mpc node feeds it /joint_states for the observation and,
for an image goal, the /goal_joint_states message stamped like the goal image; without them it holds. Joint
messages are in the driver's convention (Franka's joint 6); the encoder reads the description's, as it was
trained."""
from __future__ import annotations

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy")
from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from jepa_mpc.models.checkpoint import save_checkpoint  # noqa: E402
from jepa_mpc.models.config import EncoderConfig, WorldModelConfig  # noqa: E402
from jepa_mpc.models.world_model import WorldModel  # noqa: E402
from jepa_mpc.robots.panda import DRIVER_FINGER_JOINTS as PANDA_FINGER_JOINTS  # noqa: E402
from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.conversions import joint_state_msg, rgb_to_image_msg  # noqa: E402
from jepa_mpc.ros_nodes.mpc_node import MpcNode  # noqa: E402
from tests.ros.conftest import spin_until  # noqa: E402
from tests.ros.fake_driver import PANDA, FakeArmDriver  # noqa: E402

OK = TransitionCallbackReturn.SUCCESS
NAMES = (*PANDA_ROS_JOINTS, *PANDA_FINGER_JOINTS)
GOAL_Q = np.array([0.3, 0.1, -0.2, -2.0, 0.1, 2.4, 0.5, 0.04, 0.04])  # driver convention
GOAL_Q_MODEL = GOAL_Q - np.r_[PANDA.joint_offsets, 0.0, 0.0]  # what the encoder reads (joint 6: - pi/2)
GOAL_RGB = np.full((32, 32, 3), 90, np.uint8)


@pytest.fixture(scope="module")
def proprio_checkpoint(tmp_path_factory):
    """A small untrained model with a 9-joint proprioceptive encoder (its weights don't matter here)."""
    torch.manual_seed(0)
    cfg = WorldModelConfig(latent_dim=16, encoder=EncoderConfig(image_size=32, widths=(8, 16), proprio_dim=9,
                                                                proprio_key="joint_pos", proprio_hidden=16))
    return str(save_checkpoint(tmp_path_factory.mktemp("ckpt") / "proprio", WorldModel(cfg)))


@pytest.fixture
def graph(ros_context, proprio_checkpoint):
    driver = FakeArmDriver(ros_context, fingers=True)
    driver.camera_on = False  # its frames are 64x64; this model takes 32x32, so the operator sends them
    mpc = MpcNode(context=ros_context, parameter_overrides=[Parameter("checkpoint", value=proprio_checkpoint),
                                                            Parameter("num_samples", value=32),
                                                            Parameter("device", value="cpu")])
    op = rclpy.create_node("operator", context=ros_context)
    pubs = {"image": op.create_publisher(Image, "/goal_image", 10),
            "joints": op.create_publisher(JointState, "/goal_joint_states", 10),
            "camera": op.create_publisher(Image, "/camera/image_raw", 10)}
    op.create_timer(0.05, lambda: pubs["camera"].publish(
        rgb_to_image_msg(np.zeros((32, 32, 3), np.uint8), op.get_clock().now().to_msg(), "camera")))
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (driver, mpc, op):
        executor.add_node(node)
    assert mpc.trigger_configure() == OK and mpc.trigger_activate() == OK
    assert mpc.proprio_dim == 9
    assert spin_until(executor, lambda: all(p.get_subscription_count() > 0 for p in pubs.values()))
    yield executor, mpc, op, pubs
    mpc._stop_thread()
    executor.shutdown()
    for node in (op, mpc, driver):
        node.destroy_node()


def _expected_goal_latent(mpc: MpcNode, q: np.ndarray) -> torch.Tensor:
    return mpc.planners["image"].encode(GOAL_RGB, q.astype(np.float32))


@pytest.mark.parametrize("joints_first", [True, False])
def test_goal_image_waits_for_its_joint_positions_then_plans_with_them(graph, joints_first):
    executor, mpc, _, pubs = graph
    stamp = Time(sec=100, nanosec=5)
    image_msg = rgb_to_image_msg(GOAL_RGB, stamp, "goal")
    joints_msg = joint_state_msg(NAMES, GOAL_Q, np.zeros(9), stamp)
    first, second = (("joints", joints_msg), ("image", image_msg)) if joints_first else \
        (("image", image_msg), ("joints", joints_msg))
    pubs[first[0]].publish(first[1])
    if not joints_first:  # image alone: the node must hold, not plan towards a goal without its joint positions
        assert not spin_until(executor, lambda: mpc.plans_published > 0, timeout_s=1.0)
        assert "goal_joint_states" in mpc._missing_input(mpc._goal, mpc._frame, mpc._joints, mpc._proprio)
    pubs[second[0]].publish(second[1])
    assert spin_until(executor, lambda: mpc.plans_published > 2, timeout_s=15.0), "both halves of the goal: plans"
    z_goal = mpc.planners["image"].z_goal
    assert torch.allclose(z_goal, _expected_goal_latent(mpc, GOAL_Q_MODEL), atol=1e-5)
    assert not torch.allclose(z_goal, _expected_goal_latent(mpc, GOAL_Q), atol=1e-3), "converted to the model's"
    assert not torch.allclose(z_goal, _expected_goal_latent(mpc, np.zeros(9)), atol=1e-3), "joints matter"


def test_goal_joints_with_another_stamp_are_not_paired(graph):
    executor, mpc, _, pubs = graph
    pubs["joints"].publish(joint_state_msg(NAMES, GOAL_Q, np.zeros(9), Time(sec=7)))
    pubs["image"].publish(rgb_to_image_msg(GOAL_RGB, Time(sec=8), "goal"))
    assert not spin_until(executor, lambda: mpc.plans_published > 0, timeout_s=1.5)
    assert mpc._goal is not None and mpc._goal[1].joints is None


def test_capture_goal_takes_the_current_joint_positions(graph):
    executor, mpc, op, _ = graph
    assert spin_until(executor, lambda: mpc._proprio is not None and mpc._frame is not None)
    client = op.create_client(Trigger, "/mpc/capture_goal")
    assert spin_until(executor, client.service_is_ready)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done) and future.result().success
    assert np.allclose(mpc._goal[1].joints, mpc._proprio, atol=1e-6)
    assert np.allclose(mpc._proprio[:7], PANDA.home, atol=1e-6), "the driver's home, read in the model's convention"
    assert spin_until(executor, lambda: mpc.plans_published > 2, timeout_s=15.0)


def test_proprio_joint_count_mismatch_fails_configure(ros_context, proprio_checkpoint):
    node = MpcNode(context=ros_context, parameter_overrides=[
        Parameter("checkpoint", value=proprio_checkpoint),
        Parameter("proprio_joint_names", value=list(PANDA_ROS_JOINTS))])  # 7 names, the model reads 9
    try:
        assert node.trigger_configure() != OK and node.planners is None
    finally:
        node.destroy_node()


def test_the_encoder_reads_the_joints_the_plan_starts_from(graph):
    """proprio_source commanded (the default): the arm joints of the last command, where the plan's actions start,
    with the fingers as measured; the measured reading when the arm is far from that command, or when asked."""
    import dataclasses

    _, mpc, _, _ = graph
    planner = mpc.planners["image"]
    measured = np.r_[PANDA.home, 0.04, 0.04].astype(np.float32)
    commanded = PANDA.home + 0.05
    got = mpc._plan_proprio(measured, PANDA.home, commanded, planner)
    np.testing.assert_allclose(got, np.r_[commanded, 0.04, 0.04], atol=1e-6)
    far = PANDA.home + 0.5  # beyond max_tracking_error_rad: something else moved the arm
    np.testing.assert_array_equal(mpc._plan_proprio(measured, PANDA.home, far, planner), measured)
    np.testing.assert_array_equal(mpc._plan_proprio(measured, PANDA.home, None, planner), measured)
    cfg = mpc.cfg
    try:
        mpc.cfg = dataclasses.replace(cfg, proprio_source="measured")
        np.testing.assert_array_equal(mpc._plan_proprio(measured, PANDA.home, commanded, planner), measured)
    finally:
        mpc.cfg = cfg

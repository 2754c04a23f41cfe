"""`jepa-mpc dataset from-bag`: a rosbag2 recording of a cell (as a driver and the safety filter publish: a VGA bgr8
camera, joint states, JTC commands) becomes the episode dataset `train` reads, time-aligned at the commands,
preprocessed as recorded, split at gaps, with what was dropped and why."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.serialization import serialize_message  # noqa: E402

from jepa_mpc.apps.cli import main as cli_main  # noqa: E402
from jepa_mpc.models.episodes import complete_indices, load_episode, read_dataset_meta  # noqa: E402
from jepa_mpc.models.preprocess import ImagePreprocessing  # noqa: E402
from jepa_mpc.robots import load_robot  # noqa: E402
from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    joint_state_msg,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
    s_to_stamp,
    trajectory_msg,
)
from jepa_mpc.ros_nodes.rosbag2_dir import Rosbag2DirWriter  # noqa: E402

PANDA = load_robot("panda")
PERIOD, STEP = 0.1, 0.05
T0 = 1000.0


def _frame(k: int) -> np.ndarray:
    """A 640x480 frame that says which step it is (its centre square's mean grey level is 4 k)."""
    return np.full((480, 640, 3), 4 * k, np.uint8)


def _record(path, ticks, compressed=False, skip_frames=(), goal=True, corrupt_frames=()):
    """A bag like the recorder writes from the sim graph: at each tick t_k a frame and a joint state stamped t_k,
    then (5 ms later) the command moving joint 1 by a half step."""
    bag = Rosbag2DirWriter(path)
    camera = "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    bag.add_topic(camera, "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image")
    bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    bag.add_topic("/joint_trajectory_controller/joint_trajectory", "trajectory_msgs/msg/JointTrajectory")
    if goal:
        bag.add_topic("/sim/goal_image", "sensor_msgs/msg/Image")
        bag.add_topic("/sim/goal_joint_states", "sensor_msgs/msg/JointState")
        goal_q = PANDA.home + 0.3
        bag.write("/sim/goal_image", serialize_message(rgb_to_image_msg(np.full((480, 640, 3), 200, np.uint8),
                                                                        s_to_stamp(T0), "cam")), int(T0 * 1e9))
        bag.write("/sim/goal_joint_states", serialize_message(joint_state_msg(
            PANDA.joint_names, PANDA.to_driver(goal_q), np.zeros(7), s_to_stamp(T0))), int(T0 * 1e9))
    for k, t in enumerate(ticks):
        q = PANDA.home + np.r_[0.5 * STEP * k, np.zeros(6)]
        stamp = s_to_stamp(t)
        if k not in skip_frames:
            msg = (rgb_to_compressed_msg(_frame(k), stamp, "cam", "png") if compressed else
                   rgb_to_image_msg(_frame(k), stamp, "cam", "bgr8"))
            if k in corrupt_frames:
                msg.data = bytes(msg.data)[:100]  # a truncated frame
            bag.write(camera, serialize_message(msg), int(t * 1e9))
        names = (*PANDA.joint_names, *PANDA.finger_joint_names)  # as the sim bridge (and franka_ros) report them
        bag.write("/joint_states", serialize_message(joint_state_msg(names, np.r_[PANDA.to_driver(q), 0.04, 0.04],
                                                                     np.full(9, 0.25), stamp)), int(t * 1e9))
        target = PANDA.to_driver(q + np.r_[0.5 * STEP, np.zeros(6)])
        bag.write("/joint_trajectory_controller/joint_trajectory",
                  serialize_message(trajectory_msg(PANDA.joint_names, target[None], PERIOD, s_to_stamp(0))),
                  int((t + 0.005) * 1e9))
    return bag.close()


def test_a_recording_becomes_episodes_aligned_split_and_reported(tmp_path):
    ticks = [T0 + PERIOD * k for k in range(12)] + [T0 + 5.0 + PERIOD * k for k in range(8)]  # a 3.8 s gap
    bag = _record(tmp_path / "run1", ticks, skip_frames={3})
    out = tmp_path / "data"
    assert cli_main(["dataset", "from-bag", str(bag), "--out", str(out)]) == 0
    meta = read_dataset_meta(out)
    assert meta["preprocessing"] == ImagePreprocessing(size=64).to_dict() and meta["robot"] == "panda"
    assert complete_indices(out, verify=True) == [0, 1]
    first, second = load_episode(out, 0), load_episode(out, 1)
    # Step 3 has no frame of its own (it would see step 2's again): it ends the run 0-2, too short to keep. The run
    # 4-11 gives the frames of steps 5-11 and the 6 target changes between them (step 4's command is the reference).
    assert first["image"].shape == (7, 64, 64, 3) and first["action"].shape == (6, 8)
    levels = [int(img.mean()) for img in first["image"]]
    assert levels == [4 * k for k in range(5, 12)], "each step sees its own frame, in order"
    np.testing.assert_allclose(first["action"][:, 0], 0.5, atol=1e-6)  # half a step on joint 1, each period
    np.testing.assert_allclose(first["action"][:, 1:7], 0.0, atol=1e-6)
    assert np.all(first["action"][:, 7] == 1.0), "the gripper entry: open"
    q5 = PANDA.home + np.r_[0.5 * STEP * 5, np.zeros(6)]
    np.testing.assert_allclose(first["joint_pos"][0], np.r_[q5, 0.04, 0.04], atol=1e-6)  # model convention
    np.testing.assert_allclose(first["ee_pos"][0], PANDA.tool_position(q5), atol=1e-5)
    np.testing.assert_allclose(first["goal_pos"], PANDA.tool_position(PANDA.home + 0.3), atol=1e-5)
    assert int(first["goal_image"].mean()) == 200
    assert second["image"].shape == (7, 64, 64, 3)
    report = json.loads((out / "from_bag_report.json").read_text())["bags"][0]
    assert report["dropped"] == {"step dropped, episode split: its frame was the step before's": 1,
                                 "steps in runs shorter than --min-steps": 3, "episode split: gap in commands": 1}
    assert report["steps_kept"] == 6 + 6


def test_compressed_frames_without_a_goal_and_appending(tmp_path):
    out = tmp_path / "data"
    for name, transport in (("a", ["--image-transport", "compressed"]), ("b", [])):  # b: found by itself (auto)
        bag = _record(tmp_path / name, [T0 + PERIOD * k for k in range(7)], compressed=True, goal=False,
                      corrupt_frames={6})
        assert cli_main(["dataset", "from-bag", str(bag), "--out", str(out), *transport,
                         "--crop", "none", "--image-size", "32"]) == 0
    assert complete_indices(out, verify=True) == [0, 1], "the second bag's episode comes after the first's"
    episode = load_episode(out, 1)
    assert episode["image"].shape == (5, 32, 32, 3)  # steps 1-5: step 6's frame is corrupt
    np.testing.assert_array_equal(episode["goal_image"], episode["image"][-1])  # no recorded goal: the last frame
    assert read_dataset_meta(out)["preprocessing"]["crop"] == "none"
    reports = json.loads((out / "from_bag_report.json").read_text())["bags"]
    assert [pathlib.Path(r["bag"]).name for r in reports] == ["a", "b"], "the first conversion's report is kept"
    assert reports[1]["dropped"] == {"malformed /camera/image_raw/compressed": 1,
                                     "step dropped, episode split: its frame was the step before's": 1}


def test_a_bag_without_the_camera_or_commands_is_refused(tmp_path, capsys):
    bag = _record(tmp_path / "run", [T0 + PERIOD * k for k in range(6)])
    with pytest.raises(SystemExit, match="has no"):
        cli_main(["dataset", "from-bag", str(bag), "--out", str(tmp_path / "d"), "--image-transport", "compressed"])
    with pytest.raises(SystemExit, match="max-age-s"):
        cli_main(["dataset", "from-bag", str(bag), "--out", str(tmp_path / "d"), "--max-age-s", "0"])


@pytest.mark.slow
def test_bag_to_dataset_to_checkpoint_to_node_carries_the_preprocessing(tmp_path, ros_context):
    """The crop chosen at conversion reaches the checkpoint through `train`, and the mpc node loading it crops the
    live camera the same way (and refuses to be set otherwise)."""
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from jepa_mpc.ros_nodes.mpc_node import MpcNode

    bags = [str(_record(tmp_path / f"run{i}", [T0 + PERIOD * k for k in range(25)])) for i in range(3)]
    data, run = tmp_path / "data", tmp_path / "run"
    assert cli_main(["dataset", "from-bag", *bags, "--out", str(data), "--crop", "0,0,480,480"]) == 0
    assert cli_main(["train", "--data", str(data), "--out", str(run), "--steps", "2", "--batch-size", "4",
                     "--eval-every", "2", "--device", "cpu", "--no-progress"]) == 0
    trained = ImagePreprocessing(size=64, crop="0,0,480,480")
    assert ImagePreprocessing.of_checkpoint(run / "model", 64) == trained
    node = MpcNode(context=ros_context, parameter_overrides=[Parameter("checkpoint", value=str(run / "model"))])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.preprocessing == trained
    finally:
        node.destroy_node()
    node = MpcNode(context=ros_context, parameter_overrides=[Parameter("checkpoint", value=str(run / "model")),
                                                             Parameter("image_crop", value="center")])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_every_bag_is_opened_before_anything_is_written_and_partial_ones_are_skipped(tmp_path, capsys):
    good = _record(tmp_path / "good", [T0 + PERIOD * k for k in range(7)])
    (tmp_path / "ep_000009.partial").mkdir()  # an episode collect --through-ros is still recording
    out = tmp_path / "data"
    with pytest.raises(SystemExit, match="no such bag"):
        cli_main(["dataset", "from-bag", str(good), str(tmp_path / "missing"), "--out", str(out)])
    assert not list(out.glob("episodes/*")), "nothing is written when one of the bags cannot be read"
    assert cli_main(["dataset", "from-bag", str(good), str(tmp_path / "ep_000009.partial"), "--out", str(out)]) == 0
    assert "skipped 1 .partial" in capsys.readouterr().out
    assert complete_indices(out, verify=True) == [0]

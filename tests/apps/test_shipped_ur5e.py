"""The shipped ur5e_reach model: trained only on data recorded through the ROS graph (rosbag2 -> dataset from-bag),
with the camera preprocessing it records, and it reaches image goals on the robosuite UR5e seen through a 640x480
camera, by name from anywhere."""
from __future__ import annotations

import json

import pytest

from jepa_mpc.models.checkpoint import read_checkpoint_meta
from jepa_mpc.models.shipped import resolve_checkpoint


def test_it_was_trained_on_a_ros_recording_of_the_ur5e():
    meta = read_checkpoint_meta(resolve_checkpoint("ur5e_reach"))
    assert meta["data_fingerprint"]["env_id"] == "rosbag2/robosuite:ur5e", "data from dataset from-bag only"
    assert meta["preprocessing"] == {"crop": "center", "interpolation": "area", "size": 64}
    assert meta["model_config"]["action_dim"] == 6
    assert meta["model_config"]["encoder"]["proprio_dim"] == 6


@pytest.mark.slow
def test_it_reaches_image_goals_through_a_vga_camera(tmp_path):
    from jepa_mpc.apps.cli import main

    assert main(["eval", "--robot", "robosuite:ur5e", "--checkpoint", "ur5e_reach", "--policies", "mpc",
                 "--goal", "image", "--episodes", "2", "--seed", "1", "--workers", "1", "--camera-size", "640x480",
                 "--camera-encoding", "jpeg", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "eval.json").read_text())["summary"]["mpc"]
    assert summary["successes"] == 2 and summary["violations"] == 0

"""Shared pytest setup: headless rendering, ROS isolation, and a tiny-dataset fixture."""
from __future__ import annotations

import os
import uuid

# Before anything imports mujoco or rclpy.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + uuid.uuid4().int % 100))  # unique per run, valid 0-232

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_reach_dataset(tmp_path_factory):
    """A 3-episode, 8-step PandaReach dataset collected by the real collection code (single process)."""
    from jepa_mpc.apps.cli import main

    out = tmp_path_factory.mktemp("data") / "reach"
    code = main(["collect", "--env", "jepa_mpc/PandaReach-v0", "--episodes", "3", "--steps", "8", "--out",
                 str(out), "--workers", "1", "--no-progress", "--seed", "7"])
    assert code == 0
    return out

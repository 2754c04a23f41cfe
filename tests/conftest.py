"""Shared pytest setup: headless rendering, ROS isolation, and a tiny-dataset fixture."""
from __future__ import annotations

import os
import uuid

# Before anything imports mujoco or rclpy.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + uuid.uuid4().int % 100))  # unique per run, valid 0-232

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op torch thread for the whole run: on the 2 shared test cores, OpenMP threads spin-waiting on
    each other make torch 5-50x slower (tests that measure threads set their own)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_reach_dataset(tmp_path_factory):
    """A 3-episode, 8-step PandaReach dataset collected by the real collection code (single process)."""
    from jepa_mpc.apps.cli import main

    out = tmp_path_factory.mktemp("data") / "reach"
    code = main(["collect", "--env", "jepa_mpc/PandaReach-v0", "--episodes", "3", "--steps", "8", "--out",
                 str(out), "--workers", "1", "--no-progress", "--seed", "7"])
    assert code == 0
    return out

"""The on-disk cache of check spheres and found home poses (robots/cache.py) gives what a fresh derivation gives,
recomputes what it cannot read, keys on what shapes the result, and can be turned off."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jepa_mpc.robots import Robot, RobotConfig

XARM6 = RobotConfig("pybullet_data:xarm/xarm6_robot.urdf")  # no preset home: the home pose is found, and cached


def _same(a: Robot, b: Robot) -> None:
    assert a.spheres == b.spheres
    np.testing.assert_array_equal(a.home, b.home)


def test_a_cached_robot_equals_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_MPC_CACHE", "off")
    fresh = Robot(XARM6)
    monkeypatch.setenv("JEPA_MPC_CACHE", str(tmp_path))
    first = Robot(XARM6)  # derives and stores
    entries = sorted((tmp_path / "robots").glob("*.json"))
    assert len(entries) == 2  # the spheres and the home pose
    second = Robot(XARM6)  # reads
    _same(fresh, first)
    _same(fresh, second)


def test_an_unreadable_entry_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_MPC_CACHE", str(tmp_path))
    good = Robot(XARM6)
    for entry in (tmp_path / "robots").glob("*.json"):
        entry.write_text("{ truncated")
    _same(good, Robot(XARM6))
    for entry in (tmp_path / "robots").glob("*.json"):
        json.loads(entry.read_text())  # rewritten whole


def test_the_key_follows_what_shapes_the_spheres(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_MPC_CACHE", str(tmp_path))
    base = Robot(XARM6)
    wider = Robot(RobotConfig(XARM6.description, sphere_margin_m=0.03))
    assert [p.radius for p in wider.spheres] == pytest.approx([p.radius + 0.02 for p in base.spheres])
    moved = Robot(RobotConfig(XARM6.description, base_pos=(0.0, 0.0, 0.2)))
    # in link frames: the same spheres (to float rounding), under a new key
    assert [(p.frame, p.table_check) for p in moved.spheres] == [(p.frame, p.table_check) for p in base.spheres]
    np.testing.assert_allclose([p.offset for p in moved.spheres], [p.offset for p in base.spheres], atol=1e-12)
    assert len(list((tmp_path / "robots").glob("*.json"))) >= 5


def test_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_MPC_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    Robot(XARM6)
    assert not list(tmp_path.rglob("*.json"))

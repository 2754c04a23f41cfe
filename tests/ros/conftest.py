"""ROS test fixtures: an initialised rclpy context on an isolated domain, and spin helpers that wait on conditions."""
from __future__ import annotations

import time

import pytest

rclpy = pytest.importorskip("rclpy")


@pytest.fixture
def ros_context():
    """A fresh rclpy context (LOCALHOST discovery and a per-run domain id come from tests/conftest.py)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


def spin_until(executor, condition, timeout_s: float = 10.0, step_s: float = 0.02) -> bool:
    """Spin `executor` until `condition()` is true or the timeout passes; returns the condition's last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=step_s)
    return bool(condition())

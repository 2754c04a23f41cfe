"""Fixtures of the robots/ tests: the arms (loaded once per process, one torch thread) and the robot-name lists.

Arm files of third-party packages (robosuite's MJCFs, pybullet_data's URDFs) are located with
`jepa_mpc.robots.presets.package_dir`; a test of an arm whose package is not installed is skipped, saying so.
"""
from __future__ import annotations

import functools
import importlib.util

import pytest

from jepa_mpc.robots import Robot, load_robot

PANDA = "panda"
UR5E = "robosuite:ur5e"
XARM6 = "pybullet_data:xarm/xarm6_robot.urdf"
PANDA_URDF = "pybullet_data:franka_panda/panda.urdf"
IIWA = "robosuite:iiwa"
ARMS = (PANDA, UR5E, XARM6, PANDA_URDF, IIWA)
"""The arms every test runs on: the embedded MJCF, two robosuite MJCFs, two pybullet URDFs."""

NOT_ARMS = {
    "gr1": "floating base",  # a humanoid: a free joint above the arm
    "spot": "floating base",  # a legged base
    "kinova3": "no position limits",  # hinges without range (continuous joints)
    "tiago": "not arm joints",  # a second arm on a torso the arm's joints move: not one arm with a gripper
}
"""robosuite robots that are not (or not only) one arm, and the words their RobotDescriptionError must contain."""


def package_installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def require_package_of(description: str) -> None:
    """Skip the test when the package that ships `description`'s file is not installed."""
    for prefix, package in (("robosuite:", "robosuite"), ("pybullet_data:", "pybullet_data"),
                            ("panda", "gymnasium_robotics")):
        if description.startswith(prefix) and not package_installed(package):
            pytest.skip(f"{package} is not installed (pip install it to test {description})")


def robosuite_robots() -> list[str]:
    """Names of robosuite's robot folders that hold a robot.xml ([] when robosuite is not installed)."""
    if not package_installed("robosuite"):
        return []
    from jepa_mpc.robots.presets import package_dir

    root = package_dir("robosuite") / "models" / "assets" / "robots"
    return sorted(p.parent.name for p in root.glob("*/robot.xml"))


OTHER_ROBOSUITE_ARMS = tuple(f"robosuite:{name}" for name in robosuite_robots()
                             if name not in NOT_ARMS and f"robosuite:{name}" not in ARMS)
"""Every other robosuite robot (baxter, jaco, panda, sawyer, spot_arm, xarm7 in robosuite 1.5.2): each must load."""
ALL_ARMS = ARMS + OTHER_ROBOSUITE_ARMS


@functools.cache
def _load(name: str, overrides: tuple[tuple[str, object], ...]) -> Robot:
    return load_robot(name, **dict(overrides))


def load_arm(name: str, **overrides) -> Robot:
    """load_robot, cached for the whole test process (load_robot's own cache keeps only 16 configs), skipping
    when the arm's package is missing."""
    require_package_of(name)
    return _load(name, tuple(sorted(overrides.items())))


BASE_POS = (0.3, -0.2, 0.45)
BASE_RPY = (0.3, -0.2, 2.0)
TOOL_OFFSET = (0.01, -0.02, 0.1)


def posed_arm(name: str) -> tuple[Robot, Robot]:
    """(the arm, the arm standing at BASE_POS turned by BASE_RPY, tool point TOOL_OFFSET beyond its tool frame);
    the plain arm's home is given to the posed one, so no home IK runs for it."""
    plain = load_arm(name)
    return plain, load_arm(name, base_pos=BASE_POS, base_rpy=BASE_RPY, tool_offset=TOOL_OFFSET,
                           home=tuple(plain.home))


@pytest.fixture(scope="session")
def arm(request) -> Robot:
    """The arm a test is parametrised with (indirect=True), by its load_robot name."""
    return load_arm(request.param)

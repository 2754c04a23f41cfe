"""Robot names a user can give instead of a file: the embedded Panda, and arm files of installed packages.

- `panda`: the embedded Franka Panda (gymnasium-robotics' MJCF), with Franka's driver names, joint offsets,
  datasheet limits and home pose (robots/panda.py).
- `robosuite:NAME`: robosuite's `models/assets/robots/NAME/robot.xml` (robosuite installed with --no-deps).
- `pybullet_data:PATH`: a file inside pybullet's `pybullet_data` folder, e.g. `pybullet_data:xarm/xarm6_robot.urdf`.
Packages are located with importlib, never imported.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import pathlib

from jepa_mpc.robots.errors import RobotDescriptionError


@dataclasses.dataclass(frozen=True)
class Preset:
    """What a named robot fills in where the description is silent (empty: take the description's)."""

    source: str
    """A file path or XML text."""
    joint_names: tuple[str, ...] = ()
    joint_offsets: tuple[float, ...] = ()
    max_joint_velocity_rad_s: tuple[float, ...] = ()
    max_joint_acc_rad_s2: tuple[float, ...] = ()
    home: tuple[float, ...] = ()
    tool_frame: str = ""
    finger_joint_names: tuple[str, ...] = ()
    """Driver names of the gripper's joints, in the description's order (for joint states and proprioception)."""


def package_dir(name: str) -> pathlib.Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RobotDescriptionError(f"package {name!r} is not installed (pip install it, or give the file path)")
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def _panda() -> Preset:
    from jepa_mpc.robots import panda

    return Preset(source=panda.description_xml(), joint_names=panda.DRIVER_JOINTS,
                  joint_offsets=panda.DRIVER_OFFSETS, max_joint_velocity_rad_s=panda.MAX_JOINT_VEL_RAD_S,
                  max_joint_acc_rad_s2=panda.MAX_JOINT_ACC_RAD_S2, home=tuple(panda.HOME_QPOS),
                  tool_frame=panda.EE_SITE, finger_joint_names=panda.DRIVER_FINGER_JOINTS)


def resolve(name_or_source: str) -> Preset:
    """A Preset for a robot name, or a bare Preset around a file path or XML text."""
    text = str(name_or_source).strip()
    if text == "panda":
        return _panda()
    if text.startswith("robosuite:"):
        robot = text.split(":", 1)[1]
        path = package_dir("robosuite") / "models" / "assets" / "robots" / robot / "robot.xml"
        if not path.is_file():
            raise RobotDescriptionError(f"{text}: robosuite has no {path}")
        return Preset(source=str(path))
    if text.startswith("pybullet_data:"):
        path = package_dir("pybullet_data") / text.split(":", 1)[1]
        if not path.is_file():
            raise RobotDescriptionError(f"{text}: no such file {path}")
        return Preset(source=str(path))
    return Preset(source=text)

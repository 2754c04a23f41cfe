"""The embedded Franka Panda: the MJCF and meshes that ship inside gymnasium-robotics (kitchen_franka), read from
the installed package so nothing downloads at run time, and the facts its description does not carry.

This is the one place for Panda facts: home pose, datasheet velocity and acceleration limits, the ROS (driver)
joint names, and the joint offsets between this MJCF's convention and Franka's driver (franka_ros2 / libfranka):
the MJCF builds link 6 with a 90 degree turn (written as the rounded euler angle 1.57), so its joint 6 reads
Franka's joint 6 minus pi/2. Its joint-6 range, [-1.6573, 2.1127], is Franka's [-0.0175, 3.7525] minus pi/2 only
at the top: at the bottom it allows 4 degrees more than the datasheet (-0.0865 in driver terms), so a real FR3
cell sets `guardrails.joint_lower` (launch/real_arm.yaml).
"""
from __future__ import annotations

import functools
import importlib.util
import math
import pathlib
import re

import numpy as np

ARM_JOINTS = tuple(f"robot:panda0_joint{i}" for i in range(1, 8))
"""Joint names in the MJCF."""
DRIVER_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
"""Joint names as franka_ros2 and our sim bridge publish them."""
DOF = len(ARM_JOINTS)
ACTION_DIM = DOF + 1
"""7 joint steps, then the gripper."""
FINGER_JOINTS = ("robot:panda0_finger_joint1", "robot:panda0_finger_joint2")
DRIVER_FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
EE_SITE = "end_effector"
GRIPPER_OPEN = 0.04
HOME_QPOS = np.array([0.0, -0.11, 0.0, -2.273, 0.0, 0.594, 0.785], dtype=np.float64)
"""Elbow-up, gripper pointing straight down; EE at (0.50, 0.00, 0.30) in the world frame (table top at z=0)."""
DRIVER_OFFSETS = (0.0, 0.0, 0.0, 0.0, 0.0, math.pi / 2, 0.0)
"""driver = model + offset, per joint (Franka's joint 6 is this MJCF's plus pi/2)."""
# Franka Panda datasheet limits (frankaemika.github.io/docs/control_parameters.html), joints 1..7.
MAX_JOINT_VEL_RAD_S = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
MAX_JOINT_ACC_RAD_S2 = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)


def franka_assets_dir() -> pathlib.Path:
    """Folder of the Panda MJCF inside the installed gymnasium-robotics (located without importing it)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("gymnasium-robotics is not installed; it ships the Panda MJCF this scene uses")
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    path = root / "envs" / "assets" / "kitchen_franka" / "franka_assets"
    if not (path / "chain.xml").is_file():
        raise FileNotFoundError(f"Panda MJCF not found at {path}; reinstall gymnasium-robotics==1.4.2")
    return path


def inline(path: pathlib.Path, meshdir: pathlib.Path) -> str:
    """Body of a <mujocoinclude> file with comments dropped and its relative meshdir made absolute."""
    text = re.sub(r"<!--.*?-->", "", path.read_text(), flags=re.S)
    text = text.replace("<mujocoinclude>", "").replace("</mujocoinclude>", "")
    return re.sub(r'meshdir="[^"]*"', f'meshdir="{meshdir}"', text)


def gravity_compensated(chain: str) -> str:
    """Mark every Panda body gravity-compensated, as the real arm's controller is (libfranka)."""
    return re.sub(r'<body name="(panda0_[^"]*)"', r'<body name="\1" gravcomp="1"', chain)


def chain_xml() -> str:
    """The Panda's bodies (link0 .. fingers), gravity-compensated, ready to paste inside a <worldbody>."""
    assets = franka_assets_dir()
    return gravity_compensated(inline(assets / "chain.xml", assets / "meshes"))


def assets_xml() -> str:
    """Compiler settings, defaults and meshes of the Panda MJCF."""
    assets = franka_assets_dir()
    return inline(assets / "assets.xml", assets / "meshes")


def actuators_xml() -> str:
    """The Panda's position actuators (7 arm joints, 2 fingers)."""
    assets = franka_assets_dir()
    return inline(assets / "actuator.xml", assets / "meshes")


FLANGE_SITE = ("<site name='flange' pos='0 0 0.107' euler='0 0 -0.785398' size='0.001' group='4'/>"
               "<site name='end_effector'")
"""Franka's flange frame (panda_link8 of franka_description): 0.107 m along link 7, whose frame this MJCF turns
45 degrees about z. Only in the Robot's model, not the sim scene (a site renders in some groups)."""


@functools.lru_cache(maxsize=1)
def description_xml() -> str:
    """The arm alone as an MJCF string: what `Robot('panda')` compiles (the sim scene adds table, cube, camera)."""
    chain = chain_xml().replace("<site name='end_effector'", FLANGE_SITE, 1)
    if "name='flange'" not in chain:
        raise RuntimeError("the Panda MJCF has no end_effector site to put the flange beside; gymnasium-robotics "
                           "changed: reinstall gymnasium-robotics==1.4.2")
    return (f'<mujoco model="panda">{assets_xml()}<worldbody><body name="robot_base">{chain}</body>'
            "</worldbody></mujoco>")

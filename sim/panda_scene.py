"""The MuJoCo Franka Panda scene: arm (7 joints + gripper), table, cube and a fixed RGB camera.

The Panda MJCF and meshes are the ones that ship inside gymnasium-robotics (kitchen_franka/franka_assets), read from
the installed package so nothing downloads at run time. This module is the one source of truth for joint names,
limits and the home pose; the planner's kinematics and the safety filter read them from the model built here.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import pathlib
import re

from jepa_mpc.sim.rendering import select_gl_backend

select_gl_backend()
import mujoco  # noqa: E402  (must follow select_gl_backend)
import numpy as np  # noqa: E402

ARM_JOINTS = tuple(f"robot:panda0_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("robot:panda0_finger_joint1", "robot:panda0_finger_joint2")
EE_SITE = "end_effector"
CUBE_BODY = "cube"
CUBE_HALF_SIZE = 0.025
# Elbow-up, gripper pointing straight down; EE at (0.50, 0.00, 0.30) in the world frame (table top at z=0).
HOME_QPOS = np.array([0.0, -0.11, 0.0, -2.273, 0.0, 0.594, 0.785], dtype=np.float64)
GRIPPER_OPEN = 0.04
TABLE_TOP_Z = 0.0


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """A fixed RGB camera looking at `lookat` from `pos` (metres, world frame)."""

    pos: tuple[float, float, float] = (1.6, 0.9, 1.05)
    lookat: tuple[float, float, float] = (0.35, 0.0, 0.25)
    fovy_deg: float = 45.0

    def __post_init__(self) -> None:
        if len(self.pos) != 3 or len(self.lookat) != 3:
            raise ValueError(f"camera pos and lookat must have 3 values, got {self.pos} / {self.lookat}")
        if not all(math.isfinite(v) for v in (*self.pos, *self.lookat)):
            raise ValueError(f"camera pose must be finite, got pos={self.pos} lookat={self.lookat}")
        if np.linalg.norm(np.subtract(self.pos, self.lookat)) < 1e-3:
            raise ValueError("camera pos and lookat must differ")
        if not 1.0 <= self.fovy_deg <= 170.0:
            raise ValueError(f"fovy_deg must be in [1, 170], got {self.fovy_deg}")

    def xyaxes(self) -> tuple[float, ...]:
        """MJCF `xyaxes` of a camera at pos looking at lookat with world +z up."""
        forward = np.subtract(self.lookat, self.pos)
        forward /= np.linalg.norm(forward)
        up = np.array([0.0, 0.0, 1.0])
        if abs(float(forward @ up)) > 0.999:  # looking straight down: pick +x as image-up reference
            up = np.array([1.0, 0.0, 0.0])
        x = np.cross(forward, up)
        x /= np.linalg.norm(x)
        y = np.cross(x, forward)
        return (*x.tolist(), *y.tolist())


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


def _inline(path: pathlib.Path, meshdir: pathlib.Path) -> str:
    """Body of a <mujocoinclude> file with comments dropped and its relative meshdir made absolute."""
    text = re.sub(r"<!--.*?-->", "", path.read_text(), flags=re.S)
    text = text.replace("<mujocoinclude>", "").replace("</mujocoinclude>", "")
    return re.sub(r'meshdir="[^"]*"', f'meshdir="{meshdir}"', text)


def _gravity_compensated(chain: str) -> str:
    """Mark every Panda body gravity-compensated, as the real arm's controller is (libfranka)."""
    return re.sub(r'<body name="(panda0_[^"]*)"', r'<body name="\1" gravcomp="1"', chain)


def scene_xml(camera: CameraConfig = CameraConfig(), max_render_size: int = 512) -> str:
    """The full scene MJCF as a string (the Panda files are inlined so the model has no relative paths)."""
    assets = franka_assets_dir()
    template = (pathlib.Path(__file__).parent / "assets" / "panda_scene.xml").read_text()
    return (
        template.replace("<!--FRANKA_ASSETS-->", _inline(assets / "assets.xml", assets / "meshes"))
        .replace("<!--FRANKA_ACTUATORS-->", _inline(assets / "actuator.xml", assets / "meshes"))
        .replace("<!--FRANKA_CHAIN-->", _gravity_compensated(_inline(assets / "chain.xml", assets / "meshes")))
        .replace("CAMERA_POS", " ".join(f"{v:.6f}" for v in camera.pos))
        .replace("CAMERA_XYAXES", " ".join(f"{v:.6f}" for v in camera.xyaxes()))
        .replace("CAMERA_FOVY", f"{camera.fovy_deg:.3f}")
        .replace("MAX_RENDER", str(int(max_render_size)))
    )


@functools.lru_cache(maxsize=8)
def _compiled_xml(camera: CameraConfig, max_render_size: int) -> str:
    return scene_xml(camera, max_render_size)


def load_model(camera: CameraConfig = CameraConfig(), max_render_size: int = 512) -> mujoco.MjModel:
    """Compile the Panda scene. Each call returns a fresh MjModel (safe to mutate per environment)."""
    return mujoco.MjModel.from_xml_string(_compiled_xml(camera, max_render_size))


@dataclasses.dataclass(frozen=True)
class ArmLimits:
    """Known arm limits read from the MJCF (radians). The planner's guardrails and the safety filter use these."""

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray


def arm_limits(model: mujoco.MjModel | None = None) -> ArmLimits:
    """Joint position limits of the 7 arm joints, in ARM_JOINTS order."""
    model = model if model is not None else load_model()
    ranges = np.array([model.joint(name).range for name in ARM_JOINTS])
    return ArmLimits(ARM_JOINTS, ranges[:, 0].copy(), ranges[:, 1].copy())

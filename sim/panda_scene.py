"""The MuJoCo Franka Panda scene: arm (7 joints + gripper), table, cube and a fixed RGB camera.

The arm is the embedded Panda of robots/panda.py (gymnasium-robotics' MJCF and meshes, read from the installed
package so nothing downloads at run time); its joint names, limits and home pose come from there.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import pathlib

from jepa_mpc.sim.rendering import select_gl_backend

select_gl_backend()
import mujoco  # noqa: E402  (must follow select_gl_backend)
import numpy as np  # noqa: E402

from jepa_mpc.robots import panda  # noqa: E402
from jepa_mpc.robots.panda import ARM_JOINTS, EE_SITE, FINGER_JOINTS, GRIPPER_OPEN, HOME_QPOS  # noqa: E402, F401

CUBE_BODY = "cube"
CUBE_HALF_SIZE = 0.025
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


def scene_xml(camera: CameraConfig = CameraConfig(), max_render_size: int = 512) -> str:
    """The full scene MJCF as a string (the Panda files are inlined so the model has no relative paths)."""
    template = (pathlib.Path(__file__).parent / "assets" / "panda_scene.xml").read_text()
    return (
        template.replace("<!--FRANKA_ASSETS-->", panda.assets_xml())
        .replace("<!--FRANKA_ACTUATORS-->", panda.actuators_xml())
        .replace("<!--FRANKA_CHAIN-->", panda.chain_xml())
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

"""Arms from their descriptions (URDF or MJCF): joints, limits, kinematics, base pose, tool frame, joint offsets
and check spheres. The lowest layer: it imports none of the other jepa_mpc packages."""
from jepa_mpc.robots.gl_backend import select_gl_backend

select_gl_backend()  # before the first `import mujoco` below: the simulator renders headless (EGL) by default
# ruff: noqa: E402
from jepa_mpc.robots.check_points import CheckPoint
from jepa_mpc.robots.errors import RobotDescriptionError
from jepa_mpc.robots.robot import TOOL_POINT, Robot, RobotConfig, load_robot

__all__ = ["TOOL_POINT", "CheckPoint", "Robot", "RobotConfig", "RobotDescriptionError", "load_robot"]

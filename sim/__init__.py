"""MuJoCo arm simulation: Panda scene, gymnasium tasks, dm_control Reacher wrapper, data collection.

Importing this package selects the headless GL backend (MUJOCO_GL=egl unless set) before mujoco loads, and
registers the gymnasium environment ids listed in `jepa_mpc.sim.registration`.
"""
from jepa_mpc.sim.rendering import select_gl_backend

select_gl_backend()

from jepa_mpc.sim.registration import ENV_IDS, register_envs  # noqa: E402

register_envs()

__all__ = ["ENV_IDS", "register_envs"]

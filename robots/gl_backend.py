"""Pick MuJoCo's OpenGL backend before mujoco is first imported: MuJoCo reads MUJOCO_GL once, at import.

It lives in the lowest layer because `jepa_mpc.robots` is the first package to import mujoco; the simulator's
headless rendering (sim/rendering.py) depends on this default being set in time.
"""
from __future__ import annotations

import os
import sys


def select_gl_backend() -> str:
    """Default MUJOCO_GL to 'egl' (headless, works on llvmpipe) unless the user chose one; returns the choice."""
    if "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ:
        # mujoco was imported before us with its own default; keep whatever it picked.
        return os.environ.get("MUJOCO_GL", "")
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    elif os.environ["MUJOCO_GL"] == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    return os.environ["MUJOCO_GL"]

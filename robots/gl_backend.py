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
    # Without a GPU, EGL is Mesa's llvmpipe, which splits every frame across a pool of threads: for the small
    # frames a simulated camera renders that costs more than it saves (a 64x64 Panda frame: 17 ms on two threads,
    # 9.5 ms on the calling one, on a 2-core CPU) and it keeps a second core busy. A GPU driver ignores this.
    os.environ.setdefault("LP_NUM_THREADS", "0")
    return os.environ["MUJOCO_GL"]

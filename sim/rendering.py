"""Offscreen rendering tuned for CPU cameras: picks a GL backend before mujoco loads, fails with a fix-it message.

MuJoCo reads MUJOCO_GL when it is first imported; `jepa_mpc.robots` (the lowest layer, the first to import mujoco)
sets the default (robots/gl_backend.py). Shadows, reflections and multisampling are turned off: on a CPU (Mesa
llvmpipe) that is 15-20x faster and the images are still informative for a 64x64 encoder.
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import os
import weakref

import numpy as np

from jepa_mpc.robots.gl_backend import select_gl_backend  # noqa: F401  (re-exported for callers)

_LIVE_RENDERERS: weakref.WeakSet = weakref.WeakSet()


def _close_live_renderers() -> None:
    """Free GL contexts before interpreter teardown (PyOpenGL raises if they are freed after it unloads)."""
    gc.collect()  # renderers in unreachable cycles are finalised now, while the GL display still exists
    for renderer in list(_LIVE_RENDERERS):
        with contextlib.suppress(Exception):  # best effort at exit; the process is ending anyway
            renderer.close()


class RenderingUnavailableError(RuntimeError):
    """No OpenGL backend could create an offscreen context."""


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


class CameraRendering:
    """Rendering for the arm envs: one fixed camera of `self.model` named `self.camera_name`, frames of
    `self.image_size` pixels (`_render`), `render()` at >= 224 px for viewing, and `close()`. The env sets
    `self._renderer = None` in its constructor."""

    def _render(self, data, size: int | None = None):
        size = size or self.image_size
        if self._renderer is None or self._renderer.height != size:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = make_renderer(self.model, size, size)
        self._renderer.update_scene(data, self.camera_name)
        return self._renderer.render().copy()

    def _render_at(self, data, size: int | None = None, height: int | None = None) -> np.ndarray:
        """_render at size x size, or render_camera at size x height when a height is given."""
        if height is not None:
            return self.render_camera(size or self.image_size, height, data)
        return self._render(data, size)

    def render_camera(self, width: int, height: int, data=None) -> np.ndarray:
        """uint8 [height, width, 3] from the cell's camera (its vertical field of view; a wider frame sees more to
        the sides), of `data` (default: the current state); one renderer is kept per size, beside the
        observation's. The model's offscreen buffer grows to fit."""
        if (width, height) == (self.image_size, self.image_size):
            return self._render(self.data if data is None else data)
        renderers = self.__dict__.setdefault("_camera_renderers", {})
        if (width, height) not in renderers:
            glob = self.model.vis.global_
            glob.offwidth, glob.offheight = max(glob.offwidth, width), max(glob.offheight, height)
            renderers[(width, height)] = make_renderer(self.model, height, width)
        renderer = renderers[(width, height)]
        renderer.update_scene(self.data if data is None else data, self.camera_name)
        return renderer.render().copy()

    def render(self):
        """RGB frame of the current state (at least 224x224 for viewing) when render_mode='rgb_array'."""
        if self.render_mode != "rgb_array":
            return None
        return self._render(self.data, max(self.image_size, 224))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        for renderer in self.__dict__.pop("_camera_renderers", {}).values():
            renderer.close()
